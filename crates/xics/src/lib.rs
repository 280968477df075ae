//! XICS, the legacy PAPR interrupt controller, as a library the hypervisor core drives.
//!
//! One [`Xics`] holds a source controller (ICS) covering a range of global interrupt numbers
//! and one presentation controller (ICP) per interrupt server (vCPU). It implements:
//!
//! * the XICS hypercalls (H_CPPR, H_EOI, H_XIRR, H_XIRR_X, H_IPI, H_IPOLL) through
//!   [`Xics::hcall`] and typed methods;
//! * the ICS RTAS calls (`ibm,set-xive`, `ibm,get-xive`, `ibm,int-off`, `ibm,int-on`) in
//!   [`rtas`];
//! * injection from any thread ([`hvapi::irq::IrqInjector`]);
//! * the KVM XICS device API (source state words, `NR_SERVERS`, vCPU connect/disconnect,
//!   `KVM_REG_PPC_ICP_STATE`) in [`device`];
//! * consistent state capture and restore ([`XicsState`]);
//! * the facts for the device-tree node ([`XicsDtInfo`]).
//!
//! The ICP drives each vCPU's external-interrupt line through a
//! [`hvapi::irq::VcpuIrqSink`]: asserted while XISR holds an interrupt more favoured than
//! the CPPR.
//!
//! # Locking
//!
//! No global lock sits on the delivery path. There is one mutex per source and one per ICP.
//! Lock order (a thread only ever takes locks in this order, never two of the same kind
//! except in [`Xics::save`] / [`Xics::restore`], which take all sources in ascending
//! interrupt order and then all ICPs in ascending server order):
//!
//! 1. the control mutex (connect/disconnect, `NR_SERVERS`, save/restore);
//! 2. a source mutex;
//! 3. an ICP mutex;
//! 4. the [`VcpuIrqSink`] (called with the ICP lock held so the line always matches the
//!    ICP; the sink must not call back into this crate).
//!
//! Hypercalls take only their ICP lock; when they displace an interrupt or owe a resend
//! pass they drop it first and then deliver, which takes source then ICP locks. The
//! [`IrqAckListener`] is called with no lock held (it may re-enter [`Xics::set_irq`]).

#![warn(missing_docs)]

mod dt;
mod icp;
mod ics;
mod state;

pub mod device;
pub mod rtas;

use std::sync::Arc;

use hvapi::hcall::{
    H_CPPR, H_EOI, H_HARDWARE, H_IPI, H_IPOLL, H_PARAMETER, H_XIRR, H_XIRR_X, HcallResult,
};
use hvapi::irq::{IrqAckListener, IrqError, IrqInjector, VcpuIrqSink};
use parking_lot::{Mutex, RwLock};
use thiserror::Error;

pub use dt::{DT_SENSE_EDGE, DT_SENSE_LEVEL, XicsCpuDt, XicsDtInfo};
pub use rtas::{RtasStatus, XicsRtasCall};
pub use state::{IcpState, SourceState, XICS_STATE_VERSION, XicsState};

use icp::{IcpRegs, Offer};
use ics::{
    BLOCK_SIZE, Block, F_CLAIMED, F_EOI_CHECK, F_LSI, F_MASKED_PENDING, F_P, F_Q, F_RESEND, F_SENT,
    Ics, Source,
};

/// An interrupt displaced from an XISR that must be delivered again, and the ICP whose busy
/// count covers it until then.
struct Redeliver {
    irq: u32,
    marker: Option<u32>,
}

/// Priority value meaning "masked" (as a source priority) / "accept all" (as a CPPR).
pub const MASKED: u8 = 0xFF;
/// XISR value of the inter-processor interrupt (MFRR).
pub const IPI: u32 = 2;
/// Mask of the XISR field of an XIRR.
pub const XISR_MASK: u32 = 0x00FF_FFFF;
/// Lowest interrupt number a source may have (KVM's `KVMPPC_XICS_FIRST_IRQ`).
pub const FIRST_IRQ: u32 = 16;
/// One past the highest interrupt number (KVM's `KVMPPC_XICS_NR_IRQS`).
pub const MAX_IRQ: u32 = 1 << 20;
/// Highest number of interrupt servers a controller can be built with.
pub const MAX_SERVERS: u32 = 16384;
/// First interrupt number of QEMU's pseries ICS.
pub const SPAPR_FIRST_IRQ: u32 = 0x1000;
/// Number of interrupts of QEMU's pseries ICS.
pub const SPAPR_NR_IRQS: u32 = 0x1000;

