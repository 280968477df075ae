//! Raw terminal mode for the guest console.

/// Puts the terminal on stdin into raw mode for its lifetime.
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Raw mode if stdin is a terminal; nothing otherwise.
    pub fn enable_if_tty() -> RawMode {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(0) } != 1 {
            return RawMode { saved: None };
        }
        // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is a terminal (checked above) and `t` is a valid termios.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return RawMode { saved: None };
        }
        let saved = t;
        // SAFETY: cfmakeraw edits the struct we own.
        unsafe { libc::cfmakeraw(&mut t) };
        // Keep output post-processing so the host terminal still maps \n to \r\n for
        // anything we print ourselves.
        t.c_oflag |= libc::OPOST;
        // SAFETY: fd 0 is a terminal and `t` a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the attributes read from the same terminal.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}
