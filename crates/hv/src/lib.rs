//! The papr-hv hypervisor core.
//!
//! A KVM-shaped API over the POWER9 emulator, the interrupt controllers, the routing layer
//! and the TCE tables, as KVM sits under QEMU:
//!
//! * [`Vm`]: guest memory, the partition (shared CPU state), the MMIO bus, the interrupt
//!   controller device (created and destroyed at run time with attributes, as KVM devices),
//!   GSI routing and irqfds, the TCE registry;
//! * [`Vcpu::run`] runs guest code and returns a [`VcpuExit`] for what the machine above must
//!   handle (hypercalls it does not know, stop requests); the fast-path hypercalls (interrupt
//!   controller, TCE, H_CEDE/H_PROD/H_CONFER, H_SET_MODE, H_REGISTER_PROC_TBL, H_REGISTER_VPA,
//!   H_PAGE_INIT...) are handled inside, on the vCPU thread.

#![deny(missing_docs)]

pub mod bus;
mod hcall;
pub mod irqchip;
pub mod routing;

use std::sync::{Arc, Mutex, RwLock};

use hvapi::GuestMemory;
use hvapi::device::{DeviceError, DeviceKind};
use hvapi::hcall::HcallResult;
use hvapi::irq::IrqInjector;
use ppc64::{Cpu, Exit, Partition, Ram, VcpuShared};
use vm_memory::GuestAddress;

pub use bus::{MmioBus, MmioDevice};
use irqchip::{ActiveInjector, EsbMmio, TimaMmio, VcpuSink};
pub use irqchip::{IrqChip, IrqChipState, PresenterState};

/// VM creation parameters.
#[derive(Clone, Copy, Debug)]
pub struct VmConfig {
    /// RAM size in bytes (guest-real addresses `0..mem_size`).
    pub mem_size: u64,
    /// Number of vCPUs (ids `0..vcpus`).
    pub vcpus: u32,
}

/// VM creation errors.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// Guest memory could not be mapped.
    #[error("cannot map {0} bytes of guest memory: {1}")]
    Memory(u64, String),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// The interrupt router could not be set up (epoll or eventfd creation failed).
    #[error("cannot set up interrupt routing: {0}")]
    Routing(String),
}

/// Registered per-vCPU PAPR areas (H_REGISTER_VPA).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VpaRegs {
    /// VPA (lppaca) real address, 0 = none.
    pub vpa: u64,
    /// Dispatch trace log address and size.
    pub dtl: u64,
    /// DTL size.
    pub dtl_size: u32,
    /// SLB shadow buffer address.
    pub slb_shadow: u64,
    /// SLB shadow size.
    pub slb_shadow_size: u32,
}

pub(crate) struct VmInner {
    mem: Arc<GuestMemory>,
    part: Arc<Partition>,
    bus: Arc<MmioBus>,
    injector: Arc<ActiveInjector>,
    sink: Arc<VcpuSink>,
    vpas: Mutex<Vec<VpaRegs>>,
    tce: Arc<tce::TceRegistry>,
    /// GSI routing and irqfds; its irqchip 0 is `injector`.
    router: irq_routing::Router,
    /// Device interrupt sources claimed through [`Vm::claim_irq`] (number → LSI), replayed
    /// into every controller created. Lock order: `injector.chip` before this.
    claims: Mutex<std::collections::BTreeMap<u32, bool>>,
    nr_vcpus: u32,
    /// Whether the H_INT_* hcalls are served (see [`Vm::set_xive_hcalls_enabled`]).
    xive_hcalls: std::sync::atomic::AtomicBool,
}

/// A virtual machine.
#[derive(Clone)]
pub struct Vm {
    inner: Arc<VmInner>,
}

