//! Conformance tests: interrupts a PAPR guest can see (`/work/shared/spec/cpu-exceptions.md`).
//!
//! Each test runs a snippet on a vCPU whose vectors are all `sc 1` (see `common`), so the
//! run stops at the vector that was taken, and checks SRR0/SRR1/DAR/DSISR/MSR there.
//! Section numbers (§) refer to cpu-exceptions.md unless another digest is named.

mod common;

use common::*;
use ppc64::Exit;
use ppc64::reg::{SRR1_CAUSE_MASK, msr, program, vec};

const DSISR_SENTINEL: u64 = 0x0000_1234;

/// Translated kernel state running the code at `KBASE + CODE`.
fn kernel(src: &str) -> M {
    let mut m = M::new();
    m.code(src);
    m.enter(KMSR, KBASE + CODE);
    m
}

/// Real-mode kernel state running the code at `CODE`.
fn real(src: &str) -> M {
    let mut m = M::new();
    m.code(src);
    m
}

// ---- §2, §3: generic entry, SRR1 and the new MSR --------------------------------------------

#[test]
fn srr1_is_the_msr_with_cause_bits_replaced() {
    // Every MSR bit a guest can have (except PR/SE/BE which change the run) survives into
    // SRR1; the new MSR keeps only SF, ME and LE (from ILE).
    let old = msr::SF
        | msr::ME
        | msr::LE
        | msr::EE
        | msr::FP
        | msr::FE0
        | msr::FE1
        | msr::VEC
        | msr::VSX
        | msr::PMM
        | msr::RI;
    let mut m = real("sc");
    m.enter(old, CODE);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.srr1, old);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0);
    assert_eq!(m.cpu.core.msr(), msr::SF | msr::ME | msr::LE);
}

#[test]
fn interrupt_le_comes_from_lpcr_ile_not_msr_le() {
    // ILE = 0: a little-endian context takes big-endian interrupts.
    let mut m = M::new();
    m.set_ile(false);
    m.code("sc");
    m.expect_stop(vec::SYSCALL);
    assert_eq!(
        m.cpu.core.msr(),
        msr::SF | msr::ME,
        "MSR[LE] = LPCR[ILE] = 0"
    );
    assert_eq!(m.cpu.core.srr1 & msr::LE, msr::LE);

    // ILE = 1: a big-endian context takes little-endian interrupts.
    let mut m = M::new();
    m.cpu.core.set_msr(msr::SF | msr::ME);
    m.code("sc");
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.msr(), msr::SF | msr::ME | msr::LE);
    assert_eq!(m.cpu.core.srr1 & msr::LE, 0);
}

#[test]
fn sixty_four_bit_mode_is_set_on_entry() {
    // From 32-bit mode (SF = 0): SF is set on entry and SRR0 is the 32-bit next address.
    let mut m = real("sc");
    m.enter(msr::ME | msr::LE, CODE);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.msr() & msr::SF, msr::SF);
    assert_eq!(m.cpu.core.srr1 & msr::SF, 0);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
}

#[test]
fn interrupts_clear_the_reservation() {
    // §2 step 5: lwarx; (interrupt; return); stwcx. fails.
    let src = "lwarx r4,0,r3\n sc\n stwcx. r5,0,r3\n mfcr r6\n sc 1";
    let mut m = real(src);
    m.cpu.core.gpr[3] = DATA;
    m.cpu.core.gpr[5] = 0x55;
    m.expect_stop(vec::SYSCALL);
    m.resume_from_interrupt();
    m.expect_stop(CODE + 16);
    assert_eq!(
        m.r(6) & 0x2000_0000,
        0,
        "stwcx. after an interrupt must fail"
    );
    assert_eq!(m.le64(DATA) & 0xFF, 0, "memory unchanged");

    // Control: without the interrupt the store-conditional succeeds.
    let mut m = real("lwarx r4,0,r3\n nop\n stwcx. r5,0,r3\n mfcr r6\n sc 1");
    m.cpu.core.gpr[3] = DATA;
    m.cpu.core.gpr[5] = 0x55;
    m.expect_stop(CODE + 16);
    assert_eq!(m.r(6) & 0x2000_0000, 0x2000_0000);
    assert_eq!(m.le64(DATA) & 0xFF, 0x55);
}

// ---- §4: AIL -------------------------------------------------------------------------------

#[test]
fn ail3_relocates_when_translation_is_on() {
    let mut m = kernel("sc");
    m.set_ail(3);
    m.expect_stop(KBASE | 0x4000 | vec::SYSCALL);
    assert_eq!(
        m.cpu.core.msr(),
        msr::SF | msr::ME | msr::IR | msr::DR | msr::LE
    );
    assert_eq!(m.cpu.core.srr0, KBASE + CODE + 4);
}

