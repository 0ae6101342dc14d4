//! Backups: an archive of a folder (tar + zstd, written by crates, no external
//! tar) or a dump command's output, into `<backups>/<target>/<time>.<ext>` with
//! a SHA-256 beside it; retention after each success; listing; restore.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use ctrl_core::JobStatus;
use ctrl_core::config::{BackupSource, Retention};
use ctrl_core::hex::hex;
use ctrl_proto::{BackupFile, BackupTarget};
use ctrl_store::JobEnd;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::exec::{self, Io, Reports, Sinks, failed};
use crate::jobs::Jobs;
use crate::plan::Exec;
use crate::run::stopped;

const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";
const PARTIAL: &str = ".partial";

/// A backup to make.
pub struct Make {
    /// The target folder's name.
    pub target: String,
    /// What to back up.
    pub source: BackupSource,
    /// The extension of a dump's output.
    pub ext: String,
    /// What to remove after a success.
    pub retention: Retention,
    /// The dump command's working directory.
    pub cwd: PathBuf,
    /// Its extra environment.
    pub env: std::collections::BTreeMap<String, String>,
    /// Who it runs as.
    pub account: crate::plan::Account,
}

/// A backup to restore.
pub struct Restore {
    /// The target folder's name.
    pub target: String,
    /// The backup's file name.
    pub file: String,
    /// Unpack the archive here…
    pub into: Option<PathBuf>,
    /// …or feed the file to this command.
    pub command: Option<Exec>,
}

/// A backup file name as listed: letters, digits, `-_.`, not hidden, not a checksum.
pub fn check_file_name(f: &str) -> Result<(), String> {
    let ok = !f.is_empty()
        && f.len() <= 255
        && !f.starts_with('.')
        && !f.ends_with(".sha256")
        && f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { Err(format!("'{}' is not a backup file name", f.escape_default())) }
}

/// A target name: the same rule as service names (`ctrl_core::config::valid_name`).
pub fn check_target(t: &str) -> Result<(), String> {
    if ctrl_core::config::valid_name(t) {
        Ok(())
    } else {
        Err(format!("'{}' is not a backup target", t.escape_default()))
    }
}

/// The path of a backup, checked by name and, resolved, inside the backups root.
pub fn file_path(root: &Path, target: &str, file: &str) -> Result<PathBuf, String> {
    check_target(target)?;
    check_file_name(file)?;
    let p = root.join(target).join(file);
    let real = p.canonicalize().map_err(|_| format!("no backup '{file}' in '{target}'"))?;
    let real_root = root.canonicalize().map_err(|_| "no backups yet".to_string())?;
    if !real.starts_with(&real_root) || !real.is_file() {
        return Err(format!("no backup '{file}' in '{target}'"));
    }
    Ok(real)
}

/// Every target folder with its count, size and newest backup.
pub fn targets(root: &Path) -> io::Result<Vec<BackupTarget>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type()?.is_dir() || check_target(&name).is_err() {
            continue;
        }
        let list = files(root, &name)?;
        out.push(BackupTarget {
            count: list.len() as u32,
            total_bytes: list.iter().map(|f| f.size_bytes).sum(),
            latest: list.first().map(|f| f.created_at),
            target: name,
        });
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}

/// The backups of one target, newest first.
pub fn files(root: &Path, target: &str) -> io::Result<Vec<BackupFile>> {
    check_target(target).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let dir = root.join(target);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = e.metadata()?;
        if !meta.is_file() || check_file_name(&name).is_err() {
            continue;
        }
        let sha256 = std::fs::read_to_string(dir.join(format!("{name}.sha256")))
            .ok()
            .and_then(|t| t.split_whitespace().next().map(str::to_owned));
        let mtime = meta.modified().map(DateTime::<Utc>::from).unwrap_or_default();
        out.push(BackupFile {
            created_at: made_at(&name).unwrap_or(mtime),
            size_bytes: meta.len(),
            sha256,
            name,
        });
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.name.cmp(&a.name)));
    Ok(out)
}

