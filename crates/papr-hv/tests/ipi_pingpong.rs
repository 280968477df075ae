//! The IPI ping-pong guest of `papr-hv bench irq` completes on papr-hv, under XIVE and
//! under XICS.
//!
//! `tests/guest/pingpong.c` (with `pingpong_vec.S` and the support code of the conformance
//! guests) is compiled with the `powerpc64le-linux-gnu` cross toolchain and run on 2 vCPUs:
//! vCPU 0 sends IPIs to vCPU 1 and waits for the answers, both waiting in H_CEDE and taking
//! the IPIs as external interrupts at 0x500. The test checks the behaviour only (the guest
//! ran in the requested mode, every round trip was answered, vCPU 1 stopped cleanly, no
//! interrupt arrived without an IPI), never the timing. The time limit only bounds a hung
//! machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_papr-hv");
const LIMIT: Duration = Duration::from_secs(120);
const ROUNDS: u32 = 300;
const WARMUP: u32 = 20;

#[path = "../src/guestbuild.rs"]
mod guestbuild;

/// Builds `pingpong.elf` (once per test process; both tests share it).
fn build() -> PathBuf {
    static ELF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ELF.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ipi_pingpong");
        guestbuild::build(
            &src,
            &["start.S", "lib.c", "pingpong.c", "pingpong_vec.S"],
            &out,
            "pingpong",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

/// Runs papr-hv on the guest; returns the console lines between `@@BEGIN` and `@@END`.
fn run(irqchip: &str) -> Vec<String> {
    let elf = build();
    let mut child = Command::new(BIN)
        .env("RUST_LOG", "error")
        .args([
            "run",
            "--memory",
            "512M",
            "--cpus",
            "2",
            "--irqchip",
            irqchip,
        ])
        .arg("--kernel")
        .arg(&elf)
        .arg("--append")
        .arg(format!("rounds={ROUNDS} warmup={WARMUP}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start papr-hv");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
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
    let status = loop {
        match child.try_wait().expect("wait for papr-hv") {
            Some(s) => break Some(s),
            None if t0.elapsed() > LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    let b = lines.iter().position(|l| l == "@@BEGIN");
    let e = lines.iter().position(|l| l == "@@END");
    match (b, e, status) {
        (Some(b), Some(e), Some(s)) if b < e && s.success() => lines[b + 1..e].to_vec(),
        _ => panic!(
            "papr-hv --irqchip {irqchip}: no complete run (status {status:?}).\nstdout:\n{out}\n\
             stderr:\n{err}"
        ),
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}

fn pingpong_completes(irqchip: &str) {
    let lines = run(irqchip);
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("pingpong error"))
        .collect();
    assert!(errors.is_empty(), "{irqchip}: {errors:?}\n{lines:#?}");
    assert_eq!(
        lines.first().map(String::as_str),
        Some(format!("pingpong mode={irqchip} rounds={ROUNDS} warmup={WARMUP}").as_str()),
        "the guest negotiated the offered controller and read its command line: {lines:#?}"
    );
    let result = lines
        .iter()
        .find(|l| l.starts_with("@@PINGPONG "))
        .unwrap_or_else(|| panic!("{irqchip}: no @@PINGPONG line: {lines:#?}"));
    assert_eq!(field(result, "mode"), Some(irqchip), "{result}");
    assert_eq!(field(result, "rounds"), Some(ROUNDS.to_string().as_str()));
    let ticks: u64 = field(result, "ticks")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ticks in {result}"));
    assert!(ticks > 0, "the timebase advanced over the run: {result}");
    // Every IPI the program took was one it expected (an external interrupt with nothing
    // in the queue / XISR 0 would count as spurious).
    assert!(
        lines.contains(&"info spurious cpu0=0 cpu1=0".to_string()),
        "{irqchip}: interrupts without an IPI: {lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("pingpong done rounds={ROUNDS}").as_str()),
        "{irqchip}: all round trips done and vCPU 1 stopped: {lines:#?}"
    );
}

#[test]
fn pingpong_completes_under_xive() {
    pingpong_completes("xive");
}

#[test]
fn pingpong_completes_under_xics() {
    pingpong_completes("xics");
}
