//! Conformance tests: timebase, decrementer and H_CEDE idle
//! (`/work/shared/spec/cpu-timebase.md`; § numbers refer to it).
//!
//! No assertion depends on how long anything takes: time is bracketed by host instants
//! taken before and after each guest read (the timebase is derived from the same host
//! clock), and deadlines are checked as "not before".

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use ppc64::Exit;
use ppc64::reg::{msr, vec};
use ppc64::timebase::ns_to_ticks;

fn real(src: &str) -> M {
    let mut m = M::new();
    m.code(src);
    m
}

/// Ticks in a host interval (rounded down).
fn ticks(d: Duration) -> u64 {
    ns_to_ticks(d.as_nanos() as u64)
}

/// Busy-waits (no sleeping) until `d` has passed since `t`.
fn spin_past(t: Instant, d: Duration) {
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

// ---- timebase (§0, §1) ------------------------------------------------------------------------

#[test]
fn timebase_is_monotonic() {
    let mut m = real("mftb r4\n mfspr r5,268\n mftb r6\n sc 1");
    m.expect_stop(CODE + 12);
    assert!(m.r(4) <= m.r(5) && m.r(5) <= m.r(6));
}

#[test]
fn one_timebase_for_all_vcpus() {
    // vCPU 0 reads, then vCPU 1 reads: the second value is never smaller.
    let mut m = real("mftb r4\n sc 1");
    let mut other = m.second_cpu();
    for _ in 0..20 {
        m.cpu.core.nia = CODE;
        m.expect_stop(CODE + 4);
        other.core.nia = CODE;
        assert_eq!(run_guarded(&mut other), Exit::Hcall);
        assert!(other.core.gpr[4] >= m.r(4));
        m.cpu.core.nia = CODE;
        m.expect_stop(CODE + 4);
        assert!(m.r(4) >= other.core.gpr[4]);
    }
}

#[test]
fn timebase_ticks_at_512_mhz() {
    // TB difference between two guest reads lies between the ticks of the host interval
    // strictly between the reads and of the interval around them.
    let mut m = real("mftb r4\n sc 1");
    let t0 = Instant::now();
    m.expect_stop(CODE + 4);
    let t1 = Instant::now();
    let a = m.r(4);
    spin_past(t1, Duration::from_millis(3));
    let t2 = Instant::now();
    m.cpu.core.nia = CODE;
    m.expect_stop(CODE + 4);
    let t3 = Instant::now();
    let d = m.r(4) - a;
    assert!(
        d + 1 >= ticks(t2 - t1),
        "{d} ticks < {} (inner)",
        ticks(t2 - t1)
    );
    assert!(
        d <= ticks(t3 - t0) + 1,
        "{d} ticks > {} (outer)",
        ticks(t3 - t0)
    );
    assert!(d >= 1_536_000 - 1, "3 ms is at least 1.536 M ticks");
}

#[test]
fn tbu_is_the_upper_word() {
    let mut m = real("mfspr r4,269\n mftb r5,269\n mftb r6\n sc 1");
    m.part.tb.set(0x0000_0123_0000_0000);
    m.expect_stop(CODE + 12);
    assert_eq!(m.r(4), 0x123);
    assert_eq!(m.r(5), 0x123);
    assert!(m.r(6) >= 0x0000_0123_0000_0000);
}

#[test]
fn timebase_stands_still_while_paused() {
    let mut m = real("mftb r4\n sc 1");
    m.part.tb.pause();
    m.expect_stop(CODE + 4);
    let a = m.r(4);
    spin_past(Instant::now(), Duration::from_millis(1));
    m.cpu.core.nia = CODE;
    m.expect_stop(CODE + 4);
    assert_eq!(m.r(4), a);
    m.part.tb.resume();
    m.cpu.core.nia = CODE;
    m.expect_stop(CODE + 4);
    assert!(m.r(4) >= a, "no jump backwards after resume");
}

#[test]
fn purr_and_vtb_count_timebase_ticks() {
    let mut m = real("mfspr r4,309\n mfspr r5,308\n mfspr r6,849\n mftb r7\n mfspr r8,309\n sc 1");
    m.expect_stop(CODE + 20);
    assert!(m.r(4) <= m.r(8), "PURR increases");
    assert!(m.r(4) <= m.r(7), "PURR counts from vCPU creation");
    assert!(m.r(6) <= m.r(7), "VTB reads as TB");
}

// ---- decrementer (§2.1) -----------------------------------------------------------------------

/// Runs `mtspr DEC,r3; mfspr r4,DEC` and returns (value read, upper bound on the ticks that
/// can have passed between the write and the read).
fn write_then_read_dec(m: &mut M, v: u64) -> (u64, u64) {
    m.code("mtspr 22,r3\n mfspr r4,22\n sc 1");
    m.cpu.core.gpr[3] = v;
    let t0 = Instant::now();
    m.expect_stop(CODE + 8);
    let e = ticks(t0.elapsed()) + 1;
    (m.r(4), e)
}

#[test]
fn dec_32_bit_positive_and_negative_writes() {
    let mut m = M::new();
    let (r, e) = write_then_read_dec(&mut m, 0x7FFF_FFFF);
    assert!(r <= 0x7FFF_FFFF && 0x7FFF_FFFF - r <= e, "read {r:#x}");
    assert!(!m.cpu.core.dec_pending(), "0x7FFF_FFFF is not negative");

    let (r, e) = write_then_read_dec(&mut m, 0xFFFF_FFFF);
    assert_eq!(r >> 32, 0, "32-bit reads are zero-extended");
    assert!(0xFFFF_FFFF - r <= e, "read {r:#x}");
    assert!(
        m.cpu.core.dec_pending(),
        "0xFFFF_FFFF is negative: pending at once"
    );
}

#[test]
fn dec_32_bit_uses_only_the_low_word() {
    let mut m = M::new();
    let (r, e) = write_then_read_dec(&mut m, 0xFFFF_FFFF_0000_0005);
    assert_eq!(r >> 32, 0);
    assert!(
        (5u32.wrapping_sub(r as u32) as u64) <= e,
        "read {r:#x}: 5 minus the elapsed ticks"
    );
    // 0x1_0000_0000 is 0 in 32 bits: negative one tick later.
    let (r, e) = write_then_read_dec(&mut m, 0x1_0000_0000);
    assert!((0u32.wrapping_sub(r as u32) as u64) <= e, "read {r:#x}");
}

#[test]
fn dec_keeps_counting_below_zero() {
    let mut m = real("mfspr r4,22\n sc 1");
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0xFFFF_FFF0);
    m.expect_stop(CODE + 4);
    let a = m.r(4);
    spin_past(Instant::now(), Duration::from_millis(1));
    m.cpu.core.nia = CODE;
    m.expect_stop(CODE + 4);
    assert!(m.r(4) < a, "{:#x} then {a:#x}", m.r(4));
    assert!(m.cpu.core.dec_pending());
}

