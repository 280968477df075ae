//! The LIOBN registry: tables by LIOBN, the TCE hypercalls, PEs and their dynamic windows,
//! listener links, reset and state capture.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hvapi::GuestMemory;
use hvapi::device::DeviceError;
use hvapi::hcall::{
    H_FUNCTION, H_GET_TCE, H_PARAMETER, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE, HcallResult,
};
use parking_lot::{Mutex, RwLock};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

use crate::ddw::{DdwCreated, DdwQuery, PeConfig, RtasError, ddw_mask_bit};
use crate::iommu::TceIommu;
use crate::listener::{LinkId, TceListener};
use crate::state::{TableState, TceRun, TceState};
use crate::table::{Active, TceTable, Translation, Values};
use crate::tree::{Budget, SparseTable};
use crate::types::{
    Access, DmaError, DmaWindow, MAX_INDIRECT_TCES, MAX_PAGE_SHIFT, MIN_PAGE_SHIFT, TceError,
};

/// Registry-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TceConfig {
    /// Most 4 KiB table chunks (leaves and directories) all tables together may allocate.
    /// A TCE hcall that would need more fails with H_NOT_ENOUGH_RESOURCES. The default,
    /// 65,536 chunks (256 MiB), holds 2^25 mapped entries (128 GiB of RAM in 4 KiB pages,
    /// 2 TiB in 64 KiB pages).
    pub max_chunks: usize,
    /// Whether H_STUFF_TCE and H_PUT_TCE_INDIRECT are offered (`hcall-multi-tce`); when false
    /// they answer H_FUNCTION.
    pub multi_tce: bool,
}

impl Default for TceConfig {
    fn default() -> Self {
        TceConfig {
            max_chunks: 1 << 16,
            multi_tce: true,
        }
    }
}

struct Entry {
    liobn: u32,
    table: Arc<TceTable>,
    /// BUID of the PE owning this slot.
    pe: Option<u64>,
}

/// All TCE tables of a VM, keyed by LIOBN. `Send + Sync`; share it as an `Arc`.
///
/// Hypercalls and translations take the registry's read lock only long enough to find the
/// table (binary search in a short sorted vector), then the table's own lock. Only creating
/// and removing tables or PEs takes the registry's write lock.
pub struct TceRegistry {
    config: TceConfig,
    budget: Arc<Budget>,
    tables: RwLock<Vec<Entry>>,
    pes: Mutex<Vec<PeConfig>>,
    next_link: AtomicU64,
}

impl std::fmt::Debug for TceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let liobns: Vec<String> = self
            .tables
            .read()
            .iter()
            .map(|e| format!("{:#x}", e.liobn))
            .collect();
        f.debug_struct("TceRegistry")
            .field("config", &self.config)
            .field("chunks_used", &self.budget.used())
            .field("liobns", &liobns)
            .finish()
    }
}

impl Default for TceRegistry {
    fn default() -> Self {
        Self::new(TceConfig::default())
    }
}

impl TceRegistry {
    /// An empty registry.
    pub fn new(config: TceConfig) -> Self {
        TceRegistry {
            config,
            budget: Arc::new(Budget::new(config.max_chunks)),
            tables: RwLock::new(Vec::new()),
            pes: Mutex::new(Vec::new()),
            next_link: AtomicU64::new(1),
        }
    }

    /// The settings.
    pub fn config(&self) -> TceConfig {
        self.config
    }

    /// 4 KiB chunks currently allocated by all tables.
    pub fn chunks_used(&self) -> usize {
        self.budget.used()
    }

    fn find(v: &[Entry], liobn: u32) -> Result<usize, usize> {
        v.binary_search_by_key(&liobn, |e| e.liobn)
    }

    /// The table of `liobn` (an hcall register value; values above 32 bits name nothing).
    fn lookup(&self, liobn: u64) -> Option<Arc<TceTable>> {
        let liobn = u32::try_from(liobn).ok()?;
        let v = self.tables.read();
        Self::find(&v, liobn).ok().map(|i| v[i].table.clone())
    }

    fn active(&self, window: DmaWindow) -> Active {
        Active {
            window,
            tces: SparseTable::new(window.entries(), self.budget.clone()),
        }
    }

    // ---- tables -------------------------------------------------------------------------

