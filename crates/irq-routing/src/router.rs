//! The router: routing table, controllers, MSI translation and injection.

use std::collections::HashMap;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use hvapi::irq::{IrqAckListener, IrqInjector};
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::entry::{
    KVM_MSI_VALID_DEVID, KvmIrqRoutingEntry, KvmMsi, MsiMessage, RoutingEntry, RoutingKind,
    parse_kvm_irq_routing,
};
use crate::error::{ConfigError, InjectError, IrqfdError, RoutingError};
use crate::irqfd::{Irqfd, Resampler};
use crate::msi::{MsiOutcome, MsiTranslator, PseriesMsiTranslator};
use crate::state::{IrqfdInfo, RoutingState};
use crate::table::{Route, RouterConfig, Table};

/// `KVM_INTERRUPT_SET` (ppc `KVM_IRQ_LINE` level): one edge.
pub const KVM_INTERRUPT_SET: u32 = -1i32 as u32;
/// `KVM_INTERRUPT_UNSET` (ppc `KVM_IRQ_LINE` level): deassert.
pub const KVM_INTERRUPT_UNSET: u32 = -2i32 as u32;
/// `KVM_INTERRUPT_SET_LEVEL` (ppc `KVM_IRQ_LINE` level): assert and hold.
pub const KVM_INTERRUPT_SET_LEVEL: u32 = -3i32 as u32;

/// epoll token of the control eventfd that wakes the worker.
pub(crate) const WAKE_TOKEN: u64 = u64::MAX;

/// Lock a mutex, ignoring poisoning (a panicking holder leaves only plain data behind).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The interrupt controllers and the MSI translator, swapped as one snapshot.
pub(crate) struct Backend {
    pub(crate) chips: Box<[Option<Arc<dyn IrqInjector>>]>,
    pub(crate) translator: Arc<dyn MsiTranslator>,
}

/// Counters, for diagnostics and tests.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) irqfd_signals: AtomicU64,
    pub(crate) irqfd_errors: AtomicU64,
    pub(crate) resample_signals: AtomicU64,
}

/// A copy of the router's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// irqfd signals consumed by the worker (coalesced writes count once).
    pub irqfd_signals: u64,
    /// irqfd injections that found no controller, no source or no route.
    pub irqfd_errors: u64,
    /// Resample eventfds written after a guest EOI.
    pub resample_signals: u64,
}

/// Result of one route's delivery.
pub(crate) enum Outcome {
    Delivered,
    Ignored,
    Failed(InjectError),
}

/// State shared by the router handle, its worker thread and its ack listener.
pub(crate) struct Core {
    pub(crate) config: RouterConfig,
    pub(crate) table: ArcSwap<Table>,
    pub(crate) backend: ArcSwap<Backend>,
    /// Serialises the VMM-side operations (table updates, irqfd assign/deassign, controller
    /// swaps); never taken on an injection path.
    pub(crate) control: Mutex<()>,
    pub(crate) irqfds: RwLock<HashMap<u64, Arc<Irqfd>>>,
    pub(crate) resamplers: ArcSwap<HashMap<u32, Arc<Resampler>>>,
    pub(crate) epoll: Epoll,
    pub(crate) wake: EventFd,
    pub(crate) stop: AtomicBool,
    pub(crate) next_id: AtomicU64,
    pub(crate) stats: Stats,
}

impl Core {
    /// Deliver one route.
    pub(crate) fn deliver(&self, backend: &Backend, route: &Route, level: bool) -> Outcome {
        match *route {
            Route::Irqchip { irqchip, pin } => {
                match backend.chips.get(irqchip as usize).and_then(|c| c.as_ref()) {
                    Some(chip) => match chip.set_irq(pin, level) {
                        Ok(()) => Outcome::Delivered,
                        Err(e) => Outcome::Failed(e.into()),
                    },
                    None => Outcome::Failed(InjectError::NoController),
                }
            }
            // An MSI route ignores the deassert half of a pulse, as KVM's kvm_set_msi does.
            Route::Msi(_) if !level => Outcome::Ignored,
            Route::Msi(m) => self.deliver_msi(backend, &m),
        }
    }

