//! The PCI host bridge, as QEMU's pseries machine has it (PHB index 0).
//!
//! * BUID `0x800000020000000`, one bus (0), up to 32 functions (function 0 of each slot).
//! * Config space through RTAS `read-pci-config`/`write-pci-config` and their `ibm,`
//!   variants with a BUID; bad sizes, alignments, devices and registers answer −1 (QEMU).
//! * MMIO windows as QEMU's ranges: 2 GiB of 32-bit space (bus `0x8000_0000` at CPU
//!   `0x2000_8000_0000`) and 1 TiB of 64-bit space identity-mapped at `0x2100_0000_0000`.
//!   No I/O space. The guest assigns the BARs itself: the device nodes carry `reg` (sizes, no
//!   `assigned-addresses`), as QEMU with VOF gives them, and Linux allocates and writes the
//!   BARs; accesses are decoded by the functions' current BARs.
//! * DMA: the PE is registered in the VM's TCE registry as QEMU's (default window LIOBN
//!   `0x80000000`, 1 GiB of 4 KiB pages at bus address 0, one dynamic-window slot).
//! * Interrupts go through the VM's routing layer (`hv::routing`), as a KVM user's would.
//!   INTx on LSIs `0x1200..0x1204` (QEMU's swizzle), driven with `Vm::set_irq_line`. MSI-X
//!   through `ibm,change-msi` (sources allocated from `0x1300..0x2000`, each MSI-X entry
//!   programmed with the MSI window address and the source number as data) and
//!   `ibm,query-interrupt-source-number`. Every source is claimed with `Vm::claim_irq`, so
//!   it exists in whichever controller CAS creates. Delivery ([`MsiPath`]): by default one
//!   irqfd per allocated vector (the device's message signals the vector's eventfd, the
//!   router's worker injects GSI = source number); or synchronously with
//!   `Vm::signal_msi`. A message to the MSI window that names no irqfd (a store by the
//!   guest, a vector reprogrammed) goes through `Vm::signal_msi`.
//! * DDW: the PHB is the [`ddw::PeLookup`] of the DDW RTAS calls: its BUID and the config
//!   address of a present function name its one PE; anything else is −3.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use hv::Vm;
use hv::routing::EventFd;
use virtio_devices::{InterruptSink, PciFunction, VirtioPciDevice};

use crate::ddw;
use crate::dt::{Tree, cells, string};
use crate::tree::PHANDLE_INTC;

/// The PHB's BUID.
pub const BUID: u64 = 0x0800_0000_2000_0000;
/// Bus address of the 32-bit window.
pub const MEM32_PCI: u64 = 0x8000_0000;
/// CPU address of the 32-bit window.
pub const MEM32_CPU: u64 = 0x2000_8000_0000;
/// Size of the 32-bit window.
pub const MEM32_SIZE: u64 = 0x8000_0000;
/// Base (CPU = bus) of the 64-bit window.
pub const MEM64_BASE: u64 = 0x2100_0000_0000;
/// Size of the 64-bit window.
pub const MEM64_SIZE: u64 = 0x100_0000_0000;
/// MSI window: a 4-byte store of a source number here triggers it.
pub const MSI_WINDOW: u64 = 0x400_0000_0000;
/// Size of the MSI window.
pub const MSI_WINDOW_SIZE: u64 = 0x1_0000;
/// First INTx source (INTA..INTD of slot 0).
pub const LSI_BASE: u32 = 0x1200;
/// First MSI source.
pub const MSI_BASE: u32 = 0x1300;
/// One past the last MSI source.
pub const MSI_END: u32 = 0x2000;
/// Default DMA window LIOBN.
pub const LIOBN: u32 = 0x8000_0000;
/// Default DMA window size.
pub const DMA_WINDOW_SIZE: u64 = 0x4000_0000;

const RTAS_HW_ERROR: i32 = -1;
const RTAS_PARAM_ERROR: i32 = -3;

/// `ibm,change-msi` function codes.
const FN_QUERY: u32 = 0;
const FN_CHANGE: u32 = 1;
const FN_MSI: u32 = 3;
const FN_MSIX: u32 = 4;
/// Interrupt types returned by `ibm,change-msi`.
const TYPE_MSIX: u32 = 2;

/// How device MSIs reach the interrupt controller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MsiPath {
    /// One irqfd per allocated MSI-X vector (`Vm::irqfd_assign`, GSI = source number); the
    /// device signals the eventfd and the router's worker thread injects (KVM users' way).
    #[default]
    Irqfd,
    /// `Vm::signal_msi` on the device's thread (`KVM_SIGNAL_MSI`).
    Direct,
}

