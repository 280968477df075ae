//! One LIOBN: its DMA window, sparse TCE storage, linked listeners and IOTLB cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hvapi::GuestMemory;
use hvapi::hcall::{H_NOT_ENOUGH_RESOURCES, H_PARAMETER, H_SUCCESS};
use parking_lot::{ArcRwLockReadGuard, RawRwLock, RwLock};
use vm_memory::{GuestAddress, GuestMemoryBackend, Iotlb};

use crate::listener::{Coalescer, LinkId, TceListener};
use crate::tree::{Budget, NODE_BITS, NoSpace, SparseTable};
use crate::types::{Access, DmaError, DmaWindow, Perm, TCE_RW, TceError};

/// An enabled window and its entries.
pub(crate) struct Active {
    pub(crate) window: DmaWindow,
    pub(crate) tces: SparseTable,
}

/// State protected by the table lock.
pub(crate) struct TableInner {
    pub(crate) active: Option<Active>,
    pub(crate) listeners: Vec<(LinkId, Arc<dyn TceListener>)>,
    /// Set once the table has been removed from its registry; it can never be enabled again.
    pub(crate) removed: bool,
}

/// The TCE values an hcall stores.
#[derive(Clone, Copy)]
pub(crate) enum Values<'a> {
    /// The same value into every entry (H_PUT_TCE, H_STUFF_TCE).
    Same(u64),
    /// One value per entry (H_PUT_TCE_INDIRECT).
    List(&'a [u64]),
}

impl Values<'_> {
    fn at(&self, i: u64) -> u64 {
        match self {
            Values::Same(v) => *v,
            Values::List(l) => usize::try_from(i)
                .ok()
                .and_then(|i| l.get(i))
                .copied()
                .unwrap_or(0),
        }
    }
}

/// The TCE table of one LIOBN.
///
/// Obtained from [`TceRegistry::table`](crate::TceRegistry::table). The table outlives window
/// removal and re-creation (a DDW slot is the same table object, enabled or disabled), so
/// handles such as [`TceIommu`](crate::TceIommu) stay valid across `ibm,reset-pe-dma-window`.
pub struct TceTable {
    liobn: u32,
    inner: Arc<RwLock<TableInner>>,
    pub(crate) iotlb: RwLock<Iotlb>,
    pub(crate) iotlb_active: AtomicBool,
    pub(crate) iotlb_pages: AtomicUsize,
}

impl std::fmt::Debug for TceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.read();
        f.debug_struct("TceTable")
            .field("liobn", &format_args!("{:#x}", self.liobn))
            .field("window", &inner.active.as_ref().map(|a| a.window))
            .field("listeners", &inner.listeners.len())
            .field("removed", &inner.removed)
            .finish()
    }
}

/// Whether `tce` may be stored in a table with pages of `2^page_shift` bytes: an entry
/// without permission bits is always accepted (clearing or poisoning, as KVM); otherwise the
/// bits between the permission bits and the page size must be zero and the page's first
/// byte must be guest RAM (`tce.md` §1.1, §3.1).
pub(crate) fn tce_valid(tce: u64, page_shift: u32, mem: &GuestMemory) -> bool {
    if tce & TCE_RW == 0 {
        return true;
    }
    let low = (1u64 << page_shift) - 1;
    if tce & low & !TCE_RW != 0 {
        return false;
    }
    mem.address_in_range(GuestAddress(tce & !low))
}

/// One physically contiguous piece of a translated DMA range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaPiece {
    /// Bus address of the piece.
    pub ioba: u64,
    /// Guest physical address it translates to.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The guest-physical pieces of a checked DMA range, contiguous pages merged.
///
/// Holds the table's read lock: guest TCE updates of this table wait until it is dropped, so
/// the pieces cannot be unmapped while a device uses them. Drop it promptly. The lock is taken
/// recursively, so a device may translate again (same table) while holding one.
pub struct Translation {
    guard: ArcRwLockReadGuard<RawRwLock, TableInner>,
    next: u64,
    end: u64,
}

impl std::fmt::Debug for Translation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translation")
            .field("next", &self.next)
            .field("end", &self.end)
            .finish()
    }
}

impl Iterator for Translation {
    type Item = DmaPiece;

