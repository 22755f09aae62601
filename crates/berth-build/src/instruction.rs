//! Instructions typed and checked, their words expanded with the variables in force at
//! that step; and the stages of a file.

use crate::error::{BuildError, Result};
use crate::expand::{self, Lookup};
use crate::parse::{Args, Dockerfile, Heredoc, Node};

/// A command as RUN, CMD, ENTRYPOINT and HEALTHCHECK take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["executable", "arg"]`
    Exec(Vec<String>),
    /// Run through the stage's SHELL.
    Shell(String),
}

impl Command {
    /// The argv it runs: the exec form as is, the shell form through `shell`.
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = shell.to_vec();
                v.push(s.clone());
                v
            }
        }
    }
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=<stage or image>`
    pub from: Option<String>,
    /// `--chown=user:group`
    pub chown: Option<String>,
    /// `--chmod=0755`
    pub chmod: Option<u32>,
    /// Files given inline (`COPY <<EOF /dst`): name and content.
    pub inline: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Copy(CopySpec),
    Add(CopySpec),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    /// Names with their defaults.
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Maintainer(String),
    /// The instruction a build FROM this image runs, as written.
    Onbuild(String),
    Healthcheck(Option<Healthcheck>),
}

/// HEALTHCHECK: None is `HEALTHCHECK NONE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<u32>,
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `2h`) in nanoseconds, as HEALTHCHECK's flags
/// take it.
pub fn parse_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

impl Healthcheck {
    /// As Docker records it in an image config: durations in nanoseconds, unset ones
    /// left out.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        let mut v = serde_json::json!({ "Test": self.test });
        for (key, value) in [
            ("Interval", &self.interval),
            ("Timeout", &self.timeout),
            ("StartPeriod", &self.start_period),
            ("StartInterval", &self.start_interval),
        ] {
            if let Some(d) = value {
                let ns = parse_duration(d).ok_or_else(|| BuildError::Expand {
                    word: d.clone(),
                    message: format!("HEALTHCHECK: invalid duration for {key}"),
                })?;
                v[key] = ns.into();
            }
        }
        if let Some(r) = self.retries {
            v["Retries"] = r.into();
        }
        Ok(v)
    }
}

/// `--name=value` flags of a node, each allowed name taken once.
struct Flags<'a> {
    node: &'a Node,
    values: Vec<(String, Option<String>)>,
}

impl<'a> Flags<'a> {
    fn new(node: &'a Node, allowed: &[&str]) -> Result<Self> {
        let mut values: Vec<(String, Option<String>)> = vec![];
        for f in &node.flags {
            let body = f.trim_start_matches("--");
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            if !allowed.contains(&name.as_str()) {
                return Err(BuildError::parse(
                    node.line,
                    format!("unknown flag: {name}"),
                ));
            }
            if values.iter().any(|(n, _)| *n == name) {
                return Err(BuildError::parse(
                    node.line,
                    format!("duplicate flag specified: {name}"),
                ));
            }
            values.push((name, value));
        }
        Ok(Self { node, values })
    }

    fn string(&self, name: &str) -> Result<Option<String>> {
        match self.values.iter().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, Some(v))) => Ok(Some(v.clone())),
            Some((_, None)) => Err(BuildError::parse(
                self.node.line,
                format!("missing a value on flag: {name}"),
            )),
        }
    }
}

fn text(node: &Node) -> &str {
    match &node.args {
        Args::Text(t) => t,
        Args::Json(_) => "",
    }
}

fn command(node: &Node) -> Command {
    match &node.args {
        Args::Json(v) => Command::Exec(v.clone()),
        Args::Text(t) => {
            // A heredoc RUN runs its body as the script.
            match node.heredocs.first() {
                Some(h) if t.trim_start().starts_with("<<") => Command::Shell(h.content.clone()),
                _ => Command::Shell(t.clone()),
            }
        }
    }
}

