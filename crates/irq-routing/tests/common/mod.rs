//! Test doubles shared by the integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use hvapi::irq::{IrqError, IrqInjector};
use irq_routing::{MsiError, MsiMessage, MsiOutcome, MsiTranslator};

/// Failure bound for every wait: generous, never the pass condition.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// An interrupt controller that records every `set_irq` call.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<(u32, bool)>>,
    cv: Condvar,
    /// Sources at or above this number do not exist (`NoSource`).
    pub limit: Option<u32>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limit(limit: u32) -> Self {
        Recorder {
            limit: Some(limit),
            ..Self::default()
        }
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<(u32, bool)> {
        self.events.lock().unwrap().clone()
    }

    /// Remove and return everything recorded so far.
    pub fn take(&self) -> Vec<(u32, bool)> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    /// Wait until `pred` holds for the recorded events; false if `TIMEOUT` passed first.
    pub fn wait_for(&self, pred: impl Fn(&[(u32, bool)]) -> bool) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        let mut ev = self.events.lock().unwrap();
        loop {
            if pred(&ev) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            ev = self.cv.wait_timeout(ev, deadline - now).unwrap().0;
        }
    }
}

impl IrqInjector for Recorder {
    fn set_irq(&self, irq: u32, level: bool) -> Result<(), IrqError> {
        if self.limit.is_some_and(|l| irq >= l) {
            return Err(IrqError::NoSource(irq));
        }
        self.events.lock().unwrap().push((irq, level));
        self.cv.notify_all();
        Ok(())
    }
}

/// Address of the test ITS doorbell (GITS_TRANSLATER of an ITS at 0x0808_0000).
pub const ITS_DOORBELL: u64 = 0x0808_0000 + 0x1_0040;
/// First LPI of the test translator.
pub const LPI_BASE: u32 = 8192;

/// A device-id translator in the shape of an ITS: MSIs must target the doorbell and carry
/// a device id; device `d` (< 16) has 32 events, event `e` maps to LPI
/// `8192 + d * 32 + e`; anything unmapped is dropped; while "disabled" → `Busy`.
#[derive(Default)]
pub struct DevidTranslator {
    pub disabled: AtomicBool,
}

impl DevidTranslator {
    pub fn lpi(devid: u32, event: u32) -> Option<u32> {
        (devid < 16 && event < 32).then(|| LPI_BASE + devid * 32 + event)
    }

    pub fn set_disabled(&self, d: bool) {
        self.disabled.store(d, Ordering::SeqCst);
    }
}

impl MsiTranslator for DevidTranslator {
    fn requires_devid(&self) -> bool {
        true
    }

    fn translate(&self, msi: &MsiMessage) -> Result<MsiOutcome, MsiError> {
        if self.disabled.load(Ordering::SeqCst) {
            return Err(MsiError::Busy);
        }
        if msi.address != ITS_DOORBELL {
            return Err(MsiError::Invalid);
        }
        let devid = msi.devid.ok_or(MsiError::Invalid)?;
        Ok(match Self::lpi(devid, msi.data) {
            Some(lpi) => MsiOutcome::Source(lpi),
            None => MsiOutcome::Dropped,
        })
    }
}

/// Poll `cond` until it holds; false if `TIMEOUT` passed first (failure bound only).
pub fn wait_until(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}
