//! Eventfd identity and mode helpers.
//!
//! KVM refuses to bind one eventfd twice (`-EBUSY`) by comparing eventfd *objects*, so a
//! `dup()` of a bound eventfd is the same eventfd. All eventfds share one anonymous inode,
//! so `fstat` cannot tell them apart; Linux prints a per-object `eventfd-id` in
//! `/proc/self/fdinfo/<fd>` (also how we check the fd is an eventfd at all). Where that is
//! unavailable, `kcmp(KCMP_FILE)` compares open file descriptions, and failing that the fd
//! numbers are compared.

use std::os::unix::io::RawFd;

use crate::error::IrqfdError;

/// What we know about an eventfd's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdIdentity {
    /// The kernel's `eventfd-id`, when fdinfo shows one.
    pub(crate) id: Option<u64>,
}

/// Check that `fd` is an open eventfd and learn its identity.
pub(crate) fn probe(fd: RawFd) -> Result<FdIdentity, IrqfdError> {
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; an invalid fd yields -1/EBADF
    // and touches no memory.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if r < 0 {
        return Err(IrqfdError::BadFd);
    }
    match std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) {
        Ok(text) => {
            let mut is_eventfd = false;
            let mut id = None;
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("eventfd-count:") {
                    is_eventfd = !rest.trim().is_empty();
                } else if let Some(rest) = line.strip_prefix("eventfd-id:") {
                    id = rest.trim().parse::<u64>().ok();
                }
            }
            if !is_eventfd {
                return Err(IrqfdError::NotEventfd);
            }
            Ok(FdIdentity { id })
        }
        // No procfs: cannot check the type; identity falls back to kcmp.
        Err(_) => Ok(FdIdentity { id: None }),
    }
}

/// Whether `a` and `b` name the same eventfd object.
pub(crate) fn same(a: RawFd, a_id: FdIdentity, b: RawFd, b_id: FdIdentity) -> bool {
    if let (Some(x), Some(y)) = (a_id.id, b_id.id) {
        return x == y;
    }
    if a == b {
        return true;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp(KCMP_FILE) only compares two descriptors of our own process; it reads
    // no user memory. Errors are reported through the return value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid as libc::c_long,
            pid as libc::c_long,
            KCMP_FILE,
            a as libc::c_long,
            b as libc::c_long,
        )
    };
    r == 0
}

/// Put `fd` in non-blocking mode (shared by every dup of the same open file description).
pub(crate) fn set_nonblocking(fd: RawFd) -> Result<(), IrqfdError> {
    // SAFETY: F_GETFL reads the file status flags of `fd`; no memory is touched.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(IrqfdError::Io(std::io::Error::last_os_error()));
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: F_SETFL with an int argument sets the status flags of `fd`; no memory is
    // touched.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if r < 0 {
        return Err(IrqfdError::Io(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::io::AsRawFd;
    use vmm_sys_util::eventfd::EventFd;

    #[test]
    fn dup_is_same_distinct_is_not() {
        let a = EventFd::new(0).unwrap();
        let a2 = a.try_clone().unwrap();
        let b = EventFd::new(0).unwrap();
        let ia = probe(a.as_raw_fd()).unwrap();
        let ia2 = probe(a2.as_raw_fd()).unwrap();
        let ib = probe(b.as_raw_fd()).unwrap();
        assert!(same(a.as_raw_fd(), ia, a2.as_raw_fd(), ia2));
        assert!(!same(a.as_raw_fd(), ia, b.as_raw_fd(), ib));
        // The kcmp fallback agrees.
        let none = FdIdentity { id: None };
        assert!(same(a.as_raw_fd(), none, a2.as_raw_fd(), none));
        assert!(!same(a.as_raw_fd(), none, b.as_raw_fd(), none));
    }

    #[test]
    fn non_eventfds_are_refused() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert!(matches!(probe(f.as_raw_fd()), Err(IrqfdError::NotEventfd)));
        assert!(matches!(probe(-1), Err(IrqfdError::BadFd)));
    }

    #[test]
    fn nonblocking_is_set() {
        let a = EventFd::new(0).unwrap();
        set_nonblocking(a.as_raw_fd()).unwrap();
        // A read of an empty non-blocking eventfd returns EAGAIN instead of blocking.
        let e = a.read().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
}
