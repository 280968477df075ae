//! State capture and restore, keyed by stable numbers (LISN, server, priority).

use serde::{Deserialize, Serialize};

use crate::end::{End, VALID_QSHIFTS};
use crate::source::{EAS_VALID, PQ_RESET, SourceTable};
use crate::tctx::Tctx;
use crate::{MAX_SERVERS, NR_PRIORITIES, Server, Xive, XiveError};

/// Version of [`XiveState`]'s layout.
pub const XIVE_STATE_VERSION: u32 = 1;

/// One claimed source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// LISN.
    pub lisn: u32,
    /// Level-sensitive.
    pub lsi: bool,
    /// LSI line level.
    pub asserted: bool,
    /// ESB PQ bits.
    pub pq: u8,
    /// EAS in the architected 64-bit layout (VALID, END block/index, MASKED, EISN).
    pub eas: u64,
}

/// One configured END (an END without a queue is not captured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndState {
    /// Interrupt server.
    pub server: u32,
    /// Priority.
    pub priority: u8,
    /// Guest-physical queue address.
    pub qaddr: u64,
    /// log2 of the queue size in bytes.
    pub qshift: u8,
    /// Producer index.
    pub index: u32,
    /// Producer generation bit.
    pub generation: bool,
    /// UCOND_NOTIFY.
    pub always_notify: bool,
    /// ESn PQ bits.
    pub esn: u8,
}

/// One connected vCPU's thread context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenterState {
    /// Interrupt server.
    pub server: u32,
    /// The OS ring: NSR, CPPR, IPB, LSMFB, ACK_CNT, INC, AGE, PIPR, WORD2, WORD3.
    pub os_ring: [u8; 16],
}

/// The whole controller state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XiveState {
    /// [`XIVE_STATE_VERSION`].
    pub version: u32,
    /// Number of LISNs of the captured controller.
    pub nr_irqs: u32,
    /// ESB shift of the captured controller.
    pub esb_shift: u32,
    /// Number of interrupt servers.
    pub nr_servers: u32,
    /// Claimed sources, by LISN.
    pub sources: Vec<SourceState>,
    /// Configured ENDs, by (server, priority).
    pub ends: Vec<EndState>,
    /// Connected presenters, by server.
    pub presenters: Vec<PresenterState>,
}

fn bad(msg: impl Into<String>) -> XiveError {
    XiveError::BadState(msg.into())
}

impl Xive {
    /// Capture the state. Deliveries are excluded while it runs (configuration lock taken for
    /// write), so an event is either entirely in the image (PQ, queue entry, IPB) or not
    /// started. Guest RAM (queue pages) is captured by the machine.
    pub fn save(&self) -> XiveState {
        let t = self.t.write();
        let sources = t
            .sources
            .iter()
            .map(|(lisn, s)| SourceState {
                lisn,
                lsi: s.is_lsi(),
                asserted: s.asserted(),
                pq: s.pq(),
                eas: s.eas(),
            })
            .collect();
        let mut ends = Vec::new();
        let mut presenters = Vec::new();
        for (server, srv) in t.servers.iter().enumerate() {
            // server < nr_servers <= MAX_SERVERS.
            let server = server as u32;
            for (prio, e) in srv.ends.iter().enumerate() {
                let e = *e.lock();
                if e.is_valid() {
                    ends.push(EndState {
                        server,
                        priority: prio as u8,
                        qaddr: e.qaddr,
                        qshift: e.qshift,
                        index: e.index,
                        generation: e.generation,
                        always_notify: e.always_notify,
                        esn: e.esn,
                    });
                }
            }
            let tc = srv.tctx.lock();
            if tc.connected {
                presenters.push(PresenterState {
                    server,
                    os_ring: tc.regs,
                });
            }
        }
        XiveState {
            version: XIVE_STATE_VERSION,
            nr_irqs: self.cfg.nr_irqs,
            esb_shift: self.cfg.esb_shift,
            nr_servers: t.nr_servers,
            sources,
            ends,
            presenters,
        }
    }

    /// Replace the whole state with `st` (vCPU connections included), then re-drive every
    /// server's external line through the sink. On error nothing is changed.
    pub fn restore(&self, st: &XiveState) -> Result<(), XiveError> {
        if st.version != XIVE_STATE_VERSION {
            return Err(bad(format!("unsupported version {}", st.version)));
        }
        if st.nr_irqs != self.cfg.nr_irqs || st.esb_shift != self.cfg.esb_shift {
            return Err(bad("nr_irqs/esb_shift differ from this controller"));
        }
        if st.nr_servers == 0 || st.nr_servers > MAX_SERVERS {
            return Err(bad("nr_servers out of range"));
        }
        // Build everything aside first, so a bad image leaves the controller untouched.
        let mut sources = SourceTable::new(self.cfg.nr_irqs);
        for s in &st.sources {
            if s.pq > 3 {
                return Err(bad(format!("LISN {:#x}: bad PQ", s.lisn)));
            }
            sources
                .claim_with(s.lisn, s.lsi, s.asserted, s.pq, s.eas | EAS_VALID)
                .map_err(|e| bad(e.to_string()))?;
        }
        let servers: Box<[Server]> = (0..st.nr_servers).map(|_| Server::new()).collect();
        for e in &st.ends {
            let srv = servers
                .get(e.server as usize)
                .ok_or_else(|| bad(format!("END of unknown server {}", e.server)))?;
            if usize::from(e.priority) >= NR_PRIORITIES || !VALID_QSHIFTS.contains(&e.qshift) {
                return Err(bad(format!(
                    "END {}/{}: bad priority or size",
                    e.server, e.priority
                )));
            }
            let mut end = End::configured(e.qaddr, e.qshift, e.always_notify);
            if e.index >= end.entries() || e.esn > 3 {
                return Err(bad(format!("END {}/{}: bad index", e.server, e.priority)));
            }
            end.index = e.index;
            end.generation = e.generation;
            end.esn = e.esn;
            *srv.ends[usize::from(e.priority)].lock() = end;
        }
        for p in &st.presenters {
            let srv = servers
                .get(p.server as usize)
                .ok_or_else(|| bad(format!("presenter of unknown server {}", p.server)))?;
            let mut tc = srv.tctx.lock();
            *tc = Tctx {
                connected: true,
                regs: p.os_ring,
            };
            let mut ring = [0u8; 8];
            ring.copy_from_slice(&p.os_ring[..8]);
            tc.load_ring(&ring);
        }

        let mut t = self.t.write();
        let old_n = t.servers.len();
        t.sources = sources;
        t.servers = servers;
        t.nr_servers = st.nr_servers;
        // Level semantics: an asserted LSI left idle fires now.
        let lsis: Vec<u32> = t
            .sources
            .iter()
            .filter(|(_, s)| s.is_lsi() && s.asserted() && s.pq() == PQ_RESET)
            .map(|(l, _)| l)
            .collect();
        for lisn in lsis {
            if let Some(src) = t.sources.get(lisn)
                && src.set_level(true)
            {
                self.route(&t, lisn, src);
            }
        }
        for server in 0..old_n.max(t.servers.len()) {
            let line = t.servers.get(server).is_some_and(|s| {
                let tc = s.tctx.lock();
                tc.connected && tc.line()
            });
            // server < MAX_SERVERS.
            self.sink.set_external(server as u32, line);
        }
        Ok(())
    }
}
