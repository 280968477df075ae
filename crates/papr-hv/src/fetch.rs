//! Fetching the Debian installer guest with `apt-get download`.

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "debian-installer-12-netboot-ppc64el";
const IMAGE_DIR: &str = "usr/lib/debian-installer/images/12/ppc64el/text/debian-installer/ppc64el";

/// The default cache directory.
pub fn default_cache() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("papr-hv");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache/papr-hv");
    }
    PathBuf::from(".cache/papr-hv")
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{what} failed: {}", err.trim()));
    }
    Ok(())
}

/// Returns (vmlinux, initrd.gz), downloading and extracting the package on first use.
pub fn installer(cache: Option<PathBuf>) -> Result<(PathBuf, PathBuf), String> {
    let dir = cache
        .unwrap_or_else(default_cache)
        .join("debian-installer-12");
    let kernel = dir.join("vmlinux");
    let initrd = dir.join("initrd.gz");
    if kernel.is_file() && initrd.is_file() {
        return Ok((kernel, initrd));
    }
    // Work in a private directory and move the results into place with atomic renames, so
    // that concurrent fetches (parallel tests) neither collide nor see half-written files.
    let work = dir.join(format!("tmp-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let r = fetch_into(&work, &kernel, &initrd);
    let _ = std::fs::remove_dir_all(&work);
    r?;
    Ok((kernel, initrd))
}

fn fetch_into(work: &Path, kernel: &Path, initrd: &Path) -> Result<(), String> {
    eprintln!("papr-hv: downloading {PACKAGE} ...");
    run(
        Command::new("apt-get")
            .arg("download")
            .arg(PACKAGE)
            .current_dir(work),
        "apt-get download",
    )?;
    let deb = std::fs::read_dir(work)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PACKAGE) && n.ends_with(".deb"))
        })
        .ok_or("apt-get download produced no .deb")?;
    let x = work.join("x");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x),
        "dpkg-deb -x",
    )?;
    let src = x.join(IMAGE_DIR);
    // The initrd goes last: a present initrd means both files are in place.
    for (f, dst) in [("vmlinux", kernel), ("initrd.gz", initrd)] {
        std::fs::rename(src.join(f), dst).map_err(|e| format!("extracting {f}: {e}"))?;
    }
    Ok(())
}
