//! gRPC deadlines as the protocol states them: a call whose `grpc-timeout` passes ends with
//! DEADLINE_EXCEEDED and its work is dropped. (tonic's own server answers CANCELLED, which
//! the kubelet and critest read as a different failure.)

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The header a client sends its remaining time in.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Wraps the gRPC routes: each call runs at most as long as its client gave it.
#[derive(Clone)]
pub struct Deadlines<S>(pub S);

impl<S, B> tower_service::Service<http::Request<B>> for Deadlines<S>
where
    S: tower_service::Service<
        http::Request<B>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
    >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let limit = req
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        let call = self.0.call(req);
        Box::pin(async move {
            let Some(limit) = limit else {
                return call.await;
            };
            match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer,
                Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                    "the call's deadline ({limit:?}) passed"
                ))
                .into_http()),
            }
        })
    }
}

/// `grpc-timeout`: at most 8 digits and a unit (H, M, S, m, u, n), per the gRPC HTTP/2
/// protocol. Anything else is no deadline, as a header we cannot read promises nothing.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 || !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_by_unit() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(parse_grpc_timeout("999m"), Some(Duration::from_millis(999)));
        assert_eq!(parse_grpc_timeout("983u"), Some(Duration::from_micros(983)));
        assert_eq!(
            parse_grpc_timeout("12345678n"),
            Some(Duration::from_nanos(12345678))
        );
        for bad in [
            "",
            "S",
            "10",
            "10s",
            "-1S",
            "123456789S",
            "1.5S",
            "１S",
            "1é",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