    /// Translate and deliver one MSI.
    pub(crate) fn deliver_msi(&self, backend: &Backend, m: &MsiMessage) -> Outcome {
        let translator = &backend.translator;
        match (m.devid.is_some(), translator.requires_devid()) {
            (true, false) => return Outcome::Failed(InjectError::DevidNotSupported),
            (false, true) => return Outcome::Failed(InjectError::DevidRequired),
            _ => {}
        }
        match translator.translate(m) {
            Ok(MsiOutcome::Source(src)) => match backend.chips.first().and_then(|c| c.as_ref()) {
                Some(chip) => match chip.set_irq(src, true) {
                    Ok(()) => Outcome::Delivered,
                    Err(e) => Outcome::Failed(e.into()),
                },
                None => Outcome::Failed(InjectError::NoController),
            },
            Ok(MsiOutcome::Dropped) => Outcome::Ignored,
            Err(e) => Outcome::Failed(e.into()),
        }
    }

    /// Drive every route of `gsi` in `table` (KVM's `kvm_set_irq`).
    pub(crate) fn set_irq_in(
        &self,
        table: &Table,
        gsi: u32,
        level: bool,
    ) -> Result<u32, InjectError> {
        let routes = table.routes(gsi);
        let routes = routes.as_slice();
        if routes.is_empty() {
            return Err(InjectError::NoRoute(gsi));
        }
        let backend = self.backend.load();
        let mut delivered = 0u32;
        let mut first_error = None;
        for route in routes {
            match self.deliver(&backend, route, level) {
                Outcome::Delivered => delivered += 1,
                Outcome::Ignored => {}
                Outcome::Failed(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (delivered, first_error) {
            (0, Some(e)) => Err(e),
            (n, _) => Ok(n),
        }
    }

    /// Recompute every irqfd's cached route after a table change (§3.3).
    pub(crate) fn recache_irqfds(&self) {
        let table = self.table.load();
        let irqfds = self.irqfds.read().unwrap_or_else(|p| p.into_inner());
        for irqfd in irqfds.values() {
            irqfd.recache(&table);
        }
    }

    /// Guest EOI of level source `irq` on irqchip 0: resample (§3.4).
    pub(crate) fn lsi_eoi(&self, irq: u32) {
        let resamplers = self.resamplers.load();
        if resamplers.is_empty() {
            return;
        }
        let table = self.table.load();
        let Some(gsi) = table.gsi_for_pin(0, irq) else {
            return;
        };
        let Some(resampler) = resamplers.get(&gsi) else {
            return;
        };
        let _ = self.set_irq_in(&table, gsi, false);
        for (_, fd) in resampler.fds.iter() {
            // Non-blocking: a saturated counter (device not draining) is dropped, never
            // blocks the vCPU thread that EOIed.
            let _ = fd.write(1);
            self.stats.resample_signals.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wake_worker(&self) {
        let _ = self.wake.write(1);
    }
}

/// Forwards EOI notifications to a router without keeping it alive (no reference cycle
/// between the controller and the router that holds it).
struct AckHandle(Weak<Core>);

impl IrqAckListener for AckHandle {
    fn lsi_eoi(&self, irq: u32) {
        if let Some(core) = self.0.upgrade() {
            core.lsi_eoi(irq);
        }
    }
}

/// KVM's generic IRQ routing for one VM: the GSI routing table, `KVM_IRQ_LINE` and
/// `KVM_SIGNAL_MSI` injection, and irqfds (with resample) served by a worker thread.
///
/// All methods take `&self`; share the router with `Arc<Router>`. The worker thread is
/// started with [`Router::start_worker`] and stopped (joined) by [`Router::stop_worker`] or
/// when the router is dropped.
pub struct Router {
    core: Arc<Core>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("config", &self.core.config)
            .field("worker_running", &self.worker_running())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router with the pseries MSI translator (MSI data = source number), the default
    /// identity table and no controller installed.
    pub fn new(config: RouterConfig) -> Result<Router, ConfigError> {
        Router::with_translator(config, Arc::new(PseriesMsiTranslator::new()))
    }

    /// A router with the given MSI translator.
    pub fn with_translator(
        config: RouterConfig,
        translator: Arc<dyn MsiTranslator>,
    ) -> Result<Router, ConfigError> {
        config.validate()?;
        let epoll = Epoll::new()?;
        let wake = EventFd::new(EFD_NONBLOCK)?;
        epoll.ctl(
            ControlOperation::Add,
            wake.as_raw_fd(),
            EpollEvent::new(EventSet::IN, WAKE_TOKEN),
        )?;
        let chips = vec![None; config.nr_irqchips as usize].into_boxed_slice();
        let core = Core {
            config,
            table: ArcSwap::from_pointee(Table::identity()),
            backend: ArcSwap::from_pointee(Backend { chips, translator }),
            control: Mutex::new(()),
            irqfds: RwLock::new(HashMap::new()),
            resamplers: ArcSwap::from_pointee(HashMap::new()),
            epoll,
            wake,
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            stats: Stats::default(),
        };
        Ok(Router {
            core: Arc::new(core),
            worker: Mutex::new(None),
        })
    }

    /// The router's limits.
    pub fn config(&self) -> RouterConfig {
        self.core.config
    }

    /// Install (or remove, with `None`) the interrupt controller at irqchip 0: the XICS or
    /// XIVE device, swapped at runtime when CAS changes the interrupt mode. Injections in
    /// flight finish on the controller they loaded.
    pub fn set_irqchip(&self, chip: Option<Arc<dyn IrqInjector>>) {
        // Index 0 always exists (nr_irqchips >= 1).
        let _ = self.set_irqchip_at(0, chip);
    }

    /// Install or remove the controller at irqchip `index`.
    pub fn set_irqchip_at(
        &self,
        index: u32,
        chip: Option<Arc<dyn IrqInjector>>,
    ) -> Result<(), ConfigError> {
        if index >= self.core.config.nr_irqchips {
            return Err(ConfigError::NoSuchIrqchip(index));
        }
        let _g = lock(&self.core.control);
        let old = self.core.backend.load();
        let mut chips = old.chips.to_vec();
        chips[index as usize] = chip;
        self.core.backend.store(Arc::new(Backend {
            chips: chips.into_boxed_slice(),
            translator: old.translator.clone(),
        }));
        Ok(())
    }

    /// Replace the MSI translator (e.g. when a translating MSI controller is created).
    /// Existing routes are not re-validated, as in KVM.
    pub fn set_msi_translator(&self, translator: Arc<dyn MsiTranslator>) {
        let _g = lock(&self.core.control);
        let old = self.core.backend.load();
        self.core.backend.store(Arc::new(Backend {
            chips: old.chips.clone(),
            translator,
        }));
    }

    /// `KVM_CAP_MSI_DEVID`: whether MSIs on this VM carry a device id.
    pub fn msi_devid_capability(&self) -> bool {
        self.core.backend.load().translator.requires_devid()
    }

    /// `KVM_SET_GSI_ROUTING`: validate `entries` as KVM does and, if valid, replace the
    /// whole table atomically, then re-cache every irqfd's route. On error the old table
    /// stays.
    pub fn set_gsi_routing(&self, entries: &[RoutingEntry]) -> Result<(), RoutingError> {
        let table = Table::build(&self.core.config, self.msi_devid_capability(), entries)?;
        self.publish(table);
        Ok(())
    }

    /// `KVM_SET_GSI_ROUTING` with raw entries and header flags.
    pub fn set_gsi_routing_raw(
        &self,
        flags: u32,
        entries: &[KvmIrqRoutingEntry],
    ) -> Result<(), RoutingError> {
        let table = Table::build_raw(
            &self.core.config,
            self.msi_devid_capability(),
            flags,
            entries,
        )?;
        self.publish(table);
        Ok(())
    }

    /// `KVM_SET_GSI_ROUTING` from the bytes of a `struct kvm_irq_routing`.
    pub fn set_gsi_routing_bytes(&self, buf: &[u8]) -> Result<(), RoutingError> {
        let (flags, entries) = parse_kvm_irq_routing(buf, self.core.config.max_routes)?;
        self.set_gsi_routing_raw(flags, &entries)
    }

    /// Go back to the default table (pseries: GSI n → irqchip 0 pin n, for every n).
    pub fn reset_default_routing(&self) {
        self.publish(Table::identity());
    }

    fn publish(&self, table: Table) {
        let _g = lock(&self.core.control);
        self.core.table.store(Arc::new(table));
        self.core.recache_irqfds();
    }

    /// The table set with `KVM_SET_GSI_ROUTING`, or `None` while the default table is in
    /// force.
    pub fn gsi_routing(&self) -> Option<Vec<RoutingEntry>> {
        self.core.table.load().entries().map(|e| e.to_vec())
    }

    /// The routes `gsi` currently resolves to, in delivery order.
    pub fn routes(&self, gsi: u32) -> Vec<RoutingKind> {
        let table = self.core.table.load();
        let routes = table.routes(gsi);
        routes.as_slice().iter().map(Route::kind).collect()
    }

    /// `KVM_IRQ_LINE` with a boolean level: drive every route of `gsi`. Returns how many
    /// routes delivered (0 when only MSI routes saw a deassert, or the MSI was dropped);
    /// an error when none delivered and one failed, or when `gsi` has no route.
    pub fn set_irq(&self, gsi: u32, level: bool) -> Result<u32, InjectError> {
        let table = self.core.table.load();
        self.core.set_irq_in(&table, gsi, level)
    }

    /// `KVM_IRQ_LINE` with a ppc level value: 1 or `KVM_INTERRUPT_SET_LEVEL` asserts, 0 or
    /// `KVM_INTERRUPT_UNSET` deasserts, `KVM_INTERRUPT_SET` is one edge (assert then
    /// deassert). Anything else → `-EINVAL`.
    pub fn irq_line(&self, gsi: u32, level: u32) -> Result<u32, InjectError> {
        match level {
            1 | KVM_INTERRUPT_SET_LEVEL => self.set_irq(gsi, true),
            0 | KVM_INTERRUPT_UNSET => self.set_irq(gsi, false),
            KVM_INTERRUPT_SET => {
                let table = self.core.table.load();
                let r = self.core.set_irq_in(&table, gsi, true);
                let _ = self.core.set_irq_in(&table, gsi, false);
                r
            }
            other => Err(InjectError::BadLevel(other)),
        }
    }

    /// `KVM_SIGNAL_MSI`: perform one MSI write. `Ok(true)` delivered, `Ok(false)` dropped
    /// by the translator (KVM's 0).
    pub fn signal_msi(
        &self,
        address: u64,
        data: u32,
        devid: Option<u32>,
    ) -> Result<bool, InjectError> {
        let backend = self.core.backend.load();
        let msg = MsiMessage {
            address,
            data,
            devid,
        };
        match self.core.deliver_msi(&backend, &msg) {
            Outcome::Delivered => Ok(true),
            Outcome::Ignored => Ok(false),
            Outcome::Failed(e) => Err(e),
        }
    }

    /// `KVM_SIGNAL_MSI` with the raw `struct kvm_msi` (flags checked).
    pub fn signal_msi_raw(&self, msi: &KvmMsi) -> Result<bool, InjectError> {
        if msi.flags & !KVM_MSI_VALID_DEVID != 0 {
            return Err(InjectError::BadMsiFlags(msi.flags));
        }
        let devid = (msi.flags & KVM_MSI_VALID_DEVID != 0).then_some(msi.devid);
        self.signal_msi(msi.address(), msi.data, devid)
    }

    /// A handle to give the interrupt controller as its [`IrqAckListener`]. It holds the
    /// router weakly, so controller ↔ router references do not form a cycle.
    pub fn ack_listener(&self) -> Arc<dyn IrqAckListener> {
        Arc::new(AckHandle(Arc::downgrade(&self.core)))
    }

    /// The irqfds currently assigned (GSI and whether they resample), sorted by GSI.
    pub fn irqfds(&self) -> Vec<IrqfdInfo> {
        let irqfds = self.core.irqfds.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<IrqfdInfo> = irqfds
            .values()
            .map(|i| IrqfdInfo {
                gsi: i.gsi,
                resample: i.resample.is_some(),
            })
            .collect();
        v.sort_by_key(|i| (i.gsi, i.resample));
        v
    }

    /// Capture the routing state for a snapshot: the table (or `None` for the default one)
    /// and which GSIs have irqfds. Eventfds are not captured.
    pub fn save_state(&self) -> RoutingState {
        RoutingState {
            table: self.gsi_routing(),
            irqfds: self.irqfds(),
        }
    }

    /// Restore the routing table from a snapshot (validated as `KVM_SET_GSI_ROUTING`).
    /// Irqfds are not restored: their owners re-assign new eventfds; `state.irqfds` tells
    /// which GSIs had them.
    pub fn restore_state(&self, state: &RoutingState) -> Result<(), RoutingError> {
        match &state.table {
            Some(entries) => self.set_gsi_routing(entries),
            None => {
                self.reset_default_routing();
                Ok(())
            }
        }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> RouterStats {
        let s = &self.core.stats;
        RouterStats {
            irqfd_signals: s.irqfd_signals.load(Ordering::Relaxed),
            irqfd_errors: s.irqfd_errors.load(Ordering::Relaxed),
            resample_signals: s.resample_signals.load(Ordering::Relaxed),
        }
    }

    /// Start the irqfd worker thread. Irqfds assigned before are served from now on
    /// (pending counts are injected at once).
    pub fn start_worker(&self) -> Result<(), ConfigError> {
        let mut w = lock(&self.worker);
        if w.is_some() {
            return Err(ConfigError::WorkerRunning);
        }
        self.core.stop.store(false, Ordering::Release);
        let core = self.core.clone();
        let handle = std::thread::Builder::new()
            .name("irqfd-worker".into())
            .spawn(move || crate::irqfd::run_worker(core))?;
        *w = Some(handle);
        Ok(())
    }

    /// Stop the worker thread and wait for it to exit. Signals arriving meanwhile stay in
    /// their eventfds and are served when the worker is started again.
    pub fn stop_worker(&self) {
        let mut w = lock(&self.worker);
        if let Some(handle) = w.take() {
            self.core.stop.store(true, Ordering::Release);
            self.core.wake_worker();
            let _ = handle.join();
        }
    }

    /// Whether the worker thread is running.
    pub fn worker_running(&self) -> bool {
        lock(&self.worker).is_some()
    }

    /// `KVM_IRQFD` assign: inject into `gsi` whenever `fd` is signalled.
    ///
    /// Without `resample` each signal is an edge (assert, then deassert: an LSI pulses, an
    /// MSI route fires once). With `resample` the line is asserted and held; when the guest
    /// EOIs it (see [`IrqAckListener::lsi_eoi`]) it is deasserted and `resample` is
    /// signalled. Both eventfds are switched to non-blocking mode.
    ///
    /// Errors: `fd` already bound (any GSI) → `Busy`; not an eventfd → `NotEventfd`;
    /// resample on a GSI without an irqchip route → `ResampleNeedsIrqchip`.
    pub fn irqfd_assign(
        &self,
        fd: EventFd,
        gsi: u32,
        resample: Option<EventFd>,
    ) -> Result<(), IrqfdError> {
        crate::irqfd::assign(&self.core, fd, gsi, resample)
    }

    /// `KVM_IRQFD` deassign: stop serving the irqfd bound to (`fd`'s eventfd, `gsi`). When
    /// this returns no further injection from it can happen. The last resample irqfd of a
    /// GSI deasserts the line. Unknown (eventfd, gsi) → `NotFound` (`-ENOENT`; KVM itself
    /// returns 0).
    pub fn irqfd_deassign(&self, fd: &impl AsRawFd, gsi: u32) -> Result<(), IrqfdError> {
        crate::irqfd::deassign(&self.core, fd.as_raw_fd(), gsi)
    }
}

impl IrqAckListener for Router {
    fn lsi_eoi(&self, irq: u32) {
        self.core.lsi_eoi(irq);
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.stop_worker();
    }
}