#[test]
fn ail3_data_storage_vector_is_0xc000_0000_0000_4300() {
    let mut m = kernel("ld r4,0(r3)");
    m.set_ail(3);
    m.cpu.core.gpr[3] = KBASE + (1 << 32);
    m.expect_stop(0xC000_0000_0000_4300);
    assert_eq!(m.cpu.core.dar, KBASE + (1 << 32));
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), msr::IR | msr::DR);
}

#[test]
fn ail_does_not_apply_from_real_mode_or_half_translation() {
    // Real mode.
    let mut m = real("sc");
    m.set_ail(3);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), 0);
    // IR = 1, DR = 0.
    let mut m = M::new();
    m.set_ail(3);
    m.code("sc");
    m.enter(KMSR & !msr::DR, KBASE + CODE);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), 0);
    // IR = 0, DR = 1.
    let mut m = M::new();
    m.set_ail(3);
    m.code("sc");
    m.enter(KMSR & !msr::IR, CODE);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), 0);
}

#[test]
fn ail2_vector_is_0x18000_plus_offset() {
    // POWER9 still honours AIL = 2 (§4): 0x1_8000 | offset, translation on. With PIDR = 0 the
    // quadrant-0 address goes through the kernel's tree (x → x).
    let mut m = kernel("sc");
    m.set_ail(2);
    m.expect_stop(0x1_8000 | vec::SYSCALL);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), msr::IR | msr::DR);
}

#[test]
fn ail1_is_reserved_and_means_off() {
    let mut m = kernel("sc");
    m.set_ail(1);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), 0);
}

// ---- System reset, machine check ---------------------------------------------------------

#[test]
fn system_reset_is_not_maskable_and_never_relocated() {
    let mut m = kernel("nop\n sc 1");
    m.set_ail(3);
    m.cpu.shared().request_sreset();
    m.expect_stop(vec::SRESET);
    assert_eq!(
        m.cpu.core.srr0,
        KBASE + CODE,
        "SRR0 = the next instruction to execute"
    );
    assert_eq!(
        m.cpu.core.srr1, KMSR,
        "no wake-up information outside power saving"
    );
    assert_eq!(
        m.cpu.core.msr(),
        msr::SF | msr::ME | msr::LE,
        "AIL does not apply"
    );
    // It is delivered once.
    m.resume_from_interrupt();
    m.expect_stop(KBASE + CODE + 4);
}

#[test]
fn machine_check_on_a_load_from_a_real_address_without_ram() {
    let mut m = real("nop\n ld r4,0(r3)");
    m.cpu.core.gpr[3] = RAM_SIZE + 0x1000;
    m.expect_stop(vec::MCHECK);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
    assert_eq!(m.cpu.core.dar, RAM_SIZE + 0x1000);
    assert_eq!(
        m.cpu.core.msr() & msr::ME,
        0,
        "§3: ME is cleared for machine check"
    );
    assert_eq!(m.cpu.core.srr1 & msr::ME, msr::ME);
}

#[test]
fn machine_check_through_translation_is_not_relocated() {
    let mut m = kernel("stw r4,0(r3)");
    m.set_ail(3);
    let ea = KBASE + (4 << 30);
    m.map(0, ea, 0x4000_0000, 12, pte::KERNEL);
    m.cpu.core.gpr[3] = ea + 8;
    m.expect_stop(vec::MCHECK);
    assert_eq!(m.cpu.core.srr0, KBASE + CODE);
    assert_eq!(m.cpu.core.msr(), msr::SF | msr::LE, "no AIL, ME cleared");
}

#[test]
fn machine_check_on_instruction_fetch_from_nothing() {
    let mut m = real("mtctr r3\n bctr");
    m.cpu.core.gpr[3] = 0x4000_0000;
    m.expect_stop(vec::MCHECK);
    assert_eq!(m.cpu.core.srr0, 0x4000_0000);
}

#[test]
fn machine_check_with_me_clear_checkstops() {
    let mut m = real("ld r4,0(r3)");
    m.enter(RMSR & !msr::ME, CODE);
    m.cpu.core.gpr[3] = RAM_SIZE;
    assert_eq!(m.run(), Exit::Checkstop);
}

// ---- DSI / DSegI / ISI / ISegI -------------------------------------------------------------

#[test]
fn dsi_no_translation_load_and_store() {
    let ea = KBASE + (1 << 32);
    for (src, store) in [("ld r4,0(r3)", false), ("std r4,0(r3)", true)] {
        let mut m = kernel(src);
        m.cpu.core.gpr[3] = ea;
        m.expect_stop(vec::DSI);
        assert_eq!(
            m.cpu.core.srr0,
            KBASE + CODE,
            "SRR0 = the faulting instruction"
        );
        assert_eq!(m.cpu.core.dar, ea);
        let want = 0x4000_0000 | if store { 0x0200_0000 } else { 0 };
        assert_eq!(m.cpu.core.dsisr, want);
        assert_eq!(m.cpu.core.srr1, KMSR, "DSI has no SRR1 cause bits");
        assert_eq!(m.cpu.core.msr(), msr::SF | msr::ME | msr::LE);
    }
}

