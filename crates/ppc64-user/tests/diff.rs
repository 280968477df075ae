//! Differential tests: generated ppc64le programs run on our CPU (through `ppc64-user`)
//! and under `qemu-ppc64le`, comparing the architected state after every execution of
//! every case.
//!
//! Environment: `PPC64_DIFF_SEED` (decimal or 0x-hex) changes the seed;
//! `PPC64_DIFF_SCALE` (a float, default 1) scales the number of groups.

mod diff {
    pub mod asm;
    pub mod elf;
    pub mod gen_fpvec;
    pub mod gen_int;
    pub mod generator;
    pub mod prog;
    pub mod run;
    pub mod state;
}

use diff::{asm, gen_fpvec, gen_int, generator, prog, run, state};

use std::collections::{BTreeMap, BTreeSet};

use generator::{Case, Entry, Expect, Rng};
use state::{Parts, State};

/// Places where QEMU 7.2 deviates from the ISA, masked in the comparison: (what, the ISA
/// section that decides it). Results the ISA leaves undefined are masked where the
/// generator builds the case (see the comments there); they are not listed here.
pub const QEMU_DEVIATIONS: &[(&str, &str)] = &[
    (
        "mtvscr: QEMU 7.2 keeps all 32 bits of the word written to VSCR; only NJ and SAT exist \
         (other bits read 0 on POWER9, reserved in the ISA). mtvscr/mfvscr compare NJ and SAT only",
        "Power ISA 3.0B Book I, Vector Facility: Vector Status and Control Register (only NJ and SAT are defined)",
    ),
    (
        "VRSAVE: QEMU 7.2 stores and returns all 64 bits of the GPR; the register is 32 bits \
         (mfspr zero-extends). The high word of mfspr VRSAVE results is masked",
        "Power ISA 3.0B Book I, Vector Facility: VR Save Register (a 32-bit register); Book I/III mfspr (32-bit SPRs are zero-extended into RT)",
    ),
    (
        "lqarx/stqcx. in little-endian mode: QEMU 7.2's stqcx. fails even right after an lqarx \
         of the same address (CR0[EQ]=0, nothing stored); only the different-address pair is \
         compared, the same-address pair runs on our CPU alone",
        "Power ISA 3.0B Book II, Load and Reserve / Store Conditional instructions: stqcx. (the store is performed when a reservation exists for the same address)",
    ),
    (
        "icbt and dcbf L=3 (dcbflp): QEMU 7.2 raises SIGILL for these hints; checked on our CPU \
         alone (no effect, no signal)",
        "Power ISA 3.0B Book II, Cache Management Instructions: icbt and dcbf (L=3, dcbflp) are defined hints",
    ),
    (
        "divde[o][.]: QEMU 7.2 misses the overflow when the quotient does not fit in 64 bits \
         but its magnitude is below 2^64 (OV/OV32/SO stay 0); XER[SO,OV,OV32] and CR0[SO] are \
         masked in those executions (RT is undefined anyway)",
        "Power ISA 3.0B Book I, Fixed-Point Arithmetic Instructions: divde[o] (OV=1 when the quotient cannot be represented in 64 bits)",
    ),
    (
        "alignment interrupts (lmw/stmw/lswi/lswx/stswi/stswx in LE mode, misaligned lq/stq, \
     misaligned larx/stcx.): qemu-ppc64le 7.2 aborts ('Unknown exception 0x5') instead of \
     delivering SIGBUS; these cases run on our CPU alone (test `alignment_cases_raise_sigbus`)",
        "Power ISA 3.0B Book III, Alignment Interrupt (raised by lmw/stmw/string forms in little-endian mode and by misaligned lq/stq/larx/stcx.); Linux delivers SIGBUS",
    ),
];

