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
