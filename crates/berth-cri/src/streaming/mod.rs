//! The streaming server whose URLs Exec, Attach and PortForward answer with: a token per
//! request (single use, for a minute), then an HTTP upgrade to SPDY/3.1 (as the kubelet's
//! own server and client-go speak it) carrying Kubernetes' remote command protocol
//! (`v4.channel.k8s.io`) or port forwarding (`portforward.k8s.io`), or to a WebSocket
//! (`v5.channel.k8s.io`, or port forwarding's SPDY tunnelled), as client-go's WebSocket
//! clients speak it.

pub mod portforward;
pub mod remotecommand;
pub mod server;
pub mod spdy;
pub mod tokens;
pub mod websocket;
