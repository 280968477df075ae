//! Classic floating point: loads/stores (ops 48–55, op 31 X-form, `lfdp`/`stfdp`), the
//! op 59/63 arithmetic, conversions, moves, compares and FPSCR instructions.

use super::fpscr;
use super::fpu::{self, D, Env, Op2, R, SD};
use super::soft::Rm;
use super::{fast, fast_ok, fp_off, fp_unavailable, fpr, host_fma, set_fpr};
use crate::core::{Core, Flow};
use crate::op::{Handler, Op, field};

/// Builds an op.
#[inline]
fn op(f: Handler, w: u32, imm: u64) -> Option<Op> {
    Some(Op::new(f, w, imm))
}

macro_rules! need_fp {
    ($c:expr, $cia:expr) => {
        if fp_off($c) {
            return fp_unavailable($c, $cia);
        }
    };
}

/// Picks the Rc variant of a const-generic handler.
macro_rules! rc {
    ($w:expr, $f:ident $(, $g:expr)*) => {
        if field::rc($w) {
            $f::<$($g,)* true> as Handler
        } else {
            $f::<$($g,)* false> as Handler
        }
    };
}

// ---- loads and stores ----------------------------------------------------------------------------

/// Kinds of FP memory access.
const LFS: u8 = 0;
const LFD: u8 = 1;
const STFS: u8 = 2;
const STFD: u8 = 3;
const LFIWAX: u8 = 4;
const LFIWZX: u8 = 5;
const STFIWX: u8 = 6;

#[inline(always)]
fn mem_access<const K: u8>(c: &mut Core, t: u8, ea: u64) -> Result<(), crate::core::Fault> {
    match K {
        LFS => {
            let v = c.ld::<4>(ea)?;
            set_fpr(c, t, fpu::sp_to_dp_bits(v as u32));
        }
        LFD => {
            let v = c.ld::<8>(ea)?;
            set_fpr(c, t, v);
        }
        STFS => {
            let v = fpu::dp_to_sp_bits(fpr(c, t));
            c.st::<4>(ea, v as u64)?;
        }
        STFD => {
            let v = fpr(c, t);
            c.st::<8>(ea, v)?;
        }
        LFIWAX => {
            let v = c.ld::<4>(ea)?;
            set_fpr(c, t, v as u32 as i32 as i64 as u64);
        }
        LFIWZX => {
            let v = c.ld::<4>(ea)?;
            set_fpr(c, t, v as u32 as u64);
        }
        _ => {
            let v = fpr(c, t);
            c.st::<4>(ea, v & 0xFFFF_FFFF)?;
        }
    }
    Ok(())
}

/// D-form FP load/store; U = update RA.
fn mem_d<const K: u8, const U: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let ea = c.ea_d(op.ra, op.imm);
    match mem_access::<K>(c, op.rt, ea) {
        Ok(()) => {
            if U {
                c.gpr[op.ra as usize] = ea;
            }
            Flow::Next
        }
        Err(f) => c.fault(f, cia),
    }
}

/// X-form FP load/store; U = update RA.
fn mem_x<const K: u8, const U: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let ea = c.ea_x(op.ra, op.rb);
    match mem_access::<K>(c, op.rt, ea) {
        Ok(()) => {
            if U {
                c.gpr[op.ra as usize] = ea;
            }
            Flow::Next
        }
        Err(f) => c.fault(f, cia),
    }
}

/// `lfdp`/`lfdpx`: an even/odd FPR pair from 16 bytes (doublewords swapped in LE mode).
fn lfdp<const X: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let ea = if X {
        c.ea_x(op.ra, op.rb)
    } else {
        c.ea_d(op.ra, op.imm)
    };
    let mut b = [0u8; 16];
    if let Err(f) = c.read_bytes(ea, &mut b) {
        return c.fault(f, cia);
    }
    let lo = u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let hi = u64::from_be_bytes(b[8..].try_into().unwrap_or([0; 8]));
    let (v0, v1) = if c.little_endian() {
        (hi.swap_bytes(), lo.swap_bytes())
    } else {
        (lo, hi)
    };
    set_fpr(c, op.rt, v0);
    set_fpr(c, op.rt | 1, v1);
    Flow::Next
}

