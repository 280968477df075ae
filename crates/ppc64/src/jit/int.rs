//! Inline translation of fixed-point instructions (stage 2): the instruction word is decoded
//! again here and, for the forms below, turned into host code that works on the `Core`
//! fields in memory (rbx = `&mut Core`). Everything else is left to its handler.
//!
//! The handlers in `exec/int.rs`, `exec/branch.rs` and `exec/sys.rs` are the specification:
//! each form here computes exactly what its handler does. The decoding mirrors
//! `decode.rs` (same precedence, same invalid forms), so a word is inlined only when the
//! decoder gave it the handler whose effect is reproduced.
//!
//! Scratch registers: rax, rcx, rdx, rsi, rdi, r8-r11 (nothing lives across instructions).

use std::mem::offset_of;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynasmApi, VecAssembler, dynasm};

use crate::core::Core;
use crate::exec::int::mask64;

type Asm = VecAssembler<X64Relocation>;

/// What the translation of a block may assume and what it ended up depending on.
#[derive(Clone, Copy)]
pub(crate) struct Cx {
    /// MSR[SF] when the block was translated (Rc=1 and carry forms depend on it).
    pub sf: bool,
    /// The host has LZCNT.
    pub lzcnt: bool,
    /// Some inlined instruction depends on MSR[SF].
    pub sf_dep: bool,
    /// The block's byte order (MSR[LE] when it was decoded).
    pub le: bool,
    /// The partition's code-page words.
    pub code: super::mem::CodeWords,
}

const GPR: i32 = offset_of!(Core, gpr) as i32;
const CR: i32 = offset_of!(Core, cr) as i32;
const SO: i32 = offset_of!(Core, so) as i32;
const CA: i32 = offset_of!(Core, ca) as i32;
const CA32: i32 = offset_of!(Core, ca32) as i32;
const LR: i32 = offset_of!(Core, lr) as i32;
const CTR: i32 = offset_of!(Core, ctr) as i32;

/// Offset of GPR `r`.
#[inline]
fn g(r: u32) -> i32 {
    GPR + 8 * (r & 31) as i32
}

/// The value as a sign-extended 32-bit immediate, if it is one.
#[inline]
fn imm32(v: u64) -> Option<i32> {
    i32::try_from(v as i64).ok()
}

/// rax = GPR `r`, or 0 when `r` is 0 and `ra0` (the `(RA|0)` operand).
fn load(a: &mut Asm, r: u32, ra0: bool) {
    if ra0 && r == 0 {
        dynasm!(a ; .arch x64 ; xor eax, eax);
    } else {
        dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(r)]);
    }
}

/// GPR `r` = rax.
fn store(a: &mut Asm, r: u32) {
    dynasm!(a ; .arch x64 ; mov QWORD [rbx + g(r)], rax);
}

/// rax &= `m` (64-bit mask).
fn and_mask(a: &mut Asm, m: u64) {
    if m == u64::MAX {
        return;
    }
    if m <= u32::MAX as u64 {
        // A 32-bit `and` zero-extends.
        dynasm!(a ; .arch x64 ; and eax, m as u32 as i32);
    } else if let Some(i) = imm32(m) {
        dynasm!(a ; .arch x64 ; and rax, i);
    } else {
        dynasm!(a ; .arch x64 ; mov rcx, QWORD m as i64 ; and rax, rcx);
    }
}

/// CR field `bf` = ecx (4 bits). Clobbers edx.
fn set_cr_field(a: &mut Asm, bf: u32) {
    let sh = 28 - 4 * (bf & 7);
    if sh != 0 {
        dynasm!(a ; .arch x64 ; shl ecx, sh as i8);
    }
    let keep = !(0xFu32 << sh);
    dynasm!(a
        ; .arch x64
        ; mov edx, DWORD [rbx + CR]
        ; and edx, keep as i32
        ; or edx, ecx
        ; mov DWORD [rbx + CR], edx
    );
}

/// ecx = LT/GT/EQ from the flags of a signed (or unsigned) comparison, | SO. Clobbers edx.
fn cmp_bits(a: &mut Asm, signed: bool) {
    dynasm!(a ; .arch x64 ; mov ecx, 2 ; mov edx, 4);
    if signed {
        dynasm!(a ; .arch x64 ; cmovg ecx, edx ; mov edx, 8 ; cmovl ecx, edx);
    } else {
        dynasm!(a ; .arch x64 ; cmova ecx, edx ; mov edx, 8 ; cmovb ecx, edx);
    }
    dynasm!(a ; .arch x64 ; or ecx, DWORD [rbx + SO]);
}

