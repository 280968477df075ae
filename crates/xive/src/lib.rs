//! XIVE exploitation mode for sPAPR guests.
//!
//! An in-process model of the XIVE interrupt controller as a PAPR hypervisor presents it to
//! a guest (what QEMU's `spapr_xive` plus KVM's XIVE-native device do): interrupt sources
//! with their ESB PQ state machine, the router (EAS → END → NVT), event queues written into
//! guest memory, one presenter (thread context, OS ring) per connected vCPU, the `H_INT_*`
//! hypercalls, a KVM-shaped device-attribute API and state capture/restore.
//!
//! The object has no threads of its own: the hypervisor core calls it from vCPU threads
//! (hcalls, ESB and TIMA MMIO) and device threads (`IrqInjector::set_irq`). It is `Send +
//! Sync` and meant to be shared as `Arc<Xive>`. See the crate README for the design.

#![deny(missing_docs)]

pub mod device;
mod end;
pub mod hcall;
pub mod mmio;
mod source;
mod state;
mod tctx;

use std::sync::Arc;

use hvapi::GuestMemory;
use hvapi::irq::{IrqAckListener, IrqError, IrqInjector, VcpuIrqSink};
use parking_lot::{Mutex, RwLock};
use thiserror::Error;

pub use end::VALID_QSHIFTS;
pub use source::{PQ_OFF, PQ_PENDING, PQ_QUEUED, PQ_RESET};
pub use state::{EndState, PresenterState, SourceState, XIVE_STATE_VERSION, XiveState};

use end::End;
use source::{EAS_END_DATA, EAS_MASKED, EAS_VALID, Source, SourceTable, eas_end_index};
use tctx::Tctx;

/// QEMU's guest-physical base of the source ESB region ("VC base").
pub const DEFAULT_ESB_BASE: u64 = 0x0006_0100_0000_0000;
/// QEMU's guest-physical base of the TIMA (4 × 64 KiB).
pub const DEFAULT_TIMA_BASE: u64 = 0x0006_0302_0318_0000;
/// QEMU's number of LISNs (0x1000 IPIs + 0x1000 device sources).
pub const DEFAULT_NR_IRQS: u32 = 0x2000;
/// Default ESB mode: two 64 KiB pages per source.
pub const DEFAULT_ESB_SHIFT: u32 = 17;
/// Default first hypervisor-reserved priority (guests use `0..hv_prio`).
pub const DEFAULT_HV_PRIO: u8 = 7;
/// Size of the TIMA region (4 pages of 64 KiB).
pub const TIMA_SIZE: u64 = 4 << TIMA_PAGE_SHIFT;
/// Page shift of the TIMA pages.
pub const TIMA_PAGE_SHIFT: u32 = 16;
/// Largest number of LISNs (KVM's limit, 1 Mi).
pub const MAX_LISNS: u32 = 1 << 20;
/// Largest number of interrupt servers (KVM_MAX_VCPU_IDS on a POWER host).
pub const MAX_SERVERS: u32 = 16384;
/// Number of priorities (and ENDs per server).
pub const NR_PRIORITIES: usize = 8;

/// Construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XiveConfig {
    /// Number of interrupt servers (highest vCPU id + 1). Also the size of the IPI range
    /// `0..nr_servers`, whose LISNs are claimed at construction.
    pub nr_servers: u32,
    /// Number of LISNs (size of the ESB region in sources).
    pub nr_irqs: u32,
    /// Guest-physical base of the ESB region (device-tree facts and hcall outputs only).
    pub esb_base: u64,
    /// Guest-physical base of the TIMA (device-tree facts only).
    pub tima_base: u64,
    /// ESB shift per source: 12, 13, 16 or 17 (17 = two 64 KiB pages, the default).
    pub esb_shift: u32,
    /// First reserved priority: guests may use priorities `0..hv_prio` (1..=7).
    pub hv_prio: u8,
    /// Advertise and accept StoreEOI (offset 0x400 stores); QEMU's default is off.
    pub store_eoi: bool,
}

impl XiveConfig {
    /// QEMU's defaults for a machine with `nr_servers` interrupt servers.
    pub const fn qemu_default(nr_servers: u32) -> Self {
        XiveConfig {
            nr_servers,
            nr_irqs: DEFAULT_NR_IRQS,
            esb_base: DEFAULT_ESB_BASE,
            tima_base: DEFAULT_TIMA_BASE,
            esb_shift: DEFAULT_ESB_SHIFT,
            hv_prio: DEFAULT_HV_PRIO,
            store_eoi: false,
        }
    }

    fn two_page(&self) -> bool {
        self.esb_shift == 13 || self.esb_shift == 17
    }

