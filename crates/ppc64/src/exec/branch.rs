//! Branches and condition-register logical instructions.

use crate::core::{Core, Flow};
use crate::op::Op;
use crate::reg::{fscr, msr};

/// b/ba/bl/bla: op.imm = sign-extended displacement; op.rc bit 0 = AA, bit 1 = LK.
pub(crate) fn b<const AA: bool, const LK: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if LK {
        c.lr = c.ea(cia.wrapping_add(4));
    }
    c.nia = c.ea(if AA { op.imm } else { cia.wrapping_add(op.imm) });
    Flow::Jump
}

/// Evaluates the BO/BI condition (decrementing CTR if asked).
#[inline(always)]
fn cond(c: &mut Core, bo: u8, bi: u8) -> bool {
    let ctr_ok = if bo & 4 != 0 {
        true
    } else {
        c.ctr = c.ctr.wrapping_sub(1);
        let ctr = if c.msr() & msr::SF != 0 {
            c.ctr
        } else {
            c.ctr as u32 as u64
        };
        (ctr != 0) != (bo & 2 != 0)
    };
    let cr_ok = bo & 16 != 0 || c.cr_bit(bi as u32) == (bo & 8 != 0);
    ctr_ok && cr_ok
}

/// bc: op.rt = BO, op.ra = BI, op.imm = displacement.
pub(crate) fn bc<const AA: bool, const LK: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let taken = cond(c, op.rt, op.ra);
    if LK {
        c.lr = c.ea(cia.wrapping_add(4));
    }
    if taken {
        c.nia = c.ea(if AA { op.imm } else { cia.wrapping_add(op.imm) });
        Flow::Jump
    } else {
        Flow::Next
    }
}

/// bdnz: the common loop branch (BO = 16, no link, relative).
pub(crate) fn bdnz(c: &mut Core, op: &Op, cia: u64) -> Flow {
    c.ctr = c.ctr.wrapping_sub(1);
    if c.ctr & c.ea_mask != 0 {
        c.nia = c.ea(cia.wrapping_add(op.imm));
        Flow::Jump
    } else {
        Flow::Next
    }
}

/// bclr[l].
pub(crate) fn bclr<const LK: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let target = c.lr & !3;
    let taken = cond(c, op.rt, op.ra);
    if LK {
        c.lr = c.ea(cia.wrapping_add(4));
    }
    if taken {
        c.nia = c.ea(target);
        Flow::Jump
    } else {
        Flow::Next
    }
}

/// blr (unconditional).
pub(crate) fn blr(c: &mut Core, _: &Op, _: u64) -> Flow {
    c.nia = c.ea(c.lr & !3);
    Flow::Jump
}

/// bcctr[l]. BO with "decrement CTR" is an invalid form (illegal).
pub(crate) fn bcctr<const LK: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if op.rt & 4 == 0 {
        return c.illegal(cia);
    }
    let taken = cond(c, op.rt, op.ra);
    let target = c.ctr & !3;
    if LK {
        c.lr = c.ea(cia.wrapping_add(4));
    }
    if taken {
        c.nia = c.ea(target);
        Flow::Jump
    } else {
        Flow::Next
    }
}

/// bctar[l]: gated by FSCR[TAR] in problem state.
pub(crate) fn bctar<const LK: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() && c.fscr & fscr::enable(fscr::IC_TAR) == 0 {
        return c.facility_unavailable(fscr::IC_TAR, cia);
    }
    let taken = cond(c, op.rt, op.ra);
    let target = c.tar & !3;
    if LK {
        c.lr = c.ea(cia.wrapping_add(4));
    }
    if taken {
        c.nia = c.ea(target);
        Flow::Jump
    } else {
        Flow::Next
    }
}

/// CR logical: op.rt = BT, op.ra = BA, op.rb = BB; the XO selects the function.
pub(crate) fn crlogic(c: &mut Core, op: &Op, _: u64) -> Flow {
    let a = c.cr_bit(op.ra as u32);
    let b = c.cr_bit(op.rb as u32);
    let v = match (op.raw >> 1) & 0x3FF {
        257 => a & b,
        449 => a | b,
        193 => a ^ b,
        225 => !(a & b),
        33 => !(a | b),
        289 => !(a ^ b),
        129 => a & !b,
        _ => a | !b, // 417 crorc
    };
    c.set_cr_bit(op.rt as u32, v);
    Flow::Next
}

/// mcrf BF,BFA.
pub(crate) fn mcrf(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = c.cr_field((op.ra >> 2) as u32);
    c.set_cr_field((op.rt >> 2) as u32, v);
    Flow::Next
}

/// mfcr / mfocrf.
pub(crate) fn mfcr(c: &mut Core, op: &Op, _: u64) -> Flow {
    let v = if op.raw & (1 << 20) != 0 {
        let fxm = (op.raw >> 12) & 0xFF;
        let mut mask = 0u32;
        for i in 0..8 {
            if fxm & (0x80 >> i) != 0 {
                mask |= 0xF000_0000 >> (4 * i);
            }
        }
        // mfocrf with exactly one field: copy it, others 0 (more than one: undefined; do
        // the same).
        c.cr & mask
    } else {
        c.cr
    };
    c.gpr[(op.rt & 31) as usize] = v as u64;
    Flow::Next
}

/// mtcrf / mtocrf.
pub(crate) fn mtcrf(c: &mut Core, op: &Op, _: u64) -> Flow {
    let fxm = (op.raw >> 12) & 0xFF;
    let mut mask = 0u32;
    for i in 0..8 {
        if fxm & (0x80 >> i) != 0 {
            mask |= 0xF000_0000 >> (4 * i);
        }
    }
    let s = c.gpr[(op.rt & 31) as usize] as u32;
    c.cr = (c.cr & !mask) | (s & mask);
    Flow::Next
}
