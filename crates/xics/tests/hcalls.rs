//! XICS hypercalls: return codes and ICP/ICS presentation rules (xics.md §2, §3).

mod common;

use std::sync::Arc;

use common::{AckLog, LineSink, hc, route, setup};
use hvapi::hcall::*;
use hvapi::irq::{IrqAckListener, IrqInjector};
use xics::{Xics, XicsConfig};

const A: u32 = 0x1300;
const B: u32 = 0x1301;
const C: u32 = 0x1302;
const L: u32 = 0x1200;

fn xirr(x: &Xics, server: u32) -> u32 {
    x.h_xirr(server).unwrap()
}

#[test]
fn non_xics_opcodes_are_not_handled() {
    let (x, _) = setup(1);
    for op in [
        H_CEDE,
        H_PUT_TERM_CHAR,
        H_INT_ESB,
        KVMPPC_H_RTAS,
        0,
        0x78,
        u64::MAX,
    ] {
        assert_eq!(x.hcall(0, op, &[0; 9], 0), None, "opcode {op:#x}");
    }
}

#[test]
fn unconnected_or_unknown_caller_gets_h_hardware() {
    let sink = LineSink::new(4);
    let x = Xics::new(XicsConfig::spapr(2), sink).unwrap();
    x.connect_vcpu(0).unwrap();
    for server in [1, 2, 1000, u32::MAX] {
        for op in [H_XIRR, H_XIRR_X, H_EOI, H_CPPR, H_IPI, H_IPOLL] {
            assert_eq!(
                hc(&x, server, op, &[0, 4]).ret,
                H_HARDWARE,
                "op {op:#x} server {server}"
            );
        }
    }
}

#[test]
fn h_ipi_and_h_ipoll_reject_unknown_targets() {
    let sink = LineSink::new(4);
    let x = Xics::new(XicsConfig::spapr(3), sink).unwrap();
    x.connect_vcpu(0).unwrap();
    x.connect_vcpu(1).unwrap();
    // Server 2 exists but is not connected; 3 is beyond capacity; the last ones overflow u32
    // (no silent truncation to server 0).
    for target in [2u64, 3, 0xFFFF_FFFF, 0x1_0000_0000, u64::MAX] {
        assert_eq!(
            hc(&x, 0, H_IPI, &[target, 4]).ret,
            H_PARAMETER,
            "{target:#x}"
        );
        assert_eq!(
            hc(&x, 0, H_IPOLL, &[target]).ret,
            H_PARAMETER,
            "{target:#x}"
        );
    }
    assert_eq!(hc(&x, 0, H_IPI, &[1, 4]).ret, H_SUCCESS);
    let r = hc(&x, 0, H_IPOLL, &[1]);
    assert_eq!((r.ret, r.nout, r.out[0], r.out[1]), (H_SUCCESS, 2, 0, 4));
}

#[test]
fn h_eoi_of_unknown_source_is_h_parameter_after_the_cppr_update() {
    let (x, _) = setup(1);
    x.claim_irq(A, false).unwrap();
    for xisr in [0u32, 1, 3, 15, 0xFFF, 0x1301, 0x2000, 0xFF_FFFF] {
        x.h_cppr(0, 0).unwrap();
        let r = hc(&x, 0, H_EOI, &[u64::from(0x0500_0000 | xisr)]);
        assert_eq!(r.ret, H_PARAMETER, "xisr {xisr:#x}");
        assert_eq!(
            x.h_ipoll(0, 0).unwrap().0 >> 24,
            5,
            "CPPR restored even on failure"
        );
    }
    // Claimed source and the IPI succeed; bits above 31 of r4 are ignored.
    assert_eq!(hc(&x, 0, H_EOI, &[0xDEAD_0000_FF00_1300]).ret, H_SUCCESS);
    assert_eq!(hc(&x, 0, H_EOI, &[0xFF00_0002]).ret, H_SUCCESS);
}

#[test]
fn h_xirr_x_returns_the_timebase_and_h_xirr_does_not() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    x.set_irq(A, true).unwrap();
    let r = x.hcall(0, H_XIRR_X, &[0xFF; 9], 0x1234_5678_9ABC).unwrap();
    assert_eq!(
        (r.ret, r.nout, r.out[0], r.out[1]),
        (H_SUCCESS, 2, 0xFF00_1300, 0x1234_5678_9ABC)
    );
    let r = x.hcall(0, H_XIRR, &[0xFF; 9], 77).unwrap();
    assert_eq!(
        (r.ret, r.nout, r.out[0]),
        (H_SUCCESS, 1, 0x0500_0000),
        "nothing: CPPR only"
    );
}

