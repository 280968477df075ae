//! x86-64 code generation: the shared prefix (entry, dispatcher, exits) and blocks.
//!
//! Register use inside translated code (all callee-saved, so handler calls keep them):
//! rbx = `&mut Core`, r12 = the current block's first [`Op`], r13 = the current block's
//! effective address, r14 = the op arena (to find a successor's ops).
//!
//! Rust enters through the prefix's entry routine ([`super::Entry`]: core, the block's ops,
//! its EA, the arena, the block's code), which saves the callee-saved registers and jumps
//! to the block. Each op not translated inline is a direct call to its handler (Rust ABI:
//! on x86-64 the three scalar arguments go in rdi/rsi/rdx and the `Flow` comes back in al;
//! [`super::Jit::new`] checks this with a probe before any block runs), followed by a test
//! of the returned `Flow`.
//!
//! When a block ends (falls through, or an instruction returns `Flow::Jump` with NIA set),
//! its instructions are added to `stats.insns` and control goes to the dispatcher, which
//! does what the interpreter loop does between blocks: return to Rust if the periodic
//! check is due or another thread wants attention; otherwise look the new NIA up in the
//! jump cache with the loop's exact validity tests (key, fetch translation and its addend,
//! code-page generation, translation present and runnable in this MSR[SF]) and jump to
//! that block, or return to Rust to find or decode it. `Flow::Stop` always returns to Rust,
//! with the count of the instructions of the last block (earlier blocks were counted).

use std::mem::offset_of;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

use super::int::{self, Cx};
use super::mem;
use super::{CODE_SF, CODE_SF_DEP};
use crate::core::{Core, JC_SIZE, JcEntry, Stats};
use crate::op::Op;
use crate::tlb::{TlbSet, XTLB_SIZE};

type Asm = VecAssembler<X64Relocation>;

const OP_SIZE: usize = std::mem::size_of::<Op>();

const NIA: i32 = offset_of!(Core, nia) as i32;
const MSR: i32 = offset_of!(Core, msr) as i32;
const IMODE: i32 = offset_of!(Core, imode) as i32;
const EA_MASK: i32 = offset_of!(Core, ea_mask) as i32;
const JC: i32 = offset_of!(Core, jc) as i32;
const TLB: i32 = offset_of!(Core, tlb) as i32;
const INSNS: i32 = (offset_of!(Core, stats) + offset_of!(Stats, insns)) as i32;
const NEXT_CHECK: i32 = offset_of!(Core, next_check) as i32;
const LR: i32 = offset_of!(Core, lr) as i32;
const CTR: i32 = offset_of!(Core, ctr) as i32;
const CR: i32 = offset_of!(Core, cr) as i32;
const JC_KEY: i32 = offset_of!(JcEntry, key) as i32;
const JC_ADDEND: i32 = offset_of!(JcEntry, addend) as i32;
const JC_GEN_PTR: i32 = offset_of!(JcEntry, gen_ptr) as i32;
const JC_SPAN: i32 = offset_of!(JcEntry, span) as i32;
const JC_GEN: i32 = offset_of!(JcEntry, gen_) as i32;
const JC_CODE: i32 = offset_of!(JcEntry, code) as i32;
const JCE_SIZE: i32 = std::mem::size_of::<JcEntry>() as i32;
const TLB_GEN: i32 = offset_of!(crate::tlb::Tlb, gen_) as i32;
const SETS_X: i32 = (offset_of!(crate::tlb::Tlb, sets) + offset_of!(TlbSet, x)) as i32;
const SET_SIZE: i32 = std::mem::size_of::<TlbSet>() as i32;
const XEPOCH: i32 = offset_of!(crate::tlb::Tlb, xepoch) as i32;
const _: () = assert!(std::mem::size_of::<crate::tlb::TlbEntry>() == 16);

/// A link slot (one per direct exit of a block, in writable memory): the successor found
/// for the exit's target, valid while the TLB's `xepoch` and the code pages' epoch are the
/// ones recorded. Layout (u64 words): target EA, TLB epoch, code epoch, successor code,
/// successor's first op index. All zero: empty (epochs start at 1).
pub(crate) type Slot = [u64; 5];

/// Addresses of the shared routines.
#[derive(Clone, Copy)]
pub(crate) struct Prefix {
    /// Entry from Rust.
    pub enter: usize,
    /// Dispatcher: NIA and `stats.insns` are up to date.
    pub dispatch: usize,
    /// Exit of an instruction that did not return `Flow::Next`: flow in al, instructions
    /// executed in this block in ecx.
    pub exit: usize,
    /// The vCPU's attention word.
    pub attention: usize,
    /// Direct exit: NIA = rax and `stats.insns` are up to date, r15 = the exit's slot.
    pub link: usize,
}