/// Decoder families that have no generator entry on purpose: (family key, reason).
const EXCLUDED: &[(&str, &str)] = &[
    (
        "17/2",
        "sc: system calls are the test runtime's own exit path",
    ),
    (
        "17/1",
        "scv: needs FSCR[SCV], a kernel-controlled facility; not a user instruction to test here",
    ),
    ("31/83", "mfmsr: privileged"),
    ("31/146", "mtmsr: privileged"),
    ("31/178", "mtmsrd: privileged"),
    ("19/18", "rfid: privileged"),
    ("19/82", "rfscv: privileged"),
    ("19/274", "hrfid: hypervisor"),
    ("19/370", "stop: hypervisor"),
    ("31/306", "tlbie: privileged"),
    ("31/274", "tlbiel: privileged"),
    ("31/498", "slbia: privileged"),
    ("31/566", "tlbsync: privileged"),
    ("31/470", "dcbi: privileged"),
    ("31/434", "slbie: privileged"),
    ("31/402", "slbmte: privileged"),
    ("31/338", "slbsync: privileged"),
    ("31/915", "slbmfee: privileged"),
    ("31/851", "slbmfev: privileged"),
    ("31/142", "msgsndp: privileged"),
    ("31/174", "msgclrp: privileged"),
    ("31/466", "slbieg: hypervisor"),
    ("31/850", "slbiag: hypervisor"),
    ("31/206", "msgsnd: hypervisor"),
    ("31/238", "msgclr: hypervisor"),
    ("31/886", "msgsync: hypervisor"),
    ("31/789", "lwzcix: hypervisor"),
    ("31/821", "lhzcix: hypervisor"),
    ("31/853", "lbzcix: hypervisor"),
    ("31/885", "ldcix: hypervisor"),
    ("31/917", "stwcix: hypervisor"),
    ("31/949", "sthcix: hypervisor"),
    ("31/981", "stbcix: hypervisor"),
    ("31/1013", "stdcix: hypervisor"),
    (
        "31/30",
        "wait: qemu-ppc64le 7.2 aborts on it ('Unknown exception 0x5': its halt request has no user-mode handler); ours treats it as a no-op",
    ),
    ("31/62", "wait (pre-3.0 encoding): as above"),
];

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        v.parse().ok()
    }
}

