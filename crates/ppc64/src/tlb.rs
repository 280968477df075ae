//! Software TLB: direct-mapped arrays of 4 KiB translations from effective address to
//! host pointer, one set per translation mode so that switching between kernel, user and
//! real mode does not flush anything.

/// log2 of the number of entries per array.
pub const TLB_BITS: u32 = 10;
/// Entries per array.
pub const TLB_SIZE: usize = 1 << TLB_BITS;
/// Granule of the software TLB.
pub const TLB_PAGE_SHIFT: u32 = 12;
/// Mask of the in-page offset.
pub const TLB_PAGE_MASK: u64 = (1 << TLB_PAGE_SHIFT) - 1;

/// Translation mode: selects one set of arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Translation off (MSR[IR] or MSR[DR] = 0).
    Real = 0,
    /// Privileged with translation on.
    Kernel = 1,
    /// Problem state (translation is always on).
    User = 2,
    /// Privileged data accesses to quadrant 0 (user addresses).
    KernelUser = 3,
}

/// Number of mode sets (a power of two, so that indexing needs no bounds check).
pub const NMODES: usize = 4;

/// One cached translation. `tag` is the page-aligned effective address (an invalid entry
/// has a tag with low bits set, which no page-aligned address matches); the host address of
/// `ea` is `ea + addend`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TlbEntry {
    /// Page-aligned EA, or [`INVALID_TAG`].
    pub tag: u64,
    /// Host address minus EA.
    pub addend: u64,
}

/// Tag of an empty entry.
pub const INVALID_TAG: u64 = u64::MAX;

impl TlbEntry {
    /// An entry that matches nothing.
    pub const EMPTY: TlbEntry = TlbEntry {
        tag: INVALID_TAG,
        addend: 0,
    };
}

/// Access kinds, used to index the arrays of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Data load.
    Read = 0,
    /// Data store.
    Write = 1,
    /// Instruction fetch.
    Exec = 2,
}

/// log2 of the number of execute entries (larger than the data arrays: kernel text is
/// tens of MiB, and a jump-cache entry is only valid while its execute entry stays).
pub const XTLB_BITS: u32 = 12;
/// Execute entries per set.
pub const XTLB_SIZE: usize = 1 << XTLB_BITS;

/// The arrays for one mode: two-way read and write arrays (indexed by [`Access`]; the two
/// ways of a set are adjacent) and a direct-mapped execute array.
pub struct TlbSet {
    /// Read and write arrays, `2 * TLB_SIZE` entries each: way 0 at `2i`, way 1 at `2i+1`.
    pub rw: [[TlbEntry; 2 * TLB_SIZE]; 2],
    /// Execute array.
    pub x: [TlbEntry; XTLB_SIZE],
}

impl TlbSet {
    /// The execute entry for `ea`.
    #[inline(always)]
    pub fn xentry(&self, ea: u64) -> &TlbEntry {
        &self.x[Tlb::xindex(ea)]
    }

    /// Mutable [`xentry`](Self::xentry).
    #[inline(always)]
    pub fn xentry_mut(&mut self, ea: u64) -> &mut TlbEntry {
        &mut self.x[Tlb::xindex(ea)]
    }

    /// The data entry (either way) of `acc` whose tag is `tag`.
    #[inline(always)]
    pub fn find(&self, acc: Access, ea: u64, tag: u64) -> Option<&TlbEntry> {
        let arr = &self.rw[acc as usize & 1];
        let i = 2 * Tlb::index(ea);
        if arr[i].tag == tag {
            Some(&arr[i])
        } else if arr[i + 1].tag == tag {
            Some(&arr[i + 1])
        } else {
            None
        }
    }

    /// Inserts a data entry in way 0, moving the previous way-0 entry to way 1.
    #[inline]
    pub fn insert(&mut self, acc: Access, ea: u64, e: TlbEntry) {
        let arr = &mut self.rw[acc as usize & 1];
        let i = 2 * Tlb::index(ea);
        if arr[i].tag != e.tag {
            arr[i + 1] = arr[i];
        }
        arr[i] = e;
    }

