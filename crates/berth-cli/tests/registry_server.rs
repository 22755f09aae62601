//! `berth registry serve` against skopeo, berth and the docker CLI, and its protocol
//! details (chunked uploads, digest checks, ranges, pagination, error codes).

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

struct BerthRegistry {
    addr: String,
    root: std::path::PathBuf,
    child: Child,
}

impl BerthRegistry {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let root = std::path::PathBuf::from(format!("/tmp/bsrv{}-{port}", std::process::id()));
        let child = Command::new(berth_bin())
            .args(["registry", "serve", "--addr", &addr, "--root"])
            .arg(&root)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = BerthRegistry { addr, root, child };
        wait_until("berth registry", std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(&r.addr).is_ok()
        });
        r
    }

    /// One raw HTTP request: (status, headers+body text).
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }
}

impl Drop for BerthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l.split_once(':').unwrap().1.trim())
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

#[test]
fn serves_skopeo_berth_and_docker() {
    let reg = BerthRegistry::start();
    let d = Daemon::start();
    d.make_busybox();
    let id = ok(d.berth(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    let archive = d.dir.join("bb.tar");
    ok(d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    let skopeo = |args: &[&str]| Command::new("skopeo").args(args).output().expect("skopeo");
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let up = skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", archive.display()),
            &format!("docker://{}/sk/bb:1", reg.addr),
        ]);
        assert!(up.status.success(), "{}", stderr(&up));
        let oci = d.dir.join("oci");
        let down = skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/sk/bb:1", reg.addr),
            &format!("oci:{}:x", oci.display()),
        ]);
        assert!(down.status.success(), "{}", stderr(&down));
    }
    let name = format!("{}/team/bb:2", reg.addr);
    ok(d.berth(&["tag", "busybox", &name]));
    assert!(ok(d.berth(&["push", &name])).contains("digest: sha256:"));
    ok(d.berth(&["rmi", "-f", &name, "busybox"]));
    ok(d.berth(&["pull", &name]));
    assert_eq!(
        ok(d.berth(&["image", "inspect", "-f", "{{.Id}}", &name])),
        id
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", &name, "echo", "served"])),
        "served"
    );
    if std::path::Path::new(DOCKER).exists() {
        let via = format!("{}/docker/bb:3", reg.addr);
        ok(d.docker(&["tag", &name, &via]));
        ok(d.docker(&["push", &via]));
        ok(d.docker(&["rmi", &via]));
        ok(d.docker(&["pull", &via]));
    }
    let (s, body) = reg.http("GET", "/v2/_catalog", &[], b"");
    assert_eq!(s, 200);
    assert!(body.contains("team/bb"), "{body}");
    // A blob pulled from one repository is mounted, not uploaded, into another.
    let other = format!("{}/elsewhere/bb:9", reg.addr);
    ok(d.berth(&["tag", &name, &other]));
    let mounted = ok(d.berth(&["push", &other]));
    assert!(mounted.contains(": Mounted from"), "{mounted}");
    // Garbage collection: nothing to collect while every blob is referenced.
    let gc = Command::new(berth_bin())
        .args(["registry", "garbage-collect", "--dry-run", "--root"])
        .arg(&reg.root)
        .output()
        .unwrap();
    assert!(
        stdout(&gc)
            .trim_end()
            .ends_with("0 blobs eligible for deletion, 0 bytes"),
        "{}",
        stdout(&gc)
    );
}