    fn next(&mut self) -> Option<DmaPiece> {
        if self.next >= self.end {
            return None;
        }
        let active = self.guard.active.as_ref()?;
        let win = active.window;
        let mask = win.page_size() - 1;
        let start = self.next;
        let gpa_at = |ioba: u64| -> Option<u64> {
            let idx = (ioba - win.bus_offset()) >> win.page_shift();
            let tce = active.tces.get(idx);
            Some((tce & !mask) | (ioba & mask))
        };
        let gpa = gpa_at(start)?;
        let mut cur = start;
        let mut len = 0u64;
        while cur < self.end {
            let page_end = (cur | mask).saturating_add(1).min(self.end);
            if cur != start && gpa_at(cur) != gpa.checked_add(len) {
                break;
            }
            len += page_end - cur;
            cur = page_end;
        }
        self.next = cur;
        Some(DmaPiece {
            ioba: start,
            gpa,
            len,
        })
    }
}

impl TceTable {
    pub(crate) fn new(liobn: u32, active: Option<Active>) -> Self {
        TceTable {
            liobn,
            inner: Arc::new(RwLock::new(TableInner {
                active,
                listeners: Vec::new(),
                removed: false,
            })),
            iotlb: RwLock::new(Iotlb::new()),
            iotlb_active: AtomicBool::new(false),
            iotlb_pages: AtomicUsize::new(0),
        }
    }

    pub(crate) fn inner(&self) -> &RwLock<TableInner> {
        &self.inner
    }

    /// The LIOBN.
    pub fn liobn(&self) -> u32 {
        self.liobn
    }

    /// The current window, `None` while disabled.
    pub fn window(&self) -> Option<DmaWindow> {
        self.inner.read().active.as_ref().map(|a| a.window)
    }

    /// The raw TCE at bus address `ioba` (page-aligned or not), `None` outside the window.
    pub fn tce_at(&self, ioba: u64) -> Option<u64> {
        let inner = self.inner.read();
        let a = inner.active.as_ref()?;
        let w = a.window;
        let idx = w.index_of(ioba & !(w.page_size() - 1), 1)?;
        Some(a.tces.get(idx))
    }

    /// Number of non-zero entries (walks the allocated chunks).
    pub fn mapped_entries(&self) -> u64 {
        let inner = self.inner.read();
        let mut n = 0u64;
        if let Some(a) = inner.active.as_ref() {
            a.tces.for_each_nonzero(0, u64::MAX, |_, _| n += 1);
        }
        n
    }

    /// Allocated 4 KiB leaf chunks (each holds 512 entries).
    pub fn leaf_chunks(&self) -> usize {
        self.inner
            .read()
            .active
            .as_ref()
            .map_or(0, |a| a.tces.leaf_chunks())
    }

    /// Pages loaded into this table's IOTLB cache (used by [`TceIommu`](crate::TceIommu))
    /// since it was last flushed for size.
    pub fn iotlb_pages(&self) -> usize {
        self.iotlb_pages.load(Ordering::Relaxed)
    }

    /// Allocated directory chunks (not counting the root).
    pub fn dir_chunks(&self) -> usize {
        self.inner
            .read()
            .active
            .as_ref()
            .map_or(0, |a| a.tces.dir_chunks())
    }

    /// Checks that the device may perform `access` on `ioba..ioba+len` and returns the
    /// guest-physical pieces. The whole range is checked before anything is returned: a
    /// range that leaves the window, touches a page without a mapping, or a page whose TCE
    /// lacks the needed permission fails as a whole. The returned guest addresses are what
    /// the guest mapped; the memory access itself still checks that they are RAM.
    pub fn translate(&self, ioba: u64, len: u64, access: Access) -> Result<Translation, DmaError> {
        let guard = self.inner.read_arc_recursive();
        let Some(a) = guard.active.as_ref() else {
            return Err(DmaError::WindowDisabled);
        };
        let win = a.window;
        let end = ioba.checked_add(len).ok_or(DmaError::OutOfWindow(ioba))?;
        if len > 0 {
            if ioba < win.bus_offset() || end > win.end() {
                return Err(DmaError::OutOfWindow(ioba));
            }
            let first = (ioba - win.bus_offset()) >> win.page_shift();
            let last = (end - 1 - win.bus_offset()) >> win.page_shift();
            for idx in first..=last {
                let tce = a.tces.get(idx);
                let page_ioba = win.ioba_of(idx).max(ioba);
                match Perm::from_tce(tce) {
                    None => return Err(DmaError::NotMapped(page_ioba)),
                    Some(p) if !p.allows(access) => return Err(DmaError::Denied(page_ioba)),
                    Some(_) => {}
                }
            }
        }
        Ok(Translation {
            guard,
            next: ioba,
            end,
        })
    }

