//! The INI dialect supervisord reads (Python's configparser): `[section]`,
//! `key = value` or `key: value`, full-line comments with `;` or `#`, inline
//! ones after whitespace, indented continuation lines, no duplicates.
//!
//! Written by hand: the INI crates differ from configparser on inline comments
//! and continuations, and an error must name its line.

/// One `[section]` with its entries in file order.
#[derive(Debug, PartialEq)]
pub struct Section {
    /// Its name, as written between the brackets.
    pub name: String,
    /// The line of its header.
    pub line: usize,
    /// `key` (lowercase, as configparser makes it), value, line.
    pub entries: Vec<(String, String, usize)>,
}

impl Section {
    /// A key's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| v.as_str())
    }
}

/// The sections of `text`, or the first line that is not INI and why.
pub fn parse(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    // Whether an indented line now continues the last value (it follows a key,
    // or another continuation); after a header it is a key of its own.
    let mut continuable = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t'])
            && continuable
            && let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut())
        {
            entry.1.push('\n');
            entry.1.push_str(strip_comment(trimmed));
            continue;
        }
        if let Some(rest) = strip_comment(trimmed).strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                let shown = strip_comment(trimmed);
                return Err((n, format!("'{shown}' is not a section header: it lacks the closing ']'")));
            };
            let name = name.trim();
            if sections.iter().any(|s| s.name == name) {
                return Err((n, format!("section [{name}] appears twice")));
            }
            sections.push(Section { name: name.to_string(), line: n, entries: Vec::new() });
            continuable = false;
            continue;
        }
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err((n, format!("'{trimmed}' is neither 'key = value' nor a [section]")));
        };
        let (k, v) = (trimmed[..at].trim().to_ascii_lowercase(), strip_comment(trimmed[at + 1..].trim()));
        let Some(section) = sections.last_mut() else {
            return Err((n, format!("'{k}' comes before any [section]")));
        };
        if k.is_empty() {
            return Err((n, "a value without a key".into()));
        }
        if section.entries.iter().any(|(e, _, _)| *e == k) {
            return Err((n, format!("'{k}' appears twice in [{}]", section.name)));
        }
        section.entries.push((k, v.to_string(), n));
        continuable = true;
    }
    Ok(sections)
}

/// `value ; comment` → `value` (a `;` or `#` after whitespace starts a comment).
fn strip_comment(v: &str) -> &str {
    let bytes = v.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b';' || *b == b'#') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return v[..i].trim_end();
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_continuations() {
        let text = "; top\n[program:cat]   ; a comment\ncommand = /bin/cat ; inline\nenvironment=A=\"1\",\n  B=\"2\"\n\
                    url=http://x/#frag\nKey: v\n\n[group:g]\nprograms=cat\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "program:cat");
        assert_eq!(s[0].get("command"), Some("/bin/cat"));
        assert_eq!(s[0].get("environment"), Some("A=\"1\",\nB=\"2\""));
        assert_eq!(s[0].get("url"), Some("http://x/#frag"));
        assert_eq!(s[0].get("key"), Some("v"));
        assert_eq!(s[0].entries[0].2, 3);
        assert_eq!(s[1].get("programs"), Some("cat"));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("[a]\nx=1\n[b\n").unwrap_err().0, 3);
        assert_eq!(parse("x=1\n").unwrap_err(), (1, "'x' comes before any [section]".into()));
        assert_eq!(parse("[a]\njunk\n").unwrap_err().0, 2);
        assert_eq!(parse("[a]\n[a]\n").unwrap_err().0, 2);
        assert_eq!(parse("[a]\nx=1\nx=2\n").unwrap_err().0, 3);
        assert_eq!(parse("  x=1\n").unwrap_err().0, 1);
        // Indented right after a header: a key of its own, as configparser reads it.
        let s = parse("[a]\n  x=1\n    more\n").unwrap();
        assert_eq!(s[0].get("x"), Some("1\nmore"));
    }
}