#[test]
fn serves_https_to_berth_skopeo_and_docker() {
    let d = Daemon::start();
    d.make_busybox();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (d.dir.join("reg.crt"), d.dir.join("reg.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let reg = BerthRegistry::start_with(&[
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ]);
    // Only TLS is spoken: a plain request gets no HTTP answer.
    assert_eq!(reg.http("GET", "/v2/", &[], b"").0, 0);
    let curl = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://{}/v2/", reg.addr))
        .output()
        .unwrap();
    assert_eq!(stdout(&curl), "200");
    // A loopback registry is insecure, as in Docker: HTTPS without the certificate check.
    let name = format!("{}/tls/bb:1", reg.addr);
    ok(d.berth(&["tag", "busybox", &name]));
    assert!(ok(d.berth(&["push", &name])).contains("digest: sha256:"));
    ok(d.berth(&["rmi", &name]));
    ok(d.berth(&["pull", &name]));
    assert_eq!(ok(d.berth(&["run", "--rm", &name, "echo", "tls"])), "tls");
    if std::path::Path::new(DOCKER).exists() {
        let via = format!("{}/tls/docker:2", reg.addr);
        ok(d.docker(&["tag", &name, &via]));
        ok(d.docker(&["push", &via]));
        ok(d.docker(&["rmi", &via]));
        ok(d.docker(&["pull", &via]));
    }
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let oci = d.dir.join("oci-tls");
        let down = Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{name}"))
            .arg(format!("oci:{}:x", oci.display()))
            .output()
            .unwrap();
        assert!(down.status.success(), "{}", stderr(&down));
    }
}

