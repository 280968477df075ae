//! GSI routing, irqfd, resample and MSI injection through `hv::Vm`, on a real VM with each
//! interrupt controller (XICS and XIVE): what reaches a vCPU's external line, what the guest
//! acknowledges through its real interfaces (XICS hcalls on the vCPU, XIVE TIMA/ESB/queue),
//! and KVM's error codes.

use std::os::unix::io::FromRawFd;
use std::time::{Duration, Instant};

use hv::routing::*;
use hv::{IrqChip, Vcpu, Vm};
use hvapi::device::DeviceKind;
use hvapi::hcall::*;
use vm_memory::{Bytes, GuestAddress};

mod common;
use common::{hcall, vm};

/// MSI sources used by the tests (inside both controllers' device range).
const S1: u32 = 0x1100;
const S2: u32 = 0x1101;
/// A level-sensitive source.
const L: u32 = 0x1180;

const XICS_PRIO: u64 = 5;
const XIVE_PRIO: u64 = 6;
const QPAGE: u64 = 0x10_0000;
const QSHIFT: u64 = 16;

/// Waits (bounded: 20 s) for `cond`; the bound only turns a hang into a failure.
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// An eventfd and a second handle on it (the device side).
fn efd() -> (EventFd, EventFd) {
    let a = EventFd::new(0).unwrap();
    let b = a.try_clone().unwrap();
    (a, b)
}

/// Read of an eventfd's count, `None` when it is zero. The router made the eventfds it was
/// given non-blocking, and the device-side handles share their open file, so this never
/// blocks.
fn count(fd: &EventFd) -> Option<u64> {
    fd.read().ok()
}

/// A one-vCPU VM acting as the guest: it opens its presenter, routes sources to itself,
/// acknowledges and EOIs interrupts through the controller's guest interfaces.
struct Guest {
    vm: Vm,
    v: Vcpu,
    /// XIVE event queue consumer: (index, toggle).
    q: (u32, u32),
}

impl Guest {
    fn new(kind: Option<DeviceKind>) -> Guest {
        let (vm, mut vcpus) = vm(1);
        let mut g = Guest {
            vm,
            v: vcpus.pop().unwrap(),
            q: (0, 0),
        };
        if let Some(k) = kind {
            g.start(k);
        }
        g
    }

    /// Creates the controller and opens vCPU 0's presenter as Linux does.
    fn start(&mut self, kind: DeviceKind) {
        let chip = self.vm.create_irqchip(kind).unwrap();
        match chip {
            IrqChip::Xics(_) => {
                let (r, _) = hcall(&mut self.v, &self.vm, H_CPPR, &[0xFF]);
                assert_eq!(r, H_SUCCESS);
            }
            IrqChip::Xive(x) => {
                let mem = self.vm.memory();
                mem.write_slice(&vec![0u8; 1 << QSHIFT], GuestAddress(QPAGE))
                    .unwrap();
                self.q = (0, 0);
                let (r, _) = hcall(
                    &mut self.v,
                    &self.vm,
                    H_INT_SET_QUEUE_CONFIG,
                    &[1, 0, XIVE_PRIO, QPAGE, QSHIFT],
                );
                assert_eq!(r, H_SUCCESS);
                x.tima_write(0, 0x2_0011, &[0xFF]);
            }
        }
    }

    fn chip(&self) -> IrqChip {
        self.vm.irqchip().expect("a controller")
    }

    /// Claims `irq` and routes it to vCPU 0, enabled.
    fn claim(&mut self, irq: u32, lsi: bool) {
        self.chip().claim(irq, lsi).unwrap();
        self.route(irq);
    }

    /// Routes the (claimed) source `irq` to vCPU 0 and enables it, as Linux does.
    fn route(&mut self, irq: u32) {
        match self.chip() {
            IrqChip::Xics(x) => x.rtas_set_xive(irq, 0, XICS_PRIO as u32).unwrap(),
            IrqChip::Xive(x) => {
                let (r, _) = hcall(
                    &mut self.v,
                    &self.vm,
                    H_INT_SET_SOURCE_CONFIG,
                    &[2, irq.into(), 0, XIVE_PRIO, irq.into()],
                );
                assert_eq!(r, H_SUCCESS);
                // SET_PQ_00 on the management page: the source starts off.
                let mut b = [0u8; 8];
                x.esb_read((u64::from(irq) << 17) + (1 << 16) + 0xC00, &mut b);
            }
        }
    }

