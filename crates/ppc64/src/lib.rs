//! A POWER9 (Power ISA 3.0B) CPU emulator for PAPR guests.
//!
//! The guest runs in a logical partition with MSR[HV] = 0; this crate models everything the
//! guest can see of the processor: the architected registers, instruction execution
//! (pre-decoded blocks and a software TLB), interrupts, the radix MMU (process scope; the
//! partition scope is the identity because the emulator is the hypervisor), the timebase
//! and decrementer. The hypervisor layer above drives a [`Cpu`] with [`Cpu::run`], which
//! returns an [`Exit`] for hypercalls and stop requests; MMIO is answered synchronously
//! through the partition's [`Bus`].

#![deny(missing_docs)]

mod atomic128;
mod core;
mod cpu;
mod decode;
pub mod exec;
mod fpvec;
mod jit;
pub mod mem;
pub mod mmu;
pub mod op;
pub mod partition;
pub mod reg;
pub mod timebase;
pub mod tlb;

pub use crate::core::{Core, Exit, Fault, Flow, REAL_ADDR_MASK, Stats};
pub use crate::cpu::Cpu;
pub use crate::decode::{decode, decode_mode};
pub use crate::exec::int::host_random;
pub use crate::mem::{CodePages, Ram};
pub use crate::partition::{Bus, NoBus, Partition, VcpuShared};
