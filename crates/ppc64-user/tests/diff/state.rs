//! The architected state a test case loads and compares, and its layout in guest memory
//! (an array of little-endian doublewords).

#![allow(dead_code)]

use std::fmt::Write;

/// GPR i is word i.
pub const GPR: usize = 0;
/// CR (32-bit value, zero-extended).
pub const CR: usize = 32;
/// XER as `mfxer` returns it.
pub const XER: usize = 33;
/// LR.
pub const LR: usize = 34;
/// CTR.
pub const CTR: usize = 35;
/// Signal number delivered during the case (0 = none); set by the test runtime.
pub const SIG: usize = 36;
/// Words of the integer part.
pub const INT_WORDS: usize = 37;
/// FPSCR (64-bit image as `mffs` returns it).
pub const FPSCR: usize = 37;
/// VSCR: two doublewords as `mfvscr` + `stxvd2x` store them (VSCR in the low word of the
/// second).
pub const VSCR: usize = 38;
/// VSR i: dw0 at `VSR + 2i`, dw1 at `VSR + 2i + 1`.
pub const VSR: usize = 40;
/// All words.
pub const WORDS: usize = VSR + 128;
/// Bytes of a full state.
pub const BYTES: usize = WORDS * 8;

/// Which parts of the state a case loads and compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parts {
    /// GPRs, CR, XER, LR, CTR.
    Int,
    /// Everything: also FPSCR, VSCR and the 64 VSRs.
    Full,
}

impl Parts {
    /// Words loaded and compared.
    pub fn words(self) -> usize {
        match self {
            Parts::Int => INT_WORDS,
            Parts::Full => WORDS,
        }
    }
}

/// A machine state (or a mask over one: 1 bits are compared).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct State(pub Vec<u64>);

impl State {
    pub fn zero() -> State {
        State(vec![0; WORDS])
    }
    pub fn ones() -> State {
        State(vec![u64::MAX; WORDS])
    }
    pub fn from_le_bytes(b: &[u8]) -> State {
        let mut s = State::zero();
        for (i, c) in b.chunks_exact(8).take(WORDS).enumerate() {
            s.0[i] = u64::from_le_bytes(c.try_into().unwrap());
        }
        s
    }
    pub fn to_le_bytes(&self, words: usize) -> Vec<u8> {
        self.0[..words]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }
    pub fn vsr(&self, i: usize) -> u128 {
        ((self.0[VSR + 2 * i] as u128) << 64) | self.0[VSR + 2 * i + 1] as u128
    }
    pub fn set_vsr(&mut self, i: usize, v: u128) {
        self.0[VSR + 2 * i] = (v >> 64) as u64;
        self.0[VSR + 2 * i + 1] = v as u64;
    }
    /// FPR i (doubleword 0 of VSR i).
    pub fn fpr(&self, i: usize) -> u64 {
        self.0[VSR + 2 * i]
    }
    pub fn vscr(&self) -> u32 {
        self.0[VSCR + 1] as u32
    }
    pub fn set_vscr(&mut self, v: u32) {
        self.0[VSCR] = 0;
        self.0[VSCR + 1] = v as u64;
    }
}

/// Name of state word `i`.
pub fn word_name(i: usize) -> String {
    match i {
        0..=31 => format!("r{i}"),
        CR => "cr".into(),
        XER => "xer".into(),
        LR => "lr".into(),
        CTR => "ctr".into(),
        SIG => "signal".into(),
        FPSCR => "fpscr".into(),
        38 => "vscr.dw0".into(),
        39 => "vscr".into(),
        _ => {
            let v = (i - VSR) / 2;
            format!("vs{v}.dw{}", (i - VSR) % 2)
        }
    }
}

/// Formats the words of `s` selected by `parts` compactly (8 per line).
pub fn show(s: &State, parts: Parts) -> String {
    let mut out = String::new();
    for i in 0..parts.words() {
        let _ = write!(out, "{:>9}={:016x}", word_name(i), s.0[i]);
        out.push(if i % 4 == 3 { '\n' } else { ' ' });
    }
    out.push('\n');
    out
}

/// Lines describing where `a` and `b` differ under `mask`.
pub fn diff(a: &State, b: &State, mask: &State, parts: Parts) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..parts.words() {
        let x = (a.0[i] ^ b.0[i]) & mask.0[i];
        if x != 0 {
            v.push(format!(
                "{:>9}: ours {:016x}  qemu {:016x}  (differing bits {:016x}, compared {:016x})",
                word_name(i),
                a.0[i],
                b.0[i],
                x,
                mask.0[i]
            ));
        }
    }
    v
}
