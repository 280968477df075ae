//! VSX loads, stores and moves.

use crate::op::Op;

/// Op 31 VSX loads/stores/moves.
pub(super) fn decode31(w: u32) -> Option<Op> {
    let _ = w;
    None
}

/// Op 57.
pub(super) fn decode57(w: u32) -> Option<Op> {
    match w & 3 {
        0 => super::fp::decode_lfdp(w),
        _ => None,
    }
}

/// Op 61.
pub(super) fn decode61(w: u32) -> Option<Op> {
    match w & 3 {
        0 => super::fp::decode_stfdp(w),
        _ => None,
    }
}