    /// Drops data entries for `page` (any generation).
    pub fn drop_page(&mut self, page: u64) {
        let i = 2 * Tlb::index(page);
        for arr in self.rw.iter_mut() {
            for w in 0..2 {
                if arr[i + w].tag & !TLB_PAGE_MASK == page {
                    arr[i + w] = TlbEntry::EMPTY;
                }
            }
        }
    }
}

/// All sets of one vCPU.
///
/// A set is flushed in O(1) by bumping its generation: entries carry the generation they
/// were filled in (in the low 12 bits of the tag, which a page-aligned address leaves
/// zero), and a lookup compares against `page | generation`. Only when the 12-bit
/// generation wraps is the set cleared for real.
pub struct Tlb {
    /// Indexed by [`Mode`].
    pub sets: [TlbSet; NMODES],
    /// Current generation of each set, in `1..=MAX_GEN`.
    pub gen_: [u64; NMODES],
    /// Bumped whenever an execute entry or a set may change (translated code links
    /// blocks only while it is unchanged).
    pub xepoch: u64,
}

/// Largest generation (so that `page | gen` can never equal [`INVALID_TAG`]).
pub const MAX_GEN: u64 = 0xFFE;

impl Tlb {
    /// An empty TLB (boxed: it is about 150 KiB).
    pub fn new() -> Box<Tlb> {
        // Build on the heap directly to avoid a large stack temporary.
        let mut v: Vec<TlbSet> = Vec::with_capacity(NMODES);
        for _ in 0..NMODES {
            v.push(TlbSet {
                rw: [[TlbEntry::EMPTY; 2 * TLB_SIZE]; 2],
                x: [TlbEntry::EMPTY; XTLB_SIZE],
            });
        }
        let sets: [TlbSet; NMODES] = match v.try_into() {
            Ok(s) => s,
            Err(_) => unreachable!("exactly NMODES sets were pushed"),
        };
        Box::new(Tlb {
            sets,
            gen_: [1; NMODES],
            xepoch: 1,
        })
    }

    /// The tag an entry for `ea` has in the current generation of `mode`.
    #[inline(always)]
    pub fn tag(&self, mode: usize, ea: u64) -> u64 {
        (ea & !TLB_PAGE_MASK) | self.gen_[mode & (NMODES - 1)]
    }

    /// Index of `ea` in a data array.
    #[inline(always)]
    pub fn index(ea: u64) -> usize {
        ((ea >> TLB_PAGE_SHIFT) as usize) & (TLB_SIZE - 1)
    }

    /// Index of `ea` in the execute array.
    #[inline(always)]
    pub fn xindex(ea: u64) -> usize {
        ((ea >> TLB_PAGE_SHIFT) as usize) & (XTLB_SIZE - 1)
    }

    /// Forgets every translation of one mode.
    pub fn flush_mode(&mut self, mode: Mode) {
        let m = mode as usize;
        self.xepoch = self.xepoch.wrapping_add(1);
        self.gen_[m] += 1;
        if self.gen_[m] > MAX_GEN {
            for a in self.sets[m].rw.iter_mut() {
                a.fill(TlbEntry::EMPTY);
            }
            self.sets[m].x.fill(TlbEntry::EMPTY);
            self.gen_[m] = 1;
        }
    }

    /// Forgets every translation of the translated modes (real-mode entries never change).
    pub fn flush_virtual(&mut self) {
        self.flush_mode(Mode::Kernel);
        self.flush_mode(Mode::User);
        self.flush_mode(Mode::KernelUser);
    }

    /// Forgets everything.
    pub fn flush_all(&mut self) {
        self.flush_mode(Mode::Real);
        self.flush_virtual();
    }
}