/// Emits a call (`op` 0xE8) or jump (0xE9) to `target`: rel32 when in range, else through
/// rax.
fn branch_to(a: &mut Asm, base: usize, target: usize, is_call: bool) {
    let next = base.wrapping_add(a.offset().0).wrapping_add(5);
    let rel = (target as i64).wrapping_sub(next as i64);
    if let Ok(rel) = i32::try_from(rel) {
        a.push(if is_call { 0xE8 } else { 0xE9 });
        a.extend(rel.to_le_bytes());
    } else if is_call {
        dynasm!(a ; .arch x64 ; mov rax, QWORD target as i64 ; call rax);
    } else {
        dynasm!(a ; .arch x64 ; mov rax, QWORD target as i64 ; jmp rax);
    }
}

/// Assembles the shared routines for execution at `base`. `attention` is the address of
/// the vCPU's attention word.
pub(crate) fn emit_prefix(
    base: usize,
    attention: usize,
    code_epoch: usize,
) -> Option<(Vec<u8>, Prefix)> {
    let mut a = Asm::new(base);
    let ret = a.new_dynamic_label();
    let out = a.new_dynamic_label();
    let ok = a.new_dynamic_label();
    let enter = a.offset().0;
    dynasm!(a
        ; .arch x64
        ; push rbx
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; mov rbx, rdi
        ; mov r12, rsi
        ; mov r13, rdx
        ; mov r14, rcx
        ; and r8, -16
        ; jmp r8
        ; =>ret
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbx
        ; ret
    );
    // exit: al = flow, ecx = count.
    a.align(16, 0xCC);
    let exit = a.offset().0;
    let stop = a.new_dynamic_label();
    let dispatch_l = a.new_dynamic_label();
    let dispatch_any = a.new_dynamic_label();
    let go = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        ; cmp al, 1
        ; jne =>stop
        ; add QWORD [rbx + INSNS], rcx
        ; jmp =>dispatch_any
        ; =>stop
        ; movzx eax, al
        ; shl ecx, 8
        ; or eax, ecx
        ; jmp =>ret
    );
    // link: r15 = slot, rax = target.
    a.align(16, 0xCC);
    let link = a.offset().0;
    dynasm!(a
        ; .arch x64
        ; mov rcx, QWORD attention as i64
        ; cmp DWORD [rcx], 0
        ; jne =>out
        ; mov rcx, QWORD [rbx + INSNS]
        ; cmp rcx, QWORD [rbx + NEXT_CHECK]
        ; jae =>out
        ; cmp rax, QWORD [r15]
        ; jne =>dispatch_l
        ; mov rcx, QWORD [rbx + TLB]
        ; mov rcx, QWORD [rcx + XEPOCH]
        ; cmp rcx, QWORD [r15 + 8]
        ; jne =>dispatch_l
        ; mov rcx, QWORD code_epoch as i64
        ; mov rcx, QWORD [rcx]
        ; cmp rcx, QWORD [r15 + 16]
        ; jne =>dispatch_l
        ; mov r12, QWORD [r15 + 32]
        ; imul r12, r12, OP_SIZE as i32
        ; add r12, r14
        ; mov r13, rax
        ; jmp QWORD [r15 + 24]
    );
    a.align(16, 0xCC);
    let dispatch = a.offset().0;
    dynasm!(a
        ; .arch x64
        ; =>dispatch_any
        ; xor r15d, r15d
        ; =>dispatch_l
        // The code epoch before the checks (an invalidation racing with them leaves the
        // slot stale, never wrongly valid).
        ; mov rdi, QWORD code_epoch as i64
        ; mov rdi, QWORD [rdi]
        ; mov rax, QWORD attention as i64
        ; cmp DWORD [rax], 0
        ; jne =>out
        ; mov rax, QWORD [rbx + INSNS]
        ; cmp rax, QWORD [rbx + NEXT_CHECK]
        ; jae =>out
        // Jump-cache entry.
        ; mov rdx, QWORD [rbx + NIA]
        ; mov rsi, QWORD [rbx + IMODE]
        ; mov ecx, edx
        ; shr ecx, 2
        ; and ecx, (JC_SIZE - 1) as i32
        ; imul ecx, ecx, JCE_SIZE
        ; add rcx, QWORD [rbx + JC]
        ; mov rax, rdx
        ; or rax, rsi
        ; cmp rax, QWORD [rcx + JC_KEY]
        ; jne =>out
        // Fetch translation still there, to the same host page.
        ; mov r8, QWORD [rbx + TLB]
        ; mov r9, rsi
        ; and r9d, 3
        ; mov r10, rdx
        ; and r10, -4096
        ; or r10, QWORD [r8 + TLB_GEN + r9 * 8]
        ; imul r9d, r9d, SET_SIZE
        ; add r8, r9
        ; mov r11d, edx
        ; shr r11d, 12
        ; and r11d, (XTLB_SIZE - 1) as i32
        ; shl r11d, 4
        ; add r8, r11
        ; cmp r10, QWORD [r8 + SETS_X]
        ; jne =>out
        ; mov r10, QWORD [r8 + SETS_X + 8]
        ; cmp r10, QWORD [rcx + JC_ADDEND]
        ; jne =>out
        // Code page unchanged.
        ; mov r10, QWORD [rcx + JC_GEN_PTR]
        ; mov r10d, DWORD [r10]
        ; shr r10d, 1
        ; cmp r10d, DWORD [rcx + JC_GEN]
        ; jne =>out
        // A translation that may run in this mode.
        ; mov rax, QWORD [rcx + JC_CODE]
        ; test rax, rax
        ; jz =>out
        ; test al, CODE_SF_DEP as i8
        ; jz =>ok
        ; mov r10, QWORD [rbx + MSR]
        ; shr r10, 63
        ; mov r11, rax
        ; shr r11, 1
        ; and r11d, (CODE_SF >> 1) as i32
        ; cmp r10, r11
        ; jne =>out
        ; =>ok
        ; mov r12d, DWORD [rcx + JC_SPAN]
        ; shr r12d, 8
        ; imul r12, r12, OP_SIZE as i32
        ; add r12, r14
        ; mov r13, rdx
        ; and rax, -16
        ; test r15, r15
        ; jz =>go
        ; mov QWORD [r15], rdx
        ; mov r8, QWORD [rbx + TLB]
        ; mov r8, QWORD [r8 + XEPOCH]
        ; mov QWORD [r15 + 8], r8
        ; mov QWORD [r15 + 16], rdi
        ; mov QWORD [r15 + 24], rax
        ; mov r8d, DWORD [rcx + JC_SPAN]
        ; shr r8d, 8
        ; mov QWORD [r15 + 32], r8
        ; =>go
        ; jmp rax
        ; =>out
        ; mov eax, 1
        ; jmp =>ret
    );
    let code = a.finalize().ok()?;
    Some((
        code,
        Prefix {
            enter: base + enter,
            dispatch: base + dispatch,
            exit: base + exit,
            attention,
            link: base + link,
        },
    ))
}

