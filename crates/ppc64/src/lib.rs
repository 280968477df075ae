//! ppc64 (placeholder).
