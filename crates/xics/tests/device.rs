//! KVM-shaped device API (xics.md §5), claims, device-tree facts, state capture round trips.

mod common;

use common::{LineSink, route, setup};
use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};
use hvapi::irq::IrqInjector;
use xics::device::*;
use xics::{XICS_STATE_VERSION, Xics, XicsConfig, XicsError, XicsState};

const A: u32 = 0x1300;
const L: u32 = 0x1200;

fn get_word(x: &Xics, irq: u64) -> Result<u64, DeviceError> {
    let mut b = [0u8; 8];
    x.get_attr(KVM_DEV_XICS_GRP_SOURCES, irq, &mut b)
        .map(|()| u64::from_ne_bytes(b))
}

fn set_word(x: &Xics, irq: u64, v: u64) -> Result<(), DeviceError> {
    x.set_attr(KVM_DEV_XICS_GRP_SOURCES, irq, &v.to_ne_bytes())
}

#[test]
fn config_validation() {
    let sink = LineSink::new(1);
    let bad = [
        XicsConfig {
            nr_servers: 0,
            ..XicsConfig::spapr(1)
        },
        XicsConfig {
            nr_servers: 16385,
            ..XicsConfig::spapr(1)
        },
        XicsConfig {
            first_irq: 15,
            ..XicsConfig::spapr(1)
        },
        XicsConfig {
            nr_irqs: 0,
            ..XicsConfig::spapr(1)
        },
        XicsConfig {
            first_irq: 0xF_F000,
            nr_irqs: 0x1001,
            ..XicsConfig::spapr(1)
        },
        XicsConfig {
            first_irq: u32::MAX,
            nr_irqs: 2,
            ..XicsConfig::spapr(1)
        },
    ];
    for cfg in bad {
        assert!(
            matches!(
                Xics::new(cfg.clone(), sink.clone()),
                Err(XicsError::Config(_))
            ),
            "{cfg:?}"
        );
    }
    let x = Xics::new(
        XicsConfig {
            first_irq: 16,
            nr_irqs: (1 << 20) - 16,
            ..XicsConfig::spapr(1)
        },
        sink,
    )
    .unwrap();
    assert_eq!(x.irq_range(), 16..1 << 20);
}

#[test]
fn claim_and_free() {
    let (x, _) = setup(1);
    assert_eq!(x.claim_irq(0xFFF, false), Err(XicsError::OutOfRange(0xFFF)));
    assert_eq!(
        x.claim_irq(0x2000, false),
        Err(XicsError::OutOfRange(0x2000))
    );
    x.claim_irq(A, false).unwrap();
    assert_eq!(x.claim_irq(A, true), Err(XicsError::Busy(A)));
    assert_eq!(x.irq_kind(A), Some(false));
    assert_eq!(x.free_irq(A + 1), Err(XicsError::NotClaimed(A + 1)));
    assert_eq!(x.free_irq(0x5000), Err(XicsError::OutOfRange(0x5000)));
    x.free_irq(A).unwrap();
    assert_eq!(x.irq_kind(A), None);
    x.claim_irq(A, true).unwrap();
    assert_eq!(x.irq_kind(A), Some(true));
    assert_eq!(
        x.rtas_get_xive(A),
        Ok((0, 0xFF)),
        "a claimed source starts masked"
    );
}

#[test]
fn attribute_discovery_and_unknown_attributes() {
    let (x, _) = setup(1);
    assert_eq!(x.kind(), DeviceKind::Xics);
    assert!(x.has_attr(KVM_DEV_XICS_GRP_SOURCES, 0x1000));
    assert!(x.has_attr(KVM_DEV_XICS_GRP_SOURCES, 0x1FFF));
    assert!(!x.has_attr(KVM_DEV_XICS_GRP_SOURCES, 0x2000));
    assert!(!x.has_attr(KVM_DEV_XICS_GRP_SOURCES, 0x1_0000_1000));
    assert!(x.has_attr(KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_NR_SERVERS));
    assert!(!x.has_attr(KVM_DEV_XICS_GRP_CTRL, 2));
    assert!(!x.has_attr(3, 0));
    let mut b = [0u8; 8];
    assert_eq!(x.get_attr(3, 0, &mut b), Err(DeviceError::NoSuchAttr));
    assert_eq!(x.set_attr(0, 0, &b), Err(DeviceError::NoSuchAttr));
    assert_eq!(
        x.set_attr(KVM_DEV_XICS_GRP_CTRL, 7, &[0; 4]),
        Err(DeviceError::NoSuchAttr)
    );
}

