//! Fixed-point arithmetic, logical, rotate/shift, compare, trap and ISA 3.0 integer ops.

use crate::core::{Core, Flow};
use crate::op::Op;
use crate::reg::{msr, program};

#[inline(always)]
fn rd(c: &Core, r: u8) -> u64 {
    c.gpr[(r & 31) as usize]
}

#[inline(always)]
fn ra0(c: &Core, r: u8) -> u64 {
    if r == 0 { 0 } else { c.gpr[(r & 31) as usize] }
}

#[inline(always)]
fn finish<const RC: bool>(c: &mut Core, rt: u8, v: u64) -> Flow {
    c.gpr[rt as usize] = v;
    if RC {
        c.set_cr0(v);
    }
    Flow::Next
}

/// Adds with carry-in; returns (sum, CA, CA32).
#[inline(always)]
fn add3(a: u64, b: u64, cin: u64) -> (u64, u64, u64) {
    let (s1, c1) = a.overflowing_add(b);
    let (s, c2) = s1.overflowing_add(cin);
    let ca32 = (((a & 0xFFFF_FFFF) + (b & 0xFFFF_FFFF) + cin) >> 32) & 1;
    (s, (c1 | c2) as u64, ca32)
}

#[inline(always)]
fn set_ca(c: &mut Core, ca: u64, ca32: u64) {
    if c.msr() & msr::SF != 0 {
        c.ca = ca;
    } else {
        c.ca = ca32;
    }
    c.ca32 = ca32;
}

/// OV and OV32 of `a + b (+cin) = r` (signed overflow of the 64-bit and low-word sums).
#[inline(always)]
fn add_ov(c: &mut Core, a: u64, b: u64, r: u64) {
    let x = (a ^ r) & (b ^ r);
    let ov64 = x >> 63 != 0;
    let ov32 = (x >> 31) & 1 != 0;
    let ov = if c.msr() & msr::SF != 0 { ov64 } else { ov32 };
    c.set_ov(ov, ov32);
}

// ---- D-form arithmetic ---------------------------------------------------------------------

pub(crate) fn addi(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.rt & 31) as usize] = ra0(c, op.ra).wrapping_add(op.imm);
    Flow::Next
}

pub(crate) fn li(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.rt & 31) as usize] = op.imm;
    Flow::Next
}

pub(crate) fn addic<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let (r, ca, ca32) = add3(rd(c, op.ra), op.imm, 0);
    set_ca(c, ca, ca32);
    finish::<RC>(c, op.rt, r)
}

pub(crate) fn subfic(c: &mut Core, op: &Op, _: u64) -> Flow {
    let (r, ca, ca32) = add3(!rd(c, op.ra), op.imm, 1);
    set_ca(c, ca, ca32);
    c.gpr[(op.rt & 31) as usize] = r;
    Flow::Next
}

pub(crate) fn mulli(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.rt & 31) as usize] = rd(c, op.ra).wrapping_mul(op.imm);
    Flow::Next
}

// ---- XO-form arithmetic --------------------------------------------------------------------

macro_rules! xo_arith {
    ($name:ident, |$c:ident, $a:ident, $b:ident| $body:expr, carry = $carry:tt, ov = $ovk:tt) => {
        pub(crate) fn $name<const OE: bool, const RC: bool>($c: &mut Core, op: &Op, _: u64) -> Flow {
            let $a = rd($c, op.ra);
            let $b = rd($c, op.rb);
            let (x, y, cin): (u64, u64, u64) = $body;
            let (r, ca, ca32) = add3(x, y, cin);
            xo_arith!(@carry $carry, $c, ca, ca32);
            if OE {
                add_ov($c, x, y, r);
            }
            finish::<RC>($c, op.rt, r)
        }
    };
    (@carry yes, $c:ident, $ca:ident, $ca32:ident) => { set_ca($c, $ca, $ca32); };
    (@carry no, $c:ident, $ca:ident, $ca32:ident) => { let _ = ($ca, $ca32); };
}

