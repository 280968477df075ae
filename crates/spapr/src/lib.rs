//! The pseries machine of papr-hv.
//!
//! What QEMU's spapr machine is to KVM, this crate is to the `hv` core: it builds the VM and
//! its memory map, loads the kernel and initrd, builds the device tree, provides the
//! firmware interfaces a PAPR guest expects — a virtual Open Firmware client interface (as
//! QEMU's VOF) with Client Architecture Support, RTAS, the hvterm console — and runs one
//! host thread per vCPU.

#![deny(missing_docs)]

pub mod cas;
pub mod console;
pub mod ddw;
pub mod dt;
pub mod loader;
pub mod machine;
pub mod phb;
pub mod rtas;
pub mod tree;
pub mod vof;

pub use console::Console;
pub use machine::{
    BootMode, IrqChipMode, Machine, MachineConfig, MachineError, MachineExit, MachineHandle,
    NetBackendConfig, PciDeviceConfig, run,
};
