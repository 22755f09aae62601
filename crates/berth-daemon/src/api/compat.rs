//! What each Engine API version answers. The engine builds every response in its newest
//! form; these functions turn it into what dockerd sends a client that asked for the
//! version in its request path (`/v1.41/...`), following the API's version history:
//! fields added in a version appear from it on, fields removed in a version stay for
//! the clients that asked for an older one.

use berth_api::version::ApiVersion;
use serde_json::{json, Map, Value};

/// The top-level `NetworkSettings` fields that mirrored the default bridge's endpoint,
/// deprecated in 1.21 and gone in 1.52.
const LEGACY_NETWORK_SETTINGS: &[&str] = &[
    "Bridge",
    "HairpinMode",
    "LinkLocalIPv6Address",
    "LinkLocalIPv6PrefixLen",
    "SecondaryIPAddresses",
    "SecondaryIPv6Addresses",
    "EndpointID",
    "Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "MacAddress",
];

/// Container fields in an image's `Config` that are not image configuration, returned
/// empty before 1.50 (`NetworkDisabled`, `MacAddress` and `StopTimeout` only when set).
const CONTAINER_ONLY_IMAGE_CONFIG: &[(&str, Value)] = &[
    ("Hostname", Value::String(String::new())),
    ("Domainname", Value::String(String::new())),
    ("AttachStdin", Value::Bool(false)),
    ("AttachStdout", Value::Bool(false)),
    ("AttachStderr", Value::Bool(false)),
    ("Tty", Value::Bool(false)),
    ("OpenStdin", Value::Bool(false)),
    ("StdinOnce", Value::Bool(false)),
    ("Image", Value::String(String::new())),
];

/// Image `Config` fields that 1.52 omits when not set.
const OMITTED_WHEN_EMPTY_IMAGE_CONFIG: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "Labels",
    "OnBuild",
    "User",
    "Volumes",
    "WorkingDir",
];

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn object<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    v.get_mut(key).and_then(Value::as_object_mut)
}

/// `GET /containers/{id}/json`.
pub fn container_inspect(v: ApiVersion, body: &mut Value) {
    if v.at_least(1, 52) {
        if let Some(ns) = object(body, "NetworkSettings") {
            for k in LEGACY_NETWORK_SETTINGS {
                ns.remove(*k);
            }
        }
        if let Some(cfg) = object(body, "Config") {
            if cfg.get("OnBuild").is_some_and(is_empty) {
                cfg.remove("OnBuild");
            }
        }
    }
}

/// `GET /images/{name}/json`.
pub fn image_inspect(v: ApiVersion, body: &mut Value) {
    let Some(img) = body.as_object_mut() else {
        return;
    };
    if !v.at_least(1, 44) {
        let size = img.get("Size").cloned().unwrap_or(json!(0));
        img.insert("VirtualSize".into(), size);
    } else {
        img.remove("VirtualSize");
    }
    if !v.at_least(1, 45) {
        img.insert("Container".into(), json!(""));
        let empty =
            serde_json::to_value(berth_api::container::Config::default()).unwrap_or_default();
        img.insert("ContainerConfig".into(), empty);
    }
    if v.at_least(1, 52) {
        for k in ["Parent", "Comment", "DockerVersion", "Author"] {
            if img.get(k).is_some_and(is_empty) {
                img.remove(k);
            }
        }
    }
    let Some(cfg) = img.get_mut("Config").and_then(Value::as_object_mut) else {
        return;
    };
    if v.at_least(1, 50) {
        for (k, _) in CONTAINER_ONLY_IMAGE_CONFIG {
            cfg.remove(*k);
        }
    } else {
        for (k, empty) in CONTAINER_ONLY_IMAGE_CONFIG {
            cfg.entry(k.to_string()).or_insert_with(|| empty.clone());
        }
    }
    if v.at_least(1, 52) {
        for k in OMITTED_WHEN_EMPTY_IMAGE_CONFIG {
            if cfg.get(*k).is_some_and(is_empty) {
                cfg.remove(*k);
            }
        }
    }
}

