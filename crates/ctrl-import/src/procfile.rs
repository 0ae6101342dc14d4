//! A Procfile (`name: command` per line), run as Foreman and Honcho run it:
//! through a shell, from the Procfile's folder, with the `.env` beside it and
//! `PORT` = 5000, 5100, … per process type (the base taken from `.env`'s PORT).

use crate::draft::{Cmd, Draft, ServiceDraft};
use crate::{ImportError, Source};

/// Reads `src` as a Procfile.
pub fn convert(src: &Source<'_>) -> Result<Draft, ImportError> {
    let mut draft = Draft::default();
    let base_port = src.dotenv.as_ref().and_then(|(_, text)| dotenv_port(text)).unwrap_or(5000);
    for (i, raw) in src.text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            return Err(src.syntax(i + 1, format!("'{line}' is not 'name: command'")));
        };
        let (name, command) = (name.trim(), command.trim());
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(
                src.syntax(i + 1, format!("'{name}' is not a process type: use letters, digits, - and _"))
            );
        }
        if command.is_empty() {
            return Err(src.syntax(i + 1, format!("'{name}' has no command")));
        }
        if draft.services.iter().any(|s| s.name == name) {
            return Err(src.syntax(i + 1, format!("'{name}' appears twice")));
        }
        let port = u32::from(base_port) + 100 * draft.services.len() as u32;
        let Ok(port) = u16::try_from(port) else {
            return Err(src.syntax(i + 1, format!("the port for '{name}' would be {port}, above 65535")));
        };
        let mut s = ServiceDraft::new(name, Cmd::Line(command.to_string()));
        s.shell = true;
        s.cwd = Some(src.path("."));
        s.env.insert("PORT".into(), port.to_string());
        s.env_file = src.dotenv.as_ref().map(|(path, _)| path.clone());
        // The web process listens on $PORT (the one Heroku routes to): its port is
        // checked and probed. Other types get PORT too, as Foreman gives it, unprobed.
        if name == "web" && (command.contains("$PORT") || command.contains("${PORT}")) {
            s.port = Some(port);
        }
        if name == "release" {
            s.restart = Some("never");
            s.notes.push(
                "procfile: 'release' runs once per deploy on Heroku; here it runs once at start (restart = never)"
                    .into(),
            );
        }
        draft.services.push(s);
    }
    if draft.services.is_empty() {
        return Err(src.invalid("no 'name: command' line: there is nothing to import"));
    }
    Ok(draft)
}

/// `PORT` in a dotenv file's text, which Foreman takes as its base port.
fn dotenv_port(text: &str) -> Option<u16> {
    text.lines().find_map(|l| {
        let l = l.trim().strip_prefix("export ").unwrap_or(l.trim());
        let v = l.strip_prefix("PORT=")?;
        v.trim().trim_matches(['"', '\'']).parse().ok().filter(|p| *p > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_port_comes_from_dotenv() {
        assert_eq!(dotenv_port("A=1\nPORT=3000\n"), Some(3000));
        assert_eq!(dotenv_port("export PORT=\"8000\""), Some(8000));
        assert_eq!(dotenv_port("PORTS=1"), None);
    }
}
