//! The execution state of one vCPU: architected registers, the software TLB, the memory
//! access paths (fast: TLB hit + host pointer; slow: MMU walk, MMIO, page crossing), and
//! interrupt delivery.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::mem::{self, CODE_PAGE_SHIFT};
use crate::mmu::{Mmu, MmuCtx, MmuFault, RadixMmu};
use crate::partition::{Partition, VcpuShared};
use crate::reg::{self, dsisr, lpcr, msr, vec};
use crate::timebase::Decrementer;
use crate::tlb::{Access, Mode, TLB_PAGE_MASK, Tlb, TlbEntry};

/// Why [`Cpu::run`](crate::Cpu::run) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest executed `sc 1` in privileged state: r3 holds the hcall opcode, r4..r12
    /// the arguments. NIA already points after the `sc`. Write the results into r3.. and
    /// call `run` again.
    Hcall,
    /// [`VcpuShared::request_stop`] was called.
    Stopped,
    /// A machine check arrived with MSR[ME] = 0: the vCPU is checkstopped.
    Checkstop,
}

/// A storage or alignment exception found while accessing memory. Delivered with
/// [`Core::fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Data storage interrupt.
    Dsi {
        /// Faulting effective address.
        dar: u64,
        /// Cause bits.
        dsisr: u64,
    },
    /// Data segment interrupt.
    DSeg {
        /// Faulting effective address.
        dar: u64,
    },
    /// Instruction storage interrupt with SRR1 cause bits.
    Isi {
        /// Cause bits for SRR1.
        srr1: u64,
    },
    /// Instruction segment interrupt.
    ISeg,
    /// Alignment interrupt.
    Align {
        /// Faulting effective address.
        dar: u64,
    },
    /// Machine check: an access to a real address where nothing is.
    MachineCheck {
        /// The effective address of the access.
        ea: u64,
    },
}

/// What an instruction handler tells the interpreter loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Flow {
    /// Continue with the next instruction of the block.
    Next,
    /// `nia` was set (taken branch or interrupt delivered); look up the next block.
    Jump,
    /// `nia` was set and something changed that needs the interrupt/exit checks (MSR[EE]
    /// set, DEC written, an exit requested).
    Stop,
}

/// Execution counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Instructions in the blocks entered (an upper bound of instructions executed).
    pub insns: u64,
    /// Block lookups that missed the jump cache.
    pub jc_misses: u64,
    /// Of those, misses on an entry for the same address retired by a fetch-translation change.
    pub jc_stale_tlb: u64,
    /// Of those, misses on an entry for the same address retired by a code-page change.
    pub jc_stale_page: u64,
    /// Blocks decoded.
    pub decoded: u64,
    /// MMU translations (software TLB misses).
    pub walks: u64,
    /// Interrupts delivered.
    pub interrupts: u64,
    /// Full TLB flushes.
    pub flushes: u64,
    /// PIDR changes.
    pub pid_switches: u64,
    /// Nanoseconds spent idle in H_CEDE.
    pub idle_ns: u64,
    /// Broadcast invalidations issued (tlbie).
    pub tlbies: u64,
    /// Nanoseconds spent waiting for other vCPUs to complete invalidations.
    pub tlbie_wait_ns: u64,
}

/// Load reservation of `l?arx`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reservation {
    pub valid: bool,
    pub ra: u64,
    pub size: u8,
    pub val: u128,
}

/// Jump-cache entry: effective address (with the fetch mode in the low 2 bits) → block,
/// with what is needed to validate and run it without touching the block table.
#[derive(Clone, Copy)]
pub(crate) struct JcEntry {
    pub key: u64,
    /// The fetch translation's addend at fill time: the entry is valid while the execute
    /// TLB still maps the page, to the same host page.
    pub addend: u64,
    /// The generation word of the block's code page.
    pub gen_ptr: *const std::sync::atomic::AtomicU32,
    /// Arena index of the first op (high 24 bits) and number of ops (low 8 bits).
    pub span: u32,
    /// Expected generation (the page word shifted right by one).
    pub gen_: u32,
    /// Entry of the block's translation (0: none; run it interpreted).
    pub code: usize,
}

// SAFETY: `gen_ptr` points at an `AtomicU32` inside the partition's `CodePages`, which the
// owning `Core` keeps alive through its `Arc<Partition>`; atomics may be read from any
// thread, so moving the entry (with its vCPU) to another thread is sound.
unsafe impl Send for JcEntry {}

pub(crate) const JC_BITS: u32 = 15;
pub(crate) const JC_SIZE: usize = 1 << JC_BITS;
pub(crate) const JC_EMPTY: JcEntry = JcEntry {
    key: u64::MAX,
    addend: 0,
    gen_ptr: std::ptr::null(),
    span: 0,
    gen_: 0,
    code: 0,
};

/// Up to two (EA, RA, length) pieces of an access split at a page boundary.
type Pieces = [(u64, u64, usize); 2];

/// Mask applied to real addresses (EA bits 0:3 are ignored in real mode and in hcall
/// arguments).
pub const REAL_ADDR_MASK: u64 = 0x0FFF_FFFF_FFFF_FFFF;

