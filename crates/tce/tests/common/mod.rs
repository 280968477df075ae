//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use hvapi::GuestMemory;
use parking_lot::Mutex;
use tce::{Perm, TceListener};
use vm_memory::{Bytes, GuestAddress};

/// Guest RAM of `size` bytes at guest physical 0.
pub fn ram(size: usize) -> GuestMemory {
    GuestMemory::from_ranges(&[(GuestAddress(0), size)]).expect("test RAM")
}

/// Writes big-endian TCEs at `addr`.
pub fn write_list(mem: &GuestMemory, addr: u64, tces: &[u64]) {
    let mut b = Vec::with_capacity(tces.len() * 8);
    for t in tces {
        b.extend_from_slice(&t.to_be_bytes());
    }
    mem.write_slice(&b, GuestAddress(addr))
        .expect("list in RAM");
}

/// A listener keeping a per-granule mirror of what it was told, and recording any call that
/// breaks the listener contract (mapping what is mapped, unmapping what is not).
pub struct Mirror {
    granule: u64,
    pub pages: Mutex<BTreeMap<u64, (u64, Perm)>>,
    pub violations: Mutex<Vec<String>>,
    pub calls: Mutex<usize>,
}

impl Mirror {
    pub fn new(granule: u64) -> Arc<Self> {
        Arc::new(Mirror {
            granule,
            pages: Mutex::new(BTreeMap::new()),
            violations: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
        })
    }

    pub fn snapshot(&self) -> BTreeMap<u64, (u64, Perm)> {
        self.pages.lock().clone()
    }

    pub fn assert_clean(&self) {
        let v = self.violations.lock();
        assert!(v.is_empty(), "listener contract violations: {v:?}");
    }
}

impl TceListener for Mirror {
    fn map(&self, ioba: u64, gpa: u64, size: u64, perm: Perm) {
        *self.calls.lock() += 1;
        let mut p = self.pages.lock();
        if size == 0 || !size.is_multiple_of(self.granule) || !ioba.is_multiple_of(self.granule) {
            self.violations
                .lock()
                .push(format!("map of odd range {ioba:#x}+{size:#x}"));
        }
        let mut off = 0;
        while off < size {
            if p.insert(ioba + off, (gpa + off, perm)).is_some() {
                self.violations
                    .lock()
                    .push(format!("map over mapped {:#x}", ioba + off));
            }
            off += self.granule;
        }
    }

    fn unmap(&self, ioba: u64, size: u64) {
        *self.calls.lock() += 1;
        let mut p = self.pages.lock();
        let mut off = 0;
        while off < size {
            if p.remove(&(ioba + off)).is_none() {
                self.violations
                    .lock()
                    .push(format!("unmap of unmapped {:#x}", ioba + off));
            }
            off += self.granule;
        }
    }
}
