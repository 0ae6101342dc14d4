//! Parsing, validation and error locations.

use std::path::Path;
use std::time::Duration;

use super::*;

fn errs(text: &str) -> Vec<ConfigError> {
    parse(Path::new("/etc/ctrl/ctrl.toml"), text).unwrap_err().0
}

const FULL: &str = r#"
[server]
listen = "127.0.0.1:8080"
cors_origins = ["http://localhost:3000"]
ws_interval = "2s"
state_dir = "state"

[storage]
url = "sqlite://state/ctrl.db"

[monitor]
sample_interval = "1s"
port_range = [3000, 9000]
process_limit = 50

[services.db]
command = "sleep 1000"

[services.web]
command = ["python3", "-m", "http.server", "8000"]
cwd = "."
env = { MODE = "dev" }
env_file = ".env"
port = 8000
autostart = true
restart = "on-failure"
backoff = { initial = "500ms", max = "30s" }
start_limit = { burst = 5, interval = "60s" }
stop_signal = "TERM"
stop_timeout = "10s"
depends_on = { db = "healthy" }
log = { max_size = "10MB", keep = 5, format = "timestamped" }
readiness = { http = "http://127.0.0.1:8000/", interval = "2s", timeout = "1s", failure_threshold = 3 }
liveness = { tcp = "127.0.0.1:8000" }
"#;

#[test]
fn design_example_parses_and_resolves_paths() {
    let c = parse(Path::new("/etc/ctrl/ctrl.toml"), FULL).unwrap();
    assert_eq!(c.server.state_dir, Path::new("/etc/ctrl/state"));
    assert_eq!(c.storage.url.as_deref(), Some("sqlite:///etc/ctrl/state/ctrl.db"));
    let web = &c.services["web"];
    assert_eq!(web.cwd.as_deref(), Some(Path::new("/etc/ctrl/.")));
    assert_eq!(web.env_file.as_deref(), Some(Path::new("/etc/ctrl/.env")));
    assert_eq!(web.depends_on["db"], Condition::Healthy);
    assert_eq!(web.log.max_size, ByteSize(10 << 20));
    assert_eq!(web.backoff.initial.0, Duration::from_millis(500));
    assert_eq!(
        web.readiness.as_ref().unwrap().check(),
        Some(ProbeCheck::Http("http://127.0.0.1:8000/".into()))
    );
    assert_eq!(web.liveness.as_ref().unwrap().failure_threshold, 3);
    assert_eq!(c.services["db"].argv(), ["sleep", "1000"]);
    assert_eq!(dependency_order(&c.services), [vec!["db".to_string()], vec!["web".to_string()]]);
}

#[test]
fn defaults_without_a_file() {
    let c = Config::defaults(Path::new("/srv"));
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(c.server.state_dir, Path::new("/srv/state"));
    assert!(c.services.is_empty());
}

#[test]
fn string_commands_split_like_a_shell_and_never_run_one() {
    let c = parse(
        Path::new("c.toml"),
        "[services.a]\ncommand = \"echo 'a b' \\\"c\\\" $(rm -rf x) ;\"\n[services.b]\ncommand = \"echo hi && echo there\"\nshell = true\n",
    )
    .unwrap();
    assert_eq!(c.services["a"].argv(), ["echo", "a b", "c", "$(rm", "-rf", "x)", ";"]);
    assert_eq!(c.services["b"].argv(), ["sh", "-c", "echo hi && echo there"]);
}

#[test]
fn typo_in_a_key_names_line_column_and_key() {
    let e = errs("[services.web]\ncommand = [\"x\"]\nrestrat = \"always\"\n");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].column), (3, 1));
    assert_eq!(e[0].key, "services.web.restrat");
    assert!(e[0].message.contains("unknown field 'restrat'"), "{}", e[0].message);
    assert!(e[0].to_string().starts_with("/etc/ctrl/ctrl.toml:3:1: services.web.restrat: "));
}

#[test]
fn bad_enum_value_is_located() {
    let e = errs("[services.web]\ncommand = [\"x\"]\nrestart = \"alway\"\n");
    assert_eq!((e[0].line, e[0].column, e[0].key.as_str()), (3, 11, "services.web.restart"));
    assert!(e[0].message.contains("always"), "{}", e[0].message);
}

