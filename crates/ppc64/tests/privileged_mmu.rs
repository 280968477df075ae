//! Conformance tests: radix translation as a POWER9 PAPR guest sees it
//! (`/work/shared/spec/cpu-mmu.md`; § numbers refer to it).
//!
//! Trees are built in guest RAM with the Linux shapes (13/9/9 then 9 or 5), big-endian, and
//! registered as H_REGISTER_PROC_TBL does (see `common`). PID 0 maps the kernel linear map
//! `0xC000_0000_0000_0000 + x → x` with a 1 GiB leaf; test mappings live above it.

mod common;

use common::*;
use ppc64::reg::{SRR1_CAUSE_MASK, msr, program, vec};

const NOPTE: u64 = 0x4000_0000;
const NOEXEC: u64 = 0x1000_0000;
const PROT: u64 = 0x0800_0000;
const STORE: u64 = 0x0200_0000;
const UNSUPP: u64 = 0x0008_0000;
const RC: u64 = 0x0004_0000;
const TABLE_FAULT: u64 = 0x0002_0000;

/// A free 1 GiB slot of the kernel's quadrant 3 (the linear map is slot 0).
fn kslot(n: u64) -> u64 {
    KBASE + (n << 30)
}

/// Translated kernel running `src` at `KBASE + CODE`.
fn kernel(src: &str) -> M {
    let mut m = M::new();
    m.code(src);
    m.enter(KMSR, KBASE + CODE);
    m
}

#[track_caller]
fn expect_dsi(m: &mut M, dar: u64, dsisr: u64) {
    m.expect_stop(vec::DSI);
    assert_eq!(m.cpu.core.dar, dar, "DAR");
    assert_eq!(m.cpu.core.dsisr, dsisr, "DSISR");
}

#[track_caller]
fn expect_isi(m: &mut M, srr0: u64, cause: u64) {
    m.expect_stop(vec::ISI);
    assert_eq!(m.cpu.core.srr0, srr0, "SRR0");
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, cause, "SRR1 cause");
}

// ---- page sizes (§2.2, §3.2) ----------------------------------------------------------------

#[test]
fn loads_and_stores_through_4k_64k_2m_and_1g_pages() {
    // (page shift, EA of the page, RA of the page, offset inside the page)
    for (shift, ea, ra, off) in [
        (12u32, kslot(4) + 0x3000, DATA + 0x5000, 0x128u64),
        (16, kslot(5) + 0x1_0000, 0x30_0000, 0xABC8),
        (21, kslot(6) + 0x20_0000, 0x40_0000, 0x1_2348),
        (30, kslot(7), 0, 0x50_0008),
    ] {
        let mut m = kernel("ld r4,0(r3)\n std r5,8(r3)\n sc 1");
        m.map(0, ea, ra, shift, pte::KERNEL);
        m.set_le64(ra + off, 0x1234_5678_9ABC_DEF0 ^ shift as u64);
        m.cpu.core.gpr[3] = ea + off;
        m.cpu.core.gpr[5] = 0x0BAD_CAFE;
        m.expect_stop(KBASE + CODE + 8);
        assert_eq!(
            m.r(4),
            0x1234_5678_9ABC_DEF0 ^ shift as u64,
            "shift {shift}"
        );
        assert_eq!(m.le64(ra + off + 8), 0x0BAD_CAFE, "shift {shift}");
    }
}

#[test]
fn adjacent_4k_pages_map_independently() {
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n ld r5,0x1000(r3)\n sc 1");
    m.map(0, ea, DATA + 0x3000, 12, pte::KERNEL);
    m.map(0, ea + 0x1000, DATA, 12, pte::KERNEL);
    m.set_le64(DATA + 0x3000, 0xA);
    m.set_le64(DATA, 0xB);
    m.cpu.core.gpr[3] = ea;
    m.expect_stop(KBASE + CODE + 8);
    assert_eq!((m.r(4), m.r(5)), (0xA, 0xB));
}

#[test]
fn instruction_fetch_through_64k_and_2m_pages() {
    for (shift, ea, ra) in [
        (16u32, kslot(5) + 0x1_0000, 0x30_0000u64),
        (21, kslot(6), 0x40_0000),
    ] {
        let mut m = kernel("mtctr r3\n bctr");
        m.map(0, ea, ra, shift, pte::KERNEL);
        m.asm_at(ra + 0x104, "li r4,77\n sc 1", true);
        m.cpu.core.gpr[3] = ea + 0x104;
        m.expect_stop(ea + 0x108);
        assert_eq!(m.r(4), 77);
    }
}

#[test]
fn page_tables_are_big_endian() {
    // The same leaf written little-endian is a different (invalid) entry.
    let ea = kslot(4);
    let flags = pte::R | pte::PRIV | pte::RD; // low byte 0x0C: V = 0 once byte-swapped
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    let at = m.map(0, ea, DATA, 12, flags);
    m.cpu.core.gpr[3] = ea;
    m.set_le64(DATA, 99);
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 99);

    let mut m = kernel("ld r4,0(r3)\n sc 1");
    let at2 = m.map(0, ea, DATA, 12, flags);
    assert_eq!(at, at2);
    let v = m.be64(at2);
    m.set_le64(at2, v);
    m.cpu.core.gpr[3] = ea;
    expect_dsi(&mut m, ea, NOPTE);
}

