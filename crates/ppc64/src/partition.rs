//! State shared by all vCPUs of a partition, and the per-vCPU handle other threads use to
//! signal a vCPU (interrupt lines, stop requests, TLB shootdowns, wake-ups).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Instant;

use crate::mem::{CodePages, Ram};
use crate::timebase::Timebase;

/// Whatever answers guest-real accesses that are not RAM (MMIO), synchronously, on the
/// vCPU thread that made them.
pub trait Bus: Send + Sync {
    /// A load of `data.len()` bytes (1, 2, 4, 8 or 16) at guest-real address `ra`. Fill
    /// `data` in memory byte order and return `true`; return `false` if nothing is mapped
    /// there (the vCPU then takes a machine check).
    fn read(&self, vcpu: u32, ra: u64, data: &mut [u8]) -> bool;
    /// A store of `data` (memory byte order) at guest-real address `ra`; `false` if nothing
    /// is mapped there.
    fn write(&self, vcpu: u32, ra: u64, data: &[u8]) -> bool;
}

/// A bus with nothing on it.
pub struct NoBus;

impl Bus for NoBus {
    fn read(&self, _: u32, _: u64, _: &mut [u8]) -> bool {
        false
    }
    fn write(&self, _: u32, _: u64, _: &[u8]) -> bool {
        false
    }
}

/// Attention bits: reasons for a vCPU to leave its fast path at the next block boundary.
pub(crate) mod attn {
    /// The external interrupt line was raised.
    pub const EXT: u32 = 1;
    /// Stop running and return to the caller.
    pub const STOP: u32 = 2;
    /// Another vCPU invalidated translations (tlbie).
    pub const TLB: u32 = 4;
    /// Re-check interrupt conditions (prod, doorbell, timer).
    pub const CHECK: u32 = 8;
    /// System reset (NMI) requested.
    pub const SRESET: u32 = 16;
}

/// The handle through which other threads reach a vCPU.
pub struct VcpuShared {
    id: u32,
    pub(crate) attention: AtomicU32,
    external: AtomicBool,
    pub(crate) tlb_ack: AtomicU64,
    pub(crate) running: AtomicBool,
    prod: AtomicBool,
    /// A wake-up arrived that no sleep has consumed yet.
    wake_pending: AtomicBool,
    /// The vCPU thread is in (or entering) [`VcpuShared::sleep_until`].
    sleeping: AtomicBool,
    /// Only orders a kicker's notification against a sleeper's last check.
    sleep: Mutex<()>,
    wake: Condvar,
}