/// `KVM_REG_PPC_ICP_STATE`: CPPR field shift.
pub const ICP_CPPR_SHIFT: u32 = 56;
/// `KVM_REG_PPC_ICP_STATE`: XISR field shift (24 bits).
pub const ICP_XISR_SHIFT: u32 = 32;
/// `KVM_REG_PPC_ICP_STATE`: MFRR field shift.
pub const ICP_MFRR_SHIFT: u32 = 24;
/// `KVM_REG_PPC_ICP_STATE`: pending-priority field shift.
pub const ICP_PPRI_SHIFT: u32 = 16;

/// Construction parameters of a [`Xics`].
#[derive(Clone)]
pub struct XicsConfig {
    /// Number of interrupt servers (ICPs) the controller can hold: servers `0..nr_servers`.
    /// This is also the initial value of the `NR_SERVERS` control attribute.
    pub nr_servers: u32,
    /// First interrupt number of the ICS (at least [`FIRST_IRQ`]). QEMU: `0x1000`.
    pub first_irq: u32,
    /// Number of interrupt numbers the ICS covers. QEMU: `0x1000`.
    pub nr_irqs: u32,
    /// Told whenever the guest EOIs a level-sensitive source (irqfd resample).
    pub ack_listener: Option<Arc<dyn IrqAckListener>>,
}

impl XicsConfig {
    /// QEMU pseries layout (`0x1000 .. 0x2000`) for `nr_servers` servers.
    pub fn spapr(nr_servers: u32) -> Self {
        XicsConfig {
            nr_servers,
            first_irq: SPAPR_FIRST_IRQ,
            nr_irqs: SPAPR_NR_IRQS,
            ack_listener: None,
        }
    }
}

impl std::fmt::Debug for XicsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XicsConfig")
            .field("nr_servers", &self.nr_servers)
            .field("first_irq", &self.first_irq)
            .field("nr_irqs", &self.nr_irqs)
            .field("ack_listener", &self.ack_listener.is_some())
            .finish()
    }
}

/// Errors of the host-facing (machine) API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XicsError {
    /// The configuration is not usable.
    #[error("invalid XICS configuration: {0}")]
    Config(&'static str),
    /// The interrupt number is outside the ICS range.
    #[error("interrupt {0:#x} is outside the ICS range")]
    OutOfRange(u32),
    /// The interrupt is already claimed.
    #[error("interrupt {0:#x} is already claimed")]
    Busy(u32),
    /// The interrupt is not claimed.
    #[error("interrupt {0:#x} is not claimed")]
    NotClaimed(u32),
    /// A saved state cannot be restored here.
    #[error("invalid XICS state: {0}")]
    BadState(&'static str),
}

/// One ICP, on its own cache line so that vCPUs do not false-share.
#[repr(align(64))]
struct IcpSlot {
    regs: Mutex<IcpRegs>,
}

/// Control state, changed only by the machine.
#[derive(Debug)]
struct Ctrl {
    /// Current `NR_SERVERS` (servers `0..nr_servers` may connect).
    nr_servers: u32,
    /// Number of connected servers.
    connected: u32,
}

/// The XICS interrupt controller: an ICS plus one ICP per server.
pub struct Xics {
    ics: Ics,
    icps: Box<[IcpSlot]>,
    ctrl: Mutex<Ctrl>,
    sink: Arc<dyn VcpuIrqSink>,
    listener: RwLock<Option<Arc<dyn IrqAckListener>>>,
}

impl std::fmt::Debug for Xics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xics")
            .field("first_irq", &self.ics.first)
            .field("end_irq", &self.ics.end)
            .field("capacity", &self.icps.len())
            .finish_non_exhaustive()
    }
}

