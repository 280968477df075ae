//! KVM-shaped device API (attribute groups, vCPU connection, VP state) and save/restore.

mod common;

use std::sync::Arc;

use common::*;
use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};
use hvapi::hcall::*;
use hvapi::irq::IrqInjector;
use xive::device::*;
use xive::{Xive, XiveConfig, XiveError};

const L: u32 = 0x1000;

#[test]
fn construction_validates_config() {
    let bad = [
        XiveConfig {
            esb_shift: 14,
            ..XiveConfig::qemu_default(1)
        },
        XiveConfig {
            nr_irqs: 0,
            ..XiveConfig::qemu_default(1)
        },
        XiveConfig {
            nr_irqs: (1 << 20) + 1,
            ..XiveConfig::qemu_default(1)
        },
        XiveConfig::qemu_default(0),
        XiveConfig::qemu_default(16385),
        XiveConfig {
            nr_irqs: 4,
            ..XiveConfig::qemu_default(8)
        },
        XiveConfig {
            hv_prio: 0,
            ..XiveConfig::qemu_default(1)
        },
        XiveConfig {
            hv_prio: 8,
            ..XiveConfig::qemu_default(1)
        },
        XiveConfig {
            esb_base: u64::MAX - 0x1000,
            ..XiveConfig::qemu_default(1)
        },
        XiveConfig {
            tima_base: u64::MAX - 0x1000,
            ..XiveConfig::qemu_default(1)
        },
    ];
    for cfg in bad {
        let r = Xive::new(cfg, mem(), Arc::new(TestSink::default()));
        assert!(matches!(r, Err(XiveError::BadConfig(_))), "{cfg:?}");
    }
}

#[test]
fn claim_free_and_ipis() {
    let e = env(4);
    assert_eq!(e.x.ipi_lisn(3), Some(3));
    assert_eq!(e.x.ipi_lisn(4), None);
    for s in 0..4 {
        assert_eq!(
            e.x.source_kind(s),
            Some(false),
            "IPI {s} pre-claimed as MSI"
        );
    }
    assert_eq!(e.x.claim(2, false), Err(XiveError::AlreadyClaimed(2)));
    assert_eq!(
        e.x.claim(0x2000, false),
        Err(XiveError::LisnOutOfRange(0x2000))
    );
    e.x.claim(0x1200, true).unwrap();
    assert_eq!(e.x.source_kind(0x1200), Some(true));
    assert_eq!(e.x.source_pq(0x1200), Some(xive::PQ_OFF));
    e.x.free(0x1200).unwrap();
    assert_eq!(e.x.free(0x1200), Err(XiveError::NotClaimed(0x1200)));
    assert_eq!(e.x.source_kind(0x1200), None);
    assert_eq!(hc(&e.x, H_INT_GET_SOURCE_INFO, &[0, 0x1200]).ret, H_P2);
}

#[test]
fn memory_is_spent_only_on_sources_in_use() {
    let cfg = XiveConfig {
        nr_irqs: 1 << 20,
        ..XiveConfig::qemu_default(2)
    };
    let e = env_cfg(cfg);
    assert_eq!(e.x.allocated_source_chunks(), 1, "the IPIs");
    for l in [0x1000, 0x1001, 0x8_0000, 0xF_FFFF] {
        e.x.claim(l, false).unwrap();
    }
    assert_eq!(e.x.allocated_source_chunks(), 4);
    e.x.free(0x8_0000).unwrap();
    assert_eq!(e.x.allocated_source_chunks(), 3);
}

#[test]
fn dt_facts_match_qemu() {
    let e = env(2);
    let f = e.x.dt_facts();
    assert_eq!(f.unit_address, 0x0006_0302_031b_0000);
    assert_eq!(
        f.reg,
        [
            (0x0006_0302_031b_0000, 0x10000),
            (0x0006_0302_031a_0000, 0x10000)
        ]
    );
    assert_eq!(f.compatible, "ibm,power-ivpe");
    assert_eq!(f.device_type, "power-ivpe");
    assert_eq!(f.eq_sizes, vec![16]);
    assert_eq!(f.lisn_ranges, vec![(0, 2)]);
    assert_eq!(f.plat_res_int_priorities, vec![(7, 0xF8)]);
    assert_eq!(f.interrupt_cells, 2);
    assert_eq!(f.esb, (0x6010000000000, 1 << 30));
    assert_eq!(f.tima, (0x6030203180000, 0x40000));
}

