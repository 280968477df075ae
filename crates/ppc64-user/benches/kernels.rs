//! CPU benchmark: the same CPU-bound ppc64le programs on our CPU (through `ppc64-user`,
//! in this process) and under `qemu-ppc64le`.
//!
//! The kernels are C sources in `benches/kernels/`, compiled here with
//! `powerpc64le-linux-gnu-gcc -O2 -static -nostdlib`. Guest instructions are counted on our
//! CPU by single-stepping (MSR[SE] trace interrupts) two short runs and extrapolating
//! linearly in the pass count (every kernel is `setup + n × pass`). Prints a table and
//! writes it as markdown to `$CARGO_TARGET_TMPDIR/kernels.md` for `docs/BENCHMARKS.md`.
//!
//! Run: `cargo bench -p ppc64-user --bench kernels` (optionally `PPC64_BENCH_SCALE=0.1`;
//! `BENCHMARKS_MD=docs/BENCHMARKS.md`, relative to the workspace root, replaces the section
//! between `<!-- cpu-kernels:begin -->` and `<!-- cpu-kernels:end -->` of that file).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ppc64_user::{Options, Status, run_elf};

struct Kernel {
    name: &'static str,
    what: &'static str,
    src: &'static str,
    flags: &'static [&'static str],
    /// Passes for the timed run.
    n: u64,
    /// Passes for the two counting runs.
    count: (u64, u64),
}

const INT_FLAGS: &[&str] = &[
    "-fno-tree-vectorize",
    "-mcpu=power8",
    "-mno-vsx",
    "-mno-altivec",
];
const FP_FLAGS: &[&str] = &["-mcpu=power9"];

const KERNELS: &[Kernel] = &[
    Kernel {
        name: "integer",
        what: "xor/multiply/shift hash over a 16 KiB table",
        src: "int_hash.c",
        flags: INT_FLAGS,
        n: 30_000,
        count: (1, 3),
    },
    Kernel {
        name: "memory",
        what: "4 MiB doubleword copy loop (memcpy-like), back and forth",
        src: "memcopy.c",
        flags: INT_FLAGS,
        n: 300,
        count: (1, 2),
    },
    Kernel {
        name: "fp-vector",
        what: "daxpy on 4096 doubles + float multiply-add loop (VSX-vectorised)",
        src: "fp_vector.c",
        flags: FP_FLAGS,
        n: 20_000,
        count: (1, 3),
    },
];