#[test]
fn dsi_leaves_the_target_register_and_memory_alone() {
    let mut m = kernel("ld r4,0(r3)");
    m.cpu.core.gpr[3] = KBASE + (1 << 32);
    m.cpu.core.gpr[4] = 0x1111;
    m.expect_stop(vec::DSI);
    assert_eq!(m.r(4), 0x1111);
    // ldu does not update RA either.
    let mut m = kernel("ldu r4,8(r3)");
    m.cpu.core.gpr[3] = KBASE + (1 << 32);
    m.expect_stop(vec::DSI);
    assert_eq!(m.r(3), KBASE + (1 << 32));
    assert_eq!(m.cpu.core.dar, KBASE + (1 << 32) + 8);
}

#[test]
fn data_segment_for_quadrants_1_and_2_and_high_ea_bits() {
    for ea in [
        0x4000_0000_0000_1000u64,
        0x8000_0000_0000_1000,
        0xC010_0000_0000_0000, // EA bits 2:11 != 0
        0x0000_1000_0000_0000 | (1 << 52),
    ] {
        let mut m = kernel("lwz r4,0(r3)");
        m.cpu.core.dsisr = DSISR_SENTINEL;
        m.cpu.core.gpr[3] = ea;
        m.expect_stop(vec::DSEG);
        assert_eq!(m.cpu.core.dar, ea, "DSegI DAR");
        assert_eq!(m.cpu.core.srr0, KBASE + CODE);
        assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0);
    }
}

#[test]
fn isi_no_translation_reports_in_srr1() {
    let target = KBASE + (1 << 32);
    let mut m = kernel("mtctr r3\n bctr");
    m.cpu.core.gpr[3] = target;
    m.cpu.core.dsisr = DSISR_SENTINEL;
    m.expect_stop(vec::ISI);
    assert_eq!(
        m.cpu.core.srr0, target,
        "SRR0 = the address that could not be fetched"
    );
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0x4000_0000);
    assert_eq!(m.cpu.core.srr1 & !SRR1_CAUSE_MASK, KMSR);
    assert_eq!(m.cpu.core.dsisr, DSISR_SENTINEL, "ISI does not touch DSISR");
}

#[test]
fn instruction_segment_for_bad_quadrant() {
    let mut m = kernel("mtctr r3\n bctr");
    m.cpu.core.gpr[3] = 0x4000_0000_0001_0000;
    m.expect_stop(vec::ISEG);
    assert_eq!(m.cpu.core.srr0, 0x4000_0000_0001_0000);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0);
}

#[test]
fn isi_with_ail3() {
    let mut m = kernel("mtctr r3\n bctr");
    m.set_ail(3);
    m.cpu.core.gpr[3] = KBASE + (1 << 32);
    m.expect_stop(KBASE | 0x4400);
}

// ---- External ------------------------------------------------------------------------------

#[test]
fn external_waits_for_ee_and_is_level_triggered() {
    let src = "nop\n mtmsrd r4,1\n addi r5,r5,1\n sc 1";
    let mut m = real(src);
    m.cpu.core.gpr[4] = msr::EE | msr::RI;
    m.cpu.shared().set_external(true);
    // Taken right after the mtmsrd that sets EE, not before.
    m.expect_stop(vec::EXTERNAL);
    assert_eq!(m.cpu.core.srr0, CODE + 8, "SRR0 = the next instruction");
    assert_eq!(m.cpu.core.srr1 & msr::EE, msr::EE);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0);
    assert_eq!(m.r(5), 0);
    assert_eq!(m.cpu.core.msr() & msr::EE, 0, "EE cleared on entry");
    // Still asserted: taken again as soon as EE is back.
    m.resume_from_interrupt();
    m.expect_stop(vec::EXTERNAL);
    assert_eq!(m.cpu.core.srr0, CODE + 8);
    // Deasserted: the code runs on.
    m.cpu.shared().set_external(false);
    m.resume_from_interrupt();
    m.expect_stop(CODE + 12);
    assert_eq!(m.r(5), 1);
}

#[test]
fn external_is_not_taken_with_ee_clear() {
    let mut m = real("addi r5,r5,1\n addi r5,r5,1\n sc 1");
    m.cpu.shared().set_external(true);
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(5), 2);
}

#[test]
fn external_after_rfid_enables_ee() {
    // rfid to a context with EE = 1 takes the pending external before its first instruction.
    let mut m = real("rfid");
    m.cpu.core.srr0 = CODE + 0x100;
    m.cpu.core.srr1 = RMSR | msr::EE;
    m.cpu.shared().set_external(true);
    m.expect_stop(vec::EXTERNAL);
    assert_eq!(m.cpu.core.srr0, CODE + 0x100);
}