    /// Creates a table for `liobn` with `window` (a VIO device's `ibm,my-dma-window`, or any
    /// window the machine manages itself), all entries zero.
    pub fn create_table(&self, liobn: u32, window: DmaWindow) -> Result<Arc<TceTable>, TceError> {
        let window = DmaWindow::new(window.bus_offset(), window.page_shift(), window.entries())?;
        let mut v = self.tables.write();
        let pos = match Self::find(&v, liobn) {
            Ok(_) => return Err(TceError::Exists(liobn)),
            Err(p) => p,
        };
        let table = Arc::new(TceTable::new(liobn, Some(self.active(window))));
        v.insert(
            pos,
            Entry {
                liobn,
                table: table.clone(),
                pe: None,
            },
        );
        Ok(table)
    }

    /// Creates a table the way `KVM_CREATE_SPAPR_TCE_64` does (`tce.md` §5.1): `offset` and
    /// `size` count IOMMU pages, `flags` is ignored. `EINVAL` for a LIOBN above 32 bits, a
    /// zero size, a page shift outside 12..=34 or a window past the 64-bit bus space;
    /// `EBUSY` if the LIOBN already has a table. Storage is allocated lazily, so the table
    /// itself never fails for lack of memory.
    pub fn create_spapr_tce_64(
        &self,
        liobn: u64,
        page_shift: u32,
        _flags: u32,
        offset: u64,
        size: u64,
    ) -> Result<Arc<TceTable>, DeviceError> {
        let liobn = u32::try_from(liobn).map_err(|_| DeviceError::Invalid)?;
        if !(MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT).contains(&page_shift) || size == 0 {
            return Err(DeviceError::Invalid);
        }
        let end_pages = offset.checked_add(size).ok_or(DeviceError::Invalid)?;
        if end_pages > u64::MAX >> page_shift {
            return Err(DeviceError::Invalid);
        }
        let window = DmaWindow::new(offset << page_shift, page_shift, size)
            .map_err(|_| DeviceError::Invalid)?;
        self.create_table(liobn, window).map_err(|e| match e {
            TceError::Exists(_) => DeviceError::Busy,
            _ => DeviceError::Invalid,
        })
    }

    /// Legacy `KVM_CREATE_SPAPR_TCE`: 4 KiB pages at bus address 0, `window_size` bytes.
    pub fn create_spapr_tce(
        &self,
        liobn: u64,
        window_size: u32,
    ) -> Result<Arc<TceTable>, DeviceError> {
        self.create_spapr_tce_64(
            liobn,
            MIN_PAGE_SHIFT,
            0,
            0,
            u64::from(window_size) >> MIN_PAGE_SHIFT,
        )
    }

    /// Removes the table of `liobn`: every linked listener is told to unmap what it mirrors
    /// and is dropped; outstanding handles see a disabled window from then on. Tables of a
    /// PE are removed with [`remove_pe`](Self::remove_pe).
    pub fn remove_table(&self, liobn: u32) -> Result<(), TceError> {
        let table = {
            let mut v = self.tables.write();
            let i = Self::find(&v, liobn).map_err(|_| TceError::NoSuchLiobn(liobn))?;
            if v[i].pe.is_some() {
                return Err(TceError::OwnedByPe(liobn));
            }
            v.remove(i).table
        };
        table.retire();
        Ok(())
    }

    /// The table of `liobn`.
    pub fn table(&self, liobn: u32) -> Option<Arc<TceTable>> {
        self.lookup(u64::from(liobn))
    }

    /// All LIOBNs, ascending.
    pub fn liobns(&self) -> Vec<u32> {
        self.tables.read().iter().map(|e| e.liobn).collect()
    }

    /// A `vm_memory::Iommu` for the table of `liobn`, to put behind `vm_memory::IommuMemory`.
    pub fn iommu(&self, liobn: u32) -> Option<TceIommu> {
        self.table(liobn).map(TceIommu::new)
    }

    // ---- DMA ----------------------------------------------------------------------------

    /// Checks a device access to `ioba..ioba+len` through `liobn` and returns its
    /// guest-physical pieces (see [`TceTable::translate`]).
    pub fn translate(
        &self,
        liobn: u32,
        ioba: u64,
        len: u64,
        access: Access,
    ) -> Result<Translation, DmaError> {
        self.table(liobn)
            .ok_or(DmaError::NoSuchLiobn(liobn))?
            .translate(ioba, len, access)
    }

    // ---- hypercalls ---------------------------------------------------------------------

