//! The translator (JIT) against the interpreter: the same programs run with translation on
//! and off must leave identical architected state, memory and instruction counts; plus
//! self-modifying code, exceptions in the middle of a block and code replaced between runs
//! of a block.

use std::sync::Arc;

use ppc64::reg::msr;
use ppc64::{Cpu, Exit, NoBus, Partition, Ram};
use proptest::prelude::*;
use vm_memory::{GuestAddress, GuestMemoryMmap};

const RAM: u64 = 1 << 20;
/// Where programs are loaded.
const CODE: u64 = 0x1_0000;
/// Data area (r31 points here; loads and stores use small offsets from it).
const DATA: u64 = 0x8_0000;
const SC1: u32 = 0x4400_0022;

fn machine(words: &[u32], le: bool, jit: bool) -> Cpu {
    let mem =
        Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap());
    let ram = Ram::from_guest_memory(mem).unwrap();
    // Every interrupt vector holds `sc 1` (interrupts are delivered big-endian: LPCR[ILE]=0).
    for a in (0x100..0x1000).step_by(4) {
        ram.write(a, &SC1.to_be_bytes()).unwrap();
    }
    for (i, w) in words.iter().enumerate() {
        let b = if le { w.to_le_bytes() } else { w.to_be_bytes() };
        ram.write(CODE + 4 * i as u64, &b).unwrap();
    }
    let data: Vec<u8> = (0..0x2000u32)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 24) as u8)
        .collect();
    ram.write(DATA - 0x1000, &data).unwrap();
    let part = Partition::new(ram, Arc::new(NoBus));
    let mut cpu = Cpu::new(part, 0);
    assert_eq!(cpu.set_jit(jit), jit, "translator availability");
    let m = msr::SF | msr::ME | if le { msr::LE } else { 0 };
    cpu.core.set_msr(m);
    cpu.core.nia = CODE;
    cpu
}

/// Everything a program can change that the comparison looks at.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    gpr: [u64; 32],
    cr: u32,
    xer: u64,
    lr: u64,
    ctr: u64,
    nia: u64,
    msr: u64,
    srr0: u64,
    srr1: u64,
    dar: u64,
    dsisr: u64,
    insns: u64,
    data: Vec<u8>,
    exit: Exit,
}

fn snapshot(cpu: &Cpu, exit: Exit) -> Snapshot {
    let c = &cpu.core;
    let mut data = vec![0u8; 0x2000];
    c.partition().ram.read(DATA - 0x1000, &mut data).unwrap();
    Snapshot {
        gpr: c.gpr,
        cr: c.cr,
        xer: c.xer(),
        lr: c.lr,
        ctr: c.ctr,
        nia: c.nia,
        msr: c.msr(),
        srr0: c.srr0,
        srr1: c.srr1,
        dar: c.dar,
        dsisr: c.dsisr,
        insns: c.stats.insns,
        data,
        exit,
    }
}

fn run(words: &[u32], le: bool, jit: bool, init: &dyn Fn(&mut Cpu)) -> Snapshot {
    let mut cpu = machine(words, le, jit);
    init(&mut cpu);
    // A watchdog: a program that never reaches `sc 1` (a translation bug making a loop)
    // comes back as `Exit::Stopped` and fails the comparison instead of hanging.
    let shared = cpu.shared();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let dog = std::thread::spawn(move || {
        if wait
            .recv_timeout(std::time::Duration::from_secs(20))
            .is_err()
        {
            shared.request_stop();
        }
    });
    let e = cpu.run();
    let _ = done.send(());
    let _ = dog.join();
    snapshot(&cpu, e)
}

fn both(words: &[u32], le: bool, init: &dyn Fn(&mut Cpu)) -> Snapshot {
    let a = run(words, le, false, init);
    let b = run(words, le, true, init);
    if a != b {
        let mut d = String::new();
        for i in 0..32 {
            if a.gpr[i] != b.gpr[i] {
                d += &format!("  r{i}: interp {:#x} / jit {:#x}\n", a.gpr[i], b.gpr[i]);
            }
        }
        let named = [
            ("cr", a.cr as u64, b.cr as u64),
            ("xer", a.xer, b.xer),
            ("lr", a.lr, b.lr),
            ("ctr", a.ctr, b.ctr),
            ("nia", a.nia, b.nia),
            ("msr", a.msr, b.msr),
            ("srr0", a.srr0, b.srr0),
            ("srr1", a.srr1, b.srr1),
            ("dar", a.dar, b.dar),
            ("dsisr", a.dsisr, b.dsisr),
            ("insns", a.insns, b.insns),
        ];
        for (n, x, y) in named {
            if x != y {
                d += &format!("  {n}: interp {x:#x} / jit {y:#x}\n");
            }
        }
        if a.data != b.data {
            d += "  data differs\n";
        }
        if a.exit != b.exit {
            d += &format!("  exit: interp {:?} / jit {:?}\n", a.exit, b.exit);
        }
        let dis: Vec<String> = words.iter().map(|w| format!("{w:08x}")).collect();
        panic!(
            "interpreter and JIT differ (le={le}):\n{d}program: {}",
            dis.join(" ")
        );
    }
    a
}