fn tool_present(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn compile(src: &Path, flags: &[&str], out: &Path) {
    let o = Command::new("powerpc64le-linux-gnu-gcc")
        .args([
            "-O2",
            "-static",
            "-nostdlib",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-stack-protector",
            "-fno-tree-loop-distribute-patterns",
        ])
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(src)
        .output()
        .expect("run powerpc64le-linux-gnu-gcc");
    assert!(
        o.status.success(),
        "compiling {}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs on our CPU; returns (stdout, status, seconds).
fn ours(elf: &[u8], n: u64, count: bool) -> (Vec<u8>, Status, f64, Option<u64>) {
    let arg = n.to_string();
    let opts = Options {
        count_instructions: count,
        timeout: Some(Duration::from_secs(600)),
        ..Options::default()
    };
    let t = Instant::now();
    let o = run_elf(elf, &["kernel", &arg], opts).expect("run on our CPU");
    (
        o.stdout,
        o.status,
        t.elapsed().as_secs_f64(),
        o.instructions,
    )
}

fn qemu(path: &Path, n: u64) -> (Vec<u8>, f64) {
    let t = Instant::now();
    let o = Command::new("qemu-ppc64le")
        .arg("-cpu")
        .arg("power9")
        .arg(path)
        .arg(n.to_string())
        .output()
        .expect("run qemu-ppc64le");
    let secs = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "qemu-ppc64le failed: {}", o.status);
    (o.stdout, secs)
}

fn main() {
    // `cargo test --benches` passes --bench-less arguments; only run under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("kernels: run with `cargo bench -p ppc64-user --bench kernels`");
        return;
    }
    assert!(
        tool_present("powerpc64le-linux-gnu-gcc"),
        "the CPU benchmark needs the cross compiler powerpc64le-linux-gnu-gcc \
         (Debian/Ubuntu: apt-get install gcc-powerpc64le-linux-gnu)"
    );
    assert!(
        tool_present("qemu-ppc64le"),
        "the CPU benchmark needs qemu-ppc64le (Debian/Ubuntu: apt-get install qemu-user)"
    );
    let scale: f64 = std::env::var("PPC64_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let src_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/kernels");
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernels");
    std::fs::create_dir_all(&out_dir).expect("create output directory");
    let mut rows = Vec::new();
    for k in KERNELS {
        let bin = out_dir.join(k.name);
        compile(&src_dir.join(k.src), k.flags, &bin);
        let elf = std::fs::read(&bin).expect("read compiled kernel");
        let n = ((k.n as f64 * scale).round() as u64).max(k.count.1 + 1);
        // Instruction count: setup + n × pass, from two single-stepped runs.
        let (_, s1, _, c1) = ours(&elf, k.count.0, true);
        if let Status::Signaled { signal, pc } = s1 {
            println!(
                "{:<10} SKIPPED: our CPU stops with signal {signal} at {pc:#x} \
                 (the FP/VSX instructions are not decoded yet)",
                k.name
            );
            rows.push(format!(
                "| {} | {} | skipped: FP/VSX not implemented yet (signal {signal}) | | | | | |",
                k.name, k.what
            ));
            continue;
        }
        let (_, _, _, c2) = ours(&elf, k.count.1, true);
        let (c1, c2) = (c1.unwrap_or(0), c2.unwrap_or(0));
        let per_pass = (c2 - c1) / (k.count.1 - k.count.0);
        let setup = c1 - per_pass * k.count.0;
        let insns = setup + per_pass * n;
        // Timed runs (best of two each).
        let (out_a, st, t_a, _) = ours(&elf, n, false);
        assert_eq!(st, Status::Exited(0), "{}: our run failed", k.name);
        let (_, _, t_b, _) = ours(&elf, n, false);
        let t_ours = t_a.min(t_b);
        let (out_q, q_a) = qemu(&bin, n);
        let (_, q_b) = qemu(&bin, n);
        let t_qemu = q_a.min(q_b);
        assert_eq!(
            out_a, out_q,
            "{}: result differs between our CPU and qemu",
            k.name
        );
        let mips_o = insns as f64 / t_ours / 1e6;
        let mips_q = insns as f64 / t_qemu / 1e6;
        println!(
            "{:<10} {:>14} insns  ours {:>7.3}s {:>8.1} MIPS   qemu {:>7.3}s {:>8.1} MIPS   ours/qemu {:>5.2}",
            k.name,
            insns,
            t_ours,
            mips_o,
            t_qemu,
            mips_q,
            mips_o / mips_q
        );
        rows.push(format!(
            "| {} | {} | {} | {:.3} | {:.0} | {:.3} | {:.0} | {:.2} |",
            k.name,
            k.what,
            insns,
            t_ours,
            mips_o,
            t_qemu,
            mips_q,
            mips_o / mips_q
        ));
    }
    let host = host_line();
    let md = format!(
        "Command: `cargo bench -p ppc64-user --bench kernels`{}\n\n{host}\n\n\
         | kernel | what | guest instructions | ours (s) | ours MIPS | qemu-ppc64le 7.2 (s) | qemu MIPS | ours/qemu |\n\
         |---|---|---|---|---|---|---|---|\n{}\n\n\
         Instruction counts are exact counts of our CPU (single-stepped calibration runs, \
         extrapolated linearly in the pass count); times are the best of two wall-clock runs \
         (ours in-process, including ELF loading; qemu including process start-up).\n",
        if scale != 1.0 {
            format!(" with `PPC64_BENCH_SCALE={scale}`")
        } else {
            String::new()
        },
        rows.join("\n")
    );
    let md_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernels.md");
    std::fs::write(&md_path, &md).expect("write markdown");
    println!("\n{md}\n(written to {})", md_path.display());
    if let Some(doc) = std::env::var_os("BENCHMARKS_MD") {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join(doc);
        let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
        let (b, e) = ("<!-- cpu-kernels:begin -->", "<!-- cpu-kernels:end -->");
        let new = match (old.find(b), old.find(e)) {
            (Some(i), Some(j)) if j > i => {
                format!("{}{b}\n{}\n{}", &old[..i], md.trim_end(), &old[j..])
            }
            _ => format!("{}\n\n{b}\n{}\n{e}\n", old.trim_end(), md.trim_end()),
        };
        std::fs::write(&path, new).expect("write BENCHMARKS_MD");
        println!("updated {}", path.display());
    }
}

/// Host CPU, core count, load average and QEMU version, for the record.
fn host_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    let qemu = Command::new("qemu-ppc64le")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default();
    format!("Host: {cpu}, {n} CPUs, load average {load} at the start. {qemu}.")
}