/// Execution state of a vCPU.
pub struct Core {
    /// General-purpose registers.
    pub gpr: [u64; 32],
    /// Condition register.
    pub cr: u32,
    /// Link register.
    pub lr: u64,
    /// Count register.
    pub ctr: u64,
    /// XER[SO] (0 or 1).
    pub so: u64,
    /// XER[OV].
    pub ov: u64,
    /// XER[CA].
    pub ca: u64,
    /// XER[OV32].
    pub ov32: u64,
    /// XER[CA32].
    pub ca32: u64,
    /// XER string byte count (7 bits).
    pub xer_bc: u64,
    /// Next instruction address.
    pub nia: u64,
    /// Machine state register. Change it with [`Core::set_msr`].
    pub(crate) msr: u64,
    pub(crate) ea_mask: u64,
    pub(crate) le: bool,
    pub(crate) dmode: usize,
    /// TLB set for data accesses to quadrants 0/1 and 2/3 (see [`Core::dset`]).
    pub(crate) dset_q: [usize; 2],
    pub(crate) imode: usize,
    pub(crate) tlb: Box<Tlb>,
    pub(crate) ram_base: usize,
    /// Vector-scalar registers (FPR i = high doubleword of VSR i; VR i = VSR 32+i).
    pub vsr: [u128; 64],
    /// FP status and control register.
    pub fpscr: u64,
    /// Vector status and control register.
    pub vscr: u32,
    /// VRSAVE.
    pub vrsave: u64,
    /// Target address register.
    pub tar: u64,
    /// SRR0.
    pub srr0: u64,
    /// SRR1.
    pub srr1: u64,
    /// DAR.
    pub dar: u64,
    /// DSISR.
    pub dsisr: u64,
    /// CFAR.
    pub cfar: u64,
    /// SPRG0..3.
    pub sprg: [u64; 4],
    /// AMR.
    pub amr: u64,
    /// IAMR.
    pub iamr: u64,
    /// UAMOR.
    pub uamor: u64,
    /// AMOR (hypervisor-owned; all ones for the guest).
    pub amor: u64,
    /// PIDR.
    pub pidr: u64,
    /// FSCR.
    pub fscr: u64,
    /// DSCR.
    pub dscr: u64,
    /// PPR.
    pub ppr: u64,
    /// CTRL run latch.
    pub ctrl: u64,
    /// TIDR.
    pub tidr: u64,
    /// PSPB.
    pub pspb: u64,
    /// MMCR0, MMCR1, MMCR2, MMCRA.
    pub mmcr: [u64; 4],
    /// PMC1..6.
    pub pmc: [u64; 6],
    /// SIAR, SDAR, SIER.
    pub siar: u64,
    /// SDAR.
    pub sdar: u64,
    /// SIER.
    pub sier: u64,
    /// EBBHR.
    pub ebbhr: u64,
    /// EBBRR.
    pub ebbrr: u64,
    /// BESCR.
    pub bescr: u64,
    /// PSSCR (privileged view).
    pub psscr: u64,
    /// DAWR0 (set by H_SET_MODE).
    pub dawr0: u64,
    /// DAWRX0.
    pub dawrx0: u64,
    /// CIABR.
    pub ciabr: u64,
    /// Processor version register.
    pub pvr: u32,
    /// Processor id register (the vCPU id).
    pub pir: u32,
    /// Decrementer.
    pub dec: Decrementer,
    /// Timebase at vCPU creation (for PURR/SPURR).
    pub(crate) purr_base: u64,
    pub(crate) resv: Reservation,
    /// Directed privileged doorbell pending (msgsndp to self).
    pub doorbell: bool,
    pub(crate) part: Arc<Partition>,
    pub(crate) shared: Arc<VcpuShared>,
    pub(crate) mmu: Box<dyn Mmu>,
    pub(crate) exit: Option<Exit>,
    /// `stats.insns` value at which the periodic check (decrementer, timers) is due.
    pub(crate) next_check: u64,
    /// Counters for performance work (cheap: incremented on block boundaries and slow
    /// paths only).
    pub stats: Stats,
    pub(crate) tlb_seen: u64,
    pub(crate) tlbie_wait: u64,
    pub(crate) jc: Box<[JcEntry; JC_SIZE]>,
    /// Scratch for broadcast invalidations being applied.
    pub(crate) inval_buf: Vec<crate::partition::Inval>,
}

#[inline(always)]
fn bswap(v: u64, n: usize) -> u64 {
    match n {
        1 => v,
        2 => (v as u16).swap_bytes() as u64,
        4 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    }
}

