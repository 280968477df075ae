//! The partition-wide 512 MHz timebase, derived from the host monotonic clock, and the
//! per-vCPU decrementer arithmetic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Timebase frequency: 512 MHz, as on every POWER8/9/10 system.
pub const TB_FREQ: u64 = 512_000_000;

/// Converts host nanoseconds to timebase ticks (exactly: ticks = ns * 64 / 125).
#[inline]
pub fn ns_to_ticks(ns: u64) -> u64 {
    ((ns as u128 * 64) / 125) as u64
}

/// Converts timebase ticks to host nanoseconds.
#[inline]
pub fn ticks_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * 125) / 64).min(u64::MAX as u128) as u64
}

/// One timebase for the whole partition. Every vCPU reads the same value; it never goes
/// backwards; it stands still while the VM is paused.
pub struct Timebase {
    start: Instant,
    /// Ticks added to the host-derived count (snapshot restore, pause compensation).
    offset: AtomicU64,
    /// While paused: the frozen value + 1 (0 = running).
    frozen: AtomicU64,
    pause: Mutex<Option<Instant>>,
}

impl Default for Timebase {
    fn default() -> Self {
        Self::new()
    }
}

impl Timebase {
    /// A timebase starting at 0 now.
    pub fn new() -> Self {
        Timebase {
            start: Instant::now(),
            offset: AtomicU64::new(0),
            frozen: AtomicU64::new(0),
            pause: Mutex::new(None),
        }
    }

    /// The current timebase value.
    #[inline]
    pub fn now(&self) -> u64 {
        let f = self.frozen.load(Ordering::Acquire);
        if f != 0 {
            return f - 1;
        }
        let ns = self.start.elapsed().as_nanos() as u64;
        ns_to_ticks(ns).wrapping_add(self.offset.load(Ordering::Relaxed))
    }

    /// Host instant at which the timebase reaches `tb` (for sleeping until a deadline).
    pub fn instant_of(&self, tb: u64) -> Instant {
        let now = self.now();
        if tb <= now {
            Instant::now()
        } else {
            Instant::now() + Duration::from_nanos(ticks_to_ns(tb - now))
        }
    }

    /// Freezes the timebase (VM paused).
    pub fn pause(&self) {
        let mut p = self.pause.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            let v = self.now();
            self.frozen
                .store(v.wrapping_add(1).max(1), Ordering::Release);
            *p = Some(Instant::now());
        }
    }

    /// Resumes after [`pause`](Self::pause) without a jump.
    pub fn resume(&self) {
        let mut p = self.pause.lock().unwrap_or_else(|e| e.into_inner());
        if p.take().is_some() {
            let frozen = self.frozen.load(Ordering::Acquire).wrapping_sub(1);
            self.set(frozen);
            self.frozen.store(0, Ordering::Release);
        }
    }

    /// Makes the timebase read `tb` now (snapshot restore).
    pub fn set(&self, tb: u64) {
        let ns = self.start.elapsed().as_nanos() as u64;
        self.offset
            .store(tb.wrapping_sub(ns_to_ticks(ns)), Ordering::Relaxed);
    }
}

/// A decrementer: counts down at the timebase rate; the exception condition is the sign
/// bit of the (32- or 56-bit) value, level-sensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decrementer {
    /// Timebase when the value below was written.
    pub base_tb: u64,
    /// Written value, sign-extended from the width.
    pub base_value: i64,
    /// Width in bits (32 or 56).
    pub bits: u32,
}

impl Decrementer {
    /// A 32-bit decrementer holding `0xFFFF_FFFF` (QEMU's reset value: pending, harmless
    /// while MSR[EE] = 0).
    pub fn new(tb: u64) -> Self {
        Decrementer {
            base_tb: tb,
            base_value: -1,
            bits: 32,
        }
    }

    fn sext(&self, v: u64) -> i64 {
        let sh = 64 - self.bits;
        ((v << sh) as i64) >> sh
    }

    /// Current value sign-extended from the width.
    pub fn value(&self, tb: u64) -> i64 {
        let v = self
            .base_value
            .wrapping_sub(tb.wrapping_sub(self.base_tb) as i64);
        self.sext(v as u64)
    }

    /// What `mfspr DEC` returns: zero-extended for a 32-bit decrementer, sign-extended for
    /// the large decrementer.
    pub fn read(&self, tb: u64) -> u64 {
        let v = self.value(tb);
        if self.bits == 32 {
            v as u32 as u64
        } else {
            v as u64
        }
    }

    /// `mtspr DEC`.
    pub fn write(&mut self, tb: u64, v: u64) {
        self.base_tb = tb;
        self.base_value = self.sext(v);
    }

    /// Whether the exception condition holds.
    pub fn pending(&self, tb: u64) -> bool {
        self.value(tb) < 0
    }

    /// Timebase value at which the condition next becomes true (None if it is true now).
    pub fn deadline(&self, tb: u64) -> Option<u64> {
        if self.pending(tb) {
            None
        } else {
            Some(
                self.base_tb
                    .wrapping_add(self.base_value as u64)
                    .wrapping_add(1),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_exact() {
        assert_eq!(ns_to_ticks(1_000_000_000), TB_FREQ);
        assert_eq!(ticks_to_ns(TB_FREQ), 1_000_000_000);
        assert_eq!(ns_to_ticks(125), 64);
    }

    #[test]
    fn dec_32_bit_sign_and_reads() {
        let mut d = Decrementer::new(0);
        d.write(1000, 0x7FFF_FFFF);
        assert!(!d.pending(1000));
        assert_eq!(d.read(1000), 0x7FFF_FFFF);
        assert_eq!(d.read(1001), 0x7FFF_FFFE);
        d.write(1000, 0xFFFF_FFFF);
        assert!(d.pending(1000));
        assert_eq!(d.read(1000), 0xFFFF_FFFF, "32-bit reads are zero-extended");
        d.write(0, 9);
        assert!(!d.pending(9));
        assert!(d.pending(10));
        assert_eq!(d.deadline(0), Some(10));
        // only the low 32 bits count
        d.write(0, 0x1_0000_0005);
        assert_eq!(d.read(0), 5);
    }

    #[test]
    fn dec_large() {
        let mut d = Decrementer {
            base_tb: 0,
            base_value: 0,
            bits: 56,
        };
        d.write(0, 0x00FF_FFFF_FFFF_FFFF);
        assert!(d.pending(0));
        assert_eq!(
            d.read(0),
            u64::MAX,
            "large decrementer reads are sign-extended"
        );
        d.write(0, 0x0000_0001_0000_0000);
        assert!(!d.pending(0));
    }

    #[test]
    fn timebase_pause_resume_no_jump() {
        let tb = Timebase::new();
        tb.pause();
        let a = tb.now();
        let b = tb.now();
        assert_eq!(a, b, "frozen while paused");
        tb.resume();
        assert!(tb.now() >= a);
        tb.set(1 << 40);
        assert!(tb.now() >= 1 << 40);
    }
}
