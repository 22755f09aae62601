//! What the instructions that only change an image's config do to it: one place for
//! the builder's steps and for `commit --change` / `import --change`.

use crate::error::{DaemonError, Result};
use berth_build::instruction::Instruction;
use berth_image::config::RunConfig;
use std::collections::HashMap;

/// Applies `ins` to `rc`; the text Docker shows for it in history (`ENV A=1`). An
/// instruction that is not a config change is an error naming it.
pub fn apply(rc: &mut RunConfig, ins: &Instruction) -> Result<String> {
    let shell = rc
        .shell
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    Ok(match ins {
        Instruction::Env(pairs) => {
            let env = rc.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs {
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix));
                env.push(format!("{k}={v}"));
            }
            let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("ENV {}", shown.join(" "))
        }
        Instruction::Label(pairs) => {
            let labels = rc.labels.get_or_insert_with(Default::default);
            for (k, v) in pairs {
                labels.insert(k.clone(), v.clone());
            }
            let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("LABEL {}", shown.join(" "))
        }
        Instruction::User(u) => {
            rc.user = u.clone();
            format!("USER {u}")
        }
        Instruction::StopSignal(s) => {
            rc.stop_signal = Some(s.clone());
            format!("STOPSIGNAL {s}")
        }
        Instruction::Expose(ports) => {
            let map = rc.exposed_ports.get_or_insert_with(HashMap::new);
            let mut shown = vec![];
            for p in ports {
                let p = if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                };
                let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                if num.split('-').any(|n| n.parse::<u16>().is_err())
                    || !matches!(proto, "tcp" | "udp" | "sctp")
                {
                    return Err(DaemonError::InvalidParameter(format!(
                        "EXPOSE: invalid port {p}"
                    )));
                }
                map.insert(p.clone(), serde_json::json!({}));
                shown.push(p);
            }
            shown.sort();
            format!("EXPOSE {}", shown.join(" "))
        }
        Instruction::Volume(vols) => {
            let map = rc.volumes.get_or_insert_with(HashMap::new);
            for v in vols {
                if v.is_empty() {
                    return Err(DaemonError::InvalidParameter(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                map.insert(v.clone(), serde_json::json!({}));
            }
            format!("VOLUME [{}]", vols.join(" "))
        }
        Instruction::Cmd(c) => {
            rc.cmd = Some(c.argv(&shell));
            format!("CMD {:?}", rc.cmd.clone().unwrap_or_default())
        }
        Instruction::Entrypoint(c) => {
            rc.entrypoint = Some(c.argv(&shell));
            format!("ENTRYPOINT {:?}", rc.entrypoint.clone().unwrap_or_default())
        }
        Instruction::Shell(s) => {
            rc.shell = Some(s.clone());
            format!("SHELL {s:?}")
        }
        Instruction::Workdir(w) => {
            let base = if rc.working_dir.is_empty() {
                "/".to_string()
            } else {
                rc.working_dir.clone()
            };
            let mut path = std::path::PathBuf::from("/");
            for c in std::path::Path::new(&base).join(w).components() {
                match c {
                    std::path::Component::Normal(n) => path.push(n),
                    std::path::Component::ParentDir => {
                        path.pop();
                    }
                    _ => {}
                }
            }
            rc.working_dir = path.display().to_string();
            format!("WORKDIR {}", rc.working_dir)
        }
        Instruction::Healthcheck(h) => {
            rc.healthcheck = Some(match h {
                None => serde_json::json!({ "Test": ["NONE"] }),
                Some(h) => h
                    .to_json()
                    .map_err(|e| DaemonError::InvalidParameter(e.to_string()))?,
            });
            match h {
                None => "HEALTHCHECK NONE".to_string(),
                Some(h) => format!("HEALTHCHECK {:?}", h.test),
            }
        }
        Instruction::Onbuild(trigger) => {
            rc.on_build
                .get_or_insert_with(Vec::new)
                .push(trigger.clone());
            format!("ONBUILD {trigger}")
        }
        other => {
            return Err(DaemonError::InvalidParameter(format!(
                "{} is not a valid change command",
                keyword(other)
            )))
        }
    })
}

