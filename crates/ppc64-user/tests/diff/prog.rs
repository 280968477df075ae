//! Builds a test program: the runtime (state loader, state store + digest, signal
//! handler, output), one code group per case, and the data (state pool, masks,
//! per-execution records, memory area).
//!
//! Guest register conventions: r31 points at the context block (never written by tests);
//! everything else is loaded from the initial state before each execution. For each
//! execution the runtime loads the state (`bl load_*`), applies the fixups, runs the
//! case, stores the final state into the context block, mixes it (masked) and the memory
//! window into the group's digest, optionally copies it to the full-dump area, and loops.
//! At the end the program writes the digests, the memory area and the full dumps to
//! stdout.

#![allow(dead_code)]

use std::collections::HashMap;

use super::asm::*;
use super::generator::{Case, ExecCtx, ExecData, Fix, Rng};
use super::state::{self, Parts, State};

pub const TEXT: u64 = 0x0100_0000;
pub const DATA: u64 = 0x0400_0000;
pub const CTX: u64 = DATA;
pub const SIGMASK: u64 = DATA + 0x1000;
pub const ACT: u64 = DATA + 0x1800;
/// `stack_t` for sigaltstack.
pub const ALTSTACK: u64 = DATA + 0x1840;
pub const MEM: u64 = DATA + 0x10000;
pub const MEM_LEN: u64 = 0x10000;
pub const POOL: u64 = DATA + 0x20000;
pub const SIGSTACK_LEN: u64 = 0x10000;
/// Doublewords of the window copied per execution in full-dump mode.
pub const FULL_WIN: usize = 40;
/// Bytes per execution in full-dump mode.
pub const FULL_REC: usize = state::BYTES + FULL_WIN * 8;

// Context block offsets (from r31).
const CUR: i32 = 0x600;
const END: i32 = 0x608;
const STRIDE: i32 = 0x610;
const HASH: i32 = 0x618;
const NHASH: i32 = 0x620;
const WINLEN: i32 = 0x628;
const RESUME: i32 = 0x630;
const SIGNO: i32 = 0x638;
const FULL: i32 = 0x640;
const FOUTP: i32 = 0x648;
const CURG: i32 = 0x650;
/// Exit status base for a signal in a case that may not raise one (status = base + signal;
/// the group index is the last 8 bytes of stdout).
pub const UNEXPECTED_SIGNAL_EXIT: i32 = 100;

const SIGNALS: [u32; 5] = [4, 5, 7, 8, 11];

/// One execution of a group.
pub struct Exec {
    /// Pool index of the initial state.
    pub pool: usize,
    pub data: ExecData,
}

/// A case and its executions.
pub struct Group {
    pub case: Case,
    pub execs: Vec<Exec>,
    /// Address of the case's first word (set by `layout`).
    pub code: u64,
}

impl Group {
    /// The initial state of execution `k` with the fixups applied.
    pub fn initial(&self, pool: &[State], k: usize) -> State {
        let e = &self.execs[k];
        let mut s = pool[e.pool].clone();
        for (f, v) in self.all_fix().iter().zip(self.all_fix_values(e)) {
            match f {
                Fix::Gpr(r) => s.0[*r as usize] = v,
                Fix::Ctr => s.0[state::CTR] = v,
                Fix::Lr => s.0[state::LR] = v,
                Fix::Tar => {}
            }
        }
        s
    }

    /// The mask of execution `k`.
    pub fn mask(&self, k: usize) -> State {
        let mut m = State::ones();
        for &(w, bits) in self.case.mask.iter().chain(&self.execs[k].data.mask) {
            m.0[w] &= !bits;
        }
        m
    }

    fn all_fix(&self) -> Vec<Fix> {
        self.case.fix.clone()
    }

    fn all_fix_values(&self, e: &Exec) -> Vec<u64> {
        e.data.fix.clone()
    }
}

/// A whole test program.
pub struct Program {
    pub groups: Vec<Group>,
    pub pool: Vec<State>,
    pub mem_init: Vec<u8>,
    /// Where the bss (digests, signal stack, full dumps) starts.
    bss: u64,
}

struct Code {
    w: Vec<u32>,
}

