//! The search box's language, parsed before any engine sees it: words (all
//! must match), `"a phrase"`, `prefix*`, `-excluded`, and `agent:`, `tag:`,
//! `creator:`, `category:` filters. Whatever a person types parses to
//! something: stray quotes close at the end, operators alone are dropped, so
//! no input reaches the engine as syntax of its own.

/// Longest query accepted, in bytes.
pub const MAX_QUERY: usize = 1024;
/// Most terms in one query.
pub const MAX_TERMS: usize = 32;

/// One thing to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A word, as the index's tokenizer sees it (lowercase).
    Word(String),
    /// Words starting with this.
    Prefix(String),
    /// These words, next to each other in this order.
    Phrase(Vec<String>),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Every one must match.
    pub must: Vec<Term>,
    /// None may match.
    pub not: Vec<Term>,
    /// Filters given inside the query text.
    pub filters: Filters,
}

/// Narrowing by metadata: from the query text or the request's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    /// Files of this agent.
    pub agent: Option<String>,
    /// Files of this category (their own, else their agent's).
    pub category: Option<String>,
    /// Files by this creator id.
    pub creator: Option<String>,
    /// Files with this tag.
    pub tag: Option<String>,
}

impl Filters {
    /// These filters, each overridden by `other`'s when `other` has one.
    pub fn or(self, other: Filters) -> Filters {
        Filters {
            agent: other.agent.or(self.agent),
            category: other.category.or(self.category),
            creator: other.creator.or(self.creator),
            tag: other.tag.or(self.tag),
        }
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self.agent.is_none() && self.category.is_none() && self.creator.is_none() && self.tag.is_none()
    }
}

/// Why a query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Over [`MAX_QUERY`] bytes.
    #[error("the query is {0} bytes long; at most {MAX_QUERY} are searched")]
    TooLong(usize),
    /// Over [`MAX_TERMS`] terms.
    #[error("the query has {0} terms; at most {MAX_TERMS} are searched")]
    TooManyTerms(usize),
}

/// The words of `text` as the index sees them: runs of letters and digits,
/// lowercased letter by letter (as the index's lowercaser does: a final Σ is σ).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().flat_map(char::to_lowercase).collect())
        .collect()
}

/// Parses what a person typed.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY {
        return Err(QueryError::TooLong(text.len()));
    }
    let mut q = Query::default();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let negated = rest.starts_with('-');
        if negated {
            rest = &rest[1..];
        }
        let terms = if let Some(inner) = rest.strip_prefix('"') {
            // A phrase runs to the next quote, or to the end when none closes it.
            let end = inner.find('"').unwrap_or(inner.len());
            rest = inner.get(end + 1..).unwrap_or("");
            phrase(&inner[..end]).into_iter().collect()
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let token = &rest[..end];
            rest = &rest[end..];
            if !negated && filter(&mut q.filters, token) { vec![] } else { word(token) }
        };
        if negated {
            q.not.extend(terms)
        } else {
            q.must.extend(terms)
        }
        rest = rest.trim_start();
    }
    let n = q.must.len() + q.not.len();
    if n > MAX_TERMS {
        return Err(QueryError::TooManyTerms(n));
    }
    Ok(q)
}

/// `agent:x` and the like; true when `token` was one.
fn filter(f: &mut Filters, token: &str) -> bool {
    let Some((key, value)) = token.split_once(':') else { return false };
    let slot = match key.to_ascii_lowercase().as_str() {
        "agent" => &mut f.agent,
        "tag" => &mut f.tag,
        "creator" => &mut f.creator,
        "category" => &mut f.category,
        _ => return false,
    };
    let value = value.trim_matches('"');
    if value.is_empty() {
        return false;
    }
    *slot = Some(value.to_owned());
    true
}

fn phrase(text: &str) -> Option<Term> {
    let mut w = words(text);
    match w.len() {
        0 => None,
        1 => w.pop().map(Term::Word),
        _ => Some(Term::Phrase(w)),
    }
}

/// A bare token: `word`, `prefix*`, or punctuation-joined words (`e-mail`) as a
/// phrase; `e-ma*` is the word `e` and the prefix `ma`.
fn word(token: &str) -> Vec<Term> {
    let prefix = token.ends_with('*');
    let mut w = words(token.trim_end_matches('*'));
    match (w.len(), prefix) {
        (0, _) => vec![],
        (1, false) => w.into_iter().map(Term::Word).collect(),
        (_, false) => vec![Term::Phrase(w)],
        (_, true) => {
            let last = w.pop().map(Term::Prefix);
            w.into_iter().map(Term::Word).chain(last).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Term {
        Term::Word(s.into())
    }

    #[test]
    fn the_syntax_of_design() {
        let q = parse(r#"Rust "async runtime" tok* -python agent:coder tag:perf"#).unwrap();
        assert_eq!(
            q.must,
            vec![w("rust"), Term::Phrase(vec!["async".into(), "runtime".into()]), Term::Prefix("tok".into())]
        );
        assert_eq!(q.not, vec![w("python")]);
        assert_eq!(q.filters.agent.as_deref(), Some("coder"));
        assert_eq!(q.filters.tag.as_deref(), Some("perf"));
    }

    #[test]
    fn whatever_is_typed_parses() {
        // Stray quotes close at the end; operators alone are dropped.
        assert_eq!(
            parse(r#""unclosed phrase"#).unwrap().must,
            vec![Term::Phrase(vec!["unclosed".into(), "phrase".into()])]
        );
        let q = parse(r#"* - -- "" () AND OR NEAR ^ : *:* {x}"#).unwrap();
        assert_eq!(q.must, vec![w("and"), w("or"), w("near"), w("x")]);
        assert_eq!(parse("   ").unwrap(), Query::default());
        assert_eq!(parse("e-mail").unwrap().must, vec![Term::Phrase(vec!["e".into(), "mail".into()])]);
        assert_eq!(parse("e-ma*").unwrap().must, vec![w("e"), Term::Prefix("ma".into())]);
        assert_eq!(
            parse("unknown:key").unwrap().must,
            vec![Term::Phrase(vec!["unknown".into(), "key".into()])]
        );
        assert_eq!(parse("agent:").unwrap().must, vec![w("agent")]);
        assert_eq!(parse("-agent:x").unwrap().not, vec![Term::Phrase(vec!["agent".into(), "x".into()])]);
        assert_eq!(parse("Ünïcode ÉTÉ ΟΔΟΣ").unwrap().must, vec![w("ünïcode"), w("été"), w("οδοσ")]);
    }

    #[test]
    fn limits() {
        assert_eq!(parse(&"a".repeat(MAX_QUERY + 1)), Err(QueryError::TooLong(MAX_QUERY + 1)));
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert_eq!(parse(&many), Err(QueryError::TooManyTerms(MAX_TERMS + 1)));
        assert!(parse(&vec!["w"; MAX_TERMS].join(" ")).is_ok());
    }

    #[test]
    fn filters_from_the_request_win() {
        let inline = Filters { agent: Some("a".into()), tag: Some("t".into()), ..Filters::default() };
        let given = Filters { agent: Some("b".into()), ..Filters::default() };
        let f = inline.or(given);
        assert_eq!((f.agent.as_deref(), f.tag.as_deref()), (Some("b"), Some("t")));
    }
}
