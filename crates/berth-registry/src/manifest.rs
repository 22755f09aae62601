//! Manifests and indexes, Docker schema2 and OCI.

use crate::error::{RegistryError, Result};
use berth_image::Digest;
use serde::Deserialize;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What a pull asks for, in preference order.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index accepted (the distribution spec suggests 4 MiB).
pub const MAX_MANIFEST: usize = 4 << 20;

const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    pub manifests: Vec<Descriptor>,
}

/// A fetched manifest body, by what it is.
#[derive(Debug)]
pub enum Fetched {
    Index(Index),
    Manifest(ImageManifest),
}

/// Parses an image manifest or index to pull: like `parse_any`, and every layer must be
/// of a kind berth can unpack.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Fetched> {
    let fetched = parse_any(content_type, body)?;
    if let Fetched::Manifest(m) = &fetched {
        for l in &m.layers {
            if !LAYER_TYPES.contains(&l.media_type.as_str()) {
                return Err(RegistryError::InvalidManifest(format!(
                    "unsupported layer media type {:?}",
                    l.media_type
                )));
            }
        }
    }
    Ok(fetched)
}

/// Parses a manifest or index by its media type (the header, or the body's own field).
/// Layers may be of any media type: a registry also stores artifacts (signatures, SBOMs).
pub fn parse_any(content_type: &str, body: &[u8]) -> Result<Fetched> {
    if body.len() > MAX_MANIFEST {
        return Err(RegistryError::InvalidManifest(format!(
            "manifest is too large ({} bytes)",
            body.len()
        )));
    }
    let bad =
        |e: serde_json::Error| RegistryError::InvalidManifest(format!("invalid manifest: {e}"));
    serde_json::from_slice::<serde_json::Value>(body).map_err(bad)?;
    match media_type(content_type, body).as_str() {
        OCI_INDEX | DOCKER_LIST => Ok(Fetched::Index(serde_json::from_slice(body).map_err(bad)?)),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let m: ImageManifest = serde_json::from_slice(body).map_err(bad)?;
            if m.schema_version != 2 {
                return Err(RegistryError::InvalidManifest(format!(
                    "unsupported schema version {}",
                    m.schema_version
                )));
            }
            Ok(Fetched::Manifest(m))
        }
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
        | "application/vnd.docker.distribution.manifest.v1+json" => Err(
            RegistryError::InvalidManifest("Docker schema 1 manifests are not supported".into()),
        ),
        other => Err(RegistryError::InvalidManifest(format!(
            "unknown manifest media type {other:?}"
        ))),
    }
}

/// What a manifest body is: the Content-Type header when it names a manifest or index kind,
/// else the body's own `mediaType` ("" when it has none).
pub fn media_type(content_type: &str, body: &[u8]) -> String {
    let header = content_type.split(';').next().unwrap_or("").trim();
    if [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].contains(&header) {
        return header.to_string();
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The index entry for `os/arch[/variant]`.
pub fn select<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    index.manifests.iter().find(|d| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == want.os
                && p.architecture == want.architecture
                && (want.variant.is_none() || p.variant == want.variant)
        })
    })
}

/// `linux/amd64`, `linux/arm64/v8`.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        }),
        [os, arch, v] => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(v.to_string()),
        }),
        _ => Err(RegistryError::InvalidManifest(format!(
            "invalid platform {s:?}: expected os/arch[/variant]"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:dee28c6966f8f6053d43e2727d02a3cd49b1bfb586ecf27ccfa36c69301a2c24";

    #[test]
    fn parses_manifests_and_indexes() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"x","size":3,"digest":"{D}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":5,"digest":"{D}"}}]}}"#
        );
        assert!(matches!(
            parse(DOCKER_MANIFEST, m.as_bytes()).unwrap(),
            Fetched::Manifest(_)
        ));
        // Media type from the body when the header is generic.
        assert!(matches!(
            parse("application/json", m.as_bytes()).unwrap(),
            Fetched::Manifest(_)
        ));
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D}","platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let Fetched::Index(i) = parse(OCI_INDEX, idx.as_bytes()).unwrap() else {
            panic!()
        };
        let p = parse_platform("linux/amd64").unwrap();
        assert_eq!(
            select(&i, &p)
                .unwrap()
                .platform
                .as_ref()
                .unwrap()
                .architecture,
            "amd64"
        );
        assert!(select(&i, &parse_platform("windows/amd64").unwrap()).is_none());
    }

    #[test]
    fn rejects_bad_manifests() {
        let odd = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"x","size":3,"digest":"{D}"}},"layers":[{{"mediaType":"text/html","size":5,"digest":"{D}"}}]}}"#
        );
        assert!(parse(OCI_MANIFEST, odd.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("unsupported layer media type"));
        assert!(parse(OCI_MANIFEST, b"not json").is_err());
        assert!(parse("text/plain", br#"{"mediaType":"application/x-weird"}"#).is_err());
        let huge = vec![b' '; MAX_MANIFEST + 1];
        assert!(parse(OCI_MANIFEST, &huge)
            .unwrap_err()
            .to_string()
            .contains("too large"));
        let bad_digest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"size":3,"digest":"sha256:nothex"},"layers":[]}"#;
        assert!(parse(OCI_MANIFEST, bad_digest.as_bytes()).is_err());
    }
}