xo_arith!(add, |c, a, b| (a, b, 0), carry = no, ov = std);
xo_arith!(addc, |c, a, b| (a, b, 0), carry = yes, ov = std);
xo_arith!(adde, |c, a, b| (a, b, c.ca), carry = yes, ov = std);
xo_arith!(
    addme,
    |c, a, b| {
        let _ = b;
        (a, u64::MAX, c.ca)
    },
    carry = yes,
    ov = std
);
xo_arith!(
    addze,
    |c, a, b| {
        let _ = b;
        (a, 0, c.ca)
    },
    carry = yes,
    ov = std
);
xo_arith!(subf, |c, a, b| (!a, b, 1), carry = no, ov = std);
xo_arith!(subfc, |c, a, b| (!a, b, 1), carry = yes, ov = std);
xo_arith!(subfe, |c, a, b| (!a, b, c.ca), carry = yes, ov = std);
xo_arith!(
    subfme,
    |c, a, b| {
        let _ = b;
        (!a, u64::MAX, c.ca)
    },
    carry = yes,
    ov = std
);
xo_arith!(
    subfze,
    |c, a, b| {
        let _ = b;
        (!a, 0, c.ca)
    },
    carry = yes,
    ov = std
);
xo_arith!(
    neg,
    |c, a, b| {
        let _ = b;
        (!a, 0, 1)
    },
    carry = no,
    ov = std
);

pub(crate) fn mullw<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let p = (rd(c, op.ra) as i32 as i64) * (rd(c, op.rb) as i32 as i64);
    if OE {
        let ov = p != p as i32 as i64;
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, p as u64)
}

pub(crate) fn mulld<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let (p, ov) = (rd(c, op.ra) as i64).overflowing_mul(rd(c, op.rb) as i64);
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, p as u64)
}

pub(crate) fn mulhw<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let p = (rd(c, op.ra) as i32 as i64) * (rd(c, op.rb) as i32 as i64);
    // The high word of RT is undefined; zero it as QEMU does.
    finish::<RC>(c, op.rt, (p >> 32) as u32 as u64)
}

pub(crate) fn mulhwu<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let p = (rd(c, op.ra) as u32 as u64) * (rd(c, op.rb) as u32 as u64);
    finish::<RC>(c, op.rt, p >> 32)
}

pub(crate) fn mulhd<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let p = (rd(c, op.ra) as i64 as i128) * (rd(c, op.rb) as i64 as i128);
    finish::<RC>(c, op.rt, (p >> 64) as u64)
}

pub(crate) fn mulhdu<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let p = (rd(c, op.ra) as u128) * (rd(c, op.rb) as u128);
    finish::<RC>(c, op.rt, (p >> 64) as u64)
}

/// Division results for the undefined cases follow QEMU (quotient 0), so that differential
/// tests can compare them; the ISA leaves them undefined.
pub(crate) fn divw<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra) as i32;
    let b = rd(c, op.rb) as i32;
    let (q, ov) = if b == 0 || (a == i32::MIN && b == -1) {
        (0, true)
    } else {
        ((a / b) as u32 as u64, false)
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn divwu<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra) as u32;
    let b = rd(c, op.rb) as u32;
    let (q, ov) = match a.checked_div(b) {
        Some(q) => (q as u64, false),
        None => (0, true),
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn divd<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra) as i64;
    let b = rd(c, op.rb) as i64;
    let (q, ov) = if b == 0 || (a == i64::MIN && b == -1) {
        (0, true)
    } else {
        ((a / b) as u64, false)
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn divdu<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra);
    let b = rd(c, op.rb);
    let (q, ov) = match a.checked_div(b) {
        Some(q) => (q, false),
        None => (0, true),
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

/// divwe: (RA[32:63] || 0x0000_0000) / RB[32:63], signed; undefined if it does not fit.
pub(crate) fn divwe<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = ((rd(c, op.ra) as i32 as i64) << 32) as i128;
    let b = rd(c, op.rb) as i32 as i128;
    let (q, ov) = match a.checked_div(b) {
        Some(q) if q >= i32::MIN as i128 && q <= i32::MAX as i128 => {
            (q as i32 as u32 as u64, false)
        }
        _ => (0, true),
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn divweu<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = (rd(c, op.ra) as u32 as u64) << 32;
    let b = rd(c, op.rb) as u32 as u64;
    let (q, ov) = match a.checked_div(b) {
        Some(q) if q <= u32::MAX as u64 => (q, false),
        _ => (0, true),
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn divde<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = (rd(c, op.ra) as i64 as i128) << 64;
    let b = rd(c, op.rb) as i64 as i128;
    let (q, ov) = match a.checked_div(b) {
        Some(q) if q >= i64::MIN as i128 && q <= i64::MAX as i128 => (q as i64 as u64, false),
        _ => (0, true),
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn divdeu<const OE: bool, const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = (rd(c, op.ra) as u128) << 64;
    let b = rd(c, op.rb) as u128;
    let (q, ov) = match a.checked_div(b) {
        Some(q) if q <= u64::MAX as u128 => (q as u64, false),
        _ => (0, true),
    };
    if OE {
        c.set_ov(ov, ov);
    }
    finish::<RC>(c, op.rt, q)
}

pub(crate) fn modsw(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra) as i32;
    let b = rd(c, op.rb) as i32;
    let r = if b == 0 || (a == i32::MIN && b == -1) {
        0
    } else {
        (a % b) as i64 as u64
    };
    c.gpr[(op.rt & 31) as usize] = r;
    Flow::Next
}

pub(crate) fn moduw(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra) as u32;
    let b = rd(c, op.rb) as u32;
    c.gpr[(op.rt & 31) as usize] = if b == 0 { 0 } else { (a % b) as u64 };
    Flow::Next
}

pub(crate) fn modsd(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra) as i64;
    let b = rd(c, op.rb) as i64;
    c.gpr[(op.rt & 31) as usize] = if b == 0 || (a == i64::MIN && b == -1) {
        0
    } else {
        (a % b) as u64
    };
    Flow::Next
}

