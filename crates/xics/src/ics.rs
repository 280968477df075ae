//! The interrupt source controller (ICS): a sparse table of sources, each behind its own lock.
//!
//! Sources are grouped in blocks of 1024 numbers (the same split as KVM's ICS ids,
//! `irq >> 10`). A block is allocated the first time one of its sources is claimed and lives
//! as long as the controller, so a `&Mutex<Source>` handed out by a lookup never dangles and
//! lookups need no lock: the top-level table is a fixed array of `OnceLock`s.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// log2 of the number of sources in a block.
pub(crate) const BLOCK_SHIFT: u32 = 10;
/// Number of sources in a block.
pub(crate) const BLOCK_SIZE: usize = 1 << BLOCK_SHIFT;
/// Words of a per-block source bitmap.
const BLOCK_WORDS: usize = BLOCK_SIZE / 64;
/// Highest number of blocks (interrupt numbers are below 2^20).
pub(crate) const MAX_BLOCKS: usize = (crate::MAX_IRQ as usize) >> BLOCK_SHIFT;
/// Words of the top-level "block allocated" bitmap.
const TOP_WORDS: usize = MAX_BLOCKS / 64;

/// Source flag: the source exists (claimed by the machine or created by a state set).
pub(crate) const F_CLAIMED: u8 = 0x01;
/// Source flag: level-sensitive (LSI); clear = message-signalled (MSI).
pub(crate) const F_LSI: u8 = 0x02;
/// Source flag: P ("presented"): an interrupt is outstanding (MSI: triggered and not yet
/// EOIed; LSI: the line is asserted).
pub(crate) const F_P: u8 = 0x04;
/// Source flag: Q ("queued"): an MSI triggered again while P was set.
pub(crate) const F_Q: u8 = 0x08;
/// Source flag: a presentation attempt was refused by the ICP; retry on the next resend pass.
pub(crate) const F_RESEND: u8 = 0x10;
/// Source flag: delivery was attempted while the priority was 0xFF; deliver when unmasked.
pub(crate) const F_MASKED_PENDING: u8 = 0x20;

/// Source flag (LSI only): an occurrence is in flight — presented in an XISR, or accepted
/// and not yet EOIed (QEMU's `SENT`). While it is set the source is not offered again: a
/// new rising edge only records the level (P), and the EOI re-presents the source if the
/// line is still high. Set when an ICP takes the source into its XISR; cleared when an ICP
/// hands it back (displaced, CPPR raised, vCPU disconnected) or by the EOI.
pub(crate) const F_SENT: u8 = 0x80;

/// Source flag (LSI, transient): an EOI is waiting to re-present the source once the ack
/// listener has run; cleared by any line change or delivery in between. Only set while the
/// EOIing ICP is busy, so it never appears in a saved state.
pub(crate) const F_EOI_CHECK: u8 = 0x40;

/// The state of one interrupt source. Protected by its own mutex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    /// Destination server (ICP) number.
    pub server: u32,
    /// Current priority; 0xFF = masked.
    pub priority: u8,
    /// Priority remembered by `ibm,int-off` for `ibm,int-on`.
    pub saved_priority: u8,
    /// `F_*` flags.
    pub flags: u8,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            server: 0,
            priority: crate::MASKED,
            saved_priority: crate::MASKED,
            flags: 0,
        }
    }
}

impl Source {
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    #[inline]
    pub fn set(&mut self, f: u8) {
        self.flags |= f;
    }
    #[inline]
    pub fn clear(&mut self, f: u8) {
        self.flags &= !f;
    }
}

/// 1024 consecutive sources.
pub(crate) struct Block {
    /// One lock per source.
    pub sources: Box<[Mutex<Source>]>,
    /// A superset of the sources of this block whose `F_RESEND` flag is set, so that a resend
    /// pass does not have to lock every source. Bits are set while the source lock is held
    /// (and, for ICP refusals, while the ICP lock is held too); a pass clears a bit before it
    /// examines the source.
    pub resend_hint: [AtomicU64; BLOCK_WORDS],
}

