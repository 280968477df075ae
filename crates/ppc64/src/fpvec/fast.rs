//! Host floating-point fast paths, bit-exact with the exact engine ([`super::soft`] and
//! [`super::fpu`]).
//!
//! Every operation is computed on the host FPU in round-to-nearest (the host's mode is never
//! changed) as the correctly rounded double `r` of the exact result **plus the exact sign of
//! the rounding error** `exact − r`: TwoSum for sums, the FMA residual of a product, quotient
//! or square root, or Boldo and Muller's ErrFma for a fused multiply-add ("Exact and
//! approximated error of the FMA", IEEE TC 60(2), 2011). That pair determines the result in
//! any rounding mode and format, and FPSCR[FI] and FPSCR[FR], with integer arithmetic
//! ([`fin_d`], [`fin_s`]): a double result is `r` moved by at most one unit in the last place;
//! a single result is `r` rounded once more, with the error sign acting as a sticky bit below
//! the last bit of `r` (which makes the double rounding exact).
//!
//! A fast path only answers when every operand and the result are in a range where this is
//! provably exact: operands are normal doubles with an unbiased exponent in
//! `[-960, 1000]` (or zeros where the result is then trivially exact), the result is normal
//! and far from overflow (and, for single results, normal and not tiny in single precision),
//! so that no error term underflows and nothing overflows. Single-precision operands are
//! exactly representable as doubles with plenty of range, so the vector single-precision
//! paths accept any finite operand. Everything else (NaN, infinity, denormals, results near
//! or beyond the range limits, exact zero sums in a directed rounding mode) returns `None`
//! and the caller takes the exact engine. Under these conditions no exception other than
//! inexact can occur, so the status of a fast result is FI, FR and XX only.
//!
//! Vector instructions whose FPSCR update is already decided ([`result_only`]: round to
//! nearest, XX set, XE clear) only need their result bits, which the host gives directly
//! (for binary32 through an innocuous double rounding, or TwoSum at a binary32 midpoint);
//! the VMX instructions, which have no status at all, work the same way. Compares of
//! non-NaN operands are host compares; conversions and round-to-integral are integer
//! rounding.
//!
//! The host's floating-point environment is assumed to be the default one (round to
//! nearest, no flush-to-zero, no denormals-are-zero), which Rust programs start with and
//! nothing in this project changes.
//!
//! The functions that need a fused multiply-add come in two variants chosen by the const
//! parameter `HW`: with `HW = true` (only ever selected when the host has FMA, see
//! [`super::host_fma`]) the body is compiled with the x86-64 `fma` target feature and
//! `mul_add` is one instruction; otherwise `mul_add` is the C library's `fma`, which is
//! correctly rounded everywhere.

use super::fpscr::{self, Status, class};

const SIGN: u64 = 1 << 63;
const FRAC: u64 = (1 << 52) - 1;
const HIDDEN: u64 = 1 << 52;
/// Operand and result window (biased exponents): unbiased `[-960, 1000]`.
const LO: u64 = 1023 - 960;
const HI: u64 = 1023 + 1000;

/// Arithmetic kinds (the same numbering as the instruction layer's `K` parameters).
pub(crate) const ADD: u8 = 0;
/// Subtraction.
pub(crate) const SUB: u8 = 1;
/// Multiplication.
pub(crate) const MUL: u8 = 2;
/// Division.
pub(crate) const DIV: u8 = 3;

/// FMA kind bit: subtract the addend (`…msub`).
pub(crate) const FMA_SUB: u8 = 1;
/// FMA kind bit: negate the rounded result (`…nm…`).
pub(crate) const FMA_NEG: u8 = 2;

/// A fast result: the bits in the target format and the rounding information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Res {
    /// Result bits (binary64, or binary32 in the low 32 bits).
    pub bits: u64,
    /// FI: the result differs from the exact value.
    pub inexact: bool,
    /// FR: the magnitude was incremented by rounding.
    pub inc: bool,
}

impl Res {
    #[inline(always)]
    const fn exact(bits: u64) -> Res {
        Res {
            bits,
            inexact: false,
            inc: false,
        }
    }

    /// The FPSCR status of this result (only inexact can occur on a fast path).
    #[inline(always)]
    pub(crate) fn status(&self) -> Status {
        Status {
            exc: if self.inexact { fpscr::XX } else { 0 },
            fr: self.inc,
            fi: self.inexact,
            suppress: false,
        }
    }
}

// ---- classification ----------------------------------------------------------------------------

#[inline(always)]
fn bexp(x: u64) -> u64 {
    (x >> 52) & 0x7FF
}

/// A normal double inside the fast window.
#[inline(always)]
fn inwin(x: u64) -> bool {
    bexp(x).wrapping_sub(LO) <= HI - LO
}

#[inline(always)]
fn is_zero(x: u64) -> bool {
    x << 1 == 0
}

/// Finite (zero, denormal or normal).
#[inline(always)]
fn finite(x: u64) -> bool {
    bexp(x) != 0x7FF
}

/// The FPRF class of a fast double result (always zero or normal).
#[inline(always)]
pub(crate) fn class_d(bits: u64) -> u32 {
    let neg = bits >> 63 != 0;
    match (is_zero(bits), neg) {
        (true, false) => class::PZERO,
        (true, true) => class::NZERO,
        (false, false) => class::PNORM,
        (false, true) => class::NNORM,
    }
}

