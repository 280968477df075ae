//! Conformance tests: SPR widths and access rules, MSR write rules, rfid/hrfid
//! (`/work/shared/spec/cpu-registers.md`; § numbers refer to it).

mod common;

use common::*;
use ppc64::reg::{SRR1_CAUSE_MASK, msr, program, spr, vec};

/// A value with distinct upper and lower words.
const V64: u64 = 0xDEAD_BEEF_8765_4321;
const UNTOUCHED: u64 = 0x5A5A_5A5A_5A5A_5A5A;

fn real(src: &str) -> M {
    let mut m = M::new();
    m.code(src);
    m
}

fn user(src: &str) -> M {
    let mut m = M::new();
    m.user_setup();
    m.code(src);
    m.enter(UMSR, CODE);
    m
}

#[track_caller]
fn expect_program(m: &mut M, cause: u64, what: &str) {
    m.expect_stop(vec::PROGRAM);
    assert_eq!(m.cpu.core.srr0, CODE, "{what}: SRR0");
    assert_eq!(
        m.cpu.core.srr1 & SRR1_CAUSE_MASK,
        cause,
        "{what}: SRR1 cause"
    );
}

// ---- widths (§3.3 note, §4.1 table) ---------------------------------------------------------

#[test]
fn thirty_two_bit_sprs_are_32_bits_wide() {
    for n in [
        spr::DSISR,
        spr::PIDR,
        spr::PSPB,
        spr::VRSAVE,
        spr::PMC1,
        spr::PMC6,
        spr::UPMC1,
    ] {
        let mut m = real(&format!("mtspr {n},r3\n mfspr r4,{n}\n sc 1"));
        m.cpu.core.gpr[3] = V64;
        m.expect_stop(CODE + 8);
        assert_eq!(m.r(4), 0x8765_4321, "SPR {n}: low 32 bits, zero-extended");
    }
}

#[test]
fn sixty_four_bit_sprs_keep_all_bits() {
    for n in [
        spr::SRR0,
        spr::SRR1,
        spr::DAR,
        spr::CFAR,
        spr::SPRG0,
        spr::SPRG1,
        spr::SPRG2,
        spr::SPRG3,
        spr::DSCR,
        spr::TIDR,
        spr::TAR,
        spr::AMR,
        spr::IAMR,
        spr::PPR,
        spr::SIAR,
        spr::SDAR,
        spr::EBBHR,
        spr::EBBRR,
    ] {
        let mut m = real(&format!("mtspr {n},r3\n mfspr r4,{n}\n sc 1"));
        m.cpu.core.gpr[3] = V64;
        m.expect_stop(CODE + 8);
        assert_eq!(m.r(4), V64, "SPR {n}");
    }
}

#[test]
fn ppr32_is_the_upper_word_of_ppr() {
    let mut m = real("mtspr 898,r3\n mfspr r4,896\n mfspr r5,898\n sc 1");
    m.cpu.core.gpr[3] = 0x1111_2222_0018_0000;
    m.expect_stop(CODE + 12);
    assert_eq!(m.r(4), 0x0018_0000_0000_0000);
    assert_eq!(m.r(5), 0x0018_0000);
}

#[test]
fn read_only_identification_sprs() {
    let mut m = real("mfspr r4,287\n mtspr 287,r3\n mfspr r5,287\n mfspr r6,1023\n sc 1");
    m.cpu.core.gpr[3] = V64;
    m.expect_stop(CODE + 16);
    assert_eq!(m.r(4), 0x004E_1202, "PVR: POWER9 DD2.2");
    assert_eq!(m.r(5), 0x004E_1202, "PVR writes are ignored");
    assert_eq!(m.r(6), 0, "PIR = the vCPU id");
    let mut c = m.second_cpu();
    m.asm_at(CODE + 0x100, "mfspr r6,1023\n sc 1", true);
    c.core.nia = CODE + 0x100;
    run_guarded(&mut c);
    assert_eq!(c.core.gpr[6], 1);
}

#[test]
fn reset_state() {
    let m = M::new();
    let c = &m.cpu.core;
    assert_eq!(c.amor, u64::MAX, "§3.4: AMOR is all ones for the guest");
    assert_eq!(c.pvr, 0x004E_1202);
    assert_eq!(c.vscr, 0x0001_0000, "§1.6: VSCR[NJ]");
    assert_eq!(c.ppr, 0x0010_0000_0000_0000, "§4.1: PPR medium priority");
    assert_eq!(c.mmcr[0], 0x8000_0000, "§4.1: MMCR0[FC]");
    let fresh = ppc64::Cpu::new(partition(), 0);
    assert_eq!(fresh.core.msr(), msr::SF | msr::ME);
    assert_eq!(fresh.core.nia, 0x100);
}

