//! Inline loads and stores (stage 3): the software-TLB hit path of `Core::ld`/`st_fast_e`
//! in host code, with the op's handler as the slow path.
//!
//! For a supported load or store the translation computes the effective address, looks it
//! up in the data TLB set `dset_q[ea >> 63]` (two ways, tag = page | set generation),
//! checks that the access stays inside the 4 KiB page, and accesses host memory at
//! `ea + addend` in the block's byte order. Anything else (TLB miss, page crossing, a store
//! to a page holding decoded code) jumps to an out-of-line call of the instruction's
//! handler, which redoes the access from the start exactly as the interpreter does
//! (translation, MMIO, exceptions, code invalidation); nothing has been changed by then.
//!
//! The decoding mirrors `decode.rs`: invalid update forms (RA = 0, or RA = RT for loads)
//! are left to their (illegal-instruction) handlers.

use std::mem::offset_of;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

use crate::core::Core;
use crate::tlb::{TLB_SIZE, Tlb, TlbEntry, TlbSet};

type Asm = VecAssembler<X64Relocation>;

const GPR: i32 = offset_of!(Core, gpr) as i32;
const EA_MASK: i32 = offset_of!(Core, ea_mask) as i32;
const DSET_Q: i32 = offset_of!(Core, dset_q) as i32;
const TLB: i32 = offset_of!(Core, tlb) as i32;
const RAM_BASE: i32 = offset_of!(Core, ram_base) as i32;
const TLB_GEN: i32 = offset_of!(Tlb, gen_) as i32;
const SET_SIZE: i32 = std::mem::size_of::<TlbSet>() as i32;
/// Offset of the read array of set 0 within `Tlb`.
const RW0: i32 = (offset_of!(Tlb, sets) + offset_of!(TlbSet, rw)) as i32;
/// Size of one access array (read or write).
const ARR: i32 = (2 * TLB_SIZE * std::mem::size_of::<TlbEntry>()) as i32;
const _: () = assert!(std::mem::size_of::<TlbEntry>() == 16 && TLB_SIZE == 1024);
const _: () = assert!(std::mem::size_of::<usize>() == 8);

#[inline]
fn g(r: u32) -> i32 {
    GPR + 8 * (r & 31) as i32
}

/// Where the code-page words are (for the store check).
#[derive(Clone, Copy)]
pub(crate) struct CodeWords {
    /// Address of the first word.
    pub ptr: usize,
    /// Number of words (pages).
    pub len: usize,
}

/// One memory access form.
#[derive(Clone, Copy)]
struct Form {
    store: bool,
    /// Bytes (1, 2, 4, 8).
    n: u8,
    /// Sign-extend (loads).
    sext: bool,
    /// Update RA with the EA.
    update: bool,
    /// Byte-reversed relative to the block's byte order.
    rev: bool,
    /// Displacement (D/DS forms) or `None` for indexed (X) forms.
    disp: Option<i64>,
}

fn form(w: u32) -> Option<Form> {
    let d = Some((w as u16 as i16) as i64);
    let ds = Some(((w & 0xFFFC) as u16 as i16) as i64);
    let f = |store, n, sext, update, disp| Form {
        store,
        n,
        sext,
        update,
        rev: false,
        disp,
    };
    let x = match w >> 26 {
        32 => f(false, 4, false, false, d),
        33 => f(false, 4, false, true, d),
        34 => f(false, 1, false, false, d),
        35 => f(false, 1, false, true, d),
        36 => f(true, 4, false, false, d),
        37 => f(true, 4, false, true, d),
        38 => f(true, 1, false, false, d),
        39 => f(true, 1, false, true, d),
        40 => f(false, 2, false, false, d),
        41 => f(false, 2, false, true, d),
        42 => f(false, 2, true, false, d),
        43 => f(false, 2, true, true, d),
        44 => f(true, 2, false, false, d),
        45 => f(true, 2, false, true, d),
        58 => match w & 3 {
            0 => f(false, 8, false, false, ds),
            1 => f(false, 8, false, true, ds),
            2 => f(false, 4, true, false, ds),
            _ => return None,
        },
        62 => match w & 3 {
            0 => f(true, 8, false, false, ds),
            1 => f(true, 8, false, true, ds),
            _ => return None,
        },
        31 => {
            // The decoder tests isel, the XS and XO forms first; none of them uses these
            // extended opcodes.
            let mut x = match (w >> 1) & 0x3FF {
                23 => f(false, 4, false, false, None),
                55 => f(false, 4, false, true, None),
                87 => f(false, 1, false, false, None),
                119 => f(false, 1, false, true, None),
                279 => f(false, 2, false, false, None),
                311 => f(false, 2, false, true, None),
                343 => f(false, 2, true, false, None),
                375 => f(false, 2, true, true, None),
                21 => f(false, 8, false, false, None),
                53 => f(false, 8, false, true, None),
                341 => f(false, 4, true, false, None),
                373 => f(false, 4, true, true, None),
                534 => f(false, 4, false, false, None),
                790 => f(false, 2, false, false, None),
                532 => f(false, 8, false, false, None),
                151 => f(true, 4, false, false, None),
                183 => f(true, 4, false, true, None),
                215 => f(true, 1, false, false, None),
                247 => f(true, 1, false, true, None),
                407 => f(true, 2, false, false, None),
                439 => f(true, 2, false, true, None),
                149 => f(true, 8, false, false, None),
                181 => f(true, 8, false, true, None),
                662 => f(true, 4, false, false, None),
                918 => f(true, 2, false, false, None),
                660 => f(true, 8, false, false, None),
                _ => return None,
            };
            x.rev = matches!((w >> 1) & 0x3FF, 534 | 790 | 532 | 662 | 918 | 660);
            x
        }
        _ => return None,
    };
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    if x.update && (ra == 0 || (!x.store && ra == rt)) {
        return None; // invalid form: the handler raises the illegal-instruction interrupt
    }
    Some(x)
}

