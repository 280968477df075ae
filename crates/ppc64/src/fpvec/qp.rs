//! Quad-precision (binary128) instructions on op 63.

use crate::op::Op;

/// Op 63 quad-precision instructions.
pub(super) fn decode63(w: u32) -> Option<Op> {
    let _ = w;
    None
}