#[test]
fn connect_and_disconnect_errors() {
    let mem = mem();
    let sink = Arc::new(TestSink::default());
    let x = Xive::new(XiveConfig::qemu_default(2), mem, sink.clone()).unwrap();
    assert_eq!(x.connect_vcpu(2), Err(DeviceError::Invalid));
    assert_eq!(x.disconnect_vcpu(0), Err(DeviceError::NotFound));
    // Not connected: not a valid hcall target.
    assert_eq!(hc(&x, H_INT_GET_QUEUE_INFO, &[0, 0, 6]).ret, H_P2);
    x.connect_vcpu(0).unwrap();
    assert_eq!(x.connect_vcpu(0), Err(DeviceError::Exists));
    assert_eq!(hc(&x, H_INT_GET_QUEUE_INFO, &[0, 0, 6]).ret, H_SUCCESS);
    assert_eq!(
        x.get_vp_state(0).unwrap()[..8],
        [0, 0, 0, 0xFF, 0xFF, 0, 0xFF, 0xFF]
    );
    assert_eq!(x.get_vp_state(1), Err(DeviceError::NotFound));
    assert_eq!(x.set_vp_state(1, &[0; 16]), Err(DeviceError::NotFound));
    x.disconnect_vcpu(0).unwrap();
    assert_eq!(x.get_vp_state(0), Err(DeviceError::NotFound));
    assert_eq!(sink.calls.lock().last(), Some(&(0, false)));
}

#[test]
fn disconnect_lowers_the_line_and_drops_queues() {
    let e = env(1);
    GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    e.x.claim(L, false).unwrap();
    route(&e.x, L, 0, 1);
    set_cppr(&e.x, 0, 0xFF);
    e.x.set_irq(L, true).unwrap();
    assert!(e.sink.line(0));
    e.x.disconnect_vcpu(0).unwrap();
    assert!(!e.sink.line(0));
    e.x.connect_vcpu(0).unwrap();
    assert_eq!(hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[0, 0, PRIO]).out[2], 0);
}