#[test]
fn bad_duration_and_size_are_located() {
    let e = errs("[services.web]\ncommand = [\"x\"]\nlog = { max_size = \"ten\" }\n");
    assert_eq!(e[0].key, "services.web.log.max_size");
    assert_eq!(e[0].line, 3);
    let e = errs("[services.web]\ncommand = [\"x\"]\nstop_timeout = \"soon\"\n");
    assert!(e[0].message.contains("'soon' is not a duration"), "{}", e[0].message);
}

#[test]
fn syntax_error_is_located() {
    let e = errs("[services.web\ncommand = 1\n");
    assert_eq!(e[0].line, 1);
    assert!(!e[0].message.is_empty());
}

#[test]
fn unknown_dependency_is_located() {
    let e = errs("[services.web]\ncommand = [\"x\"]\ndepends_on = { dbb = \"healthy\" }\n");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].column), (3, 16));
    assert_eq!(e[0].key, "services.web.depends_on.dbb");
    assert!(e[0].message.contains("unknown service 'dbb'"));
}

#[test]
fn dependency_cycle_names_the_cycle() {
    let e = errs(
        "[services.a]\ncommand = \"x\"\ndepends_on = { b = \"started\" }\n[services.b]\ncommand = \"x\"\ndepends_on = { c = \"started\" }\n[services.c]\ncommand = \"x\"\ndepends_on = { a = \"healthy\" }\n",
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].message, "dependency cycle: a -> b -> c -> a");
    assert_eq!((e[0].line, e[0].key.as_str()), (3, "services.a.depends_on"));
}

#[test]
fn several_problems_are_reported_together() {
    let e = errs(
        "[services.\"bad/name\"]\ncommand = []\n[services.ok]\ncommand = \"x\"\nport = 0\nreadiness = { interval = \"1s\" }\nshell = true\n",
    );
    let msgs: Vec<_> = e.iter().map(|e| e.to_string()).collect();
    assert_eq!(e.len(), 4, "{msgs:#?}");
    assert!(msgs[0].contains("not a valid service name"));
    assert!(msgs[1].contains("the command is empty"));
    assert!(msgs[2].contains("port 0"));
    assert!(msgs[3].contains("exactly one of http, tcp or exec"));
}

