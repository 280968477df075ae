//! irqfd on real eventfds (spec §3): assign/deassign rules, delivery by the worker,
//! resample, route caching, worker lifetime.

mod common;

use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::sync::Arc;

use common::{Recorder, wait_until};
use hvapi::irq::IrqAckListener;
use irq_routing::*;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

fn setup() -> (Router, Arc<Recorder>) {
    let r = Router::new(RouterConfig::default()).unwrap();
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    (r, rec)
}

/// An eventfd and a second handle on it (the "device side").
fn efd() -> (EventFd, EventFd) {
    let a = EventFd::new(0).unwrap();
    let b = a.try_clone().unwrap();
    (a, b)
}

fn count(evs: &[(u32, bool)], e: (u32, bool)) -> usize {
    evs.iter().filter(|x| **x == e).count()
}

#[test]
fn signal_pulses_the_gsi() {
    let (r, rec) = setup();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 0x1005, None).unwrap();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.len() >= 2));
    // An edge: assert then deassert.
    assert_eq!(rec.take(), vec![(0x1005, true), (0x1005, false)]);
    assert_eq!(
        r.irqfds(),
        vec![IrqfdInfo {
            gsi: 0x1005,
            resample: false
        }]
    );
    // Again: each signal is delivered.
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.len() >= 2));
    assert_eq!(r.stats().irqfd_signals, 2);
}

#[test]
fn msi_routed_irqfd_triggers_the_msi_source_once() {
    let (r, rec) = setup();
    r.set_gsi_routing(&[RoutingEntry::msi(3, SPAPR_PCI_MSI_WINDOW, 0x1040, None)])
        .unwrap();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 3, None).unwrap();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| !e.is_empty()));
    // A second signal after the first one was consumed proves the deassert half never
    // reached the controller in between.
    assert!(wait_until(|| r.stats().irqfd_signals == 1));
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.len() >= 2));
    assert_eq!(rec.take(), vec![(0x1040, true), (0x1040, true)]);
}

#[test]
fn pending_count_at_assign_is_injected() {
    let (r, rec) = setup();
    let (fd, dev) = efd();
    dev.write(3).unwrap();
    // Assigned before the worker runs: served when it starts.
    r.irqfd_assign(fd, 0x1006, None).unwrap();
    r.start_worker().unwrap();
    assert!(rec.wait_for(|e| e.len() >= 2));
    // The counter (3) coalesced into one injection.
    assert!(wait_until(|| r.stats().irqfd_signals == 1));
    assert_eq!(rec.events(), vec![(0x1006, true), (0x1006, false)]);
}

#[test]
fn same_eventfd_twice_is_ebusy() {
    let (r, _rec) = setup();
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 10, None).unwrap();
    let again = dev.try_clone().unwrap();
    let e = r.irqfd_assign(again, 10, None).unwrap_err();
    assert!(matches!(e, IrqfdError::Busy(10)));
    assert_eq!(e.errno(), -16);
    // On another GSI too: one eventfd, one GSI per VM.
    let e = r
        .irqfd_assign(dev.try_clone().unwrap(), 11, None)
        .unwrap_err();
    assert!(matches!(e, IrqfdError::Busy(10)));
    // A different eventfd on the same GSI is fine.
    r.irqfd_assign(EventFd::new(0).unwrap(), 10, None).unwrap();
    assert_eq!(r.irqfds().len(), 2);
}

#[test]
fn deassign_rules() {
    let (r, _rec) = setup();
    let (fd, dev) = efd();
    let e = r.irqfd_deassign(&dev, 5).unwrap_err();
    assert!(matches!(e, IrqfdError::NotFound(5)));
    assert_eq!(e.errno(), -2);
    r.irqfd_assign(fd, 5, None).unwrap();
    // Match is on (eventfd, gsi).
    assert!(matches!(
        r.irqfd_deassign(&dev, 6),
        Err(IrqfdError::NotFound(6))
    ));
    let other = EventFd::new(0).unwrap();
    assert!(matches!(
        r.irqfd_deassign(&other, 5),
        Err(IrqfdError::NotFound(5))
    ));
    // Any handle on the eventfd names it.
    r.irqfd_deassign(&dev, 5).unwrap();
    assert!(r.irqfds().is_empty());
    assert!(matches!(
        r.irqfd_deassign(&dev, 5),
        Err(IrqfdError::NotFound(5))
    ));
    // The eventfd can be bound again once free.
    r.irqfd_assign(dev.try_clone().unwrap(), 6, None).unwrap();
    // Deassign with something that is not an eventfd.
    let f = std::fs::File::open("/proc/self/status").unwrap();
    assert!(matches!(
        r.irqfd_deassign(&f, 6),
        Err(IrqfdError::NotEventfd)
    ));
}

