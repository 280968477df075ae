//! The KVM-shaped device interface (`KVM_DEV_TYPE_XIVE`): attribute groups, vCPU
//! connection and the per-vCPU VP state (`KVM_REG_PPC_VP_STATE`).

use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};

use crate::end::{End, VALID_QSHIFTS, queue_backed};
use crate::source::{EAS_END_DATA, EAS_MASKED, EAS_VALID, PQ_OFF, eas_with_end_index};
use crate::tctx::Tctx;
use crate::{MAX_SERVERS, Server, Xive};

/// Group CTRL.
pub const KVM_DEV_XIVE_GRP_CTRL: u32 = 1;
/// CTRL attr: reset (mask every source, reset every queue).
pub const KVM_DEV_XIVE_RESET: u64 = 1;
/// CTRL attr: sync every source and queue.
pub const KVM_DEV_XIVE_EQ_SYNC: u64 = 2;
/// CTRL attr: number of servers (u32).
pub const KVM_DEV_XIVE_NR_SERVERS: u64 = 3;
/// Group SOURCE (attr = LISN, u64 value).
pub const KVM_DEV_XIVE_GRP_SOURCE: u32 = 2;
/// Group SOURCE_CONFIG (attr = LISN, u64 value).
pub const KVM_DEV_XIVE_GRP_SOURCE_CONFIG: u32 = 3;
/// Group EQ_CONFIG (attr = server << 3 | priority, `struct kvm_ppc_xive_eq`).
pub const KVM_DEV_XIVE_GRP_EQ_CONFIG: u32 = 4;
/// Group SOURCE_SYNC (attr = LISN).
pub const KVM_DEV_XIVE_GRP_SOURCE_SYNC: u32 = 5;
/// SOURCE value bit: level-sensitive.
pub const KVM_XIVE_LEVEL_SENSITIVE: u64 = 1 << 0;
/// SOURCE value bit: LSI line currently asserted.
pub const KVM_XIVE_LEVEL_ASSERTED: u64 = 1 << 1;
/// SOURCE_CONFIG value: priority field.
pub const KVM_XIVE_SOURCE_PRIORITY_MASK: u64 = 0x7;
/// SOURCE_CONFIG value: server field shift.
pub const KVM_XIVE_SOURCE_SERVER_SHIFT: u32 = 3;
/// SOURCE_CONFIG value: server field.
pub const KVM_XIVE_SOURCE_SERVER_MASK: u64 = 0xFFFF_FFF8;
/// SOURCE_CONFIG value: masked.
pub const KVM_XIVE_SOURCE_MASKED: u64 = 1 << 32;
/// SOURCE_CONFIG value: EISN field shift.
pub const KVM_XIVE_SOURCE_EISN_SHIFT: u32 = 33;
/// EQ_CONFIG flag: always notify (required on set).
pub const KVM_XIVE_EQ_ALWAYS_NOTIFY: u32 = 1;
/// Size of `struct kvm_ppc_xive_eq`.
pub const KVM_PPC_XIVE_EQ_SIZE: usize = 64;
/// ONE_REG id of the VP state.
pub const KVM_REG_PPC_VP_STATE: u64 = 0x1040_0000_0000_008D;

/// `struct kvm_ppc_xive_eq` (host-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvmXiveEq {
    /// Flags (`KVM_XIVE_EQ_ALWAYS_NOTIFY`).
    pub flags: u32,
    /// Queue shift (0 = reset).
    pub qshift: u32,
    /// Guest-physical queue address.
    pub qaddr: u64,
    /// Producer generation bit.
    pub qtoggle: u32,
    /// Producer index.
    pub qindex: u32,
}

impl KvmXiveEq {
    /// Encode into the 64-byte buffer layout.
    pub fn to_bytes(&self) -> [u8; KVM_PPC_XIVE_EQ_SIZE] {
        let mut b = [0u8; KVM_PPC_XIVE_EQ_SIZE];
        b[0..4].copy_from_slice(&self.flags.to_ne_bytes());
        b[4..8].copy_from_slice(&self.qshift.to_ne_bytes());
        b[8..16].copy_from_slice(&self.qaddr.to_ne_bytes());
        b[16..20].copy_from_slice(&self.qtoggle.to_ne_bytes());
        b[20..24].copy_from_slice(&self.qindex.to_ne_bytes());
        b
    }

