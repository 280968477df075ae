//! VMX (AltiVec).

use crate::op::Op;

/// Op 4.
pub(super) fn decode(w: u32) -> Option<Op> {
    let _ = w;
    None
}

/// Op 31 vector loads/stores.
pub(super) fn decode31(w: u32) -> Option<Op> {
    let _ = w;
    None
}