// ---- hypervisor-only SPRs (§3.3, §4.2) ------------------------------------------------------

const HV_ONLY: &[u16] = &[
    spr::DAWR0,
    spr::CIABR,
    spr::RPR,
    spr::DAWRX0,
    spr::HFSCR,
    spr::TBL_W,
    spr::TBU_W,
    spr::TBU40,
    spr::HSPRG0,
    spr::HSPRG1,
    spr::HDSISR,
    spr::HDAR,
    spr::HDEC,
    spr::HRMOR,
    spr::HSRR0,
    spr::HSRR1,
    spr::LPCR,
    spr::LPIDR,
    spr::HMER,
    spr::HMEER,
    spr::PCR,
    spr::HEIR,
    spr::AMOR,
    spr::PTCR,
    spr::ASDR,
    spr::PSSCR,
    spr::HID0,
];

#[test]
fn hypervisor_only_sprs_are_privileged_program_from_the_guest_kernel() {
    for &n in HV_ONLY {
        let mut m = real(&format!("mfspr r4,{n}"));
        m.cpu.core.gpr[4] = UNTOUCHED;
        expect_program(&mut m, program::PRIV, &format!("mfspr {n}"));
        assert_eq!(m.r(4), UNTOUCHED, "mfspr {n} must not write RT");

        let mut m = real(&format!("mtspr {n},r3"));
        m.cpu.core.gpr[3] = V64;
        let lpcr = m.part.lpcr();
        expect_program(&mut m, program::PRIV, &format!("mtspr {n}"));
        assert_eq!(m.part.lpcr(), lpcr);
        assert_eq!(m.cpu.core.amor, u64::MAX);
    }
}

#[test]
fn hypervisor_only_sprs_from_problem_state_are_privileged_too() {
    for &n in HV_ONLY {
        let mut m = user(&format!("mfspr r4,{n}"));
        expect_program(&mut m, program::PRIV, &format!("user mfspr {n}"));
    }
}

// ---- problem-state access (§3.3, §4.1 "user" column) ----------------------------------------

#[test]
fn privileged_sprs_from_problem_state() {
    for n in [
        spr::DSCR,
        spr::DSISR,
        spr::DAR,
        spr::DEC,
        spr::SRR0,
        spr::SRR1,
        spr::CFAR,
        spr::AMR,
        spr::PIDR,
        spr::IAMR,
        spr::TIDR,
        spr::FSCR,
        spr::UAMOR,
        spr::PSPB,
        spr::DPDES,
        spr::SPRG0,
        spr::SPRG3,
        spr::PVR,
        spr::PURR,
        spr::SPURR,
        spr::TIR,
        spr::SIER,
        spr::MMCR0,
        spr::PMC1,
        spr::PSSCR_PR,
        spr::IC,
        spr::VTB,
        spr::PIR,
    ] {
        let mut m = user(&format!("mfspr r4,{n}"));
        m.cpu.core.gpr[4] = UNTOUCHED;
        expect_program(&mut m, program::PRIV, &format!("user mfspr {n}"));
        assert_eq!(m.r(4), UNTOUCHED);
        let mut m = user(&format!("mtspr {n},r3"));
        expect_program(&mut m, program::PRIV, &format!("user mtspr {n}"));
    }
}

#[test]
fn user_readable_sprs() {
    // XER, LR, CTR, VRSAVE, SPRG3 (user alias 259), TB/TBU, CTRL (136), PPR, PPR32.
    let src = "mtspr 1,r3\n mfspr r4,1\n mtspr 256,r3\n mfspr r5,256\n mfspr r6,259\n \
               mfspr r7,268\n mfspr r8,269\n mfspr r9,136\n mtspr 896,r10\n mfspr r11,896\n \
               mfspr r12,898\n sc";
    let mut m = user(src);
    m.cpu.core.sprg[3] = 0x33;
    m.cpu.core.gpr[3] = u64::MAX;
    m.cpu.core.gpr[10] = 0x000C_0000_0000_0000;
    m.expect_stop(vec::SYSCALL);
    assert_eq!(
        m.r(4),
        0xE00C_007F,
        "XER: only SO OV CA OV32 CA32 and the byte count exist"
    );
    assert_eq!(m.r(5), 0xFFFF_FFFF, "VRSAVE is 32 bits");
    assert_eq!(m.r(6), 0x33, "SPRG3 through its user alias");
    assert!(m.r(7) > 0, "TB");
    assert!(
        m.r(8) == m.r(7) >> 32 || m.r(8) == (m.r(7) >> 32) + 1,
        "TBU (read after TB) is its upper word"
    );
    assert_eq!(m.r(9) & 1, 1, "CTRL run latch");
    assert_eq!(m.r(11), 0x000C_0000_0000_0000);
    assert_eq!(m.r(12), 0x000C_0000);
}