    /// Decode from a 64-byte buffer.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != KVM_PPC_XIVE_EQ_SIZE {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut q = [0u8; 8];
        q.copy_from_slice(&b[8..16]);
        Some(KvmXiveEq {
            flags: u32_at(0),
            qshift: u32_at(4),
            qaddr: u64::from_ne_bytes(q),
            qtoggle: u32_at(16),
            qindex: u32_at(20),
        })
    }
}

fn u64_arg(data: &[u8]) -> Result<u64, DeviceError> {
    let b: [u8; 8] = data.try_into().map_err(|_| DeviceError::Invalid)?;
    Ok(u64::from_ne_bytes(b))
}

impl Xive {
    /// Connect the vCPU whose interrupt server is `server` (KVM_CAP_PPC_IRQ_XIVE): its thread
    /// context is reset with its NVT pushed in the OS ring; its queues start unconfigured.
    /// Errors: `Invalid` server out of range, `Exists` server already connected.
    pub fn connect_vcpu(&self, server: u32) -> Result<(), DeviceError> {
        let t = self.t.read();
        let srv = t.server(server).ok_or(DeviceError::Invalid)?;
        let mut tc = srv.tctx.lock();
        if tc.connected {
            return Err(DeviceError::Exists);
        }
        for e in &srv.ends {
            *e.lock() = End::reset();
        }
        tc.reset(server);
        tc.connected = true;
        self.sink.set_external(server, false);
        Ok(())
    }

    /// Disconnect a vCPU: its queues are reset and its external line lowered.
    /// Errors: `NotFound` if it is not connected.
    pub fn disconnect_vcpu(&self, server: u32) -> Result<(), DeviceError> {
        let t = self.t.read();
        let srv = t.server(server).ok_or(DeviceError::NotFound)?;
        let mut tc = srv.tctx.lock();
        if !tc.connected {
            return Err(DeviceError::NotFound);
        }
        for e in &srv.ends {
            *e.lock() = End::reset();
        }
        *tc = Tctx::default();
        self.sink.set_external(server, false);
        Ok(())
    }

