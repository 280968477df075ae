//! `papr-hv bench irq`: interrupt-controller benchmarks, XIVE and XICS.
//!
//! 1. **Events per second** through the hypervisor core on one thread: a configured device
//!    source (number 0x1000) is triggered with `Vm::injector().set_irq`, the target vCPU's
//!    external line (`VcpuShared::external`) is checked, and the guest side is played
//!    directly on the device API (XIVE: TIMA ACK, event-queue entry read from guest memory,
//!    ESB SET_PQ_00 EOI, CPPR back to 0xFF; XICS: H_XIRR then H_EOI), so that every trigger
//!    is a complete delivery.
//! 2. **Trigger → wake latency**: a vCPU thread runs a tiny big-endian real-mode loop that
//!    calls H_CEDE through `sc 1`; the external interrupt vector 0x500 holds an unknown
//!    hypercall that exits to the harness. The injecting thread waits until the vCPU thread
//!    sleeps (its state in `/proc/self/task/<tid>/stat`), takes a timestamp and calls
//!    `set_irq`; the vCPU thread takes its timestamp as soon as `Vcpu::run` returns at
//!    0x500, acknowledges through the device API and resumes the loop.
//! 3. **In-guest IPI ping-pong** between two vCPUs under papr-hv and under QEMU
//!    (`qemu-system-ppc64 -M pseries,x-vof=on,ic-mode=…`), alternating runs: the
//!    bare-metal program `tests/guest/pingpong.c` (embedded in this binary, compiled at run
//!    time with the `powerpc64le-linux-gnu` cross toolchain) times round trips with the
//!    timebase and prints one `@@PINGPONG` line.
//!
//! The results go to stdout as a markdown section, and with `--write FILE` between the
//! `irq-bench` markers of that file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hv::{IrqChip, VcpuExit, Vm, VmConfig};
use hvapi::device::DeviceKind;
use hvapi::hcall::{H_INT_SET_QUEUE_CONFIG, H_INT_SET_SOURCE_CONFIG, H_SUCCESS};

use crate::guestbuild;
use crate::hostinfo::{cpu_model, loadavg, median, qemu_version};

const BEGIN: &str = "<!-- irq-bench:begin -->";
const END: &str = "<!-- irq-bench:end -->";
const QEMU: &str = "qemu-system-ppc64";
/// Bounds one guest run (a hung machine), not a timing assertion.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// Timebase frequency of both machines.
const TB_HZ: f64 = 512e6;

/// The device source used by the host-side measurements (first ICS number; a device LISN
/// under XIVE).
const SRC: u32 = 0x1000;
/// Event queue of server 0 at priority 6 (XIVE), 64 KiB as Linux uses.
const QPAGE: u64 = 0x10_0000;
const QSHIFT: u64 = 16;
const XIVE_PRIO: u64 = 6;
const XICS_PRIO: u32 = 5;
/// Guest memory of the host-side VMs.
const HOST_RAM: u64 = 16 << 20;
/// The cede loop of the latency measurement and its exits.
const LOOP: u64 = 0x2000;
const EXT_MAGIC: u64 = 0x7000;
const DEC_MAGIC: u64 = 0x7001;

/// Guest program sources, embedded so that the installed binary can build it.
const GUEST_FILES: &[(&str, &str)] = &[
    ("start.S", include_str!("../tests/guest/start.S")),
    ("lib.c", include_str!("../tests/guest/lib.c")),
    ("lib.h", include_str!("../tests/guest/lib.h")),
    ("link.ld", include_str!("../tests/guest/link.ld")),
    ("pingpong.c", include_str!("../tests/guest/pingpong.c")),
    (
        "pingpong_vec.S",
        include_str!("../tests/guest/pingpong_vec.S"),
    ),
];

