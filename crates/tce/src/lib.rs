//! The sPAPR TCE IOMMU of papr-hv: DMA translation for PAPR guests.
//!
//! A PAPR partition's devices DMA through *windows* of bus addresses, each identified by a
//! LIOBN and translated by a table of TCEs (Translation Control Entries) that the guest fills
//! with hypercalls. This crate provides:
//!
//! * [`TceRegistry`]: tables keyed by LIOBN, with sparse lazily allocated storage so that a
//!   dynamic window covering all of RAM (or 2^51 bytes) costs memory only where mapped;
//! * the hypercalls H_PUT_TCE, H_GET_TCE, H_STUFF_TCE and H_PUT_TCE_INDIRECT
//!   ([`TceRegistry::hcall`]);
//! * DMA translation with permission checks ([`TceRegistry::translate`], [`TceTable::translate`])
//!   and a rust-vmm [`vm_memory::Iommu`] per LIOBN ([`TceIommu`]) for `IommuMemory`;
//! * Dynamic DMA Windows: the per-PE state behind the `ibm,*-pe-dma-window` RTAS calls
//!   ([`TceRegistry::ddw_query`] and friends, [`PeConfig`]);
//! * listeners mirroring every mapping into a device-side IOMMU ([`TceListener`]), also
//!   reachable through KVM-style VFIO device attributes ([`VfioTceDevice`]);
//! * state capture ([`TceRegistry::save`], [`TceRegistry::restore`], [`TceState`]).
//!
//! Behaviour follows PAPR/LoPAR as implemented by Linux KVM and QEMU 7.2; the validation
//! choices are documented on each hypercall method and in the crate README.

#![deny(missing_docs)]

mod ddw;
mod iommu;
mod listener;
mod registry;
mod state;
mod table;
mod tree;
mod types;
mod vfio;

pub use ddw::{
    DDW_PGSIZE_2M, DDW_PGSIZE_4K, DDW_PGSIZE_16G, DDW_PGSIZE_16M, DDW_PGSIZE_32M, DDW_PGSIZE_64K,
    DDW_PGSIZE_64M, DDW_PGSIZE_128M, DDW_PGSIZE_256M, DdwCreated, DdwQuery, PeConfig,
    RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS, RtasError, ddw_mask_bit,
    ddw_mask_from_shifts, ddw_mask_shifts,
};
pub use iommu::{IOTLB_CAP, TceIommu};
pub use listener::{LinkId, TceListener};
pub use registry::{TceConfig, TceRegistry};
pub use state::{TableState, TceRun, TceState};
pub use table::{DmaPiece, TceTable, Translation};
pub use types::{
    Access, DmaError, DmaWindow, MAX_INDIRECT_TCES, MAX_PAGE_SHIFT, MIN_PAGE_SHIFT, Perm, TCE_READ,
    TCE_RW, TCE_WRITE, TceError, make_tce,
};
pub use vfio::{
    KVM_DEV_VFIO_GROUP, KVM_DEV_VFIO_GROUP_ADD, KVM_DEV_VFIO_GROUP_DEL,
    KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE, VfioTceDevice,
};