    /// `KVM_GET_ONE_REG(VP_STATE)`: the OS ring's NSR, CPPR, IPB, LSMFB, ACK_CNT, INC, AGE,
    /// PIPR as raw bytes, then 8 zero bytes. `NotFound` if the vCPU is not connected.
    pub fn get_vp_state(&self, server: u32) -> Result<[u8; 16], DeviceError> {
        let t = self.t.read();
        let srv = t.connected(server).ok_or(DeviceError::NotFound)?;
        let tc = srv.tctx.lock();
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&tc.regs[..8]);
        Ok(out)
    }

    /// `KVM_SET_ONE_REG(VP_STATE)`: install the first 8 bytes as the OS ring (PIPR is
    /// recomputed from IPB) and re-drive the vCPU's external line.
    pub fn set_vp_state(&self, server: u32, state: &[u8; 16]) -> Result<(), DeviceError> {
        let t = self.t.read();
        let srv = t.connected(server).ok_or(DeviceError::NotFound)?;
        let mut tc = srv.tctx.lock();
        let mut ring = [0u8; 8];
        ring.copy_from_slice(&state[..8]);
        tc.load_ring(&ring);
        self.sink.set_external(server, tc.line());
        Ok(())
    }

    /// CTRL NR_SERVERS: resize the server table (only before any vCPU is connected). The
    /// IPI LISNs of the new range are claimed if free.
    pub fn set_nr_servers(&self, nr: u32) -> Result<(), DeviceError> {
        if nr == 0 || nr > MAX_SERVERS {
            return Err(DeviceError::Invalid);
        }
        let mut t = self.t.write();
        if t.servers.iter().any(|s| s.tctx.lock().connected) {
            return Err(DeviceError::Busy);
        }
        t.servers = (0..nr).map(|_| Server::new()).collect();
        t.nr_servers = nr;
        for lisn in 0..nr.min(self.cfg.nr_irqs) {
            if t.sources.get(lisn).is_none() {
                // In range and free: cannot fail.
                let _ = t.sources.claim_with(lisn, false, false, PQ_OFF, EAS_VALID);
            }
        }
        Ok(())
    }

    /// Force every in-flight delivery to complete (H_INT_SYNC, EQ_SYNC, SOURCE_SYNC).
    fn sync_all(&self) {
        drop(self.t.write());
    }

    fn attr_source(&self, lisn: u64, data: &[u8]) -> Result<(), DeviceError> {
        let lisn = u32::try_from(lisn)
            .ok()
            .filter(|l| *l < self.cfg.nr_irqs)
            .ok_or(DeviceError::TooBig)?;
        let v = u64_arg(data)?;
        let lsi = v & KVM_XIVE_LEVEL_SENSITIVE != 0;
        let asserted = lsi && v & KVM_XIVE_LEVEL_ASSERTED != 0;
        let mut t = self.t.write();
        let eas = match t.sources.get(lisn) {
            Some(s) => s.eas() | EAS_VALID | EAS_MASKED,
            None => EAS_VALID | EAS_MASKED,
        };
        if t.sources.get(lisn).is_some() {
            t.sources.free(lisn).map_err(|_| DeviceError::Invalid)?;
        }
        t.sources
            .claim_with(lisn, lsi, asserted, PQ_OFF, eas)
            .map_err(|_| DeviceError::Invalid)
    }

    fn attr_source_config(&self, lisn: u64, data: &[u8]) -> Result<(), DeviceError> {
        let v = u64_arg(data)?;
        let t = self.t.write();
        let src = u32::try_from(lisn)
            .ok()
            .and_then(|l| t.sources.get(l))
            .ok_or(DeviceError::NotFound)?;
        let prio = v & KVM_XIVE_SOURCE_PRIORITY_MASK;
        let server = (v & KVM_XIVE_SOURCE_SERVER_MASK) >> KVM_XIVE_SOURCE_SERVER_SHIFT;
        let masked = v & KVM_XIVE_SOURCE_MASKED != 0;
        let eisn = (v >> KVM_XIVE_SOURCE_EISN_SHIFT) & EAS_END_DATA;
        if !self.prio_ok(prio) || server >= u64::from(MAX_SERVERS) {
            return Err(DeviceError::Invalid);
        }
        // server < MAX_SERVERS: fits u32 and the END index field.
        let server = server as u32;
        if !masked {
            let srv = t.connected(server).ok_or(DeviceError::Invalid)?;
            if !srv.ends[prio as usize].lock().is_valid() {
                return Err(DeviceError::NoSuchAttr);
            }
        }
        let mut eas = eas_with_end_index(EAS_VALID | eisn, (server << 3) | prio as u32);
        if masked {
            eas |= EAS_MASKED;
        }
        src.set_eas(eas);
        Ok(())
    }

    fn eq_attr(&self, attr: u64) -> Result<(u32, usize), DeviceError> {
        let prio = attr & 7;
        let server = attr >> 3;
        if !self.prio_ok(prio) {
            return Err(DeviceError::Invalid);
        }
        let server = u32::try_from(server).map_err(|_| DeviceError::NotFound)?;
        Ok((server, prio as usize))
    }

    fn attr_eq_set(&self, attr: u64, data: &[u8]) -> Result<(), DeviceError> {
        let (server, prio) = self.eq_attr(attr)?;
        let eq = KvmXiveEq::from_bytes(data).ok_or(DeviceError::Invalid)?;
        let t = self.t.read();
        let srv = t.connected(server).ok_or(DeviceError::NotFound)?;
        let new = if eq.qshift == 0 {
            End::reset()
        } else {
            if eq.flags != KVM_XIVE_EQ_ALWAYS_NOTIFY {
                return Err(DeviceError::Invalid);
            }
            let qshift = u8::try_from(eq.qshift)
                .ok()
                .filter(|s| VALID_QSHIFTS.contains(s))
                .ok_or(DeviceError::Invalid)?;
            if !queue_backed(&self.mem, eq.qaddr, qshift) {
                return Err(DeviceError::Invalid);
            }
            let mut end = End::configured(eq.qaddr, qshift, true);
            if eq.qtoggle > 1 || eq.qindex >= end.entries() {
                return Err(DeviceError::Invalid);
            }
            end.generation = eq.qtoggle == 1;
            end.index = eq.qindex;
            end
        };
        *srv.ends[prio].lock() = new;
        Ok(())
    }

    fn attr_eq_get(&self, attr: u64, data: &mut [u8]) -> Result<(), DeviceError> {
        let (server, prio) = self.eq_attr(attr)?;
        if data.len() != KVM_PPC_XIVE_EQ_SIZE {
            return Err(DeviceError::Invalid);
        }
        let t = self.t.read();
        let srv = t.connected(server).ok_or(DeviceError::NotFound)?;
        let end = *srv.ends[prio].lock();
        let eq = if end.is_valid() {
            KvmXiveEq {
                flags: if end.always_notify {
                    KVM_XIVE_EQ_ALWAYS_NOTIFY
                } else {
                    0
                },
                qshift: u32::from(end.qshift),
                qaddr: end.qaddr,
                qtoggle: u32::from(end.generation),
                qindex: end.index,
            }
        } else {
            KvmXiveEq::default()
        };
        data.copy_from_slice(&eq.to_bytes());
        Ok(())
    }

    fn attr_source_sync(&self, lisn: u64) -> Result<(), DeviceError> {
        {
            let t = self.t.read();
            u32::try_from(lisn)
                .ok()
                .and_then(|l| t.sources.get(l))
                .ok_or(DeviceError::NotFound)?;
        }
        self.sync_all();
        Ok(())
    }
}

