//! System instructions: SPR and MSR moves, rfid, system calls, barriers, TLB management.

use std::sync::atomic::{Ordering, fence};

use crate::core::{Core, Exit, Flow};
use crate::op::Op;
use crate::partition::{Inval, attn};
use crate::reg::{fscr, lpcr, msr, spr, vec};

/// How an SPR access is resolved.
enum SprAccess {
    /// Perform it.
    Ok,
    /// Program interrupt, privileged type.
    Priv,
    /// Program interrupt, illegal type.
    Illegal,
    /// Facility unavailable with this IC.
    Facility(u64),
    /// No operation.
    Nop,
}

fn is_hv_only(n: u16) -> bool {
    matches!(
        n,
        spr::DAWR0
            | spr::RPR
            | spr::CIABR
            | spr::DAWRX0
            | spr::HFSCR
            | spr::TBL_W
            | spr::TBU_W
            | spr::TBU40
            | spr::HSPRG0
            | spr::HSPRG1
            | spr::HDSISR
            | spr::HDAR
            | spr::HDEC
            | spr::HRMOR
            | spr::HSRR0
            | spr::HSRR1
            | spr::LPCR
            | spr::LPIDR
            | spr::HMER
            | spr::HMEER
            | spr::PCR
            | spr::HEIR
            | spr::AMOR
            | spr::PTCR
            | spr::ASDR
            | spr::PSSCR
            | spr::HID0
            | 177 // DHDES
    )
}

/// Known non-hypervisor SPR numbers (read side).
fn is_known(n: u16) -> bool {
    matches!(n,
        1 | 3 | 8 | 9 | 13 | 17 | 18 | 19 | 22 | 26 | 27 | 28 | 29 | 48 | 61
        | 128..=131 | 136 | 144 | 152 | 153 | 157 | 159 | 176 | 256 | 259 | 268 | 269
        | 272..=275 | 287 | 308 | 309 | 446 | 768..=776 | 779..=782 | 784..=792
        | 795..=798 | 800..=806 | 815
        | 823 | 848 | 849 | 896 | 898 | 1023)
}

fn access(c: &Core, n: u16, write: bool) -> SprAccess {
    let pr = c.problem_state();
    if matches!(n, 0 | 4 | 5 | 6) {
        return SprAccess::Illegal;
    }
    if (808..=811).contains(&n) {
        return SprAccess::Nop;
    }
    if is_hv_only(n) {
        return SprAccess::Priv;
    }
    if !is_known(n) {
        return if pr {
            if n & 0x10 != 0 {
                SprAccess::Priv
            } else {
                SprAccess::Illegal
            }
        } else {
            SprAccess::Nop
        };
    }
    // Transactional memory is not offered: its SPRs take the facility-unavailable
    // interrupt (TM) as on a CPU with MSR[TM] = 0.
    if (128..=131).contains(&n) {
        return SprAccess::Facility(fscr::IC_TM);
    }
    // Read-only SPRs.
    let read_only = matches!(
        n,
        136 | 259 | 268 | 269 | 287 | 308 | 309 | 446 | 848 | 849 | 1023 | 176
    );
    if write && read_only {
        return if pr || matches!(n, 176 | 308 | 309) {
            SprAccess::Priv
        } else {
            SprAccess::Nop
        };
    }
    if !write && n == spr::CTRL_W {
        return if pr { SprAccess::Priv } else { SprAccess::Nop };
    }
    if pr {
        let user = matches!(n, 1 | 3 | 8 | 9 | 13 | 136 | 256 | 259 | 268 | 269 | 768..=782 | 800..=806 | 815 | 896 | 898);
        if !user {
            return SprAccess::Priv;
        }
        match n {
            3 if c.fscr & fscr::enable(fscr::IC_DSCR) == 0 => {
                return SprAccess::Facility(fscr::IC_DSCR);
            }
            815 if c.fscr & fscr::enable(fscr::IC_TAR) == 0 => {
                return SprAccess::Facility(fscr::IC_TAR);
            }
            800..=806 if c.fscr & fscr::enable(fscr::IC_EBB) == 0 => {
                return SprAccess::Facility(fscr::IC_EBB);
            }
            768..=782 if c.fscr & fscr::enable(fscr::IC_PM) == 0 => {
                return SprAccess::Facility(fscr::IC_PM);
            }
            _ => {}
        }
    }
    SprAccess::Ok
}