/// When a backup was made, from its name; the `-N` of a second backup in the
/// same second counts as N-1 milliseconds, so the order of names is kept.
fn made_at(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.get(..19)?;
    let at = NaiveDateTime::parse_from_str(stamp, TIME_FORMAT).ok()?.and_utc();
    let n: i64 = name[19..]
        .strip_prefix('-')
        .and_then(|r| r.split('.').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(1);
    Some(at + chrono::Duration::milliseconds(n.clamp(1, 999) - 1))
}

/// Makes a backup; retention runs after it succeeded.
pub async fn make(
    jobs: &Jobs,
    id: i64,
    m: Make,
    timeout: Duration,
    sinks: &Sinks,
    reports: &Arc<Reports>,
    cancel: watch::Receiver<bool>,
) -> (JobStatus, JobEnd) {
    let dir = jobs.backups_dir().join(&m.target);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return failed(&format!("cannot create the backup folder ({})", e.kind()));
    }
    let ext = if m.source.path.is_some() { "tar.zst".to_string() } else { m.ext.clone() };
    let name = free_name(&dir, &ext);
    let partial = dir.join(format!(".{name}{PARTIAL}"));
    let made = match (&m.source.path, &m.source.command) {
        (Some(src), _) => {
            // The folder's name only: viewers read job output, and full paths are internal.
            let shown = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            sinks.note(&format!("archiving {shown} into {}/{name}", m.target));
            archive(src.clone(), partial.clone(), timeout, reports.clone(), cancel).await
        }
        (None, Some(cmd)) => {
            let exec = Exec {
                argv: cmd.argv().unwrap_or_default(),
                cwd: m.cwd.clone(),
                env: m.env.clone(),
                account: m.account.clone(),
            };
            sinks.note(&format!("dumping into {}/{name}", m.target));
            dump(&exec, &partial, id, timeout, sinks, reports, cancel).await
        }
        (None, None) => Err(failed("the backup has no source")),
    };
    let (size, digest) = match made {
        Ok(done) => done,
        Err(end) => {
            let _ = std::fs::remove_file(&partial);
            return end;
        }
    };
    let final_path = dir.join(&name);
    let sums = format!("{digest}  {name}\n");
    if let Err(e) = std::fs::write(dir.join(format!("{name}.sha256")), sums)
        .and_then(|_| std::fs::rename(&partial, &final_path))
    {
        let _ = std::fs::remove_file(&partial);
        return failed(&format!("cannot store the backup ({})", e.kind()));
    }
    sinks.note(&format!("wrote {name}: {size} bytes, sha256 {digest}"));
    let removed = apply_retention(&dir, &m.target, &m.retention, &ext, &name, sinks);
    let result = serde_json::json!({
        "target": m.target, "file": name, "size_bytes": size, "sha256": digest, "removed": removed,
    });
    (JobStatus::Succeeded, JobEnd { exit_code: Some(0), result: Some(result), ..JobEnd::default() })
}

/// `2026-11-22_02-00-00.tar.zst`, or `…-2.tar.zst` when two land in one second.
/// The name is reserved by creating its `.partial` file, so two backups of one
/// target in the same second cannot pick the same one.
fn free_name(dir: &Path, ext: &str) -> String {
    let stamp = Utc::now().format(TIME_FORMAT).to_string();
    (1..1000)
        .map(|n| if n == 1 { format!("{stamp}.{ext}") } else { format!("{stamp}-{n}.{ext}") })
        .find(|n| {
            !dir.join(n).exists()
                && std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(dir.join(format!(".{n}{PARTIAL}")))
                    .is_ok()
        })
        .unwrap_or_else(|| format!("{stamp}-{}.{ext}", std::process::id()))
}

/// Removes what the policy says, with each file's checksum; returns the removed names.
/// Only backups with this action's extension count (another action may share the
/// target, or a person may have put a file there), and the one just made is never removed.
fn apply_retention(
    dir: &Path,
    target: &str,
    policy: &Retention,
    ext: &str,
    made: &str,
    sinks: &Sinks,
) -> Vec<String> {
    if policy.keep.is_none() && policy.max_age.is_none() {
        return Vec::new();
    }
    let root = dir.parent().unwrap_or(dir);
    let Ok(list) = files(root, target) else { return Vec::new() };
    let ours = |n: &str| n.ends_with(&format!(".{ext}")) && made_at(n).is_some();
    let dated: Vec<(String, DateTime<Utc>)> =
        list.into_iter().filter(|f| ours(&f.name)).map(|f| (f.name, f.created_at)).collect();
    let mut removed = Vec::new();
    for name in ctrl_core::job::expired(&dated, Utc::now(), policy).into_iter().filter(|n| *n != made) {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {
                let _ = std::fs::remove_file(dir.join(format!("{name}.sha256")));
                sinks.note(&format!("retention: removed {name}"));
                removed.push(name.to_owned());
            }
            Err(e) => sinks.note(&format!("retention: cannot remove {name} ({})", e.kind())),
        }
    }
    removed
}

type Made = Result<(u64, String), (JobStatus, JobEnd)>;

