//! State capture for snapshots and migration.

use serde::{Deserialize, Serialize};

use crate::entry::RoutingEntry;

/// One assigned irqfd, as captured: the eventfd itself is not (it belongs to a device,
/// which re-assigns a fresh one after restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IrqfdInfo {
    /// The GSI the irqfd injects into.
    pub gsi: u32,
    /// Whether it was assigned with a resample eventfd.
    pub resample: bool,
}

/// The routing layer's part of a VM snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoutingState {
    /// The table set with `KVM_SET_GSI_ROUTING`, in the order given, or `None` while the
    /// default identity table is in force.
    pub table: Option<Vec<RoutingEntry>>,
    /// The irqfds assigned at capture time, sorted by GSI.
    pub irqfds: Vec<IrqfdInfo>,
}
