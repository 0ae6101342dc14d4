//! `ctrl chat [SESSION]`: a terminal chat with an agent session, its answer
//! streamed as the model writes; `ctrl sessions`: the sessions, and deleting one.
//!
//! Each line read is a message. Ctrl-C stops the running turn (a second one, or
//! one while idle, leaves). At the end of the input the chat waits for the turns
//! it asked for, so `echo "…" | ctrl chat` prints one whole answer.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ctrl_proto::{AgentSession, EventType, NewSession, SessionEvent, SessionMessage};
use tokio::io::AsyncBufReadExt;

use crate::client::{Client, Remote};
use crate::table;

/// `ctrl chat`.
#[derive(Args)]
pub struct ChatArgs {
    /// The session to continue (default: a new one).
    session: Option<i64>,
    /// The new session's title.
    #[arg(long)]
    title: Option<String>,
    /// The new session's model (default: `[agent] model`).
    #[arg(long)]
    model: Option<String>,
}

/// `ctrl sessions`.
#[derive(Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    cmd: Option<SessionsCmd>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum SessionsCmd {
    /// A session's history.
    Show {
        /// The session.
        id: i64,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Delete a session with its history and events.
    Rm {
        /// The session.
        id: i64,
    },
}

/// Runs `ctrl sessions`.
pub fn sessions(config: Option<&Path>, remote: &Remote, a: SessionsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    match a.cmd {
        None => {
            let list: Vec<AgentSession> = client.call(|api| api.sessions())?;
            if a.json {
                println!("{}", serde_json::to_string(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let cells: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.status.as_str().to_owned(),
                        s.title.clone(),
                        s.model.clone(),
                        s.owner.clone(),
                        s.messages.to_string(),
                        s.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    ]
                })
                .collect();
            let headers = ["id", "status", "title", "model", "owner", "messages", "updated"];
            print!("{}", table::print(&headers, &cells, &[]));
        }
        Some(SessionsCmd::Show { id, json }) => {
            let messages: Vec<SessionMessage> = client.call(|api| api.session_messages(id))?;
            if json {
                println!("{}", serde_json::to_string(&messages)?);
            } else {
                for m in &messages {
                    print_message(m);
                }
            }
        }
        Some(SessionsCmd::Rm { id }) => {
            let s = client.call(|api| api.delete_session(id))?;
            println!("deleted session {} ({})", s.id, s.title);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_message(m: &SessionMessage) {
    let content = m.message["content"].as_str().unwrap_or("");
    match m.role.as_str() {
        "user" => println!("> {content}"),
        "assistant" => {
            if !content.is_empty() {
                println!("{content}");
            }
            for c in m.message["tool_calls"].as_array().into_iter().flatten() {
                println!(
                    "→ {} {}",
                    c["function"]["name"].as_str().unwrap_or("?"),
                    c["function"]["arguments"].as_str().unwrap_or("")
                );
            }
        }
        _ => println!("← {}", first_line(content, 200)),
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Runs `ctrl chat`.
pub fn chat(config: Option<&Path>, remote: &Remote, a: ChatArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let session = match a.session {
        Some(id) => {
            let s: AgentSession = client.call(|api| api.session(id))?;
            let history: Vec<SessionMessage> = client.call(|api| api.session_messages(id))?;
            for m in history.iter().rev().take(10).rev() {
                print_message(m);
            }
            s
        }
        None => {
            let new = NewSession { title: a.title, model: a.model, system_prompt: None };
            client.call(|api| api.create_session(&new))?
        }
    };
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "session {} ({}), model {}: Ctrl-C stops a turn, Ctrl-D leaves",
            session.id, session.title, session.model
        );
    }
    let mut screen = Screen { color: std::io::stdout().is_terminal(), ..Screen::default() };
    let failed = client.call(|api| talk(api, &session, interactive, &mut screen))?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Sends each line, shows the events; whether the last turn ended badly.
async fn talk(
    api: &ctrl_client::Client,
    session: &AgentSession,
    interactive: bool,
    screen: &mut Screen,
) -> Result<bool, ctrl_client::Error> {
    let id = session.id;
    let mut events = api.session_events(id, session.last_seq).await?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let (mut asked, mut input_open, mut failed) = (0u32, true, false);
    screen.prompt(interactive);
    loop {
        tokio::select! {
            line = lines.next_line(), if input_open => match line {
                Ok(Some(l)) if l.trim().is_empty() => screen.prompt(interactive),
                Ok(Some(l)) => {
                    let queued = api.post_message(id, &l).await?;
                    asked += 1;
                    if queued.position > 0 {
                        eprintln!("(queued: {} before it)", queued.position);
                    }
                }
                Ok(None) | Err(_) => {
                    input_open = false;
                    if asked == 0 {
                        return Ok(failed);
                    }
                }
            },
            event = events.next() => {
                let Some(e) = event? else {
                    eprintln!("ctrl: the session's events ended (it was deleted, or the daemon stopped)");
                    return Ok(true);
                };
                screen.show(&e);
                let status = e.data["status"].as_str().unwrap_or("");
                if e.kind == EventType::Status && status != "running" && asked > 0 {
                    // An interrupt ends this turn and drops those queued behind it.
                    let dropped = e.data["dropped"].as_u64().unwrap_or(0);
                    asked = asked.saturating_sub(1 + u32::try_from(dropped).unwrap_or(u32::MAX));
                    failed = status != "idle";
                    if asked == 0 {
                        if !input_open {
                            return Ok(failed);
                        }
                        screen.prompt(interactive);
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                if asked == 0 || !api.interrupt(id).await? {
                    screen.end_line();
                    return Ok(failed);
                }
            }
        }
    }
}

/// What the terminal shows of a session's events.
#[derive(Default)]
struct Screen {
    color: bool,
    /// The cursor is after text on its line.
    mid_line: bool,
    /// The last thing shown was reasoning.
    thinking: bool,
}

impl Screen {
    fn prompt(&mut self, interactive: bool) {
        if interactive {
            self.end_line();
            print!("> ");
            let _ = std::io::stdout().flush();
        }
    }

    fn end_line(&mut self) {
        if self.mid_line {
            println!();
            self.mid_line = false;
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    fn show(&mut self, e: &SessionEvent) {
        let d = &e.data;
        match e.kind {
            EventType::Text | EventType::Thinking => {
                let thinking = e.kind == EventType::Thinking;
                if thinking != self.thinking {
                    self.end_line();
                    if thinking {
                        print!("{}", self.paint("2", "(thinking) "));
                    }
                    self.thinking = thinking;
                }
                let delta = d["delta"].as_str().unwrap_or("");
                print!("{}", if thinking { self.paint("2", delta) } else { delta.to_owned() });
                self.mid_line = !delta.ends_with('\n');
            }
            EventType::ToolUse => {
                self.end_line();
                let name = d["name"].as_str().unwrap_or("?");
                println!(
                    "{} {}",
                    self.paint("36", &format!("→ {name}")),
                    d["arguments"].as_str().unwrap_or("")
                );
                self.thinking = false;
            }
            EventType::ToolResult => {
                self.end_line();
                let ok = d["ok"].as_bool().unwrap_or(false);
                let text = first_line(d["content"].as_str().unwrap_or(""), 160);
                let mark = if ok { self.paint("32", "← ok") } else { self.paint("31", "← error") };
                println!("{mark}: {text}");
            }
            EventType::Error => {
                self.end_line();
                println!("{}", self.paint("31", &format!("error: {}", d["message"].as_str().unwrap_or(""))));
            }
            EventType::Status => match d["status"].as_str() {
                Some("running") => self.thinking = false,
                Some("interrupted") => {
                    self.end_line();
                    println!("{}", self.paint("33", "(interrupted)"));
                }
                _ => self.end_line(),
            },
        }
        let _ = std::io::stdout().flush();
    }
}
