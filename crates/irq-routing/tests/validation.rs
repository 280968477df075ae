//! `KVM_SET_GSI_ROUTING` validation (spec §2.2), default table (§2.3) and replace semantics
//! (§2.1).

mod common;

use std::sync::Arc;

use common::{DevidTranslator, Recorder};
use irq_routing::*;

const EINVAL: i32 = -22;
const EFAULT: i32 = -14;

fn cfg() -> RouterConfig {
    RouterConfig {
        max_routes: 16,
        nr_irqchips: 3,
        irqchip_pins: 32,
    }
}

fn router() -> Router {
    Router::new(cfg()).unwrap()
}

fn raw(gsi: u32, kind: u32, flags: u32, u: [u32; 8]) -> KvmIrqRoutingEntry {
    KvmIrqRoutingEntry {
        gsi,
        kind,
        flags,
        u,
    }
}

fn raw_chip(gsi: u32, chip: u32, pin: u32) -> KvmIrqRoutingEntry {
    raw(
        gsi,
        KVM_IRQ_ROUTING_IRQCHIP,
        0,
        [chip, pin, 0, 0, 0, 0, 0, 0],
    )
}

fn raw_msi(gsi: u32, flags: u32, data: u32, devid: u32) -> KvmIrqRoutingEntry {
    raw(
        gsi,
        KVM_IRQ_ROUTING_MSI,
        flags,
        [0, 0, data, devid, 0, 0, 0, 0],
    )
}

fn to_bytes(flags: u32, nr: u32, entries: &[KvmIrqRoutingEntry]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&nr.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    for e in entries {
        b.extend_from_slice(&e.to_bytes());
    }
    b
}

#[test]
fn too_many_entries_is_einval() {
    let r = router();
    let entries: Vec<_> = (0..17)
        .map(|i| RoutingEntry::irqchip(i % 16, 0, 0))
        .collect();
    let e = r.set_gsi_routing(&entries).unwrap_err();
    assert_eq!(e, RoutingError::TooManyEntries { nr: 17, max: 16 });
    assert_eq!(e.errno(), EINVAL);
    // Exactly the maximum is fine (one entry per GSI).
    let entries: Vec<_> = (0..16).map(|i| RoutingEntry::irqchip(i, 0, i)).collect();
    r.set_gsi_routing(&entries).unwrap();
}

#[test]
fn table_flags_must_be_zero() {
    let r = router();
    let e = r.set_gsi_routing_raw(1, &[raw_chip(0, 0, 0)]).unwrap_err();
    assert_eq!(e, RoutingError::BadTableFlags(1));
    assert_eq!(e.errno(), EINVAL);
    // The entry count is checked before the flags, as KVM's ioctl does.
    let many = vec![raw_chip(0, 0, 0); 17];
    assert!(matches!(
        r.set_gsi_routing_raw(1, &many),
        Err(RoutingError::TooManyEntries { .. })
    ));
}

#[test]
fn gsi_at_or_above_max_is_einval_and_checked_before_anything_else() {
    let r = router();
    let e = r
        .set_gsi_routing(&[RoutingEntry::irqchip(16, 0, 0)])
        .unwrap_err();
    assert_eq!(e, RoutingError::GsiOutOfRange { index: 0, gsi: 16 });
    assert_eq!(e.errno(), EINVAL);
    let e = r
        .set_gsi_routing(&[RoutingEntry::irqchip(u32::MAX, 0, 0)])
        .unwrap_err();
    assert_eq!(
        e,
        RoutingError::GsiOutOfRange {
            index: 0,
            gsi: u32::MAX
        }
    );
    // KVM scans every GSI before looking at any entry: a bad GSI at index 2 wins over bad
    // flags at index 0.
    let e = r
        .set_gsi_routing_raw(
            0,
            &[
                raw(0, KVM_IRQ_ROUTING_IRQCHIP, 4, [0; 8]),
                raw_chip(1, 0, 1),
                raw_chip(99, 0, 0),
            ],
        )
        .unwrap_err();
    assert_eq!(e, RoutingError::GsiOutOfRange { index: 2, gsi: 99 });
    // GSI max - 1 is fine.
    r.set_gsi_routing(&[RoutingEntry::irqchip(15, 0, 0)])
        .unwrap();
}

