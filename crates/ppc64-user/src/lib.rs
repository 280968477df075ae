//! Runs static ELF64 ppc64le programs on the papr-hv CPU, in the manner of
//! `qemu-ppc64le` (Linux user mode).
//!
//! The program is loaded into the RAM of a [`ppc64::Partition`] at its link addresses and
//! started at its entry point in privileged real mode, little-endian, with FP/VMX/VSX
//! available (MSR = SF|ME|FP|VEC|VSX|LE). The stack is set up as Linux does for a new
//! process (argc, argv, envp, auxiliary vector; r1 points at argc).
//!
//! System calls reach the runner through the System Call interrupt: every interrupt vector
//! in the first 4 KiB of RAM holds `sc 1`, so [`ppc64::Cpu::run`] returns
//! [`ppc64::Exit::Hcall`] right after the interrupt was taken; the runner looks at which
//! vector it came through and either performs the system call (from r0 and r3..r8,
//! returning in r3 and CR0[SO] as Linux does) or turns the interrupt into a signal
//! (program interrupt → SIGILL/SIGTRAP/SIGFPE, alignment → SIGBUS, storage → SIGSEGV).
//! Supported calls: `write` to fd 1 and 2, `exit`, `exit_group`, `rt_sigaction` (the
//! handler address only, with `SA_NODEFER`-like semantics: no signal masks) and
//! `rt_sigprocmask` (accepted, ignored), `sigaltstack` (the handler frame goes there when
//! one is set); everything else returns `-ENOSYS`.
//!
//! Signal handlers are entered with r3 = signal number, r4/r5 pointing at zeroed
//! `siginfo`/`ucontext` areas, r12 = handler and LR = an address that ends the program if
//! the handler returns (`rt_sigreturn` is not supported).

#![deny(missing_docs)]

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use object::LittleEndian;
use object::elf::{EM_PPC64, ET_EXEC, FileHeader64, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use ppc64::reg::{lpcr, msr, program, vec};
use ppc64::{Cpu, Exit, NoBus, Partition, Ram};
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// `sc 1` (the hypercall form of `sc`).
const SC1: u32 = 0x4400_0022;
/// Where a signal handler "returns" to: ends the program with an error.
const SIGRETURN_TRAP: u64 = 0x80;
/// Size of the low area that holds the interrupt vectors.
const VECTORS_END: u64 = 0x1000;
/// Linux system call numbers (ppc64).
mod nr {
    pub const EXIT: u64 = 1;
    pub const WRITE: u64 = 4;
    pub const RT_SIGACTION: u64 = 173;
    pub const RT_SIGPROCMASK: u64 = 174;
    pub const SIGALTSTACK: u64 = 185;
    pub const EXIT_GROUP: u64 = 234;
}
/// Linux errno values.
mod errno {
    pub const EFAULT: u64 = 14;
    pub const EINVAL: u64 = 22;
    pub const ENOSYS: u64 = 38;
}
/// Signal numbers.
pub mod sig {
    /// Illegal instruction.
    pub const SIGILL: i32 = 4;
    /// Trace/breakpoint trap (trap instructions).
    pub const SIGTRAP: i32 = 5;
    /// Bus error (alignment interrupt).
    pub const SIGBUS: i32 = 7;
    /// Floating-point exception.
    pub const SIGFPE: i32 = 8;
    /// Segmentation fault (storage interrupts, accesses outside RAM).
    pub const SIGSEGV: i32 = 11;
}

/// Errors of loading or running a program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a static little-endian ELF64 ppc64 executable.
    #[error("not a static ELF64 ppc64le executable: {0}")]
    BadElf(String),
    /// A segment overlaps the interrupt vectors or is absurdly large.
    #[error("bad segment layout: {0}")]
    Layout(String),
    /// Guest memory could not be created.
    #[error("cannot create guest memory: {0}")]
    Memory(String),
    /// The CPU checkstopped or reached a state the runner cannot handle.
    #[error("guest failure: {0}")]
    Guest(String),
}

/// One loadable segment.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Virtual (= guest-real) address.
    pub vaddr: u64,
    /// Size in memory (the tail beyond `data` is zero).
    pub memsz: u64,
    /// File contents.
    pub data: Vec<u8>,
}

