//! Hostile input: random hypercalls (any opcode, argument, caller), random RTAS cell
//! vectors, random device attributes and random saved images never panic, only return the
//! statuses the spec lists, and leave the controller self-consistent (external lines match
//! the ICPs, no operation stuck in flight, the state can be captured and restored).

mod common;

use std::sync::Arc;

use common::{LineSink, route};
use hvapi::device::{DeviceAttrs, DeviceError};
use hvapi::hcall::*;
use hvapi::irq::IrqInjector;
use proptest::prelude::*;
use xics::device::{KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_GRP_SOURCES};
use xics::{
    IcpState, RtasStatus, SourceState, XICS_STATE_VERSION, Xics, XicsConfig, XicsRtasCall,
    XicsState,
};

const XICS_OPS: [u64; 6] = [H_EOI, H_CPPR, H_IPI, H_IPOLL, H_XIRR, H_XIRR_X];

fn world() -> (Xics, Arc<LineSink>) {
    let sink = LineSink::new(4);
    let x = Xics::new(XicsConfig::spapr(4), sink.clone()).unwrap();
    for k in 0..3 {
        x.connect_vcpu(k).unwrap();
        x.h_cppr(k, 0xFF).unwrap();
    }
    route(&x, 0x1000, true, 0, 5);
    route(&x, 0x1300, false, 1, 4);
    route(&x, 0x1301, false, 2, 6);
    route(&x, 0x1800, false, 0, 5);
    (x, sink)
}

/// The controller is self-consistent: lines follow the ICPs, a capture is possible and
/// restores into a fresh controller with the same lines.
fn consistent(x: &Xics, sink: &LineSink) -> Result<(), TestCaseError> {
    let st = x.try_save();
    prop_assert!(st.is_some(), "an operation was left in flight");
    let st = st.unwrap();
    for k in 0..4u32 {
        let line = match x.get_icp_state(k) {
            Ok(v) => {
                let (cppr, xisr, ppri) = (
                    (v >> 56) as u8,
                    (v >> 32) as u32 & 0xFF_FFFF,
                    (v >> 16) as u8,
                );
                if xisr != 0 {
                    prop_assert!(ppri < cppr, "presented interrupt not above CPPR: {:#x}", v);
                }
                xisr != 0 && ppri < cppr
            }
            Err(_) => false,
        };
        prop_assert_eq!(sink.line(k), line, "server {}", k);
    }
    let sink2 = LineSink::new(4);
    let y = Xics::new(XicsConfig::spapr(4), sink2.clone()).unwrap();
    y.restore(&st).unwrap();
    prop_assert_eq!(sink2.snapshot(), sink.snapshot());
    Ok(())
}

#[derive(Debug, Clone)]
enum Poke {
    Hcall {
        server: u32,
        op: u64,
        args: [u64; 9],
        tb: u64,
    },
    Trigger {
        irq: u32,
        level: bool,
    },
    Rtas {
        call: usize,
        args: Vec<u32>,
        nret: usize,
    },
}

fn server() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..5, 1 => any::<u32>()]
}

fn arg() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..8,
        2 => prop::sample::select(&[0xFF_u64, 0xFF00_0002, 0xFF00_1300, 0x0500_1301, 0x1000, 0xFF00_1800, 0x0000_0002][..]),
        2 => any::<u32>().prop_map(u64::from),
        2 => any::<u64>(),
    ]
}

fn irq() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => prop::sample::select(&[0x1000u32, 0x1300, 0x1301, 0x1800, 0x1001, 2, 0][..]),
        1 => any::<u32>(),
    ]
}

fn poke() -> impl Strategy<Value = Poke> {
    prop_oneof![
        6 => (server(), prop_oneof![4 => prop::sample::select(&XICS_OPS[..]), 1 => any::<u64>()],
              prop::array::uniform9(arg()), any::<u64>())
            .prop_map(|(server, op, args, tb)| Poke::Hcall { server, op, args, tb }),
        2 => (irq(), any::<bool>()).prop_map(|(irq, level)| Poke::Trigger { irq, level }),
        2 => (0..4usize, prop::collection::vec(prop_oneof![irq(), any::<u32>()], 0..5), 0..5usize)
            .prop_map(|(call, args, nret)| Poke::Rtas { call, args, nret }),
    ]
}

