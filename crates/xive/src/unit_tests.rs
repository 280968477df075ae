//! Unit tests of the building blocks (PQ state machine, presenter arithmetic).

use crate::source::{PQ_OFF, PQ_PENDING, PQ_QUEUED, PQ_RESET, SourceTable};
use crate::tctx::{self, Tctx, ipb_to_pipr, prio_to_ipb};

fn table_with(lsi: bool, pq: u8, asserted: bool) -> SourceTable {
    let mut t = SourceTable::new(128);
    t.claim_with(5, lsi, asserted, pq, 0).unwrap();
    t
}

#[test]
fn msi_trigger_table() {
    // (from, to, forwarded) per §3.2.
    for (from, to, fwd) in [
        (PQ_RESET, PQ_PENDING, true),
        (PQ_OFF, PQ_OFF, false),
        (PQ_PENDING, PQ_QUEUED, false),
        (PQ_QUEUED, PQ_QUEUED, false),
    ] {
        let t = table_with(false, from, false);
        let s = t.get(5).unwrap();
        assert_eq!(s.trigger(), fwd, "trigger from {from:02b}");
        assert_eq!(s.pq(), to, "trigger from {from:02b}");
    }
}

#[test]
fn msi_eoi_table() {
    for (from, to, fwd) in [
        (PQ_RESET, PQ_RESET, false),
        (PQ_OFF, PQ_OFF, false),
        (PQ_PENDING, PQ_RESET, false),
        (PQ_QUEUED, PQ_PENDING, true),
    ] {
        let t = table_with(false, from, false);
        let s = t.get(5).unwrap();
        assert_eq!(s.eoi(), fwd, "eoi from {from:02b}");
        assert_eq!(s.pq(), to, "eoi from {from:02b}");
    }
}

#[test]
fn lsi_trigger_never_sets_q() {
    for (from, to, fwd) in [
        (PQ_RESET, PQ_PENDING, true),
        (PQ_OFF, PQ_OFF, false),
        (PQ_PENDING, PQ_PENDING, false),
        (PQ_QUEUED, PQ_QUEUED, false),
    ] {
        let t = table_with(true, from, false);
        let s = t.get(5).unwrap();
        assert_eq!(s.set_level(true), fwd, "assert from {from:02b}");
        assert_eq!(s.pq(), to);
        assert!(s.asserted());
        assert!(!s.set_level(false));
        assert!(!s.asserted());
        assert_eq!(s.pq(), to, "deassert keeps PQ");
    }
}

#[test]
fn lsi_eoi_retriggers_while_asserted() {
    let t = table_with(true, PQ_PENDING, true);
    let s = t.get(5).unwrap();
    assert!(s.eoi());
    assert_eq!(s.pq(), PQ_PENDING);
    s.set_level(false);
    assert!(!s.eoi());
    assert_eq!(s.pq(), PQ_RESET);
    let t = table_with(true, PQ_OFF, true);
    assert!(!t.get(5).unwrap().eoi());
    assert_eq!(t.get(5).unwrap().pq(), PQ_OFF);
}

#[test]
fn sparse_table_allocates_chunks_on_demand() {
    let mut t = SourceTable::new(1 << 20);
    assert_eq!(t.allocated_chunks(), 0);
    t.claim_with(0x1000, false, false, PQ_OFF, 0).unwrap();
    t.claim_with(0x1001, false, false, PQ_OFF, 0).unwrap();
    t.claim_with(0xF_FFFF, true, false, PQ_OFF, 0).unwrap();
    assert_eq!(t.allocated_chunks(), 2);
    assert!(t.claim_with(0x1000, false, false, PQ_OFF, 0).is_err());
    assert!(t.claim_with(1 << 20, false, false, PQ_OFF, 0).is_err());
    let lisns: Vec<u32> = t.iter().map(|(l, _)| l).collect();
    assert_eq!(lisns, vec![0x1000, 0x1001, 0xF_FFFF]);
    t.free(0x1000).unwrap();
    assert_eq!(t.allocated_chunks(), 2);
    t.free(0x1001).unwrap();
    assert_eq!(t.allocated_chunks(), 1);
    assert!(t.free(0x1001).is_err());
    assert!(t.get(0x1001).is_none());
}

#[test]
fn ipb_pipr_arithmetic() {
    assert_eq!(ipb_to_pipr(0), 0xFF);
    for p in 0..8u8 {
        assert_eq!(prio_to_ipb(p), 0x80 >> p);
        assert_eq!(ipb_to_pipr(prio_to_ipb(p)), p);
        // Lower-numbered (more favoured) priorities win.
        assert_eq!(ipb_to_pipr(prio_to_ipb(p) | 0x01), p);
    }
    assert_eq!(prio_to_ipb(8), 0);
    assert_eq!(prio_to_ipb(0xFF), 0);
}

#[test]
fn tctx_reset_values_and_accept() {
    let mut tc = Tctx::default();
    tc.reset(3);
    assert_eq!(&tc.regs[..8], &[0, 0, 0, 0xFF, 0xFF, 0, 0xFF, 0xFF]);
    assert_eq!(&tc.regs[8..12], &(0x8000_0000u32 | 0x403).to_be_bytes());
    // CPPR 0 at reset: nothing presented.
    assert!(!tc.post(6));
    assert_eq!(tc.regs[tctx::PIPR], 6);
    assert!(tc.set_cppr(0xFF));
    assert!(tc.line());
    assert!(tc.post(2));
    assert_eq!(
        tc.accept(),
        0x8002,
        "NSR.EO with the new CPPR (= accepted priority)"
    );
    assert_eq!(tc.regs[tctx::CPPR], 2);
    assert_eq!(tc.regs[tctx::IPB], 0x02);
    assert_eq!(tc.regs[tctx::PIPR], 6);
    assert!(!tc.line());
    // Nothing outstanding: ACK returns NSR=0 and the current CPPR.
    assert_eq!(tc.accept(), 0x0002);
}
