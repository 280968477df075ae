//! `papr-hv bench virtio`: sequential virtio-blk throughput inside the guest, with and
//! without `VIRTIO_F_ACCESS_PLATFORM` (DMA through the TCE IOMMU or not), papr-hv beside
//! QEMU (`qemu-system-ppc64 -M pseries,x-vof=on -cpu power9`, `virtio-blk-pci` with
//! `iommu_platform=on|off,disable-legacy=on`) on the same raw image.
//!
//! The guest is the virtio test guest of `scripts/virtio-initramfs` booted with
//! `virtio-bench=MIB,RUNS`: its `/init` writes MIB MiB to the raw disk and reads them back
//! with busybox `dd bs=1M oflag=direct`/`iflag=direct`, RUNS times, timing each pass with
//! the guest's monotonic clock, and powers off. The table (medians of the passes, ratios
//! papr-hv / QEMU, host and load) goes between the `virtio-bench` markers of
//! docs/BENCHMARKS.md; a `tce-indirect` block inside the old section (the H_PUT_TCE_INDIRECT
//! figures of the `tce` crate's criterion bench) is kept.

use crate::hostinfo::{cpu_model, host_cpus, loadavg, median, qemu_version};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BEGIN: &str = "<!-- virtio-bench:begin -->";
const END: &str = "<!-- virtio-bench:end -->";
const KEEP_BEGIN: &str = "<!-- tce-indirect:begin -->";
const KEEP_END: &str = "<!-- tce-indirect:end -->";
const LIMIT: Duration = Duration::from_secs(900);

/// Options of the benchmark.
pub struct Options {
    /// Guest kernel and initrd.
    pub kernel: PathBuf,
    /// Guest initrd.
    pub initrd: PathBuf,
    /// vCPUs.
    pub cpus: u32,
    /// Guest memory (QEMU/papr-hv spelling, e.g. 1G).
    pub memory: String,
    /// MiB per pass.
    pub mib: u32,
    /// Passes per boot.
    pub runs: u32,
    /// Markdown file to update.
    pub write: Option<PathBuf>,
}

/// Throughputs (MB/s, 10^6 bytes) of the passes of one boot.
#[derive(Default)]
struct Passes {
    write: Vec<f64>,
    read: Vec<f64>,
}

fn parse(console: &str) -> Result<Passes, String> {
    let mut r = Passes::default();
    for l in console.lines() {
        let Some(rest) = l.trim_end().strip_prefix("virtio-test: bench ") else {
            continue;
        };
        let w: Vec<&str> = rest.split_whitespace().collect();
        match w.as_slice() {
            [dir, bytes, "bytes", ns, "ns"] => {
                let (b, t): (f64, f64) = (
                    bytes.parse().map_err(|_| format!("bad line: {l}"))?,
                    ns.parse().map_err(|_| format!("bad line: {l}"))?,
                );
                if t <= 0.0 {
                    return Err(format!("zero time: {l}"));
                }
                let mbs = b / t * 1e3;
                match *dir {
                    "write" => r.write.push(mbs),
                    "read" => r.read.push(mbs),
                    _ => return Err(format!("bad line: {l}")),
                }
            }
            _ => return Err(format!("the guest's benchmark failed: {l}")),
        }
    }
    if r.write.is_empty() || r.read.is_empty() {
        return Err("no benchmark output from the guest".into());
    }
    Ok(r)
}

/// Runs `cmd` to completion (the guest powers off) and returns its console output.
fn run_guest(mut cmd: Command, what: &str) -> Result<String, String> {
    let out_path =
        std::env::temp_dir().join(format!("papr-hv-bench-virtio-{}.txt", std::process::id()));
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let t0 = Instant::now();
    let ok = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s.success(),
            Ok(None) if t0.elapsed() > LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what}: the guest did not power off within {LIMIT:?}"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let s =
        String::from_utf8_lossy(&std::fs::read(&out_path).map_err(|e| e.to_string())?).into_owned();
    let _ = std::fs::remove_file(&out_path);
    if !ok {
        return Err(format!("{what} failed"));
    }
    Ok(s)
}

