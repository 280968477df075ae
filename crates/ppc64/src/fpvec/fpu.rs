//! Power ISA floating-point semantics on top of the exact engine: NaN selection and
//! quieting, invalid-operation classification, the FPSCR exception bits of a result, the
//! trap-enabled overflow/underflow results, conversions to and from integers, compares and
//! the test instructions. Every function here is pure: it takes the FPSCR value and the
//! operand bits and returns the result bits and a [`Status`].

use super::fpscr::{self, Status, class};
use super::soft::{self, F32, F64, F128, Fmt, Rm, Val, exc};

/// The FPSCR controls an operation needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Env {
    /// Rounding mode.
    pub rm: Rm,
    /// FPSCR (for the enable bits).
    pub f: u64,
}

impl Env {
    /// The environment of FPSCR value `f`.
    #[inline]
    pub(crate) fn new(f: u64) -> Env {
        Env {
            rm: Rm::from_rn(f),
            f,
        }
    }
    /// The environment with a fixed rounding mode.
    #[inline]
    pub(crate) fn with_rm(f: u64, rm: Rm) -> Env {
        Env { rm, f }
    }
    #[inline]
    fn en(&self, bit: u64) -> bool {
        self.f & bit != 0
    }
}

/// A result: bits in the output format and the status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct R {
    /// Result bits.
    pub bits: u128,
    /// Status.
    pub st: Status,
}

/// The exponent adjustment of trap-enabled overflow/underflow results.
#[inline]
fn trap_adj(f: Fmt) -> i32 {
    3 << (f.ebits - 2)
}

/// Quiets a NaN of format `f`.
#[inline]
pub(crate) fn quiet(f: Fmt, x: u128) -> u128 {
    x | f.quiet_bit()
}

/// The first NaN of `ops` (quieted) and whether any operand is a signalling NaN.
#[inline]
fn pick_nan(f: Fmt, ops: &[u128]) -> Option<(u128, bool)> {
    let mut first = None;
    let mut snan = false;
    for &x in ops {
        if f.is_nan(x) {
            if first.is_none() {
                first = Some(quiet(f, x));
            }
            snan |= f.is_snan(x);
        }
    }
    first.map(|n| (n, snan))
}

/// Converts a NaN of format `from` to format `to` (fraction left-aligned, truncated or
/// zero-extended; sign kept).
#[inline]
pub(crate) fn convert_nan(from: Fmt, to: Fmt, x: u128) -> u128 {
    if to == SD {
        let single = convert_nan(from, F32, x);
        return sp_to_dp_bits(single as u32) as u128;
    }
    let frac = x & from.frac_mask();
    let frac = if to.p >= from.p {
        frac << (to.p - from.p)
    } else {
        frac >> (from.p - to.p)
    };
    let sign = if from.is_neg(x) { to.sign_bit() } else { 0 };
    sign | (to.exp_field() << (to.p - 1)) | frac
}

/// A NaN result: VXSNAN if any operand is signalling, the quieted first NaN converted to
/// the output format.
#[inline]
fn nan_result(env: &Env, fin: Fmt, fout: Fmt, nan: u128, snan: bool, extra: u64) -> R {
    let mut st = Status {
        exc: extra,
        ..Status::default()
    };
    if snan {
        st.exc |= fpscr::VXSNAN;
    }
    if st.exc & fpscr::VX_ALL != 0 && env.en(fpscr::VE) {
        st.suppress = true;
        return R { bits: 0, st };
    }
    R {
        bits: convert_nan(fin, fout, nan),
        st,
    }
}

/// Maps the engine's exception bits to FPSCR bits.
#[inline]
fn map_exc(e: u32) -> u64 {
    let mut r = 0;
    if e & exc::ISI != 0 {
        r |= fpscr::VXISI;
    }
    if e & exc::IDI != 0 {
        r |= fpscr::VXIDI;
    }
    if e & exc::ZDZ != 0 {
        r |= fpscr::VXZDZ;
    }
    if e & exc::IMZ != 0 {
        r |= fpscr::VXIMZ;
    }
    if e & exc::SQRT != 0 {
        r |= fpscr::VXSQRT;
    }
    if e & exc::ZX != 0 {
        r |= fpscr::ZX;
    }
    r
}

