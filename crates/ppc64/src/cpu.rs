//! The vCPU: the interpreter loop, the cache of pre-decoded blocks, asynchronous
//! interrupts and idling.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::core::{Core, Exit, Fault, Flow, JC_SIZE, JcEntry};
use crate::decode::decode_mode;
use crate::jit::{self, Jit};
use crate::mem::{self, CODE_PAGE_SHIFT};
use crate::op::{BlockEnd, Op};
use crate::partition::{Partition, VcpuShared, attn};
use crate::reg::{msr, vec};
use crate::tlb::Access;

/// Most instructions in one block.
const MAX_BLOCK: usize = 128;
/// Decoded ops kept before the whole cache is thrown away and rebuilt (a jump-cache
/// entry packs an arena index into 24 bits and a block length into 8).
const MAX_OPS: usize = 1 << 20;
const _: () = assert!(MAX_OPS <= 1 << 24 && MAX_BLOCK <= 0xFF);
/// Instructions between periodic checks (decrementer, timers).
pub(crate) const BUDGET: u64 = 16 * 1024;

struct Block {
    /// Index of the first op in the arena.
    start: u32,
    /// Number of ops.
    len: u32,
    /// Code page (4 KiB real page) the block was decoded from.
    page: usize,
    /// That page's generation at decode time.
    gen_: u32,
    /// Entry of the block's translation (0: none).
    code: usize,
}

/// A small multiplicative hasher for block-map keys (real addresses): the map is on the
/// block-lookup slow path and SipHash's strength is not needed for them.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

struct BlockCache {
    ops: Vec<Op>,
    blocks: Vec<Block>,
    /// (real address | LE) → block index.
    map: HashMap<u64, u32, BuildHasherDefault<AddrHasher>>,
}

impl BlockCache {
    fn new() -> Self {
        BlockCache {
            ops: Vec::with_capacity(1 << 16),
            blocks: Vec::new(),
            map: HashMap::default(),
        }
    }

    fn clear(&mut self) {
        self.ops.clear();
        self.blocks.clear();
        self.map.clear();
    }
}

/// A virtual processor: architected state plus the interpreter.
pub struct Cpu {
    /// Execution state (registers, TLB, memory access paths).
    pub core: Core,
    cache: BlockCache,
    /// The translator (`None`: interpret every block).
    jit: Option<Jit>,
}

impl Cpu {
    /// Creates vCPU `id` in `part`. It starts stopped-in-reset: NIA = 0x100, MSR = SF|ME,
    /// big-endian, translation off; the machine sets the boot state.
    pub fn new(part: Arc<Partition>, id: u32) -> Cpu {
        let shared = Arc::new(VcpuShared::new(id));
        part.add_vcpu(shared.clone());
        let mut core = Core::new(part, shared);
        core.next_check = BUDGET;
        let jit = if jit::enabled_by_env() {
            Jit::new(&mut core)
        } else {
            None
        };
        Cpu {
            core,
            cache: BlockCache::new(),
            jit,
        }
    }

    /// Turns the translator on or off (the default is on unless `PAPR_HV_JIT=0`, on hosts
    /// that have one). Throws away every decoded block. Returns whether it is now on.
    pub fn set_jit(&mut self, on: bool) -> bool {
        self.flush_decoded();
        self.jit = if on { Jit::new(&mut self.core) } else { None };
        self.jit.is_some()
    }

    /// Whether blocks are translated to host code.
    pub fn jit_enabled(&self) -> bool {
        self.jit.is_some()
    }

    /// The handle other threads use to signal this vCPU.
    pub fn shared(&self) -> Arc<VcpuShared> {
        self.core.shared.clone()
    }

    /// The vCPU id.
    pub fn id(&self) -> u32 {
        self.core.pir
    }

    /// Throws away every decoded block (for tests and after a snapshot restore).
    pub fn flush_decoded(&mut self) {
        self.cache.clear();
        self.core.flush_jc();
        if let Some(j) = &mut self.jit {
            j.clear();
        }
    }

    /// Runs guest code until an exit.
    pub fn run(&mut self) -> Exit {
        self.core.shared.running.store(true, Ordering::SeqCst);
        self.core.shared.clear_prod();
        self.core.ack_tlb_flush();
        let e = self.run_loop();
        self.core.shared.running.store(false, Ordering::SeqCst);
        e
    }

