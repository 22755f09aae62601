//! A container's files: `cp` both ways, `export` and `diff`, through the archive API the
//! docker CLI uses.

use crate::cli::{CpArgs, ExportArgs};
use crate::client::{query, response_reader, writer_body, CliError, Client, Result};
use base64::Engine as _;
use http::Method;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// `container:path`, or a local path (`-` for a tar stream on stdin/stdout).
enum Location {
    Container { name: String, path: String },
    Local(String),
}

fn location(s: &str) -> Location {
    // A local path with a colon is written ./a:b, as with docker cp.
    match s.split_once(':') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => Location::Container {
            name: name.to_string(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        },
        _ => Location::Local(s.to_string()),
    }
}

/// What the daemon says is at a path (X-Docker-Container-Path-Stat).
#[derive(serde::Deserialize, Debug, Default)]
struct PathStat {
    #[serde(default)]
    name: String,
    #[serde(default)]
    mode: u32,
    #[serde(default, rename = "linkTarget")]
    link_target: String,
}

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & (1 << 31) != 0
    }
}

fn stat_of(resp: &http::Response<hyper::body::Incoming>) -> PathStat {
    resp.headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .ok()
        })
        .and_then(|j| serde_json::from_slice(&j).ok())
        .unwrap_or_default()
}