/// CR0 from rax (Rc=1): signed compare with 0 in the current mode, plus SO.
fn cr0(a: &mut Asm, cx: &mut Cx) {
    cx.sf_dep = true;
    if cx.sf {
        dynasm!(a ; .arch x64 ; test rax, rax);
    } else {
        dynasm!(a ; .arch x64 ; test eax, eax);
    }
    cmp_bits(a, true);
    set_cr_field(a, 0);
}

/// Stores rax to GPR `r`, then CR0 if `rc`.
fn finish(a: &mut Asm, cx: &mut Cx, r: u32, rc: bool) {
    store(a, r);
    if rc {
        cr0(a, cx);
    }
}

/// rax = rot32_dup(eax, n): the low word rotated, copied into both halves (when the mask
/// needs the high half).
fn rot32_dup(a: &mut Asm, n: Option<u8>, mask: u64) {
    match n {
        Some(0) => {}
        Some(n) => dynasm!(a ; .arch x64 ; rol eax, n as i8),
        None => dynasm!(a ; .arch x64 ; rol eax, cl),
    }
    // `rol eax` zero-extends into rax; only masks with high bits need the copy.
    if mask >> 32 != 0 {
        dynasm!(a ; .arch x64 ; mov ecx, eax ; shl rcx, 32 ; or rax, rcx);
    }
}

/// The second addend of a carrying add.
#[derive(Clone, Copy)]
enum Y {
    Reg(u32),
    Imm(u64),
}

/// The carry-in of a carrying add.
#[derive(Clone, Copy, PartialEq)]
enum Cin {
    Zero,
    One,
    Ca,
}

/// RT = (¬)RA + y + cin with CA/CA32 as `add3` and `set_ca` compute them.
fn add_carrying(a: &mut Asm, cx: &mut Cx, w: u32, invert: bool, y: Y, cin: Cin, rc: bool) {
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    cx.sf_dep = true;
    dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)]);
    if invert {
        dynasm!(a ; .arch x64 ; not rax);
    }
    match y {
        Y::Reg(rb) => dynasm!(a ; .arch x64 ; mov rcx, QWORD [rbx + g(rb)]),
        Y::Imm(v) => dynasm!(a ; .arch x64 ; mov rcx, QWORD v as i64),
    }
    // CA32: carry out of the low words.
    dynasm!(a ; .arch x64 ; mov r8d, eax ; mov r9d, ecx ; add r8, r9);
    match cin {
        Cin::Zero => {}
        Cin::One => dynasm!(a ; .arch x64 ; add r8, 1),
        Cin::Ca => dynasm!(a ; .arch x64 ; add r8, QWORD [rbx + CA]),
    }
    dynasm!(a ; .arch x64 ; shr r8, 32);
    // The 64-bit sum and its carry.
    match cin {
        Cin::Zero => dynasm!(a ; .arch x64 ; add rax, rcx),
        Cin::One => dynasm!(a ; .arch x64 ; stc ; adc rax, rcx),
        Cin::Ca => dynasm!(a ; .arch x64 ; mov r10, QWORD [rbx + CA] ; neg r10 ; adc rax, rcx),
    }
    dynasm!(a ; .arch x64 ; setc dl ; movzx edx, dl ; mov QWORD [rbx + CA32], r8);
    if cx.sf {
        dynasm!(a ; .arch x64 ; mov QWORD [rbx + CA], rdx);
    } else {
        dynasm!(a ; .arch x64 ; mov QWORD [rbx + CA], r8);
    }
    finish(a, cx, rt, rc);
}

