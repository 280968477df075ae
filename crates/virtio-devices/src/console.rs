//! virtio-console with one port and no multiport (virtio spec §5.3).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use virtio_queue::{Queue, QueueT};

use crate::{DmaMemory, VirtioDevice, device_type, drain_queue};

/// Input waiting for the guest is capped at this many bytes (older bytes are kept, newer
/// ones dropped).
pub const INPUT_CAP: usize = 64 << 10;
const CHUNK: usize = 4096;

/// Host-side input of a console: push bytes, then kick the receive queue (0).
#[derive(Clone, Default)]
pub struct ConsoleInput(Arc<Mutex<VecDeque<u8>>>);

impl ConsoleInput {
    /// Queues bytes for the guest (up to [`INPUT_CAP`] pending).
    pub fn push(&self, data: &[u8]) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = INPUT_CAP.saturating_sub(q.len());
        q.extend(data.iter().take(room));
    }

    /// Bytes waiting.
    pub fn pending(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A virtio console: transmit goes to `output`, receive comes from a [`ConsoleInput`].
pub struct Console {
    output: Box<dyn Write + Send>,
    input: ConsoleInput,
    buf: Vec<u8>,
}

impl Console {
    /// A console writing the guest's output to `output`.
    pub fn new(output: Box<dyn Write + Send>) -> Console {
        Console {
            output,
            input: ConsoleInput::default(),
            buf: vec![0; CHUNK],
        }
    }

    /// The input handle.
    pub fn input(&self) -> ConsoleInput {
        self.input.clone()
    }
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u32 {
        device_type::CONSOLE
    }

    fn pci_class(&self) -> u32 {
        0x07_80_00
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![128, 128]
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // cols, rows, max_nr_ports, emerg_wr
        let mut c = [0u8; 12];
        c[4..8].copy_from_slice(&1u32.to_le_bytes());
        crate::config_slice(&c, offset, data);
    }

    fn process_queue(&mut self, index: usize, queue: &mut Queue, mem: &DmaMemory) -> bool {
        match index {
            0 => {
                let input = self.input.clone();
                let mut used = false;
                loop {
                    let mut q = input.0.lock().unwrap_or_else(|e| e.into_inner());
                    if q.is_empty() {
                        break;
                    }
                    let Some(chain) = queue.pop_descriptor_chain(mem) else {
                        break;
                    };
                    let head = chain.head_index();
                    let mut n = 0;
                    if let Ok(mut w) = chain.writer(mem) {
                        n = w.available_bytes().min(q.len());
                        let bytes: Vec<u8> = q.drain(..n).collect();
                        if w.write_all(&bytes).is_err() {
                            n = 0;
                        }
                    }
                    drop(q);
                    if queue.add_used(mem, head, n as u32).is_err() {
                        break;
                    }
                    used = true;
                }
                used
            }
            1 => drain_queue(queue, mem, |chain| {
                if let Ok(mut r) = chain.reader(mem) {
                    loop {
                        match r.read(&mut self.buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let _ = self.output.write_all(&self.buf[..n]);
                            }
                        }
                    }
                    let _ = self.output.flush();
                }
                0
            }),
            _ => false,
        }
    }
}
