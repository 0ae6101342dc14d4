//! `ctrl import`: a ctrl.toml from the config of supervisord, PM2, a Procfile
//! runner (Foreman, Honcho) or process-compose. What maps is converted; what
//! has no equivalent becomes a comment naming the key, beside its service.
//!
//! Pure: the caller reads the files (and runs `node` for a `.config.js`) and
//! writes the result. The text made is parsed back as a config before it is
//! returned, so an import that succeeds passes `ctrl check`'s validation.

mod compose;
mod draft;
mod ini;
mod pm2;
mod procfile;
mod supervisord;

use std::path::{Path, PathBuf};

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// supervisord's INI `.conf`.
    Supervisord,
    /// A PM2 ecosystem file (JSON; `.config.js` through `node`).
    Pm2,
    /// A Procfile.
    Procfile,
    /// A process-compose YAML.
    ProcessCompose,
}

impl Format {
    /// Every format with its `--format` name.
    pub const ALL: [(Format, &'static str); 4] = [
        (Format::Supervisord, "supervisord"),
        (Format::Pm2, "pm2"),
        (Format::Procfile, "procfile"),
        (Format::ProcessCompose, "process-compose"),
    ];

    /// The format named `name` on the command line.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        Format::ALL.iter().find(|(f, _)| *f == self).map(|(_, n)| *n).unwrap_or("supervisord")
    }

    /// The format a file's name (and, for YAML and JSON, its text) suggests.
    pub fn guess(path: &Path, text: &str) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.starts_with("procfile") {
            return Some(Format::Procfile);
        }
        if name.ends_with(".config.js") || name.ends_with(".config.cjs") || name.ends_with(".config.mjs") {
            return Some(Format::Pm2);
        }
        let ext = name.rsplit('.').next().unwrap_or("");
        match ext {
            "conf" | "ini" => Some(Format::Supervisord),
            "json" => Some(Format::Pm2),
            "yaml" | "yml" if text.contains("processes") => Some(Format::ProcessCompose),
            _ => None,
        }
    }
}

/// Why an import cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file is not well formed: where and why.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file as the user named it.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (1 when only the line is known).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file reads, but says something that cannot be imported.
    #[error("{file}: {message}")]
    Invalid {
        /// The file as the user named it.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The config made from it does not validate (a value ctrl refuses, such as a
    /// duration over a year, or a name it cannot take).
    #[error("{file}: the config made from it does not validate: {message}")]
    NotValid {
        /// The file as the user named it.
        file: String,
        /// The validation errors.
        message: String,
    },
}

/// What an import reads: the file's text and what it needs from around it.
pub struct Source<'a> {
    /// The file as the user named it (for messages).
    pub file: String,
    /// Its text (a PM2 `.config.js` already as JSON).
    pub text: &'a str,
    /// Its folder, absolute: relative paths in it are relative to this.
    pub dir: PathBuf,
    /// The folder the ctrl.toml goes to, absolute: paths under it are written relative.
    pub out_dir: PathBuf,
    /// The `.env` beside a Procfile or a process-compose file (as written in the output, and its text).
    pub dotenv: Option<(String, String)>,
    /// Environment variables (supervisord's `%(ENV_X)s`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Source<'_> {
    fn syntax(&self, line: usize, message: impl Into<String>) -> ImportError {
        self.syntax_at(line, 1, message)
    }

    fn syntax_at(&self, line: usize, column: usize, message: impl Into<String>) -> ImportError {
        ImportError::Syntax { file: self.file.clone(), line, column, message: message.into() }
    }

    fn invalid(&self, message: impl Into<String>) -> ImportError {
        ImportError::Invalid { file: self.file.clone(), message: message.into() }
    }

    /// `%(ENV_X)s`: the variable `X`.
    fn env(&self, name: &str) -> Option<String> {
        (self.env)(name.strip_prefix("ENV_")?)
    }

    /// A path of the input, as the output should write it: relative to the
    /// output's folder when inside it, else absolute.
    pub fn path(&self, p: &str) -> String {
        let abs = normalize(&self.dir.join(p));
        match abs.strip_prefix(normalize(&self.out_dir)) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => abs.display().to_string(),
        }
    }
}