/// Reads SPR `n` (assumes the access was allowed).
pub fn read_spr(c: &mut Core, n: u16) -> u64 {
    match n {
        spr::XER => c.xer(),
        spr::LR => c.lr,
        spr::CTR => c.ctr,
        spr::DSCR_U | spr::DSCR => c.dscr,
        spr::AMR_U | spr::AMR => c.amr,
        spr::DSISR => c.dsisr & 0xFFFF_FFFF,
        spr::DAR => c.dar,
        spr::DEC => {
            c.sync_dec_width();
            c.dec.read(c.timebase())
        }
        spr::SRR0 => c.srr0,
        spr::SRR1 => c.srr1,
        spr::CFAR => c.cfar,
        spr::PIDR => c.pidr,
        spr::IAMR => c.iamr,
        spr::CTRL_R => (c.ctrl & 1) | 0x0080_0000 | if c.ctrl & 1 != 0 { 0x8000 } else { 0 },
        spr::TIDR => c.tidr,
        spr::FSCR => c.fscr,
        spr::UAMOR => c.uamor,
        spr::PSPB => c.pspb,
        // Thread 0 (the only one) is bit 63, as QEMU and KVM report it.
        spr::DPDES => c.doorbell as u64,
        spr::VRSAVE => c.vrsave,
        spr::SPRG3_U => c.sprg[3],
        spr::TBL_R => c.timebase(),
        spr::TBU_R => c.timebase() >> 32,
        spr::SPRG0..=spr::SPRG3 => c.sprg[(n - spr::SPRG0) as usize],
        spr::PVR => c.pvr as u64,
        spr::SPURR | spr::PURR => c.timebase().wrapping_sub(c.purr_base),
        spr::TIR => 0,
        spr::USIER | spr::SIER => c.sier,
        spr::UMMCR2 | spr::MMCR2 => c.mmcr[2],
        spr::UMMCRA | spr::MMCRA => c.mmcr[3],
        771..=776 => c.pmc[(n - 771) as usize],
        787..=792 => c.pmc[(n - 787) as usize],
        spr::UMMCR0 | spr::MMCR0 => c.mmcr[0],
        spr::USIAR | spr::SIAR => c.siar,
        spr::USDAR | spr::SDAR => c.sdar,
        spr::UMMCR1 | spr::MMCR1 => c.mmcr[1],
        spr::EBBHR => c.ebbhr,
        spr::EBBRR => c.ebbrr,
        spr::BESCR | spr::BESCRS | spr::BESCRR => c.bescr,
        spr::BESCRSU | spr::BESCRRU => c.bescr >> 32,
        spr::TAR => c.tar,
        spr::PSSCR_PR => c.psscr,
        spr::IC => 0,
        spr::VTB => c.timebase(),
        spr::PPR => c.ppr,
        spr::PPR32 => c.ppr >> 32,
        spr::PIR => c.pir as u64,
        _ => 0,
    }
}

