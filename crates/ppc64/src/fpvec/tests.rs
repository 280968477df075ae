//! Unit tests of the FP/VMX/VSX instructions (known results from the ISA, flag behaviour,
//! NaN/denormal/rounding corner cases, facility checks).

use std::sync::Arc;

use super::fpscr::*;
use super::fpu::{self, D, Env, Op2, SD};
use crate::core::Flow;
use crate::cpu::Cpu;
use crate::mem::Ram;
use crate::partition::{NoBus, Partition};
use crate::reg::{msr, program, vec};

pub(crate) const MEM: u64 = 0x20_0000;
const CODE: u64 = 0x30_0000;

pub(crate) fn cpu() -> Cpu {
    let mem = Arc::new(
        vm_memory::GuestMemoryMmap::<()>::from_ranges(&[(vm_memory::GuestAddress(0), 16 << 20)])
            .unwrap(),
    );
    let part = Partition::new(Ram::from_guest_memory(mem).unwrap(), Arc::new(NoBus));
    let mut c = Cpu::new(part, 0);
    c.core
        .set_msr(msr::SF | msr::ME | msr::LE | msr::FP | msr::VEC | msr::VSX);
    c
}

/// Executes one instruction word; returns the flow.
pub(crate) fn exec(c: &mut Cpu, w: u32) -> Flow {
    let (op, _) = crate::decode::decode(w);
    c.core.nia = CODE + 4;
    (op.f)(&mut c.core, &op, CODE)
}

fn set_f(c: &mut Cpu, i: usize, v: f64) {
    c.core.vsr[i] = (v.to_bits() as u128) << 64;
}

fn get_f(c: &Cpu, i: usize) -> u64 {
    (c.core.vsr[i] >> 64) as u64
}

/// A-form word.
fn a(op: u32, t: u32, ra: u32, rb: u32, rc: u32, xo: u32, rcbit: bool) -> u32 {
    (op << 26) | (t << 21) | (ra << 16) | (rb << 11) | (rc << 6) | (xo << 1) | rcbit as u32
}

#[test]
fn fadd_sets_fprf_fi_fr_and_cr1() {
    let mut c = cpu();
    set_f(&mut c, 2, 1.0);
    set_f(&mut c, 3, f64::from_bits(0x3CA8_0000_0000_0000)); // 3 × 2^-54: rounds up
    assert_eq!(exec(&mut c, a(63, 1, 2, 3, 0, 21, true)), Flow::Next);
    assert_eq!(get_f(&c, 1), 0x3FF0_0000_0000_0001);
    let f = c.core.fpscr;
    assert_eq!(f & (FX | XX | FI | FR), FX | XX | FI | FR);
    assert_eq!((f & FPRF) >> FPRF_SHIFT, class::PNORM as u64);
    assert_eq!(c.core.cr_field(1), 0x8, "CR1 = FX FEX VX OX");
    // Rounds down: FR clear, FX not set again (XX already sticky).
    c.core.fpscr &= !FX;
    set_f(&mut c, 3, f64::from_bits(0x3C30_0000_0000_0000));
    exec(&mut c, a(63, 1, 2, 3, 0, 21, false));
    assert_eq!(get_f(&c, 1), 1.0f64.to_bits());
    assert_eq!(c.core.fpscr & (FX | FR | FI), FI);
}

#[test]
fn fp_unavailable_when_msr_fp_clear() {
    let mut c = cpu();
    let m = c.core.msr() & !msr::FP;
    c.core.set_msr(m);
    set_f(&mut c, 2, 1.0);
    assert_eq!(exec(&mut c, a(63, 1, 2, 2, 0, 21, false)), Flow::Jump);
    assert_eq!(c.core.nia, vec::FPU);
    assert_eq!(c.core.srr0, CODE);
    assert_eq!(get_f(&c, 1), 0, "target untouched");
}

