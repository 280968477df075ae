//! Generator entries for the floating-point, VMX and VSX families.
//!
//! This file belongs to the FP/vector work: add one [`Entry`] per instruction form (see
//! the interface in `gen.rs`). Cases must use `parts: Parts::Full` so that FPSCR, VSCR and
//! the 64 VSRs are loaded before and compared after each execution. The test
//! `diff_fpvec` runs these entries and is skipped (with a message) while the CPU does not
//! decode the FP/VSX instructions the test runtime itself needs to load and store that
//! state (`lfd`, `mtfsf`, `mffs`, `stfd`, `lxvd2x`, `stxvd2x`, `mtvscr`, `mfvscr`).

use super::generator::Entry;

/// All entries of this file.
pub fn entries() -> Vec<Entry> {
    Vec::new()
}
