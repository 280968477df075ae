//! rust-vmm `vm_memory::Iommu` on top of a TCE table, for `vm_memory::IommuMemory`.
//!
//! `IommuMemory` asks the IOMMU for an [`IotlbIterator`] over an [`Iotlb`], so each table keeps
//! an IOTLB cache that is filled from the TCEs on a miss and flushed by the table whenever a
//! mapped entry changes (unmap, remap, permission change) or the window goes away.
//!
//! Consistency: a fill holds the IOTLB write lock while it reads the TCEs (IOTLB lock, then
//! table lock), and a TCE update invalidates under the IOTLB lock only after it released the
//! table lock. A fill that read an entry before an update therefore finishes before that
//! update's invalidation runs, which removes what it inserted; a fill that starts later reads
//! the new entry. After an unmapping hcall returns, no new translation can use the old entry.
//!
//! The IOTLB holds at most [`IOTLB_CAP`] loaded pages; past that it is flushed. Lookups take
//! the IOTLB lock with `read_recursive`, so a thread may hold one `IotlbIterator` while
//! translating another range that hits the cache; a *miss* in that situation would wait for
//! the write lock its own iterator holds, so a device model must not keep an iterator from
//! `IommuMemory::get_slices` alive across a second access (rust-vmm's `Bytes` methods and
//! virtio-queue do not).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::RwLockReadGuard;
use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange};
use vm_memory::{GuestAddress, Iommu, Iotlb, Permissions};

use crate::table::TceTable;
use crate::types::{Access, Perm};

/// Most pages loaded into one table's IOTLB before it is flushed and refilled on demand.
pub const IOTLB_CAP: usize = 8192;

/// A per-LIOBN handle implementing `vm_memory::Iommu`.
///
/// Cloning is cheap. The handle follows its table across window removal and re-creation.
#[derive(Debug, Clone)]
pub struct TceIommu {
    table: Arc<TceTable>,
}

impl TceIommu {
    /// A handle on `table`.
    pub fn new(table: Arc<TceTable>) -> Self {
        TceIommu { table }
    }

    /// The table behind this handle.
    pub fn table(&self) -> &Arc<TceTable> {
        &self.table
    }

    fn fail(iova: GuestAddress, length: usize, reason: &str) -> IommuError {
        IommuError::CannotResolve {
            iova_range: IovaRange { base: iova, length },
            reason: reason.to_string(),
        }
    }

    /// Loads the TCEs covering `iova..iova+length` into the IOTLB. Fails without inserting
    /// the rest when a page is outside the window, unmapped or lacks `access`.
    fn fill(&self, iova: u64, length: u64, access: Option<Access>) -> Result<(), &'static str> {
        let mut tlb = self.table.iotlb.write();
        self.table.iotlb_active.store(true, Ordering::SeqCst);
        // Bound the cache: past IOTLB_CAP loaded pages, start again from empty.
        let loaded = self.table.iotlb_pages.load(Ordering::Relaxed);
        if loaded >= IOTLB_CAP {
            tlb.invalidate_all();
            self.table.iotlb_pages.store(0, Ordering::Relaxed);
        }
        let inner = self.table.inner().read();
        let a = inner.active.as_ref().ok_or("DMA window disabled")?;
        let win = a.window;
        let end = iova.checked_add(length).ok_or("address overflow")?;
        if iova < win.bus_offset() || end > win.end() {
            return Err("outside the DMA window");
        }
        let first = (iova - win.bus_offset()) >> win.page_shift();
        let last = (end - 1 - win.bus_offset()) >> win.page_shift();
        let page = win.page_size();
        let plen = usize::try_from(page).map_err(|_| "page too large")?;
        for idx in first..=last {
            let tce = a.tces.get(idx);
            let perm = Perm::from_tce(tce).ok_or("not mapped")?;
            if access.is_some_and(|acc| !perm.allows(acc)) {
                return Err("access not permitted by the TCE");
            }
            let gpa = tce & !(page - 1);
            tlb.set_mapping(
                GuestAddress(win.ioba_of(idx)),
                GuestAddress(gpa),
                plen,
                perm.to_vm(),
            )
            .map_err(|_| "IOTLB update failed")?;
            self.table.iotlb_pages.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Iommu for TceIommu {
    type IotlbGuard<'a> = RwLockReadGuard<'a, Iotlb>;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> Result<IotlbIterator<Self::IotlbGuard<'_>>, IommuError> {
        let len = length as u64;
        if iova.0.checked_add(len).is_none() {
            return Err(Self::fail(iova, length, "address overflow"));
        }
        if length == 0 {
            return Iotlb::lookup(self.table.iotlb.read_recursive(), iova, 0, access)
                .map_err(|_| Self::fail(iova, length, "empty range"));
        }
        // A few rounds: a concurrent TCE update may flush what the fill just loaded.
        for _ in 0..4 {
            if let Ok(it) = Iotlb::lookup(self.table.iotlb.read_recursive(), iova, length, access) {
                return Ok(it);
            }
            self.fill(iova.0, len, Access::from_vm(access))
                .map_err(|r| Self::fail(iova, length, r))?;
        }
        Iotlb::lookup(self.table.iotlb.read_recursive(), iova, length, access)
            .map_err(|_| Self::fail(iova, length, "mappings changing under the access"))
    }
}
