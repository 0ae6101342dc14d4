//! `ctrl kb`: the knowledge base: search it, see its numbers, scan it.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ctrl_client::KbSearch;
use ctrl_proto::{JobInfo, KbStats, ScanResult, SearchAnswer};

use crate::client::{Client, Remote};
use crate::cmd::jobs::{follow, verdict};
use crate::table;

/// What to do with the knowledge base.
#[derive(Subcommand)]
pub enum KbCmd {
    /// Search: words (all must match), "a phrase", prefix*, -excluded, agent:/tag:/creator:/category:.
    Search(SearchArgs),
    /// Files, agents, creators and the index's size.
    Stats {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Scan the folders now (only changed files are read) and follow the scan.
    Scan(ScanArgs),
    /// Rebuild the search index from the files and follow the scan.
    Reindex(ScanArgs),
}

/// `ctrl kb search`.
#[derive(Args)]
pub struct SearchArgs {
    /// The query.
    pub query: String,
    /// Only this agent's files.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only files with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// How many hits.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `ctrl kb scan` and `ctrl kb reindex`.
#[derive(Args)]
pub struct ScanArgs {
    /// Print the job and return at once.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `ctrl kb` command.
pub fn run(config: Option<&Path>, remote: &Remote, cmd: KbCmd) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    match cmd {
        KbCmd::Search(a) => search(&client, a),
        KbCmd::Stats { json } => stats(&client, json),
        KbCmd::Scan(a) => scan(&client, a, false),
        KbCmd::Reindex(a) => scan(&client, a, true),
    }
}

fn search(client: &Client, a: SearchArgs) -> anyhow::Result<ExitCode> {
    let q = KbSearch { q: a.query, agent: a.agent, tag: a.tag, limit: Some(a.limit), ..KbSearch::default() };
    let answer: SearchAnswer = client.call(|api| api.kb_search(&q))?;
    if a.json {
        println!("{}", serde_json::to_string(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let color = std::io::stdout().is_terminal();
    for hit in &answer.hits {
        let agent = printable(hit.agent.as_deref().unwrap_or("-"));
        let (title, path) = (printable(&hit.title), printable(&hit.path));
        println!("{:>6.2}  {title}  {path}  (#{}, {agent})", hit.score, hit.file_id);
        println!("        {}", marked(&hit.snippet, &hit.highlights, color));
    }
    let per_agent: Vec<String> = answer.agents.iter().map(|(a, n)| format!("{a} {n}")).collect();
    println!(
        "{} of {} files in {:.1} ms{}",
        answer.hits.len(),
        answer.total,
        answer.took_ms,
        if per_agent.is_empty() { String::new() } else { format!("; by agent: {}", per_agent.join(", ")) }
    );
    Ok(ExitCode::SUCCESS)
}

/// Text from notes with control characters shown as `?`: a note cannot send
/// escape sequences to the terminal.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The snippet on one line, its matches bold on a terminal and in [brackets] elsewhere.
fn marked(snippet: &str, highlights: &[[usize; 2]], color: bool) -> String {
    let (open, close) = if color { ("\x1b[1m", "\x1b[0m") } else { ("[", "]") };
    let mut out = String::with_capacity(snippet.len() + highlights.len() * 8);
    for (i, c) in snippet.chars().enumerate() {
        if highlights.iter().any(|h| h[0] == i) {
            out.push_str(open);
        }
        out.push(if c.is_whitespace() {
            ' '
        } else if c.is_control() {
            '?'
        } else {
            c
        });
        if highlights.iter().any(|h| h[1] == i + 1) {
            out.push_str(close);
        }
    }
    out
}

fn stats(client: &Client, json: bool) -> anyhow::Result<ExitCode> {
    let s: KbStats = client.call(|api| api.kb_stats())?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let when =
        s.last_scan_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "never".into());
    let watch = match (&s.watching, &s.watch_problem) {
        (_, Some(p)) => format!("limited: {p}"),
        (true, None) => "yes".into(),
        (false, None) => "no".into(),
    };
    let rows = vec![
        vec!["files".into(), format!("{} ({})", s.files, table::bytes(s.bytes))],
        vec!["agents".into(), s.agents.to_string()],
        vec!["creators".into(), s.creators.to_string()],
        vec!["index".into(), format!("{} documents, {}", s.index_docs, table::bytes(s.index_bytes))],
        vec!["last scan".into(), when],
        vec!["watching".into(), watch],
    ];
    print!("{}", table::print(&["", ""], &rows, &[]));
    Ok(ExitCode::SUCCESS)
}

fn scan(client: &Client, a: ScanArgs, rebuild: bool) -> anyhow::Result<ExitCode> {
    let job: JobInfo =
        if rebuild { client.call(|api| api.kb_reindex())? } else { client.call(|api| api.kb_scan())? };
    if a.detach {
        println!("{}", if a.json { serde_json::to_string(&job)? } else { job.id.to_string() });
        return Ok(ExitCode::SUCCESS);
    }
    let end = follow(client, job.id, 0, a.json)?;
    if a.json {
        println!("{}", serde_json::to_string(&end)?);
        return Ok(verdict(&end));
    }
    if let Some(r) = end.result.clone().and_then(|v| serde_json::from_value::<ScanResult>(v).ok()) {
        println!(
            "added {}, changed {}, removed {}, unchanged {}",
            r.added, r.changed, r.removed, r.unchanged
        );
        for p in &r.errors {
            println!(
                "  {}: {}",
                if p.path.is_empty() { "…".into() } else { printable(&p.path) },
                printable(&p.error)
            );
        }
    }
    Ok(verdict(&end))
}

#[cfg(test)]
mod tests {
    use super::{marked, printable};

    #[test]
    fn highlights_are_marked_by_character() {
        assert_eq!(marked("été fast\nbuild", &[[0, 3], [9, 14]], false), "[été] fast [build]");
        assert_eq!(marked("x", &[], true), "x");
        assert_eq!(marked("a\x1b[2Jb", &[], false), "a?[2Jb");
        assert_eq!(printable("t\x1b]0;owned\x07"), "t?]0;owned?");
    }
}
