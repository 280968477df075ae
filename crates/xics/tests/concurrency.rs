//! Concurrency: device threads inject while vCPU threads accept and EOI, IPIs fly, and a
//! saver captures the state mid-flight.
//!
//! Rules tested:
//!
//! * **Exactly once** when a source is re-triggered only after its previous occurrence was
//!   EOIed (MSI) or after the device lowered its line at service time (LSI): every trigger
//!   is accepted exactly once, and never while a previous acceptance of it is in service.
//! * **At least once per burst** when MSIs are re-triggered freely: XICS keeps at most one
//!   occurrence queued (P/Q) behind the outstanding one, so triggers that arrive while one
//!   is already queued coalesce — that is the architected edge semantics (PAPR/KVM's P and
//!   Q bits), not a loss. What must hold is that the *last* trigger of every source is
//!   followed by an acceptance that starts after it, and that acceptances never exceed
//!   triggers.
//! * **Save under fire**: with vCPUs parked (as a migration does) and devices still
//!   injecting, `save()` returns a consistent cut: every outstanding occurrence is either in
//!   service on a parked vCPU or pending in the image (XISR / refused), never both, never
//!   neither; restoring the image into a fresh controller and draining it delivers exactly
//!   the pending ones, once.
//!
//! Progress is checked with a generous deadline that only guards against a hang (deadlock or
//! lost interrupt); no assertion depends on timing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use common::LineSink;
use hvapi::irq::IrqInjector;
use parking_lot::Mutex;
use xics::{Xics, XicsConfig, XicsState};

const NSERVERS: u32 = 2;
const DEADLINE: Duration = Duration::from_secs(120);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Src {
    irq: u32,
    lsi: bool,
    sent: AtomicU64,
    accepted: AtomicU64,
    done: AtomicU64,
    in_service: AtomicU32,
}

struct World {
    x: Xics,
    srcs: Vec<Src>,
    stop: AtomicBool,
    pause: AtomicBool,
    parked: AtomicU32,
    parked_stacks: Mutex<Vec<(u32, Vec<u32>)>>,
    errors: Mutex<Vec<String>>,
    start: Instant,
}

impl World {
    fn new(nsrc: u32, lsi_every: u32) -> Arc<Self> {
        let sink = LineSink::new(NSERVERS as usize);
        let x = Xics::new(XicsConfig::spapr(NSERVERS), sink).unwrap();
        for k in 0..NSERVERS {
            x.connect_vcpu(k).unwrap();
            x.h_cppr(k, 0xFF).unwrap();
        }
        let srcs = (0..nsrc)
            .map(|i| {
                // Spread over two ICS blocks.
                let irq = 0x1300 + i * 3;
                let lsi = lsi_every != 0 && i % lsi_every == 0;
                x.claim_irq(irq, lsi).unwrap();
                x.rtas_set_xive(irq, i % NSERVERS, 4 + (i % 3)).unwrap();
                Src {
                    irq,
                    lsi,
                    sent: AtomicU64::new(0),
                    accepted: AtomicU64::new(0),
                    done: AtomicU64::new(0),
                    in_service: AtomicU32::new(0),
                }
            })
            .collect();
        Arc::new(World {
            x,
            srcs,
            stop: AtomicBool::new(false),
            pause: AtomicBool::new(false),
            parked: AtomicU32::new(0),
            parked_stacks: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            start: Instant::now(),
        })
    }

    fn src(&self, irq: u32) -> Option<&Src> {
        self.srcs.iter().find(|s| s.irq == irq)
    }

    fn guard(&self, what: &str) {
        assert!(
            self.start.elapsed() < DEADLINE,
            "no progress: {what} (deadlock or lost interrupt)"
        );
    }