#[test]
fn user_writes_to_read_only_sprs_are_privileged() {
    for n in [spr::SPRG3_U, spr::TBL_R, spr::TBU_R, spr::CTRL_R] {
        let mut m = user(&format!("mtspr {n},r3"));
        expect_program(&mut m, program::PRIV, &format!("user mtspr {n}"));
    }
}

#[test]
fn kernel_writes_to_read_only_sprs_are_no_ops() {
    for n in [
        spr::SPRG3_U,
        spr::TBL_R,
        spr::TBU_R,
        spr::PVR,
        spr::PIR,
        spr::TIR,
    ] {
        let mut m = real(&format!("mtspr {n},r3\n sc 1"));
        m.cpu.core.gpr[3] = V64;
        m.expect_stop(CODE + 4);
    }
    let mut m = real("mtspr 259,r3\n sc 1");
    m.cpu.core.gpr[3] = V64;
    m.expect_stop(CODE + 4);
    assert_eq!(m.cpu.core.sprg[3], 0);
}

#[test]
fn purr_and_dpdes_writes_are_hypervisor_only() {
    // §4.1: PURR/SPURR/DPDES are read-only for the guest kernel (writes are hypervisor
    // operations): the privileged program interrupt.
    for n in [spr::PURR, spr::SPURR, spr::DPDES] {
        let mut m = real(&format!("mtspr {n},r3"));
        expect_program(&mut m, program::PRIV, &format!("mtspr {n}"));
    }
}

// ---- undefined SPR numbers (§3.3) ----------------------------------------------------------

#[test]
fn undefined_sprs_from_the_kernel_are_no_ops() {
    // 700 and 793 have 0x10 set, 2 and 777 have it clear (777/778 and 793/794 are holes in
    // the PMU ranges: §4.1 lists 768–776, 779–782, 784–792, 795–798); 808..811 are the
    // architected no-op SPRs.
    for n in [700u32, 793, 794, 2, 777, 778, 808, 809, 810, 811] {
        let mut m = real(&format!("mfspr r4,{n}\n mtspr {n},r3\n sc 1"));
        m.cpu.core.gpr[4] = UNTOUCHED;
        m.cpu.core.gpr[3] = V64;
        m.expect_stop(CODE + 8);
        assert_eq!(m.r(4), UNTOUCHED, "mfspr {n} leaves RT unchanged");
    }
}

#[test]
fn undefined_sprs_from_problem_state() {
    // 0x10 set: privileged; 0x10 clear: HEAI, which a guest sees as illegal.
    for (n, cause) in [
        (700u32, program::PRIV),
        (793, program::PRIV),
        (2, program::ILLEGAL),
        (777, program::ILLEGAL),
        (778, program::ILLEGAL),
    ] {
        let mut m = user(&format!("mfspr r4,{n}"));
        expect_program(&mut m, cause, &format!("user mfspr {n}"));
        let mut m = user(&format!("mtspr {n},r3"));
        expect_program(&mut m, cause, &format!("user mtspr {n}"));
    }
    for n in 808..=811 {
        let mut m = user(&format!("mfspr r4,{n}\n mtspr {n},r4\n sc"));
        m.expect_stop(vec::SYSCALL);
    }
}

#[test]
fn spr_0_4_5_6_are_illegal_everywhere() {
    for n in [0u32, 4, 5, 6] {
        let mut m = real(&format!("mfspr r4,{n}"));
        expect_program(&mut m, program::ILLEGAL, &format!("mfspr {n}"));
        let mut m = real(&format!("mtspr {n},r4"));
        expect_program(&mut m, program::ILLEGAL, &format!("mtspr {n}"));
        let mut m = user(&format!("mfspr r4,{n}"));
        expect_program(&mut m, program::ILLEGAL, &format!("user mfspr {n}"));
    }
}