/// `GET /images/json`: before 1.51 `Containers` was always -1, and before 1.44 each
/// image had a `VirtualSize`.
pub fn image_list(v: ApiVersion, body: &mut Value) {
    let Some(list) = body.as_array_mut() else {
        return;
    };
    for img in list.iter_mut().filter_map(Value::as_object_mut) {
        if !v.at_least(1, 51) {
            img.insert("Containers".into(), json!(-1));
        }
        if v.at_least(1, 44) {
            img.remove("VirtualSize");
        } else {
            let size = img.get("Size").cloned().unwrap_or(json!(0));
            img.insert("VirtualSize".into(), size);
        }
    }
}

/// `GET /containers/json`: each row's `Health` from 1.52.
pub fn container_list(v: ApiVersion, body: &mut Value) {
    if v.at_least(1, 52) {
        return;
    }
    for row in body.as_array_mut().into_iter().flatten() {
        if let Some(r) = row.as_object_mut() {
            r.remove("Health");
        }
    }
}

/// `GET /info`.
pub fn info(v: ApiVersion, body: &mut Value) {
    let Some(info) = body.as_object_mut() else {
        return;
    };
    if !v.at_least(1, 46) {
        info.remove("Containerd");
    }
    if !v.at_least(1, 49) {
        info.remove("FirewallBackend");
        for commit in ["ContainerdCommit", "RuncCommit", "InitCommit"] {
            if let Some(c) = info.get_mut(commit).and_then(Value::as_object_mut) {
                let id = c.get("ID").cloned().unwrap_or(json!(""));
                c.insert("Expected".into(), id);
            }
        }
        if let Some(r) = info
            .get_mut("RegistryConfig")
            .and_then(Value::as_object_mut)
        {
            r.insert("AllowNondistributableArtifactsCIDRs".into(), Value::Null);
            r.insert(
                "AllowNondistributableArtifactsHostnames".into(),
                Value::Null,
            );
        }
    }
    if !v.at_least(1, 50) {
        info.remove("DiscoveredDevices");
        info.insert("BridgeNfIptables".into(), json!(false));
        info.insert("BridgeNfIp6tables".into(), json!(false));
    }
    if !v.at_least(1, 52) {
        info.insert("KernelMemoryTCP".into(), json!(false));
    }
}

/// `GET /system/df`. The engine gives the per-type lists (the form before 1.52); 1.52
/// added a summary per type (`ImageUsage`, ... with `Items` when `verbose`), sent beside
/// the lists in 1.52 unless `verbose`, and alone from 1.53.
pub fn system_df(v: ApiVersion, verbose: bool, body: &mut Value) {
    if !v.at_least(1, 52) {
        return;
    }
    let Some(df) = body.as_object_mut() else {
        return;
    };
    let list = |df: &Map<String, Value>, k: &str| -> Option<Vec<Value>> {
        df.get(k).and_then(Value::as_array).cloned()
    };
    let summary = |items: Vec<Value>,
                   active: &dyn Fn(&Value) -> bool,
                   size: &dyn Fn(&Value) -> i64|
     -> Value {
        let total: i64 = items.iter().map(size).sum();
        let reclaimable: i64 = items.iter().filter(|i| !active(i)).map(size).sum();
        let mut s = json!({
            "ActiveCount": items.iter().filter(|i| active(i)).count(),
            "TotalCount": items.len(),
            "Reclaimable": reclaimable,
            "TotalSize": total,
        });
        if verbose {
            s["Items"] = Value::Array(items);
        }
        s
    };
    let int = |i: &Value, k: &str| i.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut out = Map::new();
    if let Some(images) = list(df, "Images") {
        let total = df.get("LayersSize").and_then(Value::as_i64);
        let mut s = summary(images, &|i| int(i, "Containers") > 0, &|i| {
            int(i, "Size") - int(i, "SharedSize").max(0)
        });
        // Layers shared by images count once in the total, as dockerd counts them.
        if let Some(t) = total {
            s["TotalSize"] = json!(t);
        }
        out.insert("ImageUsage".into(), s);
    }
    if let Some(containers) = list(df, "Containers") {
        let running = |c: &Value| c.get("State").and_then(Value::as_str) == Some("running");
        let s = summary(containers, &running, &|c| int(c, "SizeRw"));
        out.insert("ContainerUsage".into(), s);
    }
    if let Some(volumes) = list(df, "Volumes") {
        let used = |vol: &Value| {
            vol.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
        };
        let size = |vol: &Value| {
            vol.pointer("/UsageData/Size")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0)
        };
        out.insert("VolumeUsage".into(), summary(volumes, &used, &size));
    }
    if let Some(cache) = list(df, "BuildCache") {
        let in_use = |r: &Value| r.get("InUse").and_then(Value::as_bool) == Some(true);
        let s = summary(cache, &in_use, &|r| int(r, "Size"));
        out.insert("BuildCacheUsage".into(), s);
    }
    if v.at_least(1, 53) || verbose {
        df.clear();
    }
    df.extend(out);
}