// ---- R and C (§5.3) -------------------------------------------------------------------------

#[test]
fn reference_bit_clear_faults_and_the_os_sets_it() {
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    let at = m.map(0, ea, DATA, 12, pte::KERNEL & !pte::R);
    m.set_le64(DATA, 5);
    m.cpu.core.gpr[3] = ea;
    expect_dsi(&mut m, ea, RC);
    assert_eq!(m.be64(at) & pte::R, 0, "POWER9 does not set R itself");
    // The OS sets R and retries, with no tlbie (nothing was cached from the faulting walk).
    m.set_be64(at, m.be64(at) | pte::R);
    m.resume_from_interrupt();
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 5);
}

#[test]
fn change_bit_clear_faults_stores_only() {
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n std r5,0(r3)\n sc 1");
    let at = m.map(0, ea, DATA, 12, pte::KERNEL & !pte::C);
    m.set_le64(DATA, 5);
    m.cpu.core.gpr[3] = ea;
    m.cpu.core.gpr[5] = 6;
    // The load works (and caches a read translation); the store must still fault.
    expect_dsi(&mut m, ea, RC | STORE);
    assert_eq!(m.r(4), 5);
    assert_eq!(m.cpu.core.srr0, KBASE + CODE + 4);
    assert_eq!(m.le64(DATA), 5);
    assert_eq!(m.be64(at) & pte::C, 0, "POWER9 does not set C itself");
    m.set_be64(at, m.be64(at) | pte::C);
    m.resume_from_interrupt();
    m.expect_stop(KBASE + CODE + 8);
    assert_eq!(m.le64(DATA), 6);
}

#[test]
fn a_guest_dsi_handler_sets_c_and_retries() {
    // A real-mode handler at 0x300 that ORs C into the big-endian PTE (r21 holds its real
    // address) and returns: the store then completes; the handler ran exactly once.
    let ea = kslot(4);
    let mut m = kernel("std r5,0(r3)\n sc 1");
    let at = m.map(0, ea, DATA, 12, pte::KERNEL & !pte::C);
    m.handler(
        vec::DSI,
        "addi r23,r23,1\n ldbrx r22,0,r21\n ori r22,r22,0x80\n stdbrx r22,0,r21\n rfid",
    );
    m.cpu.core.gpr[3] = ea;
    m.cpu.core.gpr[5] = 0x77;
    m.cpu.core.gpr[21] = at;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(23), 1);
    assert_eq!(m.le64(DATA), 0x77);
    assert_eq!(m.be64(at) & (pte::R | pte::C), pte::R | pte::C);
}

#[test]
fn reference_bit_clear_on_fetch_is_an_isi() {
    let ea = kslot(4);
    let mut m = kernel("mtctr r3\n bctr");
    m.map(0, ea, DATA, 12, pte::KERNEL & !pte::R);
    m.cpu.core.gpr[3] = ea;
    expect_isi(&mut m, ea, RC);
}

// ---- storage interrupts and their cause bits (§5.1, §5.2, §7) -------------------------------

#[test]
fn invalid_pte_and_invalid_pde_are_no_translation() {
    let ea = kslot(4);
    // Invalid leaf.
    let mut m = kernel("lwz r4,0(r3)");
    let at = m.map(0, ea, DATA, 12, pte::KERNEL);
    m.set_be64(at, m.be64(at) & !pte::V);
    m.cpu.core.gpr[3] = ea + 4;
    expect_dsi(&mut m, ea + 4, NOPTE);
    // Invalid directory entry (PMD level).
    let mut m = kernel("stw r4,0(r3)");
    m.map(0, ea, DATA, 12, pte::KERNEL);
    let e = m.walk_entries(0, ea);
    m.set_be64(e[2], m.be64(e[2]) & !pte::V);
    m.cpu.core.gpr[3] = ea;
    expect_dsi(&mut m, ea, NOPTE | STORE);
}

#[test]
fn store_to_a_read_only_page() {
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n std r4,0(r3)");
    m.map(0, ea, DATA, 12, pte::R | pte::C | pte::PRIV | pte::RD);
    m.cpu.core.gpr[3] = ea;
    expect_dsi(&mut m, ea, PROT | STORE);
    assert_eq!(m.cpu.core.srr0, KBASE + CODE + 4);
}

#[test]
fn page_with_no_access_rights() {
    // Linux PROT_NONE: V|L|R|priv with no read/write/execute bits.
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)");
    m.map(0, ea, DATA, 12, pte::R | pte::PRIV);
    m.cpu.core.gpr[3] = ea;
    expect_dsi(&mut m, ea, PROT);
}

#[test]
fn write_permission_implies_read() {
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    m.map(0, ea, DATA, 12, pte::R | pte::C | pte::PRIV | pte::RW);
    m.set_le64(DATA, 8);
    m.cpu.core.gpr[3] = ea;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 8);
}

