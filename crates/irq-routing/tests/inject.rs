//! Injection through the table: `KVM_IRQ_LINE`, `KVM_SIGNAL_MSI`, controllers, MSI
//! translation (spec §1, §4, §5).

mod common;

use std::sync::Arc;

use common::{DevidTranslator, ITS_DOORBELL, LPI_BASE, Recorder};
use hvapi::irq::IrqAckListener;
use irq_routing::*;

fn cfg() -> RouterConfig {
    RouterConfig {
        max_routes: 64,
        nr_irqchips: 3,
        irqchip_pins: 0x2000,
    }
}

fn with_chips(n: usize) -> (Router, Vec<Arc<Recorder>>) {
    let r = Router::new(cfg()).unwrap();
    let recs: Vec<_> = (0..n).map(|_| Arc::new(Recorder::new())).collect();
    for (i, rec) in recs.iter().enumerate() {
        r.set_irqchip_at(i as u32, Some(rec.clone())).unwrap();
    }
    (r, recs)
}

#[test]
fn irqchip_route_drives_the_pin_with_the_level() {
    let (r, recs) = with_chips(1);
    r.set_gsi_routing(&[RoutingEntry::irqchip(4, 0, 0x1004)])
        .unwrap();
    assert_eq!(r.set_irq(4, true), Ok(1));
    assert_eq!(r.set_irq(4, false), Ok(1));
    assert_eq!(recs[0].take(), vec![(0x1004, true), (0x1004, false)]);
}

#[test]
fn msi_route_triggers_the_source_named_by_its_data() {
    let (r, recs) = with_chips(1);
    r.set_gsi_routing(&[RoutingEntry::msi(7, SPAPR_PCI_MSI_WINDOW, 0x1010, None)])
        .unwrap();
    assert_eq!(r.set_irq(7, true), Ok(1));
    // The deassert half is ignored by MSI routes.
    assert_eq!(r.set_irq(7, false), Ok(0));
    assert_eq!(recs[0].take(), vec![(0x1010, true)]);
}

#[test]
fn several_irqchips_on_one_gsi_all_fire() {
    let (r, recs) = with_chips(3);
    r.set_gsi_routing(&[
        RoutingEntry::irqchip(2, 0, 2),
        RoutingEntry::irqchip(2, 2, 18),
        RoutingEntry::irqchip(3, 1, 3),
    ])
    .unwrap();
    assert_eq!(r.set_irq(2, true), Ok(2));
    assert_eq!(recs[0].take(), vec![(2, true)]);
    assert_eq!(recs[1].take(), vec![]);
    assert_eq!(recs[2].take(), vec![(18, true)]);
    // One of the two controllers missing: partial delivery still counts.
    r.set_irqchip_at(2, None).unwrap();
    assert_eq!(r.set_irq(2, true), Ok(1));
    // Both missing: the error surfaces.
    r.set_irqchip_at(0, None).unwrap();
    assert_eq!(r.set_irq(2, true), Err(InjectError::NoController));
    assert!(matches!(
        r.set_irqchip_at(3, None),
        Err(ConfigError::NoSuchIrqchip(3))
    ));
}

#[test]
fn no_controller_installed_is_enxio_not_a_panic() {
    let r = Router::new(RouterConfig::default()).unwrap();
    let e = r.set_irq(0x1000, true).unwrap_err();
    assert_eq!(e, InjectError::NoController);
    assert_eq!(e.errno(), -6);
    assert_eq!(
        r.signal_msi(SPAPR_PCI_MSI_WINDOW, 0x1000, None),
        Err(InjectError::NoController)
    );
    r.set_gsi_routing(&[RoutingEntry::msi(1, 0, 5, None)])
        .unwrap();
    assert_eq!(r.set_irq(1, true), Err(InjectError::NoController));
    // EOIs with nothing registered are harmless.
    r.lsi_eoi(0x1000);
}

