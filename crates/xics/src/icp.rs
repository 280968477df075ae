//! The interrupt presentation controller (ICP) of one server: registers and the pure state
//! transitions of the XICS presentation protocol. Locking and the ICS side live in `lib.rs`.

use crate::{IPI, MASKED};

/// Registers of one ICP. Protected by the ICP's mutex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IcpRegs {
    /// A vCPU is connected to this server number.
    pub connected: bool,
    /// Current processor priority.
    pub cppr: u8,
    /// Most favoured request (IPI) priority; 0xFF = no IPI.
    pub mfrr: u8,
    /// Priority of the interrupt held in `xisr` (0xFF if none).
    pub ppri: u8,
    /// Source number presented (0 = none, 2 = IPI), 24 bits.
    pub xisr: u32,
    /// A presentation was refused since the last resend pass.
    pub need_resend: bool,
    /// Level last driven on the vCPU's external line.
    pub out: bool,
    /// Operations that started on this ICP and still have work to do after dropping its
    /// lock (redelivering a displaced interrupt, a resend pass, the source half of an EOI).
    /// [`crate::Xics::save`] only takes its cut when every ICP's count is zero.
    pub busy: u32,
}

/// Outcome of offering an interrupt to an ICP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// The interrupt now sits in XISR; the number it displaced (0 if none).
    Accepted(u32),
    /// Not favoured enough right now.
    Refused,
}

impl IcpRegs {
    /// The state of an ICP right after a vCPU connects (and of a disconnected one).
    pub const fn reset(connected: bool) -> Self {
        IcpRegs {
            connected,
            cppr: 0,
            mfrr: MASKED,
            ppri: MASKED,
            xisr: 0,
            need_resend: false,
            out: false,
            busy: 0,
        }
    }

    /// Return to the reset state (`connected` as given), keeping the driven line level and
    /// the in-flight count, which describe the host side rather than the guest's ICP.
    pub fn reinit(&mut self, connected: bool) {
        *self = IcpRegs {
            out: self.out,
            busy: self.busy,
            ..IcpRegs::reset(connected)
        };
    }

    /// The level the external line must have: an interrupt is presented and it is more
    /// favoured than the CPPR.
    #[inline]
    pub fn wanted_out(&self) -> bool {
        self.connected && self.xisr != 0 && self.ppri < self.cppr
    }

    /// `CPPR << 24 | XISR`.
    #[inline]
    pub fn xirr(&self) -> u32 {
        (u32::from(self.cppr) << 24) | (self.xisr & crate::XISR_MASK)
    }

    /// Offer interrupt `irq` at priority `prio` (an ICS delivery). On refusal the ICP
    /// remembers that a resend pass is owed.
    pub fn offer(&mut self, irq: u32, prio: u8) -> Offer {
        if prio < self.cppr && prio < self.mfrr && prio < self.ppri {
            let displaced = self.xisr;
            self.xisr = irq;
            self.ppri = prio;
            Offer::Accepted(displaced)
        } else {
            self.need_resend = true;
            Offer::Refused
        }
    }

    /// Accept (H_XIRR): returns the XIRR and moves the presented interrupt in service.
    pub fn accept(&mut self) -> u32 {
        let xirr = self.xirr();
        if self.xisr != 0 {
            self.cppr = self.ppri;
            self.xisr = 0;
            self.ppri = MASKED;
        }
        xirr
    }

    /// Present the IPI if the MFRR allows it. Returns the displaced device interrupt (0 if
    /// none or if the displaced one was the IPI itself).
    fn check_ipi(&mut self) -> u32 {
        if self.mfrr < self.cppr && self.mfrr <= self.ppri {
            let displaced = if self.xisr == IPI { 0 } else { self.xisr };
            self.xisr = IPI;
            self.ppri = self.mfrr;
            displaced
        } else {
            0
        }
    }

