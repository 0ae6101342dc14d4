//! `ctrl service unit`: a systemd unit for running this config's daemon.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::locate;

/// `ctrl service …`.
#[derive(clap::Subcommand)]
pub enum ServiceCmd {
    /// Print a systemd unit that runs `ctrl up` with this config (redirect it to
    /// /etc/systemd/system/ctrl.service).
    Unit,
}

/// Prints the unit.
pub fn run(config: Option<&Path>, cmd: ServiceCmd) -> anyhow::Result<ExitCode> {
    let ServiceCmd::Unit = cmd;
    let (cfg, path) = locate::load_config(config)?;
    let path = path.context("a unit needs a config file: pass --config")?;
    let path = std::path::absolute(&path)?;
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    // Room for every service's stop timeout, one after the other in the worst case.
    let stop: u64 = cfg.services.values().map(|s| s.stop_timeout.0.as_secs()).sum::<u64>() + 30;
    print!("{}", unit(&exe, &path, stop));
    Ok(ExitCode::SUCCESS)
}

fn unit(exe: &Path, config: &Path, stop_secs: u64) -> String {
    format!(
        "[Unit]
Description=Control Center (ctrl)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={} up --config {}
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
TimeoutStopSec={stop_secs}
Restart=on-failure
NoNewPrivileges=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
",
        exe.display(),
        config.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_this_binary_on_this_config() {
        let u = unit(Path::new("/usr/local/bin/ctrl"), Path::new("/etc/ctrl/ctrl.toml"), 90);
        assert!(u.contains("ExecStart=/usr/local/bin/ctrl up --config /etc/ctrl/ctrl.toml\n"));
        assert!(u.contains("TimeoutStopSec=90\n") && u.contains("KillMode=mixed\n"));
        let docs = include_str!("../../../../docs/deploy.md");
        let documented = unit(Path::new("/usr/local/bin/ctrl"), Path::new("/etc/ctrl/ctrl.toml"), 60);
        assert!(
            docs.contains(&documented),
            "docs/deploy.md shows another unit than `ctrl service unit` prints"
        );
    }
}