#[test]
fn user_access_to_privileged_pages() {
    let ea = 0x4_0000u64;
    for (src, want) in [("ld r4,0(r3)", PROT), ("std r4,0(r3)", PROT | STORE)] {
        let mut m = M::new();
        m.user_setup();
        m.map(1, ea, DATA, 16, pte::KERNEL);
        m.code(src);
        m.enter(UMSR, CODE);
        m.cpu.core.gpr[3] = ea;
        expect_dsi(&mut m, ea, want);
        assert_eq!(m.cpu.core.srr1 & msr::PR, msr::PR);
    }
    // Fetch from a privileged page: ISI "fetch not permitted".
    let mut m = M::new();
    m.user_setup();
    m.map(1, ea, DATA, 16, pte::KERNEL);
    m.code("mtctr r3\n bctr");
    m.enter(UMSR, CODE);
    m.cpu.core.gpr[3] = ea;
    expect_isi(&mut m, ea, NOEXEC);
}

#[test]
fn user_store_to_a_read_only_user_page() {
    let mut m = M::new();
    m.user_setup();
    m.code("ld r4,0(r3)\n std r4,0(r3)");
    m.enter(UMSR, CODE);
    m.cpu.core.gpr[3] = CODE + 0x800; // the user r-x code page
    expect_dsi(&mut m, CODE + 0x800, PROT | STORE);
}

#[test]
fn the_kernel_may_access_user_pages() {
    // No AMR restriction here (AMR = 0): privileged loads and stores to a non-privileged
    // page go through PIDR's tree.
    let mut m = M::new();
    m.user_setup();
    m.code("ld r4,0(r3)\n std r5,8(r3)\n sc 1");
    m.enter(KMSR, KBASE + CODE);
    m.set_le64(DATA + 0x100, 0x4444);
    m.cpu.core.gpr[3] = DATA + 0x100;
    m.cpu.core.gpr[5] = 0x5555;
    m.expect_stop(KBASE + CODE + 8);
    assert_eq!(m.r(4), 0x4444);
    assert_eq!(m.le64(DATA + 0x108), 0x5555);
}

#[test]
fn no_execute_page_is_an_isi() {
    let ea = kslot(4);
    let mut m = kernel("mtctr r3\n bctr");
    m.map(0, ea, DATA, 12, pte::KERNEL & !pte::X);
    m.cpu.core.gpr[3] = ea;
    m.cpu.core.dsisr = 0x1234;
    expect_isi(&mut m, ea, NOEXEC);
    assert_eq!(m.cpu.core.dsisr, 0x1234);
}

#[test]
fn guarded_storage_is_never_executed() {
    // ATT = 0b10 (non-idempotent I/O) is guarded: fetch is refused even with EAA X; loads
    // work. ATT = 0b11 (tolerant I/O) is not guarded.
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n mtctr r3\n bctr");
    m.map(0, ea, DATA, 12, pte::KERNEL | pte::ATT_GUARDED);
    m.asm_at(DATA, "sc 1", true);
    m.cpu.core.gpr[3] = ea;
    expect_isi(&mut m, ea, NOEXEC);

    let mut m = kernel("mtctr r3\n bctr");
    m.map(0, ea, DATA, 12, pte::KERNEL | pte::ATT_TOLERANT);
    m.asm_at(DATA, "sc 1", true);
    m.cpu.core.gpr[3] = ea;
    m.expect_stop(ea);
}

// ---- tree shape (§2.2, §3.1) ----------------------------------------------------------------

/// A quadrant-0 mapping for PID 5 at `EA5` (64 KiB page), PIDR = 5, kernel translated.
const EA5: u64 = 0x1000_0000;

fn pid5(src: &str) -> M {
    let mut m = kernel(src);
    m.map(5, EA5, DATA, 16, pte::KERNEL);
    m.set_pid(5);
    m.cpu.core.gpr[3] = EA5;
    m
}

#[test]
fn the_pid5_fixture_translates() {
    let mut m = pid5("ld r4,0(r3)\n sc 1");
    m.set_le64(DATA, 3);
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 3);
}

#[test]
fn unsupported_tree_shapes() {
    type Corrupt = fn(&mut M);
    let cases: &[(&str, Corrupt)] = &[
        ("RTS for a 51-bit tree", |m| {
            let e = m.prte(5);
            m.set_prte(5, (e & !0xE0) | (4 << 5));
        }),
        ("root with 2^12 entries", |m| {
            let e = m.prte(5);
            m.set_prte(5, (e & !0x1F) | 12);
        }),
        ("root not aligned to its size", |m| {
            let e = m.prte(5);
            m.set_prte(5, e + 0x1000);
        }),
        ("level 1 with NLS 7", |m| {
            let at = m.walk_entries(5, EA5)[0];
            m.set_be64(at, (m.be64(at) & !0x1F) | 7);
        }),
        ("level 3 with NLS 6", |m| {
            let at = m.walk_entries(5, EA5)[2];
            m.set_be64(at, (m.be64(at) & !0x1F) | 6);
        }),
        ("level 2 table misaligned", |m| {
            let at = m.walk_entries(5, EA5)[1];
            m.set_be64(at, m.be64(at) + 0x100);
        }),
        ("leaf at the root (512 GiB page)", |m| {
            let at = m.walk_entries(5, EA5)[0];
            m.set_be64(at, pte::V | pte::L | pte::KERNEL);
        }),
        ("directory where the PTE should be", |m| {
            let at = m.walk_entries(5, EA5)[3];
            m.set_be64(at, pte::V | 0x7_0000 | 9);
        }),
    ];
    for (what, corrupt) in cases {
        let mut m = pid5("ld r4,0(r3)");
        corrupt(&mut m);
        m.cpu.core.flush_tlb();
        m.expect_stop(vec::DSI);
        assert_eq!(m.cpu.core.dsisr, UNSUPP, "{what}");
        assert_eq!(m.cpu.core.dar, EA5, "{what}");

        let mut m = pid5("mtctr r3\n bctr");
        corrupt(&mut m);
        m.cpu.core.flush_tlb();
        expect_isi(&mut m, EA5, UNSUPP);
    }
}