/// `stfdp`/`stfdpx`.
fn stfdp<const X: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let ea = if X {
        c.ea_x(op.ra, op.rb)
    } else {
        c.ea_d(op.ra, op.imm)
    };
    let (v0, v1) = (fpr(c, op.rt), fpr(c, op.rt | 1));
    let mut b = [0u8; 16];
    if c.little_endian() {
        b[..8].copy_from_slice(&v1.to_le_bytes());
        b[8..].copy_from_slice(&v0.to_le_bytes());
    } else {
        b[..8].copy_from_slice(&v0.to_be_bytes());
        b[8..].copy_from_slice(&v1.to_be_bytes());
    }
    match c.write_bytes(ea, &b) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

/// Ops 48–55.
pub(super) fn decode_dform(w: u32) -> Option<Op> {
    let simm = field::simm16(w);
    let ra = (w >> 16) & 31;
    let upd = w >> 26 & 1 != 0;
    if upd && ra == 0 {
        return None;
    }
    let f: Handler = match w >> 26 {
        48 => mem_d::<LFS, false>,
        49 => mem_d::<LFS, true>,
        50 => mem_d::<LFD, false>,
        51 => mem_d::<LFD, true>,
        52 => mem_d::<STFS, false>,
        53 => mem_d::<STFS, true>,
        54 => mem_d::<STFD, false>,
        _ => mem_d::<STFD, true>,
    };
    op(f, w, simm)
}

/// Op 31 FP loads/stores.
pub(super) fn decode31(w: u32) -> Option<Op> {
    let ra = (w >> 16) & 31;
    let xo = field::xo10(w);
    let upd = matches!(xo, 567 | 631 | 695 | 759);
    if upd && ra == 0 {
        return None;
    }
    let f: Handler = match xo {
        535 => mem_x::<LFS, false>,
        567 => mem_x::<LFS, true>,
        599 => mem_x::<LFD, false>,
        631 => mem_x::<LFD, true>,
        663 => mem_x::<STFS, false>,
        695 => mem_x::<STFS, true>,
        727 => mem_x::<STFD, false>,
        759 => mem_x::<STFD, true>,
        855 => mem_x::<LFIWAX, false>,
        887 => mem_x::<LFIWZX, false>,
        983 => mem_x::<STFIWX, false>,
        791 | 919 => {
            if (w >> 21) & 1 != 0 {
                return None;
            }
            if xo == 791 {
                lfdp::<true>
            } else {
                stfdp::<true>
            }
        }
        _ => return None,
    };
    op(f, w, 0)
}

/// `lfdp` (op 57, DS XO 0).
pub(super) fn decode_lfdp(w: u32) -> Option<Op> {
    if (w >> 21) & 1 != 0 {
        return None;
    }
    op(lfdp::<false>, w, (w & 0xFFFC) as u16 as i16 as i64 as u64)
}

/// `stfdp` (op 61, DS XO 0).
pub(super) fn decode_stfdp(w: u32) -> Option<Op> {
    if (w >> 21) & 1 != 0 {
        return None;
    }
    op(stfdp::<false>, w, (w & 0xFFFC) as u16 as i16 as i64 as u64)
}

// ---- common completion ---------------------------------------------------------------------------

/// Writes an arithmetic result (double format) to FPR `t` and updates FPSCR (FPRF from the
/// result), CR1 and the trap.
#[inline(always)]
fn complete<const RC: bool>(c: &mut Core, t: u8, r: R, cia: u64) -> Flow {
    if !r.st.suppress {
        set_fpr(c, t, r.bits as u64);
    }
    fpscr::update(c, &r.st, Some(fpu::fprf(D, r.bits)));
    if RC {
        fpscr::set_cr1(c);
    }
    if r.st.exc != 0 {
        return fpscr::check_trap(c, r.st.exc, cia);
    }
    Flow::Next
}

