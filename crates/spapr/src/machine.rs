//! The pseries machine: builds a VM, loads the guest, runs one host thread per vCPU and
//! answers the hypercalls the hypervisor core leaves to it (console, RTAS, the client
//! interface).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hv::{Vcpu, VcpuExit, Vm, VmConfig};
use hvapi::device::DeviceKind;
use hvapi::hcall::*;
use ppc64::reg::{lpcr, msr};

use crate::cas;
use crate::console::{Console, pack16, unpack16};
use crate::loader::{self, KERNEL_LOAD_ADDR, LoadedKernel};
use crate::rtas::{self, RtasOutcome};
use crate::tree::{self, IntcNode, TreeParams, VTY_REG};
use crate::vof::{self, Vof, VofOutcome};

/// Which interrupt controllers the machine offers at CAS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqChipMode {
    /// Both; the guest chooses (QEMU's `ic-mode=dual`).
    Auto,
    /// XICS only.
    Xics,
    /// XIVE only.
    Xive,
}

/// How the kernel is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMode {
    /// Through the Open Firmware client interface (r5 = entry), with CAS.
    ClientInterface,
    /// With a flattened device tree (r3 = FDT, r5 = 0), no CAS.
    Fdt,
}

/// A virtio-pci device on the PHB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PciDeviceConfig {
    /// virtio-blk on a raw image.
    Disk {
        /// Image file.
        path: std::path::PathBuf,
        /// Open read-only, offer `VIRTIO_BLK_F_RO`.
        readonly: bool,
        /// Offer `VIRTIO_F_ACCESS_PLATFORM` (DMA through the TCE tables).
        iommu: bool,
    },
    /// virtio-net.
    Net {
        /// Where its frames go.
        backend: NetBackendConfig,
        /// Offer `VIRTIO_F_ACCESS_PLATFORM`.
        iommu: bool,
    },
    /// virtio-rng.
    Rng {
        /// Offer `VIRTIO_F_ACCESS_PLATFORM`.
        iommu: bool,
    },
    /// virtio-console (output on the machine's console).
    Console {
        /// Offer `VIRTIO_F_ACCESS_PLATFORM`.
        iommu: bool,
    },
}

/// The host side of a virtio-net device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetBackendConfig {
    /// A tap interface with this name (created if it does not exist; needs CAP_NET_ADMIN
    /// or a persistent tap owned by the user).
    Tap(String),
    /// The unprivileged user-mode gateway (`virtio_devices::usernet`): 10.0.2.2 answers
    /// ARP and ping.
    User,
}

/// Machine configuration.
#[derive(Clone)]
pub struct MachineConfig {
    /// Kernel image (ELF).
    pub kernel: Option<Arc<Vec<u8>>>,
    /// Initial ramdisk.
    pub initrd: Option<Arc<Vec<u8>>>,
    /// Raw firmware loaded at 0 and entered at 0x100.
    pub firmware: Option<Arc<Vec<u8>>>,
    /// Kernel command line.
    pub append: String,
    /// Number of vCPUs.
    pub cpus: u32,
    /// RAM size in bytes.
    pub mem_size: u64,
    /// Interrupt controllers offered.
    pub irqchip: IrqChipMode,
    /// Boot protocol.
    pub boot: BootMode,
    /// virtio-pci devices (slots 0, 1, ... of the PHB).
    pub devices: Vec<PciDeviceConfig>,
}

/// Why the machine stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MachineExit {
    /// The guest powered off.
    PowerOff,
    /// The guest kernel panicked (`ibm,os-term`), with its message.
    Panic(String),
    /// A vCPU checkstopped.
    Checkstop(u32),
    /// The user asked to quit (Ctrl-a x).
    Quit,
    /// The machine cannot continue (e.g. the guest negotiated something unsupported).
    Fatal(String),
}

/// Errors setting the machine up.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// VM creation failed.
    #[error(transparent)]
    Vm(#[from] hv::VmError),
    /// Kernel loading failed.
    #[error("kernel: {0}")]
    Kernel(#[from] loader::LoadError),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunState {
    Stopped,
    Start { nia: u64, r3: u64 },
    Running,
    Exit,
}

struct Slot {
    state: Mutex<RunState>,
    cv: Condvar,
}

/// Whether `start-cpu` could be done.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// No such vCPU.
    NoSuchCpu,
    /// The vCPU is not stopped.
    NotStopped,
}

