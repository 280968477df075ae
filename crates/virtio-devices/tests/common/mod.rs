//! A fake virtio-pci driver: programs the function through its config space and BARs as
//! Linux's virtio_pci_modern does, and builds split virtqueues in guest memory.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use virtio_devices::{DeviceStatus, InterruptSink, PciFunction, VirtioPciDevice};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

pub type Mem = GuestMemoryMmap<()>;

pub const VBAR: u8 = 4;
pub const MSIX_ADDR: u64 = 0x400_0000_0000;

pub fn ram(size: usize) -> Mem {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size)]).unwrap()
}

#[derive(Default)]
pub struct Sink {
    pub msis: Mutex<Vec<(u64, u32)>>,
    pub intx: Mutex<Vec<bool>>,
}

impl InterruptSink for Sink {
    fn msi(&self, addr: u64, data: u32) {
        self.msis.lock().unwrap().push((addr, data));
    }
    fn intx(&self, asserted: bool) {
        self.intx.lock().unwrap().push(asserted);
    }
}

/// One split queue laid out by the driver: descriptors at `base`, avail at +0x1000, used at
/// +0x2000 (queue addresses as the device sees them: IOVAs when translated).
pub struct Vq {
    pub size: u16,
    /// Where the driver writes (guest physical).
    pub gpa: u64,
    /// What the device is told (bus address).
    pub iova: u64,
    pub next_desc: u16,
    pub avail_idx: u16,
    pub used_seen: u16,
}

pub struct Driver {
    pub dev: Arc<VirtioPciDevice>,
    pub mem: Mem,
    pub sink: Arc<Sink>,
    pub vqs: Vec<Vq>,
}

impl Driver {
    pub fn new(dev: VirtioPciDevice, mem: Mem) -> Driver {
        let dev = Arc::new(dev);
        let sink = Arc::new(Sink::default());
        dev.set_interrupt_sink(sink.clone());
        // BAR assignment and memory/bus-master enable, as the guest kernel does.
        dev.config_write(0x14, 4, 0x8000_0000);
        dev.config_write(0x20, 4, 0x4004);
        dev.config_write(0x24, 4, 0x2100);
        dev.config_write(0x04, 2, 0x6);
        Driver {
            dev,
            mem,
            sink,
            vqs: Vec::new(),
        }
    }

    pub fn rd(&self, off: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        self.dev.bar_read(VBAR, off, &mut b[..n]);
        u64::from_le_bytes(b)
    }

    pub fn wr(&self, off: u64, n: usize, v: u64) {
        self.dev.bar_write(VBAR, off, &v.to_le_bytes()[..n]);
    }

    pub fn features(&self) -> u64 {
        self.wr(0x00, 4, 0);
        let lo = self.rd(0x04, 4);
        self.wr(0x00, 4, 1);
        let hi = self.rd(0x04, 4);
        lo | hi << 32
    }

    /// Negotiates `want` (masked by the offer); returns whether FEATURES_OK stuck.
    pub fn negotiate(&self, want: u64) -> bool {
        self.wr(0x14, 1, 0);
        self.wr(0x14, 1, 1);
        self.wr(0x14, 1, 3);
        let f = self.features() & want;
        self.wr(0x08, 4, 0);
        self.wr(0x0c, 4, f & 0xffff_ffff);
        self.wr(0x08, 4, 1);
        self.wr(0x0c, 4, f >> 32);
        self.wr(0x14, 1, 0xb);
        self.rd(0x14, 1) as u8 & DeviceStatus::FEATURES_OK != 0
    }

    /// Enables MSI-X with entry `i` = (MSIX_ADDR, 0x1300 + i).
    pub fn enable_msix(&self) {
        let n = self.dev.msix_vectors();
        for i in 0..n {
            self.dev
                .set_msix_message(i, MSIX_ADDR, 0x1300 + u32::from(i));
            // unmask
            self.dev
                .bar_write(1, 16 * u64::from(i) + 12, &0u32.to_le_bytes());
        }
        let cap = find_cap(&*self.dev, 0x11).expect("MSI-X capability");
        let ctl = self.dev.config_read(cap + 2, 2);
        self.dev.config_write(cap + 2, 2, ctl | 0x8000);
    }