/// The completion of a fast-path result (zero or normal, maybe inexact): the same FPSCR
/// update as [`complete`].
#[inline(always)]
fn complete_fast<const RC: bool>(c: &mut Core, t: u8, r: fast::Res, cia: u64) -> Flow {
    set_fpr(c, t, r.bits);
    let st = r.status();
    fpscr::update(c, &st, Some(fast::class_d(r.bits)));
    if RC {
        fpscr::set_cr1(c);
    }
    if st.exc != 0 {
        return fpscr::check_trap(c, st.exc, cia);
    }
    Flow::Next
}

// ---- A-form arithmetic ---------------------------------------------------------------------------

const ADD: u8 = 0;
const SUB: u8 = 1;
const MUL: u8 = 2;
const DIV: u8 = 3;

#[inline(always)]
fn op2_of(k: u8) -> Op2 {
    match k {
        ADD => Op2::Add,
        SUB => Op2::Sub,
        MUL => Op2::Mul,
        _ => Op2::Div,
    }
}

/// `fadd`/`fsub`/`fmul`/`fdiv` and their single forms. `fmul` takes FRC as the second
/// operand.
fn farith<const K: u8, const SP: bool, const HW: bool, const RC: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    need_fp!(c, cia);
    let a = fpr(c, op.ra);
    let b = if K == MUL {
        fpr(c, op.rc)
    } else {
        fpr(c, op.rb)
    };
    if fast_ok()
        && let Some(r) = fast::arith::<K, SP, HW>(a, b, c.fpscr)
    {
        return complete_fast::<RC>(c, op.rt, r, cia);
    }
    let env = Env::new(c.fpscr);
    let r = if SP {
        fpu::arith2(&env, D, SD, op2_of(K), a as u128, b as u128)
    } else {
        fpu::arith2(&env, D, D, op2_of(K), a as u128, b as u128)
    };
    complete::<RC>(c, op.rt, r, cia)
}

/// `fsqrt[s]`.
fn fsqrt<const SP: bool, const HW: bool, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb);
    if fast_ok()
        && let Some(r) = fast::sqrt::<SP, HW>(b, c.fpscr)
    {
        return complete_fast::<RC>(c, op.rt, r, cia);
    }
    let env = Env::new(c.fpscr);
    let r = if SP {
        fpu::sqrt(&env, D, SD, b as u128)
    } else {
        fpu::sqrt(&env, D, D, b as u128)
    };
    complete::<RC>(c, op.rt, r, cia)
}

/// `fre[s]` / `frsqrte[s]`.
fn festimate<const RSQRT: bool, const SP: bool, const RC: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb) as u128;
    let env = Env::new(c.fpscr);
    let fout = if SP { SD } else { D };
    let r = if RSQRT {
        fpu::rsqrt(&env, D, fout, b)
    } else {
        fpu::recip(&env, D, fout, b)
    };
    complete::<RC>(c, op.rt, r, cia)
}

/// FMA family: M = [`fast::FMA_SUB`] | [`fast::FMA_NEG`] bits: 0 madd, 1 msub, 2 nmadd,
/// 3 nmsub.
fn ffma<const M: u8, const SP: bool, const HW: bool, const RC: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    need_fp!(c, cia);
    let a = fpr(c, op.ra);
    let b = fpr(c, op.rb);
    let cc = fpr(c, op.rc);
    if fast_ok()
        && let Some(r) = fast::fma::<M, SP, HW>(a, cc, b, c.fpscr)
    {
        return complete_fast::<RC>(c, op.rt, r, cia);
    }
    let (a, b, cc) = (a as u128, b as u128, cc as u128);
    let env = Env::new(c.fpscr);
    let sub = M & fast::FMA_SUB != 0;
    let neg = M & fast::FMA_NEG != 0;
    let r = if SP {
        fpu::fma(&env, D, SD, a, cc, b, sub, neg)
    } else {
        fpu::fma(&env, D, D, a, cc, b, sub, neg)
    };
    complete::<RC>(c, op.rt, r, cia)
}

