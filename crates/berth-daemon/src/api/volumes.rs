//! `/volumes`: create, list, inspect, remove, prune.

use super::body::{self, read_json, Query, Resp};
use crate::engine::Engine;
use crate::error::Result;
use http::Request;
use hyper::body::Incoming;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateRequest {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    cluster_volume_spec: Option<serde_json::Value>,
}

pub async fn create(engine: &Arc<Engine>, req: Request<Incoming>) -> Result<Resp> {
    let body: CreateRequest = read_json(req.into_body()).await?;
    if body
        .cluster_volume_spec
        .as_ref()
        .is_some_and(|v| !crate::engine::host_config::is_unset(v))
    {
        return Err(crate::error::DaemonError::InvalidParameter(
            "ClusterVolumeSpec: cluster volumes are not supported".into(),
        ));
    }
    let v = engine.volume_create(
        Some(body.name.as_str()).filter(|n| !n.is_empty()),
        &body.driver,
        body.driver_opts.unwrap_or_default(),
        body.labels.unwrap_or_default(),
    )?;
    Ok(body::json(201, &v))
}

pub fn list(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    Ok(body::json(200, &engine.volume_list(&q.filters()?)?))
}

pub fn prune(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    let (removed, bytes) = engine.volume_prune(&q.filters()?)?;
    Ok(body::json(
        200,
        &serde_json::json!({"VolumesDeleted": removed, "SpaceReclaimed": bytes}),
    ))
}
