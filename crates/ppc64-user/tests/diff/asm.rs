//! Instruction encoders (ISA field layouts) for the test-program builder and the
//! generator tables.

#![allow(dead_code)]

/// Puts `v` into ISA bits `at .. at+width-1` of a word.
pub const fn field(v: u32, at: u32, width: u32) -> u32 {
    (v & ((1u32 << width) - 1)) << (32 - at - width)
}

/// Reads ISA bits `at .. at+width-1` of a word.
pub const fn get(w: u32, at: u32, width: u32) -> u32 {
    (w >> (32 - at - width)) & ((1u32 << width) - 1)
}

pub const fn d(op: u32, rt: u32, ra: u32, imm: u32) -> u32 {
    field(op, 0, 6) | field(rt, 6, 5) | field(ra, 11, 5) | (imm & 0xFFFF)
}

pub const fn ds(op: u32, rt: u32, ra: u32, disp: i32, xo: u32) -> u32 {
    field(op, 0, 6) | field(rt, 6, 5) | field(ra, 11, 5) | ((disp as u32) & 0xFFFC) | (xo & 3)
}

pub const fn x(op: u32, rt: u32, ra: u32, rb: u32, xo: u32, rc: u32) -> u32 {
    field(op, 0, 6)
        | field(rt, 6, 5)
        | field(ra, 11, 5)
        | field(rb, 16, 5)
        | field(xo, 21, 10)
        | (rc & 1)
}

pub const fn xo(rt: u32, ra: u32, rb: u32, oe: u32, xo: u32, rc: u32) -> u32 {
    field(31, 0, 6)
        | field(rt, 6, 5)
        | field(ra, 11, 5)
        | field(rb, 16, 5)
        | field(oe, 21, 1)
        | field(xo, 22, 9)
        | (rc & 1)
}

pub const fn spr_field(spr: u32) -> u32 {
    field(spr & 0x1F, 11, 5) | field(spr >> 5, 16, 5)
}

pub const fn mfspr(rt: u32, spr: u32) -> u32 {
    field(31, 0, 6) | field(rt, 6, 5) | spr_field(spr) | field(339, 21, 10)
}

pub const fn mtspr(spr: u32, rs: u32) -> u32 {
    field(31, 0, 6) | field(rs, 6, 5) | spr_field(spr) | field(467, 21, 10)
}