impl Code {
    fn addr(&self) -> u64 {
        TEXT + 4 * self.w.len() as u64
    }
    fn push(&mut self, w: u32) {
        self.w.push(w);
    }
    fn extend(&mut self, w: &[u32]) {
        self.w.extend_from_slice(w);
    }
    fn load(&mut self, rt: u32, v: u64) {
        self.extend(&load_u31(rt, v));
    }
    /// Branch (and link) from here to `target`.
    fn bl_to(&mut self, target: u64) {
        let d = target as i64 - self.addr() as i64;
        self.push(bl(d as i32));
    }
    fn b_to(&mut self, target: u64) {
        let d = target as i64 - self.addr() as i64;
        self.push(b(d as i32));
    }
    fn bc_to(&mut self, bo: u32, bi: u32, target: u64) {
        let d = target as i64 - self.addr() as i64;
        assert!(
            (-0x8000..0x8000).contains(&d),
            "conditional branch out of range"
        );
        self.push(bc(bo, bi, d as i32));
    }
}

const BO_TRUE: u32 = 12;
const BO_FALSE: u32 = 4;
const CR0_EQ: u32 = 2;

struct Routines {
    handler: u64,
    load: [u64; 2],
    store: [u64; 2],
}

fn parts_idx(p: Parts) -> usize {
    match p {
        Parts::Int => 0,
        Parts::Full => 1,
    }
}

