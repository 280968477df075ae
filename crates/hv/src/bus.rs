//! The MMIO bus: guest-real address ranges that are not RAM, each served by a device on the
//! vCPU thread that made the access.

use std::sync::{Arc, RwLock};

/// A device answering MMIO accesses in a region. Offsets are relative to the region base;
/// data is in memory byte order (as in a KVM MMIO exit).
pub trait MmioDevice: Send + Sync {
    /// A load of `data.len()` bytes.
    fn read(&self, vcpu: u32, offset: u64, data: &mut [u8]);
    /// A store of `data`.
    fn write(&self, vcpu: u32, offset: u64, data: &[u8]);
}

struct Region {
    base: u64,
    size: u64,
    dev: Arc<dyn MmioDevice>,
}

/// Errors registering regions.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The range overlaps an existing region.
    #[error("MMIO region {0:#x}+{1:#x} overlaps an existing region")]
    Overlap(u64, u64),
    /// Empty or wrapping range.
    #[error("bad MMIO range {0:#x}+{1:#x}")]
    BadRange(u64, u64),
}

/// The set of MMIO regions of a VM.
#[derive(Default)]
pub struct MmioBus {
    regions: RwLock<Vec<Region>>,
}

impl MmioBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a region.
    pub fn register(&self, base: u64, size: u64, dev: Arc<dyn MmioDevice>) -> Result<(), BusError> {
        let end = base
            .checked_add(size)
            .filter(|_| size > 0)
            .ok_or(BusError::BadRange(base, size))?;
        let mut r = self.regions.write().unwrap_or_else(|e| e.into_inner());
        if r.iter().any(|x| base < x.base + x.size && x.base < end) {
            return Err(BusError::Overlap(base, size));
        }
        r.push(Region { base, size, dev });
        r.sort_by_key(|x| x.base);
        Ok(())
    }

    /// Removes the region starting at `base` (no-op if none).
    pub fn unregister(&self, base: u64) {
        self.regions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|x| x.base != base);
    }

    fn find(&self, ra: u64, len: usize) -> Option<(Arc<dyn MmioDevice>, u64)> {
        let r = self.regions.read().unwrap_or_else(|e| e.into_inner());
        let i = r.partition_point(|x| x.base <= ra);
        if i == 0 {
            return None;
        }
        let x = &r[i - 1];
        let off = ra - x.base;
        if off.checked_add(len as u64)? <= x.size {
            Some((x.dev.clone(), off))
        } else {
            None
        }
    }
}

impl ppc64::Bus for MmioBus {
    fn read(&self, vcpu: u32, ra: u64, data: &mut [u8]) -> bool {
        match self.find(ra, data.len()) {
            Some((dev, off)) => {
                dev.read(vcpu, off, data);
                true
            }
            None => false,
        }
    }

    fn write(&self, vcpu: u32, ra: u64, data: &[u8]) -> bool {
        match self.find(ra, data.len()) {
            Some((dev, off)) => {
                dev.write(vcpu, off, data);
                true
            }
            None => false,
        }
    }
}
