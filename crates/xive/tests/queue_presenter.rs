//! Event queues (big-endian entries, generation bit, wrap, full queue, bad addresses) and the
//! TIMA presenter (CPPR masking, IPB/PIPR, ACK, raw views).

mod common;

use common::*;
use hvapi::GuestAddress;
use hvapi::device::DeviceAttrs;
use hvapi::hcall::*;
use hvapi::irq::IrqInjector;
use vm_memory::Bytes;
use xive::device::{KVM_DEV_XIVE_GRP_EQ_CONFIG, KvmXiveEq};
use xive::{EndState, PresenterState, SourceState, XiveState};

const L: u32 = 0x1000;

fn one_source(qshift: u64) -> (Env, GuestQueue) {
    let e = env(1);
    let q = GuestQueue::setup(&e.x, &e.mem, 0, PRIO, 0x10000, qshift);
    e.x.claim(L, false).unwrap();
    route(&e.x, L, 0, 0x1234);
    set_cppr(&e.x, 0, 0xFF);
    (e, q)
}

/// One full event cycle: trigger, then EOI (SET_PQ_00).
fn fire(e: &Env) {
    e.x.set_irq(L, true).unwrap();
    assert_eq!(esb_load(&e.x, L, 0xC00), 2);
}

#[test]
fn entries_are_big_endian_with_generation_bit() {
    let (e, q) = one_source(12);
    e.x.set_irq(L, true).unwrap();
    let mut raw = [0u8; 4];
    e.mem.read_slice(&mut raw, GuestAddress(0x10000)).unwrap();
    assert_eq!(
        raw,
        [0x80, 0x00, 0x12, 0x34],
        "gen=1 then the EISN, big-endian"
    );
    assert_eq!(q.raw(&e.mem, 1), 0, "nothing else written");
}

#[test]
fn wrap_flips_generation_and_full_queue_overwrites() {
    let (e, mut q) = one_source(12);
    let n = 1024; // 4 KiB queue
    for _ in 0..n - 1 {
        fire(&e);
    }
    assert_eq!(q.raw(&e.mem, n - 2), 0x8000_1234);
    assert_eq!(q.raw(&e.mem, n - 1), 0);
    fire(&e); // last slot, index wraps to 0
    assert_eq!(q.raw(&e.mem, n - 1), 0x8000_1234);
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[1, 0, PRIO]);
    assert_eq!(
        (r.out[0] & 2, r.out[3]),
        (0, 0),
        "generation 0 after the wrap, index 0"
    );
    // The producer does not know the consumer: a full queue is overwritten, now with gen 0.
    fire(&e);
    assert_eq!(q.raw(&e.mem, 0), 0x0000_1234);
    assert_eq!(q.raw(&e.mem, 1), 0x8000_1234);
    // The producer overwrote slot 0 with generation 0.
    let mut fresh = GuestQueue {
        idx: 0,
        toggle: 0,
        ..q
    };
    assert_eq!(
        fresh.drain(&e.mem).len(),
        0,
        "a consumer that fell a full lap behind sees slot 0 as empty"
    );
    q.idx = n - 1;
    q.toggle = 0;
    assert_eq!(
        q.drain(&e.mem),
        vec![0x1234, 0x1234],
        "last slot of pass 1, first of pass 2"
    );
}

#[test]
fn consumer_follows_across_several_wraps() {
    let (e, mut q) = one_source(12);
    let mut seen = 0;
    for i in 0..3000 {
        fire(&e);
        if i % 7 == 0 {
            seen += q.drain(&e.mem).len();
        }
    }
    seen += q.drain(&e.mem).len();
    assert_eq!(seen, 3000);
}

