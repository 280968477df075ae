//! Shared harness for the privileged-behaviour conformance tests.
//!
//! A [`M`] is one partition with 32 MiB of RAM, one vCPU and the layout every test builds
//! on:
//!
//! | guest-real range | what |
//! |---|---|
//! | `0x100..0x1000` | real-mode interrupt vectors, every word `sc 1` |
//! | `0x3000..0x5000` | AIL=3 vectors (`0xC000_0000_0000_3000 + 32·LEV` for `scv`, `…4000 + offset`) |
//! | `0x1_0000..0x1_7000` | test code ([`CODE`]) |
//! | `0x1_7000..0x1_9000` | `scv` vectors (AIL=0) and AIL=2 vectors (`0x1_8000 + offset`) |
//! | `0x2_0000..` | data ([`DATA`]) |
//! | `0xF0_0000` | process table (4 KiB, 256 PIDs) |
//! | `0x100_0000..0x180_0000` | page tables (bump allocated) |
//!
//! Every vector word is `sc 1` in the interrupt byte order (LPCR[ILE]), so an interrupt
//! makes [`Cpu::run`] return [`Exit::Hcall`] with NIA = vector + 4, and the test reads
//! SRR0/SRR1/DAR/DSISR/MSR as the handler would see them. PID 0 maps the kernel's linear
//! map `0xC000_0000_0000_0000 + x → x` with one 1 GiB leaf (as Linux does), so the AIL=3
//! vectors and test code are reachable with translation on; with PIDR = 0, quadrant 0
//! goes through the same tree (`x → x`).
//!
//! Snippets are assembled at test time with the cross assembler
//! (`powerpc64le-linux-gnu-as`, `objcopy`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ppc64::reg::{lpcr, msr};
use ppc64::{Cpu, Exit, NoBus, Partition, Ram};
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// RAM size.
pub const RAM_SIZE: u64 = 32 << 20;
/// Test code (guest real).
pub const CODE: u64 = 0x1_0000;
/// Data area (guest real).
pub const DATA: u64 = 0x2_0000;
/// Process table (guest real; 4 KiB: PIDs 0..255).
pub const PRTB: u64 = 0xF0_0000;
/// Page-table allocation area.
pub const PT_BASE: u64 = 0x100_0000;
/// End of the page-table area.
pub const PT_END: u64 = 0x180_0000;
/// The kernel linear map base (quadrant 3).
pub const KBASE: u64 = 0xC000_0000_0000_0000;
/// The `sc 1` instruction.
pub const SC1: u32 = 0x4400_0022;

/// Leaf PTE bits (big-endian in memory; ISA 3.0 Book III radix PTE).
pub mod pte {
    /// Valid.
    pub const V: u64 = 1 << 63;
    /// Leaf.
    pub const L: u64 = 1 << 62;
    /// Reference.
    pub const R: u64 = 0x100;
    /// Change.
    pub const C: u64 = 0x80;
    /// ATT = 0b10: non-idempotent I/O (guarded).
    pub const ATT_GUARDED: u64 = 0x20;
    /// ATT = 0b11: tolerant I/O.
    pub const ATT_TOLERANT: u64 = 0x30;
    /// EAA privileged.
    pub const PRIV: u64 = 0x8;
    /// EAA read.
    pub const RD: u64 = 0x4;
    /// EAA read/write.
    pub const RW: u64 = 0x2;
    /// EAA execute.
    pub const X: u64 = 0x1;
    /// A Linux kernel page: R|C|priv|read|write|exec.
    pub const KERNEL: u64 = R | C | PRIV | RD | RW | X;
    /// A user read/write/execute page with R and C set.
    pub const USER: u64 = R | C | RD | RW | X;
}

/// MSR of the guest kernel with translation on (SF|ME|IR|DR|RI|LE).
pub const KMSR: u64 = msr::SF | msr::ME | msr::IR | msr::DR | msr::RI | msr::LE;
/// MSR of the guest kernel in real mode, little-endian.
pub const RMSR: u64 = msr::SF | msr::ME | msr::LE;
/// A user MSR (kernel value | PR), EE left clear so the decrementer stays out of the way.
pub const UMSR: u64 = KMSR | msr::PR;

