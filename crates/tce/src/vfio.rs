//! KVM-style VFIO device for the LIOBN ↔ device-IOMMU link (`tce.md` §5.3).
//!
//! KVM's `KVM_DEV_TYPE_VFIO` device takes VFIO group fds (`KVM_DEV_VFIO_GROUP_ADD`/`DEL`) and
//! attaches a group to a TCE table with `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE
//! {s32 groupfd; s32 tablefd}`. papr-hv has no real fds for these: the hypervisor core
//! registers each "group" (a [`TceListener`] standing for the group's hardware IOMMU) and each
//! "table fd" (a LIOBN) under the numbers it hands to the machine, and the attribute calls then
//! behave like KVM's: attaching links the listener to the LIOBN (replaying the mappings),
//! deleting a group (device hot-unplug) or destroying the device unlinks it everywhere,
//! leaving no stale mapping.

use std::collections::HashMap;
use std::sync::Arc;

use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};
use parking_lot::Mutex;

use crate::listener::{LinkId, TceListener};
use crate::registry::TceRegistry;

/// `KVM_DEV_VFIO_GROUP` (`KVM_DEV_VFIO_FILE` in newer headers).
pub const KVM_DEV_VFIO_GROUP: u32 = 1;
/// `KVM_DEV_VFIO_GROUP_ADD`: data = s32 group fd.
pub const KVM_DEV_VFIO_GROUP_ADD: u64 = 1;
/// `KVM_DEV_VFIO_GROUP_DEL`: data = s32 group fd.
pub const KVM_DEV_VFIO_GROUP_DEL: u64 = 2;
/// `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE`: data = `{s32 groupfd; s32 tablefd}`.
pub const KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE: u64 = 3;

#[derive(Default)]
struct Group {
    listener: Option<Arc<dyn TceListener>>,
    added: bool,
    /// (LIOBN, link) pairs this group is attached through.
    links: Vec<(u32, LinkId)>,
}

#[derive(Default)]
struct VfioState {
    groups: HashMap<i32, Group>,
    tables: HashMap<i32, u32>,
}

/// The VFIO KVM device as far as TCE linkage goes.
pub struct VfioTceDevice {
    registry: Arc<TceRegistry>,
    state: Mutex<VfioState>,
}

impl std::fmt::Debug for VfioTceDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("VfioTceDevice")
            .field("groups", &s.groups.len())
            .field("tables", &s.tables)
            .finish()
    }
}

fn read_i32(data: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(data.try_into().ok()?))
}

impl VfioTceDevice {
    /// A device linking into `registry`.
    pub fn new(registry: Arc<TceRegistry>) -> Self {
        VfioTceDevice {
            registry,
            state: Mutex::new(VfioState::default()),
        }
    }

    /// Host side: makes `groupfd` stand for a VFIO group whose IOMMU is `listener`.
    pub fn register_group(&self, groupfd: i32, listener: Arc<dyn TceListener>) {
        self.state
            .lock()
            .groups
            .entry(groupfd)
            .or_default()
            .listener = Some(listener);
    }

    /// Host side: makes `tablefd` stand for the TCE table of `liobn`.
    pub fn register_table(&self, tablefd: i32, liobn: u32) {
        self.state.lock().tables.insert(tablefd, liobn);
    }

    /// LIOBNs group `groupfd` is currently attached to.
    pub fn attached(&self, groupfd: i32) -> Vec<u32> {
        self.state
            .lock()
            .groups
            .get(&groupfd)
            .map(|g| g.links.iter().map(|(l, _)| *l).collect())
            .unwrap_or_default()
    }

    fn add(&self, groupfd: i32) -> Result<(), DeviceError> {
        let mut s = self.state.lock();
        let g = s
            .groups
            .get_mut(&groupfd)
            .filter(|g| g.listener.is_some())
            .ok_or(DeviceError::Invalid)?;
        if g.added {
            return Err(DeviceError::Exists);
        }
        g.added = true;
        Ok(())
    }

    fn del(&self, groupfd: i32) -> Result<(), DeviceError> {
        let mut s = self.state.lock();
        let g = s
            .groups
            .get_mut(&groupfd)
            .filter(|g| g.added)
            .ok_or(DeviceError::NotFound)?;
        g.added = false;
        for (liobn, id) in std::mem::take(&mut g.links) {
            // The table may have been removed meanwhile, which already unmapped everything.
            let _ = self.registry.unlink(liobn, id);
        }
        Ok(())
    }

    fn set_spapr_tce(&self, groupfd: i32, tablefd: i32) -> Result<(), DeviceError> {
        let mut s = self.state.lock();
        let liobn = *s.tables.get(&tablefd).ok_or(DeviceError::Invalid)?;
        let g = s
            .groups
            .get_mut(&groupfd)
            .filter(|g| g.added)
            .ok_or(DeviceError::NotFound)?;
        // Already attached to this table: KVM only bumps a reference count.
        if g.links
            .iter()
            .any(|(l, id)| *l == liobn && self.registry.is_linked(liobn, *id))
        {
            return Ok(());
        }
        let listener = g.listener.clone().ok_or(DeviceError::Invalid)?;
        let id = self
            .registry
            .link(liobn, listener)
            .map_err(|_| DeviceError::Invalid)?;
        g.links.retain(|(l, _)| *l != liobn);
        g.links.push((liobn, id));
        Ok(())
    }
}

impl DeviceAttrs for VfioTceDevice {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Vfio
    }

    fn has_attr(&self, group: u32, attr: u64) -> bool {
        group == KVM_DEV_VFIO_GROUP
            && matches!(
                attr,
                KVM_DEV_VFIO_GROUP_ADD | KVM_DEV_VFIO_GROUP_DEL | KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE
            )
    }

    fn set_attr(&self, group: u32, attr: u64, data: &[u8]) -> Result<(), DeviceError> {
        if group != KVM_DEV_VFIO_GROUP {
            return Err(DeviceError::NoSuchAttr);
        }
        match attr {
            KVM_DEV_VFIO_GROUP_ADD => self.add(read_i32(data).ok_or(DeviceError::Invalid)?),
            KVM_DEV_VFIO_GROUP_DEL => self.del(read_i32(data).ok_or(DeviceError::Invalid)?),
            KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE => {
                if data.len() != 8 {
                    return Err(DeviceError::Invalid);
                }
                let groupfd = read_i32(&data[..4]).ok_or(DeviceError::Invalid)?;
                let tablefd = read_i32(&data[4..]).ok_or(DeviceError::Invalid)?;
                self.set_spapr_tce(groupfd, tablefd)
            }
            _ => Err(DeviceError::NoSuchAttr),
        }
    }

    fn get_attr(&self, _group: u32, _attr: u64, _data: &mut [u8]) -> Result<(), DeviceError> {
        Err(DeviceError::NoSuchAttr)
    }
}

impl Drop for VfioTceDevice {
    fn drop(&mut self) {
        let s = self.state.get_mut();
        for g in s.groups.values_mut() {
            for (liobn, id) in std::mem::take(&mut g.links) {
                let _ = self.registry.unlink(liobn, id);
            }
        }
    }
}
