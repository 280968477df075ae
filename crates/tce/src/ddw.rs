//! Dynamic DMA Windows (`tce.md` §4): PE configuration, RTAS statuses and typed results.
//!
//! The machine parses the RTAS argument buffers and calls
//! [`TceRegistry::ddw_query`](crate::TceRegistry::ddw_query),
//! [`ddw_create`](crate::TceRegistry::ddw_create),
//! [`ddw_remove`](crate::TceRegistry::ddw_remove) and
//! [`ddw_reset`](crate::TceRegistry::ddw_reset); it writes the status from
//! [`RtasError::status`] or the cells of the typed result back.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::types::{DmaWindow, TceError};

/// RTAS status "success".
pub const RTAS_OUT_SUCCESS: i32 = 0;
/// RTAS status "hardware error" (no free window, resources).
pub const RTAS_OUT_HW_ERROR: i32 = -1;
/// RTAS status "parameter error" (bad PE, LIOBN, page size, window size).
pub const RTAS_OUT_PARAM_ERROR: i32 = -3;

/// Query-mask bit for 4 KiB pages.
pub const DDW_PGSIZE_4K: u32 = 0x001;
/// Query-mask bit for 64 KiB pages.
pub const DDW_PGSIZE_64K: u32 = 0x002;
/// Query-mask bit for 16 MiB pages.
pub const DDW_PGSIZE_16M: u32 = 0x004;
/// Query-mask bit for 32 MiB pages.
pub const DDW_PGSIZE_32M: u32 = 0x008;
/// Query-mask bit for 64 MiB pages.
pub const DDW_PGSIZE_64M: u32 = 0x010;
/// Query-mask bit for 128 MiB pages.
pub const DDW_PGSIZE_128M: u32 = 0x020;
/// Query-mask bit for 256 MiB pages.
pub const DDW_PGSIZE_256M: u32 = 0x040;
/// Query-mask bit for 16 GiB pages.
pub const DDW_PGSIZE_16G: u32 = 0x080;
/// Query-mask bit for 2 MiB pages (added later, out of order).
pub const DDW_PGSIZE_2M: u32 = 0x100;

const MASK_BITS: [(u32, u32); 9] = [
    (12, DDW_PGSIZE_4K),
    (16, DDW_PGSIZE_64K),
    (21, DDW_PGSIZE_2M),
    (24, DDW_PGSIZE_16M),
    (25, DDW_PGSIZE_32M),
    (26, DDW_PGSIZE_64M),
    (27, DDW_PGSIZE_128M),
    (28, DDW_PGSIZE_256M),
    (34, DDW_PGSIZE_16G),
];

/// The query-mask bit of a page shift, `None` for sizes DDW cannot express.
pub fn ddw_mask_bit(page_shift: u32) -> Option<u32> {
    MASK_BITS
        .iter()
        .find(|(s, _)| *s == page_shift)
        .map(|(_, b)| *b)
}

/// The query mask for a set of page shifts (shifts DDW cannot express are ignored).
pub fn ddw_mask_from_shifts(shifts: &[u32]) -> u32 {
    shifts
        .iter()
        .filter_map(|&s| ddw_mask_bit(s))
        .fold(0, |m, b| m | b)
}

/// The page shifts a query mask offers, smallest first.
pub fn ddw_mask_shifts(mask: u32) -> impl Iterator<Item = u32> {
    MASK_BITS
        .iter()
        .filter(move |(_, b)| mask & b != 0)
        .map(|(s, _)| *s)
}

/// A failed DDW RTAS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtasError {
    /// Status −1: no free window slot, or the request exceeds the largest block.
    #[error("RTAS hardware error (-1)")]
    HwError,
    /// Status −3: unknown PE or LIOBN, DDW disabled, unsupported page size, bad window size.
    #[error("RTAS parameter error (-3)")]
    ParamError,
}

impl RtasError {
    /// The RTAS status cell.
    pub const fn status(self) -> i32 {
        match self {
            RtasError::HwError => RTAS_OUT_HW_ERROR,
            RtasError::ParamError => RTAS_OUT_PARAM_ERROR,
        }
    }
}