/// Converts a value packed in the [`SD`] layout to double format.
#[inline]
fn sd_to_dp(x: u128) -> u128 {
    let sign = (x >> 34) & 1;
    let exp = (x >> 23) & 0x7FF;
    let frac = x & 0x7F_FFFF;
    (sign << 63) | (exp << 52) | (frac << 29)
}

/// Rounds an exact result to `fout` with all the exception rules. `neg` negates the
/// rounded result (the `fnm*` forms), which leaves default NaNs positive. With
/// `fout == SD` the result is single precision in double format.
pub(crate) fn finish(env: &Env, fout: Fmt, v: Val, e: u32, neg: bool) -> R {
    if fout == SD {
        let (mut r, adjusted) = finish_in(env, F32, SD, v, e, neg);
        if !r.st.suppress {
            r.bits = if adjusted {
                sd_to_dp(r.bits)
            } else {
                sp_to_dp_bits(r.bits as u32) as u128
            };
        }
        return r;
    }
    finish_in(env, fout, fout, v, e, neg).0
}

/// [`finish`] with the format of trap-adjusted results given separately; also returns
/// whether the result was adjusted.
fn finish_in(env: &Env, fout: Fmt, adjf: Fmt, v: Val, e: u32, neg: bool) -> (R, bool) {
    let mut st = Status {
        exc: map_exc(e),
        ..Status::default()
    };
    if st.exc & fpscr::VX_ALL != 0 {
        if env.en(fpscr::VE) {
            st.suppress = true;
            return (R { bits: 0, st }, false);
        }
        return (
            R {
                bits: fout.default_nan(),
                st,
            },
            false,
        );
    }
    if st.exc & fpscr::ZX != 0 && env.en(fpscr::ZE) {
        st.suppress = true;
        return (R { bits: 0, st }, false);
    }
    let r = soft::round(fout, env.rm, v);
    let mut out = r;
    let mut adjusted = false;
    if r.ovf {
        st.exc |= fpscr::OX;
        if env.en(fpscr::OE) {
            out = soft::round_scaled(adjf, env.rm, v, -trap_adj(fout));
            adjusted = true;
        } else {
            out.inexact = true;
            out.inc = false;
        }
    } else if r.tiny {
        if env.en(fpscr::UE) {
            st.exc |= fpscr::UX;
            out = soft::round_scaled(adjf, env.rm, v, trap_adj(fout));
            adjusted = true;
        } else if r.underflow() {
            st.exc |= fpscr::UX;
        }
    }
    if out.inexact {
        st.exc |= fpscr::XX;
    }
    st.fi = out.inexact;
    st.fr = out.inc;
    let sb = if adjusted {
        adjf.sign_bit()
    } else {
        fout.sign_bit()
    };
    let bits = if neg { out.bits ^ sb } else { out.bits };
    (R { bits, st }, adjusted)
}

/// Operation kinds of the two-operand arithmetic.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op2 {
    Add,
    Sub,
    Mul,
    Div,
}

/// a op b, operands in `fin`, result rounded to `fout` (returned in `fout`).
pub(crate) fn arith2(env: &Env, fin: Fmt, fout: Fmt, op: Op2, a: u128, b: u128) -> R {
    if let Some((n, s)) = pick_nan(fin, &[a, b]) {
        return nan_result(env, fin, fout, n, s, 0);
    }
    let (va, vb) = (soft::unpack(fin, a), soft::unpack(fin, b));
    let (v, e) = match op {
        Op2::Add => soft::add(env.rm, va, vb),
        Op2::Sub => soft::add(env.rm, va, soft::neg(vb)),
        Op2::Mul => soft::mul(va, vb),
        Op2::Div => soft::div(va, vb, fout.p),
    };
    finish(env, fout, v, e, false)
}

/// √b.
pub(crate) fn sqrt(env: &Env, fin: Fmt, fout: Fmt, b: u128) -> R {
    if let Some((n, s)) = pick_nan(fin, &[b]) {
        return nan_result(env, fin, fout, n, s, 0);
    }
    let (v, e) = soft::sqrt(soft::unpack(fin, b), fout.p);
    finish(env, fout, v, e, false)
}

