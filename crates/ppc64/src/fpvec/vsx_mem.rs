//! VSX loads, stores and GPR ↔ VSR moves (op 31 XX1, op 57/61 DS/DQ forms, `lxvl`…).
//!
//! Register elements are always numbered big-endian; these instructions do all the byte
//! order work (spec §6.2). Facility rules (spec §3.13): the ISA 2.06/2.07 X-form accesses
//! need MSR[VSX]; the ISA 3.0 ones need MSR[VSX] for VSR 0–31 and MSR[VEC] for VSR 32–63;
//! the 2.07 moves need MSR[FP] / MSR[VEC], the 3.0 moves MSR[VSX] / MSR[VEC].

use super::{check_fp_or_vec, check_vsx_or_vec, fast_ok, fpu, join, vsx_off, vsx_unavailable};
use crate::core::{Core, Fault, Flow};
use crate::op::{Handler, Op, field};

/// Facility classes.
const F_VSX: u8 = 0;
const F_VSX_VEC: u8 = 1;
const F_FP_VEC: u8 = 2;
const F_VEC: u8 = 3;

#[inline(always)]
fn facility<const F: u8>(c: &mut Core, reg: u8, cia: u64) -> Option<Flow> {
    match F {
        F_VSX => {
            if vsx_off(c) {
                return Some(vsx_unavailable(c, cia));
            }
            None
        }
        F_VSX_VEC => check_vsx_or_vec(c, reg, cia),
        F_FP_VEC => check_fp_or_vec(c, reg, cia),
        _ => {
            if super::vec_off(c) {
                return Some(super::vec_unavailable(c, cia));
            }
            None
        }
    }
}

/// Memory access kinds.
mod k {
    pub const LXSIWZX: u8 = 0;
    pub const LXSIWAX: u8 = 1;
    pub const LXSSPX: u8 = 2;
    pub const LXSDX: u8 = 3;
    pub const LXVD2X: u8 = 4;
    pub const LXVDSX: u8 = 5;
    pub const LXVW4X: u8 = 6;
    pub const LXVH8X: u8 = 7;
    pub const LXVB16X: u8 = 8;
    pub const LXVX: u8 = 9;
    pub const LXVWSX: u8 = 10;
    pub const LXSIBZX: u8 = 11;
    pub const LXSIHZX: u8 = 12;
    pub const STXSIWX: u8 = 16;
    pub const STXSSPX: u8 = 17;
    pub const STXSDX: u8 = 18;
    pub const STXVD2X: u8 = 19;
    pub const STXVW4X: u8 = 20;
    pub const STXVH8X: u8 = 21;
    pub const STXVB16X: u8 = 22;
    pub const STXVX: u8 = 23;
    pub const STXSIBX: u8 = 24;
    pub const STXSIHX: u8 = 25;
    pub const LXSD: u8 = 26;
    pub const LXSSP: u8 = 27;
}

/// Writes doubleword 0 of VSR `i`. Doubleword 1 is architecturally undefined after the
/// scalar loads and the `mtvsr*` word/doubleword moves; it is kept, as QEMU does.
#[inline(always)]
fn set_dw0(c: &mut Core, i: usize, v: u64) {
    let r = &mut c.vsr[i & 63];
    *r = (*r & u64::MAX as u128) | ((v as u128) << 64);
}

/// Reads 16 bytes at `ea` in memory order.
#[inline(always)]
fn read16(c: &mut Core, ea: u64) -> Result<[u8; 16], Fault> {
    let mut b = [0u8; 16];
    c.read_bytes(ea, &mut b)?;
    Ok(b)
}

/// Register value whose element `i` of `n` bytes is the element at `ea + n·i` in the
/// current byte order.
#[inline(always)]
fn load_elems(le: bool, b: &[u8; 16], n: usize) -> u128 {
    if !le {
        return u128::from_be_bytes(*b);
    }
    let mut out = [0u8; 16];
    for (i, ch) in b.chunks(n).enumerate() {
        for (j, &x) in ch.iter().enumerate() {
            out[i * n + (n - 1 - j)] = x;
        }
    }
    u128::from_be_bytes(out)
}

