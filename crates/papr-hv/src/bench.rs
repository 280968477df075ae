//! `papr-hv bench boot`: time from start to the Debian installer's first screen, for
//! papr-hv and for QEMU (`qemu-system-ppc64 -M pseries,x-vof=on -cpu power9`) with the same
//! guest, vCPUs and memory, in alternating runs; medians and their ratio go into
//! docs/BENCHMARKS.md.

use crate::hostinfo::{cpu_model, host_cpus, loadavg, median, qemu_version};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MARK: &str = "Select a language";
const LIMIT: Duration = Duration::from_secs(600);
const BEGIN: &str = "<!-- bench-boot:begin -->";
const END: &str = "<!-- bench-boot:end -->";

/// One timed boot: seconds from spawn to the first appearance of [`MARK`].
fn time_boot(mut cmd: Command) -> Result<f64, String> {
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(MARK.len()).any(|w| w == MARK.as_bytes()) {
                        let _ = tx.send(Some(Instant::now()));
                        return;
                    }
                    // Keep only a tail long enough to find the mark across reads.
                    if seen.len() > 1 << 16 {
                        seen.drain(..seen.len() - MARK.len());
                    }
                }
            }
        }
    });
    let r = rx.recv_timeout(LIMIT);
    let _ = child.kill();
    let _ = child.wait();
    match r {
        Ok(Some(t)) => Ok((t - t0).as_secs_f64()),
        Ok(None) => Err("the guest stopped before its first screen".into()),
        Err(_) => Err(format!("no '{MARK}' within {LIMIT:?}")),
    }
}

/// Runs the benchmark.
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    cpus: u32,
    memory: &str,
    runs: usize,
    write: Option<PathBuf>,
) -> Result<(), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let append = "console=hvc0";
    let load_start = loadavg1();
    let mut ours = Vec::new();
    let mut qemu = Vec::new();
    for i in 0..runs {
        let mut c = Command::new(&me);
        c.args(["run", "--kernel"])
            .arg(kernel)
            .arg("--initrd")
            .arg(initrd);
        c.args([
            "--append",
            append,
            "--cpus",
            &cpus.to_string(),
            "--memory",
            memory,
        ]);
        let a = time_boot(c)?;
        eprintln!("run {}/{runs}: papr-hv {a:.2} s", i + 1);
        ours.push(a);
        let mut q = Command::new("qemu-system-ppc64");
        q.args([
            "-M",
            "pseries,x-vof=on",
            "-cpu",
            "power9",
            "-m",
            memory,
            "-smp",
            &cpus.to_string(),
        ]);
        q.arg("-kernel").arg(kernel).arg("-initrd").arg(initrd);
        q.args([
            "-append", append, "-display", "none", "-monitor", "none", "-serial", "stdio",
        ]);
        let b = time_boot(q).map_err(|e| format!("QEMU: {e} (is qemu-system-ppc64 installed?)"))?;
        eprintln!("run {}/{runs}: QEMU    {b:.2} s", i + 1);
        qemu.push(b);
    }
    let load_end = loadavg1();
    let (m_ours, m_qemu) = (median(&ours), median(&qemu));
    let ratio = m_ours / m_qemu;
    let host = cpu_model();
    let ncpu = host_cpus();
    let qver = qemu_version("qemu-system-ppc64").unwrap_or_default();
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let table = format!(
        "{BEGIN}\n\
         ### Boot to the Debian installer's first screen\n\n\
         Time from start to `{MARK}` on the console, Debian 12 installer (`debian-installer-12-netboot-ppc64el`), \
         {cpus} vCPUs, {memory} RAM, `console=hvc0`, {runs} alternating runs each.\n\
         Host: {host}, {ncpu} host CPUs, load average {load_start} at the start and {load_end} at the end \
         (1-minute). QEMU: {qver}, `-M pseries,x-vof=on -cpu power9`.\n\n\
         | | median (s) | runs (s) |\n|---|---|---|\n\
         | papr-hv | {m_ours:.1} | {} |\n| QEMU TCG | {m_qemu:.1} | {} |\n\n\
         **Ratio papr-hv / QEMU: {ratio:.2}** (below 1 means papr-hv is faster).\n\n\
         Command: `papr-hv bench boot --cpus {cpus} --memory {memory} --runs {runs}`\n{END}\n",
        fmt(&ours),
        fmt(&qemu)
    );
    println!("{table}");
    if let Some(path) = write {
        let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(a), Some(b)) if b > a => {
                format!("{}{}{}", &old[..a], table.trim_end(), &old[b + END.len()..])
            }
            _ => format!("{}\n{}", old.trim_end(), table),
        };
        std::fs::write(&path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The 1-minute load average.
fn loadavg1() -> String {
    loadavg().split(' ').next().unwrap_or("?").to_string()
}
