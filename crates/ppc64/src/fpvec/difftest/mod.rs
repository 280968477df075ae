//! Differential testing of single instructions against `qemu-ppc64le` (QEMU 7.2).
//!
//! `runner.c` is compiled at test time with `powerpc64le-linux-gnu-gcc` (nothing binary is
//! committed) and executes each case record under `qemu-ppc64le -cpu power9`; the same
//! record is executed here by decoding the instruction and calling its handler on a vCPU
//! in real mode with the same memory layout. Both final states are compared field by
//! field, with the documented, explained QEMU deviations masked (see [`Diff`]).
//!
//! The tests using this are `#[ignore]`d because they need the cross toolchain and QEMU:
//! `cargo test -p ppc64 --lib fpvec::difftest -- --ignored`.

#![allow(dead_code)]

pub(crate) mod cases;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use crate::core::Flow;
use crate::cpu::Cpu;
use crate::mem::Ram;
use crate::partition::{NoBus, Partition};
use crate::reg::{msr, program, vec};

/// Scratch memory base (same address in QEMU and here).
pub(crate) const MEMBASE: u64 = 0x20_0000;
/// Address of the instruction.
pub(crate) const CODE: u64 = 0x30_0000;
const REC: usize = 1584;

/// One test case / result.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Case {
    pub insn: u32,
    /// Signal raised (result only).
    pub sig: u32,
    pub fpscr: u64,
    pub cr: u64,
    pub xer: u64,
    pub vscr: u64,
    pub gpr: [u64; 32],
    pub vsr: [u128; 64],
    pub mem: [u8; 256],
}

impl Default for Case {
    fn default() -> Self {
        Case {
            insn: 0,
            sig: 0,
            fpscr: 0,
            cr: 0,
            xer: 0,
            vscr: 0x1_0000,
            gpr: [0; 32],
            vsr: [0; 64],
            mem: [0; 256],
        }
    }
}

impl Case {
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; REC];
        b[0..4].copy_from_slice(&self.insn.to_le_bytes());
        b[4..8].copy_from_slice(&self.sig.to_le_bytes());
        b[8..16].copy_from_slice(&self.fpscr.to_le_bytes());
        b[16..24].copy_from_slice(&self.cr.to_le_bytes());
        b[24..32].copy_from_slice(&self.xer.to_le_bytes());
        b[32..40].copy_from_slice(&self.vscr.to_le_bytes());
        for i in 0..32 {
            b[48 + 8 * i..56 + 8 * i].copy_from_slice(&self.gpr[i].to_le_bytes());
        }
        for i in 0..64 {
            b[304 + 16 * i..320 + 16 * i].copy_from_slice(&self.vsr[i].to_le_bytes());
        }
        b[1328..1584].copy_from_slice(&self.mem);
        b
    }

    fn from_bytes(b: &[u8]) -> Case {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let mut c = Case {
            insn: u32_at(0),
            sig: u32_at(4),
            fpscr: u64_at(8),
            cr: u64_at(16) & 0xFFFF_FFFF,
            xer: u64_at(24),
            vscr: u64_at(32) & 0xFFFF_FFFF,
            ..Case::default()
        };
        for i in 0..32 {
            c.gpr[i] = u64_at(48 + 8 * i);
        }
        for i in 0..64 {
            c.vsr[i] = u128::from_le_bytes(b[304 + 16 * i..320 + 16 * i].try_into().unwrap());
        }
        c.mem.copy_from_slice(&b[1328..1584]);
        c
    }
}

/// Whether the cross toolchain and QEMU are installed.
pub(crate) fn tools_present() -> bool {
    let ok = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ok("qemu-ppc64le") && ok("powerpc64le-linux-gnu-gcc")
}

