//! Hypervisor-core tests: interrupt controller devices created, destroyed and re-created on
//! a running VM, and the error paths of the hypercalls handled in the core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hv::{IrqChip, VcpuExit};
use hvapi::device::{DeviceError, DeviceKind};
use hvapi::hcall::*;

mod common;
use common::{RAM, hcall, vm};

#[test]
fn irqchip_create_destroy_recreate_on_a_running_vm() {
    let (vm, mut vcpus) = vm(2);
    // A vCPU thread keeps running guest code (a tight loop) the whole time.
    let ram = &vm.partition().ram;
    ram.write(0x2000, &0x4800_0000u32.to_be_bytes()).unwrap(); // b .
    let mut v1 = vcpus.pop().unwrap();
    v1.cpu
        .core
        .set_msr(ppc64::reg::msr::SF | ppc64::reg::msr::ME);
    v1.cpu.core.nia = 0x2000;
    let h1 = vm.vcpu_handle(1).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            assert_eq!(v1.run(), VcpuExit::Stopped);
        }
    });

    for round in 0..3 {
        for kind in [DeviceKind::Xive, DeviceKind::Xics] {
            let chip = vm.create_irqchip(kind).unwrap();
            assert_eq!(chip.kind(), kind);
            assert_eq!(
                vm.create_irqchip(kind).unwrap_err(),
                DeviceError::Busy,
                "only one irqchip at a time"
            );
            // Drive an interrupt to vCPU 1 through the device and see its line rise.
            match &chip {
                IrqChip::Xive(x) => {
                    // IPI of server 1, routed to priority 6 after configuring its queue
                    let qpage = 0x10_0000 + round * 0x1_0000;
                    let r = x
                        .hcall(1, H_INT_SET_QUEUE_CONFIG, &[0, 1, 6, qpage, 16, 0, 0, 0, 0])
                        .unwrap();
                    assert_eq!(r.ret, H_SUCCESS);
                    let lisn = x.ipi_lisn(1).unwrap() as u64;
                    // The OS ring's CPPR resets to 0 (everything masked): open it, as Linux does.
                    x.tima_write(1, 0x2_0011, &[0xFF]);
                    let r = x
                        .hcall(
                            1,
                            H_INT_SET_SOURCE_CONFIG,
                            &[2, lisn, 1, 6, lisn, 0, 0, 0, 0],
                        )
                        .unwrap();
                    assert_eq!(r.ret, H_SUCCESS);
                    // Sources start with PQ=01 (off); unmask with a SET_PQ_00 load on the
                    // management page, as Linux does.
                    let mut b = [0u8; 8];
                    x.esb_read((lisn << 17) + (1 << 16) + 0xC00, &mut b);
                    vm.injector().set_irq(lisn as u32, true).unwrap();
                }
                IrqChip::Xics(x) => {
                    // CPPR resets to 0 (most favoured): open it, as Linux does.
                    let r = x
                        .hcall(1, H_CPPR, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 0], 0)
                        .unwrap();
                    assert_eq!(r.ret, H_SUCCESS);
                    let r = x.hcall(0, H_IPI, &[1, 5, 0, 0, 0, 0, 0, 0, 0], 0).unwrap();
                    assert_eq!(r.ret, H_SUCCESS);
                }
            }
            assert!(
                h1.external(),
                "round {round} {kind:?}: vCPU 1's external line is raised"
            );
            vm.destroy_irqchip().unwrap();
            assert!(!h1.external(), "destroying the device lowers every line");
            assert!(vm.irqchip().is_none());
            assert_eq!(vm.destroy_irqchip().unwrap_err(), DeviceError::NotFound);
            assert!(
                vm.injector().set_irq(5, true).is_err(),
                "no controller: injection fails cleanly"
            );
            h1.request_stop();
        }
    }
    // The XIVE MMIO regions are gone after destruction: nothing answers there.
    let esb = xive::XiveConfig::qemu_default(2).esb_base;
    let mut b = [0u8; 8];
    assert!(!ppc64::Bus::read(&**vm.bus(), 0, esb, &mut b));
    stop.store(true, Ordering::SeqCst);
    h1.request_stop();
    t.join().unwrap();
}

