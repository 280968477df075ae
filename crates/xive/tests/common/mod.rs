//! Test harness: guest memory, a recording sink, and guest-side helpers (queue consumer,
//! ESB/TIMA accessors, hcall wrapper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hvapi::hcall::*;
use hvapi::irq::{IrqAckListener, VcpuIrqSink};
use hvapi::{GuestAddress, GuestMemory};
use parking_lot::Mutex;
use vm_memory::Bytes;
use xive::{Xive, XiveConfig};

pub const MEM_SIZE: usize = 4 << 20;
pub const PRIO: u64 = 6;

/// A sink recording every call and the current level per server.
#[derive(Default)]
pub struct TestSink {
    pub calls: Mutex<Vec<(u32, bool)>>,
    pub level: Mutex<HashMap<u32, bool>>,
}

impl VcpuIrqSink for TestSink {
    fn set_external(&self, server: u32, asserted: bool) {
        self.calls.lock().push((server, asserted));
        self.level.lock().insert(server, asserted);
    }
}

impl TestSink {
    pub fn line(&self, server: u32) -> bool {
        self.level.lock().get(&server).copied().unwrap_or(false)
    }
    pub fn clear_calls(&self) {
        self.calls.lock().clear();
    }
}

/// Records LSI EOIs.
#[derive(Default)]
pub struct TestListener {
    pub eois: Mutex<Vec<u32>>,
    pub count: AtomicUsize,
}

impl IrqAckListener for TestListener {
    fn lsi_eoi(&self, irq: u32) {
        self.eois.lock().push(irq);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn mem() -> Arc<GuestMemory> {
    Arc::new(GuestMemory::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap())
}

pub struct Env {
    pub x: Arc<Xive>,
    pub sink: Arc<TestSink>,
    pub mem: Arc<GuestMemory>,
}

/// A controller with `nr_servers` connected vCPUs and QEMU defaults.
pub fn env(nr_servers: u32) -> Env {
    env_cfg(XiveConfig::qemu_default(nr_servers))
}

pub fn env_cfg(cfg: XiveConfig) -> Env {
    let mem = mem();
    let sink = Arc::new(TestSink::default());
    let x = Arc::new(Xive::new(cfg, mem.clone(), sink.clone()).unwrap());
    for s in 0..cfg.nr_servers {
        x.connect_vcpu(s).unwrap();
    }
    Env { x, sink, mem }
}

pub fn hc(x: &Xive, opcode: u64, a: &[u64]) -> HcallResult {
    let mut args = [0u64; 9];
    args[..a.len()].copy_from_slice(a);
    x.hcall(0, opcode, &args).expect("H_INT_* opcode")
}

pub fn esb_offset(lisn: u32, mgmt: bool) -> u64 {
    (u64::from(lisn) << 17) + if mgmt { 1 << 16 } else { 0 }
}

pub fn esb_load(x: &Xive, lisn: u32, off: u64) -> u64 {
    let mut d = [0u8; 8];
    x.esb_read(esb_offset(lisn, true) + off, &mut d);
    u64::from_be_bytes(d)
}

pub fn esb_store(x: &Xive, lisn: u32, off: u64, mgmt: bool) {
    x.esb_write(esb_offset(lisn, mgmt) + off, &0u64.to_be_bytes());
}

pub const TIMA_OS: u64 = 2 << 16;

pub fn ack(x: &Xive, server: u32) -> u16 {
    let mut d = [0u8; 2];
    x.tima_read(server, TIMA_OS + 0x810, &mut d);
    u16::from_be_bytes(d)
}

pub fn set_cppr(x: &Xive, server: u32, cppr: u8) {
    x.tima_write(server, TIMA_OS + 0x11, &[cppr]);
}

pub fn os_ring(x: &Xive, server: u32) -> [u8; 8] {
    let mut d = [0u8; 8];
    x.tima_read(server, TIMA_OS + 0x10, &mut d);
    d
}

/// Guest side of one event queue (Linux's consumer algorithm).
#[derive(Debug, Clone, Copy)]
pub struct GuestQueue {
    pub qaddr: u64,
    pub entries: u32,
    pub idx: u32,
    pub toggle: u32,
}

impl GuestQueue {
    /// Zero the page and register it with H_INT_SET_QUEUE_CONFIG (ALWAYS_NOTIFY).
    pub fn setup(
        x: &Xive,
        mem: &GuestMemory,
        server: u32,
        prio: u64,
        qaddr: u64,
        qshift: u64,
    ) -> Self {
        let len = 1usize << qshift;
        mem.write_slice(&vec![0u8; len], GuestAddress(qaddr))
            .unwrap();
        let r = hc(
            x,
            H_INT_SET_QUEUE_CONFIG,
            &[1, u64::from(server), prio, qaddr, qshift],
        );
        assert_eq!(r.ret, H_SUCCESS);
        GuestQueue {
            qaddr,
            entries: (len / 4) as u32,
            idx: 0,
            toggle: 0,
        }
    }

    pub fn raw(&self, mem: &GuestMemory, i: u32) -> u32 {
        let mut b = [0u8; 4];
        mem.read_slice(&mut b, GuestAddress(self.qaddr + 4 * u64::from(i)))
            .unwrap();
        u32::from_be_bytes(b)
    }

    /// Pop every valid entry (EISNs).
    pub fn drain(&mut self, mem: &GuestMemory) -> Vec<u32> {
        let mut out = Vec::new();
        loop {
            let cur = self.raw(mem, self.idx);
            if cur >> 31 == self.toggle {
                return out;
            }
            self.idx = (self.idx + 1) & (self.entries - 1);
            if self.idx == 0 {
                self.toggle ^= 1;
            }
            out.push(cur & 0x7FFF_FFFF);
        }
    }
}

/// Route `lisn` to `server` at PRIO with `eisn`, and enable it (PQ=00).
pub fn route(x: &Xive, lisn: u32, server: u32, eisn: u32) {
    let r = hc(
        x,
        H_INT_SET_SOURCE_CONFIG,
        &[2, u64::from(lisn), u64::from(server), PRIO, u64::from(eisn)],
    );
    assert_eq!(r.ret, H_SUCCESS);
    esb_load(x, lisn, 0xC00);
}
