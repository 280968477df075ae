//! Boots the Debian 12 installer (kernel and initrd of `debian-installer-12-netboot-ppc64el`)
//! and checks that it reaches its first screen and answers keystrokes.
//!
//! The guest is fetched into the cache on first use (`papr-hv fetch-installer`); set
//! `PAPR_HV_CACHE` to choose the cache directory. The time limits below only bound a hung
//! boot: a test passes as soon as the expected text appears.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_papr-hv");

fn installer() -> (PathBuf, PathBuf) {
    let mut cmd = Command::new(BIN);
    cmd.arg("fetch-installer");
    if let Some(c) = std::env::var_os("PAPR_HV_CACHE") {
        cmd.arg("--cache").arg(c);
    }
    let out = cmd.output().expect("run papr-hv fetch-installer");
    assert!(
        out.status.success(),
        "cannot fetch the Debian installer guest (apt-get download debian-installer-12-netboot-ppc64el): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let mut lines = s.lines();
    (
        PathBuf::from(lines.next().unwrap()),
        PathBuf::from(lines.next().unwrap()),
    )
}

struct Guest {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    rx: mpsc::Receiver<()>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// One guest at a time: the boots are measured against wall-clock limits and the machine
/// has few cores.
static SERIAL: Mutex<()> = Mutex::new(());

impl Guest {
    fn boot(cpus: u32, irqchip: &str) -> Guest {
        Guest::boot_with(cpus, irqchip, &[])
    }

    fn boot_with(cpus: u32, irqchip: &str, extra: &[&str]) -> Guest {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (k, i) = installer();
        let mut child = Command::new(BIN)
            .env("RUST_LOG", "spapr=info")
            .args(["run", "--kernel"])
            .arg(&k)
            .arg("--initrd")
            .arg(&i)
            .args([
                "--append",
                "console=hvc0",
                "--memory",
                "1G",
                "--irqchip",
                irqchip,
                "--cpus",
            ])
            .arg(cpus.to_string())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start papr-hv");
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let err = Arc::new(Mutex::new(Vec::new()));
        let e = err.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    return;
                }
                e.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let out = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        o.lock().unwrap().extend_from_slice(&buf[..n]);
                        let _ = tx.send(());
                    }
                }
            }
        });
        Guest {
            child,
            out,
            err,
            rx,
            _serial: serial,
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until `needle` appears after byte offset `from`; returns the offset after it.
    fn expect(&self, needle: &str, from: usize, limit: Duration) -> usize {
        let t = Instant::now();
        loop {
            let s = self.text();
            if let Some(p) = s.get(from..).and_then(|x| x.find(needle)) {
                return from + p + needle.len();
            }
            let left = limit.checked_sub(t.elapsed()).unwrap_or_else(|| {
                let tail: String = s
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!("'{needle}' did not appear within {limit:?}; console tail:\n{tail}")
            });
            let _ = self.rx.recv_timeout(left.min(Duration::from_secs(1)));
        }
    }

    fn send(&mut self, s: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(s.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn boot_to_language_screen(cpus: u32, irqchip: &str) -> (Guest, usize) {
    let g = Guest::boot(cpus, irqchip);
    let limit = Duration::from_secs(600);
    let p = g.expect("Run /init as init process", 0, limit);
    let p = g.expect("Select a language", p, limit);
    (g, p)
}

const XIVE_LINE: &str = "xive: Interrupt handling initialized with spapr backend";

#[test]
fn installer_first_screen_and_keystrokes_2_cpus() {
    let (mut g, p) = boot_to_language_screen(2, "auto");
    let t = g.text();
    assert!(
        t.contains("smp: Brought up 1 node, 2 CPUs"),
        "both CPUs should come up"
    );
    // Choose the highlighted language (English) and see the next screen. The key waits in
    // the console's input queue until the guest reads it.
    g.send("\r");
    g.expect("Select your location", p, Duration::from_secs(300));
}

#[test]
fn installer_first_screen_1_cpu() {
    let (g, _) = boot_to_language_screen(1, "auto");
    assert!(g.text().contains(XIVE_LINE));
}

#[test]
fn installer_4_cpus_xive() {
    let (g, _) = boot_to_language_screen(4, "xive");
    let t = g.text();
    assert!(t.contains(XIVE_LINE), "XIVE exploitation mode in use");
    assert!(t.contains("smp: Brought up 1 node, 4 CPUs"));
    assert!(
        g.log().contains("CAS: negotiated XIVE"),
        "machine log: {}",
        g.log()
    );
}

#[test]
fn installer_4_cpus_xics() {
    let (g, _) = boot_to_language_screen(4, "xics");
    let t = g.text();
    assert!(
        !t.contains("xive: Interrupt handling initialized"),
        "XIVE must not be in use"
    );
    assert!(t.contains("smp: Brought up 1 node, 4 CPUs"));
    assert!(
        g.log().contains("CAS: negotiated XICS"),
        "machine log: {}",
        g.log()
    );
}

#[test]
fn installer_4_cpus_auto() {
    let (g, _) = boot_to_language_screen(4, "auto");
    let t = g.text();
    // Offered both, Linux 6.1 picks XIVE exploitation mode.
    assert!(t.contains(XIVE_LINE));
    assert!(t.contains("smp: Brought up 1 node, 4 CPUs"));
    assert!(
        g.log().contains("CAS: negotiated XIVE"),
        "machine log: {}",
        g.log()
    );
}

/// The direct flattened-device-tree entry (`--boot fdt`: r3 = blob, r5 = 0, no client
/// interface and no CAS): the blob carries PAPR's long property names, which the kernel
/// reads (the radix page sizes come from `ibm,processor-radix-AP-encodings`).
#[test]
fn installer_direct_fdt_boot() {
    let g = Guest::boot_with(1, "auto", &["--boot", "fdt"]);
    let limit = Duration::from_secs(600);
    g.expect("Run /init as init process", 0, limit);
    let t = g.text();
    assert!(
        t.contains("radix-mmu: Page sizes from device-tree"),
        "radix page sizes read from the flattened tree"
    );
}
