//! Image commands.

use super::filters_json;
use crate::cli::{
    HistoryArgs, ImagePruneArgs, ImagesArgs, ImportArgs, LoadArgs, RmiArgs, SaveArgs,
};
use crate::client::{print_progress, query, CliError, Client, Result};
use crate::format::{print_items, tabulate};
use crate::units::human_size;
use berth_api::image::{HistoryItem, ImageSummary};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::io::Write;

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

fn image_header(key: &str) -> String {
    match key {
        "ID" => "IMAGE ID",
        "CreatedSince" => "CREATED",
        "CreatedAt" => "CREATED AT",
        other => return other.to_uppercase(),
    }
    .into()
}

pub async fn list(client: &Client, a: ImagesArgs) -> Result<i32> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut path = "/images/json".to_string();
    if let Some(f) = filters_json(&filters)? {
        path.push_str(&format!("?{}", query(&[("filters", f)])));
    }
    let list: Vec<ImageSummary> = client.json(Method::GET, &path, None).await?;
    if a.quiet {
        let mut seen = vec![];
        for i in &list {
            let id = short_id(&i.id, a.no_trunc);
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return Ok(0);
    }
    let now = chrono::Utc::now().timestamp();
    let mut items = vec![];
    for i in &list {
        let tags: Vec<(String, String)> = if i.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.repo_tags
                .iter()
                .map(
                    |t| match t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
                        Some((r, tag)) => (r.to_string(), tag.to_string()),
                        None => (t.clone(), "<none>".into()),
                    },
                )
                .collect()
        };
        for (repo, tag) in tags {
            let fields = json!({
                "Repository": repo, "Tag": tag, "ID": short_id(&i.id, a.no_trunc),
                "CreatedSince": format!("{} ago", berth_api::human_duration(now - i.created)),
                "CreatedAt": chrono::DateTime::from_timestamp(i.created, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
                "Size": human_size(i.size), "Digest": "<none>", "Containers": i.containers.to_string(),
            });
            items.push(fields);
        }
    }
    print_items(
        a.format.as_deref(),
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        &items,
        &image_header,
    )
    .map_err(CliError::Other)?;
    Ok(0)
}

