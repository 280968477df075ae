//! 16-byte atomic load and compare-and-swap on guest RAM, for `lq`/`stq` and
//! `lqarx`/`stqcx.`.

/// Atomically loads 16 bytes at `p` (native order: the first 8 bytes in the low half).
///
/// # Safety
/// `p` must be 16-byte aligned and point into a live, writable guest RAM mapping.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn load(p: *mut u8) -> u128 {
    // `lock cmpxchg16b` with expected = new = 0 returns the current value atomically (and
    // writes back the same value if it happened to be 0).
    let (lo, hi): (u64, u64);
    // SAFETY: the caller guarantees alignment and validity; rbx is saved and restored
    // because LLVM may reserve it.
    unsafe {
        core::arch::asm!(
            "xchg {rbx_tmp}, rbx",
            "lock cmpxchg16b [{p}]",
            "xchg {rbx_tmp}, rbx",
            p = in(reg) p,
            rbx_tmp = inout(reg) 0u64 => _,
            inout("rax") 0u64 => lo,
            inout("rdx") 0u64 => hi,
            in("rcx") 0u64,
            options(nostack),
        );
    }
    (hi as u128) << 64 | lo as u128
}

/// Atomically replaces the 16 bytes at `p` with `new` if they equal `old`.
///
/// # Safety
/// As for [`load`].
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn cas(p: *mut u8, old: u128, new: u128) -> bool {
    let ok: u64;
    // SAFETY: as in `load`. The result is materialised in rcx (an operand of the
    // instruction, free after it) once rbx has been restored: LLVM may otherwise hand out
    // `bl` as an output register, which the restoring `xchg` would clobber.
    unsafe {
        core::arch::asm!(
            "xchg {rbx_tmp}, rbx",
            "lock cmpxchg16b [{p}]",
            "xchg {rbx_tmp}, rbx",
            "sete cl",
            "movzx ecx, cl",
            p = in(reg) p,
            rbx_tmp = inout(reg) new as u64 => _,
            inout("rax") old as u64 => _,
            inout("rdx") (old >> 64) as u64 => _,
            inout("rcx") (new >> 64) as u64 => ok,
            options(nostack),
        );
    }
    ok != 0
}

/// Atomically stores 16 bytes.
///
/// # Safety
/// As for [`load`].
pub(crate) unsafe fn store(p: *mut u8, v: u128) {
    loop {
        // SAFETY: forwarded contract.
        let cur = unsafe { load(p) };
        // SAFETY: forwarded contract.
        if unsafe { cas(p, cur, v) } {
            return;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Fallback for hosts without a 16-byte CAS: a global lock. Only atomic with respect to
/// other 16-byte operations.
///
/// # Safety
/// As for the x86_64 version.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn load(p: *mut u8) -> u128 {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: caller's contract.
    unsafe { std::ptr::read_volatile(p as *const u128) }
}

/// Fallback CAS (see [`load`]).
///
/// # Safety
/// As for the x86_64 version.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn cas(p: *mut u8, old: u128, new: u128) -> bool {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: caller's contract.
    unsafe {
        if std::ptr::read_volatile(p as *const u128) == old {
            std::ptr::write_volatile(p as *mut u128, new);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cas_and_load() {
        #[repr(align(16))]
        struct A([u8; 16]);
        let mut a = A([0; 16]);
        let p = a.0.as_mut_ptr();
        // SAFETY: `p` is 16-byte aligned and valid for the test's lifetime.
        unsafe {
            assert_eq!(super::load(p), 0);
            assert!(super::cas(p, 0, 0x1122_3344_5566_7788_99AA_BBCC_DDEE_FF00));
            assert!(!super::cas(p, 0, 5));
            assert_eq!(super::load(p), 0x1122_3344_5566_7788_99AA_BBCC_DDEE_FF00);
            super::store(p, 7);
            assert_eq!(super::load(p), 7);
        }
        assert_eq!(a.0[0], 7);
    }
}