/// Parameters of `papr-hv bench irq`.
pub struct IrqBenchArgs {
    /// Trigger → wake latency samples per controller.
    pub samples: usize,
    /// Deliveries per events/s measurement.
    pub events: u64,
    /// Timed ping-pong round trips per guest run.
    pub rounds: u32,
    /// Repetitions: events/s measurements, and guest runs per machine and controller.
    pub runs: usize,
    /// Skip the QEMU runs (and the ratios).
    pub no_qemu: bool,
    /// Markdown file whose `irq-bench` section is replaced.
    pub write: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Xive,
    Xics,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::Xive, Mode::Xics];

    fn name(self) -> &'static str {
        match self {
            Mode::Xive => "xive",
            Mode::Xics => "xics",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Mode::Xive => "XIVE",
            Mode::Xics => "XICS",
        }
    }

    fn kind(self) -> DeviceKind {
        match self {
            Mode::Xive => DeviceKind::Xive,
            Mode::Xics => DeviceKind::Xics,
        }
    }
}

// ---- the guest side of server 0, played on the device API -------------------------------

/// What a guest kernel does on vCPU 0 to receive source [`SRC`], done directly on the
/// device objects.
struct Receiver {
    chip: IrqChip,
    vm: Vm,
    /// XIVE event queue consumer state.
    idx: u64,
    toggle: u32,
}

impl Receiver {
    /// Creates the controller of `mode` in `vm`, claims [`SRC`], routes it to server 0 and
    /// opens server 0's CPPR, as Linux's set-up would.
    fn new(vm: &Vm, mode: Mode) -> Result<Receiver, String> {
        let chip = vm
            .create_irqchip(mode.kind())
            .map_err(|e| format!("create {mode:?}: {e:?}"))?;
        chip.claim(SRC, false)?;
        match &chip {
            IrqChip::Xive(x) => {
                let r = x
                    .hcall(
                        0,
                        H_INT_SET_QUEUE_CONFIG,
                        &[1, 0, XIVE_PRIO, QPAGE, QSHIFT, 0, 0, 0, 0],
                    )
                    .ok_or("H_INT_SET_QUEUE_CONFIG not handled")?;
                if r.ret != H_SUCCESS {
                    return Err(format!("H_INT_SET_QUEUE_CONFIG: {}", r.ret));
                }
                let lisn = u64::from(SRC);
                let r = x
                    .hcall(
                        0,
                        H_INT_SET_SOURCE_CONFIG,
                        &[2, lisn, 0, XIVE_PRIO, lisn, 0, 0, 0, 0],
                    )
                    .ok_or("H_INT_SET_SOURCE_CONFIG not handled")?;
                if r.ret != H_SUCCESS {
                    return Err(format!("H_INT_SET_SOURCE_CONFIG: {}", r.ret));
                }
                // PQ 01 -> 00 (enabled), then open the OS ring's CPPR.
                let mut b = [0u8; 8];
                x.esb_read(Self::mgmt(x) + 0xC00, &mut b);
                x.tima_write(0, 0x2_0011, &[0xFF]);
            }
            IrqChip::Xics(x) => {
                x.rtas_set_xive(SRC, 0, XICS_PRIO)
                    .map_err(|e| format!("ibm,set-xive: {e:?}"))?;
                x.h_cppr(0, 0xFF).map_err(|e| format!("H_CPPR: {e}"))?;
            }
        }
        Ok(Receiver {
            chip,
            vm: vm.clone(),
            idx: 0,
            toggle: 0,
        })
    }

    /// Offset of [`SRC`]'s ESB management page in the ESB region.
    fn mgmt(x: &xive::Xive) -> u64 {
        let shift = x.config().esb_shift;
        let base = u64::from(SRC) << shift;
        if shift == 13 || shift == 17 {
            base + (1 << (shift - 1))
        } else {
            base
        }
    }