/// `fsel`.
fn fsel<const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let a = fpr(c, op.ra);
    let ge = !D.is_nan(a as u128) && (a << 1 == 0 || (a as i64) >= 0);
    let v = if ge { fpr(c, op.rc) } else { fpr(c, op.rb) };
    set_fpr(c, op.rt, v);
    if RC {
        fpscr::set_cr1(c);
    }
    Flow::Next
}

// ---- X-form --------------------------------------------------------------------------------------

/// Bit moves: 0 fmr, 1 fneg, 2 fabs, 3 fnabs, 4 fcpsgn.
fn fmove<const K: u8, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb);
    const SIGN: u64 = 1 << 63;
    let v = match K {
        0 => b,
        1 => b ^ SIGN,
        2 => b & !SIGN,
        3 => b | SIGN,
        _ => (fpr(c, op.ra) & SIGN) | (b & !SIGN),
    };
    set_fpr(c, op.rt, v);
    if RC {
        fpscr::set_cr1(c);
    }
    Flow::Next
}

/// `fmrgew` (EVEN) / `fmrgow`.
fn fmrg<const EVEN: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let (a, b) = (fpr(c, op.ra), fpr(c, op.rb));
    let v = if EVEN {
        (a & 0xFFFF_FFFF_0000_0000) | (b >> 32)
    } else {
        (a << 32) | (b & 0xFFFF_FFFF)
    };
    set_fpr(c, op.rt, v);
    Flow::Next
}

/// `frsp`.
fn frsp<const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb);
    if fast_ok()
        && let Some(r) = fast::d_to_s(b, c.fpscr)
    {
        let r = fast::Res {
            bits: fast::s_to_d(r.bits),
            ..r
        };
        return complete_fast::<RC>(c, op.rt, r, cia);
    }
    let env = Env::new(c.fpscr);
    let r = fpu::convert(&env, D, SD, b as u128);
    complete::<RC>(c, op.rt, r, cia)
}

/// Float → integer: W = word result, U = unsigned, Z = round toward zero.
fn fcti<const W: bool, const U: bool, const Z: bool, const RC: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb);
    let rm = if Z { 1 } else { c.fpscr };
    if fast_ok()
        && let Some((_, r)) = fast::to_int::<W, U>(b, rm)
    {
        set_fpr(c, op.rt, int_image(r.bits, W, U));
        let st = r.status();
        fpscr::update(c, &st, None);
        if RC {
            fpscr::set_cr1(c);
        }
        return fpscr::check_trap(c, st.exc, cia);
    }
    let b = b as u128;
    let env = if Z {
        Env::with_rm(c.fpscr, Rm::Zero)
    } else {
        Env::new(c.fpscr)
    };
    let r = cvt_to_int(&env, D, b, W, U);
    if !r.st.suppress {
        set_fpr(c, op.rt, r.bits as u64);
    }
    // FPRF is undefined; QEMU reports a quiet NaN class for invalid conversions.
    let cls = (r.st.exc & fpscr::VXCVI != 0).then_some(fpscr::class::QNAN);
    fpscr::update(c, &r.st, cls);
    if RC {
        fpscr::set_cr1(c);
    }
    fpscr::check_trap(c, r.st.exc, cia)
}

/// Shared float → integer conversion of the FP and VSX scalar instructions. The returned
/// bits are the 64-bit register image: word results are sign-extended (signed) or
/// zero-extended (unsigned) as QEMU does; NaN gives the most negative value or 0.
pub(crate) fn cvt_to_int(env: &Env, fin: super::soft::Fmt, b: u128, w: bool, u: bool) -> R {
    let (min, max, nan): (i128, i128, i128) = match (w, u) {
        (true, false) => (i32::MIN as i128, i32::MAX as i128, i32::MIN as i128),
        (true, true) => (0, u32::MAX as i128, 0),
        (false, false) => (i64::MIN as i128, i64::MAX as i128, i64::MIN as i128),
        (false, true) => (0, u64::MAX as i128, 0),
    };
    let mut r = fpu::to_int(env, fin, b, min, max, nan);
    r.bits = int_image(r.bits as u64, w, u || fin.is_nan(b)) as u128;
    r
}

