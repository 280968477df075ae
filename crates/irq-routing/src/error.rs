//! Error types, each with the errno KVM returns for the same condition.

use hvapi::irq::IrqError;
use thiserror::Error;

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const ENXIO: i32 = 6;
const EBADF: i32 = 9;
const EFAULT: i32 = 14;
const EBUSY: i32 = 16;
const EINVAL: i32 = 22;
const EEXIST: i32 = 17;

/// Why a routing table was refused (`KVM_SET_GSI_ROUTING`). Every rule of KVM's validation
/// yields `-EINVAL`; the variants say which rule fired and for which entry (`index` is the
/// position in the list handed in), checked in KVM's order: header, then every GSI's range,
/// then entry by entry: flags, sharing of the GSI, arch checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RoutingError {
    /// More entries than `KVM_MAX_IRQ_ROUTES` (the configured maximum).
    #[error("{nr} routing entries exceed the maximum of {max}")]
    TooManyEntries {
        /// Entries supplied.
        nr: usize,
        /// Configured maximum.
        max: u32,
    },
    /// The `struct kvm_irq_routing` header's flags are not zero.
    #[error("routing table flags {0:#x} must be zero")]
    BadTableFlags(u32),
    /// An entry's GSI is not below the maximum number of routes.
    #[error("entry {index}: gsi {gsi} out of range")]
    GsiOutOfRange {
        /// Entry position.
        index: usize,
        /// Offending GSI.
        gsi: u32,
    },
    /// An entry carries flags its type does not allow (MSI: only `KVM_MSI_VALID_DEVID`).
    #[error("entry {index}: invalid flags {flags:#x}")]
    BadEntryFlags {
        /// Entry position.
        index: usize,
        /// Offending flags.
        flags: u32,
    },
    /// The GSI already has an entry that this one may not join: two pins of the same
    /// irqchip, or an MSI/other entry sharing its GSI with anything.
    #[error("entry {index}: gsi {gsi} already routed to a conflicting target")]
    ConflictingRoute {
        /// Entry position.
        index: usize,
        /// The GSI.
        gsi: u32,
    },
    /// Route type not supported by this machine (s390 adapter, Hyper-V SINT, Xen, unknown).
    #[error("entry {index}: unsupported routing type {kind}")]
    UnsupportedType {
        /// Entry position.
        index: usize,
        /// The `KVM_IRQ_ROUTING_*` value.
        kind: u32,
    },
    /// Irqchip index not below the number of interrupt controllers.
    #[error("entry {index}: irqchip {irqchip} does not exist")]
    BadIrqchip {
        /// Entry position.
        index: usize,
        /// Offending irqchip.
        irqchip: u32,
    },
    /// Pin not below the number of pins of the controller.
    #[error("entry {index}: pin {pin} out of range")]
    BadPin {
        /// Entry position.
        index: usize,
        /// Offending pin.
        pin: u32,
    },
    /// `KVM_MSI_VALID_DEVID` on a VM whose MSI controller does not use device ids
    /// (`KVM_CAP_MSI_DEVID` = 0).
    #[error("entry {index}: MSI device id given but the VM has no device-id capability")]
    DevidNotSupported {
        /// Entry position.
        index: usize,
    },
    /// The `struct kvm_irq_routing` buffer is shorter than its `nr` says (`-EFAULT`).
    #[error("routing buffer too short")]
    Fault,
}

impl RoutingError {
    /// The negative errno KVM returns for this error.
    pub fn errno(&self) -> i32 {
        match self {
            RoutingError::Fault => -EFAULT,
            _ => -EINVAL,
        }
    }
}

/// Error from `KVM_TRANSLATE`-style MSI translation (an ITS, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MsiError {
    /// The message cannot be translated at all (address outside any MSI controller, or
    /// required device id missing): `-EINVAL`.
    #[error("MSI not translatable")]
    Invalid,
    /// The translating controller is not ready (an ITS that is disabled): `-EBUSY`.
    #[error("MSI controller busy")]
    Busy,
}