    /// Handles a TCE hypercall: `args[0..]` are r4.., the result goes to r3 (and r4 for
    /// H_GET_TCE). `None` if `opcode` is not a TCE hcall.
    ///
    /// Every failure is H_PARAMETER except H_NOT_ENOUGH_RESOURCES when the table-memory
    /// budget is exhausted (Linux then unmaps and fails the DMA mapping cleanly).
    pub fn hcall(&self, opcode: u64, args: &[u64; 9], mem: &GuestMemory) -> Option<HcallResult> {
        let ret = match opcode {
            H_GET_TCE => {
                return Some(match self.h_get_tce(args[0], args[1]) {
                    Ok(tce) => HcallResult::ok(&[tce]),
                    Err(e) => HcallResult::status(e),
                });
            }
            H_PUT_TCE => self.h_put_tce(args[0], args[1], args[2], mem),
            H_STUFF_TCE | H_PUT_TCE_INDIRECT if !self.config.multi_tce => H_FUNCTION,
            H_STUFF_TCE => self.h_stuff_tce(args[0], args[1], args[2], args[3], mem),
            H_PUT_TCE_INDIRECT => self.h_put_tce_indirect(args[0], args[1], args[2], args[3], mem),
            _ => return None,
        };
        Some(HcallResult::status(ret))
    }

    /// H_GET_TCE(liobn, ioba) → the TCE (0 for never-written entries).
    ///
    /// H_PARAMETER: unknown LIOBN or disabled window; `ioba` not aligned to the page size or
    /// outside the window.
    pub fn h_get_tce(&self, liobn: u64, ioba: u64) -> Result<u64, i64> {
        self.lookup(liobn).ok_or(H_PARAMETER)?.h_get(ioba)
    }

    /// H_PUT_TCE(liobn, ioba, tce).
    ///
    /// H_PARAMETER, checked in this order: unknown LIOBN or disabled window; `ioba` not
    /// aligned to the page size or outside the window; `tce` with R or W set whose bits
    /// 2..page_shift−1 are not zero or whose page does not start in guest RAM.
    /// H_NOT_ENOUGH_RESOURCES: table-memory budget exhausted.
    pub fn h_put_tce(&self, liobn: u64, ioba: u64, tce: u64, mem: &GuestMemory) -> i64 {
        match self.lookup(liobn) {
            Some(t) => t.h_store(ioba, 1, Values::Same(tce), mem),
            None => H_PARAMETER,
        }
    }

    /// H_STUFF_TCE(liobn, ioba, tce, npages): writes `tce` into `npages` entries.
    ///
    /// Same checks as H_PUT_TCE with the range `ioba..ioba+npages pages`; nothing is written
    /// unless all pass. A non-zero value is accepted (PAPR, QEMU) where KVM only clears.
    /// `npages = 0` is a successful no-op once the LIOBN and `ioba` checks pass.
    pub fn h_stuff_tce(
        &self,
        liobn: u64,
        ioba: u64,
        tce: u64,
        npages: u64,
        mem: &GuestMemory,
    ) -> i64 {
        match self.lookup(liobn) {
            Some(t) => t.h_store(ioba, npages, Values::Same(tce), mem),
            None => H_PARAMETER,
        }
    }

    /// H_PUT_TCE_INDIRECT(liobn, ioba, tce_list, npages): stores `npages` big-endian TCEs
    /// read from guest real address `tce_list`.
    ///
    /// H_PARAMETER, in this order: unknown LIOBN; `npages > 512`; `tce_list` not 4 KiB
    /// aligned; the list page not guest RAM (even for `npages = 0`); disabled window, `ioba` misaligned or the
    /// range outside the window; any listed TCE invalid (as H_PUT_TCE). The list is read
    /// once, and nothing is written unless every entry is valid.
    pub fn h_put_tce_indirect(
        &self,
        liobn: u64,
        ioba: u64,
        tce_list: u64,
        npages: u64,
        mem: &GuestMemory,
    ) -> i64 {
        let Some(t) = self.lookup(liobn) else {
            return H_PARAMETER;
        };
        if npages > MAX_INDIRECT_TCES || tce_list & 0xFFF != 0 {
            return H_PARAMETER;
        }
        if !mem.address_in_range(GuestAddress(tce_list)) {
            return H_PARAMETER;
        }
        // npages ≤ 512, so this always fits the one-page buffers.
        let n = npages as usize;
        let mut raw = [0u8; 4096];
        if mem
            .read_slice(&mut raw[..n * 8], GuestAddress(tce_list))
            .is_err()
        {
            return H_PARAMETER;
        }
        let mut list = [0u64; MAX_INDIRECT_TCES as usize];
        for (dst, src) in list.iter_mut().zip(raw[..n * 8].chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(src);
            *dst = u64::from_be_bytes(b);
        }
        t.h_store(ioba, npages, Values::List(&list[..n]), mem)
    }

