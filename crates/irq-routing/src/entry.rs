//! Routing entries: the typed form used by the rest of papr-hv and the raw,
//! `struct kvm_irq_routing_entry`-shaped form that carries KVM's type and flag words.

use serde::{Deserialize, Serialize};

use crate::error::RoutingError;

/// `KVM_MAX_IRQ_ROUTES`: the default limit on the number of routes and on GSI numbers.
pub const KVM_MAX_IRQ_ROUTES: u32 = 4096;

/// `KVM_IRQ_ROUTING_IRQCHIP`: route type "interrupt controller pin".
pub const KVM_IRQ_ROUTING_IRQCHIP: u32 = 1;
/// `KVM_IRQ_ROUTING_MSI`: route type "MSI write".
pub const KVM_IRQ_ROUTING_MSI: u32 = 2;
/// `KVM_IRQ_ROUTING_S390_ADAPTER` (not supported here, rejected with `-EINVAL`).
pub const KVM_IRQ_ROUTING_S390_ADAPTER: u32 = 3;
/// `KVM_IRQ_ROUTING_HV_SINT` (not supported here, rejected with `-EINVAL`).
pub const KVM_IRQ_ROUTING_HV_SINT: u32 = 4;
/// `KVM_IRQ_ROUTING_XEN_EVTCHN` (not supported here, rejected with `-EINVAL`).
pub const KVM_IRQ_ROUTING_XEN_EVTCHN: u32 = 5;

/// `KVM_MSI_VALID_DEVID`: the only flag an MSI route or `KVM_SIGNAL_MSI` may carry.
pub const KVM_MSI_VALID_DEVID: u32 = 1 << 0;

/// Size in bytes of `struct kvm_irq_routing_entry`.
pub const KVM_IRQ_ROUTING_ENTRY_SIZE: usize = 48;
/// Size in bytes of the `struct kvm_irq_routing` header (`nr`, `flags`).
pub const KVM_IRQ_ROUTING_HEADER_SIZE: usize = 8;
/// Size in bytes of `struct kvm_msi`.
pub const KVM_MSI_SIZE: usize = 32;

/// One MSI write: the doorbell address, the 32-bit payload and, when the bus supplies one,
/// the requester's device id (`KVM_MSI_VALID_DEVID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MsiMessage {
    /// Doorbell address (`address_hi << 32 | address_lo`).
    pub address: u64,
    /// Payload written to the doorbell.
    pub data: u32,
    /// Device id (PCI requester id / ITS DeviceID), present only with `KVM_MSI_VALID_DEVID`.
    pub devid: Option<u32>,
}

/// What a routing entry does when its GSI is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoutingKind {
    /// Drive pin `pin` of interrupt controller `irqchip` (`KVM_IRQ_ROUTING_IRQCHIP`).
    /// On pseries there is one controller (0) and the pin is the interrupt source number.
    Irqchip {
        /// Interrupt controller index (`< RouterConfig::nr_irqchips`).
        irqchip: u32,
        /// Input pin of that controller (`< RouterConfig::irqchip_pins`).
        pin: u32,
    },
    /// Perform an MSI write (`KVM_IRQ_ROUTING_MSI`) when the GSI is raised.
    Msi {
        /// Low 32 bits of the doorbell address.
        address_lo: u32,
        /// High 32 bits of the doorbell address.
        address_hi: u32,
        /// MSI payload.
        data: u32,
        /// Device id; `Some` means the entry carries `KVM_MSI_VALID_DEVID`.
        devid: Option<u32>,
    },
}

/// One entry of a routing table (`struct kvm_irq_routing_entry`, typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoutingEntry {
    /// The GSI this entry belongs to.
    pub gsi: u32,
    /// What driving the GSI does.
    pub kind: RoutingKind,
}

impl RoutingEntry {
    /// An irqchip-pin entry.
    pub const fn irqchip(gsi: u32, irqchip: u32, pin: u32) -> Self {
        RoutingEntry {
            gsi,
            kind: RoutingKind::Irqchip { irqchip, pin },
        }
    }

    /// An MSI entry with a 64-bit doorbell address.
    pub const fn msi(gsi: u32, address: u64, data: u32, devid: Option<u32>) -> Self {
        RoutingEntry {
            gsi,
            kind: RoutingKind::Msi {
                address_lo: address as u32,
                address_hi: (address >> 32) as u32,
                data,
                devid,
            },
        }
    }
}

impl RoutingKind {
    /// The MSI message of an MSI entry.
    pub const fn msi_message(&self) -> Option<MsiMessage> {
        match *self {
            RoutingKind::Msi {
                address_lo,
                address_hi,
                data,
                devid,
            } => Some(MsiMessage {
                address: ((address_hi as u64) << 32) | address_lo as u64,
                data,
                devid,
            }),
            RoutingKind::Irqchip { .. } => None,
        }
    }
}

/// `struct kvm_irq_routing_entry` as userspace hands it to `KVM_SET_GSI_ROUTING`, with the
/// type and flags words that the typed [`RoutingEntry`] cannot express. Host-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvmIrqRoutingEntry {
    /// GSI.
    pub gsi: u32,
    /// `KVM_IRQ_ROUTING_*` type.
    pub kind: u32,
    /// Entry flags (`KVM_MSI_VALID_DEVID` for MSI, 0 otherwise).
    pub flags: u32,
    /// The 32-byte union, as eight host-endian words.
    pub u: [u32; 8],
}

