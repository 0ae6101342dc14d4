//! The fleet in one Prometheus scrape: each host's host and service gauges,
//! fetched through its link at scrape time and labelled `host="NAME"`, merged
//! into the hub's own families (the text format wants a family's samples together).
//!
//! A host's text is not trusted: each sample is parsed and written again, and
//! what does not parse, or already names a `host`, is left out, so one host
//! cannot break the hub's scrape.

use std::collections::HashMap;

/// The families taken from hosts: the machine and its services.
const TAKEN: [&str; 2] = ["ctrl_host_", "ctrl_service_"];

/// The most samples taken from one host.
const MAX_SAMPLES: usize = 10_000;

/// `own` (the hub's exposition) with every host's gauges added to their families.
pub fn merge(own: &str, hosts: &[(String, String)]) -> String {
    // The hub's own text, block by family, in order.
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in own.lines() {
        let family = family_of(line);
        match blocks.last_mut() {
            Some((f, text)) if *f == family => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {
                index.entry(family.clone()).or_insert(blocks.len());
                blocks.push((family, format!("{line}\n")));
            }
        }
    }
    for (host, text) in hosts {
        let mut taken = 0;
        for line in text.lines() {
            let family = family_of(line);
            if !TAKEN.iter().any(|p| family.starts_with(p)) || !valid_name(&family) {
                continue;
            }
            if line.starts_with('#') {
                // A family the hub does not have: the host's type starts it.
                if let Some(kind) = line.strip_prefix(&format!("# TYPE {family} "))
                    && matches!(kind.trim(), "gauge" | "counter")
                    && !index.contains_key(&family)
                {
                    index.insert(family.clone(), blocks.len());
                    blocks.push((family.clone(), format!("# TYPE {family} {}\n", kind.trim())));
                }
                continue;
            }
            let Some(&at) = index.get(&family) else { continue };
            let Some(sample) = labelled(line, host) else { continue };
            if taken == MAX_SAMPLES {
                break;
            }
            taken += 1;
            blocks[at].1.push_str(&sample);
            blocks[at].1.push('\n');
        }
    }
    blocks.into_iter().map(|(_, t)| t).collect()
}

/// The metric family a line is about.
fn family_of(line: &str) -> String {
    let rest = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")).unwrap_or(line);
    rest.split(|c: char| c == '{' || c.is_whitespace()).next().unwrap_or_default().to_owned()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// A sample line, checked and written again with `host="NAME"` as its first
/// label; `None` when it does not parse or already has a `host` label.
fn labelled(line: &str, host: &str) -> Option<String> {
    let name_end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            r = r.trim_start_matches(',');
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = r.split_once("=\"")?;
            if !valid_name(key) || key == "host" {
                return None;
            }
            // The value runs to the first quote not escaped.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    (false, '\n' | '\r') => return None,
                    _ => {}
                }
            }
            let end = end?;
            labels.push(format!("{key}=\"{}\"", &after[..end]));
            r = &after[end + 1..];
        }
    }
    let mut parts = rest.split_whitespace();
    let value = parts.next()?;
    let ok = value.parse::<f64>().is_ok() || matches!(value, "NaN" | "+Inf" | "-Inf");
    let stamp = parts.next();
    if !ok || stamp.is_some_and(|t| t.parse::<i64>().is_err()) || parts.next().is_some() {
        return None;
    }
    let host = host.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!("{name}{{host=\"{host}\"");
    for l in labels {
        out.push(',');
        out.push_str(&l);
    }
    out.push_str("} ");
    out.push_str(value);
    if let Some(t) = stamp {
        out.push(' ');
        out.push_str(t);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "# HELP ctrl_host_cpu_percent Total CPU use, 0-100.\n# TYPE ctrl_host_cpu_percent gauge\n\
        ctrl_host_cpu_percent 12.5\n# HELP ctrl_service_up 1 when up.\n# TYPE ctrl_service_up gauge\n\
        ctrl_service_up{service=\"api\"} 1\n# HELP ctrl_http_requests_total x\n# TYPE ctrl_http_requests_total counter\n\
        ctrl_http_requests_total{route=\"/\"} 3\n";

    const HOST: &str = "# HELP ctrl_host_cpu_percent Total CPU use, 0-100.\n# TYPE ctrl_host_cpu_percent gauge\n\
        ctrl_host_cpu_percent 80\n# HELP ctrl_service_up 1 when up.\n# TYPE ctrl_service_up gauge\n\
        ctrl_service_up{service=\"db\"} 0\n# HELP ctrl_host_gpu_busy GPU.\n# TYPE ctrl_host_gpu_busy gauge\n\
        ctrl_host_gpu_busy{gpu=\"0\"} 5\n# HELP ctrl_http_requests_total x\n# TYPE ctrl_http_requests_total counter\n\
        ctrl_http_requests_total{route=\"/\"} 99\n";

    #[test]
    fn each_hosts_gauges_join_their_family_with_a_host_label() {
        let out = merge(OWN, &[("web-1".into(), HOST.into()), ("we\"ird".into(), HOST.into())]);
        let lines: Vec<&str> = out.lines().collect();
        let at =
            |l: &str| lines.iter().position(|x| *x == l).unwrap_or_else(|| panic!("no line {l} in\n{out}"));
        assert!(at("ctrl_host_cpu_percent 12.5") < at("ctrl_host_cpu_percent{host=\"web-1\"} 80"));
        assert!(at("ctrl_host_cpu_percent{host=\"web-1\"} 80") < at("# HELP ctrl_service_up 1 when up."));
        assert!(
            at("ctrl_service_up{host=\"web-1\",service=\"db\"} 0") > at("ctrl_service_up{service=\"api\"} 1")
        );
        assert!(lines.contains(&"ctrl_host_cpu_percent{host=\"we\\\"ird\"} 80"), "{out}");
        // A family only hosts have comes with its type, once.
        assert_eq!(lines.iter().filter(|l| l.starts_with("# TYPE ctrl_host_gpu_busy")).count(), 1);
        assert!(at("# TYPE ctrl_host_gpu_busy gauge") < at("ctrl_host_gpu_busy{host=\"web-1\",gpu=\"0\"} 5"));
        // The hosts' HTTP counters stay theirs.
        assert!(!out.contains("99"));
        for f in ["ctrl_host_cpu_percent", "ctrl_service_up", "ctrl_http_requests_total"] {
            let typed = lines.iter().filter(|l| l.starts_with(&format!("# TYPE {f} "))).count();
            assert_eq!(typed, 1, "{f}");
        }
    }

    #[test]
    fn a_host_cannot_break_the_scrape() {
        let evil = "ctrl_host_cpu_percent{host=\"other\"} 1\nctrl_host_cpu_percent{a=\"b\" 2\n\
            ctrl_host_cpu_percent not-a-number\nctrl_host_cpu_percent{x=\"1\"} 3 4 5\n\
            ctrl_host_cpu_percent{x=\"a\\\"b\",y=\"c\"} 7 1700000000000\n# TYPE ctrl_host_new histogram\n\
            ctrl_host_new_bucket{le=\"1\"} 1\nctrl_host_cpu_percent{bad key=\"1\"} 9\n";
        let out = merge(OWN, &[("web-1".into(), evil.into())]);
        let hosts: Vec<&str> = out.lines().filter(|l| l.contains("host=")).collect();
        assert_eq!(
            hosts,
            ["ctrl_host_cpu_percent{host=\"web-1\",x=\"a\\\"b\",y=\"c\"} 7 1700000000000"],
            "{out}"
        );
        assert!(!out.contains("histogram"));
    }
}