/// Inverse of [`load_elems`].
#[inline(always)]
fn store_elems(le: bool, v: u128, n: usize) -> [u8; 16] {
    let be = v.to_be_bytes();
    if !le {
        return be;
    }
    let mut out = [0u8; 16];
    for (i, ch) in be.chunks(n).enumerate() {
        for (j, &x) in ch.iter().enumerate() {
            out[i * n + (n - 1 - j)] = x;
        }
    }
    out
}

// ---- 16-byte fast path -------------------------------------------------------------------------

/// Swaps the halfwords of each word (with a 32-bit rotation: reverses the four halfwords of
/// a doubleword).
#[inline(always)]
fn rev_h4(x: u64) -> u64 {
    let y = x.rotate_left(32);
    ((y >> 16) & 0x0000_FFFF_0000_FFFF) | ((y & 0x0000_FFFF_0000_FFFF) << 16)
}

/// Maps the doublewords at `ea` and `ea + 8` (each in the current byte order) to the
/// register doublewords of vector load `K`, and back for the stores (every map is its own
/// inverse).
#[inline(always)]
fn vec_map<const K: u8>(le: bool, d0: u64, d1: u64) -> (u64, u64) {
    if !le {
        // Big-endian: every element order agrees with the doubleword loads.
        return (d0, d1);
    }
    match K {
        k::LXVX | k::STXVX => (d1, d0),
        k::LXVW4X | k::STXVW4X => (d0.rotate_left(32), d1.rotate_left(32)),
        k::LXVH8X | k::STXVH8X => (rev_h4(d0), rev_h4(d1)),
        k::LXVB16X | k::STXVB16X => (d0.swap_bytes(), d1.swap_bytes()),
        _ => (d0, d1),
    }
}

/// A 16-byte vector load entirely inside one RAM page on a TLB hit; `None` (nothing
/// changed) when the general path is needed.
#[inline(always)]
fn load16_fast<const K: u8>(c: &Core, ea: u64) -> Option<u128> {
    if ea & 0xFFF > 0xFF0 {
        return None;
    }
    // Same page: ea + 8 cannot wrap.
    let d0 = c.ld_fast::<8>(ea)?;
    let d1 = c.ld_fast::<8>(ea + 8)?;
    let (h, l) = vec_map::<K>(c.little_endian(), d0, d1);
    Some(join(h, l))
}

/// A 16-byte vector store entirely inside one RAM page on a TLB hit; `false` (nothing
/// stored) when the general path is needed.
#[inline(always)]
fn store16_fast<const K: u8>(c: &mut Core, ea: u64, v: u128) -> bool {
    if ea & 0xFFF > 0xFF0 {
        return false;
    }
    let (d0, d1) = vec_map::<K>(c.little_endian(), (v >> 64) as u64, v as u64);
    if !c.st_fast::<8>(ea, d0) {
        return false;
    }
    // The second half is in the same writable RAM page, so this hits the same TLB entry;
    // were it ever to miss, the caller's general path rewrites all 16 bytes.
    c.st_fast::<8>(ea + 8, d1)
}

