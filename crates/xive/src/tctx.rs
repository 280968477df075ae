//! The presenter: one thread context (TCTX) per connected vCPU, of which a PAPR guest only
//! sees the OS ring (QW1) through the TIMA.

/// OS ring byte offsets (within the 16-byte ring).
pub const NSR: usize = 0;
/// Current processor priority.
pub const CPPR: usize = 1;
/// Interrupt pending buffer.
pub const IPB: usize = 2;
/// Least-significant most-favoured backlog.
pub const LSMFB: usize = 3;
/// Acknowledge counter.
pub const ACK_CNT: usize = 4;
/// Age.
pub const AGE: usize = 6;
/// Pending interrupt priority.
pub const PIPR: usize = 7;
/// Word 2 (VO valid bit and CAM line).
pub const WORD2: usize = 8;

/// NSR exception-outstanding bit of the OS ring.
pub const NSR_EO: u8 = 0x80;
/// WORD2 valid bit.
pub const WORD2_VO: u32 = 0x8000_0000;
/// First NVT index used for vCPUs (QEMU's sPAPR mapping).
pub const NVT_BASE: u32 = 0x400;

/// PIPR for an IPB: index of the most favoured pending priority, or 0xFF.
pub fn ipb_to_pipr(ipb: u8) -> u8 {
    if ipb == 0 {
        0xFF
    } else {
        ipb.leading_zeros() as u8
    }
}

/// IPB bit of a priority (0 for priorities > 7).
pub fn prio_to_ipb(prio: u8) -> u8 {
    if prio > 7 { 0 } else { 0x80 >> prio }
}

/// One thread context (only the OS ring is modelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tctx {
    /// Whether a vCPU is connected (`connect_vcpu`).
    pub connected: bool,
    /// OS ring registers, big-endian byte layout as in the TIMA.
    pub regs: [u8; 16],
}

impl Tctx {
    /// Reset the OS ring and push the vCPU's NVT (CAM line) with the valid bit.
    pub fn reset(&mut self, server: u32) {
        self.regs = [0; 16];
        self.regs[LSMFB] = 0xFF;
        self.regs[ACK_CNT] = 0xFF;
        self.regs[AGE] = 0xFF;
        self.regs[PIPR] = 0xFF;
        let cam = WORD2_VO | (NVT_BASE.wrapping_add(server) & 0x00FF_FFFF);
        self.regs[WORD2..WORD2 + 4].copy_from_slice(&cam.to_be_bytes());
    }

    /// The exception output: NSR.EO.
    pub fn line(&self) -> bool {
        self.regs[NSR] & NSR_EO != 0
    }

    /// Recompute PIPR and raise the exception if `PIPR < CPPR`. Returns whether the line is
    /// (now) asserted because of this evaluation.
    fn notify(&mut self) -> bool {
        self.regs[PIPR] = ipb_to_pipr(self.regs[IPB]);
        if self.regs[PIPR] < self.regs[CPPR] {
            self.regs[NSR] |= NSR_EO;
            true
        } else {
            false
        }
    }

    /// A notification at `prio` reached this context. Returns whether the line is asserted.
    pub fn post(&mut self, prio: u8) -> bool {
        self.regs[IPB] |= prio_to_ipb(prio);
        self.notify()
    }

    /// Set CPPR (values above 7 become 0xFF). A pending, now-unmasked priority raises the
    /// exception; an already-outstanding exception is not withdrawn (only ACK does that).
    pub fn set_cppr(&mut self, cppr: u8) -> bool {
        self.regs[CPPR] = if cppr > 7 { 0xFF } else { cppr };
        self.notify()
    }

    /// ACK_OS_REG: returns `NSR << 8 | CPPR` and, if an exception was outstanding, accepts
    /// the most favoured pending priority (CPPR ← PIPR, its IPB bit cleared, EO cleared).
    pub fn accept(&mut self) -> u16 {
        let nsr = self.regs[NSR];
        if nsr & NSR_EO != 0 {
            let cppr = self.regs[PIPR];
            self.regs[CPPR] = cppr;
            self.regs[IPB] &= !prio_to_ipb(cppr);
            self.regs[PIPR] = ipb_to_pipr(self.regs[IPB]);
            self.regs[NSR] &= !NSR_EO;
        }
        (u16::from(nsr) << 8) | u16::from(self.regs[CPPR])
    }

    /// Install an OS ring image (VP state / restore) and re-evaluate the exception.
    pub fn load_ring(&mut self, first8: &[u8; 8]) {
        self.regs[..8].copy_from_slice(first8);
        self.notify();
    }
}