impl Vm {
    /// Creates a VM with its memory and vCPUs (stopped: the machine sets their boot state).
    pub fn new(cfg: VmConfig) -> Result<(Vm, Vec<Vcpu>), VmError> {
        if cfg.vcpus == 0 || cfg.vcpus > 2048 {
            return Err(VmError::Config(format!(
                "vCPU count {} out of range 1..=2048",
                cfg.vcpus
            )));
        }
        let mem = GuestMemory::from_ranges(&[(GuestAddress(0), cfg.mem_size as usize)])
            .map_err(|e| VmError::Memory(cfg.mem_size, e.to_string()))?;
        let mem = Arc::new(mem);
        let ram = Ram::from_guest_memory(mem.clone())
            .map_err(|e| VmError::Memory(cfg.mem_size, e.to_string()))?;
        let bus = Arc::new(MmioBus::new());
        let part = Partition::new(ram, bus.clone());
        let cpus: Vec<Cpu> = (0..cfg.vcpus).map(|i| Cpu::new(part.clone(), i)).collect();
        let sink = Arc::new(VcpuSink {
            vcpus: cpus.iter().map(|c| c.shared()).collect(),
        });
        let injector = Arc::new(ActiveInjector {
            chip: RwLock::new(None),
        });
        let router = irq_routing::Router::new(irq_routing::RouterConfig::default())
            .map_err(|e| VmError::Routing(e.to_string()))?;
        router.set_irqchip(Some(injector.clone()));
        let inner = Arc::new(VmInner {
            mem,
            part,
            bus,
            injector,
            sink,
            vpas: Mutex::new(vec![VpaRegs::default(); cfg.vcpus as usize]),
            tce: Arc::new(tce::TceRegistry::new(tce::TceConfig::default())),
            router,
            claims: Mutex::new(std::collections::BTreeMap::new()),
            nr_vcpus: cfg.vcpus,
            xive_hcalls: std::sync::atomic::AtomicBool::new(true),
        });
        let vcpus = cpus
            .into_iter()
            .map(|cpu| Vcpu {
                cpu,
                vm: inner.clone(),
            })
            .collect();
        Ok((Vm { inner }, vcpus))
    }

    /// Guest memory.
    pub fn memory(&self) -> &Arc<GuestMemory> {
        &self.inner.mem
    }

    /// The partition state shared by the vCPUs.
    pub fn partition(&self) -> &Arc<Partition> {
        &self.inner.part
    }

    /// The MMIO bus.
    pub fn bus(&self) -> &Arc<MmioBus> {
        &self.inner.bus
    }

    /// The TCE tables.
    pub fn tce(&self) -> &Arc<tce::TceRegistry> {
        &self.inner.tce
    }

    /// Number of vCPUs.
    pub fn nr_vcpus(&self) -> u32 {
        self.inner.nr_vcpus
    }

    /// The handle of vCPU `id`.
    pub fn vcpu_handle(&self, id: u32) -> Option<Arc<VcpuShared>> {
        self.inner.sink.vcpus.get(id as usize).cloned()
    }

    /// Injection into the active interrupt controller (errors when there is none).
    pub fn injector(&self) -> Arc<dyn IrqInjector> {
        self.inner.injector.clone()
    }