#[inline(always)]
fn access<const K: u8>(c: &mut Core, t: u8, ea: u64) -> Result<(), Fault> {
    let le = c.little_endian();
    let ti = t as usize & 63;
    if matches!(K, k::LXVD2X | k::LXVW4X | k::LXVH8X | k::LXVB16X | k::LXVX)
        && fast_ok()
        && let Some(v) = load16_fast::<K>(c, ea)
    {
        c.vsr[ti] = v;
        return Ok(());
    }
    if matches!(
        K,
        k::STXVD2X | k::STXVW4X | k::STXVH8X | k::STXVB16X | k::STXVX
    ) && fast_ok()
        && store16_fast::<K>(c, ea, c.vsr[ti])
    {
        return Ok(());
    }
    match K {
        k::LXSIWZX => {
            let v = c.ld::<4>(ea)?;
            set_dw0(c, ti, v);
        }
        k::LXSIWAX => {
            let v = c.ld::<4>(ea)?;
            set_dw0(c, ti, v as u32 as i32 as i64 as u64);
        }
        k::LXSSPX => {
            let v = c.ld::<4>(ea)?;
            set_dw0(c, ti, fpu::sp_to_dp_bits(v as u32));
        }
        k::LXSDX => {
            let v = c.ld::<8>(ea)?;
            set_dw0(c, ti, v);
        }
        k::LXSD => {
            let v = c.ld::<8>(ea)?;
            c.vsr[ti] = join(v, 0);
        }
        k::LXSSP => {
            let v = c.ld::<4>(ea)?;
            c.vsr[ti] = join(fpu::sp_to_dp_bits(v as u32), 0);
        }
        k::LXSIBZX => {
            let v = c.ld::<1>(ea)?;
            set_dw0(c, ti, v);
        }
        k::LXSIHZX => {
            let v = c.ld::<2>(ea)?;
            set_dw0(c, ti, v);
        }
        k::LXVDSX => {
            let v = c.ld::<8>(ea)?;
            c.vsr[ti] = join(v, v);
        }
        k::LXVWSX => {
            let v = c.ld::<4>(ea)? as u128;
            c.vsr[ti] = v | (v << 32) | (v << 64) | (v << 96);
        }
        k::LXVD2X => {
            let b = read16(c, ea)?;
            c.vsr[ti] = load_elems(le, &b, 8);
        }
        k::LXVW4X => {
            let b = read16(c, ea)?;
            c.vsr[ti] = load_elems(le, &b, 4);
        }
        k::LXVH8X => {
            let b = read16(c, ea)?;
            c.vsr[ti] = load_elems(le, &b, 2);
        }
        k::LXVB16X => {
            let b = read16(c, ea)?;
            c.vsr[ti] = u128::from_be_bytes(b);
        }
        k::LXVX => {
            let b = read16(c, ea)?;
            c.vsr[ti] = load_elems(le, &b, 16);
        }
        k::STXSIWX => {
            let v = (c.vsr[ti] >> 64) as u64;
            c.st::<4>(ea, v & 0xFFFF_FFFF)?;
        }
        k::STXSSPX => {
            let v = fpu::dp_to_sp_bits((c.vsr[ti] >> 64) as u64);
            c.st::<4>(ea, v as u64)?;
        }
        k::STXSDX => {
            let v = (c.vsr[ti] >> 64) as u64;
            c.st::<8>(ea, v)?;
        }
        k::STXSIBX => {
            let v = (c.vsr[ti] >> 64) as u64;
            c.st::<1>(ea, v & 0xFF)?;
        }
        k::STXSIHX => {
            let v = (c.vsr[ti] >> 64) as u64;
            c.st::<2>(ea, v & 0xFFFF)?;
        }
        k::STXVD2X => {
            let b = store_elems(le, c.vsr[ti], 8);
            c.write_bytes(ea, &b)?;
        }
        k::STXVW4X => {
            let b = store_elems(le, c.vsr[ti], 4);
            c.write_bytes(ea, &b)?;
        }
        k::STXVH8X => {
            let b = store_elems(le, c.vsr[ti], 2);
            c.write_bytes(ea, &b)?;
        }
        k::STXVB16X => {
            let b = c.vsr[ti].to_be_bytes();
            c.write_bytes(ea, &b)?;
        }
        _ => {
            let b = store_elems(le, c.vsr[ti], 16);
            c.write_bytes(ea, &b)?;
        }
    }
    Ok(())
}

/// X-form access with facility class F.
fn mem_x<const K: u8, const F: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if let Some(fl) = facility::<F>(c, op.rt, cia) {
        return fl;
    }
    let ea = c.ea_x(op.ra, op.rb);
    match access::<K>(c, op.rt, ea) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

/// D/DS/DQ-form access (displacement in `imm`).
fn mem_d<const K: u8, const F: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if let Some(fl) = facility::<F>(c, op.rt, cia) {
        return fl;
    }
    let ea = c.ea_d(op.ra, op.imm);
    match access::<K>(c, op.rt, ea) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

