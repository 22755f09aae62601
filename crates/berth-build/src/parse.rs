//! A Dockerfile's text as instructions: parser directives at the top (`# escape=`,
//! `# syntax=`), comments, blank lines, continuations with the escape character, the
//! keyword and its `--flags`, the JSON (exec) or shell form of the arguments, and
//! heredocs (`<<EOF` ... `EOF`) after the line that opens them.

use crate::error::{BuildError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// `\` unless `# escape=` says `` ` ``.
    pub escape: char,
    pub syntax: Option<String>,
    pub nodes: Vec<Node>,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The line it starts on (1-based).
    pub line: usize,
    /// Upper-case: `RUN`, `COPY`, ...
    pub keyword: String,
    /// `--from=build`, `--chown=1:1`, `--link` as written, before the arguments.
    pub flags: Vec<String>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
    /// The instruction on one line as Docker prints it in `Step n/m : ...`.
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["a", "b"]`: a JSON array of strings.
    Json(Vec<String>),
    /// Anything else: the text after the keyword and flags.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// A quoted delimiter (`<<"EOF"`) keeps `$VAR` as it is.
    pub expand: bool,
}

/// Keywords whose arguments may be a JSON array.
const JSON_FORMS: &[&str] = &[
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "SHELL",
    "COPY",
    "ADD",
    "VOLUME",
    "HEALTHCHECK",
];
/// Keywords that take `--flags` before their arguments.
const WITH_FLAGS: &[&str] = &["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"];
/// Keywords whose arguments may open heredocs.
const WITH_HEREDOCS: &[&str] = &["RUN", "COPY", "ADD"];
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

pub fn parse(text: &str) -> Result<Dockerfile> {
    let lines: Vec<&str> = text.lines().collect();
    let (escape, syntax, mut i) = directives(&lines)?;
    let mut nodes = vec![];
    while i < lines.len() {
        let line = lines[i];
        if is_blank_or_comment(line) {
            i += 1;
            continue;
        }
        let start = i;
        // Join continuation lines; comment lines inside are dropped, as Docker does.
        let mut joined = String::new();
        let mut current = line;
        loop {
            let trimmed = current.trim_end();
            match trimmed.strip_suffix(escape) {
                Some(rest) => {
                    joined.push_str(rest);
                    i += 1;
                    while i < lines.len() && is_comment(lines[i]) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    current = lines[i];
                }
                None => {
                    joined.push_str(current);
                    i += 1;
                    break;
                }
            }
        }
        let mut node = node_from(start + 1, &joined, escape)?;
        if WITH_HEREDOCS.contains(&node.keyword.as_str()) {
            for (name, expand, strip_tabs) in heredoc_openers(&node) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let body = lines[i];
                    i += 1;
                    let body = if strip_tabs {
                        body.trim_start_matches('\t')
                    } else {
                        body
                    };
                    if body == name {
                        closed = true;
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                if !closed {
                    return Err(BuildError::parse(
                        start + 1,
                        format!("unterminated heredoc {name}"),
                    ));
                }
                node.heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        nodes.push(node);
    }
    Ok(Dockerfile {
        escape,
        syntax,
        nodes,
    })
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn is_blank_or_comment(line: &str) -> bool {
    line.trim().is_empty() || is_comment(line)
}

/// `# escape=`` ` and `# syntax=...` at the very top; the index of the first line after.
fn directives(lines: &[&str]) -> Result<(char, Option<String>, usize)> {
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(rest) = lines[i].trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        let value = value.trim();
        if !seen.insert(key.clone()) {
            return Err(BuildError::parse(
                i + 1,
                format!("only one {key} parser directive can be used"),
            ));
        }
        match key.as_str() {
            "escape" => {
                escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(BuildError::parse(
                            i + 1,
                            format!("invalid escape token '{other}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(value.to_string()),
            _ => {} // unknown directives are comments
        }
        i += 1;
    }
    Ok((escape, syntax, i))
}

fn node_from(line: usize, text: &str, escape: char) -> Result<Node> {
    let text = text.trim();
    let (keyword, rest) = match text.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim_start()),
        None => (text, ""),
    };
    let keyword = keyword.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(BuildError::parse(
            line,
            format!("unknown instruction: {keyword}"),
        ));
    }
    let mut rest = rest;
    let mut flags = vec![];
    if WITH_FLAGS.contains(&keyword.as_str()) {
        while let Some(flag) = rest.strip_prefix("--") {
            let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
            flags.push(format!("--{}", &flag[..end]));
            rest = flag[end..].trim_start();
        }
    }
    let args = if JSON_FORMS.contains(&keyword.as_str()) && rest.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) => Args::Json(v),
            // Not valid JSON: the shell form, as Docker treats it.
            Err(_) => Args::Text(rest.to_string()),
        }
    } else {
        Args::Text(rest.to_string())
    };
    if matches!(&args, Args::Text(t) if t.is_empty())
        && !matches!(keyword.as_str(), "CMD" | "ENTRYPOINT" | "RUN")
    {
        return Err(BuildError::parse(
            line,
            format!("{keyword} requires at least one argument"),
        ));
    }
    let _ = escape;
    Ok(Node {
        line,
        original: text.to_string(),
        keyword,
        flags,
        args,
        heredocs: vec![],
    })
}

