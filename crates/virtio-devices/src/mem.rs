//! The memory a device's DMA goes through.

use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange};
use vm_memory::{GuestAddress, Iommu, IommuMemory, Permissions};

use tce::TceIommu;

/// The IOMMU of a partitionable endpoint (a PHB): its TCE windows (the default 32-bit window
/// and any dynamic window), each a [`TceIommu`]. An access is translated by the window that
/// contains its first byte; an access that crosses out of that window fails.
#[derive(Debug, Clone, Default)]
pub struct PeIommu {
    windows: Vec<TceIommu>,
}

impl PeIommu {
    /// An IOMMU over these window tables (which may be disabled and enabled later: each
    /// table handle follows its window).
    pub fn new(windows: Vec<TceIommu>) -> Self {
        PeIommu { windows }
    }

    /// Number of window tables.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether there are no windows (every translated access fails).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

impl Iommu for PeIommu {
    type IotlbGuard<'a> = <TceIommu as Iommu>::IotlbGuard<'a>;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> Result<IotlbIterator<Self::IotlbGuard<'_>>, IommuError> {
        let w = self.windows.iter().find(|w| {
            w.table()
                .window()
                .is_some_and(|win| iova.0 >= win.bus_offset() && iova.0 < win.end())
        });
        match w {
            Some(w) => w.translate(iova, length, access),
            None => Err(IommuError::CannotResolve {
                iova_range: IovaRange { base: iova, length },
                reason: "no DMA window holds this address".into(),
            }),
        }
    }
}

/// Guest memory as a device sees it: through the PE's IOMMU when the driver negotiated
/// `VIRTIO_F_ACCESS_PLATFORM`, else guest-physical addresses directly (the IOMMU in
/// pass-through).
pub type DmaMemory = IommuMemory<hvapi::GuestMemory, PeIommu>;
