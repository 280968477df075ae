//! Property test: random interleavings of triggers, TIMA ACKs, queue drains, ESB EOIs, PQ
//! and CPPR changes, EAS masking and save→restore into a fresh controller, checked against a
//! small reference model written from the spec. No event may be lost or delivered twice,
//! ACK values and the external lines must match.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;

use common::*;
use hvapi::GuestAddress;
use hvapi::device::DeviceAttrs;
use hvapi::hcall::*;
use hvapi::irq::IrqInjector;
use proptest::prelude::*;
use vm_memory::Bytes;
use xive::device::{KVM_DEV_XIVE_GRP_EQ_CONFIG, KvmXiveEq};
use xive::{Xive, XiveConfig};

const NSRC: usize = 6; // 0..=3 MSI, 4 LSI, 5 = IPI of server 1
const LSI_IDX: usize = 4;
const QSHIFT: u64 = 12;
const ENTRIES: u32 = 1 << (QSHIFT - 2);

fn lisn(i: usize) -> u32 {
    if i == 5 { 1 } else { 0x1000 + i as u32 }
}
fn target(i: usize) -> u32 {
    (i % 2) as u32
}
fn eisn(i: usize) -> u32 {
    100 + i as u32
}
fn qaddr(server: u32) -> u64 {
    0x10000 * (u64::from(server) + 1)
}

#[derive(Debug, Clone)]
enum Op {
    Trigger(usize, bool),
    Deassert,
    Ack(u32),
    Drain(u32),
    Eoi(usize, bool),
    SetPq(usize, u8),
    Cppr(u32, u8),
    Mask(usize, bool),
    SaveRestore,
}

fn op() -> impl Strategy<Value = Op> {
    let src = 0..NSRC;
    prop_oneof![
        4 => (src.clone(), any::<bool>()).prop_map(|(i, s)| Op::Trigger(i, s)),
        1 => Just(Op::Deassert),
        3 => (0..2u32).prop_map(Op::Ack),
        3 => (0..2u32).prop_map(Op::Drain),
        3 => (src.clone(), any::<bool>()).prop_map(|(i, l)| Op::Eoi(i, l)),
        1 => (src.clone(), 0..4u8).prop_map(|(i, p)| Op::SetPq(i, p)),
        2 => (0..2u32, prop_oneof![0..8u8, Just(0xFF)]).prop_map(|(s, c)| Op::Cppr(s, c)),
        1 => (src, any::<bool>()).prop_map(|(i, m)| Op::Mask(i, m)),
        1 => Just(Op::SaveRestore),
    ]
}

/// The reference model.
#[derive(Debug, Default)]
struct Model {
    pq: [u8; NSRC],
    asserted: bool,
    masked: [bool; NSRC],
    queue: [VecDeque<u32>; 2],
    ipb: [u8; 2],
    cppr: [u8; 2],
    eo: [bool; 2],
}

impl Model {
    fn pipr(&self, s: usize) -> u8 {
        if self.ipb[s] == 0 {
            0xFF
        } else {
            self.ipb[s].leading_zeros() as u8
        }
    }
    fn notify(&mut self, s: usize) {
        if self.pipr(s) < self.cppr[s] {
            self.eo[s] = true;
        }
    }
    fn forward(&mut self, i: usize) {
        if self.masked[i] {
            return;
        }
        let s = target(i) as usize;
        self.queue[s].push_back(eisn(i));
        self.ipb[s] |= 0x80 >> PRIO;
        self.notify(s);
    }
    fn trigger(&mut self, i: usize) {
        let lsi = i == LSI_IDX;
        match self.pq[i] {
            0 => {
                self.pq[i] = 2;
                self.forward(i);
            }
            1 => {}
            _ if lsi => {}
            _ => self.pq[i] = 3,
        }
    }
    /// Returns whether re-forwarded.
    fn eoi(&mut self, i: usize) -> bool {
        let lsi = i == LSI_IDX;
        let fwd = match self.pq[i] {
            1 => false,
            _ if lsi && self.asserted => {
                self.pq[i] = 2;
                true
            }
            3 if !lsi => {
                self.pq[i] = 2;
                true
            }
            _ => {
                self.pq[i] = 0;
                false
            }
        };
        if fwd {
            self.forward(i);
        }
        fwd
    }
    fn set_pq(&mut self, i: usize, pq: u8) -> u8 {
        let old = self.pq[i];
        self.pq[i] = pq;
        if i == LSI_IDX && self.asserted && pq == 0 {
            self.pq[i] = 2;
            self.forward(i);
        }
        old
    }
    fn ack(&mut self, s: usize) -> u16 {
        let nsr = if self.eo[s] { 0x80u16 } else { 0 };
        if self.eo[s] {
            self.cppr[s] = self.pipr(s);
            self.ipb[s] &= !(0x80u8 >> self.cppr[s]);
            self.eo[s] = false;
        }
        (nsr << 8) | u16::from(self.cppr[s])
    }
    fn set_cppr(&mut self, s: usize, c: u8) {
        self.cppr[s] = if c > 7 { 0xFF } else { c };
        self.notify(s);
    }
}