impl KvmIrqRoutingEntry {
    /// Decode the 48-byte host-endian layout.
    pub fn from_bytes(bytes: &[u8; KVM_IRQ_ROUTING_ENTRY_SIZE]) -> Self {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
            u32::from_ne_bytes(w)
        };
        let mut u = [0u32; 8];
        for (i, slot) in u.iter_mut().enumerate() {
            *slot = word(4 + i);
        }
        KvmIrqRoutingEntry {
            gsi: word(0),
            kind: word(1),
            flags: word(2),
            u,
        }
    }

    /// Encode into the 48-byte host-endian layout (the pad word is zero).
    pub fn to_bytes(&self) -> [u8; KVM_IRQ_ROUTING_ENTRY_SIZE] {
        let mut out = [0u8; KVM_IRQ_ROUTING_ENTRY_SIZE];
        let mut put = |i: usize, v: u32| out[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        put(0, self.gsi);
        put(1, self.kind);
        put(2, self.flags);
        for (i, v) in self.u.iter().enumerate() {
            put(4 + i, *v);
        }
        out
    }
}

impl From<&RoutingEntry> for KvmIrqRoutingEntry {
    fn from(e: &RoutingEntry) -> Self {
        let mut u = [0u32; 8];
        let (kind, flags) = match e.kind {
            RoutingKind::Irqchip { irqchip, pin } => {
                u[0] = irqchip;
                u[1] = pin;
                (KVM_IRQ_ROUTING_IRQCHIP, 0)
            }
            RoutingKind::Msi {
                address_lo,
                address_hi,
                data,
                devid,
            } => {
                u[0] = address_lo;
                u[1] = address_hi;
                u[2] = data;
                u[3] = devid.unwrap_or(0);
                (
                    KVM_IRQ_ROUTING_MSI,
                    if devid.is_some() {
                        KVM_MSI_VALID_DEVID
                    } else {
                        0
                    },
                )
            }
        };
        KvmIrqRoutingEntry {
            gsi: e.gsi,
            kind,
            flags,
            u,
        }
    }
}

/// Decode a `struct kvm_irq_routing` buffer (header + `nr` entries), bounding `nr` by
/// `max_routes` *before* looking at the entries. Returns the header flags and the entries.
///
/// Errors: `nr > max_routes` → [`RoutingError::TooManyEntries`]; a buffer shorter than the
/// header or than `nr` entries → [`RoutingError::Fault`] (KVM's `-EFAULT` on a short copy).
pub fn parse_kvm_irq_routing(
    buf: &[u8],
    max_routes: u32,
) -> Result<(u32, Vec<KvmIrqRoutingEntry>), RoutingError> {
    let header = buf
        .get(..KVM_IRQ_ROUTING_HEADER_SIZE)
        .ok_or(RoutingError::Fault)?;
    let nr = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
    let flags = u32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
    if nr > max_routes {
        return Err(RoutingError::TooManyEntries {
            nr: nr as usize,
            max: max_routes,
        });
    }
    let body = &buf[KVM_IRQ_ROUTING_HEADER_SIZE..];
    let needed = (nr as usize)
        .checked_mul(KVM_IRQ_ROUTING_ENTRY_SIZE)
        .ok_or(RoutingError::Fault)?;
    let body = body.get(..needed).ok_or(RoutingError::Fault)?;
    let entries = body
        .chunks_exact(KVM_IRQ_ROUTING_ENTRY_SIZE)
        .map(|c| {
            let mut b = [0u8; KVM_IRQ_ROUTING_ENTRY_SIZE];
            b.copy_from_slice(c);
            KvmIrqRoutingEntry::from_bytes(&b)
        })
        .collect();
    Ok((flags, entries))
}

/// `struct kvm_msi` (`KVM_SIGNAL_MSI`). Host-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvmMsi {
    /// Low 32 bits of the doorbell address.
    pub address_lo: u32,
    /// High 32 bits of the doorbell address.
    pub address_hi: u32,
    /// MSI payload.
    pub data: u32,
    /// Flags: only `KVM_MSI_VALID_DEVID` is defined.
    pub flags: u32,
    /// Device id, meaningful only with `KVM_MSI_VALID_DEVID`.
    pub devid: u32,
}

impl KvmMsi {
    /// Decode the 32-byte host-endian layout.
    pub fn from_bytes(bytes: &[u8; KVM_MSI_SIZE]) -> Self {
        let word = |i: usize| {
            u32::from_ne_bytes([
                bytes[i * 4],
                bytes[i * 4 + 1],
                bytes[i * 4 + 2],
                bytes[i * 4 + 3],
            ])
        };
        KvmMsi {
            address_lo: word(0),
            address_hi: word(1),
            data: word(2),
            flags: word(3),
            devid: word(4),
        }
    }

    /// The doorbell address.
    pub const fn address(&self) -> u64 {
        ((self.address_hi as u64) << 32) | self.address_lo as u64
    }
}