    // ---- listeners ----------------------------------------------------------------------

    /// Links `listener` to `liobn`: it first receives `map` for every current mapping, then
    /// every later change. Several listeners may be linked to one LIOBN.
    pub fn link(&self, liobn: u32, listener: Arc<dyn TceListener>) -> Result<LinkId, TceError> {
        let table = self.table(liobn).ok_or(TceError::NoSuchLiobn(liobn))?;
        let id = LinkId(self.next_link.fetch_add(1, Ordering::Relaxed));
        table.link(id, listener)?;
        Ok(id)
    }

    /// Unlinks a listener; it receives `unmap` for everything it still mirrors.
    pub fn unlink(&self, liobn: u32, id: LinkId) -> Result<(), TceError> {
        self.table(liobn)
            .ok_or(TceError::NoSuchLiobn(liobn))?
            .unlink(id)
    }

    /// Whether link `id` is attached to `liobn`.
    pub fn is_linked(&self, liobn: u32, id: LinkId) -> bool {
        self.table(liobn).is_some_and(|t| t.has_link(id))
    }

    // ---- PEs and dynamic DMA windows ----------------------------------------------------

    /// Registers a PE: its default window is created enabled, its other slots disabled.
    pub fn add_pe(&self, pe: PeConfig) -> Result<(), TceError> {
        pe.validate()?;
        let mut pes = self.pes.lock();
        if pes.iter().any(|p| p.buid == pe.buid) {
            return Err(TceError::PeExists(pe.buid));
        }
        let mut v = self.tables.write();
        if let Some(l) = pe.slots().find(|&l| Self::find(&v, l).is_ok()) {
            return Err(TceError::Exists(l));
        }
        for liobn in pe.slots() {
            let active = (liobn == pe.default_liobn).then(|| self.active(pe.default_window));
            let table = Arc::new(TceTable::new(liobn, active));
            let pos = Self::find(&v, liobn).unwrap_or_else(|p| p);
            v.insert(
                pos,
                Entry {
                    liobn,
                    table,
                    pe: Some(pe.buid),
                },
            );
        }
        pes.push(pe);
        Ok(())
    }

    /// Removes a PE and all its window tables (listeners are unmapped and dropped).
    pub fn remove_pe(&self, buid: u64) -> Result<(), TceError> {
        let mut pes = self.pes.lock();
        let i = pes
            .iter()
            .position(|p| p.buid == buid)
            .ok_or(TceError::NoSuchPe(buid))?;
        pes.remove(i);
        let removed: Vec<Arc<TceTable>> = {
            let mut v = self.tables.write();
            let (gone, keep): (Vec<Entry>, Vec<Entry>) =
                v.drain(..).partition(|e| e.pe == Some(buid));
            *v = keep;
            gone.into_iter().map(|e| e.table).collect()
        };
        drop(pes);
        for t in removed {
            t.retire();
        }
        Ok(())
    }

    /// The configuration of PE `buid`.
    pub fn pe(&self, buid: u64) -> Option<PeConfig> {
        self.pes.lock().iter().find(|p| p.buid == buid).cloned()
    }

    fn slot_tables(&self, pe: &PeConfig) -> Vec<Arc<TceTable>> {
        pe.slots().filter_map(|l| self.table(l)).collect()
    }

    fn ddw_pe(pes: &[PeConfig], buid: u64) -> Result<&PeConfig, RtasError> {
        pes.iter()
            .find(|p| p.buid == buid && p.ddw_enabled)
            .ok_or(RtasError::ParamError)
    }

    /// `ibm,query-pe-dma-window(config_addr, BUID)`. −3 for an unknown PE or DDW disabled
    /// (`config_addr` is not checked, as in QEMU).
    pub fn ddw_query(&self, buid: u64) -> Result<DdwQuery, RtasError> {
        let pes = self.pes.lock();
        let pe = Self::ddw_pe(&pes, buid)?;
        let tables = self.slot_tables(pe);
        let active = tables.iter().filter(|t| t.window().is_some()).count();
        let slots = pe.slots().count();
        Ok(DdwQuery {
            windows_available: u32::try_from(slots.saturating_sub(active)).unwrap_or(u32::MAX),
            largest_block: pe.largest_block,
            page_size_mask: pe.page_size_mask,
            migration_capable: 0,
        })
    }

