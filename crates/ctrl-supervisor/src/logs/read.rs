//! Reading the last lines of a service's logs back, across rotated files.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ctrl_proto::{LogLine, LogStream};

use super::Stream;

/// Parses one stored line: `<ts> <stream> <text>` when timestamped, else the raw text.
fn parse_line(raw: &[u8], stream: Stream) -> LogLine {
    let text = String::from_utf8_lossy(raw);
    let mut parts = text.splitn(3, ' ');
    if let (Some(ts), Some(st), rest) = (parts.next(), parts.next(), parts.next())
        && (st == "stdout" || st == "stderr")
        && ts.len() >= 20
        && ts.ends_with('Z')
        && ts.as_bytes().get(10) == Some(&b'T')
    {
        return LogLine {
            ts: Some(ts.to_owned()),
            stream: st.to_owned(),
            line: rest.unwrap_or("").to_owned(),
        };
    }
    LogLine { ts: None, stream: stream.as_str().to_owned(), line: text.into_owned() }
}

/// The last `n` lines of both streams of `<dir>/<stem>.{stdout,stderr}.log`
/// (or one of them), merged in time order.
pub fn last_lines_of(dir: &Path, stem: &str, n: usize, which: LogStream) -> io::Result<Vec<LogLine>> {
    let wanted: &[Stream] = match which {
        LogStream::Stdout => &[Stream::Stdout],
        LogStream::Stderr => &[Stream::Stderr],
        LogStream::All => &[Stream::Stdout, Stream::Stderr],
    };
    let mut all = Vec::new();
    for s in wanted {
        all.extend(last_lines(&dir.join(format!("{stem}.{}.log", s.as_str())), *s, n)?);
    }
    all.sort_by(|a, b| a.ts.cmp(&b.ts));
    let skip = all.len().saturating_sub(n);
    Ok(all.split_off(skip))
}

/// The last `n` lines of `path` and, if it has fewer, of `path.1`, `path.2`, … (oldest first).
pub fn last_lines(path: &Path, stream: Stream, n: usize) -> io::Result<Vec<LogLine>> {
    let mut raw: Vec<Vec<u8>> = Vec::new();
    for i in 0.. {
        let p = if i == 0 { path.to_path_buf() } else { PathBuf::from(format!("{}.{i}", path.display())) };
        match tail_file(&p, n - raw.len()) {
            Ok(mut lines) => {
                lines.append(&mut raw);
                raw = lines;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        }
        if raw.len() >= n || i > 1000 {
            break;
        }
    }
    Ok(raw.iter().map(|l| parse_line(l, stream)).collect())
}

/// The last `n` lines of one file, read backwards in blocks: work and memory
/// grow with what is returned, not with the file.
fn tail_file(path: &Path, n: usize) -> io::Result<Vec<Vec<u8>>> {
    const BLOCK: u64 = 64 * 1024;
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if n == 0 || len == 0 {
        return Ok(Vec::new());
    }
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0usize;
    let mut pos = len;
    // n lines need n+1 newlines before them, unless the file starts first
    // (the file's own last newline ends the last line).
    while pos > 0 && newlines <= n {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block)?;
        newlines += block.iter().filter(|b| **b == b'\n').count();
        blocks.push(block);
        pos = start;
    }
    blocks.reverse();
    let data = blocks.concat();
    let body = data.strip_suffix(b"\n").unwrap_or(&data);
    // Newest first; when the read stopped inside the file, the oldest piece is
    // a partial line and the `take` leaves it out.
    let mut lines: Vec<Vec<u8>> = body.rsplit(|b| *b == b'\n').take(n).map(<[u8]>::to_vec).collect();
    lines.reverse();
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tail_across_blocks_and_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.stdout.log");
        let mut old = File::create(dir.path().join("a.stdout.log.1")).unwrap();
        for i in 0..50_000 {
            writeln!(old, "old {i}").unwrap();
        }
        let mut cur = File::create(&p).unwrap();
        writeln!(cur, "2026-11-21T21:51:35.123456Z stdout new 0").unwrap();
        writeln!(cur, "2026-11-21T21:51:35.123456Z stdout new 1").unwrap();
        let lines = last_lines(&p, Stream::Stdout, 4).unwrap();
        let text: Vec<_> = lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(text, ["old 49998", "old 49999", "new 0", "new 1"]);
        assert_eq!(lines[3].ts.as_deref(), Some("2026-11-21T21:51:35.123456Z"));
        assert_eq!(lines[0].ts, None);
        let all = last_lines(&p, Stream::Stdout, 100_000).unwrap();
        assert_eq!(all.len(), 50_002);
        assert_eq!(all[0].line, "old 0");
        assert!(last_lines(&dir.path().join("none.log"), Stream::Stdout, 5).unwrap().is_empty());
    }
}
