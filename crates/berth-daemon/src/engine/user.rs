//! Resolving `--user` against the image's /etc/passwd and /etc/group, as Docker does.

use crate::error::{DaemonError, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(data: &str) -> Vec<PasswdEntry> {
    data.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"/").to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn parse_group(data: &str) -> Vec<(String, u32, Vec<String>)> {
    data.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// `user` is `name`, `uid`, `name:group`, `uid:gid` (or empty for root). `layers` are the
/// container's filesystem layers, top first. `group_add` is HostConfig.GroupAdd.
pub fn resolve(user: &str, layers: &[PathBuf], group_add: &[String]) -> Result<ResolvedUser> {
    resolve_with(user, layers, group_add, true)
}

/// `resolve`; without `image_groups`, the user's memberships in the image's /etc/group
/// are left out (only `group_add` is added).
pub fn resolve_with(
    user: &str,
    layers: &[PathBuf],
    group_add: &[String],
    image_groups: bool,
) -> Result<ResolvedUser> {
    let passwd = berth_image::layer::read_from_stack(layers, "etc/passwd")
        .map(|d| parse_passwd(&String::from_utf8_lossy(&d)))
        .unwrap_or_default();
    let groups = berth_image::layer::read_from_stack(layers, "etc/group")
        .map(|d| parse_group(&String::from_utf8_lossy(&d)))
        .unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd
        .iter()
        .find(|p| p.name == u || p.uid.to_string() == u);
    let (uid, mut gid, name, home) = match (entry, u.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.clone()), e.home.clone()),
        (None, Ok(n)) => (n, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(DaemonError::InvalidParameter(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    let lookup_group = |g: &str| -> Result<u32> {
        if let Some((_, id, _)) = groups
            .iter()
            .find(|(n, id, _)| n == g || id.to_string() == g)
        {
            return Ok(*id);
        }
        g.parse().map_err(|_| {
            DaemonError::InvalidParameter(format!(
                "unable to find group {g}: no matching entries in group file"
            ))
        })
    };
    if let Some(g) = g {
        gid = lookup_group(g)?;
    }
    let mut additional = vec![];
    // Supplementary groups from /etc/group only in the implicit form (`-u name`): with
    // `-u user:group` the process gets exactly that group, plus --group-add (as runc).
    if let (Some(n), None, true) = (&name, g, image_groups) {
        for (_, id, members) in &groups {
            if members.contains(n) && *id != gid && !additional.contains(id) {
                additional.push(*id);
            }
        }
    }
    for g in group_add {
        let id = lookup_group(g)?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_docker() {
        let dir = std::env::temp_dir().join(format!("berth-user-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("etc/group"),
            "root:x:0:\nwww:x:33:\nwheel:x:10:www\n",
        )
        .unwrap();
        let layers = vec![dir.clone()];
        let r = resolve("www", &layers, &[]).unwrap();
        assert_eq!(
            (r.uid, r.gid, r.additional_gids.clone()),
            (33, 33, vec![10])
        );
        assert_eq!(r.home, "/var/www");
        let r = resolve("1000:wheel", &layers, &[]).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 10));
        let r = resolve("www:33", &layers, &[]).unwrap();
        assert_eq!((r.gid, r.additional_gids.clone()), (33, vec![]));
        let r = resolve("www:33", &layers, &["wheel".into()]).unwrap();
        assert_eq!(r.additional_gids, vec![10]);
        assert_eq!(resolve("", &layers, &[]).unwrap().uid, 0);
        let e = resolve("nosuch", &layers, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