#[test]
fn non_eventfds_are_refused() {
    let (r, _rec) = setup();
    let f = std::fs::File::open("/proc/self/status").unwrap();
    // SAFETY: the fd is open and owned; EventFd takes it over and closes it on drop.
    let not_an_eventfd = unsafe { EventFd::from_raw_fd(f.into_raw_fd()) };
    let e = r.irqfd_assign(not_an_eventfd, 1, None).unwrap_err();
    assert!(matches!(e, IrqfdError::NotEventfd));
    assert_eq!(e.errno(), -22);
}

#[test]
fn deassign_stops_delivery() {
    let (r, rec) = setup();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    let (marker, marker_dev) = efd();
    r.irqfd_assign(fd, 0x1010, None).unwrap();
    r.irqfd_assign(marker, 0x1011, None).unwrap();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| count(e, (0x1010, true)) == 1));
    r.irqfd_deassign(&dev, 0x1010).unwrap();
    dev.write(1).unwrap();
    // Two marker round trips: the worker has been through at least one full epoll batch
    // after the write to the deassigned eventfd.
    for n in 1..=2 {
        marker_dev.write(1).unwrap();
        assert!(rec.wait_for(|e| count(e, (0x1011, false)) == n));
    }
    assert_eq!(count(&rec.events(), (0x1010, true)), 1);
    // The signal is still in the eventfd: nobody consumed it.
    assert_eq!(dev.read().unwrap(), 1);
}

#[test]
fn resample_holds_the_level_until_eoi() {
    let (r, rec) = setup();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    let resample = EventFd::new(EFD_NONBLOCK).unwrap();
    let resample_dev = resample.try_clone().unwrap();
    r.irqfd_assign(fd, 0x1020, Some(resample)).unwrap();
    assert_eq!(
        r.irqfds(),
        vec![IrqfdInfo {
            gsi: 0x1020,
            resample: true
        }]
    );
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.contains(&(0x1020, true))));
    assert!(wait_until(|| r.stats().irqfd_signals == 1));
    // Level held: no deassert yet, nothing to resample.
    assert_eq!(rec.take(), vec![(0x1020, true)]);
    assert!(resample_dev.read().is_err());
    // An EOI of another source does nothing.
    r.lsi_eoi(0x1021);
    assert!(resample_dev.read().is_err());
    // The guest EOIs it (through the controller's listener handle).
    r.ack_listener().lsi_eoi(0x1020);
    assert_eq!(rec.take(), vec![(0x1020, false)]);
    assert_eq!(resample_dev.read().unwrap(), 1);
    assert_eq!(r.stats().resample_signals, 1);
    // The device still has its condition: it signals again, the line is re-asserted.
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.contains(&(0x1020, true))));
}

#[test]
fn resamplers_are_shared_per_gsi_and_released_with_the_last_irqfd() {
    let (r, rec) = setup();
    let (fd1, dev1) = efd();
    let (fd2, dev2) = efd();
    let rs1 = EventFd::new(EFD_NONBLOCK).unwrap();
    let rs2 = EventFd::new(EFD_NONBLOCK).unwrap();
    let (rs1_dev, rs2_dev) = (rs1.try_clone().unwrap(), rs2.try_clone().unwrap());
    r.irqfd_assign(fd1, 0x1030, Some(rs1)).unwrap();
    r.irqfd_assign(fd2, 0x1030, Some(rs2)).unwrap();
    // One EOI signals every resamplefd of the GSI.
    r.lsi_eoi(0x1030);
    assert_eq!(rs1_dev.read().unwrap(), 1);
    assert_eq!(rs2_dev.read().unwrap(), 1);
    assert_eq!(rec.take(), vec![(0x1030, false)]);
    // Removing one keeps the resampler: no deassert.
    r.irqfd_deassign(&dev1, 0x1030).unwrap();
    assert_eq!(rec.take(), vec![]);
    r.lsi_eoi(0x1030);
    assert!(rs1_dev.read().is_err());
    assert_eq!(rs2_dev.read().unwrap(), 1);
    rec.take();
    // Removing the last one lowers the line.
    r.irqfd_deassign(&dev2, 0x1030).unwrap();
    assert_eq!(rec.take(), vec![(0x1030, false)]);
    r.lsi_eoi(0x1030);
    assert!(rs2_dev.read().is_err());
    assert_eq!(rec.take(), vec![]);
}

