//! Finding the config file and, from it, the daemon's state folder and socket.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ctrl_core::Config;

/// The config file to use: the one given, or ./ctrl.toml if it exists.
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| {
        let local = PathBuf::from("ctrl.toml");
        local.is_file().then_some(local)
    })
}

/// This machine, as a config is checked against it: the daemon's privileges and
/// its user database. `assume_root` checks a config meant for a root daemon from
/// an ordinary shell (`ctrl check`).
pub struct ThisMachine {
    /// Check users as if ctrl ran as root.
    pub assume_root: bool,
}

impl ctrl_core::config::Machine for ThisMachine {
    fn is_root(&self) -> bool {
        self.assume_root || ctrl_host::run_as::is_root()
    }
    fn has_user(&self, name: &str) -> bool {
        ctrl_host::run_as::user_exists(name)
    }
    fn has_group(&self, name: &str) -> bool {
        ctrl_host::run_as::group_exists(name)
    }
}

/// Loads and validates the config (or the built-in defaults), with `CTRL_*` overrides.
pub fn load_config(given: Option<&Path>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    load_config_on(given, None)
}

/// As [`load_config`], also checking users and groups against `machine`.
pub fn load_config_on(
    given: Option<&Path>,
    machine: Option<&dyn ctrl_core::config::Machine>,
) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path = config_path(given);
    let mut config = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            let parsed = match machine {
                Some(m) => ctrl_core::config::parse_on(&abs, &text, m),
                None => ctrl_core::config::parse(&abs, &text),
            };
            parsed.map_err(|e| {
                // Name the file as the user wrote it.
                let shown = p.display().to_string();
                let mut errs = e.0;
                for err in &mut errs {
                    err.file = shown.clone();
                }
                anyhow::anyhow!("{}", ctrl_core::ConfigErrors(errs))
            })?
        }
        None => Config::defaults(&std::env::current_dir().context("no current directory")?),
    };
    config.apply_env(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    Ok((config, path))
}

/// The daemon's state folder, found cheaply (the CLI must answer in milliseconds):
/// `CTRL_STATE_DIR`, else `[server] state_dir` of the config, else ./state.
pub fn state_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("CTRL_STATE_DIR") {
        return Ok(PathBuf::from(d));
    }
    let Some(path) = config_path(given) else {
        return Ok(std::env::current_dir()?.join("state"));
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    let dir =
        table.get("server").and_then(|s| s.get("state_dir")).and_then(|d| d.as_str()).unwrap_or("state");
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(base.join(dir))
}

/// The control socket inside a state folder.
pub fn socket_path(state_dir: &Path) -> anyhow::Result<PathBuf> {
    let p = state_dir.join("ctrl.sock");
    // sun_path holds 108 bytes including the terminating NUL.
    if p.as_os_str().len() > 107 {
        bail!(
            "the state dir path is too long for a unix socket ({} bytes): {}",
            p.as_os_str().len(),
            p.display()
        );
    }
    Ok(p)
}