    /// One vCPU: accept, sometimes keep up to two interrupts in service (nested), EOI in
    /// LIFO order with the CPPR the accept returned. Parks when asked.
    fn vcpu(&self, k: u32, seed: u64) {
        let mut rng = Rng(seed | 1);
        let mut stack: Vec<u32> = Vec::new();
        loop {
            if self.pause.load(SeqCst) {
                self.parked_stacks.lock().push((k, stack.clone()));
                self.parked.fetch_add(1, SeqCst);
                while self.pause.load(SeqCst) {
                    std::thread::yield_now();
                }
                self.parked.fetch_sub(1, SeqCst);
                continue;
            }
            if self.stop.load(SeqCst) && stack.is_empty() && self.all_done() {
                return;
            }
            self.guard("vcpu");
            let xirr = self.x.h_xirr(k).unwrap();
            let irq = xirr & 0xFF_FFFF;
            if irq == 0 {
                if let Some(top) = stack.pop() {
                    self.eoi(k, top);
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            if irq == 2 {
                self.x.h_ipi(k, u64::from(k), 0xFF).unwrap();
                self.x.h_eoi(k, xirr).unwrap();
                continue;
            }
            let Some(s) = self.src(irq) else {
                self.errors.lock().push(format!("unknown irq {irq:#x}"));
                continue;
            };
            if s.in_service.fetch_add(1, SeqCst) != 0 {
                self.errors
                    .lock()
                    .push(format!("{irq:#x} accepted while in service"));
            }
            s.accepted.fetch_add(1, SeqCst);
            stack.push(xirr);
            if stack.len() < 2 && rng.next().is_multiple_of(4) {
                continue; // keep it in service for a while
            }
            while let Some(top) = stack.pop() {
                self.eoi(k, top);
            }
        }
    }

    fn eoi(&self, k: u32, xirr: u32) {
        let s = self.src(xirr & 0xFF_FFFF).unwrap();
        if s.lsi {
            // The device is serviced: its line drops before the EOI.
            self.x.set_irq(s.irq, false).unwrap();
        }
        s.in_service.fetch_sub(1, SeqCst);
        self.x.h_eoi(k, xirr).unwrap();
        s.done.fetch_add(1, SeqCst);
    }

    fn all_done(&self) -> bool {
        self.srcs
            .iter()
            .all(|s| s.done.load(SeqCst) == s.sent.load(SeqCst))
    }

    /// A device thread: re-triggers each of its sources once the previous occurrence is done.
    fn device(&self, mine: &[usize], total: u64) {
        let mut n = 0;
        while n < total {
            self.guard("device");
            let mut progressed = false;
            for &i in mine {
                let s = &self.srcs[i];
                if s.done.load(SeqCst) == s.sent.load(SeqCst) && n < total {
                    s.sent.fetch_add(1, SeqCst);
                    self.x.set_irq(s.irq, true).unwrap();
                    n += 1;
                    progressed = true;
                }
            }
            if !progressed {
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn every_trigger_is_delivered_exactly_once_under_contention() {
    let w = World::new(48, 4);
    let mut hs = Vec::new();
    for k in 0..NSERVERS {
        let w = w.clone();
        hs.push(std::thread::spawn(move || w.vcpu(k, 0x1234 + u64::from(k))));
    }
    let ndev = 4;
    let mut devs = Vec::new();
    for d in 0..ndev {
        let w = w.clone();
        let mine: Vec<usize> = (0..w.srcs.len()).filter(|i| i % ndev == d).collect();
        devs.push(std::thread::spawn(move || w.device(&mine, 25_000)));
    }
    // IPIs in the background, from server 0's identity to both servers.
    let ipi = {
        let w = w.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !w.stop.load(SeqCst) {
                w.x.h_ipi(0, i % 2, 4).unwrap();
                i += 1;
                std::thread::yield_now();
            }
        })
    };
    for d in devs {
        d.join().unwrap();
    }
    w.stop.store(true, SeqCst);
    ipi.join().unwrap();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*w.errors.lock(), Vec::<String>::new());
    for s in &w.srcs {
        let sent = s.sent.load(SeqCst);
        assert!(sent > 0);
        assert_eq!(s.accepted.load(SeqCst), sent, "irq {:#x}", s.irq);
        assert_eq!(s.done.load(SeqCst), sent);
    }
    assert_eq!(
        w.srcs.iter().map(|s| s.sent.load(SeqCst)).sum::<u64>(),
        100_000
    );
    // Nothing left pending.
    for s in w.x.save().sources {
        assert!(
            !s.presented && !s.queued && !s.resend && !s.masked_pending,
            "{s:?}"
        );
    }
}

#[test]
fn free_msi_bursts_coalesce_but_the_last_trigger_is_always_delivered() {
    let sink = LineSink::new(NSERVERS as usize);
    let x = Arc::new(Xics::new(XicsConfig::spapr(NSERVERS), sink.clone()).unwrap());
    const N: u32 = 16;
    for k in 0..NSERVERS {
        x.connect_vcpu(k).unwrap();
        x.h_cppr(k, 0xFF).unwrap();
    }
    for i in 0..N {
        x.claim_irq(0x1300 + i, false).unwrap();
        x.rtas_set_xive(0x1300 + i, i % NSERVERS, 5).unwrap();
    }
    let generation: Arc<Vec<AtomicU64>> = Arc::new((0..N).map(|_| AtomicU64::new(0)).collect());
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..N).map(|_| AtomicU64::new(0)).collect());
    let accepts: Arc<Vec<AtomicU64>> = Arc::new((0..N).map(|_| AtomicU64::new(0)).collect());
    let devices_done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();

    let mut vcpus = Vec::new();
    for k in 0..NSERVERS {
        let (x, generation, seen, accepts, devices_done) = (
            x.clone(),
            generation.clone(),
            seen.clone(),
            accepts.clone(),
            devices_done.clone(),
        );
        vcpus.push(std::thread::spawn(move || {
            loop {
                assert!(start.elapsed() < DEADLINE, "no progress");
                let xirr = x.h_xirr(k).unwrap();
                let irq = xirr & 0xFF_FFFF;
                if irq == 0 {
                    let finished = devices_done.load(SeqCst)
                        && (0..N as usize)
                            .filter(|i| *i as u32 % NSERVERS == k)
                            .all(|i| seen[i].load(SeqCst) == generation[i].load(SeqCst));
                    if finished {
                        return;
                    }
                    std::thread::yield_now();
                    continue;
                }
                let i = (irq - 0x1300) as usize;
                accepts[i].fetch_add(1, SeqCst);
                // Everything triggered up to now is covered by this acceptance.
                seen[i].store(generation[i].load(SeqCst), SeqCst);
                x.h_eoi(k, xirr).unwrap();
            }
        }));
    }
    let mut devs = Vec::new();
    for d in 0..4u32 {
        let (x, generation) = (x.clone(), generation.clone());
        devs.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9 + u64::from(d));
            for _ in 0..50_000 {
                let i = (rng.next() % u64::from(N)) as usize;
                generation[i].fetch_add(1, SeqCst);
                x.set_irq(0x1300 + i as u32, true).unwrap();
            }
        }));
    }
    for d in devs {
        d.join().unwrap();
    }
    devices_done.store(true, SeqCst);
    for v in vcpus {
        v.join().unwrap();
    }
    let mut total_accepts = 0;
    for i in 0..N as usize {
        let g = generation[i].load(SeqCst);
        let a = accepts[i].load(SeqCst);
        assert_eq!(
            seen[i].load(SeqCst),
            g,
            "last trigger of source {i} followed by an acceptance"
        );
        assert!(a <= g, "source {i}: {a} acceptances for {g} triggers");
        if g > 0 {
            assert!(a > 0);
        }
        total_accepts += a;
    }
    assert!(total_accepts > 0);
    for s in x.save().sources {
        assert!(
            !s.presented && !s.queued && !s.resend && !s.masked_pending,
            "{s:?}"
        );
    }
}