#[test]
fn a_new_icp_masks_everything_until_the_guest_opens_cppr() {
    let sink = LineSink::new(1);
    let x = Xics::new(XicsConfig::spapr(1), sink.clone()).unwrap();
    x.connect_vcpu(0).unwrap();
    assert_eq!(
        x.get_icp_state(0).unwrap(),
        0x0000_0000_FFFF_0000,
        "CPPR 0, MFRR/PPRI 0xFF"
    );
    route(&x, A, false, 0, 0);
    x.set_irq(A, true).unwrap();
    assert!(!sink.line(0));
    assert_eq!(xirr(&x, 0), 0);
    x.h_cppr(0, 0xFF).unwrap(); // Linux at CPU bring-up
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    assert!(!sink.line(0), "accept lowers the line");
}

#[test]
fn cppr_masks_interrupts_that_are_not_more_favoured() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    x.h_cppr(0, 5).unwrap();
    x.set_irq(A, true).unwrap();
    assert!(!sink.line(0), "priority 5 is not more favoured than CPPR 5");
    assert_eq!(xirr(&x, 0), 0x0500_0000);
    x.h_cppr(0, 6).unwrap();
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0x0600_1300);
    assert_eq!(
        x.h_ipoll(0, 0).unwrap(),
        (0x0500_0000, 0xFF),
        "CPPR took the priority"
    );
}

#[test]
fn raising_cppr_takes_back_a_presented_interrupt_and_lowering_resends_it() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    x.set_irq(A, true).unwrap();
    assert!(sink.line(0));
    x.h_cppr(0, 5).unwrap();
    assert!(!sink.line(0));
    assert_eq!(x.h_ipoll(0, 0).unwrap().0, 0x0500_0000, "XISR cleared");
    assert_ne!(
        x.get_source_state(A).unwrap() & xics::device::KVM_XICS_PENDING,
        0
    );
    x.h_cppr(0, 0xFF).unwrap();
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
}

#[test]
fn more_favoured_arrival_rejects_and_the_rejected_is_resent_at_eoi() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    route(&x, B, false, 0, 3);
    x.set_irq(A, true).unwrap();
    x.set_irq(B, true).unwrap();
    assert_eq!(x.h_ipoll(0, 0).unwrap().0, 0xFF00_1301, "B displaced A");
    assert_eq!(xirr(&x, 0), 0xFF00_1301);
    assert!(!sink.line(0), "A (5) is not more favoured than CPPR 3");
    x.h_eoi(0, 0xFF00_1301).unwrap();
    assert!(sink.line(0), "EOI lowered CPPR: A resent");
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert!(!sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

#[test]
fn equal_priority_arrival_does_not_displace() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    route(&x, B, false, 0, 5);
    x.set_irq(A, true).unwrap();
    x.set_irq(B, true).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1301);
    x.h_eoi(0, 0xFF00_1301).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

#[test]
fn ipi_is_presented_with_mfrr_priority_as_linux_uses_it() {
    // The sequence of the QEMU smp2 trace: H_IPI(1, 4), target: H_XIRR, H_IPI(self, 0xFF),
    // H_EOI(0xFF000002).
    let (x, sink) = setup(2);
    assert_eq!(hc(&x, 0, H_IPI, &[1, 4]).ret, H_SUCCESS);
    assert!(sink.line(1));
    assert!(!sink.line(0));
    assert_eq!(hc(&x, 1, H_XIRR, &[0xFF]).out[0], 0xFF00_0002);
    assert!(!sink.line(1));
    assert_eq!(x.h_ipoll(1, 1).unwrap(), (0x0400_0000, 4));
    assert_eq!(hc(&x, 1, H_IPI, &[1, 0xFF]).ret, H_SUCCESS);
    assert_eq!(hc(&x, 1, H_EOI, &[0xFF00_0002]).ret, H_SUCCESS);
    assert!(!sink.line(1));
    assert_eq!(x.get_icp_state(1).unwrap(), 0xFF00_0000_FFFF_0000);
}