#[test]
fn queue_write_failure_drops_the_event() {
    // A restored END can point outside RAM (config validation is bypassed by restore).
    let e = env(1);
    e.x.claim(L, false).unwrap();
    let st = XiveState {
        version: xive::XIVE_STATE_VERSION,
        nr_irqs: 0x2000,
        esb_shift: 17,
        nr_servers: 1,
        sources: vec![SourceState {
            lisn: L,
            lsi: false,
            asserted: false,
            pq: 0,
            eas: 0x8000_0006_0000_0042,
        }],
        ends: vec![EndState {
            server: 0,
            priority: 6,
            qaddr: 1 << 40,
            qshift: 16,
            index: 0,
            generation: true,
            always_notify: true,
            esn: 0,
        }],
        presenters: vec![PresenterState {
            server: 0,
            os_ring: [
                0, 0xFF, 0, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0x80, 0, 4, 0, 0, 0, 0, 0,
            ],
        }],
    };
    e.x.restore(&st).unwrap();
    e.x.set_irq(L, true).unwrap();
    assert!(!e.sink.line(0), "nothing presented");
    assert_eq!(os_ring(&e.x, 0)[2], 0, "IPB untouched");
    let r = hc(&e.x, H_INT_GET_QUEUE_CONFIG, &[1, 0, PRIO]);
    assert_eq!(r.out[3], 0, "index not advanced");
    assert_eq!(e.x.source_pq(L), Some(2));
}

#[test]
fn end_without_always_notify_coalesces() {
    let e = env(1);
    e.mem
        .write_slice(&[0u8; 4096], GuestAddress(0x10000))
        .unwrap();
    assert_eq!(
        hc(&e.x, H_INT_SET_QUEUE_CONFIG, &[0, 0, PRIO, 0x10000, 12]).ret,
        H_SUCCESS
    );
    e.x.claim(L, false).unwrap();
    route(&e.x, L, 0, 1);
    set_cppr(&e.x, 0, 0xFF);
    fire(&e);
    assert_eq!(ack(&e.x, 0), 0x8006);
    set_cppr(&e.x, 0, 0xFF);
    // ESn is now 10: further events are queued but not notified.
    fire(&e);
    assert!(!e.sink.line(0));
    let mut q = GuestQueue {
        qaddr: 0x10000,
        entries: 1024,
        idx: 0,
        toggle: 0,
    };
    assert_eq!(q.drain(&e.mem), vec![1, 1]);
}

#[test]
fn cppr_masking_and_presentation() {
    let (e, _q) = one_source(16);
    set_cppr(&e.x, 0, 6);
    e.x.set_irq(L, true).unwrap();
    // Priority 6 >= CPPR 6: pending but not presented.
    assert!(!e.sink.line(0));
    assert_eq!(os_ring(&e.x, 0), [0, 6, 0x02, 0xFF, 0xFF, 0, 0, 6]);
    assert_eq!(ack(&e.x, 0), 0x0006, "no exception: NSR 0, CPPR unchanged");
    assert_eq!(os_ring(&e.x, 0)[2], 0x02, "ACK without EO keeps the IPB");
    // Raising CPPR above the pending priority presents it.
    set_cppr(&e.x, 0, 7);
    assert!(e.sink.line(0));
    assert_eq!(os_ring(&e.x, 0)[0], 0x80);
    // Making CPPR more favoured again does not withdraw an outstanding exception (QEMU).
    set_cppr(&e.x, 0, 2);
    assert!(e.sink.line(0));
    assert_eq!(ack(&e.x, 0), 0x8006);
    assert!(!e.sink.line(0));
    assert_eq!(os_ring(&e.x, 0), [0, 6, 0, 0xFF, 0xFF, 0, 0, 0xFF]);
    // CPPR values above 7 read back as 0xFF.
    set_cppr(&e.x, 0, 9);
    assert_eq!(os_ring(&e.x, 0)[1], 0xFF);
}

#[test]
fn cppr_zero_at_reset_blocks_everything() {
    let e = env(1);
    let _q = GuestQueue::setup(&e.x, &e.mem, 0, 0, 0x10000, 16);
    e.x.claim(L, false).unwrap();
    hc(&e.x, H_INT_SET_SOURCE_CONFIG, &[2, u64::from(L), 0, 0, 1]);
    esb_load(&e.x, L, 0xC00);
    e.x.set_irq(L, true).unwrap();
    assert!(
        !e.sink.line(0),
        "CPPR resets to 0: even priority 0 is masked"
    );
    set_cppr(&e.x, 0, 1);
    assert!(e.sink.line(0));
    assert_eq!(ack(&e.x, 0), 0x8000);
}

