//! What CRI says about a container that Docker's config has no field for, kept in labels
//! under `io.berth.cri.`: the sandbox, the metadata, the kubelet's own labels and
//! annotations (as JSON, so nothing in them is confused with the image's labels).

use crate::proto::ContainerMetadata;
use std::collections::{BTreeMap, HashMap};

pub const SANDBOX: &str = "io.berth.cri.sandbox-id";
pub const NAME: &str = "io.berth.cri.name";
pub const ATTEMPT: &str = "io.berth.cri.attempt";
pub const LABELS: &str = "io.berth.cri.labels";
pub const ANNOTATIONS: &str = "io.berth.cri.annotations";
pub const IMAGE: &str = "io.berth.cri.image";

/// A CRI container's labels on its berth container: the kubelet's (so `berth ps`
/// filters on them), and berth's own.
pub fn encode(
    sandbox_id: &str,
    meta: &ContainerMetadata,
    labels: &HashMap<String, String>,
    annotations: &HashMap<String, String>,
    image: &str,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert(SANDBOX.into(), sandbox_id.into());
    out.insert(NAME.into(), meta.name.clone());
    out.insert(ATTEMPT.into(), meta.attempt.to_string());
    out.insert(
        LABELS.into(),
        serde_json::to_string(labels).unwrap_or_default(),
    );
    out.insert(
        ANNOTATIONS.into(),
        serde_json::to_string(annotations).unwrap_or_default(),
    );
    out.insert(IMAGE.into(), image.into());
    out
}

/// What CRI said about a container, read back from its labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub sandbox_id: String,
    pub metadata: ContainerMetadata,
    pub labels: HashMap<String, String>,
    pub annotations: HashMap<String, String>,
    pub image: String,
}

pub fn decode(labels: &BTreeMap<String, String>) -> Option<Decoded> {
    let json = |k: &str| -> HashMap<String, String> {
        labels
            .get(k)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    };
    Some(Decoded {
        sandbox_id: labels.get(SANDBOX)?.clone(),
        metadata: ContainerMetadata {
            name: labels.get(NAME).cloned().unwrap_or_default(),
            attempt: labels
                .get(ATTEMPT)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
        },
        labels: json(LABELS),
        annotations: json(ANNOTATIONS),
        image: labels.get(IMAGE).cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encoded_decodes() {
        let meta = ContainerMetadata {
            name: "web".into(),
            attempt: 2,
        };
        let labels = HashMap::from([("io.kubernetes.pod.name".to_string(), "p".to_string())]);
        let ann = HashMap::from([("a".to_string(), "{\"x\": 1}".to_string())]);
        let enc = encode("s1", &meta, &labels, &ann, "busybox");
        assert_eq!(enc["io.kubernetes.pod.name"], "p");
        let d = decode(&enc).unwrap();
        assert_eq!(d.sandbox_id, "s1");
        assert_eq!(d.metadata, meta);
        assert_eq!(d.labels, labels);
        assert_eq!(d.annotations, ann);
        assert_eq!(d.image, "busybox");
        assert!(decode(&BTreeMap::new()).is_none());
    }
}