/// The 64-bit register image of a conversion result (the integer's two's-complement
/// bits): QEMU's images have unsigned words zero-extended, and the NaN result 0x8000_0000
/// too (`u` is then set).
#[inline(always)]
pub(crate) fn int_image(v: u64, w: bool, u: bool) -> u64 {
    if w && u { v & 0xFFFF_FFFF } else { v }
}

/// Integer → float: U = unsigned source, SP = round to single.
fn fcfid<const U: bool, const SP: bool, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb);
    if fast_ok() {
        let (neg, mag) = if U {
            (false, b)
        } else {
            ((b as i64) < 0, (b as i64).unsigned_abs())
        };
        let r = if SP {
            fast::from_int::<24>(neg, mag, c.fpscr).map(|r| fast::Res {
                bits: fast::s_to_d(r.bits),
                ..r
            })
        } else {
            fast::from_int::<53>(neg, mag, c.fpscr)
        };
        if let Some(r) = r {
            return complete_fast::<RC>(c, op.rt, r, cia);
        }
    }
    let v: i128 = if U { b as i128 } else { b as i64 as i128 };
    let env = Env::new(c.fpscr);
    let r = if SP {
        fpu::from_int(&env, SD, v)
    } else {
        fpu::from_int(&env, D, v)
    };
    complete::<RC>(c, op.rt, r, cia)
}

/// `frin`/`friz`/`frip`/`frim` (M = 0/1/2/3).
fn fri<const M: u8, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb);
    let r = match M {
        0 => fast::round_int::<4>(b),
        1 => fast::round_int::<1>(b),
        2 => fast::round_int::<2>(b),
        _ => fast::round_int::<3>(b),
    };
    if fast_ok()
        && let Some(r) = r
    {
        // The inexact result is not reported.
        let r = fast::Res {
            inexact: false,
            inc: false,
            ..r
        };
        return complete_fast::<RC>(c, op.rt, r, cia);
    }
    let b = b as u128;
    let env = Env::new(c.fpscr);
    let rm = match M {
        0 => Rm::NearAway,
        1 => Rm::Zero,
        2 => Rm::Up,
        _ => Rm::Down,
    };
    let r = fpu::round_int(&env, D, b, rm, false);
    complete::<RC>(c, op.rt, r, cia)
}

/// `fcmpu` / `fcmpo` (O).
fn fcmp<const O: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let (a, b) = (fpr(c, op.ra), fpr(c, op.rb));
    let (cc, st) = match fast::cmp_d(a, b) {
        Some(cc) if fast_ok() => (cc, fpscr::Status::default()),
        _ => fpu::compare(&Env::new(c.fpscr), D, a as u128, b as u128, O),
    };
    c.set_cr_field(op.rt as u32 >> 2, cc);
    fpscr::update_sticky(c, st.exc);
    c.fpscr = (c.fpscr & !fpscr::FPCC) | ((cc as u64) << fpscr::FPRF_SHIFT);
    fpscr::check_trap(c, st.exc, cia)
}

/// `ftdiv` / `ftsqrt` (SQ).
fn ftest<const SQ: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let b = fpr(c, op.rb) as u128;
    let v = if SQ {
        fpu::tsqrt(D, b)
    } else {
        fpu::tdiv(D, fpr(c, op.ra) as u128, b)
    };
    c.set_cr_field(op.rt as u32 >> 2, v);
    Flow::Next
}

// ---- FPSCR instructions --------------------------------------------------------------------------