// ---- assembler ------------------------------------------------------------------------------

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Assembles `src` (GNU syntax, register names allowed) for ppc64le and returns the words.
/// Results are cached per process.
pub fn asm(src: &str) -> Vec<u32> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<u32>>>> = OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static TOOLS: OnceLock<bool> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(w) = cache.lock().unwrap().get(src) {
        return w.clone();
    }
    assert!(
        *TOOLS.get_or_init(
            || tool("powerpc64le-linux-gnu-as") && tool("powerpc64le-linux-gnu-objcopy")
        ),
        "the privileged conformance tests assemble their snippets with powerpc64le-linux-gnu-as \
         and powerpc64le-linux-gnu-objcopy (Debian: binutils-powerpc64le-linux-gnu; \
         ./scripts/test installs them)"
    );
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("ppc64-privconf-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = dir.join("t.s");
    let o = dir.join("t.o");
    let b = dir.join("t.bin");
    std::fs::write(&s, format!("\t.machine power9\n\t.text\n{src}\n")).unwrap();
    let out = Command::new("powerpc64le-linux-gnu-as")
        .args(["-a64", "-mlittle", "-mpower9", "-mregnames", "-o"])
        .arg(&o)
        .arg(&s)
        .output()
        .expect("run powerpc64le-linux-gnu-as");
    assert!(
        out.status.success(),
        "assembling failed:\n{src}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("powerpc64le-linux-gnu-objcopy")
        .args(["-O", "binary", "-j", ".text"])
        .arg(&o)
        .arg(&b)
        .output()
        .expect("run powerpc64le-linux-gnu-objcopy");
    assert!(out.status.success(), "objcopy failed");
    let bytes = std::fs::read(&b).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    cache.lock().unwrap().insert(src.to_string(), words.clone());
    words
}

// ---- the machine ----------------------------------------------------------------------------

/// Radix page-table builder over guest RAM (Linux shapes: 13/9/9 then 9 for 4 KiB or 5 for
/// 64 KiB pages; all entries big-endian).
pub struct Tables {
    next: u64,
}

/// One partition with one (or more) vCPUs and the standard layout.
pub struct M {
    /// vCPU 0.
    pub cpu: Cpu,
    /// The partition.
    pub part: Arc<Partition>,
    /// Page tables.
    pub pt: Tables,
}

/// A partition over fresh RAM.
pub fn partition() -> Arc<Partition> {
    let mem = Arc::new(
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM_SIZE as usize)]).unwrap(),
    );
    let ram = Ram::from_guest_memory(mem).unwrap();
    Partition::new(ram, Arc::new(NoBus))
}

impl Default for M {
    fn default() -> Self {
        Self::new()
    }
}

impl M {
    /// The standard machine: LPCR = ILE | UPRT | HR | GTSE (AIL 0), process table registered
    /// with the kernel linear map, vectors installed, vCPU in real mode, little-endian,
    /// MSR = SF|ME|LE, DEC = 0x7FFF_FFFF, NIA = [`CODE`].
    pub fn new() -> M {
        let part = partition();
        let mut cpu = Cpu::new(part.clone(), 0);
        cpu.core.set_msr(RMSR);
        cpu.core.nia = CODE;
        let tb = part.tb.now();
        cpu.core.dec.write(tb, 0x7FFF_FFFF);
        let mut m = M {
            cpu,
            part,
            pt: Tables { next: PT_BASE },
        };
        m.part.set_lpcr(lpcr::ILE);
        m.register_proc_table(PRTB, 0, true);
        m.map(0, KBASE, 0, 30, pte::KERNEL);
        m.install_vectors();
        m
    }

    /// A second vCPU of the same partition (id 1), set up like vCPU 0.
    pub fn second_cpu(&self) -> Cpu {
        let mut c = Cpu::new(self.part.clone(), 1);
        c.core.set_msr(RMSR);
        c.core.nia = CODE;
        let tb = self.part.tb.now();
        c.core.dec.write(tb, 0x7FFF_FFFF);
        c
    }