/// The heredocs a line opens, in order: (delimiter, expand, strip leading tabs).
fn heredoc_openers(node: &Node) -> Vec<(String, bool, bool)> {
    let Args::Text(text) = &node.args else {
        return vec![];
    };
    let mut out = vec![];
    let mut rest = text.as_str();
    while let Some(pos) = rest.find("<<") {
        let mut after = &rest[pos + 2..];
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            after = &after[1..];
            let Some(end) = after.find(q) else { break };
            let name = &after[..end];
            if !name.is_empty() {
                out.push((name.to_string(), false, strip_tabs));
            }
            rest = &after[end + 1..];
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            // `<<` followed by a word that is not a delimiter (`a << b` in a shell
            // line has a space): not a heredoc.
            if !name.is_empty()
                && name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            {
                out.push((name.to_string(), true, strip_tabs));
            }
            rest = &after[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_continuations_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\
             # escape=\\\n\
             \n\
             FROM busybox AS base\n\
             # a comment\n\
             RUN echo a \\\n\
             # inside\n\
               && echo b\n\
             CMD [\"sh\", \"-c\", \"echo hi\"]\n\
             COPY --from=base --chown=1:2 a b /dst/\n\
             ENTRYPOINT [not json\n\
             run echo lower\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let k: Vec<&str> = df.nodes.iter().map(|n| n.keyword.as_str()).collect();
        assert_eq!(k, ["FROM", "RUN", "CMD", "COPY", "ENTRYPOINT", "RUN"]);
        assert_eq!(df.nodes[1].args, Args::Text("echo a && echo b".into()));
        assert_eq!(df.nodes[1].line, 6);
        assert_eq!(
            df.nodes[2].args,
            Args::Json(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(df.nodes[3].flags, ["--from=base", "--chown=1:2"]);
        assert_eq!(df.nodes[3].args, Args::Text("a b /dst/".into()));
        assert_eq!(df.nodes[4].args, Args::Text("[not json".into()));
    }

    #[test]
    fn escape_directive_and_heredocs() {
        let df = parse(
            "# escape=`\nFROM scratch\nRUN dir `\n  c:\\x\nRUN <<EOF\necho one\necho $HOME\nEOF\nCOPY <<-\"A\" /a\n\tliteral $X\n\tA\n",
        )
        .unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.nodes[1].args, Args::Text("dir   c:\\x".into()));
        assert_eq!(df.nodes[2].heredocs[0].content, "echo one\necho $HOME\n");
        assert!(df.nodes[2].heredocs[0].expand);
        assert_eq!(df.nodes[3].heredocs[0].content, "literal $X\n");
        assert!(!df.nodes[3].heredocs[0].expand);
    }

    #[test]
    fn errors_name_their_line() {
        assert_eq!(
            parse("FROM busybox\n\nFROB x\n").unwrap_err(),
            BuildError::parse(3, "unknown instruction: FROB")
        );
        assert_eq!(
            parse("FROM busybox\nWORKDIR\n").unwrap_err(),
            BuildError::parse(2, "WORKDIR requires at least one argument")
        );
        assert!(matches!(
            parse("FROM a\nRUN <<EOF\nnever closed\n"),
            Err(BuildError::Parse { line: 2, .. })
        ));
        assert!(parse("# escape=x\nFROM a\n").is_err());
    }
}