fn seed() -> u64 {
    env_u64("PPC64_DIFF_SEED").unwrap_or(0x00C0_FFEE_2026)
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("PPC64_DIFF_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * s).ceil().max(1.0) as usize
}

/// Interesting doubles (bit patterns) for the FP part of the pool.
const DOUBLES: &[u64] = &[
    0,
    0x8000_0000_0000_0000,
    0x3FF0_0000_0000_0000,
    0xBFF0_0000_0000_0000,
    0x7FF0_0000_0000_0000,
    0xFFF0_0000_0000_0000,
    0x7FF8_0000_0000_0000,
    0x7FF4_0000_0000_0000,
    0x0000_0000_0000_0001,
    0x000F_FFFF_FFFF_FFFF,
    0x0010_0000_0000_0000,
    0x7FEF_FFFF_FFFF_FFFF,
    0x4000_0000_0000_0000,
    0x3FE0_0000_0000_0000,
    0x4330_0000_0000_0000,
    0x47EF_FFFF_E000_0000,
    0x3810_0000_0000_0000,
];

fn pool(r: &mut Rng, n: usize) -> Vec<State> {
    (0..n)
        .map(|_| {
            let mut s = State::zero();
            for i in 0..32 {
                s.0[i] = generator::value(r);
            }
            s.0[31] = 0;
            s.0[state::CR] = r.next_u64() as u32 as u64;
            s.0[state::XER] = r.next_u64() & 0xE00C_007F;
            s.0[state::LR] = generator::value(r);
            s.0[state::CTR] = generator::value(r);
            s.0[state::FPSCR] = r.below(4);
            s.set_vscr(if r.chance(1, 2) { 0x0001_0000 } else { 0 } | r.bits(1));
            for i in 0..64 {
                let hi = if r.chance(1, 2) {
                    r.pick(DOUBLES)
                } else {
                    r.next_u64()
                };
                let lo = if r.chance(1, 2) {
                    r.pick(DOUBLES)
                } else {
                    r.next_u64()
                };
                s.set_vsr(i, ((hi as u128) << 64) | lo as u128);
            }
            s
        })
        .collect()
}

fn mem_init(r: &mut Rng) -> Vec<u8> {
    (0..prog::MEM_LEN).map(|_| r.next_u64() as u8).collect()
}

/// Builds programs of at most `per_prog` groups from `cases`, checks them, and panics with
/// the collected reports on any mismatch.
fn check_cases(
    label: &str,
    cases: Vec<Case>,
    k: usize,
    per_prog: usize,
    rng: &mut Rng,
) -> run::Stats {
    let pool_states = pool(rng, 512);
    let mem = mem_init(rng);
    let mut total = run::Stats::default();
    let mut fails = Vec::new();
    let mut cases = cases;
    let mut part = 0;
    while !cases.is_empty() {
        let rest = cases.split_off(cases.len().min(per_prog));
        let chunk = std::mem::replace(&mut cases, rest);
        let mut p = prog::Program::new(chunk, k, pool_states.clone(), mem.clone(), rng);
        let (st, f) = run::check(&mut p, &format!("{label}#{part}"));
        total.groups += st.groups;
        total.executions += st.executions;
        total.instructions += st.instructions;
        total.ours_secs += st.ours_secs;
        total.qemu_secs += st.qemu_secs;
        fails.extend(f);
        part += 1;
    }
    println!(
        "{label}: seed {:#x}: {} groups, {} executions, {} instruction executions; ours {:.2}s, qemu {:.2}s",
        seed(),
        total.groups,
        total.executions,
        total.instructions,
        total.ours_secs,
        total.qemu_secs
    );
    if !fails.is_empty() {
        panic!(
            "{} mismatch report(s) (seed {:#x}; set PPC64_DIFF_SEED to reproduce):\n\n{}",
            fails.len(),
            seed(),
            fails.join("\n\n")
        );
    }
    total
}

fn all_entries() -> Vec<Entry> {
    let mut v = gen_int::entries();
    v.extend(gen_int::sigbus_entries());
    v.extend(gen_int::ours_only_entries().into_iter().map(|(e, _)| e));
    v.extend(gen_fpvec::entries());
    v
}

/// One group per entry and round, `rounds` rounds.
fn entry_cases(entries: &[Entry], rounds: usize, rng: &mut Rng) -> Vec<Case> {
    let mut v = Vec::new();
    for _ in 0..rounds {
        for e in entries {
            v.push((e.make)(rng));
        }
    }
    v
}

#[test]
fn diff_integer_single() {
    run::require_qemu();
    let mut rng = Rng::new(seed() ^ 1);
    let entries = gen_int::entries();
    let cases = entry_cases(&entries, scale(20), &mut rng);
    let st = check_cases("integer", cases, 48, 800, &mut rng);
    assert!(st.executions > 0);
}

/// Random short sequences of the plain register-to-register instructions.
fn sequences(entries: &[Entry], n: usize, rng: &mut Rng) -> Vec<Case> {
    let seq: Vec<&Entry> = entries.iter().filter(|e| e.seq).collect();
    (0..n)
        .map(|_| {
            let len = 4 + rng.below(13) as usize;
            let mut words = Vec::new();
            let mut text = Vec::new();
            let mut parts = Parts::Int;
            for _ in 0..len {
                let e = seq[rng.below(seq.len() as u64) as usize];
                let c = (e.make)(rng);
                assert!(
                    c.fix.is_empty() && c.exec.is_none() && c.mask.is_empty() && !c.may_signal,
                    "{}: not a sequence step",
                    e.name
                );
                if c.parts == Parts::Full {
                    parts = Parts::Full;
                }
                words.extend(c.words);
                text.push(c.text);
            }
            Case::plain(words, text.join("; ")).with_parts(parts)
        })
        .collect()
}

/// Loads and stores a memory sequence may use: (primary opcode, DS-form XO or None, size,
/// is a store, mnemonic).
const SEQ_MEM: &[(u32, Option<u32>, u32, bool, &str)] = &[
    (34, None, 1, false, "lbz"),
    (40, None, 2, false, "lhz"),
    (42, None, 2, false, "lha"),
    (32, None, 4, false, "lwz"),
    (58, Some(2), 4, false, "lwa"),
    (58, Some(0), 8, false, "ld"),
    (38, None, 1, true, "stb"),
    (44, None, 2, true, "sth"),
    (36, None, 4, true, "stw"),
    (62, Some(0), 8, true, "std"),
];

/// Random sequences mixing register instructions with loads and stores through r30, which
/// points into the memory area (a different place in each execution) and which no other
/// step of the sequence writes. The 272 bytes around r30 are compared after each
/// execution.
fn mem_sequences(entries: &[Entry], n: usize, rng: &mut Rng) -> Vec<Case> {
    let seq: Vec<&Entry> = entries.iter().filter(|e| e.seq).collect();
    let touches_r30 = |w: u32| (w >> 21) & 31 == 30 || (w >> 16) & 31 == 30;
    (0..n)
        .map(|_| {
            let len = 4 + rng.below(13) as usize;
            let mut words = Vec::new();
            let mut text = Vec::new();
            let mut parts = Parts::Int;
            while words.len() < len {
                if rng.chance(2, 5) {
                    let (op, ds, size, store, name) =
                        SEQ_MEM[rng.below(SEQ_MEM.len() as u64) as usize];
                    let rt = generator::gpr_not(rng, false, &[30]);
                    let disp = (rng.range(-128, 128) as i32) & !(size as i32 - 1);
                    let w = match ds {
                        Some(x) => asm::ds(op, rt, 30, disp & !3, x),
                        None => asm::d(op, rt, 30, disp as u32),
                    };
                    let _ = store;
                    words.push(w);
                    text.push(format!("{name} r{rt},{disp}(r30)"));
                } else {
                    let e = seq[rng.below(seq.len() as u64) as usize];
                    let c = (e.make)(rng);
                    if c.words.iter().any(|&w| touches_r30(w)) {
                        continue;
                    }
                    if c.parts == Parts::Full {
                        parts = Parts::Full;
                    }
                    words.extend(c.words);
                    text.push(c.text);
                }
            }
            let mut c = Case::plain(words, text.join("; ")).with_parts(parts);
            c.fix.push(generator::Fix::Gpr(30));
            c.win_dwords = 34;
            c.exec = Some(Box::new(|r, cx| {
                let base = cx.mem + 4096 + r.below(cx.mem_len - 8192);
                generator::ExecData {
                    fix: vec![base],
                    win: (base - 136) & !7,
                    mask: Vec::new(),
                }
            }));
            c
        })
        .collect()
}

#[test]
fn diff_memory_sequences() {
    run::require_qemu();
    let mut rng = Rng::new(seed() ^ 6);
    let mut entries = gen_int::entries();
    if fpvec_runtime_decodes() {
        entries.extend(gen_fpvec::entries());
    }
    let cases = mem_sequences(&entries, scale(2000), &mut rng);
    let st = check_cases("memory-sequences", cases, 16, 300, &mut rng);
    assert!(st.instructions > 0);
}

#[test]
fn diff_integer_sequences() {
    run::require_qemu();
    let mut rng = Rng::new(seed() ^ 2);
    let entries = gen_int::entries();
    let cases = sequences(&entries, scale(4000), &mut rng);
    let st = check_cases("sequences", cases, 48, 800, &mut rng);
    assert!(st.instructions > 0);
    // The issue asks for at least a million compared instruction executions per CI run;
    // this test alone provides them at the default scale (the others add ~0.7 million).
    if std::env::var_os("PPC64_DIFF_SCALE").is_none() {
        assert!(
            st.instructions >= 1_000_000,
            "only {} instruction executions compared",
            st.instructions
        );
    }
}

/// Whether the CPU decodes what the test runtime needs for the full (FP/vector) state.
fn fpvec_runtime_decodes() -> bool {
    let illegal = ppc64::decode(0).0.f;
    [
        asm::lfd(0, 0, 2),
        asm::mtfsf_all(0),
        asm::mffs(0),
        asm::stfd(0, 0, 2),
        asm::lxvd2x(1, 2, 0),
        asm::stxvd2x(1, 2, 0),
        asm::mtvscr(0),
        asm::mfvscr(0),
    ]
    .iter()
    .all(|&w| !std::ptr::fn_addr_eq(ppc64::decode(w).0.f, illegal))
}

#[test]
fn diff_fpvec() {
    let entries = gen_fpvec::entries();
    if !fpvec_runtime_decodes() {
        println!(
            "SKIPPED diff_fpvec: the CPU does not decode the FP/VSX instructions the test runtime needs yet ({} FP/vector entries)",
            entries.len()
        );
        return;
    }
    if entries.is_empty() {
        println!(
            "SKIPPED diff_fpvec: no FP/vector generator entries yet (tests/diff/gen_fpvec.rs)"
        );
        return;
    }
    run::require_qemu();
    let mut rng = Rng::new(seed() ^ 3);
    let cases = entry_cases(&entries, scale(8), &mut rng);
    check_cases("fpvec", cases, 32, 300, &mut rng);
    let all = all_entries();
    let cases = sequences(&all, scale(400), &mut rng);
    check_cases("fpvec-sequences", cases, 32, 300, &mut rng);
}

/// The FP/vector half of the test runtime (loading and storing FPSCR, VSCR and the 64
/// VSRs) checked under QEMU alone: a `nop` case must end with the state it started with.
/// This keeps the runtime trustworthy for the FP/vector entries before our CPU runs them.
#[test]
fn full_state_runtime_roundtrip_under_qemu() {
    run::require_qemu();
    let mut rng = Rng::new(seed() ^ 5);
    let cases: Vec<Case> = (0..4)
        .map(|_| Case::plain(vec![asm::NOP], "nop".into()).with_parts(Parts::Full))
        .collect();
    let pool_states = pool(&mut rng, 64);
    let mem = mem_init(&mut rng);
    let mut p = prog::Program::new(cases, 8, pool_states, mem, &mut rng);
    let all: Vec<usize> = (0..p.groups.len()).collect();
    let elf = p.elf(&all);
    let q = run::run_qemu(&elf);
    assert!(q.ok, "qemu: {}", q.status);
    let (_, _, full) = p.parse(&q.stdout).expect("output");
    let mut off = 0;
    for g in &p.groups {
        for k in 0..g.execs.len() {
            let f = State::from_le_bytes(&full[off..off + state::BYTES]);
            off += prog::FULL_REC;
            let i = g.initial(&p.pool, k);
            let mut mask = State::ones();
            mask.0[31] = 0; // the runtime's context pointer
            let d = state::diff(&f, &i, &mask, Parts::Full);
            assert!(
                d.is_empty(),
                "state changed by a nop (left: final, right: initial):\n{}",
                d.join("\n")
            );
        }
    }
}

/// The decoder family of an instruction word (opcode plus the extended opcode that selects
/// the handler).
fn family_key(w: u32) -> String {
    let op = w >> 26;
    let xo10 = (w >> 1) & 0x3FF;
    match op {
        31 => {
            if (w >> 1) & 0x1F == 15 {
                return "31/isel".into();
            }
            let xo9s = (w >> 2) & 0x1FF;
            if xo9s == 413 || xo9s == 445 {
                return format!("31/xs{xo9s}");
            }
            if xo10 & 0xFF == 170 {
                return "31/addex".into();
            }
            format!("31/{xo10}")
        }
        19 => {
            if (w >> 1) & 0x1F == 2 {
                "19/addpcis".into()
            } else {
                format!("19/{xo10}")
            }
        }
        30 => {
            let x3 = (w >> 2) & 7;
            if x3 == 4 {
                format!("30/mds{}", (w >> 1) & 0xF)
            } else {
                format!("30/md{x3}")
            }
        }
        57 | 58 | 62 | 17 => format!("{op}/{}", w & 3),
        61 => format!("61/{}", w & 7),
        4 => {
            if w & 0x20 != 0 {
                format!("4/va{}", w & 0x3F)
            } else {
                format!("4/{}", w & 0x7FF)
            }
        }
        59 | 63 => {
            if w & 0x20 != 0 {
                format!("{op}/a{}", (w >> 1) & 0x1F)
            } else {
                format!("{op}/{xo10}")
            }
        }
        60 => format!("60/{}", (w >> 3) & 0xFF),
        _ => format!("{op}"),
    }
}

fn is_fpvec_family(key: &str) -> bool {
    let op: u32 = key.split('/').next().unwrap().parse().unwrap();
    if matches!(op, 48..=55 | 57 | 59 | 60 | 61 | 63) {
        return true;
    }
    if op == 4 {
        return !matches!(key, "4/va48" | "4/va49" | "4/va51");
    }
    if op == 31
        && let Some(x) = key.strip_prefix("31/").and_then(|x| x.parse::<u32>().ok())
    {
        const FPVEC31: &[u32] = &[
            535, 567, 599, 631, 663, 695, 727, 759, 855, 887, 983, 791, 919, 6, 38, 7, 39, 71, 103,
            359, 135, 167, 199, 231, 487, 12, 76, 524, 588, 844, 332, 780, 812, 876, 268, 300, 269,
            301, 364, 781, 813, 140, 652, 716, 972, 908, 940, 1004, 396, 397, 429, 909, 941, 51,
            115, 179, 211, 243, 307, 403, 435,
        ];
        return FPVEC31.contains(&x);
    }
    false
}

#[test]
fn generator_covers_decoder() {
    let illegal = ppc64::decode(0).0.f;
    let is_illegal = |w: u32| std::ptr::fn_addr_eq(ppc64::decode(w).0.f, illegal);
    // Families the decoder implements: every primary opcode with every value of bits
    // 21:31 and a few operand fillings.
    let mut rng = Rng::new(7);
    let mut decoded: BTreeMap<String, u32> = BTreeMap::new();
    for op in 0..64u32 {
        for ext in 0..2048u32 {
            for _ in 0..6 {
                let w = (op << 26) | (rng.bits(15) << 11) | ext;
                if !is_illegal(w) {
                    decoded.entry(family_key(w)).or_insert(w);
                }
            }
        }
    }
    // Families the generator produces; no generated word may be illegal.
    let mut generated: BTreeSet<String> = BTreeSet::new();
    let mut bad = Vec::new();
    for e in all_entries() {
        for _ in 0..300 {
            let c = (e.make)(&mut rng);
            for &w in &c.words {
                if is_illegal(w) {
                    bad.push(format!("{}: {w:08x} ({})", e.name, c.text));
                }
                generated.insert(family_key(w));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "generated words that decode as illegal:\n{}",
        bad.join("\n")
    );
    let excluded: BTreeMap<&str, &str> = EXCLUDED.iter().copied().collect();
    let mut missing_int = Vec::new();
    let mut missing_fpvec = Vec::new();
    let mut excluded_seen = Vec::new();
    for (k, w) in &decoded {
        if generated.contains(k) {
            continue;
        }
        if let Some(why) = excluded.get(k.as_str()) {
            excluded_seen.push(format!("{k} ({w:08x}): {why}"));
        } else if is_fpvec_family(k) {
            missing_fpvec.push(format!("{k} ({w:08x})"));
        } else {
            missing_int.push(format!("{k} ({w:08x})"));
        }
    }
    println!(
        "decoder families: {}, covered by the generator: {}",
        decoded.len(),
        decoded.keys().filter(|k| generated.contains(*k)).count()
    );
    println!(
        "excluded on purpose ({}):\n  {}",
        excluded_seen.len(),
        excluded_seen.join("\n  ")
    );
    println!(
        "FP/VMX/VSX families without a generator entry ({}):\n  {}",
        missing_fpvec.len(),
        missing_fpvec.join("\n  ")
    );
    assert!(
        missing_int.is_empty(),
        "non-privileged decoder families without a generator entry:\n  {}",
        missing_int.join("\n  ")
    );
}

/// Runs `entries` on our CPU alone with full dumps and checks every execution's final
/// state with its expectation.
fn ours_only(label: &str, entries: Vec<(Entry, Expect)>, rng: &mut Rng) -> usize {
    let mut cases = Vec::new();
    let mut expect = Vec::new();
    for _ in 0..scale(6) {
        for (e, f) in &entries {
            cases.push((e.make)(rng));
            expect.push(*f);
        }
    }
    let pool_states = pool(rng, 64);
    let mem = mem_init(rng);
    let mut p = prog::Program::new(cases, 8, pool_states, mem, rng);
    let all: Vec<usize> = (0..p.groups.len()).collect();
    let elf = p.elf(&all);
    let o = run::run_ours(&elf);
    assert!(o.ok, "{label}: program failed: {}", o.status);
    let (_, _, full) = p.parse(&o.stdout).expect("output");
    let mut off = 0;
    let mut n = 0;
    let mut bad = Vec::new();
    for (gi, g) in p.groups.iter().enumerate() {
        for k in 0..g.execs.len() {
            let s = State::from_le_bytes(&full[off..off + state::BYTES]);
            off += prog::FULL_REC;
            if let Err(e) = expect[gi](&g.initial(&p.pool, k), &s) {
                bad.push(format!("{} (execution {k}): {e}", g.case.text));
            }
            n += 1;
        }
    }
    assert!(bad.is_empty(), "{label}:\n{}", bad.join("\n"));
    n
}

/// The cases QEMU 7.2 cannot run or gets wrong (QEMU_DEVIATIONS), checked on our CPU
/// alone: alignment interrupts must deliver SIGBUS and change nothing; the others must
/// behave as the ISA says.
#[test]
fn ours_only_cases() {
    let mut rng = Rng::new(seed() ^ 4);
    fn sigbus(_: &State, f: &State) -> Result<(), String> {
        if f.0[state::SIG] == 7 {
            Ok(())
        } else {
            Err(format!("signal {} instead of SIGBUS", f.0[state::SIG]))
        }
    }
    let entries: Vec<(Entry, Expect)> = gen_int::sigbus_entries()
        .into_iter()
        .map(|e| (e, sigbus as fn(&State, &State) -> Result<(), String>))
        .collect();
    let n = ours_only("alignment", entries, &mut rng);
    let m = ours_only("qemu-deviations", gen_int::ours_only_entries(), &mut rng);
    println!(
        "ours-only: {n} alignment executions raised SIGBUS; {m} executions of QEMU-deviation cases behaved as the ISA says"
    );
}

/// Debugging aid: runs each entry alone under both and reports failures quickly.
#[test]
#[ignore]
fn debug_each_entry() {
    let mut rng = Rng::new(seed() ^ 1);
    for e in gen_int::entries() {
        let cases: Vec<Case> = (0..4).map(|_| (e.make)(&mut rng)).collect();
        let pool_states = pool(&mut rng, 64);
        let mem = mem_init(&mut rng);
        let mut p = prog::Program::new(cases, 16, pool_states, mem, &mut rng);
        let (_, f) = run::check(&mut p, e.name);
        if !f.is_empty() {
            println!("{}", f.join("\n"));
        }
    }
}