    /// Size of the source ESB region in bytes.
    pub fn esb_size(&self) -> u64 {
        u64::from(self.nr_irqs) << self.esb_shift
    }

    /// Offset of a source's management (EOI) page within the ESB region.
    fn mgmt_page_offset(&self, lisn: u32) -> u64 {
        let base = u64::from(lisn) << self.esb_shift;
        if self.two_page() {
            base + (1 << (self.esb_shift - 1))
        } else {
            base
        }
    }

    fn validate(&self) -> Result<(), XiveError> {
        if ![12, 13, 16, 17].contains(&self.esb_shift) {
            return Err(XiveError::BadConfig("esb_shift must be 12, 13, 16 or 17"));
        }
        if self.nr_irqs == 0 || self.nr_irqs > MAX_LISNS {
            return Err(XiveError::BadConfig("nr_irqs must be in 1..=2^20"));
        }
        if self.nr_servers == 0 || self.nr_servers > MAX_SERVERS || self.nr_servers > self.nr_irqs {
            return Err(XiveError::BadConfig(
                "nr_servers must be in 1..=min(16384, nr_irqs)",
            ));
        }
        if self.hv_prio == 0 || self.hv_prio > 7 {
            return Err(XiveError::BadConfig("hv_prio must be in 1..=7"));
        }
        // ESB region, then the END ESB region (2 pages per END ESB pair, 8 ENDs per server).
        let end_len = (u64::from(MAX_SERVERS) * 8) << (self.esb_shift + 1);
        if self
            .esb_base
            .checked_add(self.esb_size())
            .and_then(|e| e.checked_add(end_len))
            .is_none()
        {
            return Err(XiveError::BadConfig(
                "ESB region overflows the address space",
            ));
        }
        if self.tima_base.checked_add(TIMA_SIZE).is_none() {
            return Err(XiveError::BadConfig(
                "TIMA region overflows the address space",
            ));
        }
        Ok(())
    }
}

impl Default for XiveConfig {
    fn default() -> Self {
        XiveConfig::qemu_default(1)
    }
}

/// Errors of the hypervisor-side (non-guest) API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XiveError {
    /// The configuration is not usable.
    #[error("bad XIVE configuration: {0}")]
    BadConfig(&'static str),
    /// LISN beyond `nr_irqs`.
    #[error("LISN {0:#x} out of range")]
    LisnOutOfRange(u32),
    /// The LISN is already claimed.
    #[error("LISN {0:#x} already claimed")]
    AlreadyClaimed(u32),
    /// The LISN is not claimed.
    #[error("LISN {0:#x} not claimed")]
    NotClaimed(u32),
    /// A captured state does not fit this controller.
    #[error("bad XIVE state: {0}")]
    BadState(String),
}

/// Values for the `ibm,power-ivpe` device-tree node (and the root's reserved priorities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XiveDtFacts {
    /// Unit address of the node (`interrupt-controller@<this>`): TIMA base + 3 × 64 KiB.
    pub unit_address: u64,
    /// `compatible` = "ibm,power-ivpe".
    pub compatible: &'static str,
    /// `device_type` = "power-ivpe".
    pub device_type: &'static str,
    /// `reg`: (address, size) pairs as QEMU writes them: the USER TIMA page, then the OS
    /// TIMA page (Linux maps entry 1).
    pub reg: [(u64, u64); 2],
    /// Guest-physical base and size of the source ESB region (for the memory map).
    pub esb: (u64, u64),
    /// Guest-physical base and size of the whole TIMA (for the memory map).
    pub tima: (u64, u64),
    /// `ibm,xive-eq-sizes`: supported queue shifts.
    pub eq_sizes: Vec<u32>,
    /// `ibm,xive-lisn-ranges`: (base, count) pairs of IPI LISNs for the guest's allocator.
    pub lisn_ranges: Vec<(u32, u32)>,
    /// Root `ibm,plat-res-int-priorities`: (base, count) pairs of reserved priorities.
    pub plat_res_int_priorities: Vec<(u32, u32)>,
    /// `#interrupt-cells`.
    pub interrupt_cells: u32,
}

/// Per-server state: the 8 ENDs and the thread context.
#[derive(Debug)]
struct Server {
    ends: [Mutex<End>; NR_PRIORITIES],
    tctx: Mutex<Tctx>,
}

impl Server {
    fn new() -> Self {
        Server {
            ends: std::array::from_fn(|_| Mutex::new(End::reset())),
            tctx: Mutex::new(Tctx::default()),
        }
    }
}