/// A zero or normal binary32 value in double format (the ISA's DOUBLE() for those).
#[inline(always)]
pub(crate) fn s_to_d(s: u64) -> u64 {
    let sign = (s >> 31 & 1) << 63;
    let mag = s & 0x7FFF_FFFF;
    if mag == 0 {
        sign
    } else {
        // Exponent field moves from bit 23 to bit 52; the bias grows by 1023 − 127 = 896.
        sign | ((mag << 29) + (896 << 52))
    }
}

/// A finite binary32 value as a double (exact; denormals become normal doubles).
#[inline(always)]
fn s_val(x: u32) -> Option<f64> {
    if x & 0x7F80_0000 == 0x7F80_0000 {
        None
    } else {
        Some(f32::from_bits(x) as f64)
    }
}

/// `x` with its sign flipped if `y` is negative (the sign of `x ÷ y` without the division).
#[inline(always)]
fn xsign(x: f64, y: f64) -> f64 {
    f64::from_bits(x.to_bits() ^ (y.to_bits() & SIGN))
}

// ---- error-free transformations ----------------------------------------------------------------

/// TwoSum (Knuth): `s + e = a + b` exactly, `s = RN(a + b)` (no overflow).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

// ---- rounding ------------------------------------------------------------------------------------

/// Rounds `m × 2^(e − 63)` (bit 63 of `m` set, bit 0 possibly a sticky bit standing for a
/// non-zero remainder below it) to binary32 (`P` = 24) or binary64 (`P` = 53) in FPSCR
/// rounding mode `rm`. `None` if the value is tiny or the rounded result overflows.
#[inline(always)]
fn round_p<const P: u32>(neg: bool, e: i32, m: u64, rm: u64) -> Option<Res> {
    let (emin, emax, bias, ebits) = if P == 24 {
        (-126, 127, 127, 8)
    } else {
        (-1022, 1023, 1023, 11)
    };
    if e < emin {
        return None;
    }
    let sh = 64 - P;
    let kept = m >> sh;
    let rest = m & ((1u64 << sh) - 1);
    let half = 1u64 << (sh - 1);
    let inexact = rest != 0;
    let up = match rm & 3 {
        0 => rest > half || (rest == half && kept & 1 != 0),
        1 => false,
        2 => inexact && !neg,
        _ => inexact && neg,
    };
    let k = kept + up as u64;
    let ef = if k >> P != 0 { e + 1 } else { e };
    if ef > emax {
        return None;
    }
    // (e + bias − 1) in the exponent field plus k, whose hidden bit adds the final 1 and
    // whose carry-out, if any, adds one more.
    let bits = ((neg as u64) << (P - 1 + ebits)) | ((((e + bias - 1) as u64) << (P - 1)) + k);
    Some(Res {
        bits,
        inexact,
        inc: up,
    })
}

/// The double result in mode `rm` of an exact value `r + err`, where `r` is its
/// round-to-nearest double and `err` carries the sign of the (exact) error; `r` must be in
/// the window, or an exact zero whose sign is right in mode `rm`.
#[inline(always)]
fn fin_d(r: f64, err: f64, rm: u64) -> Option<Res> {
    let bits = r.to_bits();
    if !inwin(bits) {
        return (is_zero(bits) && err == 0.0).then_some(Res::exact(bits));
    }
    if err == 0.0 {
        return Some(Res::exact(bits));
    }
    let neg = bits >> 63 != 0;
    // |exact| > |r|?
    let away = (err < 0.0) == neg;
    Some(match rm & 3 {
        0 => Res {
            bits,
            inexact: true,
            inc: !away,
        },
        m => {
            let up_mag = (m == 2 && !neg) || (m == 3 && neg);
            if up_mag {
                // The window keeps r + 1 ulp finite.
                Res {
                    bits: bits + away as u64,
                    inexact: true,
                    inc: true,
                }
            } else {
                // …and r − 1 ulp normal.
                Res {
                    bits: bits - (!away) as u64,
                    inexact: true,
                    inc: false,
                }
            }
        }
    })
}

/// The binary32 result in mode `rm` of an exact value `r + err` (`r` its round-to-nearest
/// double, `err` with the sign of the exact error). Rounding the 53-bit `r` once more is
/// exact because the error sign stands for a sticky bit below `r`'s last bit: no binary32
/// rounding boundary lies strictly between `r` and the exact value.
#[inline(always)]
fn fin_s(r: f64, err: f64, rm: u64) -> Option<Res> {
    let bits = r.to_bits();
    let be = bexp(bits);
    let neg = bits >> 63 != 0;
    if be == 0 || be == 0x7FF {
        return (is_zero(bits) && err == 0.0).then_some(Res::exact((neg as u64) << 31));
    }
    let mut m = ((bits & FRAC) | HIDDEN) << 11;
    let mut e = be as i32 - 1023;
    if err != 0.0 {
        if (err < 0.0) == neg {
            m |= 1;
        } else {
            m -= 1;
            if m >> 63 == 0 {
                // r was a power of two: the exact value is in the binade below.
                m = (m << 1) | 1;
                e -= 1;
            }
        }
    }
    round_p::<24>(neg, e, m, rm)
}

