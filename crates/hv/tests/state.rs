//! Interrupt controller state capture and restore through the hypervisor core: a VM is
//! stopped mid-flight (events queued, presented, accepted and coalesced), its controller
//! and guest memory are saved (through postcard, as a snapshot would), and restored into a
//! fresh VM that runs the other controller kind at the time. Both VMs then run the same
//! guest continuation; the restored one must deliver exactly what the original delivers,
//! in the same order, with no interrupt lost or delivered twice.

use std::sync::Arc;

use hv::{IrqChip, IrqChipState, PresenterState, Vcpu, Vm};
use hvapi::device::{DeviceError, DeviceKind};
use hvapi::hcall::*;
use ppc64::Bus;

mod common;
use common::{RAM, hcall, vm};

/// A snapshot of what the test saves: controller state and the guest memory the test uses.
fn snapshot(vm: &Vm, ranges: &[(u64, usize)]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let st = vm.save_irqchip().expect("a controller exists");
    let bytes = postcard::to_allocvec(&st).unwrap();
    let mem = ranges
        .iter()
        .map(|&(a, n)| {
            let mut b = vec![0u8; n];
            vm.partition().ram.read(a, &mut b).unwrap();
            b
        })
        .collect();
    (bytes, mem)
}

fn restore(vm: &Vm, snap: &(Vec<u8>, Vec<Vec<u8>>), ranges: &[(u64, usize)]) {
    for (&(a, _), b) in ranges.iter().zip(&snap.1) {
        vm.partition().ram.write(a, b).unwrap();
    }
    let st: IrqChipState = postcard::from_bytes(&snap.0).unwrap();
    vm.restore_irqchip(&st).unwrap();
}

// ---- XIVE -------------------------------------------------------------------------------

const QPAGE: u64 = 0x20_0000;
const QSHIFT: u64 = 12;
const PRIO: u64 = 6;
const SERVER: u32 = 1;

fn xive(vm: &Vm) -> Arc<xive::Xive> {
    match vm.irqchip() {
        Some(IrqChip::Xive(x)) => x,
        other => panic!("expected XIVE, found {other:?}"),
    }
}

/// The guest side of one event queue: the consumer index and toggle, as Linux keeps them.
#[derive(Clone, Copy, Debug)]
struct GuestQueue {
    idx: u32,
    toggle: bool,
}

impl GuestQueue {
    const ENTRIES: u32 = 1 << (QSHIFT - 2);

    /// Pops one valid entry (generation bit differs from the toggle), or `None`.
    fn pop(&mut self, vm: &Vm) -> Option<u32> {
        let mut b = [0u8; 4];
        vm.partition()
            .ram
            .read(QPAGE + 4 * u64::from(self.idx), &mut b)
            .unwrap();
        let w = u32::from_be_bytes(b);
        if (w >> 31 != 0) == self.toggle {
            return None;
        }
        self.idx += 1;
        if self.idx == Self::ENTRIES {
            self.idx = 0;
            self.toggle = !self.toggle;
        }
        Some(w & 0x7FFF_FFFF)
    }
}

fn esb_load(vm: &Vm, lisn: u32, offset: u64) -> u64 {
    let cfg = xive::XiveConfig::qemu_default(2);
    let mgmt = cfg.esb_base + (u64::from(lisn) << cfg.esb_shift) + (1 << (cfg.esb_shift - 1));
    let mut b = [0u8; 8];
    assert!(vm.bus().read(SERVER, mgmt + offset, &mut b));
    u64::from_be_bytes(b)
}

/// The OS view of the TIMA (every vCPU sees its own thread context there).
fn tima_os() -> u64 {
    xive::XiveConfig::qemu_default(2).tima_base + (2 << xive::TIMA_PAGE_SHIFT)
}

/// ACK through the OS ring (2-byte special load): returns (NSR, CPPR).
fn tima_ack(vm: &Vm) -> (u8, u8) {
    let mut b = [0u8; 2];
    assert!(vm.bus().read(SERVER, tima_os() + 0x810, &mut b));
    (b[0], b[1])
}

fn tima_set_cppr(vm: &Vm, cppr: u8) {
    assert!(vm.bus().write(SERVER, tima_os() + 0x11, &[cppr]));
}