/// `key=value ...`, or the old `key value with spaces` form (ENV, LABEL).
fn pairs(node: &Node, env: Lookup, escape: char, old_form: bool) -> Result<Vec<(String, String)>> {
    let t = text(node);
    let raw = expand::split_raw(t, escape);
    let first_has_eq = raw.first().is_some_and(|w| w.contains('='));
    if !first_has_eq && old_form {
        let (k, v) = t.trim().split_once(char::is_whitespace).ok_or_else(|| {
            BuildError::parse(
                node.line,
                format!("{} must have two arguments", node.keyword),
            )
        })?;
        return Ok(vec![(k.to_string(), expand::word(v.trim(), env, escape)?)]);
    }
    raw.iter()
        .map(|w| {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                BuildError::parse(
                    node.line,
                    format!("{}: key=value expected, got {w:?}", node.keyword),
                )
            })?;
            let k = expand::word(k, env, escape)?;
            if k.is_empty() {
                return Err(BuildError::parse(
                    node.line,
                    format!("{}: a name is empty", node.keyword),
                ));
            }
            Ok((k, expand::word(v, env, escape)?))
        })
        .collect()
}

fn list(node: &Node, env: Lookup, escape: char) -> Result<Vec<String>> {
    match &node.args {
        Args::Json(v) => v.iter().map(|w| expand::word(w, env, escape)).collect(),
        Args::Text(t) => expand::words(t, env, escape),
    }
}

fn copy_spec(node: &Node, env: Lookup, escape: char, add: bool) -> Result<CopySpec> {
    let allowed: &[&str] = if add {
        &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ]
    } else {
        &["from", "chown", "chmod", "link", "parents", "exclude"]
    };
    let flags = Flags::new(node, allowed)?;
    for unsupported in ["link", "parents", "exclude", "checksum", "keep-git-dir"] {
        if flags.values.iter().any(|(n, _)| n == unsupported) {
            return Err(BuildError::parse(
                node.line,
                format!(
                    "{} --{unsupported} is not supported by berth's builder",
                    node.keyword
                ),
            ));
        }
    }
    let mut words = list(node, env, escape)?;
    let mut inline = vec![];
    if !node.heredocs.is_empty() {
        // `COPY <<A <<B /dst`: the heredoc markers are sources given inline.
        words.retain(|w| !w.starts_with("<<"));
        for h in &node.heredocs {
            inline.push((h.name.clone(), heredoc_text(h, env, escape)?));
        }
    }
    if words.is_empty() || (words.len() < 2 && inline.is_empty()) {
        return Err(BuildError::parse(
            node.line,
            format!("{} requires at least two arguments, but only one was provided. Destination could not be determined", node.keyword),
        ));
    }
    let dest = words.pop().unwrap_or_default();
    let chmod =
        match flags.string("chmod")? {
            Some(m) => Some(u32::from_str_radix(&m, 8).map_err(|_| {
                BuildError::parse(node.line, format!("invalid chmod parameter: {m}"))
            })?),
            None => None,
        };
    Ok(CopySpec {
        sources: words,
        dest,
        from: flags
            .string("from")?
            .map(|f| expand::word(&f, env, escape))
            .transpose()?,
        chown: flags
            .string("chown")?
            .map(|c| expand::word(&c, env, escape))
            .transpose()?,
        chmod,
        inline,
    })
}

