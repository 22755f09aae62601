//! The streaming HTTP server: `/{exec,attach,portforward}/{token}`, upgraded to SPDY/3.1
//! or to a WebSocket.

use super::tokens::Request;
use super::{portforward, remotecommand, spdy, websocket};
use crate::service::Cri;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

type Body = Full<Bytes>;

fn reply(code: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{msg}\n"))));
    *r.status_mut() = code;
    r
}

/// The protocol the client offered that berth speaks, for what it asked.
fn negotiate(req: &http::Request<hyper::body::Incoming>, wanted: &str) -> Option<String> {
    req.headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| *p == wanted)
        .map(str::to_string)
}

async fn handle(cri: Arc<Cri>, mut req: http::Request<hyper::body::Incoming>) -> Response<Body> {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let Some((kind, token)) = path.split_once('/') else {
        return reply(StatusCode::NOT_FOUND, "no such stream");
    };
    let Some(request) = cri.tokens.take(token) else {
        return reply(
            StatusCode::NOT_FOUND,
            "the stream's token is unknown, spent or lapsed",
        );
    };
    if request.path() != kind {
        return reply(
            StatusCode::NOT_FOUND,
            "the token is for another kind of stream",
        );
    }
    if let Some(key) = berth_daemon::api::websocket::upgrade_key(req.headers()) {
        return upgrade_to_websocket(cri, req, request, &key);
    }
    let spdy_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    if !spdy_upgrade {
        return reply(
            StatusCode::BAD_REQUEST,
            "berth's streaming server speaks SPDY/3.1 (Upgrade: SPDY/3.1) and WebSocket (Upgrade: websocket)",
        );
    }
    let wanted = match request {
        Request::PortForward { .. } => portforward::PROTOCOL,
        _ => remotecommand::PROTOCOL_V4,
    };
    let Some(protocol) = negotiate(&req, wanted) else {
        return reply(
            StatusCode::FORBIDDEN,
            &format!("unable to upgrade: the client offered no protocol berth speaks ({wanted})"),
        );
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let (tx, streams) = spdy::serve(TokioIo::new(upgraded));
        match request {
            Request::PortForward { sandbox } => portforward::serve(cri, sandbox, tx, streams).await,
            other => remotecommand::serve(cri, other, tx, streams).await,
        }
    });
    let mut r = switching_protocols("SPDY/3.1");
    if let Ok(v) = header::HeaderValue::from_str(&protocol) {
        r.headers_mut().insert("x-stream-protocol-version", v);
    }
    r
}

/// `101 Switching Protocols` to `upgrade`.
fn switching_protocols(upgrade: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    h.insert(header::UPGRADE, header::HeaderValue::from_static(upgrade));
    r
}

/// Answers a WebSocket upgrade with the subprotocol berth prefers among those offered.
fn upgrade_to_websocket(
    cri: Arc<Cri>,
    mut req: http::Request<hyper::body::Incoming>,
    request: Request,
    key: &str,
) -> Response<Body> {
    let supported: &[&'static str] = match request {
        Request::PortForward { .. } => &[websocket::TUNNELLED_PORT_FORWARD],
        _ => &[websocket::REMOTE_COMMAND_V5, websocket::REMOTE_COMMAND_V4],
    };
    let Some(protocol) = websocket::choose(&websocket::offered(req.headers()), supported) else {
        return reply(
            StatusCode::FORBIDDEN,
            &format!(
                "unable to upgrade: the client offered no WebSocket protocol berth speaks ({})",
                supported.join(", ")
            ),
        );
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let socket = websocket::accept(upgraded).await;
        match request {
            Request::PortForward { sandbox } => {
                let (tx, streams) = spdy::serve(websocket::tunnel(socket));
                portforward::serve(cri, sandbox, tx, streams).await
            }
            other => remotecommand::serve_websocket(cri, other, socket).await,
        }
    });
    let mut r = switching_protocols("websocket");
    let h = r.headers_mut();
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(protocol),
    );
    if let Ok(v) = header::HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// Serves streams on `listener` for ever.
pub async fn run(cri: Arc<Cri>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        // Small frames go out at once: with Nagle, a SPDY reply waited for the client's
        // delayed ACK (40 ms an exec).
        let _ = conn.set_nodelay(true);
        let cri = cri.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let cri = cri.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(cri, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), svc)
                .with_upgrades()
                .await;
        });
    }
}
