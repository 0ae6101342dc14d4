//! Starting a process as another user and with resource limits: the user
//! database is read in the daemon before the fork; between fork and exec the
//! child only makes the system calls (setrlimit, setgroups, setgid, setuid), as
//! async-signal-safety requires.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::{Gid, Group, Uid, User};

/// Who a process runs as, read from the user database at each start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user as configured.
    pub user: String,
    uid: Uid,
    gid: Gid,
    /// Every group the process is in: the user's groups and `gid`.
    groups: Vec<Gid>,
    home: Option<PathBuf>,
    login: Option<String>,
    shell: Option<PathBuf>,
}

/// The daemon runs as root, so it may start processes as other users.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `name` is a user here: in the user database, or a numeric uid.
pub fn user_exists(name: &str) -> bool {
    matches!(User::from_name(name), Ok(Some(_))) || name.parse::<u32>().is_ok()
}

/// `name` is a group here: in the group database, or a numeric gid.
pub fn group_exists(name: &str) -> bool {
    matches!(Group::from_name(name), Ok(Some(_))) || name.parse::<u32>().is_ok()
}

impl RunAs {
    /// Looks `user` (and `group`, by default the user's own) up. A numeric uid
    /// with no entry runs in the group of the same number unless `group` says.
    pub fn resolve(user: &str, group: Option<&str>) -> Result<RunAs, String> {
        let lookup =
            |r: nix::Result<Option<User>>| r.map_err(|e| format!("cannot look user '{user}' up: {e}"));
        let entry = match lookup(User::from_name(user))? {
            Some(u) => Some(u),
            None => match user.parse::<u32>() {
                Ok(n) => lookup(User::from_uid(Uid::from_raw(n)))?,
                Err(_) => return Err(format!("unknown user '{user}'")),
            },
        };
        let uid = entry.as_ref().map(|u| u.uid).or_else(|| user.parse().ok().map(Uid::from_raw));
        let Some(uid) = uid else {
            return Err(format!("unknown user '{user}'"));
        };
        let gid = match group {
            Some(g) => group_id(g)?,
            None => entry.as_ref().map(|u| u.gid).unwrap_or(Gid::from_raw(uid.as_raw())),
        };
        let groups = match &entry {
            Some(u) => {
                let name = CString::new(u.name.as_str()).map_err(|_| format!("unknown user '{user}'"))?;
                nix::unistd::getgrouplist(&name, gid)
                    .map_err(|e| format!("cannot read the groups of user '{user}': {e}"))?
            }
            None => vec![gid],
        };
        Ok(RunAs {
            user: user.to_string(),
            uid,
            gid,
            groups,
            home: entry.as_ref().map(|u| u.dir.clone()),
            shell: entry.as_ref().map(|u| u.shell.clone()),
            login: entry.map(|u| u.name),
        })
    }

    /// `HOME`, `USER`, `LOGNAME` and `SHELL` as a login as this user would have
    /// them (a uid with no entry: `/`, its number, `/bin/sh`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let login = self.login.clone().unwrap_or_else(|| self.uid.to_string());
        let home = self.home.as_deref().unwrap_or(Path::new("/")).display().to_string();
        let shell = self.shell.as_deref().unwrap_or(Path::new("/bin/sh")).display().to_string();
        vec![("HOME", home), ("USER", login.clone()), ("LOGNAME", login), ("SHELL", shell)]
    }

    /// Looks `user` up as [`RunAs::resolve`] does, then requires that it may
    /// enter `cwd`, the folder its process will run in.
    pub fn resolve_in(user: &str, group: Option<&str>, cwd: &Path) -> Result<RunAs, String> {
        let r = RunAs::resolve(user, group)?;
        if !r.can_enter(cwd) {
            return Err(format!("working directory {} is not readable by user '{user}'", cwd.display()));
        }
        Ok(r)
    }

    /// Whether this user may list and enter `dir` and every folder above it, by
    /// permission bits (access control lists are not read).
    pub fn can_enter(&self, dir: &Path) -> bool {
        if self.uid.is_root() {
            return true;
        }
        let Ok(dir) = dir.canonicalize() else {
            return false;
        };
        let allowed = |p: &Path, want: u32| {
            let Ok(m) = p.metadata() else {
                return false;
            };
            let shift = if m.uid() == self.uid.as_raw() {
                6
            } else if self.groups.iter().any(|g| g.as_raw() == m.gid()) || m.gid() == self.gid.as_raw() {
                3
            } else {
                0
            };
            (m.mode() >> shift) & want == want
        };
        allowed(&dir, 0o5) && dir.ancestors().skip(1).all(|p| allowed(p, 0o1))
    }
}

fn group_id(name: &str) -> Result<Gid, String> {
    match Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => name.parse().map(Gid::from_raw).map_err(|_| format!("unknown group '{name}'")),
        Err(e) => Err(format!("cannot look group '{name}' up: {e}")),
    }
}