// ---- out-of-range ---------------------------------------------------------------------------

#[test]
fn pid_beyond_the_process_table_is_no_translation() {
    // The table is 4 KiB: PIDs 0..=255.
    let mut m = kernel("ld r4,0(r3)");
    m.set_pid(256);
    m.cpu.core.gpr[3] = 0x2_0000;
    expect_dsi(&mut m, 0x2_0000, NOPTE);

    let mut m = kernel("mtctr r3\n bctr");
    m.set_pid(0xFFFF_FFFF);
    m.cpu.core.gpr[3] = 0x2_0000;
    expect_isi(&mut m, 0x2_0000, NOPTE);

    // A larger table (size field 1 = 8 KiB) makes PID 256 reachable.
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    m.register_proc_table(PRTB, 1, true);
    let prte0 = m.prte(0);
    m.set_prte(256, prte0);
    m.set_pid(256);
    m.set_le64(0x2_0000, 21);
    m.cpu.core.gpr[3] = 0x2_0000;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 21);
}

#[test]
fn quadrant_3_always_uses_pid_0() {
    // PIDR does not matter above 0xC000...: the kernel's tree is used.
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    m.set_pid(300); // even out of range
    m.set_le64(DATA, 31);
    m.cpu.core.gpr[3] = KBASE + DATA;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 31);
}

#[test]
fn privileged_quadrant_0_accesses_follow_pidr() {
    // EA 0x5_0000 is mapped differently by PID 1 and PID 2; the kernel switches PIDR with
    // mtspr (no tlbie) and sees the other mapping.
    let mut m = kernel("ld r4,0(r3)\n mtspr 48,r6\n ld r5,0(r3)\n sc 1");
    m.map(1, 0x5_0000, DATA, 16, pte::USER);
    m.map(2, 0x5_0000, DATA + 0x1_0000, 16, pte::USER);
    m.set_pid(1);
    m.set_le64(DATA, 1);
    m.set_le64(DATA + 0x1_0000, 2);
    m.cpu.core.gpr[3] = 0x5_0000;
    m.cpu.core.gpr[6] = 2;
    m.expect_stop(KBASE + CODE + 12);
    assert_eq!((m.r(4), m.r(5)), (1, 2));
}

#[test]
fn pidr_0_makes_quadrant_0_an_alias_of_the_kernel_tree() {
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    m.set_pid(0);
    m.set_le64(DATA, 41);
    m.cpu.core.gpr[3] = DATA;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 41);
}

// ---- real mode (§4.1) ---------------------------------------------------------------------

#[test]
fn real_mode_ignores_the_top_four_ea_bits() {
    let mut m = M::new();
    m.code("ld r4,0(r3)\n ld r5,0(r6)\n ld r7,0(r8)\n sc 1");
    m.set_le64(DATA, 0x99);
    m.cpu.core.gpr[3] = 0xC000_0000_0000_0000 | DATA;
    m.cpu.core.gpr[6] = 0xF000_0000_0000_0000 | DATA;
    m.cpu.core.gpr[8] = 0x1000_0000_0000_0000 | DATA;
    m.expect_stop(CODE + 12);
    assert_eq!((m.r(4), m.r(5), m.r(7)), (0x99, 0x99, 0x99));
}

#[test]
fn real_mode_fetch_from_0xc000_addresses() {
    let mut m = M::new();
    m.code("li r4,5\n sc 1");
    m.cpu.core.nia = KBASE + CODE;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 5);
    // Quadrant 1 is not special in real mode.
    let mut m = M::new();
    m.code("li r4,6\n sc 1");
    m.cpu.core.nia = 0x4000_0000_0000_0000 | CODE;
    m.expect_stop(0x4000_0000_0000_0000 | (CODE + 4));
}