/// `lxvl` (L = false) / `lxvll` (L = true): length in RB[0:7], EA = (RA|0).
fn lxvl<const L: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if let Some(fl) = check_vsx_or_vec(c, op.rt, cia) {
        return fl;
    }
    let ea = c.ea_d(op.ra, 0);
    let n = ((c.gpr[op.rb as usize] >> 56) as usize).min(16);
    let mut b = [0u8; 16];
    if n > 0
        && let Err(f) = c.read_bytes(ea, &mut b[..n])
    {
        return c.fault(f, cia);
    }
    let v = if L || !c.little_endian() {
        u128::from_be_bytes(b)
    } else {
        u128::from_le_bytes(b)
    };
    c.vsr[op.rt as usize & 63] = v;
    Flow::Next
}

/// `stxvl` / `stxvll`.
fn stxvl<const L: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if let Some(fl) = check_vsx_or_vec(c, op.rt, cia) {
        return fl;
    }
    let ea = c.ea_d(op.ra, 0);
    let n = ((c.gpr[op.rb as usize] >> 56) as usize).min(16);
    let v = c.vsr[op.rt as usize & 63];
    let b = if L || !c.little_endian() {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    };
    if n > 0
        && let Err(f) = c.write_bytes(ea, &b[..n])
    {
        return c.fault(f, cia);
    }
    Flow::Next
}

// ---- moves --------------------------------------------------------------------------------------

const MFVSRD: u8 = 0;
const MFVSRWZ: u8 = 1;
const MTVSRD: u8 = 2;
const MTVSRWA: u8 = 3;
const MTVSRWZ: u8 = 4;
const MFVSRLD: u8 = 5;
const MTVSRWS: u8 = 6;
const MTVSRDD: u8 = 7;

fn mov<const K: u8>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let chk = if matches!(K, MFVSRLD | MTVSRWS | MTVSRDD) {
        check_vsx_or_vec(c, op.rt, cia)
    } else {
        check_fp_or_vec(c, op.rt, cia)
    };
    if let Some(fl) = chk {
        return fl;
    }
    let x = op.rt as usize & 63;
    let ra = op.ra as usize;
    match K {
        MFVSRD => c.gpr[ra] = (c.vsr[x] >> 64) as u64,
        MFVSRWZ => c.gpr[ra] = (c.vsr[x] >> 64) as u32 as u64,
        MFVSRLD => c.gpr[ra] = c.vsr[x] as u64,
        MTVSRD => set_dw0(c, x, c.gpr[ra]),
        MTVSRWA => set_dw0(c, x, c.gpr[ra] as u32 as i32 as i64 as u64),
        MTVSRWZ => set_dw0(c, x, c.gpr[ra] as u32 as u64),
        MTVSRWS => {
            let w = c.gpr[ra] as u32 as u128;
            c.vsr[x] = w | (w << 32) | (w << 64) | (w << 96);
        }
        _ => {
            let hi = if ra == 0 { 0 } else { c.gpr[ra] };
            c.vsr[x] = join(hi, c.gpr[op.rb as usize]);
        }
    }
    Flow::Next
}

/// The X-form handler of access `K` with the facility rule `f` resolved for register
/// `rt` at decode time (F_VSX_VEC: VSR 0–31 need MSR[VSX], 32–63 MSR[VEC]).
fn x_op<const K: u8>(f: u8, rt: u32) -> Handler {
    if f == F_VSX || rt < 32 {
        mem_x::<K, F_VSX>
    } else {
        mem_x::<K, F_VEC>
    }
}

/// The DQ-form handler of access `K` (rule F_VSX_VEC) resolved for register `rt`.
fn d_op<const K: u8>(rt: u32) -> Handler {
    if rt < 32 {
        mem_d::<K, F_VSX>
    } else {
        mem_d::<K, F_VEC>
    }
}

/// An op with the XX1 6-bit register number (T + 32·TX) in `rt`.
#[inline]
fn xx1(f: Handler, w: u32, imm: u64) -> Option<Op> {
    let mut o = Op::new(f, w, imm);
    o.rt = (((w >> 21) & 31) | ((w & 1) << 5)) as u8;
    Some(o)
}