    /// Set the MFRR (H_IPI). Returns (displaced interrupt or 0, whether a resend pass must run).
    pub fn set_mfrr(&mut self, mfrr: u8) -> (u32, bool) {
        let old = self.mfrr;
        self.mfrr = mfrr;
        let displaced = if mfrr < self.cppr {
            self.check_ipi()
        } else {
            0
        };
        let resend = mfrr > old && std::mem::take(&mut self.need_resend);
        (displaced, resend)
    }

    /// Make the CPPR more favoured: a presented interrupt that is no longer more favoured
    /// than the CPPR is taken back. Returns the displaced interrupt (0 if none or the IPI).
    pub fn up_cppr(&mut self, cppr: u8) -> u32 {
        self.cppr = cppr;
        if self.xisr != 0 && cppr <= self.ppri {
            let displaced = self.xisr;
            self.xisr = 0;
            self.ppri = MASKED;
            if displaced == IPI { 0 } else { displaced }
        } else {
            0
        }
    }

    /// Make the CPPR less favoured (or keep it): the IPI may now be presented and refused
    /// interrupts get another chance. Returns (displaced interrupt or 0, resend owed).
    pub fn down_cppr(&mut self, cppr: u8) -> (u32, bool) {
        self.cppr = cppr;
        let displaced = self.check_ipi();
        let resend = std::mem::take(&mut self.need_resend);
        (displaced, resend)
    }

    /// Set the CPPR to `cppr` going up or down as needed. Returns (displaced, resend owed).
    pub fn set_cppr(&mut self, cppr: u8) -> (u32, bool) {
        if cppr < self.cppr {
            (self.up_cppr(cppr), false)
        } else {
            self.down_cppr(cppr)
        }
    }

    /// `KVM_REG_PPC_ICP_STATE` encoding.
    pub fn kvm_word(&self) -> u64 {
        (u64::from(self.cppr) << crate::ICP_CPPR_SHIFT)
            | (u64::from(self.xisr & crate::XISR_MASK) << crate::ICP_XISR_SHIFT)
            | (u64::from(self.mfrr) << crate::ICP_MFRR_SHIFT)
            | (u64::from(self.ppri) << crate::ICP_PPRI_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> IcpRegs {
        IcpRegs {
            cppr: 0xFF,
            ..IcpRegs::reset(true)
        }
    }

    #[test]
    fn reset_state_accepts_nothing() {
        let mut r = IcpRegs::reset(true);
        assert_eq!(r.offer(0x1000, 0), Offer::Refused);
        assert!(r.need_resend);
        assert_eq!(r.accept(), 0);
    }

    #[test]
    fn more_favoured_offer_displaces() {
        let mut r = open();
        assert_eq!(r.offer(0x1000, 5), Offer::Accepted(0));
        assert!(r.wanted_out());
        assert_eq!(r.offer(0x1001, 5), Offer::Refused);
        assert_eq!(r.offer(0x1002, 3), Offer::Accepted(0x1000));
        assert_eq!(r.accept(), 0xFF00_1002);
        assert_eq!(r.cppr, 3);
        assert!(!r.wanted_out());
    }

    #[test]
    fn mfrr_blocks_equal_or_less_favoured_offers() {
        let mut r = open();
        r.mfrr = 5;
        assert_eq!(r.offer(0x1000, 5), Offer::Refused);
        assert_eq!(r.offer(0x1000, 4), Offer::Accepted(0));
    }

    #[test]
    fn ipi_displaces_device_interrupt_of_equal_priority() {
        let mut r = open();
        r.offer(0x1000, 5);
        assert_eq!(r.set_mfrr(5), (0x1000, false));
        assert_eq!((r.xisr, r.ppri), (IPI, 5));
    }

    #[test]
    fn kvm_word_layout() {
        let r = IcpRegs {
            cppr: 0xAB,
            xisr: 0x12_3456,
            mfrr: 0xCD,
            ppri: 0xEF,
            ..open()
        };
        assert_eq!(r.kvm_word(), 0xAB12_3456_CDEF_0000);
    }
}