#[test]
fn instruction_and_data_relocation_are_independent() {
    // IR = 0, DR = 1: code from real memory, data through the kernel's tree.
    let mut m = M::new();
    m.code("ld r4,0(r3)\n ld r5,0(r6)");
    m.enter(KMSR & !msr::IR, CODE);
    m.set_le64(DATA, 7);
    m.cpu.core.gpr[3] = KBASE + DATA;
    m.cpu.core.gpr[6] = kslot(4);
    m.expect_stop(vec::DSI);
    assert_eq!(m.r(4), 7);
    assert_eq!(m.cpu.core.dar, kslot(4));
    assert_eq!(m.cpu.core.srr0, CODE + 4);
    // IR = 1, DR = 0: translated code, real data.
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    m.enter(KMSR & !msr::DR, KBASE + CODE);
    m.set_le64(DATA, 8);
    m.cpu.core.gpr[3] = DATA;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 8);
}

// ---- tlbie / tlbiel (§6.1) ----------------------------------------------------------------

/// RB for an IS = 0 invalidation of the page at `ea` with actual-page-size code `ap`.
fn rb_page(ea: u64, ap: u64) -> u64 {
    (ea & !0xFFF) | (ap << 5)
}

/// Runs `ld r4,0(r3)` (warms the TLB), remaps the page, checks that the old translation is
/// still in use, then runs `inval` (an invalidation with RB = r10, RS = r11) and checks
/// that the new one is seen.
fn stale_until_invalidated(
    pid: u32,
    ea: u64,
    shift: u32,
    (ra_old, ra_new): (u64, u64),
    inval: &str,
    rb: u64,
) {
    let src =
        format!("ld r4,0(r3)\n sc 1\n ld r5,0(r3)\n sc 1\n {inval}\n ptesync\n ld r6,0(r3)\n sc 1");
    let mut m = M::new();
    let end = KBASE + m.code(&src);
    m.enter(KMSR, KBASE + CODE);
    m.set_pid(pid as u64);
    m.map(pid, ea, ra_old, shift, pte::KERNEL);
    m.set_le64(ra_old + 0x18, 0x01D);
    m.set_le64(ra_new + 0x18, 0x0E1);
    m.cpu.core.gpr[3] = ea + 0x18;
    m.cpu.core.gpr[10] = rb;
    m.cpu.core.gpr[11] = (pid as u64) << 32;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 0x01D);
    m.map(pid, ea, ra_new, shift, pte::KERNEL);
    m.cpu.core.nia = KBASE + CODE + 8;
    m.expect_stop(KBASE + CODE + 12);
    assert_eq!(
        m.r(5),
        0x01D,
        "{inval}: the changed PTE is not seen before invalidation"
    );
    m.cpu.core.nia = KBASE + CODE + 16;
    m.expect_stop(end - 4);
    assert_eq!(
        m.r(6),
        0x0E1,
        "{inval}: the changed PTE is seen after invalidation"
    );
}

#[test]
fn tlbiel_and_tlbie_one_4k_page() {
    let ea = kslot(4) + 0x7000;
    for inval in [
        "tlbiel r10,r11,0,1,1",
        "tlbie r10,r11,0,1,1\n eieio\n tlbsync",
    ] {
        stale_until_invalidated(0, ea, 12, (DATA, DATA + 0x1000), inval, rb_page(ea, 0));
    }
}

#[test]
fn tlbie_one_64k_and_one_2m_page() {
    let ea = kslot(5) + 0x3_0000;
    stale_until_invalidated(
        0,
        ea,
        16,
        (0x30_0000, 0x31_0000),
        "tlbie r10,r11,0,1,1",
        rb_page(ea, 5),
    );
    let ea = kslot(6) + 0x60_0000;
    stale_until_invalidated(
        0,
        ea,
        21,
        (0x40_0000, 0x60_0000),
        "tlbie r10,r11,0,1,1",
        rb_page(ea, 1),
    );
}

#[test]
fn tlbie_whole_pid_lpid_and_everything() {
    let ea = kslot(4);
    // IS = 1 (this PID), IS = 2 (this LPID), IS = 3 (all), and RIC = 2 (all caches).
    for (inval, is) in [
        ("tlbie r10,r11,0,1,1", 1u64),
        ("tlbie r10,r11,0,1,1", 2),
        ("tlbie r10,r11,0,1,1", 3),
        ("tlbiel r10,r11,2,1,1", 1),
        ("tlbie r10,r11,2,1,1", 2),
    ] {
        stale_until_invalidated(0, ea, 12, (DATA, DATA + 0x1000), inval, is << 10);
    }
}

#[test]
fn tlbie_of_a_user_pid_reaches_privileged_quadrant_0_translations() {
    // PID 1's page, accessed by the kernel through PIDR = 1.
    let ea = 0x7_0000;
    stale_until_invalidated(
        1,
        ea,
        16,
        (DATA, DATA + 0x1_0000),
        "tlbie r10,r11,0,1,1",
        rb_page(ea, 5),
    );
    stale_until_invalidated(
        1,
        ea,
        16,
        (DATA, DATA + 0x1_0000),
        "tlbiel r10,r11,0,1,1",
        1 << 10,
    );
}