impl MsiPath {
    /// From the `PAPR_HV_MSI` environment variable (`irqfd` or `direct`), default irqfd.
    pub fn from_env() -> MsiPath {
        match std::env::var("PAPR_HV_MSI").as_deref() {
            Ok("direct") => MsiPath::Direct,
            _ => MsiPath::Irqfd,
        }
    }
}

/// Kinds of device the PHB can hold (for naming in the tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// virtio-blk.
    Block,
    /// virtio-net.
    Net,
    /// virtio-console.
    Console,
    /// virtio-rng.
    Rng,
}

impl DeviceKind {
    fn node_name(self) -> &'static str {
        match self {
            DeviceKind::Block => "scsi",
            DeviceKind::Net => "ethernet",
            DeviceKind::Console => "communication-controller",
            DeviceKind::Rng => "unknown-legacy-device",
        }
    }

    fn loc(self) -> &'static str {
        match self {
            DeviceKind::Block => "virtio-blk-pci",
            DeviceKind::Net => "virtio-net-pci",
            DeviceKind::Console => "virtio-serial-pci",
            DeviceKind::Rng => "virtio-rng-pci",
        }
    }
}

struct Slot {
    devfn: u8,
    kind: DeviceKind,
    dev: Arc<VirtioPciDevice>,
    /// MSI-X sources allocated by `ibm,change-msi`: (first, count).
    msi: Option<(u32, u32)>,
}

struct Inner {
    slots: Vec<Slot>,
    /// Allocated MSI sources, `MSI_BASE..MSI_END`.
    used: Vec<bool>,
}

/// The PHB.
pub struct Phb {
    vm: Vm,
    inner: Mutex<Inner>,
    msi_path: MsiPath,
    /// Source number → the eventfd of its irqfd ([`MsiPath::Irqfd`]). Lock order:
    /// `inner`, then a device, then this; nothing is locked while this is held.
    irqfds: RwLock<HashMap<u32, EventFd>>,
}