/// Op 31 VSX loads/stores/moves.
pub(super) fn decode31(w: u32) -> Option<Op> {
    use k::*;
    let rt = ((w >> 21) & 31) | ((w & 1) << 5);
    let f: Handler = match field::xo10(w) {
        12 => x_op::<LXSIWZX>(F_VSX, rt),
        76 => x_op::<LXSIWAX>(F_VSX, rt),
        524 => x_op::<LXSSPX>(F_VSX, rt),
        588 => x_op::<LXSDX>(F_VSX, rt),
        844 => x_op::<LXVD2X>(F_VSX, rt),
        332 => x_op::<LXVDSX>(F_VSX, rt),
        780 => x_op::<LXVW4X>(F_VSX, rt),
        812 => x_op::<LXVH8X>(F_VSX_VEC, rt),
        876 => x_op::<LXVB16X>(F_VSX_VEC, rt),
        268 | 300 => x_op::<LXVX>(F_VSX_VEC, rt),
        364 => x_op::<LXVWSX>(F_VSX_VEC, rt),
        781 => x_op::<LXSIBZX>(F_VSX_VEC, rt),
        813 => x_op::<LXSIHZX>(F_VSX_VEC, rt),
        269 => lxvl::<false>,
        301 => lxvl::<true>,
        140 => x_op::<STXSIWX>(F_VSX, rt),
        652 => x_op::<STXSSPX>(F_VSX, rt),
        716 => x_op::<STXSDX>(F_VSX, rt),
        972 => x_op::<STXVD2X>(F_VSX, rt),
        908 => x_op::<STXVW4X>(F_VSX, rt),
        940 => x_op::<STXVH8X>(F_VSX_VEC, rt),
        1004 => x_op::<STXVB16X>(F_VSX_VEC, rt),
        396 => x_op::<STXVX>(F_VSX_VEC, rt),
        909 => x_op::<STXSIBX>(F_VSX_VEC, rt),
        941 => x_op::<STXSIHX>(F_VSX_VEC, rt),
        397 => stxvl::<false>,
        429 => stxvl::<true>,
        51 => mov::<MFVSRD>,
        115 => mov::<MFVSRWZ>,
        179 => mov::<MTVSRD>,
        211 => mov::<MTVSRWA>,
        243 => mov::<MTVSRWZ>,
        307 => mov::<MFVSRLD>,
        403 => mov::<MTVSRWS>,
        435 => mov::<MTVSRDD>,
        _ => return None,
    };
    xx1(f, w, 0)
}

/// An op whose target is VR `rt` (VSR 32 + VRT).
#[inline]
fn vr_target(f: Handler, w: u32, imm: u64) -> Option<Op> {
    let mut o = Op::new(f, w, imm);
    o.rt += 32;
    Some(o)
}

/// Op 57: `lfdp`, `lxsd`, `lxssp`.
pub(super) fn decode57(w: u32) -> Option<Op> {
    let ds = (w & 0xFFFC) as u16 as i16 as i64 as u64;
    match w & 3 {
        0 => super::fp::decode_lfdp(w),
        2 => vr_target(mem_d::<{ k::LXSD }, F_VEC>, w, ds),
        3 => vr_target(mem_d::<{ k::LXSSP }, F_VEC>, w, ds),
        _ => None,
    }
}

/// Op 61: `stfdp`, `stxsd`, `stxssp`, `lxv`, `stxv`.
pub(super) fn decode61(w: u32) -> Option<Op> {
    let ds = (w & 0xFFFC) as u16 as i16 as i64 as u64;
    match w & 3 {
        0 => super::fp::decode_stfdp(w),
        2 => vr_target(mem_d::<{ k::STXSDX }, F_VEC>, w, ds),
        3 => vr_target(mem_d::<{ k::STXSSPX }, F_VEC>, w, ds),
        _ => {
            let dq = (w & 0xFFF0) as u16 as i16 as i64 as u64;
            let rt = ((w >> 21) & 31) | (((w >> 3) & 1) << 5);
            let f: Handler = match w & 7 {
                1 => d_op::<{ k::LXVX }>(rt),
                5 => d_op::<{ k::STXVX }>(rt),
                _ => return None,
            };
            let mut o = Op::new(f, w, dq);
            o.rt = rt as u8;
            Some(o)
        }
    }
}