#[test]
fn referrers_list_the_artifacts_of_a_manifest() {
    let reg = BerthRegistry::start();
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    let upload = |data: &[u8]| {
        let (s, r) = reg.http(
            "POST",
            &format!("/v2/art/blobs/uploads/?digest={}", sha(data)),
            &[],
            data,
        );
        assert_eq!(s, 201, "{r}");
    };
    let put = |reference: &str, body: &str| {
        let (s, r) = reg.http(
            "PUT",
            &format!("/v2/art/manifests/{reference}"),
            &[("Content-Type", OCI)],
            body.as_bytes(),
        );
        assert_eq!(s, 201, "{r}");
        r
    };
    let empty = format!(
        r#"{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}}"#,
        sha(b"{}")
    );
    upload(b"{}");
    let image =
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI}","config":{empty},"layers":[]}}"#);
    put("v1", &image);
    let subject = format!(
        r#"{{"mediaType":"{OCI}","digest":"{}","size":{}}}"#,
        sha(image.as_bytes()),
        image.len()
    );
    // An SBOM with an artifactType, and a signature known by its config's media type.
    let sbom_data = br#"{"spdxVersion":"SPDX-2.3"}"#;
    upload(sbom_data);
    let sbom = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI}","artifactType":"application/spdx+json","config":{empty},"layers":[{{"mediaType":"application/spdx+json","digest":"{}","size":{}}}],"subject":{subject},"annotations":{{"org.example.kind":"sbom"}}}}"#,
        sha(sbom_data),
        sbom_data.len()
    );
    let r = put(&sha(sbom.as_bytes()), &sbom);
    assert_eq!(
        header(&r, "OCI-Subject"),
        Some(sha(image.as_bytes()).as_str())
    );
    upload(b"sig-config");
    let sig = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI}","config":{{"mediaType":"application/vnd.example.sig","digest":"{}","size":10}},"layers":[],"subject":{subject}}}"#,
        sha(b"sig-config")
    );
    put(&sha(sig.as_bytes()), &sig);

    let referrers = |query: &str| {
        let (s, r) = reg.http(
            "GET",
            &format!("/v2/art/referrers/{}{query}", sha(image.as_bytes())),
            &[],
            b"",
        );
        assert_eq!(s, 200, "{r}");
        assert_eq!(
            header(&r, "Content-Type"),
            Some("application/vnd.oci.image.index.v1+json")
        );
        let body = r.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        (r.clone(), v["manifests"].as_array().unwrap().clone())
    };
    let (_, all) = referrers("");
    assert_eq!(all.len(), 2, "{all:?}");
    let by_type = |t: &str| all.iter().find(|m| m["artifactType"] == t).cloned();
    let s = by_type("application/spdx+json").expect("the SBOM");
    assert_eq!(s["digest"], sha(sbom.as_bytes()).as_str());
    assert_eq!(s["size"], sbom.len());
    assert_eq!(s["annotations"]["org.example.kind"], "sbom");
    assert!(by_type("application/vnd.example.sig").is_some(), "{all:?}");
    let (r, only) = referrers("?artifactType=application/spdx%2Bjson");
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(header(&r, "OCI-Filters-Applied"), Some("artifactType"));
    // Nothing refers to an unknown digest; a malformed one is an error.
    let (s, r) = reg.http("GET", &format!("/v2/art/referrers/{}", sha(b"x")), &[], b"");
    assert_eq!(s, 200);
    assert!(r.contains(r#""manifests":[]"#), "{r}");
    let (s, r) = reg.http("GET", "/v2/art/referrers/sha256:nothex", &[], b"");
    assert_eq!(s, 400, "{r}");
    assert!(r.contains("DIGEST_INVALID"), "{r}");
    // Deleting an artifact takes it out of the list.
    let (s, _) = reg.http(
        "DELETE",
        &format!("/v2/art/manifests/{}", sha(sbom.as_bytes())),
        &[],
        b"",
    );
    assert_eq!(s, 202);
    let (_, left) = referrers("");
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn protocol_details_and_errors() {
    let reg = BerthRegistry::start();
    let blob = b"a blob in two chunks".to_vec();
    // Chunked upload: POST, PATCH, PATCH, PUT with the digest.
    let (s, r) = reg.http("POST", "/v2/p/q/blobs/uploads/", &[], b"");
    assert_eq!(s, 202, "{r}");
    let loc = header(&r, "Location").unwrap().to_string();
    let (s, r) = reg.http("PATCH", &loc, &[("Content-Range", "0-6")], &blob[..7]);
    assert_eq!(s, 202, "{r}");
    assert_eq!(header(&r, "Range"), Some("0-6"));
    // A chunk that does not start where the upload ends.
    let (s, _) = reg.http("PATCH", &loc, &[("Content-Range", "3-9")], &blob[3..10]);
    assert_eq!(s, 416);
    let (s, _) = reg.http(
        "PATCH",
        &loc,
        &[("Content-Range", &format!("7-{}", blob.len() - 1))],
        &blob[7..],
    );
    assert_eq!(s, 202);
    let (s, r) = reg.http("PUT", &format!("{loc}?digest={}", sha(&blob)), &[], b"");
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        header(&r, "Docker-Content-Digest"),
        Some(sha(&blob).as_str())
    );
    // Range reads.
    let (s, r) = reg.http(
        "GET",
        &format!("/v2/p/q/blobs/{}", sha(&blob)),
        &[("Range", "bytes=2-5")],
        b"",
    );
    assert_eq!(s, 206);
    assert!(r.ends_with("blob"), "{r}");
    // A monolithic upload whose content is not its digest is refused, and not stored.
    let (s, r) = reg.http(
        "POST",
        &format!("/v2/p/q/blobs/uploads/?digest={}", sha(b"claimed")),
        &[],
        b"actual",
    );
    assert_eq!(s, 400);
    assert!(r.contains("DIGEST_INVALID"), "{r}");
    let (s, r) = reg.http(
        "HEAD",
        &format!("/v2/p/q/blobs/{}", sha(b"claimed")),
        &[],
        b"",
    );
    assert_eq!(s, 404, "{r}");
    let (s, r) = reg.http("GET", &format!("/v2/p/q/blobs/{}", sha(b"nope")), &[], b"");
    assert_eq!(s, 404);
    assert!(r.contains("BLOB_UNKNOWN"), "{r}");
    // Blobs are per repository until mounted.
    let (s, _) = reg.http("HEAD", &format!("/v2/other/blobs/{}", sha(&blob)), &[], b"");
    assert_eq!(s, 404);
    let (s, _) = reg.http(
        "POST",
        &format!("/v2/other/blobs/uploads/?mount={}&from=p/q", sha(&blob)),
        &[],
        b"",
    );
    assert_eq!(s, 201);
    let (s, _) = reg.http("HEAD", &format!("/v2/other/blobs/{}", sha(&blob)), &[], b"");
    assert_eq!(s, 200);
    // A manifest naming a blob the repository lacks.
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":1,"digest":"{}"}},"layers":[]}}"#,
        sha(b"missing config")
    );
    let (s, r) = reg.http(
        "PUT",
        "/v2/p/q/manifests/v1",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        m.as_bytes(),
    );
    assert_eq!(s, 400);
    assert!(r.contains("MANIFEST_BLOB_UNKNOWN"), "{r}");
    let (s, r) = reg.http("GET", "/v2/p/q/manifests/v1", &[], b"");
    assert_eq!(s, 404);
    assert!(r.contains("MANIFEST_UNKNOWN"), "{r}");
    let (s, r) = reg.http("GET", "/v2/never/tags/list", &[], b"");
    assert_eq!(s, 404);
    assert!(r.contains("NAME_UNKNOWN"), "{r}");
    let (s, r) = reg.http("GET", "/v2/Bad/Name/tags/list", &[], b"");
    assert_eq!(s, 400);
    assert!(r.contains("NAME_INVALID"), "{r}");
    // Tags, paginated.
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{}"}},"layers":[]}}"#,
        blob.len(),
        sha(&blob)
    );
    for t in ["a", "b", "c"] {
        let (s, r) = reg.http(
            "PUT",
            &format!("/v2/p/q/manifests/{t}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            m.as_bytes(),
        );
        assert_eq!(s, 201, "{r}");
    }
    let (s, r) = reg.http("GET", "/v2/p/q/tags/list?n=2", &[], b"");
    assert_eq!(s, 200);
    assert!(
        r.contains(r#""tags":["a","b"]"#) && header(&r, "Link").is_some(),
        "{r}"
    );
    let (_, r) = reg.http("GET", "/v2/p/q/tags/list?n=2&last=b", &[], b"");
    assert!(r.contains(r#""tags":["c"]"#), "{r}");
    // Delete by digest removes the manifest and its tags.
    let (_, r) = reg.http("HEAD", "/v2/p/q/manifests/a", &[], b"");
    let digest = header(&r, "Docker-Content-Digest").unwrap().to_string();
    let (s, _) = reg.http("DELETE", &format!("/v2/p/q/manifests/{digest}"), &[], b"");
    assert_eq!(s, 202);
    let (s, _) = reg.http("GET", "/v2/p/q/manifests/a", &[], b"");
    assert_eq!(s, 404);
}

#[test]
fn basic_auth_from_htpasswd() {
    let dir = std::path::PathBuf::from(format!("/tmp/bsrvauth{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output();
    let Ok(out) = out else {
        eprintln!("skipping: htpasswd (apache2-utils) not installed");
        return;
    };
    std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
    let htpasswd = dir.join("htpasswd");
    let reg = BerthRegistry::start_with(&["--htpasswd", htpasswd.to_str().unwrap()]);
    let (s, r) = reg.http("GET", "/v2/", &[], b"");
    assert_eq!(s, 401);
    assert!(
        r.contains("UNAUTHORIZED")
            && header(&r, "WWW-Authenticate").is_some_and(|h| h.starts_with("Basic")),
        "{r}"
    );
    let d = Daemon::start();
    d.make_busybox();
    let name = format!("{}/locked/bb:1", reg.addr);
    ok(d.berth(&["tag", "busybox", &name]));
    assert_ne!(code(&d.berth(&["push", &name])), 0);
    assert_ne!(
        code(&d.berth(&["login", "-u", "alice", "-p", "wrong", &reg.addr])),
        0
    );
    ok(d.berth(&["login", "-u", "alice", "-p", "s3cret", &reg.addr]));
    ok(d.berth(&["push", &name]));
    ok(d.berth(&["rmi", "-f", &name]));
    ok(d.berth(&["pull", &name]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn large_blobs_go_up_in_chunks() {
    let tar = random_rootfs_tar(40 << 20);
    let d = Daemon::start();
    let berth_reg = BerthRegistry::start();
    let dist = Registry::start();
    let mut targets = vec![berth_reg.addr.clone()];
    if let Some(r) = &dist {
        targets.push(r.addr.clone());
    }
    for addr in targets {
        let name = format!("{addr}/big/blob:1");
        let id = ok(d.berth_stdin(&["import", "-", &name], &tar));
        let out = ok(d.berth(&["push", &name]));
        assert!(
            out.contains(": Pushed") && out.contains("digest: sha256:"),
            "{out}"
        );
        ok(d.berth(&["rmi", &name]));
        ok(d.berth(&["pull", &name]));
        assert_eq!(
            ok(d.berth(&["image", "inspect", "-f", "{{.Id}}", &name])),
            id
        );
        ok(d.berth(&["rmi", &name]));
    }
}
