//! virtio-rng (virtio spec §5.4): fills the driver's buffers from the host's entropy source.

use std::fs::File;
use std::io::{self, Read, Write};

use virtio_queue::Queue;

use crate::{DmaMemory, VirtioDevice, device_type, drain_queue};

/// Most bytes given per request.
pub const MAX_PER_REQUEST: usize = 64 << 10;

/// A virtio entropy device reading `/dev/urandom`.
pub struct Rng {
    source: File,
    buf: Vec<u8>,
}

impl Rng {
    /// Opens the host entropy source.
    pub fn new() -> io::Result<Rng> {
        Ok(Rng {
            source: File::open("/dev/urandom")?,
            buf: vec![0; MAX_PER_REQUEST],
        })
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u32 {
        device_type::RNG
    }

    fn pci_class(&self) -> u32 {
        0x00_ff_00
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![64]
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn process_queue(&mut self, _index: usize, queue: &mut Queue, mem: &DmaMemory) -> bool {
        drain_queue(queue, mem, |chain| {
            let Ok(mut w) = chain.writer(mem) else {
                return 0;
            };
            let n = w.available_bytes().min(MAX_PER_REQUEST);
            if self.source.read_exact(&mut self.buf[..n]).is_err() {
                return 0;
            }
            match w.write_all(&self.buf[..n]) {
                Ok(()) => n as u32,
                Err(_) => 0,
            }
        })
    }
}
