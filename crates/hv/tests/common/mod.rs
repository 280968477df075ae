//! Helpers shared by the hypervisor-core tests.

#![allow(dead_code)]

use hv::{Vcpu, VcpuExit, Vm, VmConfig};

/// RAM of the test VMs.
pub const RAM: u64 = 64 << 20;

/// A VM with `vcpus` vCPUs and [`RAM`] bytes of memory.
pub fn vm(vcpus: u32) -> (Vm, Vec<Vcpu>) {
    Vm::new(VmConfig {
        mem_size: RAM,
        vcpus,
    })
    .unwrap()
}

/// Runs one hypercall on `v` by executing `sc 1` at a scratch address (big-endian, real
/// mode) and returns (r3, r4..).
pub fn hcall(v: &mut Vcpu, vm: &Vm, nr: u64, args: &[u64]) -> (i64, [u64; 9]) {
    let ram = &vm.partition().ram;
    ram.write(0x1000, &0x4400_0022u32.to_be_bytes()).unwrap(); // sc 1
    ram.write(0x1004, &0x4400_0022u32.to_be_bytes()).unwrap(); // sc 1 (stop point)
    // Interrupts taken after the call (a decrementer after H_CEDE) also stop there.
    for v in [0x500u64, 0x700, 0x900] {
        ram.write(v, &0x4400_0022u32.to_be_bytes()).unwrap();
    }
    vm.partition().code.invalidate_range(0, 0x2000);
    let c = &mut v.cpu.core;
    c.set_msr(ppc64::reg::msr::SF | ppc64::reg::msr::ME);
    c.nia = 0x1000;
    c.gpr[3] = nr;
    for (i, a) in args.iter().enumerate() {
        c.gpr[4 + i] = *a;
    }
    // The first `sc 1` is the call; if the core handles it, the run continues to the
    // second one, which we report as an exit with r3 = the first call's status.
    match v.run() {
        VcpuExit::PaprHcall { nr: n, .. } => {
            let c = &v.cpu.core;
            if c.nia == 0x1008 || (c.nia == 0x904 && c.srr0 == 0x1004) {
                // handled by the core: r3 holds its status, r4.. its outputs
                let _ = n;
            } else {
                panic!("hcall {nr:#x} was not handled by the core");
            }
        }
        e => panic!("unexpected exit {e:?}"),
    }
    let c = &v.cpu.core;
    let mut out = [0u64; 9];
    out.copy_from_slice(&c.gpr[4..13]);
    (c.gpr[3] as i64, out)
}
