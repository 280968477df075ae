//! H_INT_* hypercalls: every error path of the spec (table-driven) and the outputs.

mod common;

use common::*;
use hvapi::hcall::*;
use xive::{DEFAULT_ESB_BASE, XiveConfig};

const MSI: u32 = 0x1000;
const LSI: u32 = 0x1200;
const QPAGE: u64 = 0x10000;

fn setup() -> Env {
    let e = env(2);
    e.x.claim(MSI, false).unwrap();
    e.x.claim(LSI, true).unwrap();
    GuestQueue::setup(&e.x, &e.mem, 0, PRIO, QPAGE, 16);
    e
}

#[test]
fn error_paths() {
    let m = u64::from(MSI);
    let ram_end = MEM_SIZE as u64;
    #[rustfmt::skip]
    let cases: &[(&str, u64, &[u64], i64)] = &[
        ("get_source_info flags", H_INT_GET_SOURCE_INFO, &[1, m], H_PARAMETER),
        ("get_source_info lisn >= nr_irqs", H_INT_GET_SOURCE_INFO, &[0, 0x2000], H_P2),
        ("get_source_info unclaimed lisn", H_INT_GET_SOURCE_INFO, &[0, 0x1500], H_P2),
        ("get_source_info huge lisn", H_INT_GET_SOURCE_INFO, &[0, u64::MAX], H_P2),
        ("set_source_config flags", H_INT_SET_SOURCE_CONFIG, &[4, m, 0, PRIO, 1], H_PARAMETER),
        ("set_source_config flags before lisn", H_INT_SET_SOURCE_CONFIG, &[4, 0x1500, 0, PRIO, 1], H_PARAMETER),
        ("set_source_config bad lisn", H_INT_SET_SOURCE_CONFIG, &[2, 0x1500, 0, PRIO, 1], H_P2),
        ("set_source_config lisn before prio", H_INT_SET_SOURCE_CONFIG, &[2, 0x5000, 0, 7, 1], H_P2),
        ("set_source_config reserved prio 7", H_INT_SET_SOURCE_CONFIG, &[2, m, 0, 7, 1], H_P4),
        ("set_source_config prio 8", H_INT_SET_SOURCE_CONFIG, &[2, m, 0, 8, 1], H_P4),
        ("set_source_config prio 0x106", H_INT_SET_SOURCE_CONFIG, &[2, m, 0, 0x106, 1], H_P4),
        ("set_source_config prio before target", H_INT_SET_SOURCE_CONFIG, &[2, m, 99, 7, 1], H_P4),
        ("set_source_config unknown target", H_INT_SET_SOURCE_CONFIG, &[2, m, 2, PRIO, 1], H_P3),
        ("set_source_config huge target", H_INT_SET_SOURCE_CONFIG, &[2, m, u64::MAX, PRIO, 1], H_P3),
        ("get_source_config flags", H_INT_GET_SOURCE_CONFIG, &[1, m], H_PARAMETER),
        ("get_source_config bad lisn", H_INT_GET_SOURCE_CONFIG, &[0, 0x1FFF], H_P2),
        ("get_queue_info flags", H_INT_GET_QUEUE_INFO, &[1, 0, PRIO], H_PARAMETER),
        ("get_queue_info reserved prio", H_INT_GET_QUEUE_INFO, &[0, 0, 7], H_P3),
        ("get_queue_info prio 0xFF", H_INT_GET_QUEUE_INFO, &[0, 0, 0xFF], H_P3),
        ("get_queue_info prio before target", H_INT_GET_QUEUE_INFO, &[0, 9, 7], H_P3),
        ("get_queue_info unknown target", H_INT_GET_QUEUE_INFO, &[0, 9, PRIO], H_P2),
        ("set_queue_config flags", H_INT_SET_QUEUE_CONFIG, &[2, 0, PRIO, QPAGE, 16], H_PARAMETER),
        ("set_queue_config reserved prio", H_INT_SET_QUEUE_CONFIG, &[1, 0, 7, QPAGE, 16], H_P3),
        ("set_queue_config unknown target", H_INT_SET_QUEUE_CONFIG, &[1, 2, PRIO, QPAGE, 16], H_P2),
        ("set_queue_config misaligned", H_INT_SET_QUEUE_CONFIG, &[1, 0, PRIO, QPAGE + 0x1000, 16], H_P4),
        ("set_queue_config outside RAM", H_INT_SET_QUEUE_CONFIG, &[1, 0, PRIO, ram_end, 16], H_P4),
        ("set_queue_config huge address", H_INT_SET_QUEUE_CONFIG, &[1, 0, PRIO, 0xFFFF_FFFF_FFFF_0000, 16], H_P4),
        ("set_queue_config straddles RAM end", H_INT_SET_QUEUE_CONFIG, &[1, 0, PRIO, ram_end - 0x10_0000, 21], H_P4),
        ("set_queue_config bad size 13", H_INT_SET_QUEUE_CONFIG, &[1, 0, PRIO, QPAGE, 13], H_P5),
        ("set_queue_config bad size 0x110", H_INT_SET_QUEUE_CONFIG, &[1, 0, PRIO, QPAGE, 0x110], H_P5),
        ("get_queue_config flags", H_INT_GET_QUEUE_CONFIG, &[2, 0, PRIO], H_PARAMETER),
        ("get_queue_config reserved prio", H_INT_GET_QUEUE_CONFIG, &[0, 0, 7], H_P3),
        ("get_queue_config unknown target", H_INT_GET_QUEUE_CONFIG, &[0, 7, PRIO], H_P2),
        ("set_os_reporting_line", H_INT_SET_OS_REPORTING_LINE, &[0, 0x1000], H_FUNCTION),
        ("get_os_reporting_line", H_INT_GET_OS_REPORTING_LINE, &[0, 0, 0x1000], H_FUNCTION),
        ("esb flags", H_INT_ESB, &[2, m, 0xC00, 0], H_PARAMETER),
        ("esb bad lisn", H_INT_ESB, &[0, 0x1234, 0xC00, 0], H_P2),
        ("esb offset too large", H_INT_ESB, &[0, m, (1 << 17) + 1, 0], H_P3),
        ("esb access lands on an unclaimed source", H_INT_ESB, &[0, m, 1 << 17, 0], H_HARDWARE),
        ("sync flags", H_INT_SYNC, &[1, m], H_PARAMETER),
        ("sync bad lisn", H_INT_SYNC, &[0, 0x3000], H_P2),
        ("reset flags", H_INT_RESET, &[1], H_PARAMETER),
    ];
    for (name, op, args, want) in cases {
        let e = setup();
        let r = hc(&e.x, *op, args);
        assert_eq!(r.ret, *want, "{name}");
        assert_eq!(r.nout, 0, "{name}: no outputs on error");
    }
}

