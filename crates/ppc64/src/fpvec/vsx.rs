//! VSX computational instructions (op 60: XX2/XX3/XX4 forms and `xxspltib`).
//!
//! Scalar (`xs…`) operations work on doubleword 0 and set doubleword 1 to zero; they update
//! FPSCR like the classic FP instructions (FPRF, FR, FI, sticky bits). Vector (`xv…`)
//! operations update only the sticky exception bits. An enabled invalid-operation or
//! zero-divide exception in any element leaves the target unchanged.

use super::fp::{cvt_to_int, int_image};
use super::fpscr;
use super::fpu::{self, D, Env, Op2, R, S, SD};
use super::soft::{F16, Fmt, Rm};
use super::{fast, fast_ok, host_fma, join, vsx_off, vsx_unavailable};
use crate::core::{Core, Flow};
use crate::op::{Handler, Op};

macro_rules! need_vsx {
    ($c:expr, $cia:expr) => {
        if vsx_off($c) {
            return vsx_unavailable($c, $cia);
        }
    };
}

// ---- element helpers ---------------------------------------------------------------------------

/// Word `i` (0 = most significant).
#[inline(always)]
pub(crate) fn word(v: u128, i: usize) -> u32 {
    (v >> (96 - 32 * (i & 3))) as u32
}

/// Doubleword `i`.
#[inline(always)]
pub(crate) fn dword(v: u128, i: usize) -> u64 {
    (v >> (64 - 64 * (i & 1))) as u64
}

/// Builds a value from four words.
#[inline(always)]
pub(crate) fn words(w: [u32; 4]) -> u128 {
    ((w[0] as u128) << 96) | ((w[1] as u128) << 64) | ((w[2] as u128) << 32) | w[3] as u128
}

#[inline(always)]
fn xa(c: &Core, op: &Op) -> u128 {
    c.vsr[op.ra as usize & 63]
}
#[inline(always)]
fn xb(c: &Core, op: &Op) -> u128 {
    c.vsr[op.rb as usize & 63]
}
#[inline(always)]
fn xt(c: &Core, op: &Op) -> u128 {
    c.vsr[op.rt as usize & 63]
}
#[inline(always)]
fn set_xt(c: &mut Core, op: &Op, v: u128) {
    c.vsr[op.rt as usize & 63] = v;
}

/// Completion of a scalar operation: XT = result ‖ 0, FPRF from the (double-format)
/// result, trap.
#[inline(always)]
fn complete_xs(c: &mut Core, op: &Op, r: R, cia: u64) -> Flow {
    if !r.st.suppress {
        set_xt(c, op, join(r.bits as u64, 0));
    }
    fpscr::update(c, &r.st, Some(fpu::fprf(D, r.bits)));
    if r.st.exc != 0 {
        return fpscr::check_trap(c, r.st.exc, cia);
    }
    Flow::Next
}

/// Completion of a vector operation.
#[inline(always)]
fn complete_xv(c: &mut Core, op: &Op, v: u128, exc: u64, suppress: bool, cia: u64) -> Flow {
    if !suppress {
        set_xt(c, op, v);
    }
    if exc != 0 {
        fpscr::update_sticky(c, exc);
        return fpscr::check_trap(c, exc, cia);
    }
    Flow::Next
}

/// Completion of a vector fast path whose result is already in XT: the status is at most
/// inexact (as [`complete_xv`] with `exc` = XX or 0).
#[inline(always)]
fn complete_xv_fast(c: &mut Core, inexact: bool, cia: u64) -> Flow {
    if inexact {
        fpscr::update_sticky(c, fpscr::XX);
        return fpscr::check_trap(c, fpscr::XX, cia);
    }
    Flow::Next
}

/// Completion of a fast-path scalar result (double format, zero or normal): the same
/// FPSCR update as [`complete_xs`].
#[inline(always)]
fn complete_xs_fast(c: &mut Core, op: &Op, r: fast::Res, cia: u64) -> Flow {
    set_xt(c, op, join(r.bits, 0));
    let st = r.status();
    fpscr::update(c, &st, Some(fast::class_d(r.bits)));
    if st.exc != 0 {
        return fpscr::check_trap(c, st.exc, cia);
    }
    Flow::Next
}

// ---- scalar arithmetic ---------------------------------------------------------------------------

const ADD: u8 = 0;
const SUB: u8 = 1;
const MUL: u8 = 2;
const DIV: u8 = 3;

#[inline(always)]
fn op2(k: u8) -> Op2 {
    match k {
        ADD => Op2::Add,
        SUB => Op2::Sub,
        MUL => Op2::Mul,
        _ => Op2::Div,
    }
}

fn xs_bin<const K: u8, const SP: bool, const HW: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = dword(xa(c, op), 0);
    let b = dword(xb(c, op), 0);
    if fast_ok()
        && let Some(r) = fast::arith::<K, SP, HW>(a, b, c.fpscr)
    {
        return complete_xs_fast(c, op, r, cia);
    }
    let env = Env::new(c.fpscr);
    let r = fpu::arith2(
        &env,
        D,
        if SP { SD } else { D },
        op2(K),
        a as u128,
        b as u128,
    );
    complete_xs(c, op, r, cia)
}

/// FMA family. M: 0 madd, 1 msub, 2 nmadd, 3 nmsub. MF: the "m" form (XT is a
/// multiplicand, XB the addend) rather than the "a" form (XT is the addend).
fn xs_fma<const M: u8, const MF: bool, const SP: bool, const HW: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    need_vsx!(c, cia);
    let a = dword(xa(c, op), 0);
    let b = dword(xb(c, op), 0);
    let t = dword(xt(c, op), 0);
    let (m2, add) = if MF { (t, b) } else { (b, t) };
    if fast_ok()
        && let Some(r) = fast::fma::<M, SP, HW>(a, m2, add, c.fpscr)
    {
        return complete_xs_fast(c, op, r, cia);
    }
    let (a, m2, add) = (a as u128, m2 as u128, add as u128);
    let env = Env::new(c.fpscr);
    let r = fpu::fma(
        &env,
        D,
        if SP { SD } else { D },
        a,
        m2,
        add,
        M == 1 || M == 3,
        M >= 2,
    );
    complete_xs(c, op, r, cia)
}

/// Scalar unary kinds.
mod un {
    pub const SQRT: u8 = 0;
    pub const RE: u8 = 1;
    pub const RSQRTE: u8 = 2;
    pub const RSP: u8 = 3; // xsrsp
    pub const RDPI: u8 = 4;
    pub const RDPIZ: u8 = 5;
    pub const RDPIP: u8 = 6;
    pub const RDPIM: u8 = 7;
    pub const RDPIC: u8 = 8;
    pub const CVSXD: u8 = 9; // signed dw → fp
    pub const CVUXD: u8 = 10;
    pub const CVSPDP: u8 = 11; // word 0 single → double (arithmetic)
    pub const CVHPDP: u8 = 12;
}