fn runner() -> &'static PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/fpvec/difftest/runner.c");
        let dir = std::env::temp_dir().join(format!("ppc64-fpvec-difftest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("runner");
        let st = Command::new("powerpc64le-linux-gnu-gcc")
            .args(["-O1", "-static", "-mcpu=power9", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run powerpc64le-linux-gnu-gcc");
        assert!(st.success(), "compiling the runner failed");
        out
    })
}

/// Runs cases under QEMU.
pub(crate) fn run_qemu(cases: &[Case]) -> Vec<Case> {
    let mut input = Vec::with_capacity(cases.len() * REC);
    for c in cases {
        input.extend_from_slice(&c.to_bytes());
    }
    let mut child = Command::new("qemu-ppc64le")
        .args(["-cpu", "power9"])
        .arg(runner())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn qemu-ppc64le");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().expect("qemu output");
    writer.join().unwrap();
    assert_eq!(
        out.stdout.len(),
        cases.len() * REC,
        "qemu runner output size"
    );
    out.stdout.chunks(REC).map(Case::from_bytes).collect()
}

/// A vCPU for executing cases.
pub(crate) struct Emu {
    pub(crate) cpu: Cpu,
}

impl Emu {
    pub(crate) fn new() -> Emu {
        let mem = Arc::new(
            vm_memory::GuestMemoryMmap::<()>::from_ranges(&[(
                vm_memory::GuestAddress(0),
                16 << 20,
            )])
            .unwrap(),
        );
        let ram = Ram::from_guest_memory(mem).unwrap();
        let part = Partition::new(ram, Arc::new(NoBus));
        Emu {
            cpu: Cpu::new(part, 0),
        }
    }

    /// Executes one case with the given MSR (LE, FP, VEC, VSX, FE0|FE1 by default).
    pub(crate) fn run_msr(&mut self, k: &Case, m: u64) -> Case {
        let c = &mut self.cpu.core;
        c.set_msr(m);
        c.fpscr = k.fpscr;
        c.cr = k.cr as u32;
        c.set_xer(k.xer);
        c.vscr = k.vscr as u32;
        c.gpr = k.gpr;
        c.vsr = k.vsr;
        c.partition().ram.write(MEMBASE, &k.mem).unwrap();
        let (op, _) = crate::decode::decode(k.insn);
        c.nia = CODE + 4;
        let flow = (op.f)(c, &op, CODE);
        let mut sig = 0;
        if flow != Flow::Next {
            let v = c.nia & 0xFFFF;
            sig = match v {
                vec::PROGRAM => {
                    if c.srr1 & program::FP != 0 {
                        8
                    } else if c.srr1 & program::TRAP != 0 {
                        5
                    } else {
                        4
                    }
                }
                vec::DSI | vec::DSEG => 11,
                vec::ALIGN => 7,
                other => 1000 + other as u32,
            };
        }
        let mut r = Case {
            insn: k.insn,
            sig,
            fpscr: c.fpscr,
            cr: c.cr as u64,
            xer: c.xer(),
            vscr: c.vscr as u64,
            gpr: c.gpr,
            vsr: c.vsr,
            mem: [0; 256],
        };
        c.partition().ram.read(MEMBASE, &mut r.mem).unwrap();
        r
    }

    /// Executes one case as a little-endian user program would run under QEMU.
    pub(crate) fn run(&mut self, k: &Case) -> Case {
        self.run_msr(
            k,
            msr::SF | msr::ME | msr::LE | msr::FP | msr::VEC | msr::VSX | msr::FE0 | msr::FE1,
        )
    }
}

/// Known, explained QEMU 7.2 deviations from the Power ISA, masked in comparisons.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Diff {
    /// QEMU never sets FPSCR[FR].
    pub fr: bool,
    /// QEMU sets FX on every exception, not only on 0 → 1 transitions of the sticky bit.
    pub fx: bool,
}

/// Whether the instruction is a VSX vector floating-point instruction (`xv…`).
pub(crate) fn is_vsx_vector_fp(insn: u32) -> bool {
    if insn >> 26 != 60 || (insn >> 4) & 3 == 3 {
        return false;
    }
    let xo8 = (insn >> 3) & 0xFF;
    let cmp = xo8 & 0x7F;
    if matches!(cmp, 67 | 75 | 83 | 91 | 99 | 107 | 115 | 123) {
        return true;
    }
    let xx3_vec = matches!(xo8, 64..=127 | 192..=255) && !matches!(xo8, 66 | 74 | 98 | 106);
    let xo9 = (insn >> 2) & 0x1FF;
    let xx2_vec = matches!(
        xo9,
        136..=139 | 152..=154 | 168..=171 | 184 | 185 | 200..=203 | 216..=218 | 232..=235
            | 248 | 249 | 392 | 393 | 408 | 409 | 424 | 425 | 440 | 441 | 456 | 457 | 472
            | 473 | 475 | 488 | 489 | 504 | 505
    );
    // XX3 and XX2 XO ranges overlap numerically: decide by the XX3 table first.
    if xx3_vec {
        return true;
    }
    xx2_vec && !matches!(xo8, 0..=63 | 128..=191)
}