    /// Registers a process table as H_REGISTER_PROC_TBL does (`crates/hv`): partition-table
    /// dword 1 = base | size field; LPCR gains UPRT and HR (and GTSE if asked); every vCPU's
    /// translations are flushed.
    pub fn register_proc_table(&mut self, base: u64, size_field: u64, gtse: bool) {
        self.part.prtb.store(base | size_field, Ordering::SeqCst);
        let mut l = self.part.lpcr() | lpcr::UPRT | lpcr::HR;
        if gtse {
            l |= lpcr::GTSE;
        } else {
            l &= !lpcr::GTSE;
        }
        self.part.set_lpcr(l);
        self.part.flush_all_tlbs();
        self.cpu.core.flush_tlb();
    }

    /// Interrupts are little-endian (LPCR[ILE]).
    pub fn ile(&self) -> bool {
        self.part.lpcr() & lpcr::ILE != 0
    }

    /// Sets LPCR[ILE] (H_SET_MODE resource 4) and rewrites the vectors in that byte order.
    pub fn set_ile(&mut self, le: bool) {
        let l = self.part.lpcr() & !lpcr::ILE;
        self.part.set_lpcr(if le { l | lpcr::ILE } else { l });
        self.install_vectors();
    }

    /// Sets LPCR[AIL] (H_SET_MODE resource 3).
    pub fn set_ail(&mut self, ail: u64) {
        let l = (self.part.lpcr() & !lpcr::AIL) | (ail << lpcr::AIL_SHIFT);
        self.part.set_lpcr(l);
    }

    /// Sets LPCR[LD] (large decrementer).
    pub fn set_ld(&mut self, on: bool) {
        let l = self.part.lpcr() & !lpcr::LD;
        self.part.set_lpcr(if on { l | lpcr::LD } else { l });
    }

    /// Writes `sc 1` into every word of the vector areas, in the interrupt byte order.
    pub fn install_vectors(&mut self) {
        let le = self.ile();
        for (a, b) in [
            (0x100u64, 0x1000u64),
            (0x3000, 0x5000),
            (0x1_7000, 0x1_9000),
        ] {
            let words = vec![SC1; ((b - a) / 4) as usize];
            self.write_words(a, &words, le);
        }
    }

    /// Writes instruction words at guest-real `ra` in the given byte order and invalidates
    /// any code decoded from there.
    pub fn write_words(&self, ra: u64, words: &[u32], le: bool) {
        let mut bytes = Vec::with_capacity(words.len() * 4);
        for w in words {
            bytes.extend_from_slice(&if le { w.to_le_bytes() } else { w.to_be_bytes() });
        }
        self.part.ram.write(ra, &bytes).unwrap();
        self.part.code.invalidate_range(ra, bytes.len() as u64);
    }

    /// Assembles `src` to guest-real `ra` in the byte order `le`; returns the address just
    /// past the last instruction.
    pub fn asm_at(&self, ra: u64, src: &str, le: bool) -> u64 {
        let w = asm(src);
        self.write_words(ra, &w, le);
        ra + 4 * w.len() as u64
    }

    /// Assembles `src` at [`CODE`] in the current MSR[LE] byte order, and points NIA at it
    /// (real address; add [`KBASE`] for translated code). Returns the guest-real address
    /// just past the code.
    pub fn code(&mut self, src: &str) -> u64 {
        let le = self.cpu.core.little_endian();
        let end = self.asm_at(CODE, src, le);
        self.cpu.core.nia = CODE;
        end
    }

    /// Replaces the handler at a real-mode vector offset (code in the ILE byte order).
    pub fn handler(&self, ra: u64, src: &str) {
        let le = self.ile();
        self.asm_at(ra, src, le);
    }

    /// Sets MSR (raw) and NIA.
    pub fn enter(&mut self, msr_v: u64, nia: u64) {
        self.cpu.core.set_msr(msr_v);
        self.cpu.core.nia = nia;
    }

    /// Runs vCPU 0 (with a watchdog: a run that does not exit within 20 s is stopped and the
    /// test fails).
    pub fn run(&mut self) -> Exit {
        run_guarded(&mut self.cpu)
    }

