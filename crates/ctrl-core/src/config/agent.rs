//! `[agent]`: sessions in which a model operates the machine through ctrl's own
//! tools; `[vnc]`: the WebSocket bridge to allow-listed VNC servers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::Dur;
use super::validate::{Problem, problem};
use crate::Role;

/// The tool families a session may offer the model.
pub const TOOL_FAMILIES: &[&str] = &["services", "stats", "logs", "actions", "knowledge", "computer"];

/// `[agent]`. Absent: no agent sessions (the routes answer 404 and nothing runs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The model sessions use unless they name another; served through `[llm]`.
    pub model: String,
    /// Model calls allowed in one turn (one user message); then the turn stops.
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u32,
    /// What the model is told first in every session that names no other prompt.
    #[serde(default = "default_system_prompt")]
    pub system_prompt: String,
    /// The tool families offered to the model.
    #[serde(default = "default_tools")]
    pub tools: Vec<String>,
    /// Only these actions may be run by the `actions` tool (default: every action).
    pub actions: Option<Vec<String>>,
    /// Time allowed for one model call, to its last byte.
    #[serde(default = "default_call_timeout")]
    pub call_timeout: Dur,
    /// Time allowed for one tool call.
    #[serde(default = "default_tool_timeout")]
    pub tool_timeout: Dur,
    /// Time allowed for a whole turn: its model calls and tools together.
    #[serde(default = "default_turn_timeout")]
    pub turn_timeout: Dur,
    /// `[agent.computer]`: the X display the `computer` tool drives.
    pub computer: Option<ComputerConfig>,
}

/// `[agent.computer]`: screenshots, mouse and keyboard on an X display, through
/// `xdotool` and `scrot`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputerConfig {
    /// The X display, like ":1".
    pub display: String,
}

/// `[vnc]`: the targets `/vnc/{target}` may reach; no other address is ever dialled.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VncConfig {
    /// `[vnc.targets.NAME]`.
    #[serde(default)]
    pub targets: BTreeMap<String, VncTarget>,
}

/// `[vnc.targets.NAME]`: one VNC server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VncTarget {
    /// `host:port` of the server.
    pub address: String,
    /// The least role that may connect (default operator: a desktop is control).
    #[serde(default = "default_vnc_role")]
    pub role: Role,
}

fn default_max_iterations() -> u32 {
    20
}
fn default_system_prompt() -> String {
    "You operate this machine through ctrl's tools. Use them to answer; say what you did.".into()
}
fn default_tools() -> Vec<String> {
    ["services", "stats", "logs", "actions", "knowledge"].map(String::from).to_vec()
}
fn default_call_timeout() -> Dur {
    Dur::secs(120)
}
fn default_tool_timeout() -> Dur {
    Dur::secs(60)
}
fn default_turn_timeout() -> Dur {
    Dur::secs(900)
}
fn default_vnc_role() -> Role {
    Role::Operator
}

pub(super) fn check(c: &AgentConfig, actions: &BTreeMap<String, super::ActionSpec>, out: &mut Vec<Problem>) {
    if c.model.trim().is_empty() {
        out.push(problem(&["agent", "model"], "must name a model served through [llm]"));
    }
    if c.max_iterations == 0 {
        out.push(problem(&["agent", "max_iterations"], "must be at least 1"));
    }
    for (key, d) in
        [("call_timeout", c.call_timeout), ("tool_timeout", c.tool_timeout), ("turn_timeout", c.turn_timeout)]
    {
        if d.0.is_zero() {
            out.push(problem(&["agent", key], "must be above 0"));
        }
    }
    for t in &c.tools {
        if !TOOL_FAMILIES.contains(&t.as_str()) {
            out.push(problem(
                &["agent", "tools"],
                format!("unknown tool '{t}'; the tools are {}", TOOL_FAMILIES.join(", ")),
            ));
        }
    }
    if c.tools.iter().any(|t| t == "computer") && c.computer.is_none() {
        out.push(problem(
            &["agent", "tools"],
            "the computer tool needs an [agent.computer] section naming the X display",
        ));
    }
    if let Some(d) = &c.computer
        && !d.display.starts_with(':')
        && !d.display.contains(':')
    {
        out.push(problem(&["agent", "computer", "display"], "must be an X display, like \":1\""));
    }
    for a in c.actions.iter().flatten() {
        if !actions.contains_key(a) {
            out.push(problem(&["agent", "actions"], format!("no action named '{a}' in [actions]")));
        }
    }
}

pub(super) fn check_vnc(c: &VncConfig, out: &mut Vec<Problem>) {
    for (name, t) in &c.targets {
        if !super::valid_name(name) {
            out.push(problem(&["vnc", "targets", name], "a target name is letters, digits, '-' and '_'"));
        }
        let ok = t
            .address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            out.push(problem(
                &["vnc", "targets", name, "address"],
                format!("'{}' is not host:port, like \"127.0.0.1:5900\"", t.address),
            ));
        }
    }
}
