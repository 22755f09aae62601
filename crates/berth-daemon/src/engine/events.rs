//! What happens to containers, images, networks and volumes, as dockerd's `/events`
//! reports it: published to every subscriber at once, and kept in a bounded journal so
//! that `since` can replay the past.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many past events the journal keeps (dockerd keeps 256; berth keeps more, as a
/// busy compose project passes 256 in a minute).
const JOURNAL_LEN: usize = 2048;

/// The kind of object an event is about (`Type` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Container,
    Image,
    Network,
    Volume,
    Daemon,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Image => "image",
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Daemon => "daemon",
        }
    }
}

/// One event: `Type`, `Action`, `Actor` and the time, in dockerd's JSON.
#[derive(Debug, Clone)]
pub struct Message {
    pub seq: u64,
    pub kind: Kind,
    pub action: String,
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Message {
    /// The JSON line a client reads. Before API 1.52 dockerd also sent the deprecated
    /// `status`, `id` and `from` of container and image events.
    pub fn to_json(&self, legacy_fields: bool) -> serde_json::Value {
        let mut v = serde_json::json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": self.attributes},
            "scope": "local",
            "time": self.time_nano / 1_000_000_000,
            "timeNano": self.time_nano,
        });
        if legacy_fields && matches!(self.kind, Kind::Container | Kind::Image) {
            let obj = v.as_object_mut().expect("built as an object");
            obj.insert("status".into(), self.action.clone().into());
            obj.insert("id".into(), self.id.clone().into());
            if let Some(image) = self.attributes.get("image") {
                obj.insert("from".into(), image.clone().into());
            }
        }
        v
    }
}

/// The events bus: publish, and subscribe with a replay of the journal.
pub struct Events {
    journal: Mutex<Journal>,
    live: broadcast::Sender<Arc<Message>>,
}

struct Journal {
    next_seq: u64,
    past: VecDeque<Arc<Message>>,
}

