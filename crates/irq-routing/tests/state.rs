//! State capture: the table and the irqfd map survive a serialise/restore round trip.

mod common;

use std::sync::Arc;

use common::Recorder;
use irq_routing::*;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

#[test]
fn default_table_state_roundtrips() {
    let r = Router::new(RouterConfig::default()).unwrap();
    let s = r.save_state();
    assert_eq!(s, RoutingState::default());
    let bytes = postcard::to_allocvec(&s).unwrap();
    let back: RoutingState = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, s);
    // Restoring "default" onto a router with a table puts the default back.
    let r2 = Router::new(RouterConfig::default()).unwrap();
    r2.set_gsi_routing(&[RoutingEntry::irqchip(0, 0, 1)])
        .unwrap();
    r2.restore_state(&back).unwrap();
    assert_eq!(r2.gsi_routing(), None);
}

#[test]
fn table_and_irqfds_are_captured_and_the_table_restored() {
    let r = Router::new(RouterConfig::default()).unwrap();
    let table = vec![
        RoutingEntry::irqchip(5, 0, 0x1005),
        RoutingEntry::msi(6, SPAPR_PCI_MSI_WINDOW, 0x1100, None),
        RoutingEntry::irqchip(0x1fff, 0, 0x1fff),
    ];
    r.set_gsi_routing(&table).unwrap();
    r.irqfd_assign(EventFd::new(0).unwrap(), 6, None).unwrap();
    r.irqfd_assign(
        EventFd::new(0).unwrap(),
        5,
        Some(EventFd::new(EFD_NONBLOCK).unwrap()),
    )
    .unwrap();
    let s = r.save_state();
    assert_eq!(s.table.as_deref(), Some(&table[..]));
    assert_eq!(
        s.irqfds,
        vec![
            IrqfdInfo {
                gsi: 5,
                resample: true
            },
            IrqfdInfo {
                gsi: 6,
                resample: false
            }
        ]
    );

    let bytes = postcard::to_allocvec(&s).unwrap();
    let back: RoutingState = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, s);

    let r2 = Router::new(RouterConfig::default()).unwrap();
    let rec = Arc::new(Recorder::new());
    r2.set_irqchip(Some(rec.clone()));
    r2.restore_state(&back).unwrap();
    assert_eq!(r2.gsi_routing(), Some(table));
    // Eventfds are not part of the state: the owners re-assign them.
    assert!(r2.irqfds().is_empty());
    // The restored table routes as the original did.
    for gsi in [5u32, 6, 0x1fff, 7] {
        assert_eq!(r2.routes(gsi), r.routes(gsi));
    }
    r2.set_irq(6, true).unwrap();
    assert_eq!(rec.take(), vec![(0x1100, true)]);
}

#[test]
fn restore_validates_like_set_gsi_routing() {
    // A state from a bigger machine does not fit a smaller router: refused, old table kept.
    let big = RoutingState {
        table: Some(vec![RoutingEntry::irqchip(5000, 0, 1)]),
        irqfds: vec![],
    };
    let r = Router::new(RouterConfig::pseries(1024)).unwrap();
    assert_eq!(
        r.restore_state(&big),
        Err(RoutingError::GsiOutOfRange {
            index: 0,
            gsi: 5000
        })
    );
    assert_eq!(r.gsi_routing(), None);
    // Corrupt bytes do not panic.
    assert!(postcard::from_bytes::<RoutingState>(&[1, 2, 0xff, 0xff, 0xff]).is_err());
}
