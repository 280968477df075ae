//! x86-64 code generation for one block.
//!
//! Generated code is entered through [`super::Entry`] (`core` in rdi, the block's first
//! [`Op`] in rsi, the block's effective address in rdx) and keeps them in callee-saved
//! registers: rbx = `&mut Core`, r12 = `&ops[0]`, r13 = the block's EA. Each op not
//! translated inline is a direct call to its handler (Rust ABI: on x86-64 the three scalar
//! arguments go in rdi/rsi/rdx and the `Flow` comes back in al; [`super::Jit::new`] checks
//! this with a probe before any block runs), followed by a test of the returned `Flow`.
//! The block returns `(instructions executed << 8) | Flow`.

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

use super::int::{self, Cx};
use super::mem;
use crate::op::Op;

type Asm = VecAssembler<X64Relocation>;

const OP_SIZE: usize = std::mem::size_of::<Op>();

/// Emits a call to `target` (rel32 when in range, else through rax).
fn call(a: &mut Asm, base: usize, target: usize) {
    let next = base.wrapping_add(a.offset().0).wrapping_add(5);
    let rel = (target as i64).wrapping_sub(next as i64);
    if let Ok(rel) = i32::try_from(rel) {
        a.push(0xE8);
        a.extend(rel.to_le_bytes());
    } else {
        dynasm!(a
            ; .arch x64
            ; mov rax, QWORD target as i64
            ; call rax
        );
    }
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
    call(a, base, op.f as usize);
    dynasm!(a
        ; .arch x64
        ; test al, al
        ; jnz =>stub
    );
    Some(())
}

/// Assembles `ops` (a block starting at EA held in r13) for execution at address `base`.
pub(crate) fn emit_block(base: usize, ops: &[Op], cx: &mut Cx) -> Option<Vec<u8>> {
    let mut a = Asm::new(base);
    let exit = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        ; push rbx
        ; push r12
        ; push r13
        ; mov rbx, rdi
        ; mov r12, rsi
        ; mov r13, rdx
    );
    let mut stubs = Vec::with_capacity(ops.len());
    let mut stub_n = Vec::with_capacity(ops.len());
    // Out-of-line slow paths: (op index, entry label, where to continue).
    let mut slow = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if int::emit(&mut a, cx, op.raw) {
            continue;
        }
        if let Some((miss, cont)) = mem::emit(&mut a, op.raw, cx.le, cx.code) {
            slow.push((i, miss, cont));
            continue;
        }
        let stub = a.new_dynamic_label();
        stubs.push(stub);
        stub_n.push(i + 1);
        call_op(&mut a, base, op, i, stub)?;
    }
    let done = i32::try_from(ops.len() << 8).ok()?;
    dynasm!(a
        ; .arch x64
        ; mov eax, done
        ; pop r13
        ; pop r12
        ; pop rbx
        ; ret
    );
    for (i, miss, cont) in slow {
        let stub = a.new_dynamic_label();
        stubs.push(stub);
        stub_n.push(i + 1);
        dynasm!(a ; .arch x64 ; =>miss);
        call_op(&mut a, base, &ops[i], i, stub)?;
        dynasm!(a ; .arch x64 ; jmp =>cont);
    }
    for (stub, n) in stubs.into_iter().zip(stub_n) {
        let n = i32::try_from(n << 8).ok()?;
        dynasm!(a
            ; .arch x64
            ; =>stub
            ; mov ecx, n
            ; jmp =>exit
        );
    }
    dynasm!(a
        ; .arch x64
        ; =>exit
        ; movzx eax, al
        ; or eax, ecx
        ; pop r13
        ; pop r12
        ; pop rbx
        ; ret
    );
    a.finalize().ok()
}
