//! Event Notification Descriptors (ENDs) and the event-queue producer.
//!
//! On sPAPR there is exactly one END per (server, priority). The guest registers a queue
//! page for it with `H_INT_SET_QUEUE_CONFIG`; every routed event is appended to that page as
//! a big-endian `generation << 31 | EISN` word.

use std::sync::atomic::Ordering;

use hvapi::GuestMemory;
use vm_memory::{Bytes, GuestAddress, GuestMemory as _};

use crate::source::{PQ_OFF, PQ_PENDING, PQ_QUEUED, PQ_RESET};

/// Queue sizes (log2 of bytes) the hypervisor accepts.
pub const VALID_QSHIFTS: [u8; 4] = [12, 16, 21, 24];

/// One END (event queue descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// Guest-physical queue address (0 when no queue).
    pub qaddr: u64,
    /// log2 of the queue size in bytes; 0 = no queue (END reset / not valid).
    pub qshift: u8,
    /// Producer write index, in entries.
    pub index: u32,
    /// Producer generation bit.
    pub generation: bool,
    /// UCOND_NOTIFY: notify the presenter on every event (bypass ESn coalescing).
    pub always_notify: bool,
    /// PQ bits of the END's notification ESB (ESn), used when `always_notify` is clear.
    pub esn: u8,
}

impl Default for End {
    fn default() -> Self {
        End::reset()
    }
}

impl End {
    /// The reset END: no queue, ESn "off".
    pub const fn reset() -> Self {
        End {
            qaddr: 0,
            qshift: 0,
            index: 0,
            generation: false,
            always_notify: false,
            esn: PQ_OFF,
        }
    }

    /// Whether a queue is configured (END valid and enqueueing).
    pub fn is_valid(&self) -> bool {
        self.qshift != 0
    }

    /// Number of 4-byte entries in the queue (0 if none).
    pub fn entries(&self) -> u32 {
        if self.qshift < 2 {
            0
        } else {
            1u32 << (self.qshift - 2).min(31)
        }
    }

    /// A freshly configured END (`H_INT_SET_QUEUE_CONFIG`): generation 1, index 0, ESn 00.
    pub fn configured(qaddr: u64, qshift: u8, always_notify: bool) -> Self {
        End {
            qaddr,
            qshift,
            index: 0,
            generation: true,
            always_notify,
            esn: PQ_RESET,
        }
    }

    /// Append `eisn` to the queue. On a guest-memory failure nothing changes and the error
    /// is returned.
    pub fn enqueue(
        &mut self,
        mem: &GuestMemory,
        eisn: u32,
    ) -> Result<(), vm_memory::GuestMemoryError> {
        let entries = self.entries();
        if entries == 0 {
            return Err(vm_memory::GuestMemoryError::InvalidGuestAddress(
                GuestAddress(self.qaddr),
            ));
        }
        let index = self.index & (entries - 1);
        let entry = (u32::from(self.generation) << 31) | (eisn & 0x7FFF_FFFF);
        let addr = self.qaddr.wrapping_add(u64::from(index) * 4);
        // The entry is 4-byte aligned (queues are naturally aligned): an atomic store keeps a
        // concurrently polling guest from seeing a torn entry. The bytes must be big-endian.
        mem.store(entry.to_be(), GuestAddress(addr), Ordering::Release)?;
        let next = (index + 1) & (entries - 1);
        if next == 0 {
            self.generation = !self.generation;
        }
        self.index = next;
        Ok(())
    }

    /// Whether the presenter must be notified after an enqueue: always with UCOND_NOTIFY,
    /// otherwise through the ESn PQ state machine (trigger semantics).
    pub fn should_notify(&mut self) -> bool {
        if self.always_notify {
            return true;
        }
        match self.esn & 3 {
            PQ_RESET => {
                self.esn = PQ_PENDING;
                true
            }
            PQ_OFF => false,
            _ => {
                self.esn = PQ_QUEUED;
                false
            }
        }
    }
}

/// Whether `[qaddr, qaddr + 2^qshift)` is naturally aligned and entirely guest RAM.
pub fn queue_backed(mem: &GuestMemory, qaddr: u64, qshift: u8) -> bool {
    if !VALID_QSHIFTS.contains(&qshift) {
        return false;
    }
    let len = 1u64 << qshift;
    if qaddr & (len - 1) != 0 || qaddr.checked_add(len).is_none() {
        return false;
    }
    mem.check_range(
        GuestAddress(qaddr),
        len as usize,
        vm_memory::Permissions::ReadWrite,
    )
}