/// Writes SPR `n` (assumes the access was allowed). Returns true if the block must end
/// (the write changed translation or interrupt state).
pub fn write_spr(c: &mut Core, n: u16, v: u64) -> bool {
    let w32 = v & 0xFFFF_FFFF;
    match n {
        spr::XER => c.set_xer(v),
        spr::LR => c.lr = v,
        spr::CTR => c.ctr = v,
        spr::DSCR_U | spr::DSCR => c.dscr = v,
        spr::AMR_U => {
            let m = if c.problem_state() { c.uamor } else { c.amor };
            c.amr = (v & m) | (c.amr & !m);
        }
        spr::AMR => c.amr = (v & c.amor) | (c.amr & !c.amor),
        spr::IAMR => c.iamr = (v & c.amor) | (c.iamr & !c.amor),
        spr::UAMOR => c.uamor = v & c.amor,
        spr::DSISR => c.dsisr = w32,
        spr::DAR => c.dar = v,
        spr::DEC => {
            c.sync_dec_width();
            let tb = c.timebase();
            c.dec.write(tb, v);
            return true;
        }
        spr::SRR0 => c.srr0 = v,
        spr::SRR1 => c.srr1 = v,
        spr::CFAR => c.cfar = v,
        spr::PIDR => {
            let v = w32;
            if v != c.pidr {
                c.pidr = v;
                c.flush_pid_translations();
            }
            return true;
        }
        spr::CTRL_W => c.ctrl = v & 1,
        spr::TIDR => c.tidr = v,
        spr::FSCR => c.fscr = v,
        spr::PSPB => c.pspb = w32,
        spr::VRSAVE => c.vrsave = w32,
        spr::SPRG0..=spr::SPRG3 => c.sprg[(n - spr::SPRG0) as usize] = v,
        spr::USIER | spr::SIER => c.sier = v,
        spr::UMMCR2 | spr::MMCR2 => c.mmcr[2] = v,
        spr::UMMCRA | spr::MMCRA => c.mmcr[3] = v,
        771..=776 => c.pmc[(n - 771) as usize] = w32,
        787..=792 => c.pmc[(n - 787) as usize] = w32,
        spr::UMMCR0 | spr::MMCR0 => c.mmcr[0] = v,
        spr::USIAR | spr::SIAR => c.siar = v,
        spr::USDAR | spr::SDAR => c.sdar = v,
        spr::UMMCR1 | spr::MMCR1 => c.mmcr[1] = v,
        spr::EBBHR => c.ebbhr = v,
        spr::EBBRR => c.ebbrr = v,
        spr::BESCR => c.bescr = v,
        spr::BESCRS => c.bescr |= v,
        spr::BESCRSU => c.bescr |= w32 << 32,
        spr::BESCRR => c.bescr &= !v,
        spr::BESCRRU => c.bescr &= !(w32 << 32),
        spr::TAR => c.tar = v,
        spr::PSSCR_PR => c.psscr = v,
        spr::PPR => c.ppr = v,
        spr::PPR32 => c.ppr = (w32 << 32) | (c.ppr & 0xFFFF_FFFF),
        _ => {}
    }
    false
}

fn deny(c: &mut Core, a: SprAccess, n: u16, cia: u64) -> Option<Flow> {
    match a {
        SprAccess::Ok => None,
        SprAccess::Nop => Some(Flow::Next),
        SprAccess::Priv => {
            if !c.problem_state() && is_hv_only(n) {
                tracing::debug!(
                    cpu = c.pir,
                    spr = n,
                    cia = format_args!("{cia:#x}"),
                    "guest kernel touched a hypervisor-only SPR"
                );
            }
            Some(c.privileged(cia))
        }
        SprAccess::Illegal => Some(c.illegal(cia)),
        SprAccess::Facility(ic) => Some(c.facility_unavailable(ic, cia)),
    }
}

/// mfspr RT,SPR: op.imm = SPR number.
pub(crate) fn mfspr(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let n = op.imm as u16;
    if let Some(f) = deny(c, access(c, n, false), n, cia) {
        return f;
    }
    c.gpr[(op.rt & 31) as usize] = read_spr(c, n);
    Flow::Next
}

/// mtspr SPR,RS.
pub(crate) fn mtspr(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let n = op.imm as u16;
    if let Some(f) = deny(c, access(c, n, true), n, cia) {
        return f;
    }
    let v = c.gpr[(op.rt & 31) as usize];
    if write_spr(c, n, v) {
        c.nia = cia.wrapping_add(4);
        Flow::Stop
    } else {
        Flow::Next
    }
}