/// The `mffs` family; the selector (bits 11:15) is in `imm`.
fn mffs<const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let f = c.fpscr;
    match op.imm {
        0 => set_fpr(c, op.rt, f),
        1 => {
            set_fpr(c, op.rt, f);
            c.fpscr =
                fpscr::derive(f & !(fpscr::VE | fpscr::OE | fpscr::UE | fpscr::ZE | fpscr::XE));
        }
        22 => {
            let rn = fpr(c, op.rb) & fpscr::RN;
            set_fpr(c, op.rt, f & (fpscr::DRN | 0xFF));
            c.fpscr = (f & !fpscr::RN) | rn;
        }
        23 => {
            set_fpr(c, op.rt, f & (fpscr::DRN | 0xFF));
            c.fpscr = (f & !fpscr::RN) | ((op.raw as u64 >> 11) & fpscr::RN);
        }
        _ => set_fpr(c, op.rt, f & (fpscr::DRN | 0x7_F0FF)),
    }
    if RC {
        fpscr::set_cr1(c);
    }
    Flow::Next
}

/// Writes FPSCR from an explicit value: reserved bits dropped, VX and FEX derived.
#[inline]
fn store_fpscr(c: &mut Core, v: u64) {
    c.fpscr = fpscr::derive(v & fpscr::VALID);
}

/// `mtfsf FLM,FRB,L,W`.
fn mtfsf<const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let w = op.raw;
    let l = (w >> 25) & 1 != 0;
    let flm = (w >> 17) & 0xFF;
    let wbit = (w >> 16) & 1;
    let b = fpr(c, op.rb);
    let new = if l {
        b
    } else {
        let mut mask = 0u64;
        for i in 0..8 {
            if flm & (0x80 >> i) != 0 {
                let k = i + 8 * (1 - wbit); // field number in the 64-bit register
                mask |= 0xFu64 << (60 - 4 * k);
            }
        }
        (c.fpscr & !mask) | (b & mask)
    };
    store_fpscr(c, new);
    if RC {
        fpscr::set_cr1(c);
    }
    fpscr::check_trap_any(c, cia)
}

/// `mtfsfi BF,U,W`.
fn mtfsfi<const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let w = op.raw;
    let bf = (w >> 23) & 7;
    let wbit = (w >> 16) & 1;
    let u = ((w >> 12) & 0xF) as u64;
    let k = bf + 8 * (1 - wbit);
    let sh = 60 - 4 * k;
    let new = (c.fpscr & !(0xF << sh)) | (u << sh);
    store_fpscr(c, new);
    if RC {
        fpscr::set_cr1(c);
    }
    fpscr::check_trap_any(c, cia)
}

/// `mtfsb0` / `mtfsb1` (SET).
fn mtfsb<const SET: bool, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let m = 1u64 << (31 - op.rt as u32);
    let mut f = c.fpscr;
    if SET {
        if m & fpscr::EXC_ALL != 0 && f & m == 0 {
            f |= fpscr::FX;
        }
        f |= m;
    } else {
        f &= !m;
    }
    store_fpscr(c, f);
    if RC {
        fpscr::set_cr1(c);
    }
    if SET {
        return fpscr::check_trap_any(c, cia);
    }
    Flow::Next
}

/// `mcrfs BF,BFA`.
fn mcrfs(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_fp!(c, cia);
    let bf = op.rt as u32 >> 2;
    let bfa = op.ra as u32 >> 2;
    let sh = 28 - 4 * bfa;
    let v = ((c.fpscr >> sh) & 0xF) as u32;
    c.set_cr_field(bf, v);
    let clear = (0xFu64 << sh) & (fpscr::FX | fpscr::EXC_ALL);
    c.fpscr = fpscr::derive(c.fpscr & !clear);
    Flow::Next
}

// ---- decode ----------------------------------------------------------------------------------------

/// Op 59.
pub(super) fn decode59(w: u32) -> Option<Op> {
    if host_fma() {
        decode59_::<true>(w)
    } else {
        decode59_::<false>(w)
    }
}