#[test]
fn resample_rules() {
    let (r, _rec) = setup();
    r.set_gsi_routing(&[
        RoutingEntry::msi(1, 0, 0x1001, None),
        RoutingEntry::irqchip(2, 0, 0x1002),
    ])
    .unwrap();
    // No irqchip route: no EOI could ever come back.
    let e = r
        .irqfd_assign(EventFd::new(0).unwrap(), 1, Some(EventFd::new(0).unwrap()))
        .unwrap_err();
    assert!(matches!(e, IrqfdError::ResampleNeedsIrqchip(1)));
    assert_eq!(e.errno(), -22);
    let e = r
        .irqfd_assign(EventFd::new(0).unwrap(), 9, Some(EventFd::new(0).unwrap()))
        .unwrap_err();
    assert!(matches!(e, IrqfdError::ResampleNeedsIrqchip(9)));
    // The resample eventfd may not be the irqfd itself.
    let (fd, dev) = efd();
    let e = r.irqfd_assign(fd, 2, Some(dev)).unwrap_err();
    assert!(matches!(e, IrqfdError::ResampleSameFd));
    r.irqfd_assign(EventFd::new(0).unwrap(), 2, Some(EventFd::new(0).unwrap()))
        .unwrap();
}

#[test]
fn eoi_follows_the_table_reverse_map() {
    let (r, rec) = setup();
    // GSI 4 is pin 0x1044 of irqchip 0: an EOI of source 0x1044 resamples GSI 4.
    r.set_gsi_routing(&[RoutingEntry::irqchip(4, 0, 0x1044)])
        .unwrap();
    let rs = EventFd::new(EFD_NONBLOCK).unwrap();
    let rs_dev = rs.try_clone().unwrap();
    r.irqfd_assign(EventFd::new(0).unwrap(), 4, Some(rs))
        .unwrap();
    r.lsi_eoi(4);
    assert!(rs_dev.read().is_err());
    r.lsi_eoi(0x1044);
    assert_eq!(rs_dev.read().unwrap(), 1);
    assert_eq!(rec.take(), vec![(0x1044, false)]);
}

#[test]
fn table_changes_recache_irqfd_routes() {
    let (r, rec) = setup();
    r.set_gsi_routing(&[RoutingEntry::irqchip(7, 0, 100)])
        .unwrap();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 7, None).unwrap();
    // An irqfd may be bound to a GSI that has no route (yet), as in KVM.
    r.irqfd_assign(EventFd::new(0).unwrap(), 9, None).unwrap();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.contains(&(100, false))));
    assert_eq!(rec.take(), vec![(100, true), (100, false)]);
    // Re-route GSI 7 to an MSI: the irqfd follows.
    r.set_gsi_routing(&[RoutingEntry::msi(7, 0, 200, None)])
        .unwrap();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.contains(&(200, true))));
    assert!(wait_until(|| r.stats().irqfd_signals == 2));
    assert_eq!(rec.take(), vec![(200, true)]);
    // Back to the default table: GSI 7 is source 7.
    r.reset_default_routing();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.contains(&(7, false))));
    assert_eq!(rec.take(), vec![(7, true), (7, false)]);
    // No route any more: the signal is consumed and does nothing.
    r.set_gsi_routing(&[]).unwrap();
    dev.write(1).unwrap();
    assert!(wait_until(|| r.stats().irqfd_signals == 4));
    assert_eq!(rec.take(), vec![]);
}

