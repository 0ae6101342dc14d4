//! Job output is kept for `KEEP_OUTPUT`, then removed: a schedule that runs every
//! minute must not fill the disk with a million small files.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long a job's output files are kept after they were last written.
pub const KEEP_OUTPUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Removes the output files in `dir` last written before `now - keep`, except
/// those of the jobs in `live`; returns how many were removed.
pub fn prune(dir: &Path, keep: Duration, now: SystemTime, live: &[i64]) -> io::Result<usize> {
    let Some(cutoff) = now.checked_sub(keep) else { return Ok(0) };
    let mut removed = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.split('.').next().and_then(|n| n.parse::<i64>().ok()) else { continue };
        if live.contains(&id) || !name.contains(".log") {
            continue;
        }
        if e.metadata()?.modified()? < cutoff {
            std::fs::remove_file(e.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_output_goes_and_live_or_recent_output_stays() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86400);
        for (name, age) in [
            ("1.stdout.log", 40),
            ("1.stderr.log.1", 40),
            ("2.stdout.log", 40),
            ("3.stdout.log", 2),
            ("notes.txt", 40),
        ] {
            let f = std::fs::File::create(dir.path().join(name)).unwrap();
            f.set_modified(now - day * age).unwrap();
        }
        assert_eq!(prune(dir.path(), day * 30, now, &[2]).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["2.stdout.log", "3.stdout.log", "notes.txt"]);
    }
}
