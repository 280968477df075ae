//! Executable memory for translated blocks: one shared-memory file mapped twice, a
//! writable view where code is copied and an executable view where it runs, so that no
//! page is ever writable and executable through the same mapping (W^X).

use std::ptr::NonNull;

/// A fixed-size code buffer filled front to back and emptied all at once.
pub(crate) struct CodeBuf {
    rw: NonNull<u8>,
    rx: NonNull<u8>,
    size: usize,
    used: usize,
    /// Bytes at the start kept by [`clear`](Self::clear) (shared routines).
    floor: usize,
}

// SAFETY: the buffer owns both mappings; nothing else aliases them, and the vCPU that owns
// it is the only one that writes or executes its code (moving it to another thread moves
// that ownership; the thread switch itself orders the writes before later execution).
unsafe impl Send for CodeBuf {}

impl CodeBuf {
    /// Maps `size` bytes (a multiple of the page size) twice. `near` is a hint: the
    /// executable view is placed close to it if possible, so that calls to the handlers
    /// can use 32-bit displacements.
    pub(crate) fn new(size: usize, near: usize) -> Option<CodeBuf> {
        // SAFETY: memfd_create takes a NUL-terminated name and flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"papr-hv-jit".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let ok = (|| {
            // SAFETY: `fd` is a valid descriptor we own.
            if unsafe { libc::ftruncate(fd, size as libc::off_t) } != 0 {
                return None;
            }
            // SAFETY: a new shared mapping of our own file; the result is checked.
            let rw = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if rw == libc::MAP_FAILED {
                return None;
            }
            // Hint an address below the handlers' text (the heap and other mappings grow
            // elsewhere); the kernel may ignore it.
            let hint = (near.saturating_sub(1 << 30) & !0xFFFF) as *mut libc::c_void;
            // SAFETY: as above; without MAP_FIXED the hint cannot replace any mapping.
            let rx = unsafe {
                libc::mmap(
                    hint,
                    size,
                    libc::PROT_READ | libc::PROT_EXEC,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if rx == libc::MAP_FAILED {
                // SAFETY: `rw` is the mapping of `size` bytes made above.
                unsafe { libc::munmap(rw, size) };
                return None;
            }
            Some((rw as *mut u8, rx as *mut u8))
        })();
        // SAFETY: the mappings keep the file alive; the descriptor is no longer needed.
        unsafe { libc::close(fd) };
        let (rw, rx) = ok?;
        Some(CodeBuf {
            rw: NonNull::new(rw)?,
            rx: NonNull::new(rx)?,
            size,
            used: 0,
            floor: 0,
        })
    }

    /// Executable address of the next byte to be written.
    pub(crate) fn next_addr(&self) -> usize {
        self.rx.as_ptr() as usize + self.used
    }

    /// Bytes left.
    pub(crate) fn room(&self) -> usize {
        self.size - self.used
    }

    /// Copies `code` (assembled for address [`next_addr`](Self::next_addr)) in and returns
    /// its executable address, or `None` if it does not fit.
    pub(crate) fn push(&mut self, code: &[u8]) -> Option<usize> {
        if code.len() > self.room() {
            return None;
        }
        let at = self.next_addr();
        // SAFETY: `used + len <= size`, so the copy stays inside the writable view, which
        // no Rust reference points into.
        unsafe {
            std::ptr::copy_nonoverlapping(
                code.as_ptr(),
                self.rw.as_ptr().add(self.used),
                code.len(),
            )
        };
        // Keep entry points 16-byte aligned.
        self.used = (self.used + code.len() + 15) & !15;
        self.used = self.used.min(self.size);
        Some(at)
    }

    /// Keeps everything pushed so far across [`clear`](Self::clear).
    pub(crate) fn keep(&mut self) {
        self.floor = self.used;
    }

    /// Forgets all code pushed since [`keep`](Self::keep) (the caller guarantees none of
    /// it runs again).
    pub(crate) fn clear(&mut self) {
        self.used = self.floor;
    }
}

impl Drop for CodeBuf {
    fn drop(&mut self) {
        // SAFETY: both views are mappings of `size` bytes made in `new` and owned by us.
        unsafe {
            libc::munmap(self.rw.as_ptr() as *mut libc::c_void, self.size);
            libc::munmap(self.rx.as_ptr() as *mut libc::c_void, self.size);
        }
    }
}