#[test]
fn large_decrementer_is_56_bits_and_sign_extended() {
    let mut m = M::new();
    m.set_ld(true);
    // A value that is zero in 32 bits is large and positive in 56.
    let (r, e) = write_then_read_dec(&mut m, 0x0000_0001_0000_0000);
    assert!(r <= 0x1_0000_0000 && 0x1_0000_0000 - r <= e, "read {r:#x}");
    assert!(!m.cpu.core.dec_pending());
    // Bit 55 is the sign: reads are sign-extended, and the condition holds.
    let (r, e) = write_then_read_dec(&mut m, 0x00C0_0000_0000_0000);
    assert!(
        r <= 0xFFC0_0000_0000_0000 && 0xFFC0_0000_0000_0000 - r <= e,
        "read {r:#x}"
    );
    assert!(m.cpu.core.dec_pending());
    let (r, e) = write_then_read_dec(&mut m, 0x00FF_FFFF_FFFF_FFFF);
    assert!(u64::MAX - r <= e, "read {r:#x}: -1 sign-extended");
    // Bits above the 56 are ignored.
    let (r, e) = write_then_read_dec(&mut m, 0xFF00_0000_0000_1000);
    assert!(r <= 0x1000 && 0x1000 - r <= e, "read {r:#x}");
}

#[test]
fn dec_interrupt_comes_no_earlier_than_value_plus_one_ticks() {
    // mftb; mtspr DEC,5000; enable EE; spin. The handler reads TB first thing.
    let src = "mftb r6\n mtspr 22,r7\n mtmsrd r4,1\n1: addi r5,r5,1\n b 1b";
    let mut m = real(src);
    m.handler(vec::DEC, "mftb r8\n sc 1");
    m.cpu.core.gpr[4] = msr::EE;
    m.cpu.core.gpr[7] = 5000;
    m.expect_stop(vec::DEC + 4);
    assert!(
        m.r(8) > m.r(6) + 5000,
        "DEC fired after {} ticks",
        m.r(8) - m.r(6)
    );
    assert!(
        (CODE + 12..=CODE + 16).contains(&m.cpu.core.srr0),
        "SRR0 {:#x} is in the loop",
        m.cpu.core.srr0
    );
}

