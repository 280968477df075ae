//! FPSCR bit layout and the common status update of every floating-point instruction.

use crate::core::{Core, Flow};
use crate::reg::{msr, program};

/// FP exception summary (sticky; set when any exception bit goes 0 → 1).
pub(crate) const FX: u64 = 1 << 31;
/// FP enabled exception summary (derived).
pub(crate) const FEX: u64 = 1 << 30;
/// Invalid operation summary (derived).
pub(crate) const VX: u64 = 1 << 29;
/// Overflow.
pub(crate) const OX: u64 = 1 << 28;
/// Underflow.
pub(crate) const UX: u64 = 1 << 27;
/// Zero divide.
pub(crate) const ZX: u64 = 1 << 26;
/// Inexact.
pub(crate) const XX: u64 = 1 << 25;
/// Invalid: signalling NaN.
pub(crate) const VXSNAN: u64 = 1 << 24;
/// Invalid: ∞ − ∞.
pub(crate) const VXISI: u64 = 1 << 23;
/// Invalid: ∞ ÷ ∞.
pub(crate) const VXIDI: u64 = 1 << 22;
/// Invalid: 0 ÷ 0.
pub(crate) const VXZDZ: u64 = 1 << 21;
/// Invalid: ∞ × 0.
pub(crate) const VXIMZ: u64 = 1 << 20;
/// Invalid compare.
pub(crate) const VXVC: u64 = 1 << 19;
/// Fraction rounded.
pub(crate) const FR: u64 = 1 << 18;
/// Fraction inexact.
pub(crate) const FI: u64 = 1 << 17;
/// FPRF shift (C ‖ FPCC).
pub(crate) const FPRF_SHIFT: u32 = 12;
/// FPRF field.
pub(crate) const FPRF: u64 = 0x1F << FPRF_SHIFT;
/// FPCC field (FL, FG, FE, FU).
pub(crate) const FPCC: u64 = 0xF << FPRF_SHIFT;
/// Invalid: software request.
pub(crate) const VXSOFT: u64 = 1 << 10;
/// Invalid: square root of a negative number.
pub(crate) const VXSQRT: u64 = 1 << 9;
/// Invalid: integer convert.
pub(crate) const VXCVI: u64 = 1 << 8;
/// Enable invalid.
pub(crate) const VE: u64 = 1 << 7;
/// Enable overflow.
pub(crate) const OE: u64 = 1 << 6;
/// Enable underflow.
pub(crate) const UE: u64 = 1 << 5;
/// Enable zero divide.
pub(crate) const ZE: u64 = 1 << 4;
/// Enable inexact.
pub(crate) const XE: u64 = 1 << 3;
/// Non-IEEE mode.
#[allow(dead_code)]
pub(crate) const NI: u64 = 1 << 2;
/// Rounding mode.
pub(crate) const RN: u64 = 3;
/// Decimal rounding mode (bits 29:31 of the 64-bit register).
pub(crate) const DRN: u64 = 7 << 32;

/// All invalid-operation exception bits.
pub(crate) const VX_ALL: u64 =
    VXSNAN | VXISI | VXIDI | VXZDZ | VXIMZ | VXVC | VXSOFT | VXSQRT | VXCVI;
/// All sticky exception bits (whose 0 → 1 transition sets FX).
pub(crate) const EXC_ALL: u64 = OX | UX | ZX | XX | VX_ALL;
/// Bits that exist (everything else reads as zero). NI (non-IEEE mode) is stored but has
/// no effect (results are always IEEE); Linux and glibc never set it.
pub(crate) const VALID: u64 = DRN | 0xFFFF_F7FF;

/// FPRF codes (C ‖ FL FG FE FU).
pub(crate) mod class {
    /// Quiet NaN.
    pub const QNAN: u32 = 0x11;
    /// −∞.
    pub const NINF: u32 = 0x09;
    /// −normal.
    pub const NNORM: u32 = 0x08;
    /// −denormal.
    pub const NDEN: u32 = 0x18;
    /// −0.
    pub const NZERO: u32 = 0x12;
    /// +0.
    pub const PZERO: u32 = 0x02;
    /// +denormal.
    pub const PDEN: u32 = 0x14;
    /// +normal.
    pub const PNORM: u32 = 0x04;
    /// +∞.
    pub const PINF: u32 = 0x05;
}

