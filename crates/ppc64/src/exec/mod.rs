//! Instruction handlers, by family.

pub(crate) mod branch;
pub(crate) mod int;
pub(crate) mod ldst;
pub mod sys;