#[test]
fn mtspr_dec_with_a_negative_value_interrupts_at_the_next_instruction() {
    // EE already on: the write itself makes the condition true.
    let mut m = real("mtspr 22,r3\n addi r5,r5,1\n sc 1");
    m.enter(RMSR | msr::EE, CODE);
    m.cpu.core.gpr[3] = 0xFFFF_FFFF;
    m.expect_stop(vec::DEC);
    assert_eq!(m.cpu.core.srr0, CODE + 4);
    assert_eq!(m.r(5), 0);
}

#[test]
fn mtspr_dec_with_a_positive_value_clears_the_condition() {
    let mut m = real("mtspr 22,r3\n mtmsrd r4,1\n addi r5,r5,1\n sc 1");
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0xFFFF_FFFF);
    m.cpu.core.gpr[3] = 0x7FFF_FFFF;
    m.cpu.core.gpr[4] = msr::EE;
    m.expect_stop(CODE + 12);
    assert_eq!(m.r(5), 1);
}

// ---- H_CEDE (§3.1) ------------------------------------------------------------------------

/// Runs to the `sc 1` of an H_CEDE and performs it the way `crates/hv` does.
fn cede(m: &mut M) {
    assert_eq!(m.run(), Exit::Hcall);
    assert_eq!(m.r(3), 0xE0);
    m.cpu.cede();
    m.cpu.core.gpr[3] = 0; // H_SUCCESS
}

const CEDE_SRC: &str = "li r3,0xe0\n sc 1\n addi r5,r5,1\n sc 1";

/// H_CEDE with a 56-bit decrementer 2^54 ticks (about 400 days) away, written by the guest
/// (`mtspr DEC` picks up the width from LPCR[LD]).
const CEDE_FAR_SRC: &str = "mtspr 22,r7\n li r3,0xe0\n sc 1\n addi r5,r5,1\n sc 1";

fn far_dec_machine() -> M {
    let mut m = real(CEDE_FAR_SRC);
    m.set_ld(true);
    m.cpu.core.gpr[7] = 1 << 54;
    m
}

#[test]
fn cede_sleeps_until_the_decrementer_and_enables_ee() {
    let mut m = real(CEDE_SRC);
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 512_000); // 1 ms
    cede(&mut m);
    assert!(m.part.tb.now() > tb + 512_000, "woke before the deadline");
    assert!(m.cpu.core.dec_pending());
    assert_eq!(m.cpu.core.msr() & msr::EE, msr::EE, "H_CEDE sets MSR[EE]");
    // The decrementer is taken right after the sc 1.
    m.expect_stop(vec::DEC);
    assert_eq!(m.cpu.core.srr0, CODE + 8);
    assert_eq!(m.r(5), 0);
}

#[test]
fn cede_returns_at_once_when_an_interrupt_is_pending() {
    // DEC already negative.
    let mut m = real(CEDE_SRC);
    let tb = m.part.tb.now();
    m.cpu.core.dec.write(tb, 0xFFFF_FFFF);
    cede(&mut m);
    m.expect_stop(vec::DEC);
    assert_eq!(m.cpu.core.srr0, CODE + 8);
    // External asserted while EE was off, before the hcall (§6 pitfall 4).
    let mut m = far_dec_machine();
    m.cpu.shared().set_external(true);
    cede(&mut m);
    assert!(!m.cpu.core.dec_pending());
    m.expect_stop(vec::EXTERNAL);
    assert_eq!(m.cpu.core.srr0, CODE + 12);
}

#[test]
fn cede_returns_when_prodded() {
    let mut m = far_dec_machine();
    assert_eq!(m.run(), Exit::Hcall);
    m.cpu.shared().prod();
    m.cpu.cede();
    assert!(!m.cpu.core.dec_pending());
    m.cpu.core.gpr[3] = 0;
    m.expect_stop(CODE + 16);
    assert_eq!(m.r(5), 1);
}

#[test]
fn cede_wakes_on_an_external_interrupt_from_another_thread() {
    let mut m = far_dec_machine();
    assert_eq!(m.run(), Exit::Hcall);
    let sh = m.cpu.shared();
    let (tx, rx) = mpsc::channel::<()>();
    let raiser = {
        let sh = sh.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            sh.set_external(true);
            // Failsafe only: a vCPU that never wakes is stopped so the test fails instead of
            // hanging.
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(20)) {
                sh.request_stop();
            }
        })
    };
    m.cpu.cede();
    drop(tx);
    raiser.join().unwrap();
    assert!(!m.cpu.core.dec_pending());
    m.cpu.core.gpr[3] = 0;
    m.expect_stop(vec::EXTERNAL);
    assert_eq!(m.cpu.core.srr0, CODE + 12);
}