#[test]
fn source_word_errors() {
    let (x, _) = setup(2);
    // Out of the ICS range (including numbers that do not fit in 32 bits).
    for irq in [0u64, 15, 0xFFF, 0x2000, 1 << 20, 0x1_0000_1300] {
        assert_eq!(get_word(&x, irq), Err(DeviceError::NotFound), "{irq:#x}");
        assert_eq!(
            set_word(&x, irq, 0xFF << 32),
            Err(DeviceError::NotFound),
            "{irq:#x}"
        );
    }
    // In range but not created.
    assert_eq!(get_word(&x, u64::from(A)), Err(DeviceError::NotFound));
    // Wrong buffer sizes.
    assert_eq!(
        x.set_attr(KVM_DEV_XICS_GRP_SOURCES, u64::from(A), &[0; 4]),
        Err(DeviceError::Invalid)
    );
    let mut small = [0u8; 7];
    x.claim_irq(A, false).unwrap();
    assert_eq!(
        x.get_attr(KVM_DEV_XICS_GRP_SOURCES, u64::from(A), &mut small),
        Err(DeviceError::Invalid)
    );
    // Unmasked towards a server that is not connected.
    x.disconnect_vcpu(1).unwrap();
    assert_eq!(
        set_word(&x, u64::from(A), (5 << 32) | 1),
        Err(DeviceError::Invalid)
    );
    assert_eq!(
        set_word(&x, u64::from(A), (5 << 32) | 7),
        Err(DeviceError::Invalid)
    );
    // Masked (by the bit or by priority 0xFF) towards any server is fine.
    set_word(&x, u64::from(A), (5 << 32) | KVM_XICS_MASKED | 7).unwrap();
    set_word(&x, u64::from(A + 1), (0xFF << 32) | 9).unwrap();
}

#[test]
fn source_word_encoding() {
    let (x, _) = setup(2);
    route(&x, A, false, 1, 5);
    assert_eq!(get_word(&x, u64::from(A)).unwrap(), (5 << 32) | 1);
    x.rtas_int_off(A).unwrap();
    assert_eq!(
        get_word(&x, u64::from(A)).unwrap(),
        (5 << 32) | KVM_XICS_MASKED | 1,
        "saved priority shown"
    );
    x.set_irq(A, true).unwrap();
    assert_eq!(
        get_word(&x, u64::from(A)).unwrap(),
        (5 << 32) | KVM_XICS_MASKED | KVM_XICS_PENDING | KVM_XICS_PRESENTED | 1
    );
    x.set_irq(A, true).unwrap();
    assert_ne!(get_word(&x, u64::from(A)).unwrap() & KVM_XICS_QUEUED, 0);
    route(&x, L, true, 0, 6);
    x.h_cppr(0, 6).unwrap();
    x.set_irq(L, true).unwrap(); // refused: asserted, not in flight
    assert_eq!(
        get_word(&x, u64::from(L)).unwrap(),
        (6 << 32) | KVM_XICS_LEVEL_SENSITIVE | KVM_XICS_PENDING | KVM_XICS_PRESENTED
    );
    x.h_cppr(0, 0xFF).unwrap(); // presented: in flight, shown as QUEUED
    assert_eq!(
        get_word(&x, u64::from(L)).unwrap(),
        (6 << 32)
            | KVM_XICS_LEVEL_SENSITIVE
            | KVM_XICS_PENDING
            | KVM_XICS_PRESENTED
            | KVM_XICS_QUEUED
    );
    x.set_irq(L, false).unwrap(); // lowered, still in flight
    assert_eq!(
        get_word(&x, u64::from(L)).unwrap(),
        (6 << 32) | KVM_XICS_LEVEL_SENSITIVE | KVM_XICS_QUEUED
    );
}

