//! `berth build`: the context sent as a tar (what `.dockerignore` leaves out is not sent;
//! a Dockerfile outside the context goes in under a name of its own), and the build's
//! messages printed as they come.

use crate::cli::BuildArgs;
use crate::client::{query, writer_body, CliError, Client, Result};
use http::Method;
use http_body_util::BodyExt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn key_values(flag: &str, items: &[String]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut m = serde_json::Map::new();
    for kv in items {
        match kv.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), v.into()),
            // `--build-arg NAME`: the value from this environment, as the docker CLI does.
            None if flag == "--build-arg" => m.insert(
                kv.clone(),
                std::env::var(kv)
                    .map(Into::into)
                    .unwrap_or(serde_json::Value::Null),
            ),
            None => {
                return Err(CliError::Other(format!(
                    "invalid {flag} {kv:?}: want KEY=VALUE"
                )))
            }
        };
    }
    Ok(m)
}

/// Every path under `dir` that is sent, relative, sorted (parents first).
fn context_files(dir: &Path, ignore: &berth_build::ignore::Ignore) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names.into_iter().rev() {
            let child = rel.join(&n);
            let shown = child.to_string_lossy().into_owned();
            let keep = !ignore.excluded(&shown)
                || matches!(shown.as_str(), "Dockerfile" | ".dockerignore");
            let is_dir = std::fs::symlink_metadata(dir.join(&child))?.is_dir();
            if keep {
                out.push(child.clone());
            }
            // A directory left out may hold an exception (`!dir/keep`).
            if is_dir {
                todo.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.starts_with(b"BZh")
        || head.len() >= 262 && &head[257..262] == b"ustar"
}

pub async fn build(client: &Client, a: BuildArgs) -> Result<i32> {
    let remote = a.path.starts_with("http://")
        || a.path.starts_with("https://")
        || a.path.starts_with("git@")
        || a.path.starts_with("git://");
    let mut q: Vec<(&str, String)> = vec![];
    if remote {
        // The daemon fetches the context (a tar, or a lone Dockerfile).
        q.push(("remote", a.path.clone()));
        if let Some(f) = &a.file {
            q.push(("dockerfile", f.clone()));
        }
    }
    for t in &a.tag {
        q.push(("t", t.clone()));
    }
    q.push((
        "buildargs",
        serde_json::Value::Object(key_values("--build-arg", &a.build_arg)?).to_string(),
    ));
    q.push((
        "labels",
        serde_json::Value::Object(key_values("--label", &a.label)?).to_string(),
    ));
    if !a.cache_from.is_empty() {
        q.push(("cachefrom", serde_json::to_string(&a.cache_from)?));
    }
    if a.no_cache {
        q.push(("nocache", "1".into()));
    }
    if a.pull {
        q.push(("pull", "1".into()));
    }
    if a.quiet {
        q.push(("q", "1".into()));
    }
    if let Some(t) = &a.target {
        q.push(("target", t.clone()));
    }
    if let Some(n) = &a.network {
        q.push(("networkmode", n.clone()));
    }
    for h in &a.add_host {
        q.push(("extrahosts", h.clone()));
    }
    let body = if remote {
        crate::client::full(bytes::Bytes::new())
    } else if a.path == "-" {
        // A context tar on stdin, or a lone Dockerfile.
        let mut data = vec![];
        std::io::stdin().read_to_end(&mut data)?;
        if is_archive(&data[..data.len().min(512)]) {
            crate::client::full(data)
        } else {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_data(&mut h, "Dockerfile", &data[..])?;
            crate::client::full(b.into_inner()?)
        }
    } else {
        let dir = PathBuf::from(&a.path);
        if !dir.is_dir() {
            return Err(CliError::Other(format!(
                "unable to prepare context: path {:?} not found",
                a.path
            )));
        }
        let ignore = berth_build::ignore::Ignore::parse(
            &std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default(),
        );
        // -f inside the context is named by its path there; outside, it is sent too.
        let mut extra: Option<(String, PathBuf)> = None;
        if let Some(f) = &a.file {
            let f = PathBuf::from(f);
            let abs_dir = std::fs::canonicalize(&dir)?;
            let abs_f = std::fs::canonicalize(&f).map_err(|e| {
                CliError::Other(format!("unable to prepare context: {}: {e}", f.display()))
            })?;
            match abs_f.strip_prefix(&abs_dir) {
                Ok(rel) => q.push(("dockerfile", rel.to_string_lossy().into_owned())),
                Err(_) => {
                    let name = format!(".dockerfile.{:x}", std::process::id());
                    q.push(("dockerfile", name.clone()));
                    extra = Some((name, abs_f));
                }
            }
        }
        let files = context_files(&dir, &ignore)?;
        writer_body(move |out: &mut dyn Write| {
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            for rel in &files {
                let meta = std::fs::symlink_metadata(dir.join(rel))?;
                let mut h = tar::Header::new_gnu();
                h.set_metadata(&meta);
                // Owned by root in the image, whoever owns them here.
                h.set_uid(0);
                h.set_gid(0);
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(dir.join(rel))?;
                    h.set_size(0);
                    tar.append_link(&mut h, rel, target)?;
                } else if meta.is_file() {
                    tar.append_data(&mut h, rel, std::fs::File::open(dir.join(rel))?)?;
                } else if meta.is_dir() {
                    h.set_size(0);
                    tar.append_data(&mut h, rel, std::io::empty())?;
                }
            }
            if let Some((name, path)) = &extra {
                tar.append_path_with_name(path, name)?;
            }
            tar.finish()
        })
    };
    let resp = client
        .build_request(&format!("/build?{}", query(&q)), body)
        .await?;
    let mut body = resp.into_body();
    let mut pending = vec![];
    let mut id = String::new();
    let mut stdout = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Other(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(&line)?;
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                return Err(CliError::Other(e.to_string()));
            }
            if let Some(s) = v.get("stream").and_then(|s| s.as_str()) {
                if a.quiet {
                    id = s.trim().to_string();
                } else {
                    stdout.write_all(s.as_bytes())?;
                    stdout.flush()?;
                }
            }
            if let Some(i) = v.pointer("/aux/ID").and_then(|i| i.as_str()) {
                id = i.to_string();
            }
        }
    }
    if a.quiet {
        println!("{id}");
    }
    Ok(0)
}

/// `builder prune`: the build cache removed; what went and the space it took.
pub async fn prune(client: &Client, all: bool) -> Result<i32> {
    let q = if all { "?all=1" } else { "" };
    let v: serde_json::Value = client
        .json(Method::POST, &format!("/build/prune{q}"), None)
        .await?;
    let deleted = v["CachesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted build cache objects:");
        for d in deleted {
            println!("{}", d.as_str().unwrap_or(""));
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        crate::units::human_size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Ok(0)
}