fn xs_un<const K: u8, const SP: bool, const HW: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let bv = xb(c, op);
    let b = dword(bv, 0);
    if fast_ok() {
        let rm = c.fpscr;
        let to_d = |r: fast::Res| fast::Res {
            bits: fast::s_to_d(r.bits),
            ..r
        };
        let r = match K {
            un::SQRT => fast::sqrt::<SP, HW>(b, rm),
            un::RSP => fast::d_to_s(b, rm).map(to_d),
            un::CVSXD | un::CVUXD => {
                let (neg, mag) = if K == un::CVUXD {
                    (false, b)
                } else {
                    ((b as i64) < 0, (b as i64).unsigned_abs())
                };
                if SP {
                    fast::from_int::<24>(neg, mag, rm).map(to_d)
                } else {
                    fast::from_int::<53>(neg, mag, rm)
                }
            }
            un::RDPI | un::RDPIZ | un::RDPIP | un::RDPIM => {
                let r = match K {
                    un::RDPI => fast::round_int::<4>(b),
                    un::RDPIZ => fast::round_int::<1>(b),
                    un::RDPIP => fast::round_int::<2>(b),
                    _ => fast::round_int::<3>(b),
                };
                // The inexact result is not reported.
                r.map(|r| fast::Res {
                    inexact: false,
                    inc: false,
                    ..r
                })
            }
            un::RDPIC => round_int_rm(b, rm),
            un::CVSPDP => {
                // Exact for every non-NaN single (no status).
                let x = word(bv, 0);
                (x & 0x7FFF_FFFF <= 0x7F80_0000).then(|| fast::Res {
                    bits: fpu::sp_to_dp_bits(x),
                    inexact: false,
                    inc: false,
                })
            }
            _ => None,
        };
        if let Some(r) = r {
            if K == un::CVSPDP {
                // FPRF of a denormal, infinite… value: the general completion.
                return complete_xs(
                    c,
                    op,
                    R {
                        bits: r.bits as u128,
                        st: r.status(),
                    },
                    cia,
                );
            }
            return complete_xs_fast(c, op, r, cia);
        }
    }
    let env = Env::new(c.fpscr);
    let fout = if SP { SD } else { D };
    let r = match K {
        un::SQRT => fpu::sqrt(&env, D, fout, b as u128),
        un::RE => fpu::recip(&env, D, fout, b as u128),
        un::RSQRTE => fpu::rsqrt(&env, D, fout, b as u128),
        un::RSP => fpu::convert(&env, D, SD, b as u128),
        un::RDPI => fpu::round_int(&env, D, b as u128, Rm::NearAway, false),
        un::RDPIZ => fpu::round_int(&env, D, b as u128, Rm::Zero, false),
        un::RDPIP => fpu::round_int(&env, D, b as u128, Rm::Up, false),
        un::RDPIM => fpu::round_int(&env, D, b as u128, Rm::Down, false),
        un::RDPIC => fpu::round_int(&env, D, b as u128, env.rm, true),
        un::CVSXD => fpu::from_int(&env, fout, b as i64 as i128),
        un::CVUXD => fpu::from_int(&env, fout, b as i128),
        un::CVSPDP => fpu::convert(&env, S, D, word(bv, 0) as u128),
        _ => fpu::convert(&env, F16, D, (b & 0xFFFF) as u128),
    };
    complete_xs(c, op, r, cia)
}

/// `xscvdpsp`: round to single, result in word 0 (and word 1), FPRF from the single.
fn xscvdpsp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = dword(xb(c, op), 0);
    if fast_ok()
        && let Some(r) = fast::d_to_s(b, c.fpscr)
    {
        let w = r.bits as u32;
        set_xt(c, op, words([w, w, 0, 0]));
        let st = r.status();
        fpscr::update(c, &st, Some(fast::class_d(fast::s_to_d(r.bits))));
        return fpscr::check_trap(c, st.exc, cia);
    }
    let env = Env::new(c.fpscr);
    let r = fpu::convert(&env, D, S, b as u128);
    if !r.st.suppress {
        let w = r.bits as u32;
        set_xt(c, op, words([w, w, 0, 0]));
    }
    fpscr::update(c, &r.st, Some(fpu::fprf(S, r.bits)));
    fpscr::check_trap(c, r.st.exc, cia)
}

/// `xscvdphp`: round to half precision, result in bits 48:63 of doubleword 0.
fn xscvdphp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = dword(xb(c, op), 0) as u128;
    let env = Env::new(c.fpscr);
    let r = fpu::convert(&env, D, F16, b);
    if !r.st.suppress {
        set_xt(c, op, join(r.bits as u64 & 0xFFFF, 0));
    }
    fpscr::update(c, &r.st, Some(fpu::fprf(F16, r.bits)));
    fpscr::check_trap(c, r.st.exc, cia)
}

/// `xscvdpspn`: non-signalling DP → SP bit conversion (the ISA's SINGLE(), as `stfs`
/// does; no status), replicated in words 0 and 1.
fn xscvdpspn(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let w = fpu::dp_to_sp_bits(dword(xb(c, op), 0));
    set_xt(c, op, words([w, w, 0, 0]));
    Flow::Next
}

/// `xscvspdpn`: non-signalling SP (word 0) → DP bit conversion (DOUBLE()).
fn xscvspdpn(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let d = fpu::sp_to_dp_bits(word(xb(c, op), 0));
    set_xt(c, op, join(d, 0));
    Flow::Next
}

/// Scalar DP → integer (round toward zero). W = word result, U = unsigned.
fn xscvdpint<const W: bool, const U: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = dword(xb(c, op), 0);
    let r = match fast::to_int::<W, U>(b, 1) {
        Some((_, r)) if fast_ok() => R {
            bits: int_image(r.bits, W, U) as u128,
            st: r.status(),
        },
        _ => {
            let env = Env::with_rm(c.fpscr, Rm::Zero);
            cvt_to_int(&env, D, b as u128, W, U)
        }
    };
    if !r.st.suppress {
        // Word results are written to both words of doubleword 0 (POWER9 behaviour,
        // required by ISA 3.1).
        let v = if W {
            (r.bits as u64 & 0xFFFF_FFFF) * 0x1_0000_0001
        } else {
            r.bits as u64
        };
        set_xt(c, op, join(v, 0));
    }
    fpscr::update(c, &r.st, None);
    fpscr::check_trap(c, r.st.exc, cia)
}

/// Bit operations on doubleword 0: 0 abs, 1 nabs, 2 neg, 3 cpsgn (sign of XA).
fn xs_sign<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = dword(xb(c, op), 0);
    const SB: u64 = 1 << 63;
    let v = match K {
        0 => b & !SB,
        1 => b | SB,
        2 => b ^ SB,
        _ => (dword(xa(c, op), 0) & SB) | (b & !SB),
    };
    set_xt(c, op, join(v, 0));
    Flow::Next
}

// ---- max / min ------------------------------------------------------------------------------------

/// IEEE maxNum/minNum as QEMU implements `xsmaxdp`/`xvmax*`: an SNaN operand gives the
/// first NaN quieted; a single QNaN loses to a number; −0 < +0.
fn maxmin_num(f: Fmt, a: u128, b: u128, max: bool) -> (u128, u64) {
    let snan = f.is_snan(a) || f.is_snan(b);
    let exc = if snan { fpscr::VXSNAN } else { 0 };
    let (an, bn) = (f.is_nan(a), f.is_nan(b));
    if an || bn {
        if !snan && an != bn {
            return (if an { b } else { a }, exc);
        }
        let n = if an { a } else { b };
        return (fpu::quiet(f, n), exc);
    }
    let ord = if f.is_zero(a) && f.is_zero(b) {
        // −0 < +0
        f.is_neg(b).cmp(&f.is_neg(a))
    } else {
        fpu::cmp_vals(f, a, b)
    };
    let pick_a = if max {
        ord != std::cmp::Ordering::Less
    } else {
        ord != std::cmp::Ordering::Greater
    };
    (if pick_a { a } else { b }, exc)
}

/// `xsmaxcdp`/`xsmincdp`: NaN → XB; otherwise a > b ? a : b (resp. <).
fn maxmin_c(f: Fmt, a: u128, b: u128, max: bool) -> (u128, u64) {
    let exc = if f.is_snan(a) || f.is_snan(b) {
        fpscr::VXSNAN
    } else {
        0
    };
    if f.is_nan(a) || f.is_nan(b) {
        return (b, exc);
    }
    let ord = fpu::cmp_vals(f, a, b);
    let pick_a = if max {
        ord == std::cmp::Ordering::Greater
    } else {
        ord == std::cmp::Ordering::Less
    };
    (if pick_a { a } else { b }, exc)
}

