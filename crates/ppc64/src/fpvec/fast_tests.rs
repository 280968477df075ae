//! The host fast paths ([`super::fast`]) against the exact engine: millions of random and
//! adversarial operands (cancellation, ties at the double and single rounding positions,
//! window edges, zeros, specials) in every rounding mode, with and without the host-FMA
//! variants, first function by function and then instruction by instruction (the whole
//! architected state after executing each instruction with the fast paths on and off).
//!
//! `PPC64_FAST_SCALE` (default 1) multiplies the case counts.

use super::difftest::cases::Rng;
use super::difftest::{Case, Emu};
use super::fast::{self, ADD, DIV, FMA_NEG, FMA_SUB, MUL, Res, SUB};
use super::fpscr;
use super::fpu::{self, D, Env, Op2, R, S, SD};
use super::soft::Rm;
use super::{FAST, HOST_FMA, host_fma};
use crate::reg::msr;

fn scale() -> u64 {
    std::env::var("PPC64_FAST_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

// ---- operand generators ------------------------------------------------------------------------

fn sign(r: &mut Rng) -> u64 {
    (r.next() & 1) << 63
}

/// A double biased towards what the fast paths must get right.
fn dval(r: &mut Rng) -> u64 {
    let frac = r.next() & 0x000F_FFFF_FFFF_FFFF;
    let exp = |e: i64| ((1023 + e) as u64) << 52;
    let v = match r.below(20) {
        0..=5 => exp(r.below(121) as i64 - 60) | frac,
        // near the fast window's edges and the format's limits
        6 => exp(r.below(50) as i64 - 985) | frac,
        7 => exp(r.below(40) as i64 + 980) | frac,
        8 => ((1 + r.below(2046)) << 52) | frac,
        // few significant bits: exact results, ties
        9 | 10 => {
            let k = r.below(53);
            exp(r.below(61) as i64 - 30) | (frac & !((1u64 << (52 - k.min(52))) - 1))
        }
        // single-representable, single denormals included
        11 | 12 => exp(r.below(290) as i64 - 160) | (frac & 0x000F_FFFF_E000_0000),
        // a few ulps around 1 and powers of two
        13 => {
            let base = exp(r.below(21) as i64 - 10);
            if r.chance(50) {
                base + r.below(4)
            } else {
                base - r.below(4)
            }
        }
        14 => 0,
        15 => match r.below(8) {
            0 => 0x7FF0_0000_0000_0000,
            1 => 0x7FF8_0000_0000_0000 | (frac >> 1),
            2 => 0x7FF0_0000_0000_0000 | (frac >> 1).max(1),
            3 => frac.max(1),
            4 => 0x7FEF_FFFF_FFFF_FFFF,
            5 => 0x0010_0000_0000_0000,
            6 => exp(-960) | (frac & 3),
            _ => exp(1000) | (0x000F_FFFF_FFFF_FFFF - (frac & 3)),
        },
        // integers (conversions)
        16 => (((r.next() >> r.below(64)) as i64) as f64).to_bits(),
        17 => ((r.below(1 << 20) as f64) * 0.5).to_bits(),
        _ => exp(r.below(130) as i64 - 64) | frac,
    };
    v | sign(r)
}

/// A double related to `x`: cancellation, nearby exponents, ties with `x`.
fn related(r: &mut Rng, x: u64) -> u64 {
    let s = sign(r);
    match r.below(6) {
        0 => x ^ (1 << 63),
        1 => (x ^ (1 << 63)).wrapping_add(r.below(5)).wrapping_sub(2),
        2 => {
            // same exponent ± a few, random fraction
            let e = ((x >> 52) & 0x7FF) as i64 + r.below(7) as i64 - 3;
            ((e.clamp(1, 2046) as u64) << 52) | (r.next() & 0x000F_FFFF_FFFF_FFFF) | s
        }
        3 => {
            // half an ulp of x at the double or single position, maybe nudged
            let e = ((x >> 52) & 0x7FF) as i64 - if r.chance(50) { 53 } else { 24 };
            let nudge = if r.chance(50) { r.next() & 0xF } else { 0 };
            ((e.clamp(1, 2046) as u64) << 52) | nudge | s
        }
        4 => x.wrapping_add(r.below(3)),
        _ => dval(r),
    }
}

/// A single biased like [`dval`].
fn sval(r: &mut Rng) -> u32 {
    let frac = (r.next() as u32) & 0x7F_FFFF;
    let exp = |e: i32| ((127 + e) as u32) << 23;
    let v = match r.below(16) {
        0..=6 => exp(r.below(41) as i32 - 20) | frac,
        7 => ((1 + r.below(254) as u32) << 23) | frac,
        8 => {
            let k = r.below(24) as u32;
            exp(r.below(41) as i32 - 20) | (frac & !((1u32 << (23 - k.min(23))) - 1))
        }
        9 => exp(r.below(12) as i32 - 127) | frac,
        10 => exp(r.below(12) as i32 + 116) | frac,
        11 => 0,
        12 => frac.max(1),
        13 => match r.below(4) {
            0 => 0x7F80_0000,
            1 => 0x7FC0_0000 | (frac >> 1),
            2 => 0x7F80_0000 | (frac >> 1).max(1),
            _ => 0x7F7F_FFFF,
        },
        14 => (((r.next() >> r.below(64)) as i32) as f32).to_bits(),
        _ => exp(r.below(61) as i32 - 30) | frac,
    };
    v | ((r.next() as u32 & 1) << 31)
}

fn srelated(r: &mut Rng, x: u32) -> u32 {
    match r.below(4) {
        0 => x ^ (1 << 31),
        1 => (x ^ (1 << 31))
            .wrapping_add(r.below(5) as u32)
            .wrapping_sub(2),
        2 => {
            let e = ((x >> 23) & 0xFF) as i32 + r.below(7) as i32 - 3;
            ((e.clamp(1, 254) as u32) << 23) | (r.next() as u32 & 0x7F_FFFF) | (x & 1 << 31)
        }
        _ => sval(r),
    }
}

/// An exponent at which results change class: the single and double tiny and overflow
/// thresholds, the fast window's edges, the integer conversion limits.
fn boundary(r: &mut Rng) -> i32 {
    const B: [i32; 16] = [
        -1022, -1021, -961, -960, -959, -127, -126, -125, 0, 31, 63, 127, 128, 999, 1000, 1001,
    ];
    B[r.below(B.len() as u64) as usize]
}

/// `x` moved by a few ulps either way.
fn nudge(r: &mut Rng, x: f64) -> u64 {
    let k = r.below(4);
    if r.chance(50) {
        x.to_bits().wrapping_add(k)
    } else {
        x.to_bits().wrapping_sub(k)
    }
}

/// A second operand that puts `a op b` within a few ulps of a power of two at a
/// [`boundary`] (the cases where tininess, overflow or the window decide).
fn toward(r: &mut Rng, a: u64) -> u64 {
    let p = 2f64.powi(boundary(r)) * if r.chance(50) { 1.0 } else { -1.0 };
    let x = f64::from_bits(a);
    match r.below(3) {
        0 => nudge(r, p / x),
        1 => nudge(r, x / p),
        _ => nudge(r, p - x),
    }
}

/// A random FPSCR: rounding mode, enables, sticky bits (not always derived consistently).
fn fpscr_any(r: &mut Rng) -> u64 {
    let mut f = r.below(4);
    if r.chance(40) {
        f |= r.next() & (fpscr::EXC_ALL | fpscr::FX | fpscr::FR | fpscr::FI | fpscr::FPRF);
    }
    if r.chance(30) {
        f |= r.next() & (fpscr::VE | fpscr::OE | fpscr::UE | fpscr::ZE | fpscr::XE);
    }
    if r.chance(80) {
        f = fpscr::derive(f);
    } else {
        f |= r.next() & (fpscr::VX | fpscr::FEX);
    }
    f & fpscr::VALID
}

// ---- function-level comparisons ----------------------------------------------------------------

#[derive(Default)]
struct Tally {
    total: u64,
    hits: u64,
}

impl Tally {
    fn check(&mut self, what: &str, fast: Option<Res>, slow: R, ctx: &dyn Fn() -> String) {
        self.total += 1;
        if let Some(f) = fast {
            self.hits += 1;
            assert_eq!(
                f.bits as u128,
                slow.bits,
                "{what}: bits {:#x} vs {:#x}: {}",
                f.bits,
                slow.bits,
                ctx()
            );
            assert_eq!(f.status(), slow.st, "{what}: status: {}", ctx());
        }
    }
    fn rate(&self) -> f64 {
        self.hits as f64 / self.total.max(1) as f64
    }
}

fn op2(k: u8) -> Op2 {
    match k {
        ADD => Op2::Add,
        SUB => Op2::Sub,
        MUL => Op2::Mul,
        _ => Op2::Div,
    }
}

fn arith_fast<const K: u8>(sp: bool, hw: bool, a: u64, b: u64, rm: u64) -> Option<Res> {
    match (sp, hw) {
        (false, false) => fast::arith::<K, false, false>(a, b, rm),
        (false, true) => fast::arith::<K, false, true>(a, b, rm),
        (true, false) => fast::arith::<K, true, false>(a, b, rm),
        (true, true) => fast::arith::<K, true, true>(a, b, rm),
    }
}

fn fma_fast<const K: u8>(sp: bool, hw: bool, a: u64, c: u64, b: u64, rm: u64) -> Option<Res> {
    match (sp, hw) {
        (false, false) => fast::fma::<K, false, false>(a, c, b, rm),
        (false, true) => fast::fma::<K, false, true>(a, c, b, rm),
        (true, false) => fast::fma::<K, true, false>(a, c, b, rm),
        (true, true) => fast::fma::<K, true, true>(a, c, b, rm),
    }
}

/// A vector kernel's result as a value.
fn xv(f: impl FnOnce(&mut u128) -> Option<bool>) -> Option<(u128, bool)> {
    let mut v = 0;
    f(&mut v).map(|ix| (v, ix))
}

fn hw_modes() -> Vec<bool> {
    if host_fma() {
        vec![false, true]
    } else {
        vec![false]
    }
}

/// Scalar arithmetic and square root on double-format operands (double and single
/// results), every rounding mode.
#[test]
fn fast_scalar_arith_matches_exact_engine() {
    let mut r = Rng::new(0xFA57_0001);
    let mut t = Tally::default();
    let n = 120_000 * scale();
    for i in 0..n {
        let a = dval(&mut r);
        let b = match i % 6 {
            0 | 2 | 4 => related(&mut r, a),
            1 => toward(&mut r, a),
            _ => dval(&mut r),
        };
        let f = fpscr_any(&mut r);
        let env = Env::new(f);
        let hw = i % 3 != 0 && host_fma();
        let sp = i % 4 >= 2;
        let fout = if sp { SD } else { D };
        let ctx = || format!("a={a:#x} b={b:#x} fpscr={f:#x} sp={sp} hw={hw}");
        macro_rules! one {
            ($k:expr) => {
                t.check(
                    "arith",
                    arith_fast::<$k>(sp, hw, a, b, f),
                    fpu::arith2(&env, D, fout, op2($k), a as u128, b as u128),
                    &ctx,
                );
            };
        }
        one!(ADD);
        one!(SUB);
        one!(MUL);
        one!(DIV);
        let sq = if i % 4 == 1 {
            // close to the square of a boundary power of two
            let p = 2f64.powi(boundary(&mut r)).powi(2);
            nudge(&mut r, p) & !(1 << 63)
        } else {
            a & !(1 << 63)
        };
        let fast = match (sp, hw) {
            (false, false) => fast::sqrt::<false, false>(sq, f),
            (false, true) => fast::sqrt::<false, true>(sq, f),
            (true, false) => fast::sqrt::<true, false>(sq, f),
            (true, true) => fast::sqrt::<true, true>(sq, f),
        };
        t.check("sqrt", fast, fpu::sqrt(&env, D, fout, sq as u128), &|| {
            format!("sqrt {sq:#x} fpscr={f:#x} sp={sp}")
        });
    }
    assert!(t.total >= 5 * n);
    assert!(t.rate() > 0.55, "fast paths taken for {:.2}", t.rate());
}

/// An addend that cancels most of `a × c` (or is otherwise related to it).
fn addend(r: &mut Rng, a: u64, c: u64) -> u64 {
    let p = f64::from_bits(a) * f64::from_bits(c);
    match r.below(8) {
        0 | 1 => (-p).to_bits().wrapping_add(r.below(5)).wrapping_sub(2),
        2 => (-p).to_bits() ^ (r.next() & 0xFFF),
        3 => related(&mut *r, p.to_bits()),
        4 => {
            // a tie or a near tie of the double/single rounding of a × c + b
            let e = ((p.to_bits() >> 52) & 0x7FF) as i64 - if r.chance(50) { 53 } else { 24 };
            ((e.clamp(1, 2046) as u64) << 52) | (r.next() & 3) | sign(r)
        }
        _ => dval(r),
    }
}

/// Fused multiply-add in its four forms, double and single results, every rounding mode,
/// with heavy cancellation and ties.
#[test]
fn fast_fma_matches_exact_engine() {
    let mut r = Rng::new(0xFA57_0002);
    let mut t = Tally::default();
    let n = 150_000 * scale();
    for i in 0..n {
        let a = dval(&mut r);
        let c = match i % 5 {
            0 => related(&mut r, a),
            1 => {
                let p = 2f64.powi(boundary(&mut r));
                nudge(&mut r, p / f64::from_bits(a))
            }
            _ => dval(&mut r),
        };
        let b = addend(&mut r, a, c);
        let f = fpscr_any(&mut r);
        let env = Env::new(f);
        let hw = i % 3 != 0 && host_fma();
        let sp = i % 4 == 3;
        let fout = if sp { SD } else { D };
        macro_rules! one {
            ($k:expr) => {
                let sub = $k & FMA_SUB != 0;
                let neg = $k & FMA_NEG != 0;
                t.check(
                    "fma",
                    fma_fast::<$k>(sp, hw, a, c, b, f),
                    fpu::fma(&env, D, fout, a as u128, c as u128, b as u128, sub, neg),
                    &|| {
                        format!(
                            "k={} a={a:#x} c={c:#x} b={b:#x} fpscr={f:#x} sp={sp} hw={hw}",
                            $k
                        )
                    },
                );
            };
        }
        one!(0);
        one!(1);
        one!(2);
        one!(3);
    }
    assert!(t.rate() > 0.45, "fast paths taken for {:.2}", t.rate());
}

/// Vector arithmetic, FMA and square root on 2 doubles / 4 singles, compared element by
/// element (result bits and the union of the exception bits).
#[test]
fn fast_vector_matches_exact_engine() {
    let mut r = Rng::new(0xFA57_0003);
    let n = 40_000 * scale();
    let (mut hits, mut total) = (0u64, 0u64);
    for i in 0..n {
        let f = if i % 3 == 0 {
            // the state in which only the results matter
            fpscr::derive((fpscr_any(&mut r) & !(fpscr::RN | fpscr::XE)) | fpscr::XX)
        } else {
            fpscr_any(&mut r)
        };
        let lazy = fast::result_only(f);
        let env = Env::new(f);
        let sp = i % 2 == 0;
        let (fmt, lanes) = if sp { (S, 4) } else { (D, 2) };
        let mut v = [0u128; 3];
        for l in 0..lanes {
            let (a, c, b) = if sp {
                let a = sval(&mut r);
                let c = srelated(&mut r, a);
                let b = if r.chance(50) {
                    srelated(&mut r, a)
                } else {
                    let p = f32::from_bits(a) * f32::from_bits(c);
                    srelated(&mut r, (-p).to_bits())
                };
                (a as u128, c as u128, b as u128)
            } else {
                let a = dval(&mut r);
                let c = related(&mut r, a);
                let b = if r.chance(50) {
                    related(&mut r, a)
                } else {
                    addend(&mut r, a, c)
                };
                (a as u128, c as u128, b as u128)
            };
            let sh = if sp { 96 - 32 * l } else { 64 - 64 * l };
            v[0] |= a << sh;
            v[1] |= c << sh;
            v[2] |= b << sh;
        }
        let elem = |x: u128, l: u32| -> u128 {
            if sp {
                (x >> (96 - 32 * l)) as u32 as u128
            } else {
                (x >> (64 - 64 * l)) as u64 as u128
            }
        };
        // The exact engine, element by element.
        let slow = |g: &dyn Fn(u128, u128, u128) -> R| -> (u128, u64) {
            let mut out = 0u128;
            let mut exc = 0;
            for l in 0..lanes {
                let x = g(elem(v[0], l), elem(v[1], l), elem(v[2], l));
                let sh = if sp { 96 - 32 * l } else { 64 - 64 * l };
                out |= x.bits << sh;
                exc |= x.st.exc;
            }
            (out, exc)
        };
        let cmp = |what: &str, fast: Option<(u128, bool)>, s: (u128, u64)| -> bool {
            if let Some((bits, inexact)) = fast {
                assert_eq!(bits, s.0, "{what} {v:x?} fpscr={f:#x}");
                if lazy {
                    // The status is decided: only inexact may occur, and whether it did
                    // changes nothing.
                    assert_eq!(s.1 & !fpscr::XX, 0, "{what} {v:x?} fpscr={f:#x}");
                } else {
                    assert_eq!(
                        if inexact { fpscr::XX } else { 0 },
                        s.1,
                        "{what} {v:x?} fpscr={f:#x}"
                    );
                }
                true
            } else {
                false
            }
        };
        for hw in hw_modes() {
            macro_rules! bin {
                ($k:expr) => {
                    let fast = match (sp, hw) {
                        (false, false) => {
                            xv(|o| fast::xv_arith::<$k, false, false>(v[0], v[1], f, o))
                        }
                        (false, true) => {
                            xv(|o| fast::xv_arith::<$k, false, true>(v[0], v[1], f, o))
                        }
                        (true, false) => {
                            xv(|o| fast::xv_arith::<$k, true, false>(v[0], v[1], f, o))
                        }
                        (true, true) => xv(|o| fast::xv_arith::<$k, true, true>(v[0], v[1], f, o)),
                    };
                    let s = slow(&|a, c, _| fpu::arith2(&env, fmt, fmt, op2($k), a, c));
                    hits += cmp("xv_arith", fast, s) as u64;
                    total += 1;
                };
            }
            bin!(ADD);
            bin!(SUB);
            bin!(MUL);
            bin!(DIV);
            macro_rules! fma {
                ($k:expr) => {
                    let fast = match (sp, hw) {
                        (false, false) => {
                            xv(|o| fast::xv_fma::<$k, false, false>(v[0], v[1], v[2], f, o))
                        }
                        (false, true) => {
                            xv(|o| fast::xv_fma::<$k, false, true>(v[0], v[1], v[2], f, o))
                        }
                        (true, false) => {
                            xv(|o| fast::xv_fma::<$k, true, false>(v[0], v[1], v[2], f, o))
                        }
                        (true, true) => {
                            xv(|o| fast::xv_fma::<$k, true, true>(v[0], v[1], v[2], f, o))
                        }
                    };
                    let s = slow(&|a, c, b| {
                        fpu::fma(
                            &env,
                            fmt,
                            fmt,
                            a,
                            c,
                            b,
                            $k & FMA_SUB != 0,
                            $k & FMA_NEG != 0,
                        )
                    });
                    hits += cmp("xv_fma", fast, s) as u64;
                    total += 1;
                };
            }
            fma!(0);
            fma!(1);
            fma!(2);
            fma!(3);
            let fast = match (sp, hw) {
                (false, false) => xv(|o| fast::xv_sqrt::<false, false>(v[0], f, o)),
                (false, true) => xv(|o| fast::xv_sqrt::<false, true>(v[0], f, o)),
                (true, false) => xv(|o| fast::xv_sqrt::<true, false>(v[0], f, o)),
                (true, true) => xv(|o| fast::xv_sqrt::<true, true>(v[0], f, o)),
            };
            let s = slow(&|a, _, _| fpu::sqrt(&env, fmt, fmt, a));
            hits += cmp("xv_sqrt", fast, s) as u64;
            total += 1;
        }
    }
    assert!(
        hits as f64 / total as f64 > 0.2,
        "fast paths taken for {hits} of {total}"
    );
}

/// Conversions: integer → double/single, double → single, double/single → integer.
#[test]
fn fast_conversions_match_exact_engine() {
    let mut r = Rng::new(0xFA57_0004);
    let mut t = Tally::default();
    let n = 150_000 * scale();
    for i in 0..n {
        let f = fpscr_any(&mut r);
        let env = Env::new(f);
        let envz = Env::with_rm(f, Rm::Zero);
        // integer → float
        let v = match i % 4 {
            0 => r.next(),
            1 => r.next() >> r.below(64),
            2 => (r.next() >> r.below(64)) | (1 << 63),
            _ => ((r.next() >> 11) << r.below(12)) & !(r.next() >> r.below(64)),
        };
        for (neg, mag, iv) in [
            ((v as i64) < 0, (v as i64).unsigned_abs(), v as i64 as i128),
            (false, v, v as i128),
        ] {
            let ctx = || format!("int {iv:#x} fpscr={f:#x}");
            t.check(
                "from_int D",
                fast::from_int::<53>(neg, mag, f),
                fpu::from_int(&env, D, iv),
                &ctx,
            );
            t.check(
                "from_int S",
                fast::from_int::<24>(neg, mag, f),
                fpu::from_int(&env, S, iv),
                &ctx,
            );
        }
        // double → single
        let x = if i % 3 == 2 {
            let p = 2f64.powi(boundary(&mut r)) * if r.chance(50) { 1.5 } else { -1.0 };
            nudge(&mut r, p)
        } else if i % 2 == 0 {
            dval(&mut r)
        } else {
            // single rounding boundaries
            let s = sval(&mut r) as u64;
            fpu::sp_to_dp_bits(s as u32).wrapping_add((r.next() >> 35) * r.below(3))
        };
        t.check(
            "d_to_s",
            fast::d_to_s(x, f),
            fpu::convert(&env, D, S, x as u128),
            &|| format!("d_to_s {x:#x} fpscr={f:#x}"),
        );
        // double → integer, both rounding sources
        let y = match i % 4 {
            0 => fpu::sp_to_dp_bits(sval(&mut r)),
            1 => {
                let p = 2f64.powi(boundary(&mut r).clamp(-2, 64));
                let p = if r.chance(50) { p } else { -p };
                let h = (r.below(3) as f64 - 1.0) * 0.5;
                nudge(&mut r, p + h)
            }
            _ => dval(&mut r),
        };
        // round to integral, the four modes and ties away
        for (m, rm) in [
            (0u8, Rm::Nearest),
            (1, Rm::Zero),
            (2, Rm::Up),
            (3, Rm::Down),
            (4, Rm::NearAway),
        ] {
            let fast = match m {
                0 => fast::round_int::<0>(y),
                1 => fast::round_int::<1>(y),
                2 => fast::round_int::<2>(y),
                3 => fast::round_int::<3>(y),
                _ => fast::round_int::<4>(y),
            };
            t.check(
                "round_int",
                fast,
                fpu::round_int(&env, D, y as u128, rm, true),
                &|| format!("round_int {y:#x} mode {m}"),
            );
        }
        for (e, rm) in [(&env, f), (&envz, 1)] {
            macro_rules! ti {
                ($w:expr, $u:expr) => {
                    let fast = fast::to_int::<$w, $u>(y, rm).map(|(v, res)| {
                        assert_eq!(v as u64, res.bits);
                        Res {
                            bits: super::fp::int_image(res.bits, $w, $u),
                            ..res
                        }
                    });
                    let slow = super::fp::cvt_to_int(e, D, y as u128, $w, $u);
                    t.check("to_int", fast, slow, &|| {
                        format!("to_int w={} u={} {y:#x} rm={rm}", $w, $u)
                    });
                };
            }
            ti!(false, false);
            ti!(false, true);
            ti!(true, false);
            ti!(true, true);
        }
    }
    assert!(t.rate() > 0.6, "fast paths taken for {:.2}", t.rate());
}

/// VMX `vaddfp`/`vsubfp`/`vmaddfp`/`vnmsubfp` with and without NJ, lane by lane against
/// the exact engine's VMX semantics (round to nearest, NJ flushing).
#[test]
fn fast_vmx_matches_exact_engine() {
    let mut r = Rng::new(0xFA57_0005);
    let n = 100_000 * scale();
    let mut hits = 0;
    let mut emu = Emu::new();
    for i in 0..n {
        let nj = i % 2 == 0;
        let mut v = [0u128; 3];
        for l in 0..4 {
            let a = sval(&mut r);
            let c = srelated(&mut r, a);
            let b = if r.chance(30) {
                0x8000_0000
            } else {
                srelated(&mut r, a)
            };
            let sh = 96 - 32 * l;
            v[0] |= (a as u128) << sh;
            v[1] |= (c as u128) << sh;
            v[2] |= (b as u128) << sh;
        }
        let cases: [(Option<u128>, u32); 4] = [
            (fast::vmx_add::<false>(v[0], v[1], nj), 10),
            (fast::vmx_add::<true>(v[0], v[1], nj), 74),
            (fast::vmx_fma::<false>(v[0], v[1], v[2], nj), 46),
            (fast::vmx_fma::<true>(v[0], v[1], v[2], nj), 47),
        ];
        for (fast, k) in cases {
            let Some(fast) = fast else { continue };
            hits += 1;
            // The exact engine through the instruction with the fast paths off.
            let slow = run_vmx(&mut emu, k, v, nj);
            assert_eq!(fast, slow, "vmx {k} {v:x?} nj={nj}");
        }
    }
    assert!(hits > n, "fast paths taken {hits} times");
}

fn run_vmx(emu: &mut Emu, k: u32, v: [u128; 3], nj: bool) -> u128 {
    let mut c = Case {
        vscr: if nj { 0x1_0000 } else { 0 },
        ..Case::default()
    };
    c.vsr[33] = v[0];
    c.vsr[34] = v[1];
    c.vsr[35] = v[2];
    // vA = v1, vB/vC per form: VX (vaddfp v0,v1,v2) or VA (vmaddfp v0,v1,v2(c),v3(b)).
    c.insn = if k == 46 || k == 47 {
        (4 << 26) | (1 << 16) | (3 << 11) | (2 << 6) | k
    } else {
        (4 << 26) | (1 << 16) | (2 << 11) | k
    };
    FAST.with(|f| f.set(false));
    let out = emu.run(&c);
    FAST.with(|f| f.set(true));
    out.vsr[32]
}

// ---- instruction-level comparisons -----------------------------------------------------------

/// Register contents for an instruction family.
#[derive(Clone, Copy)]
enum Fill {
    /// Doubles in doubleword 0 (and 1).
    Dbl,
    /// Four singles.
    Sgl,
    /// Integers in doubleword 0 (and 1) / words.
    Int,
}

fn fill(r: &mut Rng, c: &mut Case, how: Fill) {
    for i in 0..64 {
        c.vsr[i] = match how {
            Fill::Dbl => {
                let a = dval(r);
                let b = if r.chance(50) { related(r, a) } else { dval(r) };
                ((a as u128) << 64) | b as u128
            }
            Fill::Sgl => {
                let a = sval(r);
                let w = [a, srelated(r, a), sval(r), srelated(r, a)];
                w.iter().fold(0u128, |acc, &x| (acc << 32) | x as u128)
            }
            Fill::Int => {
                let mut x = r.next() as u128 | ((r.next() as u128) << 64);
                x >>= r.below(128);
                if r.chance(30) {
                    x = !x;
                }
                x
            }
        };
    }
    // Make some FMA addends cancel their products.
    if matches!(how, Fill::Dbl) && r.chance(50) {
        let (a, c2) = (c.vsr[1] >> 64, c.vsr[2] >> 64);
        let b = addend(r, a as u64, c2 as u64);
        c.vsr[3] = (b as u128) << 64 | (c.vsr[3] as u64 as u128);
    }
}

/// Runs `c` with the fast paths on and off (and, if the host has FMA, decoded with and
/// without the host-FMA variants) and compares the complete resulting state.
fn same_both_ways(emu: &mut Emu, c: &Case, m: u64) -> bool {
    let run = |emu: &mut Emu, fast: bool, hw: bool| {
        FAST.with(|f| f.set(fast));
        HOST_FMA.with(|f| f.set(hw));
        let out = emu.run_msr(c, m);
        let core = &emu.cpu.core;
        let extra = (core.nia, core.srr0, core.srr1, core.msr());
        FAST.with(|f| f.set(true));
        HOST_FMA.with(|f| f.set(true));
        (out, extra)
    };
    let slow = run(emu, false, false);
    for hw in hw_modes() {
        let fast = run(emu, true, hw);
        if fast != slow {
            panic!(
                "insn {:#010x} msr={m:#x} hw={hw}: fast/exact differ\n  input fpscr={:#x} vscr={:#x}\n  fast  fpscr={:#x} sig={} extra={:x?}\n  exact fpscr={:#x} sig={} extra={:x?}\n  vsr diff: {:?}",
                c.insn,
                c.fpscr,
                c.vscr,
                fast.0.fpscr,
                fast.0.sig,
                fast.1,
                slow.0.fpscr,
                slow.0.sig,
                slow.1,
                (0..64)
                    .filter(|&i| fast.0.vsr[i] != slow.0.vsr[i])
                    .map(|i| (i, fast.0.vsr[i], slow.0.vsr[i], c.vsr[i]))
                    .collect::<Vec<_>>()
            );
        }
    }
    // Whether the instruction changed anything (the case was meaningful).
    slow.0.vsr != c.vsr || slow.0.fpscr != c.fpscr
}

fn a_form(op: u32, xo: u32, r: &mut Rng) -> u32 {
    // FRT random, FRA = 1, FRB = 3, FRC = 2 (the registers the generator correlates).
    (op << 26)
        | (r.reg() << 21)
        | (1 << 16)
        | (3 << 11)
        | (2 << 6)
        | (xo << 1)
        | (r.chance(30) as u32)
}

fn x_form(op: u32, xo: u32, r: &mut Rng) -> u32 {
    (op << 26) | (r.reg() << 21) | (r.reg() << 11) | (xo << 1) | (r.chance(30) as u32)
}

/// XX3 with XA = 1 and the registers the generator correlates for FMA.
fn xx3(xo8: u32, r: &mut Rng) -> u32 {
    let (t, b) = if xo8 & 7 == 1 {
        // FMA: the "m" forms take the addend from XB, the "a" forms from XT.
        if (xo8 >> 3) & 1 != 0 { (2, 3) } else { (3, 2) }
    } else {
        (r.reg(), 3)
    };
    (60 << 26) | (t << 21) | (1 << 16) | (b << 11) | (xo8 << 3)
}

fn xx2(xo9: u32, r: &mut Rng) -> u32 {
    (60 << 26) | (r.reg() << 21) | (r.reg() << 11) | (xo9 << 2) | ((r.chance(50) as u32) << 1)
}

/// Every instruction with a fast path, executed with the fast paths on and off from random
/// states (rounding mode, enables, sticky bits, MSR[FE0, FE1], VSCR[NJ]).
#[test]
fn fast_instructions_match_exact_engine() {
    let mut r = Rng::new(0xFA57_0006);
    let mut emu = Emu::new();
    let n = 6_000 * scale();
    let fp_a = [18u32, 20, 21, 22, 25, 28, 29, 30, 31];
    let fp_x63 = [
        12u32, 14, 15, 142, 143, 814, 815, 942, 943, 846, 974, 392, 424, 456, 488,
    ];
    let xs3 = [
        0u32, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 129, 137, 145, 153, 33, 41, 49, 57, 161,
        169, 177, 185,
    ];
    let xv3 = [
        64u32, 72, 80, 88, 96, 104, 112, 120, 65, 73, 81, 89, 193, 201, 209, 217, 97, 105, 113,
        121, 225, 233, 241, 249,
    ];
    let xs2 = [
        75u32, 11, 281, 376, 360, 312, 296, 329, 265, 344, 328, 88, 72,
    ];
    let xv2 = [
        203u32, 139, 393, 457, 472, 456, 216, 200, 408, 392, 152, 136, 504, 488, 440, 424, 248,
        232, 184, 168, 201, 217, 233, 249, 235, 137, 153, 169, 185, 171,
    ];
    let mut changed = 0;
    for i in 0..n {
        let mut c = Case {
            fpscr: fpscr_any(&mut r),
            cr: r.next() & 0xFFFF_FFFF,
            vscr: if r.chance(50) { 0x1_0000 } else { 0 },
            ..Case::default()
        };
        let (insn, how) = match i % 10 {
            9 => {
                // compares: fcmpu/fcmpo, xscmp[uo]dp, xscmp{eq,gt,ge}dp, xvcmp*[.]
                let (bf, a, b) = (r.below(8) as u32, 1, 3);
                let w = match r.below(4) {
                    0 => {
                        (63 << 26)
                            | (bf << 23)
                            | (a << 16)
                            | (b << 11)
                            | ((r.below(2) as u32 * 32) << 1)
                    }
                    1 => {
                        (60 << 26)
                            | (bf << 23)
                            | (a << 16)
                            | (b << 11)
                            | ([35u32, 43][r.below(2) as usize] << 3)
                    }
                    2 => xx3([3u32, 11, 19][r.below(3) as usize], &mut r),
                    _ => {
                        let xo = [99u32, 107, 115, 123, 67, 75, 83, 91][r.below(8) as usize];
                        xx3(xo | if r.chance(50) { 0x80 } else { 0 }, &mut r)
                    }
                };
                let how = if (w >> 3) & 0x7F >= 67 && w >> 26 == 60 && (w >> 3) & 0x7F <= 91 {
                    Fill::Sgl
                } else {
                    Fill::Dbl
                };
                (w, how)
            }
            0 => (a_form(63, fp_a[r.below(9) as usize], &mut r), Fill::Dbl),
            1 => (a_form(59, fp_a[r.below(9) as usize], &mut r), Fill::Dbl),
            2 => {
                let xo = fp_x63[r.below(fp_x63.len() as u64) as usize];
                let how = if matches!(xo, 846 | 974) && r.chance(70) {
                    Fill::Int
                } else {
                    Fill::Dbl
                };
                if r.chance(30) && matches!(xo, 846 | 974) {
                    (x_form(59, xo, &mut r), how)
                } else {
                    (x_form(63, xo, &mut r), how)
                }
            }
            3 => (
                xx3(xs3[r.below(xs3.len() as u64) as usize], &mut r),
                Fill::Dbl,
            ),
            4 | 5 => {
                let xo = xv3[r.below(xv3.len() as u64) as usize];
                let sp = xo & 0x20 == 0;
                (xx3(xo, &mut r), if sp { Fill::Sgl } else { Fill::Dbl })
            }
            6 => {
                let xo = xs2[r.below(xs2.len() as u64) as usize];
                let how = match xo {
                    376 | 360 | 312 | 296 if r.chance(70) => Fill::Int,
                    329 => Fill::Sgl,
                    _ => Fill::Dbl,
                };
                (xx2(xo, &mut r), how)
            }
            7 => {
                let xo = xv2[r.below(xv2.len() as u64) as usize];
                let how = match r.below(3) {
                    0 => Fill::Int,
                    1 => Fill::Sgl,
                    _ => Fill::Dbl,
                };
                (xx2(xo, &mut r), how)
            }
            _ => {
                let (t, a, b, cc) = (r.reg(), r.reg(), r.reg(), r.reg());
                let w = match r.below(4) {
                    0 => (4 << 26) | (t << 21) | (a << 16) | (b << 11) | 10,
                    1 => (4 << 26) | (t << 21) | (a << 16) | (b << 11) | 74,
                    2 => (4 << 26) | (t << 21) | (a << 16) | (b << 11) | (cc << 6) | 46,
                    _ => (4 << 26) | (t << 21) | (a << 16) | (b << 11) | (cc << 6) | 47,
                };
                (w, Fill::Sgl)
            }
        };
        c.insn = insn;
        fill(&mut r, &mut c, how);
        if i % 10 == 9 && r.chance(60) {
            // compares: equal elements (and zeros of either sign) in XA = 1 and XB = 3
            let mask: u128 = match r.below(4) {
                0 => !0,
                1 => !0 << 64,
                2 => 0xFFFF_FFFF_0000_0000_FFFF_FFFF_0000_0000,
                _ => 0x0000_0000_FFFF_FFFF_0000_0000_FFFF_FFFF,
            };
            c.vsr[3] = (c.vsr[3] & !mask) | (c.vsr[1] & mask);
            if r.chance(20) {
                c.vsr[1] = 0;
                c.vsr[3] = 0x8000_0000_0000_0000_8000_0000_8000_0000;
            }
        }
        let mut m = msr::SF | msr::ME | msr::LE | msr::FP | msr::VEC | msr::VSX;
        if r.chance(50) {
            m |= msr::FE0 | msr::FE1;
        }
        changed += same_both_ways(&mut emu, &c, m) as u64;
    }
    assert!(changed > n / 2, "only {changed} of {n} cases changed state");
}

/// The 16-byte vector load/store fast path against the general path, in both byte orders,
/// at offsets all over a page (including the page-crossing ones, which take the general
/// path) with a warm TLB.
#[test]
fn fast_vector_loads_and_stores_match_general_path() {
    const PAGE: u64 = 0x20_1000;
    let mut r = Rng::new(0xFA57_0007);
    let mut emu = Emu::new();
    // (X-form XO, store?) and the DQ forms lxv/stxv (op 61).
    let xo = [844u32, 780, 812, 876, 268, 972, 908, 940, 1004, 396];
    let n = 4_000 * scale();
    for _ in 0..n {
        let le = r.chance(50);
        let off = match r.below(3) {
            0 => r.below(0xFF1),
            1 => 0xFE0 + r.below(32),
            _ => r.below(0x1000) & !15,
        };
        let t = r.below(64) as u32;
        let insn = if r.chance(80) {
            let x = xo[r.below(xo.len() as u64) as usize];
            (31 << 26) | ((t & 31) << 21) | (3 << 16) | (4 << 11) | (x << 1) | (t >> 5)
        } else {
            // lxv/stxv with DQ = 0: EA = (r3) + 0; the offset goes into r3.
            let st = r.chance(50);
            (61 << 26) | ((t & 31) << 21) | (3 << 16) | ((t >> 5) << 3) | if st { 5 } else { 1 }
        };
        let dq = insn >> 26 == 61;
        let mut mem = [0u8; 0x1040];
        for b in mem.iter_mut() {
            *b = r.next() as u8;
        }
        let mut vsr = [0u128; 64];
        for v in vsr.iter_mut() {
            *v = (r.next() as u128) << 64 | r.next() as u128;
        }
        let m = msr::SF | msr::ME | msr::FP | msr::VEC | msr::VSX | if le { msr::LE } else { 0 };
        let run = |emu: &mut Emu, fast: bool| {
            FAST.with(|f| f.set(fast));
            let c = &mut emu.cpu.core;
            c.set_msr(m);
            c.vsr = vsr;
            c.gpr[3] = if dq { PAGE + off } else { PAGE };
            c.gpr[4] = if dq { 0 } else { off };
            c.partition().ram.write(PAGE - 0x20, &mem).unwrap();
            let (op, _) = crate::decode::decode(insn);
            c.nia = 0x30_0004;
            let flow = (op.f)(c, &op, 0x30_0000);
            let mut after = [0u8; 0x1040];
            c.partition().ram.read(PAGE - 0x20, &mut after).unwrap();
            FAST.with(|f| f.set(true));
            (flow, c.vsr, after, c.nia)
        };
        let _warm = run(&mut emu, true);
        let fast = run(&mut emu, true);
        let slow = run(&mut emu, false);
        assert!(
            fast == slow,
            "insn {insn:#010x} le={le} off={off:#x}: fast and general paths differ"
        );
        assert!(
            fast.1 != vsr || fast.2 != mem,
            "insn {insn:#010x}: nothing loaded or stored"
        );
    }
}

/// The facility rules of the VSX loads and stores, resolved at decode time: the ISA 2.06/2.07
/// X-forms need MSR[VSX] for every register; the ISA 3.0 ones MSR[VSX] for VSR 0–31 and
/// MSR[VEC] for VSR 32–63.
#[test]
fn vector_access_facility_rules() {
    use crate::core::Flow;
    use crate::reg::vec;
    let vsx_only = [844u32, 780, 972, 908, 12, 76, 524, 588, 332, 140, 652, 716];
    let by_reg = [812u32, 876, 268, 364, 781, 813, 940, 1004, 396, 909, 941];
    let mut emu = Emu::new();
    for (xo, rule_by_reg) in vsx_only
        .iter()
        .map(|&x| (Some(x), false))
        .chain(by_reg.iter().map(|&x| (Some(x), true)))
        .chain([(None, true)])
    {
        for t in [1u32, 33] {
            let insn = match xo {
                Some(x) => (31 << 26) | ((t & 31) << 21) | (4 << 11) | (x << 1) | (t >> 5),
                // lxv
                None => (61 << 26) | ((t & 31) << 21) | (4 << 16) | ((t >> 5) << 3) | 1,
            };
            for (vsx, vecb) in [(false, true), (true, false)] {
                let m = msr::SF
                    | msr::ME
                    | msr::LE
                    | msr::FP
                    | if vsx { msr::VSX } else { 0 }
                    | if vecb { msr::VEC } else { 0 };
                let c = &mut emu.cpu.core;
                c.set_msr(m);
                c.gpr[4] = 0x20_0000;
                let (op, _) = crate::decode::decode(insn);
                c.nia = 0x30_0004;
                let flow = (op.f)(c, &op, 0x30_0000);
                let need_vec = rule_by_reg && t >= 32;
                let ok = if need_vec { vecb } else { vsx };
                if ok {
                    assert_eq!(flow, Flow::Next, "insn {insn:#010x} vsx={vsx} vec={vecb}");
                } else {
                    assert_eq!(flow, Flow::Jump, "insn {insn:#010x} vsx={vsx} vec={vecb}");
                    let want = if need_vec { vec::VMX } else { vec::VSX };
                    assert_eq!(c.nia, want, "insn {insn:#010x} vsx={vsx} vec={vecb}");
                }
            }
        }
    }
}