impl Xics {
    /// Build a controller. No source is claimed and no server is connected.
    pub fn new(cfg: XicsConfig, sink: Arc<dyn VcpuIrqSink>) -> Result<Self, XicsError> {
        if cfg.nr_servers == 0 || cfg.nr_servers > MAX_SERVERS {
            return Err(XicsError::Config("nr_servers must be in 1..=16384"));
        }
        if cfg.first_irq < FIRST_IRQ {
            return Err(XicsError::Config("first_irq must be at least 16"));
        }
        let end = cfg
            .first_irq
            .checked_add(cfg.nr_irqs)
            .filter(|&e| e <= MAX_IRQ);
        let Some(end) = end.filter(|_| cfg.nr_irqs > 0) else {
            return Err(XicsError::Config(
                "interrupt range must be non-empty and below 2^20",
            ));
        };
        Ok(Xics {
            ics: Ics::new(cfg.first_irq, end),
            icps: (0..cfg.nr_servers)
                .map(|_| IcpSlot {
                    regs: Mutex::new(IcpRegs::reset(false)),
                })
                .collect(),
            ctrl: Mutex::new(Ctrl {
                nr_servers: cfg.nr_servers,
                connected: 0,
            }),
            sink,
            listener: RwLock::new(cfg.ack_listener),
        })
    }

    /// Interrupt numbers covered by the ICS.
    pub fn irq_range(&self) -> std::ops::Range<u32> {
        self.ics.first..self.ics.end
    }

    /// Number of ICPs this controller was built with (upper bound of `NR_SERVERS`).
    pub fn capacity(&self) -> u32 {
        self.icps.len() as u32
    }

    /// Current `NR_SERVERS` value.
    pub fn nr_servers(&self) -> u32 {
        self.ctrl.lock().nr_servers
    }

    /// Replace the LSI EOI listener.
    pub fn set_ack_listener(&self, listener: Option<Arc<dyn IrqAckListener>>) {
        *self.listener.write() = listener;
    }

    // ---- sources (machine side) ----------------------------------------------------------

    /// Claim source `irq` as level-sensitive (`lsi`) or message-signalled. It starts masked
    /// (priority and saved priority 0xFF, server 0) with no interrupt pending.
    pub fn claim_irq(&self, irq: u32, lsi: bool) -> Result<(), XicsError> {
        let (_, m) = self
            .ics
            .source_alloc(irq)
            .ok_or(XicsError::OutOfRange(irq))?;
        let mut s = m.lock();
        if s.has(F_CLAIMED) {
            return Err(XicsError::Busy(irq));
        }
        *s = Source {
            flags: F_CLAIMED | if lsi { F_LSI } else { 0 },
            ..Source::default()
        };
        Ok(())
    }

    /// Release a claimed source. Its state is forgotten; an occurrence still presented in
    /// an ICP will be returned by H_XIRR but its EOI fails with H_PARAMETER.
    pub fn free_irq(&self, irq: u32) -> Result<(), XicsError> {
        if !self.ics.in_range(irq) {
            return Err(XicsError::OutOfRange(irq));
        }
        let (_, m) = self.ics.source(irq).ok_or(XicsError::NotClaimed(irq))?;
        let mut s = m.lock();
        if !s.has(F_CLAIMED) {
            return Err(XicsError::NotClaimed(irq));
        }
        *s = Source::default();
        Ok(())
    }

    /// `Some(lsi)` if `irq` is claimed.
    pub fn irq_kind(&self, irq: u32) -> Option<bool> {
        let (_, m) = self.ics.source(irq)?;
        let s = m.lock();
        s.has(F_CLAIMED).then(|| s.has(F_LSI))
    }

    /// Machine reset: every ICP of a connected server returns to its reset state (CPPR 0,
    /// MFRR 0xFF, nothing presented; external line lowered); every claimed source keeps its
    /// kind but becomes masked (server 0, priority and saved priority 0xFF) with nothing
    /// pending. Connections and claims survive.
    pub fn reset(&self) {
        for (_, block) in self.ics.blocks() {
            for w in &block.resend_hint {
                w.store(0, std::sync::atomic::Ordering::Release);
            }
            for m in block.sources.iter() {
                let mut s = m.lock();
                if s.has(F_CLAIMED) {
                    *s = Source {
                        flags: s.flags & (F_CLAIMED | F_LSI),
                        ..Source::default()
                    };
                }
            }
        }
        for (server, slot) in self.icps.iter().enumerate() {
            let mut r = slot.regs.lock();
            let out = r.out;
            *r = IcpRegs {
                out,
                ..IcpRegs::reset(r.connected)
            };
            self.drive(server as u32, &mut r);
        }
    }

