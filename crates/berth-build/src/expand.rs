//! The Dockerfile's shell-like words: variables (`$V`, `${V}`, `${V:-word}`, `${V-word}`,
//! `${V:+word}`, `${V+word}`, `${V:?message}`), single and double quotes, and the
//! escape character, read as Docker reads them in ENV, LABEL, COPY, WORKDIR and the
//! other instructions that expand.

use crate::error::{BuildError, Result};

/// Where variables are looked up: the stage's ENV and ARGs.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One word, expanded, quotes removed.
pub fn word(text: &str, env: Lookup, escape: char) -> Result<String> {
    let words = words_inner(text, env, escape, false)?;
    Ok(words.into_iter().next().unwrap_or_default())
}

/// The words of `text` (split on unquoted whitespace), each expanded, quotes removed.
pub fn words(text: &str, env: Lookup, escape: char) -> Result<Vec<String>> {
    words_inner(text, env, escape, true)
}

/// `text` split on unquoted whitespace, quotes and escapes kept: for `key=value` pairs,
/// whose values are expanded afterwards.
pub fn split_raw(text: &str, escape: char) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (_, c) if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn words_inner(text: &str, env: Lookup, escape: char, split: bool) -> Result<Vec<String>> {
    let err = |m: &str| BuildError::Expand {
        word: text.to_string(),
        message: m.to_string(),
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    let mut cur = String::new();
    let mut started = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if split && c.is_whitespace() {
            if started {
                out.push(std::mem::take(&mut cur));
                started = false;
            }
            i += 1;
            continue;
        }
        started = true;
        if c == escape {
            if let Some(&n) = chars.get(i + 1) {
                cur.push(n);
                i += 2;
            } else {
                cur.push(c);
                i += 1;
            }
        } else if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or_else(|| {
                    err("unexpected end of statement while looking for matching single-quote")
                })?;
            cur.extend(&chars[i + 1..i + 1 + end]);
            i += end + 2;
        } else if c == '"' {
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(err(
                        "unexpected end of statement while looking for matching double-quote",
                    ));
                };
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape {
                    match chars.get(i + 1) {
                        Some(&n) if n == '"' || n == '$' || n == escape => {
                            cur.push(n);
                            i += 2;
                        }
                        _ => {
                            cur.push(d);
                            i += 1;
                        }
                    }
                } else if d == '$' {
                    i = variable(&chars, i, env, &mut cur, escape).map_err(|m| err(&m))?;
                } else {
                    cur.push(d);
                    i += 1;
                }
            }
        } else if c == '$' {
            i = variable(&chars, i, env, &mut cur, escape).map_err(|m| err(&m))?;
        } else {
            cur.push(c);
            i += 1;
        }
    }
    if started || out.is_empty() && !split {
        out.push(cur);
    }
    Ok(out)
}

/// Expands the variable at `chars[i]` (a `$`) into `out`; the index after it.
fn variable(
    chars: &[char],
    i: usize,
    env: Lookup,
    out: &mut String,
    escape: char,
) -> std::result::Result<usize, String> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some('{') => {
            let start = i + 2;
            let mut j = start;
            while j < chars.len() && name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            if name.is_empty() {
                return Err("bad substitution: missing variable name".into());
            }
            // The rest up to the matching brace (nested `${...}` allowed in the word).
            let mut depth = 1;
            let mut k = j;
            while k < chars.len() {
                match chars[k] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
            if k >= chars.len() {
                return Err("missing '}' in variable substitution".into());
            }
            let modifier: String = chars[j..k].iter().collect();
            let value = env(&name);
            let sub = |w: &str| -> std::result::Result<String, String> {
                words_inner(w, env, escape, false)
                    .map(|v| v.concat())
                    .map_err(|e| e.to_string())
            };
            let text = if modifier.is_empty() {
                value.unwrap_or_default()
            } else if let Some(w) = modifier.strip_prefix(":-") {
                match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => sub(w)?,
                }
            } else if let Some(w) = modifier.strip_prefix('-') {
                match value {
                    Some(v) => v,
                    None => sub(w)?,
                }
            } else if let Some(w) = modifier.strip_prefix(":+") {
                match value.filter(|v| !v.is_empty()) {
                    Some(_) => sub(w)?,
                    None => String::new(),
                }
            } else if let Some(w) = modifier.strip_prefix('+') {
                match value {
                    Some(_) => sub(w)?,
                    None => String::new(),
                }
            } else if let Some(w) = modifier.strip_prefix(":?") {
                match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => return Err(format!("{name}: {}", sub(w)?)),
                }
            } else if let Some(w) = modifier.strip_prefix('?') {
                match value {
                    Some(v) => v,
                    None => return Err(format!("{name}: {}", sub(w)?)),
                }
            } else {
                return Err(format!("unsupported modifier ({modifier}) in substitution"));
            };
            out.push_str(&text);
            Ok(k + 1)
        }
        Some(&c) if name_char(c) => {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            out.push_str(&env(&name).unwrap_or_default());
            Ok(j)
        }
        // A lone `$` stays.
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("apple".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("two words".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_and_modifiers() {
        let w = |t: &str| word(t, &env, '\\').unwrap();
        assert_eq!(w("$A"), "apple");
        assert_eq!(w("${A}/x"), "apple/x");
        assert_eq!(w("$NOPE-x"), "-x");
        assert_eq!(w("${NOPE:-fallback}"), "fallback");
        assert_eq!(w("${EMPTY:-fallback}"), "fallback");
        assert_eq!(w("${EMPTY-fallback}"), "");
        assert_eq!(w("${A:+set}"), "set");
        assert_eq!(w("${NOPE:+set}"), "");
        assert_eq!(w("${NOPE:-$A}"), "apple");
        assert_eq!(w("cost $5"), "cost $5".replace("$5", ""));
        assert_eq!(w("a$"), "a$");
        assert!(word("${NOPE:?is required}", &env, '\\')
            .unwrap_err()
            .to_string()
            .contains("NOPE: is required"));
        assert!(word("${A", &env, '\\').is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        let w = |t: &str| word(t, &env, '\\').unwrap();
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "apple b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"a\\\"b\""), "a\"b");
        assert_eq!(w("\"c:\\dir\""), "c:\\dir");
        assert_eq!(word("`$A", &env, '`').unwrap(), "$A");
        assert_eq!(
            words("a \"b c\" $SP 'd e'", &env, '\\').unwrap(),
            ["a", "b c", "two words", "d e"]
        );
        assert!(word("\"open", &env, '\\').is_err());
        assert_eq!(
            split_raw("a=1 b=\"two words\" c='x y'", '\\'),
            ["a=1", "b=\"two words\"", "c='x y'"]
        );
    }
}