#[test]
fn h_int_esb_invalid_operation_behaves_like_the_mmio_access() {
    // As in QEMU, H_INT_ESB performs the access on the management page: an operation the
    // page does not support is ignored (store) or reads all-ones (load), and the call
    // succeeds; only an access that reaches no claimed source fails.
    let e = setup();
    let m = u64::from(MSI);
    esb_load(&e.x, MSI, 0xC00);
    let r = hc(&e.x, H_INT_ESB, &[1, m, 0x400, 0]);
    assert_eq!(
        (r.ret, r.out[0]),
        (H_SUCCESS, u64::MAX),
        "StoreEOI without StoreEOI"
    );
    assert_eq!(esb_load(&e.x, MSI, 0x800), 0, "PQ unchanged");
    let r = hc(&e.x, H_INT_ESB, &[0, m, 1 << 16, 0]);
    assert_eq!(r.ret, H_HARDWARE, "next LISN (unclaimed) trigger page");
    e.x.claim(MSI + 1, false).unwrap();
    let r = hc(&e.x, H_INT_ESB, &[0, m, 1 << 16, 0]);
    assert_eq!(
        (r.ret, r.out[0]),
        (H_SUCCESS, u64::MAX),
        "load from a trigger page"
    );
}

#[test]
fn failed_set_source_config_changes_nothing() {
    let e = setup();
    route(&e.x, MSI, 1, 0x42);
    for args in [
        [2, u64::from(MSI), 0, 7, 9],
        [3, u64::from(MSI), 5, PRIO, 9],
    ] {
        assert_ne!(hc(&e.x, H_INT_SET_SOURCE_CONFIG, &args).ret, H_SUCCESS);
        let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, u64::from(MSI)]);
        assert_eq!(&r.out[..3], &[1, PRIO, 0x42]);
    }
}