pub(crate) fn mflr(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.rt & 31) as usize] = c.lr;
    Flow::Next
}

pub(crate) fn mtlr(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.lr = c.gpr[(op.rt & 31) as usize];
    Flow::Next
}

pub(crate) fn mfctr(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.gpr[(op.rt & 31) as usize] = c.ctr;
    Flow::Next
}

pub(crate) fn mtctr(c: &mut Core, op: &Op, _: u64) -> Flow {
    c.ctr = c.gpr[(op.rt & 31) as usize];
    Flow::Next
}

/// mftb: op.imm = TBR number.
pub(crate) fn mftb(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let tb = c.timebase();
    c.gpr[(op.rt & 31) as usize] = match op.imm {
        268 => tb,
        269 => tb >> 32,
        _ => return c.illegal(cia),
    };
    Flow::Next
}

pub(crate) fn mfmsr(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    c.gpr[(op.rt & 31) as usize] = c.msr();
    Flow::Next
}

/// The MSR value after a move to MSR from a non-hypervisor state.
fn filtered_msr(old: u64, new: u64, keep: u64) -> u64 {
    let mut m = (new & !keep) | (old & keep);
    if m & msr::PR != 0 {
        m |= msr::EE | msr::IR | msr::DR;
    }
    m
}

/// mtmsrd RS,L (64-bit) and mtmsr RS,L (32-bit): W = the 32-bit form.
pub(crate) fn mtmsr<const W: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    let rs = c.gpr[(op.rt & 31) as usize];
    let old = c.msr();
    let l = op.raw & (1 << 16) != 0;
    let new = if l {
        (old & !(msr::EE | msr::RI)) | (rs & (msr::EE | msr::RI))
    } else {
        let keep = msr::HV | msr::S | msr::ME | msr::LE;
        let rs = if W {
            (old & !0xFFFF_FFFF) | (rs & 0xFFFF_FFFF)
        } else {
            rs
        };
        filtered_msr(old, rs, keep)
    };
    c.set_msr(new);
    c.nia = cia.wrapping_add(4);
    Flow::Stop
}

/// rfid / rfscv: R = source is SRR0/SRR1 (rfid) or LR/CTR (rfscv).
pub(crate) fn rfi<const SCV: bool>(c: &mut Core, _: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    let (nia, src) = if SCV { (c.lr, c.ctr) } else { (c.srr0, c.srr1) };
    let new = filtered_msr(c.msr(), src, msr::HV | msr::S | msr::ME);
    c.set_msr(new);
    c.nia = c.ea(nia & !3);
    c.resv.valid = false;
    Flow::Stop
}

/// hrfid and other hypervisor-only instructions: privileged program interrupt.
pub(crate) fn hv_only(c: &mut Core, _: &Op, cia: u64) -> Flow {
    c.privileged(cia)
}

/// sc LEV.
pub(crate) fn sc(c: &mut Core, op: &Op, cia: u64) -> Flow {
    let lev = (op.raw >> 5) & 0x7F;
    if lev == 1 && !c.problem_state() {
        c.nia = cia.wrapping_add(4);
        c.exit = Some(Exit::Hcall);
        return Flow::Stop;
    }
    // LEV=0 (and reserved levels, and `sc 1` from problem state, which a PAPR hypervisor
    // reflects to the guest kernel): system call interrupt, SRR0 = next instruction.
    c.interrupt(vec::SYSCALL, c.ea(cia.wrapping_add(4)), 0)
}