#[test]
fn vp_state_round_trip_redrives_line() {
    let e = env(1);
    e.x.set_vp_state(
        0,
        &[
            0, 0xFF, 0x02, 0xFF, 0xFF, 0, 0xFF, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )
    .unwrap();
    assert!(e.sink.line(0), "pending priority 6 under CPPR 0xFF");
    let st = e.x.get_vp_state(0).unwrap();
    assert_eq!(st[..8], [0x80, 0xFF, 0x02, 0xFF, 0xFF, 0, 0xFF, 0x06]);
    assert_eq!(st[8..], [0; 8]);
    assert_eq!(ack(&e.x, 0), 0x8006);
    e.x.set_vp_state(
        0,
        &[
            0, 0xFF, 0, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )
    .unwrap();
    assert!(!e.sink.line(0));
}

#[test]
fn has_attr_groups() {
    let e = env(1);
    assert_eq!(e.x.kind(), DeviceKind::Xive);
    for a in [1, 2, 3] {
        assert!(e.x.has_attr(KVM_DEV_XIVE_GRP_CTRL, a));
    }
    assert!(!e.x.has_attr(KVM_DEV_XIVE_GRP_CTRL, 4));
    for g in [
        KVM_DEV_XIVE_GRP_SOURCE,
        KVM_DEV_XIVE_GRP_SOURCE_CONFIG,
        KVM_DEV_XIVE_GRP_SOURCE_SYNC,
    ] {
        assert!(e.x.has_attr(g, 0x1FFF));
        assert!(!e.x.has_attr(g, 0x2000));
    }
    assert!(e.x.has_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 6));
    assert!(!e.x.has_attr(6, 0));
    assert!(!e.x.has_attr(0, 0));
}

#[test]
fn attr_errors() {
    let e = env(2);
    e.x.claim(L, false).unwrap();
    let u = |v: u64| v.to_ne_bytes();
    let cfgv = |prio: u64, server: u64, masked: bool, eisn: u64| -> u64 {
        prio | (server << 3) | (u64::from(masked) << 32) | (eisn << 33)
    };
    let eq = |flags: u32, qshift: u32, qaddr: u64| {
        KvmXiveEq {
            flags,
            qshift,
            qaddr,
            qtoggle: 0,
            qindex: 0,
        }
        .to_bytes()
    };
    let mut big = [0u8; 64];
    #[rustfmt::skip]
    let sets: &[(&str, u32, u64, Vec<u8>, DeviceError)] = &[
        ("unknown group", 9, 0, vec![], DeviceError::NoSuchAttr),
        ("unknown ctrl attr", KVM_DEV_XIVE_GRP_CTRL, 7, vec![], DeviceError::NoSuchAttr),
        ("nr_servers size", KVM_DEV_XIVE_GRP_CTRL, 3, vec![0; 8], DeviceError::Invalid),
        ("nr_servers too big", KVM_DEV_XIVE_GRP_CTRL, 3, 16385u32.to_ne_bytes().to_vec(), DeviceError::Invalid),
        ("nr_servers zero", KVM_DEV_XIVE_GRP_CTRL, 3, 0u32.to_ne_bytes().to_vec(), DeviceError::Invalid),
        ("nr_servers with vcpus connected", KVM_DEV_XIVE_GRP_CTRL, 3, 4u32.to_ne_bytes().to_vec(), DeviceError::Busy),
        ("source lisn too big", KVM_DEV_XIVE_GRP_SOURCE, 0x2000, u(0).to_vec(), DeviceError::TooBig),
        ("source lisn huge", KVM_DEV_XIVE_GRP_SOURCE, 1 << 40, u(0).to_vec(), DeviceError::TooBig),
        ("source value size", KVM_DEV_XIVE_GRP_SOURCE, 0x1001, vec![0; 4], DeviceError::Invalid),
        ("source_config unknown source", KVM_DEV_XIVE_GRP_SOURCE_CONFIG, 0x1001, u(cfgv(6, 0, false, 1)).to_vec(), DeviceError::NotFound),
        ("source_config value size", KVM_DEV_XIVE_GRP_SOURCE_CONFIG, L as u64, vec![0; 2], DeviceError::Invalid),
        ("source_config priority 7", KVM_DEV_XIVE_GRP_SOURCE_CONFIG, L as u64, u(cfgv(7, 0, false, 1)).to_vec(), DeviceError::Invalid),
        ("source_config bad server", KVM_DEV_XIVE_GRP_SOURCE_CONFIG, L as u64, u(cfgv(6, 9, false, 1)).to_vec(), DeviceError::Invalid),
        ("source_config queue not configured", KVM_DEV_XIVE_GRP_SOURCE_CONFIG, L as u64, u(cfgv(6, 1, false, 1)).to_vec(), DeviceError::NoSuchAttr),
        ("eq_config unknown server", KVM_DEV_XIVE_GRP_EQ_CONFIG, (5 << 3) | 6, eq(1, 16, 0x10000).to_vec(), DeviceError::NotFound),
        ("eq_config priority 7", KVM_DEV_XIVE_GRP_EQ_CONFIG, 7, eq(1, 16, 0x10000).to_vec(), DeviceError::Invalid),
        ("eq_config flags", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, eq(0, 16, 0x10000).to_vec(), DeviceError::Invalid),
        ("eq_config size", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, eq(1, 15, 0x10000).to_vec(), DeviceError::Invalid),
        ("eq_config misaligned", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, eq(1, 16, 0x11000).to_vec(), DeviceError::Invalid),
        ("eq_config outside RAM", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, eq(1, 16, 1 << 30).to_vec(), DeviceError::Invalid),
        ("eq_config buffer size", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, vec![0; 24], DeviceError::Invalid),
        ("eq_config bad index", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6,
            KvmXiveEq { flags: 1, qshift: 12, qaddr: 0x10000, qtoggle: 1, qindex: 1024 }.to_bytes().to_vec(), DeviceError::Invalid),
        ("eq_config bad toggle", KVM_DEV_XIVE_GRP_EQ_CONFIG, 6,
            KvmXiveEq { flags: 1, qshift: 12, qaddr: 0x10000, qtoggle: 2, qindex: 0 }.to_bytes().to_vec(), DeviceError::Invalid),
        ("source_sync unknown", KVM_DEV_XIVE_GRP_SOURCE_SYNC, 0x1001, vec![], DeviceError::NotFound),
    ];
    for (name, g, a, data, want) in sets {
        assert_eq!(e.x.set_attr(*g, *a, data), Err(*want), "{name}");
    }
    assert_eq!(
        e.x.get_attr(KVM_DEV_XIVE_GRP_CTRL, 3, &mut [0; 4]),
        Err(DeviceError::NoSuchAttr)
    );
    assert_eq!(
        e.x.get_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 5 << 3, &mut big),
        Err(DeviceError::NotFound)
    );
    assert_eq!(
        e.x.get_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 7, &mut big),
        Err(DeviceError::Invalid)
    );
    assert_eq!(
        e.x.get_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, &mut [0; 8]),
        Err(DeviceError::Invalid)
    );
    // Unconfigured queue reads as zeros.
    big = [0xAA; 64];
    e.x.get_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, &mut big)
        .unwrap();
    assert_eq!(big, [0; 64]);
}

