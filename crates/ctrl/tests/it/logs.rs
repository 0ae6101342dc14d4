//! Log capture: no loss under a flood, rotation, raw bytes, reading back, following.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

#[test]
fn a_million_lines_are_captured_without_loss_across_rotations() {
    let d = Daemon::start(&format!(
        "[services.flood]\ncommand = [\"python3\", \"{}\", \"1000000\"]\nrestart = \"never\"\n\
         log = {{ max_size = \"4MB\", keep = 40 }}\n",
        fixture("lines.py")
    ));
    d.wait_status("flood", "completed", Duration::from_secs(60));
    // Completed means the process exited; the pipe may still be draining into the file.
    let logs = d.path("state/logs");
    let read_all = || {
        let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_owned();
                let rest = name.strip_prefix("flood.stdout.log")?;
                let n = if rest.is_empty() { 0 } else { rest.strip_prefix('.')?.parse().ok()? };
                Some((n, p))
            })
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut text = Vec::new();
        for (_, p) in &files {
            text.extend(std::fs::read(p).unwrap());
        }
        (files.len(), text)
    };
    let (count, text) = wait("all lines in the files", Duration::from_secs(30), || {
        let (count, text) = read_all();
        text.ends_with(b"line 0999999 payload\n").then_some((count, text))
    });
    assert!(count >= 10, "expected rotation into many files, got {count}");
    for f in std::fs::read_dir(&logs).unwrap().flatten() {
        assert!(f.metadata().unwrap().len() <= 4 << 20, "{:?} is over max_size", f.path());
    }
    let mut expected = 0u32;
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line = std::str::from_utf8(line).unwrap();
        let mut parts = line.splitn(3, ' ');
        let (ts, stream, body) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        assert!(ts.ends_with('Z') && ts.len() == 27, "bad timestamp in {line:?}");
        assert_eq!(stream, "stdout");
        assert_eq!(body, format!("line {expected:07} payload"), "lost or reordered line");
        expected += 1;
    }
    assert_eq!(expected, 1_000_000);
    // stderr, with its final partial line completed.
    let err = std::fs::read_to_string(logs.join("flood.stderr.log")).unwrap();
    let bodies: Vec<&str> = err.lines().map(|l| l.splitn(3, ' ').nth(2).unwrap()).collect();
    assert_eq!(bodies, ["done on stderr", "partial without newline"]);
    // Reading back through the CLI, per stream and merged in time order.
    let body = |out: String| -> Vec<String> {
        out.lines().map(|l| l.splitn(3, ' ').nth(2).unwrap().to_owned()).collect()
    };
    assert_eq!(
        body(d.ok(&["logs", "flood", "-n", "2", "--stream", "stdout"])),
        ["line 0999998 payload", "line 0999999 payload"]
    );
    assert_eq!(
        body(d.ok(&["logs", "flood", "-n", "5", "--stream", "stderr"])),
        ["done on stderr", "partial without newline"]
    );
    let merged = d.ok(&["logs", "flood", "-n", "50"]);
    let stamps: Vec<&str> = merged.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(stamps.len(), 50);
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "merged lines out of time order");
}

#[test]
fn raw_format_keeps_the_childs_exact_bytes() {
    let d = Daemon::start(
        "[services.bytes]\ncommand = [\"sh\", \"-c\", \"printf 'caf\\\\303\\\\251 \\\\377\\\\376 bad utf8\\\\nno newline at end'\"]\n\
         restart = \"never\"\nlog = { format = \"raw\", max_size = \"0\" }\n",
    );
    d.wait_status("bytes", "completed", Duration::from_secs(10));
    let path = d.path("state/logs/bytes.stdout.log");
    let want: &[u8] = b"caf\xc3\xa9 \xff\xfe bad utf8\nno newline at end";
    let got = wait("the raw bytes", Duration::from_secs(5), || {
        std::fs::read(&path).ok().filter(|b| b.len() >= want.len())
    });
    assert_eq!(got, want);
    let shown = d.ok(&["logs", "bytes", "--json"]);
    let lines: Vec<serde_json::Value> = shown.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["line"], "café \u{fffd}\u{fffd} bad utf8");
    assert_eq!(lines[0]["ts"], serde_json::Value::Null);
    assert_eq!(lines[1]["line"], "no newline at end");
}

#[test]
fn follow_streams_new_lines() {
    let d = Daemon::start(
        "[services.ticker]\ncommand = [\"sh\", \"-c\", \"i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done\"]\n",
    );
    d.wait_status("ticker", "running", Duration::from_secs(5));
    let mut follower = Command::new(BIN)
        .args(["logs", "ticker", "-f", "-n", "1", "--config"])
        .arg(&d.config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follower.stdout.take().unwrap());
    let mut seen = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(std::mem::take(&mut line));
        }
    });
    while seen.len() < 6 {
        let line = rx.recv_timeout(Duration::from_secs(5)).expect("a followed line");
        let n: u32 = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
        seen.push(n);
    }
    follower.kill().unwrap();
    let _ = follower.wait();
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "lines missing or repeated between history and follow: {seen:?}");
    }
}
