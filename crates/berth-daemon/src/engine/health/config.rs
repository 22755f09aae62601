//! A container's health check as configured: `Config.Healthcheck` (from `--health-*`)
//! merged over the image's HEALTHCHECK, checked as dockerd checks it, with Docker's
//! defaults.

use crate::error::{DaemonError, Result};
use serde_json::Value;
use std::time::Duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
const MIN_DURATION: Duration = Duration::from_millis(1);

/// The label that says what to do with a container that turns unhealthy (podman's
/// `--health-on-failure`; `berth run --health-on-failure` sets it, and any client can).
pub const ON_FAILURE_LABEL: &str = "io.berth.health-on-failure";

/// What is run, and how: `CMD` execs its arguments, `CMD-SHELL` runs its one string with
/// the container's shell.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

/// What happens when the container turns unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    #[default]
    None,
    /// SIGKILL: its restart policy decides what comes next.
    Kill,
    Restart,
    Stop,
}

impl OnFailure {
    pub fn parse(v: &str) -> Result<Self> {
        Ok(match v {
            "" | "none" => Self::None,
            "kill" => Self::Kill,
            "restart" => Self::Restart,
            "stop" => Self::Stop,
            other => {
                return Err(DaemonError::InvalidParameter(format!(
                    "Config.Labels: {ON_FAILURE_LABEL}: invalid value {other:?}: one of none, kill, restart, stop"
                )))
            }
        })
    }
}

fn nanos(v: &Value, key: &str) -> Result<i64> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(n) => n.as_i64().ok_or_else(|| {
            DaemonError::InvalidParameter(format!("Config.Healthcheck.{key}: not a number"))
        }),
    }
}

