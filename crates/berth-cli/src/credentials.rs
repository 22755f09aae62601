//! Registry credentials where the docker CLI keeps them: `$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`, as `{"auths": {"host:port": {"auth": base64(user:pass)}}}`.

use base64::Engine as _;
use std::path::PathBuf;

pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

pub fn config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".docker/config.json"),
    }
}

/// The key a registry has in `auths` (Docker Hub's is its v1 URL, as the docker CLI writes).
pub fn server_key(registry: &str) -> String {
    match registry {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        r => r
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    }
}

/// The registry part of an image name, as Docker reads it.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The detach keys to send: the flag's, else `detachKeys` from config.json (as the docker
/// CLI reads it), else none (the daemon's default, ctrl-p,ctrl-q).
pub fn detach_keys(flag: &Option<String>) -> Option<String> {
    flag.clone().or_else(|| {
        read_config()["detachKeys"]
            .as_str()
            .filter(|k| !k.is_empty())
            .map(str::to_string)
    })
}

fn read_config() -> serde_json::Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

fn write_config(v: &serde_json::Value) -> std::io::Result<()> {
    let path = config_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?,
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(tmp, path)
}

pub fn store(registry: &str, username: &str, password: &str) -> std::io::Result<()> {
    let mut v = read_config();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    if !v["auths"].is_object() {
        v["auths"] = serde_json::json!({});
    }
    v["auths"][server_key(registry)] = serde_json::json!({ "auth": auth });
    write_config(&v)
}

/// Removes a registry's credentials; false if there were none.
pub fn erase(registry: &str) -> std::io::Result<bool> {
    let mut v = read_config();
    let removed = v["auths"]
        .as_object_mut()
        .and_then(|a| a.remove(&server_key(registry)))
        .is_some();
    if removed {
        write_config(&v)?;
    }
    Ok(removed)
}

/// `X-Registry-Auth` for a registry, from the stored credentials.
pub fn registry_auth_header(registry: &str) -> Option<String> {
    let v = read_config();
    let auth = v["auths"][server_key(registry)]["auth"].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let (user, pass) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    let json = serde_json::json!({"username": user, "password": pass, "serveraddress": server_key(registry)});
    Some(base64::engine::general_purpose::URL_SAFE.encode(json.to_string()))
}

/// `X-Registry-Config` for a build: every stored login, by server.
pub fn registry_config_header() -> Option<String> {
    let v = read_config();
    let mut out = serde_json::Map::new();
    for (server, entry) in v["auths"].as_object()? {
        let Some(raw) = entry["auth"]
            .as_str()
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
        else {
            continue;
        };
        let Some((user, pass)) = std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| s.split_once(':'))
        else {
            continue;
        };
        out.insert(
            server.clone(),
            serde_json::json!({"username": user, "password": pass, "serveraddress": server}),
        );
    }
    (!out.is_empty()).then(|| {
        base64::engine::general_purpose::URL_SAFE.encode(serde_json::Value::Object(out).to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_keys() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("user/app"), "docker.io");
        assert_eq!(registry_of("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(server_key("docker.io"), DOCKER_HUB);
        assert_eq!(server_key("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    }
}