#[allow(clippy::too_many_arguments)]
/// Fused multiply-add family: `±(a × c ± b)`. NaN precedence is a, b, c (the ISA's
/// FRA, FRB, FRC order with b the addend).
pub(crate) fn fma(
    env: &Env,
    fin: Fmt,
    fout: Fmt,
    a: u128,
    c: u128,
    b: u128,
    sub: bool,
    neg: bool,
) -> R {
    if let Some((n, s)) = pick_nan(fin, &[a, b, c]) {
        // ∞ × 0 is still an invalid operation when the addend is a quiet NaN.
        let imz = !fin.is_nan(a)
            && !fin.is_nan(c)
            && ((fin.is_inf(a) && fin.is_zero(c)) || (fin.is_zero(a) && fin.is_inf(c)));
        let extra = if imz { fpscr::VXIMZ } else { 0 };
        return nan_result(env, fin, fout, n, s, extra);
    }
    let vb = soft::unpack(fin, b);
    let vb = if sub { soft::neg(vb) } else { vb };
    let (v, e) = soft::fma(env.rm, soft::unpack(fin, a), soft::unpack(fin, c), vb);
    finish(env, fout, v, e, neg)
}

/// Reciprocal estimate, computed exactly (1 ÷ b rounded), as allowed by the ISA.
pub(crate) fn recip(env: &Env, fin: Fmt, fout: Fmt, b: u128) -> R {
    let one = soft::round(fin, Rm::Nearest, soft::from_u128(false, 1)).bits;
    arith2(env, fin, fout, Op2::Div, one, b)
}

/// Reciprocal square root estimate: 1 ÷ √b, each step rounded (QEMU's method; well
/// within the ISA's precision for an estimate).
pub(crate) fn rsqrt(env: &Env, fin: Fmt, fout: Fmt, b: u128) -> R {
    if let Some((n, s)) = pick_nan(fin, &[b]) {
        return nan_result(env, fin, fout, n, s, 0);
    }
    let vb = soft::unpack(fin, b);
    match vb {
        Val::Zero(sg) => finish(env, fout, Val::Inf(sg), exc::ZX, false),
        Val::Inf(false) => finish(env, fout, Val::Zero(false), 0, false),
        _ => {
            let (s, e) = soft::sqrt(vb, fin.p);
            if e != 0 {
                return finish(env, fout, s, e, false);
            }
            let s = soft::round(fin, env.rm, s);
            let one = soft::from_u128(false, 1);
            let (q, e) = soft::div(one, soft::unpack(fin, s.bits), fout.p);
            let mut r = finish(env, fout, q, e, false);
            if s.inexact {
                r.st.exc |= fpscr::XX;
                r.st.fi = true;
            }
            r
        }
    }
}

/// Rounds a value of format `fin` to format `fout` (`frsp`, `xscvdpsp`, `xscvqpdp`…).
pub(crate) fn convert(env: &Env, fin: Fmt, fout: Fmt, b: u128) -> R {
    if fin.is_nan(b) {
        return nan_result(env, fin, fout, quiet(fin, b), fin.is_snan(b), 0);
    }
    finish(env, fout, soft::unpack(fin, b), 0, false)
}

/// Integer → float: `v` is the integer (signed as given), rounded to `fout`.
pub(crate) fn from_int(env: &Env, fout: Fmt, v: i128) -> R {
    let val = soft::from_u128(v < 0, v.unsigned_abs());
    finish(env, fout, val, 0, false)
}

