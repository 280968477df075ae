//! The KVM-shaped device interface (`KVM_DEV_TYPE_XICS`): source state words
//! (`KVM_DEV_XICS_GRP_SOURCES`), the `NR_SERVERS` control attribute, vCPU connection
//! (`KVM_CAP_IRQ_XICS`) and the per-vCPU `KVM_REG_PPC_ICP_STATE` register.
//!
//! Errors are those KVM returns, as [`DeviceError`].

use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};

use crate::ics::{F_CLAIMED, F_LSI, F_MASKED_PENDING, F_P, F_Q, F_RESEND, F_SENT, Source};
use crate::{IPI, MASKED, XISR_MASK, Xics};

/// Attribute group of the source state words (attr = interrupt number, value = u64).
pub const KVM_DEV_XICS_GRP_SOURCES: u32 = 1;
/// Attribute group of control attributes.
pub const KVM_DEV_XICS_GRP_CTRL: u32 = 2;
/// Control attribute: number of servers (u32, highest server + 1).
pub const KVM_DEV_XICS_NR_SERVERS: u64 = 1;

/// Source word: destination server (bits 0–31).
pub const KVM_XICS_DESTINATION_MASK: u64 = 0xFFFF_FFFF;
/// Source word: priority field shift (bits 32–39; the saved priority when MASKED is set).
pub const KVM_XICS_PRIORITY_SHIFT: u32 = 32;
/// Source word: level-sensitive source.
pub const KVM_XICS_LEVEL_SENSITIVE: u64 = 1 << 40;
/// Source word: current priority is 0xFF.
pub const KVM_XICS_MASKED: u64 = 1 << 41;
/// Source word: LSI line asserted, or MSI occurrence kept (masked pending or refused).
pub const KVM_XICS_PENDING: u64 = 1 << 42;
/// Source word: P bit.
pub const KVM_XICS_PRESENTED: u64 = 1 << 43;
/// Source word: Q bit (MSI). On an LSI, where KVM never uses Q, it carries this
/// controller's "occurrence in flight" mark (presented or in service, not yet EOIed) so that
/// a migration through the words does not lose it; KVM ignores it there.
pub const KVM_XICS_QUEUED: u64 = 1 << 44;

/// ONE_REG id of the per-vCPU ICP state.
pub const KVM_REG_PPC_ICP_STATE: u64 = 0x1030_0000_0000_008C;

/// KVM source state word of `s`.
pub(crate) fn source_word(s: &Source) -> u64 {
    let mut val = u64::from(s.server);
    let prio = if s.priority == MASKED {
        val |= KVM_XICS_MASKED;
        s.saved_priority
    } else {
        s.priority
    };
    val |= u64::from(prio) << KVM_XICS_PRIORITY_SHIFT;
    if s.has(F_LSI) {
        val |= KVM_XICS_LEVEL_SENSITIVE;
        if s.has(F_P) {
            val |= KVM_XICS_PENDING;
        }
    } else if s.has(F_MASKED_PENDING | F_RESEND) {
        val |= KVM_XICS_PENDING;
    }
    if s.has(F_P) {
        val |= KVM_XICS_PRESENTED;
    }
    if s.has(F_Q) || (s.has(F_LSI) && s.has(F_SENT)) {
        val |= KVM_XICS_QUEUED;
    }
    val
}

impl Xics {
    /// `KVM_DEV_XICS_GRP_SOURCES` get: the state word of source `irq`.
    /// `-ENOENT` if `irq` is not a claimed source.
    pub fn get_source_state(&self, irq: u32) -> Result<u64, DeviceError> {
        let (_, m) = self.ics.source(irq).ok_or(DeviceError::NotFound)?;
        let s = m.lock();
        if !s.has(F_CLAIMED) {
            return Err(DeviceError::NotFound);
        }
        Ok(source_word(&s))
    }