/// Calls the handler of op `i` and leaves through `stub` unless it returns `Flow::Next`.
fn call_op(a: &mut Asm, base: usize, op: &Op, i: usize, stub: DynamicLabel) -> Option<()> {
    let op_off = i32::try_from(i * OP_SIZE).ok()?;
    let cia_off = i32::try_from(4 * i).ok()?;
    dynasm!(a
        ; .arch x64
        ; mov rdi, rbx
        ; lea rsi, [r12 + op_off]
        ; lea rdx, [r13 + cia_off]
    );
    branch_to(a, base, op.f as usize, true);
    dynasm!(a
        ; .arch x64
        ; test al, al
        ; jnz =>stub
    );
    Some(())
}

/// Leaves the block after instruction `i` with NIA = rax & ea_mask (a taken branch).
fn taken(a: &mut Asm, base: usize, p: &Prefix, i: usize, slot: Option<usize>) -> Option<()> {
    let n = i32::try_from(i + 1).ok()?;
    dynasm!(a
        ; .arch x64
        ; and rax, QWORD [rbx + EA_MASK]
        ; mov QWORD [rbx + NIA], rax
        ; add QWORD [rbx + INSNS], n
    );
    exit_to(a, base, p, slot);
    Some(())
}

/// Goes to the successor whose EA is in rax (and NIA): through the exit's link slot if it
/// has one, else through the dispatcher.
fn exit_to(a: &mut Asm, base: usize, p: &Prefix, slot: Option<usize>) {
    match slot {
        Some(s) => {
            dynasm!(a ; .arch x64 ; mov r15, QWORD s as i64);
            branch_to(a, base, p.link, false);
        }
        None => branch_to(a, base, p.dispatch, false),
    }
}