fn heredoc_text(h: &Heredoc, env: Lookup, escape: char) -> Result<String> {
    if !h.expand {
        return Ok(h.content.clone());
    }
    // Variables expand in an unquoted heredoc; quotes are kept.
    let mut out = String::new();
    for line in h.content.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let escaped: String = body.replace('"', "\\\"").replace('\'', "\\'");
        out.push_str(&expand::word(&format!("\"{escaped}\""), env, escape)?);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

impl Instruction {
    /// `node` typed, its words expanded with `env` where Docker expands them.
    pub fn from_node(node: &Node, env: Lookup, escape: char) -> Result<Self> {
        let t = text(node);
        let no_flags = |n: &Node| -> Result<()> { Flags::new(n, &[]).map(|_| ()) };
        Ok(match node.keyword.as_str() {
            "FROM" => {
                let flags = Flags::new(node, &["platform"])?;
                let words = expand::words(t, env, escape)?;
                let (image, name) = match words.as_slice() {
                    [image] => (image.clone(), None),
                    [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                        (image.clone(), Some(name.to_ascii_lowercase()))
                    }
                    _ => {
                        return Err(BuildError::parse(
                            node.line,
                            "FROM requires either one or three arguments",
                        ))
                    }
                };
                if image.is_empty() {
                    return Err(BuildError::parse(node.line, "FROM: the base name is empty"));
                }
                Instruction::From {
                    image,
                    name,
                    platform: flags
                        .string("platform")?
                        .map(|p| expand::word(&p, env, escape))
                        .transpose()?,
                }
            }
            "RUN" => {
                let flags = Flags::new(node, &["mount", "network", "security"])?;
                if let Some((name, _)) = flags.values.first() {
                    return Err(BuildError::parse(
                        node.line,
                        format!("RUN --{name} is not supported by berth's builder (BuildKit only)"),
                    ));
                }
                Instruction::Run(command(node))
            }
            "CMD" => {
                no_flags(node)?;
                Instruction::Cmd(command(node))
            }
            "ENTRYPOINT" => {
                no_flags(node)?;
                Instruction::Entrypoint(command(node))
            }
            "SHELL" => match &node.args {
                Args::Json(v) if !v.is_empty() => Instruction::Shell(v.clone()),
                _ => {
                    return Err(BuildError::parse(
                        node.line,
                        "SHELL requires the arguments to be in JSON form",
                    ))
                }
            },
            "COPY" => Instruction::Copy(copy_spec(node, env, escape, false)?),
            "ADD" => Instruction::Add(copy_spec(node, env, escape, true)?),
            "ENV" => Instruction::Env(pairs(node, env, escape, true)?),
            "LABEL" => Instruction::Label(pairs(node, env, escape, false)?),
            "ARG" => {
                let mut out = vec![];
                for w in expand::split_raw(t, escape) {
                    match w.split_once('=') {
                        Some((k, v)) => {
                            out.push((k.to_string(), Some(expand::word(v, env, escape)?)))
                        }
                        None => out.push((w.clone(), None)),
                    }
                }
                Instruction::Arg(out)
            }
            "WORKDIR" => Instruction::Workdir(expand::word(t, env, escape)?),
            "USER" => Instruction::User(expand::word(t, env, escape)?),
            "EXPOSE" => Instruction::Expose(expand::words(t, env, escape)?),
            "VOLUME" => Instruction::Volume(list(node, env, escape)?),
            "STOPSIGNAL" => Instruction::StopSignal(expand::word(t, env, escape)?),
            "MAINTAINER" => Instruction::Maintainer(t.to_string()),
            "ONBUILD" => {
                let inner = t
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(BuildError::parse(
                        node.line,
                        format!("{inner} isn't allowed as an ONBUILD trigger"),
                    ));
                }
                Instruction::Onbuild(t.to_string())
            }
            "HEALTHCHECK" => {
                let flags = Flags::new(
                    node,
                    &[
                        "interval",
                        "timeout",
                        "start-period",
                        "start-interval",
                        "retries",
                    ],
                )?;
                let words = match &node.args {
                    Args::Json(v) => v.clone(),
                    Args::Text(t) => vec![t.clone()],
                };
                let first = words
                    .first()
                    .map(|w| {
                        w.split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase()
                    })
                    .unwrap_or_default();
                if first == "NONE" {
                    Instruction::Healthcheck(None)
                } else {
                    let rest = match &node.args {
                        Args::Text(t) => t.trim_start()[first.len()..].trim().to_string(),
                        Args::Json(_) => String::new(),
                    };
                    if first != "CMD" {
                        return Err(BuildError::parse(
                            node.line,
                            "HEALTHCHECK: the command must start with CMD or be NONE",
                        ));
                    }
                    let test = if rest.starts_with('[') {
                        let v: Vec<String> = serde_json::from_str(&rest).map_err(|_| {
                            BuildError::parse(node.line, "HEALTHCHECK CMD: invalid JSON array")
                        })?;
                        std::iter::once("CMD".to_string()).chain(v).collect()
                    } else {
                        vec!["CMD-SHELL".to_string(), rest]
                    };
                    let retries = flags
                        .string("retries")?
                        .map(|r| {
                            r.parse::<u32>().map_err(|_| {
                                BuildError::parse(node.line, format!("invalid retries: {r}"))
                            })
                        })
                        .transpose()?;
                    Instruction::Healthcheck(Some(Healthcheck {
                        test,
                        interval: flags.string("interval")?,
                        timeout: flags.string("timeout")?,
                        start_period: flags.string("start-period")?,
                        start_interval: flags.string("start-interval")?,
                        retries,
                    }))
                }
            }
            other => {
                return Err(BuildError::parse(
                    node.line,
                    format!("unknown instruction: {other}"),
                ))
            }
        })
    }
}

