//! Floating-point, VMX (AltiVec) and VSX instructions: decoding and execution.
//!
//! * [`soft`]: exact IEEE binary16/32/64/128 arithmetic with any rounding mode (the slow
//!   path, pure Rust).
//! * [`fpu`]: Power ISA semantics on top of it (NaN rules, FPSCR exception bits,
//!   conversions, compares, test instructions).
//! * [`fpscr`]: the FPSCR layout and the status update shared by all FP instructions.
//! * [`fast`]: host-FPU fast paths for the common cases (normal operands and results),
//!   bit-exact with the exact engine in every rounding mode, status included.
//! * `fp`: classic floating point (ops 48–55, 59, 63 and the op 31 FP loads/stores).
//! * `vsx_mem`: VSX loads/stores and GPR ↔ VSR moves; `vsx`: op 60 computational;
//!   `qp`: quad precision (op 63); `vmx`: AltiVec (op 4 and the op 31 vector
//!   loads/stores); `crypto`: AES, SHA-2 sigma and carry-less multiply helpers.
//!
//! Register conventions: `Core::vsr[i]` is a `u128` whose high 64 bits are doubleword 0
//! (ISA numbering: element 0 is the most significant); FPR i is doubleword 0 of VSR i and
//! VR i is VSR 32 + i. Loads and stores do all the byte-order work.

pub(crate) mod fast;
pub(crate) mod fpscr;
pub(crate) mod fpu;
pub(crate) mod soft;

mod crypto;
mod fp;
mod qp;
mod vmx;
mod vsx;
mod vsx_mem;

#[cfg(test)]
mod difftest;
#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod tests;

use crate::core::{Core, Flow};
use crate::op::Op;
use crate::reg::{msr, vec};

/// Decodes a floating-point, VMX or VSX instruction word; `None` if it is not one.
pub(crate) fn decode(w: u32) -> Option<Op> {
    match w >> 26 {
        4 => vmx::decode(w),
        31 => decode31(w),
        48..=55 => fp::decode_dform(w),
        57 => vsx_mem::decode57(w),
        59 => fp::decode59(w),
        60 => vsx::decode(w),
        61 => vsx_mem::decode61(w),
        63 => fp::decode63(w),
        _ => None,
    }
}

fn decode31(w: u32) -> Option<Op> {
    fp::decode31(w)
        .or_else(|| vmx::decode31(w))
        .or_else(|| vsx_mem::decode31(w))
}

// ---- fast-path switches -------------------------------------------------------------------------

#[cfg(test)]
thread_local! {
    /// Test switch: whether handlers may take the host fast paths (tests compare both ways).
    pub(crate) static FAST: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    /// Test switch: whether the decoder may select the host-FMA variants.
    pub(crate) static HOST_FMA: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether handlers may take the host fast paths ([`fast`]); always in normal builds.
#[inline(always)]
pub(crate) fn fast_ok() -> bool {
    #[cfg(test)]
    {
        FAST.with(|f| f.get())
    }
    #[cfg(not(test))]
    {
        true
    }
}

/// Whether the host has a fused multiply-add instruction (checked at decode time, which
/// selects the handlers whose fast paths are compiled for it).
pub(crate) fn host_fma() -> bool {
    #[cfg(test)]
    if !HOST_FMA.with(|f| f.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

// ---- facility checks ---------------------------------------------------------------------------

/// FP unavailable unless MSR[FP].
#[inline(always)]
pub(crate) fn fp_off(c: &Core) -> bool {
    c.msr() & msr::FP == 0
}

/// Vector unavailable unless MSR[VEC].
#[inline(always)]
pub(crate) fn vec_off(c: &Core) -> bool {
    c.msr() & msr::VEC == 0
}

/// VSX unavailable unless MSR[VSX].
#[inline(always)]
pub(crate) fn vsx_off(c: &Core) -> bool {
    c.msr() & msr::VSX == 0
}

/// FP unavailable interrupt.
#[cold]
pub(crate) fn fp_unavailable(c: &mut Core, cia: u64) -> Flow {
    c.interrupt(vec::FPU, cia, 0)
}

/// Vector unavailable interrupt.
#[cold]
pub(crate) fn vec_unavailable(c: &mut Core, cia: u64) -> Flow {
    c.interrupt(vec::VMX, cia, 0)
}

/// VSX unavailable interrupt.
#[cold]
pub(crate) fn vsx_unavailable(c: &mut Core, cia: u64) -> Flow {
    c.interrupt(vec::VSX, cia, 0)
}

/// The ISA 3.0 rule for instructions addressing any VSR: VSR 0–31 need MSR[VSX], VSR
/// 32–63 need MSR[VEC]. Returns the interrupt to deliver, if any.
#[inline(always)]
pub(crate) fn check_vsx_or_vec(c: &mut Core, reg: u8, cia: u64) -> Option<Flow> {
    if reg < 32 {
        if vsx_off(c) {
            return Some(vsx_unavailable(c, cia));
        }
    } else if vec_off(c) {
        return Some(vec_unavailable(c, cia));
    }
    None
}

/// The ISA 2.07 move rule: VSR 0–31 need MSR[FP], VSR 32–63 need MSR[VEC].
#[inline(always)]
pub(crate) fn check_fp_or_vec(c: &mut Core, reg: u8, cia: u64) -> Option<Flow> {
    if reg < 32 {
        if fp_off(c) {
            return Some(fp_unavailable(c, cia));
        }
    } else if vec_off(c) {
        return Some(vec_unavailable(c, cia));
    }
    None
}

// ---- register views ------------------------------------------------------------------------------

/// FPR `i` (doubleword 0 of VSR `i`).
#[inline(always)]
pub(crate) fn fpr(c: &Core, i: u8) -> u64 {
    (c.vsr[i as usize & 63] >> 64) as u64
}

/// Writes FPR `i`. Doubleword 1 of the VSR is architecturally undefined afterwards; it is
/// zeroed, as QEMU does and as the VSX scalar instructions require.
#[inline(always)]
pub(crate) fn set_fpr(c: &mut Core, i: u8, v: u64) {
    c.vsr[i as usize & 63] = (v as u128) << 64;
}

/// Joins two doublewords (dw0 is the most significant).
#[inline(always)]
pub(crate) fn join(d0: u64, d1: u64) -> u128 {
    ((d0 as u128) << 64) | d1 as u128
}
