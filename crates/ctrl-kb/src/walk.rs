//! The files of a root: every file with an indexed extension, hidden folders
//! and files skipped, symlinks kept inside the root.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ctrl_core::config::KnowledgeConfig;

/// A file found under a root, with what decides whether to read it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its path under the root, `/`-separated.
    pub rel: String,
    /// Its size.
    pub bytes: u64,
    /// Its modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// What a walk of one root found.
#[derive(Debug, Default)]
pub struct Walked {
    /// The notes, sorted by path.
    pub found: Vec<Found>,
    /// What was passed over, with why (listed in the scan's result).
    pub skipped: Vec<(String, String)>,
    /// Paths that could not be read: what the store knows under them is kept.
    pub unreadable: Vec<String>,
}

/// Every indexed file under `root` (canonical), and what was passed over with why.
pub fn walk(root: &Path, config: &KnowledgeConfig) -> Walked {
    let mut w = Walked::default();
    let entries = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !hidden(e.file_name()));
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let at = e.path().map(|p| rel(root, p)).unwrap_or_default();
                w.skipped.push((at.clone(), e.io_error().map_or_else(|| e.to_string(), |io| io.to_string())));
                w.unreadable.push(at);
                continue;
            }
        };
        let path = entry.path();
        if entry.depth() == 0 || !indexed(path, config) {
            continue;
        }
        // Names are keys and paths to read back: one that is not UTF-8 cannot be both.
        if path.strip_prefix(root).map_or(true, |r| r.to_str().is_none()) {
            w.skipped.push((rel(root, path), "its name is not UTF-8; skipped".into()));
            continue;
        }
        let meta = if entry.path_is_symlink() {
            // A link is read only when it leads to a file inside the root.
            match path.canonicalize() {
                Ok(target) if target.starts_with(root) => match std::fs::metadata(&target) {
                    Ok(m) if m.is_file() => m,
                    _ => continue,
                },
                Ok(_) => {
                    w.skipped.push((rel(root, path), "a link to outside the root; not followed".into()));
                    continue;
                }
                Err(e) => {
                    w.skipped.push((rel(root, path), format!("a broken link: {e}")));
                    continue;
                }
            }
        } else if entry.file_type().is_file() {
            match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    w.skipped.push((rel(root, path), e.to_string()));
                    w.unreadable.push(rel(root, path));
                    continue;
                }
            }
        } else {
            continue;
        };
        w.found.push(Found { rel: rel(root, path), bytes: meta.len(), mtime_ns: mtime_ns(&meta) });
    }
    w
}

/// Whether `rel` is `dir` or inside it.
pub fn under(rel: &str, dir: &str) -> bool {
    dir.is_empty() || rel == dir || rel.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The stat of one file under `root`, if it is one the walk would list: no
/// hidden part, no folder reached through a link (the walk does not follow them).
/// `Ok(None)`: gone, or not a note; `Err`: there, but not readable now.
pub fn stat(root: &Path, rel_path: &str, config: &KnowledgeConfig) -> std::io::Result<Option<Found>> {
    let gone = |e: std::io::Error| if e.kind() == std::io::ErrorKind::NotFound { Ok(None) } else { Err(e) };
    let path = root.join(rel_path);
    if !indexed(&path, config) || rel_path.split('/').any(|c| c.is_empty() || c == ".." || c.starts_with('.'))
    {
        return Ok(None);
    }
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = rel_path.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) => return gone(e),
        }
    }
    let target = match path.canonicalize() {
        Ok(t) => t,
        Err(e) => return gone(e),
    };
    if !target.starts_with(root) {
        return Ok(None);
    }
    match std::fs::metadata(&target) {
        Ok(m) if m.is_file() => {
            Ok(Some(Found { rel: rel_path.to_owned(), bytes: m.len(), mtime_ns: mtime_ns(&m) }))
        }
        Ok(_) => Ok(None),
        Err(e) => gone(e),
    }
}

/// Why a note could not be read.
#[derive(Debug)]
pub enum Unreadable {
    /// Its path leads outside its root now (a link swapped in since the walk).
    Outside,
    /// The system said no.
    Io(std::io::Error),
}

/// At most `limit` bytes of `rel` under `root`, read only while its path still
/// leads inside the root (scans, snippets and the file view read through here).
pub fn read_inside(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, Unreadable> {
    use std::io::Read;
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(Unreadable::Outside);
    }
    let target = root.join(rel).canonicalize().map_err(Unreadable::Io)?;
    if !target.starts_with(root) {
        return Err(Unreadable::Outside);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&target)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .map_err(Unreadable::Io)?;
    Ok(bytes)
}

/// Hidden: a name starting with a dot (`.git`, `.obsidian`, editors' swap files).
pub fn hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Whether `path` has one of the indexed extensions.
pub fn indexed(path: &Path, config: &KnowledgeConfig) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| config.indexes(e))
}

/// `path` under `root`, `/`-separated (lossy for names that are not UTF-8).
pub fn rel(root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path);
    r.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The canonical form of each root; a root that does not exist is named, not fatal.
pub fn roots(config: &KnowledgeConfig) -> Vec<(PathBuf, Result<PathBuf, String>)> {
    config
        .roots
        .iter()
        .map(|r| (r.clone(), r.canonicalize().map_err(|e| format!("{}: {e}", r.display()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn under_is_by_whole_folders() {
        assert!(under("a/b.md", "a") && under("a", "a") && under("x", ""));
        assert!(!under("ab/c.md", "a"));
    }

    #[test]
    fn walks_inside_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("coder/notes")).unwrap();
        std::fs::create_dir_all(root.join(".obsidian")).unwrap();
        std::fs::write(root.join("coder/a.md"), "a").unwrap();
        std::fs::write(root.join("coder/notes/b.MD"), "bb").unwrap();
        std::fs::write(root.join("coder/c.png"), "x").unwrap();
        std::fs::write(root.join("coder/.hidden.md"), "x").unwrap();
        std::fs::write(root.join(".obsidian/d.md"), "x").unwrap();
        std::fs::write(outside.path().join("secret.md"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("coder/leak.md")).unwrap();
        std::os::unix::fs::symlink(root.join("coder/a.md"), root.join("coder/alias.md")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("coder"), root.join("via")).unwrap();
        std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.md")), "x").unwrap();
        let config = KnowledgeConfig::default();
        let Walked { found, skipped, unreadable } = walk(&root, &config);
        let names: Vec<_> = found.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, vec!["coder/a.md", "coder/alias.md", "coder/notes/b.MD"]);
        assert_eq!(found[2].bytes, 2);
        assert!(found[0].mtime_ns > 0);
        assert_eq!(
            skipped,
            vec![
                ("caf\u{fffd}.md".to_string(), "its name is not UTF-8; skipped".to_string()),
                ("coder/leak.md".to_string(), "a link to outside the root; not followed".to_string()),
            ]
        );
        assert!(unreadable.is_empty());
        assert_eq!(stat(&root, "via/a.md", &config).unwrap(), None, "not through a linked folder");
        let st = |rel: &str| stat(&root, rel, &config).unwrap();
        assert_eq!(st("coder/leak.md"), None);
        assert_eq!(st(".obsidian/d.md"), None);
        assert_eq!(st("coder/notes/b.MD").map(|f| f.bytes), Some(2));
        assert_eq!(st("../x.md"), None);
        assert_eq!(st("coder/gone.md"), None);
        assert_eq!(st("nowhere/gone.md"), None);
    }
}
