//! Quad-precision (IEEE binary128) instructions on op 63 (ISA 3.0). Operands are VRs
//! (VSR 32–63) holding binary128 values; arithmetic has the same FPSCR semantics as the
//! double-precision scalar instructions, with round-to-odd variants (bit 31 = RO).

use super::fp::cvt_to_int;
use super::fpscr;
use super::fpu::{self, D, Env, Op2, Q, R};
use super::soft::{self, Fmt, Rm};
use super::{join, vsx_off, vsx_unavailable};
use crate::core::{Core, Flow};
use crate::op::{Handler, Op, field};

macro_rules! need_vsx {
    ($c:expr, $cia:expr) => {
        if vsx_off($c) {
            return vsx_unavailable($c, $cia);
        }
    };
}

#[inline(always)]
fn vr(c: &Core, i: u8) -> u128 {
    c.vsr[32 + (i as usize & 31)]
}

#[inline(always)]
fn set_vr(c: &mut Core, i: u8, v: u128) {
    c.vsr[32 + (i as usize & 31)] = v;
}

/// The environment: FPSCR[RN], or round-to-odd when RO (bit 31) is set.
#[inline(always)]
fn env_ro(c: &Core, op: &Op) -> Env {
    if op.raw & 1 != 0 {
        Env::with_rm(c.fpscr, Rm::Odd)
    } else {
        Env::new(c.fpscr)
    }
}

/// Writes a QP result and updates FPSCR (FPRF from the QP result).
#[inline(always)]
fn complete_q(c: &mut Core, op: &Op, r: R, cia: u64) -> Flow {
    if !r.st.suppress {
        set_vr(c, op.rt, r.bits);
    }
    fpscr::update(c, &r.st, Some(fpu::fprf(Q, r.bits)));
    fpscr::check_trap(c, r.st.exc, cia)
}

const ADD: u8 = 0;
const SUB: u8 = 1;
const MUL: u8 = 2;
const DIV: u8 = 3;

fn q_bin<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (vr(c, op.ra), vr(c, op.rb));
    let o = match K {
        ADD => Op2::Add,
        SUB => Op2::Sub,
        MUL => Op2::Mul,
        _ => Op2::Div,
    };
    let r = fpu::arith2(&env_ro(c, op), Q, Q, o, a, b);
    complete_q(c, op, r, cia)
}

/// FMA: M 0 madd, 1 msub, 2 nmadd, 3 nmsub; VRT ← ±(VRA × VRB ± VRT).
fn q_fma<const M: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b, t) = (vr(c, op.ra), vr(c, op.rb), vr(c, op.rt));
    let r = fpu::fma(&env_ro(c, op), Q, Q, a, b, t, M == 1 || M == 3, M >= 2);
    complete_q(c, op, r, cia)
}

fn q_sqrt(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    let r = fpu::sqrt(&env_ro(c, op), Q, Q, b);
    complete_q(c, op, r, cia)
}

/// Sign operations: 0 abs, 1 nabs, 2 neg, 3 cpsgn.
fn q_sign<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    let sb = Q.sign_bit();
    let v = match K {
        0 => b & !sb,
        1 => b | sb,
        2 => b ^ sb,
        _ => (vr(c, op.ra) & sb) | (b & !sb),
    };
    set_vr(c, op.rt, v);
    Flow::Next
}

/// `xscmpuqp` / `xscmpoqp`.
fn q_cmp<const O: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (vr(c, op.ra), vr(c, op.rb));
    let env = Env::new(c.fpscr);
    let (cc, st) = fpu::compare(&env, Q, a, b, O);
    c.set_cr_field((op.raw >> 23) & 7, cc);
    fpscr::update_sticky(c, st.exc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    fpscr::check_trap(c, st.exc, cia)
}

/// `xscmpexpqp`.
fn q_cmpexp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let (a, b) = (vr(c, op.ra), vr(c, op.rb));
    let cc = if Q.is_nan(a) || Q.is_nan(b) {
        1
    } else {
        match Q.biased_exp(a).cmp(&Q.biased_exp(b)) {
            std::cmp::Ordering::Less => 8,
            std::cmp::Ordering::Greater => 4,
            std::cmp::Ordering::Equal => 2,
        }
    };
    c.set_cr_field((op.raw >> 23) & 7, cc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    Flow::Next
}

/// `xststdcqp BF,VRB,DCMX`.
fn q_tstdc(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    let dcmx = (op.raw >> 16) & 0x7F;
    let neg = Q.is_neg(b);
    let bit = if Q.is_nan(b) {
        0x40
    } else if Q.is_inf(b) {
        if neg { 0x10 } else { 0x20 }
    } else if Q.is_zero(b) {
        if neg { 0x04 } else { 0x08 }
    } else if Q.biased_exp(b) == 0 {
        if neg { 0x01 } else { 0x02 }
    } else {
        0
    };
    let m = dcmx & bit != 0;
    let cc = ((neg as u32) << 3) | ((m as u32) << 1);
    c.set_cr_field((op.raw >> 23) & 7, cc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    Flow::Next
}

/// `xsxexpqp` (SIG = false) / `xsxsigqp`.
fn q_extract<const SIG: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    let e = Q.biased_exp(b);
    let v = if SIG {
        let f = b & Q.frac_mask();
        if e != 0 && e != Q.exp_field() {
            f | (1u128 << 112)
        } else {
            f
        }
    } else {
        e << 64
    };
    set_vr(c, op.rt, v);
    Flow::Next
}