/// What the guest's interrupt handler does: ACK, drain the queue, EOI every event through
/// its ESB (a re-trigger lands in the queue and is drained too), reopen the CPPR.
/// Returns the EISNs in delivery order.
fn xive_handle(vm: &Vm, q: &mut GuestQueue) -> Vec<u32> {
    let mut got = Vec::new();
    if !vm.vcpu_handle(SERVER).unwrap().external() {
        return got;
    }
    let (nsr, cppr) = tima_ack(vm);
    assert_ne!(
        nsr & 0x80,
        0,
        "the raised line matches a signalled exception"
    );
    assert_eq!(u64::from(cppr), PRIO);
    while let Some(eisn) = q.pop(vm) {
        got.push(eisn);
        esb_load(vm, eisn, xive::mmio::ESB_LOAD_EOI);
    }
    tima_set_cppr(vm, 0xFF);
    got
}

fn xive_setup(vm: &Vm, v: &mut Vcpu, lisns: &[u32]) {
    vm.create_irqchip(DeviceKind::Xive).unwrap();
    let x = xive(vm);
    let r = hcall(
        v,
        vm,
        H_INT_SET_QUEUE_CONFIG,
        // ALWAYS_NOTIFY, as Linux configures its queues.
        &[1, SERVER as u64, PRIO, QPAGE, QSHIFT],
    );
    assert_eq!(r.0, H_SUCCESS);
    for &l in lisns {
        if x.ipi_lisn(SERVER) != Some(l) {
            x.claim(l, false).unwrap();
        }
        let r = hcall(
            v,
            vm,
            H_INT_SET_SOURCE_CONFIG,
            &[2, u64::from(l), SERVER as u64, PRIO, u64::from(l)],
        );
        assert_eq!(r.0, H_SUCCESS, "source {l:#x}");
        esb_load(vm, l, xive::mmio::ESB_SET_PQ_00);
    }
    tima_set_cppr(vm, 0xFF);
}

/// The continuation both machines run after the cut: EOIs of the events accepted before
/// it, new triggers, and handling until quiet. Returns every EISN delivered.
fn xive_continue(vm: &Vm, mut q: GuestQueue, accepted: &[u32], lisns: &[u32]) -> Vec<u32> {
    let mut got = Vec::new();
    // Events the handler had popped but not yet EOI'd when the machine stopped.
    for &l in accepted {
        esb_load(vm, l, xive::mmio::ESB_LOAD_EOI);
    }
    tima_set_cppr(vm, 0xFF);
    got.extend(xive_handle(vm, &mut q));
    for &l in lisns {
        vm.injector().set_irq(l, true).unwrap();
    }
    for _ in 0..4 {
        got.extend(xive_handle(vm, &mut q));
    }
    assert!(
        !vm.vcpu_handle(SERVER).unwrap().external(),
        "everything handled: the line is down"
    );
    got
}

#[test]
fn xive_restore_mid_flight_loses_and_duplicates_nothing() {
    let (a, mut va) = vm(2);
    let (b, vb) = vm(2);
    let x0 = 0x1000u32;
    let ipi = {
        a.create_irqchip(DeviceKind::Xive).unwrap();
        let l = xive(&a).ipi_lisn(SERVER).unwrap();
        a.destroy_irqchip().unwrap();
        l
    };
    let lisns: Vec<u32> = (0..6).map(|i| x0 + i).chain([ipi]).collect();
    xive_setup(&a, &mut va[1], &lisns);
    // The machine that receives the snapshot runs XICS at the time (the guest rebooted and
    // negotiated the other mode, say): restore must replace it with XIVE.
    b.create_irqchip(DeviceKind::Xics).unwrap();

    // Before the cut: every source fires once; the handler ACKs and pops three events and
    // has EOI'd only the first; two sources fire again while outstanding (coalesced in Q).
    for &l in &lisns {
        a.injector().set_irq(l, true).unwrap();
    }
    let mut q = GuestQueue {
        idx: 0,
        toggle: false,
    };
    let (nsr, _) = tima_ack(&a);
    assert_ne!(nsr, 0);
    let popped: Vec<u32> = (0..3).map(|_| q.pop(&a).unwrap()).collect();
    assert_eq!(popped, lisns[..3]);
    esb_load(&a, popped[0], xive::mmio::ESB_LOAD_EOI);
    a.injector().set_irq(lisns[1], true).unwrap(); // PQ 10 -> 11
    a.injector().set_irq(lisns[3], true).unwrap(); // queued, PQ 10 -> 11
    let accepted = &popped[1..];

    // The cut.
    let ranges = [(QPAGE, 1usize << QSHIFT)];
    let snap = snapshot(&a, &ranges);
    let vp_a = va[1].irq_state().unwrap();
    assert!(matches!(vp_a, PresenterState::Vp(_)));
    restore(&b, &snap, &ranges);
    assert_eq!(b.irqchip().unwrap().kind(), DeviceKind::Xive);
    assert_eq!(vb[1].irq_state().unwrap(), vp_a, "presenter state restored");
    assert_eq!(
        b.vcpu_handle(SERVER).unwrap().external(),
        a.vcpu_handle(SERVER).unwrap().external()
    );
    assert_eq!(
        b.save_irqchip(),
        a.save_irqchip(),
        "the images are identical"
    );

    let got_a = xive_continue(&a, q, accepted, &lisns);
    let got_b = xive_continue(&b, q, accepted, &lisns);
    assert_eq!(
        got_b, got_a,
        "the restored VM delivers what the original delivers"
    );

    // Exactly once: every trigger is delivered once, coalesced triggers once after EOI.
    let mut count = std::collections::BTreeMap::new();
    for e in popped.iter().chain(&got_b) {
        *count.entry(*e).or_insert(0) += 1;
    }
    for &l in &lisns {
        let expect = if l == lisns[1] || l == lisns[3] { 3 } else { 2 };
        assert_eq!(count.get(&l), Some(&expect), "deliveries of {l:#x}");
    }
    assert_eq!(count.len(), lisns.len(), "nothing else delivered");
}