/// A subscription: the past events asked for, then the live ones after them.
pub struct Subscription {
    pub past: Vec<Arc<Message>>,
    pub live: broadcast::Receiver<Arc<Message>>,
    /// Live events with a sequence number at or below this were in `past` already.
    pub after_seq: u64,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            journal: Mutex::new(Journal {
                next_seq: 1,
                past: VecDeque::with_capacity(JOURNAL_LEN),
            }),
            live: broadcast::channel(1024).0,
        }
    }
}

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn publish(
        &self,
        kind: Kind,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) {
        let time_nano = now_nanos();
        let mut j = self.lock();
        let msg = Arc::new(Message {
            seq: j.next_seq,
            kind,
            action: action.into(),
            id: id.into(),
            attributes,
            time_nano,
        });
        j.next_seq += 1;
        if j.past.len() == JOURNAL_LEN {
            j.past.pop_front();
        }
        j.past.push_back(msg.clone());
        // Sent under the journal's lock, so a subscriber sees each event once: in its
        // replay or live, never both and never neither.
        let _ = self.live.send(msg);
    }

    /// The journal's events at or after `since_nano`, and the live stream after them.
    /// How many clients follow the events now (`info`'s `NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.live.receiver_count()
    }

    pub fn subscribe(&self, since_nano: Option<i64>) -> Subscription {
        let j = self.lock();
        let past = match since_nano {
            Some(since) => j
                .past
                .iter()
                .filter(|m| m.time_nano >= since)
                .cloned()
                .collect(),
            None => vec![],
        };
        Subscription {
            past,
            live: self.live.subscribe(),
            after_seq: j.next_seq - 1,
        }
    }
}

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `since`/`until` as the docker CLI sends them (`1700000000.123456789`, seconds with
/// optional nanoseconds), or RFC 3339; in nanoseconds since the epoch.
pub fn parse_timestamp(key: &str, s: &str) -> Result<i64, String> {
    let bad = || format!("invalid value for {key}: {s:?}");
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

/// The `filters` of `/events`, as dockerd applies them: values of one key are
/// alternatives, different keys must all match.
#[derive(Debug, Default)]
pub struct Filter {
    by: HashMap<String, Vec<String>>,
}

const FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

impl Filter {
    pub fn new(by: HashMap<String, Vec<String>>) -> Result<Self, String> {
        if let Some(k) = by.keys().find(|k| !FILTER_KEYS.contains(&k.as_str())) {
            return Err(format!("invalid filter '{k}'"));
        }
        if let Some(t) = by.get("type").into_iter().flatten().find(|t| {
            !matches!(
                t.as_str(),
                "container"
                    | "image"
                    | "volume"
                    | "network"
                    | "daemon"
                    | "plugin"
                    | "node"
                    | "service"
                    | "secret"
                    | "config"
            )
        }) {
            return Err(format!("unknown event type: {t}"));
        }
        Ok(Self { by })
    }

    fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        match self.by.get(key) {
            None => true,
            Some(vals) if vals.is_empty() => true,
            Some(vals) => vals.iter().any(|v| pred(v)),
        }
    }

    /// Whether the object of kind `kind` that `m` is about is named by `v` (its ID, a
    /// prefix of it, or its name).
    fn names(m: &Message, kind: Kind, v: &str) -> bool {
        m.kind == kind
            && (m.id == v
                || (!v.is_empty() && m.id.starts_with(v))
                || m.attributes.get("name").is_some_and(|n| n == v))
    }

    pub fn matches(&self, m: &Message) -> bool {
        let base_action = m.action.split(':').next().unwrap_or("");
        self.any("type", |t| t == m.kind.as_str())
            && self.any("event", |e| e == m.action || e == base_action)
            && self.any("scope", |s| s == "local")
            && self.any("label", |l| match l.split_once('=') {
                Some((k, v)) => m.attributes.get(k).is_some_and(|x| x == v),
                None => m.attributes.contains_key(l),
            })
            && self.any("container", |v| Self::names(m, Kind::Container, v))
            && self.any("network", |v| Self::names(m, Kind::Network, v))
            && self.any("volume", |v| Self::names(m, Kind::Volume, v))
            && self.any("daemon", |v| Self::names(m, Kind::Daemon, v))
            && self.any("image", |v| match m.kind {
                Kind::Container => m
                    .attributes
                    .get("image")
                    .is_some_and(|i| same_image(i, v)),
                Kind::Image => {
                    same_image(&m.id, v) || m.attributes.get("name").is_some_and(|n| same_image(n, v))
                }
                _ => false,
            })
            // berth runs no swarm and no plugins: those filters match nothing.
            && ["config", "node", "plugin", "secret", "service"]
                .iter()
                .all(|k| self.any(k, |_| false))
    }
}

/// `busybox` names `busybox:latest`, and an ID prefix names its image.
fn same_image(have: &str, want: &str) -> bool {
    let strip = |s: &str| -> String {
        let s = s.strip_prefix("docker.io/library/").unwrap_or(s);
        let last = s.rsplit('/').next().unwrap_or(s);
        if last.contains(':') || s.contains('@') {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    };
    have == want
        || strip(have) == strip(want)
        || (want.len() >= 12
            && have
                .trim_start_matches("sha256:")
                .starts_with(want.trim_start_matches("sha256:")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn filter(pairs: &[(&str, &[&str])]) -> Filter {
        Filter::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn replay_then_live_without_loss_or_repeat() {
        let ev = Events::default();
        ev.publish(Kind::Container, "create", "a", attrs(&[]));
        let first = ev.lock().past[0].time_nano;
        ev.publish(Kind::Container, "start", "a", attrs(&[]));
        let mut sub = ev.subscribe(Some(first));
        assert_eq!(sub.past.len(), 2);
        ev.publish(Kind::Container, "die", "a", attrs(&[]));
        let live = sub.live.try_recv().unwrap();
        assert_eq!(live.action, "die");
        assert!(live.seq > sub.after_seq);
        // No `since`: nothing replayed.
        assert!(ev.subscribe(None).past.is_empty());
    }

    #[test]
    fn the_journal_is_bounded() {
        let ev = Events::default();
        for i in 0..JOURNAL_LEN + 10 {
            ev.publish(Kind::Volume, "create", i.to_string(), attrs(&[]));
        }
        let sub = ev.subscribe(Some(0));
        assert_eq!(sub.past.len(), JOURNAL_LEN);
        assert_eq!(sub.past[0].id, "10");
    }

    #[test]
    fn filters_as_dockerd_applies_them() {
        let m = Message {
            seq: 1,
            kind: Kind::Container,
            action: "exec_start: sh -c true".into(),
            id: "abcdef0123".into(),
            attributes: attrs(&[("name", "web"), ("image", "busybox"), ("com.x", "1")]),
            time_nano: 0,
        };
        assert!(filter(&[]).matches(&m));
        assert!(filter(&[("event", &["exec_start"])]).matches(&m));
        assert!(filter(&[("event", &["die", "exec_start: sh -c true"])]).matches(&m));
        assert!(!filter(&[("event", &["die"])]).matches(&m));
        assert!(filter(&[("container", &["web"])]).matches(&m));
        assert!(filter(&[("container", &["abcd"])]).matches(&m));
        assert!(!filter(&[("container", &["db"])]).matches(&m));
        assert!(filter(&[("type", &["container"]), ("label", &["com.x=1"])]).matches(&m));
        assert!(!filter(&[("label", &["com.x=2"])]).matches(&m));
        assert!(filter(&[("image", &["busybox:latest"])]).matches(&m));
        assert!(!filter(&[("type", &["image"])]).matches(&m));
        assert!(!filter(&[("network", &["web"])]).matches(&m));
        assert!(!filter(&[("service", &["x"])]).matches(&m));
        assert!(Filter::new([("bogus".to_string(), vec![])].into()).is_err());
        assert!(Filter::new([("type".to_string(), vec!["car".into()])].into()).is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("since", "12").unwrap(), 12_000_000_000);
        assert_eq!(parse_timestamp("since", "12.5").unwrap(), 12_500_000_000);
        assert_eq!(
            parse_timestamp("since", "1700000000.000000001").unwrap(),
            1_700_000_000_000_000_001
        );
        assert_eq!(
            parse_timestamp("since", "1970-01-01T00:00:01Z").unwrap(),
            1_000_000_000
        );
        assert!(parse_timestamp("since", "yesterday").is_err());
        assert!(parse_timestamp("since", "1.1234567890").is_err());
    }

    #[test]
    fn legacy_fields_before_1_52() {
        let m = Message {
            seq: 1,
            kind: Kind::Container,
            action: "start".into(),
            id: "c1".into(),
            attributes: attrs(&[("image", "busybox")]),
            time_nano: 1_500_000_000,
        };
        let old = m.to_json(true);
        assert_eq!(old["status"], "start");
        assert_eq!(old["from"], "busybox");
        assert_eq!(old["time"], 1);
        let new = m.to_json(false);
        assert!(new.get("status").is_none());
        assert_eq!(new["Actor"]["Attributes"]["image"], "busybox");
    }
}