/// Float → integer conversion: the result saturates to `[min, max]` (NaN → `nan_val`).
/// The returned bits are the integer's two's-complement bits (128-bit).
pub(crate) fn to_int(env: &Env, fin: Fmt, b: u128, min: i128, max: i128, nan_val: i128) -> R {
    let mut st = Status::default();
    if fin.is_nan(b) {
        st.exc = fpscr::VXCVI | if fin.is_snan(b) { fpscr::VXSNAN } else { 0 };
        if env.en(fpscr::VE) {
            st.suppress = true;
        }
        return R {
            bits: nan_val as u128,
            st,
        };
    }
    let v = soft::unpack(fin, b);
    let (res, inexact, inc) = match v {
        Val::Zero(_) => (Some(0i128), false, false),
        Val::Inf(_) | Val::NaN => (None, false, false),
        Val::Fin(x) => {
            let (mag, inexact, inc) = soft::to_int(env.rm, x);
            let r = mag.and_then(|m| {
                if x.sign {
                    if m <= (1u128 << 127) {
                        Some((m as i128).wrapping_neg())
                    } else {
                        None
                    }
                } else if m < (1u128 << 127) {
                    Some(m as i128)
                } else {
                    None
                }
            });
            (r, inexact, inc)
        }
    };
    let neg = fin.is_neg(b);
    match res {
        Some(r) if r >= min && r <= max => {
            if inexact {
                st.exc |= fpscr::XX;
                st.fi = true;
                st.fr = inc;
            }
            R {
                bits: r as u128,
                st,
            }
        }
        _ => {
            st.exc = fpscr::VXCVI;
            if env.en(fpscr::VE) {
                st.suppress = true;
            }
            R {
                bits: (if neg { min } else { max }) as u128,
                st,
            }
        }
    }
}

/// Round to an integral value in the same format. `exact_flags`: report inexact (the
/// `…ic` forms); otherwise FR/FI/XX are left clear.
pub(crate) fn round_int(env: &Env, f: Fmt, b: u128, rm: Rm, report_inexact: bool) -> R {
    if f.is_nan(b) {
        return nan_result(env, f, f, quiet(f, b), f.is_snan(b), 0);
    }
    let (bits, inexact, inc) = soft::round_to_integral(f, rm, soft::unpack(f, b));
    let mut st = Status::default();
    if report_inexact && inexact {
        st.exc |= fpscr::XX;
        st.fi = true;
        st.fr = inc;
    }
    R { bits, st }
}

/// FPRF class of a value of format `f`.
pub(crate) fn fprf(f: Fmt, x: u128) -> u32 {
    let neg = f.is_neg(x);
    if f.is_nan(x) {
        return class::QNAN;
    }
    if f.is_inf(x) {
        return if neg { class::NINF } else { class::PINF };
    }
    if f.is_zero(x) {
        return if neg { class::NZERO } else { class::PZERO };
    }
    if f.biased_exp(x) == 0 {
        return if neg { class::NDEN } else { class::PDEN };
    }
    if neg { class::NNORM } else { class::PNORM }
}

/// Compare result as a CR field (FL FG FE FU) and the status: `ordered` = `fcmpo`-style
/// (VXVC on NaN).
pub(crate) fn compare(env: &Env, f: Fmt, a: u128, b: u128, ordered: bool) -> (u32, Status) {
    let mut st = Status::default();
    let an = f.is_nan(a);
    let bn = f.is_nan(b);
    if an || bn {
        let snan = f.is_snan(a) || f.is_snan(b);
        if snan {
            st.exc |= fpscr::VXSNAN;
            if ordered && !env.en(fpscr::VE) {
                st.exc |= fpscr::VXVC;
            }
        } else if ordered {
            st.exc |= fpscr::VXVC;
        }
        return (1, st);
    }
    let c = match cmp_vals(f, a, b) {
        std::cmp::Ordering::Less => 8,
        std::cmp::Ordering::Greater => 4,
        std::cmp::Ordering::Equal => 2,
    };
    (c, st)
}

/// Total order of two non-NaN values (−0 == +0).
pub(crate) fn cmp_vals(f: Fmt, a: u128, b: u128) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if f.is_zero(a) && f.is_zero(b) {
        return Equal;
    }
    let key = |x: u128| -> i128 {
        let mag = (x & !f.sign_bit()) as i128;
        if f.is_neg(x) { -mag } else { mag }
    };
    let (ka, kb) = (key(a), key(b));
    if ka < kb {
        Less
    } else if ka > kb {
        Greater
    } else {
        Equal
    }
}

