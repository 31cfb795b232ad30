//! Locks the process memory so key material is never written to swap. The only unsafe code in
//! hush: `mlockall` has no safe wrapper in the standard library.
#![allow(unsafe_code)]

/// Locks every page of the process in memory once it is used, now and from now on.
///
/// `MCL_ONFAULT` (Linux 4.4) locks a page when it is first touched instead of faulting every
/// mapped page in at once: the allocator's reserved but unused arenas and thread stacks stay
/// unbacked, so the server starts at once and its resident memory is what it uses. Where the
/// kernel does not know the flag (EINVAL), every mapped page is locked at once, as before.
pub fn lock_all() -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: mlockall takes only flags, touches no Rust-visible memory, and reports
        // failure through its return value and errno.
        let rc =
            unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
    }
    // SAFETY: as above.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