/// `xsmaxjdp`/`xsminjdp`: a NaN operand wins (a first, unquieted); −0 < +0.
fn maxmin_j(f: Fmt, a: u128, b: u128, max: bool) -> (u128, u64) {
    let exc = if f.is_snan(a) || f.is_snan(b) {
        fpscr::VXSNAN
    } else {
        0
    };
    if f.is_nan(a) {
        return (a, exc);
    }
    if f.is_nan(b) {
        return (b, exc);
    }
    if f.is_zero(a) && f.is_zero(b) {
        let neg = if max {
            f.is_neg(a) && f.is_neg(b)
        } else {
            f.is_neg(a) || f.is_neg(b)
        };
        return (f.zero(neg), exc);
    }
    let ord = fpu::cmp_vals(f, a, b);
    let pick_a = if max {
        ord == std::cmp::Ordering::Greater
    } else {
        ord == std::cmp::Ordering::Less
    };
    (if pick_a { a } else { b }, exc)
}

/// Max/min kinds: 0 num, 1 C, 2 Java; MAX selects maximum.
#[inline(always)]
fn maxmin<const KIND: u8>(f: Fmt, a: u128, b: u128, max: bool) -> (u128, u64) {
    match KIND {
        0 => maxmin_num(f, a, b, max),
        1 => maxmin_c(f, a, b, max),
        _ => maxmin_j(f, a, b, max),
    }
}

fn xs_maxmin<const KIND: u8, const MAX: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = dword(xa(c, op), 0) as u128;
    let b = dword(xb(c, op), 0) as u128;
    let (r, exc) = maxmin::<KIND>(D, a, b, MAX);
    let suppress = exc != 0 && c.fpscr & fpscr::VE != 0;
    complete_xv(c, op, join(r as u64, 0), exc, suppress, cia)
}

fn xv_maxmin<const SP: bool, const MAX: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let mut exc = 0;
    let v = if SP {
        let mut out = [0u32; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let (r, e) = maxmin_num(S, word(a, i) as u128, word(b, i) as u128, MAX);
            *o = r as u32;
            exc |= e;
        }
        words(out)
    } else {
        let (r0, e0) = maxmin_num(D, dword(a, 0) as u128, dword(b, 0) as u128, MAX);
        let (r1, e1) = maxmin_num(D, dword(a, 1) as u128, dword(b, 1) as u128, MAX);
        exc = e0 | e1;
        join(r0 as u64, r1 as u64)
    };
    let suppress = exc != 0 && c.fpscr & fpscr::VE != 0;
    complete_xv(c, op, v, exc, suppress, cia)
}

// ---- compares -------------------------------------------------------------------------------------

/// `xscmpudp` / `xscmpodp` (O).
fn xscmp<const O: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = dword(xa(c, op), 0);
    let b = dword(xb(c, op), 0);
    let (cc, st) = match fast::cmp_d(a, b) {
        Some(cc) if fast_ok() => (cc, fpscr::Status::default()),
        _ => fpu::compare(&Env::new(c.fpscr), D, a as u128, b as u128, O),
    };
    c.set_cr_field((op.raw >> 23) & 7, cc);
    fpscr::update_sticky(c, st.exc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    fpscr::check_trap(c, st.exc, cia)
}

/// Compare predicates: 0 eq, 1 gt, 2 ge, 3 ne.
#[inline(always)]
fn cmp_pred(f: Fmt, k: u8, a: u128, b: u128, ve: bool) -> (bool, u64) {
    let an = f.is_nan(a);
    let bn = f.is_nan(b);
    let mut exc = 0;
    if an || bn {
        let snan = f.is_snan(a) || f.is_snan(b);
        let ordered = k == 1 || k == 2;
        if snan {
            exc |= fpscr::VXSNAN;
            if ordered && !ve {
                exc |= fpscr::VXVC;
            }
        } else if ordered {
            exc |= fpscr::VXVC;
        }
        // unordered: false for every predicate (also "not equal", as QEMU does)
        return (false, exc);
    }
    let o = fpu::cmp_vals(f, a, b);
    let r = match k {
        0 => o == std::cmp::Ordering::Equal,
        1 => o == std::cmp::Ordering::Greater,
        2 => o != std::cmp::Ordering::Less,
        _ => o != std::cmp::Ordering::Equal,
    };
    (r, exc)
}

/// `xscmpeqdp`/`xscmpgtdp`/`xscmpgedp`: all-ones/zeros mask in doubleword 0.
fn xscmpmask<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = dword(xa(c, op), 0);
    let b = dword(xb(c, op), 0);
    if fast_ok()
        && let Some(r) = fast::pred_d::<K>(a, b)
    {
        set_xt(c, op, join(if r { u64::MAX } else { 0 }, 0));
        return Flow::Next;
    }
    let (a, b) = (a as u128, b as u128);
    let ve = c.fpscr & fpscr::VE != 0;
    let (r, exc) = cmp_pred(D, K, a, b, ve);
    let v = join(if r { u64::MAX } else { 0 }, 0);
    complete_xv(c, op, v, exc, exc != 0 && ve, cia)
}

/// Vector compares without NaN elements: (mask, all true, none true).
#[inline(always)]
fn xvcmp_fast<const K: u8, const SP: bool>(a: u128, b: u128) -> Option<(u128, bool, bool)> {
    if SP {
        let mut v = 0u128;
        let mut n = 0;
        for i in 0..4 {
            let r = fast::pred_s::<K>(word(a, i), word(b, i))?;
            v |= (if r { u32::MAX as u128 } else { 0 }) << (96 - 32 * i);
            n += r as u32;
        }
        Some((v, n == 4, n == 0))
    } else {
        let r0 = fast::pred_d::<K>(dword(a, 0), dword(b, 0))?;
        let r1 = fast::pred_d::<K>(dword(a, 1), dword(b, 1))?;
        let m = |r: bool| if r { u64::MAX } else { 0 };
        Some((join(m(r0), m(r1)), r0 && r1, !r0 && !r1))
    }
}

/// Vector compares (RC: CR6 ← all ‖ 0 ‖ none ‖ 0).
fn xvcmp<const K: u8, const SP: bool, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    if fast_ok()
        && let Some((v, all, none)) = xvcmp_fast::<K, SP>(a, b)
    {
        if RC {
            c.set_cr_field(6, ((all as u32) << 3) | ((none as u32) << 1));
        }
        set_xt(c, op, v);
        return Flow::Next;
    }
    let ve = c.fpscr & fpscr::VE != 0;
    let mut exc = 0;
    let (v, all, none) = if SP {
        let mut out = [0u32; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let (r, e) = cmp_pred(S, K, word(a, i) as u128, word(b, i) as u128, ve);
            *o = if r { u32::MAX } else { 0 };
            exc |= e;
        }
        let all = out.iter().all(|&x| x != 0);
        let none = out.iter().all(|&x| x == 0);
        (words(out), all, none)
    } else {
        let (r0, e0) = cmp_pred(D, K, dword(a, 0) as u128, dword(b, 0) as u128, ve);
        let (r1, e1) = cmp_pred(D, K, dword(a, 1) as u128, dword(b, 1) as u128, ve);
        exc = e0 | e1;
        let m = |r: bool| if r { u64::MAX } else { 0 };
        (join(m(r0), m(r1)), r0 && r1, !r0 && !r1)
    };
    let suppress = exc != 0 && ve;
    if RC {
        c.set_cr_field(6, ((all as u32) << 3) | ((none as u32) << 1));
    }
    complete_xv(c, op, v, exc, suppress, cia)
}

/// `xscmpexpdp`: compares the exponent fields.
fn xscmpexpdp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = dword(xa(c, op), 0) as u128;
    let b = dword(xb(c, op), 0) as u128;
    let cc = if D.is_nan(a) || D.is_nan(b) {
        1
    } else {
        match D.biased_exp(a).cmp(&D.biased_exp(b)) {
            std::cmp::Ordering::Less => 8,
            std::cmp::Ordering::Greater => 4,
            std::cmp::Ordering::Equal => 2,
        }
    };
    c.set_cr_field((op.raw >> 23) & 7, cc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    Flow::Next
}