    /// Sets up queue `q` at guest address `gpa` (told to the device as `iova`).
    pub fn setup_queue(&mut self, q: u16, size: u16, gpa: u64, iova: u64, vector: u16) {
        self.wr(0x16, 2, q.into());
        assert!(self.rd(0x18, 2) as u16 >= size);
        self.wr(0x18, 2, size.into());
        self.wr(0x1a, 2, vector.into());
        self.wr(0x20, 4, iova & 0xffff_ffff);
        self.wr(0x24, 4, iova >> 32);
        self.wr(0x28, 4, (iova + 0x1000) & 0xffff_ffff);
        self.wr(0x2c, 4, (iova + 0x1000) >> 32);
        self.wr(0x30, 4, (iova + 0x2000) & 0xffff_ffff);
        self.wr(0x34, 4, (iova + 0x2000) >> 32);
        self.wr(0x1c, 2, 1);
        while self.vqs.len() <= q as usize {
            self.vqs.push(Vq {
                size: 0,
                gpa: 0,
                iova: 0,
                next_desc: 0,
                avail_idx: 0,
                used_seen: 0,
            });
        }
        self.vqs[q as usize] = Vq {
            size,
            gpa,
            iova,
            next_desc: 0,
            avail_idx: 0,
            used_seen: 0,
        };
    }

    pub fn driver_ok(&self) {
        let s = self.rd(0x14, 1);
        self.wr(0x14, 1, s | 4);
    }

    /// Adds a chain of (bus address, len, device-writable) buffers to queue `q` and makes it
    /// available (without notifying). Returns the head index.
    pub fn add_chain(&mut self, q: usize, bufs: &[(u64, u32, bool)]) -> u16 {
        let vq = &mut self.vqs[q];
        let head = vq.next_desc;
        for (i, (addr, len, w)) in bufs.iter().enumerate() {
            let idx = (vq.next_desc + i as u16) % vq.size;
            let last = i + 1 == bufs.len();
            let flags: u16 = if last { 0 } else { 1 } | if *w { 2 } else { 0 };
            let next = (idx + 1) % vq.size;
            let d = vq.gpa + 16 * u64::from(idx);
            self.mem.write_obj(*addr, GuestAddress(d)).unwrap();
            self.mem.write_obj(*len, GuestAddress(d + 8)).unwrap();
            self.mem.write_obj(flags, GuestAddress(d + 12)).unwrap();
            self.mem
                .write_obj(if last { 0u16 } else { next }, GuestAddress(d + 14))
                .unwrap();
        }
        vq.next_desc = (vq.next_desc + bufs.len() as u16) % vq.size;
        let a = vq.gpa + 0x1000;
        let slot = a + 4 + 2 * u64::from(vq.avail_idx % vq.size);
        self.mem.write_obj(head, GuestAddress(slot)).unwrap();
        vq.avail_idx = vq.avail_idx.wrapping_add(1);
        self.mem
            .write_obj(vq.avail_idx, GuestAddress(a + 2))
            .unwrap();
        head
    }

    pub fn notify(&self, q: u16) {
        self.wr(0x3000 + 4 * u64::from(q), 2, q.into());
    }

    /// The used entries not seen yet: (id, len).
    pub fn used(&mut self, q: usize) -> Vec<(u32, u32)> {
        let vq = &mut self.vqs[q];
        let u = vq.gpa + 0x2000;
        let idx: u16 = self.mem.read_obj(GuestAddress(u + 2)).unwrap();
        let mut out = Vec::new();
        while vq.used_seen != idx {
            let e = u + 4 + 8 * u64::from(vq.used_seen % vq.size);
            let id: u32 = self.mem.read_obj(GuestAddress(e)).unwrap();
            let len: u32 = self.mem.read_obj(GuestAddress(e + 4)).unwrap();
            out.push((id, len));
            vq.used_seen = vq.used_seen.wrapping_add(1);
        }
        out
    }
}

pub fn find_cap(dev: &dyn PciFunction, id: u32) -> Option<u16> {
    let mut p = dev.config_read(0x34, 1) as u16;
    for _ in 0..48 {
        if p == 0 {
            return None;
        }
        if dev.config_read(p, 1) == id {
            return Some(p);
        }
        p = dev.config_read(p + 1, 1) as u16;
    }
    None
}