    /// Translates the single bus address `ioba` for `access`: the guest physical address and
    /// how many bytes from there on stay in the same TCE page.
    pub fn translate_addr(&self, ioba: u64, access: Access) -> Result<(u64, u64), DmaError> {
        let inner = self.inner.read_recursive();
        let a = inner.active.as_ref().ok_or(DmaError::WindowDisabled)?;
        let win = a.window;
        if ioba < win.bus_offset() || ioba >= win.end() {
            return Err(DmaError::OutOfWindow(ioba));
        }
        let idx = (ioba - win.bus_offset()) >> win.page_shift();
        let tce = a.tces.get(idx);
        match Perm::from_tce(tce) {
            None => Err(DmaError::NotMapped(ioba)),
            Some(p) if !p.allows(access) => Err(DmaError::Denied(ioba)),
            Some(_) => {
                let mask = win.page_size() - 1;
                Ok((
                    (tce & !mask) | (ioba & mask),
                    win.page_size() - (ioba & mask),
                ))
            }
        }
    }

    /// Drops cached IOTLB translations for `ioba..ioba+len` (a range inside the window).
    fn invalidate_iotlb(&self, ioba: u64, len: u64) {
        if self.iotlb_active.load(Ordering::SeqCst) {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            self.iotlb
                .write()
                .invalidate_mapping(GuestAddress(ioba), len);
        }
    }

    fn invalidate_iotlb_all(&self) {
        if self.iotlb_active.load(Ordering::SeqCst) {
            self.iotlb.write().invalidate_all();
        }
    }

    /// H_GET_TCE.
    pub(crate) fn h_get(&self, ioba: u64) -> Result<u64, i64> {
        let inner = self.inner.read();
        let a = inner.active.as_ref().ok_or(H_PARAMETER)?;
        let idx = a.window.index_of(ioba, 1).ok_or(H_PARAMETER)?;
        Ok(a.tces.get(idx))
    }

    /// The write half of H_PUT_TCE, H_STUFF_TCE and H_PUT_TCE_INDIRECT: under the table lock,
    /// check the window and the bus range, then every value, then the memory budget; write
    /// and mirror to the listeners; finally drop stale IOTLB entries.
    pub(crate) fn h_store(
        &self,
        ioba: u64,
        npages: u64,
        values: Values<'_>,
        mem: &GuestMemory,
    ) -> i64 {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        let Some(a) = inner.active.as_mut() else {
            return H_PARAMETER;
        };
        let win = a.window;
        let Some(idx) = win.index_of(ioba, npages) else {
            return H_PARAMETER;
        };
        let valid = match values {
            Values::Same(v) => tce_valid(v, win.page_shift(), mem),
            Values::List(l) => l.iter().all(|&v| tce_valid(v, win.page_shift(), mem)),
        };
        if !valid {
            return H_PARAMETER;
        }
        if npages == 0 {
            return H_SUCCESS;
        }
        let last = idx + (npages - 1);
        // Chunks this write needs, reserved up front so that it is all or nothing.
        let need = match values {
            Values::Same(0) => 0,
            Values::Same(_) => {
                let leaves = (last >> NODE_BITS) - (idx >> NODE_BITS) + 1;
                if leaves > a.tces.budget_limit() as u64 {
                    return H_NOT_ENOUGH_RESOURCES;
                }
                a.tces.chunks_needed(idx, last)
            }
            Values::List(l) => {
                let first_nz = l.iter().position(|&v| v != 0);
                let last_nz = l.iter().rposition(|&v| v != 0);
                match (first_nz, last_nz) {
                    (Some(f), Some(la)) => a.tces.chunks_needed(idx + f as u64, idx + la as u64),
                    _ => 0,
                }
            }
        };
        let Ok(mut r) = a.tces.reserve(need) else {
            return H_NOT_ENOUGH_RESOURCES;
        };
        let mut co = Coalescer::new(&inner.listeners, &win);
        let notify = co.active();
        let mut stale: Option<(u64, u64)> = None;
        let mut on_change = |i: u64, old: u64, new: u64| {
            if old & TCE_RW != 0 {
                stale = Some(stale.map_or((i, i), |(lo, hi)| (lo.min(i), hi.max(i))));
            }
            if notify {
                co.change(win.ioba_of(i), old, new);
            }
        };
        let res = match values {
            Values::Same(0) => {
                a.tces.clear_range(idx, last, |i, old| on_change(i, old, 0));
                Ok(())
            }
            _ => a
                .tces
                .write_run(idx, npages, |i| values.at(i - idx), &mut r, on_change),
        };
        a.tces.finish(r);
        co.finish();
        drop(guard);
        if let Some((lo, hi)) = stale {
            self.invalidate_iotlb(win.ioba_of(lo), (hi - lo + 1) << win.page_shift());
        }
        match res {
            Ok(()) => H_SUCCESS,
            Err(NoSpace) => H_NOT_ENOUGH_RESOURCES,
        }
    }

