//! The `platform` query parameters of the image endpoints (JSON OCI platforms, API 1.46
//! on). berth's store keeps one platform per image, so a request that names platforms is
//! served when the image's own is among them, and is a 404 that says so otherwise.

use super::body::Query;
use crate::error::{DaemonError, Result};
use berth_api::image::Platform;

/// The platforms named by `key`: at most one unless `many`. Empty values are none.
pub fn requested(q: &Query, key: &str, many: bool) -> Result<Vec<Platform>> {
    let values: Vec<String> = q.all(key).into_iter().filter(|v| !v.is_empty()).collect();
    if values.len() > 1 && !many {
        return Err(DaemonError::InvalidParameter(format!(
            "{key}: only one platform may be given"
        )));
    }
    values
        .iter()
        .map(|v| {
            serde_json::from_str::<Platform>(v)
                .map_err(|e| DaemonError::InvalidParameter(format!("invalid {key} {v:?}: {e}")))
        })
        .collect()
}

/// Whether an image of `os`/`arch` answers a request for `wanted` (none: any).
pub fn check(name: &str, os: &str, arch: &str, wanted: &[Platform]) -> Result<()> {
    if wanted.is_empty() || wanted.iter().any(|p| p.os == os && p.architecture == arch) {
        return Ok(());
    }
    let asked: Vec<String> = wanted
        .iter()
        .map(|p| match &p.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", p.os, p.architecture),
            _ => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    Err(DaemonError::NotFound(format!(
        "image {name} is {os}/{arch} only: no variant for {}",
        asked.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_platform_image_answers_its_own() {
        let q = Query::parse(Some(
            "platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm64%22%7D",
        ));
        let wanted = requested(&q, "platform", false).unwrap();
        assert!(check("bb", "linux", "amd64", &wanted)
            .unwrap_err()
            .to_string()
            .contains("no variant for linux/arm64"));
        assert!(check("bb", "linux", "arm64", &wanted).is_ok());
        assert!(check("bb", "linux", "amd64", &[]).is_ok());
        let bad = Query::parse(Some("platform=linux/amd64"));
        assert!(requested(&bad, "platform", false).is_err());
    }
}
