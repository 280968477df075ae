//! Test helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hvapi::hcall::HcallResult;
use hvapi::irq::{IrqAckListener, VcpuIrqSink};
use parking_lot::Mutex;
use xics::{Xics, XicsConfig};

/// A sink that records each server's line and counts calls.
pub struct LineSink {
    pub lines: Vec<AtomicBool>,
    pub calls: AtomicU64,
}

impl LineSink {
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(LineSink {
            lines: (0..n).map(|_| AtomicBool::new(false)).collect(),
            calls: AtomicU64::new(0),
        })
    }
    pub fn line(&self, server: u32) -> bool {
        self.lines[server as usize].load(Ordering::SeqCst)
    }
    pub fn snapshot(&self) -> Vec<bool> {
        self.lines
            .iter()
            .map(|l| l.load(Ordering::SeqCst))
            .collect()
    }
}

impl VcpuIrqSink for LineSink {
    fn set_external(&self, server: u32, asserted: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(l) = self.lines.get(server as usize) {
            l.store(asserted, Ordering::SeqCst);
        }
    }
}

/// Records LSI EOIs.
#[derive(Default)]
pub struct AckLog {
    pub eois: Mutex<Vec<u32>>,
}

impl IrqAckListener for AckLog {
    fn lsi_eoi(&self, irq: u32) {
        self.eois.lock().push(irq);
    }
}

/// A QEMU-layout controller with `n` servers, all connected and opened (CPPR 0xFF).
pub fn setup(n: u32) -> (Xics, Arc<LineSink>) {
    let sink = LineSink::new(n as usize);
    let x = Xics::new(XicsConfig::spapr(n), sink.clone()).unwrap();
    for s in 0..n {
        x.connect_vcpu(s).unwrap();
        x.h_cppr(s, 0xFF).unwrap();
    }
    (x, sink)
}

/// Claim `irq` and route it to `server` at `prio`.
pub fn route(x: &Xics, irq: u32, lsi: bool, server: u32, prio: u8) {
    x.claim_irq(irq, lsi).unwrap();
    x.rtas_set_xive(irq, server, u32::from(prio)).unwrap();
}

pub fn args(a: &[u64]) -> [u64; 9] {
    let mut r = [0u64; 9];
    r[..a.len()].copy_from_slice(a);
    r
}

pub fn hc(x: &Xics, server: u32, op: u64, a: &[u64]) -> HcallResult {
    x.hcall(server, op, &args(a), 0).expect("XICS opcode")
}

/// Seed of the property tests' random generator unless `PROPTEST_RNG_SEED` is set, so that
/// every run (CI included) explores the same cases and a failure reproduces.
pub const DEFAULT_PROPTEST_SEED: u64 = 0x5849_4353_0000_0001;

/// The seed the property tests use: `PROPTEST_RNG_SEED` (a `u64`) if set, else
/// [`DEFAULT_PROPTEST_SEED`]. Explore new cases with e.g.
/// `PROPTEST_RNG_SEED=$RANDOM cargo test -p xics`.
pub fn proptest_seed() -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    match std::env::var("PROPTEST_RNG_SEED") {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(seed) => RngSeed::Fixed(seed),
            Err(_) => panic!("PROPTEST_RNG_SEED={v:?} is not a u64"),
        },
        Err(_) => RngSeed::Fixed(DEFAULT_PROPTEST_SEED),
    }
}

/// Property-test configuration: `cases` cases (`PROPTEST_CASES` still overrides it) from
/// the seed of [`proptest_seed`].
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest_seed(),
        ..proptest::test_runner::Config::default()
    }
}