#[test]
fn attr_success_paths() {
    let mem = mem();
    let sink = Arc::new(TestSink::default());
    let x = Xive::new(XiveConfig::qemu_default(2), mem.clone(), sink.clone()).unwrap();
    x.set_attr(
        KVM_DEV_XIVE_GRP_CTRL,
        KVM_DEV_XIVE_NR_SERVERS,
        &4u32.to_ne_bytes(),
    )
    .unwrap();
    assert_eq!(x.nr_servers(), 4);
    assert_eq!(x.source_kind(3), Some(false), "new IPIs claimed");
    for s in 0..4 {
        x.connect_vcpu(s).unwrap();
    }
    // Queue via EQ_CONFIG, source via SOURCE + SOURCE_CONFIG, as QEMU's KVM post-load does.
    let eq = KvmXiveEq {
        flags: 1,
        qshift: 16,
        qaddr: 0x20000,
        qtoggle: 1,
        qindex: 0,
    };
    x.set_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, (3 << 3) | 6, &eq.to_bytes())
        .unwrap();
    x.set_attr(KVM_DEV_XIVE_GRP_SOURCE, u64::from(L), &3u64.to_ne_bytes())
        .unwrap();
    assert_eq!(x.source_kind(L), Some(true));
    assert_eq!(x.source_pq(L), Some(xive::PQ_OFF));
    let v: u64 = 6 | (3 << 3) | (0x55 << 33);
    x.set_attr(
        KVM_DEV_XIVE_GRP_SOURCE_CONFIG,
        u64::from(L),
        &v.to_ne_bytes(),
    )
    .unwrap();
    let r = hc(&x, H_INT_GET_SOURCE_CONFIG, &[0, u64::from(L)]);
    assert_eq!(&r.out[..3], &[3, 6, 0x55]);
    // Masked config needs no queue.
    let v: u64 = 2 | (1 << 3) | (1 << 32) | (9 << 33);
    x.set_attr(
        KVM_DEV_XIVE_GRP_SOURCE_CONFIG,
        u64::from(L),
        &v.to_ne_bytes(),
    )
    .unwrap();
    assert_eq!(
        &hc(&x, H_INT_GET_SOURCE_CONFIG, &[0, u64::from(L)]).out[..3],
        &[1, 0xFF, 9]
    );
    x.set_attr(KVM_DEV_XIVE_GRP_SOURCE_SYNC, u64::from(L), &[])
        .unwrap();
    x.set_attr(KVM_DEV_XIVE_GRP_CTRL, KVM_DEV_XIVE_EQ_SYNC, &[])
        .unwrap();
    // The asserted LSI fires once routed and enabled.
    let v: u64 = 6 | (3 << 3) | (0x55 << 33);
    x.set_attr(
        KVM_DEV_XIVE_GRP_SOURCE_CONFIG,
        u64::from(L),
        &v.to_ne_bytes(),
    )
    .unwrap();
    set_cppr(&x, 3, 0xFF);
    esb_load(&x, L, 0xC00);
    assert!(sink.line(3));
    let mut q = GuestQueue {
        qaddr: 0x20000,
        entries: 16384,
        idx: 0,
        toggle: 0,
    };
    assert_eq!(q.drain(&mem), vec![0x55]);
    // CTRL RESET.
    x.set_attr(KVM_DEV_XIVE_GRP_CTRL, KVM_DEV_XIVE_RESET, &[])
        .unwrap();
    let mut out = [0u8; 64];
    x.get_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, (3 << 3) | 6, &mut out)
        .unwrap();
    assert_eq!(out, [0; 64]);
    assert_eq!(x.source_pq(L), Some(xive::PQ_OFF));
    // qshift 0 resets regardless of flags.
    let eq = KvmXiveEq {
        flags: 0,
        qshift: 0,
        qaddr: 0x1234,
        qtoggle: 0,
        qindex: 0,
    };
    x.set_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, &eq.to_bytes())
        .unwrap();
}

// ---- save / restore --------------------------------------------------------------------