#[test]
fn ipb_pipr_with_several_priorities() {
    let e = env(1);
    let mut qs = Vec::new();
    for (i, prio) in [1u64, 3, 5].into_iter().enumerate() {
        qs.push(GuestQueue::setup(
            &e.x,
            &e.mem,
            0,
            prio,
            0x10000 * (i as u64 + 1),
            16,
        ));
        let l = L + i as u32;
        e.x.claim(l, false).unwrap();
        hc(
            &e.x,
            H_INT_SET_SOURCE_CONFIG,
            &[2, u64::from(l), 0, prio, 100 + prio],
        );
        esb_load(&e.x, l, 0xC00);
    }
    for l in [L + 2, L, L + 1] {
        e.x.set_irq(l, true).unwrap();
    }
    // IPB bits 0x80>>1 | 0x80>>3 | 0x80>>5, PIPR = 1.
    assert_eq!(os_ring(&e.x, 0)[2], 0x40 | 0x10 | 0x04);
    assert_eq!(os_ring(&e.x, 0)[7], 1);
    set_cppr(&e.x, 0, 0xFF);
    assert_eq!(ack(&e.x, 0), 0x8001);
    assert_eq!(
        os_ring(&e.x, 0)[7],
        3,
        "PIPR moves to the next pending priority"
    );
    // CPPR is now 1: priority 3 is masked until the guest lowers CPPR.
    assert!(!e.sink.line(0));
    set_cppr(&e.x, 0, 4);
    assert_eq!(ack(&e.x, 0), 0x8003);
    set_cppr(&e.x, 0, 0xFF);
    assert_eq!(ack(&e.x, 0), 0x8005);
    assert_eq!(os_ring(&e.x, 0)[2], 0);
    assert_eq!(os_ring(&e.x, 0)[7], 0xFF);
    for (i, q) in qs.iter_mut().enumerate() {
        assert_eq!(q.drain(&e.mem).len(), 1, "queue {i}");
    }
}

#[test]
fn set_os_pending_and_raw_views() {
    let e = env(1);
    set_cppr(&e.x, 0, 0xFF);
    e.x.tima_write(0, TIMA_OS + 0x812, &[3]);
    assert!(e.sink.line(0));
    assert_eq!(
        os_ring(&e.x, 0),
        [0x80, 0xFF, 0x10, 0xFF, 0xFF, 0, 0, 3],
        "AGE hidden on the OS page"
    );
    // Out-of-range priority: no IPB bit.
    e.x.tima_write(0, TIMA_OS + 0x812, &[9]);
    assert_eq!(os_ring(&e.x, 0)[2], 0x10);
    // HV page sees AGE hidden too but WORD2 (VO | CAM 0x400).
    let mut d = [0u8; 4];
    e.x.tima_read(0, (1 << 16) + 0x18, &mut d);
    assert_eq!(u32::from_be_bytes(d), 0x8000_0400);
    e.x.tima_read(0, TIMA_OS + 0x18, &mut d);
    assert_eq!(d, [0xFF; 4], "WORD2 hidden from the OS page");
    // 4-byte reads of QW1 word 0 and word 1.
    e.x.tima_read(0, TIMA_OS + 0x10, &mut d);
    assert_eq!(d, [0x80, 0xFF, 0x10, 0xFF]);
    e.x.tima_read(0, TIMA_OS + 0x14, &mut d);
    assert_eq!(d, [0xFF, 0, 0, 3]);
    // ACK works from the HV and HW pages too, not from the USER page.
    let mut a = [0u8; 2];
    e.x.tima_read(0, (3 << 16) + 0x810, &mut a);
    assert_eq!(a, [0xFF; 2]);
    e.x.tima_read(0, 0x810, &mut a);
    assert_eq!(u16::from_be_bytes(a), 0x8003);
    assert!(!e.sink.line(0));
    // Raw 4-byte store through the OS page changes only CPPR.
    e.x.tima_write(0, TIMA_OS + 0x10, &[0x00, 0x05, 0xEE, 0xEE]);
    assert_eq!(os_ring(&e.x, 0), [0, 5, 0, 0xFF, 0xFF, 0, 0, 0xFF]);
}