#[test]
fn ipi_against_device_interrupts() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    route(&x, B, false, 0, 3);
    // IPI at 4 displaces a presented priority-5 interrupt, which is then refused (MFRR 4
    // blocks priorities >= 4) until the IPI is cleared.
    x.set_irq(A, true).unwrap();
    x.h_ipi(0, 0, 4).unwrap();
    assert_eq!(x.h_ipoll(0, 0).unwrap().0, 0xFF00_0002);
    // A priority-3 interrupt beats the IPI (the IPI stays represented by the MFRR).
    x.set_irq(B, true).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1301);
    x.h_eoi(0, 0xFF00_1301).unwrap();
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_0002, "IPI re-presented at EOI");
    x.h_ipi(0, 0, 0xFF).unwrap();
    x.h_eoi(0, 0xFF00_0002).unwrap();
    assert_eq!(
        xirr(&x, 0),
        0xFF00_1300,
        "A resent once the MFRR and CPPR allow it"
    );
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

#[test]
fn ipi_of_equal_priority_displaces_a_device_interrupt() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    x.set_irq(A, true).unwrap();
    x.h_ipi(0, 0, 5).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0002);
    x.h_ipi(0, 0, 0xFF).unwrap();
    x.h_eoi(0, 0xFF00_0002).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
}

#[test]
fn mfrr_not_below_cppr_presents_nothing_until_cppr_drops() {
    let (x, sink) = setup(1);
    x.h_cppr(0, 4).unwrap();
    x.h_ipi(0, 0, 4).unwrap();
    assert!(!sink.line(0));
    x.h_cppr(0, 5).unwrap();
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0x0500_0002);
}

#[test]
fn raising_mfrr_runs_a_resend_pass() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    x.h_ipi(0, 0, 4).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0002); // CPPR 4 now
    x.h_cppr(0, 0xFF).unwrap(); // IPI presented again (MFRR still 4)
    x.set_irq(A, true).unwrap(); // refused: MFRR/PPRI 4
    assert_eq!(x.h_ipoll(0, 0).unwrap().0, 0xFF00_0002);
    x.h_ipi(0, 0, 0xFF).unwrap();
    // KVM and QEMU keep an IPI presented even after its MFRR went away; accepting it is
    // harmless (Linux finds no message) and its EOI resends A.
    assert_eq!(xirr(&x, 0), 0xFF00_0002);
    x.h_eoi(0, 0xFF00_0002).unwrap();
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
}

#[test]
fn cpu_offline_sequence_keeps_every_interrupt() {
    // Linux CPU offline: H_CPPR(0), retarget with set-xive, H_CPPR(5).
    let (x, sink) = setup(2);
    route(&x, A, false, 1, 5);
    route(&x, B, false, 1, 5);
    x.set_irq(A, true).unwrap();
    x.set_irq(B, true).unwrap();
    x.h_cppr(1, 0).unwrap();
    assert!(!sink.line(1));
    x.rtas_set_xive(A, 0, 5).unwrap();
    x.rtas_set_xive(B, 0, 5).unwrap();
    x.h_cppr(1, 5).unwrap();
    assert_eq!(xirr(&x, 1), 0x0500_0000);
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1301);
}

#[test]
fn msi_triggers_coalesce_into_at_most_one_queued_occurrence() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    for _ in 0..3 {
        x.set_irq(A, true).unwrap();
    }
    x.set_irq(A, false).unwrap(); // no-op for an MSI
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    x.set_irq(A, true).unwrap(); // in service: queued (already queued: coalesced)
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(
        xirr(&x, 0),
        0xFF00_1300,
        "queued occurrence delivered after EOI"
    );
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0000, "no third delivery");
}

#[test]
fn masked_msi_is_kept_and_delivered_at_int_on() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    // Linux's mask: int-off, then set-xive(server, 0xFF).
    x.rtas_int_off(A).unwrap();
    x.rtas_set_xive(A, 0, 0xFF).unwrap();
    x.set_irq(A, true).unwrap();
    assert!(!sink.line(0));
    assert_ne!(
        x.get_source_state(A).unwrap() & xics::device::KVM_XICS_PENDING,
        0
    );
    // Unmask: set-xive(server, 5) delivers at once; int-on then has nothing left to do.
    x.rtas_set_xive(A, 0, 5).unwrap();
    assert!(sink.line(0));
    x.rtas_int_on(A).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