    /// Takes one delivery of [`SRC`] as the guest would: acknowledge, consume, EOI.
    /// Fails if what arrived is not exactly that source.
    fn handle(&mut self) -> Result<(), String> {
        match &self.chip {
            IrqChip::Xive(x) => {
                let mut ack = [0u8; 2];
                x.tima_read(0, 0x2_0810, &mut ack);
                if ack[0] & 0x80 == 0 {
                    return Err(format!("TIMA ACK without an exception: {ack:02x?}"));
                }
                let mask = (1u64 << (QSHIFT - 2)) - 1;
                let mut w = [0u8; 4];
                self.vm
                    .partition()
                    .ram
                    .read(QPAGE + 4 * self.idx, &mut w)
                    .ok_or("queue outside RAM")?;
                let cur = u32::from_be_bytes(w);
                if cur >> 31 == self.toggle {
                    return Err("event queue empty".into());
                }
                self.idx = (self.idx + 1) & mask;
                if self.idx == 0 {
                    self.toggle ^= 1;
                }
                if cur & 0x7FFF_FFFF != SRC {
                    return Err(format!("queue entry {cur:#x}"));
                }
                let mut b = [0u8; 8];
                x.esb_read(Self::mgmt(x) + 0xC00, &mut b);
                x.tima_write(0, 0x2_0011, &[0xFF]);
            }
            IrqChip::Xics(x) => {
                let xirr = x.h_xirr(0).map_err(|e| format!("H_XIRR: {e}"))?;
                if xirr & 0x00FF_FFFF != SRC {
                    return Err(format!("H_XIRR returned {xirr:#x}"));
                }
                x.h_eoi(0, xirr).map_err(|e| format!("H_EOI: {e}"))?;
            }
        }
        Ok(())
    }
}

fn new_vm(vcpus: u32) -> Result<(Vm, Vec<hv::Vcpu>), String> {
    Vm::new(VmConfig {
        mem_size: HOST_RAM,
        vcpus,
    })
    .map_err(|e| e.to_string())
}

// ---- 1. events per second -----------------------------------------------------------------

/// Deliveries per second through `set_irq` → external line → ACK/EOI, on this thread.
fn events_per_second(mode: Mode, events: u64) -> Result<f64, String> {
    let (vm, _vcpus) = new_vm(1)?;
    let mut rx = Receiver::new(&vm, mode)?;
    let inj = vm.injector();
    let line = vm.vcpu_handle(0).ok_or("no vCPU 0")?;
    let one = |rx: &mut Receiver| -> Result<(), String> {
        inj.set_irq(SRC, true).map_err(|e| e.to_string())?;
        if !line.external() {
            return Err("the external line did not rise".into());
        }
        rx.handle()?;
        if line.external() {
            return Err("the external line stayed up after the EOI".into());
        }
        Ok(())
    };
    for _ in 0..(events / 10).max(1000) {
        one(&mut rx)?;
    }
    let t = Instant::now();
    for _ in 0..events {
        one(&mut rx)?;
    }
    Ok(events as f64 / t.elapsed().as_secs_f64())
}

// ---- 2. trigger -> wake latency -----------------------------------------------------------

/// Big-endian real-mode code: the cede loop at [`LOOP`], exits at 0x500 and 0x900.
fn load_cede_loop(vm: &Vm) -> Result<(), String> {
    let ram = &vm.partition().ram;
    let put = |addr: u64, words: &[u32]| -> Result<(), String> {
        for (i, w) in words.iter().enumerate() {
            ram.write(addr + 4 * i as u64, &w.to_be_bytes())
                .ok_or("guest code outside RAM")?;
        }
        Ok(())
    };
    put(
        LOOP,
        &[
            0x3C00_7FFF, // lis r0,0x7fff
            0x6000_FFFF, // ori r0,r0,0xffff
            0x7C16_03A6, // mtdec r0: no decrementer wake-up for 4 s
            0x3860_00E0, // li r3,H_CEDE
            0x4400_0022, // sc 1
            0x4BFF_FFEC, // b LOOP
        ],
    )?;
    let li_r3 = |v: u64| 0x3860_0000 | (v as u32 & 0xFFFF);
    put(0x500, &[li_r3(EXT_MAGIC), 0x4400_0022, 0x4800_0000])?;
    put(0x900, &[li_r3(DEC_MAGIC), 0x4400_0022, 0x4800_0000])?;
    vm.partition().code.invalidate_range(0, LOOP + 0x100);
    Ok(())
}