#[test]
fn env_overrides() {
    let mut c = Config::defaults(Path::new("/srv"));
    c.apply_env(|k| match k {
        "CTRL_STATE_DIR" => Some("/var/lib/ctrl".into()),
        "CTRL_LISTEN" => Some("127.0.0.1:9999".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:9999");
    assert_eq!(c.storage.url.as_deref(), Some("sqlite:///var/lib/ctrl/ctrl.db"));
    assert!(c.apply_env(|k| (k == "CTRL_WS_INTERVAL").then(|| "x".into())).is_err());
}

#[test]
fn cors_origins_must_be_origins() {
    let e = errs("[server]\ncors_origins = [\"http://ok:3000\", \"*\", \"http://a/b\", \"ftp://x\"]\n");
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e.iter().all(|e| e.line == 2 && e.key == "server.cors_origins"), "{e:?}");
    assert!(e[0].message.contains("'*' is not an origin"), "{}", e[0].message);
    let mut c = Config::defaults(Path::new("/srv"));
    assert!(c.apply_env(|k| (k == "CTRL_CORS_ORIGINS").then(|| "https://x.example, *".into())).is_err());
    c.apply_env(|k| (k == "CTRL_CORS_ORIGINS").then(|| "https://x.example/".into())).unwrap();
    assert_eq!(c.server.cors_origins, ["https://x.example/"]);
}

const JOBS: &str = r#"
[services.web]
command = "sleep 1000"

[actions.deploy]
command = ["./deploy.sh", "{env}", "--tag={tag}"]
timeout = "5m"
concurrency = 1
role = "operator"
confirm = true
params.env = { type = "enum", values = ["staging", "prod"] }
params.tag = { type = "string", pattern = "^[a-z0-9.-]{1,32}$" }
params.count = { type = "int", min = 1, max = 10, default = 1 }
params.file = { type = "path", root = "uploads" }

[actions.restart-web]
kind = "service"
service = "web"
operation = "restart"

[actions.backup-docs]
kind = "backup"
source = { path = "docs" }
target = "docs"
retention = { keep = 7, max_age = "30d" }

[schedules.nightly-docs]
action = "backup-docs"
cron = "0 2 * * *"
timezone = "UTC"
missed = "run_once"
params = {}
"#;

#[test]
fn design_actions_and_schedules_parse_and_resolve_paths() {
    let c = parse(Path::new("/srv/app/ctrl.toml"), JOBS).unwrap();
    let deploy = &c.actions["deploy"];
    assert_eq!(deploy.params["file"].root.as_deref(), Some(Path::new("/srv/app/uploads")));
    assert_eq!(deploy.timeout.0, Duration::from_secs(300));
    let backup = &c.actions["backup-docs"];
    assert_eq!(backup.kind, ActionKind::Backup);
    assert_eq!(backup.source.as_ref().unwrap().path.as_deref(), Some(Path::new("/srv/app/docs")));
    assert_eq!(c.schedules["nightly-docs"].missed, Missed::RunOnce);
    assert_eq!(c.backups.dir.as_deref(), Some(Path::new("/srv/app/state/backups")));
}

#[test]
fn action_mistakes_are_located() {
    let text = "[actions.a]\ncommand = [\"echo\", \"{who}\"]\n\n[actions.b]\nkind = \"service\"\nservice = \"nope\"\noperation = \"start\"\nsource = { path = \"x\" }\n\n[schedules.s]\naction = \"a\"\ncron = \"daily@25:00\"\n";
    let e = errs(text);
    let got: Vec<_> = e.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("actions.a.command", 2),
            ("actions.b.source", 8),
            ("actions.b.service", 6),
            ("schedules.s.cron", 12)
        ],
        "{e:#?}"
    );
    assert!(e[0].message.contains("'{who}' names no parameter"));
    let e = errs(
        "[actions.a]\ncommand = [\"x\"]\nparams.n = { type = \"int\", pattern = \"x\", min = 5, max = 1 }\n",
    );
    let msgs: Vec<_> = e.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs, ["'pattern' applies only to type \"string\"", "min is above max"], "{e:#?}");
    assert!(errs("[actions.a]\ncommand = [\"x\"]\nrole = \"root\"\n")[0].message.contains("unknown variant"));
}

#[test]
fn alert_rules_are_checked() {
    let ok = "[services.web]\ncommand = \"sleep 1\"\n[alerts.channels.ops]\nurl = \"https://ntfy.sh/t\"\nformat = \"ntfy\"\n[alerts.rules.crashes]\non = [\"crash\", \"fatal\"]\nchannels = [\"ops\"]\nservices = [\"web\"]\n[alerts.rules.cpu]\non = [\"cpu\"]\nabove = 90\nfor = \"5m\"\nchannels = [\"ops\"]\n";
    let c = parse(Path::new("/srv/ctrl.toml"), ok).unwrap();
    assert_eq!(c.alerts.rules["cpu"].hold.unwrap().0, Duration::from_secs(300));
    let e = errs(
        "[alerts.channels.ops]\nurl = \"ftp://x\"\n[alerts.rules.r]\non = [\"cpu\", \"crash\"]\nchannels = [\"nope\"]\n[alerts.rules.m]\non = [\"memory\"]\nchannels = [\"ops\"]\n",
    );
    let keys: Vec<_> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "alerts.channels.ops.url",
            "alerts.rules.m.above",
            "alerts.rules.m.for",
            "alerts.rules.r.on",
            "alerts.rules.r.channels"
        ],
        "{e:#?}"
    );
    assert!(
        errs("[alerts.rules.r]\non = [\"boom\"]\nchannels = []\n")[0].message.contains("unknown variant")
    );
}