/// A parsed static executable.
#[derive(Clone, Debug)]
pub struct Program {
    /// Entry point.
    pub entry: u64,
    /// PT_LOAD segments.
    pub segments: Vec<Segment>,
}

impl Program {
    /// Parses a static ELF64 little-endian ppc64 executable (ET_EXEC).
    pub fn from_elf(data: &[u8]) -> Result<Program, Error> {
        let bad = |e: &dyn std::fmt::Display| Error::BadElf(e.to_string());
        let hdr = FileHeader64::<LittleEndian>::parse(data).map_err(|e| bad(&e))?;
        let en = hdr.endian().map_err(|e| bad(&e))?;
        if hdr.e_machine(en) != EM_PPC64 {
            return Err(bad(&"machine is not EM_PPC64"));
        }
        if hdr.e_type(en) != ET_EXEC {
            return Err(bad(&"not ET_EXEC (static non-PIE executables only)"));
        }
        let mut segments = Vec::new();
        for ph in hdr.program_headers(en, data).map_err(|e| bad(&e))? {
            if ph.p_type(en) != PT_LOAD {
                continue;
            }
            let d = ph
                .data(en, data)
                .map_err(|_| bad(&"segment data out of file"))?;
            segments.push(Segment {
                vaddr: ph.p_vaddr(en),
                memsz: ph.p_memsz(en).max(d.len() as u64),
                data: d.to_vec(),
            });
        }
        if segments.is_empty() {
            return Err(bad(&"no PT_LOAD segment"));
        }
        Ok(Program {
            entry: hdr.e_entry(en),
            segments,
        })
    }

    /// Highest address used by a segment.
    fn end(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.vaddr.saturating_add(s.memsz))
            .max()
            .unwrap_or(0)
    }
}

/// Run-time options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stack size in bytes (placed right above the highest segment, 64 KiB aligned).
    pub stack_size: u64,
    /// Extra RAM above the stack (unused by the runner; lets programs use memory there).
    pub extra_ram: u64,
    /// Stop the program after this wall time.
    pub timeout: Option<Duration>,
    /// Pass output to the host's stdout/stderr as well as capturing it.
    pub echo: bool,
    /// Count executed instructions exactly by single-stepping (MSR[SE] trace interrupts).
    /// Very slow: for calibration runs only.
    pub count_instructions: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stack_size: 1 << 20,
            extra_ram: 0,
            timeout: None,
            echo: false,
            count_instructions: false,
        }
    }
}

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `exit`/`exit_group` with this code (low 8 bits).
    Exited(i32),
    /// Killed by a signal that had no handler, at this instruction address.
    Signaled {
        /// Signal number.
        signal: i32,
        /// Address of the instruction that raised it.
        pc: u64,
    },
    /// The timeout expired.
    TimedOut,
}

/// Result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How the program ended.
    pub status: Status,
    /// Everything written to fd 1.
    pub stdout: Vec<u8>,
    /// Everything written to fd 2.
    pub stderr: Vec<u8>,
    /// Executed instructions (only with [`Options::count_instructions`]).
    pub instructions: Option<u64>,
    /// System calls performed.
    pub syscalls: u64,
    /// Signals delivered to handlers.
    pub signals: u64,
}

impl Outcome {
    /// The exit code a shell would report (128 + signal for a signal death).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Exited(c) => c,
            Status::Signaled { signal, .. } => 128 + signal,
            Status::TimedOut => 124,
        }
    }
}