#[test]
fn set_mode_errors_and_effects() {
    let (vm, mut v) = vm(1);
    let v = &mut v[0];
    let lp = || vm.partition().lpcr();
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[1, 4, 0, 0]).0, H_SUCCESS);
    assert_ne!(lp() & ppc64::reg::lpcr::ILE, 0);
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[0, 4, 0, 0]).0, H_SUCCESS);
    assert_eq!(lp() & ppc64::reg::lpcr::ILE, 0);
    assert_eq!(
        hcall(v, &vm, H_SET_MODE, &[2, 4, 0, 0]).0,
        H_UNSUPPORTED_FLAG_START
    );
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[1, 4, 1, 0]).0, H_P3);
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[1, 4, 0, 1]).0, H_P4);
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[3, 3, 0, 0]).0, H_SUCCESS);
    assert_eq!(
        (lp() & ppc64::reg::lpcr::AIL) >> ppc64::reg::lpcr::AIL_SHIFT,
        3
    );
    assert_eq!(
        hcall(v, &vm, H_SET_MODE, &[1, 3, 0, 0]).0,
        H_UNSUPPORTED_FLAG_START
    );
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[0, 3, 5, 0]).0, H_P3);
    assert_eq!(hcall(v, &vm, H_SET_MODE, &[0, 99, 0, 0]).0, H_P2);
    assert_eq!(
        hcall(v, &vm, H_SET_MODE, &[0, 1, 3, 0]).0,
        H_P3,
        "CIABR with hypervisor privilege"
    );
    assert_eq!(
        hcall(v, &vm, H_SET_MODE, &[0, 2, 0, 4]).0,
        H_P4,
        "DAWRX with HYP"
    );
}

#[test]
fn register_proc_tbl_errors_and_effects() {
    let (vm, mut v) = vm(1);
    let v = &mut v[0];
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x40, 0, 0, 0]).0,
        H_PARAMETER,
        "unknown flags"
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x1D, 0x123, 0, 12]).0,
        H_P2,
        "misaligned"
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x1D, 1 << 60, 0, 12]).0,
        H_P2
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x1D, 0x10000, 1, 12]).0,
        H_P3
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x1D, 0x10000, 0, 25]).0,
        H_P4
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x1A, 0x10000, 0, 12]).0,
        H_PARAMETER,
        "segment tables"
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x1D, 0x10000, 0, 12]).0,
        H_SUCCESS
    );
    let l = vm.partition().lpcr();
    use ppc64::reg::lpcr::*;
    assert_eq!(l & (UPRT | HR | GTSE), UPRT | HR | GTSE);
    assert_eq!(vm.partition().prtb.load(Ordering::SeqCst), 0x10000 | 12);
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x04, 0, 0, 0]).0,
        H_SUCCESS,
        "type check only"
    );
    assert_eq!(
        hcall(v, &vm, H_REGISTER_PROC_TBL, &[0x10, 0, 0, 0]).0,
        H_SUCCESS,
        "deregister"
    );
    assert_eq!(vm.partition().prtb.load(Ordering::SeqCst), 0);
}

#[test]
fn register_vpa_rules_and_dispatch_counter() {
    let (vm, mut v) = vm(2);
    let v0 = &mut v[0];
    let ram = &vm.partition().ram;
    let vpa = 0x30_0000u64;
    ram.write(vpa + 4, &640u16.to_be_bytes()).unwrap();
    let reg = |sub: u64| sub << 45;
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(1), 7, vpa]).0,
        H_PARAMETER,
        "unknown cpu"
    );
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(1), 0, vpa + 8]).0,
        H_PARAMETER,
        "misaligned"
    );
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(2), 0, 0x31_0000]).0,
        H_RESOURCE,
        "DTL before VPA"
    );
    ram.write(vpa + 0x80 + 4, &100u16.to_be_bytes()).unwrap();
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(1), 0, vpa + 0x80]).0,
        H_PARAMETER,
        "too small"
    );
    ram.write(vpa + 0xF00 + 4, &640u16.to_be_bytes()).unwrap();
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(1), 0, vpa + 0xF00]).0,
        H_PARAMETER,
        "crosses 4K"
    );
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(1), 0, vpa]).0,
        H_SUCCESS
    );
    assert_eq!(vm.vpa(0).unwrap().vpa, vpa);
    ram.write(0x31_0004, &48u32.to_be_bytes()).unwrap();
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(2), 0, 0x31_0000]).0,
        H_SUCCESS
    );
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(5), 0, 0]).0,
        H_RESOURCE,
        "DTL still registered"
    );
    assert_eq!(hcall(v0, &vm, H_REGISTER_VPA, &[reg(6), 0, 0]).0, H_SUCCESS);
    assert_eq!(hcall(v0, &vm, H_REGISTER_VPA, &[reg(5), 0, 0]).0, H_SUCCESS);
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(4), 0, 0]).0,
        H_PARAMETER,
        "unknown subfunction"
    );
    // Dispatch counter: a cede that sleeps makes it odd while asleep and even after.
    assert_eq!(
        hcall(v0, &vm, H_REGISTER_VPA, &[reg(1), 0, vpa]).0,
        H_SUCCESS
    );
    let count = || {
        let mut b = [0u8; 4];
        ram.read(vpa + 0x100, &mut b).unwrap();
        u32::from_be_bytes(b)
    };
    let before = count();
    // Make the decrementer fire soon so the cede returns.
    let tb = v0.cpu.core.timebase();
    v0.cpu.core.dec.write(tb, 512_000); // 1 ms
    assert_eq!(hcall(v0, &vm, H_CEDE, &[]).0, H_SUCCESS);
    let after = count();
    assert_eq!(
        after.wrapping_sub(before),
        2,
        "incremented on sleep and on wake"
    );
    assert_eq!(after % 2, 0);
}