    // ---- internal delivery machinery -----------------------------------------------------

    #[inline]
    fn icp(&self, server: u32) -> Option<&IcpSlot> {
        self.icps.get(server as usize)
    }

    /// Update the external line of `server` if the ICP's wanted level changed.
    #[inline]
    fn drive(&self, server: u32, r: &mut IcpRegs) {
        let want = r.wanted_out();
        if want != r.out {
            r.out = want;
            self.sink.set_external(server, want);
        }
    }

    /// Whether `server` has a connected vCPU.
    pub fn is_connected(&self, server: u32) -> bool {
        self.icp(server).is_some_and(|s| s.regs.lock().connected)
    }

    /// Try to present source `irq`, whose lock is held as `s`. Returns an interrupt that
    /// the presentation displaced: it must be delivered again once the source lock is
    /// released (see [`Xics::redeliver`]); the displacing ICP stays busy until then.
    fn deliver_locked(&self, irq: u32, block: &Block, s: &mut Source) -> Option<Redeliver> {
        s.clear(F_EOI_CHECK);
        if !s.has(F_CLAIMED) || !s.has(F_P) {
            // Nothing outstanding any more (MSI EOIed, LSI line lowered).
            s.clear(F_RESEND | F_MASKED_PENDING);
            return None;
        }
        if s.has(F_SENT) {
            // An LSI whose previous occurrence is still in an XISR or in service: that
            // occurrence stands for the line. Its EOI (or its return from the XISR)
            // offers the source again if the line is still high.
            s.clear(F_RESEND | F_MASKED_PENDING);
            return None;
        }
        if s.priority == MASKED {
            s.clear(F_RESEND);
            s.set(F_MASKED_PENDING);
            return None;
        }
        let idx = irq as usize & (BLOCK_SIZE - 1);
        s.clear(F_MASKED_PENDING);
        let Some(slot) = self.icp(s.server) else {
            // Destination does not exist: keep it pending for a retarget.
            s.set(F_RESEND);
            block.hint_resend(idx);
            return None;
        };
        let mut r = slot.regs.lock();
        if !r.connected {
            // Kept pending; connect_vcpu() flags it for the new ICP.
            s.set(F_RESEND);
            block.hint_resend(idx);
            return None;
        }
        match r.offer(irq, s.priority) {
            Offer::Accepted(displaced) => {
                s.clear(F_RESEND);
                if s.has(F_LSI) {
                    s.set(F_SENT);
                }
                self.drive(s.server, &mut r);
                // A source that displaced itself (re-offered at a more favoured priority
                // while already presented here) is still presented: nothing to hand back.
                if displaced == 0 || displaced == IPI || displaced == irq {
                    return None;
                }
                r.busy += 1;
                Some(Redeliver {
                    irq: displaced,
                    marker: Some(s.server),
                })
            }
            Offer::Refused => {
                // Set while the ICP lock is held so that a resend pass that starts after
                // this refusal sees the hint.
                s.set(F_RESEND);
                block.hint_resend(idx);
                None
            }
        }
    }

    /// Deliver again an interrupt an ICP handed back (no lock held), following further
    /// displacements, and release the busy marks of the chain. The interrupt is no longer
    /// in flight: an LSI loses its `F_SENT` mark and is offered again only if its line is
    /// still high.
    fn redeliver(&self, mut next: Option<Redeliver>) {
        while let Some(Redeliver { irq, marker }) = next {
            next = match self.ics.source(irq) {
                Some((block, m)) => {
                    let mut s = m.lock();
                    s.clear(F_SENT);
                    self.deliver_locked(irq, block, &mut s)
                }
                None => None,
            };
            if let Some(server) = marker {
                self.unbusy(server);
            }
        }
    }