/// An LSI in flight (presented, or accepted and not EOIed) keeps that mark through the
/// KVM-word migration: a rising edge on the destination does not present it a second time;
/// the EOI does, while the line is high.
#[test]
fn kvm_word_migration_keeps_an_lsi_in_flight_once() {
    let (x, _) = setup(2);
    route(&x, L, true, 0, 5);
    x.set_irq(L, true).unwrap();
    assert_eq!(x.h_xirr(0).unwrap(), 0xFF00_1200); // in service on server 0
    x.set_irq(L, false).unwrap();
    let word = x.get_source_state(L).unwrap();
    let regs: Vec<_> = (0..2).map(|s| x.get_icp_state(s).unwrap()).collect();

    let (y, sink) = setup(2);
    y.set_source_state(L, word).unwrap();
    for (s, &v) in regs.iter().enumerate() {
        y.set_icp_state(s as u32, v).unwrap();
    }
    assert_eq!(y.save(), x.save());
    y.set_irq(L, true).unwrap(); // new edge while the old occurrence is in service
    y.rtas_set_xive(L, 1, 5).unwrap(); // and a retarget: still nothing presented
    assert_eq!(sink.snapshot(), [false, false]);
    y.h_eoi(0, 0xFF00_1200).unwrap(); // line high: presented again, at the new server
    assert_eq!(sink.snapshot(), [false, true]);
    assert_eq!(y.h_xirr(1).unwrap(), 0xFF00_1200);
}

#[test]
fn setting_a_pending_source_delivers_it() {
    let (x, sink) = setup(1);
    set_word(&x, u64::from(A), (5 << 32) | KVM_XICS_PENDING).unwrap();
    assert_eq!(x.irq_kind(A), Some(false), "set creates the source");
    assert!(sink.line(0));
    assert_eq!(x.h_xirr(0).unwrap(), 0xFF00_1300);
    x.h_eoi(0, 0xFF00_1300).unwrap();
    assert_eq!(get_word(&x, u64::from(A)).unwrap(), 5 << 32);
    // PRESENTED without PENDING: P set, no delivery (it is in service somewhere).
    set_word(
        &x,
        u64::from(L),
        (5 << 32) | KVM_XICS_LEVEL_SENSITIVE | KVM_XICS_PRESENTED,
    )
    .unwrap();
    assert!(!sink.line(0));
    x.h_eoi(0, 0xFF00_1200).unwrap(); // line still asserted (P): re-presented
    assert_eq!(x.h_xirr(0).unwrap(), 0xFF00_1200);
}

#[test]
fn nr_servers_control() {
    let sink = LineSink::new(8);
    let x = Xics::new(XicsConfig::spapr(8), sink).unwrap();
    let set = |n: u32| {
        x.set_attr(
            KVM_DEV_XICS_GRP_CTRL,
            KVM_DEV_XICS_NR_SERVERS,
            &n.to_ne_bytes(),
        )
    };
    assert_eq!(set(0), Err(DeviceError::Invalid));
    assert_eq!(set(9), Err(DeviceError::Invalid));
    assert_eq!(
        x.set_attr(KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_NR_SERVERS, &[4, 0]),
        Err(DeviceError::Invalid)
    );
    set(4).unwrap();
    let mut b = [0u8; 4];
    x.get_attr(KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_NR_SERVERS, &mut b)
        .unwrap();
    assert_eq!(u32::from_ne_bytes(b), 4);
    assert_eq!(x.dt_info().interrupt_server_ranges, [0, 4]);
    assert_eq!(x.connect_vcpu(4), Err(DeviceError::Invalid));
    x.connect_vcpu(3).unwrap();
    assert_eq!(set(8), Err(DeviceError::Busy));
    x.disconnect_vcpu(3).unwrap();
    set(8).unwrap();
}