#[test]
fn external_has_priority_over_decrementer() {
    // §9: External (5) before Decrementer (6).
    let mut m = real("mtmsrd r4,1\n nop\n sc 1");
    m.cpu.core.gpr[4] = msr::EE;
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0xFFFF_FFFF);
    m.cpu.shared().set_external(true);
    m.expect_stop(vec::EXTERNAL);
    m.cpu.shared().set_external(false);
    m.resume_from_interrupt();
    m.expect_stop(vec::DEC);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
}

// ---- Alignment -------------------------------------------------------------------------------

#[test]
fn alignment_for_misaligned_reservations_sets_dar_not_dsisr() {
    for (src, off) in [
        ("lwarx r4,0,r3", 2u64),
        ("ldarx r4,0,r3", 4),
        ("lharx r4,0,r3", 1),
        ("stwcx. r4,0,r3", 2),
        ("stdcx. r4,0,r3", 4),
        ("lq r4,0(r3)", 8),
        ("stq r4,0(r3)", 8),
    ] {
        let mut m = real(src);
        m.cpu.core.dsisr = DSISR_SENTINEL;
        m.cpu.core.gpr[3] = DATA + off;
        m.expect_stop(vec::ALIGN);
        assert_eq!(m.cpu.core.srr0, CODE, "{src}");
        assert_eq!(m.cpu.core.dar, DATA + off, "{src}");
        assert_eq!(
            m.cpu.core.dsisr, DSISR_SENTINEL,
            "{src}: ISA 3.0 alignment leaves DSISR"
        );
        assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0, "{src}");
    }
}

#[test]
fn alignment_for_multiple_and_string_in_little_endian() {
    // (Encoded by hand: the assembler refuses these in little-endian mode.)
    for src in [
        ".long 0xbb830000", // lmw r28,0(r3)
        ".long 0xbf830000", // stmw r28,0(r3)
        ".long 0x7c8344aa", // lswi r4,r3,8
        ".long 0x7c8345aa", // stswi r4,r3,8
    ] {
        let mut m = real(src);
        m.cpu.core.gpr[3] = DATA;
        m.expect_stop(vec::ALIGN);
        assert_eq!(m.cpu.core.dar, DATA, "{src}");
    }
    // Big-endian: they work.
    let mut m = M::new();
    m.cpu.core.set_msr(msr::SF | msr::ME);
    m.code(".long 0xbbc30000\n sc 1"); // lmw r30,0(r3)
    m.set_be64(DATA, 0x1122_3344_5566_7788);
    m.cpu.core.gpr[3] = DATA;
    m.expect_stop(CODE + 4);
    assert_eq!((m.r(30), m.r(31)), (0x1122_3344, 0x5566_7788));
}

#[test]
fn misaligned_ordinary_accesses_just_work() {
    let src =
        "addi r6,r3,3\n ld r4,0(r6)\n lwz r5,0xffe(r3)\n addi r7,r3,0x1ffd\n std r4,0(r7)\n sc 1";
    let mut m = real(src);
    m.cpu.core.gpr[3] = DATA;
    m.set_le64(DATA + 3, 0x0102_0304_0506_0708);
    m.part
        .ram
        .write(DATA + 0xFFE, &[0xAA, 0xBB, 0xCC, 0xDD])
        .unwrap();
    m.expect_stop(CODE + 20);
    assert_eq!(m.r(4), 0x0102_0304_0506_0708);
    assert_eq!(m.r(5), 0xDDCC_BBAA);
    assert_eq!(m.le64(DATA + 0x1FFD), 0x0102_0304_0506_0708);
}

#[test]
fn page_crossing_store_faults_on_the_second_page_and_writes_nothing() {
    // §5.1: DAR points into the page that faulted; §5.4: both pages are translated first.
    let ea = KBASE + (4 << 30);
    let mut m = kernel("std r4,0(r3)");
    m.map(0, ea, DATA, 12, pte::KERNEL);
    m.cpu.core.gpr[3] = ea + 0xFFC;
    m.cpu.core.gpr[4] = u64::MAX;
    m.expect_stop(vec::DSI);
    assert_eq!(m.cpu.core.dar, ea + 0x1000);
    assert_eq!(m.cpu.core.dsisr, 0x4200_0000);
    assert_eq!(m.le64(DATA + 0xFF8), 0, "the first page is untouched");
}

#[test]
fn dcbz_to_caching_inhibited_storage_is_an_alignment_interrupt() {
    let mut m = real("dcbz 0,r3");
    m.cpu.core.gpr[3] = RAM_SIZE + 0x80;
    m.expect_stop(vec::ALIGN);
    assert_eq!(m.cpu.core.dar & !0x7F, RAM_SIZE + 0x80);
}

