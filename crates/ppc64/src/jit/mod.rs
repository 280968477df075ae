//! A translator from decoded blocks to host machine code (x86-64 hosts only).
//!
//! A block of [`Op`]s becomes one host function that runs the ops in order and returns how
//! many instructions it executed and the [`Flow`] that ended it, exactly as the
//! interpreter loop would: stage 1 is call-threaded code (a direct call to each op's
//! handler, no dispatch loop). The interpreter stays the reference and the fallback: it
//! runs traced execution (MSR[SE]/[BE]), every block when `PAPR_HV_JIT=0`, and everything
//! on other hosts.
//!
//! Translations belong to a decoded block and share its validity (code-page generation,
//! fetch translation): the run loop finds them through the same jump cache and block map,
//! so a block invalidated by a store to its page is never run again, compiled or not.

use crate::core::{Core, Flow};
use crate::op::Op;

#[cfg(target_arch = "x86_64")]
mod buf;
#[cfg(target_arch = "x86_64")]
mod int;
#[cfg(target_arch = "x86_64")]
mod mem;
#[cfg(target_arch = "x86_64")]
mod x64;

/// Flag in a translation's address: the code assumed the MSR[SF] value in [`CODE_SF`].
pub(crate) const CODE_SF_DEP: usize = 1;
/// Flag in a translation's address: MSR[SF] was 1 when it was translated.
pub(crate) const CODE_SF: usize = 2;

/// Whether a translation (address with flags, nonzero) may run with MSR = `msr`.
#[inline(always)]
pub(crate) fn runnable(code: usize, msr: u64) -> bool {
    code & CODE_SF_DEP == 0 || (code & CODE_SF != 0) == (msr >> 63 != 0)
}

/// Whether the environment allows the JIT (`PAPR_HV_JIT=0` turns it off). Read once.
pub(crate) fn enabled_by_env() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("PAPR_HV_JIT").map_or(true, |v| v.trim() != "0"))
}

/// Size of one vCPU's code buffer.
#[cfg(target_arch = "x86_64")]
const CODE_SIZE: usize = 128 << 20;
/// Link slots per vCPU (each block's direct exits take one each).
#[cfg(target_arch = "x86_64")]
const SLOTS: usize = 1 << 20;
/// An upper bound of the code size of one block (the run loop flushes everything when
/// less than this is left).
pub(crate) const MAX_BLOCK_CODE: usize = 64 << 10;

/// Decodes the value a translated block returns: (instructions executed, flow).
#[inline(always)]
pub(crate) fn unpack(r: u64) -> (u64, Flow) {
    let flow = match r as u8 {
        0 => Flow::Next,
        1 => Flow::Jump,
        _ => Flow::Stop,
    };
    (r >> 8, flow)
}

/// The entry routine: `(core, &ops[first], block EA, op arena, block code) -> packed
/// result`.
#[cfg(target_arch = "x86_64")]
type Entry = unsafe extern "C" fn(*mut Core, *const Op, u64, *const Op, usize) -> u64;

/// One vCPU's translator and its code buffer.
pub(crate) struct Jit {
    #[cfg(target_arch = "x86_64")]
    buf: buf::CodeBuf,
    /// The host has LZCNT.
    #[cfg(target_arch = "x86_64")]
    lzcnt: bool,
    /// The partition's code-page words (they live as long as the partition, which the
    /// vCPU keeps alive).
    #[cfg(target_arch = "x86_64")]
    code: mem::CodeWords,
    /// The shared routines at the start of the buffer.
    #[cfg(target_arch = "x86_64")]
    prefix: x64::Prefix,
    /// Link slots (a zeroed allocation of `SLOTS` slots, owned).
    #[cfg(target_arch = "x86_64")]
    slots: x64::SlotAlloc,
}

#[cfg(target_arch = "x86_64")]
fn slot_layout() -> std::alloc::Layout {
    std::alloc::Layout::array::<x64::Slot>(SLOTS)
        .unwrap_or_else(|_| std::alloc::Layout::new::<u64>())
}

#[cfg(target_arch = "x86_64")]
impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: `slots.ptr` was allocated in `new` with this layout and is freed once.
        unsafe { std::alloc::dealloc(self.slots.ptr as *mut u8, slot_layout()) };
    }
}

#[cfg(target_arch = "x86_64")]
mod probe {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// (core, op, cia) the probe expects, and whether it saw them.
        pub(super) static EXPECT: Cell<(usize, usize, u64, bool)> = const { Cell::new((0, 0, 0, false)) };
    }

    /// A handler that records whether it received the expected arguments.
    pub(super) fn handler(c: &mut Core, op: &Op, cia: u64) -> Flow {
        EXPECT.with(|e| {
            let (ec, eo, ecia, _) = e.get();
            let ok = c as *mut Core as usize == ec && op as *const Op as usize == eo && cia == ecia;
            e.set((ec, eo, ecia, ok));
        });
        Flow::Stop
    }
}

