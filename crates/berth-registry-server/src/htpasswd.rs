//! Basic auth for `berth registry serve` from an htpasswd file of bcrypt hashes
//! (`htpasswd -B`), as Docker's registry takes it.

use base64::Engine as _;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

pub struct Htpasswd {
    users: HashMap<String, String>,
    /// `Authorization` values already verified: bcrypt is slow by design.
    verified: Mutex<HashSet<String>>,
}

impl Htpasswd {
    pub fn load(path: &std::path::Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut users = HashMap::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (u, h) = line.split_once(':').ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("htpasswd line without ':' in {}", path.display()),
                )
            })?;
            if !h.starts_with("$2") {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("user {u}: only bcrypt hashes are accepted (htpasswd -B)"),
                ));
            }
            users.insert(u.to_string(), h.to_string());
        }
        Ok(Self {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header carries valid credentials.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(value)
        {
            return true;
        }
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, password)) = raw.split_once(':') else {
            return false;
        };
        let ok = self
            .users
            .get(user)
            .is_some_and(|hash| bcrypt::verify(password, hash).unwrap_or(false));
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(value.to_string());
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_bcrypt_users() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(dir.path().join("h"), format!("alice:{hash}\n")).unwrap();
        let h = Htpasswd::load(&dir.path().join("h")).unwrap();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(h.allows(Some(&header("alice", "s3cret"))));
        assert!(h.allows(Some(&header("alice", "s3cret"))), "cached");
        assert!(!h.allows(Some(&header("alice", "wrong"))));
        assert!(!h.allows(Some(&header("bob", "s3cret"))));
        assert!(!h.allows(None));
        assert!(!h.allows(Some("Bearer x")));
        std::fs::write(dir.path().join("plain"), "alice:{SHA}abc\n").unwrap();
        assert!(Htpasswd::load(&dir.path().join("plain")).is_err());
    }
}
