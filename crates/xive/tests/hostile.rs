//! Hostile input: random MMIO offsets/sizes/values, random hcall arguments, random device
//! attributes and random restore images never panic, and hcalls only return defined codes.

mod common;

use common::*;
use hvapi::device::DeviceAttrs;
use hvapi::hcall::*;
use proptest::prelude::*;

fn ready() -> Env {
    let e = env(2);
    GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16);
    GuestQueue::setup(&e.x, &e.mem, 1, 3, 0x20000, 12);
    e.x.claim(0x1000, false).unwrap();
    e.x.claim(0x1001, true).unwrap();
    route(&e.x, 0x1000, 1, 5);
    route(&e.x, 0x1001, 0, 6);
    route(&e.x, 0, 0, 7);
    set_cppr(&e.x, 0, 0xFF);
    set_cppr(&e.x, 1, 0xFF);
    e
}

/// Offsets biased towards the interesting places.
fn esb_off() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..0x2001, 0u64..0x20000).prop_map(|(l, o)| (l << 17) | o),
        (
            prop_oneof![
                Just(0u64),
                Just(1),
                Just(0x1000),
                Just(0x1001),
                Just(0x1FFF)
            ],
            0u64..0x20000
        )
            .prop_map(|(l, o)| (l << 17) | o),
    ]
}

fn tima_off() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..0x50000,
        (0u64..4, 0u64..0x1000).prop_map(|(p, o)| (p << 16) | o)
    ]
}

fn arg() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..16,
        0u64..0x2100,
        Just(0xFF),
        Just(u64::MAX),
        0u64..0x400000
    ]
}

#[derive(Debug, Clone)]
enum Access {
    EsbRead(u64, usize),
    EsbWrite(u64, Vec<u8>),
    TimaRead(u32, u64, usize),
    TimaWrite(u32, u64, Vec<u8>),
    Hcall(u32, u64, [u64; 9]),
    SetAttr(u32, u64, Vec<u8>),
    GetAttr(u32, u64, usize),
    Irq(u32, bool),
}

fn access() -> impl Strategy<Value = Access> {
    let opcode = prop_oneof![(0x3A8u64..=0x3D0).prop_map(|o| o & !3), any::<u64>()];
    prop_oneof![
        (esb_off(), 0usize..17).prop_map(|(o, s)| Access::EsbRead(o, s)),
        (esb_off(), proptest::collection::vec(any::<u8>(), 0..17))
            .prop_map(|(o, d)| Access::EsbWrite(o, d)),
        (0u32..4, tima_off(), 0usize..17).prop_map(|(c, o, s)| Access::TimaRead(c, o, s)),
        (
            0u32..4,
            tima_off(),
            proptest::collection::vec(any::<u8>(), 0..17)
        )
            .prop_map(|(c, o, d)| Access::TimaWrite(c, o, d)),
        (0u32..4, opcode, proptest::array::uniform9(arg()))
            .prop_map(|(c, o, a)| Access::Hcall(c, o, a)),
        (
            0u32..7,
            arg(),
            proptest::collection::vec(any::<u8>(), 0..70)
        )
            .prop_map(|(g, a, d)| Access::SetAttr(g, a, d)),
        (0u32..7, arg(), 0usize..70).prop_map(|(g, a, s)| Access::GetAttr(g, a, s)),
        (arg(), any::<bool>()).prop_map(|(l, v)| Access::Irq(l as u32, v)),
    ]
}

const KNOWN: &[i64] = &[
    H_SUCCESS,
    H_HARDWARE,
    H_FUNCTION,
    H_PARAMETER,
    H_P2,
    H_P3,
    H_P4,
    H_P5,
];

/// Property tests run from a fixed seed so that CI is reproducible; set
/// `PROPTEST_RNG_SEED=<u64>` to explore other seeds.
fn fixed_seed() -> proptest::test_runner::RngSeed {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x7061_7072_2d68_7601);
    proptest::test_runner::RngSeed::Fixed(seed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, rng_seed: fixed_seed(), ..ProptestConfig::default() })]

    #[test]
    fn random_accesses_never_panic(seq in proptest::collection::vec(access(), 1..60)) {
        let e = ready();
        for a in seq {
            match a {
                Access::EsbRead(o, s) => {
                    let mut d = vec![0u8; s];
                    e.x.esb_read(o, &mut d);
                    if s != 8 {
                        prop_assert!(d.iter().all(|&b| b == 0xFF));
                    }
                }
                Access::EsbWrite(o, d) => e.x.esb_write(o, &d),
                Access::TimaRead(c, o, s) => {
                    let mut d = vec![0u8; s];
                    e.x.tima_read(c, o, &mut d);
                }
                Access::TimaWrite(c, o, d) => e.x.tima_write(c, o, &d),
                Access::Hcall(c, op, args) => {
                    if let Some(r) = e.x.hcall(c, op, &args) {
                        prop_assert!(KNOWN.contains(&r.ret), "unexpected code {}", r.ret);
                        prop_assert!(r.nout <= 4);
                    } else {
                        prop_assert!(!(0x3A8..=0x3D0).contains(&op) || op & 3 != 0);
                    }
                }
                Access::SetAttr(g, a, d) => {
                    let _ = e.x.set_attr(g, a, &d);
                }
                Access::GetAttr(g, a, s) => {
                    let mut d = vec![0u8; s];
                    let _ = e.x.get_attr(g, a, &mut d);
                }
                Access::Irq(l, v) => {
                    let _ = hvapi::irq::IrqInjector::set_irq(&*e.x, l, v);
                }
            }
        }
        // The controller is still coherent: a snapshot restores onto a fresh one.
        let st = e.x.save();
        let x2 = xive::Xive::new(xive::XiveConfig::qemu_default(2), e.mem.clone(), e.sink.clone()).unwrap();
        x2.restore(&st).unwrap();
        prop_assert_eq!(x2.save(), st);
    }

    #[test]
    fn random_restore_images_never_panic(
        sources in proptest::collection::vec((arg(), any::<bool>(), any::<bool>(), any::<u8>(), any::<u64>()), 0..8),
        ends in proptest::collection::vec((0u32..4, any::<u8>(), arg(), any::<u8>(), arg(), any::<bool>(), any::<bool>(), any::<u8>()), 0..6),
        presenters in proptest::collection::vec((0u32..4, any::<[u8; 16]>()), 0..4),
        nr_servers in 0u32..5,
    ) {
        let e = ready();
        let st = xive::XiveState {
            version: xive::XIVE_STATE_VERSION,
            nr_irqs: 0x2000,
            esb_shift: 17,
            nr_servers,
            sources: sources.into_iter().map(|(l, lsi, a, pq, eas)| xive::SourceState { lisn: l as u32, lsi, asserted: a, pq, eas }).collect(),
            ends: ends.into_iter().map(|(s, p, q, qs, i, g, an, esn)| xive::EndState {
                server: s, priority: p, qaddr: q, qshift: qs, index: i as u32, generation: g, always_notify: an, esn,
            }).collect(),
            presenters: presenters.into_iter().map(|(s, r)| xive::PresenterState { server: s, os_ring: r }).collect(),
        };
        if e.x.restore(&st).is_ok() {
            // Drive it a little.
            for l in [0u32, 1, 0x1000, 0x1001] {
                let _ = hvapi::irq::IrqInjector::set_irq(&*e.x, l, true);
                esb_load(&e.x, l, 0x000);
            }
            for s in 0..4 {
                ack(&e.x, s);
            }
        }
    }
}