#[test]
fn not_an_int_hcall() {
    let e = setup();
    assert!(e.x.hcall(0, H_CEDE, &[0; 9]).is_none());
    assert!(e.x.hcall(0, H_XIRR, &[0; 9]).is_none());
    assert!(e.x.hcall(0, 0x3D4, &[0; 9]).is_none());
}

#[test]
fn get_source_info_msi_and_lsi() {
    let e = setup();
    let r = hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, u64::from(MSI)]);
    assert_eq!(r.ret, H_SUCCESS);
    assert_eq!(r.nout, 4);
    let base = DEFAULT_ESB_BASE + (u64::from(MSI) << 17);
    assert_eq!(&r.out[..4], &[0, base + 0x10000, base, 16]);
    // IPIs are pre-claimed MSIs.
    let r = hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 1]);
    assert_eq!(
        &r.out[..4],
        &[
            0,
            DEFAULT_ESB_BASE + (1 << 17) + 0x10000,
            DEFAULT_ESB_BASE + (1 << 17),
            16
        ]
    );
    // LSIs must use H_INT_ESB.
    let r = hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, u64::from(LSI)]);
    assert_eq!(&r.out[..4], &[0xC, u64::MAX, u64::MAX, 16]);
}

#[test]
fn get_source_info_one_page_and_store_eoi() {
    let cfg = XiveConfig {
        esb_shift: 16,
        store_eoi: true,
        ..XiveConfig::qemu_default(1)
    };
    let e = env_cfg(cfg);
    e.x.claim(MSI, false).unwrap();
    let r = hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, u64::from(MSI)]);
    assert_eq!(
        &r.out[..4],
        &[0x3, DEFAULT_ESB_BASE + (u64::from(MSI) << 16), u64::MAX, 16]
    );
    let cfg = XiveConfig {
        esb_shift: 12,
        ..XiveConfig::qemu_default(1)
    };
    let e = env_cfg(cfg);
    let r = hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 0]);
    assert_eq!(&r.out[..4], &[0x2, DEFAULT_ESB_BASE, u64::MAX, 12]);
    let cfg = XiveConfig {
        esb_shift: 13,
        ..XiveConfig::qemu_default(1)
    };
    let e = env_cfg(cfg);
    let r = hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 0]);
    assert_eq!(
        &r.out[..4],
        &[0, DEFAULT_ESB_BASE + 0x1000, DEFAULT_ESB_BASE, 12]
    );
}

#[test]
fn source_config_round_trip() {
    let e = setup();
    let m = u64::from(MSI);
    // Freshly claimed: EAS valid, not masked, END 0, data 0.
    let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, m]);
    assert_eq!(&r.out[..3], &[0, 0, 0]);
    assert_eq!(r.nout, 3);
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[2, m, 1, 5, 0x1234]).ret,
        H_SUCCESS
    );
    let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, m]);
    assert_eq!(&r.out[..3], &[1, 5, 0x1234]);
    // Without SET_EISN the EISN is kept; MASK reports priority 0xFF.
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[1, m, 0, 3, 0x9999]).ret,
        H_SUCCESS
    );
    let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, m]);
    assert_eq!(&r.out[..3], &[0, 0xFF, 0x1234]);
    // EISN is 31 bits.
    assert_eq!(
        hc(
            &e.x,
            H_INT_SET_SOURCE_CONFIG,
            &[2, m, 0, 3, 0xFFFF_FFFF_FFFF_FFFF]
        )
        .ret,
        H_SUCCESS
    );
    let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, m]);
    assert_eq!(&r.out[..3], &[0, 3, 0x7FFF_FFFF]);
    // Priority 0xFF resets the EAS (masked, END 0, data 0) without looking at the target.
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[0, m, 77, 0xFF, 0]).ret,
        H_SUCCESS
    );
    let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, m]);
    assert_eq!(&r.out[..3], &[0, 0xFF, 0]);
}