impl Block {
    fn new() -> Self {
        Block {
            sources: (0..BLOCK_SIZE)
                .map(|_| Mutex::new(Source::default()))
                .collect(),
            resend_hint: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Record that source `idx` of this block may need a resend.
    #[inline]
    pub fn hint_resend(&self, idx: usize) {
        self.resend_hint[idx / 64].fetch_or(1u64 << (idx % 64), Ordering::AcqRel);
    }

    /// Take the lowest hinted source index that is `>= from`, clearing its hint bit.
    pub fn take_hint_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut mask = !0u64 << (from % 64);
        while w < BLOCK_WORDS {
            let word = &self.resend_hint[w];
            let mut cur = word.load(Ordering::Acquire);
            loop {
                let bits = cur & mask;
                if bits == 0 {
                    break;
                }
                let bit = bits & bits.wrapping_neg();
                match word.compare_exchange_weak(
                    cur,
                    cur & !bit,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Some(w * 64 + bit.trailing_zeros() as usize),
                    Err(now) => cur = now,
                }
            }
            w += 1;
            mask = !0;
        }
        None
    }
}

/// The sparse source table.
pub(crate) struct Ics {
    /// First valid interrupt number.
    pub first: u32,
    /// One past the last valid interrupt number.
    pub end: u32,
    blocks: Box<[OnceLock<Box<Block>>]>,
    /// Which blocks are allocated (so scans skip empty slots quickly).
    present: [AtomicU64; TOP_WORDS],
}

impl Ics {
    /// A table for interrupt numbers `first .. end` (`end <= MAX_IRQ`).
    pub fn new(first: u32, end: u32) -> Self {
        let nblocks = (end as usize).div_ceil(BLOCK_SIZE).min(MAX_BLOCKS);
        Ics {
            first,
            end,
            blocks: (0..nblocks).map(|_| OnceLock::new()).collect(),
            present: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Whether `irq` is a number this ICS covers (claimed or not).
    #[inline]
    pub fn in_range(&self, irq: u32) -> bool {
        irq >= self.first && irq < self.end
    }

    /// The block holding `irq`, if allocated and `irq` is in range.
    #[inline]
    pub fn block_of(&self, irq: u32) -> Option<&Block> {
        if !self.in_range(irq) {
            return None;
        }
        self.blocks
            .get((irq >> BLOCK_SHIFT) as usize)?
            .get()
            .map(|b| &**b)
    }

    /// The lock of source `irq`, if its block is allocated (the source may be unclaimed).
    #[inline]
    pub fn source(&self, irq: u32) -> Option<(&Block, &Mutex<Source>)> {
        let b = self.block_of(irq)?;
        let s = b.sources.get(irq as usize & (BLOCK_SIZE - 1))?;
        Some((b, s))
    }

    /// The lock of source `irq`, allocating its block if needed. `None` if out of range.
    pub fn source_alloc(&self, irq: u32) -> Option<(&Block, &Mutex<Source>)> {
        if !self.in_range(irq) {
            return None;
        }
        let bid = (irq >> BLOCK_SHIFT) as usize;
        let slot = self.blocks.get(bid)?;
        let b = slot.get_or_init(|| {
            self.present[bid / 64].fetch_or(1u64 << (bid % 64), Ordering::AcqRel);
            Box::new(Block::new())
        });
        let s = b.sources.get(irq as usize & (BLOCK_SIZE - 1))?;
        Some((&**b, s))
    }

    /// The allocated blocks, in ascending order, with their block ids.
    pub fn blocks(&self) -> impl Iterator<Item = (u32, &Block)> + '_ {
        self.blocks
            .iter()
            .enumerate()
            .filter(|(bid, _)| {
                self.present[bid / 64].load(Ordering::Acquire) & (1u64 << (bid % 64)) != 0
            })
            .filter_map(|(bid, slot)| slot.get().map(|b| (bid as u32, &**b)))
    }

    /// Interrupt number of source `idx` of block `bid`, if it is in range.
    #[inline]
    pub fn irq_of(&self, bid: u32, idx: usize) -> Option<u32> {
        let irq = (bid << BLOCK_SHIFT) | idx as u32;
        self.in_range(irq).then_some(irq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_taken_in_ascending_order_from_a_position() {
        let b = Block::new();
        for idx in [1023, 0, 64, 63, 65, 500] {
            b.hint_resend(idx);
        }
        assert_eq!(b.take_hint_from(64), Some(64));
        assert_eq!(b.take_hint_from(65), Some(65));
        b.hint_resend(70); // set ahead of a running pass: found by the same pass
        assert_eq!(b.take_hint_from(66), Some(70));
        assert_eq!(b.take_hint_from(71), Some(500));
        assert_eq!(b.take_hint_from(501), Some(1023));
        assert_eq!(b.take_hint_from(1024), None);
        assert_eq!(b.take_hint_from(0), Some(0));
        assert_eq!(b.take_hint_from(0), Some(63));
        assert_eq!(b.take_hint_from(0), None);
    }

    #[test]
    fn table_covers_exactly_the_configured_range() {
        let t = Ics::new(0x1000, 0x1C00);
        assert!(t.source_alloc(0xFFF).is_none());
        assert!(t.source_alloc(0x1C00).is_none());
        assert!(t.source(0x1000).is_none(), "not allocated yet");
        assert!(t.source_alloc(0x1BFF).is_some());
        assert!(t.source(0x1800).is_some(), "same block");
        let ids: Vec<u32> = t.blocks().map(|(id, _)| id).collect();
        assert_eq!(ids, [6]);
        assert_eq!(t.irq_of(6, 0x3FF), Some(0x1BFF));
        assert_eq!(t.irq_of(7, 0), None);
    }
}
