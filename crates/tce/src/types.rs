//! Plain data types: TCE bits, permissions, DMA windows and errors.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// TCE bit 0: the device may read guest memory (DMA towards the device).
pub const TCE_READ: u64 = 0x1;
/// TCE bit 1: the device may write guest memory.
pub const TCE_WRITE: u64 = 0x2;
/// Both permission bits.
pub const TCE_RW: u64 = TCE_READ | TCE_WRITE;

/// Smallest TCE page shift (4 KiB), the page size of every default window.
pub const MIN_PAGE_SHIFT: u32 = 12;
/// Largest TCE page shift accepted for a table (16 GiB, as KVM's `KVM_CREATE_SPAPR_TCE_64`).
pub const MAX_PAGE_SHIFT: u32 = 34;
/// Most TCEs one H_PUT_TCE_INDIRECT call may carry (one 4 KiB list page).
pub const MAX_INDIRECT_TCES: u64 = 512;

/// Builds a TCE mapping the page at `gpa` (aligned to the table's page size) with `perm`.
pub const fn make_tce(gpa: u64, perm: Perm) -> u64 {
    gpa | perm.bits()
}

/// The access a mapping grants: the non-empty permission bits of a TCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Perm {
    /// The device may only read guest memory (TCE value `…1`).
    ReadOnly,
    /// The device may only write guest memory (TCE value `…2`).
    WriteOnly,
    /// The device may read and write guest memory (TCE value `…3`).
    ReadWrite,
}

impl Perm {
    /// The permission carried by a TCE value; `None` for an entry granting no access.
    pub const fn from_tce(tce: u64) -> Option<Perm> {
        match tce & TCE_RW {
            TCE_READ => Some(Perm::ReadOnly),
            TCE_WRITE => Some(Perm::WriteOnly),
            TCE_RW => Some(Perm::ReadWrite),
            _ => None,
        }
    }

    /// The TCE permission bits.
    pub const fn bits(self) -> u64 {
        match self {
            Perm::ReadOnly => TCE_READ,
            Perm::WriteOnly => TCE_WRITE,
            Perm::ReadWrite => TCE_RW,
        }
    }

    /// Whether this permission allows `access`.
    pub const fn allows(self, access: Access) -> bool {
        let want = access.bits();
        self.bits() & want == want
    }

    /// The equivalent rust-vmm permission.
    pub const fn to_vm(self) -> vm_memory::Permissions {
        match self {
            Perm::ReadOnly => vm_memory::Permissions::Read,
            Perm::WriteOnly => vm_memory::Permissions::Write,
            Perm::ReadWrite => vm_memory::Permissions::ReadWrite,
        }
    }
}

/// What a device wants to do with guest memory through a DMA window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read guest memory (needs the TCE's READ bit).
    Read,
    /// Write guest memory (needs the TCE's WRITE bit).
    Write,
    /// Both (needs both bits).
    ReadWrite,
}

impl Access {
    /// The TCE bits this access needs.
    pub const fn bits(self) -> u64 {
        match self {
            Access::Read => TCE_READ,
            Access::Write => TCE_WRITE,
            Access::ReadWrite => TCE_RW,
        }
    }

    /// The access a rust-vmm permission request stands for (`None` for `Permissions::No`).
    pub const fn from_vm(p: vm_memory::Permissions) -> Option<Access> {
        match p {
            vm_memory::Permissions::No => None,
            vm_memory::Permissions::Read => Some(Access::Read),
            vm_memory::Permissions::Write => Some(Access::Write),
            vm_memory::Permissions::ReadWrite => Some(Access::ReadWrite),
        }
    }
}

/// A DMA window: the bus-address range a TCE table translates.
///
/// Invariants (checked by [`DmaWindow::new`]): `MIN_PAGE_SHIFT ≤ page_shift ≤ MAX_PAGE_SHIFT`,
/// `entries ≥ 1`, `bus_offset` aligned to the page size, and the window's end
/// (`bus_offset + entries << page_shift`) representable in 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWindow")]
pub struct DmaWindow {
    bus_offset: u64,
    page_shift: u32,
    entries: u64,
}

/// The serialized form of a [`DmaWindow`]; deserializing goes through [`DmaWindow::new`], so a
/// forged or corrupted image cannot produce a window that breaks the invariants.
#[derive(Deserialize)]
struct RawWindow {
    bus_offset: u64,
    page_shift: u32,
    entries: u64,
}

impl TryFrom<RawWindow> for DmaWindow {
    type Error = TceError;

    fn try_from(r: RawWindow) -> Result<Self, TceError> {
        DmaWindow::new(r.bus_offset, r.page_shift, r.entries)
    }
}

impl DmaWindow {
    /// QEMU's default PHB window: 1 GiB at bus address 0 in 4 KiB pages (262,144 TCEs).
    pub const QEMU_DEFAULT: DmaWindow = DmaWindow {
        bus_offset: 0,
        page_shift: MIN_PAGE_SHIFT,
        entries: 0x4000_0000 >> MIN_PAGE_SHIFT,
    };