fn roundtrip(st: &xive::XiveState) -> xive::XiveState {
    let bytes = postcard::to_allocvec(st).unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

#[test]
fn save_restore_mid_flight() {
    let e = env(2);
    let mut q0 = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    e.x.claim(L, false).unwrap();
    e.x.claim(L + 1, true).unwrap();
    e.x.claim(L + 2, false).unwrap();
    route(&e.x, L, 0, 0x10);
    route(&e.x, L + 1, 0, 0x11);
    set_cppr(&e.x, 0, 0xFF);
    // In flight: L delivered and re-triggered (PQ=11), not yet ACKed; LSI asserted but off.
    e.x.set_irq(L, true).unwrap();
    e.x.set_irq(L, true).unwrap();
    esb_load(&e.x, L + 1, 0xD00);
    e.x.set_irq(L + 1, true).unwrap();
    assert!(e.sink.line(0));
    let st = roundtrip(&e.x.save());
    assert_eq!(st.sources.iter().find(|s| s.lisn == L).unwrap().pq, 3);
    assert!(
        st.sources
            .iter()
            .find(|s| s.lisn == L + 1)
            .unwrap()
            .asserted
    );
    assert_eq!(st.ends.len(), 1);
    assert_eq!(st.presenters.len(), 2);

    // Fresh controller on the same RAM, no vCPUs connected yet: restore connects them.
    let sink2 = Arc::new(TestSink::default());
    let x2 = Xive::new(XiveConfig::qemu_default(2), e.mem.clone(), sink2.clone()).unwrap();
    x2.restore(&st).unwrap();
    assert!(sink2.line(0), "line re-driven");
    assert!(sink2.calls.lock().contains(&(1, false)));
    assert_eq!(x2.save(), st, "identical state");
    // The guest continues: ACK, drain, EOI replays the queued trigger exactly once.
    assert_eq!(ack(&x2, 0), 0x8006);
    assert_eq!(q0.drain(&e.mem), vec![0x10]);
    assert_eq!(esb_load(&x2, L, 0xC00), 3);
    esb_store(&x2, L, 0, false); // Linux replays on Q
    assert_eq!(q0.drain(&e.mem), vec![0x10]);
    assert!(q0.drain(&e.mem).is_empty());
    // The LSI level survived: enabling fires it.
    esb_load(&x2, L + 1, 0xC00);
    assert_eq!(q0.drain(&e.mem), vec![0x11]);
}

#[test]
fn restore_rejects_bad_images_without_changing_anything() {
    let e = env(1);
    let good = e.x.save();
    let mut bads = Vec::new();
    let mut s = good.clone();
    s.version = 99;
    bads.push(s);
    let mut s = good.clone();
    s.nr_irqs = 0x1000;
    bads.push(s);
    let mut s = good.clone();
    s.nr_servers = 0;
    bads.push(s);
    let mut s = good.clone();
    s.sources.push(xive::SourceState {
        lisn: 0x2000,
        lsi: false,
        asserted: false,
        pq: 0,
        eas: 0,
    });
    bads.push(s);
    let mut s = good.clone();
    s.sources.push(s.sources[0]);
    bads.push(s);
    let mut s = good.clone();
    s.sources[0].pq = 4;
    bads.push(s);
    let mut s = good.clone();
    s.ends.push(xive::EndState {
        server: 1,
        priority: 6,
        qaddr: 0,
        qshift: 16,
        index: 0,
        generation: true,
        always_notify: true,
        esn: 0,
    });
    bads.push(s);
    let mut s = good.clone();
    s.ends.push(xive::EndState {
        server: 0,
        priority: 8,
        qaddr: 0,
        qshift: 16,
        index: 0,
        generation: true,
        always_notify: true,
        esn: 0,
    });
    bads.push(s);
    let mut s = good.clone();
    s.ends.push(xive::EndState {
        server: 0,
        priority: 6,
        qaddr: 0,
        qshift: 16,
        index: 16384,
        generation: true,
        always_notify: true,
        esn: 0,
    });
    bads.push(s);
    let mut s = good.clone();
    s.presenters.push(xive::PresenterState {
        server: 3,
        os_ring: [0; 16],
    });
    bads.push(s);
    for (i, b) in bads.iter().enumerate() {
        assert!(
            matches!(e.x.restore(b), Err(XiveError::BadState(_))),
            "image {i}"
        );
        assert_eq!(e.x.save(), good, "image {i} left the controller untouched");
    }
}