// ---- Program ---------------------------------------------------------------------------------

#[test]
fn program_illegal_instruction() {
    let mut m = real("nop\n .long 0");
    m.expect_stop(vec::PROGRAM);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::ILLEGAL);
    assert_eq!(m.cpu.core.srr1 & !SRR1_CAUSE_MASK, RMSR);
}

#[test]
fn program_trap_and_the_tdi_no_op() {
    let mut m = real("tdi 0,r0,0x48\n tw 4,r3,r3");
    m.expect_stop(vec::PROGRAM);
    assert_eq!(m.cpu.core.srr0, CODE + 4, "tdi with TO = 0 never traps");
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::TRAP);
    for src in ["trap", "twi 31,r0,0", "tdi 4,r3,5", "td 16,r4,r3"] {
        let mut m = real(src);
        m.cpu.core.gpr[3] = 5;
        m.cpu.core.gpr[4] = u64::MAX;
        m.expect_stop(vec::PROGRAM);
        assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::TRAP, "{src}");
    }
}

#[test]
fn program_privileged_from_problem_state() {
    for src in [
        "mfmsr r3",
        "mtmsrd r3,1",
        "mtmsrd r3,0",
        "mtmsr r3",
        "rfid",
        "rfscv",
        "hrfid",
        "mfspr r3,26",
        "mtspr 22,r3",
        "tlbie r4,r5,0,1,1",
        "tlbiel r4,r5,0,1,1",
        "tlbsync",
        "slbia 7",
        "msgsndp r3",
        "msgclrp r3",
    ] {
        let mut m = M::new();
        m.user_setup();
        m.code(src);
        m.enter(UMSR, CODE);
        m.expect_stop(vec::PROGRAM);
        assert_eq!(m.cpu.core.srr0, CODE, "{src}");
        assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::PRIV, "{src}");
        assert_eq!(m.cpu.core.srr1 & msr::PR, msr::PR);
        assert_eq!(m.cpu.core.msr() & msr::PR, 0);
    }
}

#[test]
fn program_privileged_for_hypervisor_instructions_in_the_guest_kernel() {
    // §8: hrfid is hypervisor-only.
    let mut m = real("hrfid");
    m.expect_stop(vec::PROGRAM);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::PRIV);
}

#[test]
fn program_fp_enabled_exception() {
    // FPSCR[ZE] = 1 and MSR[FE0,FE1] = 11 (precise): a zero divide traps before writing FRT.
    let mut m = real("fdiv f1,f2,f3");
    m.enter(RMSR | msr::FP | msr::FE0 | msr::FE1, CODE);
    m.cpu.core.fpscr = 0x10; // ZE
    m.cpu.core.vsr[2] = (1.0f64.to_bits() as u128) << 64;
    m.cpu.core.vsr[3] = 0;
    m.cpu.core.vsr[1] = 0x1234 << 64;
    m.expect_stop(vec::PROGRAM);
    assert_eq!(m.cpu.core.srr0, CODE);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::FP);
    assert_eq!(m.cpu.core.vsr[1] >> 64, 0x1234, "FRT untouched");
    assert_ne!(m.cpu.core.fpscr & 0x0400_0000, 0, "ZX");
    assert_ne!(m.cpu.core.fpscr & 0x4000_0000, 0, "FEX");
}

#[test]
fn program_fp_enabled_needs_fe_bits() {
    let mut m = real("fdiv f1,f2,f3\n sc 1");
    m.enter(RMSR | msr::FP, CODE);
    m.cpu.core.fpscr = 0x10;
    m.cpu.core.vsr[2] = (1.0f64.to_bits() as u128) << 64;
    m.expect_stop(CODE + 4);
}

// ---- Unavailable interrupts ------------------------------------------------------------------

#[test]
fn fp_vmx_vsx_unavailable() {
    for (src, want) in [
        ("lfd f1,0(r3)", vec::FPU),
        ("fadd f1,f2,f3", vec::FPU),
        ("vaddubm v0,v1,v2", vec::VMX),
        ("lvx v0,0,r3", vec::VMX),
        ("xxlor vs0,vs1,vs2", vec::VSX),
        ("lxvd2x vs0,0,r3", vec::VSX),
    ] {
        let mut m = real(&format!("nop\n {src}"));
        m.cpu.core.gpr[3] = DATA;
        m.expect_stop(want);
        assert_eq!(m.cpu.core.srr0, CODE + 4, "{src}: SRR0 = the instruction");
        assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0, "{src}");
    }
}

