//! The virtio 1.x PCI modern transport (virtio spec §4.1).
//!
//! BAR layout (as QEMU's virtio-pci with `disable-legacy=on`):
//! * BAR1, 32-bit, 4 KiB: MSI-X table at 0, PBA at 0x800;
//! * BAR4, 64-bit prefetchable, 16 KiB: common configuration at 0, ISR at 0x1000, device
//!   configuration at 0x2000, notifications at 0x3000 (queue `i` at `0x3000 + 4 i`).

use std::sync::{Arc, Mutex, MutexGuard};

use virtio_queue::{Queue, QueueT};

use crate::pci::{BarKind, BarRegion, CMD_INTX_DISABLE, CMD_MASTER, ConfigSpace, PciFunction};
use crate::{
    DmaMemory, PeIommu, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_RING_F_INDIRECT_DESC, VirtioDevice,
};

/// "No MSI-X vector" in the vector registers.
pub const NO_VECTOR: u16 = 0xffff;
/// Bytes between two queues' notification addresses.
pub const NOTIFY_OFF_MULTIPLIER: u32 = 4;

/// Device status bits (virtio spec §2.1).
pub struct DeviceStatus;

impl DeviceStatus {
    /// The guest found the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u8 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The device needs a reset.
    pub const NEEDS_RESET: u8 = 0x40;
    /// The driver gave up.
    pub const FAILED: u8 = 0x80;
}

/// Offsets and sizes of the transport's BARs.
pub struct VirtioPciLayout;

impl VirtioPciLayout {
    /// BAR holding the MSI-X table and PBA.
    pub const MSIX_BAR: u8 = 1;
    /// Size of the MSI-X BAR.
    pub const MSIX_BAR_SIZE: u64 = 0x1000;
    /// PBA offset in the MSI-X BAR.
    pub const PBA_OFFSET: u64 = 0x800;
    /// BAR holding the virtio structures.
    pub const VIRTIO_BAR: u8 = 4;
    /// Size of the virtio BAR.
    pub const VIRTIO_BAR_SIZE: u64 = 0x4000;
    /// Common configuration offset.
    pub const COMMON: u64 = 0;
    /// ISR status offset.
    pub const ISR: u64 = 0x1000;
    /// Device configuration offset.
    pub const DEVICE: u64 = 0x2000;
    /// Notification area offset.
    pub const NOTIFY: u64 = 0x3000;
    /// Size of each structure's window.
    pub const WINDOW: u64 = 0x1000;
}

const COMMON_SIZE: usize = 0x3c;
const MAX_MSIX: usize = 64;

/// Where the device's interrupts go (the PHB).
pub trait InterruptSink: Send + Sync {
    /// An MSI-X message: the table entry's address and data.
    fn msi(&self, addr: u64, data: u32);
    /// The INTx line (used while MSI-X is disabled).
    fn intx(&self, asserted: bool);
}

struct NullSink;

impl InterruptSink for NullSink {
    fn msi(&self, _addr: u64, _data: u32) {}
    fn intx(&self, _asserted: bool) {}
}

struct Inner {
    cfg: ConfigSpace,
    msix_cap: u8,
    dev: Box<dyn VirtioDevice>,
    queues: Vec<Queue>,
    queue_vector: Vec<u16>,
    offered: u64,
    dfselect: u32,
    gfselect: u32,
    acked: u64,
    status: u8,
    generation: u8,
    config_vector: u16,
    qsel: u16,
    isr: u8,
    msix: Vec<[u32; 4]>,
    pba: Vec<bool>,
    mem: DmaMemory,
    sink: Arc<dyn InterruptSink>,
    intx: bool,
}

/// A virtio device on the PCI modern transport.
pub struct VirtioPciDevice {
    inner: Mutex<Inner>,
}