// ---- AMR / IAMR / UAMOR (§3.4) -----------------------------------------------------------------

#[test]
fn amr_writes_are_masked_by_amor_and_uamor() {
    // Kernel: AMOR is all ones, so AMR/IAMR/UAMOR take the whole value.
    let mut m = real(
        "mtspr 29,r3\n mfspr r4,29\n mtspr 61,r3\n mfspr r5,61\n mtspr 157,r6\n mfspr r7,157\n sc 1",
    );
    m.cpu.core.gpr[3] = 0xC000_0000_0000_0000;
    m.cpu.core.gpr[6] = 0x3000_0000_0000_0000;
    m.expect_stop(CODE + 24);
    assert_eq!(m.r(4), 0xC000_0000_0000_0000);
    assert_eq!(m.r(5), 0xC000_0000_0000_0000);
    assert_eq!(m.r(7), 0x3000_0000_0000_0000);

    // User writes to AMR (alias 13) only change the bits UAMOR allows.
    let mut m = user("mtspr 13,r3\n mfspr r4,13\n sc");
    m.cpu.core.amr = 0x0000_0000_0000_00F0;
    m.cpu.core.uamor = 0x3000_0000_0000_000F;
    m.cpu.core.gpr[3] = u64::MAX;
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.r(4), 0x3000_0000_0000_00FF);
    assert_eq!(m.cpu.core.amr, 0x3000_0000_0000_00FF);
}

#[test]
fn ctrl_run_latch() {
    let mut m = real("mtspr 152,r3\n mfspr r4,136\n mtspr 152,r5\n mfspr r6,136\n sc 1");
    m.cpu.core.gpr[3] = 0;
    m.cpu.core.gpr[5] = u64::MAX;
    m.expect_stop(CODE + 16);
    assert_eq!(m.r(4) & 1, 0);
    assert_eq!(m.r(6) & 1, 1);
    assert_eq!(m.r(6) >> 32, 0, "CTRL is a 32-bit register");
    // CTRL is read through 136 and written through 152; the other direction does nothing.
    let mut m = real("mfspr r4,152\n sc 1");
    m.cpu.core.gpr[4] = UNTOUCHED;
    m.expect_stop(CODE + 4);
    assert_eq!(m.r(4), UNTOUCHED);
}

#[test]
fn dscr_user_alias_shares_storage_when_enabled() {
    let mut m = user("mfspr r4,3\n mtspr 3,r5\n sc");
    m.cpu.core.dscr = 0x17;
    m.cpu.core.fscr = 1 << 2;
    m.cpu.core.gpr[5] = 0x10;
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.r(4), 0x17);
    assert_eq!(m.cpu.core.dscr, 0x10);
}

// ---- MSR (§2) -------------------------------------------------------------------------------

#[test]
fn mtmsrd_l1_changes_only_ee_and_ri() {
    let mut m = real("mtmsrd r3,1\n mfmsr r4\n mtmsrd r5,1\n mfmsr r6\n sc 1");
    m.cpu.core.gpr[3] = !msr::PR;
    m.cpu.core.gpr[5] = 0;
    m.enter(RMSR | msr::FP, CODE);
    // Keep the decrementer from firing once EE is set.
    m.expect_stop(CODE + 16);
    assert_eq!(m.r(4), RMSR | msr::FP | msr::EE | msr::RI);
    assert_eq!(m.r(6), RMSR | msr::FP);
}

#[test]
fn mtmsrd_l0_cannot_change_hv_s_me_or_le() {
    // RS has HV and S set, ME and LE clear: all four stay as they were.
    let mut m = real("mtmsrd r3,0\n mfmsr r4\n sc 1");
    m.cpu.core.gpr[3] = msr::SF | msr::HV | msr::S | msr::FP | msr::RI;
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(4), msr::SF | msr::ME | msr::LE | msr::FP | msr::RI);
    assert_eq!(m.cpu.core.msr() & (msr::HV | msr::S), 0);
}

#[test]
fn mtmsr_32_bit_form_writes_only_the_low_word() {
    // mtmsr L=0: the upper word (SF) is kept although RS has SF clear.
    let mut m = real("mtmsr r3\n mfmsr r4\n sc 1");
    m.cpu.core.gpr[3] = msr::FP | msr::RI;
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(4), msr::SF | msr::ME | msr::LE | msr::FP | msr::RI);
}

