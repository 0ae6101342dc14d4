//! Keeping client-given paths inside their root, symlinks included.

use std::io;
use std::path::{Path, PathBuf};

/// Resolves `rel` (already checked to be relative without `..`) inside `root`
/// and returns the absolute path, when it stays inside the root after every
/// symlink on the way is followed. The last parts may not exist yet (an output
/// file); the part that exists is resolved by the OS.
pub fn resolve_inside(root: &Path, rel: &Path) -> Result<PathBuf, String> {
    let root = root.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "the parameter's root folder does not exist".to_string(),
        _ => format!("the parameter's root folder cannot be read ({})", e.kind()),
    })?;
    let wanted = root.join(rel);
    // The deepest ancestor that exists, resolved; the rest is appended as written.
    let mut existing = wanted.as_path();
    let mut rest = Vec::new();
    let resolved = loop {
        match existing.canonicalize() {
            Ok(p) => break p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A symlink whose target does not exist would be written through.
                if existing.symlink_metadata().is_ok() {
                    return Err(format!("'{}' goes through a symlink to nowhere", rel.display()));
                }
                let Some(parent) = existing.parent() else {
                    return Err("the path cannot be resolved".into());
                };
                rest.push(existing.file_name().unwrap_or_default().to_owned());
                existing = parent;
            }
            Err(e) => return Err(format!("the path cannot be resolved ({})", e.kind())),
        }
    };
    let full = rest.iter().rev().fold(resolved, |p, part| p.join(part));
    if full.starts_with(&root) {
        Ok(full)
    } else {
        Err(format!("'{}' leads outside its root", rel.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("cron.d/x"), root.join("dangling")).unwrap();
        let real_root = root.canonicalize().unwrap();
        assert_eq!(resolve_inside(&root, Path::new("sub/new.txt")).unwrap(), real_root.join("sub/new.txt"));
        assert_eq!(resolve_inside(&root, Path::new("a/b/c")).unwrap(), real_root.join("a/b/c"));
        assert!(resolve_inside(&root, Path::new("link")).unwrap_err().contains("outside"));
        assert!(resolve_inside(&root, Path::new("up/secret")).unwrap_err().contains("outside"));
        assert!(resolve_inside(&root, Path::new("up/new")).unwrap_err().contains("outside"));
        assert!(resolve_inside(&root, Path::new("dangling")).unwrap_err().contains("nowhere"));
        assert!(resolve_inside(&root, Path::new("dangling/deeper")).is_err());
        assert!(resolve_inside(&dir.path().join("none"), Path::new("x")).is_err());
    }
}