/// A sample of `GET /containers/{id}/stats`: `os_type` from 1.52.
pub fn stats(v: ApiVersion, sample: &mut Value) {
    if v.at_least(1, 52) {
        if let Some(s) = sample.as_object_mut() {
            s.insert("os_type".into(), json!("linux"));
        }
    }
}

/// `GET /networks/{id}`: the IPAM `Status` from 1.52, `EnableIPv4` from 1.48.
pub fn network_inspect(v: ApiVersion, body: &mut Value) {
    let Some(n) = body.as_object_mut() else {
        return;
    };
    if !v.at_least(1, 52) {
        n.remove("Status");
    }
    if !v.at_least(1, 48) {
        n.remove("EnableIPv4");
    }
}

/// How `GET /events` frames its messages: chosen from the `Accept` header as dockerd
/// negotiates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFraming {
    /// `application/json`: one JSON object per line (what clients that ask for nothing
    /// get).
    Json,
    /// `application/x-ndjson` (1.52) or `application/jsonl` (1.53): the same lines.
    NdJson(&'static str),
    /// `application/json-seq` (RFC 7464, 1.52): each object after an RS byte.
    JsonSeq,
}

impl EventFraming {
    pub fn negotiate(v: ApiVersion, accept: Option<&str>) -> EventFraming {
        if !v.at_least(1, 52) {
            return EventFraming::Json;
        }
        for media in accept.unwrap_or("").split(',') {
            let media = media.split(';').next().unwrap_or("").trim();
            match media {
                "application/json-seq" => return EventFraming::JsonSeq,
                "application/x-ndjson" => return EventFraming::NdJson("application/x-ndjson"),
                "application/jsonl" if v.at_least(1, 53) => {
                    return EventFraming::NdJson("application/jsonl")
                }
                _ => {}
            }
        }
        EventFraming::Json
    }