#[test]
fn masked_eas_drops_events() {
    let mut e = setup();
    let mut q = GuestQueue {
        qaddr: QPAGE,
        entries: 16384,
        idx: 0,
        toggle: 0,
    };
    route(&e.x, MSI, 0, 0x55);
    let m = u64::from(MSI);
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[3, m, 0, PRIO, 0x55]).ret,
        H_SUCCESS
    );
    use hvapi::irq::IrqInjector;
    e.x.set_irq(MSI, true).unwrap();
    assert!(q.drain(&e.mem).is_empty());
    // The source state still moved (PQ=10): it stays blocked until EOI.
    assert_eq!(e.x.source_pq(MSI), Some(xive::PQ_PENDING));
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[2, m, 0, PRIO, 0x55]).ret,
        H_SUCCESS
    );
    esb_load(&e.x, MSI, 0xC00);
    e.x.set_irq(MSI, true).unwrap();
    assert_eq!(q.drain(&e.mem), vec![0x55]);
    e.sink.clear_calls();
    let _ = &mut e;
}

#[test]
fn queue_info_and_config_outputs() {
    let e = env(2);
    let end_base = DEFAULT_ESB_BASE + (0x2000u64 << 17);
    let r = hc(&e.x, H_INT_GET_QUEUE_INFO, &[0, 1, PRIO]);
    assert_eq!(r.ret, H_SUCCESS);
    // Two 64 KiB END ESB pages per END (QEMU's stride).
    assert_eq!(&r.out[..2], &[end_base + (((1 << 3) + PRIO) << 17), 0]);
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[0, 1, PRIO]);
    assert_eq!(&r.out[..4], &[0, 0, 0, 0]);
    assert_eq!(r.nout, 4);
    GuestQueue::setup(&e.x, &e.mem, 1, PRIO, 0x20000, 16);
    let r = hc(&e.x, H_INT_GET_QUEUE_INFO, &[0, 1, PRIO]);
    assert_eq!(r.out[1], 16);
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[0, 1, PRIO]);
    assert_eq!(&r.out[..4], &[1, 0x20000, 16, 0]);
    // DEBUG: generation (1 after configuration) and index.
    e.x.claim(MSI, false).unwrap();
    route(&e.x, MSI, 1, 7);
    esb_store(&e.x, MSI, 0, false);
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[1, 1, PRIO]);
    assert_eq!(&r.out[..4], &[1 | 2, 0x20000, 16, 1]);
    // Without ALWAYS_NOTIFY.
    assert_eq!(
        hc(&e.x, H_INT_SET_QUEUE_CONFIG, &[0, 1, 3, 0x30000, 12]).ret,
        H_SUCCESS
    );
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[1, 1, 3]);
    assert_eq!(&r.out[..4], &[2, 0x30000, 12, 0]);
    // qshift 0 resets the queue, whatever the page.
    assert_eq!(
        hc(&e.x, H_INT_SET_QUEUE_CONFIG, &[0, 1, PRIO, 0xdead_beef, 0]).ret,
        H_SUCCESS
    );
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[1, 1, PRIO]);
    assert_eq!(&r.out[..4], &[0, 0, 0, 0]);
    // All accepted sizes.
    for (qs, qp) in [(12u64, 0x1000u64), (16, 0x10000), (21, 0x200000)] {
        assert_eq!(
            hc(&e.x, H_INT_SET_QUEUE_CONFIG, &[1, 0, 0, qp, qs]).ret,
            H_SUCCESS,
            "qshift {qs}"
        );
    }
}

#[test]
fn h_int_esb_load_and_store() {
    let e = setup();
    let l = u64::from(LSI);
    // PQ=01 after claim; SET_PQ_00 via the hcall returns the old value.
    let r = hc(&e.x, H_INT_ESB, &[0, l, 0xC00, 0]);
    assert_eq!((r.ret, r.out[0], r.nout), (H_SUCCESS, 1, 1));
    let r = hc(&e.x, H_INT_ESB, &[0, l, 0x800, 0]);
    assert_eq!(r.out[0], 0);
    // Store: output is -1. SET_PQ_11 then read back.
    let r = hc(&e.x, H_INT_ESB, &[1, l, 0xF00, 0x1234]);
    assert_eq!((r.ret, r.out[0]), (H_SUCCESS, u64::MAX));
    assert_eq!(e.x.source_pq(LSI), Some(xive::PQ_QUEUED));
    // Offset exactly 1 << esb_shift is accepted (QEMU's check is `>`).
    e.x.claim(LSI + 1, true).unwrap();
    let r = hc(&e.x, H_INT_ESB, &[0, l, 1 << 17 | 0x800, 0]);
    assert_eq!(r.ret, H_P3);
    let r = hc(&e.x, H_INT_ESB, &[0, l, 1 << 17, 0]);
    assert_eq!(
        r.ret, H_SUCCESS,
        "load EOI on the next source's management page"
    );
}

