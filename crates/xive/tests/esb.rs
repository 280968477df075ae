//! ESB MMIO: PQ transitions for every load/store offset range, both pages, MSI and LSI.

mod common;

use std::sync::Arc;

use common::*;
use hvapi::device::DeviceAttrs;
use hvapi::irq::IrqInjector;
use xive::XiveConfig;
use xive::device::KVM_DEV_XIVE_GRP_SOURCE;

const L: u32 = 0x1000;

/// Spec model of the transitions (§3.2, §3.3, §3.6): (new PQ, forwarded).
fn trig(lsi: bool, pq: u8) -> (u8, bool) {
    match (lsi, pq) {
        (_, 0) => (2, true),
        (false, 1) => (1, false),
        (false, _) => (3, false),
        (true, p) => (p, false),
    }
}
fn eoi(lsi: bool, asserted: bool, pq: u8) -> (u8, bool) {
    match (lsi, pq) {
        (_, 1) => (1, false),
        (false, 3) => (2, true),
        (false, _) => (0, false),
        (true, _) if asserted => (2, true),
        (true, _) => (0, false),
    }
}
fn set(lsi: bool, asserted: bool, to: u8) -> (u8, bool) {
    if lsi && asserted && to == 0 {
        (2, true)
    } else {
        (to, false)
    }
}

/// (value, new PQ, forwarded) of a management-page load.
fn expect_load(lsi: bool, asserted: bool, pq: u8, off: u64) -> (u64, u8, bool) {
    match off {
        0x000..=0x7FF => {
            let (n, f) = eoi(lsi, asserted, pq);
            (u64::from(f), n, f)
        }
        0x800..=0xBFF => (u64::from(pq), pq, false),
        _ => {
            let (n, f) = set(lsi, asserted, ((off >> 8) & 3) as u8);
            (u64::from(pq), n, f)
        }
    }
}

/// (new PQ, forwarded) of a management-page store (StoreEOI disabled); None = invalid.
fn expect_store(lsi: bool, asserted: bool, pq: u8, off: u64) -> Option<(u8, bool)> {
    match off {
        0x000..=0x3FF => Some(trig(lsi, pq)),
        0x400..=0xBFF => None,
        _ => Some(set(lsi, asserted, ((off >> 8) & 3) as u8)),
    }
}

const LOAD_OFFS: &[u64] = &[
    0x000, 0x008, 0x3F8, 0x400, 0x7F8, 0x800, 0xBF8, 0xC00, 0xCF8, 0xD00, 0xDF8, 0xE00, 0xE40,
    0xEF8, 0xF00, 0xFF8,
];

struct Case {
    e: Env,
    q: GuestQueue,
}

/// A source at L in state (lsi, asserted, pq), routed to server 0 with CPPR 0xFF.
fn case(lsi: bool, asserted: bool, pq: u8) -> Case {
    let e = env(1);
    let q = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    let v = u64::from(lsi) | (u64::from(asserted) << 1);
    e.x.set_attr(KVM_DEV_XIVE_GRP_SOURCE, u64::from(L), &v.to_ne_bytes())
        .unwrap();
    let r = hc(
        &e.x,
        hvapi::hcall::H_INT_SET_SOURCE_CONFIG,
        &[2, u64::from(L), 0, PRIO, 0x77],
    );
    assert_eq!(r.ret, 0);
    set_cppr(&e.x, 0, 0xFF);
    // Move PQ from 01 to `pq` through the management page (no forward for these states).
    esb_load(&e.x, L, 0xC00 + (u64::from(pq) << 8));
    assert_eq!(e.x.source_pq(L), Some(pq));
    Case { e, q }
}

fn states() -> Vec<(bool, bool, u8)> {
    let mut v = Vec::new();
    for pq in 0..4 {
        v.push((false, false, pq));
        v.push((true, false, pq));
        if pq != 0 {
            // An asserted LSI cannot rest in PQ=00: it fires at once.
            v.push((true, true, pq));
        }
    }
    v
}

#[test]
fn management_page_loads() {
    for (lsi, asserted, pq) in states() {
        for &off in LOAD_OFFS {
            let mut c = case(lsi, asserted, pq);
            let (val, npq, fwd) = expect_load(lsi, asserted, pq, off);
            let got = esb_load(&c.e.x, L, off);
            let ctx = format!("lsi={lsi} asserted={asserted} pq={pq:02b} off={off:#x}");
            assert_eq!(got, val, "value {ctx}");
            assert_eq!(c.e.x.source_pq(L), Some(npq), "PQ {ctx}");
            let n = c.q.drain(&c.e.mem);
            assert_eq!(n, if fwd { vec![0x77] } else { vec![] }, "forward {ctx}");
            assert_eq!(c.e.sink.line(0), fwd, "line {ctx}");
        }
    }
}