// ---- random programs -------------------------------------------------------------------

/// Instruction templates: register fields are filled in at random, the rest is kept.
/// (`mask` = bits that are randomised, over the template.)
const X31: &[u32] = &[
    0, 32, 8, 10, 11, 24, 26, 27, 28, 40, 58, 60, 73, 75, 104, 124, 136, 138, 200, 202, 232, 233,
    234, 235, 266, 284, 316, 412, 444, 457, 459, 476, 489, 491, 536, 539, 792, 794, 824, 922, 954,
    986, 9, 393, 425, 265, 282, 506, 538, 570, 890, 252, 508, 777, 779, 192, 224, 128, 19, 144, 21,
    23, 53, 55, 87, 119, 149, 151, 181, 183, 215, 247, 279, 311, 343, 341, 373, 375, 407, 439, 534,
    532, 662, 660, 790, 918, 339, 467,
];

fn gen_word(r: &mut u64) -> u32 {
    let mut next = |n: u64| {
        *r ^= *r << 13;
        *r ^= *r >> 7;
        *r ^= *r << 17;
        *r % n
    };
    // r31 (the data pointer) and r28..r30 (small offsets for indexed accesses) are never
    // targets.
    let rt = next(28) as u32;
    let ra = next(28) as u32;
    let rb = next(32) as u32;
    let rc = next(2) as u32;
    let regs = (rt << 21) | (ra << 16) | (rb << 11);
    let d = next(0x10000) as u32;
    // A base register for memory forms: r31 (the data pointer) or r0/random.
    let base = if next(16) == 0 { ra } else { 31 };
    let disp = (next(0x100) as u32).wrapping_sub(0x80) & 0xFFFF;
    match next(40) {
        0 | 13..=20 => {
            // D-form arithmetic/logical/compare.
            let op = [7, 8, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29][next(14) as usize];
            let w = (op << 26) | regs & !0x7FF | d;
            if op == 10 || op == 11 {
                w & !(1 << 22) | (next(2) as u32) << 21 & 0x0020_0000
            } else {
                w
            }
        }
        1..=3 | 21..=32 => {
            // X/XO-form opcode 31 from the list (with random OE for XO forms).
            let xo = X31[next(X31.len() as u64) as usize];
            let xo_form = [
                8, 10, 40, 104, 136, 138, 200, 202, 232, 233, 234, 235, 266, 457, 459, 489, 491,
                393, 425, 9,
            ];
            let oe = if xo_form.contains(&xo) && next(3) == 0 {
                1 << 10
            } else {
                0
            };
            let w = (31 << 26) | regs | (xo << 1) | rc | oe;
            match xo {
                // mfspr/mtspr: LR (8), CTR (9; mfspr only: the loop counts with it), XER (1).
                339 | 467 => {
                    let spr = [1u32, 8, 9][next(if xo == 339 { 3 } else { 2 }) as usize];
                    (31 << 26) | (rt << 21) | (spr << 16) | (xo << 1)
                }
                // mtcrf with a random field mask.
                144 => {
                    (31 << 26)
                        | (rt << 21)
                        | ((next(256) as u32) << 12)
                        | (next(2) as u32) << 20
                        | (144 << 1)
                }
                19 => {
                    (31 << 26)
                        | (rt << 21)
                        | (next(2) as u32 * ((1 << 20) | (1 << (12 + next(8) as u32))))
                        | (19 << 1)
                }
                // cmp/cmpl: BF, L.
                0 | 32 => w & !0x0040_0001,
                // Memory forms: use the base register.
                21 | 23 | 53 | 55 | 87 | 119 | 149 | 151 | 181 | 183 | 215 | 247 | 279 | 311
                | 343 | 341 | 373 | 375 | 407 | 439 | 534 | 532 | 662 | 660 | 790 | 918 => {
                    let rb = 28 + next(3) as u32;
                    ((31 << 26) | (rt << 21) | (base << 16) | (rb << 11) | (xo << 1)) & !1
                }
                _ => w,
            }
        }
        4 | 5 | 33..=37 => {
            // Rotates: rlwinm, rlwnm, rlwimi, and the MD forms.
            match next(4) {
                0 => (21 << 26) | regs | (next(0x800) as u32),
                1 => (23 << 26) | regs | (next(0x800) as u32),
                2 => (20 << 26) | regs | (next(0x800) as u32),
                _ => (30 << 26) | regs | (next(0x800) as u32),
            }
        }
        6..=8 => {
            // D-form loads and stores off the base register.
            let op = [32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45][next(14) as usize];
            (op << 26) | (rt << 21) | (base << 16) | disp
        }
        9 => {
            // DS-form ld/ldu/lwa/std/stdu.
            let (op, xo) = [(58, 0), (58, 1), (58, 2), (62, 0), (62, 1)][next(5) as usize];
            (op << 26) | (rt << 21) | (base << 16) | (disp & !3) | xo
        }
        10 => {
            // Conditional branch forward by 1..6 instructions (no CTR use).
            let bo = [4u32, 12, 20][next(3) as usize];
            let bi = next(32) as u32;
            let off = 4 * (1 + next(6) as u32);
            (16 << 26) | (bo << 21) | (bi << 16) | off
        }
        11 => {
            // isel, CR logical.
            if next(2) == 0 {
                (31 << 26) | regs | ((next(32) as u32) << 6) | (15 << 1)
            } else {
                let xo = [257u32, 449, 193, 225, 33, 289, 129, 417][next(8) as usize];
                (19 << 26) | regs | (xo << 1)
            }
        }
        38 => {
            // Any opcode-31 word, except the ones whose result depends on time or
            // randomness (darn, mftb, mfspr/mtspr of timers, mtmsr).
            let w = (next(1 << 32) as u32 & !(0x3F << 26)) | (31 << 26);
            match (w >> 1) & 0x3FF {
                755 | 371 | 339 | 467 | 146 | 178 => 0x6000_0000,
                _ => w,
            }
        }
        _ => {
            // Unconditional forward branch (sometimes with link).
            (18 << 26) | (4 * (1 + next(4) as u32)) | next(2) as u32
        }
    }
}