impl Jit {
    /// A translator for the vCPU whose state is `core`, or `None` if this host cannot run
    /// translated code (no executable memory, or the calling convention check failed).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn new(core: &mut Core) -> Option<Jit> {
        let near = probe::handler as *const () as usize;
        let mut buf = buf::CodeBuf::new(CODE_SIZE, near)?;
        let attention = &core.shared.attention as *const std::sync::atomic::AtomicU32 as usize;
        let (pre, prefix) =
            x64::emit_prefix(buf.next_addr(), attention, core.part.code.epoch_ptr())?;
        buf.push(&pre)?;
        buf.keep();
        // SAFETY: a non-zero-sized layout; the result is checked for null.
        let slots = unsafe { std::alloc::alloc_zeroed(slot_layout()) };
        if slots.is_null() {
            return None;
        }
        let mut jit = Jit {
            slots: x64::SlotAlloc {
                ptr: slots as usize,
                next: 0,
                cap: SLOTS,
            },
            buf,
            prefix,
            lzcnt: std::arch::is_x86_feature_detected!("lzcnt"),
            code: {
                let (ptr, len) = core.part.code.raw_words();
                mem::CodeWords { ptr, len }
            },
        };
        // Check that handlers receive their arguments where the generated code puts them.
        let op = Op::new(probe::handler, 0, 0);
        let ops = [op, op];
        let code = jit.compile(&ops, true, true, None)?;
        let cia = 0x0123_4567_89AB_CDE0u64;
        probe::EXPECT.with(|e| {
            e.set((
                core as *mut Core as usize,
                &ops[0] as *const Op as usize,
                cia,
                false,
            ))
        });
        // SAFETY: `code` was just assembled from `ops` by `compile`; `ops` outlives the call
        // and `core` is a live exclusive reference. The probe handler touches nothing.
        let r = unsafe { jit.run(code, core, ops.as_ptr(), cia, ops.as_ptr()) };
        let seen = probe::EXPECT.with(|e| e.get().3);
        jit.clear();
        (seen && unpack(r) == (1, Flow::Stop)).then_some(jit)
    }

    /// No translator on this host.
    #[cfg(not(target_arch = "x86_64"))]
    pub(crate) fn new(_core: &mut Core) -> Option<Jit> {
        None
    }

    /// Bytes of code space left (0 when the link slots run out).
    pub(crate) fn room(&self) -> usize {
        // Out of link slots counts as out of room (a block takes at most one per op).
        #[cfg(target_arch = "x86_64")]
        return if self.slots.cap - self.slots.next.min(self.slots.cap) < 256 {
            0
        } else {
            self.buf.room()
        };
        #[cfg(not(target_arch = "x86_64"))]
        return 0;
    }

    /// Translates a block decoded for byte order `le`, for a vCPU whose MSR[SF] is `sf`;
    /// returns its entry address (16-byte aligned) with the `CODE_SF*` flags in the low
    /// bits, or `None` (run it interpreted).
    ///
    /// `page_gen` is the address of the block's code-page word and the generation the
    /// block was decoded at: a branch back to the block's start checks it and stays in the
    /// block's code.
    pub(crate) fn compile(
        &mut self,
        ops: &[Op],
        sf: bool,
        le: bool,
        page_gen: Option<(usize, u32)>,
    ) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        {
            let mut cx = int::Cx {
                sf,
                lzcnt: self.lzcnt,
                sf_dep: false,
                le,
                code: self.code,
            };
            let code = x64::emit_block(
                self.buf.next_addr(),
                ops,
                &mut cx,
                &self.prefix,
                page_gen,
                &mut self.slots,
            )?;
            let at = self.buf.push(&code)?;
            let mut flags = 0;
            if cx.sf_dep {
                flags |= CODE_SF_DEP;
                if sf {
                    flags |= CODE_SF;
                }
            }
            Some(at | flags)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (ops, sf, le, page_gen);
            None
        }
    }

    /// Forgets every translation.
    pub(crate) fn clear(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            self.buf.clear();
            self.slots.next = 0;
        }
    }

    /// Runs the translated block at `code` (and the blocks it chains to).
    ///
    /// # Safety
    /// `code` must be a value returned by [`compile`](Self::compile) of this `Jit`
    /// since its last [`clear`](Self::clear), for a block whose ops start at `ops`; `arena`
    /// is the op arena every jump-cache entry of `core` indexes, and every translation those
    /// entries name belongs to this `Jit` (the run loop clears the jump cache with the
    /// translator). Neither changes during the call.
    #[inline(always)]
    pub(crate) unsafe fn run(
        &self,
        code: usize,
        core: &mut Core,
        ops: *const Op,
        nia: u64,
        arena: *const Op,
    ) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `prefix.enter` is the entry routine emitted by `x64::emit_prefix`
            // with the `Entry` signature.
            let f: Entry = unsafe { std::mem::transmute::<usize, Entry>(self.prefix.enter) };
            // SAFETY: the generated code only calls the ops' handlers with `core`, a
            // pointer into the arena and an address, as the interpreter does, and reads or
            // writes `Core` fields and TLB-validated guest RAM as the handlers do.
            unsafe { f(core, ops, nia, arena, code) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (code, core, ops, nia, arena);
            0
        }
    }
}
