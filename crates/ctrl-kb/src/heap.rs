//! Gives the heap a scan freed back to the system.
//!
//! A scan reads, parses and indexes thousands of notes on several threads; glibc
//! keeps what they freed in per-thread arenas, so an idle daemon would go on
//! holding the peak of its last scan. Written by hand: one libc call.

/// Returns free heap memory to the kernel (glibc's `malloc_trim`; other C
/// libraries keep what they keep).
pub(crate) fn give_back() {
    #[cfg(target_env = "gnu")]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only hands free heap pages back to the kernel; no live
    // allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