fn program(seed: u64, n: usize) -> Vec<u32> {
    let mut r = seed | 1;
    let mut v: Vec<u32> = (0..n).map(|_| gen_word(&mut r)).collect();
    // The loop: run the body a few times (CTR is set by the harness); then exit.
    let back = (-(4 * n as i32)) as u32 & 0xFFFC;
    v.push((16 << 26) | (16 << 21) | back); // bdnz body
    // Landing pads for forward branches past the end.
    v.extend([SC1; 8]);
    v
}

fn init_regs(seed: u64) -> impl Fn(&mut Cpu) {
    move |cpu: &mut Cpu| {
        let mut r = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for i in 0..32 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            cpu.core.gpr[i] = match r % 4 {
                0 => r >> (r % 64),
                1 => (r % 64).wrapping_sub(8),
                2 => DATA + (r % 0x100),
                _ => r,
            };
        }
        cpu.core.gpr[28] = 8;
        cpu.core.gpr[29] = 0x13;
        cpu.core.gpr[30] = (-0x40i64) as u64;
        cpu.core.gpr[31] = DATA;
        cpu.core.cr = (r >> 16) as u32;
        cpu.core.set_xer(r.rotate_left(7) & 0xC00C_0000);
        cpu.core.ctr = 3;
        cpu.core.lr = 0x10_0000;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_programs_same_with_and_without_jit(seed in any::<u64>(), n in 1usize..60, le in any::<bool>(), sf in any::<bool>()) {
        let words = program(seed, n);
        let init = init_regs(seed);
        let init = move |cpu: &mut Cpu| {
            init(cpu);
            if !sf {
                let m = cpu.core.msr() & !msr::SF;
                cpu.core.set_msr(m);
            }
        };
        let s = both(&words, le, &init);
        TOTAL.fetch_add(s.insns, std::sync::atomic::Ordering::Relaxed);
        CASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if std::env::var("JIT_TEST_VERBOSE").is_ok() {
            let w = s.srr0.checked_sub(CODE).and_then(|o| words.get(o as usize / 4)).copied().unwrap_or(0);
            eprintln!("insns {} exit {:?} nia {:#x} srr0 {:#x} word {w:08x}", s.insns, s.exit, s.nia, s.srr0);
        }
    }
}

static TOTAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static CASES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// ---- directed cases --------------------------------------------------------------------

#[test]
fn jit_is_on_by_default_on_x86_64() {
    if std::env::var("PAPR_HV_JIT").is_ok_and(|v| v.trim() == "0") {
        return;
    }
    let mem = Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 16)]).unwrap());
    let cpu = Cpu::new(
        Partition::new(Ram::from_guest_memory(mem).unwrap(), Arc::new(NoBus)),
        0,
    );
    assert_eq!(cpu.jit_enabled(), cfg!(target_arch = "x86_64"));
}

/// A data storage interrupt on a load in the middle of a block: the instructions before
/// it took effect, the ones after did not, SRR0 is the load, the count is exact.
#[test]
fn dsi_in_the_middle_of_a_block() {
    let words = [
        0x3860_0001, // li r3,1
        0x3880_0002, // li r4,2
        0x7c63_2214, // add r3,r3,r4
        0xe8a6_0008, // ld r5,8(r6)   <- DSI (data translation on, no process table)
        0x38c0_0007, // li r6,7
        SC1,
    ];
    for le in [true, false] {
        let init = |cpu: &mut Cpu| {
            let m = cpu.core.msr() | msr::DR;
            cpu.core.set_msr(m);
            cpu.core.gpr[6] = 0x4000;
            cpu.core.gpr[5] = 0x55;
        };
        let s = both(&words, le, &init);
        assert_eq!(s.exit, Exit::Hcall);
        assert_eq!(s.srr0, CODE + 12);
        assert_eq!(s.dar, 0x4008);
        assert_eq!(s.gpr[3], 3);
        assert_eq!(s.gpr[5], 0x55);
        assert_eq!(s.gpr[6], 0x4000);
        assert_eq!(s.nia, 0x304);
        // li, li, add, ld (faulting), then `sc 1` at the vector.
        assert_eq!(s.insns, 5);
    }
}

/// A store rewrites an instruction of a loop body that has already run (and been
/// translated); the next iteration runs the new instruction.
#[test]
fn self_modifying_loop() {
    // r10 = address of the `addi r3,r3,1` below; r11 = the word `addi r3,r3,100`.
    let words = [
        0x3860_0000, // 0: li r3,0
        0x3880_0003, // 4: li r4,3
        0x7c89_03a6, // 8: mtctr r4
        0x3863_0001, // c: addi r3,r3,1      <- patched
        0x916a_0000, // 10: stw r11,0(r10)
        0x4c00_012c, // 14: isync
        0x4200_fff4, // 18: bdnz 0xc
        SC1,         // 1c
    ];
    for le in [true, false] {
        let init = |cpu: &mut Cpu| {
            cpu.core.gpr[10] = CODE + 0xc;
            cpu.core.gpr[11] = 0x3863_0064;
        };
        let s = both(&words, le, &init);
        assert_eq!(s.exit, Exit::Hcall);
        assert_eq!(s.gpr[3], 1 + 100 + 100, "le={le}");
        assert_eq!(s.insns, 3 + 3 * 4 + 1);
    }
}

/// A one-block loop that rewrites one of its own instructions with no context
/// synchronisation: the block being run keeps its decoded (and translated) instructions
/// until it branches, then the next pass runs the new instruction, as in the interpreter.
#[test]
fn loop_rewriting_its_own_block() {
    let words = [
        0x3860_0000, // 0: li r3,0
        0x3880_0004, // 4: li r4,4
        0x7c89_03a6, // 8: mtctr r4
        0x3863_0001, // c: addi r3,r3,1      <- patched
        0x916a_0000, // 10: stw r11,0(r10)
        0x3bff_0001, // 14: addi r31,r31,1
        0x4200_fff4, // 18: bdnz 0xc
        SC1,         // 1c
    ];
    for le in [true, false] {
        let init = |cpu: &mut Cpu| {
            cpu.core.gpr[10] = CODE + 0xc;
            cpu.core.gpr[11] = 0x3863_0064;
            cpu.core.gpr[31] = 0;
        };
        let s = both(&words, le, &init);
        assert_eq!(s.exit, Exit::Hcall);
        assert_eq!(s.gpr[3], 1 + 3 * 100, "le={le}");
        assert_eq!(s.gpr[31], 4);
        assert_eq!(s.insns, 3 + 4 * 4 + 1);
    }
}

