//! Interrupt sources: the sparse source table, the per-source ESB PQ state machine and the
//! EAS (Event Assignment Structure) of each source.
//!
//! Every source is two atomics: a small state word (claimed, LSI, asserted level, PQ) and
//! the 64-bit EAS. All transitions are single compare-and-swap loops on the state word, so
//! triggers from device threads, IPI stores from other vCPUs and EOIs race safely without
//! a lock. Sources live in 64-entry chunks allocated on first claim and released when their
//! last source is freed: unused LISNs cost one pointer per 64 numbers.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::XiveError;

/// PQ = 00: idle, enabled.
pub const PQ_RESET: u8 = 0b00;
/// PQ = 01: off (masked at the source; triggers are dropped).
pub const PQ_OFF: u8 = 0b01;
/// PQ = 10: one event forwarded, not yet EOI'd.
pub const PQ_PENDING: u8 = 0b10;
/// PQ = 11: forwarded, and another trigger arrived meanwhile.
pub const PQ_QUEUED: u8 = 0b11;

const ST_PQ: u32 = 0b11;
const ST_ASSERTED: u32 = 1 << 2;
const ST_LSI: u32 = 1 << 3;
const ST_CLAIMED: u32 = 1 << 4;

/// EAS: entry valid.
pub const EAS_VALID: u64 = 1 << 63;
/// EAS: END block (always 0 on sPAPR).
pub const EAS_END_BLOCK: u64 = 0x0F00_0000_0000_0000;
/// EAS: END index.
pub const EAS_END_INDEX: u64 = 0x00FF_FFFF_0000_0000;
/// EAS: masked.
pub const EAS_MASKED: u64 = 1 << 31;
/// EAS: END data (EISN), 31 bits.
pub const EAS_END_DATA: u64 = 0x7FFF_FFFF;

/// END index field of an EAS.
pub fn eas_end_index(eas: u64) -> u32 {
    // The field is 24 bits wide, the cast cannot truncate.
    ((eas & EAS_END_INDEX) >> 32) as u32
}

/// Build the END index field of an EAS.
pub fn eas_with_end_index(eas: u64, end_index: u32) -> u64 {
    (eas & !(EAS_END_INDEX | EAS_END_BLOCK)) | ((u64::from(end_index) << 32) & EAS_END_INDEX)
}

/// One interrupt source.
#[derive(Debug, Default)]
pub struct Source {
    state: AtomicU32,
    eas: AtomicU64,
}

impl Source {
    fn update(&self, f: impl Fn(u32) -> (u32, bool)) -> (u32, bool) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let (new, fwd) = f(cur);
            if new == cur {
                return (cur, fwd);
            }
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (cur, fwd),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Whether the source is level-sensitive.
    pub fn is_lsi(&self) -> bool {
        self.state.load(Ordering::Acquire) & ST_LSI != 0
    }

    /// Whether the LSI line is currently asserted.
    pub fn asserted(&self) -> bool {
        self.state.load(Ordering::Acquire) & ST_ASSERTED != 0
    }

    /// Current PQ bits.
    pub fn pq(&self) -> u8 {
        (self.state.load(Ordering::Acquire) & ST_PQ) as u8
    }

    /// Current EAS.
    pub fn eas(&self) -> u64 {
        self.eas.load(Ordering::Acquire)
    }

    /// Replace the EAS.
    pub fn set_eas(&self, eas: u64) {
        self.eas.store(eas, Ordering::Release);
    }

    /// A trigger (MSI event, IPI store, ESB trigger store). Returns whether the event must be
    /// forwarded to the router. On an LSI a trigger only forwards from PQ=00 and never sets Q.
    pub fn trigger(&self) -> bool {
        self.update(|st| {
            let pq = (st & ST_PQ) as u8;
            let (new_pq, fwd) = if st & ST_LSI != 0 {
                match pq {
                    PQ_RESET => (PQ_PENDING, true),
                    other => (other, false),
                }
            } else {
                match pq {
                    PQ_RESET => (PQ_PENDING, true),
                    PQ_OFF => (PQ_OFF, false),
                    _ => (PQ_QUEUED, false),
                }
            };
            ((st & !ST_PQ) | u32::from(new_pq), fwd)
        })
        .1
    }

    /// Drive the level of an LSI. Asserting forwards if PQ was 00. Returns whether to forward.
    pub fn set_level(&self, level: bool) -> bool {
        self.update(|st| {
            if !level {
                return (st & !ST_ASSERTED, false);
            }
            let st = st | ST_ASSERTED;
            if st & ST_PQ == u32::from(PQ_RESET) {
                ((st & !ST_PQ) | u32::from(PQ_PENDING), true)
            } else {
                (st, false)
            }
        })
        .1
    }

    /// The EOI transition. Returns whether the event is forwarded again.
    ///
    /// MSI: 00→00, 01→01, 10→00, 11→10 (forward). LSI: 01 stays; otherwise PQ←00 and, if the
    /// line is still asserted, 00→10 (forward).
    pub fn eoi(&self) -> bool {
        self.update(|st| {
            let pq = (st & ST_PQ) as u8;
            let (new_pq, fwd) = if st & ST_LSI != 0 {
                match pq {
                    PQ_OFF => (PQ_OFF, false),
                    _ if st & ST_ASSERTED != 0 => (PQ_PENDING, true),
                    _ => (PQ_RESET, false),
                }
            } else {
                match pq {
                    PQ_QUEUED => (PQ_PENDING, true),
                    PQ_OFF => (PQ_OFF, false),
                    _ => (PQ_RESET, false),
                }
            };
            ((st & !ST_PQ) | u32::from(new_pq), fwd)
        })
        .1
    }