/// One `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub from: Node,
    /// `AS name`, lower-case, read without expansion (names are literal).
    pub name: Option<String>,
    pub nodes: Vec<Node>,
}

/// The ARGs before the first FROM, and the stages.
pub fn stages(df: &Dockerfile) -> Result<(Vec<Node>, Vec<Stage>)> {
    let mut global = vec![];
    let mut stages: Vec<Stage> = vec![];
    for node in &df.nodes {
        if node.keyword == "FROM" {
            let words: Vec<&str> = text(node).split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    Some(name.to_ascii_lowercase())
                }
                _ => None,
            };
            if let Some(n) = &name {
                if stages.iter().any(|s| s.name.as_ref() == Some(n)) {
                    return Err(BuildError::parse(
                        node.line,
                        format!("duplicate stage name {n:?}"),
                    ));
                }
            }
            stages.push(Stage {
                from: node.clone(),
                name,
                nodes: vec![],
            });
        } else if let Some(s) = stages.last_mut() {
            s.nodes.push(node.clone());
        } else if node.keyword == "ARG" {
            global.push(node.clone());
        } else {
            return Err(BuildError::parse(
                node.line,
                format!(
                    "{} before the first FROM: only ARG may come first",
                    node.keyword
                ),
            ));
        }
    }
    if stages.is_empty() {
        return Err(BuildError::parse(
            df.nodes.last().map(|n| n.line).unwrap_or(1),
            "the Dockerfile has no FROM",
        ));
    }
    Ok((global, stages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn env(name: &str) -> Option<String> {
        (name == "V").then(|| "1.2".to_string())
    }

    fn typed(line: &str) -> Result<Instruction> {
        let df = parse(line)?;
        Instruction::from_node(&df.nodes[0], &env, df.escape)
    }

    #[test]
    fn typed_instructions() {
        assert_eq!(
            typed("FROM busybox:$V AS Build").unwrap(),
            Instruction::From {
                image: "busybox:1.2".into(),
                name: Some("build".into()),
                platform: None
            }
        );
        assert_eq!(
            typed("ENV A=1 B=\"two $V\" C='$V'").unwrap(),
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "two 1.2".into()),
                ("C".into(), "$V".into())
            ])
        );
        assert_eq!(
            typed("ENV OLD value with spaces").unwrap(),
            Instruction::Env(vec![("OLD".into(), "value with spaces".into())])
        );
        assert_eq!(
            typed("COPY --from=base --chmod=0755 a* b/ /dst/").unwrap(),
            Instruction::Copy(CopySpec {
                sources: vec!["a*".into(), "b/".into()],
                dest: "/dst/".into(),
                from: Some("base".into()),
                chown: None,
                chmod: Some(0o755),
                inline: vec![],
            })
        );
        assert_eq!(
            typed("RUN echo $V").unwrap(),
            Instruction::Run(Command::Shell("echo $V".into())),
            "RUN is left to the shell"
        );
        assert_eq!(
            typed("ARG A B=x").unwrap(),
            Instruction::Arg(vec![("A".into(), None), ("B".into(), Some("x".into()))])
        );
        assert_eq!(
            typed("HEALTHCHECK --retries=3 CMD curl -f x").unwrap(),
            Instruction::Healthcheck(Some(Healthcheck {
                test: vec!["CMD-SHELL".into(), "curl -f x".into()],
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: Some(3)
            }))
        );
        assert!(typed("COPY onlyone").is_err());
        assert!(typed("COPY --frob=1 a b")
            .unwrap_err()
            .to_string()
            .contains("unknown flag: frob"));
        assert!(typed("RUN --mount=type=cache,target=/x true").is_err());
        assert!(typed("SHELL /bin/bash").is_err());
        assert!(typed("ONBUILD FROM x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn stages_and_global_args() {
        let df = parse("ARG V=1\nFROM a AS one\nRUN x\nFROM one\nCOPY --from=one / /\n").unwrap();
        let (global, found) = stages(&df).unwrap();
        assert_eq!(global.len(), 1);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].name.as_deref(), Some("one"));
        assert_eq!(found[1].nodes.len(), 1);
        assert!(stages(&parse("RUN x\nFROM a\n").unwrap()).is_err());
        assert!(stages(&parse("FROM a AS x\nFROM b AS X\n").unwrap()).is_err());
    }
}
