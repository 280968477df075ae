//! Fixed-point loads and stores, load-and-reserve / store-conditional, quadword and string
//! forms, and the cache-block instructions that touch memory.

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use crate::atomic128;
use crate::core::{Core, Fault, Flow, Reservation};
use crate::op::Op;
use crate::reg::dsisr;
use crate::tlb::Access;

#[inline(always)]
fn sext<const N: usize>(v: u64) -> u64 {
    match N {
        1 => v as i8 as i64 as u64,
        2 => v as i16 as i64 as u64,
        4 => v as i32 as i64 as u64,
        _ => v,
    }
}

/// D/DS-form load of N bytes; S = sign-extend; U = update RA.
pub(crate) fn ld_d<const N: usize, const S: bool, const U: bool, const LE: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    let ea = c.ea_d(op.ra, op.imm);
    match c.ld::<N>(ea) {
        Ok(v) => {
            c.gpr[(op.rt & 31) as usize] = if S { sext::<N>(v) } else { v };
            if U {
                c.gpr[(op.ra & 31) as usize] = ea;
            }
            Flow::Next
        }
        Err(f) => c.fault(f, cia),
    }
}

/// X-form load.
pub(crate) fn ld_x<const N: usize, const S: bool, const U: bool, const LE: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    match c.ld::<N>(ea) {
        Ok(v) => {
            c.gpr[(op.rt & 31) as usize] = if S { sext::<N>(v) } else { v };
            if U {
                c.gpr[(op.ra & 31) as usize] = ea;
            }
            Flow::Next
        }
        Err(f) => c.fault(f, cia),
    }
}

/// D/DS-form store.
pub(crate) fn st_d<const N: usize, const U: bool, const LE: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    let ea = c.ea_d(op.ra, op.imm);
    if c.st_fast_e::<N, LE>(ea, c.gpr[(op.rt & 31) as usize]) {
        if U {
            c.gpr[(op.ra & 31) as usize] = ea;
        }
        return Flow::Next;
    }
    st_slow::<N, U>(c, op, cia, ea)
}

#[cold]
#[inline(never)]
fn st_slow<const N: usize, const U: bool>(c: &mut Core, op: &Op, cia: u64, ea: u64) -> Flow {
    match c.st::<N>(ea, c.gpr[(op.rt & 31) as usize]) {
        Ok(()) => {
            if U {
                c.gpr[(op.ra & 31) as usize] = ea;
            }
            Flow::Next
        }
        Err(f) => c.fault(f, cia),
    }
}

/// X-form store.
pub(crate) fn st_x<const N: usize, const U: bool, const LE: bool>(
    c: &mut Core,
    op: &Op,
    cia: u64,
) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    if c.st_fast_e::<N, LE>(ea, c.gpr[(op.rt & 31) as usize]) {
        if U {
            c.gpr[(op.ra & 31) as usize] = ea;
        }
        return Flow::Next;
    }
    st_slow::<N, U>(c, op, cia, ea)
}

#[inline(always)]
fn rev<const N: usize>(v: u64) -> u64 {
    match N {
        2 => (v as u16).swap_bytes() as u64,
        4 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    }
}

/// lhbrx/lwbrx/ldbrx: the opposite byte order of the current mode.
pub(crate) fn ld_brx<const N: usize>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    match c.ld::<N>(ea) {
        Ok(v) => {
            c.gpr[(op.rt & 31) as usize] = rev::<N>(v);
            Flow::Next
        }
        Err(f) => c.fault(f, cia),
    }
}

/// sthbrx/stwbrx/stdbrx.
pub(crate) fn st_brx<const N: usize>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    let v = rev::<N>(c.gpr[(op.rt & 31) as usize]);
    match c.st::<N>(ea, v) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

// ---- load and reserve / store conditional --------------------------------------------------

#[inline(always)]
fn atomic_load(p: *mut u8, n: usize) -> u64 {
    // SAFETY: callers pass a naturally aligned pointer inside guest RAM (checked by
    // `Core::ram_ptr` and the alignment test).
    unsafe {
        match n {
            1 => (*(p as *const AtomicU8)).load(Ordering::SeqCst) as u64,
            2 => (*(p as *const AtomicU16)).load(Ordering::SeqCst) as u64,
            4 => (*(p as *const AtomicU32)).load(Ordering::SeqCst) as u64,
            _ => (*(p as *const AtomicU64)).load(Ordering::SeqCst),
        }
    }
}

