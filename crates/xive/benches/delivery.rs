//! Delivery throughput: `set_irq` on an MSI routed to a vCPU queue, through the queue write
//! and IPB update, to the external line asserted in the sink (an atomic store).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hvapi::hcall::{H_INT_SET_QUEUE_CONFIG, H_INT_SET_SOURCE_CONFIG};
use hvapi::irq::{IrqInjector, VcpuIrqSink};
use hvapi::{GuestAddress, GuestMemory};
use xive::{Xive, XiveConfig};

struct AtomicSink(AtomicBool);

impl VcpuIrqSink for AtomicSink {
    fn set_external(&self, _server: u32, asserted: bool) {
        self.0.store(asserted, Ordering::Release);
    }
}

const L: u32 = 0x1000;
/// Sources used by the throughput benchmark: each is triggered once per batch, so every
/// timed `set_irq` is a full delivery (PQ 00→10, queue write, IPB, sink).
const NSRC: u32 = 4096;
const OS: u64 = 2 << 16;

fn esb_mgmt(lisn: u32, op: u64) -> u64 {
    (u64::from(lisn) << 17) + 0x10000 + op
}

fn setup() -> (Arc<Xive>, Arc<AtomicSink>) {
    let mem = Arc::new(GuestMemory::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap());
    let sink = Arc::new(AtomicSink(AtomicBool::new(false)));
    let x = Arc::new(Xive::new(XiveConfig::qemu_default(1), mem, sink.clone()).unwrap());
    x.connect_vcpu(0).unwrap();
    let mut a = [0u64; 9];
    a[..5].copy_from_slice(&[1, 0, 6, 0x10000, 16]);
    assert_eq!(x.hcall(0, H_INT_SET_QUEUE_CONFIG, &a).unwrap().ret, 0);
    for l in L..L + NSRC {
        x.claim(l, false).unwrap();
        a[..5].copy_from_slice(&[2, u64::from(l), 0, 6, u64::from(l)]);
        assert_eq!(x.hcall(0, H_INT_SET_SOURCE_CONFIG, &a).unwrap().ret, 0);
        let mut d8 = [0u8; 8];
        x.esb_read(esb_mgmt(l, 0xC00), &mut d8);
    }
    x.tima_write(0, OS + 0x11, &[0xFF]);
    (x, sink)
}

/// Guest side after events on `lisns`: ACK (lowers the line), EOI each source (PQ back to
/// 00), CPPR 0xFF.
fn rearm(x: &Xive, lisns: std::ops::Range<u32>) {
    let mut d2 = [0u8; 2];
    x.tima_read(0, OS + 0x810, &mut d2);
    let mut d8 = [0u8; 8];
    for l in lisns {
        x.esb_read(esb_mgmt(l, 0xC00), &mut d8);
    }
    x.tima_write(0, OS + 0x11, &[0xFF]);
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("delivery");
    g.throughput(Throughput::Elements(1));
    let (x, sink) = setup();
    g.bench_function("set_irq_to_line_asserted", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(u64::from(NSRC)) as u32;
                rearm(&x, L..L + NSRC);
                assert!(!sink.0.load(Ordering::Acquire));
                let t0 = Instant::now();
                for l in L..L + n {
                    x.set_irq(black_box(l), true).unwrap();
                }
                total += t0.elapsed();
                assert!(sink.0.load(Ordering::Acquire));
                done += u64::from(n);
            }
            total
        })
    });
    let (x, sink) = setup();
    g.bench_function("full_cycle_trigger_ack_eoi_cppr", |b| {
        b.iter(|| {
            x.set_irq(black_box(L), true).unwrap();
            assert!(sink.0.load(Ordering::Acquire));
            rearm(&x, L..L + 1);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
