//! A real X desktop for the computer tool and the VNC bridge: Xvfb on a free
//! display (a white root window: a drawn screen is not blank), and x11vnc serving
//! it on a free port of 127.0.0.1 (both Debian's).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait};

pub struct Desktop {
    /// Like ":123".
    pub display: String,
    /// The VNC server's port, when started with one.
    pub vnc_port: Option<u16>,
    xvfb: Child,
    vnc: Option<Child>,
}

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;

impl Desktop {
    /// Xvfb alone, on a display it picks itself (`-displayfd`: no two tests collide).
    pub fn start() -> Desktop {
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", &format!("{WIDTH}x{HEIGHT}x24")])
            .args(["-nolisten", "tcp", "-noreset", "-wr"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (Debian: xvfb) is installed by scripts/test");
        let n = first_line(xvfb.stdout.take().unwrap(), "Xvfb's display number");
        let display = format!(":{}", n.trim());
        let socket = format!("/tmp/.X11-unix/X{}", n.trim());
        wait("Xvfb's socket", Duration::from_secs(10), || {
            std::path::Path::new(&socket).exists().then_some(())
        });
        Desktop { display, vnc_port: None, xvfb, vnc: None }
    }

    /// Xvfb served by x11vnc (no password, loopback only), on a port it finds free.
    pub fn with_vnc() -> Desktop {
        let mut d = Desktop::start();
        let from = 20_000 + free_port() % 20_000;
        let mut vnc = Command::new("x11vnc")
            .args(["-display", &d.display, "-autoport", &from.to_string(), "-localhost", "-nopw", "-forever"])
            .args(["-shared", "-quiet", "-noxdamage"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("x11vnc is installed by scripts/test");
        // It prints PORT=NNNN once it listens.
        let line = first_line(vnc.stdout.take().unwrap(), "x11vnc's PORT= line");
        d.vnc = Some(vnc);
        let port: u16 = line.trim().strip_prefix("PORT=").and_then(|p| p.parse().ok()).expect("PORT=NNNN");
        d.vnc_port = Some(port);
        d
    }

    /// Runs xdotool on this display; its output.
    pub fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool").args(args).env("DISPLAY", &self.display).output().unwrap();
        assert!(out.status.success(), "xdotool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The first line a child writes to its stdout (within 20 s; the rest is drained).
fn first_line(out: std::process::ChildStdout, what: &str) -> String {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(out).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for _ in lines {}
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no {what} within 20 s"))
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if let Some(v) = &mut self.vnc {
            let _ = v.kill();
            let _ = v.wait();
        }
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}