fn papr_hv(o: &Options, img: &Path, iommu: bool, msi_direct: bool) -> Command {
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("papr-hv"));
    let mut c = Command::new(me);
    if msi_direct {
        c.env("PAPR_HV_MSI", "direct");
    }
    c.env("RUST_LOG", "error");
    c.args(["run", "--kernel"])
        .arg(&o.kernel)
        .arg("--initrd")
        .arg(&o.initrd)
        .args(["--append", &append(o)])
        .args(["--cpus", &o.cpus.to_string(), "--memory", &o.memory])
        .arg("--disk")
        .arg(format!(
            "path={},iommu={}",
            img.display(),
            if iommu { "on" } else { "off" }
        ));
    c
}

fn qemu(o: &Options, img: &Path, iommu: bool) -> Command {
    let mut q = Command::new("qemu-system-ppc64");
    q.args([
        "-M",
        "pseries,x-vof=on",
        "-cpu",
        "power9",
        "-m",
        &o.memory,
        "-smp",
        &o.cpus.to_string(),
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
    ]);
    q.arg("-kernel")
        .arg(&o.kernel)
        .arg("-initrd")
        .arg(&o.initrd);
    q.args(["-append", &append(o)]);
    q.arg("-drive")
        .arg(format!("file={},if=none,id=d0,format=raw", img.display()));
    q.arg("-device").arg(format!(
        "virtio-blk-pci,drive=d0,iommu_platform={},disable-legacy=on",
        if iommu { "on" } else { "off" }
    ));
    q
}

fn append(o: &Options) -> String {
    format!("console=hvc0 virtio-bench={},{}", o.mib, o.runs)
}