impl Core {
    pub(crate) fn new(part: Arc<Partition>, shared: Arc<VcpuShared>) -> Self {
        let tb = part.tb.now();
        let id = shared.id();
        let mut c = Core {
            gpr: [0; 32],
            cr: 0,
            lr: 0,
            ctr: 0,
            so: 0,
            ov: 0,
            ca: 0,
            ov32: 0,
            ca32: 0,
            xer_bc: 0,
            nia: 0x100,
            msr: 0,
            ea_mask: u64::MAX,
            le: false,
            dmode: 0,
            dset_q: [0; 2],
            imode: 0,
            tlb: Tlb::new(),
            ram_base: part.ram.base() as usize,
            vsr: [0; 64],
            fpscr: 0,
            vscr: 0x0001_0000,
            vrsave: 0,
            tar: 0,
            srr0: 0,
            srr1: 0,
            dar: 0,
            dsisr: 0,
            cfar: 0,
            sprg: [0; 4],
            amr: 0,
            iamr: 0,
            uamor: 0,
            amor: u64::MAX,
            pidr: 0,
            fscr: 0,
            dscr: 0,
            ppr: 0x0010_0000_0000_0000,
            ctrl: 1,
            tidr: 0,
            pspb: 0,
            mmcr: [0x8000_0000, 0, 0, 0],
            pmc: [0; 6],
            siar: 0,
            sdar: 0,
            sier: 0,
            ebbhr: 0,
            ebbrr: 0,
            bescr: 0,
            psscr: 0,
            dawr0: 0,
            dawrx0: 0,
            ciabr: 0,
            pvr: reg::PVR_POWER9_DD22,
            pir: id,
            dec: Decrementer::new(tb),
            purr_base: tb,
            resv: Reservation::default(),
            doorbell: false,
            part,
            shared,
            mmu: Box::new(RadixMmu),
            exit: None,
            next_check: 0,
            stats: Stats::default(),
            tlb_seen: 0,
            tlbie_wait: 0,
            jc: vec![crate::core::JC_EMPTY; JC_SIZE]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("the vector has JC_SIZE entries")),
            inval_buf: Vec::new(),
        };
        c.set_msr(msr::SF | msr::ME);
        c
    }

    /// The partition this vCPU belongs to.
    pub fn partition(&self) -> &Arc<Partition> {
        &self.part
    }

    /// The handle other threads use to reach this vCPU.
    pub fn shared(&self) -> &Arc<VcpuShared> {
        &self.shared
    }

    /// MSR.
    #[inline(always)]
    pub fn msr(&self) -> u64 {
        self.msr
    }

    /// Sets MSR (raw: no architectural filtering) and the state derived from it.
    pub fn set_msr(&mut self, v: u64) {
        let v = v & msr::VALID & !(msr::HV | msr::S | msr::TS | msr::TM);
        let old_le = self.le;
        self.tlb.xepoch = self.tlb.xepoch.wrapping_add(1);
        self.msr = v;
        self.le = v & msr::LE != 0;
        self.ea_mask = if v & msr::SF != 0 {
            u64::MAX
        } else {
            0xFFFF_FFFF
        };
        let pr = v & msr::PR != 0;
        let mode = |reloc: bool| {
            if !reloc {
                Mode::Real as usize
            } else if pr {
                Mode::User as usize
            } else {
                Mode::Kernel as usize
            }
        };
        self.dmode = mode(v & msr::DR != 0);
        // Privileged accesses to quadrant 0 use their own set (KernelUser = Kernel | 2).
        let d = self.dmode;
        self.dset_q = [d | ((d & 1) << 1), d];
        self.imode = mode(v & msr::IR != 0);
        if old_le != self.le {
            self.flush_jc();
        }
    }

    /// Whether MSR[PR] is set.
    #[inline(always)]
    pub fn problem_state(&self) -> bool {
        self.msr & msr::PR != 0
    }

    /// Whether data accesses are little-endian.
    #[inline(always)]
    pub fn little_endian(&self) -> bool {
        self.le
    }

    pub(crate) fn flush_jc(&mut self) {
        self.jc.fill(JC_EMPTY);
    }

    /// Forgets all cached translations of this vCPU.
    pub fn flush_tlb(&mut self) {
        self.stats.flushes += 1;
        self.tlb.flush_virtual();
    }

    /// Applies an invalidation to this vCPU's cached translations.
    pub(crate) fn invalidate(&mut self, what: crate::partition::Inval) {
        use crate::partition::Inval;
        match what {
            Inval::All => self.flush_tlb(),
            Inval::Pid(pid) => {
                if pid == 0 {
                    self.tlb.flush_mode(Mode::Kernel);
                }
                if pid as u64 == self.pidr {
                    self.tlb.flush_mode(Mode::User);
                    self.tlb.flush_mode(Mode::KernelUser);
                }
            }
            Inval::Page { pid, ea, shift } => {
                if shift > 22 {
                    return self.invalidate(Inval::Pid(pid));
                }
                let quadrant3 = ea >> 62 == 3;
                let size = 1u64 << shift;
                let base = ea & !(size - 1);
                let sets: &[Mode] = if quadrant3 {
                    if pid == 0 { &[Mode::Kernel] } else { &[] }
                } else if pid as u64 == self.pidr {
                    &[Mode::User, Mode::KernelUser]
                } else {
                    &[]
                };
                for &m in sets {
                    if size >> 12 > crate::tlb::XTLB_SIZE as u64 {
                        // A huge page covers more than the arrays hold: forgetting the
                        // whole set is cheaper than visiting every 4 KiB granule.
                        self.tlb.flush_mode(m);
                        continue;
                    }
                    self.tlb.xepoch = self.tlb.xepoch.wrapping_add(1);
                    let set = &mut self.tlb.sets[m as usize];
                    for k in 0..(size >> 12) {
                        let page = base + (k << 12);
                        set.drop_page(page);
                        let x = set.xentry_mut(page);
                        if x.tag & !TLB_PAGE_MASK == page {
                            *x = TlbEntry::EMPTY;
                        }
                    }
                }
            }
        }
    }

    // ---- XER / CR helpers -------------------------------------------------------------

    /// The XER value as `mfxer` returns it.
    pub fn xer(&self) -> u64 {
        (self.so << 31)
            | (self.ov << 30)
            | (self.ca << 29)
            | (self.ov32 << 19)
            | (self.ca32 << 18)
            | (self.xer_bc & 0x7F)
    }

    /// Sets XER (`mtxer`).
    pub fn set_xer(&mut self, v: u64) {
        self.so = (v >> 31) & 1;
        self.ov = (v >> 30) & 1;
        self.ca = (v >> 29) & 1;
        self.ov32 = (v >> 19) & 1;
        self.ca32 = (v >> 18) & 1;
        self.xer_bc = v & 0x7F;
    }

    /// Writes 4-bit CR field `bf` (0 = CR0, the most significant).
    #[inline(always)]
    pub fn set_cr_field(&mut self, bf: u32, v: u32) {
        let sh = 28 - 4 * (bf & 7);
        self.cr = (self.cr & !(0xF << sh)) | ((v & 0xF) << sh);
    }

    /// Reads CR field `bf`.
    #[inline(always)]
    pub fn cr_field(&self, bf: u32) -> u32 {
        (self.cr >> (28 - 4 * (bf & 7))) & 0xF
    }

    /// Reads CR bit `bi` (0 = CR0[LT]).
    #[inline(always)]
    pub fn cr_bit(&self, bi: u32) -> bool {
        (self.cr >> (31 - (bi & 31))) & 1 != 0
    }

    /// Sets CR bit `bi`.
    #[inline(always)]
    pub fn set_cr_bit(&mut self, bi: u32, v: bool) {
        let m = 1u32 << (31 - (bi & 31));
        if v {
            self.cr |= m;
        } else {
            self.cr &= !m;
        }
    }

    /// CR0 from a result (`Rc=1`): LT/GT/EQ of the value as a signed number in the current
    /// mode, plus SO.
    #[inline(always)]
    pub fn set_cr0(&mut self, v: u64) {
        let s = if self.msr & msr::SF != 0 {
            v as i64
        } else {
            v as i32 as i64
        };
        let c = if s < 0 {
            8
        } else if s > 0 {
            4
        } else {
            2
        };
        self.cr = (self.cr & 0x0FFF_FFFF) | ((c | self.so as u32) << 28);
    }

    /// Records overflow (OE=1): OV, OV32 and the sticky SO.
    #[inline(always)]
    pub fn set_ov(&mut self, ov: bool, ov32: bool) {
        self.ov = ov as u64;
        self.ov32 = ov32 as u64;
        self.so |= ov as u64;
    }

    // ---- effective addresses -----------------------------------------------------------

    /// Applies the 32-bit-mode truncation to an effective address.
    #[inline(always)]
    pub fn ea(&self, x: u64) -> u64 {
        x & self.ea_mask
    }

    /// `(RA|0) + d`.
    #[inline(always)]
    pub fn ea_d(&self, ra: u8, d: u64) -> u64 {
        let base = if ra == 0 {
            0
        } else {
            self.gpr[(ra & 31) as usize]
        };
        base.wrapping_add(d) & self.ea_mask
    }

    /// `(RA|0) + (RB)`.
    #[inline(always)]
    pub fn ea_x(&self, ra: u8, rb: u8) -> u64 {
        let base = if ra == 0 {
            0
        } else {
            self.gpr[(ra & 31) as usize]
        };
        base.wrapping_add(self.gpr[(rb & 31) as usize]) & self.ea_mask
    }

    // ---- memory: fast paths ------------------------------------------------------------

    /// Loads `N` bytes (1, 2, 4, 8) at `ea` in the current byte order, zero-extended.
    #[inline(always)]
    pub fn ld<const N: usize>(&mut self, ea: u64) -> Result<u64, Fault> {
        let m = self.dset(ea);
        if let Some(e) = self.tlb.sets[m].find(Access::Read, ea, self.tlb.tag(m, ea))
            && (ea & TLB_PAGE_MASK) as usize <= 4096 - N
        {
            let p = ea.wrapping_add(e.addend) as *const u8;
            // SAFETY: TLB entries are only created for RAM pages and the check above keeps
            // the whole access inside that 4 KiB page.
            let raw = unsafe {
                match N {
                    1 => mem::load_u8(p) as u64,
                    2 => mem::load_u16(p) as u64,
                    4 => mem::load_u32(p) as u64,
                    _ => mem::load_u64(p),
                }
            };
            return Ok(if self.le { raw } else { bswap(raw, N) });
        }
        self.ld_slow(ea, N)
    }

    /// [`ld_fast`](Self::ld_fast) for a known byte order (`LE` must equal MSR[LE]; blocks
    /// are decoded per byte order, so handlers pick it at decode time).
    #[inline(always)]
    pub fn ld_fast_e<const N: usize, const LE: bool>(&self, ea: u64) -> Option<u64> {
        let m = self.dset(ea);
        if let Some(e) = self.tlb.sets[m].find(Access::Read, ea, self.tlb.tag(m, ea))
            && (ea & TLB_PAGE_MASK) as usize <= 4096 - N
        {
            let p = ea.wrapping_add(e.addend) as *const u8;
            // SAFETY: as in `ld`.
            let raw = unsafe {
                match N {
                    1 => mem::load_u8(p) as u64,
                    2 => mem::load_u16(p) as u64,
                    4 => mem::load_u32(p) as u64,
                    _ => mem::load_u64(p),
                }
            };
            return Some(if LE { raw } else { bswap(raw, N) });
        }
        None
    }

    /// [`st_fast`](Self::st_fast) for a known byte order.
    #[inline(always)]
    pub fn st_fast_e<const N: usize, const LE: bool>(&mut self, ea: u64, v: u64) -> bool {
        let m = self.dset(ea);
        if let Some(e) = self.tlb.sets[m].find(Access::Write, ea, self.tlb.tag(m, ea))
            && (ea & TLB_PAGE_MASK) as usize <= 4096 - N
        {
            let p = ea.wrapping_add(e.addend) as *mut u8;
            let page = (p as usize).wrapping_sub(self.ram_base) >> CODE_PAGE_SHIFT;
            if self.part.code.is_code(page) {
                self.part.code.invalidate(page);
            }
            let v = if LE { v } else { bswap(v, N) };
            // SAFETY: as in `ld`.
            unsafe {
                match N {
                    1 => mem::store_u8(p, v as u8),
                    2 => mem::store_u16(p, v as u16),
                    4 => mem::store_u32(p, v as u32),
                    _ => mem::store_u64(p, v),
                }
            }
            return true;
        }
        false
    }

    /// The TLB-hit half of [`ld`](Self::ld): `None` when the slow path is needed.
    #[inline(always)]
    pub fn ld_fast<const N: usize>(&self, ea: u64) -> Option<u64> {
        let m = self.dset(ea);
        if let Some(e) = self.tlb.sets[m].find(Access::Read, ea, self.tlb.tag(m, ea))
            && (ea & TLB_PAGE_MASK) as usize <= 4096 - N
        {
            let p = ea.wrapping_add(e.addend) as *const u8;
            // SAFETY: as in `ld`.
            let raw = unsafe {
                match N {
                    1 => mem::load_u8(p) as u64,
                    2 => mem::load_u16(p) as u64,
                    4 => mem::load_u32(p) as u64,
                    _ => mem::load_u64(p),
                }
            };
            return Some(if self.le { raw } else { bswap(raw, N) });
        }
        None
    }

    /// The TLB-hit half of [`st`](Self::st): `false` when the slow path is needed (nothing
    /// was stored).
    #[inline(always)]
    pub fn st_fast<const N: usize>(&mut self, ea: u64, v: u64) -> bool {
        let m = self.dset(ea);
        if let Some(e) = self.tlb.sets[m].find(Access::Write, ea, self.tlb.tag(m, ea))
            && (ea & TLB_PAGE_MASK) as usize <= 4096 - N
        {
            let p = ea.wrapping_add(e.addend) as *mut u8;
            let page = (p as usize).wrapping_sub(self.ram_base) >> CODE_PAGE_SHIFT;
            if self.part.code.is_code(page) {
                self.part.code.invalidate(page);
            }
            let v = if self.le { v } else { bswap(v, N) };
            // SAFETY: as in `ld`.
            unsafe {
                match N {
                    1 => mem::store_u8(p, v as u8),
                    2 => mem::store_u16(p, v as u16),
                    4 => mem::store_u32(p, v as u32),
                    _ => mem::store_u64(p, v),
                }
            }
            return true;
        }
        false
    }

    /// Stores the low `N` bytes of `v` at `ea` in the current byte order.
    #[inline(always)]
    pub fn st<const N: usize>(&mut self, ea: u64, v: u64) -> Result<(), Fault> {
        let m = self.dset(ea);
        if let Some(e) = self.tlb.sets[m].find(Access::Write, ea, self.tlb.tag(m, ea))
            && (ea & TLB_PAGE_MASK) as usize <= 4096 - N
        {
            let p = ea.wrapping_add(e.addend) as *mut u8;
            let page = (p as usize).wrapping_sub(self.ram_base) >> CODE_PAGE_SHIFT;
            if self.part.code.is_code(page) {
                self.part.code.invalidate(page);
            }
            let v = if self.le { v } else { bswap(v, N) };
            // SAFETY: as in `ld`.
            unsafe {
                match N {
                    1 => mem::store_u8(p, v as u8),
                    2 => mem::store_u16(p, v as u16),
                    4 => mem::store_u32(p, v as u32),
                    _ => mem::store_u64(p, v),
                }
            }
            return Ok(());
        }
        self.st_slow(ea, N, v)
    }

    // ---- memory: slow paths ------------------------------------------------------------

    fn mmu_ctx(&self) -> MmuCtx {
        MmuCtx {
            pr: self.msr & msr::PR != 0,
            pidr: self.pidr as u32,
            prtb: self.part.prtb.load(Ordering::Relaxed),
        }
    }

    /// The TLB set for a data access at `ea`: the data mode, except that privileged
    /// accesses to quadrant 0 (user addresses, translated through PIDR) use their own set,
    /// so that a context switch (a new PIDR) leaves the kernel's own translations cached.
    #[inline(always)]
    pub(crate) fn dset(&self, ea: u64) -> usize {
        self.dset_q[(ea >> 63) as usize] & 3
    }

    /// Forgets the translations that depend on PIDR (quadrant 0).
    pub(crate) fn flush_pid_translations(&mut self) {
        self.stats.pid_switches += 1;
        self.tlb.flush_mode(Mode::User);
        self.tlb.flush_mode(Mode::KernelUser);
    }

    /// [`translate`](Self::translate) through the software TLB: a hit costs no walk.
    #[inline]
    pub fn translate_cached(&mut self, ea: u64, acc: Access) -> Result<u64, Fault> {
        let hit = if acc == Access::Exec {
            let m = self.imode & 3;
            let e = self.tlb.sets[m].xentry(ea);
            (e.tag == self.tlb.tag(m, ea)).then_some(e.addend)
        } else {
            let m = self.dset(ea);
            self.tlb.sets[m]
                .find(acc, ea, self.tlb.tag(m, ea))
                .map(|e| e.addend)
        };
        if let Some(addend) = hit {
            let host = ea.wrapping_add(addend) as usize;
            return Ok(host.wrapping_sub(self.ram_base) as u64);
        }
        self.translate(ea, acc)
    }

    /// Translates a data or fetch address to a guest real address, filling the TLB when
    /// the target is RAM.
    pub fn translate(&mut self, ea: u64, acc: Access) -> Result<u64, Fault> {
        let mode = if acc == Access::Exec {
            // Privileged fetches from quadrant 0 are never cached (their set would survive
            // a PIDR change); Linux never executes user addresses in the kernel.
            if self.imode == Mode::Kernel as usize && ea >> 63 == 0 {
                Mode::KernelUser as usize
            } else {
                self.imode
            }
        } else {
            self.dset(ea)
        };
        if mode == Mode::Real as usize {
            let ra = ea & REAL_ADDR_MASK;
            self.fill(mode, acc, ea, ra, true, true, true);
            return Ok(ra);
        }
        let ctx = self.mmu_ctx();
        self.stats.walks += 1;
        match self.mmu.translate(&self.part.ram, &ctx, ea, acc) {
            Ok(t) => {
                self.fill(mode, acc, ea, t.ra, t.read, t.write, t.exec);
                Ok(t.ra)
            }
            Err(MmuFault::Segment) => Err(match acc {
                Access::Exec => Fault::ISeg,
                _ => Fault::DSeg { dar: ea },
            }),
            Err(MmuFault::Storage(bits)) => Err(match acc {
                Access::Exec => Fault::Isi { srr1: bits },
                Access::Read => Fault::Dsi {
                    dar: ea,
                    dsisr: bits,
                },
                Access::Write => Fault::Dsi {
                    dar: ea,
                    dsisr: bits | dsisr::STORE,
                },
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(&mut self, mode: usize, acc: Access, ea: u64, ra: u64, r: bool, w: bool, x: bool) {
        if acc == Access::Exec && mode == Mode::KernelUser as usize {
            return;
        }
        let rpage = ra & !TLB_PAGE_MASK;
        let Some(host) = self.part.ram.host_ptr(rpage, 1 << 12) else {
            return; // not RAM: every access takes the slow path
        };
        let page = ea & !TLB_PAGE_MASK;
        let e = TlbEntry {
            tag: self.tlb.tag(mode, ea),
            addend: (host as u64).wrapping_sub(page),
        };
        match acc {
            Access::Exec => {
                if x {
                    self.tlb.xepoch = self.tlb.xepoch.wrapping_add(1);
                    *self.tlb.sets[mode].xentry_mut(ea) = e;
                }
            }
            _ => {
                let set = &mut self.tlb.sets[mode];
                if r {
                    set.insert(Access::Read, ea, e);
                }
                if w {
                    set.insert(Access::Write, ea, e);
                }
            }
        }
    }

    #[inline(never)]
    fn ld_slow(&mut self, ea: u64, n: usize) -> Result<u64, Fault> {
        let mut buf = [0u8; 8];
        self.read_bytes(ea, &mut buf[..n])?;
        let mut v = 0u64;
        if self.le {
            for i in (0..n).rev() {
                v = (v << 8) | buf[i] as u64;
            }
        } else {
            for b in &buf[..n] {
                v = (v << 8) | *b as u64;
            }
        }
        Ok(v)
    }

    #[inline(never)]
    fn st_slow(&mut self, ea: u64, n: usize, v: u64) -> Result<(), Fault> {
        let mut buf = [0u8; 8];
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let sh = if self.le { 8 * i } else { 8 * (n - 1 - i) };
            *b = (v >> sh) as u8;
        }
        self.write_bytes(ea, &buf[..n])
    }

    /// Splits `[ea, ea+len)` at 4 KiB boundaries and translates every piece (in order, so a
    /// fault reports the first failing page). `len` is at most 4096.
    fn translate_pieces(
        &mut self,
        ea: u64,
        len: usize,
        acc: Access,
    ) -> Result<(Pieces, usize), Fault> {
        let mut out = [(0u64, 0u64, 0usize); 2];
        let first = (4096 - (ea & TLB_PAGE_MASK) as usize).min(len);
        let ra0 = self.translate_cached(ea, acc)?;
        out[0] = (ea, ra0, first);
        if first == len {
            return Ok((out, 1));
        }
        let ea1 = ea.wrapping_add(first as u64) & self.ea_mask;
        let ra1 = self.translate_cached(ea1, acc)?;
        out[1] = (ea1, ra1, len - first);
        Ok((out, 2))
    }

    /// Reads `buf.len()` (≤ 4096) bytes at `ea` in memory order, through translation, RAM
    /// or MMIO. Nothing is changed on a fault.
    #[inline]
    pub fn read_bytes(&mut self, ea: u64, buf: &mut [u8]) -> Result<(), Fault> {
        // Fast path: inside one page with a cached translation.
        if buf.len() <= 4096 - (ea & TLB_PAGE_MASK) as usize {
            let m = self.dset(ea);
            if let Some(e) = self.tlb.sets[m].find(Access::Read, ea, self.tlb.tag(m, ea)) {
                let p = ea.wrapping_add(e.addend) as *const u8;
                // SAFETY: TLB entries are only created for RAM pages, and the check above
                // keeps the whole copy inside that 4 KiB page.
                unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                return Ok(());
            }
        }
        self.read_bytes_slow(ea, buf)
    }

    #[inline(never)]
    fn read_bytes_slow(&mut self, ea: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let (pieces, n) = self.translate_pieces(ea, buf.len(), Access::Read)?;
        self.check_mmio_pieces(&pieces[..n])?;
        let mut off = 0;
        for &(pea, ra, len) in &pieces[..n] {
            let dst = &mut buf[off..off + len];
            if self.part.ram.read(ra, dst).is_none() && !self.part.bus.read(self.pir, ra, dst) {
                return Err(Fault::MachineCheck { ea: pea });
            }
            off += len;
        }
        Ok(())
    }

    /// Pieces that are not RAM go to the MMIO bus, which only takes naturally aligned
    /// accesses of 1, 2, 4, 8 or 16 bytes; anything else to caching-inhibited storage takes
    /// the alignment interrupt, as on POWER9.
    fn check_mmio_pieces(&self, pieces: &[(u64, u64, usize)]) -> Result<(), Fault> {
        for &(pea, ra, len) in pieces {
            if self.part.ram.host_ptr(ra, len as u64).is_none()
                && (!matches!(len, 1 | 2 | 4 | 8 | 16) || ra & (len as u64 - 1) != 0)
            {
                return Err(Fault::Align { dar: pea });
            }
        }
        Ok(())
    }

    /// Writes `buf` (≤ 4096 bytes) at `ea` in memory order. Every page is translated before
    /// anything is written, so a fault leaves memory untouched.
    #[inline]
    pub fn write_bytes(&mut self, ea: u64, buf: &[u8]) -> Result<(), Fault> {
        // Fast path: inside one page with a cached translation.
        if buf.len() <= 4096 - (ea & TLB_PAGE_MASK) as usize {
            let m = self.dset(ea);
            if let Some(e) = self.tlb.sets[m].find(Access::Write, ea, self.tlb.tag(m, ea)) {
                let p = ea.wrapping_add(e.addend) as *mut u8;
                let page = (p as usize).wrapping_sub(self.ram_base) >> CODE_PAGE_SHIFT;
                if self.part.code.is_code(page) {
                    self.part.code.invalidate(page);
                }
                // SAFETY: as in `read_bytes`.
                unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, buf.len()) };
                return Ok(());
            }
        }
        self.write_bytes_slow(ea, buf)
    }

    #[inline(never)]
    fn write_bytes_slow(&mut self, ea: u64, buf: &[u8]) -> Result<(), Fault> {
        let (pieces, n) = self.translate_pieces(ea, buf.len(), Access::Write)?;
        self.check_mmio_pieces(&pieces[..n])?;
        let mut off = 0;
        for &(pea, ra, len) in &pieces[..n] {
            let src = &buf[off..off + len];
            if self.part.ram.write(ra, src).is_some() {
                self.part.code.invalidate_range(ra, len as u64);
            } else if !self.part.bus.write(self.pir, ra, src) {
                return Err(Fault::MachineCheck { ea: pea });
            }
            off += len;
        }
        Ok(())
    }

    /// Host pointer for an aligned RAM access of `len` bytes that must not cross a page
    /// (larx/stcx., lq/stq, dcbz): translates, and returns `Ok(None)` if the target is not
    /// RAM.
    pub(crate) fn ram_ptr(
        &mut self,
        ea: u64,
        len: u64,
        acc: Access,
    ) -> Result<(u64, Option<*mut u8>), Fault> {
        let ra = self.translate_cached(ea, acc)?;
        Ok((ra, self.part.ram.host_ptr(ra, len)))
    }

    /// Invalidates decoded code at real address `ra`.
    #[inline]
    pub(crate) fn code_written(&self, ra: u64, len: u64) {
        self.part.code.invalidate_range(ra, len);
    }

    // ---- interrupts --------------------------------------------------------------------

    /// Delivers interrupt `vector` with SRR0 = `srr0` and `cause` in the SRR1 cause bits,
    /// applying the MSR rules and AIL. Returns [`Flow::Jump`].
    pub fn interrupt(&mut self, vector: u64, srr0: u64, cause: u64) -> Flow {
        self.stats.interrupts += 1;
        let old = self.msr;
        self.srr0 = srr0;
        self.srr1 = (old & !reg::SRR1_CAUSE_MASK) | (cause & reg::SRR1_CAUSE_MASK);
        let lp = self.part.lpcr();
        let mut new = (old & msr::ME) | msr::SF;
        if lp & lpcr::ILE != 0 {
            new |= msr::LE;
        }
        if vector == vec::MCHECK {
            new &= !msr::ME;
        }
        let ail = (lp & lpcr::AIL) >> lpcr::AIL_SHIFT;
        let mut target = vector;
        if vector != vec::SRESET
            && vector != vec::MCHECK
            && old & (msr::IR | msr::DR) == (msr::IR | msr::DR)
            && ail >= 2
        {
            new |= msr::IR | msr::DR;
            target = if ail == 3 {
                0xC000_0000_0000_4000 | vector
            } else {
                0x1_8000 | vector
            };
        }
        self.set_msr(new);
        self.resv.valid = false;
        self.nia = target;
        Flow::Jump
    }

    /// Delivers a program interrupt with `cause` for the instruction at `cia`.
    pub fn program(&mut self, cause: u64, cia: u64) -> Flow {
        self.interrupt(vec::PROGRAM, cia, cause)
    }

    /// Illegal instruction at `cia`.
    pub fn illegal(&mut self, cia: u64) -> Flow {
        self.program(reg::program::ILLEGAL, cia)
    }

    /// Privileged instruction at `cia` (executed in problem state).
    pub fn privileged(&mut self, cia: u64) -> Flow {
        self.program(reg::program::PRIV, cia)
    }

    /// Facility unavailable interrupt for facility `ic` (FSCR numbering).
    pub fn facility_unavailable(&mut self, ic: u64, cia: u64) -> Flow {
        self.fscr = (self.fscr & !reg::fscr::IC_MASK) | (ic << 56);
        self.interrupt(vec::FAC, cia, 0)
    }

    /// Delivers a memory fault for the instruction at `cia`.
    #[cold]
    pub fn fault(&mut self, f: Fault, cia: u64) -> Flow {
        match f {
            Fault::Dsi { dar, dsisr } => {
                self.dar = dar;
                self.dsisr = dsisr;
                self.interrupt(vec::DSI, cia, 0)
            }
            Fault::DSeg { dar } => {
                self.dar = dar;
                self.interrupt(vec::DSEG, cia, 0)
            }
            Fault::Isi { srr1 } => self.interrupt(vec::ISI, cia, srr1),
            Fault::ISeg => self.interrupt(vec::ISEG, cia, 0),
            Fault::Align { dar } => {
                self.dar = dar;
                self.interrupt(vec::ALIGN, cia, 0)
            }
            Fault::MachineCheck { ea } => {
                tracing::debug!(
                    cpu = self.pir,
                    ea = format_args!("{ea:#x}"),
                    cia = format_args!("{cia:#x}"),
                    "machine check: access to a real address with nothing behind it"
                );
                if self.msr & msr::ME == 0 {
                    self.exit = Some(Exit::Checkstop);
                    return Flow::Stop;
                }
                self.dar = ea;
                self.interrupt(vec::MCHECK, cia, 0)
            }
        }
    }

    // ---- decrementer -------------------------------------------------------------------

    /// Current timebase.
    #[inline]
    pub fn timebase(&self) -> u64 {
        self.part.tb.now()
    }

    /// Whether the decrementer exception condition holds now.
    pub fn dec_pending(&self) -> bool {
        self.dec.pending(self.timebase())
    }

    /// Width of the decrementer from LPCR[LD].
    pub(crate) fn sync_dec_width(&mut self) {
        let bits = if self.part.lpcr() & lpcr::LD != 0 {
            56
        } else {
            32
        };
        if self.dec.bits != bits {
            let tb = self.timebase();
            let v = self.dec.read(tb);
            self.dec.bits = bits;
            self.dec.write(tb, v);
        }
    }
}