/// Everything behind the configuration lock. Delivery takes it for read; claim/free,
/// NR_SERVERS, H_INT_RESET, save and restore take it for write.
struct Tables {
    nr_servers: u32,
    sources: SourceTable,
    servers: Box<[Server]>,
    ack_listener: Option<Arc<dyn IrqAckListener>>,
}

impl Tables {
    fn server(&self, server: u32) -> Option<&Server> {
        self.servers.get(server as usize)
    }

    /// The server if a vCPU is connected to it.
    fn connected(&self, server: u32) -> Option<&Server> {
        self.server(server).filter(|s| s.tctx.lock().connected)
    }
}

/// The XIVE controller.
pub struct Xive {
    cfg: XiveConfig,
    mem: Arc<GuestMemory>,
    sink: Arc<dyn VcpuIrqSink>,
    t: RwLock<Tables>,
}

impl std::fmt::Debug for Xive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xive")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Log a guest error: `warn!` for the first few occurrences per call site, then `debug!`.
macro_rules! guest_error {
    ($($arg:tt)*) => {{
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        if COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 16 {
            tracing::warn!($($arg)*);
        } else {
            tracing::debug!($($arg)*);
        }
    }};
}
pub(crate) use guest_error;

impl Xive {
    /// Build a controller. The IPI LISNs `0..nr_servers` are claimed (MSI, PQ=01) with their
    /// EAS valid and masked: the state QEMU's machine reset leaves them in (it masks every
    /// valid EAS), so `H_INT_GET_SOURCE_CONFIG` reports priority 0xFF until the guest routes
    /// them. No vCPU is connected yet: call [`Xive::connect_vcpu`] for each.
    pub fn new(
        cfg: XiveConfig,
        mem: Arc<GuestMemory>,
        sink: Arc<dyn VcpuIrqSink>,
    ) -> Result<Self, XiveError> {
        cfg.validate()?;
        let mut tables = Tables {
            nr_servers: cfg.nr_servers,
            sources: SourceTable::new(cfg.nr_irqs),
            servers: (0..cfg.nr_servers).map(|_| Server::new()).collect(),
            ack_listener: None,
        };
        for lisn in 0..cfg.nr_servers {
            tables
                .sources
                .claim_with(lisn, false, false, PQ_OFF, EAS_VALID | EAS_MASKED)?;
        }
        Ok(Xive {
            cfg,
            mem,
            sink,
            t: RwLock::new(tables),
        })
    }

    /// The construction parameters (`nr_servers` as given at construction).
    pub fn config(&self) -> &XiveConfig {
        &self.cfg
    }

    /// The current number of interrupt servers (may be changed by the NR_SERVERS attribute).
    pub fn nr_servers(&self) -> u32 {
        self.t.read().nr_servers
    }

    /// The IPI LISN of `server` (QEMU's layout: LISN = server number), if in range.
    pub fn ipi_lisn(&self, server: u32) -> Option<u32> {
        (server < self.nr_servers()).then_some(server)
    }

    /// Claim `lisn` for a device (`lsi` = level-sensitive). Like QEMU: EAS valid (not
    /// masked, END 0), PQ = 01 (off) until the guest enables it.
    pub fn claim(&self, lisn: u32, lsi: bool) -> Result<(), XiveError> {
        self.t
            .write()
            .sources
            .claim_with(lisn, lsi, false, PQ_OFF, EAS_VALID)
    }

    /// Release `lisn`. Events already queued stay in the guest's queue.
    pub fn free(&self, lisn: u32) -> Result<(), XiveError> {
        self.t.write().sources.free(lisn)
    }

    /// Whether `lisn` is claimed, and if so whether it is an LSI.
    pub fn source_kind(&self, lisn: u32) -> Option<bool> {
        self.t.read().sources.get(lisn).map(Source::is_lsi)
    }

    /// Current PQ bits of a claimed source.
    pub fn source_pq(&self, lisn: u32) -> Option<u8> {
        self.t.read().sources.get(lisn).map(Source::pq)
    }

    /// Install (or remove) the listener told about guest EOIs of level-sensitive sources.
    pub fn set_ack_listener(&self, listener: Option<Arc<dyn IrqAckListener>>) {
        self.t.write().ack_listener = listener;
    }

    /// The current exception output towards `server` (NSR.EO of its OS ring).
    pub fn external_pending(&self, server: u32) -> bool {
        self.t.read().server(server).is_some_and(|s| {
            let tc = s.tctx.lock();
            tc.connected && tc.line()
        })
    }

    /// Number of 64-source chunks currently allocated (memory accounting).
    pub fn allocated_source_chunks(&self) -> usize {
        self.t.read().sources.allocated_chunks()
    }