/// `xstdivdp` / `xvtdiv{dp,sp}`: K 0 scalar, 1 vector dp, 2 vector sp.
fn xtdiv<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let v = match K {
        0 => fpu::tdiv(D, dword(a, 0) as u128, dword(b, 0) as u128),
        1 => {
            fpu::tdiv(D, dword(a, 0) as u128, dword(b, 0) as u128)
                | fpu::tdiv(D, dword(a, 1) as u128, dword(b, 1) as u128)
        }
        _ => (0..4).fold(0, |acc, i| {
            acc | fpu::tdiv(S, word(a, i) as u128, word(b, i) as u128)
        }),
    };
    c.set_cr_field((op.raw >> 23) & 7, v);
    Flow::Next
}

/// `xstsqrtdp` / `xvtsqrt{dp,sp}`.
fn xtsqrt<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = xb(c, op);
    let v = match K {
        0 => fpu::tsqrt(D, dword(b, 0) as u128),
        1 => fpu::tsqrt(D, dword(b, 0) as u128) | fpu::tsqrt(D, dword(b, 1) as u128),
        _ => (0..4).fold(0, |acc, i| acc | fpu::tsqrt(S, word(b, i) as u128)),
    };
    c.set_cr_field((op.raw >> 23) & 7, v);
    Flow::Next
}

// ---- test data class, exponent/significand ----------------------------------------------------------

/// Data-class match bits: 0x40 NaN, 0x20 +∞, 0x10 −∞, 0x08 +0, 0x04 −0, 0x02 +denormal,
/// 0x01 −denormal.
fn dc_match(f: Fmt, x: u128, dcmx: u32, denorm: bool) -> bool {
    let neg = f.is_neg(x);
    let bit = if f.is_nan(x) {
        0x40
    } else if f.is_inf(x) {
        if neg { 0x10 } else { 0x20 }
    } else if f.is_zero(x) {
        if neg { 0x04 } else { 0x08 }
    } else if denorm {
        if neg { 0x01 } else { 0x02 }
    } else {
        0
    };
    dcmx & bit != 0
}

/// `xststdcdp` (SP = false) / `xststdcsp`.
fn xststdc<const SP: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = dword(xb(c, op), 0) as u128;
    let dcmx = (op.raw >> 16) & 0x7F;
    let denorm = if SP {
        // a double-format value in the single denormal range
        let e = D.biased_exp(b) as i32 - D.bias();
        !D.is_zero(b) && e < S.emin() && !D.is_nan(b) && !D.is_inf(b)
    } else {
        D.biased_exp(b) == 0 && !D.is_zero(b)
    };
    let m = dc_match(D, b, dcmx, denorm);
    // xststdcsp also reports (in bit 3) a value not exactly representable in single.
    let not_sp = SP && fpu::sp_to_dp_bits(fpu::dp_to_sp_bits(b as u64)) != b as u64;
    let cc = ((D.is_neg(b) as u32) << 3) | ((m as u32) << 1) | not_sp as u32;
    c.set_cr_field((op.raw >> 23) & 7, cc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    Flow::Next
}

/// `xvtstdcdp` / `xvtstdcsp`: DCMX = bit 25 ‖ bit 29 ‖ bits 11:15.
fn xvtstdc<const SP: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let w = op.raw;
    let dcmx = (((w >> 6) & 1) << 6) | (((w >> 2) & 1) << 5) | ((w >> 16) & 31);
    let b = xb(c, op);
    let v = if SP {
        let mut out = [0u32; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let x = word(b, i) as u128;
            let den = S.biased_exp(x) == 0 && !S.is_zero(x);
            *o = if dc_match(S, x, dcmx, den) {
                u32::MAX
            } else {
                0
            };
        }
        words(out)
    } else {
        let m = |x: u64| {
            let x = x as u128;
            let den = D.biased_exp(x) == 0 && !D.is_zero(x);
            if dc_match(D, x, dcmx, den) {
                u64::MAX
            } else {
                0
            }
        };
        join(m(dword(b, 0)), m(dword(b, 1)))
    };
    set_xt(c, op, v);
    Flow::Next
}

/// `xsxexpdp` (SIG = false) / `xsxsigdp`: RT ← field of XB.dw0.
fn xsxexp<const SIG: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = dword(xb(c, op), 0);
    let e = (b >> 52) & 0x7FF;
    let v = if SIG {
        let f = b & 0x000F_FFFF_FFFF_FFFF;
        if e != 0 && e != 0x7FF {
            f | (1 << 52)
        } else {
            f
        }
    } else {
        e
    };
    c.gpr[(op.raw >> 21) as usize & 31] = v;
    Flow::Next
}

/// `xsiexpdp XT,RA,RB`.
fn xsiexpdp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let ra = c.gpr[((op.raw >> 16) & 31) as usize];
    let rb = c.gpr[((op.raw >> 11) & 31) as usize];
    let v = (ra & 0x800F_FFFF_FFFF_FFFF) | ((rb & 0x7FF) << 52);
    set_xt(c, op, join(v, 0));
    Flow::Next
}

/// `xviexpdp` / `xviexpsp`.
fn xviexp<const SP: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let v = if SP {
        let mut out = [0u32; 4];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (word(a, i) & 0x807F_FFFF) | ((word(b, i) & 0xFF) << 23);
        }
        words(out)
    } else {
        let f = |i| (dword(a, i) & 0x800F_FFFF_FFFF_FFFF) | ((dword(b, i) & 0x7FF) << 52);
        join(f(0), f(1))
    };
    set_xt(c, op, v);
    Flow::Next
}

/// XO 475 sub-ops: exponent/significand extraction, byte reversal, half converts.
fn x475<const SUB: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = xb(c, op);
    let v = match SUB {
        0 | 1 => {
            let f = |x: u64| {
                let e = (x >> 52) & 0x7FF;
                if SUB == 0 {
                    e
                } else {
                    let fr = x & 0x000F_FFFF_FFFF_FFFF;
                    if e != 0 && e != 0x7FF {
                        fr | (1 << 52)
                    } else {
                        fr
                    }
                }
            };
            join(f(dword(b, 0)), f(dword(b, 1)))
        }
        8 | 9 => {
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                let x = word(b, i);
                let e = (x >> 23) & 0xFF;
                *o = if SUB == 8 {
                    e
                } else {
                    let fr = x & 0x7F_FFFF;
                    if e != 0 && e != 0xFF {
                        fr | (1 << 23)
                    } else {
                        fr
                    }
                };
            }
            words(out)
        }
        7 => {
            let mut x = b.to_be_bytes();
            for ch in x.chunks_mut(2) {
                ch.reverse();
            }
            u128::from_be_bytes(x)
        }
        15 => {
            let mut x = b.to_be_bytes();
            for ch in x.chunks_mut(4) {
                ch.reverse();
            }
            u128::from_be_bytes(x)
        }
        23 => {
            let mut x = b.to_be_bytes();
            for ch in x.chunks_mut(8) {
                ch.reverse();
            }
            u128::from_be_bytes(x)
        }
        31 => b.swap_bytes(),
        24 => {
            // xvcvhpsp: half in the low 16 bits of each word → single
            let env = Env::new(c.fpscr);
            let mut exc = 0;
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                let r = fpu::convert(&env, F16, S, (word(b, i) & 0xFFFF) as u128);
                *o = r.bits as u32;
                exc |= r.st.exc;
            }
            let sup = exc & fpscr::VX_ALL != 0 && c.fpscr & fpscr::VE != 0;
            return complete_xv(c, op, words(out), exc, sup, cia);
        }
        _ => {
            // xvcvsphp
            let env = Env::new(c.fpscr);
            let mut exc = 0;
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                let r = fpu::convert(&env, S, F16, word(b, i) as u128);
                *o = r.bits as u32 & 0xFFFF;
                exc |= r.st.exc;
            }
            let sup = exc & fpscr::VX_ALL != 0 && c.fpscr & fpscr::VE != 0;
            return complete_xv(c, op, words(out), exc, sup, cia);
        }
    };
    set_xt(c, op, v);
    Flow::Next
}