#[test]
fn int_on_delivers_a_masked_pending_msi() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    x.rtas_int_off(A).unwrap();
    x.set_irq(A, true).unwrap();
    assert!(!sink.line(0));
    x.rtas_int_on(A).unwrap();
    assert!(sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
}

#[test]
fn lsi_is_re_presented_after_eoi_while_the_line_is_high() {
    let (x, sink) = setup(1);
    route(&x, L, true, 0, 5);
    x.set_irq(L, true).unwrap();
    x.set_irq(L, true).unwrap(); // still high: nothing new
    assert_eq!(xirr(&x, 0), 0xFF00_1200);
    x.h_eoi(0, 0xFF00_1200).unwrap();
    assert!(sink.line(0), "line still high: presented again");
    assert_eq!(xirr(&x, 0), 0xFF00_1200);
    x.set_irq(L, false).unwrap();
    x.h_eoi(0, 0xFF00_1200).unwrap();
    assert!(!sink.line(0));
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

/// An LSI has one occurrence in flight at a time (QEMU's SENT): an edge while it is
/// presented, even followed by a retarget, does not present it on another server; the EOI
/// re-presents it (at the new target) because the line is high.
#[test]
fn lsi_re_raised_while_presented_is_presented_once() {
    let (x, sink) = setup(3);
    route(&x, L, true, 0, 4);
    x.set_irq(L, true).unwrap();
    x.set_irq(L, false).unwrap(); // still presented on server 0 (no retraction)
    x.set_irq(L, true).unwrap();
    x.rtas_set_xive(L, 2, 3).unwrap();
    assert_eq!(sink.snapshot(), [true, false, false], "not presented twice");
    assert_eq!(xirr(&x, 0), 0xFF00_1200);
    assert_eq!(xirr(&x, 2), 0xFF00_0000);
    x.h_eoi(0, 0xFF00_1200).unwrap();
    assert_eq!(
        sink.snapshot(),
        [false, false, true],
        "line high: next one at the target"
    );
    assert_eq!(xirr(&x, 2), 0xFF00_1200);
    x.set_irq(L, false).unwrap();
    x.h_eoi(2, 0xFF00_1200).unwrap();
    assert_eq!(sink.snapshot(), [false; 3]);
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
    assert_eq!(xirr(&x, 2), 0xFF00_0000);
}

/// An edge while the LSI is in service waits for the EOI; a CPPR relaxation in between
/// (the CPPR half of that EOI) does not present it early.
#[test]
fn lsi_re_raised_while_in_service_waits_for_its_eoi() {
    let (x, sink) = setup(2);
    route(&x, L, true, 1, 4);
    x.set_irq(L, true).unwrap();
    assert_eq!(xirr(&x, 1), 0xFF00_1200);
    x.set_irq(L, false).unwrap();
    x.set_irq(L, true).unwrap();
    x.h_cppr(1, 3).unwrap();
    x.h_cppr(1, 0xFF).unwrap();
    assert!(!sink.line(1), "in service: not presented again yet");
    x.h_eoi(1, 0xFF00_1200).unwrap();
    assert_eq!(xirr(&x, 1), 0xFF00_1200, "line high at the EOI: once more");
    x.set_irq(L, false).unwrap();
    x.h_eoi(1, 0xFF00_1200).unwrap();
    assert_eq!(xirr(&x, 1), 0xFF00_0000, "and no more");
}

/// An LSI taken back from an XISR (here by a more favoured CPPR) is no longer in flight:
/// it is kept for the resend pass while its line is high.
#[test]
fn lsi_taken_back_from_xisr_is_resent_while_high() {
    let (x, sink) = setup(1);
    route(&x, L, true, 0, 5);
    x.set_irq(L, true).unwrap();
    x.h_cppr(0, 5).unwrap(); // taken back, refused
    assert!(!sink.line(0));
    x.h_cppr(0, 0xFF).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1200);
    x.set_irq(L, false).unwrap();
    x.h_eoi(0, 0xFF00_1200).unwrap();
    x.h_cppr(0, 5).unwrap();
    x.h_cppr(0, 0xFF).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

#[test]
fn lsi_lowered_while_refused_is_not_presented_later() {
    let (x, _) = setup(1);
    route(&x, L, true, 0, 5);
    x.h_cppr(0, 5).unwrap();
    x.set_irq(L, true).unwrap();
    x.set_irq(L, false).unwrap();
    x.h_cppr(0, 0xFF).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_0000);
}

