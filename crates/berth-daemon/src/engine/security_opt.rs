//! `HostConfig.SecurityOpt`, parsed into what berth will do. Every option is honoured or
//! refused: a user who asked for `no-new-privileges` and did not get it has been lied to.

use crate::error::{DaemonError, Result};

/// Which seccomp filter a container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default profile (none for privileged containers, as Docker does).
    Default,
    Unconfined,
    /// A profile's JSON: the docker CLI sends the file's contents, not its path.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityOptions {
    pub seccomp: Seccomp,
    /// None: the daemon's default (`berthd --no-new-privileges`).
    pub no_new_privileges: Option<bool>,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unconfined_paths: bool,
}

fn invalid(o: &str) -> DaemonError {
    DaemonError::InvalidParameter(format!("Invalid --security-opt: {o:?}"))
}

fn parse_bool(o: &str, v: &str) -> Result<bool> {
    match v {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(DaemonError::InvalidParameter(format!(
            "invalid --security-opt 2: {o:?}"
        ))),
    }
}

pub fn parse(opts: &[String]) -> Result<SecurityOptions> {
    let mut out = SecurityOptions {
        seccomp: Seccomp::Default,
        no_new_privileges: None,
        unconfined_paths: false,
    };
    for o in opts {
        // `key=value`, or the old `key:value` (a JSON profile holds ':' too, so '=' first).
        let (k, v) = match (o.split_once('='), o.split_once(':')) {
            (Some((k, v)), _) if !k.contains('{') => (k, v),
            (_, Some((k, v))) => (k, v),
            _ => (o.as_str(), ""),
        };
        match k {
            "no-new-privileges" => out.no_new_privileges = Some(parse_bool(o, v)?),
            "seccomp" => {
                out.seccomp = match v {
                    "unconfined" => Seccomp::Unconfined,
                    "" | "builtin" => Seccomp::Default,
                    json if json.trim_start().starts_with('{') => Seccomp::Custom(json.into()),
                    path => {
                        return Err(DaemonError::InvalidParameter(format!(
                            "opening seccomp profile ({path}) failed: the daemon takes the profile's JSON (the docker CLI reads the file and sends it)"
                        )))
                    }
                }
            }
            "systempaths" if v == "unconfined" => out.unconfined_paths = true,
            // Nothing of AppArmor or SELinux is applied by berth: "unconfined" and
            // "disable" are what it does; any profile or label would be a lie.
            "apparmor" if v == "unconfined" => {}
            "label" if v == "disable" => {}
            "apparmor" => {
                return Err(DaemonError::InvalidParameter(format!(
                    "AppArmor profile {v:?} cannot be applied: berth does not support AppArmor (only apparmor=unconfined)"
                )))
            }
            "label" => {
                return Err(DaemonError::InvalidParameter(format!(
                    "SELinux label option {v:?} cannot be applied: berth does not support SELinux labels (only label=disable)"
                )))
            }
            _ => return Err(invalid(o)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(o: &[&str]) -> Result<SecurityOptions> {
        parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_are_honoured_or_refused() {
        assert_eq!(p(&[]).unwrap().no_new_privileges, None);
        assert_eq!(
            p(&["no-new-privileges"]).unwrap().no_new_privileges,
            Some(true)
        );
        assert_eq!(
            p(&["no-new-privileges:false"]).unwrap().no_new_privileges,
            Some(false)
        );
        assert_eq!(
            p(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            p(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])
                .unwrap()
                .seccomp,
            Seccomp::Custom(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.into())
        );
        assert!(p(&["systempaths=unconfined"]).unwrap().unconfined_paths);
        assert!(p(&["apparmor=unconfined", "label=disable"]).is_ok());
        for bad in [
            "apparmor=docker-default",
            "label=user:USER",
            "seccomp=/some/file.json",
            "no-new-privileges=maybe",
            "frobnicate",
        ] {
            assert!(p(&[bad]).is_err(), "{bad} was accepted");
        }
    }
}