/// Recomputes the derived summaries VX and FEX.
#[inline]
pub(crate) fn derive(f: u64) -> u64 {
    let mut f = f & !(VX | FEX);
    if f & VX_ALL != 0 {
        f |= VX;
    }
    // Exception bits OX UX ZX XX sit 22 places above their enables; VX 22 above VE.
    let en = (f & (VE | OE | UE | ZE | XE)) << 22;
    if f & en & (VX | OX | UX | ZX | XX) != 0 {
        f |= FEX;
    }
    f
}

/// Whether MSR selects an FP enabled-exception mode (FE0 | FE1 ≠ 0).
#[inline]
pub(crate) fn traps_on(c: &Core) -> bool {
    c.msr() & (msr::FE0 | msr::FE1) != 0
}

/// The result status of one arithmetic instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    /// Exception bits raised (FPSCR positions; VX/FEX/FX are derived).
    pub exc: u64,
    /// FR.
    pub fr: bool,
    /// FI.
    pub fi: bool,
    /// The instruction's target must not be written (enabled invalid or zero divide).
    pub suppress: bool,
}

/// Applies `st` to FPSCR: sticky exception bits (FX on any 0 → 1 transition), FR/FI, and
/// FPRF = `fprf` unless suppressed or `None`; recomputes VX and FEX.
#[inline]
pub(crate) fn update(c: &mut Core, st: &Status, fprf: Option<u32>) {
    let old = c.fpscr;
    let mut f = old;
    if st.exc & !old & EXC_ALL != 0 {
        f |= FX;
    }
    f |= st.exc & EXC_ALL;
    f &= !(FR | FI);
    if !st.suppress {
        if st.fr {
            f |= FR;
        }
        if st.fi {
            f |= FI;
        }
        if let Some(cls) = fprf {
            f = (f & !FPRF) | ((cls as u64) << FPRF_SHIFT);
        }
    }
    c.fpscr = derive(f);
}

/// Updates only the sticky exception bits (vector instructions: no FR/FI/FPRF).
#[inline]
pub(crate) fn update_sticky(c: &mut Core, exc: u64) {
    let old = c.fpscr;
    let mut f = old | (exc & EXC_ALL);
    if exc & !old & EXC_ALL != 0 {
        f |= FX;
    }
    c.fpscr = derive(f);
}

/// After an instruction updated FPSCR: raises the FP enabled-exception program interrupt
/// (precise, SRR0 = the instruction) if FEX is set and MSR[FE0|FE1] ≠ 0 and this
/// instruction caused an enabled exception.
#[inline]
pub(crate) fn check_trap(c: &mut Core, exc: u64, cia: u64) -> Flow {
    if exc != 0 && c.fpscr & FEX != 0 && traps_on(c) && enabled_by(c.fpscr, exc) {
        return c.program(program::FP, cia);
    }
    Flow::Next
}

/// Whether any of the exception bits `exc` is enabled in `f`.
#[inline]
pub(crate) fn enabled_by(f: u64, exc: u64) -> bool {
    let mut e = exc & (OX | UX | ZX | XX);
    if exc & VX_ALL != 0 {
        e |= VX;
    }
    e & ((f & (VE | OE | UE | ZE | XE)) << 22) != 0
}

/// After an explicit FPSCR write (`mtfsf`, `mtfsfi`, `mtfsb1`): a pending enabled
/// exception traps when MSR[FE0|FE1] ≠ 0.
#[inline]
pub(crate) fn check_trap_any(c: &mut Core, cia: u64) -> Flow {
    if c.fpscr & FEX != 0 && traps_on(c) {
        return c.program(program::FP, cia);
    }
    Flow::Next
}

/// CR1 ← FX, FEX, VX, OX.
#[inline]
pub(crate) fn set_cr1(c: &mut Core) {
    let v = ((c.fpscr >> 28) & 0xF) as u32;
    c.set_cr_field(1, v);
}