    /// Runs until an `sc 1` exit and returns the address of that `sc 1`.
    pub fn stop(&mut self) -> u64 {
        let e = self.run();
        assert_eq!(
            e,
            Exit::Hcall,
            "expected to stop at an sc 1 (nia {:#x})",
            self.cpu.core.nia
        );
        self.cpu.core.nia - 4
    }

    /// Runs and asserts that the vCPU stopped at `addr` (a vector: `0x300`, or
    /// `0xC000_0000_0000_4300` for AIL=3, or the code's final `sc 1`).
    #[track_caller]
    pub fn expect_stop(&mut self, addr: u64) {
        let at = self.stop();
        assert_eq!(
            at,
            addr,
            "stopped at {at:#x}, expected {addr:#x}; SRR0 {:#x} SRR1 {:#x} DAR {:#x} DSISR {:#x} MSR {:#x}",
            self.cpu.core.srr0,
            self.cpu.core.srr1,
            self.cpu.core.dar,
            self.cpu.core.dsisr,
            self.cpu.core.msr()
        );
    }

    /// Returns from a stopped-at vector the way `rfid` would: MSR ← SRR1, NIA ← SRR0 (raw).
    pub fn resume_from_interrupt(&mut self) {
        let (s0, s1) = (self.cpu.core.srr0, self.cpu.core.srr1);
        self.cpu.core.set_msr(s1);
        self.cpu.core.nia = s0;
    }

    /// GPR `n`.
    pub fn r(&self, n: usize) -> u64 {
        self.cpu.core.gpr[n]
    }

    /// Sets PIDR and drops cached translations (as `mtspr PIDR` does).
    pub fn set_pid(&mut self, pid: u64) {
        self.cpu.core.pidr = pid;
        self.cpu.core.flush_tlb();
    }

    /// The standard user setup: PID 1 maps `CODE` (64 KiB, user r-x) and `DATA` (64 KiB,
    /// user rw) at the same effective addresses; PIDR = 1.
    pub fn user_setup(&mut self) {
        self.map(1, CODE, CODE, 16, pte::R | pte::C | pte::RD | pte::X);
        self.map(1, DATA, DATA, 16, pte::R | pte::C | pte::RD | pte::RW);
        self.set_pid(1);
    }

    // ---- page tables ------------------------------------------------------------------------

    fn alloc(&mut self, bytes: u64) -> u64 {
        let a = (self.pt.next + bytes - 1) & !(bytes - 1);
        assert!(a + bytes <= PT_END, "page-table area exhausted");
        self.pt.next = a + bytes;
        let zero = vec![0u8; bytes as usize];
        self.part.ram.write(a, &zero).unwrap();
        a
    }

    /// The process-table entry (dword 0) of `pid`.
    pub fn prte(&self, pid: u32) -> u64 {
        self.part.ram.read_be64(PRTB + 16 * pid as u64).unwrap()
    }

    /// Sets the process-table entry of `pid` (dword 0).
    pub fn set_prte(&self, pid: u32, v: u64) {
        self.part.ram.write_be64(PRTB + 16 * pid as u64, v).unwrap();
    }

    /// The root directory of `pid`, created (52-bit tree, 8192 entries) if absent.
    pub fn root(&mut self, pid: u32) -> u64 {
        let e = self.prte(pid);
        if e != 0 {
            return e & 0x0FFF_FFFF_FFFF_FF00;
        }
        let root = self.alloc(8 << 13);
        // RTS = 21 (52-bit tree): RTS1 = 0b10, RTS2 = 0b101; RPDS = 13.
        self.set_prte(pid, (2 << 61) | root | (5 << 5) | 13);
        root
    }

    /// The next-level table behind directory entry `at`, created with `nls` if the entry is
    /// not a valid directory with that size.
    fn dir(&mut self, at: u64, nls: u64) -> u64 {
        let e = self.part.ram.read_be64(at).unwrap();
        if e & pte::V != 0 && e & pte::L == 0 && e & 0x1F == nls {
            return e & 0x0FFF_FFFF_FFFF_FF00;
        }
        let t = self.alloc(8 << nls);
        self.part.ram.write_be64(at, pte::V | t | nls).unwrap();
        t
    }