#[test]
fn facility_unavailable_sets_fscr_ic() {
    // §1: user access to a facility-gated SPR with its FSCR bit clear.
    for (spr, ic) in [(815u32, 8u64), (3, 2), (804, 7), (771, 3), (779, 3)] {
        let mut m = M::new();
        m.user_setup();
        m.code(&format!("mfspr r4,{spr}"));
        m.enter(UMSR, CODE);
        m.cpu.core.fscr = 0xFF00_0000_0000_0000; // stale IC, no facility enabled
        m.expect_stop(vec::FAC);
        assert_eq!(m.cpu.core.srr0, CODE, "SPR {spr}");
        assert_eq!(m.cpu.core.fscr >> 56, ic, "SPR {spr}: FSCR[IC]");
        assert_eq!(
            m.cpu.core.fscr & 0x00FF_FFFF_FFFF_FFFF,
            0,
            "enable bits unchanged"
        );
        // With the facility enabled the access is performed.
        let mut m = M::new();
        m.user_setup();
        m.code(&format!("mfspr r4,{spr}\n sc"));
        m.enter(UMSR, CODE);
        m.cpu.core.fscr = 1 << ic;
        m.expect_stop(vec::SYSCALL);
    }
}

#[test]
fn facility_unavailable_for_bctar_in_problem_state() {
    let mut m = M::new();
    m.user_setup();
    m.code("bctar 20,0,0");
    m.enter(UMSR, CODE);
    m.cpu.core.tar = CODE + 0x100;
    m.expect_stop(vec::FAC);
    assert_eq!(m.cpu.core.fscr >> 56, 8);
    assert_eq!(m.cpu.core.srr0, CODE);
    // Enabled: the branch is taken.
    let mut m = M::new();
    m.user_setup();
    m.code("bctar 20,0,0");
    m.asm_at(CODE + 0x100, "sc", true);
    m.enter(UMSR, CODE);
    m.cpu.core.tar = CODE + 0x100;
    m.cpu.core.fscr = 1 << 8;
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.srr0, CODE + 0x104);
}

#[test]
fn facility_gates_do_not_apply_to_the_kernel() {
    // FSCR only gates problem state (cpu-registers.md §3.3).
    let mut m = real("mfspr r4,815\n mfspr r5,3\n mfspr r6,804\n mfspr r7,771\n bctar 20,0,0");
    m.cpu.core.fscr = 0;
    m.cpu.core.tar = CODE + 0x100;
    m.asm_at(CODE + 0x100, "sc 1", true);
    m.expect_stop(CODE + 0x100);
}

#[test]
fn facility_unavailable_for_tm_sprs() {
    // TM is not offered: TFHAR/TFIAR/TEXASR/TEXASRU take Facility Unavailable with IC = 5,
    // from the kernel too.
    for spr in 128..=131 {
        let mut m = real(&format!("mfspr r4,{spr}"));
        m.expect_stop(vec::FAC);
        assert_eq!(m.cpu.core.fscr >> 56, 5);
    }
}

// ---- Decrementer ---------------------------------------------------------------------------

#[test]
fn decrementer_is_level_triggered() {
    let mut m = real("mtmsrd r4,1\n addi r5,r5,1\n sc 1");
    m.cpu.core.gpr[4] = msr::EE;
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0xFFFF_FFFF);
    m.expect_stop(vec::DEC);
    assert_eq!(m.cpu.core.srr0, CODE + 4, "SRR0 = the next instruction");
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0);
    // Delivery does not clear the condition: taken again at once.
    m.resume_from_interrupt();
    m.expect_stop(vec::DEC);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
    assert_eq!(m.r(5), 0);
    // Writing a non-negative value clears it.
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0x7FFF_FFFF);
    m.resume_from_interrupt();
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(5), 1);
}

#[test]
fn decrementer_handler_that_rewrites_dec_returns_normally() {
    // A Linux-like masked handler: write 0x7FFF_FFFF to DEC and rfid.
    let mut m = real("mtmsrd r4,1\n addi r5,r5,1\n sc 1");
    m.handler(
        vec::DEC,
        "lis r9,0x7fff\n ori r9,r9,0xffff\n mtspr 22,r9\n rfid",
    );
    m.cpu.core.gpr[4] = msr::EE;
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0xFFFF_FFFF);
    m.expect_stop(CODE + 8);
    assert_eq!(m.r(5), 1);
    assert_eq!(m.cpu.core.srr0, CODE + 4, "the handler ran once");
}

#[test]
fn decrementer_not_taken_with_ee_clear() {
    let mut m = real("addi r5,r5,1\n sc 1");
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0x8000_0000);
    m.expect_stop(CODE + 4);
}

// ---- System call, hypercall, scv -------------------------------------------------------------

#[test]
fn system_call_srr0_is_the_next_instruction() {
    let mut m = real("nop\n sc");
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.srr0, CODE + 8);
    assert_eq!(m.cpu.core.srr1, RMSR);
}