/// Check a snapshot taken with the vCPUs parked against what they hold in service, then
/// restore it into a fresh controller, finish the in-service ones and drain: exactly the
/// pending ones must come out, once each.
fn check_cut(w: &World, st: &XicsState, stacks: &[(u32, Vec<u32>)]) {
    let in_service: Vec<u32> = stacks
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x & 0xFF_FFFF))
        .collect();
    let mut in_xisr: Vec<u32> = st
        .icps
        .iter()
        .map(|i| i.xisr)
        .filter(|&x| x != 0 && x != 2)
        .collect();
    let n = in_xisr.len();
    in_xisr.sort();
    in_xisr.dedup();
    assert_eq!(in_xisr.len(), n, "an interrupt presented twice: {st:?}");
    let mut expected = Vec::new();
    for s in &st.sources {
        let svc = in_service.contains(&s.irq);
        let pending = s.resend || s.masked_pending || in_xisr.contains(&s.irq);
        assert!(!s.queued, "{s:?}");
        if svc {
            assert!(!pending, "in service and pending: {s:?}");
        } else {
            assert_eq!(
                s.presented, pending,
                "outstanding but neither pending nor in service: {s:?}"
            );
            if pending {
                expected.push(s.irq);
            }
        }
    }
    let y = Xics::new(
        XicsConfig::spapr(NSERVERS),
        LineSink::new(NSERVERS as usize),
    )
    .unwrap();
    y.restore(st).unwrap();
    for (k, stack) in stacks {
        for &xirr in stack.iter().rev() {
            if w.src(xirr & 0xFF_FFFF).unwrap().lsi {
                y.set_irq(xirr & 0xFF_FFFF, false).unwrap();
            }
            y.h_eoi(*k, xirr).unwrap();
        }
    }
    let mut got = Vec::new();
    for _ in 0..1000 {
        let mut any = false;
        for k in 0..NSERVERS {
            let xirr = y.h_xirr(k).unwrap();
            let irq = xirr & 0xFF_FFFF;
            if irq == 0 {
                continue;
            }
            any = true;
            if irq == 2 {
                y.h_ipi(k, u64::from(k), 0xFF).unwrap();
            } else {
                got.push(irq);
                if w.src(irq).unwrap().lsi {
                    y.set_irq(irq, false).unwrap();
                }
            }
            y.h_eoi(k, xirr).unwrap();
        }
        if !any {
            break;
        }
    }
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "restored image delivers exactly the pending interrupts"
    );
}