#[test]
fn controller_can_be_swapped_and_removed_at_runtime() {
    let r = Router::new(RouterConfig::default()).unwrap();
    let xics = Arc::new(Recorder::new());
    let xive = Arc::new(Recorder::new());
    r.set_irqchip(Some(xics.clone()));
    r.set_irq(0x1001, true).unwrap();
    r.set_irqchip(Some(xive.clone()));
    r.set_irq(0x1002, true).unwrap();
    r.signal_msi(0, 0x1003, None).unwrap();
    r.set_irqchip(None);
    assert_eq!(r.set_irq(0x1004, true), Err(InjectError::NoController));
    assert_eq!(xics.take(), vec![(0x1001, true)]);
    assert_eq!(xive.take(), vec![(0x1002, true), (0x1003, true)]);
    // The router holds no controller any more.
    assert_eq!(Arc::strong_count(&xics), 1);
    assert_eq!(Arc::strong_count(&xive), 1);
}

#[test]
fn unknown_source_is_reported() {
    let r = Router::new(RouterConfig::default()).unwrap();
    r.set_irqchip(Some(Arc::new(Recorder::with_limit(0x2000))));
    let e = r.set_irq(0x2000, true).unwrap_err();
    assert_eq!(e, InjectError::NoSource(0x2000));
    assert_eq!(e.errno(), -22);
    assert_eq!(
        r.signal_msi(0, u32::MAX, None),
        Err(InjectError::NoSource(u32::MAX))
    );
}

#[test]
fn signal_msi_pseries() {
    let (r, recs) = with_chips(1);
    assert_eq!(r.signal_msi(SPAPR_PCI_MSI_WINDOW, 0x1020, None), Ok(true));
    assert_eq!(recs[0].take(), vec![(0x1020, true)]);
    // pseries MSIs carry no device id.
    let e = r.signal_msi(0, 0x1020, Some(1)).unwrap_err();
    assert_eq!(e, InjectError::DevidNotSupported);
    assert_eq!(e.errno(), -22);
    // Raw struct kvm_msi: flags other than VALID_DEVID are refused.
    let mut m = KvmMsi {
        address_lo: 0,
        address_hi: 0x400,
        data: 0x1021,
        flags: 0,
        devid: 0,
    };
    assert_eq!(r.signal_msi_raw(&m), Ok(true));
    m.flags = 2;
    assert_eq!(r.signal_msi_raw(&m), Err(InjectError::BadMsiFlags(2)));
    m.flags = KVM_MSI_VALID_DEVID;
    assert_eq!(r.signal_msi_raw(&m), Err(InjectError::DevidNotSupported));
    assert_eq!(recs[0].take(), vec![(0x1021, true)]);
    let mut bytes = [0u8; KVM_MSI_SIZE];
    bytes[4..8].copy_from_slice(&0x400u32.to_ne_bytes());
    bytes[8..12].copy_from_slice(&0x55u32.to_ne_bytes());
    let decoded = KvmMsi::from_bytes(&bytes);
    assert_eq!(decoded.address(), SPAPR_PCI_MSI_WINDOW);
    assert_eq!(decoded.data, 0x55);
}

#[test]
fn pseries_window_translator_drops_writes_outside_the_window() {
    let r = Router::with_translator(
        RouterConfig::default(),
        Arc::new(PseriesMsiTranslator::spapr_window()),
    )
    .unwrap();
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    assert_eq!(
        r.signal_msi(SPAPR_PCI_MSI_WINDOW + 8, 0x1001, None),
        Ok(true)
    );
    assert_eq!(r.signal_msi(0xfee0_0000, 0x1002, None), Ok(false));
    r.set_gsi_routing(&[RoutingEntry::msi(3, 0xfee0_0000, 0x1003, None)])
        .unwrap();
    assert_eq!(r.set_irq(3, true), Ok(0));
    assert_eq!(rec.take(), vec![(0x1001, true)]);
}