#[test]
fn connect_and_disconnect_errors() {
    let sink = LineSink::new(2);
    let x = Xics::new(XicsConfig::spapr(2), sink).unwrap();
    assert_eq!(x.connect_vcpu(2), Err(DeviceError::Invalid));
    assert_eq!(x.connect_vcpu(u32::MAX), Err(DeviceError::Invalid));
    x.connect_vcpu(1).unwrap();
    assert_eq!(x.connect_vcpu(1), Err(DeviceError::Exists));
    assert_eq!(x.disconnect_vcpu(0), Err(DeviceError::NotFound));
    assert_eq!(x.disconnect_vcpu(5), Err(DeviceError::NotFound));
    assert_eq!(x.get_icp_state(0), Err(DeviceError::NotFound));
    assert_eq!(
        x.set_icp_state(0, 0xFF00_0000_FFFF_0000),
        Err(DeviceError::NotFound)
    );
    assert_eq!(x.get_icp_state(9), Err(DeviceError::NotFound));
    x.disconnect_vcpu(1).unwrap();
    x.connect_vcpu(1).unwrap();
    assert_eq!(x.get_icp_state(1), Ok(0x0000_0000_FFFF_0000));
}

fn icp(cppr: u64, xisr: u64, mfrr: u64, ppri: u64) -> u64 {
    (cppr << 56) | (xisr << 32) | (mfrr << 24) | (ppri << 16)
}

#[test]
fn icp_state_validation() {
    let (x, sink) = setup(1);
    let bad = [
        icp(0xFF, 0, 0xFF, 5),      // XISR 0 needs PPRI 0xFF
        icp(0xFF, 2, 4, 5),         // IPI: PPRI must equal MFRR
        icp(4, 2, 4, 4),            // IPI: PPRI must be below CPPR
        icp(0xFF, 0x1300, 5, 5),    // PPRI must be below MFRR
        icp(5, 0x1300, 0xFF, 5),    // PPRI must be below CPPR
        icp(0xFF, 0x5000, 0xFF, 5), // not an ICS source
        icp(0xFF, 0x10, 0xFF, 5),   // below the ICS
    ];
    for v in bad {
        assert_eq!(x.set_icp_state(0, v), Err(DeviceError::Invalid), "{v:#x}");
    }
    assert_eq!(
        x.get_icp_state(0).unwrap(),
        icp(0xFF, 0, 0xFF, 0xFF),
        "unchanged"
    );
    x.set_icp_state(0, icp(0xFF, 2, 4, 4)).unwrap();
    assert!(sink.line(0));
    x.set_icp_state(0, icp(0xFF, 0x1300, 0xFF, 5)).unwrap();
    assert!(sink.line(0));
    assert_eq!(x.get_icp_state(0).unwrap(), icp(0xFF, 0x1300, 0xFF, 5));
    x.set_icp_state(0, icp(5, 0, 0xFF, 0xFF)).unwrap();
    assert!(!sink.line(0));
}

#[test]
fn icp_state_set_with_less_favoured_mfrr_runs_a_resend() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    x.h_ipi(0, 0, 4).unwrap(); // IPI presented at 4
    x.set_irq(A, true).unwrap(); // refused
    x.set_icp_state(0, icp(0xFF, 0, 0xFF, 0xFF)).unwrap();
    assert_eq!(x.h_xirr(0).unwrap(), 0xFF00_1300);
}