/// A resource limit by its config name (`nofile`, `nproc`, `core`) and value
/// (`None`: unlimited).
pub type LimitSetting = (&'static str, Option<u64>);

/// The daemon's variables a process run as another user still gets: where
/// programs are, language and time zone. The rest (keys the daemon was given,
/// its own settings) stay the daemon's.
fn kept(name: &str) -> bool {
    matches!(name, "PATH" | "LANG" | "LANGUAGE" | "TZ") || name.starts_with("LC_")
}

/// Makes `cmd`, which runs from `cwd`, start as `user` (in `group`) with
/// `limits`: the user looked up, its access to `cwd` checked, the daemon's
/// environment left behind but for [`kept`] variables and the user's own. Call
/// it before adding the process's own environment. Returns the user, if any.
pub fn apply(
    cmd: &mut tokio::process::Command,
    user: Option<&str>,
    group: Option<&str>,
    limits: &[LimitSetting],
    cwd: &Path,
) -> Result<Option<RunAs>, String> {
    let run_as = user.map(|u| RunAs::resolve_in(u, group, cwd)).transpose()?;
    prepare(cmd, run_as.as_ref(), limits)?;
    Ok(run_as)
}

/// Makes `cmd` start as `run_as` with `limits`, checking first what the child
/// could only fail at: a user switch without root, a limit above the daemon's
/// hard limit that only root may raise.
fn prepare(
    cmd: &mut tokio::process::Command,
    run_as: Option<&RunAs>,
    limits: &[LimitSetting],
) -> Result<(), String> {
    if run_as.is_none() && limits.is_empty() {
        return Ok(());
    }
    let root = is_root();
    if let Some(r) = run_as
        && !root
    {
        return Err(format!("cannot run as user '{}': ctrl does not run as root", r.user));
    }
    let mut set = Vec::with_capacity(limits.len());
    for &(name, value) in limits {
        let resource = match name {
            "nofile" => Resource::RLIMIT_NOFILE,
            "nproc" => Resource::RLIMIT_NPROC,
            "core" => Resource::RLIMIT_CORE,
            other => return Err(format!("unknown limit '{other}'")),
        };
        let value = value.unwrap_or(nix::sys::resource::RLIM_INFINITY);
        let (_, hard) = getrlimit(resource).map_err(|e| format!("cannot read limit {name}: {e}"))?;
        if !root && value > hard {
            let shown =
                if hard == nix::sys::resource::RLIM_INFINITY { "unlimited".into() } else { hard.to_string() };
            return Err(format!(
                "limits.{name} is above ctrl's own hard limit ({shown}), which only root may raise"
            ));
        }
        set.push((resource, value));
    }
    let ids = run_as.map(|r| (r.uid, r.gid, r.groups.clone()));
    if let Some(r) = run_as {
        cmd.env_clear();
        cmd.envs(std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(kept)));
        cmd.envs(r.env());
    }
    let child_setup = move || -> std::io::Result<()> {
        for &(resource, value) in &set {
            setrlimit(resource, value, value)?;
        }
        if let Some((uid, gid, groups)) = &ids {
            nix::unistd::setgroups(groups)?;
            nix::unistd::setgid(*gid)?;
            nix::unistd::setuid(*uid)?;
        }
        Ok(())
    };
    #[allow(unsafe_code)]
    // SAFETY: the closure runs between fork and exec and makes only system calls
    // on data prepared before the fork: no allocation, no lock, no unwinding.
    unsafe {
        cmd.pre_exec(child_setup);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_a_numeric_uid_resolve_and_an_unknown_name_is_named() {
        let root = RunAs::resolve("root", None).unwrap();
        assert_eq!((root.uid.as_raw(), root.gid.as_raw()), (0, 0));
        assert!(root.env().contains(&("USER", "root".to_string())));
        let numeric = RunAs::resolve("54321", None).unwrap();
        assert_eq!((numeric.uid.as_raw(), numeric.gid.as_raw()), (54321, 54321));
        assert!(numeric.env().contains(&("HOME", "/".to_string())));
        assert!(numeric.env().contains(&("USER", "54321".to_string())));
        let with_group = RunAs::resolve("54321", Some("0")).unwrap();
        assert_eq!(with_group.gid.as_raw(), 0);
        let err = RunAs::resolve("no-such-user-here", None).unwrap_err();
        assert_eq!(err, "unknown user 'no-such-user-here'");
        let err = RunAs::resolve("root", Some("no-such-group-here")).unwrap_err();
        assert_eq!(err, "unknown group 'no-such-group-here'");
    }

    #[test]
    fn entering_a_folder_follows_owner_group_and_other_bits() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("app");
        std::fs::create_dir(&inner).unwrap();
        let stranger = RunAs::resolve("54321", None).unwrap();
        let me = nix::unistd::geteuid().as_raw().to_string();
        let owner = RunAs::resolve(&me, None).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(stranger.can_enter(&inner));
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert!(!stranger.can_enter(&inner));
        assert!(owner.can_enter(&inner));
        // A folder above that the stranger cannot pass through.
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!stranger.can_enter(&inner));
    }
}
