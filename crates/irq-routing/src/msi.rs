//! MSI translation: from an MSI write (address, data, device id) to an interrupt source
//! number of the active controller.

use crate::entry::MsiMessage;
use crate::error::MsiError;

/// The doorbell window of the pseries PHBs (`SPAPR_PCI_MSI_WINDOW`).
pub const SPAPR_PCI_MSI_WINDOW: u64 = 0x400_0000_0000;
/// Size of the pseries MSI window (QEMU maps a 4 GiB region).
pub const SPAPR_PCI_MSI_WINDOW_SIZE: u64 = 1 << 32;

/// Outcome of translating one MSI write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsiOutcome {
    /// Deliver (trigger) this source of the MSI controller (irqchip 0).
    Source(u32),
    /// The write is valid but delivers nothing (KVM's return value 0: e.g. an ITS without a
    /// mapping for the event, or a write outside the doorbell window).
    Dropped,
}

/// Turns an MSI write into a source number of irqchip 0.
///
/// pseries: the data *is* the global interrupt number ([`PseriesMsiTranslator`]). A
/// translating controller (a GICv3 ITS: (DeviceID, EventID) → LPI) implements this with its
/// own tables and answers [`MsiTranslator::requires_devid`] with `true`.
pub trait MsiTranslator: Send + Sync {
    /// `KVM_CAP_MSI_DEVID`: whether MSIs carry a device id on this VM. When `false`, routes
    /// and `KVM_SIGNAL_MSI` with `KVM_MSI_VALID_DEVID` are refused (`-EINVAL`); when
    /// `true`, MSIs without one are refused at injection (`-EINVAL`).
    fn requires_devid(&self) -> bool;

    /// Translate one MSI write. Must not panic on any input (guests choose MSI data).
    fn translate(&self, msi: &MsiMessage) -> Result<MsiOutcome, MsiError>;
}

/// The pseries translator, as QEMU's spapr machine does it: the MSI data is the global
/// interrupt number (XICS IRQ / XIVE LISN) and no device id is used.
///
/// With a doorbell window set ([`PseriesMsiTranslator::with_window`]), writes outside it are
/// dropped, as a write that misses QEMU's MSI memory region would be. Without one (the
/// default, as on KVM's irqfd path where QEMU turns the data directly into the GSI) the
/// address is not looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PseriesMsiTranslator {
    window: Option<(u64, u64)>,
}

impl PseriesMsiTranslator {
    /// A translator that ignores the address.
    pub const fn new() -> Self {
        PseriesMsiTranslator { window: None }
    }

    /// A translator that accepts only addresses in `[base, base + size)`.
    pub const fn with_window(base: u64, size: u64) -> Self {
        PseriesMsiTranslator {
            window: Some((base, size)),
        }
    }

    /// The pseries PHB window `SPAPR_PCI_MSI_WINDOW`, 4 GiB.
    pub const fn spapr_window() -> Self {
        PseriesMsiTranslator::with_window(SPAPR_PCI_MSI_WINDOW, SPAPR_PCI_MSI_WINDOW_SIZE)
    }
}

impl MsiTranslator for PseriesMsiTranslator {
    fn requires_devid(&self) -> bool {
        false
    }

    fn translate(&self, msi: &MsiMessage) -> Result<MsiOutcome, MsiError> {
        if let Some((base, size)) = self.window {
            let inside = msi
                .address
                .checked_sub(base)
                .is_some_and(|offset| offset < size);
            if !inside {
                return Ok(MsiOutcome::Dropped);
            }
        }
        Ok(MsiOutcome::Source(msi.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msi(address: u64, data: u32) -> MsiMessage {
        MsiMessage {
            address,
            data,
            devid: None,
        }
    }

    #[test]
    fn pseries_data_is_the_source_number() {
        let t = PseriesMsiTranslator::new();
        assert!(!t.requires_devid());
        assert_eq!(t.translate(&msi(0, 0x1234)), Ok(MsiOutcome::Source(0x1234)));
        assert_eq!(
            t.translate(&msi(u64::MAX, u32::MAX)),
            Ok(MsiOutcome::Source(u32::MAX))
        );
    }

    #[test]
    fn pseries_window_bounds() {
        let t = PseriesMsiTranslator::spapr_window();
        let base = SPAPR_PCI_MSI_WINDOW;
        assert_eq!(t.translate(&msi(base, 5)), Ok(MsiOutcome::Source(5)));
        assert_eq!(
            t.translate(&msi(base + SPAPR_PCI_MSI_WINDOW_SIZE - 4, 6)),
            Ok(MsiOutcome::Source(6))
        );
        assert_eq!(
            t.translate(&msi(base + SPAPR_PCI_MSI_WINDOW_SIZE, 6)),
            Ok(MsiOutcome::Dropped)
        );
        assert_eq!(t.translate(&msi(base - 1, 6)), Ok(MsiOutcome::Dropped));
        assert_eq!(t.translate(&msi(0, 6)), Ok(MsiOutcome::Dropped));
        // A window reaching the top of the address space must not overflow.
        let top = PseriesMsiTranslator::with_window(u64::MAX - 8, 16);
        assert_eq!(top.translate(&msi(u64::MAX, 1)), Ok(MsiOutcome::Source(1)));
    }
}