fn emit_runtime(c: &mut Code) -> Routines {
    // Signal handler: note the signal and resume at the case's epilogue.
    let handler = c.addr();
    c.push(std(3, SIGNO, 31));
    c.push(ld(0, RESUME, 31));
    c.push(cmpdi(0, 0, 0));
    c.push(bc(BO_TRUE, CR0_EQ, 12));
    c.push(mtctr(0));
    c.push(BCTR);
    // A signal where none may happen: report the group and exit.
    c.push(addi(30, 3, UNEXPECTED_SIGNAL_EXIT as i16));
    c.push(li(0, 4));
    c.push(li(3, 1));
    c.push(addi(4, 31, CURG as i16));
    c.push(li(5, 8));
    c.push(SC);
    c.push(li(0, 234));
    c.push(addi(3, 30, 0));
    c.push(SC);

    let mut load = [0; 2];
    let mut store = [0; 2];
    for parts in [Parts::Int, Parts::Full] {
        // ---- load ----
        load[parts_idx(parts)] = c.addr();
        c.push(ld(2, CUR, 31));
        c.push(ld(2, 0, 2));
        if parts == Parts::Full {
            c.push(lfd(0, (state::FPSCR * 8) as i32, 2));
            c.push(mtfsf_all(0));
            c.push(li(0, (state::VSCR * 8) as i16));
            c.push(lxvd2x(32, 2, 0));
            c.push(mtvscr(0));
            for i in 0..64u32 {
                c.push(li(0, ((state::VSR + 2 * i as usize) * 8) as i16));
                c.push(lxvd2x(i, 2, 0));
            }
        }
        c.push(ld(0, (state::CR * 8) as i32, 2));
        c.push(mtcrf_all(0));
        c.push(ld(0, (state::XER * 8) as i32, 2));
        c.push(mtxer(0));
        c.push(ld(0, (state::CTR * 8) as i32, 2));
        c.push(mtctr(0));
        for r in 1..31u32 {
            if r != 2 {
                c.push(ld(r, (8 * r) as i32, 2));
            }
        }
        c.push(BLR);

        // ---- store, digest, full dump, advance ----
        store[parts_idx(parts)] = c.addr();
        for r in 1..32u32 {
            c.push(std(r, (8 * r) as i32, 31));
        }
        c.push(mfcr(0));
        c.push(std(0, (state::CR * 8) as i32, 31));
        c.push(mfxer(0));
        c.push(std(0, (state::XER * 8) as i32, 31));
        c.push(mfctr(0));
        c.push(std(0, (state::CTR * 8) as i32, 31));
        c.push(ld(0, SIGNO, 31));
        c.push(std(0, (state::SIG * 8) as i32, 31));
        if parts == Parts::Full {
            for i in 0..64u32 {
                c.push(li(2, ((state::VSR + 2 * i as usize) * 8) as i16));
                c.push(stxvd2x(i, 31, 2));
            }
            c.push(mffs(0));
            c.push(stfd(0, (state::FPSCR * 8) as i32, 31));
            c.push(mfvscr(0));
            c.push(li(2, (state::VSCR * 8) as i16));
            c.push(stxvd2x(32, 31, 2));
        }
        c.push(mflr(29));
        c.push(ld(3, CUR, 31));
        c.push(ld(4, 8, 3)); // mask
        c.push(cmpdi(0, 0, 0));
        let skip = c.w.len();
        c.push(0); // beq 1f
        c.load(4, SIGMASK);
        c.push(li(0, 0));
        c.push(std(0, SIGNO, 31));
        let l1 = c.addr();
        c.w[skip] = bc(BO_TRUE, CR0_EQ, (l1 - (TEXT + 4 * skip as u64)) as i32);
        c.push(ld(5, NHASH, 31));
        c.push(mtctr(5));
        c.push(ld(6, HASH, 31));
        c.push(lis(7, 0x9E37));
        c.push(ori(7, 7, 0x79B1));
        c.push(addi(8, 31, -8));
        c.push(addi(4, 4, -8));
        let lh = c.addr();
        c.push(ldu(9, 8, 8));
        c.push(ldu(10, 8, 4));
        c.push(and(9, 9, 10));
        c.push(xor(6, 6, 9));
        c.push(mulld(6, 6, 7));
        c.push(rotldi(6, 6, 29));
        c.bc_to(16, 0, lh); // bdnz
        // memory window
        c.push(ld(8, 16, 3));
        c.push(cmpdi(0, 8, 0));
        let skip2 = c.w.len();
        c.push(0);
        c.push(ld(5, WINLEN, 31));
        c.push(mtctr(5));
        c.push(addi(8, 8, -8));
        let lw = c.addr();
        c.push(ldu(9, 8, 8));
        c.push(xor(6, 6, 9));
        c.push(mulld(6, 6, 7));
        c.push(rotldi(6, 6, 29));
        c.bc_to(16, 0, lw);
        let l2 = c.addr();
        c.w[skip2] = bc(BO_TRUE, CR0_EQ, (l2 - (TEXT + 4 * skip2 as u64)) as i32);
        c.push(std(6, HASH, 31));
        // full dump
        c.push(ld(5, FULL, 31));
        c.push(cmpdi(0, 5, 0));
        let skip3 = c.w.len();
        c.push(0);
        c.push(ld(8, FOUTP, 31));
        c.push(addi(8, 8, -8));
        c.push(li(5, state::WORDS as i16));
        c.push(mtctr(5));
        c.push(addi(9, 31, -8));
        let lc = c.addr();
        c.push(ldu(10, 8, 9));
        c.push(stdu(10, 8, 8));
        c.bc_to(16, 0, lc);
        c.push(li(5, FULL_WIN as i16));
        c.push(mtctr(5));
        c.push(ld(9, 16, 3));
        c.push(cmpdi(0, 9, 0));
        let skip4 = c.w.len();
        c.push(0);
        c.push(addi(9, 9, -8));
        let lw2 = c.addr();
        c.push(ldu(10, 8, 9));
        c.push(stdu(10, 8, 8));
        c.bc_to(16, 0, lw2);
        let skip5 = c.w.len();
        c.push(0);
        let l4 = c.addr();
        c.w[skip4] = bc(BO_TRUE, CR0_EQ, (l4 - (TEXT + 4 * skip4 as u64)) as i32);
        c.push(li(10, 0));
        let lz = c.addr();
        c.push(stdu(10, 8, 8));
        c.bc_to(16, 0, lz);
        let l5 = c.addr();
        c.w[skip5] = b((l5 - (TEXT + 4 * skip5 as u64)) as i32);
        c.push(addi(8, 8, 8));
        c.push(std(8, FOUTP, 31));
        let l3 = c.addr();
        c.w[skip3] = bc(BO_TRUE, CR0_EQ, (l3 - (TEXT + 4 * skip3 as u64)) as i32);
        // advance
        c.push(ld(5, STRIDE, 31));
        c.push(add(3, 3, 5));
        c.push(std(3, CUR, 31));
        c.push(ld(5, END, 31));
        c.push(cmpd(0, 3, 5));
        c.push(mtlr(29));
        c.push(BLR);
    }
    Routines {
        handler,
        load,
        store,
    }
}

