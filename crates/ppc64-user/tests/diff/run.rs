//! Runs a test program on our CPU and under qemu-ppc64le, compares the digests and the
//! memory area, and explains mismatches by re-running the failing groups with full
//! state dumps.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::prog::{self, FULL_REC, FULL_WIN, Program};
use super::state::{self, State};

fn timeout() -> Duration {
    Duration::from_secs(
        std::env::var("PPC64_DIFF_timeout()")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    )
}

/// Output of one run.
pub struct Run {
    pub ok: bool,
    pub status: String,
    pub stdout: Vec<u8>,
    pub pc: Option<u64>,
    pub secs: f64,
}

/// Panics with an actionable message if qemu-ppc64le is not installed.
pub fn require_qemu() {
    match Command::new("qemu-ppc64le").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "qemu-ppc64le is required by the differential tests but was not found in PATH \
             (Debian/Ubuntu: apt-get install qemu-user)"
        ),
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

pub fn run_qemu(elf: &[u8]) -> Run {
    let path = std::env::temp_dir().join(format!(
        "ppc64-diff-{}-{}.elf",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, elf).expect("write temporary ELF");
    {
        use std::os::unix::fs::PermissionsExt;
        // qemu-user refuses (silently, exit status 1) files without execute permission.
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
    }
    let t0 = Instant::now();
    let mut child = Command::new("qemu-ppc64le")
        .arg("-cpu")
        .arg("power9")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qemu-ppc64le");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait qemu") {
            break Some(s);
        }
        if t0.elapsed() > timeout() {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = reader.join().unwrap_or_default();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = std::fs::remove_file(&path);
    let secs = t0.elapsed().as_secs_f64();
    match status {
        Some(s) if s.success() => Run {
            ok: true,
            status: "exit 0".into(),
            stdout,
            pc: None,
            secs,
        },
        Some(s) => Run {
            ok: false,
            status: format!("{s} {err}").trim_end().to_string(),
            stdout,
            pc: None,
            secs,
        },
        None => Run {
            ok: false,
            status: "timed out".into(),
            stdout,
            pc: None,
            secs,
        },
    }
}

pub fn run_ours(elf: &[u8]) -> Run {
    let t0 = Instant::now();
    let opts = ppc64_user::Options {
        timeout: Some(timeout()),
        ..ppc64_user::Options::default()
    };
    let r = ppc64_user::run_elf(elf, &["difftest"], opts);
    let secs = t0.elapsed().as_secs_f64();
    match r {
        Ok(o) => match o.status {
            ppc64_user::Status::Exited(0) => Run {
                ok: true,
                status: "exit 0".into(),
                stdout: o.stdout,
                pc: None,
                secs,
            },
            ppc64_user::Status::Signaled { signal, pc } => Run {
                ok: false,
                status: format!("killed by signal {signal} at {pc:#x}"),
                stdout: o.stdout,
                pc: Some(pc),
                secs,
            },
            s => Run {
                ok: false,
                status: format!("{s:?}"),
                stdout: o.stdout,
                pc: None,
                secs,
            },
        },
        Err(e) => Run {
            ok: false,
            status: format!("error: {e}"),
            stdout: Vec::new(),
            pc: None,
            secs,
        },
    }
}

/// Runs both in parallel.
pub fn run_both(elf: &[u8]) -> (Run, Run) {
    std::thread::scope(|s| {
        let q = s.spawn(|| run_qemu(elf));
        let o = run_ours(elf);
        (o, q.join().expect("qemu thread"))
    })
}

/// Statistics of a checked program.
#[derive(Default, Debug, Clone, Copy)]
pub struct Stats {
    pub groups: usize,
    pub executions: usize,
    pub instructions: usize,
    pub ours_secs: f64,
    pub qemu_secs: f64,
}

fn hex_words(w: &[u32]) -> String {
    w.iter()
        .map(|x| format!("{x:08x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks `p`; returns the statistics and a list of failure reports.
pub fn check(p: &mut Program, label: &str) -> (Stats, Vec<String>) {
    let elf = p.elf(&[]);
    maybe_save(&elf, label);
    let (o, q) = run_both(&elf);
    let mut st = Stats {
        groups: p.groups.len(),
        ours_secs: o.secs,
        qemu_secs: q.secs,
        ..Stats::default()
    };
    for g in &p.groups {
        st.executions += g.execs.len();
        st.instructions += g.execs.len() * g.case.words.len();
    }
    let mut fails = Vec::new();
    let unexpected = |r: &Run| -> String {
        if r.ok || r.stdout.len() < 8 {
            return String::new();
        }
        let t = &r.stdout[r.stdout.len() - 8..];
        let g = u64::from_le_bytes(t.try_into().unwrap()) as usize;
        match p.groups.get(g) {
            Some(gr)
                if r.status
                    .contains(&format!("{}", prog::UNEXPECTED_SIGNAL_EXIT)[..2]) =>
            {
                format!(
                    " [unexpected signal in group {g}: `{}` {}]",
                    gr.case.text,
                    hex_words(&gr.case.words)
                )
            }
            _ => String::new(),
        }
    };
    if !o.ok || !q.ok {
        fails.push(format!(
            "{label}: ours: {}{}; qemu: {}{}",
            o.status,
            unexpected(&o),
            q.status,
            unexpected(&q)
        ));
        let at =
            o.pc.and_then(|pc| p.group_at(pc))
                .map(|g| format!(" (in group {g}: {})", p.groups[g].case.text));
        fails.push(format!(
            "{label}: program did not complete: ours: {}{}; qemu: {}",
            o.status,
            at.unwrap_or_default(),
            q.status
        ));
        return (st, fails);
    }
    let (Some((od, om, _)), Some((qd, qm, _))) = (p.parse(&o.stdout), p.parse(&q.stdout)) else {
        fails.push(format!(
            "{label}: short output (ours {} bytes, qemu {} bytes)",
            o.stdout.len(),
            q.stdout.len()
        ));
        return (st, fails);
    };
    let bad: Vec<usize> = (0..p.groups.len()).filter(|&i| od[i] != qd[i]).collect();
    if om != qm {
        let offs: Vec<usize> = (0..om.len()).filter(|&i| om[i] != qm[i]).collect();
        let mut who = Vec::new();
        for (gi, g) in p.groups.iter().enumerate() {
            for e in &g.execs {
                let w = e.data.win;
                for &off in offs.iter().take(64) {
                    let a = prog::MEM + off as u64;
                    if w != 0
                        && a >= w
                        && a < w + 8 * g.case.win_dwords.max(2) as u64
                        && !who.contains(&gi)
                    {
                        who.push(gi);
                    }
                }
            }
        }
        fails.push(format!(
            "{label}: memory area differs at {} bytes, first offsets {:x?}; groups whose windows cover them: {:?}",
            offs.len(),
            &offs[..offs.len().min(16)],
            who.iter().map(|&g| p.groups[g].case.text.clone()).collect::<Vec<_>>()
        ));
    }
    if bad.is_empty() {
        return (st, fails);
    }
    let show: Vec<usize> = bad.iter().copied().take(6).collect();
    let felf = p.elf(&show);
    let (fo, fq) = run_both(&felf);
    let (Some((_, _, ofull)), Some((_, _, qfull))) = (p.parse(&fo.stdout), p.parse(&fq.stdout))
    else {
        fails.push(format!(
            "{label}: {} groups differ; the full-dump rerun failed ({}, {})",
            bad.len(),
            fo.status,
            fq.status
        ));
        return (st, fails);
    };
    let mut off = 0;
    for &gi in &show {
        let g = &p.groups[gi];
        let mut rep = format!(
            "{label}: group {gi}: `{}` [{}] differs",
            g.case.text,
            hex_words(&g.case.words)
        );
        let mut shown = 0;
        for k in 0..g.execs.len() {
            let (a, b) = (off, off + FULL_REC);
            off += FULL_REC;
            if b > ofull.len() || b > qfull.len() {
                rep.push_str("\n  (full dump truncated)");
                break;
            }
            let so = State::from_le_bytes(&ofull[a..a + state::BYTES]);
            let sq = State::from_le_bytes(&qfull[a..a + state::BYTES]);
            let mut mask = g.mask(k);
            if so.0[state::SIG] != 0 || sq.0[state::SIG] != 0 {
                mask = State::zero();
                mask.0[state::SIG] = u64::MAX;
            }
            let d = state::diff(&so, &sq, &mask, g.case.parts);
            let wo = &ofull[a + state::BYTES..b];
            let wq = &qfull[a + state::BYTES..b];
            let wdiff =
                wo[..8 * g.case.win_dwords as usize] != wq[..8 * g.case.win_dwords as usize];
            if d.is_empty() && !wdiff {
                continue;
            }
            shown += 1;
            if shown > 2 {
                continue;
            }
            let init = g.initial(&p.pool, k);
            rep.push_str(&format!(
                "\n  execution {k}: initial state:\n{}  final (ours):\n{}  final (qemu):\n{}  differences:\n    {}",
                indent(&state::show(&init, g.case.parts)),
                indent(&state::show(&so, g.case.parts)),
                indent(&state::show(&sq, g.case.parts)),
                d.join("\n    ")
            ));
            if wdiff {
                rep.push_str(&format!(
                    "\n    memory window at {:#x}: ours {:02x?}\n                          qemu {:02x?}",
                    g.execs[k].data.win,
                    &wo[..8 * g.case.win_dwords as usize],
                    &wq[..8 * g.case.win_dwords as usize]
                ));
            }
        }
        if shown == 0 {
            rep.push_str("\n  (no differing execution found in the full dump: nondeterminism?)");
        }
        let _ = FULL_WIN;
        fails.push(rep);
    }
    if bad.len() > show.len() {
        let rest: Vec<String> = bad[show.len()..]
            .iter()
            .map(|&g| p.groups[g].case.text.clone())
            .collect();
        fails.push(format!(
            "{label}: {} more groups differ: {:?}",
            rest.len(),
            rest
        ));
    }
    (st, fails)
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

/// Saves `elf` to `$PPC64_DIFF_SAVE/<name>.elf` if that variable is set (for debugging).
pub fn maybe_save(elf: &[u8], name: &str) {
    if let Ok(dir) = std::env::var("PPC64_DIFF_SAVE") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(std::path::Path::new(&dir).join(format!("{name}.elf")), elf);
    }
}