#[test]
fn entry_flags_rules() {
    let r = Router::with_translator(cfg(), Arc::new(DevidTranslator::default())).unwrap();
    // IRQCHIP entries take no flags, not even VALID_DEVID.
    let e = r
        .set_gsi_routing_raw(0, &[raw(0, KVM_IRQ_ROUTING_IRQCHIP, 1, [0; 8])])
        .unwrap_err();
    assert_eq!(e, RoutingError::BadEntryFlags { index: 0, flags: 1 });
    assert_eq!(e.errno(), EINVAL);
    // MSI entries take VALID_DEVID only.
    for bad in [2u32, 3, 0x8000_0000] {
        let e = r
            .set_gsi_routing_raw(0, &[raw_msi(1, bad, 0, 0)])
            .unwrap_err();
        assert_eq!(
            e,
            RoutingError::BadEntryFlags {
                index: 0,
                flags: bad
            }
        );
    }
    r.set_gsi_routing_raw(0, &[raw_msi(1, KVM_MSI_VALID_DEVID, 0, 7)])
        .unwrap();
    assert_eq!(
        r.gsi_routing().unwrap(),
        vec![RoutingEntry::msi(1, 0, 0, Some(7))]
    );
    // Unsupported types with flags fail on the flags first.
    let e = r
        .set_gsi_routing_raw(0, &[raw(2, KVM_IRQ_ROUTING_HV_SINT, 1, [0; 8])])
        .unwrap_err();
    assert_eq!(e, RoutingError::BadEntryFlags { index: 0, flags: 1 });
}

#[test]
fn one_pin_per_irqchip_per_gsi() {
    let r = router();
    // Same GSI on two different irqchips: allowed (x86 PIC + IOAPIC style).
    r.set_gsi_routing(&[
        RoutingEntry::irqchip(3, 0, 3),
        RoutingEntry::irqchip(3, 2, 7),
        RoutingEntry::irqchip(3, 1, 3),
    ])
    .unwrap();
    assert_eq!(r.routes(3).len(), 3);
    // Same irqchip twice on one GSI, even with a different pin: refused.
    let e = r
        .set_gsi_routing(&[
            RoutingEntry::irqchip(3, 0, 3),
            RoutingEntry::irqchip(4, 0, 4),
            RoutingEntry::irqchip(3, 0, 5),
        ])
        .unwrap_err();
    assert_eq!(e, RoutingError::ConflictingRoute { index: 2, gsi: 3 });
    assert_eq!(e.errno(), EINVAL);
    // Exact duplicate: refused too.
    let e = r
        .set_gsi_routing(&[
            RoutingEntry::irqchip(3, 1, 3),
            RoutingEntry::irqchip(3, 1, 3),
        ])
        .unwrap_err();
    assert_eq!(e, RoutingError::ConflictingRoute { index: 1, gsi: 3 });
    // The same pin under two GSIs is fine.
    r.set_gsi_routing(&[
        RoutingEntry::irqchip(1, 0, 9),
        RoutingEntry::irqchip(2, 0, 9),
    ])
    .unwrap();
}

#[test]
fn msi_entries_are_alone_on_their_gsi() {
    let r = router();
    let cases: [[RoutingEntry; 2]; 3] = [
        [
            RoutingEntry::msi(5, 0, 1, None),
            RoutingEntry::irqchip(5, 0, 5),
        ],
        [
            RoutingEntry::irqchip(5, 0, 5),
            RoutingEntry::msi(5, 0, 1, None),
        ],
        [
            RoutingEntry::msi(5, 0, 1, None),
            RoutingEntry::msi(5, 0, 2, None),
        ],
    ];
    for c in cases {
        let e = r.set_gsi_routing(&c).unwrap_err();
        assert_eq!(e, RoutingError::ConflictingRoute { index: 1, gsi: 5 });
    }
    // An unsupported type sharing a GSI fails on the sharing rule, which KVM checks before
    // the type.
    let e = r
        .set_gsi_routing_raw(
            0,
            &[
                raw_chip(6, 0, 6),
                raw(6, KVM_IRQ_ROUTING_S390_ADAPTER, 0, [0; 8]),
            ],
        )
        .unwrap_err();
    assert_eq!(e, RoutingError::ConflictingRoute { index: 1, gsi: 6 });
}

