//! The fleet in one Prometheus scrape: each host's host and service gauges,
//! fetched through its link at scrape time and labelled `host="NAME"`, merged
//! into the hub's own families (the text format wants a family's samples together).

/// The families taken from hosts: the machine and its services.
const TAKEN: [&str; 2] = ["ctrl_host_", "ctrl_service_"];

/// `own` (the hub's exposition) with every host's gauges added to their families.
pub fn merge(own: &str, hosts: &[(String, String)]) -> String {
    // The hub's own text, block by family, in order.
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in own.lines() {
        let family = family_of(line);
        match blocks.last_mut() {
            Some((f, text)) if *f == family => {
                text.push_str(line);
                text.push('\n');
            }
            _ => blocks.push((family, format!("{line}\n"))),
        }
    }
    for (host, text) in hosts {
        let mut help: Option<&str> = None;
        for line in text.lines() {
            let family = family_of(line);
            if !TAKEN.iter().any(|p| family.starts_with(p)) {
                continue;
            }
            if line.starts_with("# HELP") {
                help = Some(line);
                continue;
            }
            if line.starts_with('#') {
                // A family the hub does not have: the host's HELP and TYPE start it.
                if !blocks.iter().any(|(f, _)| *f == family) {
                    blocks.push((family.clone(), format!("{}\n{line}\n", help.unwrap_or_default())));
                }
                continue;
            }
            let Some(sample) = labelled(line, host) else { continue };
            match blocks.iter_mut().find(|(f, _)| *f == family) {
                Some((_, text)) => {
                    text.push_str(&sample);
                    text.push('\n');
                }
                None => blocks.push((family, format!("{sample}\n"))),
            }
        }
    }
    blocks.into_iter().map(|(_, t)| t).collect()
}

/// The metric family a line is about.
fn family_of(line: &str) -> String {
    let rest = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")).unwrap_or(line);
    rest.split(|c: char| c == '{' || c.is_whitespace()).next().unwrap_or_default().to_owned()
}

/// A sample line with `host="NAME"` as its first label.
fn labelled(line: &str, host: &str) -> Option<String> {
    let host = host.replace('\\', "\\\\").replace('"', "\\\"");
    let split = line.find(['{', ' '])?;
    let (name, rest) = line.split_at(split);
    Some(match rest.strip_prefix('{') {
        Some(labels) if labels.starts_with('}') => format!("{name}{{host=\"{host}\"{labels}"),
        Some(labels) => format!("{name}{{host=\"{host}\",{labels}"),
        None => format!("{name}{{host=\"{host}\"}}{rest}"),
    })
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
        // A family only hosts have comes with its help and type, once.
        assert_eq!(lines.iter().filter(|l| l.starts_with("# TYPE ctrl_host_gpu_busy")).count(), 1);
        assert!(at("# TYPE ctrl_host_gpu_busy gauge") < at("ctrl_host_gpu_busy{host=\"web-1\",gpu=\"0\"} 5"));
        // The hosts' HTTP counters stay theirs.
        assert!(!out.contains("99"));
        // Every family's type is stated once.
        for f in ["ctrl_host_cpu_percent", "ctrl_service_up", "ctrl_http_requests_total"] {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| **l == format!("# TYPE {f} gauge") || **l == format!("# TYPE {f} counter"))
                    .count(),
                1,
                "{f}"
            );
        }
    }
}