    fn run_loop(&mut self) -> Exit {
        let mut check = true;
        loop {
            if check
                || self.core.shared.attention.load(Ordering::Relaxed) != 0
                || self.core.stats.insns >= self.core.next_check
            {
                check = false;
                if let Some(e) = self.slow_check() {
                    return e;
                }
                if self.core.msr & (msr::SE | msr::BE) != 0 {
                    if let Some(e) = self.step_traced() {
                        return e;
                    }
                    check = true;
                    continue;
                }
            }
            let nia = self.core.nia;
            let key = nia | self.core.imode as u64;
            let hit = {
                let c = &self.core;
                let j = &c.jc[((nia >> 2) as usize) & (JC_SIZE - 1)];
                let x = c.tlb.sets[c.imode & 3].xentry(nia);
                // SAFETY: a jump-cache entry whose key matched was filled by `jc_fill` with a
                // pointer to a generation word of this partition's `CodePages`, which lives
                // as long as `self.core.part`.
                if j.key == key
                    && x.tag == c.tlb.tag(c.imode, nia)
                    && x.addend == j.addend
                    && unsafe { (*j.gen_ptr).load(Ordering::Acquire) } >> 1 == j.gen_
                {
                    Some(((j.span >> 8) as usize, (j.span & 0xFF) as usize, j.code))
                } else {
                    None
                }
            };
            let (start, len, code) = if let Some(x) = hit {
                x
            } else {
                match self.lookup_slow(nia) {
                    Ok(b) => {
                        let blk = &self.cache.blocks[b as usize];
                        (blk.start as usize, blk.len as usize, blk.code)
                    }
                    Err(f) => {
                        self.core.fault(f, nia);
                        if let Some(e) = self.core.exit.take() {
                            return e;
                        }
                        continue;
                    }
                }
            };
            let ops = match self.cache.ops.get(start..start + len) {
                Some(o) => o,
                None => continue, // cannot happen: blocks index their own arena
            };
            let flow = if let Some(j) = self
                .jit
                .as_ref()
                .filter(|_| code != 0 && jit::runnable(code, self.core.msr))
            {
                // SAFETY: a nonzero `code` in a valid jump-cache entry or block is the
                // translation of exactly these ops, made by `self.jit` since its last
                // clear (every clear of the translator also clears the block cache and
                // the jump cache, whose entries index this arena); the arena is not
                // changed while translated code runs.
                let r = unsafe {
                    j.run(
                        code,
                        &mut self.core,
                        ops.as_ptr(),
                        nia,
                        self.cache.ops.as_ptr(),
                    )
                };
                let (n, flow) = jit::unpack(r);
                self.core.stats.insns += n;
                flow
            } else {
                let mut pc = nia;
                let mut flow = Flow::Next;
                for op in ops {
                    flow = (op.f)(&mut self.core, op, pc);
                    if flow != Flow::Next {
                        break;
                    }
                    pc = pc.wrapping_add(4);
                }
                // Instructions executed: every op that returned Next, plus the one that
                // ended the block early.
                self.core.stats.insns += (pc.wrapping_sub(nia) >> 2) + (flow != Flow::Next) as u64;
                flow
            };
            match flow {
                Flow::Next => self.core.nia = nia.wrapping_add(4 * len as u64) & self.core.ea_mask,
                Flow::Jump => {}
                Flow::Stop => {
                    if let Some(e) = self.core.exit.take() {
                        return e;
                    }
                    check = true;
                }
            }
        }
    }

