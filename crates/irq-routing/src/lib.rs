//! KVM's generic IRQ routing for papr-hv: the GSI routing table (`KVM_SET_GSI_ROUTING`),
//! `KVM_IRQ_LINE` and `KVM_SIGNAL_MSI` injection, and irqfds with resample, all in front of
//! whichever interrupt controller is active (XICS or XIVE, behind
//! [`hvapi::irq::IrqInjector`]).
//!
//! * [`Router`] owns the table, the controllers, the MSI translator and the irqfd worker.
//! * Tables are validated with KVM's rules and errno ([`RoutingError`]); until one is set,
//!   the pseries default applies: GSI *n* is interrupt source *n* of irqchip 0.
//! * MSIs become source numbers through a [`MsiTranslator`]: [`PseriesMsiTranslator`] (MSI
//!   data = source number, as QEMU's spapr) by default; a translating controller (GICv3
//!   ITS: device id + event id → LPI) can be plugged in.
//! * The injection path reads immutable snapshots (`arc-swap`), never a lock that table
//!   updates hold.
//!
//! See `README.md` in this crate for the design.

#![warn(missing_docs)]

mod entry;
mod error;
mod fdid;
mod irqfd;
mod msi;
mod router;
mod state;
mod table;

pub use entry::{
    KVM_IRQ_ROUTING_ENTRY_SIZE, KVM_IRQ_ROUTING_HEADER_SIZE, KVM_IRQ_ROUTING_HV_SINT,
    KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, KVM_IRQ_ROUTING_S390_ADAPTER,
    KVM_IRQ_ROUTING_XEN_EVTCHN, KVM_MAX_IRQ_ROUTES, KVM_MSI_SIZE, KVM_MSI_VALID_DEVID,
    KvmIrqRoutingEntry, KvmMsi, MsiMessage, RoutingEntry, RoutingKind, parse_kvm_irq_routing,
};
pub use error::{ConfigError, InjectError, IrqfdError, MsiError, RoutingError};
pub use msi::{
    MsiOutcome, MsiTranslator, PseriesMsiTranslator, SPAPR_PCI_MSI_WINDOW,
    SPAPR_PCI_MSI_WINDOW_SIZE,
};
pub use router::{
    KVM_INTERRUPT_SET, KVM_INTERRUPT_SET_LEVEL, KVM_INTERRUPT_UNSET, Router, RouterStats,
};
pub use state::{IrqfdInfo, RoutingState};
pub use table::{MAX_IRQCHIPS, MAX_ROUTES_LIMIT, PSERIES_NR_IRQS, RouterConfig};
