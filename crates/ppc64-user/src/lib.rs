//! ppc64-user (placeholder).