fn decode59_<const HW: bool>(w: u32) -> Option<Op> {
    if w & 0x20 != 0 {
        let f: Handler = match (w >> 1) & 0x1F {
            18 => rc!(w, farith, DIV, true, HW),
            20 => rc!(w, farith, SUB, true, HW),
            21 => rc!(w, farith, ADD, true, HW),
            22 => rc!(w, fsqrt, true, HW),
            24 => rc!(w, festimate, false, true),
            25 => rc!(w, farith, MUL, true, HW),
            26 => rc!(w, festimate, true, true),
            28 => rc!(w, ffma, 1, true, HW),
            29 => rc!(w, ffma, 0, true, HW),
            30 => rc!(w, ffma, 3, true, HW),
            31 => rc!(w, ffma, 2, true, HW),
            _ => return None,
        };
        return op(f, w, 0);
    }
    let f: Handler = match field::xo10(w) {
        846 => rc!(w, fcfid, false, true),
        974 => rc!(w, fcfid, true, true),
        _ => return None,
    };
    op(f, w, 0)
}

/// Op 63 (classic FP; quad precision is delegated).
pub(super) fn decode63(w: u32) -> Option<Op> {
    if host_fma() {
        decode63_::<true>(w)
    } else {
        decode63_::<false>(w)
    }
}

fn decode63_<const HW: bool>(w: u32) -> Option<Op> {
    if w & 0x20 != 0 {
        let f: Handler = match (w >> 1) & 0x1F {
            18 => rc!(w, farith, DIV, false, HW),
            20 => rc!(w, farith, SUB, false, HW),
            21 => rc!(w, farith, ADD, false, HW),
            22 => rc!(w, fsqrt, false, HW),
            23 => rc!(w, fsel),
            24 => rc!(w, festimate, false, false),
            25 => rc!(w, farith, MUL, false, HW),
            26 => rc!(w, festimate, true, false),
            28 => rc!(w, ffma, 1, false, HW),
            29 => rc!(w, ffma, 0, false, HW),
            30 => rc!(w, ffma, 3, false, HW),
            31 => rc!(w, ffma, 2, false, HW),
            _ => return None,
        };
        return op(f, w, 0);
    }
    let xo = field::xo10(w);
    let f: Handler = match xo {
        0 => fcmp::<false>,
        32 => fcmp::<true>,
        8 => rc!(w, fmove, 4),
        12 => rc!(w, frsp),
        14 => rc!(w, fcti, true, false, false),
        15 => rc!(w, fcti, true, false, true),
        142 => rc!(w, fcti, true, true, false),
        143 => rc!(w, fcti, true, true, true),
        814 => rc!(w, fcti, false, false, false),
        815 => rc!(w, fcti, false, false, true),
        942 => rc!(w, fcti, false, true, false),
        943 => rc!(w, fcti, false, true, true),
        846 => rc!(w, fcfid, false, false),
        974 => rc!(w, fcfid, true, false),
        38 => rc!(w, mtfsb, true),
        70 => rc!(w, mtfsb, false),
        40 => rc!(w, fmove, 1),
        72 => rc!(w, fmove, 0),
        136 => rc!(w, fmove, 3),
        264 => rc!(w, fmove, 2),
        64 => mcrfs,
        128 => ftest::<false>,
        160 => ftest::<true>,
        134 => rc!(w, mtfsfi),
        392 => rc!(w, fri, 0),
        424 => rc!(w, fri, 1),
        456 => rc!(w, fri, 2),
        488 => rc!(w, fri, 3),
        583 => {
            let sel = (w >> 16) & 31;
            return match sel {
                0 => op(rc!(w, mffs), w, 0),
                1 | 22 | 23 | 24 if !field::rc(w) => op(mffs::<false>, w, sel as u64),
                _ => None,
            };
        }
        711 => rc!(w, mtfsf),
        838 => fmrg::<false>,
        966 => fmrg::<true>,
        _ => return super::qp::decode63(w),
    };
    op(f, w, 0)
}
