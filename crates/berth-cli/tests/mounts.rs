//! Binds as Docker makes them, through the docker CLI: read-only all the way down (and the
//! options that change that), mount propagation back to the host, and image mounts with
//! a sub-path.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Mounts the test made on the host, unmounted (deepest first) however the test ends.
struct HostMounts(Vec<PathBuf>);

impl HostMounts {
    fn mount(&mut self, args: &[&str], target: &Path) {
        let st = Command::new("mount")
            .args(args)
            .arg(target)
            .status()
            .expect("mount");
        assert!(st.success(), "mount {args:?} {}", target.display());
        self.0.push(target.to_path_buf());
    }

    /// A mount that appeared on the host by propagation, to be cleaned up too.
    fn adopt(&mut self, target: &Path) {
        self.0.push(target.to_path_buf());
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for target in self.0.iter().rev() {
            // Lazily: a container that failed the test may still hold it.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(target)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn is_mount_point(path: &Path) -> bool {
    let path = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*path))
}

/// A host dir with a tmpfs mounted beneath it at `sub`.
fn source_with_submount(d: &Daemon, mounts: &mut HostMounts) -> PathBuf {
    let src = d.dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    mounts.mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &src.join("sub"));
    src
}

#[test]
fn read_only_binds_are_read_only_beneath_unless_asked_otherwise() {
    let d = Daemon::start();
    d.make_busybox();
    let mut mounts = HostMounts(vec![]);
    let src = source_with_submount(&d, &mut mounts);
    let src = src.to_str().unwrap();
    let write_both = "touch /m/top; echo top=$?; touch /m/sub/x; echo sub=$?";
    let run = |version: Option<&str>, mount: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(mount);
        args.extend_from_slice(&["busybox", "sh", "-c", write_both]);
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.join("docker-config"))
            .args(&args);
        if let Some(v) = version {
            cmd.env("DOCKER_API_VERSION", v);
        }
        let out = cmd.output().expect("docker");
        let text = stdout(&out);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let bind = format!("type=bind,src={src},dst=/m,readonly");
    // -v :ro and --mount readonly: the tmpfs under the source is read-only too.
    assert_eq!(run(None, &["-v", &format!("{src}:/m:ro")]), "top=1 sub=1");
    assert_eq!(run(None, &["--mount", &bind]), "top=1 sub=1");
    let forced = format!("{bind},bind-recursive=readonly,bind-propagation=rprivate");
    assert_eq!(run(None, &["--mount", &forced]), "top=1 sub=1");
    // Asked for: only the top mount is read-only (ReadOnlyNonRecursive).
    let top_only = format!("{bind},bind-recursive=writable");
    assert_eq!(run(None, &["--mount", &top_only]), "top=1 sub=0");
    // A client of API 1.43 gets that version's read-only: the top mount only.
    assert_eq!(run(Some("1.43"), &["--mount", &bind]), "top=1 sub=0");
    assert_eq!(
        run(Some("1.43"), &["-v", &format!("{src}:/m:ro")]),
        "top=1 sub=0"
    );
    // Forced recursion that cannot hold is refused, by name (the docker CLI checks this
    // itself, so the API is asked directly).
    for (options, says) in [
        (
            r#"{"ReadOnlyForceRecursive": true, "Propagation": "rshared"}"#,
            "rprivate",
        ),
        (
            r#"{"ReadOnlyForceRecursive": true}"#,
            "'ReadOnly' to be 'true'",
        ),
    ] {
        let read_only = !says.contains("ReadOnly");
        let body = format!(
            r#"{{"Image": "busybox", "HostConfig": {{"Mounts": [{{"Type": "bind", "Source": "{src}", "Target": "/m", "ReadOnly": {read_only}, "BindOptions": {options}}}]}}}}"#
        );
        let (status, text) = d.post_json("/containers/create", &body);
        assert_eq!(status, 400, "{options}: {text}");
        assert!(
            text.contains("ReadOnlyForceRecursive") && text.contains(says),
            "{text}"
        );
    }
}

#[test]
fn rshared_binds_propagate_mounts_back_to_the_host() {
    let d = Daemon::start();
    d.make_busybox();
    let mut mounts = HostMounts(vec![]);
    let src = d.dir.join("shared");
    std::fs::create_dir_all(&src).unwrap();
    // A shared source: its own mount, in a peer group of its own.
    mounts.mount(&["--bind", src.to_str().unwrap()], &src);
    let st = Command::new("mount")
        .arg("--make-shared")
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::create_dir_all(src.join("from-container")).unwrap();
    std::fs::create_dir_all(src.join("private")).unwrap();
    mounts.adopt(&src.join("from-container"));
    mounts.adopt(&src.join("private"));
    let s = src.to_str().unwrap();
    // A container that mounts a tmpfs at /m/<dir> under the bind `volume`.
    let mount_inside = |volume: &str, dir: &str| {
        ok(d.docker(&[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "-v",
            volume,
            "busybox",
            "mount",
            "-t",
            "tmpfs",
            "tmpfs",
            &format!("/m/{dir}"),
        ]))
    };
    mount_inside(&format!("{s}:/m:rshared"), "from-container");
    assert!(
        is_mount_point(&src.join("from-container")),
        "a mount made under an rshared bind reaches the host"
    );
    // rprivate (the default): the same mount stays in the container.
    mount_inside(&format!("{s}:/m"), "private");
    assert!(!is_mount_point(&src.join("private")));
    // rslave: the host's mounts made later reach a running container.
    let c = ok(d.docker(&[
        "run",
        "-d",
        "-v",
        &format!("{s}:/m:rslave"),
        "busybox",
        "sleep",
        "300",
    ]));
    let later = src.join("later");
    std::fs::create_dir_all(&later).unwrap();
    mounts.mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &later);
    std::fs::write(later.join("seen"), "yes").unwrap();
    assert_eq!(ok(d.docker(&["exec", &c, "cat", "/m/later/seen"])), "yes");
    ok(d.docker(&["rm", "-f", &c]));
}

#[test]
fn image_mounts_take_a_sub_path_of_the_image() {
    let d = Daemon::start();
    d.make_busybox();
    let etc = ok(d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=image,source=busybox,target=/img,image-subpath=etc",
        "busybox",
        "sh",
        "-c",
        "cat /img/passwd >/dev/null && echo passwd; ls /img/bin 2>&1 || echo no-bin",
    ]));
    assert!(etc.contains("passwd") && etc.contains("no-bin"), "{etc}");
    for (subpath, says) in [("nope", "nope"), ("../x", "..")] {
        let out = d.docker(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=image,source=busybox,target=/img,image-subpath={subpath}"),
            "busybox",
            "true",
        ]);
        assert!(!out.status.success(), "{subpath}");
        assert!(stderr(&out).contains(says), "{subpath}: {}", stderr(&out));
    }
    // Attack: an image whose sub-path is a symlink climbing out of it (and one to the
    // absolute /). Resolved beneath the image's root, both stay in the image: the mount
    // holds the image's own marker, never the host's root.
    ok(d.berth_stdin(
        &["build", "-q", "-t", "climber", "-"],
        b"FROM busybox\nRUN echo in-image > /marker && ln -s ../../../../../.. /up && ln -s / /abs\n",
    ));
    for link in ["up", "abs"] {
        let seen = ok(d.docker(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=image,source=climber,target=/img,image-subpath={link}"),
            "busybox",
            "sh",
            "-c",
            "cat /img/marker; ls /img",
        ]));
        assert!(seen.starts_with("in-image"), "{link}: {seen}");
    }
}