    /// Values for the `ibm,power-ivpe` node.
    pub fn dt_facts(&self) -> XiveDtFacts {
        let page = 1u64 << TIMA_PAGE_SHIFT;
        let base = self.cfg.tima_base;
        XiveDtFacts {
            unit_address: base + 3 * page,
            compatible: "ibm,power-ivpe",
            device_type: "power-ivpe",
            reg: [(base + 3 * page, page), (base + 2 * page, page)],
            esb: (self.cfg.esb_base, self.cfg.esb_size()),
            tima: (base, TIMA_SIZE),
            eq_sizes: vec![16],
            lisn_ranges: vec![(0, self.nr_servers())],
            plat_res_int_priorities: vec![(
                u32::from(self.cfg.hv_prio),
                0xFF - u32::from(self.cfg.hv_prio),
            )],
            interrupt_cells: 2,
        }
    }

    /// Guest-physical address of the notification ESB page of END `end_index`
    /// (`H_INT_GET_QUEUE_INFO`). The END ESB region follows the source ESB region; each END
    /// has a pair of 64 KiB ESB pages (ESn, ESe), so ENDs are `1 << (16 + 1)` apart, as in
    /// QEMU's `end_base + (1 << (end_esb_shift + 1)) * end_index` with its 64 KiB END ESB
    /// shift (independent of the source ESB shift).
    fn end_esb_addr(&self, end_index: u32) -> u64 {
        const END_ESB_SHIFT: u32 = 16;
        let end_base = self.cfg.esb_base.wrapping_add(self.cfg.esb_size());
        end_base.wrapping_add(u64::from(end_index) << (END_ESB_SHIFT + 1))
    }

    fn prio_ok(&self, prio: u64) -> bool {
        prio < u64::from(self.cfg.hv_prio)
    }

    // ---- router ------------------------------------------------------------------------

    /// Route an event that a source forwarded: EAS → END (enqueue) → presenter.
    fn route(&self, t: &Tables, lisn: u32, src: &Source) {
        let eas = src.eas();
        if eas & EAS_VALID == 0 || eas & EAS_MASKED != 0 {
            tracing::trace!(lisn, "XIVE: event on masked/invalid EAS dropped");
            return;
        }
        let end_index = eas_end_index(eas);
        let server = end_index >> 3;
        let prio = (end_index & 7) as u8;
        let eisn = (eas & EAS_END_DATA) as u32;
        let Some(srv) = t.server(server) else {
            guest_error!(
                lisn,
                server,
                "XIVE: EAS targets an unknown server, event dropped"
            );
            return;
        };
        {
            let mut end = srv.ends[usize::from(prio)].lock();
            if !end.is_valid() {
                tracing::debug!(lisn, server, prio, "XIVE: END has no queue, event dropped");
                return;
            }
            if let Err(e) = end.enqueue(&self.mem, eisn) {
                guest_error!(
                    lisn,
                    server,
                    prio,
                    qaddr = end.qaddr,
                    "XIVE: queue write failed ({e}), event dropped"
                );
                return;
            }
            if !end.should_notify() {
                return;
            }
        }
        self.present(server, srv, prio);
    }

    /// Notify the presenter of `server` at `prio`.
    fn present(&self, server: u32, srv: &Server, prio: u8) {
        let mut tc = srv.tctx.lock();
        if !tc.connected {
            tracing::debug!(server, "XIVE: notification for a disconnected vCPU dropped");
            return;
        }
        if tc.post(prio) {
            self.sink.set_external(server, true);
        }
    }

    /// Ends an LSI EOI begun by `Source::lsi_eoi_reset`: tells the ack listener first (it
    /// may lower the line), then presents the source again if its line is still asserted.
    /// Returns whether the event was forwarded.
    fn finish_lsi_eoi(&self, listener: Option<Arc<dyn IrqAckListener>>, lisn: u32) -> bool {
        if let Some(l) = listener {
            l.lsi_eoi(lisn);
        }
        let t = self.t.read();
        let Some(src) = t.sources.get(lisn) else {
            return false;
        };
        let fwd = src.lsi_recheck();
        if fwd {
            self.route(&t, lisn, src);
        }
        fwd
    }
}

impl IrqInjector for Xive {
    fn set_irq(&self, irq: u32, level: bool) -> Result<(), IrqError> {
        let t = self.t.read();
        let src = t.sources.get(irq).ok_or(IrqError::NoSource(irq))?;
        let fwd = if src.is_lsi() {
            src.set_level(level)
        } else {
            level && src.trigger()
        };
        if fwd {
            self.route(&t, irq, src);
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit_tests;