async fn stat(client: &Client, name: &str, path: &str) -> Result<Option<PathStat>> {
    let q = query(&[("path", path.to_string())]);
    match client
        .request(
            Method::HEAD,
            &format!("/containers/{name}/archive?{q}"),
            None,
        )
        .await
    {
        Ok(resp) => Ok(Some(stat_of(&resp))),
        // A HEAD answer has no body: whether the container or the path is missing is
        // asked again.
        Err(CliError::Daemon { status: 404, .. }) => {
            client
                .call(Method::GET, &format!("/containers/{name}/json"), None)
                .await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `/a/b/.` asks for the contents of `/a/b`, not the directory itself.
fn wants_contents(path: &str) -> bool {
    path.ends_with("/.") || path == "."
}

fn last_name(path: &str) -> String {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .unwrap_or_default()
}

pub async fn cp(client: &Client, a: CpArgs) -> Result<i32> {
    match (location(&a.source), location(&a.destination)) {
        (Location::Container { name, path }, Location::Local(dst)) => {
            copy_out(client, &name, &path, &dst, a.follow_link, a.archive).await
        }
        (Location::Local(src), Location::Container { name, path }) => {
            copy_in(client, &src, &name, &path, a.archive).await
        }
        (Location::Container { .. }, Location::Container { .. }) => Err(CliError::Other(
            "copying between containers is not supported".into(),
        )),
        (Location::Local(_), Location::Local(_)) => Err(CliError::Other(
            "must specify at least one container source".into(),
        )),
    }
}

async fn copy_out(
    client: &Client,
    name: &str,
    path: &str,
    dst: &str,
    follow_link: bool,
    keep_owners: bool,
) -> Result<i32> {
    let mut path = path.to_string();
    if follow_link {
        if let Some(st) = stat(client, name, &path).await? {
            if !st.link_target.is_empty() {
                path = if st.link_target.starts_with('/') {
                    st.link_target
                } else {
                    let parent = Path::new(&path).parent().unwrap_or(Path::new("/"));
                    parent.join(&st.link_target).display().to_string()
                };
            }
        }
    }
    let q = query(&[("path", path.clone())]);
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{name}/archive?{q}"),
            None,
        )
        .await?;
    let src = stat_of(&resp);
    if dst == "-" {
        let mut reader = response_reader(resp);
        return tokio::task::spawn_blocking(move || {
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut reader, &mut out)?;
            out.flush()
        })
        .await
        .map_err(|e| CliError::Other(e.to_string()))?
        .map(|()| 0)
        .map_err(CliError::from);
    }
    let dst_path = PathBuf::from(dst);
    let existing = std::fs::metadata(&dst_path).ok();
    // Where the archive is unpacked, and what its top entry becomes there.
    let (into, rename): (PathBuf, Option<String>) = match existing {
        Some(m) if m.is_dir() => {
            if wants_contents(&path) {
                (dst_path.clone(), Some(String::new()))
            } else {
                (dst_path.clone(), None)
            }
        }
        Some(_) if src.is_dir() => {
            return Err(CliError::Other(format!(
                "cannot copy a directory to a file: {dst}"
            )))
        }
        exists => {
            if exists.is_none() && dst.ends_with('/') && !src.is_dir() {
                return Err(CliError::Other(format!(
                    "destination directory {dst} does not exist"
                )));
            }
            let parent = dst_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            if !parent.is_dir() {
                return Err(CliError::Other(format!(
                    "destination directory {} does not exist",
                    parent.display()
                )));
            }
            (parent, Some(last_name(dst)))
        }
    };
    let top = if src.name.is_empty() {
        last_name(&path)
    } else {
        src.name.clone()
    };
    let reader = response_reader(resp);
    tokio::task::spawn_blocking(move || {
        unpack(reader, &into, &top, rename.as_deref(), keep_owners)
    })
    .await
    .map_err(|e| CliError::Other(e.to_string()))??;
    Ok(0)
}

/// Unpacks `reader` into `into` (never outside it: tar's `unpack_in` for each entry).
/// With `rename`, the top entry `top` becomes that name there, or (when it is empty)
/// its contents go straight into `into`: the archive is unpacked in a scratch dir
/// inside `into` first, so nothing of the user's is overwritten under the wrong name.
fn unpack(
    reader: impl std::io::Read,
    into: &Path,
    top: &str,
    rename: Option<&str>,
    keep_owners: bool,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    // Owned by who copies, as with `docker cp`, unless -a keeps the container's owners.
    archive.set_preserve_ownerships(keep_owners);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let Some(rename) = rename else {
        archive.unpack(into)?;
        return Ok(());
    };
    let scratch = tempfile::Builder::new()
        .prefix(".berth-cp-")
        .tempdir_in(into)?;
    archive.unpack(scratch.path())?;
    let unpacked = scratch.path().join(top);
    if rename.is_empty() {
        for e in std::fs::read_dir(&unpacked)? {
            let e = e?;
            move_into(&e.path(), &into.join(e.file_name()))?;
        }
    } else {
        move_into(&unpacked, &into.join(rename))?;
    }
    Ok(())
}

/// Moves `from` to `to`; directories are merged, anything else replaced.
fn move_into(from: &Path, to: &Path) -> std::io::Result<()> {
    let from_dir = std::fs::symlink_metadata(from)?.is_dir();
    match std::fs::symlink_metadata(to) {
        Err(_) => std::fs::rename(from, to),
        Ok(m) if m.is_dir() && from_dir => {
            for e in std::fs::read_dir(from)? {
                let e = e?;
                move_into(&e.path(), &to.join(e.file_name()))?;
            }
            Ok(())
        }
        Ok(m) => {
            if m.is_dir() {
                std::fs::remove_dir_all(to)?;
            }
            std::fs::rename(from, to)
        }
    }
}

async fn copy_in(
    client: &Client,
    src: &str,
    name: &str,
    path: &str,
    keep_owners: bool,
) -> Result<i32> {
    let mut q = vec![];
    if keep_owners {
        q.push(("copyUIDGID", "1".to_string()));
    }
    if src == "-" {
        // A tar stream on stdin, unpacked into the directory `path`.
        q.push(("path", path.to_string()));
        let body = crate::client::reader_body(Box::new(std::io::stdin()));
        client
            .send(
                Method::PUT,
                &format!("/containers/{name}/archive?{}", query(&q)),
                body,
                Some("application/x-tar"),
                false,
            )
            .await?;
        return Ok(0);
    }
    let local = PathBuf::from(src);
    let meta =
        std::fs::symlink_metadata(&local).map_err(|e| CliError::Other(format!("{src}: {e}")))?;
    // Where in the container, and under which name.
    let (dir, entry_name) = match stat(client, name, path).await? {
        Some(st) if st.is_dir() => (path.to_string(), last_name(src)),
        Some(_) if meta.is_dir() => {
            return Err(CliError::Other(format!(
                "cannot copy a directory to a file: {path}"
            )))
        }
        found => {
            if found.is_none() && path.ends_with('/') {
                return Err(CliError::Other(format!(
                    "destination directory {path} does not exist"
                )));
            }
            let parent = Path::new(path)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            (parent, last_name(path))
        }
    };
    let contents = meta.is_dir() && wants_contents(src);
    q.push(("path", dir));
    let body = writer_body(move |out| {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        if contents {
            tar.append_dir_all(".", &local)?;
        } else if meta.is_dir() {
            tar.append_dir_all(&entry_name, &local)?;
        } else {
            tar.append_path_with_name(&local, &entry_name)?;
        }
        tar.finish()
    });
    client
        .send(
            Method::PUT,
            &format!("/containers/{name}/archive?{}", query(&q)),
            body,
            Some("application/x-tar"),
            false,
        )
        .await?;
    Ok(0)
}

pub async fn export(client: &Client, a: ExportArgs) -> Result<i32> {
    if a.output.is_none() && crate::stream::is_terminal(1) {
        return Err(CliError::Other(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/export", a.container),
            None,
        )
        .await?;
    let mut reader = response_reader(resp);
    let output = a.output.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut out: Box<dyn Write> = match &output {
            Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        std::io::copy(&mut reader, &mut out)?;
        out.flush()
    })
    .await
    .map_err(|e| CliError::Other(e.to_string()))??;
    Ok(0)
}

pub async fn diff(client: &Client, container: &str) -> Result<i32> {
    #[derive(serde::Deserialize)]
    struct Change {
        #[serde(rename = "Path")]
        path: String,
        #[serde(rename = "Kind")]
        kind: u8,
    }
    let changes: Option<Vec<Change>> = client
        .json(
            Method::GET,
            &format!("/containers/{container}/changes"),
            None,
        )
        .await?;
    for c in changes.unwrap_or_default() {
        let k = match c.kind {
            0 => "C",
            1 => "A",
            _ => "D",
        };
        println!("{k} {}", c.path);
    }
    Ok(0)
}