    /// A window of `entries` TCEs of `2^page_shift` bytes starting at bus address
    /// `bus_offset`.
    pub fn new(bus_offset: u64, page_shift: u32, entries: u64) -> Result<Self, TceError> {
        if !(MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT).contains(&page_shift) || entries == 0 {
            return Err(TceError::InvalidWindow);
        }
        let page = 1u64 << page_shift;
        if bus_offset & (page - 1) != 0 {
            return Err(TceError::InvalidWindow);
        }
        let size = entries.checked_mul(page).ok_or(TceError::InvalidWindow)?;
        bus_offset
            .checked_add(size)
            .ok_or(TceError::InvalidWindow)?;
        Ok(DmaWindow {
            bus_offset,
            page_shift,
            entries,
        })
    }

    /// The QEMU-style default 32-bit window: bus offset 0, 4 KiB pages, `size` bytes.
    pub fn default_32bit(size: u64) -> Result<Self, TceError> {
        Self::new(0, MIN_PAGE_SHIFT, size >> MIN_PAGE_SHIFT)
    }

    /// First bus address of the window.
    pub const fn bus_offset(&self) -> u64 {
        self.bus_offset
    }

    /// log2 of the TCE page size.
    pub const fn page_shift(&self) -> u32 {
        self.page_shift
    }

    /// TCE page size in bytes.
    pub const fn page_size(&self) -> u64 {
        1u64 << self.page_shift
    }

    /// Number of TCEs.
    pub const fn entries(&self) -> u64 {
        self.entries
    }

    /// Window size in bytes.
    pub const fn size(&self) -> u64 {
        self.entries << self.page_shift
    }

    /// One past the last bus address of the window.
    pub const fn end(&self) -> u64 {
        self.bus_offset + self.size()
    }

    /// The table index of `npages` entries starting at bus address `ioba`, if `ioba` is
    /// page-aligned and the whole range lies in the window (KVM's rule).
    pub fn index_of(&self, ioba: u64, npages: u64) -> Option<u64> {
        if ioba & (self.page_size() - 1) != 0 || ioba < self.bus_offset {
            return None;
        }
        let idx = (ioba - self.bus_offset) >> self.page_shift;
        (idx.checked_add(npages)? <= self.entries).then_some(idx)
    }

    /// Bus address of entry `idx`.
    pub const fn ioba_of(&self, idx: u64) -> u64 {
        self.bus_offset + (idx << self.page_shift)
    }

    /// The `ibm,dma-window` / `ibm,my-dma-window` cells for this window with
    /// `ibm,#dma-address-cells = 2` and `ibm,#dma-size-cells = 2`:
    /// `<liobn offset-hi offset-lo size-hi size-lo>`.
    pub const fn dt_cells(&self, liobn: u32) -> [u32; 5] {
        let size = self.size();
        [
            liobn,
            (self.bus_offset >> 32) as u32,
            self.bus_offset as u32,
            (size >> 32) as u32,
            size as u32,
        ]
    }
}

/// Errors of the host-side (machine) API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TceError {
    /// Page shift out of range, zero entries, misaligned offset or a window that would wrap.
    #[error("invalid DMA window")]
    InvalidWindow,
    /// The LIOBN already has a table.
    #[error("LIOBN {0:#x} already exists")]
    Exists(u32),
    /// No table with that LIOBN.
    #[error("no table with LIOBN {0:#x}")]
    NoSuchLiobn(u32),
    /// No PE with that BUID.
    #[error("no PE with BUID {0:#x}")]
    NoSuchPe(u64),
    /// The PE's BUID is already registered.
    #[error("PE with BUID {0:#x} already exists")]
    PeExists(u64),
    /// The table belongs to a PE and is managed through the PE (DDW) calls.
    #[error("LIOBN {0:#x} belongs to a PE")]
    OwnedByPe(u32),
    /// The listener link does not exist.
    #[error("no such listener link")]
    NoSuchLink,
    /// The configured table-memory budget is exhausted.
    #[error("TCE table memory budget exhausted")]
    NoMemory,
    /// A saved state is inconsistent (bad window, entry out of range, duplicate LIOBN…).
    #[error("invalid saved TCE state: {0}")]
    BadState(&'static str),
}

/// Why a DMA translation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DmaError {
    /// No table with that LIOBN.
    #[error("no table with LIOBN {0:#x}")]
    NoSuchLiobn(u32),
    /// The table exists but its window is disabled (removed DDW slot).
    #[error("DMA window disabled")]
    WindowDisabled,
    /// Part of the range is outside the window, or the range wraps.
    #[error("bus address {0:#x} outside the DMA window")]
    OutOfWindow(u64),
    /// The TCE covering this bus address grants no access.
    #[error("bus address {0:#x} not mapped")]
    NotMapped(u64),
    /// The TCE covering this bus address does not allow the requested access.
    #[error("bus address {0:#x}: access not permitted")]
    Denied(u64),
}