/// Code replaced from outside the vCPU (as device DMA or a hypercall would) between two
/// runs: the caller's block, already linked to the old subroutine, must reach the new one.
#[test]
fn code_replaced_between_runs() {
    // The subroutine is on another page than its callers, so that their blocks stay valid.
    let mut words = vec![0x6000_0000u32; 0x1000 / 4 + 2];
    words[..6].copy_from_slice(&[
        0x3880_0002, // 0: li r4,2
        0x7c89_03a6, // 4: mtctr r4
        0x4800_0ff9, // 8: loop: bl sub (0x1000)
        0x4200_fffc, // c: bdnz loop
        SC1,         // 10: sc 1
        0x4bff_ffec, // 14: b 0
    ]);
    words[0x400] = 0x3863_0001; // 1000: sub: addi r3,r3,1
    words[0x401] = 0x4e80_0020; // 1004: blr
    for le in [true, false] {
        let mut out = Vec::new();
        for jit in [false, true] {
            let mut cpu = machine(&words, le, jit);
            cpu.core.gpr[3] = 0;
            let mut r3 = Vec::new();
            for round in 0..4u32 {
                assert_eq!(cpu.run(), Exit::Hcall);
                r3.push(cpu.core.gpr[3]);
                // Replace `addi r3,r3,k` with a new immediate.
                let w: u32 = 0x3863_0000 | (10 << round);
                let b = if le { w.to_le_bytes() } else { w.to_be_bytes() };
                let part = cpu.core.partition().clone();
                part.ram.write(CODE + 0x1000, &b).unwrap();
                part.code.invalidate_range(CODE + 0x1000, 4);
            }
            out.push((r3, cpu.core.stats.insns));
        }
        assert_eq!(out[0], out[1], "interpreter vs JIT, le={le}");
        assert_eq!(out[0].0, vec![2, 22, 62, 142], "le={le}");
    }
}

/// A subroutine is called, replaced by a store from another page, and called again: the
/// caller's block (already translated, entered many times) must reach the new code.
#[test]
fn replaced_subroutine_between_calls() {
    // Main at CODE; subroutine at CODE + 0x2000 (another page).
    let mut words = vec![0u32; 0x2000 / 4 + 4];
    let main = [
        0x3860_0000, // li r3,0
        0x3880_0005, // li r4,5
        0x7c89_03a6, // mtctr r4
        0x4800_1ff5, // loop: bl +0x1ff4 -> CODE+0x2000 (from CODE+0xc)
        0x4200_fffc, // bdnz loop
        0x916a_0000, // stw r11,0(r10)  (replace the subroutine's first instruction)
        0x7c00_04ac, // sync
        0x4c00_012c, // isync
        0x4800_1fe1, // bl CODE+0x2000 (from CODE+0x20)
        SC1,
    ];
    words[..main.len()].copy_from_slice(&main);
    words[0x800] = 0x3863_0001; // addi r3,r3,1
    words[0x801] = 0x4e80_0020; // blr
    for le in [true, false] {
        let init = |cpu: &mut Cpu| {
            cpu.core.gpr[10] = CODE + 0x2000;
            cpu.core.gpr[11] = 0x3863_03e8; // addi r3,r3,1000
        };
        let s = both(&words, le, &init);
        assert_eq!(s.exit, Exit::Hcall);
        assert_eq!(s.gpr[3], 5 + 1000, "le={le}");
    }
}

/// A block entered at two effective addresses that map to the same real page (real mode
/// ignores EA bits 0:3): each run uses its own address for LR.
#[test]
fn same_code_at_two_effective_addresses() {
    let words = [
        0x4800_0005, // 0: bl +4
        0x7c88_02a6, // 4: mflr r4
        0x7ca5_2214, // 8: add r5,r5,r4
        0x34e7_ffff, // c: addic. r7,r7,-1
        0x4182_0008, // 10: beq 0x18
        0x4e80_0420, // 14: bctr
        SC1,         // 18
    ];
    const ALIAS: u64 = 0x1000_0000_0000_0000 | CODE;
    for le in [true, false] {
        let init = |cpu: &mut Cpu| {
            cpu.core.ctr = ALIAS;
            cpu.core.gpr[5] = 0;
            cpu.core.gpr[7] = 2;
        };
        let s = both(&words, le, &init);
        assert_eq!(s.exit, Exit::Hcall);
        assert_eq!(s.gpr[5], (CODE + 4).wrapping_add(ALIAS + 4), "le={le}");
        assert_eq!(s.gpr[4], ALIAS + 4);
        assert_eq!(s.insns, 12);
    }
}
