//! The index's files read with `pread` instead of mmap.
//!
//! tantivy's `MmapDirectory` maps every segment file; a merge reads whole segments
//! through those maps, and each page it touches stays resident in the daemon for
//! as long as the file is mapped: up to 190 MiB while indexing 100,000 notes,
//! measured. Here reads copy the byte ranges asked for into the heap, which is
//! given back when they are done with; writes, locks, deletes and the meta file
//! are `MmapDirectory`'s own.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback, WatchHandle,
    WritePtr,
};

/// `MmapDirectory` for everything but reading segment files.
#[derive(Clone, Debug)]
pub struct ReadDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl ReadDirectory {
    /// The directory at `root` (it must exist).
    pub fn open(root: &Path) -> Result<ReadDirectory, tantivy::directory::error::OpenDirectoryError> {
        Ok(ReadDirectory { inner: MmapDirectory::open(root)?, root: root.to_path_buf() })
    }
}

/// One open file, read by range.
#[derive(Debug)]
struct Handle {
    file: File,
    len: usize,
}

impl HasLen for Handle {
    fn len(&self) -> usize {
        self.len
    }
}

impl FileHandle for Handle {
    fn read_bytes(&self, range: Range<usize>) -> std::io::Result<OwnedBytes> {
        let mut buf = vec![0; range.len()];
        self.file.read_exact_at(&mut buf, range.start as u64)?;
        Ok(OwnedBytes::new(buf))
    }
}

impl Directory for ReadDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_path_buf()),
            _ => OpenReadError::wrap_io_error(e, path.to_path_buf()),
        })?;
        let len = file.metadata().map_err(|e| OpenReadError::wrap_io_error(e, path.to_path_buf()))?.len();
        Ok(Arc::new(Handle { file, len: len as usize }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}