/// Checks a request's `Config.Healthcheck` as dockerd does.
pub fn validate(v: &Value) -> Result<()> {
    if v.is_null() {
        return Ok(());
    }
    if !v.is_object() {
        return Err(DaemonError::InvalidParameter(
            "Config.Healthcheck: expected an object".into(),
        ));
    }
    if let Some(k) = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| {
            !matches!(
                k.as_str(),
                "Test" | "Interval" | "Timeout" | "StartPeriod" | "StartInterval" | "Retries"
            )
        })
    {
        return Err(DaemonError::InvalidParameter(format!(
            "Config.Healthcheck.{k} is not supported by berth"
        )));
    }
    for (key, name) in [
        ("Interval", "Interval"),
        ("Timeout", "Timeout"),
        ("StartPeriod", "StartPeriod"),
        ("StartInterval", "StartInterval"),
    ] {
        let n = nanos(v, key)?;
        if n != 0 && n < MIN_DURATION.as_nanos() as i64 {
            return Err(DaemonError::InvalidParameter(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if nanos(v, "Retries")? < 0 {
        return Err(DaemonError::InvalidParameter(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    let test = test_of(v)?;
    match test.first().map(String::as_str) {
        None | Some("NONE") => {}
        Some("CMD") if test.len() > 1 => {}
        Some("CMD-SHELL") if test.len() == 2 => {}
        Some("CMD" | "CMD-SHELL") => {
            return Err(DaemonError::InvalidParameter(
                "Config.Healthcheck.Test: a command is needed after CMD or CMD-SHELL".into(),
            ))
        }
        Some(other) => {
            return Err(DaemonError::InvalidParameter(format!(
                "Config.Healthcheck.Test: unknown type {other:?}: one of NONE, CMD, CMD-SHELL"
            )))
        }
    }
    Ok(())
}

fn test_of(v: &Value) -> Result<Vec<String>> {
    match v.get("Test") {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    DaemonError::InvalidParameter("Config.Healthcheck.Test: not strings".into())
                })
            })
            .collect(),
        Some(_) => Err(DaemonError::InvalidParameter(
            "Config.Healthcheck.Test: expected a list".into(),
        )),
    }
}

/// dockerd's merge at create: the container's settings, each one that is unset taken
/// from the image's.
pub fn merge(container: Option<&Value>, image: Option<&Value>) -> Option<Value> {
    let Some(image) = image.filter(|i| i.is_object()) else {
        return container.cloned();
    };
    let Some(container) = container.filter(|c| c.is_object()) else {
        return Some(image.clone());
    };
    let mut out = container.clone();
    let obj = out.as_object_mut()?;
    for key in [
        "Test",
        "Interval",
        "Timeout",
        "StartPeriod",
        "StartInterval",
        "Retries",
    ] {
        let unset = obj.get(key).is_none_or(|x| {
            x.is_null() || x == &Value::from(0) || x.as_array().is_some_and(|a| a.is_empty())
        });
        if unset {
            if let Some(from_image) = image.get(key) {
                obj.insert(key.to_string(), from_image.clone());
            }
        }
    }
    Some(out)
}

/// The check to run, if any: None without a test or with `NONE`.
pub fn check(v: Option<&Value>, shell: Option<&[String]>) -> Option<Check> {
    let v = v?;
    let test = test_of(v).ok()?;
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => {
            let mut c: Vec<String> = match shell.filter(|s| !s.is_empty()) {
                Some(s) => s.to_vec(),
                None => vec!["/bin/sh".into(), "-c".into()],
            };
            c.push(test.get(1)?.clone());
            c
        }
        _ => return None,
    };
    let dur = |key: &str, default: Duration| match nanos(v, key).unwrap_or(0) {
        n if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    };
    Some(Check {
        command,
        interval: dur("Interval", DEFAULT_INTERVAL),
        timeout: dur("Timeout", DEFAULT_TIMEOUT),
        start_period: dur("StartPeriod", Duration::ZERO),
        start_interval: dur("StartInterval", DEFAULT_START_INTERVAL),
        retries: match nanos(v, "Retries").unwrap_or(0) {
            n if n > 0 => n,
            _ => DEFAULT_RETRIES,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_as_dockerd() {
        assert!(validate(&json!({"Test": ["CMD", "true"], "Interval": 1_000_000})).is_ok());
        assert!(validate(&json!({"Test": ["NONE"]})).is_ok());
        assert!(validate(&json!({"Interval": 10})).is_err());
        assert!(validate(&json!({"Retries": -1})).is_err());
        assert!(validate(&json!({"Test": ["CMD"]})).is_err());
        assert!(validate(&json!({"Test": ["RUN", "x"]})).is_err());
        assert!(validate(&json!({"Test": ["CMD", "x"], "Bogus": 1})).is_err());
        assert!(OnFailure::parse("restart").is_ok());
        assert!(OnFailure::parse("reboot").is_err());
    }

    #[test]
    fn image_settings_fill_what_the_container_left_unset() {
        let image = json!({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000i64, "Retries": 5});
        let merged = merge(Some(&json!({"Interval": 2_000_000_000i64})), Some(&image)).unwrap();
        assert_eq!(merged["Test"][1], "curl -f localhost");
        assert_eq!(merged["Interval"], 2_000_000_000i64);
        assert_eq!(merged["Retries"], 5);
        // --no-healthcheck: NONE is kept, and means no check.
        let none = merge(Some(&json!({"Test": ["NONE"]})), Some(&image)).unwrap();
        assert!(check(Some(&none), None).is_none());
        assert_eq!(merge(None, Some(&image)), Some(image.clone()));
    }

    #[test]
    fn defaults_and_shell() {
        let c = check(Some(&json!({"Test": ["CMD-SHELL", "exit 1"]})), None).unwrap();
        assert_eq!(c.command, ["/bin/sh", "-c", "exit 1"]);
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.retries, 3);
        assert_eq!(c.start_interval, DEFAULT_START_INTERVAL);
        let shell = ["/bin/ash".to_string(), "-ec".to_string()];
        let c = check(Some(&json!({"Test": ["CMD-SHELL", "x"]})), Some(&shell)).unwrap();
        assert_eq!(c.command, ["/bin/ash", "-ec", "x"]);
        let c = check(
            Some(&json!({"Test": ["CMD", "a", "b"], "Timeout": 1_000_000})),
            None,
        )
        .unwrap();
        assert_eq!(c.command, ["a", "b"]);
        assert_eq!(c.timeout, Duration::from_millis(1));
    }
}