/// Algebraic right shift by an immediate (srawi: 32-bit, sradi: 64-bit) with CA = CA32 =
/// "negative and ones shifted out".
fn sra_imm(a: &mut Asm, cx: &mut Cx, rs: u32, ra: u32, n: u32, word: bool, rc: bool) {
    if word {
        dynasm!(a ; .arch x64 ; movsxd rax, DWORD [rbx + g(rs)]);
    } else {
        dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rs)]);
    }
    if n == 0 {
        dynasm!(a ; .arch x64 ; xor edx, edx);
    } else {
        let low = (1u64 << n) - 1;
        dynasm!(a ; .arch x64 ; mov rcx, rax ; sar rax, n as i8 ; xor edx, edx);
        if let Some(i) = imm32(low).filter(|_| low <= i32::MAX as u64) {
            dynasm!(a ; .arch x64 ; test rcx, i);
        } else {
            dynasm!(a ; .arch x64 ; mov rsi, QWORD low as i64 ; test rcx, rsi);
        }
        dynasm!(a ; .arch x64 ; setnz dl ; shr rcx, 63 ; and edx, ecx);
    }
    dynasm!(a
        ; .arch x64
        ; mov QWORD [rbx + CA], rdx
        ; mov QWORD [rbx + CA32], rdx
    );
    finish(a, cx, ra, rc);
}

/// Logical shifts by a register amount: slw/srw (32-bit, amount & 0x3F, 0 if bit 0x20)
/// and sld/srd (64-bit, amount & 0x7F, 0 if bit 0x40).
fn shift_reg(a: &mut Asm, cx: &mut Cx, w: u32, left: bool, word: bool, rc: bool) {
    let rs = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let rb = (w >> 11) & 31;
    dynasm!(a ; .arch x64 ; mov rcx, QWORD [rbx + g(rb)] ; xor edx, edx);
    if word {
        dynasm!(a ; .arch x64 ; mov eax, DWORD [rbx + g(rs)]);
        if left {
            dynasm!(a ; .arch x64 ; shl eax, cl);
        } else {
            dynasm!(a ; .arch x64 ; shr eax, cl);
        }
        dynasm!(a ; .arch x64 ; test ecx, 0x20 ; cmovnz eax, edx);
    } else {
        dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rs)]);
        if left {
            dynasm!(a ; .arch x64 ; shl rax, cl);
        } else {
            dynasm!(a ; .arch x64 ; shr rax, cl);
        }
        dynasm!(a ; .arch x64 ; test ecx, 0x40 ; cmovnz rax, rdx);
    }
    finish(a, cx, ra, rc);
}

/// cmp/cmpl/cmpi/cmpli: CR field BF from comparing RA with RB or an immediate, as 64-bit
/// (L=1) or 32-bit values.
fn compare(a: &mut Asm, w: u32, signed: bool, imm: Option<u64>) {
    let bf = (w >> 23) & 7;
    let l = (w >> 21) & 1 != 0;
    let ra = (w >> 16) & 31;
    let rb = (w >> 11) & 31;
    match imm {
        Some(v) => {
            // cmpi: sign-extended 16 bits; cmpli: zero-extended 16 bits: both fit.
            let i = imm32(v).unwrap_or(0);
            if l {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)] ; cmp rax, i);
            } else {
                dynasm!(a ; .arch x64 ; mov eax, DWORD [rbx + g(ra)] ; cmp eax, i);
            }
        }
        None => {
            if l {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)] ; cmp rax, QWORD [rbx + g(rb)]);
            } else {
                dynasm!(a ; .arch x64 ; mov eax, DWORD [rbx + g(ra)] ; cmp eax, DWORD [rbx + g(rb)]);
            }
        }
    }
    cmp_bits(a, signed);
    set_cr_field(a, bf);
}

/// The 8-field mask of an FXM field.
fn fxm_mask(w: u32) -> u32 {
    let fxm = (w >> 12) & 0xFF;
    (0..8)
        .filter(|i| fxm & (0x80 >> i) != 0)
        .fold(0, |m, i| m | (0xF000_0000 >> (4 * i)))
}

