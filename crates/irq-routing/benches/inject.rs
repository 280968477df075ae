//! Injection cost through the routing table, and eventfd → injection latency through the
//! irqfd worker.
//!
//! Run: `CARGO_TARGET_DIR=/work/targets/irq-routing cargo bench -p irq-routing --bench inject`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hvapi::irq::{IrqAckListener, IrqError, IrqInjector};
use irq_routing::{PSERIES_NR_IRQS, Router, RouterConfig, RoutingEntry, SPAPR_PCI_MSI_WINDOW};
use vmm_sys_util::eventfd::EventFd;

/// A controller that does nothing.
struct Noop;

impl IrqInjector for Noop {
    fn set_irq(&self, irq: u32, level: bool) -> Result<(), IrqError> {
        black_box((irq, level));
        Ok(())
    }
}

/// A controller that counts assertions, for the latency measurement.
#[derive(Default)]
struct Counter(AtomicU64);

impl IrqInjector for Counter {
    fn set_irq(&self, _irq: u32, level: bool) -> Result<(), IrqError> {
        if level {
            self.0.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }
}

fn table_router() -> Router {
    let r = Router::new(RouterConfig::default()).unwrap();
    r.set_irqchip(Some(Arc::new(Noop)));
    // A full table: GSIs 0..0x1000 as irqchip pins of the device range, then MSI routes.
    let mut entries: Vec<RoutingEntry> = (0..0x1000)
        .map(|g| RoutingEntry::irqchip(g, 0, 0x1000 + g))
        .collect();
    entries.extend(
        (0x1000..PSERIES_NR_IRQS).map(|g| RoutingEntry::msi(g, SPAPR_PCI_MSI_WINDOW, g, None)),
    );
    r.set_gsi_routing(&entries).unwrap();
    r
}

fn bench_inject(c: &mut Criterion) {
    let mut g = c.benchmark_group("inject");

    let identity = Router::new(RouterConfig::default()).unwrap();
    identity.set_irqchip(Some(Arc::new(Noop)));
    g.bench_function("set_irq/default-table", |b| {
        b.iter(|| identity.set_irq(black_box(0x1005), black_box(true)))
    });

    let table = table_router();
    g.bench_function("set_irq/irqchip-route", |b| {
        b.iter(|| table.set_irq(black_box(0x0805), black_box(true)))
    });
    g.bench_function("set_irq/msi-route", |b| {
        b.iter(|| table.set_irq(black_box(0x1805), black_box(true)))
    });
    g.bench_function("signal_msi", |b| {
        b.iter(|| table.signal_msi(black_box(SPAPR_PCI_MSI_WINDOW), black_box(0x1005), None))
    });
    g.bench_function("lsi_eoi/no-resampler", |b| {
        b.iter(|| table.lsi_eoi(black_box(0x1005)))
    });
    g.finish();
}

/// One round trip: signal the eventfd, spin until the controller saw the assertion.
fn round_trip(dev: &EventFd, counter: &Counter) {
    let before = counter.0.load(Ordering::Acquire);
    dev.write(1).unwrap();
    while counter.0.load(Ordering::Acquire) == before {
        std::hint::spin_loop();
    }
}

fn bench_irqfd_latency(c: &mut Criterion) {
    let r = Router::new(RouterConfig::default()).unwrap();
    let counter = Arc::new(Counter::default());
    r.set_irqchip(Some(counter.clone()));
    r.set_gsi_routing(&[RoutingEntry::msi(1, SPAPR_PCI_MSI_WINDOW, 0x1001, None)])
        .unwrap();
    let fd = EventFd::new(0).unwrap();
    let dev = fd.try_clone().unwrap();
    r.irqfd_assign(fd, 1, None).unwrap();
    r.start_worker().unwrap();

    // Our own distribution over many single round trips (criterion reports per-sample
    // means of batches; this gives the median and tail of individual trips).
    for _ in 0..1000 {
        round_trip(&dev, &counter);
    }
    let mut trips: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            round_trip(&dev, &counter);
            t.elapsed()
        })
        .collect();
    trips.sort();
    let pct = |p: usize| trips[(trips.len() * p / 100).min(trips.len() - 1)];
    eprintln!(
        "irqfd eventfd-write -> injection, {} round trips: median {:?}, p90 {:?}, p99 {:?}, max {:?}",
        trips.len(),
        pct(50),
        pct(90),
        pct(99),
        trips[trips.len() - 1]
    );

    let mut g = c.benchmark_group("irqfd");
    g.bench_function("eventfd-write-to-injection", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                round_trip(&dev, &counter);
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_inject, bench_irqfd_latency
}
criterion_main!(benches);