enum Event {
    Exit(MachineExit),
    Reboot,
}

/// State shared by the vCPU threads and the machine.
pub struct Shared {
    /// The VM.
    pub vm: Vm,
    /// The console.
    pub console: Arc<Console>,
    slots: Vec<Slot>,
    event: Mutex<Option<Event>>,
    event_cv: Condvar,
    vof: Mutex<Option<Vof>>,
    params: Mutex<TreeParams>,
    tod_offset: Mutex<i64>,
    fwnmi: Mutex<Option<(u64, u64)>>,
    platform_intc: u8,
    /// The PCI host bridge (None without PCI devices).
    pub phb: Option<Arc<crate::phb::Phb>>,
}

/// Size of the firmware area at the top of the low 4 GiB (client-interface stub, FDT,
/// boot stack).
const FW_AREA: u64 = 1 << 20;

impl Shared {
    /// Reads a big-endian u32 from guest RAM.
    pub fn read_be32(&self, ra: u64) -> Option<u32> {
        let mut b = [0u8; 4];
        self.vm.partition().ram.read(ra, &mut b)?;
        Some(u32::from_be_bytes(b))
    }

    /// Writes a big-endian u32 to guest RAM.
    pub fn write_be32(&self, ra: u64, v: u32) -> Option<()> {
        self.vm.partition().ram.write(ra, &v.to_be_bytes())
    }