#[test]
fn system_call_with_reserved_lev_behaves_like_lev0() {
    // §6: LEV > 1 is reserved; QEMU treats it as LEV = 0.
    let mut m = real(".long 0x44000042"); // sc 2
    m.expect_stop(vec::SYSCALL);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
}

#[test]
fn hypercall_from_the_kernel_exits_with_msr_unchanged() {
    let mut m = kernel("li r3,0x31c\n sc 1");
    let before = m.cpu.core.msr();
    assert_eq!(m.run(), Exit::Hcall);
    assert_eq!(m.cpu.core.nia, KBASE + CODE + 8, "NIA after the sc 1");
    assert_eq!(m.r(3), 0x31C);
    assert_eq!(m.cpu.core.msr(), before);
}

#[test]
fn hypercall_from_problem_state_is_reflected_as_a_system_call() {
    // The issue (and KVM-HV, which papr-hv stands in for) reflects `sc 1` made with
    // MSR[PR]=1 to the guest kernel as a system call interrupt: vector 0xC00, SRR0 = the
    // instruction after the `sc`, the hypervisor not involved. (QEMU's TCG spapr answers
    // H_PRIVILEGE instead, which cpu-exceptions.md section 7 describes; we follow KVM.)
    let mut m = M::new();
    m.user_setup();
    m.code("li r3,0x31c\n sc 1\n li r20,1\n sc");
    m.enter(UMSR, CODE);
    m.expect_stop(vec::SYSCALL);
    assert_eq!(
        m.cpu.core.srr0,
        CODE + 8,
        "SRR0 = the instruction after sc 1"
    );
    assert_eq!(m.r(3), 0x31c, "no hcall status written");
    assert_eq!(
        m.r(20),
        0,
        "the kernel was entered before the next instruction"
    );
    assert_ne!(m.cpu.core.srr1 & msr::PR, 0, "SRR1 keeps MSR[PR]=1");
}

#[test]
fn scv_needs_fscr_scv() {
    let mut m = real("scv 0");
    m.expect_stop(vec::FAC);
    assert_eq!(m.cpu.core.srr0, CODE);
    assert_eq!(m.cpu.core.fscr >> 56, 12);
}

#[test]
fn scv_uses_lr_and_ctr_and_keeps_ee_ri() {
    let mut m = real("nop\n scv 0");
    let old = RMSR | msr::EE | msr::RI | msr::FP;
    m.enter(old, CODE);
    m.cpu.core.fscr = 1 << 12;
    m.cpu.core.srr0 = 0x5150;
    m.cpu.core.srr1 = 0x5151;
    m.expect_stop(0x1_7000);
    assert_eq!(m.cpu.core.lr, CODE + 8, "LR = the next instruction");
    assert_eq!(m.cpu.core.ctr, old, "CTR = MSR with the cause bits cleared");
    assert_eq!((m.cpu.core.srr0, m.cpu.core.srr1), (0x5150, 0x5151));
    assert_eq!(
        m.cpu.core.msr(),
        msr::SF | msr::ME | msr::LE | msr::EE | msr::RI,
        "EE and RI preserved"
    );
}

#[test]
fn scv_vector_depends_on_lev() {
    for lev in [1u64, 2, 127] {
        let mut m = real(&format!("scv {lev}"));
        m.cpu.core.fscr = 1 << 12;
        m.expect_stop(0x1_7000 + 32 * lev);
    }
}

#[test]
fn scv_with_ail3_and_translation() {
    let mut m = kernel("scv 0");
    m.set_ail(3);
    m.cpu.core.fscr = 1 << 12;
    m.expect_stop(KBASE | 0x3000);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), msr::IR | msr::DR);
    let mut m = kernel("scv 3");
    m.set_ail(3);
    m.cpu.core.fscr = 1 << 12;
    m.expect_stop((KBASE | 0x3000) + 3 * 32);
}

#[test]
fn scv_with_ail2_keeps_the_address_but_turns_translation_on() {
    // §4: AIL = 2 does not move the scv vector, but AIL still applies to the MSR.
    let mut m = kernel("scv 0");
    m.set_ail(2);
    m.cpu.core.fscr = 1 << 12;
    m.expect_stop(0x1_7000);
    assert_eq!(m.cpu.core.msr() & (msr::IR | msr::DR), msr::IR | msr::DR);
}

#[test]
fn rfscv_returns_through_lr_and_ctr() {
    let mut m = real("rfscv");
    m.cpu.core.lr = CODE + 0x103; // low bits ignored
    m.cpu.core.ctr = RMSR | msr::FP;
    m.asm_at(CODE + 0x100, "sc 1", true);
    m.expect_stop(CODE + 0x100);
    assert_eq!(m.cpu.core.msr(), RMSR | msr::FP);
}

// ---- Trace -------------------------------------------------------------------------------