#[test]
fn msi_with_device_id_through_the_test_translator() {
    let its = Arc::new(DevidTranslator::default());
    let r = Router::with_translator(cfg(), its.clone()).unwrap();
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    // KVM_SIGNAL_MSI: (devid 1, event 0) → LPI 8192 + 32.
    assert_eq!(r.signal_msi(ITS_DOORBELL, 0, Some(1)), Ok(true));
    // Unmapped device or event: dropped (KVM's 0).
    assert_eq!(r.signal_msi(ITS_DOORBELL, 0, Some(99)), Ok(false));
    assert_eq!(r.signal_msi(ITS_DOORBELL, 32, Some(1)), Ok(false));
    // Without a device id: -EINVAL.
    assert_eq!(
        r.signal_msi(ITS_DOORBELL, 0, None),
        Err(InjectError::DevidRequired)
    );
    // Not the doorbell: the translator's -EINVAL.
    assert_eq!(
        r.signal_msi(0x1234, 0, Some(1)),
        Err(InjectError::Msi(MsiError::Invalid))
    );
    // Disabled translator: -EBUSY.
    its.set_disabled(true);
    let e = r.signal_msi(ITS_DOORBELL, 0, Some(1)).unwrap_err();
    assert_eq!(e.errno(), -16);
    its.set_disabled(false);
    // MSI routes with device ids.
    r.set_gsi_routing(&[
        RoutingEntry::msi(10, ITS_DOORBELL, 5, Some(2)),
        RoutingEntry::msi(11, ITS_DOORBELL, 6, None),
    ])
    .unwrap();
    assert_eq!(r.set_irq(10, true), Ok(1));
    // Accepted in the table (as KVM does) but refused at injection.
    assert_eq!(r.set_irq(11, true), Err(InjectError::DevidRequired));
    assert_eq!(
        rec.take(),
        vec![(LPI_BASE + 32, true), (LPI_BASE + 2 * 32 + 5, true)]
    );
}

#[test]
fn irq_line_ppc_levels() {
    let (r, recs) = with_chips(1);
    assert_eq!(r.irq_line(0x1001, 1), Ok(1));
    assert_eq!(r.irq_line(0x1001, 0), Ok(1));
    assert_eq!(r.irq_line(0x1002, KVM_INTERRUPT_SET_LEVEL), Ok(1));
    assert_eq!(r.irq_line(0x1002, KVM_INTERRUPT_UNSET), Ok(1));
    assert_eq!(r.irq_line(0x1003, KVM_INTERRUPT_SET), Ok(1));
    assert_eq!(r.irq_line(0x1003, 2), Err(InjectError::BadLevel(2)));
    assert_eq!(
        recs[0].take(),
        vec![
            (0x1001, true),
            (0x1001, false),
            (0x1002, true),
            (0x1002, false),
            (0x1003, true),
            (0x1003, false)
        ]
    );
}

#[test]
fn ack_listener_handle_does_not_keep_the_router_alive() {
    let r = Router::new(RouterConfig::default()).unwrap();
    let listener = r.ack_listener();
    listener.lsi_eoi(0x1000);
    drop(r);
    // The router is gone; a late EOI from the controller is ignored.
    listener.lsi_eoi(0x1000);
}

#[test]
fn concurrent_injection_and_table_updates() {
    // Device threads inject while the VMM thread swaps tables and controllers: every
    // result is one of the outcomes a table could give, and nothing deadlocks or panics.
    let r = Arc::new(Router::new(cfg()).unwrap());
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    let table_a = vec![RoutingEntry::irqchip(1, 0, 100)];
    let table_b = vec![RoutingEntry::msi(1, 0, 200, None)];
    r.set_gsi_routing(&table_a).unwrap();
    let injectors: Vec<_> = (0..2)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    match r.set_irq(1, true) {
                        Ok(1) | Err(InjectError::NoController) | Err(InjectError::NoRoute(1)) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    for i in 0..300 {
        match i % 4 {
            0 => r.set_gsi_routing(&table_b).unwrap(),
            1 => r.set_irqchip(None),
            2 => r.set_gsi_routing(&[]).unwrap(),
            _ => {
                r.set_irqchip(Some(rec.clone()));
                r.set_gsi_routing(&table_a).unwrap();
            }
        }
    }
    for t in injectors {
        t.join().unwrap();
    }
    assert!(
        rec.events()
            .iter()
            .all(|e| *e == (100, true) || *e == (200, true))
    );
}
