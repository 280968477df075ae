//! spapr (placeholder).