    /// Reads a NUL-terminated string of at most `max` bytes.
    pub fn read_cstring(&self, ra: u64, max: usize) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        for i in 0..max as u64 {
            if self.vm.partition().ram.read(ra + i, &mut b).is_none() || b[0] == 0 {
                break;
            }
            out.push(b[0]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Current time of day: (seconds since the epoch, nanoseconds).
    pub fn time_of_day(&self) -> (i64, u32) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let off = *self.tod_offset.lock().unwrap_or_else(|e| e.into_inner());
        (now.as_secs() as i64 + off, now.subsec_nanos())
    }

    /// Sets the guest's time of day.
    pub fn set_time_of_day(&self, secs: i64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        *self.tod_offset.lock().unwrap_or_else(|e| e.into_inner()) = secs - now;
    }

    /// `ibm,get-system-parameter` 20.
    pub fn splpar_characteristics(&self) -> String {
        let n = self.slots.len();
        let mb = self.vm.partition().ram.size() >> 20;
        format!(
            "MaxEntCap={},DesMem={mb},DesProcs={n},MaxPlatProcs={n}",
            n * 100
        )
    }

    /// Records FWNMI handlers.
    pub fn set_fwnmi(&self, sreset: u64, mce: u64) {
        *self.fwnmi.lock().unwrap_or_else(|e| e.into_inner()) = Some((sreset, mce));
    }

    /// The guest reported a panic (`ibm,os-term`).
    pub fn guest_panicked(&self, msg: &str) {
        tracing::warn!(message = msg, "guest panicked (ibm,os-term)");
        self.raise(Event::Exit(MachineExit::Panic(msg.to_string())));
    }

    /// Whether vCPU `id` is stopped (None if it does not exist).
    pub fn cpu_stopped(&self, id: u32) -> Option<bool> {
        let s = self.slots.get(id as usize)?;
        Some(*s.state.lock().unwrap_or_else(|e| e.into_inner()) == RunState::Stopped)
    }

    /// RTAS start-cpu.
    pub fn start_cpu(&self, id: u32, nia: u64, r3: u64) -> Result<(), StartError> {
        let s = self.slots.get(id as usize).ok_or(StartError::NoSuchCpu)?;
        let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
        if *st != RunState::Stopped {
            return Err(StartError::NotStopped);
        }
        *st = RunState::Start { nia, r3 };
        s.cv.notify_all();
        Ok(())
    }

    fn raise(&self, e: Event) {
        let mut ev = self.event.lock().unwrap_or_else(|e| e.into_inner());
        if ev.is_none() {
            *ev = Some(e);
        }
        drop(ev);
        for s in &self.slots {
            *s.state.lock().unwrap_or_else(|e| e.into_inner()) = RunState::Exit;
            s.cv.notify_all();
        }
        for id in 0..self.vm.nr_vcpus() {
            if let Some(h) = self.vm.vcpu_handle(id) {
                h.request_stop();
            }
        }
        self.event_cv.notify_all();
    }

    fn exiting(&self) -> bool {
        self.event
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Asks the machine to stop (user quit).
    pub fn quit(&self) {
        self.raise(Event::Exit(MachineExit::Quit));
    }

    fn create_intc(&self, xive: bool) -> Result<(), String> {
        let kind = if xive {
            DeviceKind::Xive
        } else {
            DeviceKind::Xics
        };
        if let Some(c) = self.vm.irqchip() {
            if c.kind() == kind {
                return Ok(());
            }
            self.vm
                .destroy_irqchip()
                .map_err(|e| format!("destroying the interrupt controller: {e}"))?;
        }
        // The PHB's sources were claimed on the VM (`Vm::claim_irq`): the new controller
        // has them.
        self.vm
            .create_irqchip(kind)
            .map_err(|e| format!("creating the interrupt controller: {e}"))?;
        Ok(())
    }

    fn intc_facts(&self, p: &mut TreeParams) {
        match self.vm.irqchip() {
            Some(hv::IrqChip::Xive(x)) => {
                p.intc = IntcNode::Xive;
                p.xive = Some(x.dt_facts());
                p.xics = None;
            }
            Some(hv::IrqChip::Xics(x)) => {
                p.intc = IntcNode::Xics;
                p.xics = Some(x.dt_info());
                p.xive = None;
            }
            None => {}
        }
    }

    /// CAS through the client interface: negotiate, switch the interrupt controller and
    /// rebuild the tree. An `Err` is fatal for the machine.
    pub fn client_architecture_support(&self, vof: &mut Vof, addr: u64) -> Result<(), String> {
        let ram = &self.vm.partition().ram;
        let read = |a: u64, buf: &mut [u8]| ram.read(a & ppc64::REAL_ADDR_MASK, buf).is_some();
        let Some(req) = cas::parse(&read, addr) else {
            tracing::warn!("CAS: malformed option vector table");
            return Ok(());
        };
        let res = match cas::negotiate(&req, ppc64::reg::PVR_POWER9_DD22, self.platform_intc) {
            Ok(r) => r,
            Err(e @ (cas::CasError::NoPvr | cas::CasError::MissingVector)) => {
                tracing::warn!("CAS: {e}");
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        self.create_intc(res.xive)?;
        self.vm.set_xive_hcalls_enabled(res.xive);
        let part = self.vm.partition();
        part.set_lpcr(part.lpcr() | lpcr::HR | lpcr::UPRT);
        let mut p = self.params.lock().unwrap_or_else(|e| e.into_inner());
        p.ov5 = Some(res.ov5.clone());
        p.cpu_version = res.cpu_version;
        self.intc_facts(&mut p);
        vof.replace_tree(tree::build(&p));
        tracing::info!(
            xive = res.xive,
            gtse = res.gtse,
            "CAS: negotiated {} and radix",
            if res.xive { "XIVE" } else { "XICS" }
        );
        Ok(())
    }

    fn hcall(&self, v: &mut Vcpu, nr: u64, a: &[u64; 9]) -> Option<Event> {
        let r = match nr {
            H_PUT_TERM_CHAR => {
                if a[0] != VTY_REG as u64 && a[0] != 0 || a[1] > 16 {
                    HcallResult::status(H_PARAMETER)
                } else {
                    self.console.write(&unpack16(a[1] as usize, a[2], a[3]));
                    HcallResult::status(H_SUCCESS)
                }
            }
            H_GET_TERM_CHAR => {
                if a[0] != VTY_REG as u64 && a[0] != 0 {
                    HcallResult::status(H_PARAMETER)
                } else {
                    let d = self.console.read(16);
                    let (h, l) = pack16(&d);
                    HcallResult::ok(&[d.len() as u64, h, l])
                }
            }
            KVMPPC_H_RTAS => match rtas::call(self, v.id(), a[0]) {
                RtasOutcome::Return(s) => HcallResult::status(s),
                RtasOutcome::StopSelf => {
                    self.stop_self(v.id());
                    HcallResult::status(H_SUCCESS)
                }
                RtasOutcome::PowerOff => return Some(Event::Exit(MachineExit::PowerOff)),
                RtasOutcome::Reboot => return Some(Event::Reboot),
            },
            KVMPPC_H_VOF_CLIENT => {
                let mut g = self.vof.lock().unwrap_or_else(|e| e.into_inner());
                match g.as_mut() {
                    Some(vof) => match vof::call(self, vof, a[0]) {
                        VofOutcome::Return(r) => HcallResult::status(r),
                        VofOutcome::Exit => return Some(Event::Exit(MachineExit::PowerOff)),
                        VofOutcome::Fatal(e) => return Some(Event::Exit(MachineExit::Fatal(e))),
                    },
                    None => HcallResult::status(H_FUNCTION),
                }
            }
            H_VIO_SIGNAL => HcallResult::status(if a[0] == VTY_REG as u64 {
                H_SUCCESS
            } else {
                H_PARAMETER
            }),
            _ => {
                tracing::debug!(nr = format_args!("{nr:#x}"), "unsupported hypercall");
                HcallResult::status(H_FUNCTION)
            }
        };
        v.complete_hcall(&r);
        None
    }

    fn stop_self(&self, id: u32) {
        if let Some(s) = self.slots.get(id as usize) {
            let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
            if *st == RunState::Running {
                *st = RunState::Stopped;
            }
        }
    }
}

fn vcpu_thread(shared: Arc<Shared>, mut vcpu: Vcpu) {
    let t0 = std::time::Instant::now();
    vcpu_loop(&shared, &mut vcpu);
    if std::env::var_os("PAPR_HV_STATS").is_some() {
        let s = vcpu.cpu.core.stats;
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "vcpu{}: {:.0} M insns in {secs:.1} s ({:.0} MIPS), {} k jump-cache misses ({} k stale tlb, {} k stale page), {} k decoded blocks, {} k walks, {} k interrupts, {} k TLB flushes, {} k PID switches, {:.1} s idle, {} k tlbie, {:.2} s tlbie wait",
            vcpu.id(),
            s.insns as f64 / 1e6,
            s.insns as f64 / 1e6 / secs,
            s.jc_misses / 1000,
            s.jc_stale_tlb / 1000,
            s.jc_stale_page / 1000,
            s.decoded / 1000,
            s.walks / 1000,
            s.interrupts / 1000,
            s.flushes / 1000,
            s.pid_switches / 1000,
            s.idle_ns as f64 / 1e9,
            s.tlbies / 1000,
            s.tlbie_wait_ns as f64 / 1e9
        );
    }
}

fn vcpu_loop(shared: &Arc<Shared>, vcpu: &mut Vcpu) {
    let id = vcpu.id();
    let slot = &shared.slots[id as usize];
    loop {
        {
            let mut st = slot.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match *st {
                    RunState::Running => break,
                    RunState::Start { nia, r3 } => {
                        let c = &mut vcpu.cpu.core;
                        c.set_msr(msr::SF | msr::ME);
                        c.nia = nia;
                        c.gpr[3] = r3;
                        *st = RunState::Running;
                        break;
                    }
                    RunState::Exit => return,
                    RunState::Stopped => st = slot.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                }
            }
        }
        loop {
            if shared.exiting() {
                return;
            }
            match vcpu.run() {
                VcpuExit::PaprHcall { nr, args } => {
                    if let Some(e) = shared.hcall(vcpu, nr, &args) {
                        shared.raise(e);
                        return;
                    }
                    if *slot.state.lock().unwrap_or_else(|e| e.into_inner()) != RunState::Running {
                        break;
                    }
                }
                VcpuExit::Stopped => {}
                VcpuExit::Checkstop => {
                    shared.raise(Event::Exit(MachineExit::Checkstop(id)));
                    return;
                }
            }
        }
    }
}

/// A machine ready to run.
pub struct Machine {
    shared: Arc<Shared>,
    vcpus: Vec<Vcpu>,
}

/// A handle to ask a running machine to stop.
#[derive(Clone)]
pub struct MachineHandle(Arc<Shared>);

impl MachineHandle {
    /// Stops the machine (as Ctrl-a x).
    pub fn quit(&self) {
        self.0.quit()
    }
    /// The console (to feed input).
    pub fn console(&self) -> Arc<Console> {
        self.0.console.clone()
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    (x + a - 1) & !(a - 1)
}

impl Machine {
    /// Builds the machine: VM, guest images in RAM, device tree, boot state of vCPU 0.
    pub fn new(cfg: &MachineConfig, console: Arc<Console>) -> Result<Machine, MachineError> {
        if cfg.mem_size < 256 << 20 {
            return Err(MachineError::Config(format!(
                "memory size {} MiB is too small: the pseries machine needs at least 256 MiB",
                cfg.mem_size >> 20
            )));
        }
        let (vm, mut vcpus) = Vm::new(VmConfig {
            mem_size: cfg.mem_size,
            vcpus: cfg.cpus,
        })?;
        let part = vm.partition().clone();
        let ram = &part.ram;
        part.set_lpcr(lpcr::LD);

        let fw_top = cfg.mem_size.min(1 << 32);
        let fw_base = fw_top - FW_AREA;
        let stub = fw_base;
        let fdt_addr = fw_base + 0x1_0000;
        let stack_top = fw_top - 0x1000;
        let mut claimed = vec![(fw_base, fw_top)];
        for (i, w) in vof::CI_STUB.iter().enumerate() {
            let _ = ram.write(stub + 4 * i as u64, &w.to_be_bytes());
        }

        let mut kernel: Option<LoadedKernel> = None;
        if let Some(fw) = &cfg.firmware {
            if fw.len() as u64 > fw_base {
                return Err(MachineError::Config(
                    "the firmware image does not fit in RAM".into(),
                ));
            }
            let _ = ram.write(0, fw);
            claimed.push((0, fw.len() as u64));
            if let Some(k) = &cfg.kernel {
                kernel = Some(load_kernel(k, ram, Some(KERNEL_LOAD_ADDR))?);
            }
        } else {
            let k = cfg
                .kernel
                .as_ref()
                .ok_or_else(|| MachineError::Config("no kernel given".into()))?;
            kernel = Some(load_kernel(k, ram, None)?);
        }
        if let Some(k) = &kernel {
            if k.end > fw_base {
                return Err(MachineError::Config(format!(
                    "the kernel (up to {:#x}) does not fit below the firmware area at {fw_base:#x}",
                    k.end
                )));
            }
            claimed.push((k.start, k.end));
        }
        let mut initrd_range = None;
        if let Some(rd) = &cfg.initrd {
            let start = align_up(
                kernel.map(|k| k.end).unwrap_or(KERNEL_LOAD_ADDR) + 0x1_0000,
                0x1_0000,
            );
            let end = start + rd.len() as u64;
            if end > fw_base {
                return Err(MachineError::Config(format!(
                    "the initrd ({} MiB) does not fit in RAM below {fw_base:#x}; give more memory",
                    rd.len() >> 20
                )));
            }
            let _ = ram.write(start, rd);
            claimed.push((start, end));
            initrd_range = Some((start, end));
        }

        let platform_intc = match cfg.irqchip {
            IrqChipMode::Auto => cas::OV5_INTC_BOTH,
            IrqChipMode::Xics => cas::OV5_INTC_XICS,
            IrqChipMode::Xive => cas::OV5_INTC_XIVE,
        };
        let mut seed = [0u32; 8];
        for s in seed.iter_mut() {
            *s = ppc64::host_random() as u32;
        }
        let params = TreeParams {
            ram_size: cfg.mem_size,
            vcpus: cfg.cpus,
            bootargs: cfg.append.clone(),
            initrd: initrd_range,
            intc: IntcNode::Xive,
            platform_intc,
            ov5: None,
            cpu_version: ppc64::reg::PVR_POWER9_DD22,
            rng_seed: seed,
            xive: None,
            xics: None,
            phb: None,
        };
        let phb = if cfg.devices.is_empty() {
            None
        } else {
            Some(build_phb(&vm, &cfg.devices, &console)?)
        };
        let mut params = params;
        params.phb = phb.clone();
        let shared = Arc::new(Shared {
            vm,
            console,
            slots: (0..cfg.cpus)
                .map(|_| Slot {
                    state: Mutex::new(RunState::Stopped),
                    cv: Condvar::new(),
                })
                .collect(),
            event: Mutex::new(None),
            event_cv: Condvar::new(),
            vof: Mutex::new(None),
            params: Mutex::new(params),
            tod_offset: Mutex::new(0),
            fwnmi: Mutex::new(None),
            platform_intc,
            phb,
        });
        // The interrupt controller the machine starts with: the one CAS will most likely pick
        // (XIVE unless only XICS is offered). CAS switches if the guest wants the other.
        shared
            .create_intc(cfg.irqchip != IrqChipMode::Xics)
            .map_err(MachineError::Config)?;
        let direct_fdt = cfg.boot == BootMode::Fdt || cfg.firmware.is_some();
        // Booting through CAS: H_INT_* answer H_FUNCTION until CAS negotiates XIVE.
        shared.vm.set_xive_hcalls_enabled(direct_fdt);
        let tree = {
            let mut p = shared.params.lock().unwrap_or_else(|e| e.into_inner());
            shared.intc_facts(&mut p);
            if direct_fdt {
                // No CAS: the tree carries the final choices.
                let xive = p.intc == IntcNode::Xive;
                let mut ov5 = vec![0u8; 26];
                ov5[22] = if xive {
                    cas::OV5_INTC_XIVE
                } else {
                    cas::OV5_INTC_XICS
                };
                ov5[23] = 0x40;
                ov5[25] = 0x40;
                p.ov5 = Some(ov5);
                p.cpu_version = cas::PVR_ARCH_300;
                part.set_lpcr(part.lpcr() | lpcr::HR | lpcr::UPRT);
            }
            tree::build(&p)
        };

        let c = &mut vcpus[0].cpu.core;
        c.set_msr(msr::SF | msr::ME);
        c.gpr[1] = stack_top - 0x100;
        if direct_fdt {
            let mut reserve: Vec<(u64, u64)> = Vec::new();
            if let Some(k) = &kernel {
                reserve.push((k.start, k.end - k.start));
            }
            if let Some((s, e)) = initrd_range {
                reserve.push((s, e - s));
            }
            reserve.push((fdt_addr, 0x10_0000 - 0x1_0000 - 0x1000));
            let fdt = tree
                .to_fdt(&reserve, 0)
                .map_err(|e| MachineError::Config(format!("device tree: {e}")))?;
            if fdt.len() as u64 > FW_AREA - 0x2_0000 {
                return Err(MachineError::Config("device tree too large".into()));
            }
            let _ = ram.write(fdt_addr, &fdt);
            c.gpr[3] = fdt_addr;
            c.gpr[4] = 0;
            c.gpr[5] = 0;
            c.nia = if cfg.firmware.is_some() {
                0x100
            } else {
                kernel.map(|k| k.entry).unwrap_or(0)
            };
        } else {
            let (s, e) = initrd_range.unwrap_or((0, 0));
            c.gpr[3] = s;
            c.gpr[4] = e - s;
            c.gpr[5] = stub;
            c.nia = kernel.map(|k| k.entry).unwrap_or(0);
            *shared.vof.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Vof::new(tree, fw_top, claimed));
        }
        *shared.slots[0]
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = RunState::Running;
        Ok(Machine { shared, vcpus })
    }

    /// A handle for quitting and console input.
    pub fn handle(&self) -> MachineHandle {
        MachineHandle(self.shared.clone())
    }

    /// The VM (for tests and tools).
    pub fn vm(&self) -> &Vm {
        &self.shared.vm
    }

    /// The state the RTAS and hcall handlers see (unit tests).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Runs until the guest powers off, panics, reboots or the user quits. Returns `None`
    /// for a reboot.
    pub fn run(self) -> Option<MachineExit> {
        let shared = self.shared.clone();
        let mut threads = Vec::new();
        for v in self.vcpus {
            let s = shared.clone();
            let name = format!("vcpu{}", v.id());
            match std::thread::Builder::new()
                .name(name)
                .stack_size(8 << 20)
                .spawn(move || vcpu_thread(s, v))
            {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.raise(Event::Exit(MachineExit::Fatal(format!(
                        "cannot start a vCPU thread: {e}"
                    ))));
                    break;
                }
            }
        }
        {
            let mut ev = shared.event.lock().unwrap_or_else(|e| e.into_inner());
            while ev.is_none() {
                ev = shared.event_cv.wait(ev).unwrap_or_else(|e| e.into_inner());
            }
        }
        for t in threads {
            let _ = t.join();
        }
        let ev = shared
            .event
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match ev {
            Some(Event::Exit(e)) => Some(e),
            Some(Event::Reboot) | None => {
                // Machine reset: DMA windows back to their defaults, tables cleared (the
                // next boot builds a new VM too, but nothing of this one may leak into it).
                shared.vm.tce().reset();
                None
            }
        }
    }
}

/// Host output of a virtio console: the machine's console.
struct ConsoleOut(Arc<Console>);

impl std::io::Write for ConsoleOut {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.write(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Creates the virtio devices and the PHB holding them.
fn build_phb(
    vm: &Vm,
    devices: &[PciDeviceConfig],
    console: &Arc<Console>,
) -> Result<Arc<crate::phb::Phb>, MachineError> {
    use crate::phb::{DeviceKind, Phb};
    use virtio_devices::VirtioDevice;
    let iommu = Phb::pe_iommu(vm).map_err(MachineError::Config)?;
    let mem = (**vm.memory()).clone();
    let mut list = Vec::new();
    let mut rx = Vec::new();
    for d in devices {
        let (kind, dev, with_iommu): (DeviceKind, Box<dyn VirtioDevice>, bool) = match d {
            PciDeviceConfig::Disk {
                path,
                readonly,
                iommu,
            } => {
                let b = virtio_devices::block::Block::open(path, *readonly)
                    .map_err(|e| MachineError::Config(format!("disk {}: {e}", path.display())))?;
                (DeviceKind::Block, Box::new(b), *iommu)
            }
            PciDeviceConfig::Net { backend, iommu } => {
                let n = match backend {
                    NetBackendConfig::Tap(ifname) => virtio_devices::net::Net::open_tap(ifname)
                        .map_err(|e| MachineError::Config(format!("net tap {ifname}: {e}")))?,
                    NetBackendConfig::User => {
                        virtio_devices::net::Net::user()
                            .map_err(|e| MachineError::Config(format!("net user: {e}")))?
                            .0
                    }
                };
                rx.push((list.len(), n.rx_handle()));
                (DeviceKind::Net, Box::new(n), *iommu)
            }
            PciDeviceConfig::Rng { iommu } => {
                let r = virtio_devices::rng::Rng::new()
                    .map_err(|e| MachineError::Config(format!("virtio-rng: {e}")))?;
                (DeviceKind::Rng, Box::new(r), *iommu)
            }
            PciDeviceConfig::Console { iommu } => {
                let c =
                    virtio_devices::console::Console::new(Box::new(ConsoleOut(console.clone())));
                (DeviceKind::Console, Box::new(c), *iommu)
            }
        };
        let pci = Arc::new(virtio_devices::VirtioPciDevice::new(
            dev,
            mem.clone(),
            iommu.clone(),
            with_iommu,
        ));
        list.push((kind, pci));
    }
    for (i, h) in rx {
        virtio_devices::net::start_rx(&list[i].1, h)
            .map_err(|e| MachineError::Config(format!("virtio-net receive thread: {e}")))?;
    }
    Phb::new(vm, list, crate::phb::MsiPath::from_env()).map_err(MachineError::Config)
}

fn load_kernel(
    data: &[u8],
    ram: &ppc64::Ram,
    base: Option<u64>,
) -> Result<LoadedKernel, MachineError> {
    if !loader::is_elf(data) {
        return Err(MachineError::Config(
            "the kernel is not an ELF file (a ppc64 vmlinux is needed)".into(),
        ));
    }
    Ok(loader::load_elf(data, ram, base)?)
}

/// Builds and runs the machine, rebooting as the guest asks, until it stops for good.
/// `on_start` receives a handle each time a machine starts (for quitting).
pub fn run(
    cfg: &MachineConfig,
    console: Arc<Console>,
    on_start: &dyn Fn(MachineHandle),
) -> Result<MachineExit, MachineError> {
    loop {
        let m = Machine::new(cfg, console.clone())?;
        on_start(m.handle());
        if let Some(e) = m.run() {
            return Ok(e);
        }
        tracing::info!("guest requested a reboot");
    }
}