    /// vCPU 0's external interrupt line.
    fn line(&self) -> bool {
        self.vm.vcpu_handle(0).unwrap().external()
    }

    /// Acknowledges the highest pending interrupt, returning its source.
    fn ack(&mut self) -> Option<u32> {
        match self.chip() {
            IrqChip::Xics(_) => {
                let (r, out) = hcall(&mut self.v, &self.vm, H_XIRR, &[]);
                assert_eq!(r, H_SUCCESS);
                let src = out[0] as u32 & 0xFF_FFFF;
                (src != 0).then_some(src)
            }
            IrqChip::Xive(x) => {
                let mut b = [0u8; 2];
                x.tima_read(0, 0x2_0810, &mut b);
                // Pop one queue entry.
                let mut e = [0u8; 4];
                let at = QPAGE + 4 * u64::from(self.q.0);
                self.vm
                    .memory()
                    .read_slice(&mut e, GuestAddress(at))
                    .unwrap();
                let cur = u32::from_be_bytes(e);
                if cur >> 31 == self.q.1 {
                    return None;
                }
                let n = (1u32 << QSHIFT) / 4;
                self.q.0 = (self.q.0 + 1) % n;
                if self.q.0 == 0 {
                    self.q.1 ^= 1;
                }
                Some(cur & 0x7FFF_FFFF)
            }
        }
    }

    /// EOIs `irq` and reopens the CPPR, as Linux does after handling it.
    fn eoi(&mut self, irq: u32) {
        match self.chip() {
            IrqChip::Xics(_) => {
                let (r, _) = hcall(
                    &mut self.v,
                    &self.vm,
                    H_EOI,
                    &[0xFF00_0000 | u64::from(irq)],
                );
                assert_eq!(r, H_SUCCESS);
            }
            IrqChip::Xive(x) => {
                let mut b = [0u8; 8];
                x.esb_read((u64::from(irq) << 17) + (1 << 16), &mut b);
                x.tima_write(0, 0x2_0011, &[0xFF]);
            }
        }
    }

    /// Waits for the line, acknowledges and EOIs: the source delivered.
    fn take(&mut self) -> u32 {
        assert!(wait_until(|| self.line()), "no interrupt reached the vCPU");
        let src = self.ack().expect("an interrupt to acknowledge");
        self.eoi(src);
        src
    }

    /// Nothing pending, nothing queued.
    fn quiet(&mut self) -> bool {
        !self.line() && self.ack().is_none()
    }
}

const KINDS: [DeviceKind; 2] = [DeviceKind::Xics, DeviceKind::Xive];

#[test]
fn irqfd_signal_reaches_the_vcpu_and_deassign_stops_it() {
    for kind in KINDS {
        let mut g = Guest::new(Some(kind));
        g.claim(S1, false);
        let (fd, dev) = efd();
        g.vm.irqfd_assign(fd, S1, None).unwrap();
        assert!(
            g.vm.router().worker_running(),
            "the first irqfd starts the worker"
        );
        for _ in 0..3 {
            dev.write(1).unwrap();
            assert_eq!(g.take(), S1, "{kind:?}");
        }
        assert!(g.quiet());
        assert_eq!(
            g.vm.irqfds(),
            vec![IrqfdInfo {
                gsi: S1,
                resample: false
            }]
        );
        g.vm.irqfd_deassign(&dev, S1).unwrap();
        assert!(g.vm.irqfds().is_empty());
        dev.write(1).unwrap();
        // Nobody consumes the signal any more: it is still in the eventfd.
        assert_eq!(count(&dev), Some(1), "{kind:?}");
        assert!(g.quiet(), "{kind:?}: nothing injected after deassign");
    }
}