    /// Registered VPA areas of vCPU `id`.
    pub fn vpa(&self, id: u32) -> Option<VpaRegs> {
        self.inner
            .vpas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id as usize)
            .copied()
    }

    /// Enables or disables the H_INT_* hcalls of a XIVE controller (enabled by default).
    /// PAPR makes them answer H_FUNCTION until CAS has negotiated XIVE exploitation mode
    /// (OV5 byte 23 = 0x40), as QEMU's spapr does: a machine that boots through CAS disables
    /// them at start and enables them when CAS picks XIVE.
    pub fn set_xive_hcalls_enabled(&self, on: bool) {
        self.inner
            .xive_hcalls
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the H_INT_* hcalls are served.
    pub fn xive_hcalls_enabled(&self) -> bool {
        self.inner
            .xive_hcalls
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The active interrupt controller, if any.
    pub fn irqchip(&self) -> Option<IrqChip> {
        self.inner
            .injector
            .chip
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates the interrupt controller device (`KVM_CREATE_DEVICE`): XICS or XIVE, with
    /// every vCPU connected. Only one may exist: `Busy` if one does.
    pub fn create_irqchip(&self, kind: DeviceKind) -> Result<IrqChip, DeviceError> {
        let mut g = self
            .inner
            .injector
            .chip
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if g.is_some() {
            return Err(DeviceError::Busy);
        }
        let n = self.inner.nr_vcpus;
        let chip = match kind {
            DeviceKind::Xics => {
                let x = xics::Xics::new(xics::XicsConfig::spapr(n), self.inner.sink.clone())
                    .map_err(|_| DeviceError::Invalid)?;
                IrqChip::Xics(Arc::new(x))
            }
            DeviceKind::Xive => {
                let cfg = xive::XiveConfig::qemu_default(n);
                let x = Arc::new(
                    xive::Xive::new(cfg, self.inner.mem.clone(), self.inner.sink.clone())
                        .map_err(|_| DeviceError::Invalid)?,
                );
                let f = x.dt_facts();
                self.inner
                    .bus
                    .register(f.esb.0, f.esb.1, Arc::new(EsbMmio(x.clone())))
                    .map_err(|_| DeviceError::Busy)?;
                if self
                    .inner
                    .bus
                    .register(f.tima.0, f.tima.1, Arc::new(TimaMmio(x.clone())))
                    .is_err()
                {
                    self.inner.bus.unregister(f.esb.0);
                    return Err(DeviceError::Busy);
                }
                IrqChip::Xive(x)
            }
            DeviceKind::Vfio => return Err(DeviceError::Invalid),
        };
        for s in 0..n {
            chip.connect(s)?;
        }
        // The device sources the machine claimed exist in every controller.
        for (&irq, &lsi) in self.claims().iter() {
            if let Err(e) = chip.claim(irq, lsi) {
                tracing::warn!(
                    irq,
                    lsi,
                    "claimed source refused by the new controller: {e}"
                );
            }
        }
        // Guest EOIs of level-sensitive sources re-sample the irqfds that hold them.
        chip.set_ack_listener(Some(self.inner.router.ack_listener()));
        *g = Some(chip.clone());
        tracing::debug!(?kind, "interrupt controller created");
        Ok(chip)
    }

    /// Destroys the interrupt controller device (`KVM_DESTROY_DEVICE`): disconnects the
    /// vCPUs, removes its MMIO regions and lowers every vCPU's external line.
    pub fn destroy_irqchip(&self) -> Result<(), DeviceError> {
        let mut g = self
            .inner
            .injector
            .chip
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let chip = g.take().ok_or(DeviceError::NotFound)?;
        chip.set_ack_listener(None);
        for s in 0..self.inner.nr_vcpus {
            let _ = chip.disconnect(s);
        }
        if let IrqChip::Xive(x) = &chip {
            let f = x.dt_facts();
            self.inner.bus.unregister(f.esb.0);
            self.inner.bus.unregister(f.tima.0);
        }
        for v in &self.inner.sink.vcpus {
            v.set_external(false);
        }
        tracing::debug!(kind = ?chip.kind(), "interrupt controller destroyed");
        Ok(())
    }
}

impl Vm {
    fn claims(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u32, bool>> {
        self.inner.claims.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims device interrupt source `irq` (level-sensitive if `lsi`) in the active
    /// controller *and* in every controller created later, as QEMU's `spapr_irq_claim` claims
    /// in both backends: a PHB allocates its MSIs once and they survive the CAS switch.
    /// Device sources are `0x1000..0x2000` (the range both controllers share); `Invalid`
    /// outside it, `Busy` if already claimed. The source starts masked.
    pub fn claim_irq(&self, irq: u32, lsi: bool) -> Result<(), DeviceError> {
        let range = xics::SPAPR_FIRST_IRQ..xics::SPAPR_FIRST_IRQ + xics::SPAPR_NR_IRQS;
        if !range.contains(&irq) {
            return Err(DeviceError::Invalid);
        }
        let chip = self
            .inner
            .injector
            .chip
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut claims = self.claims();
        if claims.contains_key(&irq) {
            return Err(DeviceError::Busy);
        }
        if let Some(c) = &*chip {
            c.claim(irq, lsi).map_err(|e| {
                tracing::warn!(irq, "claim refused: {e}");
                DeviceError::Busy
            })?;
        }
        claims.insert(irq, lsi);
        Ok(())
    }

    /// Releases a source claimed with [`claim_irq`](Self::claim_irq) (`NotFound` if it was
    /// not), in the active controller too.
    pub fn free_irq(&self, irq: u32) -> Result<(), DeviceError> {
        let chip = self
            .inner
            .injector
            .chip
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut claims = self.claims();
        claims.remove(&irq).ok_or(DeviceError::NotFound)?;
        if let Some(c) = &*chip {
            c.free(irq);
        }
        Ok(())
    }

    /// The sources claimed with [`claim_irq`](Self::claim_irq): (number, LSI), ascending.
    pub fn claimed_irqs(&self) -> Vec<(u32, bool)> {
        self.claims().iter().map(|(&i, &l)| (i, l)).collect()
    }

    /// Captures the interrupt controller's whole state (sources, event queues or source
    /// priorities, and every vCPU's presenter), or `None` when there is no controller. The
    /// cut is consistent: an event in flight is either entirely in the image or not
    /// started. Guest RAM (XIVE event queue pages) is captured with the rest of memory.
    pub fn save_irqchip(&self) -> Option<IrqChipState> {
        self.irqchip().map(|c| c.save())
    }

    /// Loads a state captured by [`save_irqchip`](Self::save_irqchip), creating the
    /// controller of the image's kind first if the active one is of the other kind (or
    /// there is none), as a restored guest that negotiated the other mode at CAS needs.
    /// The image is validated before anything changes: a bad image returns `Invalid` with
    /// the current controller left as it was. Every vCPU's external line is re-driven.
    pub fn restore_irqchip(&self, st: &IrqChipState) -> Result<(), DeviceError> {
        st.validate_for(self.inner.nr_vcpus)?;
        match self.irqchip() {
            Some(c) if c.kind() == st.kind() => c.restore(st),
            current => {
                // Switching kinds: keep the current device's state to put it back if the
                // image turns out to be bad.
                let old = current.map(|c| c.save());
                if old.is_some() {
                    self.destroy_irqchip()?;
                }
                let r = self.create_irqchip(st.kind()).and_then(|c| c.restore(st));
                if r.is_err() {
                    let _ = self.destroy_irqchip();
                    if let Some(o) = old {
                        self.create_irqchip(o.kind())?.restore(&o)?;
                    }
                }
                r
            }
        }
    }
}

/// Why [`Vcpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuExit {
    /// A hypercall the core does not handle (`KVM_EXIT_PAPR_HCALL`): handle it, then call
    /// [`Vcpu::complete_hcall`] and run again.
    PaprHcall {
        /// Opcode (r3).
        nr: u64,
        /// Arguments (r4..r12).
        args: [u64; 9],
    },
    /// A stop was requested through the vCPU's handle.
    Stopped,
    /// The vCPU checkstopped (machine check with MSR[ME] = 0).
    Checkstop,
}

/// A vCPU of a [`Vm`].
pub struct Vcpu {
    /// The emulated processor (registers, boot state).
    pub cpu: Cpu,
    vm: Arc<VmInner>,
}

impl Vcpu {
    /// The vCPU id.
    pub fn id(&self) -> u32 {
        self.cpu.id()
    }

    /// Runs the vCPU until an exit the machine must handle.
    pub fn run(&mut self) -> VcpuExit {
        loop {
            match self.cpu.run() {
                Exit::Hcall => {
                    let g = &self.cpu.core.gpr;
                    let nr = g[3];
                    let mut args = [0u64; 9];
                    args.copy_from_slice(&g[4..13]);
                    match hcall::fast(self, nr, &args) {
                        Some(r) => self.complete_hcall(&r),
                        None => return VcpuExit::PaprHcall { nr, args },
                    }
                }
                Exit::Stopped => return VcpuExit::Stopped,
                Exit::Checkstop => return VcpuExit::Checkstop,
            }
        }
    }

    /// The vCPU's interrupt presenter state (`KVM_REG_PPC_ICP_STATE` in XICS mode,
    /// `KVM_REG_PPC_VP_STATE` in XIVE mode). `NotFound` without a controller.
    pub fn irq_state(&self) -> Result<PresenterState, DeviceError> {
        let chip = self.active_chip()?;
        let id = self.id();
        match chip {
            IrqChip::Xics(x) => x.get_icp_state(id).map(PresenterState::Icp),
            IrqChip::Xive(x) => x.get_vp_state(id).map(PresenterState::Vp),
        }
    }

    /// Sets the presenter state read by [`irq_state`](Self::irq_state). `Invalid` if the
    /// state is for the other controller or is inconsistent; the external line is
    /// re-driven to match.
    pub fn set_irq_state(&self, st: &PresenterState) -> Result<(), DeviceError> {
        let chip = self.active_chip()?;
        let id = self.id();
        match (chip, st) {
            (IrqChip::Xics(x), PresenterState::Icp(v)) => x.set_icp_state(id, *v),
            (IrqChip::Xive(x), PresenterState::Vp(v)) => x.set_vp_state(id, v),
            _ => Err(DeviceError::Invalid),
        }
    }

    fn active_chip(&self) -> Result<IrqChip, DeviceError> {
        self.vm
            .injector
            .chip
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(DeviceError::NotFound)
    }

    /// Writes a hypercall's results: r3 = status, r4.. = outputs.
    pub fn complete_hcall(&mut self, r: &HcallResult) {
        let g = &mut self.cpu.core.gpr;
        g[3] = r.ret as u64;
        let n = r.nout.min(9);
        g[4..4 + n].copy_from_slice(&r.out[..n]);
    }
}
