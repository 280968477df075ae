//! Delivery benchmarks.
//!
//! * `set_irq_to_line`: an MSI trigger from `set_irq` until the target's external line is
//!   asserted (the sink stores an atomic), each trigger on an idle server.
//! * `xirr_eoi`: H_XIRR (accept) + H_EOI through the `hcall` entry point, as the hv fast
//!   path calls them.
//! * `full_cycle`: trigger + accept + EOI on one server.
//! * `full_cycle_2_threads`: the same on two threads and two servers at once (no shared
//!   lock on the path: should scale with the cores).
//!
//! Run: `CARGO_TARGET_DIR=/work/targets/xics cargo bench -p xics --bench delivery`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hvapi::hcall::{H_EOI, H_XIRR};
use hvapi::irq::{IrqInjector, VcpuIrqSink};
use xics::{Xics, XicsConfig};

const N: u32 = 256;
const BASE: u32 = 0x1300;

struct AtomicSink(Vec<AtomicBool>);

impl VcpuIrqSink for AtomicSink {
    fn set_external(&self, server: u32, asserted: bool) {
        if let Some(l) = self.0.get(server as usize) {
            l.store(asserted, Ordering::Release);
        }
    }
}

/// `N` servers, source `BASE + i` → server `i` at priority 5.
fn world() -> (Arc<Xics>, Arc<AtomicSink>) {
    let sink = Arc::new(AtomicSink((0..N).map(|_| AtomicBool::new(false)).collect()));
    let x = Xics::new(XicsConfig::spapr(N), sink.clone()).unwrap();
    for i in 0..N {
        x.connect_vcpu(i).unwrap();
        x.h_cppr(i, 0xFF).unwrap();
        x.claim_irq(BASE + i, false).unwrap();
        x.rtas_set_xive(BASE + i, i, 5).unwrap();
    }
    (Arc::new(x), sink)
}

fn accept_eoi(x: &Xics, server: u32) {
    let mut a = [0u64; 9];
    a[0] = 0xFF;
    let r = x.hcall(server, H_XIRR, &a, 0).unwrap();
    a[0] = r.out[0];
    black_box(x.hcall(server, H_EOI, &a, 0).unwrap());
}

fn bench(c: &mut Criterion) {
    let (x, sink) = world();
    let mut g = c.benchmark_group("xics");
    g.throughput(Throughput::Elements(1));

    g.bench_function("set_irq_to_line", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(u64::from(N)) as u32;
                let t = Instant::now();
                for i in 0..n {
                    x.set_irq(BASE + i, true).unwrap();
                    assert!(sink.0[i as usize].load(Ordering::Acquire));
                }
                total += t.elapsed();
                for i in 0..n {
                    accept_eoi(&x, i);
                }
                done += u64::from(n);
            }
            total
        })
    });

    g.bench_function("xirr_eoi", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(u64::from(N)) as u32;
                for i in 0..n {
                    x.set_irq(BASE + i, true).unwrap();
                }
                let t = Instant::now();
                for i in 0..n {
                    accept_eoi(&x, i);
                }
                total += t.elapsed();
                done += u64::from(n);
            }
            total
        })
    });

    g.bench_function("full_cycle", |b| {
        b.iter(|| {
            x.set_irq(BASE, true).unwrap();
            accept_eoi(&x, 0);
        })
    });

    g.throughput(Throughput::Elements(2));
    g.bench_function("full_cycle_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..2u32 {
                    let x = &x;
                    s.spawn(move || {
                        for _ in 0..iters {
                            x.set_irq(BASE + t, true).unwrap();
                            accept_eoi(x, t);
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