    pub fn content_type(self) -> &'static str {
        match self {
            EventFraming::Json => "application/json",
            EventFraming::NdJson(t) => t,
            EventFraming::JsonSeq => "application/json-seq",
        }
    }

    /// One message as it goes on the wire.
    pub fn frame(self, json: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::with_capacity(json.len() + 2);
        if self == EventFraming::JsonSeq {
            out.push(0x1e);
        }
        out.extend(json);
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApiVersion {
        s.parse().unwrap()
    }

    #[test]
    fn legacy_network_settings_until_1_52() {
        let body = json!({"NetworkSettings": {"IPAddress": "10.0.0.2", "Networks": {}, "Ports": {}},
                          "Config": {"OnBuild": null, "Cmd": ["sh"]}});
        let mut old = body.clone();
        container_inspect(v("1.51"), &mut old);
        assert_eq!(old, body);
        let mut new = body.clone();
        container_inspect(v("1.52"), &mut new);
        assert_eq!(
            new,
            json!({"NetworkSettings": {"Networks": {}, "Ports": {}}, "Config": {"Cmd": ["sh"]}})
        );
    }

    #[test]
    fn image_config_by_version() {
        let body = json!({"Id": "sha256:x", "Parent": "", "Comment": "", "Author": "a",
            "DockerVersion": "", "Size": 5, "VirtualSize": 5,
            "Config": {"Hostname": "", "Tty": false, "Cmd": null, "Env": ["A=1"], "User": ""}});
        let mut b = body.clone();
        image_inspect(v("1.43"), &mut b);
        assert_eq!(b["VirtualSize"], 5);
        assert_eq!(b["Container"], "");
        assert_eq!(b["Config"]["Image"], "");
        let mut b = body.clone();
        image_inspect(v("1.49"), &mut b);
        assert!(b.get("VirtualSize").is_none() && b.get("Container").is_none());
        assert_eq!(b["Config"]["Hostname"], "");
        assert_eq!(b["Config"]["User"], "");
        let mut b = body.clone();
        image_inspect(v("1.55"), &mut b);
        assert_eq!(
            b,
            json!({"Id": "sha256:x", "Author": "a", "Size": 5, "Config": {"Env": ["A=1"]}})
        );
    }

    #[test]
    fn df_summaries() {
        let body = json!({"LayersSize": 100,
            "Images": [{"Size": 60, "SharedSize": 10, "Containers": 1}, {"Size": 50, "SharedSize": 10, "Containers": 0}],
            "Containers": [{"State": "running", "SizeRw": 3}, {"State": "exited", "SizeRw": 4}],
            "Volumes": [{"UsageData": {"Size": 7, "RefCount": 0}}],
            "BuildCache": []});
        let mut b = body.clone();
        system_df(v("1.51"), false, &mut b);
        assert_eq!(b, body);
        let mut b = body.clone();
        system_df(v("1.52"), false, &mut b);
        assert_eq!(b["LayersSize"], 100);
        assert_eq!(
            b["ImageUsage"],
            json!({"ActiveCount": 1, "TotalCount": 2, "Reclaimable": 40, "TotalSize": 100})
        );
        assert_eq!(b["ContainerUsage"]["Reclaimable"], 4);
        assert_eq!(b["VolumeUsage"]["Reclaimable"], 7);
        let mut b = body.clone();
        system_df(v("1.53"), true, &mut b);
        assert!(b.get("Images").is_none() && b.get("LayersSize").is_none());
        assert_eq!(b["ContainerUsage"]["Items"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn ps_health_from_1_52() {
        let body = json!([{"Id": "x", "Health": {"Status": "none", "FailingStreak": 0}}]);
        let mut old = body.clone();
        container_list(v("1.51"), &mut old);
        assert_eq!(old, json!([{"Id": "x"}]));
        let mut new = body.clone();
        container_list(v("1.52"), &mut new);
        assert_eq!(new, body);
    }

    #[test]
    fn event_framing() {
        let f = EventFraming::negotiate(v("1.51"), Some("application/json-seq"));
        assert_eq!(f, EventFraming::Json);
        let f = EventFraming::negotiate(v("1.52"), Some("application/json-seq"));
        assert_eq!(f.frame(b"{}".to_vec()), b"\x1e{}\n");
        let f = EventFraming::negotiate(v("1.52"), Some("application/jsonl"));
        assert_eq!(f, EventFraming::Json);
        let f = EventFraming::negotiate(v("1.53"), Some("text/html, application/jsonl;q=0.9"));
        assert_eq!(f.content_type(), "application/jsonl");
    }
}
