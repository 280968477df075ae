//! Guest RAM as the CPU sees it: one contiguous host mapping starting at guest-real
//! address 0, shared by every vCPU thread, plus the per-page "holds decoded code" words
//! that let stores invalidate pre-decoded instructions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

/// Guest RAM: a host mapping of `size` bytes for guest-real addresses `0..size`.
///
/// Every access stays inside `[base, base + size)`: callers pass guest-real addresses and
/// this type checks them. Concurrent accesses from several vCPU threads are the guest's
/// business (as on real hardware); naturally aligned accesses of up to 8 bytes are
/// single-copy atomic, as the architecture requires, because they go through host atomics.
pub struct Ram {
    base: *mut u8,
    size: u64,
    _owner: Arc<dyn Send + Sync>,
}

// SAFETY: `Ram` only hands out accesses through methods that bound-check every address and
// use atomic or byte-wise copies on a mapping kept alive by `_owner`; sharing the pointer
// between threads is how guest RAM is shared between vCPUs.
unsafe impl Send for Ram {}
// SAFETY: see `Send`; no method gives out references into the mapping.
unsafe impl Sync for Ram {}

/// Why RAM could not be set up from a `GuestMemoryMmap`.
#[derive(Debug, thiserror::Error)]
pub enum RamError {
    /// The memory has no region at guest address 0.
    #[error("guest memory must have one region starting at address 0")]
    NoRegionAtZero,
    /// The memory has more than one region.
    #[error("guest memory must be one contiguous region")]
    NotContiguous,
}

impl Ram {
    /// Uses the (single) region of `mem`, which must start at guest address 0.
    pub fn from_guest_memory(mem: Arc<vm_memory::GuestMemoryMmap<()>>) -> Result<Self, RamError> {
        if mem.num_regions() != 1 {
            return Err(RamError::NotContiguous);
        }
        let region = mem
            .find_region(GuestAddress(0))
            .ok_or(RamError::NoRegionAtZero)?;
        let size = region.len();
        let base = mem
            .get_host_address(GuestAddress(0))
            .map_err(|_| RamError::NoRegionAtZero)?;
        Ok(Ram {
            base,
            size,
            _owner: mem,
        })
    }

    /// RAM size in bytes.
    #[inline(always)]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Host address of guest-real address `ra`, if `[ra, ra+len)` is RAM.
    #[inline(always)]
    pub fn host_ptr(&self, ra: u64, len: u64) -> Option<*mut u8> {
        if ra < self.size && len <= self.size - ra {
            // SAFETY: `ra + len <= size`, so the result stays inside the mapping.
            Some(unsafe { self.base.add(ra as usize) })
        } else {
            None
        }
    }

    /// Base of the host mapping (for the software TLB's address arithmetic).
    #[inline(always)]
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// Reads a big-endian u64 (page-table entries, firmware structures).
    pub fn read_be64(&self, ra: u64) -> Option<u64> {
        let p = self.host_ptr(ra, 8)?;
        // SAFETY: `p..p+8` is inside the mapping (checked by `host_ptr`).
        Some(u64::from_be(unsafe { load_u64(p) }))
    }

    /// Writes a big-endian u64.
    pub fn write_be64(&self, ra: u64, v: u64) -> Option<()> {
        let p = self.host_ptr(ra, 8)?;
        // SAFETY: as in `read_be64`.
        unsafe { store_u64(p, v.to_be()) };
        Some(())
    }

    /// Copies guest RAM into `buf`. Returns `None` (and copies nothing) if out of range.
    pub fn read(&self, ra: u64, buf: &mut [u8]) -> Option<()> {
        let p = self.host_ptr(ra, buf.len() as u64)?;
        // SAFETY: the range is inside the mapping; byte copies have no alignment needs.
        unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
        Some(())
    }

    /// Copies `buf` into guest RAM. Returns `None` (and copies nothing) if out of range.
    /// This does not invalidate decoded code; callers that may write code go through
    /// [`CodePages::invalidate_range`] as well.
    pub fn write(&self, ra: u64, buf: &[u8]) -> Option<()> {
        let p = self.host_ptr(ra, buf.len() as u64)?;
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, buf.len()) };
        Some(())
    }
}

// Host accesses. Aligned accesses use atomics so that they are single-copy atomic and so
// that concurrent accesses by other vCPU threads are not data races; unaligned ones are
// copied byte-wise (the architecture does not make them atomic either).

macro_rules! host_access {
    ($load:ident, $store:ident, $t:ty, $at:ty) => {
        /// Loads a native-endian value from host address `p`.
        ///
        /// # Safety
        /// `p..p+size_of::<T>()` must be inside a live guest RAM mapping.
        #[inline(always)]
        pub(crate) unsafe fn $load(p: *const u8) -> $t {
            if (p as usize) & (std::mem::size_of::<$t>() - 1) == 0 {
                // SAFETY: aligned and in bounds (caller's contract); the atomic type has
                // the same layout as the integer.
                unsafe { (*(p as *const $at)).load(Ordering::Relaxed) }
            } else {
                // SAFETY: in bounds (caller's contract); no alignment requirement.
                unsafe { std::ptr::read_unaligned(p as *const $t) }
            }
        }
        /// Stores a native-endian value at host address `p`.
        ///
        /// # Safety
        /// `p..p+size_of::<T>()` must be inside a live guest RAM mapping.
        #[inline(always)]
        pub(crate) unsafe fn $store(p: *mut u8, v: $t) {
            if (p as usize) & (std::mem::size_of::<$t>() - 1) == 0 {
                // SAFETY: as in the load.
                unsafe { (*(p as *const $at)).store(v, Ordering::Relaxed) }
            } else {
                // SAFETY: as in the load.
                unsafe { std::ptr::write_unaligned(p as *mut $t, v) }
            }
        }
    };
}

