//! Volumes of the `local` driver, kept as Docker keeps them: `<data-root>/volumes/<name>/
//! _data`, with berth's record beside it in `volume.json`.

use crate::error::{DaemonError, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The label Docker puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's options: `type`, `device`, `o`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Whether the volume is a filesystem of its own, mounted while in use.
    fn mounted_kind(&self) -> bool {
        self.options.contains_key("type") || self.options.contains_key("device")
    }
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, as Docker names volumes.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub struct Volumes {
    dir: PathBuf,
    records: Mutex<BTreeMap<String, VolumeRecord>>,
    /// Containers using each mounted-kind volume now, which stays mounted while any do.
    users: Mutex<HashMap<String, usize>>,
    /// The volumes each running container holds, given back exactly once.
    held: Mutex<HashMap<String, Vec<String>>>,
}

const KNOWN_OPTIONS: &[&str] = &["type", "device", "o"];

impl Volumes {
    pub fn open(data_root: &Path) -> Result<Self> {
        let dir = data_root.join("volumes");
        crate::dirs::ensure(&dir, crate::dirs::PRIVATE_MODE)?;
        let mut records = BTreeMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let meta = e.path().join("volume.json");
            match std::fs::read(&meta)
                .map_err(DaemonError::from)
                .and_then(|d| Ok(serde_json::from_slice::<VolumeRecord>(&d)?))
            {
                Ok(r) => {
                    records.insert(r.name.clone(), r);
                }
                // A create that died before its record: nothing anyone asked to keep.
                Err(_) if !meta.exists() => {
                    let _ = std::fs::remove_dir_all(e.path());
                }
                Err(err) => eprintln!("berthd: skipping volume {}: {err}", e.path().display()),
            }
        }
        Ok(Self {
            dir,
            records: Mutex::new(records),
            users: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, VolumeRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory containers see.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or_else(|| DaemonError::NotFound(format!("get {name}: no such volume")))
    }

    pub fn all(&self) -> Vec<VolumeRecord> {
        self.lock().values().cloned().collect()
    }

    /// Creates the volume (a random name when none is given), or returns the one of that
    /// name as it is, as Docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(DaemonError::InvalidParameter(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                n.to_string()
            }
            None => crate::engine::names::new_id(),
        };
        if let Some(k) = options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(DaemonError::InvalidParameter(format!(
                "create {name}: invalid option key: \"{k}\""
            )));
        }
        if options.contains_key("type") != options.contains_key("device") {
            return Err(DaemonError::InvalidParameter(format!(
                "create {name}: the local driver needs both type and device, or neither"
            )));
        }
        let mut records = self.lock();
        if let Some(existing) = records.get(&name) {
            return Ok(existing.clone());
        }
        let rec = VolumeRecord {
            name: name.clone(),
            created: crate::engine::time::now(),
            labels,
            options,
        };
        let vdir = self.dir.join(&name);
        crate::dirs::ensure(&vdir, crate::dirs::PRIVATE_MODE)?;
        std::fs::create_dir_all(vdir.join("_data"))?;
        // Containers reach _data through their bind mount, whatever its parent's mode.
        std::fs::set_permissions(
            vdir.join("_data"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        berth_image::atomic::write_file(
            &vdir.join("volume.json"),
            &serde_json::to_vec_pretty(&rec)?,
        )?;
        records.insert(name, rec.clone());
        Ok(rec)
    }

    /// Removes a volume no container uses (the caller checks).
    pub fn remove(&self, name: &str) -> Result<()> {
        let rec = self.get(name)?;
        if rec.mounted_kind() {
            let _ = nix::mount::umount2(&self.data_dir(name), nix::mount::MntFlags::MNT_DETACH);
        }
        self.lock().remove(name);
        std::fs::remove_dir_all(self.dir.join(name))?;
        Ok(())
    }

    /// Before container `holder` mounts the volume: a filesystem of its own (`type`,
    /// `device`, `o`) is mounted on first use.
    pub fn acquire(&self, holder: &str, name: &str) -> Result<PathBuf> {
        let data = self.acquire_one(name)?;
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(holder.to_string())
            .or_default()
            .push(name.to_string());
        Ok(data)
    }

    /// Gives back every volume `holder` acquired.
    pub fn release_all(&self, holder: &str) {
        let names = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(holder)
            .unwrap_or_default();
        for n in names {
            self.release(&n);
        }
    }

    fn acquire_one(&self, name: &str) -> Result<PathBuf> {
        let rec = self.get(name)?;
        let data = self.data_dir(name);
        if rec.mounted_kind() {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            let n = users.entry(name.to_string()).or_insert(0);
            if *n == 0 {
                mount_local(&rec, &data)?;
            }
            *n += 1;
        }
        Ok(data)
    }

    fn release(&self, name: &str) {
        let Ok(rec) = self.get(name) else { return };
        if !rec.mounted_kind() {
            return;
        }
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = users.get_mut(name) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                users.remove(name);
                let _ = nix::mount::umount2(&self.data_dir(name), nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }

    /// Bytes in the volume (for `system df` and prune's report).
    pub fn size(&self, name: &str) -> u64 {
        fn walk(p: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(p) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.data_dir(name))
    }
}

/// `mount -t <type> -o <o> <device> <data>`; `o=bind` binds a host directory.
fn mount_local(rec: &VolumeRecord, data: &Path) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    let fstype = rec
        .options
        .get("type")
        .map(String::as_str)
        .unwrap_or("none");
    let device = rec
        .options
        .get("device")
        .map(String::as_str)
        .unwrap_or("none");
    let o = rec.options.get("o").map(String::as_str).unwrap_or("");
    let mut flags = MsFlags::empty();
    let mut data_opts = vec![];
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            other => data_opts.push(other),
        }
    }
    let data_opts = data_opts.join(",");
    mount(
        Some(device),
        data,
        Some(fstype).filter(|_| !flags.contains(MsFlags::MS_BIND)),
        flags,
        Some(data_opts.as_str()).filter(|s| !s.is_empty()),
    )
    .map_err(|e| {
        DaemonError::System(format!(
            "error while mounting volume '{}': failed to mount local volume: mount {device}:{} (type {fstype}, options {o}): {e}",
            rec.name,
            data.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol.1-2"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
    }

    #[test]
    fn create_get_remove() {
        let d = tempfile::tempdir().unwrap();
        let v = Volumes::open(d.path()).unwrap();
        let r = v
            .create(Some("data"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(v.data_dir("data").is_dir());
        // Again: the same volume.
        let again = v
            .create(Some("data"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(again.created, r.created);
        assert!(v
            .create(Some("x/y"), BTreeMap::new(), BTreeMap::new())
            .is_err());
        let bad = BTreeMap::from([("nope".to_string(), "1".to_string())]);
        assert!(v.create(Some("other"), BTreeMap::new(), bad).is_err());
        // A restarted daemon finds it.
        let reopened = Volumes::open(d.path()).unwrap();
        assert_eq!(reopened.get("data").unwrap().name, "data");
        reopened.remove("data").unwrap();
        assert!(reopened.get("data").is_err());
        assert!(!d.path().join("volumes/data").exists());
    }
}