pub(crate) fn modud(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra);
    let b = rd(c, op.rb);
    c.gpr[(op.rt & 31) as usize] = if b == 0 { 0 } else { a % b };
    Flow::Next
}

/// addex RT,RA,RB,CY=0: RA + RB + OV, carry out into OV, 32-bit carry into OV32.
pub(crate) fn addex(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if (op.raw >> 9) & 3 != 0 {
        return c.illegal(cia);
    }
    let (r, ca, ca32) = add3(rd(c, op.ra), rd(c, op.rb), c.ov);
    c.ov = ca;
    c.ov32 = ca32;
    c.gpr[(op.rt & 31) as usize] = r;
    Flow::Next
}

/// maddhd / maddhdu / maddld (VA-form on opcode 4): XO in the low 6 bits.
pub(crate) fn madd(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = rd(c, op.ra);
    let b = rd(c, op.rb);
    let cc = rd(c, op.rc);
    let r = match op.raw & 0x3F {
        48 => (((a as i64 as i128) * (b as i64 as i128) + cc as i64 as i128) >> 64) as u64,
        49 => (((a as u128) * (b as u128) + cc as u128) >> 64) as u64,
        _ => a.wrapping_mul(b).wrapping_add(cc),
    };
    c.gpr[(op.rt & 31) as usize] = r;
    Flow::Next
}

// ---- logical -------------------------------------------------------------------------------

macro_rules! logical_x {
    ($name:ident, |$s:ident, $b:ident| $e:expr) => {
        pub(crate) fn $name<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
            // X-form logical: RS in bits 6:10 (op.rt), result to RA.
            let $s = rd(c, op.rt);
            let $b = rd(c, op.rb);
            finish::<RC>(c, op.ra, $e)
        }
    };
}

logical_x!(and, |s, b| s & b);
logical_x!(andc, |s, b| s & !b);
logical_x!(or, |s, b| s | b);
logical_x!(orc, |s, b| s | !b);
logical_x!(nor, |s, b| !(s | b));
logical_x!(xor, |s, b| s ^ b);
logical_x!(eqv, |s, b| !(s ^ b));
logical_x!(nand, |s, b| !(s & b));

/// `or rX,rX,rX` priority hints and `mr`.
pub(crate) fn mr(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.ra & 31) as usize] = rd(c, op.rt);
    Flow::Next
}

pub(crate) fn nop(_: &mut Core, _: &Op, _: u64) -> Flow {
    Flow::Next
}

pub(crate) fn ori(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.ra & 31) as usize] = rd(c, op.rt) | op.imm;
    Flow::Next
}

pub(crate) fn xori(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.ra & 31) as usize] = rd(c, op.rt) ^ op.imm;
    Flow::Next
}

pub(crate) fn andi(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = rd(c, op.rt) & op.imm;
    finish::<true>(c, op.ra, v)
}

macro_rules! unary_x {
    ($name:ident, |$c:ident, $s:ident| $e:expr) => {
        pub(crate) fn $name<const RC: bool>($c: &mut Core, op: &Op, _: u64) -> Flow {
            let $s = rd($c, op.rt);
            let v = $e;
            finish::<RC>($c, op.ra, v)
        }
    };
}