pub async fn rmi(client: &Client, a: RmiArgs) -> Result<i32> {
    let q = query(&[
        ("force", (a.force as u8).to_string()),
        ("noprune", (a.no_prune as u8).to_string()),
    ]);
    let mut failed = false;
    for i in &a.images {
        match client
            .json::<Vec<Value>>(Method::DELETE, &format!("/images/{i}?{q}"), None)
            .await
        {
            Ok(items) => {
                for it in items {
                    if let Some(u) = it["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = it["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub async fn tag(client: &Client, source: &str, target: &str) -> Result<i32> {
    let (repo, tag) = split_tag(target);
    client
        .call(
            Method::POST,
            &format!(
                "/images/{source}/tag?{}",
                query(&[("repo", repo.into()), ("tag", tag.into())])
            ),
            None,
        )
        .await?;
    Ok(0)
}

pub async fn history(client: &Client, a: HistoryArgs) -> Result<i32> {
    let items: Vec<HistoryItem> = client
        .json(Method::GET, &format!("/images/{}/history", a.image), None)
        .await?;
    if a.quiet {
        for i in &items {
            println!(
                "{}",
                if i.id == "<missing>" {
                    i.id.clone()
                } else {
                    short_id(&i.id, a.no_trunc)
                }
            );
        }
        return Ok(0);
    }
    let now = chrono::Utc::now().timestamp();
    let mut rows = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_string()];
    for i in &items {
        let id = if i.id == "<missing>" {
            i.id.clone()
        } else {
            short_id(&i.id, a.no_trunc)
        };
        let by = if a.no_trunc {
            i.created_by.clone()
        } else {
            crate::format::ellipsis(&i.created_by, 45)
        };
        rows.push(format!(
            "{id}\t{} ago\t{by}\t{}\t{}",
            berth_api::human_duration(now - i.created),
            human_size(i.size),
            i.comment
        ));
    }
    print!("{}", tabulate(&rows));
    Ok(0)
}

pub async fn prune(client: &Client, a: ImagePruneArgs) -> Result<i32> {
    let mut path = "/images/prune".to_string();
    if a.all {
        path.push_str(&format!(
            "?{}",
            query(&[("filters", r#"{"dangling":["false"]}"#.into())])
        ));
    }
    let v: Value = client.json(Method::POST, &path, None).await?;
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for it in items {
            if let Some(u) = it["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = it["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Ok(0)
}

/// Streams a file or stdin as a request body.
fn file_body(path: Option<&std::path::Path>) -> Result<crate::client::ReqBody> {
    let reader: Box<dyn std::io::Read + Send> = match path {
        Some(p) => Box::new(
            std::fs::File::open(p)
                .map_err(|e| CliError::Other(format!("open {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    Ok(crate::client::reader_body(reader))
}

pub async fn import(client: &Client, a: ImportArgs) -> Result<i32> {
    let mut q = vec![("fromSrc", "-".to_string())];
    if let Some(r) = &a.reference {
        q.push(("repo", r.clone()));
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let path = if a.file == "-" {
        None
    } else {
        Some(std::path::Path::new(&a.file))
    };
    let body = file_body(path)?;
    let resp = client
        .send(
            Method::POST,
            &format!("/images/create?{}", query(&q)),
            body,
            Some("application/x-tar"),
            false,
        )
        .await?;
    for m in print_progress(resp, true).await? {
        if let Some(s) = m.status {
            println!("{s}");
        }
    }
    Ok(0)
}

pub async fn load(client: &Client, a: LoadArgs) -> Result<i32> {
    if a.input.is_none() && crate::stream::is_terminal(0) {
        return Err(CliError::Other(
            "requested load from stdin, but stdin is empty".into(),
        ));
    }
    let body = file_body(a.input.as_deref())?;
    let resp = client
        .send(
            Method::POST,
            &format!("/images/load?quiet={}", a.quiet as u8),
            body,
            Some("application/x-tar"),
            false,
        )
        .await?;
    print_progress(resp, a.quiet).await?;
    Ok(0)
}

pub async fn save(client: &Client, a: SaveArgs) -> Result<i32> {
    if a.output.is_none() && crate::stream::is_terminal(1) {
        return Err(CliError::Other(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let q: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    let resp = client
        .request(Method::GET, &format!("/images/get?{}", query(&q)), None)
        .await?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Other(e.to_string()))?;
        if let Ok(d) = frame.into_data() {
            out.write_all(&d)?;
        }
    }
    out.flush()?;
    Ok(0)
}

pub async fn pull(client: &Client, a: crate::cli::PullArgs) -> Result<i32> {
    if a.all_tags {
        return Err(CliError::Other(
            "--all-tags is not supported by berth yet".into(),
        ));
    }
    let mut q = vec![("fromImage", a.name.clone())];
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let resp = client
        .pull_request(&format!("/images/create?{}", query(&q)), &a.name)
        .await?;
    print_progress(resp, a.quiet).await?;
    if a.quiet {
        println!("{}", a.name);
    }
    Ok(0)
}

/// `repo[:tag]` split as the API wants it (a `:` after the last `/` starts the tag).
fn split_tag(name: &str) -> (&str, &str) {
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, t)) => (&name[..name.len() - t.len() - 1], t),
        None => (name, ""),
    }
}

pub async fn push(client: &Client, a: crate::cli::PushArgs) -> Result<i32> {
    if a.all_tags {
        return Err(CliError::Other(
            "--all-tags is not supported by berth yet".into(),
        ));
    }
    let (repo, tag) = split_tag(&a.name);
    let path = format!("/images/{repo}/push?{}", query(&[("tag", tag.to_string())]));
    let resp = client.pull_request(&path, &a.name).await?;
    print_progress(resp, a.quiet).await?;
    Ok(0)
}

/// `commit`: the container's changes as a new image; prints its ID.
pub async fn commit(client: &Client, a: crate::cli::CommitArgs) -> Result<i32> {
    let mut q = vec![
        ("container", a.container.clone()),
        ("pause", a.pause.to_string()),
    ];
    if let Some(r) = &a.reference {
        // The tag is after the last colon that is not part of a registry's port.
        let (repo, tag) = match r.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (r.clone(), String::new()),
        };
        q.push(("repo", repo));
        if !tag.is_empty() {
            q.push(("tag", tag));
        }
    }
    if let Some(m) = &a.message {
        q.push(("comment", m.clone()));
    }
    if let Some(au) = &a.author {
        q.push(("author", au.clone()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let r: serde_json::Value = client
        .json(Method::POST, &format!("/commit?{}", query(&q)), None)
        .await?;
    println!("{}", r["Id"].as_str().unwrap_or(""));
    Ok(0)
}
