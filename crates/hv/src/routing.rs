//! GSI routing, irqfds and MSI injection on a [`Vm`], with KVM's API shape:
//! `KVM_SET_GSI_ROUTING`, `KVM_IRQ_LINE`, `KVM_SIGNAL_MSI` and `KVM_IRQFD`.
//!
//! The VM owns one [`Router`] (crate `irq-routing`). Its irqchip 0 is the VM's
//! *active injector*, which forwards to whichever interrupt controller exists at the time of
//! the injection (XICS or XIVE, created and destroyed at run time; none before CAS, in which
//! case an injection fails with [`InjectError::NoController`], `-ENXIO`). So a controller
//! switch needs nothing from the router: the table, the irqfds and their cached routes stay,
//! and the next injection reaches the new controller.
//!
//! * **Default table**: until [`Vm::set_gsi_routing`] is called (and after
//!   [`Vm::reset_gsi_routing`]), GSI *n* is interrupt source *n* (XICS IRQ = XIVE LISN), as
//!   KVM on Book3S, where there is no routing table at all.
//! * **MSI**: the pseries translator: the MSI data *is* the source number; the address is not
//!   looked at (KVM/QEMU's irqfd path); device ids are refused (`KVM_CAP_MSI_DEVID` = 0).
//! * **irqfd**: served by one worker thread, started on the first assign and stopped (joined)
//!   when the last handle on the VM (the [`Vm`] clones and the [`crate::Vcpu`]s) is dropped.
//! * **Resample**: each controller created through [`Vm::create_irqchip`] reports guest EOIs
//!   of level-sensitive sources to the router, which lowers the line and signals the
//!   resample eventfds of that GSI.

use std::os::unix::io::AsRawFd;

pub use irq_routing::{
    InjectError, IrqfdError, IrqfdInfo, KVM_INTERRUPT_SET, KVM_INTERRUPT_SET_LEVEL,
    KVM_INTERRUPT_UNSET, KVM_MSI_VALID_DEVID, KvmMsi, Router, RouterStats, RoutingEntry,
    RoutingError, RoutingKind, RoutingState, SPAPR_PCI_MSI_WINDOW,
};
pub use vmm_sys_util::eventfd::EventFd;

use crate::Vm;

impl Vm {
    /// The VM's router, for what the methods below do not cover (state capture, statistics,
    /// raw `struct kvm_irq_routing` input).
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// `KVM_SET_GSI_ROUTING`: validates `entries` as KVM does and, if they are valid,
    /// replaces the whole table; every assigned irqfd then uses the new routes. On error
    /// (always `-EINVAL`, see [`RoutingError::errno`]) the old table stays.
    pub fn set_gsi_routing(&self, entries: &[RoutingEntry]) -> Result<(), RoutingError> {
        self.inner.router.set_gsi_routing(entries)
    }

    /// `KVM_SET_GSI_ROUTING` from the bytes of a `struct kvm_irq_routing` (host endian);
    /// a buffer shorter than its header says is `-EFAULT`.
    pub fn set_gsi_routing_bytes(&self, buf: &[u8]) -> Result<(), RoutingError> {
        self.inner.router.set_gsi_routing_bytes(buf)
    }

    /// Back to the flat default table (GSI *n* → source *n*).
    pub fn reset_gsi_routing(&self) {
        self.inner.router.reset_default_routing()
    }

    /// The table set with [`set_gsi_routing`](Self::set_gsi_routing), or `None` while the
    /// default table is in force.
    pub fn gsi_routing(&self) -> Option<Vec<RoutingEntry>> {
        self.inner.router.gsi_routing()
    }

    /// `KVM_IRQ_LINE` (ppc levels): `1` or [`KVM_INTERRUPT_SET_LEVEL`] asserts, `0` or
    /// [`KVM_INTERRUPT_UNSET`] deasserts, [`KVM_INTERRUPT_SET`] is one edge. Returns how
    /// many routes delivered. Errors: no controller `-ENXIO`, no route `-ENOENT`, unknown
    /// source or level `-EINVAL` ([`InjectError::errno`]).
    pub fn set_irq_line(&self, gsi: u32, level: u32) -> Result<u32, InjectError> {
        self.inner.router.irq_line(gsi, level)
    }

    /// `KVM_SIGNAL_MSI`: one MSI write. `Ok(true)` delivered, `Ok(false)` dropped (KVM's
    /// 0). A device id (`KVM_MSI_VALID_DEVID`) is refused on pseries (`-EINVAL`).
    pub fn signal_msi(
        &self,
        address: u64,
        data: u32,
        devid: Option<u32>,
    ) -> Result<bool, InjectError> {
        self.inner.router.signal_msi(address, data, devid)
    }

    /// `KVM_IRQFD` assign: every signal of `fd` injects into `gsi` (an edge; with
    /// `resample`, the line is held until the guest EOIs it, then lowered and `resample`
    /// signalled). Starts the irqfd worker if it is not running. Errors as KVM: the eventfd
    /// already bound (`-EBUSY`), not an eventfd (`-EINVAL`), resample on a GSI without an
    /// irqchip route (`-EINVAL`).
    pub fn irqfd_assign(
        &self,
        fd: EventFd,
        gsi: u32,
        resample: Option<EventFd>,
    ) -> Result<(), IrqfdError> {
        let r = &self.inner.router;
        if !r.worker_running() {
            match r.start_worker() {
                // Another thread started it meanwhile.
                Ok(()) | Err(irq_routing::ConfigError::WorkerRunning) => {}
                Err(irq_routing::ConfigError::Io(e)) => return Err(IrqfdError::Io(e)),
                Err(e) => return Err(IrqfdError::Io(std::io::Error::other(e.to_string()))),
            }
        }
        r.irqfd_assign(fd, gsi, resample)
    }

    /// `KVM_IRQFD` deassign of (`fd`'s eventfd, `gsi`): once this returns, nothing from that
    /// irqfd is injected any more. Unknown pair → `-ENOENT`.
    pub fn irqfd_deassign(&self, fd: &impl AsRawFd, gsi: u32) -> Result<(), IrqfdError> {
        self.inner.router.irqfd_deassign(fd, gsi)
    }

    /// The assigned irqfds (GSI, resample), sorted by GSI.
    pub fn irqfds(&self) -> Vec<IrqfdInfo> {
        self.inner.router.irqfds()
    }
}