unary_x!(extsb, |c, s| s as i8 as i64 as u64);
unary_x!(extsh, |c, s| s as i16 as i64 as u64);
unary_x!(extsw, |c, s| s as i32 as i64 as u64);
unary_x!(cntlzw, |c, s| (s as u32).leading_zeros() as u64);
unary_x!(cntlzd, |c, s| s.leading_zeros() as u64);
unary_x!(cnttzw, |c, s| (s as u32).trailing_zeros() as u64);
unary_x!(cnttzd, |c, s| s.trailing_zeros() as u64);

pub(crate) fn popcntb(c: &mut Core, op: &Op, _: u64) -> Flow {
    let s = rd(c, op.rt);
    let mut r = 0u64;
    for i in 0..8 {
        r |= (((s >> (8 * i)) & 0xFF).count_ones() as u64) << (8 * i);
    }
    c.gpr[(op.ra & 31) as usize] = r;
    Flow::Next
}

pub(crate) fn popcntw(c: &mut Core, op: &Op, _: u64) -> Flow {
    let s = rd(c, op.rt);
    c.gpr[(op.ra & 31) as usize] =
        ((s >> 32).count_ones() as u64) << 32 | (s as u32).count_ones() as u64;
    Flow::Next
}

pub(crate) fn popcntd(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.ra & 31) as usize] = rd(c, op.rt).count_ones() as u64;
    Flow::Next
}

pub(crate) fn prtyw(c: &mut Core, op: &Op, _: u64) -> Flow {
    let s = rd(c, op.rt) & 0x0101_0101_0101_0101;
    let lo = (s as u32).count_ones() as u64 & 1;
    let hi = ((s >> 32) as u32).count_ones() as u64 & 1;
    c.gpr[(op.ra & 31) as usize] = (hi << 32) | lo;
    Flow::Next
}

pub(crate) fn prtyd(c: &mut Core, op: &Op, _: u64) -> Flow {
    let s = rd(c, op.rt) & 0x0101_0101_0101_0101;
    c.gpr[(op.ra & 31) as usize] = s.count_ones() as u64 & 1;
    Flow::Next
}

pub(crate) fn bpermd(c: &mut Core, op: &Op, _: u64) -> Flow {
    let s = rd(c, op.rt);
    let b = rd(c, op.rb);
    let mut r = 0u64;
    for i in 0..8 {
        let idx = (s >> (8 * (7 - i))) & 0xFF;
        let bit = if idx < 64 { (b >> (63 - idx)) & 1 } else { 0 };
        r |= bit << (7 - i);
    }
    c.gpr[(op.ra & 31) as usize] = r;
    Flow::Next
}

pub(crate) fn cmpb(c: &mut Core, op: &Op, _: u64) -> Flow {
    let s = rd(c, op.rt);
    let b = rd(c, op.rb);
    let mut r = 0u64;
    for i in 0..8 {
        let m = 0xFFu64 << (8 * i);
        if s & m == b & m {
            r |= m;
        }
    }
    c.gpr[(op.ra & 31) as usize] = r;
    Flow::Next
}

// ---- rotate and shift ----------------------------------------------------------------------

/// Mask with ones from ISA bit `mb` to ISA bit `me` of a doubleword (wrapping if mb > me).
#[inline(always)]
pub(crate) fn mask64(mb: u32, me: u32) -> u64 {
    let x = u64::MAX >> mb;
    let y = u64::MAX << (63 - me);
    if mb <= me { x & y } else { x | y }
}

#[inline(always)]
fn rot32_dup(s: u64, n: u32) -> u64 {
    let r = (s as u32).rotate_left(n) as u64;
    r | (r << 32)
}

/// rlwinm: op.imm holds the precomputed mask, op.rb the shift.
pub(crate) fn rlwinm<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = rot32_dup(rd(c, op.rt), op.rb as u32) & op.imm;
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn rlwnm<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = (rd(c, op.rb) & 31) as u32;
    let v = rot32_dup(rd(c, op.rt), n) & op.imm;
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn rlwimi<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let r = rot32_dup(rd(c, op.rt), op.rb as u32);
    let m = op.imm;
    let v = (r & m) | (rd(c, op.ra) & !m);
    finish::<RC>(c, op.ra, v)
}