#[test]
fn pending_count_at_assign_is_injected() {
    for kind in KINDS {
        let mut g = Guest::new(Some(kind));
        g.claim(S2, false);
        let (fd, dev) = efd();
        dev.write(2).unwrap();
        g.vm.irqfd_assign(fd, S2, None).unwrap();
        // Both writes coalesce into one injection.
        assert_eq!(g.take(), S2, "{kind:?}");
        assert!(wait_until(|| g.vm.router().stats().irqfd_signals == 1));
        assert!(g.quiet());
    }
}

#[test]
fn resample_fires_after_eoi() {
    for kind in KINDS {
        let mut g = Guest::new(Some(kind));
        g.claim(L, true);
        let (fd, dev) = efd();
        let (rfd, rdev) = efd();
        g.vm.irqfd_assign(fd, L, Some(rfd)).unwrap();
        assert_eq!(
            g.vm.irqfds(),
            vec![IrqfdInfo {
                gsi: L,
                resample: true
            }]
        );
        for round in 0..3 {
            dev.write(1).unwrap();
            assert!(wait_until(|| g.line()), "{kind:?} round {round}");
            assert_eq!(g.ack(), Some(L));
            // The line is held: no resample before the guest's EOI.
            assert_eq!(count(&rdev), None, "{kind:?}: resample before EOI");
            g.eoi(L);
            // The EOI signalled the resample fd and lowered the line.
            assert_eq!(count(&rdev), Some(1), "{kind:?} round {round}");
            assert!(g.quiet(), "{kind:?}: line lowered by the resampler");
        }
        assert_eq!(g.vm.router().stats().resample_signals, 3, "{kind:?}");
        // A level held by KVM_IRQ_LINE without an irqfd on another LSI is not resampled
        // by anyone, and an EOI of an MSI source does not resample.
        g.claim(S1, false);
        g.vm.signal_msi(SPAPR_PCI_MSI_WINDOW, S1, None).unwrap();
        assert_eq!(g.take(), S1);
        assert_eq!(count(&rdev), None, "{kind:?}: MSI EOI resampled");
        g.vm.irqfd_deassign(&dev, L).unwrap();
    }
}

#[test]
fn msi_and_irq_line_injection() {
    for kind in KINDS {
        let mut g = Guest::new(Some(kind));
        g.claim(S1, false);
        g.claim(L, true);
        assert_eq!(g.vm.signal_msi(SPAPR_PCI_MSI_WINDOW, S1, None), Ok(true));
        assert_eq!(g.take(), S1, "{kind:?}");
        // The address is not looked at (KVM's pseries irqfd path: data = source).
        assert_eq!(g.vm.signal_msi(0, S1, None), Ok(true));
        assert_eq!(g.take(), S1);
        // Device ids are not used on pseries.
        let e =
            g.vm.signal_msi(SPAPR_PCI_MSI_WINDOW, S1, Some(3))
                .unwrap_err();
        assert_eq!(e.errno(), -22);
        let e =
            g.vm.router()
                .signal_msi_raw(&KvmMsi {
                    address_lo: 0,
                    address_hi: 0x400,
                    data: S1,
                    flags: 4,
                    devid: 0,
                })
                .unwrap_err();
        assert_eq!(e.errno(), -22, "unknown kvm_msi flags");
        // An MSI to a source the controller does not have.
        let e =
            g.vm.signal_msi(SPAPR_PCI_MSI_WINDOW, 0x1FF0, None)
                .unwrap_err();
        assert_eq!(e, InjectError::NoSource(0x1FF0));
        assert_eq!(e.errno(), -22);
        assert!(g.quiet());

        // KVM_IRQ_LINE, ppc levels: an LSI asserted and held, seen again after an EOI
        // while still asserted, gone once deasserted.
        assert_eq!(g.vm.set_irq_line(L, KVM_INTERRUPT_SET_LEVEL), Ok(1));
        assert_eq!(g.take(), L);
        assert_eq!(
            g.take(),
            L,
            "{kind:?}: EOI of an asserted LSI re-presents it"
        );
        assert_eq!(g.vm.set_irq_line(L, KVM_INTERRUPT_UNSET), Ok(1));
        assert!(wait_until(|| g.line()));
        assert_eq!(g.ack(), Some(L));
        g.eoi(L);
        assert!(g.quiet(), "{kind:?}: deasserted LSI not re-presented");
        // One edge on an MSI source.
        assert_eq!(g.vm.set_irq_line(S1, KVM_INTERRUPT_SET), Ok(1));
        assert_eq!(g.take(), S1);
        assert!(g.quiet());
        assert_eq!(g.vm.set_irq_line(S1, 7).unwrap_err().errno(), -22);
    }
}