#[test]
fn ack_listener_hears_lsi_eois_only() {
    let log = Arc::new(AckLog::default());
    let sink = LineSink::new(1);
    let cfg = XicsConfig {
        ack_listener: Some(log.clone()),
        ..XicsConfig::spapr(1)
    };
    let x = Xics::new(cfg, sink).unwrap();
    x.connect_vcpu(0).unwrap();
    x.h_cppr(0, 0xFF).unwrap();
    route(&x, L, true, 0, 5);
    route(&x, A, false, 0, 5);
    x.set_irq(L, true).unwrap();
    x.set_irq(A, true).unwrap();
    let first = xirr(&x, 0);
    x.h_eoi(0, 0xFF00_0000 | (first & 0xFF_FFFF)).unwrap();
    let second = xirr(&x, 0);
    x.h_eoi(0, 0xFF00_0000 | (second & 0xFF_FFFF)).unwrap();
    assert_eq!(*log.eois.lock(), vec![L]);
}

/// A resampling irqfd: on EOI it lowers the line (re-entering the controller) and the
/// device raises it again only if it still has work.
struct Resampler {
    x: std::sync::OnceLock<std::sync::Weak<Xics>>,
    still_pending: std::sync::atomic::AtomicBool,
}

impl IrqAckListener for Resampler {
    fn lsi_eoi(&self, irq: u32) {
        let x = self.x.get().and_then(|w| w.upgrade()).unwrap();
        x.set_irq(irq, false).unwrap();
        if self.still_pending.load(std::sync::atomic::Ordering::SeqCst) {
            x.set_irq(irq, true).unwrap();
        }
    }
}

#[test]
fn resampling_listener_may_reenter_and_decides_re_presentation() {
    let rs = Arc::new(Resampler {
        x: Default::default(),
        still_pending: std::sync::atomic::AtomicBool::new(true),
    });
    let sink = LineSink::new(1);
    let cfg = XicsConfig {
        ack_listener: Some(rs.clone()),
        ..XicsConfig::spapr(1)
    };
    let x = Arc::new(Xics::new(cfg, sink.clone()).unwrap());
    rs.x.set(Arc::downgrade(&x)).unwrap();
    x.connect_vcpu(0).unwrap();
    x.h_cppr(0, 0xFF).unwrap();
    route(&x, L, true, 0, 5);
    x.set_irq(L, true).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1200);
    x.h_eoi(0, 0xFF00_1200).unwrap();
    assert_eq!(
        xirr(&x, 0),
        0xFF00_1200,
        "device still pending: presented again"
    );
    rs.still_pending
        .store(false, std::sync::atomic::Ordering::SeqCst);
    x.h_eoi(0, 0xFF00_1200).unwrap();
    assert!(!sink.line(0));
    assert_eq!(
        xirr(&x, 0),
        0xFF00_0000,
        "line lowered by the resampler: no spurious one"
    );
}

#[test]
fn eoi_with_more_favoured_cppr_takes_back_the_presented_interrupt() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    route(&x, B, false, 0, 5);
    x.set_irq(A, true).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
    x.set_irq(B, true).unwrap(); // refused (CPPR 5)
    x.h_cppr(0, 6).unwrap(); // B presented
    assert!(sink.line(0));
    // EOI restoring CPPR 0 (kexec does this): B must not be lost.
    x.h_eoi(0, 0x0000_1300).unwrap();
    assert!(!sink.line(0));
    x.h_cppr(0, 0xFF).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1301);
}

#[test]
fn kexec_teardown_sequence() {
    let (x, sink) = setup(1);
    x.h_ipi(0, 0, 4).unwrap();
    x.h_cppr(0, 0).unwrap();
    x.h_ipi(0, 0, 0xFF).unwrap();
    x.h_eoi(0, 0x0000_0002).unwrap();
    assert!(!sink.line(0));
    assert_eq!(x.get_icp_state(0).unwrap(), 0x0000_0000_FFFF_0000);
}