struct Sut {
    x: Arc<Xive>,
    sink: Arc<TestSink>,
    mem: Arc<hvapi::GuestMemory>,
    q: [GuestQueue; 2],
}

fn setup(start: [(u32, bool); 2]) -> (Sut, Model) {
    let e = env(2);
    let mut q = [GuestQueue {
        qaddr: 0,
        entries: 0,
        idx: 0,
        toggle: 0,
    }; 2];
    for s in 0..2u32 {
        let (k, g) = start[s as usize];
        // Lay the page out as if the producer had reached (index k, generation g).
        let mut page = Vec::with_capacity(4 * ENTRIES as usize);
        for i in 0..ENTRIES {
            let bit = if i < k { u32::from(g) } else { u32::from(!g) };
            page.extend_from_slice(&(bit << 31).to_be_bytes());
        }
        e.mem.write_slice(&page, GuestAddress(qaddr(s))).unwrap();
        let eq = KvmXiveEq {
            flags: 1,
            qshift: QSHIFT as u32,
            qaddr: qaddr(s),
            qtoggle: u32::from(g),
            qindex: k,
        };
        e.x.set_attr(
            KVM_DEV_XIVE_GRP_EQ_CONFIG,
            (u64::from(s) << 3) | PRIO,
            &eq.to_bytes(),
        )
        .unwrap();
        q[s as usize] = GuestQueue {
            qaddr: qaddr(s),
            entries: ENTRIES,
            idx: k,
            toggle: u32::from(!g),
        };
    }
    for i in 0..NSRC {
        if i != 5 {
            e.x.claim(lisn(i), i == LSI_IDX).unwrap();
        }
        route(&e.x, lisn(i), target(i), eisn(i));
    }
    let m = Model::default();
    (
        Sut {
            x: e.x,
            sink: e.sink,
            mem: e.mem,
            q,
        },
        m,
    )
}

fn check_lines(sut: &Sut, m: &Model) -> Result<(), TestCaseError> {
    for s in 0..2u32 {
        prop_assert_eq!(sut.sink.line(s), m.eo[s as usize], "line of server {}", s);
        prop_assert_eq!(sut.x.external_pending(s), m.eo[s as usize]);
    }
    Ok(())
}