// ---- lanes ---------------------------------------------------------------------------------------

/// Double `a op b` as (round-to-nearest result, error sign).
#[inline(always)]
fn lane_d<const K: u8>(a: u64, b: u64, rm: u64) -> Option<(f64, f64)> {
    debug_assert!(K <= DIV);
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    let both = inwin(a) & inwin(b);
    match K {
        ADD | SUB => {
            let y = if K == SUB { -y } else { y };
            if both {
                let (s, e) = two_sum(x, y);
                // An exact zero sum is +0 in round-to-nearest only.
                if s == 0.0 && rm & 3 != 0 {
                    return None;
                }
                Some((s, e))
            } else if is_zero(a) && inwin(b) {
                Some((y, 0.0))
            } else if is_zero(b) && inwin(a) {
                Some((x, 0.0))
            } else {
                None
            }
        }
        MUL => {
            if both {
                // In the window, the product's error is exact: a multiple of
                // 2^(ea + eb − 104) ≥ 2^-1066. (Outside it, both may have underflowed.)
                let p = x * y;
                if !inwin(p.to_bits()) {
                    return None;
                }
                Some((p, x.mul_add(y, -p)))
            } else if (is_zero(a) && finite(b)) || (is_zero(b) && finite(a)) {
                Some((x * y, 0.0))
            } else {
                None
            }
        }
        _ => {
            if both {
                // x − q·y is exact: a multiple of ulp(q)·ulp(y) ≥ 2^(ex − 106).
                let q = x / y;
                let r = (-q).mul_add(y, x);
                Some((q, xsign(r, y)))
            } else if is_zero(a) && finite(b) && !is_zero(b) {
                Some((x / y, 0.0))
            } else {
                None
            }
        }
    }
}

/// Double √b as (round-to-nearest result, error sign).
#[inline(always)]
fn lane_d_sqrt(b: u64) -> Option<(f64, f64)> {
    let x = f64::from_bits(b);
    if inwin(b) && b >> 63 == 0 {
        // x − s² is exact (a multiple of ulp(s)² ≥ 2^(ex − 106)).
        let s = x.sqrt();
        Some((s, (-s).mul_add(s, x)))
    } else if is_zero(b) {
        Some((x, 0.0))
    } else {
        None
    }
}

/// Double `a × c ± b` as (round-to-nearest result, error sign); `sub` negates `b`.
#[inline(always)]
fn lane_d_fma(a: u64, c: u64, b: u64, sub: bool, rm: u64) -> Option<(f64, f64)> {
    let (x, y) = (f64::from_bits(a), f64::from_bits(c));
    let z = if sub {
        -f64::from_bits(b)
    } else {
        f64::from_bits(b)
    };
    if inwin(a) & inwin(c) {
        // Product exponent ea + ec in [-900, 1000].
        if (bexp(a) + bexp(c)).wrapping_sub(2046 - 900) > 1900 {
            return None;
        }
        if inwin(b) {
            let tz = (a | HIDDEN).trailing_zeros() + (c | HIDDEN).trailing_zeros();
            let (r, e) = if tz >= 53 {
                // At most 53 significant bits in the product: it is exact.
                two_sum(x * y, z)
            } else {
                // ErrFma: x·y + z = r1 + r2 + r3 exactly with (r2, r3) = Fast2Sum(g, a2),
                // |r2 + r3| ≤ ½ ulp(r1) and |r3| ≤ ½ ulp(r2). So the error has the sign of
                // r2, and r2 = 0 only if g + a2 = 0, when r3 = 0 too: r3 is not needed.
                // Every quantity here is a multiple of 2^-1012 and below 2^1004, so nothing
                // underflows or overflows.
                let r1 = x.mul_add(y, z);
                let u1 = x * y;
                let u2 = x.mul_add(y, -u1);
                let (a1, a2) = two_sum(z, u2);
                let (b1, b2) = two_sum(u1, a1);
                let g = (b1 - r1) + b2;
                (r1, g + a2)
            };
            if r == 0.0 && rm & 3 != 0 {
                return None;
            }
            Some((r, e))
        } else if is_zero(b) {
            // x·y ± 0 = x·y (non-zero).
            let p = x * y;
            Some((p, x.mul_add(y, -p)))
        } else {
            None
        }
    } else if (is_zero(a) && finite(c)) || (is_zero(c) && finite(a)) {
        // An exact zero product: the result is the addend.
        if inwin(b) {
            Some((z, 0.0))
        } else if is_zero(b) && rm & 3 == 0 {
            // ±0 ± 0 with the IEEE sign rule of round-to-nearest.
            Some((x * y + z, 0.0))
        } else {
            None
        }
    } else {
        None
    }
}

