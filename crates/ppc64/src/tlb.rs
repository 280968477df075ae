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
}

/// Number of mode sets (a power of two so that indexing needs no bounds check; the
/// fourth set is unused).
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

/// The arrays for one mode: read, write and execute.
pub struct TlbSet {
    /// Indexed by [`Access`].
    pub arr: [[TlbEntry; TLB_SIZE]; 3],
}

/// All sets of one vCPU.
pub struct Tlb {
    /// Indexed by [`Mode`].
    pub sets: [TlbSet; NMODES],
}

impl Tlb {
    /// An empty TLB (boxed: it is about 150 KiB).
    pub fn new() -> Box<Tlb> {
        // Build on the heap directly to avoid a large stack temporary.
        let mut v: Vec<TlbSet> = Vec::with_capacity(NMODES);
        for _ in 0..NMODES {
            v.push(TlbSet {
                arr: [[TlbEntry::EMPTY; TLB_SIZE]; 3],
            });
        }
        let sets: [TlbSet; NMODES] = match v.try_into() {
            Ok(s) => s,
            Err(_) => unreachable!("exactly NMODES sets were pushed"),
        };
        Box::new(Tlb { sets })
    }

    /// Index of `ea` in an array.
    #[inline(always)]
    pub fn index(ea: u64) -> usize {
        ((ea >> TLB_PAGE_SHIFT) as usize) & (TLB_SIZE - 1)
    }

    /// Forgets every translation of one mode.
    pub fn flush_mode(&mut self, mode: Mode) {
        for a in self.sets[mode as usize].arr.iter_mut() {
            a.fill(TlbEntry::EMPTY);
        }
    }

    /// Forgets every translation of the translated modes (real-mode entries never change).
    pub fn flush_virtual(&mut self) {
        self.flush_mode(Mode::Kernel);
        self.flush_mode(Mode::User);
    }

    /// Forgets everything.
    pub fn flush_all(&mut self) {
        self.flush_mode(Mode::Real);
        self.flush_virtual();
    }
}
