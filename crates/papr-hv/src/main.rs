//! `papr-hv`: the command line.

mod bench;
mod bench_irq;
mod bench_virtio;
mod devices;
mod fetch;
mod guestbuild;
mod hostinfo;
mod term;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand, ValueEnum};
use spapr::{BootMode, Console, IrqChipMode, MachineConfig, MachineExit, MachineHandle};

#[derive(Parser)]
#[command(
    name = "papr-hv",
    version,
    about = "A hypervisor for PAPR (pseries) guests: ppc64le Linux on any host"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a guest on the pseries machine.
    Run(RunArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Download the Debian 12 ppc64el installer (kernel and initrd) into a cache and print
    /// their paths.
    FetchInstaller {
        /// Cache directory (default: $XDG_CACHE_HOME/papr-hv or ~/.cache/papr-hv).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Time start-to-"Select a language" of the Debian installer under papr-hv and under
    /// QEMU (alternating runs) and report the medians and their ratio.
    Boot {
        /// vCPUs.
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Memory.
        #[arg(long, default_value = "1G")]
        memory: String,
        /// Runs of each.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Markdown file to update (the section between the bench-boot markers).
        #[arg(long)]
        write: Option<PathBuf>,
        /// Kernel (default: the fetched Debian installer).
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Initrd (default: the fetched Debian installer).
        #[arg(long)]
        initrd: Option<PathBuf>,
    },
    /// Interrupt controllers (XIVE and XICS): deliveries per second and trigger-to-wake
    /// latency through the hypervisor core, and an in-guest IPI ping-pong under papr-hv and
    /// under QEMU (alternating runs).
    Irq {
        /// Trigger-to-wake latency samples per controller.
        #[arg(long, default_value_t = 5000)]
        samples: usize,
        /// Deliveries per deliveries-per-second run.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Timed ping-pong round trips per guest run.
        #[arg(long, default_value_t = 20000)]
        rounds: u32,
        /// Runs of each measurement (ping-pong: per machine and controller).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Do not run QEMU.
        #[arg(long)]
        no_qemu: bool,
        /// Markdown file to update (the section between the irq-bench markers).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// virtio-blk sequential write/read throughput in the virtio test guest
    /// (scripts/virtio-initramfs), with and without ACCESS_PLATFORM, papr-hv beside QEMU.
    Virtio {
        /// vCPUs.
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Memory.
        #[arg(long, default_value = "1G")]
        memory: String,
        /// MiB written and read per pass.
        #[arg(long, default_value_t = 256)]
        mib: u32,
        /// Passes each way per boot.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// Markdown file to update (the section between the virtio-bench markers).
        #[arg(long)]
        write: Option<PathBuf>,
        /// Kernel (default: ~/.cache/papr-hv/virtio-test/vmlinux).
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Initrd (default: ~/.cache/papr-hv/virtio-test/initrd).
        #[arg(long)]
        initrd: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum IrqChipArg {
    /// Offer both; the guest chooses at CAS.
    Auto,
    /// XICS only.
    Xics,
    /// XIVE exploitation mode only.
    Xive,
}

#[derive(Clone, Copy, ValueEnum)]
enum BootArg {
    /// Open Firmware client interface with CAS (as QEMU's VOF).
    Of,
    /// Flattened device tree, no CAS.
    Fdt,
}

#[derive(Parser)]
struct RunArgs {
    /// Kernel image (ELF vmlinux).
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Initial ramdisk.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long, default_value = "")]
    append: String,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    cpus: u32,
    /// Memory size (bytes, or with a K/M/G suffix).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    memory: u64,
    /// Interrupt controllers offered to the guest.
    #[arg(long, value_enum, default_value_t = IrqChipArg::Auto)]
    irqchip: IrqChipArg,
    /// Raw firmware image, loaded at address 0 and entered at 0x100 (big-endian, r3 = FDT).
    #[arg(long)]
    firmware: Option<PathBuf>,
    /// How the kernel is entered.
    #[arg(long, value_enum, default_value_t = BootArg::Of)]
    boot: BootArg,
    /// virtio-blk disk on a raw image: path=FILE[,readonly=on][,iommu=off] (repeatable).
    #[arg(long, value_parser = devices::parse_disk)]
    disk: Vec<spapr::PciDeviceConfig>,
    /// virtio-net: user[,iommu=off] (unprivileged gateway 10.0.2.2 answering ARP and ping)
    /// or tap,ifname=NAME[,iommu=off] (repeatable).
    #[arg(long, value_parser = devices::parse_net)]
    net: Vec<spapr::PciDeviceConfig>,
    /// Other virtio device: virtio-rng or virtio-console, [,iommu=off] (repeatable).
    #[arg(long, value_parser = devices::parse_device)]
    device: Vec<spapr::PciDeviceConfig>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        Some('T' | 't') => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size '{s}' (examples: 512M, 1G)"))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

fn read_file(what: &str, p: &PathBuf) -> Result<Arc<Vec<u8>>, String> {
    std::fs::read(p)
        .map(Arc::new)
        .map_err(|e| format!("cannot read {what} {}: {e}", p.display()))
}

fn run(a: RunArgs) -> Result<MachineExit, String> {
    if a.kernel.is_none() && a.firmware.is_none() {
        return Err("no kernel: give --kernel FILE (or --firmware FILE)".into());
    }
    let cfg = MachineConfig {
        kernel: a
            .kernel
            .as_ref()
            .map(|p| read_file("kernel", p))
            .transpose()?,
        initrd: a
            .initrd
            .as_ref()
            .map(|p| read_file("initrd", p))
            .transpose()?,
        firmware: a
            .firmware
            .as_ref()
            .map(|p| read_file("firmware", p))
            .transpose()?,
        append: a.append,
        cpus: a.cpus,
        mem_size: a.memory,
        irqchip: match a.irqchip {
            IrqChipArg::Auto => IrqChipMode::Auto,
            IrqChipArg::Xics => IrqChipMode::Xics,
            IrqChipArg::Xive => IrqChipMode::Xive,
        },
        boot: match a.boot {
            BootArg::Of => BootMode::ClientInterface,
            BootArg::Fdt => BootMode::Fdt,
        },
        devices: a.disk.into_iter().chain(a.net).chain(a.device).collect(),
    };
    let console = Arc::new(Console::new(Box::new(std::io::stdout()), None));
    let handle: Arc<Mutex<Option<MachineHandle>>> = Arc::new(Mutex::new(None));
    let raw = term::RawMode::enable_if_tty();
    spawn_input(console.clone(), handle.clone());
    let h = handle.clone();
    let r = spapr::run(&cfg, console, &move |mh| {
        *h.lock().unwrap_or_else(|e| e.into_inner()) = Some(mh);
    });
    drop(raw);
    r.map_err(|e| e.to_string())
}

/// Feeds stdin to the guest console; `Ctrl-a x` quits, `Ctrl-a Ctrl-a` sends a Ctrl-a.
fn spawn_input(console: Arc<Console>, handle: Arc<Mutex<Option<MachineHandle>>>) {
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 256];
            let mut escape = false;
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut out = Vec::with_capacity(n);
                for &b in &buf[..n] {
                    if escape {
                        escape = false;
                        match b {
                            b'x' | b'X' => {
                                if let Some(h) =
                                    handle.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                                {
                                    h.quit();
                                }
                                return;
                            }
                            0x01 => out.push(0x01),
                            _ => {
                                out.push(0x01);
                                out.push(b);
                            }
                        }
                    } else if b == 0x01 {
                        escape = true;
                    } else {
                        out.push(b);
                    }
                }
                console.push_input(&out);
            }
        });
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => match run(a) {
            Ok(MachineExit::PowerOff) | Ok(MachineExit::Quit) => ExitCode::SUCCESS,
            Ok(MachineExit::Panic(m)) => {
                eprintln!("papr-hv: the guest kernel panicked: {m}");
                ExitCode::from(2)
            }
            Ok(MachineExit::Checkstop(c)) => {
                eprintln!("papr-hv: vCPU {c} checkstopped (machine check with MSR[ME]=0)");
                ExitCode::from(2)
            }
            Ok(MachineExit::Fatal(m)) => {
                eprintln!("papr-hv: {m}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("papr-hv: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Bench(BenchCmd::Boot {
            cpus,
            memory,
            runs,
            write,
            kernel,
            initrd,
        }) => {
            let r = (|| {
                let (k, i) = match (kernel, initrd) {
                    (Some(k), Some(i)) => (k, i),
                    _ => fetch::installer(None)?,
                };
                bench::boot(&k, &i, cpus, &memory, runs.max(1), write)
            })();
            match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("papr-hv: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Bench(BenchCmd::Irq {
            samples,
            events,
            rounds,
            runs,
            no_qemu,
            write,
        }) => {
            let a = bench_irq::IrqBenchArgs {
                samples,
                events,
                rounds,
                runs,
                no_qemu,
                write,
            };
            match bench_irq::irq(&a) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("papr-hv: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Bench(BenchCmd::Virtio {
            cpus,
            memory,
            mib,
            runs,
            write,
            kernel,
            initrd,
        }) => {
            let dir = fetch::default_cache().join("virtio-test");
            let o = bench_virtio::Options {
                kernel: kernel.unwrap_or_else(|| dir.join("vmlinux")),
                initrd: initrd.unwrap_or_else(|| dir.join("initrd")),
                cpus,
                memory,
                mib,
                runs,
                write,
            };
            match bench_virtio::virtio(&o) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("papr-hv: {e} (build the guest with scripts/virtio-initramfs)");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::FetchInstaller { cache } => match fetch::installer(cache) {
            Ok((k, i)) => {
                println!("{}", k.display());
                println!("{}", i.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("papr-hv: {e}");
                ExitCode::from(1)
            }
        },
    }
}