#[test]
fn enabled_invalid_suppresses_target_and_traps_when_fe_set() {
    let mut c = cpu();
    set_f(&mut c, 1, 42.0);
    set_f(&mut c, 2, f64::INFINITY);
    set_f(&mut c, 3, f64::INFINITY);
    c.core.fpscr = VE;
    // FE0=FE1=0: no interrupt, target unchanged, VXISI/VX/FEX set.
    assert_eq!(exec(&mut c, a(63, 1, 2, 3, 0, 20, false)), Flow::Next);
    assert_eq!(get_f(&c, 1), 42.0f64.to_bits());
    assert_eq!(
        c.core.fpscr & (FX | FEX | VX | VXISI),
        FX | FEX | VX | VXISI
    );
    // Precise mode: program interrupt with the FP cause, SRR0 = the instruction.
    c.core.fpscr = VE;
    let m = c.core.msr() | msr::FE0 | msr::FE1;
    c.core.set_msr(m);
    assert_eq!(exec(&mut c, a(63, 1, 2, 3, 0, 20, false)), Flow::Jump);
    assert_eq!(c.core.nia, vec::PROGRAM);
    assert_eq!(c.core.srr0, CODE);
    assert_ne!(c.core.srr1 & program::FP, 0);
    // Disabled: default QNaN.
    let mut c = cpu();
    set_f(&mut c, 2, f64::INFINITY);
    set_f(&mut c, 3, f64::INFINITY);
    exec(&mut c, a(63, 1, 2, 3, 0, 20, false));
    assert_eq!(get_f(&c, 1), 0x7FF8_0000_0000_0000);
    assert_eq!((c.core.fpscr & FPRF) >> FPRF_SHIFT, class::QNAN as u64);
}

#[test]
fn nan_propagation_order_and_quieting() {
    let env = Env::new(0);
    let snan = 0x7FF0_0000_0000_0001u128;
    let qnan = 0xFFF8_0000_0000_0002u128;
    // fadd: first NaN operand, quieted; SNaN anywhere sets VXSNAN.
    let r = fpu::arith2(&env, D, D, Op2::Add, qnan, snan);
    assert_eq!(r.bits, qnan);
    assert_eq!(r.st.exc, VXSNAN);
    // FMA picks A, then B (addend), then C.
    let one = 1.0f64.to_bits() as u128;
    let r = fpu::fma(&env, D, D, one, snan, qnan, false, false);
    assert_eq!(r.bits, qnan, "addend NaN wins over C");
    // fnmadd keeps the NaN's sign.
    let r = fpu::fma(&env, D, D, qnan, one, one, false, true);
    assert_eq!(r.bits, qnan);
    // ∞ × 0 + QNaN: VXIMZ, result the QNaN.
    let inf = f64::INFINITY.to_bits() as u128;
    let r = fpu::fma(&env, D, D, inf, 0, qnan, false, false);
    assert_eq!(r.bits, qnan);
    assert_eq!(r.st.exc, VXIMZ);
    // Single-precision ops deliver the NaN truncated to single precision.
    let r = fpu::arith2(&env, D, SD, Op2::Mul, 0x7FF8_0000_0000_0FFF, one);
    assert_eq!(r.bits, 0x7FF8_0000_0000_0000);
}

#[test]
fn single_ops_round_once() {
    // 1 + 2^-24 + 2^-60 is just above a single-precision tie: must round up, which a
    // double intermediate would not.
    let env = Env::new(0);
    let a = 1.0f64.to_bits() as u128;
    let b = (f64::from_bits(0x3E70_0000_0000_0000) + f64::from_bits(0x3C30_0000_0000_0000))
        .to_bits() as u128;
    let r = fpu::arith2(&env, D, SD, Op2::Add, a, b);
    assert_eq!(
        f64::from_bits(r.bits as u64),
        1.0 + f64::from_bits(0x3E80_0000_0000_0000)
    );
    assert!(r.st.fr && r.st.fi);
}

#[test]
fn underflow_is_tininess_before_rounding() {
    // 2^-1022 × (1 − 2^-54): rounds to 2^-1022 (normal) but is tiny before rounding.
    let env = Env::new(0);
    let a = f64::from_bits(0x0010_0000_0000_0000).to_bits() as u128;
    let b = (1.0 - f64::EPSILON / 2.0).to_bits() as u128; // 1 − 2^-53
    let r = fpu::arith2(&env, D, D, Op2::Mul, a, b);
    // exact = 2^-1022 − 2^-1075: rounds (nearest) to 2^-1022.
    assert_eq!(r.bits, 0x0010_0000_0000_0000);
    assert_ne!(r.st.exc & UX, 0);
    assert_ne!(r.st.exc & XX, 0);
}

