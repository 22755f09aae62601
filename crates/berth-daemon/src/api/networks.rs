//! `/networks`: list, inspect, create, remove, prune.

use super::body::{self, read_json, Query, Resp};
use crate::engine::Engine;
use crate::error::Result;
use berth_api::network::NetworkCreateRequest;
use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;

pub async fn create(engine: &Arc<Engine>, req: Request<Incoming>) -> Result<Resp> {
    let body: NetworkCreateRequest = read_json(req.into_body()).await?;
    Ok(body::json(201, &engine.network_create(body).await?))
}

pub fn list(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    Ok(body::json(200, &engine.network_list(&q.filters()?)?))
}

pub async fn prune(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    use crate::engine::prune_filter::{PruneFilter, Target};
    let filter = PruneFilter::parse(Target::Networks, &q.filters()?)?;
    let removed = engine.network_prune(&filter).await?;
    Ok(body::json(
        200,
        &serde_json::json!({ "NetworksDeleted": removed }),
    ))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectRequest {
    container: String,
    endpoint_config: Option<berth_api::network::EndpointSettings>,
    force: bool,
}

pub async fn connect(engine: &Arc<Engine>, id: &str, req: Request<Incoming>) -> Result<Resp> {
    let body: ConnectRequest = read_json(req.into_body()).await?;
    engine
        .network_connect(id, &body.container, body.endpoint_config)
        .await?;
    Ok(body::with_status(200, None, body::empty()))
}

pub async fn disconnect(engine: &Arc<Engine>, id: &str, req: Request<Incoming>) -> Result<Resp> {
    let body: ConnectRequest = read_json(req.into_body()).await?;
    engine
        .network_disconnect(id, &body.container, body.force)
        .await?;
    Ok(body::with_status(200, None, body::empty()))
}