#[test]
fn tlbie_of_a_1g_page() {
    // A 1 GiB leaf that is removed: after the invalidation the access faults.
    let ea = kslot(8);
    let mut m = kernel("ld r4,0(r3)\n sc 1\n tlbie r10,r11,0,1,1\n ptesync\n ld r5,0(r3)");
    let at = m.map(0, ea, 0, 30, pte::KERNEL);
    m.set_le64(DATA, 3);
    m.cpu.core.gpr[3] = ea + DATA;
    m.cpu.core.gpr[10] = rb_page(ea, 2);
    m.cpu.core.gpr[11] = 0;
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 3);
    m.set_be64(at, 0);
    m.cpu.core.nia = KBASE + CODE + 8;
    expect_dsi(&mut m, ea + DATA, NOPTE);
}

#[test]
fn a_new_mapping_needs_no_invalidation() {
    // §6.1: "not present" is never cached: Linux validates PTEs without tlbie.
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)\n sc 1");
    m.map(0, ea + 0x1000, DATA, 12, pte::KERNEL); // the directories exist, the PTE does not
    m.set_le64(DATA, 12);
    m.cpu.core.gpr[3] = ea;
    expect_dsi(&mut m, ea, NOPTE);
    m.map(0, ea, DATA, 12, pte::KERNEL);
    m.resume_from_interrupt();
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 12);
}

#[test]
fn remapped_code_is_fetched_from_the_new_page_after_tlbiel() {
    // The decoded-instruction caches follow the execute translation: the old code runs until
    // the invalidation, the new code after it.
    let ea = kslot(4);
    let mut m = kernel(
        "mtctr r3\n bctrl\n mtctr r3\n bctrl\n tlbiel r10,r11,0,1,1\n ptesync\n isync\n \
         mtctr r3\n bctrl",
    );
    m.map(0, ea, DATA, 12, pte::KERNEL);
    m.asm_at(DATA, "li r4,1\n sc 1", true);
    m.asm_at(DATA + 0x1000, "li r4,2\n sc 1", true);
    m.cpu.core.gpr[3] = ea;
    m.cpu.core.gpr[10] = rb_page(ea, 0);
    m.cpu.core.gpr[11] = 0;
    m.expect_stop(ea + 4);
    assert_eq!(m.r(4), 1);
    m.map(0, ea, DATA + 0x1000, 12, pte::KERNEL);
    m.cpu.core.nia = KBASE + CODE + 8;
    m.expect_stop(ea + 4);
    assert_eq!(m.r(4), 1, "old code until the invalidation");
    m.cpu.core.nia = KBASE + CODE + 16; // the tlbiel
    m.expect_stop(ea + 4);
    assert_eq!(m.r(4), 2, "code of the new page");
}

#[test]
fn tlbie_needs_gtse() {
    // §6.1: without GTSE, tlbie is hypervisor privileged.
    let mut m = kernel("tlbie r10,r11,0,1,1");
    m.register_proc_table(PRTB, 0, false);
    m.expect_stop(vec::PROGRAM);
    assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::PRIV);
    // tlbiel is not affected by GTSE.
    let mut m = kernel("tlbiel r10,r11,0,1,1\n sc 1");
    m.register_proc_table(PRTB, 0, false);
    m.expect_stop(KBASE + CODE + 4);
}

#[test]
fn partition_scoped_invalidations_are_hypervisor_privileged() {
    // With LPCR[HR] = 1, tlbie/tlbiel with PRS = 0 is hypervisor privileged (QEMU
    // gen_tlbie/gen_tlbiel): the guest kernel gets the privileged program interrupt.
    for src in [
        "tlbie r10,r11,0,0,1",
        "tlbiel r10,r11,0,0,1",
        "tlbie r10,r11,2,0,1",
    ] {
        let mut m = kernel(src);
        m.expect_stop(vec::PROGRAM);
        assert_eq!(m.cpu.core.srr1 & SRR1_CAUSE_MASK, program::PRIV, "{src}");
    }
}