/// Single-precision operands: `a op b` as (round-to-nearest double, error sign).
#[inline(always)]
fn lane_s<const K: u8>(a: u32, b: u32, rm: u64) -> Option<(f64, f64)> {
    let (x, y) = (s_val(a)?, s_val(b)?);
    match K {
        ADD | SUB => {
            let y = if K == SUB { -y } else { y };
            let (s, e) = two_sum(x, y);
            if s == 0.0 && rm & 3 != 0 {
                return None;
            }
            Some((s, e))
        }
        // Exact: 24 × 24 bits, exponents far inside the double range.
        MUL => Some((x * y, 0.0)),
        _ => {
            if y == 0.0 {
                None
            } else if x == 0.0 {
                Some((x / y, 0.0))
            } else {
                let q = x / y;
                let r = (-q).mul_add(y, x);
                Some((q, xsign(r, y)))
            }
        }
    }
}

/// Single-precision √b as (round-to-nearest double, error sign).
#[inline(always)]
fn lane_s_sqrt(b: u32) -> Option<(f64, f64)> {
    let x = s_val(b)?;
    if x == 0.0 {
        Some((x, 0.0))
    } else if x > 0.0 {
        let s = x.sqrt();
        Some((s, (-s).mul_add(s, x)))
    } else {
        None
    }
}

/// Single-precision `a × c ± b` as (round-to-nearest double, error sign).
#[inline(always)]
fn lane_s_fma(a: u32, c: u32, b: u32, sub: bool, rm: u64) -> Option<(f64, f64)> {
    let (x, y, z) = (s_val(a)?, s_val(c)?, s_val(b)?);
    let z = if sub { -z } else { z };
    // The product is exact in double precision.
    let (s, e) = two_sum(x * y, z);
    if s == 0.0 && rm & 3 != 0 {
        return None;
    }
    Some((s, e))
}

/// Applies the `…nm…` negation to a rounded result of `P` bits.
#[inline(always)]
fn negate<const P: u32>(mut r: Res, neg: bool) -> Res {
    if neg {
        r.bits ^= if P == 24 { 1 << 31 } else { SIGN };
    }
    r
}

// ---- host-FMA variants ---------------------------------------------------------------------------

