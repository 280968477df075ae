//! The generator interface: one [`Entry`] per instruction form.
//!
//! An entry's `gen` function draws the random parts of one instruction (register numbers,
//! immediates, Rc/OE bits...) and returns a [`Case`]: the instruction word(s), which state
//! parts to load and compare, and — for instructions with operand constraints — the
//! per-execution values of some registers ([`Fix`], computed by [`Case::exec`]), the
//! memory window to compare, and masks for results the ISA leaves undefined.
//!
//! A case is executed many times, each time from a different initial state taken from a
//! pool of random states (interesting values: 0, ±1, min/max, sign and 32-bit
//! boundaries, small numbers, random bits). Register r31 is reserved (it points at the
//! test runtime's context) and is never produced by the `gpr*` helpers.
//!
//! Adding a family (e.g. the FP/VMX/VSX ones, in `gen_fpvec.rs`): write a function per
//! form returning a [`Case`] with `parts: Parts::Full` (so FPSCR, VSCR and the 64 VSRs are
//! loaded and compared), list them in that file's `entries()`, and mark the ones that are
//! plain register-to-register single-word operations with `seq: true` so the random
//! sequences use them too. Use [`Case::mask`] / [`ExecData::mask`] for results the ISA
//! leaves undefined (say why in a comment), and `QEMU_DEVIATIONS` (in `diff.rs`)
//! entries for places where QEMU 7.2 is wrong.

#![allow(dead_code)]

use super::state::{self, Parts, State};

/// Deterministic random numbers (SplitMix64).
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
    pub fn bits(&mut self, n: u32) -> u32 {
        (self.next_u64() & ((1u64 << n) - 1)) as u32
    }
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
    /// A derived generator (for reproducible sub-streams).
    pub fn fork(&mut self, salt: u64) -> Rng {
        Rng(self.next_u64() ^ salt.wrapping_mul(0xA076_1D64_78BD_642F))
    }
}

/// Interesting 64-bit values.
pub const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0x8000_0001,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x1_0000_0001,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    0x8000_0000_0000_0001,
    0xFFFF_FFFF_0000_0000,
    0xFFFF_FFFF_8000_0000,
    0xFFFF_FFFF_7FFF_FFFF,
    0xFFFF_FFFF_FFFF_8000,
    0xFFFF_FFFF_FFFF_FF80,
    u64::MAX,
    u64::MAX - 1,
    0x5555_5555_5555_5555,
    0xAAAA_AAAA_AAAA_AAAA,
    0x0000_0000_FFFF_0000,
    0x0101_0101_0101_0101,
];

/// A random GPR value with a bias towards interesting ones.
pub fn value(r: &mut Rng) -> u64 {
    match r.below(20) {
        0..=6 => r.pick(INTERESTING),
        7 | 8 => r.below(140),
        9 => {
            let k = r.below(64);
            let v = 1u64 << k;
            match r.below(3) {
                0 => v,
                1 => v.wrapping_sub(1),
                _ => v.wrapping_neg(),
            }
        }
        10 | 11 => r.next_u64() as u32 as i32 as i64 as u64,
        12 => r.next_u64() as u32 as u64,
        13 => (r.next_u64() as i16) as i64 as u64,
        14 => r.pick(INTERESTING).wrapping_add(r.range(-2, 3) as u64),
        _ => r.next_u64(),
    }
}

/// A random GPR number that a test may read or write (r0..r30).
pub fn gpr(r: &mut Rng) -> u32 {
    r.below(31) as u32
}

/// A random GPR number other than r0 (r1..r30).
pub fn gpr_nz(r: &mut Rng) -> u32 {
    1 + r.below(30) as u32
}

/// A random GPR number not in `avoid` (and not r0 if `nz`).
pub fn gpr_not(r: &mut Rng, nz: bool, avoid: &[u32]) -> u32 {
    loop {
        let g = if nz { gpr_nz(r) } else { gpr(r) };
        if !avoid.contains(&g) {
            return g;
        }
    }
}