/// Emits `w` inline if it is one of the supported forms; returns whether it did.
pub(crate) fn emit(a: &mut Asm, cx: &mut Cx, w: u32) -> bool {
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let rb = (w >> 11) & 31;
    let rc = w & 1 != 0;
    let simm = (w as u16 as i16) as i64 as u64;
    let uimm = (w & 0xFFFF) as u64;
    match w >> 26 {
        7 => {
            // mulli
            let i = imm32(simm).unwrap_or(0);
            dynasm!(a ; .arch x64 ; imul rax, QWORD [rbx + g(ra)], i);
            store(a, rt);
        }
        8 => add_carrying(a, cx, w, true, Y::Imm(simm), Cin::One, false), // subfic
        10 => compare(a, w, false, Some(uimm)),
        11 => compare(a, w, true, Some(simm)),
        12 => add_carrying(a, cx, w, false, Y::Imm(simm), Cin::Zero, false), // addic
        13 => add_carrying(a, cx, w, false, Y::Imm(simm), Cin::Zero, true),  // addic.
        14 | 15 => {
            // addi/addis (li/lis when RA = 0)
            let v = if w >> 26 == 15 { simm << 16 } else { simm };
            let i = imm32(v).unwrap_or(0);
            if ra == 0 {
                dynasm!(a ; .arch x64 ; mov QWORD [rbx + g(rt)], i);
            } else {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)] ; add rax, i);
                store(a, rt);
            }
        }
        20 | 21 | 23 => {
            // rlwimi / rlwinm / rlwnm
            let mb = (w >> 6) & 31;
            let me = (w >> 1) & 31;
            let m = mask64(mb + 32, me + 32);
            dynasm!(a ; .arch x64 ; mov eax, DWORD [rbx + g(rt)]);
            let n = if w >> 26 == 23 {
                dynasm!(a ; .arch x64 ; mov ecx, DWORD [rbx + g(rb)]);
                None
            } else {
                Some(rb as u8)
            };
            rot32_dup(a, n, m);
            if w >> 26 == 20 {
                insert(a, ra, m);
            } else {
                and_mask(a, m);
            }
            finish(a, cx, ra, rc);
        }
        24 | 25 => {
            // ori/oris (ori 0,0,0 is the nop)
            if w == 0x6000_0000 {
                return true;
            }
            let v = if w >> 26 == 25 { uimm << 16 } else { uimm };
            dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rt)] ; mov ecx, v as i32 ; or rax, rcx);
            store(a, ra);
        }
        26 | 27 => {
            // xori/xoris: the immediate is zero-extended (xor with a 32-bit register
            // operand keeps the high word).
            let v = if w >> 26 == 27 { uimm << 16 } else { uimm };
            dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rt)] ; mov ecx, v as i32 ; xor rax, rcx);
            store(a, ra);
        }
        28 | 29 => {
            // andi./andis.
            let v = if w >> 26 == 29 { uimm << 16 } else { uimm };
            dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rt)] ; mov ecx, v as i32 ; and rax, rcx);
            finish(a, cx, ra, true);
        }
        30 => return emit30(a, cx, w),
        31 => return emit31(a, cx, w),
        _ => return false,
    }
    true
}

/// rax = (rax & m) | (GPR ra & !m).
fn insert(a: &mut Asm, ra: u32, m: u64) {
    dynasm!(a
        ; .arch x64
        ; mov rsi, QWORD m as i64
        ; and rax, rsi
        ; not rsi
        ; and rsi, QWORD [rbx + g(ra)]
        ; or rax, rsi
    );
}

fn emit30(a: &mut Asm, cx: &mut Cx, w: u32) -> bool {
    let rs = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let rc = w & 1 != 0;
    let sh = ((w >> 11) & 31) | ((w & 2) << 4);
    let mbe = ((w >> 6) & 31) | (w & 0x20);
    match (w >> 2) & 7 {
        k @ 0..=3 => {
            let m = match k {
                0 => mask64(mbe, 63),
                1 => mask64(0, mbe),
                _ => mask64(mbe, 63 - sh),
            };
            dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rs)]);
            if sh != 0 {
                dynasm!(a ; .arch x64 ; rol rax, sh as i8);
            }
            if k == 3 {
                insert(a, ra, m);
            } else {
                and_mask(a, m);
            }
            finish(a, cx, ra, rc);
            true
        }
        4 => {
            let m = match (w >> 1) & 0xF {
                8 => mask64(mbe, 63),
                9 => mask64(0, mbe),
                _ => return false,
            };
            let rb = (w >> 11) & 31;
            dynasm!(a
                ; .arch x64
                ; mov rcx, QWORD [rbx + g(rb)]
                ; mov rax, QWORD [rbx + g(rs)]
                ; rol rax, cl
            );
            and_mask(a, m);
            finish(a, cx, ra, rc);
            true
        }
        _ => false,
    }
}