impl VcpuShared {
    pub(crate) fn new(id: u32) -> Self {
        VcpuShared {
            id,
            attention: AtomicU32::new(0),
            external: AtomicBool::new(false),
            tlb_ack: AtomicU64::new(0),
            running: AtomicBool::new(false),
            prod: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// The vCPU's id (PIR, interrupt-server number).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Sets the level of the external interrupt input (0x500). Raising it wakes the vCPU if
    /// it is idle.
    pub fn set_external(&self, asserted: bool) {
        self.external.store(asserted, Ordering::SeqCst);
        if asserted {
            self.kick(attn::EXT);
        }
    }

    /// Current level of the external interrupt input.
    pub fn external(&self) -> bool {
        self.external.load(Ordering::Acquire)
    }

    /// Asks the vCPU to return from [`Cpu::run`](crate::Cpu::run) at the next instruction
    /// boundary (and wakes it from idle).
    pub fn request_stop(&self) {
        self.kick(attn::STOP);
    }

    /// Requests a system reset interrupt (NMI) on this vCPU.
    pub fn request_sreset(&self) {
        self.kick(attn::SRESET);
    }

    /// H_PROD: sets the prod flag and wakes the vCPU if it is ceded.
    pub fn prod(&self) {
        self.prod.store(true, Ordering::SeqCst);
        self.kick(attn::CHECK);
    }

    /// Takes the prod flag.
    pub(crate) fn take_prod(&self) -> bool {
        self.prod.swap(false, Ordering::AcqRel)
    }

    /// Clears the prod flag (done whenever the vCPU is dispatched, as QEMU does).
    pub fn clear_prod(&self) {
        self.prod.store(false, Ordering::Release);
    }

    /// Sets attention bits and wakes the vCPU if it sleeps. The common case (the vCPU is
    /// running) costs two atomic operations and no lock; a sleeping vCPU is notified after
    /// the lock is released, so it does not wake only to block on it.
    pub(crate) fn kick(&self, bits: u32) {
        self.attention.fetch_or(bits, Ordering::SeqCst);
        self.wake_pending.store(true, Ordering::SeqCst);
        // Either the sleeper sees `wake_pending` in its check, or this sees `sleeping`
        // (both sides store then load with SeqCst).
        if self.sleeping.load(Ordering::SeqCst) {
            // Taking the lock once means the sleeper is either before its check (and will
            // see the token) or waiting on the condvar (and gets the notification).
            drop(self.sleep.lock().unwrap_or_else(|e| e.into_inner()));
            self.wake.notify_one();
        }
    }

    /// Sleeps until kicked or until `deadline`. Returns immediately if a kick arrived since
    /// the last call (or the last [`VcpuShared::clear_wake`]).
    pub(crate) fn sleep_until(&self, deadline: Option<Instant>) {
        self.sleeping.store(true, Ordering::SeqCst);
        let mut g = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.wake_pending.swap(false, Ordering::SeqCst) {
                break;
            }
            match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    g = self
                        .wake
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => {
                    g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        drop(g);
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Forgets earlier wake-ups (before testing the conditions of a new sleep).
    pub(crate) fn clear_wake(&self) {
        self.wake_pending.store(false, Ordering::SeqCst);
    }
}

/// A translation invalidation broadcast by `tlbie` (or by the hypervisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inval {
    /// One page: process id, effective address, log2 of the page size.
    Page {
        /// Process id (0 for the kernel's quadrant-3 translations).
        pid: u32,
        /// Effective address in the page.
        ea: u64,
        /// log2 of the page size.
        shift: u32,
    },
    /// Every translation of one process id.
    Pid(u32),
    /// Everything.
    All,
}

/// How many broadcast invalidations are remembered for vCPUs that have not caught up; a
/// vCPU further behind flushes everything.
const INVAL_LOG: usize = 256;

/// Hypervisor-controlled state of the partition that every vCPU sees.
pub struct Partition {
    /// Guest RAM.
    pub ram: Ram,
    /// Decoded-code tracking for `ram`.
    pub code: CodePages,
    /// The timebase.
    pub tb: Timebase,
    /// LPCR fields the hypervisor controls (ILE, AIL, UPRT, HR, GTSE, LD).
    pub lpcr: AtomicU64,
    /// Process-table registration (partition-table dword 1 form); 0 = none.
    pub prtb: AtomicU64,
    /// Generation of global TLB invalidations (tlbie, process-table changes).
    pub tlb_epoch: AtomicU64,
    /// MMIO.
    pub bus: Arc<dyn Bus>,
    vcpus: RwLock<Vec<Arc<VcpuShared>>>,
    /// Recent broadcast invalidations: (epoch, what).
    inval_log: Mutex<VecDeque<(u64, Inval)>>,
}

impl Partition {
    /// A partition over `ram` with `bus` for non-RAM accesses.
    pub fn new(ram: Ram, bus: Arc<dyn Bus>) -> Arc<Self> {
        let code = CodePages::new(ram.size());
        Arc::new(Partition {
            ram,
            code,
            tb: Timebase::new(),
            lpcr: AtomicU64::new(0),
            prtb: AtomicU64::new(0),
            tlb_epoch: AtomicU64::new(0),
            bus,
            vcpus: RwLock::new(Vec::new()),
            inval_log: Mutex::new(VecDeque::with_capacity(INVAL_LOG)),
        })
    }

    pub(crate) fn add_vcpu(&self, v: Arc<VcpuShared>) {
        self.vcpus
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(v);
    }

    pub(crate) fn remove_vcpu(&self, id: u32) {
        self.vcpus
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|v| v.id != id);
    }

    /// The handles of all vCPUs.
    pub fn vcpus(&self) -> Vec<Arc<VcpuShared>> {
        self.vcpus.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The handle of vCPU `id`.
    pub fn vcpu(&self, id: u32) -> Option<Arc<VcpuShared>> {
        self.vcpus
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|v| v.id == id)
            .cloned()
    }

    /// Invalidates every vCPU's cached translations (after the hypervisor changed the
    /// process table or the translation mode). Returns the new epoch.
    pub fn flush_all_tlbs(&self) -> u64 {
        self.broadcast_inval(Inval::All)
    }

    /// Records an invalidation for every vCPU and flags them. Returns its epoch.
    pub fn broadcast_inval(&self, what: Inval) -> u64 {
        let e = {
            let mut log = self.inval_log.lock().unwrap_or_else(|e| e.into_inner());
            let e = self.tlb_epoch.fetch_add(1, Ordering::SeqCst) + 1;
            if log.len() == INVAL_LOG {
                log.pop_front();
            }
            log.push_back((e, what));
            e
        };
        for v in self.vcpus.read().unwrap_or_else(|e| e.into_inner()).iter() {
            v.attention.fetch_or(attn::TLB, Ordering::SeqCst);
        }
        e
    }

    /// The invalidations after epoch `since`, up to the current epoch; `None` if some were
    /// already dropped from the log (the caller must flush everything).
    pub(crate) fn invals_since(&self, since: u64, out: &mut Vec<Inval>) -> Option<u64> {
        let log = self.inval_log.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.tlb_epoch.load(Ordering::SeqCst);
        out.clear();
        if now == since {
            return Some(now);
        }
        match log.front() {
            Some(&(first, _)) if first <= since + 1 => {}
            _ => return None,
        }
        out.extend(log.iter().filter(|(e, _)| *e > since).map(|&(_, w)| w));
        Some(now)
    }

    /// Whether every running vCPU other than `me` has flushed up to `epoch`.
    pub(crate) fn all_acked(&self, me: u32, epoch: u64) -> bool {
        self.vcpus
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|v| {
                v.id == me
                    || !v.running.load(Ordering::SeqCst)
                    || v.tlb_ack.load(Ordering::SeqCst) >= epoch
            })
    }

    /// The LPCR value.
    pub fn lpcr(&self) -> u64 {
        self.lpcr.load(Ordering::Relaxed)
    }

    /// Sets the LPCR value (H_SET_MODE).
    pub fn set_lpcr(&self, v: u64) {
        self.lpcr.store(v, Ordering::SeqCst);
    }
}