#[test]
fn management_page_stores() {
    for (lsi, asserted, pq) in states() {
        for &off in LOAD_OFFS {
            let mut c = case(lsi, asserted, pq);
            let ctx = format!("lsi={lsi} asserted={asserted} pq={pq:02b} off={off:#x}");
            c.e.x.esb_write(
                esb_offset(L, true) + off,
                &0x0123_4567_89AB_CDEFu64.to_be_bytes(),
            );
            let (npq, fwd) = expect_store(lsi, asserted, pq, off).unwrap_or((pq, false));
            assert_eq!(c.e.x.source_pq(L), Some(npq), "PQ {ctx}");
            let n = c.q.drain(&c.e.mem);
            assert_eq!(n, if fwd { vec![0x77] } else { vec![] }, "forward {ctx}");
        }
    }
}

#[test]
fn trigger_page() {
    for (lsi, asserted, pq) in states() {
        for off in [0u64, 0x400, 0x800, 0xC00, 0xF00, 0x1000, 0xFFF8] {
            let mut c = case(lsi, asserted, pq);
            let ctx = format!("lsi={lsi} pq={pq:02b} off={off:#x}");
            // Loads are invalid: all-ones, no change.
            let mut d = [0u8; 8];
            c.e.x.esb_read(esb_offset(L, false) + off, &mut d);
            assert_eq!(d, [0xFF; 8], "{ctx}");
            assert_eq!(c.e.x.source_pq(L), Some(pq), "{ctx}");
            // Any store triggers.
            c.e.x.esb_write(esb_offset(L, false) + off, &[0xAA; 8]);
            let (npq, fwd) = trig(lsi, pq);
            assert_eq!(c.e.x.source_pq(L), Some(npq), "{ctx}");
            assert_eq!(c.q.drain(&c.e.mem).len(), usize::from(fwd), "{ctx}");
        }
    }
}

#[test]
fn high_offsets_alias_within_the_page() {
    // Only the low 12 bits of the page offset are decoded.
    let c = case(false, false, 0b10);
    assert_eq!(esb_load(&c.e.x, L, 0x5800), 2);
    assert_eq!(esb_load(&c.e.x, L, 0xFD00), 2);
    assert_eq!(c.e.x.source_pq(L), Some(1));
}

#[test]
fn bad_sizes_offsets_and_sources() {
    let c = case(false, false, 0b10);
    for size in [1usize, 2, 4, 16, 0] {
        let mut d = vec![0u8; size];
        c.e.x.esb_read(esb_offset(L, true) + 0xC00, &mut d);
        assert!(d.iter().all(|&b| b == 0xFF), "size {size}");
        c.e.x.esb_write(esb_offset(L, true) + 0xC00, &d);
        c.e.x.esb_write(esb_offset(L, false), &d);
        assert_eq!(c.e.x.source_pq(L), Some(2), "size {size}");
    }
    let mut d = [0u8; 8];
    // Unclaimed source, beyond the region, far beyond.
    for off in [esb_offset(0x1001, true), 0x2000u64 << 17, u64::MAX - 7] {
        c.e.x.esb_read(off.wrapping_add(0x800), &mut d);
        assert_eq!(d, [0xFF; 8]);
        c.e.x.esb_write(off, &d);
    }
}

#[test]
fn store_eoi_when_enabled() {
    let cfg = XiveConfig {
        store_eoi: true,
        ..XiveConfig::qemu_default(1)
    };
    let mut e = env_cfg(cfg);
    let mut q = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    e.x.claim(L, false).unwrap();
    route(&e.x, L, 0, 5);
    set_cppr(&e.x, 0, 0xFF);
    esb_store(&e.x, L, 0, false);
    esb_store(&e.x, L, 0, false);
    assert_eq!(e.x.source_pq(L), Some(3));
    assert_eq!(q.drain(&e.mem), vec![5]);
    // StoreEOI at 0x400 with Q set re-forwards.
    esb_store(&e.x, L, 0x400, true);
    assert_eq!(e.x.source_pq(L), Some(2));
    assert_eq!(q.drain(&e.mem), vec![5]);
    esb_store(&e.x, L, 0x7F8, true);
    assert_eq!(e.x.source_pq(L), Some(0));
    e.sink.clear_calls();
    let _ = &mut e;
}