fn emit31(a: &mut Asm, cx: &mut Cx, w: u32) -> bool {
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let rb = (w >> 11) & 31;
    let rc = w & 1 != 0;
    let oe = w & 0x400 != 0;
    // The decoder's order: isel, XS-form shifts, XO-form arithmetic, then X-form.
    if (w >> 1) & 0x1F == 15 {
        // isel: RT = CR[BC] ? (RA|0) : RB.
        let bc = (w >> 6) & 31;
        let bit = 1u32 << (31 - bc);
        dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rb)]);
        if ra == 0 {
            dynasm!(a ; .arch x64 ; xor ecx, ecx);
        } else {
            dynasm!(a ; .arch x64 ; mov rcx, QWORD [rbx + g(ra)]);
        }
        dynasm!(a ; .arch x64 ; test DWORD [rbx + CR], bit as i32 ; cmovnz rax, rcx);
        store(a, rt);
        return true;
    }
    let xo9s = (w >> 2) & 0x1FF;
    if xo9s == 413 {
        let sh = ((w >> 11) & 31) | ((w & 2) << 4);
        sra_imm(a, cx, rt, ra, sh, false, rc);
        return true;
    }
    if xo9s == 445 {
        return false; // extswsli
    }
    let xo9 = (w >> 1) & 0x1FF;
    const ARITH: [u32; 25] = [
        266, 10, 138, 234, 202, 40, 8, 136, 232, 200, 104, 235, 233, 491, 459, 427, 395, 489, 457,
        425, 393, 75, 11, 73, 9,
    ];
    if ARITH.contains(&xo9) {
        if oe {
            return false; // overflow forms (and the invalid mulh* ones) stay with handlers
        }
        match xo9 {
            266 => {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)] ; add rax, QWORD [rbx + g(rb)]);
                finish(a, cx, rt, rc);
            }
            40 => {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rb)] ; sub rax, QWORD [rbx + g(ra)]);
                finish(a, cx, rt, rc);
            }
            104 => {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)] ; neg rax);
                finish(a, cx, rt, rc);
            }
            10 => add_carrying(a, cx, w, false, Y::Reg(rb), Cin::Zero, rc), // addc
            138 => add_carrying(a, cx, w, false, Y::Reg(rb), Cin::Ca, rc),  // adde
            234 => add_carrying(a, cx, w, false, Y::Imm(u64::MAX), Cin::Ca, rc), // addme
            202 => add_carrying(a, cx, w, false, Y::Imm(0), Cin::Ca, rc),   // addze
            8 => add_carrying(a, cx, w, true, Y::Reg(rb), Cin::One, rc),    // subfc
            136 => add_carrying(a, cx, w, true, Y::Reg(rb), Cin::Ca, rc),   // subfe
            232 => add_carrying(a, cx, w, true, Y::Imm(u64::MAX), Cin::Ca, rc), // subfme
            200 => add_carrying(a, cx, w, true, Y::Imm(0), Cin::Ca, rc),    // subfze
            233 => {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)] ; imul rax, QWORD [rbx + g(rb)]);
                finish(a, cx, rt, rc);
            }
            235 => {
                // mullw: the full product of the sign-extended low words.
                dynasm!(a
                    ; .arch x64
                    ; movsxd rax, DWORD [rbx + g(ra)]
                    ; movsxd rcx, DWORD [rbx + g(rb)]
                    ; imul rax, rcx
                );
                finish(a, cx, rt, rc);
            }
            75 => {
                // mulhw: high word of the signed product, zero-extended.
                dynasm!(a
                    ; .arch x64
                    ; movsxd rax, DWORD [rbx + g(ra)]
                    ; movsxd rcx, DWORD [rbx + g(rb)]
                    ; imul rax, rcx
                    ; sar rax, 32
                    ; mov eax, eax
                );
                finish(a, cx, rt, rc);
            }
            11 => {
                // mulhwu
                dynasm!(a
                    ; .arch x64
                    ; mov eax, DWORD [rbx + g(ra)]
                    ; mov ecx, DWORD [rbx + g(rb)]
                    ; imul rax, rcx
                    ; shr rax, 32
                );
                finish(a, cx, rt, rc);
            }
            73 => {
                // mulhd
                dynasm!(a
                    ; .arch x64
                    ; mov rax, QWORD [rbx + g(ra)]
                    ; imul QWORD [rbx + g(rb)]
                    ; mov rax, rdx
                );
                finish(a, cx, rt, rc);
            }
            9 => {
                // mulhdu
                dynasm!(a
                    ; .arch x64
                    ; mov rax, QWORD [rbx + g(ra)]
                    ; mul QWORD [rbx + g(rb)]
                    ; mov rax, rdx
                );
                finish(a, cx, rt, rc);
            }
            _ => return false, // divisions
        }
        return true;
    }
    let xo = (w >> 1) & 0x3FF;
    let spr = ((w >> 16) & 0x1F) | (((w >> 11) & 0x1F) << 5);
    // X-form logical: RS in bits 6:10, result to RA.
    let (rs, dst) = (rt, ra);
    match xo {
        0 => compare(a, w, true, None),
        32 => compare(a, w, false, None),
        19 => {
            // mfcr / mfocrf
            dynasm!(a ; .arch x64 ; mov eax, DWORD [rbx + CR]);
            if w & (1 << 20) != 0 {
                dynasm!(a ; .arch x64 ; and eax, fxm_mask(w) as i32);
            }
            store(a, rt);
        }
        144 => {
            // mtcrf / mtocrf
            let m = fxm_mask(w);
            dynasm!(a
                ; .arch x64
                ; mov eax, DWORD [rbx + g(rt)]
                ; and eax, m as i32
                ; mov ecx, DWORD [rbx + CR]
                ; and ecx, !m as i32
                ; or eax, ecx
                ; mov DWORD [rbx + CR], eax
            );
        }
        339 => match spr {
            8 => {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + LR]);
                store(a, rt);
            }
            9 => {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + CTR]);
                store(a, rt);
            }
            _ => return false,
        },
        467 => match spr {
            8 => dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rt)] ; mov QWORD [rbx + LR], rax),
            9 => dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rt)] ; mov QWORD [rbx + CTR], rax),
            _ => return false,
        },
        28 | 60 | 444 | 412 | 124 | 316 | 284 | 476 => {
            if xo == 444 && rs == rb && !rc {
                // mr (and the `or rx,rx,rx` hints, which change nothing)
                if rs != dst {
                    load(a, rs, false);
                    store(a, dst);
                }
                return true;
            }
            dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(rs)] ; mov rcx, QWORD [rbx + g(rb)]);
            match xo {
                28 => dynasm!(a ; .arch x64 ; and rax, rcx),
                60 => dynasm!(a ; .arch x64 ; not rcx ; and rax, rcx),
                444 => dynasm!(a ; .arch x64 ; or rax, rcx),
                412 => dynasm!(a ; .arch x64 ; not rcx ; or rax, rcx),
                124 => dynasm!(a ; .arch x64 ; or rax, rcx ; not rax),
                316 => dynasm!(a ; .arch x64 ; xor rax, rcx),
                284 => dynasm!(a ; .arch x64 ; xor rax, rcx ; not rax),
                _ => dynasm!(a ; .arch x64 ; and rax, rcx ; not rax), // nand
            }
            finish(a, cx, dst, rc);
        }
        954 => {
            dynasm!(a ; .arch x64 ; movsx rax, BYTE [rbx + g(rs)]);
            finish(a, cx, dst, rc);
        }
        922 => {
            dynasm!(a ; .arch x64 ; movsx rax, WORD [rbx + g(rs)]);
            finish(a, cx, dst, rc);
        }
        986 => {
            dynasm!(a ; .arch x64 ; movsxd rax, DWORD [rbx + g(rs)]);
            finish(a, cx, dst, rc);
        }
        26 if cx.lzcnt => {
            dynasm!(a ; .arch x64 ; lzcnt eax, DWORD [rbx + g(rs)]);
            finish(a, cx, dst, rc);
        }
        58 if cx.lzcnt => {
            dynasm!(a ; .arch x64 ; lzcnt rax, QWORD [rbx + g(rs)]);
            finish(a, cx, dst, rc);
        }
        24 => shift_reg(a, cx, w, true, true, rc),
        536 => shift_reg(a, cx, w, false, true, rc),
        27 => shift_reg(a, cx, w, true, false, rc),
        539 => shift_reg(a, cx, w, false, false, rc),
        824 => sra_imm(a, cx, rs, dst, rb, true, rc),
        _ => return false,
    }
    true
}