impl DeviceAttrs for Xive {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Xive
    }

    fn has_attr(&self, group: u32, attr: u64) -> bool {
        match group {
            KVM_DEV_XIVE_GRP_CTRL => matches!(
                attr,
                KVM_DEV_XIVE_RESET | KVM_DEV_XIVE_EQ_SYNC | KVM_DEV_XIVE_NR_SERVERS
            ),
            KVM_DEV_XIVE_GRP_SOURCE
            | KVM_DEV_XIVE_GRP_SOURCE_CONFIG
            | KVM_DEV_XIVE_GRP_SOURCE_SYNC => attr < u64::from(self.cfg.nr_irqs),
            KVM_DEV_XIVE_GRP_EQ_CONFIG => true,
            _ => false,
        }
    }

    fn set_attr(&self, group: u32, attr: u64, data: &[u8]) -> Result<(), DeviceError> {
        match (group, attr) {
            (KVM_DEV_XIVE_GRP_CTRL, KVM_DEV_XIVE_RESET) => {
                self.reset_routing();
                Ok(())
            }
            (KVM_DEV_XIVE_GRP_CTRL, KVM_DEV_XIVE_EQ_SYNC) => {
                // Queue pages live in guest RAM, which the machine captures whole.
                self.sync_all();
                Ok(())
            }
            (KVM_DEV_XIVE_GRP_CTRL, KVM_DEV_XIVE_NR_SERVERS) => {
                let b: [u8; 4] = data.try_into().map_err(|_| DeviceError::Invalid)?;
                self.set_nr_servers(u32::from_ne_bytes(b))
            }
            (KVM_DEV_XIVE_GRP_CTRL, _) => Err(DeviceError::NoSuchAttr),
            (KVM_DEV_XIVE_GRP_SOURCE, lisn) => self.attr_source(lisn, data),
            (KVM_DEV_XIVE_GRP_SOURCE_CONFIG, lisn) => self.attr_source_config(lisn, data),
            (KVM_DEV_XIVE_GRP_EQ_CONFIG, a) => self.attr_eq_set(a, data),
            (KVM_DEV_XIVE_GRP_SOURCE_SYNC, lisn) => self.attr_source_sync(lisn),
            _ => Err(DeviceError::NoSuchAttr),
        }
    }

    fn get_attr(&self, group: u32, attr: u64, data: &mut [u8]) -> Result<(), DeviceError> {
        match group {
            KVM_DEV_XIVE_GRP_EQ_CONFIG => self.attr_eq_get(attr, data),
            _ => Err(DeviceError::NoSuchAttr),
        }
    }
}
