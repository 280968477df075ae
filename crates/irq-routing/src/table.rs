//! The routing table: configuration limits, KVM's validation rules and the compiled,
//! immutable form that the injection path reads.

use std::collections::HashMap;

use crate::entry::{
    KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, KVM_MAX_IRQ_ROUTES, KVM_MSI_VALID_DEVID,
    KvmIrqRoutingEntry, MsiMessage, RoutingEntry, RoutingKind,
};
use crate::error::{ConfigError, RoutingError};

/// Number of interrupt sources of the pseries machine (QEMU's `nr_irqs`): 0x1000 IPI LISNs
/// followed by 0x1000 device LISNs (XICS ICS numbers 0x1000..0x1FFF).
pub const PSERIES_NR_IRQS: u32 = 0x2000;

/// Largest number of interrupt controllers a router accepts (x86 KVM has 3).
pub const MAX_IRQCHIPS: u32 = 16;

/// Largest `max_routes` a router accepts (bounds the table's memory).
pub const MAX_ROUTES_LIMIT: u32 = 1 << 20;

/// Limits of a router, as KVM's compile-time constants are for a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterConfig {
    /// `KVM_MAX_IRQ_ROUTES`: maximum number of entries in a table, and every GSI of a table
    /// must be below it.
    pub max_routes: u32,
    /// `KVM_NR_IRQCHIPS`: number of interrupt controllers (irqchip indices `0..n`).
    pub nr_irqchips: u32,
    /// `KVM_IRQCHIP_NUM_PINS`: number of pins of each controller.
    pub irqchip_pins: u32,
}

impl RouterConfig {
    /// The pseries machine: one interrupt controller (XICS or XIVE) whose pin numbers are
    /// the `nr_irqs` global interrupt numbers; GSIs may name any of them, so the route
    /// limit is raised to `nr_irqs` when that is above `KVM_MAX_IRQ_ROUTES`.
    pub const fn pseries(nr_irqs: u32) -> Self {
        RouterConfig {
            max_routes: if nr_irqs > KVM_MAX_IRQ_ROUTES {
                nr_irqs
            } else {
                KVM_MAX_IRQ_ROUTES
            },
            nr_irqchips: 1,
            irqchip_pins: nr_irqs,
        }
    }

    /// Check that the limits are usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_routes == 0 || self.max_routes > MAX_ROUTES_LIMIT {
            return Err(ConfigError::Invalid("max_routes must be in 1..=2^20"));
        }
        if self.nr_irqchips == 0 || self.nr_irqchips > MAX_IRQCHIPS {
            return Err(ConfigError::Invalid("nr_irqchips must be in 1..=16"));
        }
        if self.irqchip_pins == 0 {
            return Err(ConfigError::Invalid("irqchip_pins must not be 0"));
        }
        Ok(())
    }
}

impl Default for RouterConfig {
    /// [`RouterConfig::pseries`] with [`PSERIES_NR_IRQS`].
    fn default() -> Self {
        RouterConfig::pseries(PSERIES_NR_IRQS)
    }
}

/// A resolved route, as the injection path uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Drive `pin` of controller `irqchip`.
    Irqchip { irqchip: u32, pin: u32 },
    /// Perform this MSI write.
    Msi(MsiMessage),
}

impl Route {
    fn from_kind(kind: &RoutingKind) -> Route {
        match *kind {
            RoutingKind::Irqchip { irqchip, pin } => Route::Irqchip { irqchip, pin },
            RoutingKind::Msi { .. } => match kind.msi_message() {
                Some(m) => Route::Msi(m),
                // Unreachable by construction; an irqchip 0 pin 0 stand-in keeps this total.
                None => Route::Irqchip { irqchip: 0, pin: 0 },
            },
        }
    }

    /// Public, typed view of the route.
    pub(crate) fn kind(&self) -> RoutingKind {
        match *self {
            Route::Irqchip { irqchip, pin } => RoutingKind::Irqchip { irqchip, pin },
            Route::Msi(m) => RoutingKind::Msi {
                address_lo: m.address as u32,
                address_hi: (m.address >> 32) as u32,
                data: m.data,
                devid: m.devid,
            },
        }
    }
}

/// The routes of one GSI.
pub(crate) enum Routes<'a> {
    /// The default identity table's single route.
    One(Route),
    /// The routes of an explicit table (possibly none).
    Many(&'a [Route]),
}

