//! `ctrl import`: a ctrl.toml from the config of supervisord, PM2, a Procfile
//! runner or process-compose.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ctrl_import::{Format, Source};

/// `ctrl import FILE [--format F] [-o ctrl.toml]`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// A supervisord .conf, a PM2 ecosystem (.json, or .config.js read by node), a Procfile
    /// (its .env beside it is used) or a process-compose .yaml.
    file: PathBuf,
    /// The file's format, when its name does not tell.
    #[arg(long, value_parser = ["supervisord", "pm2", "procfile", "process-compose"])]
    format: Option<String>,
    /// Write the config here instead of to standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

/// Reads, converts, validates and writes; a summary goes to stderr.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let file = &args.file;
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))?;
    let format = match args.format.as_deref() {
        Some(name) => Format::from_name(name).context("unknown format")?,
        None => match Format::guess(file, &text) {
            Some(f) => f,
            None => bail!(
                "cannot tell the format of {shown} from its name: pass --format supervisord, pm2, procfile \
                 or process-compose"
            ),
        },
    };
    let is_js = ["js", "cjs", "mjs"].iter().any(|e| file.extension().is_some_and(|x| x == *e));
    let text = if format == Format::Pm2 && is_js { node_json(file)? } else { text };
    let cwd = std::env::current_dir().context("no current directory")?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| cwd.join(p));
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from("ctrl.toml"));
    if args.output.is_some() && output.exists() && !args.force {
        bail!("{} exists already: choose another -o, or add --force to replace it", output.display());
    }
    let out_abs = abs(&output);
    let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_else(|| cwd.clone());
    let env = |k: &str| std::env::var(k).ok();
    let mut src = Source {
        file: shown.clone(),
        text: &text,
        dir: parent(&abs(file)),
        out_dir: parent(&out_abs),
        dotenv: None,
        env: &env,
    };
    // A Procfile runner and process-compose both give their processes the .env beside the file.
    if matches!(format, Format::Procfile | Format::ProcessCompose) {
        let dotenv = src.dir.join(".env");
        if dotenv.is_file() {
            let body = std::fs::read_to_string(&dotenv)
                .with_context(|| format!("cannot read {}", dotenv.display()))?;
            src.dotenv = Some((src.path(".env"), body));
        }
    }
    let imported = ctrl_import::import(format, &src, &out_abs)?;
    let summary = format!(
        "{} service(s) from {shown} ({}); {} setting(s) without an equivalent are comments (# lines)",
        imported.services,
        format.name(),
        imported.notes
    );
    match &args.output {
        Some(path) => {
            std::fs::write(path, &imported.toml)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}: {summary}\nnext: ctrl check -c {0}, then ctrl up -c {0}", path.display());
        }
        None => {
            print!("{}", imported.toml);
            eprintln!("{summary}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A PM2 `.config.js` as JSON: it is JavaScript, so Node.js evaluates it, as PM2 does.
fn node_json(file: &Path) -> anyhow::Result<String> {
    const SCRIPT: &str = "import { pathToFileURL } from 'node:url';\n\
        const m = await import(pathToFileURL(process.argv[1]).href);\n\
        process.stdout.write(JSON.stringify(m.default ?? m));";
    let shown = file.display();
    let out = match std::process::Command::new("node")
        .args(["--input-type=module", "-e", SCRIPT])
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{shown} is JavaScript, and reading it needs Node.js, which is not installed (no `node` in PATH): \
             install it (Debian: apt install nodejs), or write the apps as JSON (ecosystem.json) and import that"
        ),
        Err(e) => bail!("cannot run node to read {shown}: {e}"),
    };
    if !out.status.success() {
        bail!("node could not read {shown}:\n{}", String::from_utf8_lossy(&out.stderr).trim_end());
    }
    String::from_utf8(out.stdout).context("node printed something that is not UTF-8")
}