    /// `KVM_DEV_XICS_GRP_SOURCES` set: create (claim) or overwrite source `irq` from a state
    /// word. Refused and masked-pending marks are cleared; PRESENTED or PENDING set P,
    /// QUEUED sets Q (on an LSI: the in-flight mark, see [`KVM_XICS_QUEUED`]); with PENDING
    /// a delivery is attempted at once (not for an LSI in flight: its EOI re-presents it).
    /// `-ENOENT` if `irq` is outside the ICS, `-EINVAL` if the source is unmasked and its
    /// server is not connected.
    pub fn set_source_state(&self, irq: u32, val: u64) -> Result<(), DeviceError> {
        let server = (val & KVM_XICS_DESTINATION_MASK) as u32;
        let field = (val >> KVM_XICS_PRIORITY_SHIFT) as u8;
        let prio = if val & KVM_XICS_MASKED != 0 {
            MASKED
        } else {
            field
        };
        if prio != MASKED && !self.is_connected(server) {
            return Err(DeviceError::Invalid);
        }
        let (block, m) = self.ics.source_alloc(irq).ok_or(DeviceError::NotFound)?;
        let mut s = m.lock();
        let mut flags = F_CLAIMED;
        let lsi = val & KVM_XICS_LEVEL_SENSITIVE != 0;
        if lsi {
            flags |= F_LSI;
        }
        if val & (KVM_XICS_PRESENTED | KVM_XICS_PENDING) != 0 {
            flags |= F_P;
        }
        if val & KVM_XICS_QUEUED != 0 {
            flags |= if lsi { F_SENT } else { F_Q };
        }
        *s = Source {
            server,
            priority: prio,
            saved_priority: field,
            flags,
        };
        let displaced = if val & KVM_XICS_PENDING != 0 {
            self.deliver_locked(irq, block, &mut s)
        } else {
            None
        };
        drop(s);
        self.redeliver(displaced);
        Ok(())
    }

    /// Connect a vCPU as interrupt server `server` (`KVM_ENABLE_CAP(KVM_CAP_IRQ_XICS)`).
    /// Its ICP starts with CPPR 0, MFRR 0xFF, nothing presented. Interrupts kept pending for
    /// this server while it was absent are offered again at its first CPPR/MFRR relaxation.
    /// `-EINVAL` if `server >= NR_SERVERS`, `-EEXIST` if already connected.
    pub fn connect_vcpu(&self, server: u32) -> Result<(), DeviceError> {
        let mut ctrl = self.ctrl.lock();
        if server >= ctrl.nr_servers {
            return Err(DeviceError::Invalid);
        }
        let slot = self.icp(server).ok_or(DeviceError::Invalid)?;
        {
            let mut r = slot.regs.lock();
            if r.connected {
                return Err(DeviceError::Exists);
            }
            r.reinit(true);
            self.drive(server, &mut r);
        }
        ctrl.connected += 1;
        // Sources refused while the server was absent: owe the new ICP a resend pass.
        'scan: for (_, block) in self.ics.blocks() {
            for m in block.sources.iter() {
                let s = m.lock();
                if s.has(F_CLAIMED) && s.has(F_RESEND) && s.server == server {
                    slot.regs.lock().need_resend = true;
                    break 'scan;
                }
            }
        }
        Ok(())
    }

    /// Disconnect the vCPU of `server`. An interrupt it had presented but not accepted is
    /// kept pending on its source (delivered after a retarget or a reconnect).
    /// `-ENOENT` if not connected.
    pub fn disconnect_vcpu(&self, server: u32) -> Result<(), DeviceError> {
        let mut ctrl = self.ctrl.lock();
        let slot = self.icp(server).ok_or(DeviceError::NotFound)?;
        let displaced = {
            let mut r = slot.regs.lock();
            if !r.connected {
                return Err(DeviceError::NotFound);
            }
            let displaced = if r.xisr == IPI { 0 } else { r.xisr };
            r.reinit(false);
            if displaced != 0 {
                r.busy += 1;
            }
            self.drive(server, &mut r);
            displaced
        };
        ctrl.connected = ctrl.connected.saturating_sub(1);
        drop(ctrl);
        if displaced != 0 {
            self.deliver(displaced);
            self.unbusy(server);
        }
        Ok(())
    }

    /// `KVM_REG_PPC_ICP_STATE` of `server`:
    /// `CPPR << 56 | XISR << 32 | MFRR << 24 | PPRI << 16`. `-ENOENT` if not connected.
    pub fn get_icp_state(&self, server: u32) -> Result<u64, DeviceError> {
        let r = self.icp(server).ok_or(DeviceError::NotFound)?.regs.lock();
        if !r.connected {
            return Err(DeviceError::NotFound);
        }
        Ok(r.kvm_word())
    }

    /// Set `KVM_REG_PPC_ICP_STATE` of `server`. The value must be self-consistent
    /// (XISR 0 ⇒ PPRI 0xFF; XISR 2 ⇒ PPRI = MFRR < CPPR; other XISR ⇒ PPRI < MFRR,
    /// PPRI < CPPR and XISR inside the ICS), else `-EINVAL`; `-ENOENT` if not connected.
    /// A displaced XISR is not re-queued (the caller restores sources consistently); if
    /// the MFRR became less favoured a resend pass runs. The external line is re-driven.
    pub fn set_icp_state(&self, server: u32, val: u64) -> Result<(), DeviceError> {
        let cppr = (val >> crate::ICP_CPPR_SHIFT) as u8;
        let xisr = (val >> crate::ICP_XISR_SHIFT) as u32 & XISR_MASK;
        let mfrr = (val >> crate::ICP_MFRR_SHIFT) as u8;
        let ppri = (val >> crate::ICP_PPRI_SHIFT) as u8;
        let consistent = match xisr {
            0 => ppri == MASKED,
            IPI => ppri == mfrr && ppri < cppr,
            irq => ppri < mfrr && ppri < cppr && self.ics.in_range(irq),
        };
        let slot = self.icp(server).ok_or(DeviceError::NotFound)?;
        let mut r = slot.regs.lock();
        if !r.connected {
            return Err(DeviceError::NotFound);
        }
        if !consistent {
            return Err(DeviceError::Invalid);
        }
        let resend = mfrr > r.mfrr && std::mem::take(&mut r.need_resend);
        if resend {
            r.busy += 1;
        }
        r.cppr = cppr;
        r.xisr = xisr;
        r.mfrr = mfrr;
        r.ppri = ppri;
        // Re-drive unconditionally: the caller replaces the whole state.
        r.out = r.wanted_out();
        self.sink.set_external(server, r.out);
        drop(r);
        if resend {
            self.resend_pass(server);
            self.unbusy(server);
        }
        Ok(())
    }

    /// `KVM_DEV_XICS_GRP_CTRL` / `KVM_DEV_XICS_NR_SERVERS` set. `-EINVAL` if 0 or more than
    /// the controller's capacity, `-EBUSY` once a vCPU is connected.
    pub fn set_nr_servers(&self, nr: u32) -> Result<(), DeviceError> {
        let mut ctrl = self.ctrl.lock();
        if nr == 0 || nr > self.capacity() {
            return Err(DeviceError::Invalid);
        }
        if ctrl.connected != 0 {
            return Err(DeviceError::Busy);
        }
        ctrl.nr_servers = nr;
        Ok(())
    }
}