/// Unbiased exponent as the ISA's test instructions see it (denormals and zero report the
/// minimum exponent minus one, like the raw field).
#[inline]
fn raw_exp(f: Fmt, x: u128) -> i32 {
    f.biased_exp(x) as i32 - f.bias()
}

/// `ftdiv`/`xstdivdp`/`xvtdiv*`: the CR field `0b1 ‖ fg ‖ fe ‖ 0`.
pub(crate) fn tdiv(f: Fmt, a: u128, b: u128) -> u32 {
    let (ea, eb) = (raw_exp(f, a), raw_exp(f, b));
    let (emin, emax, p) = (f.emin(), f.emax(), f.p as i32);
    let a_nz = !f.is_zero(a);
    let fe = f.is_nan(a)
        || f.is_inf(a)
        || f.is_nan(b)
        || f.is_inf(b)
        || f.is_zero(b)
        || eb <= emin
        || eb >= emax - 2
        || (a_nz && (ea - eb >= emax || ea - eb <= emin + 1))
        || (a_nz && ea < emin + p);
    let fg = f.is_inf(a) || f.is_zero(b) || f.is_inf(b) || f.biased_exp(b) == 0;
    8 | ((fg as u32) << 2) | ((fe as u32) << 1)
}

/// `ftsqrt`/`xstsqrtdp`/`xvtsqrt*`: the CR field `0b1 ‖ fg ‖ fe ‖ 0`.
pub(crate) fn tsqrt(f: Fmt, b: u128) -> u32 {
    let eb = raw_exp(f, b);
    let fe =
        f.is_zero(b) || f.is_inf(b) || f.is_nan(b) || f.is_neg(b) || eb < f.emin() + f.p as i32;
    let fg = f.is_zero(b) || f.is_inf(b) || f.biased_exp(b) == 0;
    8 | ((fg as u32) << 2) | ((fe as u32) << 1)
}

// ---- single precision in double format ------------------------------------------------------

/// The ISA's DOUBLE(): single bits → double bits, exactly, no exceptions, SNaNs kept.
#[inline]
pub(crate) fn sp_to_dp_bits(s: u32) -> u64 {
    let sign = ((s >> 31) as u64) << 63;
    let exp = (s >> 23) & 0xFF;
    let frac = (s & 0x7F_FFFF) as u64;
    if exp == 0xFF {
        return sign | 0x7FF0_0000_0000_0000 | (frac << 29);
    }
    if exp == 0 {
        if frac == 0 {
            return sign;
        }
        let lz = frac.leading_zeros() - 41; // frac has 23 bits: position of its MSB
        let e = 1023 - 126 - lz as u64 - 1;
        let f = (frac << (lz + 1)) & 0x7F_FFFF;
        return sign | (e << 52) | (f << 29);
    }
    sign | ((exp as u64 + 1023 - 127) << 52) | (frac << 29)
}

/// The ISA's SINGLE(): double bits → single bits by truncation (no rounding, no
/// exceptions).
#[inline]
pub(crate) fn dp_to_sp_bits(d: u64) -> u32 {
    let exp = ((d >> 52) & 0x7FF) as u32;
    let sign = ((d >> 63) as u32) << 31;
    if exp > 896 || d << 1 == 0 {
        return sign | ((((d >> 62) & 3) as u32) << 30) | (((d >> 29) & 0x3FFF_FFFF) as u32);
    }
    if exp >= 874 {
        let m = (1u64 << 52) | (d & 0x000F_FFFF_FFFF_FFFF);
        return sign | (m >> (896 + 30 - exp)) as u32;
    }
    sign
}

/// Formats used by the instruction layer.
pub(crate) const D: Fmt = F64;
/// Output marker: single precision delivered in double format (the `…s` FP ops and VSX
/// scalar single ops). Rounding uses binary32; trap-adjusted results keep 24-bit
/// precision with the double exponent range.
pub(crate) const SD: Fmt = Fmt { p: 24, ebits: 11 };
/// binary32.
pub(crate) const S: Fmt = F32;
/// binary128.
pub(crate) const Q: Fmt = F128;