#[test]
fn h_int_reset_masks_everything() {
    let e = setup();
    route(&e.x, MSI, 0, 9);
    assert_eq!(hc(&e.x, H_INT_RESET, &[0]).ret, H_SUCCESS);
    let m = u64::from(MSI);
    let r = hc(&e.x, H_INT_GET_SOURCE_CONFIG, &[0, m]);
    assert_eq!(&r.out[..3], &[0, 0xFF, 0]);
    assert_eq!(e.x.source_pq(MSI), Some(xive::PQ_OFF));
    assert_eq!(e.x.source_pq(0), Some(xive::PQ_OFF));
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[0, 0, PRIO]);
    assert_eq!(&r.out[..3], &[0, 0, 0]);
    // Claimed LISNs stay valid.
    assert_eq!(hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, m]).ret, H_SUCCESS);
    assert_eq!(hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 0x1500]).ret, H_P2);
}

#[test]
fn h_int_sync_succeeds() {
    let e = setup();
    assert_eq!(hc(&e.x, H_INT_SYNC, &[0, u64::from(MSI)]).ret, H_SUCCESS);
    assert_eq!(hc(&e.x, H_INT_SYNC, &[0, 0]).ret, H_SUCCESS);
}

#[test]
fn linux_boot_sequence_from_the_qemu_trace() {
    // The H_INT_* calls of events-xive-smp2-setup.txt, in order.
    let e = env(2);
    for (l, lsi) in [
        (0x1000, false),
        (0x1001, false),
        (0x1100, false),
        (0x1101, false),
        (0x1200, true),
        (0x1201, true),
        (0x1202, true),
        (0x1203, true),
    ] {
        e.x.claim(l, lsi).unwrap();
    }
    assert_eq!(hc(&e.x, H_INT_GET_QUEUE_INFO, &[0, 0, 6]).ret, H_SUCCESS);
    let mut q0 = GuestQueue::setup(&e.x, &e.mem, 0, 6, 0x3a0000, 16);
    assert_eq!(hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 0]).ret, H_SUCCESS);
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[2, 0, 0, 6, 0x10]).ret,
        H_SUCCESS
    );
    assert_eq!(hc(&e.x, H_INT_GET_QUEUE_INFO, &[0, 1, 6]).ret, H_SUCCESS);
    let mut q1 = GuestQueue::setup(&e.x, &e.mem, 1, 6, 0x350000, 16);
    assert_eq!(
        hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[2, 1, 1, 6, 0x10]).ret,
        H_SUCCESS
    );
    assert_eq!(hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 0x1201]).out[0], 0xC);
    assert_eq!(hc(&e.x, H_INT_ESB, &[0, 0x1201, 0xd00, 0]).out[0], 1);
    set_cppr(&e.x, 0, 0xFF);
    set_cppr(&e.x, 1, 0xFF);
    // Unmask the IPIs (Linux: SET_PQ_00) and send one from CPU 0 to CPU 1.
    esb_load(&e.x, 0, 0xC00);
    esb_load(&e.x, 1, 0xC00);
    esb_store(&e.x, 1, 0, false);
    assert!(e.sink.line(1));
    assert!(!e.sink.line(0));
    assert_eq!(ack(&e.x, 1), 0x8006);
    assert!(!e.sink.line(1));
    assert_eq!(q1.drain(&e.mem), vec![0x10]);
    assert!(q0.drain(&e.mem).is_empty());
    assert_eq!(esb_load(&e.x, 1, 0xC00), 2, "EOI returns old PQ=10");
    set_cppr(&e.x, 1, 0xFF);
    assert!(!e.sink.line(1));
}
