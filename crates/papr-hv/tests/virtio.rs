//! Boots the virtio test guest (`scripts/virtio-initramfs`: Debian 12's ppc64el kernel with
//! its virtio modules and a busybox `/init`) with virtio-pci devices on the PHB and checks
//! what issue 5 asks: a virtio-blk disk whose ext4 file system the guest writes and the host
//! then reads (`debugfs`), with the guest's DMA going through the TCE IOMMU (a dynamic DMA
//! window, `VIRTIO_F_ACCESS_PLATFORM` negotiated) in XIVE and XICS mode, the same with the
//! IOMMU off, and ping between the guest and the user-mode network's gateway.
//!
//! The guest is built into `~/.cache/papr-hv/virtio-test` on first use (the script needs
//! apt-get, dpkg-deb and the network; it does nothing when the cache is current). The disk
//! images need `mkfs.ext4` and `debugfs` (e2fsprogs). The guest powers itself off; the time
//! limit only bounds a hung boot.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_papr-hv");

/// One guest at a time (the machine has few cores).
static SERIAL: Mutex<()> = Mutex::new(());

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// The test guest's kernel and initrd, built by the project script if needed.
fn guest() -> (PathBuf, PathBuf) {
    let out = Command::new(scripts().join("virtio-initramfs"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/virtio-initramfs: {e}"));
    assert!(
        out.status.success(),
        "scripts/virtio-initramfs failed (it needs apt-get, dpkg-deb, gzip, the \
         debian-archive-keyring and access to a Debian mirror; see its messages above)"
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let mut l = s.lines();
    match (l.next(), l.next()) {
        (Some(k), Some(i)) => (PathBuf::from(k), PathBuf::from(i)),
        _ => panic!("scripts/virtio-initramfs printed no paths: {s}"),
    }
}

fn tool(name: &str) -> PathBuf {
    for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(d).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is needed (Debian package e2fsprogs)");
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("papr-hv-virtio-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 64 MiB raw image with an empty ext4 file system.
fn ext4_image(dir: &Path) -> PathBuf {
    let img = dir.join("disk.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    let st = Command::new(tool("mkfs.ext4"))
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success(), "mkfs.ext4 failed");
    img
}

/// A file of the image, read on the host.
fn debugfs_cat(img: &Path, file: &str) -> String {
    let out = Command::new(tool("debugfs"))
        .args(["-R", &format!("cat {file}")])
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Run {
    /// Console output (the guest's).
    console: String,
    /// papr-hv's log.
    log: String,
}

/// Boots the guest with `args` until it powers off (at most 4 minutes).
fn boot(dir: &Path, args: &[&str]) -> Run {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (k, i) = guest();
    let (o, e) = (dir.join("console.txt"), dir.join("log.txt"));
    let mut child = Command::new(BIN)
        .env(
            "RUST_LOG",
            "warn,spapr=info,spapr::ddw=debug,virtio_devices::usernet=debug",
        )
        .env("NO_COLOR", "1")
        .args(["run", "--kernel"])
        .arg(&k)
        .arg("--initrd")
        .arg(&i)
        .args(["--append", "console=hvc0", "--memory", "1G", "--cpus", "2"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("start papr-hv");
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run = Run {
        console: String::from_utf8_lossy(&std::fs::read(&o).unwrap()).into_owned(),
        log: String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned(),
    };
    let tail = |s: &str| {
        s.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "papr-hv exited with {s}\n--- console ---\n{}\n--- log ---\n{}",
            tail(&run.console),
            tail(&run.log)
        ),
        None => panic!(
            "the guest did not power off within 240 s\n--- console ---\n{}",
            tail(&run.console)
        ),
    }
    assert!(
        run.console.contains("virtio-test: done"),
        "the guest's /init did not finish:\n{}",
        tail(&run.console)
    );
    run
}

/// The feature bits the guest's virtio core reports for the device with `driver`.
fn features(console: &str, driver: &str) -> String {
    console
        .lines()
        .find(|l| l.starts_with("virtio-test: virtio") && l.contains(&format!("driver={driver} ")))
        .and_then(|l| l.split("features=").nth(1))
        .unwrap_or_else(|| panic!("no {driver} device in the guest:\n{console}"))
        .trim()
        .to_string()
}

/// `VIRTIO_F_ACCESS_PLATFORM` (bit 33) in a sysfs feature string (bit 0 first).
fn access_platform(features: &str) -> bool {
    features.as_bytes().get(33) == Some(&b'1')
}

/// The guest wrote a file on its disk, read it back, and the host finds the same line in
/// the image.
fn check_disk(run: &Run, img: &Path) {
    let ok = run
        .console
        .lines()
        .find_map(|l| l.strip_prefix("virtio-test: disk write/read-back OK: "))
        .unwrap_or_else(|| panic!("no disk read-back in the guest:\n{}", run.console))
        .trim()
        .to_string();
    assert!(ok.starts_with("papr-hv virtio-blk test "), "{ok}");
    let host = debugfs_cat(img, "/papr-hv-test.txt");
    assert_eq!(host.trim(), ok, "the host reads what the guest wrote");
}

/// Linux set up a 64-bit dynamic DMA window through RTAS (the PHB's PE, 16 MiB pages
/// covering the 1 GiB of RAM), and papr-hv created it.
fn check_ddw(run: &Run) {
    let line = run
        .console
        .lines()
        .find(|l| l.contains("ibm,create-pe-dma-window(2027)"))
        .unwrap_or_else(|| panic!("no DDW creation in the guest log:\n{}", run.console));
    assert!(
        line.contains("returned 0") && line.contains("liobn = 0x80000001"),
        "{line}"
    );
    assert!(
        run.log.contains("DDW created") && run.log.contains("liobn=0x80000001"),
        "papr-hv did not log the window:\n{}",
        run.log
    );
}

fn disk_boot(tag: &str, irqchip: &str, iommu: bool) {
    let dir = TempDir::new(tag);
    let img = ext4_image(&dir.0);
    let disk = format!(
        "path={}{}",
        img.display(),
        if iommu { "" } else { ",iommu=off" }
    );
    let run = boot(&dir.0, &["--irqchip", irqchip, "--disk", &disk]);
    check_disk(&run, &img);
    check_ddw(&run);
    let f = features(&run.console, "virtio_blk");
    assert_eq!(
        access_platform(&f),
        iommu,
        "ACCESS_PLATFORM negotiated iff offered: {f}"
    );
    let negotiated = if irqchip == "xics" { "XICS" } else { "XIVE" };
    assert!(
        run.log.contains(&format!("CAS: negotiated {negotiated}")),
        "{}",
        run.log
    );
}

#[test]
fn disk_through_the_iommu_xive() {
    disk_boot("xive", "xive", true);
}

#[test]
fn disk_through_the_iommu_xics() {
    disk_boot("xics", "xics", true);
}

#[test]
fn disk_without_the_iommu() {
    disk_boot("noiommu", "auto", false);
}

/// The guest pings the user-mode network's gateway; papr-hv's backend answers each echo.
#[test]
fn ping_the_user_network_gateway() {
    let dir = TempDir::new("net");
    let run = boot(&dir.0, &["--net", "user"]);
    assert!(
        run.console
            .contains("virtio-test: ping 10.0.2.2 OK: 3 packets transmitted, 3 packets received"),
        "ping failed:\n{}",
        run.console
    );
    assert!(access_platform(&features(&run.console, "virtio_net")));
    let answered = run
        .log
        .lines()
        .filter(|l| l.contains("user net: ICMP echo reply"))
        .count();
    assert!(
        answered >= 3,
        "the host answered {answered} echoes:\n{}",
        run.log
    );
    assert!(run.log.contains("user net: ARP reply for the gateway"));
}
