//! xics (placeholder).