#[test]
fn mtmsrd_to_problem_state_forces_ee_ir_dr() {
    let mut m = M::new();
    m.user_setup();
    m.code("mtmsrd r3,0\n sc");
    m.enter(KMSR, CODE); // quadrant 0 with PIDR = 1: the user mapping of CODE
    m.cpu.core.gpr[3] = msr::SF | msr::ME | msr::LE | msr::PR;
    m.expect_stop(vec::SYSCALL);
    assert_eq!(
        m.cpu.core.srr1,
        msr::SF | msr::ME | msr::LE | msr::PR | msr::EE | msr::IR | msr::DR
    );
}

#[test]
fn msr_me_stays_set() {
    // mtmsrd L=0 with ME clear.
    let mut m = real("mtmsrd r3,0\n mfmsr r4\n sc 1");
    m.cpu.core.gpr[3] = msr::SF | msr::LE;
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(4) & msr::ME, msr::ME);
    // rfid with SRR1[ME] = 0.
    let mut m = real("rfid");
    m.cpu.core.srr0 = CODE + 0x100;
    m.cpu.core.srr1 = msr::SF | msr::LE;
    m.asm_at(CODE + 0x100, "mfmsr r4\n sc 1", true);
    m.expect_stop(CODE + 0x104);
    assert_eq!(m.r(4), msr::SF | msr::ME | msr::LE);
}

#[test]
fn rfid_loads_msr_and_nia_from_srr1_srr0() {
    // LE may change (little → big), HV cannot be set, the low two NIA bits are ignored.
    let mut m = real("rfid");
    m.cpu.core.srr0 = CODE + 0x103;
    m.cpu.core.srr1 = msr::SF | msr::ME | msr::HV | msr::FP;
    m.asm_at(CODE + 0x100, "mfmsr r4\n sc 1", false);
    m.expect_stop(CODE + 0x104);
    assert_eq!(
        m.r(4),
        msr::SF | msr::ME | msr::FP,
        "big-endian now, HV still 0"
    );
}

#[test]
fn rfid_to_problem_state_forces_ee_ir_dr() {
    let mut m = M::new();
    m.user_setup();
    m.code("rfid");
    m.asm_at(CODE + 0x100, "sc", true);
    m.cpu.core.srr0 = CODE + 0x100;
    m.cpu.core.srr1 = msr::SF | msr::ME | msr::LE | msr::PR;
    m.expect_stop(vec::SYSCALL);
    assert_eq!(
        m.cpu.core.srr1,
        msr::SF | msr::ME | msr::LE | msr::PR | msr::EE | msr::IR | msr::DR
    );
    assert_eq!(m.cpu.core.srr0, CODE + 0x104);
}

#[test]
fn rfid_to_32_bit_mode_truncates_nia() {
    let mut m = real("rfid");
    m.cpu.core.srr0 = 0xFFFF_FFFF_0001_0100;
    m.cpu.core.srr1 = msr::ME | msr::LE;
    m.asm_at(CODE + 0x100, "sc 1", true);
    m.expect_stop(CODE + 0x100);
    assert_eq!(m.cpu.core.msr() & msr::SF, 0);
}

#[test]
fn hrfid_is_privileged_for_the_guest_kernel() {
    let mut m = real("hrfid");
    m.cpu.core.srr0 = CODE + 0x100;
    m.cpu.core.srr1 = RMSR;
    expect_program(&mut m, program::PRIV, "hrfid");
}

#[test]
fn msr_reads_back_as_written_by_the_kernel() {
    let mut m = real("mfmsr r4\n sc 1");
    m.enter(
        RMSR | msr::FP | msr::VEC | msr::VSX | msr::RI | msr::PMM,
        CODE,
    );
    m.expect_stop(CODE + 4);
    assert_eq!(
        m.r(4),
        RMSR | msr::FP | msr::VEC | msr::VSX | msr::RI | msr::PMM
    );
}

#[test]
fn mtmsrd_cannot_enter_transactional_state() {
    // TM is not offered: TS and TM stay zero.
    let mut m = real("mtmsrd r3,0\n mfmsr r4\n sc 1");
    m.cpu.core.gpr[3] = RMSR | msr::TS | msr::TM;
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(4) & (msr::TS | msr::TM), 0);
}
