//! Floating-point, VMX (AltiVec) and VSX instructions: decoding and execution.

use crate::op::Op;

/// Decodes a floating-point, VMX or VSX instruction word; `None` if it is not one.
pub(crate) fn decode(w: u32) -> Option<Op> {
    let _ = w;
    None
}