#[test]
fn routing_changes_reach_assigned_irqfds() {
    for kind in KINDS {
        let mut g = Guest::new(Some(kind));
        g.claim(S1, false);
        g.claim(S2, false);
        let (fd, dev) = efd();
        g.vm.irqfd_assign(fd, 7, None).unwrap();
        g.vm.set_gsi_routing(&[RoutingEntry::msi(7, SPAPR_PCI_MSI_WINDOW, S1, None)])
            .unwrap();
        dev.write(1).unwrap();
        assert_eq!(g.take(), S1, "{kind:?}");
        g.vm.set_gsi_routing(&[
            RoutingEntry::msi(3, SPAPR_PCI_MSI_WINDOW, S1, None),
            RoutingEntry::msi(7, SPAPR_PCI_MSI_WINDOW, S2, None),
        ])
        .unwrap();
        dev.write(1).unwrap();
        assert_eq!(g.take(), S2, "{kind:?}: the irqfd follows the new table");
        g.vm.set_gsi_routing(&[RoutingEntry::irqchip(7, 0, S1)])
            .unwrap();
        dev.write(1).unwrap();
        assert_eq!(g.take(), S1, "{kind:?}: irqchip route");
        // A table without GSI 7: the signal is consumed and nothing is injected.
        g.vm.set_gsi_routing(&[]).unwrap();
        assert_eq!(g.vm.gsi_routing(), Some(vec![]));
        let before = g.vm.router().stats().irqfd_signals;
        dev.write(1).unwrap();
        assert!(wait_until(|| g.vm.router().stats().irqfd_signals > before));
        assert!(g.quiet(), "{kind:?}: no route, no interrupt");
        // Back to the flat default: GSI = source number.
        g.vm.reset_gsi_routing();
        assert_eq!(g.vm.gsi_routing(), None);
        g.vm.irqfd_deassign(&dev, 7).unwrap();
        let (fd2, dev2) = efd();
        g.vm.irqfd_assign(fd2, S2, None).unwrap();
        dev2.write(1).unwrap();
        assert_eq!(g.take(), S2);
        assert!(g.quiet());
    }
}

#[test]
fn controller_switch_keeps_routing_and_resample() {
    let mut g = Guest::new(None);
    let (fd, dev) = efd();
    let (lfd, ldev) = efd();
    let (rfd, rdev) = efd();
    // Routes and irqfds set up before any controller exists (before CAS).
    g.vm.set_gsi_routing(&[
        RoutingEntry::msi(9, SPAPR_PCI_MSI_WINDOW, S1, None),
        RoutingEntry::irqchip(L, 0, L),
    ])
    .unwrap();
    g.vm.irqfd_assign(fd, 9, None).unwrap();
    g.vm.irqfd_assign(lfd, L, Some(rfd)).unwrap();
    // A signal with no controller is consumed and counted as an error, nothing else.
    dev.write(1).unwrap();
    assert!(wait_until(|| g.vm.router().stats().irqfd_errors == 1));
    for (round, kind) in [DeviceKind::Xics, DeviceKind::Xive, DeviceKind::Xics]
        .into_iter()
        .enumerate()
    {
        g.start(kind);
        g.claim(S1, false);
        g.claim(L, true);
        dev.write(1).unwrap();
        assert_eq!(g.take(), S1, "round {round} {kind:?}");
        ldev.write(1).unwrap();
        assert!(wait_until(|| g.line()));
        assert_eq!(g.ack(), Some(L));
        assert_eq!(count(&rdev), None);
        g.eoi(L);
        assert_eq!(
            count(&rdev),
            Some(1),
            "round {round} {kind:?}: the new controller reports EOIs"
        );
        assert!(g.quiet());
        g.vm.destroy_irqchip().unwrap();
    }
    assert_eq!(g.vm.irqfds().len(), 2);
    assert_eq!(g.vm.gsi_routing().map(|t| t.len()), Some(2));
}