#[test]
fn irqchip_and_pin_ranges() {
    let r = router();
    let e = r
        .set_gsi_routing(&[RoutingEntry::irqchip(0, 3, 0)])
        .unwrap_err();
    assert_eq!(
        e,
        RoutingError::BadIrqchip {
            index: 0,
            irqchip: 3
        }
    );
    assert_eq!(e.errno(), EINVAL);
    let e = r
        .set_gsi_routing(&[
            RoutingEntry::irqchip(0, 2, 31),
            RoutingEntry::irqchip(1, 2, 32),
        ])
        .unwrap_err();
    assert_eq!(e, RoutingError::BadPin { index: 1, pin: 32 });
    assert_eq!(e.errno(), EINVAL);
}

#[test]
fn unsupported_types_are_einval() {
    let r = router();
    for kind in [
        0,
        KVM_IRQ_ROUTING_S390_ADAPTER,
        KVM_IRQ_ROUTING_HV_SINT,
        KVM_IRQ_ROUTING_XEN_EVTCHN,
        77,
    ] {
        let e = r
            .set_gsi_routing_raw(0, &[raw(1, kind, 0, [0; 8])])
            .unwrap_err();
        assert_eq!(e, RoutingError::UnsupportedType { index: 0, kind });
        assert_eq!(e.errno(), EINVAL);
    }
}

#[test]
fn devid_needs_the_capability() {
    // pseries: no device ids.
    let r = router();
    assert!(!r.msi_devid_capability());
    let e = r
        .set_gsi_routing(&[RoutingEntry::msi(1, 0x4000_0000_0000, 0x1001, Some(3))])
        .unwrap_err();
    assert_eq!(e, RoutingError::DevidNotSupported { index: 0 });
    assert_eq!(e.errno(), EINVAL);
    // Without the flag the devid word is ignored.
    r.set_gsi_routing_raw(0, &[raw_msi(1, 0, 0x1001, 3)])
        .unwrap();
    assert_eq!(
        r.gsi_routing().unwrap(),
        vec![RoutingEntry::msi(1, 0, 0x1001, None)]
    );
    // A translator with device ids: accepted.
    let r = Router::with_translator(cfg(), Arc::new(DevidTranslator::default())).unwrap();
    assert!(r.msi_devid_capability());
    r.set_gsi_routing(&[RoutingEntry::msi(1, common::ITS_DOORBELL, 0, Some(3))])
        .unwrap();
    // The capability follows the translator.
    r.set_msi_translator(Arc::new(PseriesMsiTranslator::new()));
    assert!(!r.msi_devid_capability());
}

#[test]
fn empty_table_is_legal_and_routes_nothing() {
    let r = router();
    r.set_irqchip(Some(Arc::new(Recorder::new())));
    r.set_gsi_routing(&[]).unwrap();
    assert_eq!(r.gsi_routing(), Some(vec![]));
    assert_eq!(r.set_irq(0, true), Err(InjectError::NoRoute(0)));
    assert_eq!(InjectError::NoRoute(0).errno(), -2);
}

#[test]
fn default_table_is_identity_on_irqchip_0() {
    let r = Router::new(RouterConfig::default()).unwrap();
    assert_eq!(r.gsi_routing(), None);
    for gsi in [0u32, 0x10, 0x1000, 0x1fff, 0x2000, u32::MAX] {
        assert_eq!(
            r.routes(gsi),
            vec![RoutingKind::Irqchip {
                irqchip: 0,
                pin: gsi
            }]
        );
    }
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    assert_eq!(r.set_irq(0x1003, true), Ok(1));
    assert_eq!(r.set_irq(0x1003, false), Ok(1));
    assert_eq!(rec.take(), vec![(0x1003, true), (0x1003, false)]);
    // Back to the default after a table was set.
    r.set_gsi_routing(&[RoutingEntry::irqchip(1, 0, 0x1005)])
        .unwrap();
    assert_eq!(r.set_irq(0x1003, true), Err(InjectError::NoRoute(0x1003)));
    r.reset_default_routing();
    assert_eq!(r.gsi_routing(), None);
    assert_eq!(r.set_irq(0x1003, true), Ok(1));
}