    /// Deliver again `irq`, which an ICP handed back (no lock held; 0 = nothing).
    fn deliver(&self, irq: u32) {
        if irq != 0 {
            self.redeliver(Some(Redeliver { irq, marker: None }));
        }
    }

    /// End an in-flight operation that marked ICP `server` busy.
    fn unbusy(&self, server: u32) {
        if let Some(slot) = self.icp(server) {
            let mut r = slot.regs.lock();
            r.busy = r.busy.saturating_sub(1);
        }
    }

    /// Give every source refused by `server` another chance, in ascending interrupt order.
    fn resend_pass(&self, server: u32) {
        for (bid, block) in self.ics.blocks() {
            let mut from = 0;
            while let Some(idx) = block.take_hint_from(from) {
                from = idx + 1;
                let Some(irq) = self.ics.irq_of(bid, idx) else {
                    continue;
                };
                let mut s = block.sources[idx].lock();
                if !s.has(F_RESEND) {
                    continue;
                }
                if s.server != server {
                    // Somebody else's; keep the hint for their pass or a retarget.
                    block.hint_resend(idx);
                    continue;
                }
                s.clear(F_RESEND);
                let displaced = self.deliver_locked(irq, block, &mut s);
                drop(s);
                self.redeliver(displaced);
            }
        }
    }

    /// Second half of a CPPR/MFRR change on `server` (which the first half marked busy if
    /// `displaced != 0 || resend`): deliver the displaced interrupt, run the resend pass.
    fn after_icp_change(&self, server: u32, displaced: u32, resend: bool) {
        if displaced == 0 && !resend {
            return;
        }
        self.deliver(displaced);
        if resend {
            self.resend_pass(server);
        }
        self.unbusy(server);
    }

    /// EOI of a device source. `Err` if the source does not exist.
    fn source_eoi(&self, irq: u32) -> Result<(), ()> {
        let (block, m) = self.ics.source(irq).ok_or(())?;
        let mut s = m.lock();
        if !s.has(F_CLAIMED) {
            return Err(());
        }
        let displaced = if s.has(F_LSI) {
            // Tell the line's owner first, with no lock held: a resampling irqfd lowers the
            // line from this callback (and raises it again if its device still needs
            // service, which presents it). Re-present afterwards only if nobody touched
            // the line meanwhile and it is still asserted. The occurrence is over either
            // way: a rising edge from the listener presents the source at once.
            s.clear(F_SENT);
            s.set(F_EOI_CHECK);
            drop(s);
            let listener = self.listener.read().clone();
            if let Some(l) = listener {
                l.lsi_eoi(irq);
            }
            let mut s = m.lock();
            if s.has(F_EOI_CHECK) {
                self.deliver_locked(irq, block, &mut s)
            } else {
                None
            }
        } else if s.has(F_Q) {
            // Q moves to P: one more occurrence is owed.
            s.clear(F_Q);
            let d = self.deliver_locked(irq, block, &mut s);
            drop(s);
            d
        } else {
            s.clear(F_P);
            None
        };
        self.redeliver(displaced);
        Ok(())
    }