    /// Replaces the window (or disables it with `None`): listeners get `unmap` for every old
    /// mapping, the IOTLB is flushed, the new window starts empty.
    pub(crate) fn set_window(
        &self,
        window: Option<DmaWindow>,
        budget: &Arc<Budget>,
    ) -> Result<(), TceError> {
        self.replace(window.map(|w| Active {
            window: w,
            tces: SparseTable::new(w.entries(), budget.clone()),
        }))
    }

    /// Replaces the whole state (window and entries), mirroring the difference to listeners.
    pub(crate) fn replace(&self, new: Option<Active>) -> Result<(), TceError> {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if inner.removed {
            return Err(TceError::NoSuchLiobn(self.liobn));
        }
        if let Some(old) = inner.active.as_ref() {
            unmap_all(&inner.listeners, old);
        }
        inner.active = new;
        if let Some(a) = inner.active.as_ref() {
            replay(&inner.listeners, a);
        }
        drop(guard);
        self.invalidate_iotlb_all();
        Ok(())
    }

    /// Zeroes every entry, keeping the window.
    pub(crate) fn clear(&self) {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if let Some(a) = inner.active.as_mut() {
            let win = a.window;
            let mut co = Coalescer::new(&inner.listeners, &win);
            let notify = co.active();
            a.tces.clear_range(0, u64::MAX, |i, old| {
                if notify {
                    co.change(win.ioba_of(i), old, 0);
                }
            });
            co.finish();
        }
        drop(guard);
        self.invalidate_iotlb_all();
    }

    /// Detaches the table from its registry: unmaps everything for the listeners, drops
    /// them and the storage; later calls see a disabled window forever.
    pub(crate) fn retire(&self) {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if let Some(old) = inner.active.as_ref() {
            unmap_all(&inner.listeners, old);
        }
        inner.active = None;
        inner.listeners.clear();
        inner.removed = true;
        drop(guard);
        self.invalidate_iotlb_all();
    }

    /// Links a listener and replays the current mappings to it.
    pub(crate) fn link(&self, id: LinkId, l: Arc<dyn TceListener>) -> Result<(), TceError> {
        let mut inner = self.inner.write();
        if inner.removed {
            return Err(TceError::NoSuchLiobn(self.liobn));
        }
        if let Some(a) = inner.active.as_ref() {
            replay(std::slice::from_ref(&(id, l.clone())), a);
        }
        inner.listeners.push((id, l));
        Ok(())
    }

    /// Unlinks a listener after unmapping everything it was told.
    pub(crate) fn unlink(&self, id: LinkId) -> Result<(), TceError> {
        let mut inner = self.inner.write();
        let pos = inner
            .listeners
            .iter()
            .position(|(i, _)| *i == id)
            .ok_or(TceError::NoSuchLink)?;
        let entry = inner.listeners.remove(pos);
        if let Some(a) = inner.active.as_ref() {
            unmap_all(std::slice::from_ref(&entry), a);
        }
        Ok(())
    }

    /// Whether `id` is linked here.
    pub(crate) fn has_link(&self, id: LinkId) -> bool {
        self.inner.read().listeners.iter().any(|(i, _)| *i == id)
    }

    /// Number of linked listeners.
    pub fn listener_count(&self) -> usize {
        self.inner.read().listeners.len()
    }

    /// Non-zero entries as `(index, tce)`, in index order.
    pub(crate) fn snapshot(&self) -> (Option<DmaWindow>, Vec<(u64, u64)>) {
        let inner = self.inner.read();
        match inner.active.as_ref() {
            None => (None, Vec::new()),
            Some(a) => {
                let mut v = Vec::new();
                a.tces.for_each_nonzero(0, u64::MAX, |i, t| v.push((i, t)));
                (Some(a.window), v)
            }
        }
    }
}

/// Sends `map` for every mapped entry of `a` to `listeners`.
fn replay(listeners: &[(LinkId, Arc<dyn TceListener>)], a: &Active) {
    if listeners.is_empty() {
        return;
    }
    let win = a.window;
    let mut co = Coalescer::new(listeners, &win);
    a.tces
        .for_each_nonzero(0, u64::MAX, |i, t| co.change(win.ioba_of(i), 0, t));
    co.finish();
}

/// Sends `unmap` for every mapped entry of `a` to `listeners`.
fn unmap_all(listeners: &[(LinkId, Arc<dyn TceListener>)], a: &Active) {
    if listeners.is_empty() {
        return;
    }
    let win = a.window;
    let mut co = Coalescer::new(listeners, &win);
    a.tces
        .for_each_nonzero(0, u64::MAX, |i, t| co.change(win.ioba_of(i), t, 0));
    co.finish();
}
