//! The `computer` family: screenshots, mouse and keyboard on the X display of
//! `[agent.computer]`, through `scrot` and `xdotool` run directly (never a shell:
//! typed text is one argument, after `--`).

use std::process::Stdio;

use base64::Engine;
use ctrl_core::Role;
use serde_json::Value;

use super::{Outcome, Toolbox};

/// The largest screenshot taken (a 4K desktop as PNG is well under this).
const MAX_PNG: usize = 32 * 1024 * 1024;
/// The most text typed at once.
const MAX_TYPED: usize = 4096;

/// Runs one `computer_*` tool.
pub async fn run(tb: &Toolbox<'_>, name: &str, args: &Value) -> Outcome {
    let Some(display) = tb.config.computer.as_ref().map(|c| c.display.as_str()) else {
        return Outcome::error("there is no [agent.computer] display");
    };
    if !tb.principal.role.allows(Role::Operator) {
        return Outcome::error(format!(
            "refused (403): your role ({}) cannot use the computer; it needs operator",
            tb.principal.role
        ));
    }
    let done = match name {
        "computer_screenshot" => return screenshot(display).await,
        "computer_move" => match point(args) {
            Ok((x, y)) => xdotool(display, &["mousemove".into(), x.to_string(), y.to_string()]).await,
            Err(e) => Err(e),
        },
        "computer_click" => click(display, args).await,
        "computer_type" => match args["text"].as_str() {
            Some(t) if t.len() <= MAX_TYPED => {
                xdotool(display, &["type".into(), "--delay".into(), "12".into(), "--".into(), t.into()]).await
            }
            Some(_) => Err(format!("at most {MAX_TYPED} bytes of text at once")),
            None => Err("the argument 'text' (a string) is required".into()),
        },
        "computer_key" => match args["keys"].as_str().map(str::split_whitespace) {
            Some(keys) => {
                let mut argv = vec!["key".to_string(), "--".to_string()];
                argv.extend(keys.map(str::to_owned));
                if argv.len() == 2 {
                    Err("name at least one key".into())
                } else {
                    xdotool(display, &argv).await
                }
            }
            None => Err("the argument 'keys' (a string) is required".into()),
        },
        other => Err(format!("there is no tool '{other}'")),
    };
    match done {
        Ok(()) => Outcome::ok(format!("done: {name}")),
        Err(e) => Outcome::error(e),
    }
}

fn point(args: &Value) -> Result<(u64, u64), String> {
    match (args["x"].as_u64(), args["y"].as_u64()) {
        (Some(x), Some(y)) if x < 100_000 && y < 100_000 => Ok((x, y)),
        _ => Err("'x' and 'y' must be whole numbers of pixels".into()),
    }
}

async fn click(display: &str, args: &Value) -> Result<(), String> {
    let button = match args["button"].as_str().unwrap_or("left") {
        "left" => "1",
        "middle" => "2",
        "right" => "3",
        other => return Err(format!("'{other}' is not a button: left, middle or right")),
    };
    let mut argv: Vec<String> = Vec::new();
    if !args["x"].is_null() || !args["y"].is_null() {
        let (x, y) = point(args)?;
        argv.extend(["mousemove".into(), x.to_string(), y.to_string()]);
    }
    argv.push("click".into());
    if args["double"].as_bool() == Some(true) {
        argv.extend(["--repeat".into(), "2".into()]);
    }
    argv.push(button.into());
    xdotool(display, &argv).await
}

async fn xdotool(display: &str, argv: &[String]) -> Result<(), String> {
    let out = run_program("xdotool", display, argv).await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("xdotool failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

async fn screenshot(display: &str) -> Outcome {
    let out = match run_program("scrot", display, &["--silent".into(), "-".into()]).await {
        Ok(o) => o,
        Err(e) => return Outcome::error(e),
    };
    if !out.status.success() || !out.stdout.starts_with(b"\x89PNG") {
        return Outcome::error(format!("scrot failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    if out.stdout.len() > MAX_PNG {
        return Outcome::error("the screenshot is too large");
    }
    let (w, h) = png_size(&out.stdout).unwrap_or((0, 0));
    let mut o = Outcome::ok(format!("a screenshot of {w}x{h} pixels follows as an image"));
    o.image = Some(base64::engine::general_purpose::STANDARD.encode(&out.stdout));
    o
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    let w = png.get(16..20)?;
    let h = png.get(20..24)?;
    Some((u32::from_be_bytes(w.try_into().ok()?), u32::from_be_bytes(h.try_into().ok()?)))
}

async fn run_program(program: &str, display: &str, argv: &[String]) -> Result<std::process::Output, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(argv).env("DISPLAY", display).env_remove(ctrl_host::children::SERVICE_VAR);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child =
        ctrl_host::children::spawn_noted(|| cmd.kill_on_drop(true).spawn(), tokio::process::Child::id);
    let output = match child {
        Ok(c) => c.wait_with_output().await,
        Err(e) => Err(e),
    };
    output.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{program} is not installed (Debian: apt install {program})")
        }
        _ => format!("cannot run {program}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn points_are_pixels() {
        assert_eq!(point(&json!({"x": 3, "y": 4})), Ok((3, 4)));
        assert!(point(&json!({"x": -1, "y": 4})).is_err());
        assert!(point(&json!({"x": 1})).is_err());
    }

    #[test]
    fn a_png_header_gives_its_size() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(800u32.to_be_bytes());
        png.extend(600u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((800, 600)));
        assert_eq!(png_size(b"short"), None);
    }
}