/// scv LEV.
pub(crate) fn scv(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.fscr & fscr::enable(fscr::IC_SCV) == 0 {
        return c.facility_unavailable(fscr::IC_SCV, cia);
    }
    let lev = ((op.raw >> 5) & 0x7F) as u64;
    let old = c.msr();
    c.lr = c.ea(cia.wrapping_add(4));
    c.ctr = old & !crate::reg::SRR1_CAUSE_MASK;
    let lp = c.partition().lpcr();
    let mut new = (old & (msr::ME | msr::EE | msr::RI)) | msr::SF;
    if lp & lpcr::ILE != 0 {
        new |= msr::LE;
    }
    let ail = (lp & lpcr::AIL) >> lpcr::AIL_SHIFT;
    // AIL 2 and 3 turn translation on; only AIL 3 moves the vector (AIL 2 keeps 0x17000).
    let reloc = ail >= 2 && old & (msr::IR | msr::DR) == (msr::IR | msr::DR);
    if reloc {
        new |= msr::IR | msr::DR;
    }
    let target = if reloc && ail == 3 {
        0xC000_0000_0000_3000 + 32 * lev
    } else {
        0x1_7000 + 32 * lev
    };
    c.set_msr(new);
    c.resv.valid = false;
    c.nia = target;
    Flow::Stop
}

/// sync (hwsync, lwsync, ptesync).
pub(crate) fn sync(c: &mut Core, op: &Op, _: u64) -> Flow {
    let l = (op.raw >> 21) & 3;
    if l == 1 {
        fence(Ordering::AcqRel);
    } else {
        fence(Ordering::SeqCst);
        if l == 2 {
            wait_tlbie(c);
        }
    }
    Flow::Next
}

pub(crate) fn eieio(_: &mut Core, _: &Op, _: u64) -> Flow {
    fence(Ordering::Release);
    Flow::Next
}

/// isync: ends the block so that later instructions are fetched and decoded afresh.
pub(crate) fn isync(c: &mut Core, _: &Op, cia: u64) -> Flow {
    fence(Ordering::Acquire);
    c.nia = cia.wrapping_add(4);
    Flow::Jump
}