/// `xsiexpqp VRT,VRA,VRB`.
fn q_iexp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let a = vr(c, op.ra);
    let e = (vr(c, op.rb) >> 64) & 0x7FFF;
    let v = (a & (Q.sign_bit() | Q.frac_mask())) | (e << 112);
    set_vr(c, op.rt, v);
    Flow::Next
}

/// Conversions (XO 836 sub-operation in imm).
fn q_cvt<const SUB: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    match SUB {
        1 | 9 | 17 | 25 => {
            // QP → integer, round toward zero
            let env = Env::with_rm(c.fpscr, Rm::Zero);
            let (w, u) = match SUB {
                1 => (true, true),
                9 => (true, false),
                17 => (false, true),
                _ => (false, false),
            };
            let r = cvt_to_int(&env, Q, b, w, u);
            if !r.st.suppress {
                let v = if w && !u {
                    r.bits as u64 as u32 as i32 as i64 as u64
                } else {
                    r.bits as u64
                };
                set_vr(c, op.rt, join(v, 0));
            }
            // FPRF is undefined here; it is left unchanged (as QEMU does).
            fpscr::update(c, &r.st, None);
            fpscr::check_trap(c, r.st.exc, cia)
        }
        2 | 10 => {
            // integer (doubleword 0) → QP (exact)
            let d = (b >> 64) as u64;
            let v: i128 = if SUB == 10 {
                d as i64 as i128
            } else {
                d as i128
            };
            let r = fpu::from_int(&Env::new(c.fpscr), Q, v);
            complete_q(c, op, r, cia)
        }
        20 => {
            // xscvqpdp[o]
            let r = fpu::convert(&env_ro(c, op), Q, D, b);
            if !r.st.suppress {
                set_vr(c, op.rt, join(r.bits as u64, 0));
            }
            fpscr::update(c, &r.st, Some(fpu::fprf(D, r.bits)));
            fpscr::check_trap(c, r.st.exc, cia)
        }
        _ => {
            // xscvdpqp
            let r = fpu::convert(&Env::new(c.fpscr), D, Q, b >> 64);
            complete_q(c, op, r, cia)
        }
    }
}

/// The rounding mode of `xsrqpi`/`xsrqpxp` from R (bit 15) and RMC (bits 21:22).
fn rmc_mode(c: &Core, w: u32) -> Rm {
    let r = (w >> 16) & 1;
    let rmc = (w >> 9) & 3;
    match (r, rmc) {
        (1, 0) => Rm::Nearest,
        (1, 1) => Rm::Zero,
        (1, 2) => Rm::Up,
        (1, 3) => Rm::Down,
        (0, 0) => Rm::NearAway,
        _ => Rm::from_rn(c.fpscr),
    }
}

/// `xsrqpi[x]` (EX = bit 31 reports inexact).
fn q_rqpi(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    let rm = rmc_mode(c, op.raw);
    let env = Env::new(c.fpscr);
    let r = fpu::round_int(&env, Q, b, rm, op.raw & 1 != 0);
    complete_q(c, op, r, cia)
}

/// `xsrqpxp`: round to double-extended precision (64-bit significand), QP range.
fn q_rqpxp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vsx!(c, cia);
    let b = vr(c, op.rb);
    let rm = rmc_mode(c, op.raw);
    const X80: Fmt = Fmt { p: 64, ebits: 15 };
    let env = Env::with_rm(c.fpscr, rm);
    let r = if Q.is_nan(b) {
        fpu::convert(&env, Q, Q, b)
    } else {
        let mut r = fpu::finish(&env, X80, soft::unpack(Q, b), 0, false);
        if !r.st.suppress {
            // repack the 64-bit-significand layout into binary128
            let x = r.bits;
            let sign = (x >> 78) & 1;
            let exp = (x >> 63) & 0x7FFF;
            let frac = x & ((1u128 << 63) - 1);
            r.bits = (sign << 127) | (exp << 112) | (frac << 49);
        }
        r
    };
    complete_q(c, op, r, cia)
}

/// Op 63 quad-precision instructions (called for X-form XOs the classic FP table does not
/// claim).
pub(super) fn decode63(w: u32) -> Option<Op> {
    // Z23 forms keyed by bits 23:30
    match (w >> 1) & 0xFF {
        5 => return Some(Op::new(q_rqpi, w, 0)),
        37 => return Some(Op::new(q_rqpxp, w, 0)),
        _ => {}
    }
    let sub = (w >> 16) & 31;
    let f: Handler = match field::xo10(w) {
        4 => q_bin::<ADD>,
        516 => q_bin::<SUB>,
        36 => q_bin::<MUL>,
        548 => q_bin::<DIV>,
        388 => q_fma::<0>,
        420 => q_fma::<1>,
        452 => q_fma::<2>,
        484 => q_fma::<3>,
        100 => q_sign::<3>,
        132 => q_cmp::<true>,
        644 => q_cmp::<false>,
        164 => q_cmpexp,
        708 => q_tstdc,
        868 => q_iexp,
        804 => match sub {
            0 => q_sign::<0>,
            8 => q_sign::<1>,
            16 => q_sign::<2>,
            2 => q_extract::<false>,
            18 => q_extract::<true>,
            27 => q_sqrt,
            _ => return None,
        },
        836 => match sub {
            1 => q_cvt::<1>,
            2 => q_cvt::<2>,
            9 => q_cvt::<9>,
            10 => q_cvt::<10>,
            17 => q_cvt::<17>,
            20 => q_cvt::<20>,
            22 => q_cvt::<22>,
            25 => q_cvt::<25>,
            _ => return None,
        },
        _ => return None,
    };
    Some(Op::new(f, w, 0))
}