// ---- XICS -------------------------------------------------------------------------------

fn xics(vm: &Vm) -> Arc<xics::Xics> {
    match vm.irqchip() {
        Some(IrqChip::Xics(x)) => x,
        other => panic!("expected XICS, found {other:?}"),
    }
}

/// The guest's XICS handler: H_XIRR until nothing is pending, H_EOI each (Linux's order).
/// Returns the interrupt numbers (2 = IPI) accepted.
fn xics_handle(vm: &Vm, v: &mut Vcpu) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        let (rc, out) = hcall(v, vm, H_XIRR, &[]);
        assert_eq!(rc, H_SUCCESS);
        let xirr = out[0] as u32;
        let irq = xirr & 0xFF_FFFF;
        if irq == 0 {
            return got;
        }
        got.push(irq);
        if irq == 2 {
            assert_eq!(hcall(v, vm, H_IPI, &[u64::from(SERVER), 0xFF]).0, H_SUCCESS);
        }
        assert_eq!(hcall(v, vm, H_EOI, &[u64::from(xirr)]).0, H_SUCCESS);
    }
}

fn xics_continue(vm: &Vm, v: &mut Vcpu, accepted: u32, irqs: &[u32]) -> Vec<u32> {
    // EOI of what was accepted before the cut (CPPR back to 0xFF).
    assert_eq!(
        hcall(v, vm, H_EOI, &[(0xFFu64 << 24) | u64::from(accepted)]).0,
        H_SUCCESS
    );
    let mut got = xics_handle(vm, v);
    for &i in irqs {
        vm.injector().set_irq(i, true).unwrap();
    }
    assert_eq!(hcall(v, vm, H_IPI, &[u64::from(SERVER), 3]).0, H_SUCCESS);
    got.extend(xics_handle(vm, v));
    assert!(!vm.vcpu_handle(SERVER).unwrap().external());
    got
}