/// Runs the benchmark.
pub fn virtio(o: &Options) -> Result<(), String> {
    if o.mib == 0 || o.runs == 0 {
        return Err("--mib and --runs must be at least 1".into());
    }
    let img = std::env::temp_dir().join(format!("papr-hv-bench-virtio-{}.img", std::process::id()));
    // Written out (not sparse), so no row pays for the host file system's block
    // allocation.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&img).map_err(|e| format!("{}: {e}", img.display()))?;
        let mb = vec![0u8; 1 << 20];
        for _ in 0..o.mib + 16 {
            f.write_all(&mb)
                .map_err(|e| format!("{}: {e}", img.display()))?;
        }
        f.sync_all()
            .map_err(|e| format!("{}: {e}", img.display()))?;
    }
    let load_before = loadavg();
    // (label, papr-hv?, iommu, command)
    let configs: Vec<(&str, bool, bool, Command)> = vec![
        ("papr-hv", true, true, papr_hv(o, &img, true, false)),
        ("QEMU TCG", false, true, qemu(o, &img, true)),
        ("papr-hv", true, false, papr_hv(o, &img, false, false)),
        ("QEMU TCG", false, false, qemu(o, &img, false)),
        (
            "papr-hv, MSI by signal_msi",
            true,
            true,
            papr_hv(o, &img, true, true),
        ),
    ];
    let mut rows = Vec::new();
    for (label, ours, iommu, cmd) in configs {
        let what = format!(
            "{label} (ACCESS_PLATFORM {})",
            if iommu { "on" } else { "off" }
        );
        let console = run_guest(cmd, &what);
        let console = match console {
            Ok(c) => c,
            Err(e) if !ours => return Err(format!("{e} (is qemu-system-ppc64 installed?)")),
            Err(e) => return Err(e),
        };
        let r = parse(&console).map_err(|e| format!("{what}: {e}"))?;
        eprintln!(
            "{what}: write {:.0} MB/s, read {:.0} MB/s (medians of {} passes)",
            median(&r.write),
            median(&r.read),
            r.write.len()
        );
        rows.push((label, iommu, r));
    }
    let _ = std::fs::remove_file(&img);
    let load_after = loadavg();
    let qver = qemu_version("qemu-system-ppc64").unwrap_or_default();
    let find = |label: &str, iommu: bool| {
        rows.iter()
            .find(|(l, i, _)| *l == label && *i == iommu)
            .map(|(_, _, r)| r)
    };
    let span = |v: &[f64]| {
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.0}–{hi:.0}")
    };
    let mut t = String::new();
    t.push_str(&format!(
        "{BEGIN}\n\
         ### virtio-blk sequential throughput inside the guest\n\n\
         Busybox `dd bs=1M count={mib}` to and from the raw `/dev/vda` with `oflag=direct` / \
         `iflag=direct` (no guest page cache), timed by the guest's monotonic clock, {runs} \
         passes each way per boot; MB/s = 10^6 bytes/s, median (range). Guest: Debian 12 \
         kernel 6.1 (`scripts/virtio-initramfs`), {cpus} vCPUs, {mem} RAM, XIVE. The same \
         {size} MiB raw image (zero-filled file on the host's file system, in the host page \
         cache) for every row. ACCESS_PLATFORM on: the disk's DMA goes through the TCE \
         IOMMU (Linux maps its RAM into a 64-bit dynamic DMA window of 16 MiB pages); off: \
         guest physical addresses.\n\
         Host: {host}; load average before {load_before}, after {load_after}. \
         QEMU: {qver}, `-M pseries,x-vof=on -cpu power9`, \
         `-device virtio-blk-pci,drive=d0,iommu_platform=on|off,disable-legacy=on`.\n\n\
         | VMM | ACCESS_PLATFORM | write MB/s | read MB/s |\n|---|---|---|---|\n",
        mib = o.mib,
        runs = o.runs,
        cpus = o.cpus,
        mem = o.memory,
        size = o.mib + 16,
        host = format_args!("{}, {} host CPUs", cpu_model(), host_cpus()),
    ));
    for (label, iommu, r) in &rows {
        t.push_str(&format!(
            "| {label} | {} | {:.0} ({}) | {:.0} ({}) |\n",
            if *iommu { "on" } else { "off" },
            median(&r.write),
            span(&r.write),
            median(&r.read),
            span(&r.read)
        ));
    }
    t.push_str("\nRatios papr-hv / QEMU (above 1 means papr-hv is faster):\n\n");
    for iommu in [true, false] {
        if let (Some(a), Some(b)) = (find("papr-hv", iommu), find("QEMU TCG", iommu)) {
            t.push_str(&format!(
                "* ACCESS_PLATFORM {}: write **{:.2}**, read **{:.2}**\n",
                if iommu { "on" } else { "off" },
                median(&a.write) / median(&b.write),
                median(&a.read) / median(&b.read)
            ));
        }
    }
    if let (Some(a), Some(b)) = (find("papr-hv", true), find("papr-hv", false)) {
        t.push_str(&format!(
            "* papr-hv IOMMU on / off: write {:.2}, read {:.2}\n",
            median(&a.write) / median(&b.write),
            median(&a.read) / median(&b.read)
        ));
    }
    t.push_str(&format!(
        "\nMSI-X delivery: papr-hv binds one irqfd per vector by default (the router's worker \
         thread injects); the last row delivers with `Vm::signal_msi` on the device's thread \
         (`PAPR_HV_MSI=direct`).\n\n\
         Command: `papr-hv bench virtio --mib {} --runs {} --cpus {} --memory {} --write \
         docs/BENCHMARKS.md`\n",
        o.mib, o.runs, o.cpus, o.memory
    ));
    let old = o
        .write
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    // Keep the hand-copied criterion figures.
    let kept = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if b > a => {
            let sec = &old[a..b];
            match (sec.find(KEEP_BEGIN), sec.find(KEEP_END)) {
                (Some(x), Some(y)) if y > x => Some(sec[x..y + KEEP_END.len()].to_string()),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(k) = &kept {
        t.push('\n');
        t.push_str(k);
        t.push('\n');
    }
    t.push_str(END);
    t.push('\n');
    println!("{t}");
    if let Some(path) = &o.write {
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(a), Some(b)) if b > a => {
                format!("{}{}{}", &old[..a], t.trim_end(), &old[b + END.len()..])
            }
            _ if old.is_empty() => format!("# Benchmarks\n\n## virtio and the TCE IOMMU\n\n{t}"),
            _ => format!("{}\n\n## virtio and the TCE IOMMU\n\n{t}", old.trim_end()),
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
    fn parses_guest_lines() {
        let r = parse(
            "noise\nvirtio-test: bench write 1000000 bytes 1000000 ns\n\
             virtio-test: bench read 2000000 bytes 1000000 ns\r\n",
        )
        .unwrap();
        assert_eq!(r.write, vec![1000.0]);
        assert_eq!(r.read, vec![2000.0]);
        assert!(parse("virtio-test: bench write failed: dd: EIO\n").is_err());
        assert!(parse("virtio-test: bench write 1 bytes 0 ns\n").is_err());
        assert!(parse("nothing\n").is_err());
    }
}