pub const fn li(rt: u32, v: i16) -> u32 {
    d(14, rt, 0, v as u16 as u32)
}
pub const fn addi(rt: u32, ra: u32, v: i16) -> u32 {
    d(14, rt, ra, v as u16 as u32)
}
pub const fn lis(rt: u32, v: u16) -> u32 {
    d(15, rt, 0, v as u32)
}
pub const fn ori(ra: u32, rs: u32, v: u16) -> u32 {
    d(24, rs, ra, v as u32)
}
pub const fn ld(rt: u32, disp: i32, ra: u32) -> u32 {
    ds(58, rt, ra, disp, 0)
}
pub const fn ldu(rt: u32, disp: i32, ra: u32) -> u32 {
    ds(58, rt, ra, disp, 1)
}
pub const fn std(rs: u32, disp: i32, ra: u32) -> u32 {
    ds(62, rs, ra, disp, 0)
}
pub const fn stdu(rs: u32, disp: i32, ra: u32) -> u32 {
    ds(62, rs, ra, disp, 1)
}
pub const fn add(rt: u32, ra: u32, rb: u32) -> u32 {
    xo(rt, ra, rb, 0, 266, 0)
}
pub const fn mulld(rt: u32, ra: u32, rb: u32) -> u32 {
    xo(rt, ra, rb, 0, 233, 0)
}
pub const fn and(ra: u32, rs: u32, rb: u32) -> u32 {
    x(31, rs, ra, rb, 28, 0)
}
pub const fn xor(ra: u32, rs: u32, rb: u32) -> u32 {
    x(31, rs, ra, rb, 316, 0)
}
/// rldicl ra,rs,sh,0 (rotldi).
pub const fn rotldi(ra: u32, rs: u32, sh: u32) -> u32 {
    field(30, 0, 6)
        | field(rs, 6, 5)
        | field(ra, 11, 5)
        | field(sh & 31, 16, 5)
        | ((sh >> 5) & 1) << 1
}
pub const fn cmpdi(bf: u32, ra: u32, v: i16) -> u32 {
    d(11, (bf << 2) | 1, ra, v as u16 as u32)
}
pub const fn cmpd(bf: u32, ra: u32, rb: u32) -> u32 {
    x(31, (bf << 2) | 1, ra, rb, 0, 0)
}
pub const fn mfcr(rt: u32) -> u32 {
    x(31, rt, 0, 0, 19, 0)
}
pub const fn mtcrf_all(rs: u32) -> u32 {
    field(31, 0, 6) | field(rs, 6, 5) | field(0xFF, 12, 8) | field(144, 21, 10)
}
pub const fn mtlr(rs: u32) -> u32 {
    mtspr(8, rs)
}
pub const fn mflr(rt: u32) -> u32 {
    mfspr(rt, 8)
}
pub const fn mtctr(rs: u32) -> u32 {
    mtspr(9, rs)
}
pub const fn mfctr(rt: u32) -> u32 {
    mfspr(rt, 9)
}
pub const fn mtxer(rs: u32) -> u32 {
    mtspr(1, rs)
}
pub const fn mfxer(rt: u32) -> u32 {
    mfspr(rt, 1)
}
/// Relative branch (I-form) by `disp` bytes.
pub const fn b(disp: i32) -> u32 {
    field(18, 0, 6) | ((disp as u32) & 0x03FF_FFFC)
}
pub const fn bl(disp: i32) -> u32 {
    b(disp) | 1
}
/// Conditional branch (B-form) by `disp` bytes.
pub const fn bc(bo: u32, bi: u32, disp: i32) -> u32 {
    field(16, 0, 6) | field(bo, 6, 5) | field(bi, 11, 5) | ((disp as u32) & 0xFFFC)
}
pub const BLR: u32 = 0x4E80_0020;
pub const BCTR: u32 = 0x4E80_0420;
pub const SC: u32 = 0x4400_0002;
pub const NOP: u32 = 0x6000_0000;
pub const TRAP: u32 = 0x7FE0_0008;

/// lxvd2x / stxvd2x with a 6-bit VSR number.
pub const fn lxvd2x(xt: u32, ra: u32, rb: u32) -> u32 {
    x(31, xt & 31, ra, rb, 844, xt >> 5)
}
pub const fn stxvd2x(xs: u32, ra: u32, rb: u32) -> u32 {
    x(31, xs & 31, ra, rb, 972, xs >> 5)
}
pub const fn lfd(frt: u32, disp: i32, ra: u32) -> u32 {
    d(50, frt, ra, disp as u32)
}
pub const fn stfd(frs: u32, disp: i32, ra: u32) -> u32 {
    d(54, frs, ra, disp as u32)
}
/// mtfsf 0xFF,FRB (L=0, W=0).
pub const fn mtfsf_all(frb: u32) -> u32 {
    field(63, 0, 6) | field(0xFF, 7, 8) | field(frb, 16, 5) | field(711, 21, 10)
}
pub const fn mffs(frt: u32) -> u32 {
    x(63, frt, 0, 0, 583, 0)
}
pub const fn mtvscr(vb: u32) -> u32 {
    field(4, 0, 6) | field(vb, 16, 5) | 1604
}
pub const fn mfvscr(vt: u32) -> u32 {
    field(4, 0, 6) | field(vt, 6, 5) | 1540
}

/// Loads a 32-bit unsigned constant below 2^31 into `rt` (two instructions).
pub fn load_u31(rt: u32, v: u64) -> [u32; 2] {
    assert!(v < 0x8000_0000, "constant {v:#x} too large");
    [lis(rt, (v >> 16) as u16), ori(rt, rt, v as u16)]
}