#[test]
fn multi_route_gsi_irqfd_uses_every_route() {
    let r = Router::new(RouterConfig {
        max_routes: 16,
        nr_irqchips: 2,
        irqchip_pins: 64,
    })
    .unwrap();
    let (a, b) = (Arc::new(Recorder::new()), Arc::new(Recorder::new()));
    r.set_irqchip_at(0, Some(a.clone())).unwrap();
    r.set_irqchip_at(1, Some(b.clone())).unwrap();
    r.set_gsi_routing(&[
        RoutingEntry::irqchip(5, 0, 50),
        RoutingEntry::irqchip(5, 1, 51),
    ])
    .unwrap();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 5, None).unwrap();
    dev.write(1).unwrap();
    assert!(a.wait_for(|e| e.len() == 2));
    assert!(b.wait_for(|e| e.len() == 2));
    assert_eq!(a.take(), vec![(50, true), (50, false)]);
    assert_eq!(b.take(), vec![(51, true), (51, false)]);
}

#[test]
fn dropping_the_router_joins_the_worker() {
    let (r, rec) = setup();
    r.start_worker().unwrap();
    assert!(r.worker_running());
    assert!(matches!(r.start_worker(), Err(ConfigError::WorkerRunning)));
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 0x1001, None).unwrap();
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.len() == 2));
    drop(r);
    // The worker thread held the router's shared state (and through it the controller):
    // it has exited and released it, so ours is the only reference left.
    assert_eq!(Arc::strong_count(&rec), 1);
    // The eventfd is no longer registered anywhere: a write stays in it.
    dev.write(1).unwrap();
    assert_eq!(dev.read().unwrap(), 1);
}

#[test]
fn worker_can_be_stopped_and_restarted() {
    let (r, rec) = setup();
    r.start_worker().unwrap();
    r.stop_worker();
    assert!(!r.worker_running());
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 0x1002, None).unwrap();
    dev.write(1).unwrap();
    r.start_worker().unwrap();
    assert!(rec.wait_for(|e| e.len() == 2));
    assert_eq!(rec.take(), vec![(0x1002, true), (0x1002, false)]);
}

#[test]
fn assign_and_deassign_while_the_worker_runs() {
    let (r, rec) = setup();
    let r = Arc::new(r);
    r.start_worker().unwrap();
    // A device thread keeps signalling a stable irqfd while the VMM thread churns others.
    let (stable, stable_dev) = efd();
    r.irqfd_assign(stable, 0x1100, None).unwrap();
    let dev_thread = std::thread::spawn(move || {
        for _ in 0..500 {
            stable_dev.write(1).unwrap();
        }
        stable_dev
    });
    for i in 0..200u32 {
        let (fd, dev) = efd();
        let gsi = 0x1200 + (i % 8);
        r.irqfd_assign(fd, gsi, None).unwrap();
        dev.write(1).unwrap();
        r.irqfd_deassign(&dev, gsi).unwrap();
    }
    let stable_dev = dev_thread.join().unwrap();
    stable_dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.contains(&(0x1100, true))));
    assert_eq!(
        r.irqfds(),
        vec![IrqfdInfo {
            gsi: 0x1100,
            resample: false
        }]
    );
    // Every recorded injection is a full pulse on a known GSI.
    let evs = rec.events();
    assert!(
        evs.iter()
            .all(|(g, _)| *g == 0x1100 || (0x1200..0x1208).contains(g))
    );
}

#[test]
fn irqfd_without_controller_counts_an_error_and_recovers() {
    let r = Router::new(RouterConfig::default()).unwrap();
    r.start_worker().unwrap();
    let (fd, dev) = efd();
    r.irqfd_assign(fd, 0x1003, None).unwrap();
    dev.write(1).unwrap();
    assert!(wait_until(|| r.stats().irqfd_errors == 1));
    assert_eq!(r.stats().irqfd_signals, 1);
    // Once a controller is installed the same irqfd delivers.
    let rec = Arc::new(Recorder::new());
    r.set_irqchip(Some(rec.clone()));
    dev.write(1).unwrap();
    assert!(rec.wait_for(|e| e.len() == 2));
    assert_eq!(r.stats().irqfd_errors, 1);
}