/// MD-form rotates; op.rb = SH (6 bits), op.imm = mask.
pub(crate) fn rldic_mask<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = rd(c, op.rt).rotate_left(op.rb as u32) & op.imm;
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn rldimi<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let r = rd(c, op.rt).rotate_left(op.rb as u32);
    let m = op.imm;
    let v = (r & m) | (rd(c, op.ra) & !m);
    finish::<RC>(c, op.ra, v)
}

/// rldcl/rldcr: rotate by RB[58:63]; op.imm = mask.
pub(crate) fn rldc<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = (rd(c, op.rb) & 63) as u32;
    let v = rd(c, op.rt).rotate_left(n) & op.imm;
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn slw<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = rd(c, op.rb) & 0x3F;
    let v = if n & 0x20 != 0 {
        0
    } else {
        ((rd(c, op.rt) as u32) << n) as u64
    };
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn srw<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = rd(c, op.rb) & 0x3F;
    let v = if n & 0x20 != 0 {
        0
    } else {
        ((rd(c, op.rt) as u32) >> n) as u64
    };
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn sld<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = rd(c, op.rb) & 0x7F;
    let v = if n & 0x40 != 0 { 0 } else { rd(c, op.rt) << n };
    finish::<RC>(c, op.ra, v)
}

pub(crate) fn srd<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = rd(c, op.rb) & 0x7F;
    let v = if n & 0x40 != 0 { 0 } else { rd(c, op.rt) >> n };
    finish::<RC>(c, op.ra, v)
}

#[inline(always)]
fn sraw_common<const RC: bool>(c: &mut Core, op: &Op, n: u64) -> Flow {
    let s = rd(c, op.rt) as i32;
    let (r, ca) = if n & 0x20 != 0 {
        (s >> 31, s < 0)
    } else {
        let n = n as u32;
        (
            s >> n,
            s < 0 && n != 0 && (s as u32) & ((1u32 << n) - 1) != 0,
        )
    };
    c.ca = ca as u64;
    c.ca32 = ca as u64;
    finish::<RC>(c, op.ra, r as i64 as u64)
}

pub(crate) fn sraw<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = rd(c, op.rb) & 0x3F;
    sraw_common::<RC>(c, op, n)
}

pub(crate) fn srawi<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    sraw_common::<RC>(c, op, op.rb as u64)
}

#[inline(always)]
fn srad_common<const RC: bool>(c: &mut Core, op: &Op, n: u64) -> Flow {
    let s = rd(c, op.rt) as i64;
    let (r, ca) = if n & 0x40 != 0 {
        (s >> 63, s < 0)
    } else {
        let n = n as u32;
        (
            s >> n,
            s < 0 && n != 0 && (s as u64) & ((1u64 << n) - 1) != 0,
        )
    };
    c.ca = ca as u64;
    c.ca32 = ca as u64;
    finish::<RC>(c, op.ra, r as u64)
}

pub(crate) fn srad<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let n = rd(c, op.rb) & 0x7F;
    srad_common::<RC>(c, op, n)
}

/// sradi: op.imm = SH (6 bits).
pub(crate) fn sradi<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    srad_common::<RC>(c, op, op.imm)
}

/// extswsli: op.imm = SH.
pub(crate) fn extswsli<const RC: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = (rd(c, op.rt) as i32 as i64 as u64) << op.imm;
    finish::<RC>(c, op.ra, v)
}

// ---- compare -------------------------------------------------------------------------------

#[inline(always)]
fn cmp_result(c: &Core, lt: bool, gt: bool) -> u32 {
    (if lt {
        8
    } else if gt {
        4
    } else {
        2
    }) | c.so as u32
}

/// cmp/cmpi: op.rt = BF‖0‖L as encoded; op.imm = immediate for cmpi.
pub(crate) fn cmp<const IMM: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let bf = (op.rt >> 2) as u32;
    let l = op.rt & 1 != 0;
    let a = rd(c, op.ra);
    let b = if IMM { op.imm } else { rd(c, op.rb) };
    let (a, b) = if l {
        (a as i64, b as i64)
    } else {
        (a as i32 as i64, b as i32 as i64)
    };
    let v = cmp_result(c, a < b, a > b);
    c.set_cr_field(bf, v);
    Flow::Next
}