#[test]
fn tlbie_on_one_vcpu_is_seen_by_another_running_on_its_own_thread() {
    let ea = kslot(4);
    let flag = KBASE + DATA + 0x2000;
    let mut m = M::new();
    // vCPU 0: warm, check staleness, then spin until the new translation shows up, flagging
    // a violation if the other vCPU had already completed its tlbsync/ptesync.
    m.code(
        "ld r4,0(r3)\n sc 1\n ld r5,0(r3)\n sc 1\n\
         1: ld r6,0(r8)\n ld r5,0(r3)\n cmpdi r5,2\n beq 2f\n cmpdi r6,0\n bne 3f\n bdnz 1b\n\
         3: li r9,1\n sc 1\n\
         2: li r9,0\n sc 1",
    );
    // vCPU 1: invalidate globally, wait, raise the flag.
    m.asm_at(
        CODE + 0x400,
        "tlbie r10,r11,0,1,1\n eieio\n tlbsync\n ptesync\n li r12,1\n std r12,0(r8)\n sc 1",
        true,
    );
    m.map(0, ea, DATA, 12, pte::KERNEL);
    m.set_le64(DATA, 1);
    m.set_le64(DATA + 0x1000, 2);
    m.set_le64(DATA + 0x2000, 0);
    let c = &mut m.cpu.core;
    c.gpr[3] = ea;
    c.gpr[8] = flag;
    c.ctr = 50_000_000;
    m.enter(KMSR, KBASE + CODE);
    m.expect_stop(KBASE + CODE + 4);
    assert_eq!(m.r(4), 1);
    m.map(0, ea, DATA + 0x1000, 12, pte::KERNEL);
    m.cpu.core.nia = KBASE + CODE + 8;
    m.expect_stop(KBASE + CODE + 12);
    assert_eq!(m.r(5), 1, "stale on vCPU 0 before any invalidation");

    let mut other = m.second_cpu();
    other.core.set_msr(KMSR);
    other.core.nia = KBASE + CODE + 0x400;
    other.core.gpr[8] = flag;
    other.core.gpr[10] = rb_page(ea, 0);
    other.core.gpr[11] = 0;
    m.cpu.core.nia = KBASE + CODE + 16;
    let mut cpu0 = std::mem::replace(&mut m.cpu, other);
    let spinner = std::thread::spawn(move || {
        let e = run_guarded(&mut cpu0);
        (e, cpu0)
    });
    let e1 = run_guarded(&mut m.cpu);
    assert_eq!(e1, ppc64::Exit::Hcall);
    assert_eq!(
        m.cpu.core.nia,
        KBASE + CODE + 0x400 + 28,
        "vCPU 1 finished its sequence"
    );
    let (e0, cpu0) = spinner.join().unwrap();
    assert_eq!(e0, ppc64::Exit::Hcall);
    assert_eq!(
        cpu0.core.gpr[9], 0,
        "vCPU 0 used a stale translation after the tlbie completed"
    );
    assert_eq!(cpu0.core.gpr[5], 2);
    assert_ne!(cpu0.core.ctr, 0, "vCPU 0 never saw the new translation");
}

// ---- hostile tables -------------------------------------------------------------------------

#[test]
fn process_table_outside_ram() {
    let mut m = kernel("ld r4,0(r3)");
    m.register_proc_table(RAM_SIZE + 0x10_0000, 0, true);
    m.enter(KMSR & !msr::IR, CODE); // fetch in real mode; data translated
    m.cpu.core.gpr[3] = KBASE + DATA;
    expect_dsi(&mut m, KBASE + DATA, NOPTE | TABLE_FAULT);

    let mut m = kernel("nop");
    m.register_proc_table(RAM_SIZE + 0x10_0000, 0, true);
    expect_isi(&mut m, KBASE + CODE, NOPTE | TABLE_FAULT);
}

#[test]
fn process_table_entry_beyond_ram_with_a_huge_table() {
    // Size field 24 (64 GiB table) near the end of RAM: PID 0x10_0000's entry is past RAM.
    let mut m = kernel("ld r4,0(r3)");
    let base = RAM_SIZE - 0x1000;
    m.part.ram.write(base, &m.prte(0).to_be_bytes()).unwrap();
    m.register_proc_table(base, 24, true);
    m.enter(KMSR & !msr::IR, CODE);
    m.set_pid(0x10_0000);
    m.cpu.core.gpr[3] = 0x2_0000;
    expect_dsi(&mut m, 0x2_0000, NOPTE | TABLE_FAULT);
}

#[test]
fn directory_pointing_outside_ram() {
    let mut m = pid5("ld r4,0(r3)");
    let at = m.walk_entries(5, EA5)[1];
    m.set_be64(at, pte::V | 0x0FFF_FFFF_FFFF_0000 | 9);
    expect_dsi(&mut m, EA5, NOPTE | TABLE_FAULT);
}

#[test]
fn loops_in_the_tree_end_in_a_fault() {
    // A directory entry that points back at its own table: the walk cannot go on forever.
    for level in 0..3 {
        let mut m = pid5("ld r4,0(r3)");
        let e = m.walk_entries(5, EA5);
        let own_table = if level == 0 {
            m.prte(5) & 0x0FFF_FFFF_FFFF_FF00
        } else {
            m.be64(e[level - 1]) & 0x0FFF_FFFF_FFFF_FF00
        };
        m.set_be64(e[level], pte::V | own_table | 9);
        m.expect_stop(vec::DSI);
        assert_ne!(m.cpu.core.dsisr & (UNSUPP | NOPTE), 0, "level {level}");
    }
    // A PTE-level directory entry pointing at itself.
    let mut m = pid5("ld r4,0(r3)");
    let e = m.walk_entries(5, EA5);
    let pt = m.be64(e[2]) & 0x0FFF_FFFF_FFFF_FF00;
    m.set_be64(e[3], pte::V | pt | 5);
    expect_dsi(&mut m, EA5, UNSUPP);
}

#[test]
fn huge_level_sizes_are_unsupported() {
    for nls in [31u64, 20, 13] {
        let mut m = pid5("ld r4,0(r3)");
        let at = m.walk_entries(5, EA5)[0];
        m.set_be64(at, (m.be64(at) & !0x1F) | nls);
        expect_dsi(&mut m, EA5, UNSUPP);
    }
    let mut m = pid5("ld r4,0(r3)");
    let e = m.prte(5);
    m.set_prte(5, (e & !0x1F) | 31);
    expect_dsi(&mut m, EA5, UNSUPP);
    let mut m = pid5("ld r4,0(r3)");
    m.set_prte(5, u64::MAX);
    expect_dsi(&mut m, EA5, UNSUPP);
}