host_access!(load_u16, store_u16, u16, AtomicU16);
host_access!(load_u32, store_u32, u32, AtomicU32);
host_access!(load_u64, store_u64, u64, AtomicU64);

/// Loads a byte.
///
/// # Safety
/// `p` must be inside a live guest RAM mapping.
#[inline(always)]
pub(crate) unsafe fn load_u8(p: *const u8) -> u8 {
    // SAFETY: in bounds (caller's contract).
    unsafe { (*(p as *const AtomicU8)).load(Ordering::Relaxed) }
}

/// Stores a byte.
///
/// # Safety
/// `p` must be inside a live guest RAM mapping.
#[inline(always)]
pub(crate) unsafe fn store_u8(p: *mut u8, v: u8) {
    // SAFETY: in bounds (caller's contract).
    unsafe { (*(p as *const AtomicU8)).store(v, Ordering::Relaxed) }
}

/// log2 of the granule at which decoded code is tracked.
pub const CODE_PAGE_SHIFT: u32 = 12;

/// Per-4K-page words recording which guest-real pages hold pre-decoded instructions.
///
/// Bit 0 of a page's word says "some vCPU decoded instructions from this page"; the other
/// bits are a generation number. A decoded block remembers the generation it was decoded
/// at and is valid while the page's word still shows that generation. A store to a page
/// with bit 0 set bumps the generation (and clears bit 0), which invalidates every block
/// decoded from it on every vCPU.
pub struct CodePages {
    words: Box<[AtomicU32]>,
    /// Bumped by every invalidation (translated code links blocks only while it is
    /// unchanged).
    epoch: AtomicU64,
}

impl CodePages {
    /// Tracking for `ram_size` bytes of RAM.
    pub fn new(ram_size: u64) -> Self {
        let n = ram_size.div_ceil(1 << CODE_PAGE_SHIFT) as usize;
        CodePages {
            words: (0..n).map(|_| AtomicU32::new(0)).collect(),
            epoch: AtomicU64::new(1),
        }
    }

    /// Marks page `page` as holding code and returns its generation.
    #[inline]
    pub(crate) fn mark(&self, page: usize) -> u32 {
        match self.words.get(page) {
            Some(w) => {
                let v = w.fetch_or(1, Ordering::AcqRel);
                v >> 1
            }
            None => 0,
        }
    }

    /// The word of page `page` (for the jump cache's fast validation); `None` outside RAM.
    #[inline]
    pub(crate) fn word_ptr(&self, page: usize) -> Option<*const AtomicU32> {
        self.words.get(page).map(|w| w as *const AtomicU32)
    }

    /// Address of the invalidation counter.
    pub(crate) fn epoch_ptr(&self) -> usize {
        &self.epoch as *const AtomicU64 as usize
    }

    /// Address of the first word and the number of words (for translated code, which
    /// tests a page's bit 0 before storing to it).
    pub(crate) fn raw_words(&self) -> (usize, usize) {
        (self.words.as_ptr() as usize, self.words.len())
    }

    /// Generation of page `page` (for validating decoded blocks).
    #[inline(always)]
    pub(crate) fn generation(&self, page: usize) -> u32 {
        match self.words.get(page) {
            Some(w) => w.load(Ordering::Acquire) >> 1,
            None => u32::MAX,
        }
    }

    /// Whether page `page` holds decoded code (so stores to it must invalidate).
    #[inline(always)]
    pub(crate) fn is_code(&self, page: usize) -> bool {
        match self.words.get(page) {
            Some(w) => w.load(Ordering::Relaxed) & 1 != 0,
            None => false,
        }
    }

    /// Invalidates decoded code in page `page`.
    #[inline]
    pub(crate) fn invalidate(&self, page: usize) {
        if let Some(w) = self.words.get(page) {
            let mut cur = w.load(Ordering::Relaxed);
            while cur & 1 != 0 {
                match w.compare_exchange_weak(
                    cur,
                    (cur & !1).wrapping_add(2),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        self.epoch.fetch_add(1, Ordering::AcqRel);
                        break;
                    }
                    Err(now) => cur = now,
                }
            }
        }
    }

    /// Invalidates decoded code in every page touching `[ra, ra+len)`. Whoever writes guest
    /// RAM other than through a vCPU (device DMA, hypercalls that copy pages) calls this.
    pub fn invalidate_range(&self, ra: u64, len: u64) {
        if len == 0 {
            return;
        }
        let first = ra >> CODE_PAGE_SHIFT;
        let last = ra.saturating_add(len - 1) >> CODE_PAGE_SHIFT;
        for p in first..=last.min(self.words.len() as u64) {
            self.invalidate(p as usize);
        }
    }
}