/// A dump: the command's standard output is the backup.
async fn dump(
    exec: &Exec,
    partial: &Path,
    id: i64,
    timeout: Duration,
    sinks: &Sinks,
    reports: &Arc<Reports>,
    cancel: watch::Receiver<bool>,
) -> Made {
    let file = File::create(partial)
        .map_err(|e| failed(&format!("cannot create the backup file ({})", e.kind())))?;
    let io = Io { stdin: None, stdout: Some(file) };
    let (status, end) = exec::run(exec, io, id, timeout, sinks, reports, cancel).await;
    if status != JobStatus::Succeeded {
        return Err((status, end));
    }
    let p = partial.to_path_buf();
    let hashed = tokio::task::spawn_blocking(move || -> io::Result<(u64, String)> {
        let mut f = File::open(p)?;
        let mut h = HashWriter { inner: io::sink(), hash: Sha256::new(), written: 0 };
        io::copy(&mut f, &mut h)?;
        Ok((h.written, hex(&h.hash.finalize())))
    })
    .await;
    match hashed {
        Ok(Ok(done)) => Ok(done),
        _ => Err(failed("cannot read the dump back to hash it")),
    }
}

/// An archive of `src` (a folder or a file), made on a blocking thread.
async fn archive(
    src: PathBuf,
    partial: PathBuf,
    timeout: Duration,
    reports: Arc<Reports>,
    cancel: watch::Receiver<bool>,
) -> Made {
    on_thread(timeout, cancel, "archive", move |stop| write_archive(&src, &partial, stop, &reports)).await
}

/// Runs `work` on a blocking thread; a timeout or a cancel raises its stop
/// flag, which it checks at every block, and waits for it to notice.
async fn on_thread<T: Send + 'static>(
    timeout: Duration,
    cancel: watch::Receiver<bool>,
    what: &'static str,
    work: impl FnOnce(&AtomicBool) -> io::Result<T> + Send + 'static,
) -> Result<T, (JobStatus, JobEnd)> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut task = tokio::task::spawn_blocking(move || work(&flag));
    match crate::run::bounded(timeout, cancel, &mut task).await {
        Ok(Ok(Ok(v))) => Ok(v),
        // The kind only: the tar crate's messages carry full paths, and viewers read job output.
        Ok(Ok(Err(e))) => Err(failed(&format!("cannot {what}: {}", e.kind()))),
        Ok(Err(_)) => Err(failed(&format!("the {what} task stopped unexpectedly"))),
        Err(s) => {
            stop.store(true, Ordering::SeqCst);
            let _ = task.await;
            Err(stopped(s))
        }
    }
}

fn write_archive(
    src: &Path,
    partial: &Path,
    stop: &AtomicBool,
    reports: &Reports,
) -> io::Result<(u64, String)> {
    let meta = std::fs::metadata(src)?;
    let total = if meta.is_dir() { tree_size(src)? } else { meta.len() };
    let file = BufWriter::with_capacity(256 * 1024, File::create(partial)?);
    let hashing = HashWriter { inner: file, hash: Sha256::new(), written: 0 };
    let encoder = zstd::Encoder::new(hashing, 3)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    let progress = Progress { done: AtomicU64::new(0), total, stop, reports };
    if meta.is_dir() {
        add_tree(&mut tar, src, Path::new(""), &progress)?;
    } else {
        let name = src.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("file"));
        add_file(&mut tar, src, &name, &meta, &progress)?;
    }
    let encoder = tar.into_inner()?;
    let mut hashing = encoder.finish()?;
    hashing.flush()?;
    hashing.inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((hashing.written, hex(&hashing.hash.finalize())))
}

fn tree_size(dir: &Path) -> io::Result<u64> {
    let mut sum = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            sum += tree_size(&e.path())?;
        } else if t.is_file() {
            sum += e.metadata()?.len();
        }
    }
    Ok(sum)
}

struct Progress<'a> {
    done: AtomicU64,
    total: u64,
    stop: &'a AtomicBool,
    reports: &'a Reports,
}

impl Progress<'_> {
    fn add(&self, n: u64) -> io::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            // Not `Interrupted`: copy loops retry those, and the stop would never land.
            return Err(io::Error::other("stopped"));
        }
        let before = self.done.fetch_add(n, Ordering::Relaxed);
        let (old, new) = (percent(before, self.total), percent(before + n, self.total));
        if old.floor() != new.floor() {
            self.reports.progress.send_replace(Some((new.floor(), None)));
        }
        Ok(())
    }
}

fn percent(done: u64, total: u64) -> f64 {
    if total == 0 { 100.0 } else { (done as f64 / total as f64 * 100.0).min(100.0) }
}

type Tar = tar::Builder<zstd::Encoder<'static, HashWriter<BufWriter<File>>>>;