#[inline(always)]
fn atomic_cas(p: *mut u8, n: usize, old: u64, new: u64) -> bool {
    // SAFETY: as in `atomic_load`.
    unsafe {
        match n {
            1 => (*(p as *const AtomicU8))
                .compare_exchange(old as u8, new as u8, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok(),
            2 => (*(p as *const AtomicU16))
                .compare_exchange(old as u16, new as u16, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok(),
            4 => (*(p as *const AtomicU32))
                .compare_exchange(old as u32, new as u32, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok(),
            _ => (*(p as *const AtomicU64))
                .compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok(),
        }
    }
}

#[inline(always)]
fn to_mem<const N: usize>(c: &Core, v: u64) -> u64 {
    if c.little_endian() { v } else { rev::<N>(v) }
}

/// lbarx/lharx/lwarx/ldarx.
pub(crate) fn larx<const N: usize>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    if ea & (N as u64 - 1) != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let (ra, p) = match c.ram_ptr(ea, N as u64, Access::Read) {
        Ok(x) => x,
        Err(f) => return c.fault(f, cia),
    };
    let Some(p) = p else {
        return c.fault(
            Fault::Dsi {
                dar: ea,
                dsisr: dsisr::BADACCESS,
            },
            cia,
        );
    };
    let raw = atomic_load(p, N);
    c.resv = Reservation {
        valid: true,
        ra,
        size: N as u8,
        val: raw as u128,
    };
    c.gpr[(op.rt & 31) as usize] = to_mem::<N>(c, raw);
    Flow::Next
}

/// stbcx./sthcx./stwcx./stdcx.
pub(crate) fn stcx<const N: usize>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    if ea & (N as u64 - 1) != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let (ra, p) = match c.ram_ptr(ea, N as u64, Access::Write) {
        Ok(x) => x,
        Err(f) => return c.fault(f, cia),
    };
    let Some(p) = p else {
        return c.fault(
            Fault::Dsi {
                dar: ea,
                dsisr: dsisr::BADACCESS | dsisr::STORE,
            },
            cia,
        );
    };
    let r = c.resv;
    c.resv.valid = false;
    let new = to_mem::<N>(c, c.gpr[(op.rt & 31) as usize]);
    let ok = r.valid && r.ra == ra && r.size as usize == N && atomic_cas(p, N, r.val as u64, new);
    if ok {
        c.code_written(ra, N as u64);
    }
    let so = c.so as u32;
    c.set_cr_field(0, if ok { 2 } else { 0 } | so);
    Flow::Next
}

/// The two doublewords of a quadword access in register order (RTp, RTp+1) from the host
/// 16-byte value (first memory byte in the low bits).
#[inline]
fn quad_to_regs(c: &Core, raw: u128) -> (u64, u64) {
    let lo_mem = raw as u64; // bytes EA..EA+7 as a native (LE) u64
    let hi_mem = (raw >> 64) as u64; // bytes EA+8..EA+15
    if c.little_endian() {
        // LE: the quadword is little-endian as a whole: RTp = EA+8..15, RTp+1 = EA..7.
        (hi_mem, lo_mem)
    } else {
        (lo_mem.swap_bytes(), hi_mem.swap_bytes())
    }
}

#[inline]
fn regs_to_quad(c: &Core, hi: u64, lo: u64) -> u128 {
    if c.little_endian() {
        (hi as u128) << 64 | lo as u128
    } else {
        (lo.swap_bytes() as u128) << 64 | hi.swap_bytes() as u128
    }
}

/// lqarx.
pub(crate) fn lqarx(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if op.rt & 1 != 0 || op.rt == op.ra || op.rt + 1 == op.ra || op.rt + 1 == op.rb {
        return c.illegal(cia);
    }
    let ea = c.ea_x(op.ra, op.rb);
    if ea & 15 != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let (ra, p) = match c.ram_ptr(ea, 16, Access::Read) {
        Ok(x) => x,
        Err(f) => return c.fault(f, cia),
    };
    let Some(p) = p else {
        return c.fault(
            Fault::Dsi {
                dar: ea,
                dsisr: dsisr::BADACCESS,
            },
            cia,
        );
    };
    // SAFETY: aligned to 16 and inside RAM (checked above).
    let raw = unsafe { atomic128::load(p) };
    c.resv = Reservation {
        valid: true,
        ra,
        size: 16,
        val: raw,
    };
    let (hi, lo) = quad_to_regs(c, raw);
    c.gpr[(op.rt & 31) as usize] = hi;
    c.gpr[op.rt as usize + 1] = lo;
    Flow::Next
}

/// stqcx.
pub(crate) fn stqcx(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if op.rt & 1 != 0 {
        return c.illegal(cia);
    }
    let ea = c.ea_x(op.ra, op.rb);
    if ea & 15 != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let (ra, p) = match c.ram_ptr(ea, 16, Access::Write) {
        Ok(x) => x,
        Err(f) => return c.fault(f, cia),
    };
    let Some(p) = p else {
        return c.fault(
            Fault::Dsi {
                dar: ea,
                dsisr: dsisr::BADACCESS | dsisr::STORE,
            },
            cia,
        );
    };
    let r = c.resv;
    c.resv.valid = false;
    let new = regs_to_quad(c, c.gpr[(op.rt & 31) as usize], c.gpr[op.rt as usize + 1]);
    // SAFETY: aligned to 16 and inside RAM.
    let ok = r.valid && r.ra == ra && r.size == 16 && unsafe { atomic128::cas(p, r.val, new) };
    if ok {
        c.code_written(ra, 16);
    }
    let so = c.so as u32;
    c.set_cr_field(0, if ok { 2 } else { 0 } | so);
    Flow::Next
}

/// lq (DQ-form): op.imm = displacement.
pub(crate) fn lq(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if op.rt & 1 != 0 || op.rt == op.ra {
        return c.illegal(cia);
    }
    let ea = c.ea_d(op.ra, op.imm);
    if ea & 15 != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let p = match c.ram_ptr(ea, 16, Access::Read) {
        Ok((_, Some(p))) => p,
        Ok((_, None)) => return c.fault(Fault::Align { dar: ea }, cia),
        Err(f) => return c.fault(f, cia),
    };
    // SAFETY: aligned to 16 and inside RAM.
    let raw = unsafe { atomic128::load(p) };
    let (hi, lo) = quad_to_regs(c, raw);
    c.gpr[(op.rt & 31) as usize] = hi;
    c.gpr[op.rt as usize + 1] = lo;
    Flow::Next
}

/// stq (DS-form): op.imm = displacement.
pub(crate) fn stq(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if op.rt & 1 != 0 {
        return c.illegal(cia);
    }
    let ea = c.ea_d(op.ra, op.imm);
    if ea & 15 != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let (ra, p) = match c.ram_ptr(ea, 16, Access::Write) {
        Ok((ra, Some(p))) => (ra, p),
        Ok((_, None)) => return c.fault(Fault::Align { dar: ea }, cia),
        Err(f) => return c.fault(f, cia),
    };
    let v = regs_to_quad(c, c.gpr[(op.rt & 31) as usize], c.gpr[op.rt as usize + 1]);
    // SAFETY: aligned to 16 and inside RAM.
    unsafe { atomic128::store(p, v) };
    c.code_written(ra, 16);
    Flow::Next
}

// ---- multiple and string (big-endian only) -------------------------------------------------

/// lmw: in little-endian mode an alignment interrupt, as POWER9 does.
pub(crate) fn lmw(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_d(op.ra, op.imm);
    if c.little_endian() || ea & 3 != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let n = 32 - op.rt as usize;
    let mut buf = [0u8; 128];
    if let Err(f) = c.read_bytes(ea, &mut buf[..4 * n]) {
        return c.fault(f, cia);
    }
    for i in 0..n {
        let w = u32::from_be_bytes([buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]]);
        c.gpr[op.rt as usize + i] = w as u64;
    }
    Flow::Next
}

