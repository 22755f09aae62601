//! `docker system df`: the space images, containers, volumes and the build cache take,
//! as dockerd reports it (`GET /system/df`, with `type` to ask for some only).

use super::Engine;
use crate::error::{DaemonError, Result};
use berth_image::usage::disk_usage;
use std::collections::HashMap;
use std::sync::Arc;

impl Engine {
    pub async fn system_df(self: &Arc<Self>, types: &[String]) -> Result<serde_json::Value> {
        for t in types {
            if !matches!(t.as_str(), "container" | "image" | "volume" | "build-cache") {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid type {t:?}: want container, image, volume or build-cache"
                )));
            }
        }
        let want = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        let engine = self.clone();
        let images_wanted = want("image");
        let containers_wanted = want("container");
        let volumes_wanted = want("volume");
        let cache_wanted = want("build-cache");
        let containers = self.list(true, &HashMap::new(), None)?;
        let image_list = if images_wanted {
            Some(self.image_list(HashMap::new(), false).await?)
        } else {
            None
        };
        tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
            let store = &engine.images;
            // Each layer's size, and how many images hold it.
            let mut layer_size: HashMap<berth_image::Digest, u64> = HashMap::new();
            let mut holders: HashMap<berth_image::Digest, u64> = HashMap::new();
            let mut chains: HashMap<String, Vec<berth_image::Digest>> = HashMap::new();
            for id in store.ids() {
                let Ok(img) = store.get(&id) else { continue };
                for c in &img.chain {
                    *holders.entry(c.clone()).or_default() += 1;
                    if !layer_size.contains_key(c) {
                        let size = store.layers.meta(c).map(|m| m.unpacked_size()).unwrap_or(0);
                        layer_size.insert(c.clone(), size);
                    }
                }
                chains.insert(id.to_string(), img.chain.clone());
            }
            let mut out = serde_json::json!({
                "LayersSize": layer_size.values().sum::<u64>(),
            });
            if let Some(list) = image_list {
                let images: Vec<serde_json::Value> = list
                    .into_iter()
                    .map(|s| {
                        let chain = chains.get(&s.id).cloned().unwrap_or_default();
                        let shared: u64 = chain
                            .iter()
                            .filter(|c| holders.get(*c).copied().unwrap_or(0) > 1)
                            .map(|c| layer_size.get(c).copied().unwrap_or(0))
                            .sum();
                        let mut v = serde_json::to_value(&s).unwrap_or_default();
                        v["SharedSize"] = shared.into();
                        v
                    })
                    .collect();
                out["Images"] = images.into();
            }
            if containers_wanted {
                let list: Vec<serde_json::Value> = containers
                    .iter()
                    .map(|c| {
                        let rw = disk_usage(&engine.cfg.container_dir(&c.id).join("fs/upper"));
                        let image: u64 = chains
                            .get(&c.image_id)
                            .map(|ch| {
                                ch.iter()
                                    .map(|l| layer_size.get(l).copied().unwrap_or(0))
                                    .sum()
                            })
                            .unwrap_or(0);
                        let mut v = serde_json::to_value(c).unwrap_or_default();
                        v["SizeRw"] = rw.into();
                        v["SizeRootFs"] = (rw + image).into();
                        v
                    })
                    .collect();
                out["Containers"] = list.into();
            }
            if volumes_wanted {
                let vols = engine.volume_list(&HashMap::new())?;
                let list: Vec<serde_json::Value> = vols["Volumes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut v| {
                        let name = v["Name"].as_str().unwrap_or("").to_string();
                        let size = disk_usage(&engine.volumes.data_dir(&name));
                        let refs = engine.volume_users(&name).len();
                        v["UsageData"] = serde_json::json!({ "Size": size, "RefCount": refs });
                        v
                    })
                    .collect();
                out["Volumes"] = list.into();
            }
            if cache_wanted {
                let mut list = vec![];
                for (key, image) in engine.build_cache.entries() {
                    let Ok(d) = image.parse::<berth_image::Digest>() else {
                        continue;
                    };
                    let Ok(img) = store.get(&d) else { continue };
                    let step = img.config.history.last();
                    // The layer the step added, if it added one.
                    let size = match (step, img.chain.last()) {
                        (Some(h), Some(top)) if !h.empty_layer => {
                            layer_size.get(top).copied().unwrap_or(0)
                        }
                        _ => 0,
                    };
                    let in_use = !store.references_of(&d).is_empty();
                    list.push(serde_json::json!({
                        "ID": &key[..25.min(key.len())],
                        "Parent": "",
                        "Type": "regular",
                        "Description": step.and_then(|h| h.created_by.clone()).unwrap_or_default(),
                        "InUse": in_use,
                        "Shared": false,
                        "Size": size,
                        "CreatedAt": img.config.created.clone().unwrap_or_default(),
                        "LastUsedAt": null,
                        "UsageCount": 0,
                    }));
                }
                out["BuildCache"] = list.into();
            }
            Ok(out)
        })
        .await
        .map_err(DaemonError::system)?
    }
}

impl Engine {
    /// The container's writable layer (the overlay's upper dir).
    pub fn container_upper_dir(&self, id: &str) -> std::path::PathBuf {
        self.cfg.container_dir(id).join("fs/upper")
    }

    /// `ps -s`: the bytes of the container's writable layer, and of that with its
    /// image's layers.
    pub async fn container_sizes(&self, id: &str, image_id: &str) -> (i64, i64) {
        let upper = self.container_upper_dir(id);
        let rw = tokio::task::spawn_blocking(move || disk_usage(&upper))
            .await
            .unwrap_or(0);
        let image = image_id
            .parse::<berth_image::Digest>()
            .ok()
            .and_then(|d| self.images.get(&d).ok())
            .map_or(0, |i| i.size);
        (rw as i64, (rw + image) as i64)
    }
}
