//! virtio-net (placeholder, filled in by a later step).