/// stmw.
pub(crate) fn stmw(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_d(op.ra, op.imm);
    if c.little_endian() || ea & 3 != 0 {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let n = 32 - op.rt as usize;
    let mut buf = [0u8; 128];
    for i in 0..n {
        buf[4 * i..4 * i + 4].copy_from_slice(&(c.gpr[op.rt as usize + i] as u32).to_be_bytes());
    }
    match c.write_bytes(ea, &buf[..4 * n]) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

fn load_string(c: &mut Core, op: &Op, cia: u64, ea: u64, n: usize) -> Flow {
    if c.little_endian() {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let mut buf = [0u8; 128];
    if let Err(f) = c.read_bytes(ea, &mut buf[..n]) {
        return c.fault(f, cia);
    }
    let mut r = op.rt as usize;
    for chunk in buf[..n].chunks(4) {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        c.gpr[r] = u32::from_be_bytes(w) as u64;
        r = (r + 1) % 32;
    }
    Flow::Next
}

fn store_string(c: &mut Core, op: &Op, cia: u64, ea: u64, n: usize) -> Flow {
    if c.little_endian() {
        return c.fault(Fault::Align { dar: ea }, cia);
    }
    let mut buf = [0u8; 128];
    let mut r = op.rt as usize;
    for i in (0..n).step_by(4) {
        let w = (c.gpr[r] as u32).to_be_bytes();
        let k = (n - i).min(4);
        buf[i..i + k].copy_from_slice(&w[..k]);
        r = (r + 1) % 32;
    }
    match c.write_bytes(ea, &buf[..n]) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

/// lswi: NB in the RB field (0 means 32).
pub(crate) fn lswi(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_d(op.ra, 0);
    let n = if op.rb == 0 { 32 } else { op.rb as usize };
    load_string(c, op, cia, ea, n)
}

/// lswx: byte count from XER.
pub(crate) fn lswx(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    let n = (c.xer_bc & 0x7F) as usize;
    if n == 0 {
        return if c.little_endian() {
            c.fault(Fault::Align { dar: ea }, cia)
        } else {
            Flow::Next
        };
    }
    load_string(c, op, cia, ea, n)
}

/// stswi.
pub(crate) fn stswi(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_d(op.ra, 0);
    let n = if op.rb == 0 { 32 } else { op.rb as usize };
    store_string(c, op, cia, ea, n)
}

/// stswx.
pub(crate) fn stswx(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    let n = (c.xer_bc & 0x7F) as usize;
    if n == 0 {
        return if c.little_endian() {
            c.fault(Fault::Align { dar: ea }, cia)
        } else {
            Flow::Next
        };
    }
    store_string(c, op, cia, ea, n)
}

// ---- cache blocks --------------------------------------------------------------------------

/// Size of a data cache block (matches `d-cache-block-size` in the device tree).
pub const CACHE_BLOCK: u64 = 128;

/// dcbz: zero the 128-byte block.
pub(crate) fn dcbz(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb) & !(CACHE_BLOCK - 1);
    match c.ram_ptr(ea, CACHE_BLOCK, Access::Write) {
        Ok((ra, Some(p))) => {
            for i in 0..(CACHE_BLOCK / 8) as usize {
                // SAFETY: the 128-byte block is inside RAM (checked by `ram_ptr`) and 8-byte
                // aligned (the block is 128-byte aligned and RAM is page aligned).
                unsafe { (*(p.add(8 * i) as *const AtomicU64)).store(0, Ordering::Relaxed) };
            }
            c.code_written(ra, CACHE_BLOCK);
            Flow::Next
        }
        // dcbz to caching-inhibited storage takes the alignment interrupt.
        Ok((_, None)) => c.fault(Fault::Align { dar: ea }, cia),
        Err(f) => c.fault(f, cia),
    }
}

/// dcbst, dcbf, icbi: no data effect, but they translate like a load (and may fault).
pub(crate) fn cache_touch(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let ea = c.ea_x(op.ra, op.rb);
    match c.translate_cached(ea, Access::Read) {
        Ok(_) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}