#[test]
fn xics_restore_mid_flight_loses_and_duplicates_nothing() {
    let (a, mut va) = vm(2);
    let (b, mut vb) = vm(2);
    a.create_irqchip(DeviceKind::Xics).unwrap();
    let x = xics(&a);
    // Four MSIs of different priorities to server 1, and its IPI.
    let irqs = [0x1100u32, 0x1101, 0x1102, 0x1103];
    for (k, &i) in irqs.iter().enumerate() {
        x.claim_irq(i, false).unwrap();
        x.rtas_set_xive(i, SERVER, 4 + k as u32).unwrap();
    }
    assert_eq!(hcall(&mut va[1], &a, H_CPPR, &[0xFF]).0, H_SUCCESS);
    b.create_irqchip(DeviceKind::Xive).unwrap();

    // Before the cut: all fire; the most favoured (prio 4) is accepted and not yet EOI'd;
    // the others were rejected or are waiting behind it; an IPI at prio 3 is presented on
    // top (more favoured than the accepted one), and the first MSI fires again.
    for &i in &irqs {
        a.injector().set_irq(i, true).unwrap();
    }
    let (rc, out) = hcall(&mut va[1], &a, H_XIRR, &[]);
    assert_eq!(rc, H_SUCCESS);
    let first = out[0] as u32;
    assert_eq!(first, (0xFF << 24) | irqs[0]);
    assert_eq!(
        hcall(&mut va[0], &a, H_IPI, &[u64::from(SERVER), 3]).0,
        H_SUCCESS
    );
    a.injector().set_irq(irqs[0], true).unwrap();

    let snap = snapshot(&a, &[]);
    let icp_a = va[1].irq_state().unwrap();
    assert!(matches!(icp_a, PresenterState::Icp(_)));
    restore(&b, &snap, &[]);
    assert_eq!(b.irqchip().unwrap().kind(), DeviceKind::Xics);
    assert_eq!(vb[1].irq_state().unwrap(), icp_a);
    assert_eq!(b.save_irqchip(), a.save_irqchip());

    let got_a = xics_continue(&a, &mut va[1], irqs[0], &irqs);
    let got_b = xics_continue(&b, &mut vb[1], irqs[0], &irqs);
    assert_eq!(got_b, got_a);
    // The IPI (twice), the coalesced re-fire of the first MSI, the three waiting ones, then
    // the four new ones: each exactly once per occurrence.
    let mut count = std::collections::BTreeMap::new();
    for e in &got_b {
        *count.entry(*e).or_insert(0) += 1;
    }
    assert_eq!(count.get(&2), Some(&2), "two IPIs");
    for &i in &irqs {
        assert_eq!(count.get(&i), Some(&2), "deliveries of {i:#x}");
    }
    assert_eq!(count.len(), irqs.len() + 1);
}

// ---- errors -----------------------------------------------------------------------------

#[test]
fn presenter_state_errors() {
    let (a, mut va) = vm(2);
    assert_eq!(va[0].irq_state().unwrap_err(), DeviceError::NotFound);
    assert_eq!(
        va[0].set_irq_state(&PresenterState::Icp(0)).unwrap_err(),
        DeviceError::NotFound
    );
    assert!(a.save_irqchip().is_none());
    a.create_irqchip(DeviceKind::Xive).unwrap();
    assert_eq!(
        va[0]
            .set_irq_state(&PresenterState::Icp(0xFF << 56))
            .unwrap_err(),
        DeviceError::Invalid,
        "an ICP state does not fit a XIVE presenter"
    );
    let vp = va[0].irq_state().unwrap();
    va[0].set_irq_state(&vp).unwrap();
    a.destroy_irqchip().unwrap();
    a.create_irqchip(DeviceKind::Xics).unwrap();
    // XISR naming an interrupt outside the source range: inconsistent.
    assert_eq!(
        va[0]
            .set_irq_state(&PresenterState::Icp((0xFFu64 << 56) | (0x7FFF << 32)))
            .unwrap_err(),
        DeviceError::Invalid
    );
    let _ = hcall(&mut va[0], &a, H_CPPR, &[0xFF]);
}

#[test]
fn bad_image_leaves_the_controller_as_it_was() {
    let (a, _va) = vm(4);
    let (b, _vb) = vm(2);
    a.create_irqchip(DeviceKind::Xive).unwrap();
    let big = a.save_irqchip().unwrap();
    b.create_irqchip(DeviceKind::Xics).unwrap();
    xics(&b).claim_irq(0x1234, false).unwrap();
    let before = b.save_irqchip().unwrap();
    // An image with presenters for vCPUs 2 and 3, which this VM does not have.
    assert_eq!(b.restore_irqchip(&big).unwrap_err(), DeviceError::Invalid);
    assert_eq!(b.save_irqchip().unwrap(), before);
    // A corrupt XIVE image (bad PQ): refused after the kind switch, the old device is back.
    let (c, _vc) = vm(2);
    c.create_irqchip(DeviceKind::Xive).unwrap();
    let mut bad = c.save_irqchip().unwrap();
    if let IrqChipState::Xive(s) = &mut bad {
        s.sources[0].pq = 9;
    }
    assert_eq!(b.restore_irqchip(&bad).unwrap_err(), DeviceError::Invalid);
    assert_eq!(b.irqchip().unwrap().kind(), DeviceKind::Xics);
    assert_eq!(b.save_irqchip().unwrap(), before);
    let _ = RAM;
}