#[test]
fn rounding_modes_for_division() {
    let one = 1.0f64.to_bits() as u128;
    let three = 3.0f64.to_bits() as u128;
    let q = |rn| fpu::arith2(&Env::new(rn), D, D, Op2::Div, one, three).bits as u64;
    assert_eq!(q(0), 0x3FD5_5555_5555_5555);
    assert_eq!(q(1), 0x3FD5_5555_5555_5555);
    assert_eq!(q(2), 0x3FD5_5555_5555_5556);
    assert_eq!(q(3), 0x3FD5_5555_5555_5555);
    let m = |rn| fpu::arith2(&Env::new(rn), D, D, Op2::Div, one | 1 << 63, three).bits as u64;
    assert_eq!(m(2), 0xBFD5_5555_5555_5555);
    assert_eq!(m(3), 0xBFD5_5555_5555_5556);
}

#[test]
fn overflow_enabled_gives_adjusted_result() {
    let env = Env::new(OE);
    let big = f64::MAX.to_bits() as u128;
    let r = fpu::arith2(&env, D, D, Op2::Add, big, big);
    // 2 × MAX × 2^-1536
    assert_eq!(
        f64::from_bits(r.bits as u64),
        f64::MAX * 2.0f64.powi(-768) * 2.0f64.powi(-767)
    );
    assert_ne!(r.st.exc & OX, 0);
    assert_eq!(r.st.exc & XX, 0);
}

#[test]
fn single_loads_and_stores_are_bit_conversions() {
    let mut c = cpu();
    // An SNaN single and a single denormal survive lfs/stfs unchanged.
    for bits in [0x7F80_0001u32, 0x0000_0001, 0x8040_0000, 0x3F80_0000] {
        c.core
            .partition()
            .ram
            .write(MEM, &bits.to_le_bytes())
            .unwrap();
        c.core.gpr[4] = MEM;
        exec(&mut c, (48 << 26) | (1 << 21) | (4 << 16)); // lfs f1,0(r4)
        exec(&mut c, (52 << 26) | (1 << 21) | (4 << 16) | 8); // stfs f1,8(r4)
        let mut b = [0u8; 4];
        c.core.partition().ram.read(MEM + 8, &mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b), bits);
        assert_eq!(c.core.fpscr, 0, "no exception");
    }
    assert_eq!(fpu::sp_to_dp_bits(0x0000_0001), 0x36A0_0000_0000_0000);
}

#[test]
fn conversions_saturate_and_flag() {
    let env = Env::new(0);
    let r = super::fp::cvt_to_int(&env, D, 1e20f64.to_bits() as u128, true, false);
    assert_eq!(r.bits as u64, 0x7FFF_FFFF);
    assert_eq!(r.st.exc, VXCVI);
    let r = super::fp::cvt_to_int(&env, D, (-1.5f64).to_bits() as u128, false, true);
    assert_eq!(r.bits, 0);
    assert_eq!(r.st.exc, VXCVI);
    let r = super::fp::cvt_to_int(&env, D, (-2.5f64).to_bits() as u128, false, false);
    assert_eq!(r.bits as u64 as i64, -2, "ties to even");
    assert_eq!(r.st.exc, XX);
    let r = super::fp::cvt_to_int(&env, D, 0x7FF8_0000_0000_0000, false, false);
    assert_eq!(r.bits as u64, 0x8000_0000_0000_0000);
    assert_eq!(r.st.exc, VXCVI);
}

#[test]
fn mtfsf_and_mcrfs() {
    let mut c = cpu();
    // mtfsf 0xFF,f1 with XX|XE: FX copied, FEX derived, VX recomputed.
    c.core.vsr[1] = ((FX | XX | XE | VX | 2) as u128) << 64;
    exec(&mut c, (63 << 26) | (0xFF << 17) | (1 << 11) | (711 << 1));
    assert_eq!(c.core.fpscr, FX | FEX | XX | XE | 2);
    // mcrfs cr2, field 1 (UX ZX XX VXSNAN): copies and clears the exception bits.
    exec(&mut c, (63 << 26) | (2 << 23) | (1 << 18) | (64 << 1));
    assert_eq!(c.core.cr_field(2), 0b0010);
    assert_eq!(c.core.fpscr, FX | XE | 2);
    // mffsl returns only the control/status subset.
    c.core.fpscr = FX | XX | FI | VE | 3;
    exec(&mut c, (63 << 26) | (5 << 21) | (24 << 16) | (583 << 1));
    assert_eq!(get_f(&c, 5), FI | VE | 3);
}

