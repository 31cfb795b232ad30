//! Locks the process memory so key material is never written to swap. The only unsafe code in
//! hush: `mlockall` has no safe wrapper in the standard library.
#![allow(unsafe_code)]

/// Locks all current and future pages of the process in memory.
pub fn lock_all() -> std::io::Result<()> {
    // SAFETY: mlockall takes only flags, touches no Rust-visible memory, and reports failure
    // through its return value and errno.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