/// The QEMU-with-KVM migration path: read every source word and ICP register from one
/// controller and write them into a fresh one (sources first, then ICPs, and the reverse).
#[test]
fn kvm_word_migration_preserves_pending_interrupts() {
    for icps_first in [false, true] {
        let (x, _) = setup(2);
        route(&x, A, false, 0, 5);
        route(&x, A + 1, false, 1, 5);
        route(&x, A + 2, false, 0, 5);
        route(&x, L, true, 1, 5);
        x.set_irq(A, true).unwrap(); // presented on 0
        x.set_irq(A + 2, true).unwrap(); // refused on 0 (equal priority)
        x.h_cppr(1, 5).unwrap();
        x.set_irq(A + 1, true).unwrap(); // refused on 1 (CPPR)
        x.set_irq(L, true).unwrap(); // refused on 1
        x.h_ipi(0, 1, 3).unwrap(); // IPI pending on 1

        let words: Vec<_> = [A, A + 1, A + 2, L]
            .iter()
            .map(|&i| (i, x.get_source_state(i).unwrap()))
            .collect();
        let regs: Vec<_> = (0..2).map(|s| x.get_icp_state(s).unwrap()).collect();

        let sink = LineSink::new(2);
        let y = Xics::new(XicsConfig::spapr(2), sink.clone()).unwrap();
        y.connect_vcpu(0).unwrap();
        y.connect_vcpu(1).unwrap();
        let set_icps = || {
            for (s, &v) in regs.iter().enumerate() {
                y.set_icp_state(s as u32, v).unwrap();
            }
        };
        if icps_first {
            set_icps();
        }
        for &(i, w) in &words {
            y.set_source_state(i, w).unwrap();
        }
        if !icps_first {
            set_icps();
        }
        assert!(sink.line(0) && sink.line(1));
        // Drain both servers the way Linux does and collect what arrives.
        let mut got = Vec::new();
        for s in 0..2 {
            y.h_cppr(s, 0xFF).unwrap();
            for _ in 0..8 {
                let xirr = y.h_xirr(s).unwrap();
                let irq = xirr & 0xFF_FFFF;
                if irq == 0 {
                    break;
                }
                got.push((s, irq));
                if irq == 2 {
                    y.h_ipi(s, u64::from(s), 0xFF).unwrap();
                }
                if irq == L {
                    y.set_irq(L, false).unwrap();
                }
                y.h_eoi(s, 0xFF00_0000 | irq).unwrap();
            }
        }
        got.sort();
        assert_eq!(
            got,
            [(0, A), (0, A + 2), (1, 2), (1, L), (1, A + 1)],
            "icps_first={icps_first}"
        );
    }
}

#[test]
fn save_restore_round_trip_through_postcard() {
    let (x, sink) = setup(3);
    route(&x, A, false, 0, 5);
    route(&x, A + 1, false, 2, 5);
    route(&x, L, true, 1, 4);
    x.set_irq(A, true).unwrap();
    x.set_irq(A + 1, true).unwrap();
    x.set_irq(A + 1, true).unwrap(); // queued
    x.set_irq(L, true).unwrap();
    assert_eq!(x.h_xirr(2).unwrap(), 0xFF00_1301);
    x.h_ipi(0, 1, 4).unwrap(); // the IPI (4) displaces L (4), which is then refused
    let st = x.save();
    let bytes = postcard::to_allocvec(&st).unwrap();
    let back: XicsState = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, st);

    let sink2 = LineSink::new(3);
    let y = Xics::new(XicsConfig::spapr(3), sink2.clone()).unwrap();
    y.restore(&back).unwrap();
    assert_eq!(y.save(), st);
    assert_eq!(sink2.snapshot(), sink.snapshot(), "lines re-driven");
    for s in 0..3 {
        assert_eq!(y.get_icp_state(s), x.get_icp_state(s));
    }
    for i in [A, A + 1, L] {
        assert_eq!(y.get_source_state(i), x.get_source_state(i));
    }
    // The queued occurrence of A+1 survives.
    y.h_eoi(2, 0xFF00_1301).unwrap();
    assert_eq!(y.h_xirr(2).unwrap(), 0xFF00_1301);
}