/// Whether QEMU 7.2 leaves FPRF alone for this instruction although the ISA sets it
/// (`fcfids`, `fcfidu`, `fcfidus`).
fn qemu_skips_fprf(insn: u32) -> bool {
    let op = insn >> 26;
    let xo = (insn >> 1) & 0x3FF;
    (op == 59 && matches!(xo, 846 | 974)) || (op == 63 && xo == 974)
}

/// `fcmpu`/`fcmpo`/`xscmp[ou]dp`/`xscmp[ou]qp`.
fn is_fp_compare(insn: u32) -> bool {
    let op = insn >> 26;
    let xo10 = (insn >> 1) & 0x3FF;
    let xo8 = (insn >> 3) & 0xFF;
    (op == 63 && matches!(xo10, 0 | 32 | 132 | 644)) || (op == 60 && matches!(xo8, 35 | 43))
}

/// Whether the instruction trapped on an enabled overflow/underflow: the ISA's adjusted
/// result is undefined when it is still out of range, and QEMU then wraps the exponent.
fn adjusted_trap(input: &Case, q: &Case) -> bool {
    use super::fpscr::{OE, OX, UE, UX};
    let new = q.fpscr & !input.fpscr;
    (new & OX != 0 && input.fpscr & OE != 0) || (new & UX != 0 && input.fpscr & UE != 0)
}

