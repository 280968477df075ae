//! Building the bare-metal guest programs of `tests/guest/` with the ppc64le cross
//! toolchain. Shared by `papr-hv bench irq` and the integration tests (which include this
//! file with `#[path]`), so the programs are built one way everywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Prefix of the cross tools (Debian: gcc-powerpc64le-linux-gnu, binutils-powerpc64le-linux-gnu).
pub const CROSS: &str = "powerpc64le-linux-gnu-";

/// Compiler flags: freestanding, position-independent, no floating point or vector code
/// (the programs run in real mode with those facilities off).
pub const CFLAGS: &[&str] = &[
    "-mcpu=power9",
    "-mlittle-endian",
    "-mabi=elfv2",
    "-O2",
    "-ffreestanding",
    "-nostdlib",
    "-fno-builtin",
    "-fPIE",
    "-mcmodel=medium",
    "-fno-stack-protector",
    "-fvisibility=hidden",
    "-msoft-float",
    "-mno-altivec",
    "-mno-vsx",
    "-fno-asynchronous-unwind-tables",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Werror",
    "-Wa,-mregnames",
];

/// The cross tool `name` (`gcc`, `ld`, `readelf`).
pub fn tool(name: &str) -> String {
    format!("{CROSS}{name}")
}

/// Whether `cmd --version` runs.
pub fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cross tools that are missing, with the Debian packages to install, or `Ok`.
pub fn check_toolchain() -> Result<(), String> {
    let missing: Vec<String> = ["gcc", "ld", "readelf"]
        .iter()
        .map(|t| tool(t))
        .filter(|t| !have(t))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the guest programs need the ppc64le cross toolchain ({} not found; Debian: \
             apt-get install gcc-powerpc64le-linux-gnu binutils-powerpc64le-linux-gnu)",
            missing.join(", ")
        ))
    }
}

/// Runs a tool; its output goes into the error when it fails.
pub fn run_tool(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Compiles `sources` (files in `src`, which also holds `link.ld`) into `out/<name>.elf`
/// and checks that the image needs no relocation (the programs run where they are loaded,
/// without a loader, so they must be purely PC/TOC-relative).
pub fn build(src: &Path, sources: &[&str], out: &Path, name: &str) -> Result<PathBuf, String> {
    check_toolchain()?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut objs = Vec::new();
    for file in sources {
        let o = out.join(format!("{name}-{file}.o"));
        run_tool(
            Command::new(tool("gcc"))
                .args(CFLAGS)
                .arg("-c")
                .arg(src.join(file))
                .arg("-o")
                .arg(&o),
        )?;
        objs.push(o);
    }
    let elf = out.join(format!("{name}.elf"));
    run_tool(
        Command::new(tool("ld"))
            .args([
                "-pie",
                "--no-dynamic-linker",
                "--no-warn-rwx-segments",
                "-T",
            ])
            .arg(src.join("link.ld"))
            .arg("-o")
            .arg(&elf)
            .args(&objs),
    )?;
    let r = Command::new(tool("readelf"))
        .arg("-r")
        .arg(&elf)
        .output()
        .map_err(|e| format!("cannot run readelf: {e}"))?;
    let text = String::from_utf8_lossy(&r.stdout);
    if !text.contains("There are no relocations") {
        return Err(format!(
            "{name}.elf has relocations; the guest programs must be purely PC/TOC-relative:\n{text}"
        ));
    }
    Ok(elf)
}
