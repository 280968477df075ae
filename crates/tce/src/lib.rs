//! tce (placeholder).
