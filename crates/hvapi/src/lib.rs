//! Interfaces shared between the papr-hv hypervisor core (`hv`) and the device crates
//! (`xive`, `xics`, `tce`, `irq-routing`).
//!
//! This crate is a leaf: it holds the PAPR hypercall return codes and opcodes, the traits
//! through which an interrupt controller reaches a vCPU and through which the routing layer
//! reaches an interrupt controller, and the KVM-shaped device-attribute interface.

pub mod device;
pub mod hcall;
pub mod irq;

/// Guest physical memory as every crate of the project sees it: one or more host mappings
/// (rust-vmm `vm-memory`). All in-memory PAPR/XIVE/TCE structures are big-endian.
pub type GuestMemory = vm_memory::GuestMemoryMmap<()>;

pub use vm_memory::{Bytes, GuestAddress};
