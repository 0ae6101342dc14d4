//! Gives the heap back to the system after a burst of allocations.
//!
//! Start-up (config parsing, migrations, the OpenAPI document built as one big
//! string) and a knowledge scan (thousands of notes read and indexed on several
//! threads) allocate and free a lot at once; glibc keeps freed memory in its
//! arenas unless asked to return it, so an idle daemon would go on holding the
//! peak. Written by hand: one libc call.

/// Returns free heap memory to the kernel (glibc's `malloc_trim`; other C
/// libraries, such as musl, have no such call and keep what they keep).
pub fn give_back_heap() {
    #[cfg(target_env = "gnu")]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only hands free heap pages back to the kernel; no live
    // allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