/// A register a case sets to a per-execution value (after loading the initial state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fix {
    /// GPR n (never r0 or r31).
    Gpr(u32),
    /// CTR.
    Ctr,
    /// LR.
    Lr,
    /// TAR (set with `mtspr 815`).
    Tar,
}

/// What the runtime needs to know about the test code's placement.
pub struct ExecCtx<'a> {
    /// Address of the first instruction of the case.
    pub code: u64,
    /// The initial state (from the pool) before the fixups are applied.
    pub init: &'a State,
    /// Base of the memory area loads and stores may use.
    pub mem: u64,
    /// Its size in bytes.
    pub mem_len: u64,
}

/// Per-execution data of a case.
#[derive(Default, Clone)]
pub struct ExecData {
    /// Values for [`Case::fix`], in order.
    pub fix: Vec<u64>,
    /// Address of the memory window to compare after the case (0 = none).
    pub win: u64,
    /// Extra bits to ignore in this execution: (state word, bits).
    pub mask: Vec<(usize, u64)>,
}

/// Computes the per-execution data.
pub type ExecFn = Box<dyn Fn(&mut Rng, &ExecCtx) -> ExecData>;
/// Patches the case's words once its address is known (absolute branches).
pub type PatchFn = Box<dyn Fn(&mut [u32], u64)>;

/// One instruction (or a short fixed instruction sequence) under test.
pub struct Case {
    /// The words executed for each execution.
    pub words: Vec<u32>,
    /// Short description (mnemonic and operands) for failure reports.
    pub text: String,
    /// State parts loaded and compared.
    pub parts: Parts,
    /// Registers given per-execution values.
    pub fix: Vec<Fix>,
    /// Per-execution values (required if `fix` is not empty).
    pub exec: Option<ExecFn>,
    /// Bits ignored in every execution: (state word, bits).
    pub mask: Vec<(usize, u64)>,
    /// Doublewords of the memory window compared (with [`ExecData::win`]).
    pub win_dwords: u32,
    /// The case may raise a signal (handled on an alternate signal stack).
    pub may_signal: bool,
    /// Fix-up of the words after placement.
    pub patch: Option<PatchFn>,
}

impl Case {
    /// A case of plain words with no constraints.
    pub fn plain(words: Vec<u32>, text: String) -> Case {
        Case {
            words,
            text,
            parts: Parts::Int,
            fix: Vec::new(),
            exec: None,
            mask: Vec::new(),
            win_dwords: 0,
            may_signal: false,
            patch: None,
        }
    }
    pub fn with_parts(mut self, p: Parts) -> Case {
        self.parts = p;
        self
    }
    pub fn with_mask(mut self, word: usize, bits: u64) -> Case {
        self.mask.push((word, bits));
        self
    }
    pub fn signalling(mut self) -> Case {
        self.may_signal = true;
        self
    }
}

/// One generator table entry: an instruction form.
pub struct Entry {
    /// Mnemonic of the form.
    pub name: &'static str,
    /// Family (for reports).
    pub family: &'static str,
    /// Draws one case.
    pub make: fn(&mut Rng) -> Case,
    /// Usable as a step of the random sequences (a single word, no constraints, no
    /// memory, no control flow, no undefined results, no signal).
    pub seq: bool,
}

/// Checks one final state of an ours-only case: (initial, final) → error text.
pub type Expect = fn(&State, &State) -> Result<(), String>;

/// Bits of CR field `bf` in the CR word.
pub fn cr_field_bits(bf: u32, nibble: u32) -> u64 {
    ((nibble & 0xF) as u64) << (28 - 4 * bf)
}

/// Mask entry: CR0 LT/GT/EQ.
pub fn cr0_ltgteq() -> (usize, u64) {
    (state::CR, cr_field_bits(0, 0xE))
}