/// A loaded program on a fresh vCPU, ready to run.
pub struct Process {
    cpu: Cpu,
    opts: Options,
    handlers: [u64; 65],
    altstack: Option<(u64, u64)>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    syscalls: u64,
    signals: u64,
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

impl Process {
    /// Builds a partition sized for `prog`, loads it, sets up the stack with `args` as
    /// argv, and puts a vCPU at the entry point.
    pub fn new(prog: &Program, args: &[&str], opts: Options) -> Result<Process, Error> {
        for s in &prog.segments {
            if s.vaddr < VECTORS_END {
                return Err(Error::Layout(format!(
                    "segment at {:#x} overlaps the interrupt vectors (below {VECTORS_END:#x})",
                    s.vaddr
                )));
            }
        }
        let end = prog.end();
        if end > (1 << 40) {
            return Err(Error::Layout(format!("segment end {end:#x} too high")));
        }
        let stack_base = align_up(end, 0x10000) + 0x10000;
        let stack_top = stack_base + align_up(opts.stack_size.max(0x10000), 0x10000);
        let ram_size = align_up(stack_top + opts.extra_ram, 0x10000);
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), ram_size as usize)])
            .map_err(|e| Error::Memory(e.to_string()))?;
        let ram =
            Ram::from_guest_memory(Arc::new(mem)).map_err(|e| Error::Memory(e.to_string()))?;
        let w = |ram: &Ram, a: u64, b: &[u8]| {
            ram.write(a, b)
                .ok_or_else(|| Error::Layout(format!("write at {a:#x} outside RAM")))
        };
        // Every vector (and the signal-return address) holds `sc 1`.
        let mut a = SIGRETURN_TRAP;
        while a < VECTORS_END {
            w(&ram, a, &SC1.to_le_bytes())?;
            a += 0x20;
        }
        for s in &prog.segments {
            w(&ram, s.vaddr, &s.data)?;
        }
        // Initial stack: strings at the top, then auxv/envp/argv/argc below.
        let mut sp = stack_top - 16;
        let mut argv_ptrs = Vec::new();
        for a in args {
            let mut b = a.as_bytes().to_vec();
            b.push(0);
            sp -= b.len() as u64;
            w(&ram, sp, &b)?;
            argv_ptrs.push(sp);
        }
        sp &= !15;
        let mut words: Vec<u64> = vec![argv_ptrs.len() as u64];
        words.extend(&argv_ptrs);
        words.push(0); // argv terminator
        words.push(0); // envp terminator
        words.extend([6, 4096]); // AT_PAGESZ
        words.extend([0, 0]); // AT_NULL
        sp -= 8 * words.len() as u64;
        sp &= !15;
        for (i, v) in words.iter().enumerate() {
            w(&ram, sp + 8 * i as u64, &v.to_le_bytes())?;
        }
        let part = Partition::new(ram, Arc::new(NoBus));
        part.set_lpcr(lpcr::ILE);
        let mut cpu = Cpu::new(part, 0);
        let mut m = msr::SF | msr::ME | msr::FP | msr::VEC | msr::VSX | msr::LE;
        if opts.count_instructions {
            m |= msr::SE;
        }
        cpu.core.set_msr(m);
        cpu.core.nia = prog.entry;
        cpu.core.gpr[1] = sp;
        Ok(Process {
            cpu,
            opts,
            handlers: [0; 65],
            altstack: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            syscalls: 0,
            signals: 0,
        })
    }

    /// The vCPU (to inspect or change registers before or after running).
    pub fn cpu(&mut self) -> &mut Cpu {
        &mut self.cpu
    }

    /// Runs the program until it exits, dies of a signal or times out.
    pub fn run(mut self) -> Result<Outcome, Error> {
        let (tx, rx) = mpsc::channel::<()>();
        let watchdog = self.opts.timeout.map(|t| {
            let shared = self.cpu.shared();
            std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(t) {
                    shared.request_stop();
                }
            })
        });
        let start = Instant::now();
        let mut count = 0u64;
        let r = self.run_loop(&mut count, start);
        drop(tx);
        if let Some(h) = watchdog {
            let _ = h.join();
        }
        let status = r?;
        Ok(Outcome {
            status,
            stdout: self.stdout,
            stderr: self.stderr,
            instructions: self.opts.count_instructions.then_some(count),
            syscalls: self.syscalls,
            signals: self.signals,
        })
    }

    fn run_loop(&mut self, count: &mut u64, start: Instant) -> Result<Status, Error> {
        loop {
            match self.cpu.run() {
                Exit::Hcall => {}
                Exit::Stopped => {
                    if let Some(t) = self.opts.timeout
                        && start.elapsed() >= t
                    {
                        return Ok(Status::TimedOut);
                    }
                    continue;
                }
                Exit::Checkstop => return Err(Error::Guest("checkstop".into())),
            }
            let at = self.cpu.core.nia.wrapping_sub(4);
            if at >= VECTORS_END {
                // A genuine `sc 1` in the program: not a user-mode instruction.
                let pc = at;
                if let Some(s) = self.signal(sig::SIGILL, pc)? {
                    return Ok(s);
                }
                continue;
            }
            let c = &mut self.cpu.core;
            let (srr0, srr1) = (c.srr0, c.srr1);
            match at {
                vec::SYSCALL => {
                    if self.opts.count_instructions {
                        *count += 1;
                    }
                    if let Some(s) = self.syscall()? {
                        return Ok(s);
                    }
                    self.resume(srr0, srr1);
                }
                vec::TRACE => {
                    *count += 1;
                    self.resume(srr0, srr1);
                }
                vec::PROGRAM => {
                    let s = if srr1 & program::TRAP != 0 {
                        sig::SIGTRAP
                    } else if srr1 & program::FP != 0 {
                        sig::SIGFPE
                    } else {
                        sig::SIGILL
                    };
                    if let Some(st) = self.signal(s, srr0)? {
                        return Ok(st);
                    }
                }
                vec::ALIGN => {
                    if let Some(st) = self.signal(sig::SIGBUS, srr0)? {
                        return Ok(st);
                    }
                }
                vec::MCHECK | vec::DSI | vec::DSEG | vec::ISI | vec::ISEG => {
                    if let Some(st) = self.signal(sig::SIGSEGV, srr0)? {
                        return Ok(st);
                    }
                }
                vec::FPU | vec::VMX | vec::VSX | vec::FAC => {
                    if let Some(st) = self.signal(sig::SIGILL, srr0)? {
                        return Ok(st);
                    }
                }
                SIGRETURN_TRAP => {
                    return Err(Error::Guest(
                        "a signal handler returned (rt_sigreturn is not supported)".into(),
                    ));
                }
                v => {
                    return Err(Error::Guest(format!(
                        "unexpected interrupt {v:#x} (SRR0 {srr0:#x}, SRR1 {srr1:#x})"
                    )));
                }
            }
        }
    }

    /// Returns to the interrupted program.
    fn resume(&mut self, srr0: u64, srr1: u64) {
        let c = &mut self.cpu.core;
        c.set_msr(srr1);
        c.nia = srr0;
    }

    /// Delivers signal `s` raised by the instruction at `pc`: enters the handler, or ends
    /// the program if there is none.
    fn signal(&mut self, s: i32, pc: u64) -> Result<Option<Status>, Error> {
        let h = self.handlers[s as usize];
        if h == 0 {
            return Ok(Some(Status::Signaled { signal: s, pc }));
        }
        self.signals += 1;
        let c = &mut self.cpu.core;
        let srr1 = c.srr1;
        // A frame below the current stack pointer (or at the top of the alternate signal
        // stack), as the kernel builds one.
        let top = match self.altstack {
            Some((base, size)) => base.wrapping_add(size),
            None => c.gpr[1],
        };
        let sp = (top.wrapping_sub(2048)) & !15;
        let zeros = [0u8; 1024];
        let info = sp.wrapping_add(512);
        if c.write_bytes(sp, &zeros).is_err() {
            return Ok(Some(Status::Signaled {
                signal: sig::SIGSEGV,
                pc,
            }));
        }
        c.gpr[1] = sp;
        c.gpr[3] = s as u64;
        c.gpr[4] = info;
        c.gpr[5] = info.wrapping_add(256);
        c.gpr[12] = h;
        c.lr = SIGRETURN_TRAP;
        self.resume(h, srr1);
        Ok(None)
    }

    /// Performs the system call in r0 with arguments r3..r8; returns `Some` if the program
    /// ended.
    fn syscall(&mut self) -> Result<Option<Status>, Error> {
        self.syscalls += 1;
        let c = &mut self.cpu.core;
        let n = c.gpr[0];
        let a = [c.gpr[3], c.gpr[4], c.gpr[5], c.gpr[6]];
        let r: Result<u64, u64> = match n {
            nr::EXIT | nr::EXIT_GROUP => {
                return Ok(Some(Status::Exited((a[0] & 0xFF) as i32)));
            }
            nr::WRITE => self.sys_write(a[0], a[1], a[2]),
            nr::RT_SIGACTION => self.sys_sigaction(a[0], a[1], a[2]),
            nr::RT_SIGPROCMASK => Ok(0),
            nr::SIGALTSTACK => self.sys_sigaltstack(a[0], a[1]),
            _ => Err(errno::ENOSYS),
        };
        let c = &mut self.cpu.core;
        match r {
            Ok(v) => {
                c.gpr[3] = v;
                c.set_cr_bit(3, false);
            }
            Err(e) => {
                c.gpr[3] = e;
                c.set_cr_bit(3, true);
            }
        }
        Ok(None)
    }

    fn sys_write(&mut self, fd: u64, buf: u64, len: u64) -> Result<u64, u64> {
        if fd != 1 && fd != 2 {
            return Err(errno::EINVAL);
        }
        let len = len.min(1 << 30);
        let mut done = 0u64;
        let mut chunk = [0u8; 4096];
        while done < len {
            let n = (len - done).min(4096) as usize;
            if self
                .cpu
                .core
                .read_bytes(buf.wrapping_add(done), &mut chunk[..n])
                .is_err()
            {
                if done == 0 {
                    return Err(errno::EFAULT);
                }
                break;
            }
            let out = if fd == 1 {
                &mut self.stdout
            } else {
                &mut self.stderr
            };
            out.extend_from_slice(&chunk[..n]);
            if self.opts.echo {
                use std::io::Write;
                let _ = if fd == 1 {
                    std::io::stdout().write_all(&chunk[..n])
                } else {
                    std::io::stderr().write_all(&chunk[..n])
                };
            }
            done += n as u64;
        }
        Ok(done)
    }

    fn sys_sigaltstack(&mut self, ss: u64, old: u64) -> Result<u64, u64> {
        let c = &mut self.cpu.core;
        if old != 0 {
            let (sp, size) = self.altstack.unwrap_or((0, 0));
            let mut b = [0u8; 24];
            b[..8].copy_from_slice(&sp.to_le_bytes());
            b[8..12]
                .copy_from_slice(&(if self.altstack.is_some() { 0u32 } else { 2 }).to_le_bytes());
            b[16..].copy_from_slice(&size.to_le_bytes());
            c.write_bytes(old, &b).map_err(|_| errno::EFAULT)?;
        }
        if ss != 0 {
            let mut b = [0u8; 24];
            c.read_bytes(ss, &mut b).map_err(|_| errno::EFAULT)?;
            let sp = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
            let flags = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
            let size = u64::from_le_bytes(b[16..].try_into().unwrap_or_default());
            self.altstack = if flags & 2 != 0 {
                None
            } else {
                Some((sp, size))
            };
        }
        Ok(0)
    }

    fn sys_sigaction(&mut self, signo: u64, act: u64, oact: u64) -> Result<u64, u64> {
        if signo == 0 || signo > 64 || signo == 9 || signo == 19 {
            return Err(errno::EINVAL);
        }
        let old = self.handlers[signo as usize];
        let c = &mut self.cpu.core;
        if oact != 0 {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&old.to_le_bytes());
            c.write_bytes(oact, &b).map_err(|_| errno::EFAULT)?;
        }
        if act != 0 {
            let mut b = [0u8; 8];
            c.read_bytes(act, &mut b).map_err(|_| errno::EFAULT)?;
            // SIG_DFL (0) and SIG_IGN (1): treat both as "no handler".
            let h = u64::from_le_bytes(b);
            self.handlers[signo as usize] = if h <= 1 { 0 } else { h };
        }
        Ok(0)
    }
}

/// Loads and runs `elf` with `args` (argv, including argv[0]).
pub fn run_elf(elf: &[u8], args: &[&str], opts: Options) -> Result<Outcome, Error> {
    let prog = Program::from_elf(elf)?;
    Process::new(&prog, args, opts)?.run()
}
