//! The engine's verbs announcing what they did on the events bus, with the actor and
//! attributes dockerd gives each kind of event.

use super::container::Container;
use super::events::{Kind, Subscription};
use super::Engine;
use std::collections::BTreeMap;

impl Engine {
    pub fn subscribe_events(&self, since_nano: Option<i64>) -> Subscription {
        self.events.subscribe(since_nano)
    }

    /// A container event: its labels, `image` and `name`, and `extra`.
    pub(crate) fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = BTreeMap::new();
        {
            let r = c.record();
            if let Some(labels) = &r.config.labels {
                attrs.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            attrs.insert("image".into(), r.image.clone());
            attrs.insert("name".into(), r.name.trim_start_matches('/').to_string());
        }
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        self.events.publish(Kind::Container, action, &c.id, attrs);
    }

    /// An image event: the actor is the image's ID or the reference (`pull`, `push`,
    /// `tag`), `name` the reference.
    pub(crate) fn image_event(&self, action: &str, id: &str, name: &str) {
        let mut attrs = BTreeMap::new();
        if !name.is_empty() {
            attrs.insert("name".to_string(), name.to_string());
        }
        self.events.publish(Kind::Image, action, id, attrs);
    }

    /// A network event: `name` and `type` (the driver), and `extra` (`container`).
    pub(crate) fn network_event(
        &self,
        action: &str,
        id: &str,
        name: &str,
        driver: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs: BTreeMap<String, String> = [
            ("name".to_string(), name.to_string()),
            ("type".to_string(), driver.to_string()),
        ]
        .into();
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        self.events.publish(Kind::Network, action, id, attrs);
    }

    /// A volume event: the actor is the volume's name, with its `driver` and `extra`.
    pub(crate) fn volume_event(&self, action: &str, name: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> =
            [("driver".to_string(), "local".to_string())].into();
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        self.events.publish(Kind::Volume, action, name, attrs);
    }
}

impl Engine {
    /// A start: the container's `start`, then each network it joined and each volume it
    /// mounted, as dockerd announces them.
    pub(crate) fn announce_start(&self, c: &Container) {
        let (networks, volumes) = {
            let r = c.record();
            (
                r.networks.keys().cloned().collect::<Vec<_>>(),
                r.volumes.clone(),
            )
        };
        for name in networks {
            if let Ok(n) = self.networks.find(&name) {
                self.network_event(
                    "connect",
                    &n.id,
                    &n.name,
                    n.driver.name(),
                    &[("container", c.id.clone())],
                );
            }
        }
        for v in volumes {
            self.volume_event(
                "mount",
                &v.name,
                &[
                    ("container", c.id.clone()),
                    ("destination", v.destination.clone()),
                    ("propagation", String::new()),
                    ("read/write", (!v.read_only).to_string()),
                ],
            );
        }
        self.container_event(c, "start", &[]);
    }

    /// An exit: `oom` if the kernel killed it for memory, `die` with the exit code and
    /// how long it ran, then its networks left and volumes unmounted.
    pub(crate) fn announce_exit(
        &self,
        c: &Container,
        exit_code: i64,
        oom_killed: bool,
        networks: &[String],
    ) {
        if oom_killed {
            self.container_event(c, "oom", &[]);
        }
        let ran_for = {
            let r = c.record();
            let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            match (parse(&r.state.started_at), parse(&r.state.finished_at)) {
                (Some(a), Some(b)) => (b - a).num_seconds().max(0),
                _ => 0,
            }
        };
        self.container_event(
            c,
            "die",
            &[
                ("exitCode", exit_code.to_string()),
                ("execDuration", ran_for.to_string()),
            ],
        );
        for name in networks {
            if let Ok(n) = self.networks.find(name) {
                self.network_event(
                    "disconnect",
                    &n.id,
                    &n.name,
                    n.driver.name(),
                    &[("container", c.id.clone())],
                );
            }
        }
        let volumes = c.record().volumes.clone();
        for v in volumes {
            self.volume_event("unmount", &v.name, &[("container", c.id.clone())]);
        }
    }
}