fn vx(xo: u32, t: u32, a: u32, b: u32) -> u32 {
    (4 << 26) | (t << 21) | (a << 16) | (b << 11) | xo
}

#[test]
fn vrldmi_inserts_under_the_mask() {
    let mut c = cpu();
    c.core.vsr[32 + 1] = (0x0019_4CE9_0080_000Fu128 << 64) | 0x7F80_0000_FFFD_72C6;
    c.core.vsr[32 + 2] = (0x7FDF_0BAC_35F6_1B5Eu128 << 64) | 0x0000_0000_4EC5_81A4;
    c.core.vsr[32 + 3] = u128::MAX;
    exec(&mut c, vx(197, 3, 1, 2));
    // rotl(src, 30) under the wrapping mask bits 54..27; the old VRT elsewhere.
    assert_eq!((c.core.vsr[35] >> 64) as u64, 0x4020_000F_FFFF_FF3A);
}

#[test]
fn vmx_saturation_sets_sat_and_nj_flushes() {
    let mut c = cpu();
    c.core.vscr = 0;
    c.core.vsr[33] = u128::MAX; // 0xFF bytes
    c.core.vsr[34] = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    exec(&mut c, vx(512, 3, 1, 2)); // vaddubs
    assert_eq!(c.core.vsr[35], u128::MAX);
    assert_eq!(c.core.vscr & 1, 1, "SAT");
    // vaddfp of two single denormals: flushed to +0 with NJ, exact sum without.
    let den = 0x0000_0001_0000_0001_0000_0001_0000_0001u128;
    c.core.vsr[33] = den;
    c.core.vsr[34] = den;
    c.core.vscr = 0x1_0000;
    exec(&mut c, vx(10, 3, 1, 2));
    assert_eq!(c.core.vsr[35], 0);
    c.core.vscr = 0;
    exec(&mut c, vx(10, 3, 1, 2));
    assert_eq!(c.core.vsr[35], den * 2);
}

#[test]
fn facility_checks_of_vmx_and_vsx() {
    let mut c = cpu();
    let m = c.core.msr() & !(msr::VEC | msr::VSX);
    c.core.set_msr(m);
    // vaddubm → vector unavailable
    assert_eq!(exec(&mut c, vx(0, 1, 2, 3)), Flow::Jump);
    assert_eq!(c.core.nia, vec::VMX);
    // xxlor vs1,vs2,vs3 → VSX unavailable
    c.core.set_msr(m);
    assert_eq!(exec(&mut c, 0xF022_1C90 | (1 << 21)), Flow::Jump);
    assert_eq!(c.core.nia, vec::VSX);
    // lxvx into VSR 32+ needs MSR[VEC], into 0–31 MSR[VSX]
    c.core.set_msr(m | msr::VSX);
    c.core.gpr[4] = MEM;
    let lxvx = |t: u32| (31 << 26) | ((t & 31) << 21) | (4 << 11) | (268 << 1) | (t >> 5);
    assert_eq!(exec(&mut c, lxvx(1)), Flow::Next);
    assert_eq!(exec(&mut c, lxvx(33)), Flow::Jump);
    assert_eq!(c.core.nia, vec::VMX);
    // mfvsrd from VSR 0–31 needs MSR[FP] only
    c.core.set_msr(m & !msr::FP | msr::FP);
    assert_eq!(exec(&mut c, 0x7C23_0066), Flow::Next);
    let m2 = c.core.msr() & !msr::FP;
    c.core.set_msr(m2);
    assert_eq!(exec(&mut c, 0x7C23_0066), Flow::Jump);
    assert_eq!(c.core.nia, vec::FPU);
}

#[test]
fn xststdcsp_honours_dcmx() {
    let mut c = cpu();
    // −2^-1000 (single-denormal range, not representable in single) with DCMX = 0:
    // no match, sign and "not single" reported.
    c.core.vsr[1] = 0x8170_0000_0000_0000u128 << 64;
    let w = (60 << 26) | (1 << 23) | (1 << 11) | (298 << 2);
    exec(&mut c, w);
    assert_eq!(c.core.cr_field(1), 0b1001);
    // DCMX bit for −denormal set: match.
    exec(&mut c, w | (1 << 16));
    assert_eq!(c.core.cr_field(1), 0b1011);
}

