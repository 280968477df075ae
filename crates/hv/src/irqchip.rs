//! Interrupt controller devices (XICS or XIVE), created and destroyed at run time.

use std::sync::Arc;

use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};
use hvapi::irq::{IrqError, IrqInjector, VcpuIrqSink};
use ppc64::VcpuShared;

use crate::bus::MmioDevice;

/// The active interrupt controller.
#[derive(Clone, Debug)]
pub enum IrqChip {
    /// XICS.
    Xics(Arc<xics::Xics>),
    /// XIVE exploitation mode.
    Xive(Arc<xive::Xive>),
}

impl IrqChip {
    /// The device's attribute interface.
    pub fn attrs(&self) -> Arc<dyn DeviceAttrs> {
        match self {
            IrqChip::Xics(x) => x.clone(),
            IrqChip::Xive(x) => x.clone(),
        }
    }

    /// The device kind.
    pub fn kind(&self) -> DeviceKind {
        match self {
            IrqChip::Xics(_) => DeviceKind::Xics,
            IrqChip::Xive(_) => DeviceKind::Xive,
        }
    }

    /// Claims a device interrupt source.
    pub fn claim(&self, irq: u32, lsi: bool) -> Result<(), String> {
        match self {
            IrqChip::Xics(x) => x.claim_irq(irq, lsi).map_err(|e| e.to_string()),
            IrqChip::Xive(x) => x.claim(irq, lsi).map_err(|e| e.to_string()),
        }
    }

    /// Releases a claimed source (nothing if it was not claimed).
    pub fn free(&self, irq: u32) {
        let _ = match self {
            IrqChip::Xics(x) => x.free_irq(irq).map_err(|e| e.to_string()),
            IrqChip::Xive(x) => x.free(irq).map_err(|e| e.to_string()),
        };
    }

    /// Captures the device state.
    pub fn save(&self) -> IrqChipState {
        match self {
            IrqChip::Xics(x) => IrqChipState::Xics(x.save()),
            IrqChip::Xive(x) => IrqChipState::Xive(x.save()),
        }
    }

    /// Loads `st` into this device (which must be of the same kind).
    pub fn restore(&self, st: &IrqChipState) -> Result<(), DeviceError> {
        let r = match (self, st) {
            (IrqChip::Xics(x), IrqChipState::Xics(s)) => x.restore(s).map_err(|e| e.to_string()),
            (IrqChip::Xive(x), IrqChipState::Xive(s)) => x.restore(s).map_err(|e| e.to_string()),
            _ => return Err(DeviceError::Invalid),
        };
        r.map_err(|e| {
            tracing::warn!("interrupt controller state refused: {e}");
            DeviceError::Invalid
        })
    }

    pub(crate) fn set_ack_listener(&self, l: Option<Arc<dyn hvapi::irq::IrqAckListener>>) {
        match self {
            IrqChip::Xics(x) => x.set_ack_listener(l),
            IrqChip::Xive(x) => x.set_ack_listener(l),
        }
    }

    pub(crate) fn connect(&self, server: u32) -> Result<(), DeviceError> {
        match self {
            IrqChip::Xics(x) => x.connect_vcpu(server),
            IrqChip::Xive(x) => x.connect_vcpu(server),
        }
    }

    pub(crate) fn disconnect(&self, server: u32) -> Result<(), DeviceError> {
        match self {
            IrqChip::Xics(x) => x.disconnect_vcpu(server),
            IrqChip::Xive(x) => x.disconnect_vcpu(server),
        }
    }
}

/// Drives the vCPUs' external interrupt lines.
pub(crate) struct VcpuSink {
    pub vcpus: Vec<Arc<VcpuShared>>,
}

impl VcpuIrqSink for VcpuSink {
    fn set_external(&self, server: u32, asserted: bool) {
        if let Some(v) = self.vcpus.get(server as usize) {
            v.set_external(asserted);
        }
    }
}

/// Forwards injections to whichever controller is active.
pub(crate) struct ActiveInjector {
    pub chip: std::sync::RwLock<Option<IrqChip>>,
}

impl IrqInjector for ActiveInjector {
    fn set_irq(&self, irq: u32, level: bool) -> Result<(), IrqError> {
        let g = self.chip.read().unwrap_or_else(|e| e.into_inner());
        match &*g {
            Some(IrqChip::Xics(x)) => x.set_irq(irq, level),
            Some(IrqChip::Xive(x)) => x.set_irq(irq, level),
            None => Err(IrqError::NoController),
        }
    }
}

/// The XIVE ESB region on the MMIO bus.
pub(crate) struct EsbMmio(pub Arc<xive::Xive>);

impl MmioDevice for EsbMmio {
    fn read(&self, _vcpu: u32, offset: u64, data: &mut [u8]) {
        self.0.esb_read(offset, data)
    }
    fn write(&self, _vcpu: u32, offset: u64, data: &[u8]) {
        self.0.esb_write(offset, data)
    }
}

/// The XIVE thread interrupt management area on the MMIO bus (per-vCPU view).
pub(crate) struct TimaMmio(pub Arc<xive::Xive>);

impl MmioDevice for TimaMmio {
    fn read(&self, vcpu: u32, offset: u64, data: &mut [u8]) {
        self.0.tima_read(vcpu, offset, data)
    }
    fn write(&self, vcpu: u32, offset: u64, data: &[u8]) {
        self.0.tima_write(vcpu, offset, data)
    }
}

/// A saved interrupt controller (see [`crate::Vm::save_irqchip`]); serialisable, for
/// snapshots and migration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IrqChipState {
    /// XICS: sources and presenters.
    Xics(xics::XicsState),
    /// XIVE: sources, event queues and presenters.
    Xive(xive::XiveState),
}

impl IrqChipState {
    /// The kind of device the state belongs to.
    pub fn kind(&self) -> DeviceKind {
        match self {
            IrqChipState::Xics(_) => DeviceKind::Xics,
            IrqChipState::Xive(_) => DeviceKind::Xive,
        }
    }

    /// Checks what can be checked before a device is (re)created for the image: the
    /// image must not hold a presenter for a vCPU the VM does not have.
    pub(crate) fn validate_for(&self, nr_vcpus: u32) -> Result<(), DeviceError> {
        let servers = match self {
            IrqChipState::Xics(s) => s.icps.iter().map(|p| p.server).max(),
            IrqChipState::Xive(s) => s.presenters.iter().map(|p| p.server).max(),
        };
        if servers.is_some_and(|m| m >= nr_vcpus) {
            tracing::warn!(
                servers,
                nr_vcpus,
                "interrupt controller state for another VM shape"
            );
            return Err(DeviceError::Invalid);
        }
        Ok(())
    }
}

/// A vCPU's interrupt presenter state, as KVM's one-reg interface carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PresenterState {
    /// XICS ICP: `CPPR << 56 | XISR << 32 | MFRR << 24 | PPRI << 16`.
    Icp(u64),
    /// XIVE OS ring: NSR, CPPR, IPB, LSMFB, ACK_CNT, INC, AGE, PIPR, then 8 zero bytes.
    Vp([u8; 16]),
}
