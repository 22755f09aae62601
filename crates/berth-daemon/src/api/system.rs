use super::body::{channel_body, empty, with_status, Resp};

pub fn ping(head: bool) -> Resp {
    let mut r = with_status(
        200,
        Some("text/plain; charset=utf-8"),
        if head {
            empty()
        } else {
            super::body::full("OK")
        },
    );
    let h = r.headers_mut();
    h.insert(
        "Cache-Control",
        http::HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", http::HeaderValue::from_static("no-cache"));
    h.insert(
        "Docker-Experimental",
        http::HeaderValue::from_static("false"),
    );
    h.insert("Builder-Version", http::HeaderValue::from_static("1"));
    r
}

/// `/events`: the stream stays open (berth does not publish events yet).
pub fn events() -> Resp {
    let (tx, body) = channel_body(1);
    tokio::spawn(async move { tx.closed().await });
    with_status(200, Some("application/json"), body)
}