pub(crate) fn cmpl<const IMM: bool>(c: &mut Core, op: &Op, _: u64) -> Flow {
    let bf = (op.rt >> 2) as u32;
    let l = op.rt & 1 != 0;
    let a = rd(c, op.ra);
    let b = if IMM { op.imm } else { rd(c, op.rb) };
    let (a, b) = if l {
        (a, b)
    } else {
        (a as u32 as u64, b as u32 as u64)
    };
    let v = cmp_result(c, a < b, a > b);
    c.set_cr_field(bf, v);
    Flow::Next
}

pub(crate) fn cmprb(c: &mut Core, op: &Op, _: u64) -> Flow {
    let bf = (op.rt >> 2) as u32;
    let l = op.rt & 1 != 0;
    let x = rd(c, op.ra) & 0xFF;
    let b = rd(c, op.rb);
    let in_range = |hi: u64, lo: u64| lo <= x && x <= hi;
    let mut hit = in_range((b >> 8) & 0xFF, b & 0xFF);
    if l {
        hit |= in_range((b >> 24) & 0xFF, (b >> 16) & 0xFF);
    }
    c.set_cr_field(bf, if hit { 4 } else { 0 });
    Flow::Next
}

pub(crate) fn cmpeqb(c: &mut Core, op: &Op, _: u64) -> Flow {
    let bf = (op.rt >> 2) as u32;
    let x = rd(c, op.ra) & 0xFF;
    let b = rd(c, op.rb);
    let hit = (0..8).any(|i| (b >> (8 * i)) & 0xFF == x);
    c.set_cr_field(bf, if hit { 4 } else { 0 });
    Flow::Next
}

pub(crate) fn isel(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = if c.cr_bit(op.rc as u32) {
        ra0(c, op.ra)
    } else {
        rd(c, op.rb)
    };
    c.gpr[(op.rt & 31) as usize] = v;
    Flow::Next
}

pub(crate) fn setb(c: &mut Core, op: &Op, _: u64) -> Flow {
    let f = c.cr_field((op.ra >> 2) as u32);
    c.gpr[(op.rt & 31) as usize] = if f & 8 != 0 {
        u64::MAX
    } else if f & 4 != 0 {
        1
    } else {
        0
    };
    Flow::Next
}

pub(crate) fn mcrxrx(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = ((c.ov << 3) | (c.ov32 << 2) | (c.ca << 1) | c.ca32) as u32;
    c.set_cr_field((op.rt >> 2) as u32, v);
    Flow::Next
}

// ---- traps ---------------------------------------------------------------------------------

#[inline(always)]
fn trap_cond(to: u8, a: i64, b: i64) -> bool {
    (to & 16 != 0 && a < b)
        || (to & 8 != 0 && a > b)
        || (to & 4 != 0 && a == b)
        || (to & 2 != 0 && (a as u64) < (b as u64))
        || (to & 1 != 0 && (a as u64) > (b as u64))
}

/// tw/twi/td/tdi: W = word compare, IMM = immediate operand.
pub(crate) fn trap<const W: bool, const IMM: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let a = rd(c, op.ra);
    let b = if IMM { op.imm } else { rd(c, op.rb) };
    let (a, b) = if W {
        (a as i32 as i64, b as i32 as i64)
    } else {
        (a as i64, b as i64)
    };
    if trap_cond(op.rt, a, b) {
        c.program(program::TRAP, cia)
    } else {
        Flow::Next
    }
}

// ---- ISA 3.0 odds and ends -----------------------------------------------------------------

pub(crate) fn addpcis(c: &mut Core, op: &Op, cia: u64) -> Flow {
    c.gpr[(op.rt & 31) as usize] = cia.wrapping_add(4).wrapping_add(op.imm);
    Flow::Next
}

pub(crate) fn darn(c: &mut Core, op: &Op, _: u64) -> Flow {
    let l = (op.raw >> 16) & 3;
    let v = loop {
        let r = host_random();
        match l {
            0 => {
                let w = r as u32 as u64;
                if w != 0xFFFF_FFFF {
                    break w;
                }
            }
            1 | 2 => {
                if r != u64::MAX {
                    break r;
                }
            }
            _ => break u64::MAX, // reserved L: the failure value
        }
    };
    c.gpr[(op.rt & 31) as usize] = v;
    Flow::Next
}

/// 64 random bits from the host.
pub fn host_random() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most `b.len()` bytes into the buffer we own.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n == 8 {
        u64::from_ne_bytes(b)
    } else {
        // Extremely unlikely; fall back to a clock-derived value.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        t.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}
