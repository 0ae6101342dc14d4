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
    /// Xvfb alone.
    pub fn start() -> Desktop {
        // A display number no other test of this run picks: from a free port.
        let n = 200 + u32::from(free_port()) % 5000;
        let display = format!(":{n}");
        let xvfb = Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                &format!("{WIDTH}x{HEIGHT}x24"),
                "-nolisten",
                "tcp",
                "-noreset",
                "-wr",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (Debian: xvfb) is installed by scripts/test");
        let socket = format!("/tmp/.X11-unix/X{n}");
        wait("Xvfb's socket", Duration::from_secs(10), || {
            std::path::Path::new(&socket).exists().then_some(())
        });
        Desktop { display, vnc_port: None, xvfb, vnc: None }
    }

    /// Xvfb served by x11vnc (no password, loopback only).
    pub fn with_vnc() -> Desktop {
        let mut d = Desktop::start();
        let port = free_port();
        let vnc = Command::new("x11vnc")
            .args(["-display", &d.display, "-rfbport", &port.to_string(), "-localhost", "-nopw", "-forever"])
            .args(["-shared", "-quiet", "-noxdamage"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("x11vnc is installed by scripts/test");
        d.vnc = Some(vnc);
        wait("x11vnc to listen", Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(drop)
        });
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