/// Why an injection (`KVM_IRQ_LINE`, `KVM_SIGNAL_MSI`, irqfd) did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InjectError {
    /// The GSI has no route (explicit table without that GSI). KVM's `kvm_set_irq` returns
    /// -1 ("ignored") here; this crate reports `-ENOENT`.
    #[error("gsi {0} has no route")]
    NoRoute(u32),
    /// No interrupt controller is installed at the route's irqchip (`-ENXIO`).
    #[error("no interrupt controller")]
    NoController,
    /// The controller has no such source (`-EINVAL`, as XICS/XIVE KVM devices return).
    #[error("no interrupt source {0}")]
    NoSource(u32),
    /// `struct kvm_msi` flags other than `KVM_MSI_VALID_DEVID` (`-EINVAL`).
    #[error("invalid MSI flags {0:#x}")]
    BadMsiFlags(u32),
    /// A device id was given but the MSI controller does not use them (`-EINVAL`).
    #[error("MSI device id not supported")]
    DevidNotSupported,
    /// The MSI controller needs a device id and none was given (`-EINVAL`).
    #[error("MSI device id required")]
    DevidRequired,
    /// The translator refused the message.
    #[error("MSI translation failed: {0}")]
    Msi(MsiError),
    /// A `KVM_IRQ_LINE` level value that is none of 0, 1 or the ppc `KVM_INTERRUPT_*`
    /// values (`-EINVAL`).
    #[error("invalid irq line level {0:#x}")]
    BadLevel(u32),
}

impl InjectError {
    /// The negative errno for this error.
    pub fn errno(&self) -> i32 {
        match self {
            InjectError::NoRoute(_) => -ENOENT,
            InjectError::NoController => -ENXIO,
            InjectError::Msi(MsiError::Busy) => -EBUSY,
            _ => -EINVAL,
        }
    }
}

impl From<IrqError> for InjectError {
    fn from(e: IrqError) -> Self {
        match e {
            IrqError::NoSource(n) => InjectError::NoSource(n),
            IrqError::NoController => InjectError::NoController,
        }
    }
}

impl From<MsiError> for InjectError {
    fn from(e: MsiError) -> Self {
        InjectError::Msi(e)
    }
}

/// Why an irqfd call (`KVM_IRQFD`) failed.
#[derive(Debug, Error)]
pub enum IrqfdError {
    /// The eventfd is already bound to a GSI of this VM (`-EBUSY`).
    #[error("eventfd already bound to gsi {0}")]
    Busy(u32),
    /// No irqfd matches (eventfd, gsi) on deassign (`-ENOENT`; KVM itself returns 0).
    #[error("no irqfd for this eventfd on gsi {0}")]
    NotFound(u32),
    /// The file descriptor is not an eventfd (`-EINVAL`).
    #[error("not an eventfd")]
    NotEventfd,
    /// The file descriptor is not open (`-EBADF`).
    #[error("bad file descriptor")]
    BadFd,
    /// A resample irqfd on a GSI that has no irqchip route: no EOI could ever reach it
    /// (`-EINVAL`).
    #[error("resample requires an irqchip route for gsi {0}")]
    ResampleNeedsIrqchip(u32),
    /// The resample eventfd is the irqfd itself (`-EINVAL`).
    #[error("resample eventfd must differ from the irqfd")]
    ResampleSameFd,
    /// An operating-system call failed (epoll registration, fcntl).
    #[error("system call failed: {0}")]
    Io(#[from] std::io::Error),
}

impl IrqfdError {
    /// The negative errno for this error.
    pub fn errno(&self) -> i32 {
        match self {
            IrqfdError::Busy(_) => -EBUSY,
            IrqfdError::NotFound(_) => -ENOENT,
            IrqfdError::NotEventfd
            | IrqfdError::ResampleNeedsIrqchip(_)
            | IrqfdError::ResampleSameFd => -EINVAL,
            IrqfdError::BadFd => -EBADF,
            IrqfdError::Io(e) => -e.raw_os_error().unwrap_or(EPERM),
        }
    }
}

/// Errors of router construction and configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A configuration value is out of the supported range.
    #[error("invalid router configuration: {0}")]
    Invalid(&'static str),
    /// An irqchip index at or beyond `nr_irqchips`.
    #[error("irqchip {0} does not exist")]
    NoSuchIrqchip(u32),
    /// The irqfd worker is already running.
    #[error("irqfd worker already running")]
    WorkerRunning,
    /// An operating-system call failed (eventfd, epoll, thread spawn).
    #[error("system call failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ConfigError {
    /// The negative errno for this error.
    pub fn errno(&self) -> i32 {
        match self {
            ConfigError::Invalid(_) | ConfigError::NoSuchIrqchip(_) => -EINVAL,
            ConfigError::WorkerRunning => -EEXIST,
            ConfigError::Io(e) => -e.raw_os_error().unwrap_or(EPERM),
        }
    }
}