    /// Lock the ICP of the calling server, or fail with H_HARDWARE.
    fn caller(&self, server: u32) -> Result<parking_lot::MutexGuard<'_, IcpRegs>, i64> {
        let r = self.icp(server).ok_or(H_HARDWARE)?.regs.lock();
        if r.connected { Ok(r) } else { Err(H_HARDWARE) }
    }

    /// Lock the ICP of a target server named by the guest, or fail with H_PARAMETER.
    fn target(&self, target: u64) -> Result<(u32, parking_lot::MutexGuard<'_, IcpRegs>), i64> {
        let t = u32::try_from(target).map_err(|_| H_PARAMETER)?;
        let r = self.icp(t).ok_or(H_PARAMETER)?.regs.lock();
        if r.connected {
            Ok((t, r))
        } else {
            Err(H_PARAMETER)
        }
    }

    // ---- hypercalls ---------------------------------------------------------------------

    /// Handle a XICS hypercall made by the vCPU of interrupt server `server`. `args` are r4..
    /// r12, `timebase` the current timebase (returned by H_XIRR_X). `None` if `opcode` is not
    /// a XICS hypercall. A caller without a connected ICP gets H_HARDWARE.
    pub fn hcall(
        &self,
        server: u32,
        opcode: u64,
        args: &[u64; 9],
        timebase: u64,
    ) -> Option<HcallResult> {
        let res = match opcode {
            H_XIRR => self
                .h_xirr(server)
                .map(|x| HcallResult::ok(&[u64::from(x)])),
            H_XIRR_X => self
                .h_xirr(server)
                .map(|x| HcallResult::ok(&[u64::from(x), timebase])),
            H_EOI => self
                .h_eoi(server, args[0] as u32)
                .map(|()| HcallResult::ok(&[])),
            H_CPPR => self
                .h_cppr(server, args[0] as u8)
                .map(|()| HcallResult::ok(&[])),
            H_IPI => self
                .h_ipi(server, args[0], args[1] as u8)
                .map(|()| HcallResult::ok(&[])),
            H_IPOLL => self
                .h_ipoll(server, args[0])
                .map(|(xirr, mfrr)| HcallResult::ok(&[u64::from(xirr), u64::from(mfrr)])),
            _ => return None,
        };
        Some(res.unwrap_or_else(HcallResult::status))
    }

    /// H_XIRR: accept the presented interrupt. Returns `CPPR << 24 | XISR` (XISR 0 if none).
    pub fn h_xirr(&self, server: u32) -> Result<u32, i64> {
        let mut r = self.caller(server)?;
        let xirr = r.accept();
        self.drive(server, &mut r);
        Ok(xirr)
    }

    /// H_CPPR: set the current processor priority.
    pub fn h_cppr(&self, server: u32, cppr: u8) -> Result<(), i64> {
        let mut r = self.caller(server)?;
        let (displaced, resend) = if cppr < r.cppr {
            (r.up_cppr(cppr), false)
        } else if cppr > r.cppr {
            r.down_cppr(cppr)
        } else {
            (0, false)
        };
        if displaced != 0 || resend {
            r.busy += 1;
        }
        self.drive(server, &mut r);
        drop(r);
        self.after_icp_change(server, displaced, resend);
        Ok(())
    }

    /// H_EOI: restore the CPPR from bits 31..24 of `xirr` and end the interrupt named by its
    /// XISR field. H_PARAMETER (after the CPPR update) if that source does not exist.
    ///
    /// A CPPR made *more* favoured by an EOI is handled like H_CPPR (the presented interrupt
    /// is taken back if it no longer beats the CPPR); PAPR leaves that case open.
    pub fn h_eoi(&self, server: u32, xirr: u32) -> Result<(), i64> {
        let irq = xirr & XISR_MASK;
        let mut r = self.caller(server)?;
        let (displaced, resend) = r.set_cppr((xirr >> 24) as u8);
        if displaced == 0 && !resend && irq == IPI {
            self.drive(server, &mut r);
            return Ok(());
        }
        // The rest happens without this lock: stay busy until the source half is done.
        r.busy += 1;
        self.drive(server, &mut r);
        drop(r);
        self.deliver(displaced);
        if resend {
            self.resend_pass(server);
        }
        let res = if irq == IPI {
            Ok(())
        } else {
            self.source_eoi(irq)
        };
        self.unbusy(server);
        res.map_err(|()| H_PARAMETER)
    }

    /// H_IPI: set the MFRR of server `target`.
    pub fn h_ipi(&self, server: u32, target: u64, mfrr: u8) -> Result<(), i64> {
        drop(self.caller(server)?);
        let (t, mut r) = self.target(target)?;
        let (displaced, resend) = r.set_mfrr(mfrr);
        if displaced != 0 || resend {
            r.busy += 1;
        }
        self.drive(t, &mut r);
        drop(r);
        self.after_icp_change(t, displaced, resend);
        Ok(())
    }

    /// H_IPOLL: `(CPPR << 24 | XISR, MFRR)` of server `target`, without accepting.
    pub fn h_ipoll(&self, server: u32, target: u64) -> Result<(u32, u8), i64> {
        drop(self.caller(server)?);
        let (_, r) = self.target(target)?;
        Ok((r.xirr(), r.mfrr))
    }
}