/// Link slots for the direct exits of the blocks being translated.
pub(crate) struct SlotAlloc {
    /// Address of the first slot.
    pub ptr: usize,
    /// Slots handed out.
    pub next: usize,
    /// Slots available.
    pub cap: usize,
}

impl SlotAlloc {
    /// An empty slot's address, or `None` when all are in use.
    fn take(&mut self) -> Option<usize> {
        if self.next >= self.cap {
            return None;
        }
        let at = self.ptr + self.next * std::mem::size_of::<Slot>();
        self.next += 1;
        // SAFETY: `at` is slot `next - 1 < cap` of the allocation of `cap` slots owned by
        // the `Jit`; no translated code runs while a block is being translated, so nothing
        // else accesses it now.
        unsafe { std::ptr::write(at as *mut Slot, [0; 5]) };
        Some(at)
    }
}

/// A slot from `slots`, if there is an allocator and room.
fn slot(slots: &mut Option<&mut SlotAlloc>) -> Option<usize> {
    slots.as_deref_mut().and_then(SlotAlloc::take)
}

/// LR = EA of instruction `i` + 4 (masked).
fn link(a: &mut Asm, i: usize) -> Option<()> {
    let off = i32::try_from(4 * i + 4).ok()?;
    dynasm!(a
        ; .arch x64
        ; lea rcx, [r13 + off]
        ; and rcx, QWORD [rbx + EA_MASK]
        ; mov QWORD [rbx + LR], rcx
    );
    Some(())
}

/// A branch back to the start of its own block, in a block whose every instruction is
/// translated inline (no handler but the memory slow paths, which change neither MSR nor
/// fetch translations, runs in it): after the interpreter loop's checks between blocks
/// (attention, periodic check) and the code-page generation, the block is still valid and
/// runs again without a jump-cache lookup.
#[derive(Clone, Copy)]
struct SelfLoop {
    start: DynamicLabel,
    /// The code-page word and the block's generation.
    gen_ptr: usize,
    gen_: u32,
}

/// Leaves the block after instruction `i` for its own start (see [`SelfLoop`]).
fn taken_self(a: &mut Asm, base: usize, p: &Prefix, i: usize, l: SelfLoop) -> Option<()> {
    let n = i32::try_from(i + 1).ok()?;
    let out = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        ; add QWORD [rbx + INSNS], n
        ; mov rax, QWORD p.attention as i64
        ; cmp DWORD [rax], 0
        ; jne =>out
        ; mov rax, QWORD [rbx + INSNS]
        ; cmp rax, QWORD [rbx + NEXT_CHECK]
        ; jae =>out
        ; mov rax, QWORD l.gen_ptr as i64
        ; mov eax, DWORD [rax]
        ; shr eax, 1
        ; cmp eax, l.gen_ as i32
        ; jne =>out
        ; jmp =>l.start
        ; =>out
        ; mov QWORD [rbx + NIA], r13
    );
    branch_to(a, base, p.dispatch, false);
    Some(())
}

/// Branches translated inline (the forms the decoder gives `b`, `bc_cr`, `bdnz`, `blr`
/// and unconditional `bcctr`/`bclr`); `None` if `w` is not one of them.
fn emit_branch(
    a: &mut Asm,
    base: usize,
    p: &Prefix,
    w: u32,
    i: usize,
    self_loop: Option<SelfLoop>,
    mut slots: Option<&mut SlotAlloc>,
) -> Option<()> {
    let bo = (w >> 21) & 31;
    let bi = (w >> 16) & 31;
    let aa = w & 2 != 0;
    let lk = w & 1 != 0;
    let always = bo & 0x14 == 0x14;
    let cia = i32::try_from(4 * i).ok()?;
    match w >> 26 {
        18 => {
            // b/ba/bl/bla
            let li = ((((w & 0x03FF_FFFC) << 6) as i32) >> 6) as i64;
            // |li| < 2^25 and cia < 2^9: the sum fits.
            let off = i32::try_from(cia as i64 + li).ok()?;
            if lk {
                link(a, i)?;
            }
            if aa {
                dynasm!(a ; .arch x64 ; mov rax, QWORD li);
            } else if let Some(l) = self_loop.filter(|_| off == 0 && !lk) {
                return taken_self(a, base, p, i, l);
            } else {
                dynasm!(a ; .arch x64 ; lea rax, [r13 + off]);
            }
            taken(a, base, p, i, slot(&mut slots))
        }
        16 if !aa && !lk && (bo == 16 || bo & 0x14 == 0x04) => {
            let bd = (w & 0xFFFC) as u16 as i16 as i32;
            let skip = a.new_dynamic_label();
            if bo == 16 {
                // bdnz
                dynasm!(a
                    ; .arch x64
                    ; mov rax, QWORD [rbx + CTR]
                    ; sub rax, 1
                    ; mov QWORD [rbx + CTR], rax
                    ; test rax, QWORD [rbx + EA_MASK]
                    ; jz =>skip
                );
            } else {
                // bc testing one CR bit
                let bit = (1u32 << (31 - bi)) as i32;
                dynasm!(a ; .arch x64 ; test DWORD [rbx + CR], bit);
                if bo & 8 != 0 {
                    dynasm!(a ; .arch x64 ; jz =>skip);
                } else {
                    dynasm!(a ; .arch x64 ; jnz =>skip);
                }
            }
            match self_loop.filter(|_| cia + bd == 0) {
                Some(l) => taken_self(a, base, p, i, l)?,
                None => {
                    dynasm!(a ; .arch x64 ; lea rax, [r13 + cia + bd]);
                    taken(a, base, p, i, slot(&mut slots))?;
                }
            }
            dynasm!(a ; .arch x64 ; =>skip);
            Some(())
        }
        19 if always && matches!((w >> 1) & 0x3FF, 16 | 528) => {
            // blr/blrl, bctr/bctrl: the target is read before LR is written.
            if (w >> 1) & 0x3FF == 16 {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + LR]);
            } else {
                dynasm!(a ; .arch x64 ; mov rax, QWORD [rbx + CTR]);
            }
            dynasm!(a ; .arch x64 ; and rax, -4);
            if lk {
                link(a, i)?;
            }
            taken(a, base, p, i, None)
        }
        _ => None,
    }
}