#[test]
fn prod_and_sys_reset_targets() {
    let (vm, mut v) = vm(2);
    let v0 = &mut v[0];
    assert_eq!(hcall(v0, &vm, H_PROD, &[5]).0, H_PARAMETER);
    assert_eq!(hcall(v0, &vm, H_PROD, &[1]).0, H_SUCCESS);
    assert_eq!(hcall(v0, &vm, H_SIGNAL_SYS_RESET, &[9]).0, H_PARAMETER);
    assert_eq!(
        hcall(v0, &vm, H_SIGNAL_SYS_RESET, &[(-3i64) as u64]).0,
        H_PARAMETER
    );
    assert_eq!(
        hcall(v0, &vm, H_SIGNAL_SYS_RESET, &[(-2i64) as u64]).0,
        H_SUCCESS
    );
}

#[test]
fn page_init_and_ci_access() {
    let (vm, mut v) = vm(1);
    let v0 = &mut v[0];
    let ram = &vm.partition().ram;
    ram.write(0x40_0000, &[0xAB; 4096]).unwrap();
    let zero = 1u64 << 15;
    let copy = 1u64 << 14;
    assert_eq!(
        hcall(v0, &vm, H_PAGE_INIT, &[1, 0x40_0000, 0]).0,
        H_PARAMETER,
        "bad flags"
    );
    assert_eq!(
        hcall(v0, &vm, H_PAGE_INIT, &[zero, 0x40_0010, 0]).0,
        H_PARAMETER,
        "misaligned"
    );
    assert_eq!(
        hcall(v0, &vm, H_PAGE_INIT, &[zero, RAM, 0]).0,
        H_PARAMETER,
        "outside RAM"
    );
    assert_eq!(
        hcall(v0, &vm, H_PAGE_INIT, &[copy, 0x41_0000, 0x40_0000]).0,
        H_SUCCESS
    );
    let mut b = [0u8; 4];
    ram.read(0x41_0ffc, &mut b).unwrap();
    assert_eq!(b, [0xAB; 4]);
    assert_eq!(
        hcall(v0, &vm, H_PAGE_INIT, &[zero, 0x40_0000, 0]).0,
        H_SUCCESS
    );
    ram.read(0x40_0000, &mut b).unwrap();
    assert_eq!(b, [0; 4]);
    assert_eq!(
        hcall(v0, &vm, H_LOGICAL_CI_STORE, &[4, 0x40_0000, 0x1122_3344]).0,
        H_SUCCESS
    );
    let (r, out) = hcall(v0, &vm, H_LOGICAL_CI_LOAD, &[2, 0x40_0000]);
    assert_eq!((r, out[0]), (H_SUCCESS, 0x1122), "big-endian");
    assert_eq!(
        hcall(v0, &vm, H_LOGICAL_CI_LOAD, &[3, 0x40_0000]).0,
        H_PARAMETER
    );
    assert_eq!(
        hcall(v0, &vm, H_LOGICAL_CI_LOAD, &[8, 1 << 50]).0,
        H_PARAMETER
    );
}