fn le(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = data.len().min(8);
    b[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(b)
}

fn put_le(data: &mut [u8], v: u64) {
    let b = v.to_le_bytes();
    let n = data.len().min(8);
    data[..n].copy_from_slice(&b[..n]);
    for x in data.iter_mut().skip(n) {
        *x = 0;
    }
}

impl VirtioPciDevice {
    /// Wraps `dev`. DMA goes to `mem`, through `iommu` once the driver accepts
    /// `VIRTIO_F_ACCESS_PLATFORM`, which is offered when `access_platform` is set.
    pub fn new(
        dev: Box<dyn VirtioDevice>,
        mem: hvapi::GuestMemory,
        iommu: PeIommu,
        access_platform: bool,
    ) -> Self {
        let sizes = dev.queue_max_sizes();
        let nq = sizes.len();
        let nvec = (nq + 1).min(MAX_MSIX);
        let mut cfg = ConfigSpace::new(
            0x1af4,
            0x1040u16.wrapping_add(dev.device_type() as u16),
            dev.pci_class(),
            1,
            (0x1af4, 0x1100),
        );
        cfg.add_bar(
            VirtioPciLayout::MSIX_BAR as usize,
            VirtioPciLayout::MSIX_BAR_SIZE,
            BarKind::Mem32,
        );
        cfg.add_bar(
            VirtioPciLayout::VIRTIO_BAR as usize,
            VirtioPciLayout::VIRTIO_BAR_SIZE,
            BarKind::Mem64Prefetch,
        );
        let vcap = |ty: u8, off: u64, len: u64, extra: Option<u32>| {
            let mut b = vec![if extra.is_some() { 20 } else { 16 }, ty];
            b.extend_from_slice(&[VirtioPciLayout::VIRTIO_BAR, 0, 0, 0]);
            b.extend_from_slice(&(off as u32).to_le_bytes());
            b.extend_from_slice(&(len as u32).to_le_bytes());
            if let Some(e) = extra {
                b.extend_from_slice(&e.to_le_bytes());
            }
            b
        };
        cfg.add_cap(
            0x09,
            &vcap(1, VirtioPciLayout::COMMON, COMMON_SIZE as u64, None),
            &[],
        );
        cfg.add_cap(0x09, &vcap(3, VirtioPciLayout::ISR, 1, None), &[]);
        cfg.add_cap(
            0x09,
            &vcap(4, VirtioPciLayout::DEVICE, VirtioPciLayout::WINDOW, None),
            &[],
        );
        cfg.add_cap(
            0x09,
            &vcap(
                2,
                VirtioPciLayout::NOTIFY,
                VirtioPciLayout::WINDOW,
                Some(NOTIFY_OFF_MULTIPLIER),
            ),
            &[],
        );
        let mut mx = Vec::new();
        mx.extend_from_slice(&((nvec - 1) as u16).to_le_bytes());
        mx.extend_from_slice(&u32::from(VirtioPciLayout::MSIX_BAR).to_le_bytes());
        mx.extend_from_slice(
            &(VirtioPciLayout::PBA_OFFSET as u32 | u32::from(VirtioPciLayout::MSIX_BAR))
                .to_le_bytes(),
        );
        let msix_cap = cfg.add_cap(0x11, &mx, &[0, 0xc0]);

        let mut offered = dev.features()
            | 1 << VIRTIO_F_VERSION_1
            | 1 << VIRTIO_RING_F_INDIRECT_DESC
            | 1 << VIRTIO_RING_F_EVENT_IDX;
        if access_platform {
            offered |= 1 << VIRTIO_F_ACCESS_PLATFORM;
        }
        let queues = sizes
            .iter()
            .map(|&s| Queue::new(s).or_else(|_| Queue::new(256)))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default();
        let mem = vm_memory::IommuMemory::new(mem, iommu, false, ());
        VirtioPciDevice {
            inner: Mutex::new(Inner {
                cfg,
                msix_cap,
                dev,
                queue_vector: vec![NO_VECTOR; queues.len()],
                queues,
                offered,
                dfselect: 0,
                gfselect: 0,
                acked: 0,
                status: 0,
                generation: 0,
                config_vector: NO_VECTOR,
                qsel: 0,
                isr: 0,
                msix: vec![[0, 0, 0, 1]; nvec],
                pba: vec![false; nvec],
                mem,
                sink: Arc::new(NullSink),
                intx: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets where interrupts go.
    pub fn set_interrupt_sink(&self, sink: Arc<dyn InterruptSink>) {
        self.lock().sink = sink;
    }

    /// Processes queue `index` as if the driver had notified it (for backends that produce
    /// data asynchronously, e.g. received packets).
    pub fn kick(&self, index: usize) {
        self.lock().process(index);
    }

    /// The device status register.
    pub fn status(&self) -> u8 {
        self.lock().status
    }

    /// The negotiated features (valid after FEATURES_OK).
    pub fn acked_features(&self) -> u64 {
        self.lock().acked
    }

    /// Whether DMA currently goes through the IOMMU.
    pub fn dma_translated(&self) -> bool {
        self.lock().mem.get_iommu_enabled()
    }

    /// The device type.
    pub fn device_type(&self) -> u32 {
        self.lock().dev.device_type()
    }
}

impl Inner {
    fn msix_control(&self) -> u8 {
        self.cfg.byte(self.msix_cap + 3)
    }

    fn msix_enabled(&self) -> bool {
        self.msix_control() & 0x80 != 0
    }

    fn msix_func_masked(&self) -> bool {
        self.msix_control() & 0x40 != 0
    }

    fn signal(&mut self, vector: u16, isr_bit: u8) {
        if self.msix_enabled() {
            let v = vector as usize;
            if vector == NO_VECTOR || v >= self.msix.len() {
                return;
            }
            if self.msix_func_masked() || self.msix[v][3] & 1 != 0 {
                self.pba[v] = true;
                return;
            }
            let e = self.msix[v];
            self.sink.msi(u64::from(e[0]) | u64::from(e[1]) << 32, e[2]);
        } else {
            self.isr |= isr_bit;
            if !self.intx && self.cfg.command() & CMD_INTX_DISABLE == 0 {
                self.intx = true;
                self.sink.intx(true);
            }
        }
    }

    fn deliver_pending(&mut self) {
        if !self.msix_enabled() || self.msix_func_masked() {
            return;
        }
        for v in 0..self.msix.len() {
            if self.pba[v] && self.msix[v][3] & 1 == 0 {
                self.pba[v] = false;
                let e = self.msix[v];
                self.sink.msi(u64::from(e[0]) | u64::from(e[1]) << 32, e[2]);
            }
        }
    }

    fn lower_intx(&mut self) {
        if self.intx {
            self.intx = false;
            self.sink.intx(false);
        }
    }

    fn reset(&mut self) {
        self.dev.reset();
        for q in &mut self.queues {
            q.reset();
        }
        self.queue_vector.iter_mut().for_each(|v| *v = NO_VECTOR);
        self.config_vector = NO_VECTOR;
        self.acked = 0;
        self.dfselect = 0;
        self.gfselect = 0;
        self.status = 0;
        self.qsel = 0;
        self.isr = 0;
        self.mem.set_iommu_enabled(false);
        self.lower_intx();
    }

    fn process(&mut self, index: usize) {
        if self.status & DeviceStatus::DRIVER_OK == 0
            || self.status & DeviceStatus::NEEDS_RESET != 0
            || self.cfg.command() & CMD_MASTER == 0
        {
            return;
        }
        let Some(q) = self.queues.get_mut(index) else {
            return;
        };
        if !q.ready() || !q.is_valid(&self.mem) {
            return;
        }
        if !self.dev.process_queue(index, q, &self.mem) {
            return;
        }
        let notify = q.needs_notification(&self.mem).unwrap_or(true);
        if notify {
            let v = self.queue_vector[index];
            self.signal(v, 1);
        }
    }

    fn common_bytes(&self) -> [u8; COMMON_SIZE] {
        let mut b = [0u8; COMMON_SIZE];
        let q = self.queues.get(self.qsel as usize);
        let feat = match self.dfselect {
            0 => self.offered as u32,
            1 => (self.offered >> 32) as u32,
            _ => 0,
        };
        let gfeat = match self.gfselect {
            0 => self.acked as u32,
            1 => (self.acked >> 32) as u32,
            _ => 0,
        };
        b[0..4].copy_from_slice(&self.dfselect.to_le_bytes());
        b[4..8].copy_from_slice(&feat.to_le_bytes());
        b[8..12].copy_from_slice(&self.gfselect.to_le_bytes());
        b[12..16].copy_from_slice(&gfeat.to_le_bytes());
        b[16..18].copy_from_slice(&self.config_vector.to_le_bytes());
        b[18..20].copy_from_slice(&(self.queues.len() as u16).to_le_bytes());
        b[20] = self.status;
        b[21] = self.generation;
        b[22..24].copy_from_slice(&self.qsel.to_le_bytes());
        if let Some(q) = q {
            b[24..26].copy_from_slice(&q.size().to_le_bytes());
            b[26..28].copy_from_slice(&self.queue_vector[self.qsel as usize].to_le_bytes());
            b[28..30].copy_from_slice(&u16::from(q.ready()).to_le_bytes());
            b[30..32].copy_from_slice(&self.qsel.to_le_bytes());
            b[32..40].copy_from_slice(&q.desc_table().to_le_bytes());
            b[40..48].copy_from_slice(&q.avail_ring().to_le_bytes());
            b[48..56].copy_from_slice(&q.used_ring().to_le_bytes());
        }
        b
    }

    fn common_read(&self, off: u64, data: &mut [u8]) {
        let b = self.common_bytes();
        let o = off as usize;
        for (i, d) in data.iter_mut().enumerate() {
            *d = o
                .checked_add(i)
                .and_then(|x| b.get(x))
                .copied()
                .unwrap_or(0);
        }
    }

    fn set_status(&mut self, v: u8) {
        if v == 0 {
            self.reset();
            return;
        }
        let mut v = v;
        let newly = v & !self.status;
        if newly & DeviceStatus::FEATURES_OK != 0 {
            let ok = self.acked & !self.offered == 0 && self.acked & 1 << VIRTIO_F_VERSION_1 != 0;
            if ok {
                let ev = self.acked & 1 << VIRTIO_RING_F_EVENT_IDX != 0;
                for q in &mut self.queues {
                    q.set_event_idx(ev);
                }
            } else {
                v &= !DeviceStatus::FEATURES_OK;
            }
        }
        if newly & DeviceStatus::DRIVER_OK != 0 {
            if v & DeviceStatus::FEATURES_OK == 0 {
                // DRIVER_OK without successful negotiation: refuse to operate.
                v |= DeviceStatus::NEEDS_RESET;
            } else {
                let translated = self.acked & 1 << VIRTIO_F_ACCESS_PLATFORM != 0;
                self.mem.set_iommu_enabled(translated);
                self.dev.activate(self.acked);
            }
        }
        self.status = v;
    }

    fn common_write(&mut self, off: u64, data: &[u8]) {
        let v = le(data);
        let n = data.len();
        let qi = self.qsel as usize;
        let features_open = self.status & DeviceStatus::FEATURES_OK == 0;
        match (off, n) {
            (0x00, 4) => self.dfselect = v as u32,
            (0x08, 4) => self.gfselect = v as u32,
            (0x0c, 4) if features_open => match self.gfselect {
                0 => self.acked = (self.acked & !0xffff_ffff) | v,
                1 => self.acked = (self.acked & 0xffff_ffff) | v << 32,
                _ => {}
            },
            (0x10, 2) => self.config_vector = self.valid_vector(v as u16),
            (0x14, 1) => self.set_status(v as u8),
            (0x16, 2) => self.qsel = v as u16,
            (0x18, 2) => {
                if let Some(q) = self.queues.get_mut(qi) {
                    q.set_size(v as u16);
                }
            }
            (0x1a, 2) => {
                let vec = self.valid_vector(v as u16);
                if let Some(x) = self.queue_vector.get_mut(qi) {
                    *x = vec;
                }
            }
            (0x1c, 2) => {
                if let Some(q) = self.queues.get_mut(qi) {
                    q.set_ready(v & 1 == 1);
                }
            }
            (0x20..=0x37, 4 | 8) => {
                let Some(q) = self.queues.get_mut(qi) else {
                    return;
                };
                let base = off & !7;
                let (lo, hi) = match (off & 4, n) {
                    (0, 8) => (Some(v as u32), Some((v >> 32) as u32)),
                    (0, _) => (Some(v as u32), None),
                    (_, 4) => (None, Some(v as u32)),
                    _ => return,
                };
                match base {
                    0x20 => q.set_desc_table_address(lo, hi),
                    0x28 => q.set_avail_ring_address(lo, hi),
                    0x30 => q.set_used_ring_address(lo, hi),
                    _ => {}
                }
            }
            _ => tracing::debug!(off, n, "virtio common config: write ignored"),
        }
    }

    /// A vector register write: out-of-range values read back as NO_VECTOR (spec §4.1.5.1.2).
    fn valid_vector(&self, v: u16) -> u16 {
        if (v as usize) < self.msix.len() {
            v
        } else {
            NO_VECTOR
        }
    }

    fn msix_read(&self, off: u64, data: &mut [u8]) {
        for (i, d) in data.iter_mut().enumerate() {
            let Some(a) = off.checked_add(i as u64) else {
                *d = 0;
                continue;
            };
            *d = if a >= VirtioPciLayout::PBA_OFFSET {
                // PBA: bit n = vector n pending.
                let first = (a - VirtioPciLayout::PBA_OFFSET).saturating_mul(8);
                (0..8u64).fold(0u8, |acc, b| {
                    let set = usize::try_from(first + b)
                        .ok()
                        .and_then(|x| self.pba.get(x))
                        .copied()
                        .unwrap_or(false);
                    acc | (u8::from(set) << b)
                })
            } else {
                let (e, w, byte) = ((a / 16) as usize, ((a % 16) / 4) as usize, a % 4);
                self.msix
                    .get(e)
                    .map(|entry| (entry[w] >> (8 * byte)) as u8)
                    .unwrap_or(0)
            };
        }
    }

    fn msix_write(&mut self, off: u64, data: &[u8]) {
        if off >= VirtioPciLayout::PBA_OFFSET
            || !matches!(data.len(), 4 | 8)
            || !off.is_multiple_of(4)
        {
            return;
        }
        let v = le(data);
        for k in 0..data.len() / 4 {
            let a = off + 4 * k as u64;
            let (e, w) = ((a / 16) as usize, ((a % 16) / 4) as usize);
            if let Some(entry) = self.msix.get_mut(e) {
                let x = (v >> (32 * k)) as u32;
                entry[w] = if w == 3 { x & 1 } else { x };
            }
        }
        self.deliver_pending();
    }

    fn bar_read(&mut self, bar: u8, off: u64, data: &mut [u8]) {
        match bar {
            VirtioPciLayout::MSIX_BAR => self.msix_read(off, data),
            VirtioPciLayout::VIRTIO_BAR => match off / VirtioPciLayout::WINDOW {
                0 => self.common_read(off, data),
                1 => {
                    let v = if off == VirtioPciLayout::ISR {
                        let v = self.isr;
                        self.isr = 0;
                        self.lower_intx();
                        v
                    } else {
                        0
                    };
                    put_le(data, u64::from(v));
                }
                2 => self.dev.read_config(off - VirtioPciLayout::DEVICE, data),
                _ => put_le(data, 0),
            },
            _ => put_le(data, 0),
        }
    }

    fn bar_write(&mut self, bar: u8, off: u64, data: &[u8]) {
        match bar {
            VirtioPciLayout::MSIX_BAR => self.msix_write(off, data),
            VirtioPciLayout::VIRTIO_BAR => match off / VirtioPciLayout::WINDOW {
                0 => self.common_write(off, data),
                2 => {
                    self.dev.write_config(off - VirtioPciLayout::DEVICE, data);
                }
                3 => {
                    let rel = off - VirtioPciLayout::NOTIFY;
                    if rel.is_multiple_of(u64::from(NOTIFY_OFF_MULTIPLIER)) {
                        let q = rel / u64::from(NOTIFY_OFF_MULTIPLIER);
                        if let Ok(q) = usize::try_from(q) {
                            self.process(q);
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

impl PciFunction for VirtioPciDevice {
    fn config_read(&self, reg: u16, size: u8) -> u32 {
        self.lock().cfg.read(reg, size)
    }

    fn config_write(&self, reg: u16, size: u8, value: u32) {
        let mut g = self.lock();
        let was_enabled = g.msix_enabled();
        g.cfg.write(reg, size, value);
        if g.msix_enabled() {
            if !was_enabled {
                g.lower_intx();
            }
            g.deliver_pending();
        } else if g.cfg.command() & CMD_INTX_DISABLE != 0 {
            g.lower_intx();
        }
    }

    fn bars(&self) -> Vec<BarRegion> {
        self.lock().cfg.bars()
    }

    fn bar_read(&self, bar: u8, offset: u64, data: &mut [u8]) {
        self.lock().bar_read(bar, offset, data)
    }

    fn bar_write(&self, bar: u8, offset: u64, data: &[u8]) {
        self.lock().bar_write(bar, offset, data)
    }

    fn msix_vectors(&self) -> u16 {
        self.lock().msix.len() as u16
    }

    fn set_msix_message(&self, vector: u16, addr: u64, data: u32) {
        let mut g = self.lock();
        if let Some(e) = g.msix.get_mut(vector as usize) {
            e[0] = addr as u32;
            e[1] = (addr >> 32) as u32;
            e[2] = data;
        }
    }
}