fn syscall(c: &mut Code, nr: i16, args: &[u64]) {
    c.push(li(0, nr));
    for (i, a) in args.iter().enumerate() {
        if *a < 0x8000 {
            c.push(li(3 + i as u32, *a as i16));
        } else {
            c.load(3 + i as u32, *a);
        }
    }
    c.push(SC);
}

/// Data addresses of one layout.
#[derive(Clone, Copy, Default)]
struct Addrs {
    masks: u64,
    records: u64,
    fulltab: u64,
    out: u64,
    sigstack: u64,
    fullout: u64,
}

/// Per-group record placement.
struct RecInfo {
    start: u64,
    end: u64,
    stride: u64,
}

fn emit(groups: &mut [Group], a: &Addrs, recs: &[RecInfo]) -> Vec<u32> {
    let mut c = Code { w: Vec::new() };
    // _start
    c.load(31, CTX);
    c.load(3, a.fullout);
    c.push(std(3, FOUTP, 31));
    let rt_jump = c.w.len();
    c.push(0); // b over the runtime
    let r = emit_runtime(&mut c);
    let start2 = c.addr();
    c.w[rt_jump] = b((start2 - (TEXT + 4 * rt_jump as u64)) as i32);
    syscall(&mut c, 185, &[ALTSTACK, 0]);
    for s in SIGNALS {
        syscall(&mut c, 173, &[s as u64, ACT, 0, 8]);
    }
    for (gi, g) in groups.iter_mut().enumerate() {
        let ri = &recs[gi];
        let p = parts_idx(g.case.parts);
        c.load(3, gi as u64);
        c.push(std(3, CURG, 31));
        c.load(3, ri.start);
        c.push(std(3, CUR, 31));
        c.load(3, ri.end);
        c.push(std(3, END, 31));
        c.push(li(3, ri.stride as i16));
        c.push(std(3, STRIDE, 31));
        c.push(li(3, 0));
        c.push(std(3, HASH, 31));
        c.push(li(3, g.case.parts.words() as i16));
        c.push(std(3, NHASH, 31));
        c.push(li(3, g.case.win_dwords as i16));
        c.push(std(3, WINLEN, 31));
        c.load(3, a.fulltab + 8 * gi as u64);
        c.push(ld(3, 0, 3));
        c.push(std(3, FULL, 31));
        let resume_at = c.w.len();
        c.load(3, 0);
        c.push(std(3, RESUME, 31));
        let top = c.addr();
        c.bl_to(r.load[p]);
        let fix = g.all_fix();
        let has_lr = fix.contains(&Fix::Lr);
        for (i, f) in fix.iter().enumerate() {
            let off = 24 + 8 * i as i32;
            let spr = match f {
                Fix::Ctr => 9,
                Fix::Lr => 8,
                Fix::Tar => 815,
                Fix::Gpr(_) => continue,
            };
            c.push(ld(2, CUR, 31));
            c.push(ld(0, off, 2));
            c.push(mtspr(spr, 0));
        }
        c.push(ld(2, CUR, 31));
        c.push(ld(2, 0, 2));
        if !has_lr {
            c.push(ld(0, (state::LR * 8) as i32, 2));
            c.push(mtlr(0));
        }
        c.push(ld(0, 0, 2));
        c.push(ld(2, 16, 2));
        for (i, f) in fix.iter().enumerate() {
            if let Fix::Gpr(x) = f {
                assert!(*x != 0 && *x != 31, "bad fixup register r{x}");
                c.push(ld(*x, CUR, 31));
                c.push(ld(*x, 24 + 8 * i as i32, *x));
            }
        }
        g.code = c.addr();
        let mut words = g.case.words.clone();
        if let Some(p) = &g.case.patch {
            p(&mut words, g.code);
        }
        c.extend(&words);
        let after = c.addr();
        let ra = load_u31(3, if g.case.may_signal { after } else { 0 });
        c.w[resume_at] = ra[0];
        c.w[resume_at + 1] = ra[1];
        c.push(std(0, 0, 31));
        c.push(mflr(0));
        c.push(std(0, (state::LR * 8) as i32, 31));
        c.bl_to(r.store[p]);
        c.bc_to(BO_FALSE, CR0_EQ, top);
        c.load(3, a.out + 8 * gi as u64);
        c.push(ld(4, HASH, 31));
        c.push(std(4, 0, 3));
    }
    let n = groups.len() as u64;
    syscall(&mut c, 4, &[1, a.out, 8 * n]);
    syscall(&mut c, 4, &[1, MEM, MEM_LEN]);
    // write(1, fullout, FOUTP - fullout)
    c.push(li(0, 4));
    c.push(li(3, 1));
    c.load(4, a.fullout);
    c.push(ld(5, FOUTP, 31));
    c.push(xo(5, 4, 5, 0, 40, 0)); // subf r5,r4,r5
    c.push(SC);
    syscall(&mut c, 234, &[0]);
    // the signal handler address for `ACT`
    let _ = r.handler;
    HANDLER.with(|h| h.set(r.handler));
    c.w
}

