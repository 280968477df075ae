//! virtio 1.x devices behind the PCI "modern" transport, for papr-hv's pseries PHB.
//!
//! * [`VirtioPciDevice`]: a PCI function (type-0 header, BARs the guest assigns, the virtio
//!   vendor capabilities and MSI-X) wrapping a [`VirtioDevice`]; it implements [`PciFunction`],
//!   what a host bridge needs to expose it (config space, BAR decoding, MSI-X programming by
//!   firmware).
//! * Devices: [`block::Block`] (raw image file), [`rng::Rng`], [`console::Console`] (one
//!   port), [`net::Net`] (tap or user-mode backend, [`usernet`]).
//! * DMA goes through [`DmaMemory`]: guest memory behind an IOMMU view of the PHB's TCE windows,
//!   enabled only when the driver negotiated `VIRTIO_F_ACCESS_PLATFORM`.
//! * Interrupts leave through an [`InterruptSink`]: MSI-X messages (address, data) as the
//!   guest's firmware programmed them, or the INTx line when MSI-X is off.
//!
//! Queue processing runs on the thread that writes the notify register (a vCPU thread);
//! the tap backend's receive side runs on its own thread.

#![deny(missing_docs)]

pub mod block;
pub mod console;
mod mem;
pub mod net;
pub mod pci;
pub mod rng;
mod transport;
pub mod usernet;

pub use mem::{DmaMemory, PeIommu};
pub use pci::{BarRegion, PciFunction};
pub use transport::{
    DeviceStatus, InterruptSink, NO_VECTOR, NOTIFY_OFF_MULTIPLIER, VirtioPciDevice, VirtioPciLayout,
};

use virtio_queue::Queue;

/// virtio feature bit: the device complies with virtio 1.x.
pub const VIRTIO_F_VERSION_1: u32 = 32;
/// virtio feature bit: the device's DMA goes through the platform IOMMU.
pub const VIRTIO_F_ACCESS_PLATFORM: u32 = 33;
/// virtio feature bit: indirect descriptors.
pub const VIRTIO_RING_F_INDIRECT_DESC: u32 = 28;
/// virtio feature bit: used/avail event index.
pub const VIRTIO_RING_F_EVENT_IDX: u32 = 29;

/// virtio device type numbers.
pub mod device_type {
    /// Network card.
    pub const NET: u32 = 1;
    /// Block device.
    pub const BLOCK: u32 = 2;
    /// Console.
    pub const CONSOLE: u32 = 3;
    /// Entropy source.
    pub const RNG: u32 = 4;
}

/// A virtio device model, independent of the transport.
///
/// The transport owns the queues and calls [`process_queue`](Self::process_queue) when the
/// driver notifies one (or when a backend asks through [`VirtioPciDevice::kick`]).
pub trait VirtioDevice: Send {
    /// The virtio device type ([`device_type`]).
    fn device_type(&self) -> u32;
    /// The PCI class code (`class << 16 | subclass << 8 | prog-if`).
    fn pci_class(&self) -> u32;
    /// Maximum size of each queue; the length is the number of queues.
    fn queue_max_sizes(&self) -> Vec<u16>;
    /// Device-specific feature bits offered (the transport adds `VERSION_1`, ring features and
    /// `ACCESS_PLATFORM`).
    fn features(&self) -> u64;
    /// Reads the device configuration space at `offset` (bytes past its end read as 0).
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes the device configuration space (ignored where read-only).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// The driver set DRIVER_OK with these negotiated features.
    fn activate(&mut self, _features: u64) {}
    /// The device was reset by the driver.
    fn reset(&mut self) {}
    /// Processes what the driver made available in queue `index`. Returns whether used
    /// buffers were added (the transport then decides whether to interrupt).
    fn process_queue(&mut self, index: usize, queue: &mut Queue, mem: &DmaMemory) -> bool;
}

/// Copies the part of a device configuration structure `cfg` at `offset` into `data`
/// (bytes past the end read as 0).
pub fn config_slice(cfg: &[u8], offset: u64, data: &mut [u8]) {
    for (i, d) in data.iter_mut().enumerate() {
        *d = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(i))
            .and_then(|x| cfg.get(x))
            .copied()
            .unwrap_or(0);
    }
}

/// Pops every available chain of `queue`, hands it to `handle` (which returns the number of
/// bytes it wrote into the chain) and puts it in the used ring; re-arms notifications the
/// way `VIRTIO_RING_F_EVENT_IDX` requires and loops if the driver added more meanwhile.
/// Returns whether anything was used. A ring the device cannot access ends the loop.
pub fn drain_queue<'m>(
    queue: &mut Queue,
    mem: &'m DmaMemory,
    mut handle: impl FnMut(virtio_queue::DescriptorChain<&'m DmaMemory>) -> u32,
) -> bool {
    use virtio_queue::QueueT;
    let mut used = false;
    // Bounded: at most a few rounds of a full queue per notification.
    for _ in 0..4 {
        if queue.disable_notification(mem).is_err() {
            return used;
        }
        let mut n = 0u32;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let len = handle(chain);
            if queue.add_used(mem, head, len).is_err() {
                return used;
            }
            used = true;
            n += 1;
            if n > u32::from(queue.size()) {
                break;
            }
        }
        match queue.enable_notification(mem) {
            Ok(true) => continue,
            _ => break,
        }
    }
    used
}
