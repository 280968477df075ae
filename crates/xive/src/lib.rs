//! xive (placeholder).