#[test]
fn errors_as_kvm() {
    let g = Guest::new(None);
    let vm = &g.vm;
    // No controller yet: -ENXIO.
    let e = vm.set_irq_line(S1, 1).unwrap_err();
    assert_eq!((e, e.errno()), (InjectError::NoController, -6));
    let e = vm.signal_msi(SPAPR_PCI_MSI_WINDOW, S1, None).unwrap_err();
    assert_eq!(e.errno(), -6);

    // irqfd: one GSI per eventfd (a dup is the same eventfd): -EBUSY.
    let (fd, dev) = efd();
    vm.irqfd_assign(fd, 5, None).unwrap();
    let e = vm
        .irqfd_assign(dev.try_clone().unwrap(), 6, None)
        .unwrap_err();
    assert_eq!(e.errno(), -16);
    // Deassign of an unknown pair: -ENOENT (wrong GSI, or never assigned).
    assert_eq!(vm.irqfd_deassign(&dev, 6).unwrap_err().errno(), -2);
    let (_other, odev) = efd();
    assert_eq!(vm.irqfd_deassign(&odev, 5).unwrap_err().errno(), -2);
    vm.irqfd_deassign(&dev, 5).unwrap();
    assert_eq!(vm.irqfd_deassign(&dev, 5).unwrap_err().errno(), -2);
    // Not an eventfd: -EINVAL.
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for the two descriptors pipe(2) returns.
    assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
    // SAFETY: p[0] is a fresh descriptor owned by nobody else; the EventFd takes it over.
    let not_efd = unsafe { EventFd::from_raw_fd(p[0]) };
    assert_eq!(vm.irqfd_assign(not_efd, 5, None).unwrap_err().errno(), -22);
    // SAFETY: p[1] is ours and closed once.
    unsafe { libc::close(p[1]) };
    // Resample needs an irqchip route: -EINVAL on an MSI-routed GSI.
    vm.set_gsi_routing(&[RoutingEntry::msi(4, SPAPR_PCI_MSI_WINDOW, S1, None)])
        .unwrap();
    let (fd, _d) = efd();
    let (rfd, _rd) = efd();
    assert_eq!(vm.irqfd_assign(fd, 4, Some(rfd)).unwrap_err().errno(), -22);
    // The resample fd must differ from the irqfd.
    let (fd, d) = efd();
    let e = vm.irqfd_assign(fd, L, Some(d)).unwrap_err();
    assert_eq!(e.errno(), -22);

    // Tables: invalid ones are refused with -EINVAL and the old table stays.
    let old = vm.gsi_routing();
    for bad in [
        // MSI sharing its GSI.
        vec![
            RoutingEntry::msi(4, 0, S1, None),
            RoutingEntry::irqchip(4, 0, S2),
        ],
        // Two pins of the same irqchip on one GSI.
        vec![
            RoutingEntry::irqchip(4, 0, S1),
            RoutingEntry::irqchip(4, 0, S2),
        ],
        // A device id without KVM_CAP_MSI_DEVID.
        vec![RoutingEntry::msi(4, 0, S1, Some(1))],
        // No irqchip 1 on pseries.
        vec![RoutingEntry::irqchip(4, 1, S1)],
        // Pin and GSI beyond the pseries range.
        vec![RoutingEntry::irqchip(4, 0, 0x2000)],
        vec![RoutingEntry::irqchip(0x2000, 0, 1)],
    ] {
        let e = vm.set_gsi_routing(&bad).unwrap_err();
        assert_eq!(e.errno(), -22, "{bad:?}");
        assert_eq!(vm.gsi_routing(), old);
    }
    // A struct kvm_irq_routing shorter than its count: -EFAULT.
    let mut raw = Vec::new();
    raw.extend_from_slice(&2u32.to_ne_bytes());
    raw.extend_from_slice(&0u32.to_ne_bytes());
    raw.extend_from_slice(&[0u8; 48]);
    assert_eq!(vm.set_gsi_routing_bytes(&raw).unwrap_err().errno(), -14);
    // Header flags must be 0: -EINVAL.
    let mut raw = Vec::new();
    raw.extend_from_slice(&0u32.to_ne_bytes());
    raw.extend_from_slice(&1u32.to_ne_bytes());
    assert_eq!(vm.set_gsi_routing_bytes(&raw).unwrap_err().errno(), -22);
    assert_eq!(vm.gsi_routing(), old);
    // A GSI missing from an explicit table: -ENOENT.
    assert_eq!(vm.set_irq_line(5, 1).unwrap_err().errno(), -2);
}

