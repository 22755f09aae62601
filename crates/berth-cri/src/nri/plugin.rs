//! One connected NRI plugin: its registration and configuration, and the calls of its
//! Plugin service. The runtime's side of NRI's protocol (containerd/nri v0.12).

use super::api;
use super::mux;
use super::ttrpc::{self, Client, TtrpcError};
use prost::Message;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{DuplexStream, WriteHalf};

const PLUGIN_SERVICE: &str = "nri.pkg.api.v1alpha1.Plugin";
const RUNTIME_SERVICE: &str = "nri.pkg.api.v1alpha1.Runtime";
/// The NRI API version this runtime speaks (the proto's).
pub const NRI_VERSION: &str = "v0.12.2";
/// How long a plugin has to register after connecting.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a plugin may take to answer one request. Hooks may block a pod or container
/// on purpose; past this the plugin is taken as broken and let go.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The events a plugin subscribed to: bit `e - 1` for event `e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMask(i32);

impl EventMask {
    pub const ALL: Self = Self((1 << (api::Event::Last as i32 - 1)) - 1);

    pub fn has(self, e: api::Event) -> bool {
        let bit = e as i32 - 1;
        (0..31).contains(&bit) && self.0 & (1 << bit) != 0
    }
}

pub struct Plugin {
    pub name: String,
    pub idx: String,
    events: EventMask,
    client: Arc<Client<WriteHalf<DuplexStream>>>,
    closed: Arc<AtomicBool>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

fn valid_idx(idx: &str) -> bool {
    idx.len() == 2 && idx.bytes().all(|b| b.is_ascii_digit())
}

fn empty() -> Vec<u8> {
    api::Empty {}.encode_to_vec()
}

impl Plugin {
    /// Takes a plugin that connected on `stream`: serves the Runtime service to it,
    /// waits for it to register and configures it. It is not synchronized yet.
    pub async fn accept(stream: tokio::net::UnixStream) -> Result<Self, String> {
        let (plugin_conn, runtime_conn) = mux::split(stream);
        let closed = Arc::new(AtomicBool::new(false));
        let (read, write) = tokio::io::split(plugin_conn);
        let on_close = closed.clone();
        let client = Client::new(read, write, move || on_close.store(true, Ordering::SeqCst));
        let (registered_tx, registered) = tokio::sync::oneshot::channel::<(String, String)>();
        let registered_tx = std::sync::Mutex::new(Some(registered_tx));
        tokio::spawn(ttrpc::serve(runtime_conn, move |service, method, body| {
            let answer = if service != RUNTIME_SERVICE {
                Err(format!("unknown service {service}"))
            } else {
                match method.as_str() {
                    "RegisterPlugin" => api::RegisterPluginRequest::decode(body.as_slice())
                        .map_err(|e| e.to_string())
                        .and_then(|r| {
                            if !valid_name(&r.plugin_name) {
                                return Err(format!("invalid plugin name {:?}", r.plugin_name));
                            }
                            if !valid_idx(&r.plugin_idx) {
                                return Err(format!(
                                    "invalid plugin index {:?}: two digits",
                                    r.plugin_idx
                                ));
                            }
                            if let Some(tx) = registered_tx.lock().ok().and_then(|mut t| t.take()) {
                                let _ = tx.send((r.plugin_name, r.plugin_idx));
                            }
                            Ok(empty())
                        }),
                    // Refused, not dropped: the plugin learns its updates were not made.
                    "UpdateContainers" => Err(
                        "berth does not apply container updates a plugin sends unasked; \
                         return them from an event instead"
                            .to_string(),
                    ),
                    other => Err(format!("unknown method {other}")),
                }
            };
            async move {
                answer.map_err(|message| ttrpc::Status {
                    code: ttrpc::code::INVALID_ARGUMENT,
                    message,
                })
            }
        }));
        let (name, idx) = tokio::time::timeout(REGISTRATION_TIMEOUT, registered)
            .await
            .map_err(|_| "the plugin did not register in time".to_string())?
            .map_err(|_| "the plugin went away before registering".to_string())?;
        let configured: api::ConfigureResponse = client
            .call(
                PLUGIN_SERVICE,
                "Configure",
                &api::ConfigureRequest {
                    config: String::new(),
                    runtime_name: "berth".into(),
                    runtime_version: env!("CARGO_PKG_VERSION").into(),
                    registration_timeout: REGISTRATION_TIMEOUT.as_millis() as i64,
                    request_timeout: REQUEST_TIMEOUT.as_millis() as i64,
                    nri_version: NRI_VERSION.into(),
                },
                REQUEST_TIMEOUT,
            )
            .await
            .map_err(|e| format!("configuring plugin {idx}-{name}: {e}"))?;
        let events = match configured.events {
            0 => EventMask::ALL,
            e if e & !EventMask::ALL.0 != 0 => {
                client.close().await;
                return Err(format!(
                    "plugin {idx}-{name} asked for unknown events 0x{e:x}"
                ));
            }
            e => EventMask(e),
        };
        Ok(Self {
            name,
            idx,
            events,
            client,
            closed,
        })
    }

    /// `00-name`, as NRI names plugins; plugins are called in this order.
    pub fn full_name(&self) -> String {
        format!("{}-{}", self.idx, self.name)
    }

    pub fn wants(&self, e: api::Event) -> bool {
        self.events.has(e) && !self.is_closed()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.client.close().await;
    }

    /// One call of the Plugin service.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Resp, TtrpcError> {
        self.client
            .call(PLUGIN_SERVICE, method, req, REQUEST_TIMEOUT)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_names() {
        assert!(EventMask::ALL.has(api::Event::RunPodSandbox));
        assert!(EventMask::ALL.has(api::Event::ValidateContainerAdjustment));
        assert!(!EventMask::ALL.has(api::Event::Last));
        let only_create = EventMask(1 << (api::Event::CreateContainer as i32 - 1));
        assert!(only_create.has(api::Event::CreateContainer));
        assert!(!only_create.has(api::Event::StopContainer));
        assert!(valid_name("cri-test.plugin+1") && !valid_name("a/b") && !valid_name(""));
        assert!(valid_idx("07") && !valid_idx("7") && !valid_idx("a1"));
    }
}