// ---- vector arithmetic ----------------------------------------------------------------------------

/// Applies `f` to each element (4 singles or 2 doubles) and completes.
#[inline(always)]
fn lanes<const SP: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
    mut f: impl FnMut(&Env, Fmt, usize) -> R,
) -> Flow {
    let env = Env::new(c.fpscr);
    let mut exc = 0;
    let mut sup = false;
    let v = if SP {
        let mut out = [0u32; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let r = f(&env, S, i);
            *o = r.bits as u32;
            exc |= r.st.exc;
            sup |= r.st.suppress;
        }
        words(out)
    } else {
        let r0 = f(&env, D, 0);
        let r1 = f(&env, D, 1);
        exc = r0.st.exc | r1.st.exc;
        sup = r0.st.suppress || r1.st.suppress;
        join(r0.bits as u64, r1.bits as u64)
    };
    complete_xv(c, op, v, exc, sup, cia)
}

#[inline(always)]
fn elem(v: u128, sp: bool, i: usize) -> u128 {
    if sp {
        word(v, i) as u128
    } else {
        dword(v, i) as u128
    }
}

fn xv_bin<const K: u8, const SP: bool, const HW: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let rm = c.fpscr;
    if fast_ok()
        && let Some(inexact) =
            fast::xv_arith::<K, SP, HW>(a, b, rm, &mut c.vsr[op.rt as usize & 63])
    {
        return complete_xv_fast(c, inexact, cia);
    }
    lanes::<SP>(c, op, cia, |env, f, i| {
        fpu::arith2(env, f, f, op2(K), elem(a, SP, i), elem(b, SP, i))
    })
}

fn xv_fma<const M: u8, const MF: bool, const SP: bool, const HW: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    need_vsx!(c, cia);
    let (a, b, t) = (xa(c, op), xb(c, op), xt(c, op));
    let (m2, add) = if MF { (t, b) } else { (b, t) };
    let rm = c.fpscr;
    if fast_ok()
        && let Some(inexact) =
            fast::xv_fma::<M, SP, HW>(a, m2, add, rm, &mut c.vsr[op.rt as usize & 63])
    {
        return complete_xv_fast(c, inexact, cia);
    }
    lanes::<SP>(c, op, cia, |env, f, i| {
        fpu::fma(
            env,
            f,
            f,
            elem(a, SP, i),
            elem(m2, SP, i),
            elem(add, SP, i),
            M == 1 || M == 3,
            M >= 2,
        )
    })
}

/// Round to integral in FPSCR mode `rm` (`xsrdpic`, `xvrdpic`, `xvrspic`).
#[inline(always)]
fn round_int_rm(x: u64, rm: u64) -> Option<fast::Res> {
    match rm & 3 {
        0 => fast::round_int::<0>(x),
        1 => fast::round_int::<1>(x),
        2 => fast::round_int::<2>(x),
        _ => fast::round_int::<3>(x),
    }
}

/// The vector round-to-integral instructions on the fast path: the result and whether any
/// element is inexact (reported by the `…ic` form only).
#[inline(always)]
fn xv_rint<const K: u8, const SP: bool>(b: u128, rm: u64) -> Option<(u128, bool)> {
    let one = |x: u64| match K {
        un::RDPI => fast::round_int::<4>(x),
        un::RDPIZ => fast::round_int::<1>(x),
        un::RDPIP => fast::round_int::<2>(x),
        un::RDPIM => fast::round_int::<3>(x),
        _ => round_int_rm(x, rm),
    };
    let mut ix = false;
    let v = if SP {
        let mut out = [0u32; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let r = one(sp_dp(word(b, i))?)?;
            ix |= r.inexact;
            // An integral value of a single is a single.
            *o = (f64::from_bits(r.bits) as f32).to_bits();
        }
        words(out)
    } else {
        let r0 = one(dword(b, 0))?;
        let r1 = one(dword(b, 1))?;
        ix = r0.inexact | r1.inexact;
        join(r0.bits, r1.bits)
    };
    Some((v, ix && K == un::RDPIC))
}

fn xv_un<const K: u8, const SP: bool, const HW: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = xb(c, op);
    let rm = c.fpscr;
    if K == un::SQRT
        && fast_ok()
        && let Some(inexact) = fast::xv_sqrt::<SP, HW>(b, rm, &mut c.vsr[op.rt as usize & 63])
    {
        return complete_xv_fast(c, inexact, cia);
    }
    if matches!(K, un::RDPI | un::RDPIZ | un::RDPIP | un::RDPIM | un::RDPIC)
        && fast_ok()
        && let Some((v, inexact)) = xv_rint::<K, SP>(b, rm)
    {
        set_xt(c, op, v);
        return complete_xv_fast(c, inexact, cia);
    }
    lanes::<SP>(c, op, cia, |env, f, i| {
        let x = elem(b, SP, i);
        match K {
            un::SQRT => fpu::sqrt(env, f, f, x),
            un::RE => fpu::recip(env, f, f, x),
            un::RSQRTE => fpu::rsqrt(env, f, f, x),
            un::RDPI => fpu::round_int(env, f, x, Rm::NearAway, false),
            un::RDPIZ => fpu::round_int(env, f, x, Rm::Zero, false),
            un::RDPIP => fpu::round_int(env, f, x, Rm::Up, false),
            un::RDPIM => fpu::round_int(env, f, x, Rm::Down, false),
            _ => fpu::round_int(env, f, x, env.rm, true),
        }
    })
}

/// Vector bit operations: 0 abs, 1 nabs, 2 neg, 3 cpsgn.
fn xv_sign<const K: u8, const SP: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = xb(c, op);
    let sb: u128 = if SP {
        0x8000_0000_8000_0000_8000_0000_8000_0000
    } else {
        0x8000_0000_0000_0000_8000_0000_0000_0000
    };
    let v = match K {
        0 => b & !sb,
        1 => b | sb,
        2 => b ^ sb,
        _ => (xa(c, op) & sb) | (b & !sb),
    };
    set_xt(c, op, v);
    Flow::Next
}

/// Vector conversions.
mod cv {
    pub const DPSP: u8 = 0; // xvcvdpsp
    pub const SPDP: u8 = 1; // xvcvspdp
    pub const DPSXDS: u8 = 2;
    pub const DPUXDS: u8 = 3;
    pub const DPSXWS: u8 = 4;
    pub const DPUXWS: u8 = 5;
    pub const SPSXDS: u8 = 6;
    pub const SPUXDS: u8 = 7;
    pub const SPSXWS: u8 = 8;
    pub const SPUXWS: u8 = 9;
    pub const SXDDP: u8 = 10;
    pub const UXDDP: u8 = 11;
    pub const SXDSP: u8 = 12;
    pub const UXDSP: u8 = 13;
    pub const SXWDP: u8 = 14;
    pub const UXWDP: u8 = 15;
    pub const SXWSP: u8 = 16;
    pub const UXWSP: u8 = 17;
}

/// Float → integer of one element on the fast path (round toward zero).
#[inline(always)]
fn ti<const W: bool>(x: u64, u: bool, inexact: &mut bool) -> Option<u64> {
    let r = if u {
        fast::to_int::<W, true>(x, 1)
    } else {
        fast::to_int::<W, false>(x, 1)
    };
    let (_, r) = r?;
    *inexact |= r.inexact;
    Some(r.bits)
}

/// Integer → float of one element on the fast path (`SP`: to single).
#[inline(always)]
fn fi<const SP: bool>(v: i64, u: bool, rm: u64, inexact: &mut bool) -> Option<u64> {
    let (neg, mag) = if u {
        (false, v as u64)
    } else {
        (v < 0, v.unsigned_abs())
    };
    let r = if SP {
        fast::from_int::<24>(neg, mag, rm)?
    } else {
        fast::from_int::<53>(neg, mag, rm)?
    };
    *inexact |= r.inexact;
    Some(r.bits)
}