    /// `ibm,create-pe-dma-window(config_addr, BUID, page_shift, window_shift)`.
    ///
    /// −3: unknown PE or DDW disabled; page size not in the PE's mask; `window_shift <
    /// page_shift`; a window that does not fit the 64-bit bus space. −1: no free slot; more
    /// TCEs than the largest block. The new window takes the first free slot; its bus address
    /// is the PE's 64-bit address if another window is active, else the default window's.
    pub fn ddw_create(
        &self,
        buid: u64,
        page_shift: u32,
        window_shift: u32,
    ) -> Result<DdwCreated, RtasError> {
        let pes = self.pes.lock();
        let pe = Self::ddw_pe(&pes, buid)?;
        let supported = ddw_mask_bit(page_shift).is_some_and(|b| pe.page_size_mask & b != 0);
        if !supported || window_shift < page_shift {
            return Err(RtasError::ParamError);
        }
        let tables = self.slot_tables(pe);
        let any_active = tables.iter().any(|t| t.window().is_some());
        let bus = if any_active {
            pe.dma64_window_addr
        } else {
            pe.default_window.bus_offset()
        };
        let window = 1u64
            .checked_shl(window_shift - page_shift)
            .and_then(|e| DmaWindow::new(bus, page_shift, e).ok())
            .ok_or(RtasError::ParamError)?;
        let slot = tables
            .iter()
            .find(|t| t.window().is_none())
            .ok_or(RtasError::HwError)?;
        if window.entries() > pe.largest_block {
            return Err(RtasError::HwError);
        }
        slot.set_window(Some(window), &self.budget)
            .map_err(|_| RtasError::HwError)?;
        Ok(DdwCreated {
            liobn: slot.liobn(),
            window,
        })
    }

    /// `ibm,remove-pe-dma-window(liobn)`: disables an active window of a DDW-enabled PE (the
    /// default window included). −3 for any other LIOBN.
    pub fn ddw_remove(&self, liobn: u32) -> Result<(), RtasError> {
        let pes = self.pes.lock();
        let buid = {
            let v = self.tables.read();
            let i = Self::find(&v, liobn).map_err(|_| RtasError::ParamError)?;
            v[i].pe.ok_or(RtasError::ParamError)?
        };
        Self::ddw_pe(&pes, buid)?;
        let table = self.table(liobn).ok_or(RtasError::ParamError)?;
        if table.window().is_none() {
            return Err(RtasError::ParamError);
        }
        table
            .set_window(None, &self.budget)
            .map_err(|_| RtasError::ParamError)
    }

    /// `ibm,reset-pe-dma-window(config_addr, BUID)`: disables every window of the PE and
    /// re-creates the default window, empty. −3 for an unknown PE or DDW disabled.
    pub fn ddw_reset(&self, buid: u64) -> Result<(), RtasError> {
        let pes = self.pes.lock();
        let pe = Self::ddw_pe(&pes, buid)?;
        self.reset_pe(pe);
        Ok(())
    }

    fn reset_pe(&self, pe: &PeConfig) {
        for t in self.slot_tables(pe) {
            let w = (t.liobn() == pe.default_liobn).then_some(pe.default_window);
            // Only fails for a removed table, which is no longer in the registry.
            let _ = t.set_window(w, &self.budget);
        }
    }

    /// Machine reset: every PE gets back its default window only, every other table is
    /// cleared (its window kept).
    pub fn reset(&self) {
        let pes = self.pes.lock();
        for pe in pes.iter() {
            self.reset_pe(pe);
        }
        let others: Vec<Arc<TceTable>> = self
            .tables
            .read()
            .iter()
            .filter(|e| e.pe.is_none())
            .map(|e| e.table.clone())
            .collect();
        drop(pes);
        for t in others {
            t.clear();
        }
    }

    // ---- state capture ------------------------------------------------------------------

    /// Captures every table (window and non-zero entries) and every PE.
    pub fn save(&self) -> TceState {
        let pes = self.pes.lock();
        let tables: Vec<Arc<TceTable>> =
            self.tables.read().iter().map(|e| e.table.clone()).collect();
        let tables = tables
            .iter()
            .map(|t| {
                let (window, entries) = t.snapshot();
                TableState {
                    liobn: t.liobn(),
                    window,
                    runs: TceRun::from_entries(&entries),
                }
            })
            .collect();
        TceState {
            version: TceState::VERSION,
            tables,
            pes: pes.clone(),
        }
    }