    /// Guest-real address of the leaf entry that maps `ea` for `pid` with a page of
    /// `1 << shift` bytes (12, 16, 21 or 30), creating directories as needed (an existing
    /// leaf on the way is replaced by a directory: keep PID 0 test mappings out of the first
    /// GiB of quadrant 3, which holds the linear map).
    pub fn leaf_addr(&mut self, pid: u32, ea: u64, shift: u32) -> u64 {
        let root = self.root(pid);
        let pgd_e = root + 8 * ((ea >> 39) & 0x1FFF);
        let pud = self.dir(pgd_e, 9);
        let pud_e = pud + 8 * ((ea >> 30) & 0x1FF);
        if shift == 30 {
            return pud_e;
        }
        let pmd = self.dir(pud_e, 9);
        let pmd_e = pmd + 8 * ((ea >> 21) & 0x1FF);
        match shift {
            21 => pmd_e,
            16 => self.dir(pmd_e, 5) + 8 * ((ea >> 16) & 0x1F),
            12 => self.dir(pmd_e, 9) + 8 * ((ea >> 12) & 0x1FF),
            _ => panic!("unsupported page shift {shift}"),
        }
    }

    /// Guest-real addresses of the entries a walk for `ea` reads at each level, following
    /// the tree as it is now (stops at a leaf or an invalid entry).
    pub fn walk_entries(&self, pid: u32, ea: u64) -> Vec<u64> {
        let prte = self.prte(pid);
        let mut base = prte & 0x0FFF_FFFF_FFFF_FF00;
        let mut nls = prte & 0x1F;
        let mut bits = 52u64;
        let mut out = Vec::new();
        while out.len() < 4 {
            bits -= nls;
            let at = base + 8 * ((ea >> bits) & ((1 << nls) - 1));
            out.push(at);
            let e = self.be64(at);
            if e & pte::V == 0 || e & pte::L != 0 {
                break;
            }
            base = e & 0x0FFF_FFFF_FFFF_FF00;
            nls = e & 0x1F;
        }
        out
    }

    /// Maps `ea` → `ra` for `pid` with a page of `1 << shift` bytes and leaf `flags`;
    /// returns the guest-real address of the leaf entry.
    pub fn map(&mut self, pid: u32, ea: u64, ra: u64, shift: u32, flags: u64) -> u64 {
        let at = self.leaf_addr(pid, ea, shift);
        let mask = (1u64 << shift) - 1;
        self.part
            .ram
            .write_be64(
                at,
                pte::V | pte::L | (ra & 0x01FF_FFFF_FFFF_F000 & !mask) | flags,
            )
            .unwrap();
        at
    }

    /// Reads a big-endian doubleword of guest RAM.
    pub fn be64(&self, ra: u64) -> u64 {
        self.part.ram.read_be64(ra).unwrap()
    }

    /// Writes a big-endian doubleword of guest RAM.
    pub fn set_be64(&self, ra: u64, v: u64) {
        self.part.ram.write_be64(ra, v).unwrap();
    }

    /// Writes a little-endian doubleword of guest RAM.
    pub fn set_le64(&self, ra: u64, v: u64) {
        self.part.ram.write(ra, &v.to_le_bytes()).unwrap();
    }

    /// Reads a little-endian doubleword of guest RAM.
    pub fn le64(&self, ra: u64) -> u64 {
        let mut b = [0u8; 8];
        self.part.ram.read(ra, &mut b).unwrap();
        u64::from_le_bytes(b)
    }
}

/// Runs `cpu` with a watchdog thread that requests a stop after 20 s (a hung run then fails
/// its test instead of hanging the suite).
pub fn run_guarded(cpu: &mut Cpu) -> Exit {
    let sh = cpu.shared();
    let (tx, rx) = mpsc::channel::<()>();
    let dog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(20)) {
            sh.request_stop();
        }
    });
    let e = cpu.run();
    drop(tx);
    dog.join().unwrap();
    assert_ne!(e, Exit::Stopped, "the run did not finish (watchdog)");
    e
}
