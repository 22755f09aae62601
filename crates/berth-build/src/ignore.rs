//! `.dockerignore`: which files of a context are not sent. Patterns are matched against
//! paths relative to the context (`*`, `?`, `[a-z]` within a component, `**` across
//! components); a matched directory takes everything under it; a `!pattern` brings
//! matches back; the last matching line decides.

pub struct Ignore {
    rules: Vec<(bool, Vec<String>)>,
}

/// Whether `pattern` (components) matches `path` (components) whole.
fn path_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => {
            (0..=path.len()).any(|skip| path_match(&pattern[1..], &path[skip..]))
        }
        Some(p) => {
            !path.is_empty()
                && crate::glob::matches(p.as_bytes(), path[0].as_bytes())
                && path_match(&pattern[1..], &path[1..])
        }
    }
}

impl Ignore {
    pub fn parse(text: &str) -> Self {
        let mut rules = vec![];
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let parts: Vec<String> = pat
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_string)
                .collect();
            if !parts.is_empty() {
                rules.push((negate, parts));
            }
        }
        Self { rules }
    }

    /// Whether `rel` (slash-separated, relative to the context) is left out.
    pub fn excluded(&self, rel: &str) -> bool {
        let path: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        let mut out = false;
        for (negate, pattern) in &self.rules {
            // A pattern matching the path or one of its parent directories.
            let hit = (1..=path.len()).any(|n| path_match(pattern, &path[..n]));
            if hit {
                out = !negate;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_exceptions_and_directories() {
        let i = Ignore::parse("# comment\n*.log\n/build\n**/tmp\n!keep.log\nsecret[0-9]\n");
        assert!(i.excluded("a.log"));
        assert!(!i.excluded("keep.log"));
        assert!(!i.excluded("dir/a.log"), "* stays in one component");
        assert!(i.excluded("build/out/x"));
        assert!(i.excluded("a/b/tmp/x"));
        assert!(i.excluded("tmp"));
        assert!(i.excluded("secret7"));
        assert!(!i.excluded("src/main.rs"));
        let all_but = Ignore::parse("*\n!src\n");
        assert!(all_but.excluded("README"));
        assert!(!all_but.excluded("src/a.rs"));
    }
}