/// Assembles `ops` (a block whose EA is in r13 and ops in r12) for execution at `base`.
pub(crate) fn emit_block(
    base: usize,
    ops: &[Op],
    cx: &mut Cx,
    p: &Prefix,
    page_gen: Option<(usize, u32)>,
    slots: &mut SlotAlloc,
) -> Option<Vec<u8>> {
    let mut a = Asm::new(base);
    // Whether every op is translated inline (a trial run into a scratch assembler).
    let pure = {
        let mut t = Asm::new(base);
        let mut tcx = Cx { ..*cx };
        ops.iter().enumerate().all(|(i, op)| {
            int::emit(&mut t, &mut tcx, op.raw)
                || emit_branch(&mut t, base, p, op.raw, i, None, None).is_some()
                || mem::emit(&mut t, op.raw, cx.le, cx.code).is_some()
        })
    };
    let self_loop = match page_gen {
        Some((gen_ptr, gen_)) if pure => {
            let start = a.new_dynamic_label();
            dynasm!(a ; .arch x64 ; =>start);
            Some(SelfLoop {
                start,
                gen_ptr,
                gen_,
            })
        }
        _ => None,
    };
    let mut stubs: Vec<(DynamicLabel, usize)> = Vec::with_capacity(ops.len());
    // Out-of-line slow paths: (op index, entry label, where to continue).
    let mut slow = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if int::emit(&mut a, cx, op.raw) {
            continue;
        }
        if emit_branch(&mut a, base, p, op.raw, i, self_loop, Some(&mut *slots)).is_some() {
            continue;
        }
        if let Some((miss, cont)) = mem::emit(&mut a, op.raw, cx.le, cx.code) {
            slow.push((i, miss, cont));
            continue;
        }
        let stub = a.new_dynamic_label();
        stubs.push((stub, i + 1));
        call_op(&mut a, base, op, i, stub)?;
    }
    // Fell through: NIA = EA of the next instruction.
    let len = i32::try_from(ops.len()).ok()?;
    dynasm!(a
        ; .arch x64
        ; lea rax, [r13 + 4 * len]
        ; and rax, QWORD [rbx + EA_MASK]
        ; mov QWORD [rbx + NIA], rax
        ; add QWORD [rbx + INSNS], len
    );
    exit_to(&mut a, base, p, slots.take());
    for (i, miss, cont) in slow {
        let stub = a.new_dynamic_label();
        stubs.push((stub, i + 1));
        dynasm!(a ; .arch x64 ; =>miss);
        call_op(&mut a, base, &ops[i], i, stub)?;
        dynasm!(a ; .arch x64 ; jmp =>cont);
    }
    for (stub, n) in stubs {
        let n = i32::try_from(n).ok()?;
        dynasm!(a
            ; .arch x64
            ; =>stub
            ; mov ecx, n
        );
        branch_to(&mut a, base, p.exit, false);
    }
    a.finalize().ok()
}