#[test]
fn disconnected_server_keeps_interrupts_for_reconnect_or_retarget() {
    let (x, sink) = setup(2);
    route(&x, A, false, 1, 5);
    route(&x, B, false, 1, 5);
    x.set_irq(A, true).unwrap(); // presented on 1
    x.disconnect_vcpu(1).unwrap();
    assert!(!sink.line(1));
    x.set_irq(B, true).unwrap(); // server absent: kept
    x.connect_vcpu(1).unwrap();
    assert_eq!(xirr(&x, 1), 0);
    x.h_cppr(1, 0xFF).unwrap();
    assert_eq!(xirr(&x, 1), 0xFF00_1300);
    x.h_eoi(1, 0xFF00_1300).unwrap();
    assert_eq!(xirr(&x, 1), 0xFF00_1301);
    // Retarget while absent.
    x.h_eoi(1, 0xFF00_1301).unwrap();
    x.disconnect_vcpu(1).unwrap();
    x.set_irq(C, true).unwrap_err(); // not claimed
    route(&x, C, false, 0, 5);
    x.rtas_int_off(A).unwrap();
    x.set_irq(A, true).unwrap();
    assert_eq!(
        x.rtas_set_xive(A, 1, 5),
        Err(xics::RtasStatus::ParameterError)
    );
    x.rtas_set_xive(A, 0, 5).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1300);
}

#[test]
fn h_cppr_uses_the_low_byte_and_equal_cppr_is_a_no_op() {
    let (x, _) = setup(1);
    assert_eq!(hc(&x, 0, H_CPPR, &[0xABCD_0005]).ret, H_SUCCESS);
    assert_eq!(x.h_ipoll(0, 0).unwrap().0, 0x0500_0000);
    assert_eq!(hc(&x, 0, H_CPPR, &[5]).ret, H_SUCCESS);
    assert_eq!(x.h_ipoll(0, 0).unwrap().0, 0x0500_0000);
}

#[test]
fn h_ipoll_does_not_accept() {
    let (x, sink) = setup(2);
    route(&x, A, false, 1, 5);
    x.set_irq(A, true).unwrap();
    let r = hc(&x, 0, H_IPOLL, &[1]);
    assert_eq!((r.out[0], r.out[1]), (0xFF00_1300, 0xFF));
    assert!(sink.line(1));
    assert_eq!(xirr(&x, 1), 0xFF00_1300);
}

#[test]
fn injecting_into_unclaimed_or_out_of_range_sources_fails() {
    let (x, _) = setup(1);
    for irq in [0, 2, 15, 0xFFF, 0x1000, 0x2000, u32::MAX] {
        assert!(x.set_irq(irq, true).is_err(), "{irq:#x}");
    }
    x.claim_irq(0x1000, true).unwrap();
    x.set_irq(0x1000, true).unwrap();
    x.free_irq(0x1000).unwrap();
    assert!(x.set_irq(0x1000, true).is_err());
}

/// Captures the state from inside the EOI of an LSI (the listener runs between the two
/// halves of H_EOI): the capture must be refused until the EOI has completed.
struct CaptureInside {
    x: std::sync::OnceLock<std::sync::Weak<Xics>>,
    refused: std::sync::atomic::AtomicU32,
}

impl IrqAckListener for CaptureInside {
    fn lsi_eoi(&self, _irq: u32) {
        let x = self.x.get().and_then(|w| w.upgrade()).unwrap();
        if x.try_save().is_none() {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[test]
fn capture_is_refused_inside_an_eoi() {
    let hook = Arc::new(CaptureInside {
        x: Default::default(),
        refused: Default::default(),
    });
    let sink = LineSink::new(1);
    let cfg = XicsConfig {
        ack_listener: Some(hook.clone()),
        ..XicsConfig::spapr(1)
    };
    let x = Arc::new(Xics::new(cfg, sink).unwrap());
    hook.x.set(Arc::downgrade(&x)).unwrap();
    x.connect_vcpu(0).unwrap();
    x.h_cppr(0, 0xFF).unwrap();
    route(&x, L, true, 0, 5);
    x.set_irq(L, true).unwrap();
    assert_eq!(xirr(&x, 0), 0xFF00_1200);
    x.h_eoi(0, 0xFF00_1200).unwrap();
    assert_eq!(hook.refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    let st = x.try_save().expect("no operation in flight");
    assert_eq!(
        st.icps[0].xisr, L,
        "still-high LSI re-presented after the EOI"
    );
}