/// Emits the fast path of `w` if it is a supported load or store, for a block in byte
/// order `le`. Returns the label of the slow path (to be emitted by the caller: a call of
/// the handler, then a jump to the label returned second, placed after the fast path).
pub(crate) fn emit(
    a: &mut Asm,
    w: u32,
    le: bool,
    code: CodeWords,
) -> Option<(DynamicLabel, DynamicLabel)> {
    let x = form(w)?;
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let rb = (w >> 11) & 31;
    let miss = a.new_dynamic_label();
    let cont = a.new_dynamic_label();
    let way1 = a.new_dynamic_label();
    let hit = a.new_dynamic_label();
    // rax = EA = ((RA|0) + d or RB) & ea_mask
    if ra == 0 {
        dynasm!(a ; .arch x64 ; xor eax, eax);
    } else {
        dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + g(ra)]);
    }
    match x.disp {
        Some(0) => {}
        Some(d) => dynasm!(a ; .arch x64 ; add rax, d as i32),
        None => dynasm!(a ; .arch x64 ; add rax, QWORD [rbx + g(rb)]),
    }
    dynasm!(a ; .arch x64 ; and rax, QWORD [rbx + EA_MASK]);
    // The TLB set and the entry pair.
    let acc_off = RW0 + if x.store { ARR } else { 0 };
    dynasm!(a
        ; .arch x64
        ; mov rcx, rax
        ; shr rcx, 63
        ; mov ecx, DWORD [rbx + DSET_Q + rcx * 8]
        ; and ecx, 3
        ; mov rdx, QWORD [rbx + TLB]
        ; mov rsi, rax
        ; and rsi, -4096
        ; or rsi, QWORD [rdx + TLB_GEN + rcx * 8]
        ; imul ecx, ecx, SET_SIZE
        ; add rdx, rcx
        ; mov edi, eax
        ; shr edi, 12
        ; and edi, (TLB_SIZE - 1) as i32
        ; shl edi, 5
        ; add rdx, rdi
        ; cmp rsi, QWORD [rdx + acc_off]
        ; jne =>way1
        ; mov rdx, QWORD [rdx + acc_off + 8]
        ; jmp =>hit
        ; =>way1
        ; cmp rsi, QWORD [rdx + acc_off + 16]
        ; jne =>miss
        ; mov rdx, QWORD [rdx + acc_off + 24]
        ; =>hit
    );
    if x.n > 1 {
        dynasm!(a
            ; .arch x64
            ; mov ecx, eax
            ; and ecx, 0xFFF
            ; cmp ecx, 4096 - x.n as i32
            ; ja =>miss
        );
    }
    dynasm!(a ; .arch x64 ; add rdx, rax);
    // The value is kept in memory order "le XOR rev".
    let swap = le == x.rev;
    if x.store {
        // A store to a page holding decoded code takes the handler's path (which
        // invalidates the page's blocks).
        let nocode = a.new_dynamic_label();
        dynasm!(a
            ; .arch x64
            ; mov rcx, rdx
            ; sub rcx, QWORD [rbx + RAM_BASE]
            ; shr rcx, 12
            ; mov r9, QWORD code.len as i64
            ; cmp rcx, r9
            ; jae =>nocode
            ; mov r9, QWORD code.ptr as i64
            ; test BYTE [r9 + rcx * 4], 1
            ; jnz =>miss
            ; =>nocode
            ; mov r8, QWORD [rbx + g(rt)]
        );
        match (x.n, swap) {
            (1, _) => dynasm!(a ; .arch x64 ; mov BYTE [rdx], r8b),
            (2, false) => dynasm!(a ; .arch x64 ; mov WORD [rdx], r8w),
            (2, true) => dynasm!(a ; .arch x64 ; rol r8w, 8 ; mov WORD [rdx], r8w),
            (4, false) => dynasm!(a ; .arch x64 ; mov DWORD [rdx], r8d),
            (4, true) => dynasm!(a ; .arch x64 ; bswap r8d ; mov DWORD [rdx], r8d),
            (_, false) => dynasm!(a ; .arch x64 ; mov QWORD [rdx], r8),
            (_, true) => dynasm!(a ; .arch x64 ; bswap r8 ; mov QWORD [rdx], r8),
        }
    } else {
        match (x.n, swap) {
            (1, _) => dynasm!(a ; .arch x64 ; movzx r8d, BYTE [rdx]),
            (2, false) => dynasm!(a ; .arch x64 ; movzx r8d, WORD [rdx]),
            (2, true) => dynasm!(a ; .arch x64 ; movzx r8d, WORD [rdx] ; rol r8w, 8),
            (4, false) => dynasm!(a ; .arch x64 ; mov r8d, DWORD [rdx]),
            (4, true) => dynasm!(a ; .arch x64 ; mov r8d, DWORD [rdx] ; bswap r8d),
            (_, false) => dynasm!(a ; .arch x64 ; mov r8, QWORD [rdx]),
            (_, true) => dynasm!(a ; .arch x64 ; mov r8, QWORD [rdx] ; bswap r8),
        }
        if x.sext {
            match x.n {
                2 => dynasm!(a ; .arch x64 ; movsx r8, r8w),
                _ => dynasm!(a ; .arch x64 ; movsxd r8, r8d),
            }
        }
        dynasm!(a ; .arch x64 ; mov QWORD [rbx + g(rt)], r8);
    }
    if x.update {
        dynasm!(a ; .arch x64 ; mov QWORD [rbx + g(ra)], rax);
    }
    dynasm!(a ; .arch x64 ; =>cont);
    Some((miss, cont))
}