/// Compares an expected (QEMU) and an actual (ours) result; returns a description of the
/// differences.
pub(crate) fn compare(input: &Case, q: &Case, e: &Case, d: Diff) -> Option<String> {
    let mut out = String::new();
    let mut qf = q.fpscr;
    let mut ef = e.fpscr;
    if d.fr {
        qf &= !super::fpscr::FR;
        ef &= !super::fpscr::FR;
    }
    if d.fx && input.fpscr & super::fpscr::FX == 0 {
        // QEMU may set FX where the ISA does not (sticky bit already set).
        qf &= !super::fpscr::FX;
        ef &= !super::fpscr::FX;
    }
    let raised = q.fpscr & !input.fpscr;
    if input.fpscr & super::fpscr::VE != 0 && raised & super::fpscr::VXSNAN != 0 {
        // ISA: an enabled invalid operation clears FR and FI; QEMU leaves them for SNaNs.
        qf &= !(super::fpscr::FR | super::fpscr::FI);
        ef &= !(super::fpscr::FR | super::fpscr::FI);
    }
    let mut skip_sig = false;
    if adjusted_trap(input, q) || adjusted_trap(input, e) {
        // The exponent-adjusted result is undefined when still out of range (QEMU then
        // wraps the exponent and may report the other of OX/UX).
        let m = super::fpscr::FR
            | super::fpscr::FI
            | super::fpscr::FPRF
            | super::fpscr::OX
            | super::fpscr::UX
            | super::fpscr::XX
            | super::fpscr::FX
            | super::fpscr::FEX;
        qf &= !m;
        ef &= !m;
        skip_sig = true;
    }
    if q.fpscr & super::fpscr::VXIMZ != 0 {
        // ∞×0 with an SNaN addend: QEMU reports only VXIMZ (the ISA: VXIMZ and VXSNAN).
        qf &= !super::fpscr::VXSNAN;
        ef &= !super::fpscr::VXSNAN;
    }
    if is_fp_compare(input.insn) {
        // QEMU clears FI on compares and sets C with VXVC (the ISA leaves FR, FI and C);
        // it also sets VXVC for an SNaN operand when VE=1 (the ISA does not).
        let mut m = super::fpscr::FI | 1 << 16;
        if input.fpscr & super::fpscr::VE != 0 {
            m |= super::fpscr::VXVC;
        }
        qf &= !m;
        ef &= !m;
    }
    if input.insn & 0xFFE0_07FE == 0xFFA0_004C {
        // mtfsb1 29: QEMU refuses to set NI by this route (but not by mtfsfi/mtfsf).
        qf &= !super::fpscr::NI;
        ef &= !super::fpscr::NI;
    }
    if q.sig == 8 && e.sig == 8 {
        // QEMU traps from inside some helpers before updating FPRF.
        qf &= !super::fpscr::FPRF;
        ef &= !super::fpscr::FPRF;
    }
    if is_vsx_vector_fp(input.insn) {
        // Vector instructions do not touch FR/FI (QEMU clears FI); QEMU reports only OX
        // when elements both overflow and underflow; and it stops at the first element
        // that traps, so a trapping vector instruction's status is not comparable.
        let mut m = super::fpscr::FR | super::fpscr::FI;
        if q.fpscr & super::fpscr::OX != 0 {
            m |= super::fpscr::UX;
            if input.fpscr & super::fpscr::UE != 0 {
                // our UX may trap where QEMU's hidden one does not
                m |= super::fpscr::FEX | super::fpscr::FX;
                skip_sig = true;
            }
        }
        if q.sig == 8 && e.sig == 8 {
            m = u64::MAX;
        }
        qf &= !m;
        ef &= !m;
    }
    if qemu_skips_fprf(input.insn) {
        qf &= !super::fpscr::FPRF;
        ef &= !super::fpscr::FPRF;
    }
    if q.sig != e.sig && !skip_sig {
        out += &format!(" sig qemu={} ours={}", q.sig, e.sig);
    }
    if qf != ef {
        out += &format!(" fpscr qemu={:#x} ours={:#x}", q.fpscr, e.fpscr);
    }
    let (mut qcr, mut ecr) = if d.fx && input.fpscr & super::fpscr::FX == 0 {
        // CR1 carries FX for Rc=1 forms.
        (q.cr & !0x0800_0000, e.cr & !0x0800_0000)
    } else {
        (q.cr, e.cr)
    };
    if q.sig == 8 {
        // QEMU does not update CR1 when an FP instruction traps.
        qcr &= !0x0F00_0000;
        ecr &= !0x0F00_0000;
    }
    // QEMU raises some enabled-exception traps before writing the target register (the
    // ISA writes it for OX/UX/XX), and adjusted results may be undefined.
    let skip_regs = skip_sig || adjusted_trap(input, q) || (q.sig == 8 && e.sig == 8);
    if qcr != ecr {
        out += &format!(" cr qemu={:#010x} ours={:#010x}", q.cr, e.cr);
    }
    if q.xer != e.xer {
        out += &format!(" xer qemu={:#x} ours={:#x}", q.xer, e.xer);
    }
    let vscr_mask = if input.insn & 0xFC00_07FF == 0x1000_0644 {
        // mtvscr: QEMU keeps the reserved VSCR bits
        0x1_0001
    } else {
        u64::MAX
    };
    if q.vscr & vscr_mask != e.vscr & vscr_mask {
        out += &format!(" vscr qemu={:#x} ours={:#x}", q.vscr, e.vscr);
    }
    for i in 0..32 {
        if i != 1 && q.gpr[i] != e.gpr[i] {
            out += &format!(" r{i} qemu={:#x} ours={:#x}", q.gpr[i], e.gpr[i]);
        }
    }
    for i in 0..64 {
        if q.vsr[i] != e.vsr[i] && !skip_regs {
            out += &format!(" vs{i} qemu={:#034x} ours={:#034x}", q.vsr[i], e.vsr[i]);
        }
    }
    if q.mem != e.mem {
        out += " mem differs";
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Runs `cases` on both sides and returns the mismatch descriptions.
pub(crate) fn diff_all(cases: &[Case], d: Diff) -> Vec<String> {
    let q = run_qemu(cases);
    let mut emu = Emu::new();
    let mut bad = Vec::new();
    for (k, qr) in cases.iter().zip(q.iter()) {
        let er = emu.run(k);
        if let Some(m) = compare(k, qr, &er, d) {
            let f = |sh: u32| (k.insn >> sh) & 31;
            let (a, b, cc) = (f(16), f(11), f(6));
            bad.push(format!(
                "insn {:#010x} fpscr_in={:#x} in: [5-bit fields a={a}:{:#x} b={b}:{:#x} c={cc}:{:#x}] [vr a={:#x} b={:#x} c={:#x}] |{}",
                k.insn,
                k.fpscr,
                k.vsr[a as usize],
                k.vsr[b as usize],
                k.vsr[cc as usize],
                k.vsr[32 + a as usize],
                k.vsr[32 + b as usize],
                k.vsr[32 + cc as usize],
                m
            ));
        }
    }
    bad
}