#[test]
fn single_step_trace_after_each_instruction() {
    let mut m = real("addi r3,r3,1\n addi r3,r3,1\n sc 1");
    m.enter(RMSR | msr::SE, CODE);
    m.expect_stop(vec::TRACE);
    assert_eq!(m.cpu.core.srr0, CODE + 4, "SRR0 = the next instruction");
    assert_eq!(m.cpu.core.siar, CODE, "SIAR = the traced instruction");
    assert_eq!(m.r(3), 1);
    assert_eq!(m.cpu.core.srr1 & msr::SE, msr::SE);
    // ISA 3.0B Book III 6.5.15 (Trace Interrupt): SRR1 bit 33 is set.
    assert_eq!(m.cpu.core.srr1 & 0x4000_0000, 0x4000_0000);
    assert_eq!(m.cpu.core.msr() & (msr::SE | msr::BE), 0);
    m.resume_from_interrupt();
    m.expect_stop(vec::TRACE);
    assert_eq!(m.cpu.core.srr0, CODE + 8);
    assert_eq!(m.r(3), 2);
}

#[test]
fn branch_trace_only_after_branches() {
    let mut m = real("addi r3,r3,1\n b 1f\n nop\n1: addi r3,r3,1\n sc 1");
    m.enter(RMSR | msr::BE, CODE);
    m.expect_stop(vec::TRACE);
    assert_eq!(m.cpu.core.srr0, CODE + 12, "SRR0 = the branch target");
    assert_eq!(m.cpu.core.siar, CODE + 4, "SIAR = the branch");
    assert_eq!(m.r(3), 1);
}

#[test]
fn trace_is_not_taken_for_sc_or_rfid() {
    // sc: the system call interrupt, not a trace.
    let mut m = real("sc");
    m.enter(RMSR | msr::SE, CODE);
    m.expect_stop(vec::SYSCALL);
    // rfid itself is not traced; the instruction it returns to is.
    let mut m = real("rfid");
    m.asm_at(CODE + 0x100, "addi r3,r3,1\n sc 1", true);
    m.enter(RMSR | msr::SE, CODE);
    m.cpu.core.srr0 = CODE + 0x100;
    m.cpu.core.srr1 = RMSR | msr::SE;
    m.expect_stop(vec::TRACE);
    assert_eq!(m.cpu.core.siar, CODE + 0x100);
    assert_eq!(m.cpu.core.srr0, CODE + 0x104);
}

#[test]
fn an_instruction_that_interrupts_is_not_traced() {
    let mut m = real(".long 0");
    m.enter(RMSR | msr::SE, CODE);
    m.expect_stop(vec::PROGRAM);
}

// ---- Doorbell ------------------------------------------------------------------------------

#[test]
fn privileged_doorbell_to_self_is_edge_triggered() {
    let mut m = real("mtmsrd r4,1\n msgsndp r3\n addi r5,r5,1\n sc 1");
    m.cpu.core.gpr[3] = 5 << 27; // type 5 (privileged doorbell), thread 0
    m.cpu.core.gpr[4] = msr::EE;
    m.expect_stop(vec::DOORBELL);
    assert_eq!(m.cpu.core.srr0, CODE + 8);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, 0);
    m.resume_from_interrupt();
    m.expect_stop(CODE + 12);
    assert_eq!(m.r(5), 1);
}

#[test]
fn dpdes_shows_a_pending_doorbell_and_msgclrp_clears_it() {
    // cpu-registers.md §4.1: DPDES (176) = pending privileged doorbell (thread 0 = bit 63,
    // as QEMU and KVM report it).
    let src = "msgsndp r3\n mfspr r6,176\n msgclrp r3\n mfspr r7,176\n mtmsrd r4,1\n sc 1";
    let mut m = real(src);
    m.cpu.core.gpr[3] = 5 << 27;
    m.cpu.core.gpr[4] = msr::EE;
    m.expect_stop(CODE + 20);
    assert_eq!(m.r(6), 1);
    assert_eq!(m.r(7), 0);
}

#[test]
fn doorbell_waits_for_ee() {
    let mut m = real("msgsndp r3\n addi r5,r5,1\n mtmsrd r4,1\n sc 1");
    m.cpu.core.gpr[3] = 5 << 27;
    m.cpu.core.gpr[4] = msr::EE;
    m.expect_stop(vec::DOORBELL);
    assert_eq!(m.cpu.core.srr0, CODE + 12);
    assert_eq!(m.r(5), 1);
}

// ---- Hostile: nothing panics ---------------------------------------------------------------

#[test]
fn misaligned_branch_targets_are_word_aligned() {
    // Branch targets ignore the low two bits (bclr/bcctr), so no misaligned fetch exists.
    let mut m = real("mtctr r3\n bctr");
    m.cpu.core.gpr[3] = CODE + 0x103;
    m.asm_at(CODE + 0x100, "sc 1", true);
    m.expect_stop(CODE + 0x100);
}