#[test]
fn claims_survive_controller_switches() {
    let mut g = Guest::new(None);
    // Claimed before any controller exists (the PHB at machine creation), and errors.
    g.vm.claim_irq(S1, false).unwrap();
    g.vm.claim_irq(L, true).unwrap();
    assert_eq!(
        g.vm.claim_irq(S1, true),
        Err(hvapi::device::DeviceError::Busy)
    );
    for bad in [0, 0xFFF, 0x2000, u32::MAX] {
        assert_eq!(
            g.vm.claim_irq(bad, false),
            Err(hvapi::device::DeviceError::Invalid)
        );
    }
    assert_eq!(g.vm.claimed_irqs(), vec![(S1, false), (L, true)]);
    for kind in [DeviceKind::Xive, DeviceKind::Xics, DeviceKind::Xive] {
        g.start(kind);
        // No claim on the new controller: the VM replayed them (with their kind).
        g.route(S1);
        g.route(L);
        assert_eq!(g.vm.signal_msi(SPAPR_PCI_MSI_WINDOW, S1, None), Ok(true));
        assert_eq!(g.take(), S1, "{kind:?}");
        g.vm.set_irq_line(L, 1).unwrap();
        assert_eq!(g.take(), L, "{kind:?}");
        assert_eq!(g.take(), L, "{kind:?}: level source, still asserted");
        g.vm.set_irq_line(L, 0).unwrap();
        assert!(wait_until(|| g.line()));
        assert_eq!(g.ack(), Some(L));
        g.eoi(L);
        assert!(g.quiet());
        g.vm.destroy_irqchip().unwrap();
    }
    // Claimed with a controller present, and freed.
    g.start(DeviceKind::Xics);
    g.vm.claim_irq(S2, false).unwrap();
    g.route(S2);
    assert_eq!(g.vm.signal_msi(0, S2, None), Ok(true));
    assert_eq!(g.take(), S2);
    g.vm.free_irq(S2).unwrap();
    assert_eq!(g.vm.free_irq(S2), Err(hvapi::device::DeviceError::NotFound));
    assert_eq!(g.vm.signal_msi(0, S2, None), Err(InjectError::NoSource(S2)));
    assert_eq!(g.vm.claimed_irqs(), vec![(S1, false), (L, true)]);
}

/// Resample on XIVE: the EOI of a resampled LSI lowers the line before the source is
/// re-evaluated, so nothing is re-delivered unless the device raises the line again (as
/// KVM's XICS and IOAPIC order it).
#[test]
fn xive_lsi_eoi_tells_the_listener_before_re_forwarding() {
    let mut g = Guest::new(Some(DeviceKind::Xive));
    g.claim(L, true);
    let (fd, dev) = efd();
    let (rfd, rdev) = efd();
    g.vm.irqfd_assign(fd, L, Some(rfd)).unwrap();
    dev.write(1).unwrap();
    assert!(wait_until(|| g.line()));
    assert_eq!(g.ack(), Some(L));
    g.eoi(L);
    assert_eq!(count(&rdev), Some(1));
    assert!(
        g.quiet(),
        "the resampled LSI was re-delivered after its EOI"
    );
}
