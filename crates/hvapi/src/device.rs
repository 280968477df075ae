//! The KVM-shaped device interface of the hypervisor core.
//!
//! KVM devices (`KVM_CREATE_DEVICE`) are configured through attributes: a group number, an
//! attribute number and a buffer. papr-hv keeps that shape so the pseries machine drives
//! its interrupt controllers the way QEMU drives KVM's. Attribute buffers hold the same
//! bytes KVM's would (host-endian integers and structs).

use thiserror::Error;

/// Errors of device attribute calls, mirroring the errno values KVM returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DeviceError {
    /// `-ENXIO`: unknown group or attribute, or the operation has no meaning here.
    #[error("no such attribute (ENXIO)")]
    NoSuchAttr,
    /// `-EINVAL`: malformed value or buffer of the wrong size.
    #[error("invalid argument (EINVAL)")]
    Invalid,
    /// `-ENOENT`: the object named by the attribute (source, server) does not exist.
    #[error("no such entry (ENOENT)")]
    NotFound,
    /// `-EBUSY`: the device is in a state where the call is not allowed.
    #[error("busy (EBUSY)")]
    Busy,
    /// `-EEXIST`: already exists (server number already connected).
    #[error("already exists (EEXIST)")]
    Exists,
    /// `-E2BIG`: number out of the supported range.
    #[error("too big (E2BIG)")]
    TooBig,
    /// `-ENOMEM`: a resource limit was hit.
    #[error("out of resources (ENOMEM)")]
    NoMem,
    /// `-EFAULT`: a guest address could not be accessed.
    #[error("bad address (EFAULT)")]
    Fault,
    /// `-EPERM`: the caller may not do this.
    #[error("not permitted (EPERM)")]
    Permission,
}

impl DeviceError {
    /// The negative errno KVM would return for this error.
    pub fn errno(self) -> i32 {
        match self {
            DeviceError::NoSuchAttr => -6,
            DeviceError::Invalid => -22,
            DeviceError::NotFound => -2,
            DeviceError::Busy => -16,
            DeviceError::Exists => -17,
            DeviceError::TooBig => -7,
            DeviceError::NoMem => -12,
            DeviceError::Fault => -14,
            DeviceError::Permission => -1,
        }
    }
}

/// Kinds of device the hypervisor core can create (numbers as KVM's `KVM_DEV_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DeviceKind {
    /// XICS interrupt controller (`KVM_DEV_TYPE_XICS` = 3).
    Xics = 3,
    /// VFIO-style device with a LIOBN link (`KVM_DEV_TYPE_VFIO` = 4).
    Vfio = 4,
    /// XIVE exploitation-mode interrupt controller (`KVM_DEV_TYPE_XIVE` = 9).
    Xive = 9,
}

/// A device created on a running VM and configured through attributes.
pub trait DeviceAttrs: Send + Sync {
    /// What this device is.
    fn kind(&self) -> DeviceKind;
    /// Whether `(group, attr)` names an attribute of this device (`KVM_HAS_DEVICE_ATTR`).
    fn has_attr(&self, group: u32, attr: u64) -> bool;
    /// `KVM_SET_DEVICE_ATTR`: `data` holds the value (may be empty for pure commands).
    fn set_attr(&self, group: u32, attr: u64, data: &[u8]) -> Result<(), DeviceError>;
    /// `KVM_GET_DEVICE_ATTR`: the value is written into `data`, which must have the size
    /// of the attribute's value.
    fn get_attr(&self, group: u32, attr: u64, data: &mut [u8]) -> Result<(), DeviceError>;
}