fn restart_loop(v: &mut hv::Vcpu) {
    v.cpu
        .core
        .set_msr(ppc64::reg::msr::SF | ppc64::reg::msr::ME);
    v.cpu.core.nia = LOOP;
}

/// Whether thread `tid` of this process is blocked (`S`/`D`), `None` if /proc cannot tell.
fn thread_sleeping(tid: i32) -> Option<bool> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let state = s.rsplit_once(')')?.1.trim_start().chars().next()?;
    Some(matches!(state, 'S' | 'D'))
}

/// Trigger → wake latencies of a vCPU sleeping in H_CEDE, `samples` of them (after a
/// warm-up of a tenth as many).
fn wake_latencies(mode: Mode, samples: usize) -> Result<Vec<Duration>, String> {
    let (vm, mut vcpus) = new_vm(1)?;
    let mut rx = Receiver::new(&vm, mode)?;
    load_cede_loop(&vm)?;
    let mut v = vcpus.pop().ok_or("no vCPU")?;
    restart_loop(&mut v);
    let handle = vm.vcpu_handle(0).ok_or("no vCPU 0")?;
    let tid = Arc::new(AtomicI32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, woke) = mpsc::channel::<Result<Instant, String>>();
    let t = {
        let (tid, stop) = (tid.clone(), stop.clone());
        std::thread::Builder::new()
            .name("vcpu0".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
                loop {
                    match v.run() {
                        VcpuExit::PaprHcall { nr: EXT_MAGIC, .. } => {
                            let now = Instant::now();
                            let r = rx.handle().map(|()| now);
                            restart_loop(&mut v);
                            if tx.send(r).is_err() {
                                return;
                            }
                        }
                        VcpuExit::PaprHcall { nr: DEC_MAGIC, .. } => restart_loop(&mut v),
                        VcpuExit::Stopped if stop.load(Ordering::SeqCst) => return,
                        VcpuExit::Stopped => {}
                        e => {
                            let _ = tx.send(Err(format!("unexpected vCPU exit {e:?}")));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?
    };
    let inj = vm.injector();
    let warm = (samples / 10).max(10);
    let mut out = Vec::with_capacity(samples);
    let result = (|| {
        for i in 0..warm + samples {
            // Wait until the vCPU thread is asleep in H_CEDE.
            let t0 = Instant::now();
            loop {
                let id = tid.load(Ordering::SeqCst);
                match (id != 0).then(|| thread_sleeping(id)).flatten() {
                    Some(true) => break,
                    Some(false) => {}
                    None if id != 0 => {
                        // No /proc: give the thread ample time to get there.
                        std::thread::sleep(Duration::from_millis(2));
                        break;
                    }
                    None => {}
                }
                if t0.elapsed() > Duration::from_secs(10) {
                    return Err("the vCPU thread never went to sleep".to_string());
                }
                std::thread::sleep(Duration::from_micros(20));
            }
            let t = Instant::now();
            inj.set_irq(SRC, true).map_err(|e| e.to_string())?;
            let w = woke
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| "the vCPU did not wake up".to_string())??;
            if i >= warm {
                out.push(w.saturating_duration_since(t));
            }
        }
        Ok(())
    })();
    stop.store(true, Ordering::SeqCst);
    handle.request_stop();
    drop(woke);
    let _ = t.join();
    result.map(|()| out)
}

// ---- 3. in-guest IPI ping-pong ------------------------------------------------------------

/// Writes the embedded guest sources to `dir` and builds `pingpong.elf` there.
fn build_guest(dir: &Path) -> Result<PathBuf, String> {
    guestbuild::check_toolchain()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in GUEST_FILES {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    guestbuild::build(
        dir,
        &["start.S", "lib.c", "pingpong.c", "pingpong_vec.S"],
        dir,
        "pingpong",
    )
}

/// Runs `cmd` (bounded by [`RUN_LIMIT`]) and returns its stdout.
fn run_bounded(mut cmd: Command) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut so = child.stdout.take().ok_or("no stdout")?;
    let mut se = child.stderr.take().ok_or("no stderr")?;
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let t0 = Instant::now();
    let finished = loop {
        match child.try_wait() {
            Ok(Some(_)) => break true,
            Ok(None) if t0.elapsed() > RUN_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    if !finished {
        return Err(format!("no result within {RUN_LIMIT:?}:\n{out}"));
    }
    if !out.contains("@@PINGPONG") {
        let tail: Vec<&str> = err.lines().rev().take(20).collect();
        return Err(format!(
            "no @@PINGPONG line:\n{out}\nstderr (last lines, reversed):\n{}",
            tail.join("\n")
        ));
    }
    Ok(out)
}

/// Round trips per second from the guest's `@@PINGPONG mode=… rounds=N ticks=T` line.
fn parse_pingpong(out: &str, mode: Mode) -> Result<f64, String> {
    let line = out
        .lines()
        .find(|l| l.starts_with("@@PINGPONG"))
        .ok_or("no @@PINGPONG line")?;
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
            .ok_or_else(|| format!("no {k}= in '{line}'"))
    };
    if field("mode")? != mode.name() {
        return Err(format!("the guest ran in the wrong mode: '{line}'"));
    }
    let rounds: f64 = field("rounds")?.parse().map_err(|_| "bad rounds")?;
    let ticks: f64 = field("ticks")?.parse().map_err(|_| "bad ticks")?;
    if ticks <= 0.0 {
        return Err(format!("no time measured: '{line}'"));
    }
    Ok(rounds * TB_HZ / ticks)
}

fn pingpong_papr_hv(me: &Path, elf: &Path, mode: Mode, rounds: u32) -> Result<f64, String> {
    let mut c = Command::new(me);
    c.env("RUST_LOG", "error")
        .args([
            "run",
            "--memory",
            "512M",
            "--cpus",
            "2",
            "--irqchip",
            mode.name(),
        ])
        .arg("--kernel")
        .arg(elf)
        .arg("--append")
        .arg(format!("rounds={rounds}"));
    parse_pingpong(&run_bounded(c)?, mode).map_err(|e| format!("papr-hv {mode:?}: {e}"))
}

fn pingpong_qemu(elf: &Path, mode: Mode, rounds: u32) -> Result<f64, String> {
    let mut c = Command::new(QEMU);
    c.arg("-M")
        .arg(format!("pseries,x-vof=on,ic-mode={}", mode.name()))
        .args(["-cpu", "power9", "-smp", "2", "-m", "512M", "-kernel"])
        .arg(elf)
        .arg("-append")
        .arg(format!("rounds={rounds}"))
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"]);
    parse_pingpong(&run_bounded(c)?, mode).map_err(|e| format!("QEMU {mode:?}: {e}"))
}

// ---- reporting ----------------------------------------------------------------------------

/// The value at quantile `q` (nearest rank) of sorted `v`.
fn quantile(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn fmt_k(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else {
        format!("{:.1} k", v / 1e3)
    }
}

fn list_k(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{:.1}", x / 1e3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the three benchmarks and prints (and optionally writes) the markdown section.
pub fn irq(a: &IrqBenchArgs) -> Result<(), String> {
    let runs = a.runs.max(1);
    let load_start = loadavg();
    let started = Instant::now();

    // 1. events per second
    let mut eps = Vec::new();
    for mode in Mode::ALL {
        let mut v = Vec::new();
        for i in 0..runs {
            let r = events_per_second(mode, a.events)?;
            eprintln!("events/s {mode:?} run {}/{runs}: {r:.0}", i + 1);
            v.push(r);
        }
        eps.push((mode, v));
    }

    // 2. trigger -> wake latency
    let mut lat = Vec::new();
    for mode in Mode::ALL {
        let mut v = wake_latencies(mode, a.samples.max(1))?;
        v.sort();
        eprintln!(
            "wake latency {mode:?}: median {} us, p99 {} us",
            us(quantile(&v, 0.5)),
            us(quantile(&v, 0.99))
        );
        lat.push((mode, v));
    }

    // 3. ping-pong
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("papr-hv-irqbench-{}", std::process::id()));
    let elf = build_guest(&dir);
    let elf = match elf {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    if !a.no_qemu && !guestbuild::have(QEMU) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "{QEMU} not found (Debian: apt-get install qemu-system-ppc), or pass --no-qemu"
        ));
    }
    let mut pp = Vec::new();
    let r = (|| {
        for mode in Mode::ALL {
            let (mut ours, mut qemu) = (Vec::new(), Vec::new());
            for i in 0..runs {
                let o = pingpong_papr_hv(&me, &elf, mode, a.rounds)?;
                eprintln!(
                    "ping-pong {mode:?} run {}/{runs}: papr-hv {o:.0} rt/s",
                    i + 1
                );
                ours.push(o);
                if !a.no_qemu {
                    let q = pingpong_qemu(&elf, mode, a.rounds)?;
                    eprintln!(
                        "ping-pong {mode:?} run {}/{runs}: QEMU    {q:.0} rt/s",
                        i + 1
                    );
                    qemu.push(q);
                }
            }
            pp.push((mode, ours, qemu));
        }
        Ok::<(), String>(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r?;
    let load_end = loadavg();
    let elapsed = started.elapsed().as_secs_f64();

    // Report.
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut cmdline = format!(
        "papr-hv bench irq --samples {} --events {} --rounds {} --runs {runs}",
        a.samples, a.events, a.rounds
    );
    if a.no_qemu {
        cmdline.push_str(" --no-qemu");
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut s = format!(
        "{BEGIN}\n\
         Command: `{cmdline}` ({profile} build, {elapsed:.0} s).  \n\
         Host: {}, {ncpu} host CPUs (shared), load average {load_start} at the start and \
         {load_end} at the end. QEMU: {}.\n\n",
        cpu_model(),
        if a.no_qemu {
            "not run".to_string()
        } else {
            qemu_version(QEMU).unwrap_or_else(|| "not found".into())
        }
    );
    s.push_str(&format!(
        "### Deliveries per second through the hypervisor core (one thread)\n\n\
         `Vm::injector().set_irq(0x1000)` on a configured MSI source (XIVE: routed to vCPU 0, \
         priority {XIVE_PRIO}, 64 KiB event queue; XICS: server 0, priority {XICS_PRIO}), vCPU 0's \
         external line checked, then the guest side on the device API (XIVE: TIMA ACK, queue \
         entry read from guest RAM, ESB SET_PQ_00, CPPR 0xFF; XICS: H_XIRR, H_EOI) and the line \
         checked down again. {} deliveries per run, {runs} runs.\n\n\
         | controller | deliveries/s (median) | ns per delivery | runs (k/s) |\n\
         |---|---|---|---|\n",
        a.events
    ));
    for (mode, v) in &eps {
        let m = median(v);
        s.push_str(&format!(
            "| {} | {} | {:.0} | {} |\n",
            mode.title(),
            fmt_k(m),
            1e9 / m,
            list_k(v)
        ));
    }
    s.push_str(&format!(
        "\n### Trigger → wake latency of a vCPU in H_CEDE\n\n\
         A vCPU thread runs a real-mode loop calling H_CEDE (`sc 1`); once the thread is \
         asleep (its state in `/proc`), another thread timestamps and calls `set_irq(0x1000)`; \
         the vCPU takes the external interrupt at 0x500, which exits to the harness \
         (timestamp), which acknowledges on the device API and resumes the loop. {} samples \
         per controller after a warm-up.\n\n\
         | controller | median (µs) | p90 (µs) | p99 (µs) | min (µs) | max (µs) |\n\
         |---|---|---|---|---|---|\n",
        a.samples.max(1)
    ));
    for (mode, v) in &lat {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            mode.title(),
            us(quantile(v, 0.5)),
            us(quantile(v, 0.9)),
            us(quantile(v, 0.99)),
            us(v.first().copied().unwrap_or_default()),
            us(v.last().copied().unwrap_or_default()),
        ));
    }
    s.push_str(&format!(
        "\n### In-guest IPI ping-pong, papr-hv beside QEMU TCG\n\n\
         `tests/guest/pingpong.c` on 2 vCPUs, 512 MiB (papr-hv: `run --cpus 2 --irqchip MODE`; \
         QEMU: `-M pseries,x-vof=on,ic-mode=MODE -cpu power9 -smp 2 -m 512M`): vCPU 0 sends an \
         IPI to vCPU 1 and waits for one back, vCPU 1 answers; both wait in H_CEDE and take \
         the IPI as an external interrupt at 0x500 (XIVE: ESB trigger page, TIMA ACK, event \
         queue, SET_PQ_00 EOI, CPPR 0xFF; XICS: H_IPI, H_XIRR, H_IPI(self, 0xFF), H_EOI). \
         {} timed round trips per run after 500 untimed ones, timed with the guest timebase; \
         {runs} alternating runs per machine.\n\n\
         | controller | papr-hv round trips/s (median) | QEMU round trips/s (median) | papr-hv / QEMU | papr-hv runs (k/s) | QEMU runs (k/s) |\n\
         |---|---|---|---|---|---|\n",
        a.rounds
    ));
    for (mode, ours, qemu) in &pp {
        let (mo, mq) = (median(ours), median(qemu));
        let (q, ratio) = if qemu.is_empty() {
            ("–".to_string(), "–".to_string())
        } else {
            (fmt_k(mq), format!("**{:.2}**", mo / mq))
        };
        s.push_str(&format!(
            "| {} | {} | {q} | {ratio} | {} | {} |\n",
            mode.title(),
            fmt_k(mo),
            list_k(ours),
            list_k(qemu)
        ));
    }
    s.push_str("\nA ratio above 1 means papr-hv does more round trips per second.\n");
    s.push_str(END);
    s.push('\n');
    println!("{s}");
    if let Some(path) = &a.write {
        let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if e > b => {
                format!("{}{}{}", &old[..b], s.trim_end(), &old[e + END.len()..])
            }
            _ => format!("{}\n\n{}", old.trim_end(), s),
        };
        std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pingpong_line_is_parsed() {
        let out = "x\n@@PINGPONG mode=xive rounds=1000 ticks=512000000 rt_per_s=1000\n";
        assert_eq!(parse_pingpong(out, Mode::Xive).unwrap(), 1000.0);
        assert!(parse_pingpong(out, Mode::Xics).is_err(), "wrong mode");
        assert!(parse_pingpong("@@PINGPONG mode=xive rounds=1 ticks=0", Mode::Xive).is_err());
        assert!(parse_pingpong("nothing", Mode::Xive).is_err());
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_micros(50));
        assert_eq!(quantile(&v, 0.99), Duration::from_micros(99));
        assert_eq!(quantile(&v, 1.0), Duration::from_micros(100));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn host_side_delivers_every_event() {
        for mode in Mode::ALL {
            let r = events_per_second(mode, 2000);
            assert!(r.is_ok_and(|v| v > 0.0), "{mode:?}");
        }
    }

    #[test]
    fn wake_latency_completes() {
        for mode in Mode::ALL {
            let v = wake_latencies(mode, 20).unwrap();
            assert_eq!(v.len(), 20, "{mode:?}");
        }
    }
}