#[test]
fn restore_rejects_bad_images() {
    let (x, _) = setup(2);
    route(&x, A, false, 0, 5);
    let good = x.save();
    let sink = LineSink::new(2);
    let y = Xics::new(XicsConfig::spapr(2), sink).unwrap();
    let mut cases = Vec::new();
    cases.push(XicsState {
        version: XICS_STATE_VERSION + 1,
        ..good.clone()
    });
    cases.push(XicsState {
        nr_servers: 0,
        ..good.clone()
    });
    cases.push(XicsState {
        nr_servers: 3,
        ..good.clone()
    });
    let mut st = good.clone();
    st.sources[0].irq = 0x2000;
    cases.push(st);
    let mut st = good.clone();
    st.sources.push(st.sources[0]);
    cases.push(st);
    let mut st = good.clone();
    st.icps[1].server = 0;
    cases.push(st);
    let mut st = good.clone();
    st.icps[0].xisr = 0x100_0000;
    cases.push(st);
    for st in cases {
        assert!(
            matches!(y.restore(&st), Err(XicsError::BadState(_))),
            "{st:?}"
        );
    }
    assert_eq!(
        y.get_icp_state(0),
        Err(DeviceError::NotFound),
        "nothing applied"
    );
    y.restore(&good).unwrap();
}

#[test]
fn restore_into_a_used_controller_replaces_everything() {
    let (x, sink) = setup(2);
    route(&x, A, false, 1, 5);
    let empty_ish = {
        let sink = LineSink::new(2);
        let y = Xics::new(XicsConfig::spapr(2), sink).unwrap();
        y.connect_vcpu(0).unwrap();
        y.save()
    };
    x.set_irq(A, true).unwrap();
    assert!(sink.line(1));
    x.restore(&empty_ish).unwrap();
    assert!(
        !sink.line(1),
        "line of a server absent from the image lowered"
    );
    assert_eq!(x.irq_kind(A), None);
    assert_eq!(x.get_icp_state(1), Err(DeviceError::NotFound));
    assert_eq!(x.get_icp_state(0), Ok(0x0000_0000_FFFF_0000));
}

#[test]
fn device_tree_facts_match_qemu() {
    let (x, _) = setup(2);
    let dt = x.dt_info();
    assert_eq!(dt.node_name, "interrupt-controller");
    assert_eq!(dt.device_type, "PowerPC-External-Interrupt-Presentation");
    assert_eq!(dt.compatible, ["IBM,ppc-xicp"]);
    assert_eq!(dt.interrupt_server_ranges, [0, 2]);
    assert_eq!(dt.interrupt_cells, 2);
    assert_eq!(dt.phandle, 0x1111);
    assert!(dt.interrupt_controller);
    assert_eq!(
        dt.rtas_calls,
        ["ibm,set-xive", "ibm,get-xive", "ibm,int-off", "ibm,int-on"]
    );
    let cpu = Xics::cpu_dt(1, 1);
    assert_eq!(cpu.server_nums, [1]);
    assert_eq!(cpu.gserver_nums, [1, 0]);
    assert_eq!(Xics::cpu_dt(4, 2).gserver_nums, [4, 0, 5, 0]);
    x.claim_irq(0x1000, false).unwrap();
    x.claim_irq(0x1200, true).unwrap();
    assert_eq!(x.dt_interrupt_spec(0x1000), Some([0x1000, 0]));
    assert_eq!(x.dt_interrupt_spec(0x1200), Some([0x1200, 1]));
    assert_eq!(x.dt_interrupt_spec(0x1201), None);
}

#[test]
fn machine_reset_masks_sources_and_resets_icps() {
    let (x, sink) = setup(1);
    route(&x, A, false, 0, 5);
    x.set_irq(A, true).unwrap();
    assert!(sink.line(0));
    x.reset();
    assert!(!sink.line(0));
    assert_eq!(x.get_icp_state(0), Ok(0x0000_0000_FFFF_0000));
    assert_eq!(x.get_source_state(A), Ok(0xFF << 32 | KVM_XICS_MASKED));
    assert_eq!(x.irq_kind(A), Some(false));
}