/// Waits until every other running vCPU has dropped the translations invalidated by this
/// vCPU's earlier tlbie.
pub(crate) fn wait_tlbie(c: &mut Core) {
    let epoch = c.tlbie_wait;
    if epoch == 0 {
        return;
    }
    let part = c.partition().clone();
    let me = c.pir;
    let mut spins = 0u32;
    let t0 = std::time::Instant::now();
    while !part.all_acked(me, epoch) {
        // Answer shootdowns aimed at us meanwhile, or two vCPUs waiting for each other
        // would deadlock.
        c.ack_tlb_flush();
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    c.tlbie_wait = 0;
    c.stats.tlbie_wait_ns += t0.elapsed().as_nanos() as u64;
}

/// tlbsync.
pub(crate) fn tlbsync(c: &mut Core, _: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    wait_tlbie(c);
    Flow::Next
}

/// What a tlbie/tlbiel asks to invalidate (radix, process scope). Anything else (hash,
/// partition scope, reserved encodings) invalidates everything.
fn tlbi_scope(c: &Core, op: &Op) -> Option<Inval> {
    let w = op.raw;
    let ric = (w >> 18) & 3;
    let prs = (w >> 17) & 1;
    let r = (w >> 16) & 1;
    let rb = c.gpr[(op.rb & 31) as usize];
    let rs = c.gpr[(op.rt & 31) as usize];
    if r == 0 || prs == 0 || ric == 3 {
        return Some(Inval::All);
    }
    if ric == 1 {
        return None; // page-walk cache only: this MMU caches no walks
    }
    let pid = (rs >> 32) as u32;
    let is = (rb >> 10) & 3;
    match is {
        0 if ric == 0 => {
            let shift = match (rb >> 5) & 7 {
                0 => 12,
                5 => 16,
                1 => 21,
                2 => 30,
                _ => return Some(Inval::Pid(pid)),
            };
            Some(Inval::Page {
                pid,
                ea: rb & !0xFFF,
                shift,
            })
        }
        0 | 1 => Some(Inval::Pid(pid)),
        _ => Some(Inval::All),
    }
}

/// Partition-scoped invalidations (PRS = 0) in a radix partition (LPCR[HR] = 1) are
/// hypervisor privileged.
fn partition_scoped(c: &Core, op: &Op) -> bool {
    op.raw & (1 << 17) == 0 && c.partition().lpcr() & lpcr::HR != 0
}

/// tlbie: invalidate translations on every vCPU.
pub(crate) fn tlbie(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    if c.partition().lpcr() & lpcr::GTSE == 0 || partition_scoped(c, op) {
        return c.privileged(cia);
    }
    if let Some(what) = tlbi_scope(c, op) {
        c.ack_tlb_flush();
        c.invalidate(what);
        c.stats.tlbies += 1;
        let e = c.partition().broadcast_inval(what);
        c.tlb_seen = e;
        c.shared().tlb_ack.store(e, Ordering::SeqCst);
        c.tlbie_wait = e;
    }
    Flow::Next
}

/// tlbiel: invalidate this vCPU's translations.
pub(crate) fn tlbiel(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() || partition_scoped(c, op) {
        return c.privileged(cia);
    }
    if let Some(what) = tlbi_scope(c, op) {
        c.invalidate(what);
    }
    Flow::Next
}

/// slbia: radix uses it as "invalidate the ERAT": drop this vCPU's translations.
pub(crate) fn slbia(c: &mut Core, _: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    c.flush_tlb();
    Flow::Next
}

/// Privileged no-ops (slbie, slbmte, slbsync, dcbi, msgclrp, cp_abort...).
pub(crate) fn priv_nop(c: &mut Core, _: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    Flow::Next
}

/// Privileged moves that read as zero (slbmfee, slbmfev).
pub(crate) fn priv_zero(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    c.gpr[(op.rt & 31) as usize] = 0;
    Flow::Next
}

/// msgsndp: each vCPU is a single-thread core, so only thread 0 (itself) can be targeted.
pub(crate) fn msgsndp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    let rb = c.gpr[(op.rb & 31) as usize];
    let msgtype = (rb >> 27) & 0x1F;
    let thread = rb & 0x7F;
    if msgtype == 5 && thread == 0 {
        c.doorbell = true;
        c.nia = cia.wrapping_add(4);
        return Flow::Stop;
    }
    Flow::Next
}

pub(crate) fn msgclrp(c: &mut Core, op: &Op, cia: u64) -> Flow {
    if c.problem_state() {
        return c.privileged(cia);
    }
    let rb = c.gpr[(op.rb & 31) as usize];
    if (rb >> 27) & 0x1F == 5 {
        c.doorbell = false;
    }
    Flow::Next
}

/// Illegal instruction.
pub(crate) fn illegal(c: &mut Core, op: &Op, cia: u64) -> Flow {
    tracing::trace!(
        cpu = c.pir,
        cia = format_args!("{cia:#x}"),
        insn = format_args!("{:#010x}", op.raw),
        "illegal instruction"
    );
    c.illegal(cia)
}

impl Core {
    /// Handles a pending TLB shootdown from another vCPU: flush and acknowledge.
    pub(crate) fn ack_tlb_flush(&mut self) {
        // Clear the request first: a tlbie that lands after the log is read below sets it
        // again and is handled at the next check.
        self.shared
            .attention
            .fetch_and(!attn::TLB, Ordering::SeqCst);
        let mut buf = std::mem::take(&mut self.inval_buf);
        let part = self.part.clone();
        match part.invals_since(self.tlb_seen, &mut buf) {
            Some(now) => {
                for &w in &buf {
                    self.invalidate(w);
                }
                self.tlb_seen = now;
            }
            None => {
                self.flush_tlb();
                self.tlb_seen = part.tlb_epoch.load(Ordering::SeqCst);
            }
        }
        self.inval_buf = buf;
        self.shared.tlb_ack.store(self.tlb_seen, Ordering::SeqCst);
    }
}