    /// Replaces the whole registry content with `state`: tables whose LIOBN appears in it are
    /// updated in place (their listeners see the difference as unmaps and maps, their
    /// handles stay valid), missing ones are created, others removed. Nothing changes if the
    /// state is inconsistent or does not fit the memory budget.
    pub fn restore(&self, state: &TceState) -> Result<(), TceError> {
        if state.version != TceState::VERSION {
            return Err(TceError::BadState("unknown version"));
        }
        // Validate the PEs and map each slot to its BUID.
        let mut owner: Vec<(u32, u64)> = Vec::new();
        for (i, pe) in state.pes.iter().enumerate() {
            pe.validate()
                .map_err(|_| TceError::BadState("bad PE configuration"))?;
            if state.pes[..i].iter().any(|p| p.buid == pe.buid) {
                return Err(TceError::BadState("duplicate PE"));
            }
            owner.extend(pe.slots().map(|l| (l, pe.buid)));
        }
        owner.sort_unstable();
        if owner.windows(2).any(|p| p[0].0 == p[1].0) {
            return Err(TceError::BadState("LIOBN in two PEs"));
        }
        // Build every table's content against a scratch budget of the same size.
        let scratch = Arc::new(Budget::new(self.budget.limit()));
        let mut built: Vec<(u32, Option<Active>, Option<u64>)> =
            Vec::with_capacity(state.tables.len());
        let mut liobns: Vec<u32> = state.tables.iter().map(|t| t.liobn).collect();
        liobns.sort_unstable();
        if liobns.windows(2).any(|p| p[0] == p[1]) {
            return Err(TceError::BadState("duplicate LIOBN"));
        }
        if owner.iter().any(|(l, _)| liobns.binary_search(l).is_err()) {
            return Err(TceError::BadState("PE slot without a table"));
        }
        for ts in &state.tables {
            let active = match ts.window {
                None => {
                    if !ts.runs.is_empty() {
                        return Err(TceError::BadState("entries without a window"));
                    }
                    None
                }
                Some(w) => {
                    let w = DmaWindow::new(w.bus_offset(), w.page_shift(), w.entries())
                        .map_err(|_| TceError::BadState("bad window"))?;
                    let mut tces = SparseTable::new(w.entries(), scratch.clone());
                    for run in &ts.runs {
                        let n = run.tces.len() as u64;
                        if run.index.checked_add(n).is_none_or(|e| e > w.entries()) {
                            return Err(TceError::BadState("entry outside its window"));
                        }
                        let mut r = tces.reserve(0).map_err(|_| TceError::NoMemory)?;
                        let res = tces.write_run(
                            run.index,
                            n,
                            |i| run.tces.get((i - run.index) as usize).copied().unwrap_or(0),
                            &mut r,
                            |_, _, _| {},
                        );
                        tces.finish(r);
                        res.map_err(|_| TceError::NoMemory)?;
                    }
                    Some(Active { window: w, tces })
                }
            };
            let pe = owner
                .binary_search_by_key(&ts.liobn, |(l, _)| *l)
                .ok()
                .map(|i| owner[i].1);
            built.push((ts.liobn, active, pe));
        }
        // The default window of a PE must be the default slot's window if enabled; nothing
        // else to check: any slot may be enabled or not.

        // Apply.
        let mut pes = self.pes.lock();
        let old: Vec<Entry> = std::mem::take(&mut *self.tables.write());
        let mut new_entries: Vec<Entry> = Vec::with_capacity(built.len());
        let mut old_map: Vec<Option<Entry>> = old.into_iter().map(Some).collect();
        let mut to_update: Vec<(Arc<TceTable>, Option<Active>)> = Vec::new();
        for (liobn, mut active, pe) in built {
            if let Some(a) = active.as_mut() {
                a.tces.rebudget(self.budget.clone());
            }
            let existing = old_map
                .iter_mut()
                .find(|e| e.as_ref().is_some_and(|e| e.liobn == liobn))
                .and_then(Option::take);
            let table = match existing {
                Some(e) => {
                    to_update.push((e.table.clone(), active));
                    e.table
                }
                None => Arc::new(TceTable::new(liobn, active)),
            };
            new_entries.push(Entry { liobn, table, pe });
        }
        new_entries.sort_by_key(|e| e.liobn);
        *self.tables.write() = new_entries;
        *pes = state.pes.clone();
        drop(pes);
        for (t, a) in to_update {
            // Cannot fail: the table was live in the registry a moment ago.
            let _ = t.replace(a);
        }
        for e in old_map.into_iter().flatten() {
            e.table.retire();
        }
        Ok(())
    }
}