thread_local! {
    static HANDLER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Program {
    /// Generates the executions of `cases` (`k` each) from `pool`, with `rng`.
    pub fn new(
        cases: Vec<Case>,
        k: usize,
        pool: Vec<State>,
        mem_init: Vec<u8>,
        rng: &mut Rng,
    ) -> Program {
        let mut groups: Vec<Group> = cases
            .into_iter()
            .map(|case| Group {
                case,
                execs: Vec::new(),
                code: 0,
            })
            .collect();
        // Pass 1: code addresses (data addresses do not change code size).
        let dummy: Vec<RecInfo> = groups
            .iter()
            .map(|_| RecInfo {
                start: 0,
                end: 0,
                stride: 0,
            })
            .collect();
        let _ = emit(&mut groups, &Addrs::default(), &dummy);
        // Executions.
        for g in groups.iter_mut() {
            for _ in 0..k {
                let pi = rng.below(pool.len() as u64) as usize;
                let data = match &g.case.exec {
                    Some(f) => {
                        let cx = ExecCtx {
                            code: g.code,
                            init: &pool[pi],
                            mem: MEM,
                            mem_len: MEM_LEN,
                        };
                        f(rng, &cx)
                    }
                    None => ExecData::default(),
                };
                assert_eq!(
                    data.fix.len(),
                    g.case.fix.len(),
                    "{}: fixup count",
                    g.case.text
                );
                g.execs.push(Exec { pool: pi, data });
            }
        }
        Program {
            groups,
            pool,
            mem_init,
            bss: 0,
        }
    }

    /// The ELF image; `full` selects the groups dumped in full.
    pub fn elf(&mut self, full: &[usize]) -> Vec<u8> {
        let mut data: Vec<u8> = vec![0; (POOL - DATA) as usize];
        // signal mask: only the signal number is compared
        let mut sm = State::zero();
        sm.0[state::SIG] = u64::MAX;
        let smo = (SIGMASK - DATA) as usize;
        data[smo..smo + state::BYTES].copy_from_slice(&sm.to_le_bytes(state::WORDS));
        let mo = (MEM - DATA) as usize;
        data[mo..mo + MEM_LEN as usize].copy_from_slice(&self.mem_init);
        for s in &self.pool {
            data.extend(s.to_le_bytes(state::WORDS));
        }
        // masks
        let mut a = Addrs {
            masks: DATA + data.len() as u64,
            ..Addrs::default()
        };
        let mut mask_ids: HashMap<Vec<u64>, u64> = HashMap::new();
        let mut mask_data = Vec::new();
        let mut exec_masks = Vec::new();
        for g in &self.groups {
            let mut v = Vec::new();
            for k in 0..g.execs.len() {
                let m = g.mask(k);
                let n = mask_ids.len() as u64;
                let id = *mask_ids.entry(m.0.clone()).or_insert_with(|| {
                    mask_data.extend(m.to_le_bytes(state::WORDS));
                    n
                });
                v.push(a.masks + id * state::BYTES as u64);
            }
            exec_masks.push(v);
        }
        data.extend(mask_data);
        a.records = DATA + data.len() as u64;
        let mut recs = Vec::new();
        let mut rec_data = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let nfix = g.all_fix().len() as u64;
            let stride = 24 + 8 * nfix;
            let start = a.records + rec_data.len() as u64;
            for (k, e) in g.execs.iter().enumerate() {
                let sp = POOL + (e.pool * state::BYTES) as u64;
                rec_data.extend(sp.to_le_bytes());
                rec_data.extend(exec_masks[gi][k].to_le_bytes());
                rec_data.extend(e.data.win.to_le_bytes());
                for v in g.all_fix_values(e) {
                    rec_data.extend(v.to_le_bytes());
                }
            }
            let end = a.records + rec_data.len() as u64;
            recs.push(RecInfo { start, end, stride });
        }
        data.extend(rec_data);
        a.fulltab = DATA + data.len() as u64;
        for gi in 0..self.groups.len() {
            data.extend((full.contains(&gi) as u64).to_le_bytes());
        }
        while !data.len().is_multiple_of(16) {
            data.push(0);
        }
        a.out = DATA + data.len() as u64;
        a.sigstack = (a.out + 8 * self.groups.len() as u64 + 0xFFFF) & !0xFFFF;
        a.fullout = a.sigstack + SIGSTACK_LEN;
        self.bss = a.out;
        let full_bytes: usize = full
            .iter()
            .map(|&g| self.groups[g].execs.len() * FULL_REC)
            .sum();
        let bss = a.fullout + full_bytes as u64 + 16 - a.out;
        let mut text = emit(&mut self.groups, &a, &recs);
        let _ = &mut text;
        // Rewrite the records now that the signal stack address is known.
        let ro = (a.records - DATA) as usize;
        let mut off = ro;
        for (gi, g) in self.groups.iter().enumerate() {
            for (k, e) in g.execs.iter().enumerate() {
                let sp = POOL + (e.pool * state::BYTES) as u64;
                let mut rec = Vec::new();
                rec.extend(sp.to_le_bytes());
                rec.extend(exec_masks[gi][k].to_le_bytes());
                rec.extend(e.data.win.to_le_bytes());
                for v in g.all_fix_values(e) {
                    rec.extend(v.to_le_bytes());
                }
                data[off..off + rec.len()].copy_from_slice(&rec);
                off += rec.len();
            }
        }
        // sigaction structure: handler, SA_NODEFER, restorer, mask
        let ao = (ACT - DATA) as usize;
        let h = HANDLER.with(|h| h.get());
        data[ao..ao + 8].copy_from_slice(&h.to_le_bytes());
        // SA_NODEFER | SA_ONSTACK
        data[ao + 8..ao + 16].copy_from_slice(&0x4800_0000u64.to_le_bytes());
        let so = (ALTSTACK - DATA) as usize;
        data[so..so + 8].copy_from_slice(&a.sigstack.to_le_bytes());
        data[so + 16..so + 24].copy_from_slice(&SIGSTACK_LEN.to_le_bytes());
        let tb: Vec<u8> = text.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert!(tb.len() < 0x00F0_0000, "text too large");
        super::elf::build(TEXT, TEXT, &tb, DATA, &data, bss)
    }

    /// Splits a run's stdout into (digests, memory area, full dumps).
    pub fn parse<'a>(&self, out: &'a [u8]) -> Option<(Vec<u64>, &'a [u8], &'a [u8])> {
        let n = self.groups.len() * 8;
        if out.len() < n + MEM_LEN as usize {
            return None;
        }
        let d = out[..n]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Some((
            d,
            &out[n..n + MEM_LEN as usize],
            &out[n + MEM_LEN as usize..],
        ))
    }

    /// Which group's code contains `pc`, if any.
    pub fn group_at(&self, pc: u64) -> Option<usize> {
        let mut best = None;
        for (i, g) in self.groups.iter().enumerate() {
            if g.code != 0 && g.code <= pc {
                best = Some(i);
            }
        }
        best
    }
}