fn read_u64(data: &[u8]) -> Result<u64, DeviceError> {
    Ok(u64::from_ne_bytes(
        data.try_into().map_err(|_| DeviceError::Invalid)?,
    ))
}

fn read_u32(data: &[u8]) -> Result<u32, DeviceError> {
    Ok(u32::from_ne_bytes(
        data.try_into().map_err(|_| DeviceError::Invalid)?,
    ))
}

impl Xics {
    fn source_attr(&self, attr: u64) -> Result<u32, DeviceError> {
        u32::try_from(attr)
            .ok()
            .filter(|&irq| self.ics.in_range(irq))
            .ok_or(DeviceError::NotFound)
    }
}

impl DeviceAttrs for Xics {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Xics
    }

    fn has_attr(&self, group: u32, attr: u64) -> bool {
        match group {
            KVM_DEV_XICS_GRP_SOURCES => self.source_attr(attr).is_ok(),
            KVM_DEV_XICS_GRP_CTRL => attr == KVM_DEV_XICS_NR_SERVERS,
            _ => false,
        }
    }

    fn set_attr(&self, group: u32, attr: u64, data: &[u8]) -> Result<(), DeviceError> {
        match group {
            KVM_DEV_XICS_GRP_SOURCES => {
                let irq = self.source_attr(attr)?;
                self.set_source_state(irq, read_u64(data)?)
            }
            KVM_DEV_XICS_GRP_CTRL if attr == KVM_DEV_XICS_NR_SERVERS => {
                self.set_nr_servers(read_u32(data)?)
            }
            _ => Err(DeviceError::NoSuchAttr),
        }
    }

    fn get_attr(&self, group: u32, attr: u64, data: &mut [u8]) -> Result<(), DeviceError> {
        match group {
            KVM_DEV_XICS_GRP_SOURCES => {
                let irq = self.source_attr(attr)?;
                let out: &mut [u8; 8] = data.try_into().map_err(|_| DeviceError::Invalid)?;
                *out = self.get_source_state(irq)?.to_ne_bytes();
                Ok(())
            }
            KVM_DEV_XICS_GRP_CTRL if attr == KVM_DEV_XICS_NR_SERVERS => {
                let out: &mut [u8; 4] = data.try_into().map_err(|_| DeviceError::Invalid)?;
                *out = self.nr_servers().to_ne_bytes();
                Ok(())
            }
            _ => Err(DeviceError::NoSuchAttr),
        }
    }
}
