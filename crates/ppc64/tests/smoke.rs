//! End-to-end smoke tests: small programs (encoded by hand from the assembler's output)
//! run on a vCPU in real mode.

use std::sync::Arc;

use ppc64::{Cpu, Exit, NoBus, Partition, Ram};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn machine(words: &[u32], le: bool) -> Cpu {
    let mem = Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap());
    let ram = Ram::from_guest_memory(mem).unwrap();
    for (i, w) in words.iter().enumerate() {
        let b = if le { w.to_le_bytes() } else { w.to_be_bytes() };
        ram.write(0x1000 + 4 * i as u64, &b).unwrap();
    }
    let part = Partition::new(ram, Arc::new(NoBus));
    let mut cpu = Cpu::new(part, 0);
    let m = ppc64::reg::msr::SF | ppc64::reg::msr::ME | if le { ppc64::reg::msr::LE } else { 0 };
    cpu.core.set_msr(m);
    cpu.core.nia = 0x1000;
    cpu
}

const SUM_LOOP: &[u32] = &[
    0x3860_0000, // li r3,0
    0x3880_0064, // li r4,100
    0x7c89_03a6, // mtctr r4
    0x7c63_2214, // add r3,r3,r4
    0x3884_ffff, // addi r4,r4,-1
    0x4200_fff8, // bdnz -8
    0x3ca0_0001, // lis r5,1
    0xf865_0000, // std r3,0(r5)
    0xe8c5_0000, // ld r6,0(r5)
    0x80e5_0000, // lwz r7,0(r5)
    0x9885_0009, // stb r4,9(r5)
    0x8905_0009, // lbz r8,9(r5)
    0x2c23_13ba, // cmpdi r3,5050
    0x7d20_0026, // mfcr r9
    0x4400_0022, // sc 1
];

#[test]
fn sum_loop_little_and_big_endian() {
    for le in [true, false] {
        let mut cpu = machine(SUM_LOOP, le);
        assert_eq!(cpu.run(), Exit::Hcall);
        let g = &cpu.core.gpr;
        assert_eq!(g[3], 5050);
        assert_eq!(g[6], 5050);
        assert_eq!(
            g[7],
            if le { 5050 } else { 0 },
            "lwz of the first word (le={le})"
        );
        assert_eq!(g[8], 0);
        assert_eq!(g[9], 0x2000_0000, "cmpdi equal -> CR0[EQ]");
        assert_eq!(cpu.core.nia, 0x1000 + 4 * SUM_LOOP.len() as u64);
    }
}

#[test]
fn illegal_instruction_raises_program_interrupt() {
    let mut cpu = machine(&[0x0000_0000], true);
    // Put `sc 1` at the program vector so the run stops there.
    let part = cpu.core.partition().clone();
    part.ram
        .write(0x700, &0x4400_0022u32.to_be_bytes())
        .unwrap(); // BE: ILE is 0
    assert_eq!(cpu.run(), Exit::Hcall);
    assert_eq!(cpu.core.srr0, 0x1000);
    assert_eq!(cpu.core.srr1 & 0x0008_0000, 0x0008_0000);
    assert_eq!(cpu.core.nia, 0x704);
}

/// A rough speed probe (run with `--release -- --ignored --nocapture`); the real benchmark
/// is in `ppc64-user`.
#[test]
#[ignore]
fn speed_probe() {
    let prog = [
        0x3c800100, 0x7c8903a6, 0x38600000, 0x38a00007, 0x3cc00010, 0x7c632a14, 0x7ca51a78,
        0x78a51800, 0xe8e60000, 0x38e70001, 0xf8e60000, 0x2c230000, 0x4200ffe4, 0x44000022,
    ];
    let mut cpu = machine(&prog, true);
    let t = std::time::Instant::now();
    assert_eq!(cpu.run(), Exit::Hcall);
    let dt = t.elapsed().as_secs_f64();
    let insns = 16.0 * 1024.0 * 1024.0 * 8.0;
    println!("{:.0} M instructions/s ({dt:.3} s)", insns / dt / 1e6);
}