    /// Executes one instruction with trace interrupts (MSR[SE] / MSR[BE]).
    fn step_traced(&mut self) -> Option<Exit> {
        let nia = self.core.nia;
        let bi = match self.lookup(nia) {
            Ok(b) => b,
            Err(f) => {
                self.core.fault(f, nia);
                return self.core.exit.take();
            }
        };
        let op = self.cache.ops[self.cache.blocks[bi as usize].start as usize];
        let before = self.core.msr;
        self.core.stats.insns += 1;
        let flow = (op.f)(&mut self.core, &op, nia);
        if flow == Flow::Next {
            self.core.nia = nia.wrapping_add(4) & self.core.ea_mask;
        }
        if let Some(e) = self.core.exit.take() {
            return Some(e);
        }
        // An interrupt (or rfid/mtmsr clearing the trace bits) ends tracing for this
        // instruction; `sc`, `rfid` and friends are never traced.
        let opcd = op.raw >> 26;
        let xo = (op.raw >> 1) & 0x3FF;
        let is_rfi = opcd == 19 && matches!(xo, 18 | 82 | 274);
        let is_sc = opcd == 17;
        let still = self.core.msr & (msr::SE | msr::BE);
        if still == 0 || before & (msr::SE | msr::BE) == 0 || is_rfi || is_sc {
            return None;
        }
        let interrupted = self.core.msr & msr::SE != before & msr::SE;
        if interrupted {
            return None;
        }
        let is_branch = opcd == 16 || opcd == 18 || (opcd == 19 && matches!(xo, 16 | 528 | 560));
        if still & msr::SE != 0 || (still & msr::BE != 0 && is_branch) {
            self.core.siar = nia;
            let next = self.core.nia;
            // ISA 3.0B Book III 6.5.15: SRR1 bit 33 is set for a trace interrupt.
            self.core.interrupt(vec::TRACE, next, 0x4000_0000);
        }
        None
    }

    #[cold]
    fn slow_check(&mut self) -> Option<Exit> {
        let c = &mut self.core;
        let att = c.shared.attention.load(Ordering::Acquire);
        if att != 0 {
            if att & attn::STOP != 0 {
                c.shared.attention.fetch_and(!attn::STOP, Ordering::AcqRel);
                return Some(Exit::Stopped);
            }
            if att & attn::TLB != 0 {
                c.ack_tlb_flush();
            }
            if att & (attn::EXT | attn::CHECK) != 0 {
                c.shared
                    .attention
                    .fetch_and(!(attn::EXT | attn::CHECK), Ordering::AcqRel);
            }
            if att & attn::SRESET != 0 {
                c.shared
                    .attention
                    .fetch_and(!attn::SRESET, Ordering::AcqRel);
                let nia = c.nia;
                c.interrupt(vec::SRESET, nia, 0);
                return None;
            }
        }
        if c.stats.insns >= c.next_check {
            c.next_check = c.stats.insns + BUDGET;
        }
        if c.msr & msr::EE != 0 {
            let nia = c.nia;
            if c.shared.external() {
                c.interrupt(vec::EXTERNAL, nia, 0);
            } else if c.dec_pending() {
                c.interrupt(vec::DEC, nia, 0);
            } else if c.doorbell {
                c.doorbell = false;
                c.interrupt(vec::DOORBELL, nia, 0);
            }
        }
        None
    }

    /// Finds (or decodes) the block at effective address `nia`.
    fn lookup(&mut self, nia: u64) -> Result<u32, Fault> {
        self.lookup_slow(nia)
    }

    fn jc_fill(&mut self, nia: u64, bi: u32) {
        let b = &self.cache.blocks[bi as usize];
        let c = &mut self.core;
        if c.imode == crate::tlb::Mode::Kernel as usize && nia >> 63 == 0 {
            return; // privileged fetch from quadrant 0: never cached (see Core::translate)
        }
        let x = *c.tlb.sets[c.imode & 3].xentry(nia);
        if x.tag != c.tlb.tag(c.imode, nia) {
            return; // not in the fetch TLB (not RAM-backed through it): no fast path
        }
        if let Some(gen_ptr) = c.part.code.word_ptr(b.page) {
            c.jc[((nia >> 2) as usize) & (JC_SIZE - 1)] = JcEntry {
                key: nia | c.imode as u64,
                addend: x.addend,
                gen_ptr,
                span: (b.start << 8) | b.len,
                gen_: b.gen_,
                code: b.code,
            };
        }
    }