/// The config a newcomer runs first parses and validates as shipped.
#[test]
fn the_demo_config_parses() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.toml"));
    let text = std::fs::read_to_string(path).unwrap();
    let c = parse(path, &text).unwrap_or_else(|e| panic!("examples/demo.toml: {e:?}"));
    let services: Vec<&str> = c.services.keys().map(String::as_str).collect();
    assert_eq!(services, ["flaky", "model", "setup", "web", "worker"]);
    assert!(c.actions.contains_key("backup-demo") && c.schedules.contains_key("hourly-backup"));
    let llm = c.llm.expect("the demo has a gateway");
    assert_eq!(llm.upstreams["demo"].url, "http://127.0.0.1:8643/v1", "the demo's model service");
    assert_eq!(c.agent.expect("the demo has agent sessions").model, "demo-echo");
}

#[test]
fn agent_and_vnc_settings_are_checked() {
    const LLM: &str = "[llm.upstreams.a]\nurl = \"http://127.0.0.1:1/v1\"\n";
    let msgs = |text: &str| -> Vec<String> { errs(text).into_iter().map(|e| e.message).collect() };
    assert!(msgs("[agent]\nmodel = \"m\"\n")[0].contains("add an [llm] section"));
    let bad = format!(
        "{LLM}[agent]\nmodel = \"\"\nmax_iterations = 0\ntools = [\"shell\", \"computer\"]\nactions = [\"nope\"]\ntool_timeout = \"0s\"\n"
    );
    let m = msgs(&bad);
    for want in [
        "must name a model",
        "at least 1",
        "unknown tool 'shell'",
        "needs an [agent.computer]",
        "no action named 'nope'",
        "must be above 0",
    ] {
        assert!(m.iter().any(|x| x.contains(want)), "{want}: {m:?}");
    }
    let vnc = msgs("[vnc.targets.desk]\naddress = \"localhost\"\n[vnc.targets.\"a b\"]\naddress = \"h:1\"\n");
    assert!(vnc.iter().any(|x| x.contains("is not host:port")), "{vnc:?}");
    assert!(vnc.iter().any(|x| x.contains("a target name")), "{vnc:?}");
    let good = format!(
        "{LLM}[agent]\nmodel = \"m\"\ntools = [\"computer\"]\n[agent.computer]\ndisplay = \":1\"\n[vnc.targets.desk]\naddress = \"127.0.0.1:5900\"\nrole = \"admin\"\n"
    );
    let c = parse(Path::new("ctrl.toml"), &good).unwrap();
    let a = c.agent.unwrap();
    assert_eq!(
        (a.max_iterations, a.tool_timeout.0.as_secs(), a.computer.unwrap().display.as_str()),
        (20, 60, ":1")
    );
    assert_eq!(c.vnc.targets["desk"].role, crate::Role::Admin);
}

#[test]
fn a_shared_database_is_postgresql_and_its_hubs_run_nothing_of_their_own() {
    let ok = parse(
        Path::new("/etc/ctrl/ctrl.toml"),
        "[server]\nadvertise = \"https://hub-1.lan:8443\"\n[storage]\nurl = \"postgres://db/ctrl\"\nshared = true\n",
    )
    .unwrap();
    assert!(ok.storage.shared);
    assert_eq!(ok.server.advertise.as_deref(), Some("https://hub-1.lan:8443"));

    let e = errs("[storage]\nurl = \"sqlite://ctrl.db\"\nshared = true\n\n[services.web]\ncommand = \"x\"\n");
    let found: Vec<(&str, usize)> = e.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(found, [("storage.shared", 3), ("services", 5)], "{e:?}");
    assert!(e[0].message.contains("only a PostgreSQL database can be shared"));
    assert!(e[1].message.contains("runs no [services] of its own"), "{}", e[1].message);

    let e = errs("[server]\nadvertise = \"hub-1:8443/x\"\n");
    assert_eq!((e[0].key.as_str(), e[0].line), ("server.advertise", 2));
    assert!(e[0].message.contains("is not an address"), "{}", e[0].message);
}

/// A machine with one user and one group, as root or not.
struct Fake {
    root: bool,
}

impl Machine for Fake {
    fn is_root(&self) -> bool {
        self.root
    }
    fn has_user(&self, name: &str) -> bool {
        name == "www-data" || name.parse::<u32>().is_ok()
    }
    fn has_group(&self, name: &str) -> bool {
        name == "www-data"
    }
}