proptest! {
    #![proptest_config(common::proptest_config(256))]

    #[test]
    fn random_guest_input_never_panics(pokes in prop::collection::vec(poke(), 1..80)) {
        let (x, sink) = world();
        for p in &pokes {
            match p {
                Poke::Hcall { server, op, args, tb } => match x.hcall(*server, *op, args, *tb) {
                    None => prop_assert!(!XICS_OPS.contains(op)),
                    Some(r) => {
                        prop_assert!(XICS_OPS.contains(op));
                        prop_assert!([H_SUCCESS, H_PARAMETER, H_HARDWARE].contains(&r.ret), "{:?}", r);
                        if *op == H_XIRR_X && r.ret == H_SUCCESS {
                            prop_assert_eq!(r.out[1], *tb);
                        }
                    }
                },
                Poke::Trigger { irq, level } => {
                    let known = [0x1000, 0x1300, 0x1301, 0x1800].contains(irq);
                    prop_assert_eq!(x.set_irq(*irq, *level).is_ok(), known);
                }
                Poke::Rtas { call, args, nret } => {
                    let mut rets = vec![0xAAAA_AAAAu32; *nret];
                    let st = x.rtas_call(XicsRtasCall::ALL[*call], args, &mut rets);
                    prop_assert!(matches!(st, RtasStatus::Success | RtasStatus::ParameterError));
                    if let Some(r0) = rets.first() {
                        prop_assert_eq!(*r0, st.cell());
                    }
                }
            }
            consistent(&x, &sink)?;
        }
    }

    #[test]
    fn random_device_attributes_never_panic(
        ops in prop::collection::vec(
            (prop_oneof![4 => 1u32..3, 1 => any::<u32>()],
             prop_oneof![3 => 0x0FF0u64..0x2010, 1 => 0u64..4, 1 => any::<u64>()],
             prop::collection::vec(any::<u8>(), 0..12),
             any::<bool>()),
            1..60),
        icp_writes in prop::collection::vec((0u32..5, any::<u64>()), 0..20),
    ) {
        let (x, sink) = world();
        let allowed = [
            DeviceError::NoSuchAttr, DeviceError::Invalid, DeviceError::NotFound, DeviceError::Busy,
        ];
        for (group, attr, data, set) in &ops {
            let has = x.has_attr(*group, *attr);
            let r = if *set {
                x.set_attr(*group, *attr, data)
            } else {
                let mut buf = data.clone();
                x.get_attr(*group, *attr, &mut buf)
            };
            if let Err(e) = r {
                prop_assert!(allowed.contains(&e), "{:?}", e);
                if !has {
                    prop_assert!(matches!(e, DeviceError::NoSuchAttr | DeviceError::NotFound));
                }
            } else {
                prop_assert!(has);
            }
            if *group == KVM_DEV_XICS_GRP_SOURCES || *group == KVM_DEV_XICS_GRP_CTRL {
                consistent(&x, &sink)?;
            }
        }
        for (server, v) in &icp_writes {
            if let Err(e) = x.set_icp_state(*server, *v) {
                prop_assert!(matches!(e, DeviceError::Invalid | DeviceError::NotFound));
            }
            consistent(&x, &sink)?;
        }
    }

    #[test]
    fn random_images_are_refused_or_restored_never_panic(
        nr_servers in 0u32..8,
        sources in prop::collection::vec(
            (prop_oneof![0x0FF0u32..0x2010, any::<u32>()], any::<bool>(), 0u32..6, any::<u8>(), any::<u8>(),
             any::<[bool; 5]>()),
            0..12),
        icps in prop::collection::vec((0u32..8, any::<u8>(), prop_oneof![0u32..4, 0x1000u32..0x1010, any::<u32>()],
                                       any::<u8>(), any::<u8>(), any::<bool>()), 0..6),
    ) {
        let st = XicsState {
            version: XICS_STATE_VERSION,
            nr_servers,
            sources: sources.into_iter().map(|(irq, lsi, server, priority, saved_priority, f)| SourceState {
                irq, lsi, server, priority, saved_priority,
                presented: f[0], queued: f[1], masked_pending: f[2], resend: f[3], sent: f[4],
            }).collect(),
            icps: icps.into_iter().map(|(server, cppr, xisr, mfrr, pending_priority, need_resend)| IcpState {
                server, cppr, xisr, mfrr, pending_priority, need_resend,
            }).collect(),
        };
        let (x, sink) = world();
        if x.restore(&st).is_ok() {
            // Whatever was restored keeps working under guest activity.
            for k in 0..4 {
                let _ = x.h_xirr(k);
                let _ = x.h_eoi(k, 0xFF00_1300);
                let _ = x.h_cppr(k, 0xFF);
            }
            prop_assert!(x.try_save().is_some());
            let _ = sink;
        }
    }
}