/// A single element (non-NaN) as a double, exactly.
#[inline(always)]
fn sp_dp(x: u32) -> Option<u64> {
    (x & 0x7FFF_FFFF <= 0x7F80_0000).then(|| fpu::sp_to_dp_bits(x))
}

/// The vector conversions on the fast path: the result and whether any element is inexact.
#[inline(always)]
fn xvcv_fast<const K: u8>(b: u128, rm: u64) -> Option<(u128, bool)> {
    use cv::*;
    let mut ix = false;
    let v = match K {
        DPSP => {
            let r0 = fast::d_to_s(dword(b, 0), rm)?;
            let r1 = fast::d_to_s(dword(b, 1), rm)?;
            ix = r0.inexact | r1.inexact;
            let (r0, r1) = (r0.bits as u32, r1.bits as u32);
            words([r0, r0, r1, r1])
        }
        SPDP => join(sp_dp(word(b, 0))?, sp_dp(word(b, 2))?),
        DPSXDS | DPUXDS => {
            let u = K == DPUXDS;
            let r0 = ti::<false>(dword(b, 0), u, &mut ix)?;
            let r1 = ti::<false>(dword(b, 1), u, &mut ix)?;
            join(r0, r1)
        }
        DPSXWS | DPUXWS => {
            let u = K == DPUXWS;
            let r0 = ti::<true>(dword(b, 0), u, &mut ix)? as u32;
            let r1 = ti::<true>(dword(b, 1), u, &mut ix)? as u32;
            words([r0, r0, r1, r1])
        }
        SPSXDS | SPUXDS => {
            let u = K == SPUXDS;
            let r0 = ti::<false>(sp_dp(word(b, 0))?, u, &mut ix)?;
            let r1 = ti::<false>(sp_dp(word(b, 2))?, u, &mut ix)?;
            join(r0, r1)
        }
        SPSXWS | SPUXWS => {
            let u = K == SPUXWS;
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                *o = ti::<true>(sp_dp(word(b, i))?, u, &mut ix)? as u32;
            }
            words(out)
        }
        SXDDP | UXDDP => {
            let u = K == UXDDP;
            let r0 = fi::<false>(dword(b, 0) as i64, u, rm, &mut ix)?;
            let r1 = fi::<false>(dword(b, 1) as i64, u, rm, &mut ix)?;
            join(r0, r1)
        }
        SXDSP | UXDSP => {
            let u = K == UXDSP;
            let r0 = fi::<true>(dword(b, 0) as i64, u, rm, &mut ix)? as u32;
            let r1 = fi::<true>(dword(b, 1) as i64, u, rm, &mut ix)? as u32;
            words([r0, r0, r1, r1])
        }
        SXWDP | UXWDP => {
            let u = K == UXWDP;
            let x = |i| {
                let w = word(b, i);
                if u { w as i64 } else { w as i32 as i64 }
            };
            let r0 = fi::<false>(x(0), u, rm, &mut ix)?;
            let r1 = fi::<false>(x(2), u, rm, &mut ix)?;
            join(r0, r1)
        }
        _ => {
            let u = K == UXWSP;
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                let w = word(b, i);
                let x = if u { w as i64 } else { w as i32 as i64 };
                *o = fi::<true>(x, u, rm, &mut ix)? as u32;
            }
            words(out)
        }
    };
    Some((v, ix))
}

fn xvcv<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = xb(c, op);
    if fast_ok()
        && let Some((v, inexact)) = xvcv_fast::<K>(b, c.fpscr)
    {
        let exc = if inexact { fpscr::XX } else { 0 };
        return complete_xv(c, op, v, exc, false, cia);
    }
    let env = Env::new(c.fpscr);
    let envz = Env::with_rm(c.fpscr, Rm::Zero);
    let mut exc = 0;
    let mut sup = false;
    let mut acc = |r: R| {
        exc |= r.st.exc;
        sup |= r.st.suppress;
        r.bits
    };
    let v = match K {
        cv::DPSP => {
            let r0 = acc(fpu::convert(&env, D, S, dword(b, 0) as u128)) as u32;
            let r1 = acc(fpu::convert(&env, D, S, dword(b, 1) as u128)) as u32;
            words([r0, r0, r1, r1])
        }
        cv::SPDP => {
            let r0 = acc(fpu::convert(&env, S, D, word(b, 0) as u128)) as u64;
            let r1 = acc(fpu::convert(&env, S, D, word(b, 2) as u128)) as u64;
            join(r0, r1)
        }
        cv::DPSXDS | cv::DPUXDS => {
            let u = K == cv::DPUXDS;
            let r0 = acc(cvt_to_int(&envz, D, dword(b, 0) as u128, false, u)) as u64;
            let r1 = acc(cvt_to_int(&envz, D, dword(b, 1) as u128, false, u)) as u64;
            join(r0, r1)
        }
        cv::DPSXWS | cv::DPUXWS => {
            let u = K == cv::DPUXWS;
            let r0 = acc(cvt_to_int(&envz, D, dword(b, 0) as u128, true, u)) as u32;
            let r1 = acc(cvt_to_int(&envz, D, dword(b, 1) as u128, true, u)) as u32;
            words([r0, r0, r1, r1])
        }
        cv::SPSXDS | cv::SPUXDS => {
            let u = K == cv::SPUXDS;
            let r0 = acc(cvt_to_int(&envz, S, word(b, 0) as u128, false, u)) as u64;
            let r1 = acc(cvt_to_int(&envz, S, word(b, 2) as u128, false, u)) as u64;
            join(r0, r1)
        }
        cv::SPSXWS | cv::SPUXWS => {
            let u = K == cv::SPUXWS;
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                *o = acc(cvt_to_int(&envz, S, word(b, i) as u128, true, u)) as u32;
            }
            words(out)
        }
        cv::SXDDP | cv::UXDDP => {
            let f = |x: u64| -> i128 {
                if K == cv::SXDDP {
                    x as i64 as i128
                } else {
                    x as i128
                }
            };
            let r0 = acc(fpu::from_int(&env, D, f(dword(b, 0)))) as u64;
            let r1 = acc(fpu::from_int(&env, D, f(dword(b, 1)))) as u64;
            join(r0, r1)
        }
        cv::SXDSP | cv::UXDSP => {
            let f = |x: u64| -> i128 {
                if K == cv::SXDSP {
                    x as i64 as i128
                } else {
                    x as i128
                }
            };
            let r0 = acc(fpu::from_int(&env, S, f(dword(b, 0)))) as u32;
            let r1 = acc(fpu::from_int(&env, S, f(dword(b, 1)))) as u32;
            words([r0, r0, r1, r1])
        }
        cv::SXWDP | cv::UXWDP => {
            let f = |x: u32| -> i128 {
                if K == cv::SXWDP {
                    x as i32 as i128
                } else {
                    x as i128
                }
            };
            let r0 = acc(fpu::from_int(&env, D, f(word(b, 0)))) as u64;
            let r1 = acc(fpu::from_int(&env, D, f(word(b, 2)))) as u64;
            join(r0, r1)
        }
        _ => {
            let mut out = [0u32; 4];
            for (i, o) in out.iter_mut().enumerate() {
                let x = word(b, i);
                let v = if K == cv::SXWSP {
                    x as i32 as i128
                } else {
                    x as i128
                };
                *o = acc(fpu::from_int(&env, S, v)) as u32;
            }
            words(out)
        }
    };
    complete_xv(c, op, v, exc, sup, cia)
}

// ---- logical and permute ----------------------------------------------------------------------------

/// 128-bit logical operations: 0 and, 1 andc, 2 or, 3 xor, 4 nor, 5 orc, 6 nand, 7 eqv.
fn xxlogic<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let v = match K {
        0 => a & b,
        1 => a & !b,
        2 => a | b,
        3 => a ^ b,
        4 => !(a | b),
        5 => a | !b,
        6 => !(a & b),
        _ => !(a ^ b),
    };
    set_xt(c, op, v);
    Flow::Next
}