/// A JSON or YAML value as the text a config holds: strings as they are, the rest as JSON.
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The result: the ctrl.toml text and what it holds.
#[derive(Debug)]
pub struct Imported {
    /// The config, with comments.
    pub toml: String,
    /// How many services it defines.
    pub services: usize,
    /// How many settings became comments.
    pub notes: usize,
}

/// Converts `src` read as `format`. `output` is where the result will be written
/// (it is validated as that file).
pub fn import(format: Format, src: &Source<'_>, output: &Path) -> Result<Imported, ImportError> {
    let draft = match format {
        Format::Supervisord => supervisord::convert(src)?,
        Format::Pm2 => pm2::convert(src)?,
        Format::Procfile => procfile::convert(src)?,
        Format::ProcessCompose => compose::convert(src)?,
    };
    let header = format!(
        "Imported from {} ({}) by `ctrl import`.\nCheck it with `ctrl check`, then run it with `ctrl up`.",
        src.file,
        format.name()
    );
    let toml = draft.render(&header);
    if let Err(e) = ctrl_core::config::parse(output, &toml) {
        return Err(ImportError::NotValid { file: src.file.clone(), message: e.to_string() });
    }
    let notes = draft.notes.len() + draft.services.iter().map(|s| s.notes.len()).sum::<usize>();
    Ok(Imported { toml, services: draft.services.len(), notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source<'a>(text: &'a str, env: &'a dyn Fn(&str) -> Option<String>) -> Source<'a> {
        Source {
            file: "in.conf".into(),
            text,
            dir: PathBuf::from("/srv/app/conf"),
            out_dir: PathBuf::from("/srv/app"),
            dotenv: None,
            env,
        }
    }

    #[test]
    fn formats_are_told_by_the_file_name() {
        let guess = |name: &str, text: &str| Format::guess(Path::new(name), text);
        assert_eq!(guess("/etc/supervisor/supervisord.conf", ""), Some(Format::Supervisord));
        assert_eq!(guess("Procfile.dev", ""), Some(Format::Procfile));
        assert_eq!(guess("ecosystem.config.js", ""), Some(Format::Pm2));
        assert_eq!(guess("process.json", "{}"), Some(Format::Pm2));
        assert_eq!(guess("process-compose.yml", "processes:\n"), Some(Format::ProcessCompose));
        assert_eq!(guess("docker-compose.yml", "services:\n"), None);
        assert_eq!(Format::from_name("process-compose"), Some(Format::ProcessCompose));
        assert_eq!(Format::Pm2.name(), "pm2");
    }

    #[test]
    fn paths_under_the_output_folder_are_relative_and_others_absolute() {
        let no_env = |_: &str| None;
        let src = source("", &no_env);
        assert_eq!(src.path("."), "conf");
        assert_eq!(src.path(".."), ".");
        assert_eq!(src.path("../web/./static"), "web/static");
        assert_eq!(src.path("/opt/x"), "/opt/x");
        assert_eq!(src.path("../../other"), "/srv/other");
    }

    #[test]
    fn an_import_is_valid_toml_with_its_notes_as_comments() {
        let env = |k: &str| (k == "HOME").then(|| "/home/me".to_string());
        let text = "[program:web]\ncommand=%(ENV_HOME)s/bin/web --name \"a b\"\nuser=www-data\numask=022\n";
        let out = import(Format::Supervisord, &source(text, &env), Path::new("/srv/app/ctrl.toml")).unwrap();
        assert_eq!(out.services, 1);
        assert_eq!(out.notes, 2);
        assert!(
            out.toml.contains("# supervisord: command took %(ENV_…)s from this shell's environment"),
            "{}",
            out.toml
        );
        assert!(out.toml.contains("command = \"/home/me/bin/web --name \\\"a b\\\"\"\n"), "{}", out.toml);
        assert!(out.toml.contains("user = \"www-data\"\n"), "{}", out.toml);
        assert!(out.toml.contains("# supervisord: umask = 022 (no equivalent in ctrl)\n"), "{}", out.toml);
        let err = import(
            Format::Supervisord,
            &source("[program:web]\ncommand=%(ENV_NOPE)s\n", &env),
            Path::new("x"),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "in.conf:2:1: command: %(ENV_NOPE)s: $NOPE is not set");
        let err = import(Format::Supervisord, &source("[supervisord]\n", &env), Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("no [program:NAME] section"), "{err}");
    }
}