const RUN_AS: &str = r#"
[services.web]
command = "sleep 1"
user = "www-data"
group = "www-data"
limits = { nofile = 65536, nproc = "unlimited", core = 0 }

[actions.dump]
kind = "backup"
source = { command = ["pg_dump", "app"] }
target = "db"
user = "1001"
"#;

#[test]
fn user_group_and_limits_parse_and_are_checked_against_the_machine() {
    let path = Path::new("/etc/ctrl/ctrl.toml");
    let c = parse_on(path, RUN_AS, &Fake { root: true }).unwrap();
    let web = &c.services["web"];
    assert_eq!((web.user.as_deref(), web.group.as_deref()), (Some("www-data"), Some("www-data")));
    assert_eq!(web.limits.settings(), vec![("nofile", Some(65536)), ("nproc", None), ("core", Some(0))]);
    assert_eq!(c.actions["dump"].user.as_deref(), Some("1001"));
    assert!(c.services["web"].limits != Limits::default());

    // Not root: each user is named where it is written.
    let e = parse_on(path, RUN_AS, &Fake { root: false }).unwrap_err().0;
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!((e[0].line, e[0].column, e[0].key.as_str()), (4, 1, "services.web.user"));
    assert!(e[0].message.contains("needs ctrl to run as root"), "{}", e[0].message);
    assert_eq!((e[1].line, e[1].key.as_str()), (12, "actions.dump.user"));

    // Unknown user and group on this machine.
    let text = RUN_AS
        .replace("user = \"www-data\"", "user = \"wwwdata\"")
        .replace("group = \"www-data\"", "group = \"web\"");
    let e = parse_on(path, &text, &Fake { root: true }).unwrap_err().0;
    let shown: Vec<String> = e.iter().map(|e| format!("{}:{} {}", e.line, e.key, e.message)).collect();
    assert_eq!(
        shown,
        [
            "4:services.web.user unknown user 'wwwdata' on this machine",
            "5:services.web.group unknown group 'web' on this machine",
        ]
    );
}

#[test]
fn run_as_keys_are_validated_where_they_apply() {
    let e = errs("[services.a]\ncommand = \"true\"\ngroup = \"adm\"\nlimits = { nofile = -1 }\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.contains("a limit cannot be negative"), "{}", e[0].message);
    let e = errs(
        "[services.a]\ncommand = \"true\"\ngroup = \"adm\"\nuser = \"bad name\"\nlimits = { stack = 1 }\n",
    );
    assert!(e[0].message.contains("unknown field 'stack'"), "{e:?}");
    let e = errs(
        "[services.a]\ncommand = \"true\"\ngroup = \"adm\"\nuser = \"bad name\"\nlimits = { core = \"lots\" }\n",
    );
    assert!(e[0].message.contains("'lots' is not a limit"), "{e:?}");
    let e = errs("[services.a]\ncommand = \"true\"\ngroup = \"adm\"\nuser = \"bad name\"\n");
    let keys: Vec<(&str, &str)> = e.iter().map(|e| (e.key.as_str(), e.message.as_str())).collect();
    assert_eq!(keys, [("services.a.user", "'bad name' is not a user name or a numeric id")]);
    let e = errs("[services.a]\ncommand = \"true\"\nlimits = { nofile = \"unlimited\" }\n");
    assert_eq!(e[0].key, "services.a.limits");
    assert!(e[0].message.contains("nofile cannot be \"unlimited\""), "{e:?}");
    let e = errs("[services.a]\ncommand = \"true\"\ngroup = \"adm\"\n");
    assert_eq!(e[0].key, "services.a.group");
    assert!(e[0].message.contains("'group' needs 'user'"));
    // Only an action that runs a command runs as someone.
    let e = errs(
        "[services.a]\ncommand = \"true\"\n\n[actions.r]\nkind = \"service\"\nservice = \"a\"\n\
         operation = \"restart\"\nuser = \"root\"\nlimits = { core = 0 }\n",
    );
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["actions.r.user", "actions.r.limits"]);
    assert!(e[0].message.contains("applies only to an action that runs a command"));
}