fn run(ops: Vec<Op>, start: [(u32, bool); 2]) -> Result<(), TestCaseError> {
    let (mut sut, mut m) = setup(start);
    for op in ops {
        match op {
            Op::Trigger(i, via_esb) => {
                if i == LSI_IDX {
                    m.asserted = true;
                    sut.x.set_irq(lisn(i), true).unwrap();
                    m.trigger(i);
                } else {
                    if via_esb {
                        esb_store(&sut.x, lisn(i), 0, false);
                    } else {
                        sut.x.set_irq(lisn(i), true).unwrap();
                    }
                    m.trigger(i);
                }
            }
            Op::Deassert => {
                m.asserted = false;
                sut.x.set_irq(lisn(LSI_IDX), false).unwrap();
            }
            Op::Ack(s) => {
                let want = m.ack(s as usize);
                prop_assert_eq!(ack(&sut.x, s), want, "ACK of server {}", s);
            }
            Op::Drain(s) => {
                let got = sut.q[s as usize].drain(&sut.mem);
                let want: Vec<u32> = m.queue[s as usize].drain(..).collect();
                prop_assert_eq!(got, want, "queue of server {}", s);
            }
            Op::Eoi(i, load_eoi) => {
                if load_eoi || i == LSI_IDX {
                    let want = u64::from(m.eoi(i));
                    prop_assert_eq!(esb_load(&sut.x, lisn(i), 0x000), want);
                } else {
                    // Linux's MSI EOI: SET_PQ_00, replay on Q.
                    let want = m.set_pq(i, 0);
                    let got = esb_load(&sut.x, lisn(i), 0xC00);
                    prop_assert_eq!(got, u64::from(want));
                    if got & 1 != 0 {
                        esb_store(&sut.x, lisn(i), 0, false);
                        m.trigger(i);
                    }
                }
            }
            Op::SetPq(i, pq) => {
                let want = m.set_pq(i, pq);
                prop_assert_eq!(
                    esb_load(&sut.x, lisn(i), 0xC00 + (u64::from(pq) << 8)),
                    u64::from(want)
                );
            }
            Op::Cppr(s, c) => {
                m.set_cppr(s as usize, c);
                set_cppr(&sut.x, s, c);
            }
            Op::Mask(i, mask) => {
                m.masked[i] = mask;
                let flags = 2 | u64::from(mask);
                let r = hc(
                    &sut.x,
                    H_INT_SET_SOURCE_CONFIG,
                    &[
                        flags,
                        u64::from(lisn(i)),
                        u64::from(target(i)),
                        PRIO,
                        u64::from(eisn(i)),
                    ],
                );
                prop_assert_eq!(r.ret, H_SUCCESS);
            }
            Op::SaveRestore => {
                let bytes = postcard::to_allocvec(&sut.x.save()).unwrap();
                let st: xive::XiveState = postcard::from_bytes(&bytes).unwrap();
                let sink = Arc::new(TestSink::default());
                let x = Arc::new(
                    Xive::new(XiveConfig::qemu_default(2), sut.mem.clone(), sink.clone()).unwrap(),
                );
                x.restore(&st).unwrap();
                prop_assert_eq!(x.save(), st);
                sut.x = x;
                sut.sink = sink;
            }
        }
        check_lines(&sut, &m)?;
    }
    // Nothing left behind: what the model still expects is exactly what the queues hold.
    for s in 0..2usize {
        let got = sut.q[s].drain(&sut.mem);
        let want: Vec<u32> = m.queue[s].drain(..).collect();
        prop_assert_eq!(got, want);
    }
    Ok(())
}

fn start() -> impl Strategy<Value = (u32, bool)> {
    (
        prop_oneof![Just(0u32), ENTRIES - 8..ENTRIES, 0..ENTRIES],
        any::<bool>(),
    )
}

/// Property tests run from a fixed seed so that CI is reproducible; set
/// `PROPTEST_RNG_SEED=<u64>` to explore other seeds.
fn fixed_seed() -> proptest::test_runner::RngSeed {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x7061_7072_2d68_7601);
    proptest::test_runner::RngSeed::Fixed(seed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: fixed_seed(), ..ProptestConfig::default() })]

    #[test]
    fn matches_reference_model(ops in proptest::collection::vec(op(), 1..80), s0 in start(), s1 in start()) {
        run(ops, [s0, s1])?;
    }
}

#[test]
fn many_events_wrap_the_queue_in_the_model() {
    // A long deterministic run: 3000 trigger/ACK/drain/EOI cycles cross the 1024-entry
    // queue three times.
    let mut ops = Vec::new();
    for i in 0..3000 {
        let src = i % 4;
        ops.push(Op::Cppr(target(src), 0xFF));
        ops.push(Op::Trigger(src, i % 3 == 0));
        ops.push(Op::Trigger(src, false));
        ops.push(Op::Ack(target(src)));
        if i % 5 == 0 {
            ops.push(Op::Drain(target(src)));
        }
        ops.push(Op::Eoi(src, false));
    }
    run(ops, [(0, true), (1000, false)]).unwrap();
}
