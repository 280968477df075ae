//! State capture and restore.
//!
//! [`Xics::save`] takes every lock (control, then all sources in ascending order, then all
//! ICPs in ascending order — the documented lock order) so the image is a consistent cut even
//! while other threads inject and run hypercalls: an interrupt is either entirely before the
//! cut (in the image: P set on its source, and in an XISR or marked refused / masked
//! pending) or entirely after it. [`Xics::restore`] does the same, rewrites everything, and
//! re-drives every connected server's external line through the sink.

use serde::{Deserialize, Serialize};

use crate::ics::{
    BLOCK_SIZE, F_CLAIMED, F_LSI, F_MASKED_PENDING, F_P, F_Q, F_RESEND, F_SENT, Source,
};
use crate::{XISR_MASK, Xics, XicsError};

/// Version of the [`XicsState`] layout (2: [`SourceState::sent`] added).
pub const XICS_STATE_VERSION: u32 = 2;

/// The complete state of a [`Xics`], keyed by interrupt number and server number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XicsState {
    /// [`XICS_STATE_VERSION`].
    pub version: u32,
    /// `NR_SERVERS`.
    pub nr_servers: u32,
    /// Claimed sources, in ascending interrupt order.
    pub sources: Vec<SourceState>,
    /// Connected servers, in ascending server order.
    pub icps: Vec<IcpState>,
}

/// One claimed source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// Interrupt number.
    pub irq: u32,
    /// Level-sensitive.
    pub lsi: bool,
    /// Destination server.
    pub server: u32,
    /// Current priority (0xFF = masked).
    pub priority: u8,
    /// Priority saved by `ibm,int-off`.
    pub saved_priority: u8,
    /// P: an occurrence is outstanding (MSI) / the line is asserted (LSI).
    pub presented: bool,
    /// Q: an MSI occurrence is queued behind the outstanding one.
    pub queued: bool,
    /// Delivery was attempted while masked.
    pub masked_pending: bool,
    /// Presentation was refused; waiting for a resend pass.
    pub resend: bool,
    /// LSI only: an occurrence is in flight (presented in an XISR or accepted, not yet
    /// EOIed); the source is not offered again until its EOI or its return from the XISR.
    /// Ignored (restored as false) on an MSI.
    pub sent: bool,
}

/// One connected ICP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcpState {
    /// Server number.
    pub server: u32,
    /// Current processor priority.
    pub cppr: u8,
    /// Presented source (0 none, 2 IPI), 24 bits.
    pub xisr: u32,
    /// IPI request priority.
    pub mfrr: u8,
    /// Priority of the presented interrupt.
    pub pending_priority: u8,
    /// A resend pass is owed.
    pub need_resend: bool,
}

impl SourceState {
    fn from_source(irq: u32, s: &Source) -> Self {
        SourceState {
            irq,
            lsi: s.has(F_LSI),
            server: s.server,
            priority: s.priority,
            saved_priority: s.saved_priority,
            presented: s.has(F_P),
            queued: s.has(F_Q),
            masked_pending: s.has(F_MASKED_PENDING),
            resend: s.has(F_RESEND),
            sent: s.has(F_SENT),
        }
    }

    fn to_source(self) -> Source {
        let mut flags = F_CLAIMED;
        for (on, f) in [
            (self.lsi, F_LSI),
            (self.presented, F_P),
            (self.queued, F_Q),
            (self.masked_pending, F_MASKED_PENDING),
            (self.resend, F_RESEND),
            (self.lsi && self.sent, F_SENT),
        ] {
            if on {
                flags |= f;
            }
        }
        Source {
            server: self.server,
            priority: self.priority,
            saved_priority: self.saved_priority,
            flags,
        }
    }
}

impl Xics {
    /// Capture the whole controller state (a consistent cut; see the module docs).
    ///
    /// Blocks the delivery paths for the time it takes to copy the state. If another
    /// thread is in the middle of a multi-step operation (an ICP is busy), all locks are
    /// released and the capture retried, so the image never holds a half-done operation.
    pub fn save(&self) -> XicsState {
        loop {
            if let Some(st) = self.try_save() {
                return st;
            }
            std::thread::yield_now();
        }
    }

