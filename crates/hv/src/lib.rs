//! hv (placeholder).