    #[inline(never)]
    fn lookup_slow(&mut self, nia: u64) -> Result<u32, Fault> {
        self.core.stats.jc_misses += 1;
        {
            let c = &mut self.core;
            let j = &c.jc[((nia >> 2) as usize) & (JC_SIZE - 1)];
            if j.key == nia | c.imode as u64 {
                let x = c.tlb.sets[c.imode & 3].xentry(nia);
                if x.tag != c.tlb.tag(c.imode, nia) || x.addend != j.addend {
                    c.stats.jc_stale_tlb += 1;
                } else {
                    c.stats.jc_stale_page += 1;
                }
            }
        }
        if nia & 3 != 0 {
            // NIA is always word aligned; a misaligned target cannot be produced by the
            // architected paths, but be safe.
            return Err(Fault::Isi {
                srr1: crate::reg::dsisr::NOEXEC,
            });
        }
        let c = &mut self.core;
        // Fetch translation: software TLB first, then the MMU.
        let e = *c.tlb.sets[c.imode & 3].xentry(nia);
        let host = if e.tag == c.tlb.tag(c.imode, nia) {
            nia.wrapping_add(e.addend) as usize
        } else {
            let ra = c.translate(nia, Access::Exec)?;
            match c.part.ram.host_ptr(ra, 4) {
                Some(p) => p as usize,
                None => return Err(Fault::MachineCheck { ea: nia }),
            }
        };
        let ra = (host - c.ram_base) as u64;
        let key = ra | c.le as u64;
        let page = (ra >> CODE_PAGE_SHIFT) as usize;
        if let Some(&bi) = self.cache.map.get(&key) {
            let b = &self.cache.blocks[bi as usize];
            if c.part.code.generation(b.page) == b.gen_ {
                self.jc_fill(nia, bi);
                return Ok(bi);
            }
        }
        if self.cache.ops.len() + MAX_BLOCK > MAX_OPS
            || self
                .jit
                .as_ref()
                .is_some_and(|j| j.room() < jit::MAX_BLOCK_CODE)
        {
            self.cache.clear();
            c.flush_jc();
            if let Some(j) = &mut self.jit {
                j.clear();
            }
        }
        // Decode a new block from this page.
        c.stats.decoded += 1;
        let gen_ = c.part.code.mark(page);
        let start = self.cache.ops.len();
        let room = ((4096 - (ra & 0xFFF)) / 4) as usize;
        let n_max = room.min(MAX_BLOCK);
        let mut n = 0;
        while n < n_max {
            // SAFETY: `host + 4n` stays inside the 4 KiB RAM page containing `ra` (n < room)
            // and the page is RAM (it was translated to a host pointer above).
            let raw = unsafe { mem::load_u32((host + 4 * n) as *const u8) };
            let w = if c.le { raw } else { raw.swap_bytes() };
            let (op, end) = decode_mode(w, c.le);
            self.cache.ops.push(op);
            n += 1;
            if end == BlockEnd::Yes {
                break;
            }
        }
        let code = match &mut self.jit {
            Some(j) => j
                .compile(
                    &self.cache.ops[start..],
                    c.msr & crate::reg::msr::SF != 0,
                    c.le,
                    c.part.code.word_ptr(page).map(|p| (p as usize, gen_)),
                )
                .unwrap_or(0),
            None => 0,
        };
        let bi = self.cache.blocks.len() as u32;
        self.cache.blocks.push(Block {
            start: start as u32,
            len: n as u32,
            page,
            gen_,
            code,
        });
        self.cache.map.insert(key, bi);
        self.jc_fill(nia, bi);
        Ok(bi)
    }

    /// H_CEDE: sets MSR[EE] and waits until an interrupt is deliverable, the vCPU is
    /// prodded, or a stop is requested. Returns without sleeping if one of those holds.
    pub fn cede(&mut self) {
        let c = &mut self.core;
        let m = c.msr | msr::EE;
        c.set_msr(m);
        loop {
            c.shared.clear_wake();
            if c.shared.take_prod() {
                return;
            }
            let att = c.shared.attention.load(Ordering::Acquire);
            if att & (attn::STOP | attn::SRESET) != 0 {
                return;
            }
            if c.shared.external() || c.doorbell {
                return;
            }
            let tb = c.timebase();
            let deadline = match c.dec.deadline(tb) {
                None => return,
                Some(d) => d,
            };
            let when = c.part.tb.instant_of(deadline);
            let t = std::time::Instant::now();
            c.shared.sleep_until(Some(when));
            c.stats.idle_ns += t.elapsed().as_nanos() as u64;
        }
    }
}

impl Drop for Cpu {
    fn drop(&mut self) {
        self.core.part.remove_vcpu(self.core.pir);
    }
}