#[test]
fn invalid_tima_accesses() {
    let e = env(2);
    set_cppr(&e.x, 0, 5);
    let before = os_ring(&e.x, 0);
    let mut d1 = [0u8; 1];
    let mut d2 = [0u8; 2];
    let mut d4 = [0u8; 4];
    // Byte read of the register area, user ring, pool/phys rings, unaligned, unknown server.
    e.x.tima_read(0, TIMA_OS + 0x11, &mut d1);
    assert_eq!(d1, [0xFF]);
    e.x.tima_read(0, TIMA_OS, &mut d4);
    assert_eq!(d4, [0xFF; 4]);
    e.x.tima_read(0, TIMA_OS + 0x20, &mut d4);
    assert_eq!(d4, [0xFF; 4]);
    e.x.tima_read(0, TIMA_OS + 0x12, &mut d4);
    assert_eq!(d4, [0xFF; 4]);
    e.x.tima_read(7, TIMA_OS + 0x810, &mut d2);
    assert_eq!(d2, [0xFF; 2]);
    e.x.tima_read(0, 4 << 16, &mut d2);
    assert_eq!(d2, [0xFF; 2]);
    // ACK with the wrong size, CPPR store of the wrong size or through the USER page,
    // ACK_OS_EL, HV raw store: all ignored.
    e.x.tima_read(0, TIMA_OS + 0x810, &mut d4);
    e.x.tima_write(0, TIMA_OS + 0x11, &[1, 2]);
    e.x.tima_write(0, (3 << 16) + 0x11, &[1]);
    e.x.tima_write(0, TIMA_OS + 0xC10, &[1]);
    e.x.tima_write(0, (1 << 16) + 0x10, &[0, 1, 0, 0]);
    e.x.tima_write(0, TIMA_OS + 0x11, &[]);
    e.x.tima_write(0, TIMA_OS + 0x11, &[0; 3]);
    assert_eq!(os_ring(&e.x, 0), before);
    // A disconnected vCPU has no TIMA.
    e.x.disconnect_vcpu(1).unwrap();
    e.x.tima_read(1, TIMA_OS + 0x810, &mut d2);
    assert_eq!(d2, [0xFF; 2]);
}

#[test]
fn eq_config_attr_restores_producer_position() {
    let e = env(1);
    e.mem
        .write_slice(&[0u8; 4096], GuestAddress(0x10000))
        .unwrap();
    let eq = KvmXiveEq {
        flags: 1,
        qshift: 12,
        qaddr: 0x10000,
        qtoggle: 0,
        qindex: 1023,
    };
    e.x.set_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, &eq.to_bytes())
        .unwrap();
    e.x.claim(L, false).unwrap();
    route(&e.x, L, 0, 0x42);
    fire(&e);
    fire(&e);
    let q = GuestQueue {
        qaddr: 0x10000,
        entries: 1024,
        idx: 0,
        toggle: 0,
    };
    assert_eq!(q.raw(&e.mem, 1023), 0x42, "generation 0 at the last slot");
    assert_eq!(q.raw(&e.mem, 0), 0x8000_0042, "wrapped: generation 1");
    let mut out = [0u8; 64];
    e.x.get_attr(KVM_DEV_XIVE_GRP_EQ_CONFIG, 6, &mut out)
        .unwrap();
    assert_eq!(
        KvmXiveEq::from_bytes(&out).unwrap(),
        KvmXiveEq {
            flags: 1,
            qshift: 12,
            qaddr: 0x10000,
            qtoggle: 1,
            qindex: 1
        }
    );
}