#[test]
fn save_under_fire_is_a_consistent_cut() {
    let w = World::new(32, 3);
    let mut hs = Vec::new();
    for k in 0..NSERVERS {
        let w = w.clone();
        hs.push(std::thread::spawn(move || w.vcpu(k, 0xABCD + u64::from(k))));
    }
    let ndev = 3;
    let mut devs = Vec::new();
    for d in 0..ndev {
        let w = w.clone();
        let mine: Vec<usize> = (0..w.srcs.len()).filter(|i| i % ndev == d).collect();
        devs.push(std::thread::spawn(move || w.device(&mine, 20_000)));
    }
    let mut cuts = 0;
    while cuts < 200 && devs.iter().any(|d| !d.is_finished()) {
        w.parked_stacks.lock().clear();
        w.pause.store(true, SeqCst);
        while w.parked.load(SeqCst) < NSERVERS {
            w.guard("parking");
            std::thread::yield_now();
        }
        // Devices keep injecting while the image is taken.
        let st = w.x.save();
        let stacks = w.parked_stacks.lock().clone();
        w.pause.store(false, SeqCst);
        while w.parked.load(SeqCst) != 0 {
            w.guard("resuming");
            std::thread::yield_now();
        }
        check_cut(&w, &st, &stacks);
        cuts += 1;
        std::thread::yield_now();
    }
    for d in devs {
        d.join().unwrap();
    }
    w.stop.store(true, SeqCst);
    for h in hs {
        h.join().unwrap();
    }
    assert!(cuts > 0);
    assert_eq!(*w.errors.lock(), Vec::<String>::new());
    for s in &w.srcs {
        assert_eq!(
            s.accepted.load(SeqCst),
            s.sent.load(SeqCst),
            "irq {:#x}",
            s.irq
        );
    }
}