#[test]
fn lxvd2x_and_lxvx_in_little_endian() {
    let mut c = cpu();
    let bytes: Vec<u8> = (0u8..16).collect();
    c.core.partition().ram.write(MEM, &bytes).unwrap();
    c.core.gpr[4] = MEM;
    exec(&mut c, (31 << 26) | (1 << 21) | (4 << 11) | (844 << 1)); // lxvd2x vs1,0,r4
    // dw0 = LE u64 at EA, dw1 = LE u64 at EA+8
    assert_eq!(c.core.vsr[1] >> 64, 0x0706_0504_0302_0100);
    assert_eq!(c.core.vsr[1] as u64, 0x0F0E_0D0C_0B0A_0908);
    exec(&mut c, (31 << 26) | (2 << 21) | (4 << 11) | (268 << 1)); // lxvx vs2,0,r4
    assert_eq!(
        c.core.vsr[2],
        u128::from_le_bytes(bytes.try_into().unwrap())
    );
}

fn qx(xo: u32, t: u32, a: u32, b: u32) -> u32 {
    (63 << 26) | (t << 21) | (a << 16) | (b << 11) | (xo << 1)
}

#[test]
fn quad_round_to_odd_and_rounding_control() {
    let mut c = cpu();
    let one = 0x3FFF_u128 << 112;
    let ulp = 1u128; // 2^-112 relative to 1.0
    c.core.vsr[33] = one;
    c.core.vsr[34] = 0x3F00_u128 << 112; // 2^-255: far below one ulp
    // xsaddqp: nearest → 1.0 (inexact); xsaddqpo: round to odd → 1.0 + ulp
    exec(&mut c, qx(4, 3, 1, 2));
    assert_eq!(c.core.vsr[35], one);
    assert_ne!(c.core.fpscr & XX, 0);
    exec(&mut c, qx(4, 3, 1, 2) | 1);
    assert_eq!(c.core.vsr[35], one | ulp);
    // xsrqpi with R=0, RMC=3 rounds per FPSCR[RN]: RN=1 (toward zero) of −2^-200 is −0
    c.core.vsr[34] = (1u128 << 127) | ((0x3FFF - 200) << 112);
    c.core.fpscr = 1;
    exec(&mut c, qx(5, 3, 0, 2) | (3 << 9));
    assert_eq!(c.core.vsr[35], 1u128 << 127);
    // and RN=3 (toward −∞) gives −1
    c.core.fpscr = 3;
    exec(&mut c, qx(5, 3, 0, 2) | (3 << 9));
    assert_eq!(c.core.vsr[35], (1u128 << 127) | one);
    // xsrqpxp: round to a 64-bit significand (toward zero here)
    c.core.fpscr = 0;
    c.core.vsr[34] = one | ((1u128 << 48) - 1);
    exec(&mut c, qx(37, 3, 1, 2) | (1 << 9));
    assert_eq!(c.core.vsr[35], one);
}

#[test]
fn quad_conversions() {
    let mut c = cpu();
    // xscvdpqp of 1.5 and back with xscvqpdp
    c.core.vsr[34] = (1.5f64.to_bits() as u128) << 64;
    exec(&mut c, qx(836, 3, 22, 2));
    assert_eq!(c.core.vsr[35], 0x0003_FFF8u128 << 108);
    exec(&mut c, qx(836, 4, 20, 3));
    assert_eq!(c.core.vsr[36] >> 64, 1.5f64.to_bits() as u128);
    // xscvsdqp of −3
    c.core.vsr[34] = ((-3i64) as u64 as u128) << 64;
    exec(&mut c, qx(836, 3, 10, 2));
    assert_eq!(c.core.vsr[35], (1u128 << 127) | (0x0004_0008u128 << 108));
    // xscvqpswz saturates with VXCVI
    c.core.fpscr = 0;
    c.core.vsr[34] = 0x4100_u128 << 112;
    exec(&mut c, qx(836, 3, 9, 2));
    assert_eq!(c.core.vsr[35] >> 64, 0x7FFF_FFFF);
    assert_ne!(c.core.fpscr & VXCVI, 0);
}