/// `xxlor XT,XA,XA` (register move) and `xxlxor XT,X,X` (zero) fast forms.
fn xxmove(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = xa(c, op);
    set_xt(c, op, a);
    Flow::Next
}

fn xxzero(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    set_xt(c, op, 0);
    Flow::Next
}

/// `xxsldwi` (SHW in imm).
fn xxsldwi(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let sh = (op.imm & 3) as u32 * 32;
    let v = if sh == 0 {
        a
    } else {
        (a << sh) | (b >> (128 - sh))
    };
    set_xt(c, op, v);
    Flow::Next
}

/// `xxpermdi` (DM in imm).
fn xxpermdi(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let dm = op.imm;
    let d0 = dword(a, (dm >> 1) as usize & 1);
    let d1 = dword(b, dm as usize & 1);
    set_xt(c, op, join(d0, d1));
    Flow::Next
}

/// `xxmrghw` (HI) / `xxmrglw`.
fn xxmrgw<const HI: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let o = if HI { 0 } else { 2 };
    set_xt(
        c,
        op,
        words([word(a, o), word(b, o), word(a, o + 1), word(b, o + 1)]),
    );
    Flow::Next
}

/// `xxperm` (R = false) / `xxpermr`: sources XA ‖ old XT, control XB.
fn xxperm<const R: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let src = [xa(c, op).to_be_bytes(), xt(c, op).to_be_bytes()];
    let ctl = xb(c, op).to_be_bytes();
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let mut k = (ctl[i] & 31) as usize;
        if R {
            k = 31 - k;
        }
        *o = src[k >> 4][k & 15];
    }
    set_xt(c, op, u128::from_be_bytes(out));
    Flow::Next
}

/// `xxsel`.
fn xxsel(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (xa(c, op), xb(c, op));
    let m = c.vsr[op.rc as usize & 63];
    set_xt(c, op, (a & !m) | (b & m));
    Flow::Next
}

/// `xxspltw` (UIM in imm).
fn xxspltw(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let w = word(xb(c, op), op.imm as usize & 3);
    set_xt(c, op, words([w; 4]));
    Flow::Next
}

/// `xxextractuw` (UIM byte offset in imm).
fn xxextractuw(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = xb(c, op).to_be_bytes();
    let u = op.imm as usize & 15;
    let mut w = [0u8; 4];
    for (j, x) in w.iter_mut().enumerate() {
        *x = b[(u + j) & 15];
    }
    set_xt(c, op, join(u32::from_be_bytes(w) as u64, 0));
    Flow::Next
}

/// `xxinsertw` (UIM byte offset in imm).
fn xxinsertw(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let w = word(xb(c, op), 1).to_be_bytes();
    let mut t = xt(c, op).to_be_bytes();
    let u = op.imm as usize & 15;
    for (j, &x) in w.iter().enumerate() {
        t[(u + j) & 15] = x;
    }
    set_xt(c, op, u128::from_be_bytes(t));
    Flow::Next
}

// ---- decode ------------------------------------------------------------------------------------------

/// An op with the 6-bit XT/XA/XB/XC numbers.
fn xop(f: Handler, w: u32, imm: u64) -> Option<Op> {
    let mut o = Op::new(f, w, imm);
    o.rt = (((w >> 21) & 31) | ((w & 1) << 5)) as u8;
    o.ra = (((w >> 16) & 31) | (((w >> 2) & 1) << 5)) as u8;
    o.rb = (((w >> 11) & 31) | (((w >> 1) & 1) << 5)) as u8;
    o.rc = (((w >> 6) & 31) | (((w >> 3) & 1) << 5)) as u8;
    Some(o)
}

/// Op 60.
pub(super) fn decode(w: u32) -> Option<Op> {
    // xxspltib: bits 21:30 = 360, bits 11:12 = 0
    if (w >> 1) & 0x3FF == 360 && (w >> 19) & 3 == 0 {
        return xop(xxspltib, w, ((w >> 11) & 0xFF) as u64);
    }
    // xsiexpdp (X-form XO 918)
    if (w >> 1) & 0x3FF == 918 {
        return xop(xsiexpdp, w, 0);
    }
    // XX4 xxsel
    if (w >> 4) & 3 == 3 {
        return xop(xxsel, w, 0);
    }
    let xo8 = (w >> 3) & 0xFF;
    if host_fma() {
        decode_xx3::<true>(w, xo8).or_else(|| decode_xx2::<true>(w, (w >> 2) & 0x1FF))
    } else {
        decode_xx3::<false>(w, xo8).or_else(|| decode_xx2::<false>(w, (w >> 2) & 0x1FF))
    }
}

/// `xxspltib` (IMM8 in `imm`; facility by target half).
fn xxspltib(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if let Some(fl) = super::check_vsx_or_vec(c, op.rt, cia) {
        return fl;
    }
    let b = (op.imm & 0xFF) as u128;
    set_xt(c, op, b * 0x0101_0101_0101_0101_0101_0101_0101_0101);
    Flow::Next
}

fn decode_xx3<const HW: bool>(w: u32, xo: u32) -> Option<Op> {
    // vector compares: bit 21 is Rc, XO in 22:28
    let cmp = xo & 0x7F;
    let rc = xo & 0x80 != 0;
    macro_rules! vc {
        ($k:expr, $sp:expr) => {
            if rc {
                xvcmp::<$k, $sp, true> as Handler
            } else {
                xvcmp::<$k, $sp, false> as Handler
            }
        };
    }
    let f: Handler = match cmp {
        99 => vc!(0, false),
        107 => vc!(1, false),
        115 => vc!(2, false),
        123 => vc!(3, false),
        67 => vc!(0, true),
        75 => vc!(1, true),
        83 => vc!(2, true),
        91 => vc!(3, true),
        _ => {
            let f: Handler = match xo {
                0 => xs_bin::<ADD, true, HW>,
                8 => xs_bin::<SUB, true, HW>,
                16 => xs_bin::<MUL, true, HW>,
                24 => xs_bin::<DIV, true, HW>,
                32 => xs_bin::<ADD, false, HW>,
                40 => xs_bin::<SUB, false, HW>,
                48 => xs_bin::<MUL, false, HW>,
                56 => xs_bin::<DIV, false, HW>,
                1 => xs_fma::<0, false, true, HW>,
                9 => xs_fma::<0, true, true, HW>,
                17 => xs_fma::<1, false, true, HW>,
                25 => xs_fma::<1, true, true, HW>,
                129 => xs_fma::<2, false, true, HW>,
                137 => xs_fma::<2, true, true, HW>,
                145 => xs_fma::<3, false, true, HW>,
                153 => xs_fma::<3, true, true, HW>,
                33 => xs_fma::<0, false, false, HW>,
                41 => xs_fma::<0, true, false, HW>,
                49 => xs_fma::<1, false, false, HW>,
                57 => xs_fma::<1, true, false, HW>,
                161 => xs_fma::<2, false, false, HW>,
                169 => xs_fma::<2, true, false, HW>,
                177 => xs_fma::<3, false, false, HW>,
                185 => xs_fma::<3, true, false, HW>,
                3 => xscmpmask::<0>,
                11 => xscmpmask::<1>,
                19 => xscmpmask::<2>,
                35 => xscmp::<false>,
                43 => xscmp::<true>,
                59 => xscmpexpdp,
                61 => xtdiv::<0>,
                125 => xtdiv::<1>,
                93 => xtdiv::<2>,
                128 => xs_maxmin::<1, true>,
                136 => xs_maxmin::<1, false>,
                144 => xs_maxmin::<2, true>,
                152 => xs_maxmin::<2, false>,
                160 => xs_maxmin::<0, true>,
                168 => xs_maxmin::<0, false>,
                176 => xs_sign::<3>,
                64 => xv_bin::<ADD, true, HW>,
                72 => xv_bin::<SUB, true, HW>,
                80 => xv_bin::<MUL, true, HW>,
                88 => xv_bin::<DIV, true, HW>,
                96 => xv_bin::<ADD, false, HW>,
                104 => xv_bin::<SUB, false, HW>,
                112 => xv_bin::<MUL, false, HW>,
                120 => xv_bin::<DIV, false, HW>,
                65 => xv_fma::<0, false, true, HW>,
                73 => xv_fma::<0, true, true, HW>,
                81 => xv_fma::<1, false, true, HW>,
                89 => xv_fma::<1, true, true, HW>,
                193 => xv_fma::<2, false, true, HW>,
                201 => xv_fma::<2, true, true, HW>,
                209 => xv_fma::<3, false, true, HW>,
                217 => xv_fma::<3, true, true, HW>,
                97 => xv_fma::<0, false, false, HW>,
                105 => xv_fma::<0, true, false, HW>,
                113 => xv_fma::<1, false, false, HW>,
                121 => xv_fma::<1, true, false, HW>,
                225 => xv_fma::<2, false, false, HW>,
                233 => xv_fma::<2, true, false, HW>,
                241 => xv_fma::<3, false, false, HW>,
                249 => xv_fma::<3, true, false, HW>,
                192 => xv_maxmin::<true, true>,
                200 => xv_maxmin::<true, false>,
                224 => xv_maxmin::<false, true>,
                232 => xv_maxmin::<false, false>,
                208 => xv_sign::<3, true>,
                240 => xv_sign::<3, false>,
                216 => xviexp::<true>,
                248 => xviexp::<false>,
                130 => xxlogic::<0>,
                138 => xxlogic::<1>,
                146 => {
                    let a = ((w >> 16) & 31) | (((w >> 2) & 1) << 5);
                    let b = ((w >> 11) & 31) | (((w >> 1) & 1) << 5);
                    if a == b { xxmove } else { xxlogic::<2> }
                }
                154 => {
                    let a = ((w >> 16) & 31) | (((w >> 2) & 1) << 5);
                    let b = ((w >> 11) & 31) | (((w >> 1) & 1) << 5);
                    if a == b { xxzero } else { xxlogic::<3> }
                }
                162 => xxlogic::<4>,
                170 => xxlogic::<5>,
                178 => xxlogic::<6>,
                186 => xxlogic::<7>,
                18 => xxmrgw::<true>,
                50 => xxmrgw::<false>,
                26 => xxperm::<false>,
                58 => xxperm::<true>,
                2 | 34 | 66 | 98 => return xop(xxsldwi, w, (xo >> 5) as u64),
                10 | 42 | 74 | 106 => return xop(xxpermdi, w, (xo >> 5) as u64),
                _ => return None,
            };
            f
        }
    };
    xop(f, w, 0)
}