impl Routes<'_> {
    /// The routes as a slice.
    pub(crate) fn as_slice(&self) -> &[Route] {
        match self {
            Routes::One(r) => std::slice::from_ref(r),
            Routes::Many(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// A set table, compiled for O(1) lookup by GSI.
#[derive(Debug)]
struct Explicit {
    /// Indexed by GSI (length = highest GSI + 1): where that GSI's routes are in `routes`.
    spans: Vec<Span>,
    /// Every route, grouped by GSI, in the order the entries were given.
    routes: Vec<Route>,
    /// (irqchip, pin) → GSI for EOI notification; the last entry naming a pin wins, as in
    /// KVM's `chip[][]` array.
    reverse: HashMap<(u32, u32), u32>,
    /// The entries as given, for state capture.
    entries: Vec<RoutingEntry>,
}

/// An immutable routing table: the default identity map (pseries: GSI n is source n on
/// irqchip 0) or a table set with `KVM_SET_GSI_ROUTING`.
#[derive(Debug)]
pub(crate) struct Table {
    explicit: Option<Explicit>,
}

impl Table {
    /// The default table: every GSI `n` routes to irqchip 0 pin `n`.
    pub(crate) fn identity() -> Table {
        Table { explicit: None }
    }

    /// Whether this is the default identity table.
    #[cfg(test)]
    pub(crate) fn is_identity(&self) -> bool {
        self.explicit.is_none()
    }

    /// The routes of `gsi`.
    pub(crate) fn routes(&self, gsi: u32) -> Routes<'_> {
        match &self.explicit {
            None => Routes::One(Route::Irqchip {
                irqchip: 0,
                pin: gsi,
            }),
            Some(t) => {
                let span = t.spans.get(gsi as usize).copied().unwrap_or_default();
                let start = span.start as usize;
                let end = start.saturating_add(span.len as usize);
                Routes::Many(t.routes.get(start..end).unwrap_or(&[]))
            }
        }
    }

    /// The GSI whose EOI notifications (irqchip, pin) feeds, if any.
    pub(crate) fn gsi_for_pin(&self, irqchip: u32, pin: u32) -> Option<u32> {
        match &self.explicit {
            None => (irqchip == 0).then_some(pin),
            Some(t) => t.reverse.get(&(irqchip, pin)).copied(),
        }
    }

    /// The entries of an explicit table (None for the default table).
    pub(crate) fn entries(&self) -> Option<&[RoutingEntry]> {
        self.explicit.as_ref().map(|t| t.entries.as_slice())
    }

    /// Validate a typed table and compile it.
    pub(crate) fn build(
        config: &RouterConfig,
        devid_cap: bool,
        entries: &[RoutingEntry],
    ) -> Result<Table, RoutingError> {
        let raw: Vec<KvmIrqRoutingEntry> = entries.iter().map(KvmIrqRoutingEntry::from).collect();
        Table::build_raw(config, devid_cap, 0, &raw)
    }

    /// Validate a raw (`struct kvm_irq_routing`) table and compile it, following KVM's
    /// order of checks exactly.
    pub(crate) fn build_raw(
        config: &RouterConfig,
        devid_cap: bool,
        flags: u32,
        raw: &[KvmIrqRoutingEntry],
    ) -> Result<Table, RoutingError> {
        // Header checks (kvm_vm_ioctl): count, then flags.
        if raw.len() > config.max_routes as usize {
            return Err(RoutingError::TooManyEntries {
                nr: raw.len(),
                max: config.max_routes,
            });
        }
        if flags != 0 {
            return Err(RoutingError::BadTableFlags(flags));
        }
        // First pass: every GSI in range; table length = highest GSI + 1.
        let mut highest = 0u32;
        for (index, e) in raw.iter().enumerate() {
            if e.gsi >= config.max_routes {
                return Err(RoutingError::GsiOutOfRange { index, gsi: e.gsi });
            }
            highest = highest.max(e.gsi);
        }

        // Second pass, entry by entry: flags, GSI sharing, arch checks.
        let mut per_gsi: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut typed: Vec<RoutingEntry> = Vec::with_capacity(raw.len());
        for (index, e) in raw.iter().enumerate() {
            let flags_ok = if e.kind == KVM_IRQ_ROUTING_MSI {
                e.flags & !KVM_MSI_VALID_DEVID == 0
            } else {
                e.flags == 0
            };
            if !flags_ok {
                return Err(RoutingError::BadEntryFlags {
                    index,
                    flags: e.flags,
                });
            }
            let siblings = per_gsi.entry(e.gsi).or_default();
            for &other in siblings.iter() {
                let o = &typed[other];
                let clash = match (o.kind, e.kind) {
                    (RoutingKind::Irqchip { irqchip, .. }, KVM_IRQ_ROUTING_IRQCHIP) => {
                        irqchip == e.u[0]
                    }
                    _ => true,
                };
                if clash {
                    return Err(RoutingError::ConflictingRoute { index, gsi: e.gsi });
                }
            }
            let kind = match e.kind {
                KVM_IRQ_ROUTING_IRQCHIP => {
                    let (irqchip, pin) = (e.u[0], e.u[1]);
                    if irqchip >= config.nr_irqchips {
                        return Err(RoutingError::BadIrqchip { index, irqchip });
                    }
                    if pin >= config.irqchip_pins {
                        return Err(RoutingError::BadPin { index, pin });
                    }
                    RoutingKind::Irqchip { irqchip, pin }
                }
                KVM_IRQ_ROUTING_MSI => {
                    let devid = (e.flags & KVM_MSI_VALID_DEVID != 0).then_some(e.u[3]);
                    if devid.is_some() && !devid_cap {
                        return Err(RoutingError::DevidNotSupported { index });
                    }
                    RoutingKind::Msi {
                        address_lo: e.u[0],
                        address_hi: e.u[1],
                        data: e.u[2],
                        devid,
                    }
                }
                other => return Err(RoutingError::UnsupportedType { index, kind: other }),
            };
            siblings.push(typed.len());
            typed.push(RoutingEntry { gsi: e.gsi, kind });
        }

        // Compile: routes grouped by GSI (entry order within a GSI), spans, reverse map.
        let len = if typed.is_empty() {
            0
        } else {
            highest as usize + 1
        };
        let mut spans = vec![Span::default(); len];
        for e in &typed {
            if let Some(s) = spans.get_mut(e.gsi as usize) {
                s.len += 1;
            }
        }
        let mut next = 0u32;
        for s in spans.iter_mut() {
            s.start = next;
            next += s.len;
        }
        let mut fill: Vec<u32> = spans.iter().map(|s| s.start).collect();
        let mut routes = vec![Route::Irqchip { irqchip: 0, pin: 0 }; typed.len()];
        let mut reverse = HashMap::new();
        for e in &typed {
            if let Some(slot) = fill.get_mut(e.gsi as usize) {
                if let Some(r) = routes.get_mut(*slot as usize) {
                    *r = Route::from_kind(&e.kind);
                }
                *slot += 1;
            }
            if let RoutingKind::Irqchip { irqchip, pin } = e.kind {
                reverse.insert((irqchip, pin), e.gsi);
            }
        }
        Ok(Table {
            explicit: Some(Explicit {
                spans,
                routes,
                reverse,
                entries: typed,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RouterConfig {
        RouterConfig {
            max_routes: 64,
            nr_irqchips: 3,
            irqchip_pins: 32,
        }
    }

    #[test]
    fn compiled_spans_group_routes_by_gsi_in_entry_order() {
        let t = Table::build(
            &cfg(),
            false,
            &[
                RoutingEntry::irqchip(5, 1, 3),
                RoutingEntry::msi(2, 0x1000, 7, None),
                RoutingEntry::irqchip(5, 0, 4),
            ],
        )
        .unwrap();
        assert_eq!(
            t.routes(5).as_slice(),
            &[
                Route::Irqchip { irqchip: 1, pin: 3 },
                Route::Irqchip { irqchip: 0, pin: 4 }
            ]
        );
        assert_eq!(t.routes(2).as_slice().len(), 1);
        assert!(t.routes(3).as_slice().is_empty());
        assert!(t.routes(6).as_slice().is_empty());
        assert!(t.routes(u32::MAX).as_slice().is_empty());
        assert_eq!(t.gsi_for_pin(1, 3), Some(5));
        assert_eq!(t.gsi_for_pin(0, 3), None);
    }

    #[test]
    fn reverse_map_last_entry_wins() {
        let t = Table::build(
            &cfg(),
            false,
            &[
                RoutingEntry::irqchip(1, 0, 9),
                RoutingEntry::irqchip(7, 0, 9),
            ],
        )
        .unwrap();
        assert_eq!(t.gsi_for_pin(0, 9), Some(7));
    }

    #[test]
    fn empty_table_routes_nothing() {
        let t = Table::build(&cfg(), false, &[]).unwrap();
        assert!(!t.is_identity());
        assert!(t.routes(0).as_slice().is_empty());
        assert_eq!(t.gsi_for_pin(0, 0), None);
    }

    #[test]
    fn config_limits_are_checked() {
        assert!(RouterConfig::default().validate().is_ok());
        let mut c = cfg();
        c.nr_irqchips = 0;
        assert!(c.validate().is_err());
        c = cfg();
        c.max_routes = MAX_ROUTES_LIMIT + 1;
        assert!(c.validate().is_err());
        c = cfg();
        c.irqchip_pins = 0;
        assert!(c.validate().is_err());
        assert_eq!(RouterConfig::pseries(16).max_routes, KVM_MAX_IRQ_ROUTES);
        assert_eq!(RouterConfig::default().max_routes, PSERIES_NR_IRQS);
    }
}