/// Defines `fn name<…, const HW: bool>(…)`: with `HW` the body runs compiled for the
/// x86-64 `fma` target feature, otherwise portably.
macro_rules! host_fma_variants {
    ($(#[$attr:meta])* $vis:vis fn $name:ident<$(const $g:ident: $gt:ty),*>
        ($($p:ident: $t:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$attr])*
        #[inline(always)]
        $vis fn $name<$(const $g: $gt,)* const HW: bool>($($p: $t),*) -> $ret {
            #[inline(always)]
            fn imp<$(const $g: $gt),*>($($p: $t),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            if HW {
                #[target_feature(enable = "fma")]
                fn hw<$(const $g: $gt),*>($($p: $t),*) -> $ret {
                    imp::<$($g),*>($($p),*)
                }
                // SAFETY: `HW` is true only for handlers selected after `host_fma()`
                // found the `fma` feature on this host.
                return unsafe { hw::<$($g),*>($($p),*) };
            }
            imp::<$($g),*>($($p),*)
        }
    };
}

/// Calls `f(args…, rm)` with the rounding mode as a constant, so that every rounding
/// decision in the (inlined) body folds away.
macro_rules! by_rm {
    ($rm:expr, $f:ident $(::<$($g:tt),*>)? ($($arg:expr),* $(,)?)) => {
        match $rm & 3 {
            0 => $f$(::<$($g),*>)?($($arg,)* 0),
            1 => $f$(::<$($g),*>)?($($arg,)* 1),
            2 => $f$(::<$($g),*>)?($($arg,)* 2),
            _ => $f$(::<$($g),*>)?($($arg,)* 3),
        }
    };
}

#[inline(always)]
fn arith_rm<const K: u8, const SP: bool>(a: u64, b: u64, rm: u64) -> Option<Res> {
    let (r, e) = lane_d::<K>(a, b, rm)?;
    if SP {
        fin_s(r, e, rm).map(|x| Res {
            bits: s_to_d(x.bits),
            ..x
        })
    } else {
        fin_d(r, e, rm)
    }
}

#[inline(always)]
fn sqrt_rm<const SP: bool>(b: u64, rm: u64) -> Option<Res> {
    let (r, e) = lane_d_sqrt(b)?;
    if SP {
        fin_s(r, e, rm).map(|x| Res {
            bits: s_to_d(x.bits),
            ..x
        })
    } else {
        fin_d(r, e, rm)
    }
}

#[inline(always)]
fn fma_rm<const K: u8, const SP: bool>(a: u64, c: u64, b: u64, rm: u64) -> Option<Res> {
    let (r, e) = lane_d_fma(a, c, b, K & FMA_SUB != 0, rm)?;
    let neg = K & FMA_NEG != 0;
    if SP {
        fin_s(r, e, rm).map(|x| {
            let x = negate::<24>(x, neg);
            Res {
                bits: s_to_d(x.bits),
                ..x
            }
        })
    } else {
        fin_d(r, e, rm).map(|x| negate::<53>(x, neg))
    }
}

host_fma_variants! {
    /// Scalar `a op b` (`K` = [`ADD`]…[`DIV`]) of double-format operands in the rounding
    /// mode of FPSCR `f`; the result is in double format, rounded to single precision if
    /// `SP`.
    pub(crate) fn arith<const K: u8, const SP: bool>(a: u64, b: u64, f: u64) -> Option<Res> {
        by_rm!(f, arith_rm::<K, SP>(a, b))
    }
}

host_fma_variants! {
    /// Scalar √b (double-format operand and result; rounded to single precision if `SP`).
    pub(crate) fn sqrt<const SP: bool>(b: u64, f: u64) -> Option<Res> {
        by_rm!(f, sqrt_rm::<SP>(b))
    }
}

host_fma_variants! {
    /// Scalar `±(a × c ± b)` (`K`: [`FMA_SUB`] | [`FMA_NEG`]) of double-format operands;
    /// the result is in double format, rounded to single precision if `SP`.
    pub(crate) fn fma<const K: u8, const SP: bool>(a: u64, c: u64, b: u64, f: u64) -> Option<Res> {
        by_rm!(f, fma_rm::<K, SP>(a, c, b))
    }
}

// ---- result-only lanes (round to nearest, status decided) ----------------------------------------

/// Whether a vector instruction's FPSCR update is already decided whatever the exactness
/// of its (normal) results: round-to-nearest, XX already set, XE clear and the summary
/// bits consistent. An inexact element then changes nothing (XX is sticky, FX only follows
/// 0 → 1 transitions, no trap), exactly as an exact one, so only the result bits matter.
#[inline(always)]
pub(crate) fn result_only(f: u64) -> bool {
    f & (fpscr::XX | fpscr::XE | fpscr::RN) == fpscr::XX && fpscr::derive(f) == f
}

/// Double `a op b` rounded to nearest, when the result is in the window. Whatever the
/// operands (NaN, infinity, denormal…), a result in the window is the exact engine's and
/// no exception but inexact can have occurred: invalid operations give NaNs, division by
/// zero infinities, and overflow and underflow results out of the window. A zero sum is
/// exact (sums of doubles never underflow to zero) with the round-to-nearest sign.
#[inline(always)]
fn rn_d<const K: u8>(a: u64, b: u64) -> Option<u64> {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    let r = match K {
        ADD => x + y,
        SUB => x - y,
        MUL => x * y,
        _ => x / y,
    }
    .to_bits();
    (inwin(r) || (K <= SUB && is_zero(r))).then_some(r)
}

/// Double √b rounded to nearest (as [`rn_d`]).
#[inline(always)]
fn rn_d_sqrt(b: u64) -> Option<u64> {
    let r = f64::from_bits(b).sqrt().to_bits();
    inwin(r).then_some(r)
}

/// Double `a × c ± b` rounded to nearest (as [`rn_d`]).
#[inline(always)]
fn rn_d_fma(a: u64, c: u64, b: u64, sub: bool) -> Option<u64> {
    let z = f64::from_bits(b);
    let z = if sub { -z } else { z };
    let r = f64::from_bits(a).mul_add(f64::from_bits(c), z).to_bits();
    inwin(r).then_some(r)
}

/// The binary32 round-to-nearest result of an exact value whose round-to-nearest double is
/// `r`, when no binary32 midpoint separates them (see the callers): `r` rounded on the
/// host. Accepted if it is normal and above the smallest normal magnitude (so the exact
/// value was not tiny), or if `r` is an exact zero.
#[inline(always)]
fn s_ok(r: f64) -> Option<u32> {
    if r == 0.0 {
        return Some(((r.to_bits() >> 63) as u32) << 31);
    }
    let b = (r as f32).to_bits();
    let mag = b & 0x7FFF_FFFF;
    (mag.wrapping_sub(0x0080_0001) < 0x7F80_0000 - 0x0080_0001).then_some(b)
}

/// Single `a op b` rounded to nearest. The operation is done in double precision and
/// rounded again to single: for binary32 operands and +, −, ×, ÷, √ this double rounding
/// is innocuous (53 ≥ 2·24 + 2; Figueroa, "When is double rounding innocuous?", 1995),
/// and a double result of zero is an exact zero.
#[inline(always)]
fn rn_s<const K: u8>(a: u32, b: u32) -> Option<u32> {
    let (x, y) = (f32::from_bits(a) as f64, f32::from_bits(b) as f64);
    s_ok(match K {
        ADD => x + y,
        SUB => x - y,
        MUL => x * y,
        _ => x / y,
    })
}

/// Single √b rounded to nearest (as [`rn_s`]).
#[inline(always)]
fn rn_s_sqrt(b: u32) -> Option<u32> {
    s_ok((f32::from_bits(b) as f64).sqrt())
}

/// Single `a × c ± b` rounded to nearest: the product is exact in double precision, so the
/// double sum `s` is the exact value rounded once; rounding it again is exact unless `s`
/// is a binary32 midpoint, where the sign of TwoSum's error decides.
#[inline(always)]
fn rn_s_fma(a: u32, c: u32, b: u32, sub: bool) -> Option<u32> {
    let (x, y, z) = (
        f32::from_bits(a) as f64,
        f32::from_bits(c) as f64,
        f32::from_bits(b) as f64,
    );
    let z = if sub { -z } else { z };
    let p = x * y;
    let s = p + z;
    if s.to_bits() & 0x1FFF_FFFF == 0x1000_0000 {
        let (s, e) = two_sum(p, z);
        return fin_s(s, e, 0).map(|r| r.bits as u32);
    }
    s_ok(s)
}

// ---- vector kernels --------------------------------------------------------------------------------

/// Word `i` of a vector (0 = most significant).
#[inline(always)]
fn w(v: u128, i: u32) -> u32 {
    (v >> (96 - 32 * i)) as u32
}

/// Doubleword `i` of a vector.
#[inline(always)]
fn dw(v: u128, i: u32) -> u64 {
    (v >> (64 - 64 * i)) as u64
}

/// Four binary32 results from `lane(i)`, or `None` if any lane has none. (The lane
/// functions are written as macro bodies rather than closures: closures are not always
/// inlined, and a call per element costs more than the element.)
macro_rules! words4 {
    (|$i:ident| $lane:expr) => {{
        let r0: u32 = {
            let $i = 0u32;
            $lane
        }?;
        let r1: u32 = {
            let $i = 1u32;
            $lane
        }?;
        let r2: u32 = {
            let $i = 2u32;
            $lane
        }?;
        let r3: u32 = {
            let $i = 3u32;
            $lane
        }?;
        Some(((r0 as u128) << 96) | ((r1 as u128) << 64) | ((r2 as u128) << 32) | r3 as u128)
    }};
}

/// Four rounded binary32 results and whether any is inexact.
macro_rules! words4_ix {
    (|$i:ident| $lane:expr) => {{
        let r0: Res = {
            let $i = 0u32;
            $lane
        }?;
        let r1: Res = {
            let $i = 1u32;
            $lane
        }?;
        let r2: Res = {
            let $i = 2u32;
            $lane
        }?;
        let r3: Res = {
            let $i = 3u32;
            $lane
        }?;
        let v = ((r0.bits as u128) << 96)
            | ((r1.bits as u128) << 64)
            | ((r2.bits as u128) << 32)
            | r3.bits as u128;
        Some((v, r0.inexact | r1.inexact | r2.inexact | r3.inexact))
    }};
}

/// Two doubleword results and whether any is inexact.
#[inline(always)]
fn dwords2_ix(r0: Res, r1: Res) -> (u128, bool) {
    (
        ((r0.bits as u128) << 64) | r1.bits as u128,
        r0.inexact | r1.inexact,
    )
}

#[inline(always)]
fn xv_arith_rm<const K: u8, const SP: bool>(a: u128, b: u128, rm: u64) -> Option<(u128, bool)> {
    if SP {
        words4_ix!(|i| {
            let (r, e) = lane_s::<K>(w(a, i), w(b, i), rm)?;
            fin_s(r, e, rm)
        })
    } else {
        let (r0, e0) = lane_d::<K>(dw(a, 0), dw(b, 0), rm)?;
        let (r1, e1) = lane_d::<K>(dw(a, 1), dw(b, 1), rm)?;
        Some(dwords2_ix(fin_d(r0, e0, rm)?, fin_d(r1, e1, rm)?))
    }
}

#[inline(always)]
fn xv_sqrt_rm<const SP: bool>(b: u128, rm: u64) -> Option<(u128, bool)> {
    if SP {
        words4_ix!(|i| {
            let (r, e) = lane_s_sqrt(w(b, i))?;
            fin_s(r, e, rm)
        })
    } else {
        let (r0, e0) = lane_d_sqrt(dw(b, 0))?;
        let (r1, e1) = lane_d_sqrt(dw(b, 1))?;
        Some(dwords2_ix(fin_d(r0, e0, rm)?, fin_d(r1, e1, rm)?))
    }
}

#[inline(always)]
fn xv_fma_rm<const K: u8, const SP: bool>(
    a: u128,
    c: u128,
    b: u128,
    rm: u64,
) -> Option<(u128, bool)> {
    let (sub, neg) = (K & FMA_SUB != 0, K & FMA_NEG != 0);
    if SP {
        words4_ix!(|i| {
            let (r, e) = lane_s_fma(w(a, i), w(c, i), w(b, i), sub, rm)?;
            Some(negate::<24>(fin_s(r, e, rm)?, neg))
        })
    } else {
        let (r0, e0) = lane_d_fma(dw(a, 0), dw(c, 0), dw(b, 0), sub, rm)?;
        let (r1, e1) = lane_d_fma(dw(a, 1), dw(c, 1), dw(b, 1), sub, rm)?;
        Some(dwords2_ix(
            negate::<53>(fin_d(r0, e0, rm)?, neg),
            negate::<53>(fin_d(r1, e1, rm)?, neg),
        ))
    }
}

/// Stores a kernel's result. (Returned by value, it would travel through memory as two
/// halves and be reloaded whole by the caller, which defeats store forwarding.)
#[inline(always)]
fn put(out: &mut u128, r: Option<(u128, bool)>) -> Option<bool> {
    let (v, inexact) = r?;
    *out = v;
    Some(inexact)
}

#[inline(always)]
fn xv_arith_rn<const K: u8, const SP: bool>(a: u128, b: u128) -> Option<u128> {
    if SP {
        words4!(|i| rn_s::<K>(w(a, i), w(b, i)))
    } else {
        let r0 = rn_d::<K>(dw(a, 0), dw(b, 0))?;
        let r1 = rn_d::<K>(dw(a, 1), dw(b, 1))?;
        Some(((r0 as u128) << 64) | r1 as u128)
    }
}

#[inline(always)]
fn xv_sqrt_rn<const SP: bool>(b: u128) -> Option<u128> {
    if SP {
        words4!(|i| rn_s_sqrt(w(b, i)))
    } else {
        let r0 = rn_d_sqrt(dw(b, 0))?;
        let r1 = rn_d_sqrt(dw(b, 1))?;
        Some(((r0 as u128) << 64) | r1 as u128)
    }
}

#[inline(always)]
fn xv_fma_rn<const K: u8, const SP: bool>(a: u128, c: u128, b: u128) -> Option<u128> {
    let (sub, neg) = (K & FMA_SUB != 0, K & FMA_NEG != 0);
    if SP {
        let sb = if neg { 1 << 31 } else { 0 };
        words4!(|i| Some(rn_s_fma(w(a, i), w(c, i), w(b, i), sub)? ^ sb))
    } else {
        let sb = if neg { SIGN } else { 0 };
        let r0 = rn_d_fma(dw(a, 0), dw(c, 0), dw(b, 0), sub)? ^ sb;
        let r1 = rn_d_fma(dw(a, 1), dw(c, 1), dw(b, 1), sub)? ^ sb;
        Some(((r0 as u128) << 64) | r1 as u128)
    }
}

host_fma_variants! {
    /// Vector `a op b` on 2 doubles or (`SP`) 4 singles under FPSCR `f`: the result goes to
    /// `out` (left alone on `None`); returns whether any element is inexact (always
    /// `false` when [`result_only`] holds, since the status is then decided).
    pub(crate) fn xv_arith<const K: u8, const SP: bool>(a: u128, b: u128, f: u64, out: &mut u128)
        -> Option<bool> {
        if result_only(f) && let Some(v) = xv_arith_rn::<K, SP>(a, b) {
            *out = v;
            return Some(false);
        }
        put(out, by_rm!(f, xv_arith_rm::<K, SP>(a, b)))
    }
}

host_fma_variants! {
    /// Vector √b (as [`xv_arith`]).
    pub(crate) fn xv_sqrt<const SP: bool>(b: u128, f: u64, out: &mut u128) -> Option<bool> {
        if result_only(f) && let Some(v) = xv_sqrt_rn::<SP>(b) {
            *out = v;
            return Some(false);
        }
        put(out, by_rm!(f, xv_sqrt_rm::<SP>(b)))
    }
}

host_fma_variants! {
    /// Vector `±(a × c ± b)` (`K`: [`FMA_SUB`] | [`FMA_NEG`]), as [`xv_arith`].
    pub(crate) fn xv_fma<const K: u8, const SP: bool>(
        a: u128,
        c: u128,
        b: u128,
        f: u64,
        out: &mut u128,
    ) -> Option<bool> {
        if result_only(f) && let Some(v) = xv_fma_rn::<K, SP>(a, c, b) {
            *out = v;
            return Some(false);
        }
        put(out, by_rm!(f, xv_fma_rm::<K, SP>(a, c, b)))
    }
}

// ---- VMX -----------------------------------------------------------------------------------------

/// VSCR[NJ] input flush of a binary32 denormal to a zero of the same sign.
#[inline(always)]
fn flush(x: u32, nj: bool) -> u32 {
    if nj && x & 0x7F80_0000 == 0 {
        x & 0x8000_0000
    } else {
        x
    }
}

/// `vaddfp` / `vsubfp` (`SUBTRACT`): round-to-nearest, no status; `None` unless every
/// element is normal or an exact zero (which NJ leaves alone).
#[inline(always)]
pub(crate) fn vmx_add<const SUBTRACT: bool>(a: u128, b: u128, nj: bool) -> Option<u128> {
    words4!(|i| {
        let (x, y) = (flush(w(a, i), nj), flush(w(b, i), nj));
        if SUBTRACT {
            rn_s::<SUB>(x, y)
        } else {
            rn_s::<ADD>(x, y)
        }
    })
}

/// `vmaddfp` / `vnmsubfp` (`NMSUB`: `−(a × c − b)`), as [`vmx_add`].
#[inline(always)]
pub(crate) fn vmx_fma<const NMSUB: bool>(a: u128, c: u128, b: u128, nj: bool) -> Option<u128> {
    words4!(|i| {
        let (x, y, z) = (flush(w(a, i), nj), flush(w(c, i), nj), flush(w(b, i), nj));
        let r = rn_s_fma(x, y, z, NMSUB)?;
        Some(if NMSUB { r ^ 0x8000_0000 } else { r })
    })
}

// ---- compares -------------------------------------------------------------------------------------

/// The compare result of two doubles as a CR field (FL FG FE FU); `None` if either is a
/// NaN (the exact engine then decides the exception bits).
#[inline(always)]
pub(crate) fn cmp_d(a: u64, b: u64) -> Option<u32> {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if x < y {
        Some(8)
    } else if x > y {
        Some(4)
    } else if x == y {
        Some(2)
    } else {
        None
    }
}

/// Compare predicate `K` (0 =, 1 >, 2 ≥, 3 ≠) of two doubles; `None` if either is a NaN.
#[inline(always)]
pub(crate) fn pred_d<const K: u8>(a: u64, b: u64) -> Option<bool> {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if x.is_nan() || y.is_nan() {
        return None;
    }
    Some(match K {
        0 => x == y,
        1 => x > y,
        2 => x >= y,
        _ => x != y,
    })
}

/// [`pred_d`] for singles.
#[inline(always)]
pub(crate) fn pred_s<const K: u8>(a: u32, b: u32) -> Option<bool> {
    let (x, y) = (f32::from_bits(a), f32::from_bits(b));
    if x.is_nan() || y.is_nan() {
        return None;
    }
    Some(match K {
        0 => x == y,
        1 => x > y,
        2 => x >= y,
        _ => x != y,
    })
}

// ---- conversions ----------------------------------------------------------------------------------

/// Integer → binary32 (`P` = 24) or binary64 (`P` = 53) bits in mode `rm`.
#[inline(always)]
pub(crate) fn from_int<const P: u32>(neg: bool, mag: u64, rm: u64) -> Option<Res> {
    if mag == 0 {
        return Some(Res::exact(0));
    }
    let lz = mag.leading_zeros();
    round_p::<P>(neg, 63 - lz as i32, mag << lz, rm)
}

/// Double → binary32 rounding in mode `rm` (`frsp`, `xscvdpsp`, `xvcvdpsp`): the single
/// bits.
#[inline(always)]
pub(crate) fn d_to_s(x: u64, rm: u64) -> Option<Res> {
    fin_s(f64::from_bits(x), 0.0, rm)
}

/// Double → integral double (`frin`/`friz`/`frip`/`frim`, `xsrdpi*`, `xvr[ds]pi*`):
/// `M` is an FPSCR rounding mode (0–3) or 4 for to-nearest-ties-away. The rounding
/// information is returned; the callers that do not report inexact ignore it. `None` for
/// NaNs, infinities and denormals.
#[inline(always)]
pub(crate) fn round_int<const M: u8>(x: u64) -> Option<Res> {
    let be = bexp(x);
    if is_zero(x) || (be >= 1023 + 52 && be != 0x7FF) {
        // Zeros and magnitudes ≥ 2^52 are integral already.
        return Some(Res::exact(x));
    }
    if be == 0 || be == 0x7FF {
        return None;
    }
    let neg = x >> 63 != 0;
    let m = ((x & FRAC) | HIDDEN) << 11;
    let e = be as i32 - 1023;
    let (int, frac) = if e >= -1 {
        let wide = (m as u128) << (e + 1);
        ((wide >> 64) as u64, wide as u64)
    } else {
        (0, 1)
    };
    const HALF: u64 = 1 << 63;
    let inexact = frac != 0;
    let up = match M {
        0 => frac > HALF || (frac == HALF && int & 1 != 0),
        1 => false,
        2 => inexact && !neg,
        3 => inexact && neg,
        _ => frac >= HALF,
    };
    let mag = int + up as u64; // ≤ 2^52: exact as a double
    let sign = x & SIGN;
    let bits = if mag == 0 {
        sign
    } else {
        (mag as f64).to_bits() | sign
    };
    Some(Res {
        bits,
        inexact,
        inc: up,
    })
}

/// Double → integer in mode `rm`: the integer when it is in range (`W`: 32-bit, `U`:
/// unsigned), with the inexact and incremented flags. `None` for NaNs, infinities,
/// magnitudes ≥ 2^63, denormals and out-of-range results (the exact engine saturates and
/// flags those).
#[inline(always)]
pub(crate) fn to_int<const W: bool, const U: bool>(x: u64, rm: u64) -> Option<(i64, Res)> {
    if is_zero(x) {
        return Some((0, Res::exact(0)));
    }
    let be = bexp(x);
    if be == 0 || be > 1023 + 62 {
        return None;
    }
    let neg = x >> 63 != 0;
    // value = m × 2^(e − 63)
    let m = ((x & FRAC) | HIDDEN) << 11;
    let e = be as i32 - 1023;
    let (int, frac) = if e >= -1 {
        let wide = (m as u128) << (e + 1);
        ((wide >> 64) as u64, wide as u64)
    } else {
        // 0 < |x| < ½: a non-zero fraction below one half.
        (0, 1)
    };
    const HALF: u64 = 1 << 63;
    let inexact = frac != 0;
    let up = match rm & 3 {
        0 => frac > HALF || (frac == HALF && int & 1 != 0),
        1 => false,
        2 => inexact && !neg,
        _ => inexact && neg,
    };
    let mag = int + up as u64; // ≤ 2^63
    if !neg && mag >> 63 != 0 {
        return None;
    }
    let v = if neg {
        (mag as i64).wrapping_neg()
    } else {
        mag as i64
    };
    let ok = match (W, U) {
        (false, false) => true,
        (true, false) => i32::try_from(v).is_ok(),
        (false, true) => v >= 0,
        (true, true) => (0..=u32::MAX as i64).contains(&v),
    };
    if !ok {
        return None;
    }
    Some((
        v,
        Res {
            bits: v as u64,
            inexact,
            inc: up,
        },
    ))
}