#[test]
fn setting_a_table_replaces_the_old_one() {
    let r = router();
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    r.set_gsi_routing(&[
        RoutingEntry::irqchip(1, 0, 11),
        RoutingEntry::irqchip(2, 0, 12),
    ])
    .unwrap();
    r.set_gsi_routing(&[
        RoutingEntry::irqchip(2, 0, 22),
        RoutingEntry::irqchip(3, 0, 13),
    ])
    .unwrap();
    assert_eq!(r.set_irq(1, true), Err(InjectError::NoRoute(1)));
    assert_eq!(r.set_irq(2, true), Ok(1));
    assert_eq!(r.set_irq(3, true), Ok(1));
    assert_eq!(rec.take(), vec![(22, true), (13, true)]);
}

#[test]
fn refused_table_keeps_the_old_one() {
    let r = router();
    let good = vec![RoutingEntry::irqchip(1, 0, 11)];
    r.set_gsi_routing(&good).unwrap();
    assert!(
        r.set_gsi_routing(&[
            RoutingEntry::irqchip(2, 0, 5),
            RoutingEntry::irqchip(2, 0, 6)
        ])
        .is_err()
    );
    assert_eq!(r.gsi_routing(), Some(good));
}

#[test]
fn byte_interface_bounds_nr_before_reading() {
    let r = router();
    // nr far beyond the maximum with no entries behind it: -EINVAL, not a huge allocation
    // or -EFAULT.
    let e = r
        .set_gsi_routing_bytes(&to_bytes(0, u32::MAX, &[]))
        .unwrap_err();
    assert!(matches!(e, RoutingError::TooManyEntries { .. }));
    // nr within the maximum but the buffer is short: -EFAULT.
    let e = r
        .set_gsi_routing_bytes(&to_bytes(0, 2, &[raw_chip(0, 0, 0)]))
        .unwrap_err();
    assert_eq!(e, RoutingError::Fault);
    assert_eq!(e.errno(), EFAULT);
    assert_eq!(r.set_gsi_routing_bytes(&[0u8; 7]), Err(RoutingError::Fault));
    // A well-formed buffer, with trailing bytes ignored.
    let mut b = to_bytes(0, 2, &[raw_chip(4, 1, 2), raw_msi(5, 0, 0x1234, 0)]);
    b.extend_from_slice(&[0xff; 5]);
    r.set_gsi_routing_bytes(&b).unwrap();
    assert_eq!(
        r.gsi_routing().unwrap(),
        vec![
            RoutingEntry::irqchip(4, 1, 2),
            RoutingEntry::msi(5, 0, 0x1234, None)
        ]
    );
    // Header flags through the byte path.
    assert_eq!(
        r.set_gsi_routing_bytes(&to_bytes(8, 0, &[])),
        Err(RoutingError::BadTableFlags(8))
    );
}

#[test]
fn raw_entry_layout_roundtrips() {
    let e = RoutingEntry::msi(9, 0x0000_0400_0000_1000, 0xabcd, Some(0x77));
    let r = KvmIrqRoutingEntry::from(&e);
    assert_eq!(r.kind, KVM_IRQ_ROUTING_MSI);
    assert_eq!(r.flags, KVM_MSI_VALID_DEVID);
    assert_eq!(r.u[..4], [0x1000, 0x400, 0xabcd, 0x77]);
    let bytes = r.to_bytes();
    assert_eq!(bytes.len(), KVM_IRQ_ROUTING_ENTRY_SIZE);
    assert_eq!(&bytes[0..4], &9u32.to_ne_bytes());
    assert_eq!(&bytes[16..20], &0x1000u32.to_ne_bytes());
    assert_eq!(KvmIrqRoutingEntry::from_bytes(&bytes), r);
    let m = e.kind.msi_message().unwrap();
    assert_eq!(m.address, 0x0000_0400_0000_1000);
    assert_eq!(m.devid, Some(0x77));
}
