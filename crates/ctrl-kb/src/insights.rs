//! What a note holds at a glance: its word count, headings and links. Pure, read
//! off the text without rendering it.

use ctrl_proto::{Heading, Insights};

/// The insights of a markdown (or plain text) body.
pub fn insights(body: &str) -> Insights {
    let mut out = Insights::default();
    let mut fenced = false;
    for line in body.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        out.words += line.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count() as u64;
        if fenced {
            continue;
        }
        if let Some(h) = heading(t) {
            out.headings.push(h);
        }
        for link in links(line) {
            if !out.links.contains(&link) {
                out.links.push(link);
            }
        }
    }
    out
}

fn heading(line: &str) -> Option<Heading> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end();
    Some(Heading { level: level as u8, text: text.to_owned() })
}

/// Link targets on one line.
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("[[") {
        let after = &rest[i + 2..];
        match after.find("]]") {
            Some(j) => {
                let target = after[..j].split('|').next().unwrap_or("").trim();
                if !target.is_empty() {
                    out.push(target.to_owned());
                }
                rest = &after[j + 2..];
            }
            None => break,
        }
    }
    let mut rest = line;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let target = after[..j].split_whitespace().next().unwrap_or("");
                if !target.is_empty() {
                    out.push(target.trim_matches(['<', '>']).to_owned());
                }
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    let mut rest = line;
    while let Some(i) = rest.find("<http") {
        let after = &rest[i + 1..];
        match after.find('>') {
            Some(j) if !after[..j].contains(char::is_whitespace) => {
                out.push(after[..j].to_owned());
                rest = &after[j + 1..];
            }
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_words_and_links() {
        let body = "# Title\n\nSome words [here](https://a.example/x \"t\") and [[Other note|alias]].\n\
                    ## Second ##\n```\n# not a heading [x](y)\n```\n#nospace\nSee <https://b.example>.\n\
                    [here](https://a.example/x) again\n";
        let i = insights(body);
        assert_eq!(
            i.headings,
            vec![Heading { level: 1, text: "Title".into() }, Heading { level: 2, text: "Second".into() }]
        );
        assert_eq!(i.links, vec!["Other note", "https://a.example/x", "https://b.example"]);
        // Title, 7 on the link line, Second, 4 in the code block, #nospace, 2, 2.
        assert_eq!(i.words, 1 + 7 + 1 + 4 + 1 + 2 + 2);
    }

    #[test]
    fn unclosed_brackets_end_the_search() {
        let i = insights("[[open and [text](no end\n");
        assert!(i.links.is_empty());
        assert_eq!(i.headings, vec![]);
    }
}