/// Adds a folder's entries in name order (reproducible archives), never following symlinks.
fn add_tree(tar: &mut Tar, dir: &Path, rel: &Path, progress: &Progress) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = rel.join(e.file_name());
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            tar.append_dir(&name, &path)?;
            add_tree(tar, &path, &name, progress)?;
        } else if meta.is_file() {
            add_file(tar, &path, &name, &meta, progress)?;
        } else if meta.file_type().is_symlink() {
            tar.append_path_with_name(&path, &name)?;
        }
    }
    Ok(())
}

fn add_file(
    tar: &mut Tar,
    path: &Path,
    name: &Path,
    meta: &std::fs::Metadata,
    progress: &Progress,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata(meta);
    // Exactly the size the header announces, whatever the file does meanwhile: a
    // file that grows is cut, one that shrinks is padded with zeros. Otherwise
    // every later entry of the archive would be misaligned.
    let exact = File::open(path)?.take(meta.len()).chain(io::repeat(0)).take(meta.len());
    let reader = Counted { inner: exact, progress };
    tar.append_data(&mut header, name, reader)
}

/// A reader that reports progress and stops when told.
struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress<'a>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64)?;
        Ok(n)
    }
}

/// Hashes what passes through: the checksum is of the file's bytes as written.
struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Restores a backup: its checksum is verified first, then the archive is
/// unpacked (entries that would land outside the folder are refused by the
/// tar crate) or the file is fed to the command.
pub async fn restore(
    jobs: &Jobs,
    id: i64,
    r: Restore,
    timeout: Duration,
    sinks: &Sinks,
    reports: &Arc<Reports>,
    cancel: watch::Receiver<bool>,
) -> (JobStatus, JobEnd) {
    let path = match file_path(jobs.backups_dir(), &r.target, &r.file) {
        Ok(p) => p,
        Err(e) => return failed(&e),
    };
    let check = path.clone();
    let expected = std::fs::read_to_string(path.with_file_name(format!("{}.sha256", r.file))).ok();
    let verified = tokio::task::spawn_blocking(move || verify(&check, expected.as_deref())).await;
    match verified {
        Ok(Ok(true)) => sinks.note(&format!("{}: checksum verified", r.file)),
        Ok(Ok(false)) => sinks.note(&format!("{}: no checksum beside it; restoring unverified", r.file)),
        Ok(Err(e)) => return failed(&e),
        Err(_) => return failed("the checksum check stopped unexpectedly"),
    }
    if let Some(exec) = &r.command {
        let io = Io { stdin: Some(path), stdout: None };
        return exec::run(exec, io, id, timeout, sinks, reports, cancel).await;
    }
    let Some(into) = r.into else { return failed("the restore has neither a folder nor a command") };
    let shown = into.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    sinks.note(&format!("unpacking {} into {shown}", r.file));
    let rep = reports.clone();
    match on_thread(timeout, cancel, "unpack", move |stop| unpack(&path, &into, stop, &rep)).await {
        Ok(()) => {
            let result = serde_json::json!({"target": r.target, "file": r.file});
            (JobStatus::Succeeded, JobEnd { exit_code: Some(0), result: Some(result), ..JobEnd::default() })
        }
        Err(end) => end,
    }
}

/// Compares the file's SHA-256 with the one written beside it; false when there is none.
fn verify(path: &Path, expected: Option<&str>) -> Result<bool, String> {
    let Some(expected) = expected.and_then(|t| t.split_whitespace().next()) else { return Ok(false) };
    let mut f = File::open(path).map_err(|e| format!("cannot read the backup ({})", e.kind()))?;
    let mut h = HashWriter { inner: io::sink(), hash: Sha256::new(), written: 0 };
    io::copy(&mut f, &mut h).map_err(|e| format!("cannot read the backup ({})", e.kind()))?;
    let actual = hex(&h.hash.finalize());
    if actual != expected {
        return Err(format!(
            "checksum mismatch: the file's SHA-256 is {actual}, not {expected}; not restoring"
        ));
    }
    Ok(true)
}

fn unpack(path: &Path, into: &Path, stop: &AtomicBool, reports: &Reports) -> io::Result<()> {
    std::fs::create_dir_all(into)?;
    let size = std::fs::metadata(path)?.len();
    let progress = Progress { done: AtomicU64::new(0), total: size, stop, reports };
    let reader = Counted { inner: File::open(path)?, progress: &progress };
    let mut archive = tar::Archive::new(zstd::Decoder::new(reader)?);
    archive.set_overwrite(true);
    archive.unpack(into)
}