#[test]
fn one_page_mode() {
    let cfg = XiveConfig {
        esb_shift: 16,
        ..XiveConfig::qemu_default(1)
    };
    let e = env_cfg(cfg);
    let mut q = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    e.x.claim(L, false).unwrap();
    let base = u64::from(L) << 16;
    let mut d = [0u8; 8];
    e.x.esb_read(base + 0xC00, &mut d);
    assert_eq!(u64::from_be_bytes(d), 1);
    hc(
        &e.x,
        hvapi::hcall::H_INT_SET_SOURCE_CONFIG,
        &[2, u64::from(L), 0, PRIO, 3],
    );
    set_cppr(&e.x, 0, 0xFF);
    // Trigger in 0x000-0x3FF of the single page.
    e.x.esb_write(base + 0x100, &[0; 8]);
    assert_eq!(q.drain(&e.mem), vec![3]);
    e.x.esb_read(base + 0x800, &mut d);
    assert_eq!(u64::from_be_bytes(d), 2);
    // Load EOI.
    e.x.esb_read(base, &mut d);
    assert_eq!(u64::from_be_bytes(d), 0);
    assert_eq!(e.x.source_pq(L), Some(0));
}

#[test]
fn lsi_eoi_reports_to_the_listener() {
    let e = env(1);
    let _q = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    let lis = Arc::new(TestListener::default());
    e.x.set_ack_listener(Some(lis.clone()));
    e.x.claim(L, true).unwrap();
    e.x.claim(L + 1, false).unwrap();
    route(&e.x, L, 0, 1);
    route(&e.x, L + 1, 0, 2);
    e.x.set_irq(L, true).unwrap();
    e.x.set_irq(L + 1, true).unwrap();
    // MSI EOI and SET_PQ loads are not LSI EOIs.
    esb_load(&e.x, L + 1, 0x000);
    esb_load(&e.x, L, 0xC00);
    assert!(lis.eois.lock().is_empty());
    // Load EOI on the LSI (MMIO and H_INT_ESB).
    esb_load(&e.x, L, 0x000);
    assert_eq!(*lis.eois.lock(), vec![L]);
    hc(&e.x, hvapi::hcall::H_INT_ESB, &[0, u64::from(L), 0, 0]);
    assert_eq!(*lis.eois.lock(), vec![L, L]);
    e.x.set_ack_listener(None);
    esb_load(&e.x, L, 0x000);
    assert_eq!(lis.eois.lock().len(), 2);
}

#[test]
fn lsi_level_semantics_through_set_irq() {
    let e = env(1);
    let mut q = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    e.x.claim(L, true).unwrap();
    set_cppr(&e.x, 0, 0xFF);
    hc(
        &e.x,
        hvapi::hcall::H_INT_SET_SOURCE_CONFIG,
        &[2, u64::from(L), 0, PRIO, 9],
    );
    // Asserted while off: remembered, not forwarded.
    e.x.set_irq(L, true).unwrap();
    assert!(q.drain(&e.mem).is_empty());
    // Enabling an asserted LSI fires it.
    assert_eq!(esb_load(&e.x, L, 0xC00), 1);
    assert_eq!(q.drain(&e.mem), vec![9]);
    // Re-asserting while pending does nothing (no Q for LSIs).
    e.x.set_irq(L, true).unwrap();
    assert_eq!(e.x.source_pq(L), Some(2));
    // EOI while still asserted: re-forwarded.
    assert_eq!(
        hc(&e.x, hvapi::hcall::H_INT_ESB, &[0, u64::from(L), 0, 0]).out[0],
        1
    );
    assert_eq!(q.drain(&e.mem), vec![9]);
    e.x.set_irq(L, false).unwrap();
    assert_eq!(
        hc(&e.x, hvapi::hcall::H_INT_ESB, &[0, u64::from(L), 0, 0]).out[0],
        0
    );
    assert!(q.drain(&e.mem).is_empty());
    assert_eq!(e.x.source_pq(L), Some(0));
    // MSI level=false is a no-op; unknown sources are reported.
    e.x.claim(L + 1, false).unwrap();
    e.x.set_irq(L + 1, false).unwrap();
    assert_eq!(e.x.source_pq(L + 1), Some(1));
    assert!(e.x.set_irq(0x1FFF, true).is_err());
    assert!(e.x.set_irq(u32::MAX, true).is_err());
}
