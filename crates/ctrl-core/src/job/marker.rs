//! Lines a job prints to talk to Control Center: `::progress 42`,
//! `::progress 3/10` and `::result {json}`.

/// What a marker line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Marker {
    /// How far the job is, in percent (0–100), with the `3/10` form kept for display.
    Progress {
        /// Percent done.
        percent: f64,
        /// `"3/10"` when the job counted steps.
        label: Option<String>,
    },
    /// A summary of what the job did, shown with the job.
    Result(serde_json::Value),
}

/// Reads a marker from one line of output; `None` for ordinary lines and for
/// markers that do not parse (they stay ordinary output).
pub fn parse_marker(line: &str) -> Option<Marker> {
    let rest = line.trim_end_matches(['\r', '\n']).strip_prefix("::")?;
    if let Some(v) = rest.strip_prefix("progress ") {
        let v = v.trim();
        if let Some((done, total)) = v.split_once('/') {
            let (done, total): (f64, f64) = (done.trim().parse().ok()?, total.trim().parse().ok()?);
            if !(done.is_finite() && total.is_finite()) || total <= 0.0 || done < 0.0 {
                return None;
            }
            let label = format!("{}/{}", done, total);
            return Some(Marker::Progress { percent: (done / total * 100.0).min(100.0), label: Some(label) });
        }
        let p: f64 = v.trim_end_matches('%').parse().ok()?;
        return p.is_finite().then(|| Marker::Progress { percent: p.clamp(0.0, 100.0), label: None });
    }
    let json = rest.strip_prefix("result ")?;
    serde_json::from_str(json.trim()).ok().map(Marker::Result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_as_percent_or_steps() {
        assert_eq!(parse_marker("::progress 42"), Some(Marker::Progress { percent: 42.0, label: None }));
        assert_eq!(parse_marker("::progress 42%\n"), Some(Marker::Progress { percent: 42.0, label: None }));
        assert_eq!(
            parse_marker("::progress 3/10"),
            Some(Marker::Progress { percent: 30.0, label: Some("3/10".into()) })
        );
        assert_eq!(parse_marker("::progress 250"), Some(Marker::Progress { percent: 100.0, label: None }));
        for bad in
            ["::progress", "::progress x", "::progress 1/0", "::progress NaN", "progress 4", " ::progress 4"]
        {
            assert_eq!(parse_marker(bad), None, "{bad}");
        }
    }

    #[test]
    fn result_is_json_or_nothing() {
        assert_eq!(
            parse_marker(r#"::result {"files": 3}"#),
            Some(Marker::Result(serde_json::json!({"files": 3})))
        );
        assert_eq!(parse_marker("::result {oops"), None);
        assert_eq!(parse_marker("hello"), None);
    }
}
