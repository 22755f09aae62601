//! docker's output: aligned tables and Go-template `--format` strings.
//!
//! The template support is the subset people use with docker: `{{.Field.Sub}}`,
//! `{{json .}}`, `{{json .Field}}`, `{{index .Map "key"}}`, `{{join .List ","}}`,
//! `{{upper .X}}`, `{{lower .X}}`, and a leading `table` for headers.

use serde_json::Value;

/// Go's default rendering of a value.
pub fn render_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(render_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<_> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", render_value(&o[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Action(String),
}

fn tokenize(t: &str) -> Result<Vec<Token>, String> {
    let mut out = vec![];
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        if i > 0 {
            out.push(Token::Text(rest[..i].to_string()));
        }
        let after = &rest[i + 2..];
        let j = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {t:?}"))?;
        out.push(Token::Action(
            after[..j]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim()
                .to_string(),
        ));
        rest = &after[j + 2..];
    }
    if !rest.is_empty() {
        out.push(Token::Text(rest.to_string()));
    }
    Ok(out)
}

/// Splits an action into words, keeping quoted strings whole.
fn words(action: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in action.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn lookup(data: &Value, path: &str) -> Result<Value, String> {
    if path == "." {
        return Ok(data.clone());
    }
    let mut v = data;
    for part in path.trim_start_matches('.').split('.') {
        v = match v {
            Value::Object(o) => o
                .get(part)
                .ok_or_else(|| format!("template: can't evaluate field {part}"))?,
            Value::Null => return Ok(Value::Null),
            _ => return Err(format!("template: can't evaluate field {part}")),
        };
    }
    Ok(v.clone())
}

fn arg(data: &Value, w: &str) -> Result<Value, String> {
    if w.starts_with('"') && w.ends_with('"') && w.len() >= 2 {
        Ok(Value::String(
            w[1..w.len() - 1].replace("\\n", "\n").replace("\\t", "\t"),
        ))
    } else if w.starts_with('.') {
        lookup(data, w)
    } else {
        Err(format!("template: function {w:?} not defined"))
    }
}

fn eval(action: &str, data: &Value) -> Result<String, String> {
    let w = words(action);
    let Some(first) = w.first() else {
        return Ok(String::new());
    };
    let need = |n: usize| -> Result<(), String> {
        if w.len() != n {
            Err(format!(
                "template: wrong number of args for {first}: want {}, got {}",
                n - 1,
                w.len() - 1
            ))
        } else {
            Ok(())
        }
    };
    match first.as_str() {
        "json" => {
            need(2)?;
            Ok(serde_json::to_string(&arg(data, &w[1])?).unwrap_or_default())
        }
        "index" => {
            need(3)?;
            let m = arg(data, &w[1])?;
            let k = arg(data, &w[2])?;
            Ok(match (&m, &k) {
                (Value::Object(o), Value::String(k)) => {
                    o.get(k).map(render_value).unwrap_or_default()
                }
                _ => String::new(),
            })
        }
        "join" => {
            need(3)?;
            let list = arg(data, &w[1])?;
            let sep = render_value(&arg(data, &w[2])?);
            Ok(match list {
                Value::Array(a) => a.iter().map(render_value).collect::<Vec<_>>().join(&sep),
                other => render_value(&other),
            })
        }
        "upper" | "lower" => {
            need(2)?;
            let s = render_value(&arg(data, &w[1])?);
            Ok(if first == "upper" {
                s.to_uppercase()
            } else {
                s.to_lowercase()
            })
        }
        "println" => Ok(w[1..]
            .iter()
            .map(|x| arg(data, x).map(|v| render_value(&v)))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ")
            + "\n"),
        _ if w.len() == 1 => Ok(render_value(&arg(data, first)?)),
        _ => Err(format!("template: function {first:?} not defined")),
    }
}

/// A parsed `--format` string.
pub struct Template {
    tokens: Vec<Token>,
    pub table: bool,
}

impl Template {
    pub fn parse(format: &str) -> Result<Self, String> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Self {
            tokens: tokenize(&body)?,
            table,
        })
    }

    pub fn render(&self, data: &Value) -> Result<String, String> {
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                Token::Text(s) => out.push_str(s),
                Token::Action(a) => out.push_str(&eval(a, data)?),
            }
        }
        Ok(out)
    }

    /// The header row of a `table` format: each field's column name.
    pub fn header(&self, names: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                Token::Text(s) => out.push_str(s),
                Token::Action(a) => {
                    let w = words(a);
                    let field = w
                        .iter()
                        .find(|x| x.starts_with('.'))
                        .cloned()
                        .unwrap_or_default();
                    let key = field
                        .trim_start_matches('.')
                        .split('.')
                        .next_back()
                        .unwrap_or("")
                        .to_string();
                    out.push_str(&names(&key));
                }
            }
        }
        out
    }
}

/// Prints `items` with a `--format` (or `default`; `json` means one JSON object a line),
/// with a header row from `header` for `table` formats, aligned as docker aligns them.
pub fn print_items(
    format: Option<&str>,
    default: &str,
    items: &[Value],
    header: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let format = match format {
        Some("json") => "{{json .}}",
        Some(f) => f,
        None => default,
    };
    let t = Template::parse(format)?;
    let mut rows = vec![];
    if t.table {
        rows.push(t.header(header));
    }
    for item in items {
        rows.push(t.render(item)?);
    }
    if t.table {
        print!("{}", tabulate(&rows));
    } else {
        for r in rows {
            println!("{r}");
        }
    }
    Ok(())
}

/// Aligns tab-separated rows like Go's tabwriter(minwidth 10, padding 3).
pub fn tabulate(rows: &[String]) -> String {
    let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    let ncols = cells.iter().map(|c| c.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max(c.chars().count() + 3).max(10);
            }
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `ab…` when longer than `n` characters.
pub fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates() {
        let d = json!({"Names": "web", "State": {"Status": "running"}, "Labels": {"a": "1"}, "List": ["x", "y"]});
        let t = Template::parse("{{.Names}}: {{.State.Status}}").unwrap();
        assert_eq!(t.render(&d).unwrap(), "web: running");
        assert_eq!(
            Template::parse("{{json .State}}")
                .unwrap()
                .render(&d)
                .unwrap(),
            r#"{"Status":"running"}"#
        );
        assert_eq!(
            Template::parse("{{index .Labels \"a\"}}")
                .unwrap()
                .render(&d)
                .unwrap(),
            "1"
        );
        assert_eq!(
            Template::parse("{{join .List \",\"}}")
                .unwrap()
                .render(&d)
                .unwrap(),
            "x,y"
        );
        assert_eq!(
            Template::parse("{{.Labels}}").unwrap().render(&d).unwrap(),
            "map[a:1]"
        );
        assert!(Template::parse("{{.Nope}}").unwrap().render(&d).is_err());
        assert!(Template::parse("{{.Names").is_err());
        let t = Template::parse("table {{.Names}}\\t{{.State.Status}}").unwrap();
        assert!(t.table);
        assert_eq!(t.header(&|k| k.to_uppercase()), "NAMES\tSTATUS");
    }

    #[test]
    fn tables_align() {
        let out = tabulate(&["A\tBB\tC".into(), "longer-cell\tx\ty".into()]);
        // Column width: the widest cell plus 3, at least 10 (Go's tabwriter as docker sets it).
        let expected = format!(
            "A{}BB{}C\nlonger-cell{}x{}y\n",
            " ".repeat(13),
            " ".repeat(8),
            " ".repeat(3),
            " ".repeat(9)
        );
        assert_eq!(out, expected);
    }
}