/// Configuration of one Partitionable Endpoint (for QEMU: one PHB) and its DMA window slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeConfig {
    /// PHB unit id (the BUID hi/lo cells of the RTAS calls).
    pub buid: u64,
    /// LIOBN of the default window slot; it is also the first slot `create` may reuse.
    pub default_liobn: u32,
    /// The boot-time default window.
    pub default_window: DmaWindow,
    /// Further window slots, in the order `create` hands them out.
    pub ddw_liobns: Vec<u32>,
    /// Whether the DDW RTAS calls are offered for this PE (else they all fail with −3).
    pub ddw_enabled: bool,
    /// Page sizes a dynamic window may use, as a query mask (`DDW_PGSIZE_*`).
    pub page_size_mask: u32,
    /// Bus address of a dynamic window created while another window is active.
    pub dma64_window_addr: u64,
    /// Largest window, in TCEs, that `create` accepts and `query` reports.
    pub largest_block: u64,
}

impl PeConfig {
    /// QEMU's PHB number `index`: BUID `0x0800_0000_2000_0000 + index`, default window LIOBN
    /// `0x8000_0000 | index << 8` (1 GiB at bus address 0, 4 KiB pages), one DDW slot
    /// (`… | 1`), page sizes 4K/64K/2M/16M, 64-bit windows at 2^59, largest block 2^37 TCEs.
    pub fn qemu_phb(index: u32) -> Self {
        let liobn = 0x8000_0000 | (index << 8);
        PeConfig {
            buid: 0x0800_0000_2000_0000 + u64::from(index),
            default_liobn: liobn,
            default_window: DmaWindow::QEMU_DEFAULT,
            ddw_liobns: vec![liobn | 1],
            ddw_enabled: true,
            page_size_mask: DDW_PGSIZE_4K | DDW_PGSIZE_64K | DDW_PGSIZE_2M | DDW_PGSIZE_16M,
            dma64_window_addr: 1 << 59,
            largest_block: 1 << 37,
        }
    }

    /// All window slots, default first.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.default_liobn).chain(self.ddw_liobns.iter().copied())
    }

    /// Checks the configuration: distinct LIOBNs and a valid default window.
    pub fn validate(&self) -> Result<(), TceError> {
        let w = self.default_window;
        DmaWindow::new(w.bus_offset(), w.page_shift(), w.entries())?;
        let mut l: Vec<u32> = self.slots().collect();
        l.sort_unstable();
        if l.windows(2).any(|p| p[0] == p[1]) {
            return Err(TceError::Exists(self.default_liobn));
        }
        Ok(())
    }
}

/// Result of `ibm,query-pe-dma-window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdwQuery {
    /// Window slots not in use.
    pub windows_available: u32,
    /// Largest window the PE can create, in TCEs.
    pub largest_block: u64,
    /// Supported page sizes (`DDW_PGSIZE_*` bits).
    pub page_size_mask: u32,
    /// DMA migration capability (always 0: not supported).
    pub migration_capable: u32,
}

impl DdwQuery {
    /// The return cells after the status for the 5-cell form (`nret = 5`): windows available,
    /// largest block (32-bit, capped at `0x8000_0000` like QEMU), page-size mask, migration.
    pub fn cells_5(&self) -> [u32; 4] {
        let lb = self.largest_block.min(0x8000_0000) as u32;
        [
            self.windows_available,
            lb,
            self.page_size_mask,
            self.migration_capable,
        ]
    }

    /// The return cells after the status for the 6-cell form (`nret = 6`, `ibm,ddw-extensions`
    /// ext2 = 1): windows available, largest block hi, lo, page-size mask, migration.
    pub fn cells_6(&self) -> [u32; 5] {
        [
            self.windows_available,
            (self.largest_block >> 32) as u32,
            self.largest_block as u32,
            self.page_size_mask,
            self.migration_capable,
        ]
    }
}

/// Result of `ibm,create-pe-dma-window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdwCreated {
    /// LIOBN of the new window.
    pub liobn: u32,
    /// The new window (its bus offset is what the guest is told).
    pub window: DmaWindow,
}

impl DdwCreated {
    /// The return cells after the status: LIOBN, bus address hi, bus address lo.
    pub fn cells(&self) -> [u32; 3] {
        let b = self.window.bus_offset();
        [self.liobn, (b >> 32) as u32, b as u32]
    }
}