#[test]
fn leaf_pointing_outside_ram_is_a_machine_check() {
    let ea = kslot(4);
    let mut m = kernel("ld r4,0(r3)");
    m.map(0, ea, 0x01F0_0000_0000_0000, 12, pte::KERNEL);
    m.cpu.core.gpr[3] = ea + 8;
    m.expect_stop(vec::MCHECK);
    assert_eq!(m.cpu.core.srr0, KBASE + CODE);

    let mut m = kernel("mtctr r3\n bctr");
    m.map(0, ea, 0x01F0_0000_0000_0000, 12, pte::KERNEL);
    m.cpu.core.gpr[3] = ea;
    m.expect_stop(vec::MCHECK);
    assert_eq!(m.cpu.core.srr0, ea);
}

#[test]
fn garbage_tables_never_panic() {
    // Deterministic pseudo-random trees: every access ends in a storage/segment interrupt,
    // a machine check, or a successful load.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for case in 0..300 {
        let mut m = pid5("ld r4,0(r3)\n mtctr r3\n bctr");
        let e = m.walk_entries(5, EA5);
        // Scribble over 1..4 entries of the walk (or the process-table entry), keeping table
        // pointers inside RAM half of the time.
        for _ in 0..1 + next() % 4 {
            let r = next();
            let v = if r & 1 == 0 {
                (r & !0x0FFF_FFFF_FFFF_FF00) | ((r % RAM_SIZE) & 0x0FFF_FFFF_FFFF_FF00)
            } else {
                next()
            };
            match next() % 5 {
                4 => m.set_prte(5, v),
                i => {
                    let at = e[(i as usize).min(e.len() - 1)];
                    m.set_be64(at, v);
                }
            }
        }
        m.cpu.core.gpr[3] = if case % 3 == 0 {
            next()
        } else {
            EA5 + (next() & 0xFFF8)
        };
        let at = m.stop();
        assert!(
            [
                vec::DSI,
                vec::DSEG,
                vec::ISI,
                vec::ISEG,
                vec::MCHECK,
                vec::PROGRAM
            ]
            .contains(&at)
                || at == m.cpu.core.gpr[3] & !3,
            "case {case}: stopped at {at:#x}"
        );
    }
}

// ---- cache-management instructions and translation (ISA 3.0B Book II §4.3) ---------------

#[test]
fn touch_hints_never_fault() {
    // dcbt/dcbtst are hints: no interrupt for an address without translation.
    let ea = kslot(4);
    let mut m = kernel("dcbt 0,r3\n dcbtst 0,r3\n sc 1");
    m.cpu.core.gpr[3] = ea;
    m.expect_stop(KBASE + CODE + 8);
}

#[test]
fn dcbst_dcbf_and_icbi_translate_as_loads() {
    // Book II §4.3.2/§4.3.3: dcbst, dcbf and icbi are treated as loads for translation and
    // protection: no translation is a DSI without the store bit.
    let ea = kslot(4);
    for insn in ["dcbst 0,r3", "dcbf 0,r3", "icbi 0,r3"] {
        let mut m = kernel(insn);
        m.cpu.core.gpr[3] = ea + 0x48;
        m.expect_stop(vec::DSI);
        assert_eq!(m.cpu.core.dsisr, NOPTE, "{insn}: DSISR");
        assert_eq!(m.cpu.core.srr0, KBASE + CODE, "{insn}: SRR0");
    }
    // On a read-only page they are performed.
    let mut m = kernel("dcbst 0,r3\n dcbf 0,r3\n icbi 0,r3\n sc 1");
    m.map(0, ea, DATA, 12, pte::R | pte::C | pte::PRIV | pte::RD);
    m.cpu.core.gpr[3] = ea;
    m.expect_stop(KBASE + CODE + 12);
}

#[test]
fn dcbz_translates_as_a_store() {
    let ea = kslot(4);
    let mut m = kernel("dcbz 0,r3");
    m.cpu.core.gpr[3] = ea + 0x48;
    m.expect_stop(vec::DSI);
    assert_eq!(m.cpu.core.dsisr, NOPTE | STORE);
    let mut m = kernel("dcbz 0,r3");
    m.map(0, ea, DATA, 12, pte::R | pte::C | pte::PRIV | pte::RD);
    m.cpu.core.gpr[3] = ea + 0x48;
    m.expect_stop(vec::DSI);
    assert_eq!(m.cpu.core.dsisr, PROT | STORE);
    // Writable: the aligned 128-byte block holding the EA is zeroed, nothing else.
    let mut m = kernel("dcbz 0,r3\n sc 1");
    m.map(0, ea, DATA, 12, pte::KERNEL);
    for i in 0..0x100 / 8 {
        m.set_le64(DATA + 8 * i, u64::MAX);
    }
    m.cpu.core.gpr[3] = ea + 0xC8;
    m.expect_stop(KBASE + CODE + 4);
    for off in (0..0x100).step_by(8) {
        let want = if off >= 0x80 { 0 } else { u64::MAX };
        assert_eq!(m.le64(DATA + off), want, "offset {off:#x}");
    }
}