impl std::fmt::Debug for Phb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("Phb")
            .field("buid", &BUID)
            .field(
                "devices",
                &g.slots
                    .iter()
                    .map(|s| (s.devfn, s.kind))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Sends a device's interrupts to the interrupt controller, through the PHB.
struct Sink {
    phb: Weak<Phb>,
    lsi: u32,
}

impl InterruptSink for Sink {
    fn msi(&self, addr: u64, data: u32) {
        if let Some(p) = self.phb.upgrade() {
            p.deliver_msi(addr, data);
        }
    }
    fn intx(&self, asserted: bool) {
        if let Some(p) = self.phb.upgrade()
            && let Err(e) = p.vm.set_irq_line(self.lsi, u32::from(asserted))
        {
            tracing::debug!(lsi = self.lsi, "INTx not delivered: {e}");
        }
    }
}

/// The CPU-side MMIO regions of the PHB.
struct Window {
    /// Weak: the VM's bus holds the window and the PHB holds the VM; the machine owns the
    /// PHB, so a VM that is done with (power-off, reboot) frees its memory.
    phb: Weak<Phb>,
    /// Bus address of the region's first byte.
    pci_base: u64,
}

impl hv::MmioDevice for Window {
    fn read(&self, _vcpu: u32, offset: u64, data: &mut [u8]) {
        let addr = self.pci_base.wrapping_add(offset);
        let Some(phb) = self.phb.upgrade() else {
            data.fill(0xff);
            return;
        };
        match phb.decode(addr, data.len() as u64) {
            Some((dev, bar, off)) => dev.bar_read(bar, off, data),
            None => data.fill(0xff),
        }
    }
    fn write(&self, _vcpu: u32, offset: u64, data: &[u8]) {
        let addr = self.pci_base.wrapping_add(offset);
        let Some(phb) = self.phb.upgrade() else {
            return;
        };
        if let Some((dev, bar, off)) = phb.decode(addr, data.len() as u64) {
            dev.bar_write(bar, off, data);
        }
    }
}

struct MsiWindow(Weak<Phb>);

impl hv::MmioDevice for MsiWindow {
    fn read(&self, _vcpu: u32, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn write(&self, _vcpu: u32, offset: u64, data: &[u8]) {
        if data.len() == 4
            && let Some(p) = self.0.upgrade()
        {
            let v = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            p.deliver_msi(MSI_WINDOW.wrapping_add(offset), v);
        }
    }
}

impl ddw::PeLookup for Phb {
    /// The PHB has one PE (QEMU's layout), registered under its BUID: any present function's
    /// config address names it; another BUID, bus or an empty slot is unknown.
    fn pe(&self, buid: u64, config_addr: u32) -> Option<u64> {
        self.find(Some(buid), config_addr).map(|_| BUID)
    }
}

/// Register offset, bus and devfn of an RTAS PCI config address.
fn split_addr(addr: u32) -> (u16, u8, u8) {
    let reg = (((addr >> 20) & 0xf00) | (addr & 0xff)) as u16;
    (reg, (addr >> 16) as u8, (addr >> 8) as u8)
}

impl Phb {
    /// Creates the PHB with `devices` (slot `i` holds `devices[i]`), registers its MMIO
    /// windows, claims its INTx sources and connects the devices' interrupts. The PE is
    /// registered in the VM's TCE registry by [`pe_iommu`](Self::pe_iommu) (the devices need
    /// its tables first).
    pub fn new(
        vm: &Vm,
        devices: Vec<(DeviceKind, Arc<VirtioPciDevice>)>,
        msi_path: MsiPath,
    ) -> Result<Arc<Phb>, String> {
        if devices.len() > 32 {
            return Err("at most 32 PCI devices".into());
        }
        let phb = Arc::new(Phb {
            vm: vm.clone(),
            msi_path,
            irqfds: RwLock::new(HashMap::new()),
            inner: Mutex::new(Inner {
                slots: devices
                    .into_iter()
                    .enumerate()
                    .map(|(i, (kind, dev))| Slot {
                        devfn: (i as u8) << 3,
                        kind,
                        dev,
                        msi: None,
                    })
                    .collect(),
                used: vec![false; (MSI_END - MSI_BASE) as usize],
            }),
        });
        let bus = vm.bus();
        bus.register(
            MEM32_CPU,
            MEM32_SIZE,
            Arc::new(Window {
                phb: Arc::downgrade(&phb),
                pci_base: MEM32_PCI,
            }),
        )
        .map_err(|e| e.to_string())?;
        bus.register(
            MEM64_BASE,
            MEM64_SIZE,
            Arc::new(Window {
                phb: Arc::downgrade(&phb),
                pci_base: MEM64_BASE,
            }),
        )
        .map_err(|e| e.to_string())?;
        bus.register(
            MSI_WINDOW,
            MSI_WINDOW_SIZE,
            Arc::new(MsiWindow(Arc::downgrade(&phb))),
        )
        .map_err(|e| e.to_string())?;
        for i in 0..4 {
            vm.claim_irq(LSI_BASE + i, true)
                .map_err(|e| format!("PHB LSI {:#x}: {e}", LSI_BASE + i))?;
        }
        let g = phb.lock();
        for s in &g.slots {
            s.dev.set_interrupt_sink(Arc::new(Sink {
                phb: Arc::downgrade(&phb),
                lsi: Self::lsi_of(s.devfn),
            }));
        }
        drop(g);
        Ok(phb)
    }

    /// The tables of this PE's DMA windows (default and dynamic slot), as an IOMMU for
    /// devices. Registers the PE in the VM's TCE registry if it is not there yet.
    pub fn pe_iommu(vm: &Vm) -> Result<virtio_devices::PeIommu, String> {
        let tce = vm.tce();
        if tce.pe(BUID).is_none() {
            tce.add_pe(tce::PeConfig::qemu_phb(0))
                .map_err(|e| format!("PHB DMA window: {e}"))?;
        }
        let pe = tce.pe(BUID).ok_or("PHB PE missing")?;
        Ok(virtio_devices::PeIommu::new(
            pe.slots().filter_map(|l| tce.iommu(l)).collect(),
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// QEMU's INTx swizzle for pin INTA of `devfn`'s slot.
    fn lsi_of(devfn: u8) -> u32 {
        LSI_BASE + u32::from(devfn >> 3) % 4
    }

    /// Delivers an MSI: the data is the source number (pseries maps MSI data to the LISN
    /// directly). Through the source's irqfd when it has one, else `Vm::signal_msi`.
    fn deliver_msi(&self, addr: u64, data: u32) {
        if !(MSI_WINDOW..MSI_WINDOW + MSI_WINDOW_SIZE).contains(&addr) {
            tracing::debug!(addr, data, "MSI outside the MSI window dropped");
            return;
        }
        if let Some(fd) = self
            .irqfds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&data)
            && fd.write(1).is_ok()
        {
            return;
        }
        if let Err(e) = self.vm.signal_msi(addr, data, None) {
            tracing::debug!(data, "MSI not delivered: {e}");
        }
    }

    fn decode(&self, addr: u64, len: u64) -> Option<(Arc<VirtioPciDevice>, u8, u64)> {
        let g = self.lock();
        g.slots.iter().find_map(|s| {
            s.dev
                .decode(addr, len)
                .map(|(bar, off)| (s.dev.clone(), bar, off))
        })
    }

    fn find(&self, buid: Option<u64>, addr: u32) -> Option<(usize, u16)> {
        if buid.is_some_and(|b| b != BUID) {
            return None;
        }
        let (reg, bus, devfn) = split_addr(addr);
        if bus != 0 {
            return None;
        }
        let g = self.lock();
        g.slots
            .iter()
            .position(|s| s.devfn == devfn)
            .map(|i| (i, reg))
    }

    fn check_access(reg: u16, size: u32) -> Option<u8> {
        let size = match size {
            1 | 2 | 4 => size as u8,
            _ => return None,
        };
        (reg.is_multiple_of(u16::from(size))
            && usize::from(reg) + usize::from(size) <= virtio_devices::pci::CONFIG_SIZE)
            .then_some(size)
    }

    /// `read-pci-config` (`buid` None) / `ibm,read-pci-config`: the value, or the RTAS
    /// status (−1 for a bad size, alignment, register or device).
    pub fn config_read(&self, buid: Option<u64>, addr: u32, size: u32) -> Result<u32, i32> {
        let (i, reg) = self.find(buid, addr).ok_or(RTAS_HW_ERROR)?;
        let size = Self::check_access(reg, size).ok_or(RTAS_HW_ERROR)?;
        let dev = self.lock().slots[i].dev.clone();
        Ok(dev.config_read(reg, size))
    }

    /// `write-pci-config` / `ibm,write-pci-config`.
    pub fn config_write(
        &self,
        buid: Option<u64>,
        addr: u32,
        size: u32,
        val: u32,
    ) -> Result<(), i32> {
        let (i, reg) = self.find(buid, addr).ok_or(RTAS_HW_ERROR)?;
        let size = Self::check_access(reg, size).ok_or(RTAS_HW_ERROR)?;
        let dev = self.lock().slots[i].dev.clone();
        dev.config_write(reg, size, val);
        Ok(())
    }

    fn free_sources(&self, g: &mut Inner, first: u32, n: u32) {
        for irq in first..first.saturating_add(n) {
            if let Some(u) = irq
                .checked_sub(MSI_BASE)
                .and_then(|i| g.used.get_mut(i as usize))
            {
                *u = false;
            }
            let fd = self
                .irqfds
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&irq);
            if let Some(fd) = fd
                && let Err(e) = self.vm.irqfd_deassign(&fd, irq)
            {
                tracing::debug!("MSI source {irq:#x}: irqfd deassign: {e}");
            }
            if let Err(e) = self.vm.free_irq(irq) {
                tracing::debug!("MSI source {irq:#x}: free: {e}");
            }
        }
    }

    /// Claims MSI source `irq` and, with [`MsiPath::Irqfd`], binds an irqfd to it.
    fn claim_msi(&self, irq: u32) -> Result<(), String> {
        self.vm.claim_irq(irq, false).map_err(|e| e.to_string())?;
        if self.msi_path == MsiPath::Irqfd {
            let bound = EventFd::new(0).and_then(|fd| Ok((fd.try_clone()?, fd)));
            match bound.map_err(|e| e.to_string()).and_then(|(kept, given)| {
                self.vm
                    .irqfd_assign(given, irq, None)
                    .map(|()| kept)
                    .map_err(|e| e.to_string())
            }) {
                Ok(fd) => {
                    self.irqfds
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(irq, fd);
                }
                // Delivery falls back to signal_msi for this source.
                Err(e) => tracing::warn!("MSI source {irq:#x}: no irqfd: {e}"),
            }
        }
        Ok(())
    }

    /// `ibm,change-msi`: returns (count, next sequence number, interrupt type) or the
    /// status. Only MSI-X is offered (function 3, plain MSI, is a parameter error).
    pub fn change_msi(
        &self,
        buid: u64,
        addr: u32,
        func: u32,
        req: u32,
        seq: u32,
    ) -> Result<(u32, u32, u32), i32> {
        let (i, _) = self.find(Some(buid), addr).ok_or(RTAS_PARAM_ERROR)?;
        match func {
            FN_CHANGE | FN_MSIX => {}
            FN_QUERY | FN_MSI => return Err(RTAS_PARAM_ERROR),
            _ => return Err(RTAS_PARAM_ERROR),
        }
        let mut g = self.lock();
        let dev = g.slots[i].dev.clone();
        let next = seq.wrapping_add(1);
        if req == 0 {
            let Some((first, n)) = g.slots[i].msi.take() else {
                return Err(RTAS_HW_ERROR);
            };
            self.free_sources(&mut g, first, n);
            for v in 0..n {
                dev.set_msix_message(v as u16, 0, 0);
            }
            return Ok((0, next, TYPE_MSIX));
        }
        let max = u32::from(dev.msix_vectors());
        if max == 0 {
            return Err(RTAS_PARAM_ERROR);
        }
        if req > max {
            return Ok((max, next, TYPE_MSIX));
        }
        // A contiguous free block (first fit).
        let n = req as usize;
        let start = (0..=g.used.len().saturating_sub(n))
            .find(|&s| g.used[s..s + n].iter().all(|u| !u))
            .ok_or(RTAS_HW_ERROR)?;
        let first = MSI_BASE + start as u32;
        if let Some((f, c)) = g.slots[i].msi.take() {
            self.free_sources(&mut g, f, c);
        }
        for irq in first..first + req {
            if let Err(e) = self.claim_msi(irq) {
                tracing::warn!("MSI source {irq:#x}: {e}");
                self.free_sources(&mut g, first, irq - first);
                return Err(RTAS_HW_ERROR);
            }
        }
        g.used[start..start + n].iter_mut().for_each(|u| *u = true);
        for v in 0..req {
            dev.set_msix_message(v as u16, MSI_WINDOW, first + v);
        }
        g.slots[i].msi = Some((first, req));
        tracing::debug!(devfn = g.slots[i].devfn, first, req, "ibm,change-msi");
        Ok((req, next, TYPE_MSIX))
    }

    /// `ibm,query-interrupt-source-number`: (source number, 1 = edge) or the status.
    pub fn query_irq(&self, buid: u64, addr: u32, index: u32) -> Result<(u32, u32), i32> {
        let (i, _) = self.find(Some(buid), addr).ok_or(RTAS_PARAM_ERROR)?;
        let g = self.lock();
        match g.slots[i].msi {
            Some((first, n)) if index < n => Ok((first + index, 1)),
            _ => Err(RTAS_PARAM_ERROR),
        }
    }

    /// Adds the PHB node and its device nodes under `parent`.
    pub fn add_to_tree(&self, t: &mut Tree, parent: usize) {
        let n = t.add(parent, &format!("pci@{BUID:x}"));
        t.set_str(n, "device_type", "pci");
        t.set_str(n, "compatible", "IBM,Logical_PHB");
        t.set_u32(n, "#interrupt-cells", 1);
        t.set_empty(n, "used-by-rtas");
        t.set(n, "bus-range", cells(&[0, 0xff]));
        let hi = |x: u64| (x >> 32) as u32;
        t.set(
            n,
            "ranges",
            cells(&[
                0x0200_0000,
                0,
                MEM32_PCI as u32,
                hi(MEM32_CPU),
                MEM32_CPU as u32,
                hi(MEM32_SIZE),
                MEM32_SIZE as u32,
                0x0300_0000,
                hi(MEM64_BASE),
                MEM64_BASE as u32,
                hi(MEM64_BASE),
                MEM64_BASE as u32,
                hi(MEM64_SIZE),
                MEM64_SIZE as u32,
            ]),
        );
        t.set(n, "reg", cells(&[hi(BUID), BUID as u32, 0, 0]));
        t.set_u32(n, "ibm,pci-config-space-type", 1);
        t.set_u32(n, "ibm,pe-total-#msi", MSI_END - MSI_BASE);
        t.set(n, "ibm,ddw-applicable", cells(&ddw::DDW_APPLICABLE));
        t.set(n, "ibm,ddw-extensions", cells(&ddw::DDW_EXTENSIONS));
        t.set(n, "interrupt-map-mask", cells(&[0xf800, 0, 0, 0xffff_ffff]));
        let mut map = Vec::new();
        for slot in 0..32u32 {
            for pin in 1..=4u32 {
                map.extend_from_slice(&[
                    slot << 11,
                    0,
                    0,
                    pin,
                    PHANDLE_INTC,
                    LSI_BASE + (slot + pin - 1) % 4,
                    1,
                ]);
            }
        }
        t.set(n, "interrupt-map", cells(&map));
        t.set(
            n,
            "ibm,dma-window",
            cells(&[LIOBN, 0, 0, hi(DMA_WINDOW_SIZE), DMA_WINDOW_SIZE as u32]),
        );
        t.set_u32(n, "ibm,#dma-address-cells", 2);
        t.set_u32(n, "ibm,#dma-size-cells", 2);
        t.set_u32(n, "#address-cells", 3);
        t.set_u32(n, "#size-cells", 2);

        let g = self.lock();
        for s in &g.slots {
            let d = &s.dev;
            let slot = s.devfn >> 3;
            let c = t.add(n, &format!("{}@{slot:x}", s.kind.node_name()));
            let r = |reg: u16, size: u8| d.config_read(reg, size);
            t.set_u32(c, "vendor-id", r(0, 2));
            t.set_u32(c, "device-id", r(2, 2));
            t.set_u32(c, "revision-id", r(8, 1));
            t.set_u32(c, "class-code", r(8, 4) >> 8);
            t.set_u32(c, "subsystem-vendor-id", r(0x2c, 2));
            t.set_u32(c, "subsystem-id", r(0x2e, 2));
            let pin = r(0x3d, 1);
            if pin != 0 {
                t.set_u32(c, "interrupts", pin);
            }
            t.set_u32(c, "min-grant", 0);
            t.set_u32(c, "max-latency", 0);
            t.set_u32(c, "cache-line-size", 0);
            t.set_u32(c, "devsel-speed", 0);
            let nv = d.msix_vectors();
            if nv > 0 {
                t.set_u32(c, "ibm,req#msi-x", u32::from(nv));
            }
            let dev_id = u32::from(s.devfn) << 8;
            let mut reg = vec![dev_id, 0, 0, 0, 0];
            for b in d.bars() {
                let space = if b.mem64 { 0x0300_0000 } else { 0x0200_0000 };
                reg.extend_from_slice(&[
                    space | dev_id | (0x10 + 4 * u32::from(b.index)),
                    0,
                    0,
                    hi(b.size),
                    b.size as u32,
                ]);
            }
            t.set(c, "reg", cells(&reg));
            t.set(
                c,
                "ibm,loc-code",
                string(&format!("papr-hv_{}:0000:00:{slot:02x}.0", s.kind.loc())),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::IrqChip;

    #[test]
    fn config_address_encoding() {
        // extended register nibble, bus, devfn, low register byte
        assert_eq!(split_addr(0x1000_1234), (0x134, 0, 0x12));
        assert_eq!(split_addr(0x0003_0844), (0x44, 3, 0x08));
    }

    fn machine_with_disk_path(path: MsiPath) -> (Vm, Arc<Phb>, std::path::PathBuf) {
        let (vm, _vcpus) = Vm::new(hv::VmConfig {
            mem_size: 64 << 20,
            vcpus: 1,
        })
        .unwrap();
        let img = std::env::temp_dir().join(format!(
            "spapr-phb-{}-{:?}.img",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&img, vec![0u8; 4096]).unwrap();
        let iommu = Phb::pe_iommu(&vm).unwrap();
        let blk = virtio_devices::block::Block::open(&img, false).unwrap();
        let dev = Arc::new(VirtioPciDevice::new(
            Box::new(blk),
            (**vm.memory()).clone(),
            iommu,
            true,
        ));
        let phb = Phb::new(&vm, vec![(DeviceKind::Block, dev)], path).unwrap();
        vm.create_irqchip(hvapi::device::DeviceKind::Xive).unwrap();
        (vm, phb, img)
    }

    fn machine_with_disk() -> (Vm, Arc<Phb>, std::path::PathBuf) {
        machine_with_disk_path(MsiPath::default())
    }

    /// Waits (up to 10 s) for `cond`, which an irqfd worker makes true asynchronously.
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::yield_now();
        }
        cond()
    }

    /// Nothing keeps a VM alive once its owners let go of it and of the PHB (a reboot
    /// builds a new VM; the old one's memory must be freed).
    #[test]
    fn dropping_the_vm_and_phb_frees_them() {
        let (vm, phb, img) = machine_with_disk();
        // An irqfd per vector exists once MSI-X is enabled; a plain machine suffices here.
        let w_phb = Arc::downgrade(&phb);
        let w_mem = Arc::downgrade(vm.memory());
        drop(phb);
        drop(vm);
        assert!(w_phb.upgrade().is_none(), "PHB still referenced");
        assert!(w_mem.upgrade().is_none(), "guest memory still referenced");
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn config_space_through_rtas_rules() {
        let (vm, phb, img) = machine_with_disk();
        assert_eq!(phb.config_read(None, 0, 4), Ok(0x1042_1af4));
        assert_eq!(phb.config_read(Some(BUID), 0, 2), Ok(0x1af4));
        assert_eq!(phb.config_read(Some(BUID + 1), 0, 4), Err(RTAS_HW_ERROR));
        assert_eq!(
            phb.config_read(None, 0x0800, 4),
            Err(RTAS_HW_ERROR),
            "empty slot"
        );
        assert_eq!(
            phb.config_read(None, 0x1_0000, 4),
            Err(RTAS_HW_ERROR),
            "bus 1"
        );
        assert_eq!(
            phb.config_read(None, 2, 4),
            Err(RTAS_HW_ERROR),
            "misaligned"
        );
        assert_eq!(phb.config_read(None, 0, 3), Err(RTAS_HW_ERROR), "size");
        assert_eq!(
            phb.config_read(None, 0x1000_0000, 4),
            Err(RTAS_HW_ERROR),
            "reg 0x100"
        );
        // BAR sizing and assignment through config writes, then MMIO decode.
        phb.config_write(None, 0x20, 4, 0xffff_ffff).unwrap();
        assert_eq!(phb.config_read(None, 0x20, 4), Ok(0xffff_c00c));
        phb.config_write(None, 0x20, 4, 0x4004).unwrap();
        phb.config_write(None, 0x24, 4, 0x2100).unwrap();
        let mut b = [0u8; 2];
        // memory decoding off: master abort
        ppc64::Bus::read(&**vm.bus(), 0, MEM64_BASE + 0x4000 + 0x12, &mut b);
        assert_eq!(b, [0xff, 0xff]);
        phb.config_write(None, 4, 2, 6).unwrap();
        ppc64::Bus::read(&**vm.bus(), 0, MEM64_BASE + 0x4000 + 0x12, &mut b);
        assert_eq!(u16::from_le_bytes(b), 1, "num_queues of virtio-blk");
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn msix_allocation_query_and_delivery_irqfd() {
        msix_allocation_query_and_delivery(MsiPath::Irqfd);
    }

    #[test]
    fn msix_allocation_query_and_delivery_direct() {
        msix_allocation_query_and_delivery(MsiPath::Direct);
    }

    fn msix_allocation_query_and_delivery(path: MsiPath) {
        let (vm, phb, img) = machine_with_disk_path(path);
        let nv = 2;
        // too many: the maximum comes back, nothing allocated
        assert_eq!(
            phb.change_msi(BUID, 0, FN_MSIX, 64, 7),
            Ok((nv, 8, TYPE_MSIX))
        );
        assert_eq!(phb.query_irq(BUID, 0, 0), Err(RTAS_PARAM_ERROR));
        // plain MSI is not offered
        assert_eq!(phb.change_msi(BUID, 0, FN_MSI, 1, 0), Err(RTAS_PARAM_ERROR));
        assert_eq!(phb.change_msi(BUID, 0, 5, 1, 0), Err(RTAS_PARAM_ERROR));
        assert_eq!(
            phb.change_msi(BUID + 1, 0, FN_MSIX, 1, 0),
            Err(RTAS_PARAM_ERROR)
        );
        // releasing nothing
        assert_eq!(phb.change_msi(BUID, 0, FN_MSIX, 0, 0), Err(RTAS_HW_ERROR));
        assert_eq!(
            phb.change_msi(BUID, 0, FN_CHANGE, 2, 1),
            Ok((2, 2, TYPE_MSIX))
        );
        assert_eq!(phb.query_irq(BUID, 0, 0), Ok((MSI_BASE, 1)));
        assert_eq!(phb.query_irq(BUID, 0, 1), Ok((MSI_BASE + 1, 1)));
        assert_eq!(phb.query_irq(BUID, 0, 2), Err(RTAS_PARAM_ERROR));
        let Some(IrqChip::Xive(x)) = vm.irqchip() else {
            panic!("xive")
        };
        assert_eq!(x.source_kind(MSI_BASE), Some(false));
        assert_eq!(x.source_kind(LSI_BASE), Some(true));
        // The device's MSI-X entry 1 carries (MSI window, source): a message triggers it.
        // Enable the source as the guest does (ESB load "set PQ = 00").
        let shift = x.config().esb_shift;
        let mgmt = if matches!(shift, 13 | 17) {
            1u64 << (shift - 1)
        } else {
            0
        };
        x.esb_read(
            (u64::from(MSI_BASE + 1) << shift) | mgmt | 0xc00,
            &mut [0u8; 8],
        );
        let pq0 = x.source_pq(MSI_BASE + 1);
        assert_eq!(pq0, Some(0));
        let mut e = [0u8; 16];
        let dev = phb.lock().slots[0].dev.clone();
        dev.bar_read(1, 16, &mut e);
        assert_eq!(u64::from_le_bytes(e[0..8].try_into().unwrap()), MSI_WINDOW);
        assert_eq!(
            u32::from_le_bytes(e[8..12].try_into().unwrap()),
            MSI_BASE + 1
        );
        let fds: Vec<u32> = vm.irqfds().iter().map(|i| i.gsi).collect();
        match path {
            MsiPath::Irqfd => assert_eq!(fds, vec![MSI_BASE, MSI_BASE + 1], "one irqfd a vector"),
            MsiPath::Direct => assert!(fds.is_empty()),
        }
        ppc64::Bus::write(&**vm.bus(), 0, MSI_WINDOW, &(MSI_BASE + 1).to_le_bytes());
        assert!(
            eventually(|| x.source_pq(MSI_BASE + 1) != pq0),
            "the trigger changed the PQ bits"
        );
        assert_eq!(
            x.source_pq(MSI_BASE),
            Some(1),
            "the other vector untouched (masked)"
        );
        // free
        assert_eq!(
            phb.change_msi(BUID, 0, FN_MSIX, 0, 3),
            Ok((0, 4, TYPE_MSIX))
        );
        assert_eq!(x.source_kind(MSI_BASE), None);
        assert!(
            vm.irqfds().is_empty(),
            "irqfds deassigned with their sources"
        );
        assert_eq!(
            vm.claimed_irqs(),
            (0..4).map(|i| (LSI_BASE + i, true)).collect::<Vec<_>>()
        );
        assert_eq!(phb.query_irq(BUID, 0, 0), Err(RTAS_PARAM_ERROR));
        let _ = std::fs::remove_file(img);
    }

    /// MSI sources allocated under one controller exist in the next (CAS switches XIVE to
    /// XICS) and a device message reaches the new one, through its irqfd.
    #[test]
    fn msi_sources_survive_controller_switch() {
        let (vm, phb, img) = machine_with_disk();
        assert_eq!(
            phb.change_msi(BUID, 0, FN_MSIX, 2, 0),
            Ok((2, 1, TYPE_MSIX))
        );
        vm.destroy_irqchip().unwrap();
        let chip = vm.create_irqchip(hvapi::device::DeviceKind::Xics).unwrap();
        let IrqChip::Xics(x) = chip else {
            panic!("xics")
        };
        for irq in [MSI_BASE, MSI_BASE + 1, LSI_BASE] {
            assert!(x.rtas_get_xive(irq).is_ok(), "{irq:#x} claimed in XICS");
        }
        // Source of vector 1 to server 0 at priority 5; the presenter accepts everything.
        x.rtas_set_xive(MSI_BASE + 1, 0, 5).unwrap();
        x.set_icp_state(
            0,
            (0xffu64 << xics::ICP_CPPR_SHIFT)
                | (0xffu64 << xics::ICP_MFRR_SHIFT)
                | (0xffu64 << xics::ICP_PPRI_SHIFT),
        )
        .unwrap();
        let xisr = || {
            x.get_icp_state(0)
                .map(|w| (w >> xics::ICP_XISR_SHIFT) as u32 & xics::XISR_MASK)
                .unwrap_or(0)
        };
        assert_eq!(xisr(), 0);
        ppc64::Bus::write(&**vm.bus(), 0, MSI_WINDOW, &(MSI_BASE + 1).to_le_bytes());
        assert!(
            eventually(|| xisr() == MSI_BASE + 1),
            "delivered to the XICS presenter"
        );
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn pe_lookup_by_function() {
        use crate::ddw::PeLookup;
        let (_vm, phb, img) = machine_with_disk();
        assert_eq!(phb.pe(BUID, 0), Some(BUID), "00:00.0");
        assert_eq!(phb.pe(BUID, 0x0800), None, "empty slot 1");
        assert_eq!(phb.pe(BUID, 0x1_0000), None, "bus 1");
        assert_eq!(phb.pe(BUID + 1, 0), None, "other PHB");
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn device_tree_node() {
        let (_vm, phb, img) = machine_with_disk();
        let mut t = Tree::new();
        phb.add_to_tree(&mut t, Tree::ROOT);
        let n = t.find("/pci@800000020000000").unwrap();
        assert_eq!(
            t.get(n, "ibm,dma-window").unwrap(),
            &cells(&[LIOBN, 0, 0, 0, 0x4000_0000])[..]
        );
        assert_eq!(t.get(n, "device_type").unwrap(), b"pci\0");
        assert_eq!(
            t.get(n, "ibm,ddw-applicable").unwrap(),
            &cells(&[0x2026, 0x2027, 0x2028])[..]
        );
        assert_eq!(
            t.get(n, "ibm,ddw-extensions").unwrap(),
            &cells(&[2, 0x2029, 1])[..]
        );
        let d = t.find("/pci@800000020000000/scsi@0").unwrap();
        assert_eq!(t.get(d, "vendor-id").unwrap(), &cells(&[0x1af4])[..]);
        assert_eq!(t.get(d, "ibm,req#msi-x").unwrap(), &cells(&[2])[..]);
        // reg: config entry, BAR1 (32-bit, 4 KiB), BAR4 (64-bit, 16 KiB)
        assert_eq!(
            t.get(d, "reg").unwrap(),
            &cells(&[
                0,
                0,
                0,
                0,
                0,
                0x0200_0014,
                0,
                0,
                0,
                0x1000,
                0x0300_0020,
                0,
                0,
                0,
                0x4000
            ])[..]
        );
        assert!(t.get(d, "assigned-addresses").is_none());
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn access_checks() {
        assert_eq!(Phb::check_access(0x10, 4), Some(4));
        assert_eq!(Phb::check_access(0x12, 4), None);
        assert_eq!(Phb::check_access(0x11, 2), None);
        assert_eq!(Phb::check_access(0xff, 1), Some(1));
        assert_eq!(Phb::check_access(0xfe, 4), None);
        assert_eq!(Phb::check_access(0x100, 1), None);
        assert_eq!(Phb::check_access(0x10, 3), None);
        assert_eq!(Phb::check_access(0x10, 8), None);
    }
}
