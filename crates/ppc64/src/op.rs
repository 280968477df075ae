//! Pre-decoded instructions.
//!
//! Each guest instruction is decoded once into an [`Op`]: a handler function plus the
//! operand fields it needs, extracted ahead of time. Blocks of ops are executed by calling
//! each handler in turn with the instruction's address.

use crate::core::{Core, Flow};

/// An instruction handler: executes the op for the instruction at `cia`.
pub type Handler = fn(&mut Core, &Op, u64) -> Flow;

/// A pre-decoded instruction.
#[derive(Clone, Copy)]
pub struct Op {
    /// The handler.
    pub f: Handler,
    /// Immediate, displacement or other pre-computed value (form-dependent).
    pub imm: u64,
    /// The raw instruction word (for handlers that need rarer fields).
    pub raw: u32,
    /// Bits 6:10 (RT/RS/FRT/VRT/BO/BF...); VSX ops store the 6-bit register number.
    pub rt: u8,
    /// Bits 11:15 (RA/FRA/VRA/BI...).
    pub ra: u8,
    /// Bits 16:20 (RB/FRB/VRB/SH...).
    pub rb: u8,
    /// Bits 21:25 (FRC/VRC/MB...) or another small field.
    pub rc: u8,
}

impl Op {
    /// An op with the standard register fields of `w` and the given handler and immediate.
    #[inline]
    pub fn new(f: Handler, w: u32, imm: u64) -> Op {
        Op {
            f,
            imm,
            raw: w,
            rt: ((w >> 21) & 31) as u8,
            ra: ((w >> 16) & 31) as u8,
            rb: ((w >> 11) & 31) as u8,
            rc: ((w >> 6) & 31) as u8,
        }
    }
}

/// How an instruction affects block formation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockEnd {
    /// Execution continues with the next instruction in sequence (or the handler decides).
    No,
    /// Always transfers control or changes state: the block ends after it.
    Yes,
}

/// Instruction field helpers (ISA bit numbering: bit 0 is the MSB of the word).
pub mod field {
    /// Bits `a..=b` of `w`.
    #[inline(always)]
    pub const fn bits(w: u32, a: u32, b: u32) -> u32 {
        (w >> (31 - b)) & ((1u32 << (b - a + 1)) - 1)
    }
    /// Primary opcode.
    #[inline(always)]
    pub const fn opcd(w: u32) -> u32 {
        w >> 26
    }
    /// X-form extended opcode (bits 21:30).
    #[inline(always)]
    pub const fn xo10(w: u32) -> u32 {
        (w >> 1) & 0x3FF
    }
    /// Rc bit (bit 31).
    #[inline(always)]
    pub const fn rc(w: u32) -> bool {
        w & 1 != 0
    }
    /// Sign-extended 16-bit D field.
    #[inline(always)]
    pub const fn simm16(w: u32) -> u64 {
        (w as u16 as i16) as i64 as u64
    }
    /// SPR number of an XFX-form instruction (halves swapped in the encoding).
    #[inline(always)]
    pub const fn spr(w: u32) -> u32 {
        ((w >> 16) & 0x1F) | (((w >> 11) & 0x1F) << 5)
    }
}