    /// First half of an LSI EOI: PQ←00 (01, "off", stays), whatever the line. The caller
    /// then tells the ack listener (which may lower the line, as a resampling irqfd does) and
    /// finishes with [`Source::lsi_recheck`], so a line lowered by the listener is not
    /// presented again (KVM's XICS and IOAPIC order).
    pub fn lsi_eoi_reset(&self) {
        self.update(|st| {
            if (st & ST_PQ) as u8 == PQ_OFF {
                (st, false)
            } else {
                ((st & !ST_PQ) | u32::from(PQ_RESET), false)
            }
        });
    }

    /// Second half of an LSI EOI: a line still asserted with PQ=00 fires again (00→10).
    /// Returns whether to forward.
    pub fn lsi_recheck(&self) -> bool {
        self.update(|st| {
            if st & ST_ASSERTED != 0 && (st & ST_PQ) as u8 == PQ_RESET {
                ((st & !ST_PQ) | u32::from(PQ_PENDING), true)
            } else {
                (st, false)
            }
        })
        .1
    }

    /// Set PQ, returning the previous PQ and whether an event must be forwarded (only for an
    /// asserted LSI whose PQ becomes 00: level semantics re-fire it at once).
    pub fn set_pq(&self, pq: u8) -> (u8, bool) {
        let pq = u32::from(pq & 3);
        let (old, fwd) = self.update(|st| {
            if st & ST_LSI != 0 && st & ST_ASSERTED != 0 && pq == u32::from(PQ_RESET) {
                ((st & !ST_PQ) | u32::from(PQ_PENDING), true)
            } else {
                ((st & !ST_PQ) | pq, false)
            }
        });
        ((old & ST_PQ) as u8, fwd)
    }

    fn init(&self, lsi: bool, asserted: bool, pq: u8, eas: u64) {
        let mut st = ST_CLAIMED | u32::from(pq & 3);
        if lsi {
            st |= ST_LSI;
            if asserted {
                st |= ST_ASSERTED;
            }
        }
        self.eas.store(eas, Ordering::Release);
        self.state.store(st, Ordering::Release);
    }

    fn claimed(&self) -> bool {
        self.state.load(Ordering::Acquire) & ST_CLAIMED != 0
    }
}

const CHUNK_SHIFT: u32 = 6;
const CHUNK_LEN: usize = 1 << CHUNK_SHIFT;

#[derive(Debug)]
struct Chunk {
    srcs: [Source; CHUNK_LEN],
    used: u32,
}

/// The sparse table of claimed sources, indexed by LISN.
#[derive(Debug)]
pub struct SourceTable {
    chunks: Vec<Option<Box<Chunk>>>,
    nr_irqs: u32,
}

impl SourceTable {
    /// An empty table for LISNs `0..nr_irqs`.
    pub fn new(nr_irqs: u32) -> Self {
        let n = nr_irqs.div_ceil(CHUNK_LEN as u32) as usize;
        SourceTable {
            chunks: (0..n).map(|_| None).collect(),
            nr_irqs,
        }
    }

    /// The claimed source `lisn`, if any.
    pub fn get(&self, lisn: u32) -> Option<&Source> {
        let chunk = self
            .chunks
            .get((lisn >> CHUNK_SHIFT) as usize)?
            .as_deref()?;
        let src = &chunk.srcs[(lisn as usize) & (CHUNK_LEN - 1)];
        src.claimed().then_some(src)
    }

    /// Claim `lisn` with the given initial state.
    pub fn claim_with(
        &mut self,
        lisn: u32,
        lsi: bool,
        asserted: bool,
        pq: u8,
        eas: u64,
    ) -> Result<(), XiveError> {
        if lisn >= self.nr_irqs {
            return Err(XiveError::LisnOutOfRange(lisn));
        }
        let slot = self
            .chunks
            .get_mut((lisn >> CHUNK_SHIFT) as usize)
            .ok_or(XiveError::LisnOutOfRange(lisn))?;
        let chunk = slot.get_or_insert_with(|| {
            Box::new(Chunk {
                srcs: std::array::from_fn(|_| Source::default()),
                used: 0,
            })
        });
        let src = &chunk.srcs[(lisn as usize) & (CHUNK_LEN - 1)];
        if src.claimed() {
            return Err(XiveError::AlreadyClaimed(lisn));
        }
        src.init(lsi, asserted, pq, eas);
        chunk.used += 1;
        Ok(())
    }

    /// Release `lisn`; its chunk is freed with its last source.
    pub fn free(&mut self, lisn: u32) -> Result<(), XiveError> {
        let slot = self
            .chunks
            .get_mut((lisn >> CHUNK_SHIFT) as usize)
            .ok_or(XiveError::LisnOutOfRange(lisn))?;
        let Some(chunk) = slot.as_deref_mut() else {
            return Err(XiveError::NotClaimed(lisn));
        };
        let src = &chunk.srcs[(lisn as usize) & (CHUNK_LEN - 1)];
        if !src.claimed() {
            return Err(XiveError::NotClaimed(lisn));
        }
        src.state.store(0, Ordering::Release);
        src.eas.store(0, Ordering::Release);
        chunk.used -= 1;
        if chunk.used == 0 {
            *slot = None;
        }
        Ok(())
    }

    /// Every claimed source, in LISN order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Source)> {
        self.chunks.iter().enumerate().flat_map(|(ci, c)| {
            c.iter().flat_map(move |chunk| {
                chunk
                    .srcs
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.claimed())
                    .map(move |(i, s)| {
                        // ci < nr_irqs / 64 and i < 64, so this fits the u32 LISN space.
                        (((ci as u32) << CHUNK_SHIFT) | i as u32, s)
                    })
            })
        })
    }

    /// Number of chunks currently allocated (for memory accounting tests).
    pub fn allocated_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| c.is_some()).count()
    }
}
