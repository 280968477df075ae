//! Interrupt plumbing between the interrupt controllers, the vCPUs and the routing layer.

use thiserror::Error;

/// The external-interrupt input of the vCPUs, as an interrupt controller drives it.
///
/// An interrupt presenter (a XICS ICP or a XIVE thread context) calls this whenever its
/// output towards a vCPU changes. The exception is level-sensitive: the vCPU takes vector
/// 0x500 while the line is asserted and MSR[EE]=1. Implementations must be cheap (an atomic
/// store) and, when asserting, must wake the vCPU if it is idle in H_CEDE.
pub trait VcpuIrqSink: Send + Sync {
    /// Assert (`true`) or deassert (`false`) the external interrupt line of the vCPU whose
    /// interrupt-server number is `server`. Unknown servers are ignored.
    fn set_external(&self, server: u32, asserted: bool);
}

/// Error from injecting into an interrupt controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum IrqError {
    /// The controller has no source with that number.
    #[error("no interrupt source {0}")]
    NoSource(u32),
    /// No interrupt controller is active (before CAS, or between destroy and re-create).
    #[error("no interrupt controller")]
    NoController,
}

/// An interrupt controller as the routing layer and devices see it (XICS or XIVE).
///
/// `irq` is the global interrupt source number (XICS IRQ number = XIVE LISN).
pub trait IrqInjector: Send + Sync {
    /// Drive a source. For a level-sensitive source (LSI) `level` is the new line level;
    /// for a message-signalled/edge source (MSI, IPI) `level == true` is one trigger and
    /// `level == false` does nothing.
    fn set_irq(&self, irq: u32, level: bool) -> Result<(), IrqError>;
}

/// Told when the guest completes (EOIs) a level-sensitive source, so that the owner of the
/// line can re-sample it. This is how irqfd "resample" works: the routing layer lowers the
/// line and signals the resample eventfd; the device asserts the line again if its
/// condition still holds.
pub trait IrqAckListener: Send + Sync {
    /// The guest EOIed level-sensitive source `irq`.
    fn lsi_eoi(&self, irq: u32);
}
