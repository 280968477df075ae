//! Serializable TCE state (snapshot and migration).

use serde::{Deserialize, Serialize};

use crate::ddw::PeConfig;
use crate::types::DmaWindow;

/// Everything the TCE layer needs to resume: every table's window and non-zero entries, and
/// the PEs with their DDW configuration. Serialize it with serde (postcard in the project).
/// Windows are re-validated on restore, so a corrupted image is refused rather than trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TceState {
    /// Format version ([`TceState::VERSION`]).
    pub version: u32,
    /// Tables in LIOBN order.
    pub tables: Vec<TableState>,
    /// PEs (their slot tables appear in `tables`).
    pub pes: Vec<PeConfig>,
}

impl TceState {
    /// Current format version.
    pub const VERSION: u32 = 1;
}

/// One table: its window (`None` for a disabled DDW slot) and its non-zero entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableState {
    /// The LIOBN.
    pub liobn: u32,
    /// The window, if enabled.
    pub window: Option<DmaWindow>,
    /// Runs of consecutive non-zero entries, ascending.
    pub runs: Vec<TceRun>,
}

/// Consecutive entries starting at table index `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TceRun {
    /// Table index (not bus address) of the first entry.
    pub index: u64,
    /// The raw TCE values.
    pub tces: Vec<u64>,
}

impl TceRun {
    /// Groups `(index, tce)` pairs sorted by index into runs of consecutive indices.
    pub fn from_entries(entries: &[(u64, u64)]) -> Vec<TceRun> {
        let mut runs: Vec<TceRun> = Vec::new();
        for &(i, t) in entries {
            match runs.last_mut() {
                Some(r) if r.index.checked_add(r.tces.len() as u64) == Some(i) => r.tces.push(t),
                _ => runs.push(TceRun {
                    index: i,
                    tces: vec![t],
                }),
            }
        }
        runs
    }

    /// Number of entries in all `runs`.
    pub fn count(runs: &[TceRun]) -> u64 {
        runs.iter().map(|r| r.tces.len() as u64).sum()
    }
}
