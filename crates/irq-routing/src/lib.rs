//! irq-routing (placeholder).