fn decode_xx2<const HW: bool>(w: u32, xo: u32) -> Option<Op> {
    use cv::*;
    let f: Handler = match xo {
        75 => xs_un::<{ un::SQRT }, false, HW>,
        11 => xs_un::<{ un::SQRT }, true, HW>,
        90 => xs_un::<{ un::RE }, false, HW>,
        26 => xs_un::<{ un::RE }, true, HW>,
        74 => xs_un::<{ un::RSQRTE }, false, HW>,
        10 => xs_un::<{ un::RSQRTE }, true, HW>,
        281 => xs_un::<{ un::RSP }, false, HW>,
        73 => xs_un::<{ un::RDPI }, false, HW>,
        89 => xs_un::<{ un::RDPIZ }, false, HW>,
        105 => xs_un::<{ un::RDPIP }, false, HW>,
        121 => xs_un::<{ un::RDPIM }, false, HW>,
        107 => xs_un::<{ un::RDPIC }, false, HW>,
        376 => xs_un::<{ un::CVSXD }, false, HW>,
        360 => xs_un::<{ un::CVUXD }, false, HW>,
        312 => xs_un::<{ un::CVSXD }, true, HW>,
        296 => xs_un::<{ un::CVUXD }, true, HW>,
        329 => xs_un::<{ un::CVSPDP }, false, HW>,
        265 => xscvdpsp,
        267 => xscvdpspn,
        331 => xscvspdpn,
        344 => xscvdpint::<false, false>,
        328 => xscvdpint::<false, true>,
        88 => xscvdpint::<true, false>,
        72 => xscvdpint::<true, true>,
        345 => xs_sign::<0>,
        361 => xs_sign::<1>,
        377 => xs_sign::<2>,
        106 => xtsqrt::<0>,
        234 => xtsqrt::<1>,
        170 => xtsqrt::<2>,
        362 => xststdc::<false>,
        298 => xststdc::<true>,
        490 | 491 | 506 | 507 => xvtstdc::<false>,
        426 | 427 | 442 | 443 => xvtstdc::<true>,
        347 => match (w >> 16) & 31 {
            0 => xsxexp::<false>,
            1 => xsxexp::<true>,
            16 => xs_un::<{ un::CVHPDP }, false, HW>,
            17 => xscvdphp,
            _ => return None,
        },
        475 => match (w >> 16) & 31 {
            0 => x475::<0>,
            1 => x475::<1>,
            7 => x475::<7>,
            8 => x475::<8>,
            9 => x475::<9>,
            15 => x475::<15>,
            23 => x475::<23>,
            24 => x475::<24>,
            25 => x475::<25>,
            31 => x475::<31>,
            _ => return None,
        },
        203 => xv_un::<{ un::SQRT }, false, HW>,
        139 => xv_un::<{ un::SQRT }, true, HW>,
        218 => xv_un::<{ un::RE }, false, HW>,
        154 => xv_un::<{ un::RE }, true, HW>,
        202 => xv_un::<{ un::RSQRTE }, false, HW>,
        138 => xv_un::<{ un::RSQRTE }, true, HW>,
        201 => xv_un::<{ un::RDPI }, false, HW>,
        217 => xv_un::<{ un::RDPIZ }, false, HW>,
        233 => xv_un::<{ un::RDPIP }, false, HW>,
        249 => xv_un::<{ un::RDPIM }, false, HW>,
        235 => xv_un::<{ un::RDPIC }, false, HW>,
        137 => xv_un::<{ un::RDPI }, true, HW>,
        153 => xv_un::<{ un::RDPIZ }, true, HW>,
        169 => xv_un::<{ un::RDPIP }, true, HW>,
        185 => xv_un::<{ un::RDPIM }, true, HW>,
        171 => xv_un::<{ un::RDPIC }, true, HW>,
        473 => xv_sign::<0, false>,
        489 => xv_sign::<1, false>,
        505 => xv_sign::<2, false>,
        409 => xv_sign::<0, true>,
        425 => xv_sign::<1, true>,
        441 => xv_sign::<2, true>,
        393 => xvcv::<DPSP>,
        457 => xvcv::<SPDP>,
        472 => xvcv::<DPSXDS>,
        456 => xvcv::<DPUXDS>,
        216 => xvcv::<DPSXWS>,
        200 => xvcv::<DPUXWS>,
        408 => xvcv::<SPSXDS>,
        392 => xvcv::<SPUXDS>,
        152 => xvcv::<SPSXWS>,
        136 => xvcv::<SPUXWS>,
        504 => xvcv::<SXDDP>,
        488 => xvcv::<UXDDP>,
        440 => xvcv::<SXDSP>,
        424 => xvcv::<UXDSP>,
        248 => xvcv::<SXWDP>,
        232 => xvcv::<UXWDP>,
        184 => xvcv::<SXWSP>,
        168 => xvcv::<UXWSP>,
        164 => return xop(xxspltw, w, ((w >> 16) & 3) as u64),
        165 => return xop(xxextractuw, w, ((w >> 16) & 15) as u64),
        181 => return xop(xxinsertw, w, ((w >> 16) & 15) as u64),
        _ => return None,
    };
    xop(f, w, 0)
}
