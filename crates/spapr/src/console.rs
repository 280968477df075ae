//! The hypervisor virtual terminal (hvterm, `/vdevice/vty@71000000`): H_PUT_TERM_CHAR and
//! H_GET_TERM_CHAR, with output to a host writer and input from a host reader thread.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Bound on buffered input: input beyond it is dropped (the guest polls; a host that types
/// faster than the guest reads loses keystrokes rather than memory).
const INPUT_LIMIT: usize = 1 << 20;

/// Where console output goes.
pub type Output = Box<dyn Write + Send>;

/// The console device.
pub struct Console {
    out: Mutex<Output>,
    input: Mutex<VecDeque<u8>>,
    /// Copy of everything written, if capture is on (tests and the boot benchmark).
    capture: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Console {
    /// A console writing to `out`; `capture` receives a copy of the output.
    pub fn new(out: Output, capture: Option<Arc<Mutex<Vec<u8>>>>) -> Self {
        Console {
            out: Mutex::new(out),
            input: Mutex::new(VecDeque::new()),
            capture,
        }
    }

    /// Writes guest output.
    pub fn write(&self, data: &[u8]) {
        if let Some(c) = &self.capture {
            c.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(data);
        }
        let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = o.write_all(data);
        let _ = o.flush();
    }

    /// Queues host input for the guest.
    pub fn push_input(&self, data: &[u8]) {
        let mut q = self.input.lock().unwrap_or_else(|e| e.into_inner());
        for &b in data {
            if q.len() >= INPUT_LIMIT {
                break;
            }
            q.push_back(b);
        }
    }

    /// Takes up to `max` bytes of input.
    pub fn read(&self, max: usize) -> Vec<u8> {
        let mut q = self.input.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(max);
        q.drain(..n).collect()
    }
}

/// Packs up to 16 bytes into two registers, big-endian (byte 0 is the MSB of the first).
pub fn pack16(data: &[u8]) -> (u64, u64) {
    let mut b = [0u8; 16];
    let n = data.len().min(16);
    b[..n].copy_from_slice(&data[..n]);
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&b[..8]);
    lo.copy_from_slice(&b[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// Unpacks `len` bytes from two registers.
pub fn unpack16(len: usize, r1: u64, r2: u64) -> Vec<u8> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&r1.to_be_bytes());
    b[8..].copy_from_slice(&r2.to_be_bytes());
    b[..len.min(16)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing() {
        let (a, b) = pack16(b"Hello, world!");
        assert_eq!(a, u64::from_be_bytes(*b"Hello, w"));
        assert_eq!(unpack16(13, a, b), b"Hello, world!");
    }

    #[test]
    fn input_is_bounded() {
        let c = Console::new(Box::new(std::io::sink()), None);
        c.push_input(&vec![b'x'; INPUT_LIMIT + 10]);
        let mut n = 0;
        loop {
            let r = c.read(16);
            if r.is_empty() {
                break;
            }
            n += r.len();
        }
        assert_eq!(n, INPUT_LIMIT);
    }
}
