//! Case generators for the QEMU differential tests, by instruction family.

use super::{Case, Diff, MEMBASE, diff_all, tools_present};
use crate::fpvec::fpscr;

/// xorshift64* generator (deterministic per seed).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(crate) fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub(crate) fn reg(&mut self) -> u32 {
        self.below(32) as u32
    }
}

/// An "interesting" double.
pub(crate) fn f64_val(r: &mut Rng) -> u64 {
    let sign = if r.chance(50) { 1u64 << 63 } else { 0 };
    let frac = r.next() & 0x000F_FFFF_FFFF_FFFF;
    let v = match r.below(24) {
        0 => 0,
        1 => 0x7FF0_0000_0000_0000,
        2 => 0x7FF8_0000_0000_0000 | (frac & 0x7_FFFF_FFFF_FFFF),
        3 => 0x7FF0_0000_0000_0000 | (frac & 0x7_FFFF_FFFF_FFFF).max(1),
        4 => frac.max(1),
        5 => 0x0010_0000_0000_0000 | (frac & 0xFF),
        6 => 0x7FEF_FFFF_FFFF_FFFF - (frac & 0xFF),
        7 => 0x3FF0_0000_0000_0000,
        8 => 0x3FF0_0000_0000_0000 | (frac & 0xF),
        // single-representable values, including single denormals and near-overflow
        9 | 10 => {
            let e = 1023 - 150 + r.below(300);
            (e << 52) | (frac & 0x000F_FFFF_E000_0000)
        }
        // near the integer conversion limits
        11 => ((1023 + 30 + r.below(3)) << 52) | (frac & 0xFFFF_FFFF_F000_0000),
        12 => ((1023 + 62 + r.below(3)) << 52) | (frac & 0xFFFF_FFFF_FFFF_F000),
        // small integers and halves
        13 => {
            let n = (r.below(64) as f64) * 0.5;
            n.to_bits() & !(1u64 << 63)
        }
        14 => ((1023 - 1022 + r.below(60)) << 52) | frac,
        15 => ((1023 + 960 + r.below(64)) << 52) | frac,
        16 => ((1023 - 140 + r.below(30)) << 52) | frac,
        _ => ((1023 - 40 + r.below(80)) << 52) | frac,
    };
    v | sign
}

/// An "interesting" single.
pub(crate) fn f32_val(r: &mut Rng) -> u32 {
    let sign = if r.chance(50) { 1u32 << 31 } else { 0 };
    let frac = (r.next() as u32) & 0x7F_FFFF;
    let v = match r.below(16) {
        0 => 0,
        1 => 0x7F80_0000,
        2 => 0x7FC0_0000 | (frac & 0x3F_FFFF),
        3 => 0x7F80_0000 | (frac & 0x3F_FFFF).max(1),
        4 => frac.max(1),
        5 => 0x0080_0000 | (frac & 0xF),
        6 => 0x7F7F_FFFF - (frac & 0xF),
        7 => 0x3F80_0000,
        8 => ((127 + 30 + r.below(3) as u32) << 23) | frac,
        9 => {
            let n = (r.below(64) as f32) * 0.5;
            n.to_bits()
        }
        10 => ((1 + r.below(30) as u32) << 23) | frac,
        _ => ((127 - 20 + r.below(40) as u32) << 23) | frac,
    };
    v | sign
}

/// A valid random FPSCR (no pending enabled exception, so loading it cannot trap).
pub(crate) fn fpscr_val(r: &mut Rng, enables: bool) -> u64 {
    let mut f = r.below(4);
    if r.chance(30) {
        f |= r.next() & (fpscr::EXC_ALL | fpscr::FX | fpscr::FR | fpscr::FI | fpscr::FPRF);
    }
    if enables && r.chance(15) {
        let en = r.next() & (fpscr::VE | fpscr::OE | fpscr::UE | fpscr::ZE | fpscr::XE);
        // drop the exception bits of the enabled classes
        let mut clear = 0;
        if en & fpscr::VE != 0 {
            clear |= fpscr::VX_ALL;
        }
        clear |= (en & (fpscr::OE | fpscr::UE | fpscr::ZE | fpscr::XE)) << 22;
        f = (f & !clear) | en;
    }
    fpscr::derive(f & fpscr::VALID & !fpscr::DRN)
}

