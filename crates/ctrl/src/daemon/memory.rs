//! Gives back the heap memory that only start-up needed.
//!
//! Start-up allocates and frees a lot once (config parsing, migrations, the
//! OpenAPI document built as one big string); glibc keeps freed memory in its
//! arenas unless asked to return it. Written by hand: one libc call.

/// Returns free heap memory to the kernel (glibc's `malloc_trim`; other C
/// libraries, such as musl, have no such call and keep what they keep).
pub fn release_startup_heap() {
    #[cfg(target_env = "gnu")]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only hands free heap pages back to the kernel; no live
    // allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