impl IrqInjector for Xics {
    /// MSI: `level == true` is one trigger (coalesced into Q while an occurrence is
    /// outstanding). LSI: the new line level.
    fn set_irq(&self, irq: u32, level: bool) -> Result<(), IrqError> {
        let (block, m) = self.ics.source(irq).ok_or(IrqError::NoSource(irq))?;
        let mut s = m.lock();
        if !s.has(F_CLAIMED) {
            return Err(IrqError::NoSource(irq));
        }
        let displaced = if s.has(F_LSI) {
            if !level {
                // An occurrence in flight (F_SENT) stays so until its EOI or its return.
                s.clear(F_P | F_Q | F_RESEND | F_MASKED_PENDING | F_EOI_CHECK);
                None
            } else if s.has(F_P) {
                None
            } else {
                // Presented now, or kept for the EOI of the occurrence in flight.
                s.set(F_P);
                self.deliver_locked(irq, block, &mut s)
            }
        } else if !level {
            None
        } else if s.has(F_P) {
            s.set(F_Q);
            None
        } else {
            s.set(F_P);
            s.clear(F_Q);
            self.deliver_locked(irq, block, &mut s)
        };
        drop(s);
        self.redeliver(displaced);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSink;
    impl VcpuIrqSink for NoSink {
        fn set_external(&self, _: u32, _: bool) {}
    }

    /// The window between displacing an interrupt from an XISR and re-delivering it is
    /// covered by a busy mark: a capture taken inside it is refused, one taken after it
    /// sees the displaced interrupt pending again.
    #[test]
    fn displacement_window_blocks_capture() {
        let x = Xics::new(XicsConfig::spapr(1), Arc::new(NoSink)).unwrap();
        x.connect_vcpu(0).unwrap();
        x.h_cppr(0, 0xFF).unwrap();
        for (irq, prio) in [(0x1300, 5u32), (0x1301, 3)] {
            x.claim_irq(irq, false).unwrap();
            x.rtas_set_xive(irq, 0, prio).unwrap();
        }
        x.set_irq(0x1300, true).unwrap();
        // Trigger 0x1301 by hand, stopping before the displaced 0x1300 is re-delivered.
        let (block, m) = x.ics.source(0x1301).unwrap();
        let pending = {
            let mut s = m.lock();
            s.set(F_P);
            x.deliver_locked(0x1301, block, &mut s)
        };
        let Some(Redeliver {
            irq: 0x1300,
            marker: Some(0),
        }) = pending
        else {
            panic!("expected 0x1300 displaced")
        };
        assert!(
            x.try_save().is_none(),
            "capture inside the window must be refused"
        );
        x.redeliver(pending);
        let st = x.try_save().expect("window closed");
        let a = st.sources.iter().find(|s| s.irq == 0x1300).unwrap();
        assert!(
            a.presented && a.resend,
            "displaced interrupt pending again: {a:?}"
        );
        assert_eq!(st.icps[0].xisr, 0x1301);
    }

    /// A resend pass owed by a CPPR relaxation is inside the busy window too.
    #[test]
    fn resend_window_blocks_capture() {
        let x = Xics::new(XicsConfig::spapr(1), Arc::new(NoSink)).unwrap();
        x.connect_vcpu(0).unwrap();
        x.claim_irq(0x1300, false).unwrap();
        x.h_cppr(0, 0xFF).unwrap();
        x.rtas_set_xive(0x1300, 0, 5).unwrap();
        x.h_cppr(0, 0).unwrap();
        x.set_irq(0x1300, true).unwrap(); // refused
        // First half of H_CPPR(0xFF), by hand.
        let (d, resend) = {
            let mut r = x.icps[0].regs.lock();
            let out = r.down_cppr(0xFF);
            r.busy += 1;
            out
        };
        assert!(resend);
        assert!(x.try_save().is_none());
        x.after_icp_change(0, d, resend);
        let st = x.try_save().unwrap();
        assert_eq!(st.icps[0].xisr, 0x1300);
    }
}
