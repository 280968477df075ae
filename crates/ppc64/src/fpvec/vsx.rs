//! VSX computational (op 60).

use crate::op::Op;

/// Op 60.
pub(super) fn decode(w: u32) -> Option<Op> {
    let _ = w;
    None
}
