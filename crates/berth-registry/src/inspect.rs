//! What a reference names on its registry, without pulling it (`GET /distribution/{name}/json`):
//! the descriptor of its manifest or index, and the platforms it offers.

use crate::auth::Credentials;
use crate::client::Client;
use crate::error::Result;
use crate::manifest::{self, Fetched, Platform};
use crate::pull::{fetch_config, fetch_manifest, manifest_reference};
use berth_image::reference::Reference;
use berth_image::Digest;

#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub platforms: Vec<Platform>,
}

pub async fn inspect(
    client: &Client,
    reference: &Reference,
    creds: Option<Credentials>,
) -> Result<Distribution> {
    let session = client
        .session(&reference.domain, &reference.path, creds)
        .await?;
    let (body, content_type, digest) =
        fetch_manifest(&session, &manifest_reference(reference)).await?;
    let fetched = manifest::parse(&content_type, &body)?;
    let media_type = match manifest::media_type(&content_type, &body) {
        t if !t.is_empty() => t,
        _ if matches!(fetched, Fetched::Index(_)) => manifest::OCI_INDEX.to_string(),
        _ => manifest::OCI_MANIFEST.to_string(),
    };
    let platforms = match fetched {
        Fetched::Index(index) => index
            .manifests
            .into_iter()
            .filter_map(|d| d.platform)
            .collect(),
        // A single manifest says its platform only in its config.
        Fetched::Manifest(m) => {
            let config = fetch_config(&session, &m.config).await?;
            let v: serde_json::Value = serde_json::from_slice(&config).map_err(|e| {
                crate::RegistryError::InvalidManifest(format!("invalid image config: {e}"))
            })?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            vec![Platform {
                architecture: field("architecture").unwrap_or_else(|| "amd64".into()),
                os: field("os").unwrap_or_else(|| "linux".into()),
                variant: field("variant"),
            }]
        }
    };
    Ok(Distribution {
        media_type,
        digest,
        size: body.len() as u64,
        platforms,
    })
}