    /// Capture the state if no multi-step operation is in flight, else `None` (nothing is
    /// captured; try again). Never blocks for longer than copying the state.
    pub fn try_save(&self) -> Option<XicsState> {
        let ctrl = self.ctrl.lock();
        let blocks: Vec<_> = self.ics.blocks().collect();
        let mut guards = Vec::with_capacity(blocks.len() * BLOCK_SIZE);
        for (bid, block) in &blocks {
            for (idx, m) in block.sources.iter().enumerate() {
                guards.push((self.ics.irq_of(*bid, idx), m.lock()));
            }
        }
        let icps: Vec<_> = self.icps.iter().map(|s| s.regs.lock()).collect();
        if icps.iter().any(|r| r.busy != 0) {
            return None;
        }

        let sources = guards
            .iter()
            .filter_map(|(irq, s)| {
                let irq = (*irq)?;
                s.has(F_CLAIMED).then(|| SourceState::from_source(irq, s))
            })
            .collect();
        let icps = icps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.connected)
            .map(|(server, r)| IcpState {
                server: server as u32,
                cppr: r.cppr,
                xisr: r.xisr,
                mfrr: r.mfrr,
                pending_priority: r.ppri,
                need_resend: r.need_resend,
            })
            .collect();
        Some(XicsState {
            version: XICS_STATE_VERSION,
            nr_servers: ctrl.nr_servers,
            sources,
            icps,
        })
    }

    fn check_state(&self, st: &XicsState) -> Result<(), XicsError> {
        if st.version != XICS_STATE_VERSION {
            return Err(XicsError::BadState("unsupported version"));
        }
        if st.nr_servers == 0 || st.nr_servers > self.capacity() {
            return Err(XicsError::BadState("nr_servers exceeds this controller"));
        }
        let mut prev = None;
        for s in &st.sources {
            if !self.ics.in_range(s.irq) {
                return Err(XicsError::BadState("source outside the ICS range"));
            }
            if prev.is_some_and(|p| p >= s.irq) {
                return Err(XicsError::BadState("sources not strictly ascending"));
            }
            prev = Some(s.irq);
        }
        let mut prev = None;
        for i in &st.icps {
            if i.server >= st.nr_servers {
                return Err(XicsError::BadState("server beyond nr_servers"));
            }
            if prev.is_some_and(|p| p >= i.server) {
                return Err(XicsError::BadState("servers not strictly ascending"));
            }
            if i.xisr > XISR_MASK {
                return Err(XicsError::BadState("XISR wider than 24 bits"));
            }
            prev = Some(i.server);
        }
        Ok(())
    }

    /// Replace the whole controller state with `st` (taken by [`Xics::save`] of a controller
    /// with the same interrupt range and at least `st.nr_servers` capacity). Sources absent
    /// from `st` become unclaimed, servers absent from it disconnected. Every server's
    /// external line is then driven to match its restored ICP.
    pub fn restore(&self, st: &XicsState) -> Result<(), XicsError> {
        self.check_state(st)?;
        let mut ctrl = self.ctrl.lock();
        for s in &st.sources {
            self.ics
                .source_alloc(s.irq)
                .ok_or(XicsError::BadState("source allocation"))?;
        }
        let blocks: Vec<_> = self.ics.blocks().collect();
        let mut guards = Vec::with_capacity(blocks.len() * BLOCK_SIZE);
        for (bid, block) in &blocks {
            for w in &block.resend_hint {
                w.store(0, std::sync::atomic::Ordering::Release);
            }
            for (idx, m) in block.sources.iter().enumerate() {
                guards.push(((*bid, idx), *block, m.lock()));
            }
        }
        let mut icps: Vec<_> = self.icps.iter().map(|s| s.regs.lock()).collect();

        // Sources: `guards` and `st.sources` are both in ascending interrupt order.
        let mut next = st.sources.iter().peekable();
        for ((bid, idx), block, s) in guards.iter_mut() {
            let irq = self.ics.irq_of(*bid, *idx);
            **s = match next.peek() {
                Some(ss) if Some(ss.irq) == irq => {
                    let src = ss.to_source();
                    next.next();
                    if src.has(F_RESEND) {
                        block.hint_resend(*idx);
                    }
                    src
                }
                _ => Source::default(),
            };
        }

        // ICPs.
        for r in icps.iter_mut() {
            r.reinit(false);
        }
        for i in &st.icps {
            if let Some(r) = icps.get_mut(i.server as usize) {
                r.connected = true;
                r.cppr = i.cppr;
                r.mfrr = i.mfrr;
                r.ppri = i.pending_priority;
                r.xisr = i.xisr;
                r.need_resend = i.need_resend;
            }
        }
        // A refused source must find its server owing a resend pass.
        for s in st.sources.iter().filter(|s| s.resend) {
            if let Some(r) = icps.get_mut(s.server as usize).filter(|r| r.connected) {
                r.need_resend = true;
            }
        }
        let mut passes = Vec::new();
        for (server, r) in icps.iter_mut().enumerate() {
            let was = r.out;
            r.out = r.wanted_out();
            if r.connected || was {
                self.sink.set_external(server as u32, r.out);
            }
            // Finish what may have been in flight when the image was taken: offer refused
            // interrupts again. With a quiescent image this changes nothing (they are
            // refused again); with an image cut inside an ICP relaxation it completes it.
            if r.connected && r.need_resend {
                r.need_resend = false;
                r.busy += 1;
                passes.push(server as u32);
            }
        }
        drop(icps);
        drop(guards);
        for server in passes {
            self.resend_pass(server);
            self.unbusy(server);
        }
        ctrl.nr_servers = st.nr_servers;
        ctrl.connected = st.icps.len() as u32;
        Ok(())
    }
}
