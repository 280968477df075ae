//! Mirroring TCE mappings into a device-side IOMMU (the VFIO/KVM TCE link, `tce.md` §5.3).

use std::sync::Arc;

use crate::types::{DmaWindow, Perm};

/// Receives every change of the mappings of a LIOBN it is linked to.
///
/// The contract, which the registry keeps for every linked listener:
/// * `map(ioba, gpa, size, perm)`: bus addresses `ioba..ioba+size` now translate to guest
///   physical `gpa..gpa+size` with `perm`. The range was unmapped (for this listener) before.
/// * `unmap(ioba, size)`: bus addresses `ioba..ioba+size` no longer translate; every page in
///   the range was mapped before.
/// * Ranges are whole TCE pages; consecutive pages that are contiguous in both spaces with the
///   same permission may arrive as one call. A changed entry is unmapped before it is
///   remapped.
/// * Linking replays the current mappings as `map` calls; unlinking, disabling the window or
///   removing the table sends `unmap` for everything still mapped, so the listener's mirror is
///   empty afterwards.
///
/// Calls are made with the table's lock held (so they arrive in table order) and must not call
/// back into the [`TceRegistry`](crate::TceRegistry).
pub trait TceListener: Send + Sync {
    /// A range became mapped.
    fn map(&self, ioba: u64, gpa: u64, size: u64, perm: Perm);
    /// A range stopped being mapped.
    fn unmap(&self, ioba: u64, size: u64);
}

/// Identifies one link between a LIOBN and a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub(crate) u64);

/// Accumulates per-entry changes into as few listener calls as possible while keeping
/// "unmap before remap" for every entry.
pub(crate) struct Coalescer<'a> {
    listeners: &'a [(LinkId, Arc<dyn TceListener>)],
    page: u64,
    unmap: Option<(u64, u64)>,
    map: Option<(u64, u64, u64, Perm)>,
}

impl<'a> Coalescer<'a> {
    pub(crate) fn new(listeners: &'a [(LinkId, Arc<dyn TceListener>)], window: &DmaWindow) -> Self {
        Coalescer {
            listeners,
            page: window.page_size(),
            unmap: None,
            map: None,
        }
    }

    /// Whether anyone listens (callers may skip all work otherwise).
    pub(crate) fn active(&self) -> bool {
        !self.listeners.is_empty()
    }

    fn flush_unmap(&mut self) {
        if let Some((ioba, size)) = self.unmap.take() {
            for (_, l) in self.listeners {
                l.unmap(ioba, size);
            }
        }
    }

    fn flush_map(&mut self) {
        if let Some((ioba, gpa, size, perm)) = self.map.take() {
            for (_, l) in self.listeners {
                l.map(ioba, gpa, size, perm);
            }
        }
    }

    /// The page at `ioba` stops being mapped.
    pub(crate) fn unmap_page(&mut self, ioba: u64) {
        if let Some((start, size)) = &mut self.unmap
            && start.checked_add(*size) == Some(ioba)
        {
            *size += self.page;
            return;
        }
        self.flush_unmap();
        self.unmap = Some((ioba, self.page));
    }

    /// The page at `ioba` becomes mapped to `gpa` with `perm`.
    pub(crate) fn map_page(&mut self, ioba: u64, gpa: u64, perm: Perm) {
        if let Some((start, gstart, size, p)) = &mut self.map
            && *p == perm
            && start.checked_add(*size) == Some(ioba)
            && gstart.checked_add(*size) == Some(gpa)
        {
            *size += self.page;
            return;
        }
        // Any pending unmap may cover an entry of the pending map run: send it first.
        self.flush_unmap();
        self.flush_map();
        self.map = Some((ioba, gpa, self.page, perm));
    }

    /// Reports the change of entry `ioba` from TCE `old` to TCE `new`.
    pub(crate) fn change(&mut self, ioba: u64, old: u64, new: u64) {
        if Perm::from_tce(old).is_some() {
            self.unmap_page(ioba);
        }
        if let Some(p) = Perm::from_tce(new) {
            self.map_page(ioba, new & !(self.page - 1), p);
        }
    }

    /// Sends everything still pending.
    pub(crate) fn finish(mut self) {
        self.flush_unmap();
        self.flush_map();
    }
}

impl Drop for Coalescer<'_> {
    fn drop(&mut self) {
        self.flush_unmap();
        self.flush_map();
    }
}