/// A base case with random FP/vector registers, CR and FPSCR.
pub(crate) fn base(r: &mut Rng, enables: bool) -> Case {
    let mut c = Case::default();
    for i in 0..64 {
        c.vsr[i] = ((f64_val(r) as u128) << 64) | f64_val(r) as u128;
    }
    for i in 0..32 {
        c.gpr[i] = r.next();
    }
    c.cr = r.next() & 0xFFFF_FFFF;
    c.fpscr = fpscr_val(r, enables);
    for b in c.mem.iter_mut() {
        *b = r.next() as u8;
    }
    c
}

/// Runs `n` cases from `gen` and fails with the first mismatches.
pub(crate) fn check(
    name: &str,
    n: usize,
    seed: u64,
    d: Diff,
    mut make: impl FnMut(&mut Rng) -> Case,
) {
    assert!(
        tools_present(),
        "the FP/vector differential tests need qemu-ppc64le and powerpc64le-linux-gnu-gcc (./scripts/test installs them)"
    );
    let mut r = Rng::new(seed);
    let cases: Vec<Case> = (0..n).map(|_| make(&mut r)).collect();
    let bad = diff_all(&cases, d);
    if !bad.is_empty() {
        let limit = std::env::var("FPVEC_DIFF_SHOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(25);
        for b in bad.iter().take(limit) {
            eprintln!("{name}: {b}");
        }
        panic!("{name}: {} of {} cases differ from QEMU", bad.len(), n);
    }
}

/// The ISA-vs-QEMU deviations masked for FP arithmetic.
pub(crate) const FP_DIFF: Diff = Diff { fr: true, fx: true };

// ---- classic FP ------------------------------------------------------------------------------------

/// An A-form word with the fields the instruction does not use left zero.
fn a_form(op: u32, xo: u32, r: &mut Rng) -> u32 {
    let (ua, ub, uc) = match xo {
        18 | 20 | 21 => (true, true, false),
        22 | 24 | 26 => (false, true, false),
        25 => (true, false, true),
        _ => (true, true, true),
    };
    (op << 26)
        | (r.reg() << 21)
        | if ua { r.reg() << 16 } else { 0 }
        | if ub { r.reg() << 11 } else { 0 }
        | if uc { r.reg() << 6 } else { 0 }
        | (xo << 1)
        | r.chance(30) as u32
}

fn x_form(op: u32, xo: u32, r: &mut Rng, rc: bool) -> u32 {
    (op << 26)
        | (r.reg() << 21)
        | (r.reg() << 16)
        | (r.reg() << 11)
        | (xo << 1)
        | (rc && r.chance(30)) as u32
}

#[test]
fn fp_arith_vs_qemu() {
    let ops63 = [18u32, 20, 21, 22, 23, 25, 28, 29, 30, 31];
    let ops59 = [18u32, 20, 21, 22, 25, 28, 29, 30, 31];
    check("fp_arith", 20000, 1, FP_DIFF, |r| {
        let mut c = base(r, true);
        c.insn = if r.chance(50) {
            a_form(63, ops63[r.below(ops63.len() as u64) as usize], r)
        } else {
            a_form(59, ops59[r.below(ops59.len() as u64) as usize], r)
        };
        // QEMU rounds the negated value of fnmadd/fnmsub; the ISA negates the rounded
        // result. They differ only in the directed modes toward ±∞.
        if matches!((c.insn >> 1) & 31, 30 | 31) && c.fpscr & 2 != 0 {
            c.fpscr &= !3;
        }
        c
    });
}

#[test]
fn fp_estimates_vs_qemu() {
    check("fp_est", 4000, 2, FP_DIFF, |r| {
        let mut c = base(r, true);
        let xo = if r.chance(50) { 24 } else { 26 };
        c.insn = a_form(if r.chance(50) { 63 } else { 59 }, xo, r);
        // QEMU's fre/fres of ±0 return ±0.5 (the ISA: ±∞ with ZX).
        let b = ((c.insn >> 11) & 31) as usize;
        if xo == 24 && ((c.vsr[b] >> 64) as u64) << 1 == 0 {
            c.vsr[b] |= 1 << 64;
        }
        c
    });
}

#[test]
fn fp_xform_vs_qemu() {
    let xos = [
        0u32, 32, 8, 12, 14, 15, 142, 143, 814, 815, 942, 943, 846, 974, 40, 72, 136, 264, 392,
        424, 456, 488, 838, 966,
    ];
    check("fp_x", 20000, 3, FP_DIFF, |r| {
        let mut c = base(r, true);
        if r.chance(30) {
            // integers for the conversions from integer
            let v = match r.below(4) {
                0 => r.next(),
                1 => r.below(1 << 20),
                2 => (r.next() as i64 >> r.below(63)) as u64,
                _ => 1u64 << r.below(64),
            };
            let i = r.reg() as usize;
            c.vsr[i] = (c.vsr[i] & u64::MAX as u128) | ((v as u128) << 64);
        }
        let xo = xos[r.below(xos.len() as u64) as usize];
        let mut w = x_form(63, xo, r, !matches!(xo, 0 | 32 | 838 | 966));
        if !matches!(xo, 0 | 32 | 8 | 838 | 966) {
            w &= !(31 << 16); // FRA is a reserved field
        }
        if matches!(xo, 0 | 32) {
            w &= !(3 << 21);
        }
        if matches!(xo, 846 | 974) && r.chance(50) {
            w = (w & !(63 << 26)) | (59 << 26);
        }
        c.insn = w;
        c
    });
}

#[test]
fn fp_tests_vs_qemu() {
    check("fp_test", 4000, 4, FP_DIFF, |r| {
        let mut c = base(r, false);
        let xo = if r.chance(50) { 128 } else { 160 };
        c.insn =
            (63 << 26) | (r.below(8) as u32) << 23 | (r.reg() << 16) | (r.reg() << 11) | (xo << 1);
        c
    });
}

#[test]
fn fpscr_ops_vs_qemu() {
    check("fpscr", 8000, 5, FP_DIFF, |r| {
        let mut c = base(r, false);
        c.insn = match r.below(8) {
            0 => (63 << 26) | (r.reg() << 21) | (583 << 1) | r.chance(30) as u32,
            1 => {
                let sel = [1u32, 22, 23, 24][r.below(4) as usize];
                (63 << 26) | (r.reg() << 21) | (sel << 16) | (r.reg() << 11) | (583 << 1)
            }
            2 | 3 => {
                // mtfsf: keep the new FPSCR free of enabled exceptions most of the time
                let v = fpscr_val(r, true) & 0xFFFF_FFFF;
                let i = r.reg() as usize;
                c.vsr[i] = (c.vsr[i] & u64::MAX as u128) | ((v as u128) << 64);
                let flm = r.below(256) as u32;
                (63 << 26) | (flm << 17) | ((i as u32) << 11) | (711 << 1) | r.chance(30) as u32
            }
            4 => {
                (63 << 26)
                    | ((r.below(8) as u32) << 23)
                    | ((r.below(16) as u32) << 12)
                    | (134 << 1)
                    | r.chance(30) as u32
            }
            5 | 6 => {
                let xo = if r.chance(50) { 38 } else { 70 };
                (63 << 26) | (r.reg() << 21) | (xo << 1) | r.chance(30) as u32
            }
            _ => (63 << 26) | ((r.below(8) as u32) << 23) | ((r.below(8) as u32) << 18) | (64 << 1),
        };
        c
    });
}

#[test]
fn fp_loadstore_vs_qemu() {
    check(
        "fp_mem",
        6000,
        6,
        Diff {
            fr: false,
            fx: false,
        },
        |r| {
            let mut c = base(r, false);
            let ra = 2 + r.below(29) as u32; // not r0/r1
            let mut rb = 2 + r.below(29) as u32;
            if rb == ra {
                rb = if ra == 30 { 29 } else { ra + 1 };
            }
            let t = r.reg();
            // single-precision stores of double values in the single range and denormal range
            if r.chance(50) {
                let v = super::super::fpu::sp_to_dp_bits(f32_val(r));
                c.vsr[t as usize] = (c.vsr[t as usize] & u64::MAX as u128) | ((v as u128) << 64);
            }
            let off = r.below(200);
            if r.chance(50) {
                let op = 48 + r.below(8) as u32;
                c.gpr[ra as usize] = MEMBASE + off;
                let d = r.below(40) as u32;
                c.insn = (op << 26) | (t << 21) | (ra << 16) | d;
            } else {
                let xos = [535u32, 567, 599, 631, 663, 695, 727, 759, 855, 887, 983];
                let xo = xos[r.below(xos.len() as u64) as usize];
                c.gpr[ra as usize] = MEMBASE;
                c.gpr[rb as usize] = off;
                c.insn = (31 << 26) | (t << 21) | (ra << 16) | (rb << 11) | (xo << 1);
            }
            c
        },
    );
}

// ---- VSX ------------------------------------------------------------------------------------------

/// Fills the VSRs with interesting doubles or singles (per register, at random).
fn vsx_regs(r: &mut Rng, c: &mut Case) {
    for i in 0..64 {
        c.vsr[i] = if r.chance(50) {
            ((f64_val(r) as u128) << 64) | f64_val(r) as u128
        } else {
            super::super::vsx::words([f32_val(r), f32_val(r), f32_val(r), f32_val(r)])
        };
    }
}

fn xx3(xo: u32, r: &mut Rng) -> u32 {
    (60 << 26)
        | (r.reg() << 21)
        | (r.reg() << 16)
        | (r.reg() << 11)
        | (xo << 3)
        | (r.below(8) as u32)
}

fn xx2(xo: u32, r: &mut Rng) -> u32 {
    (60 << 26) | (r.reg() << 21) | (r.reg() << 11) | (xo << 2) | (r.below(4) as u32)
}

const XX3_FP: &[u32] = &[
    0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 129, 137, 145, 153, 33, 41, 49, 57, 161, 169, 177,
    185, 3, 11, 19, 128, 136, 144, 152, 160, 168, 64, 72, 80, 88, 96, 104, 112, 120, 65, 73, 81,
    89, 193, 201, 209, 217, 97, 105, 113, 121, 225, 233, 241, 249, 192, 200, 224, 232, 99, 107,
    115, 123, 67, 75, 83, 91, 227, 235, 243, 251, 195, 203, 211, 219,
];

const XX2_FP: &[u32] = &[
    75, 11, 90, 26, 74, 10, 281, 73, 89, 105, 121, 107, 376, 360, 312, 296, 329, 265, 267, 331,
    344, 328, 88, 72, 203, 139, 218, 154, 202, 138, 201, 217, 233, 249, 235, 137, 153, 169, 185,
    171, 393, 457, 472, 456, 216, 200, 408, 392, 152, 136, 504, 488, 440, 424, 248, 232, 184, 168,
];

#[test]
fn vsx_fp_vs_qemu() {
    check("vsx_fp", 30000, 11, FP_DIFF, |r| {
        let mut c = base(r, true);
        vsx_regs(r, &mut c);
        if r.chance(15) {
            // integers for the integer → float conversions
            let i = r.below(64) as usize;
            c.vsr[i] = ((r.next() as u128) << 64) | r.next() as u128;
        }
        c.insn = if r.chance(55) {
            xx3(XX3_FP[r.below(XX3_FP.len() as u64) as usize], r)
        } else {
            xx2(XX2_FP[r.below(XX2_FP.len() as u64) as usize], r)
        };
        // nm* FMA forms: QEMU rounds the negated value (see fp_arith_vs_qemu).
        let xo8 = (c.insn >> 3) & 0xFF;
        if (c.insn >> 4) & 3 != 3 && matches!(xo8 & 7, 1) && xo8 >= 128 && c.fpscr & 2 != 0 {
            c.fpscr &= !3;
        }
        let xo9 = (c.insn >> 2) & 0x1FF;
        let xo8 = (c.insn >> 3) & 0xFF;
        let b = (((c.insn >> 11) & 31) | ((c.insn >> 1) & 1) << 5) as usize;
        let is_xx2 = !XX3_FP.contains(&xo8);
        // QEMU gives 0x7FFF_FFFF/all-ones for some NaN inputs of the vector converts to
        // integer (the ISA: the most negative value / 0): keep NaNs out of those.
        if is_xx2 && matches!(xo9, 136 | 152 | 200 | 216 | 392 | 408 | 456 | 472) {
            let mut ws = [0u32; 4];
            for (i, w) in ws.iter_mut().enumerate() {
                let x = super::super::vsx::word(c.vsr[b], i);
                *w = if (x & 0x7FFF_FFFF) > 0x7F80_0000 {
                    x & 0x807F_FFFF
                } else {
                    x
                };
            }
            c.vsr[b] = super::super::vsx::words(ws);
            for d in 0..2 {
                let sh = 64 * (1 - d);
                let x = (c.vsr[b] >> sh) as u64;
                if x & 0x7FFF_FFFF_FFFF_FFFF > 0x7FF0_0000_0000_0000 {
                    let y = (x & 0x800F_FFFF_FFFF_FFFF) as u128;
                    c.vsr[b] = (c.vsr[b] & !((u64::MAX as u128) << sh)) | (y << sh);
                }
            }
        }
        // QEMU misses ZX for the reciprocal estimates of zero.
        if is_xx2 && matches!(xo9, 90 | 26 | 218 | 154 | 74 | 10 | 202 | 138) {
            c.vsr[b] |= (1 << 64) | 1 | (1 << 32) | (1 << 96);
        }
        // QEMU raises UX for denormal max/min results and defers vector compare traps:
        // no enables for those.
        if !is_xx2
            && (matches!(xo8, 192 | 200 | 224 | 232)
                || matches!(xo8 & 0x7F, 67 | 75 | 83 | 91 | 99 | 107 | 115 | 123))
        {
            c.fpscr &= !(fpscr::VE | fpscr::OE | fpscr::UE | fpscr::ZE | fpscr::XE);
            c.fpscr = fpscr::derive(c.fpscr);
        }
        c
    });
}

#[test]
fn vsx_misc_vs_qemu() {
    check("vsx_misc", 20000, 12, FP_DIFF, |r| {
        let mut c = base(r, false);
        vsx_regs(r, &mut c);
        for g in c.gpr.iter_mut() {
            *g = f64_val(r);
        }
        let xx3_ops = [
            35u32, 43, 59, 61, 125, 93, 176, 208, 240, 216, 248, 130, 138, 146, 154, 162, 170, 178,
            186, 18, 50, 26, 58, 2, 34, 66, 98, 10, 42, 74, 106,
        ];
        let xx2_ops = [
            // (xststdcsp 298 is unit-tested: QEMU matches every single-denormal-range value
            // whatever DCMX says)
            345u32, 361, 377, 106, 234, 170, 164, 165, 181, 362, 490, 491, 506, 507, 426, 427, 442,
            443,
        ];
        c.insn = match r.below(10) {
            0..=3 => {
                let mut w = xx3(xx3_ops[r.below(xx3_ops.len() as u64) as usize], r);
                if matches!((w >> 3) & 0xFF, 35 | 43 | 59 | 61 | 125 | 93) {
                    w &= !(3 << 21); // BF field: bits 9:10 reserved
                    w &= !1;
                }
                w
            }
            4..=6 => {
                let xo = xx2_ops[r.below(xx2_ops.len() as u64) as usize];
                let mut w = xx2(xo, r) | (r.reg() << 16);
                match xo {
                    164 => w &= !(7 << 18),
                    165 | 181 => {
                        w &= !(1 << 20);
                        // UIM > 12 is undefined; QEMU's xxinsertw then differs from the
                        // byte-wrapping we share with its xxextractuw
                        if xo == 181 || r.chance(90) {
                            w = (w & !(15 << 16)) | ((r.below(13) as u32) << 16);
                        }
                    }
                    345 | 361 | 377 => w &= !(31 << 16),
                    106 | 234 | 170 => w &= !((3 << 21) | (31 << 16) | 1),
                    362 | 298 => w &= !1,
                    _ => {}
                }
                w
            }
            7 => {
                let sub = [0u32, 1, 7, 8, 9, 15, 23, 24, 25, 31][r.below(10) as usize];
                xx2(475, r) | (sub << 16)
            }
            8 => {
                let sub = [0u32, 1, 16, 17][r.below(4) as usize];
                let mut w = xx2(347, r) | (sub << 16);
                if sub < 2 {
                    w &= !1;
                }
                w
            }
            _ => {
                if r.chance(50) {
                    // xxsel
                    (60 << 26)
                        | (r.reg() << 21)
                        | (r.reg() << 16)
                        | (r.reg() << 11)
                        | (r.reg() << 6)
                        | (3 << 4)
                        | (r.below(16) as u32)
                } else if r.chance(50) {
                    (60 << 26)
                        | (r.reg() << 21)
                        | ((r.below(256) as u32) << 11)
                        | (360 << 1)
                        | (r.below(2) as u32)
                } else {
                    // xsiexpdp
                    (60 << 26)
                        | (r.reg() << 21)
                        | ((2 + r.below(30) as u32) << 16)
                        | ((2 + r.below(30) as u32) << 11)
                        | (918 << 1)
                        | r.below(2) as u32
                }
            }
        };
        c
    });
}

#[test]
fn vsx_mem_vs_qemu() {
    check(
        "vsx_mem",
        15000,
        13,
        Diff {
            fr: false,
            fx: false,
        },
        |r| {
            let mut c = base(r, false);
            vsx_regs(r, &mut c);
            let ra = 2 + r.below(29) as u32;
            let mut rb = 2 + r.below(29) as u32;
            if rb == ra {
                rb = if ra == 30 { 29 } else { ra + 1 };
            }
            let t = r.reg();
            let tx = r.below(2) as u32;
            let off = r.below(200);
            let xos = [
                12u32, 76, 524, 588, 844, 332, 780, 812, 876, 268, 364, 781, 813, 140, 652, 716,
                972, 908, 940, 1004, 396, 909, 941, 269, 301, 397, 429, 51, 115, 179, 211, 243,
                307, 403, 435,
            ];
            match r.below(6) {
                0..=3 => {
                    let xo = xos[r.below(xos.len() as u64) as usize];
                    let mut rb = rb;
                    if matches!(xo, 269 | 301 | 397 | 429) {
                        c.gpr[ra as usize] = MEMBASE + off.min(100);
                        c.gpr[rb as usize] = (r.below(20)) << 56 | (r.next() >> 8);
                    } else if matches!(xo, 51 | 115 | 307 | 179 | 211 | 243 | 403) {
                        rb = 0;
                    } else if xo == 435 {
                        // mtvsrdd: RA may be 0
                    } else {
                        c.gpr[ra as usize] = MEMBASE;
                        c.gpr[rb as usize] = off;
                    }
                    c.insn = (31 << 26) | (t << 21) | (ra << 16) | (rb << 11) | (xo << 1) | tx;
                }
                4 => {
                    // lxsd/lxssp (op 57) stxsd/stxssp (op 61)
                    c.gpr[ra as usize] = MEMBASE + off;
                    let op = if r.chance(50) { 57 } else { 61 };
                    let xo = 2 + r.below(2) as u32;
                    c.insn = (op << 26) | (t << 21) | (ra << 16) | ((r.below(10) as u32) << 2) | xo;
                }
                _ => {
                    // lxv/stxv
                    c.gpr[ra as usize] = MEMBASE + off.min(180);
                    let xo = if r.chance(50) { 1 } else { 5 };
                    c.insn = (61 << 26)
                        | (t << 21)
                        | (ra << 16)
                        | ((r.below(4) as u32) << 4)
                        | (tx << 3)
                        | xo;
                }
            }
            c
        },
    );
}

// ---- VMX ------------------------------------------------------------------------------------------

const VX_XO: &[u32] = &[
    0, 64, 128, 192, 256, 320, 384, 1024, 1088, 1152, 1216, 1280, 1344, 1408, 512, 576, 640, 768,
    832, 896, 1536, 1600, 1664, 1792, 1856, 1920, 2, 66, 130, 194, 258, 322, 386, 450, 514, 578,
    642, 706, 770, 834, 898, 962, 1026, 1090, 1154, 1282, 1346, 1410, 1027, 1091, 1155, 4, 68, 132,
    196, 260, 324, 388, 1476, 516, 580, 644, 1732, 772, 836, 900, 964, 452, 708, 1036, 1100, 1860,
    1796, 1028, 1092, 1156, 1220, 1284, 1348, 1412, 1668, 8, 520, 264, 776, 72, 584, 328, 840, 136,
    648, 392, 904, 137, 1032, 1096, 1160, 1224, 1544, 1800, 1608, 1672, 1928, 12, 268, 76, 332,
    140, 396, 1676, 1932, 14, 78, 1102, 142, 206, 1230, 270, 334, 1358, 398, 462, 1486, 782, 1356,
    1484, 1288, 1289, 1352, 1353, 526, 654, 590, 718, 1614, 1742, 846, 974, 1794, 1858, 1922, 1986,
    1795, 1859, 1923, 1987, 1292, 1480, 1666, 1730, 524, 588, 652, 780, 844, 908, 525, 589, 653,
    717, 781, 845, 909, 973, 133, 389, 453, 1540, 1604, 10, 74, 522, 586, 650, 714, 778, 842, 906,
    970, 1034, 1098,
];

const VC_XO: &[u32] = &[
    6, 70, 134, 199, 7, 71, 135, 263, 327, 391, 518, 582, 646, 711, 774, 838, 902, 967, 198, 454,
    710, 966,
];

#[test]
fn vmx_vs_qemu() {
    check(
        "vmx",
        40000,
        21,
        Diff {
            fr: false,
            fx: false,
        },
        |r| {
            let mut c = base(r, false);
            vsx_regs(r, &mut c);
            for i in 32..64 {
                if r.chance(40) {
                    c.vsr[i] = ((r.next() as u128) << 64) | r.next() as u128;
                }
                if r.chance(10) {
                    // small lanes: equal bytes, zero bytes, shift counts
                    let b = r.below(4) as u128 * 0x0101_0101_0101_0101_0101_0101_0101_0101;
                    c.vsr[i] ^= b & ((r.next() as u128) << 64 | r.next() as u128);
                }
            }
            c.vscr = if r.chance(50) { 0x1_0000 } else { 0 } | r.below(2);
            for g in c.gpr.iter_mut() {
                *g = r.below(20);
            }
            let (t, a, b, cc) = (r.reg(), r.reg(), r.reg(), r.reg());
            c.insn = match r.below(10) {
                0 => {
                    let xo = [
                        32u32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 59, 60,
                        61, 62, 63,
                    ][r.below(21) as usize];
                    let cc = if xo == 44 { cc & 15 } else { cc };
                    (4 << 26) | (t << 21) | (a << 16) | (b << 11) | (cc << 6) | xo
                }
                1 => {
                    let xo = VC_XO[r.below(VC_XO.len() as u64) as usize];
                    (4 << 26) | (t << 21) | (a << 16) | (b << 11) | ((r.below(2) as u32) << 10) | xo
                }
                2 => {
                    let sub = [0u32, 1, 6, 7, 8, 9, 10, 16, 17, 24, 25, 26, 28, 29, 30, 31]
                        [r.below(16) as usize];
                    (4 << 26) | (t << 21) | (sub << 16) | (b << 11) | 1538
                }
                3 => {
                    let xo = [1549u32, 1805, 1613, 1869, 1677, 1933][r.below(6) as usize];
                    // RA is a GPR: not r0/r1 (r1 is the runner's stack); an index past the
                    // last whole element is undefined
                    let n = match xo {
                        1549 | 1805 => 1,
                        1613 | 1869 => 2,
                        _ => 4,
                    };
                    let ra = 2 + r.below(30) as u32;
                    c.gpr[ra as usize] = r.below(17 - n);
                    (4 << 26) | (t << 21) | (ra << 16) | (b << 11) | xo
                }
                _ => {
                    let xo = VX_XO[r.below(VX_XO.len() as u64) as usize];
                    let mut a = a;
                    match xo {
                        // UIM fields with reserved high bits
                        524 => a &= 15,
                        588 => a &= 7,
                        652 => a &= 3,
                        525 | 781 => a &= 15,
                        589 | 845 => a &= 14,
                        653 | 909 => a &= 12,
                        717 | 973 => a &= 8,
                        1666 | 1730 => {}
                        526 | 654 | 590 | 718 | 1614 | 1742 | 846 | 974 | 1794 | 1858 | 1922
                        | 1986 | 1795 | 1859 | 1923 | 1987 | 1292 | 522 | 586 | 650 | 714 | 266
                        | 330 | 394 | 458 => a = 0,
                        1480 => {}
                        1540 => a = 0,
                        1604 => a = 0,
                        _ => {}
                    }
                    if matches!(xo, 906 | 970) {
                        let i = 32 + b as usize;
                        let mut ws = [0u32; 4];
                        for (k, wv) in ws.iter_mut().enumerate() {
                            let x = super::super::vsx::word(c.vsr[i], k);
                            *wv = if x & 0x7FFF_FFFF > 0x7F80_0000 { 0 } else { x };
                        }
                        c.vsr[i] = super::super::vsx::words(ws);
                    }
                    let mut w = (4 << 26) | (t << 21) | (a << 16) | (b << 11) | xo;
                    if xo == 1604 {
                        w &= !(31 << 21);
                    }
                    if matches!(xo, 1540) {
                        w &= !(31 << 11);
                    }
                    if matches!(xo, 780 | 844 | 908 | 1604) {
                        w &= !(31 << 16);
                        if xo != 1604 {
                            w |= (r.reg()) << 16;
                            w &= !(31 << 11);
                        }
                    }
                    if xo == 1480 {
                        w &= !(31 << 11);
                    }
                    w
                }
            };
            c
        },
    );
}

#[test]
fn vmx_mem_vs_qemu() {
    check(
        "vmx_mem",
        10000,
        22,
        Diff {
            fr: false,
            fx: false,
        },
        |r| {
            let mut c = base(r, false);
            vsx_regs(r, &mut c);
            let ra = 2 + r.below(29) as u32;
            let mut rb = 2 + r.below(29) as u32;
            if rb == ra {
                rb = if ra == 30 { 29 } else { ra + 1 };
            }
            c.gpr[ra as usize] = MEMBASE;
            c.gpr[rb as usize] = r.below(220);
            let xo = [6u32, 38, 7, 39, 71, 103, 359, 135, 167, 199, 231, 487][r.below(12) as usize];
            c.insn = (31 << 26) | (r.reg() << 21) | (ra << 16) | (rb << 11) | (xo << 1);
            c
        },
    );
}

// ---- quad precision ---------------------------------------------------------------------------------

/// An interesting binary128 value.
fn f128_val(r: &mut Rng) -> u128 {
    let sign = if r.chance(50) { 1u128 << 127 } else { 0 };
    let frac = (((r.next() as u128) << 64) | r.next() as u128) & ((1u128 << 112) - 1);
    let v = match r.below(14) {
        0 => 0,
        1 => 0x7FFF_u128 << 112,
        2 => (0x7FFF_u128 << 112) | (1 << 111) | (frac >> 1),
        3 => (0x7FFF_u128 << 112) | (frac >> 1).max(1),
        4 => frac.max(1),
        5 => (1u128 << 112) | (frac & 0xFF),
        6 => (0x7FFE_u128 << 112) | frac,
        7 => 0x3FFF_u128 << 112,
        8 => {
            // exactly a double
            let d = f64_val(r);
            super::super::fpu::convert(
                &super::super::fpu::Env::new(0),
                super::super::fpu::D,
                super::super::fpu::Q,
                d as u128,
            )
            .bits
        }
        9 => ((0x3FFF + 30 + r.below(36) as u128) << 112) | (frac & !((1u128 << 60) - 1)),
        10 => ((0x3FFF - 20 + r.below(40) as u128) << 112) | (frac & !((1u128 << 40) - 1)),
        _ => ((0x3FFF - 200 + r.below(400) as u128) << 112) | frac,
    };
    v | sign
}

#[test]
fn qp_vs_qemu() {
    check("qp", 20000, 31, FP_DIFF, |r| {
        let mut c = base(r, true);
        for i in 32..64 {
            c.vsr[i] = f128_val(r);
        }
        if r.chance(10) {
            let i = 32 + r.below(32) as usize;
            c.vsr[i] = ((r.next() as u128) << 64) | r.next() as u128;
        }
        let (t, a, b) = (r.reg(), r.reg(), r.reg());
        let ro = r.below(2) as u32;
        c.insn = match r.below(8) {
            0..=2 => {
                let xo = [4u32, 516, 36, 548, 388, 420, 452, 484][r.below(8) as usize];
                (63 << 26) | (t << 21) | (a << 16) | (b << 11) | (xo << 1) | ro
            }
            3 => {
                let xo = [100u32, 868, 164, 132, 644, 708][r.below(6) as usize];
                let mut w = (63 << 26) | (t << 21) | (a << 16) | (b << 11) | (xo << 1);
                if matches!(xo, 164 | 132 | 644) {
                    w &= !(3 << 21);
                }
                w
            }
            4 => {
                let sub = [0u32, 8, 16, 2, 18, 27][r.below(6) as usize];
                let ro = if sub == 27 { ro } else { 0 };
                (63 << 26) | (t << 21) | (sub << 16) | (b << 11) | (804 << 1) | ro
            }
            5 | 6 => {
                let sub = [1u32, 2, 9, 10, 17, 20, 22, 25][r.below(8) as usize];
                let ro = if sub == 20 { ro } else { 0 };
                (63 << 26) | (t << 21) | (sub << 16) | (b << 11) | (836 << 1) | ro
            }
            _ => {
                // R=0/RMC=3 ("use FPSCR[RN]") is excluded: QEMU passes the raw RN value
                // as a softfloat mode (1 and 3 swapped); xsrqpxp (37) likewise goes
                // through QEMU's x87 format and is unit-tested instead.
                let rbit = r.below(2) as u32;
                let rmc = if rbit == 0 { 0 } else { r.below(4) as u32 };
                let xo = 5;
                (63 << 26)
                    | (t << 21)
                    | (rbit << 16)
                    | (b << 11)
                    | (rmc << 9)
                    | (xo << 1)
                    | if xo == 5 { r.below(2) as u32 } else { 0 }
            }
        };
        // nm* FMA forms with directed rounding: see fp_arith_vs_qemu
        let xo = (c.insn >> 1) & 0x3FF;
        if matches!(xo, 452 | 484) && c.fpscr & 2 != 0 {
            c.fpscr &= !3;
        }
        // xsnmsubqpo: QEMU's round-to-odd result differs in the last bit (open item)
        if xo == 484 {
            c.insn &= !1;
        }
        c
    });
}
