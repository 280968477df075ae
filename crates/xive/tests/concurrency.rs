//! Several threads trigger (set_irq, ESB trigger stores, H_INT_ESB stores) while consumer
//! threads ACK, drain and EOI, and another thread takes snapshots and makes configuration
//! hcalls. Every trigger must be delivered exactly once (counted from the queues) and nothing
//! may deadlock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;

use common::*;
use hvapi::hcall::*;
use hvapi::irq::IrqInjector;

const PRODUCERS: u32 = 4;
const PER_PRODUCER: u32 = 48;
const ROUNDS: u32 = 150;
const BASE: u32 = 0x1000;

#[test]
fn every_trigger_delivered_exactly_once() {
    let e = env(2);
    let queues = [
        GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16),
        GuestQueue::setup(&e.x, &e.mem, 1, PRIO, 0x20000, 16),
    ];
    let n = PRODUCERS * PER_PRODUCER;
    for i in 0..n {
        e.x.claim(BASE + i, false).unwrap();
        route(&e.x, BASE + i, i % 2, BASE + i);
    }
    set_cppr(&e.x, 0, 0xFF);
    set_cppr(&e.x, 1, 0xFF);
    let eois: Arc<Vec<AtomicU32>> = Arc::new((0..n).map(|_| AtomicU32::new(0)).collect());
    let delivered: Arc<Vec<AtomicU32>> = Arc::new((0..n).map(|_| AtomicU32::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let x = e.x.clone();
        let eois = eois.clone();
        producers.push(thread::spawn(move || {
            for r in 0..ROUNDS {
                for j in 0..PER_PRODUCER {
                    let i = p * PER_PRODUCER + j;
                    let lisn = BASE + i;
                    match (r + j) % 3 {
                        0 => x.set_irq(lisn, true).unwrap(),
                        1 => esb_store(&x, lisn, 0x0, false),
                        _ => {
                            let ret = hc(&x, H_INT_ESB, &[1, u64::from(lisn), 0, 0]).ret;
                            assert_eq!(ret, H_SUCCESS);
                        }
                    }
                }
                // Next round only once the guest EOI'd this round's events.
                for j in 0..PER_PRODUCER {
                    let i = (p * PER_PRODUCER + j) as usize;
                    while eois[i].load(Ordering::Acquire) <= r {
                        thread::yield_now();
                    }
                }
            }
        }));
    }

    let mut consumers = Vec::new();
    for (server, mut q) in queues.into_iter().enumerate() {
        let server = server as u32;
        let x = e.x.clone();
        let mem = e.mem.clone();
        let sink = e.sink.clone();
        let eois = eois.clone();
        let delivered = delivered.clone();
        consumers.push(thread::spawn(move || {
            let expected = n / 2 * ROUNDS;
            let mut got = 0;
            let mut acks = 0u64;
            while got < expected {
                if sink.line(server) {
                    let v = ack(&x, server);
                    if v & 0x8000 != 0 {
                        assert_eq!(v & 0xFF, 6);
                        acks += 1;
                    }
                }
                let entries = q.drain(&mem);
                if entries.is_empty() {
                    set_cppr(&x, server, 0xFF);
                    thread::yield_now();
                    continue;
                }
                for eisn in entries {
                    let i = eisn.checked_sub(BASE).expect("known EISN");
                    assert_eq!(i % 2, server, "delivered to the routed server");
                    delivered[i as usize].fetch_add(1, Ordering::AcqRel);
                    let old = esb_load(&x, eisn, 0xC00);
                    assert_eq!(old, 2, "one trigger per round: P set, Q clear");
                    eois[i as usize].fetch_add(1, Ordering::Release);
                    got += 1;
                }
                set_cppr(&x, server, 0xFF);
            }
            assert!(acks > 0);
        }));
    }

    let disturber = {
        let x = e.x.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut snaps = 0u32;
            while !done.load(Ordering::Acquire) {
                let st = x.save();
                assert_eq!(st.presenters.len(), 2);
                assert_eq!(hc(&x, H_INT_SYNC, &[0, u64::from(BASE)]).ret, H_SUCCESS);
                assert_eq!(
                    hc(&x, H_INT_GET_SOURCE_CONFIG, &[0, u64::from(BASE + 1)]).out[0],
                    1
                );
                snaps += 1;
                thread::yield_now();
            }
            snaps
        })
    };

    for p in producers {
        p.join().unwrap();
    }
    for c in consumers {
        c.join().unwrap();
    }
    done.store(true, Ordering::Release);
    assert!(disturber.join().unwrap() > 0);
    for (i, d) in delivered.iter().enumerate() {
        assert_eq!(d.load(Ordering::Acquire), ROUNDS, "source {i}");
    }
    // Nothing extra is left in the queues.
    let mut q0 = GuestQueue {
        qaddr: 0x10000,
        entries: 16384,
        idx: (n / 2 * ROUNDS) % 16384,
        toggle: 0,
    };
    assert!(q0.drain(&e.mem).is_empty());
}

#[test]
fn concurrent_ipis_between_vcpus() {
    // Each "vCPU" thread sends IPIs to the other by storing to its trigger page and handles
    // its own: ACK, drain, EOI. Counts must balance.
    const N: u32 = 2000;
    let e = env(2);
    let mut qs = vec![
        GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, 16),
        GuestQueue::setup(&e.x, &e.mem, 1, PRIO, 0x20000, 16),
    ];
    for s in 0..2 {
        route(&e.x, s, s, 0x10 + s);
        set_cppr(&e.x, s, 0xFF);
    }
    let received: Arc<[AtomicU32; 2]> = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let handles: Vec<_> = (0..2u32)
        .map(|me| {
            let x = e.x.clone();
            let mem = e.mem.clone();
            let sink = e.sink.clone();
            let received = received.clone();
            let mut q = qs.remove(0);
            thread::spawn(move || {
                let other = 1 - me;
                let mut sent = 0;
                let mut got = 0;
                while sent < N || got < N || received[other as usize].load(Ordering::Acquire) < N {
                    // Send when the other side has consumed the previous IPI (no coalescing).
                    if sent < N && received[other as usize].load(Ordering::Acquire) == sent {
                        esb_store(&x, other, 0, false);
                        sent += 1;
                    }
                    if sink.line(me) {
                        ack(&x, me);
                    }
                    for eisn in q.drain(&mem) {
                        assert_eq!(eisn, 0x10 + me);
                        assert_eq!(esb_load(&x, me, 0xC00), 2);
                        got += 1;
                        received[me as usize].store(got, Ordering::Release);
                    }
                    set_cppr(&x, me, 0xFF);
                    thread::yield_now();
                }
                got
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), N);
    }
}