fn keyword(i: &Instruction) -> &'static str {
    match i {
        Instruction::From { .. } => "FROM",
        Instruction::Run(_) => "RUN",
        Instruction::Copy(_) => "COPY",
        Instruction::Add(_) => "ADD",
        Instruction::Arg(_) => "ARG",
        Instruction::Maintainer(_) => "MAINTAINER",
        Instruction::Cmd(_) => "CMD",
        Instruction::Entrypoint(_) => "ENTRYPOINT",
        Instruction::Shell(_) => "SHELL",
        Instruction::Env(_) => "ENV",
        Instruction::Label(_) => "LABEL",
        Instruction::Workdir(_) => "WORKDIR",
        Instruction::User(_) => "USER",
        Instruction::Expose(_) => "EXPOSE",
        Instruction::Volume(_) => "VOLUME",
        Instruction::StopSignal(_) => "STOPSIGNAL",
        Instruction::Onbuild(_) => "ONBUILD",
        Instruction::Healthcheck(_) => "HEALTHCHECK",
    }
}

/// `commit --change` and `import --change`: Dockerfile lines that change the config,
/// read by the Dockerfile parser. dockerd takes these (STOPSIGNAL and SHELL, which a
/// build takes, are refused here as there).
const CHANGE_COMMANDS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "HEALTHCHECK",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
];

pub fn apply_changes(rc: &mut RunConfig, changes: &[String]) -> Result<()> {
    for change in changes.iter().filter(|c| !c.trim().is_empty()) {
        let df = berth_build::parse::parse(change).map_err(|e| {
            DaemonError::InvalidParameter(format!("invalid change {change:?}: {e}"))
        })?;
        for node in &df.nodes {
            let env = rc.env.clone().unwrap_or_default();
            let lookup = |name: &str| {
                let prefix = format!("{name}=");
                env.iter()
                    .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
            };
            let ins = Instruction::from_node(node, &lookup, df.escape)
                .map_err(|e| DaemonError::InvalidParameter(format!("invalid change: {e}")))?;
            let name = keyword(&ins);
            if !CHANGE_COMMANDS.contains(&name) {
                // dockerd's words, with the command in lower case as it writes it.
                return Err(DaemonError::InvalidParameter(format!(
                    "{} is not a valid change command",
                    name.to_ascii_lowercase()
                )));
            }
            apply(rc, &ins)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply() {
        let mut rc = RunConfig::default();
        apply_changes(
            &mut rc,
            &[
                "CMD [\"sh\"]".into(),
                "ENV A=1 B=\"two words\"".into(),
                "WORKDIR /app".into(),
                "WORKDIR sub".into(),
                "EXPOSE 80 53/udp".into(),
                "LABEL a=b".into(),
                "ENTRYPOINT echo $A".into(),
                "HEALTHCHECK --interval=5s CMD true".into(),
                "ONBUILD RUN make".into(),
            ],
        )
        .unwrap();
        assert_eq!(rc.cmd.unwrap(), vec!["sh"]);
        assert_eq!(rc.env.unwrap(), vec!["A=1", "B=two words"]);
        assert_eq!(rc.working_dir, "/app/sub");
        assert!(rc.exposed_ports.unwrap().contains_key("53/udp"));
        assert_eq!(rc.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo $A"]);
        assert_eq!(rc.healthcheck.unwrap()["Interval"], 5_000_000_000u64);
        assert_eq!(rc.on_build.unwrap(), vec!["RUN make"]);
        let bad = apply_changes(&mut RunConfig::default(), &["RUN make".into()]);
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("run is not a valid change command"));
        let stop = apply_changes(&mut RunConfig::default(), &["STOPSIGNAL SIGINT".into()]);
        assert!(stop
            .unwrap_err()
            .to_string()
            .contains("stopsignal is not a valid change command"));
        assert!(apply_changes(&mut RunConfig::default(), &["FROB x".into()]).is_err());
    }
}
