//! A registry that lies: wrong blobs, truncated bodies, huge manifests. Each pull must
//! fail with a clear error and leave no image, layer or blob behind; so must a daemon
//! killed in the middle of a pull.

mod common;
use common::*;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// path → (content type, body, bytes sent: fewer than the body means truncated,
/// how many more times to truncate at half before serving it whole)
type Routes = Arc<Mutex<HashMap<String, (String, Vec<u8>, usize, usize)>>>;

struct FakeRegistry {
    addr: String,
    routes: Routes,
    /// Paths whose response stops halfway and hangs until taken out of this set.
    stalled: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Whether `Range: bytes=N-` gets a 206 (else the whole blob again, with 200).
    honor_range: Arc<std::sync::atomic::AtomicBool>,
    /// The offsets of every Range request seen.
    range_requests: Arc<Mutex<Vec<usize>>>,
}

impl FakeRegistry {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let routes: Routes = Arc::default();
        let stalled: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let honor_range = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let range_requests: Arc<Mutex<Vec<usize>>> = Arc::default();
        let r = routes.clone();
        let st = stalled.clone();
        let (honor, ranges) = (honor_range.clone(), range_requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let r = r.clone();
                let st = st.clone();
                let (honor, ranges) = (honor.clone(), ranges.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 8192];
                    let n = conn.read(&mut buf).unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                    // "Range: bytes=N-", honoured when the registry is set to.
                    let from = req
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("range: bytes=")
                                .map(str::to_string)
                        })
                        .and_then(|r| r.trim().strip_suffix('-')?.parse::<usize>().ok());
                    if let Some(f) = from {
                        ranges.lock().unwrap().push(f);
                    }
                    let from = from.filter(|_| honor.load(std::sync::atomic::Ordering::SeqCst));
                    let found = {
                        let mut routes = r.lock().unwrap();
                        routes.get_mut(&path).map(|(ct, body, send, flaky)| {
                            let body = body[from.unwrap_or(0).min(body.len())..].to_vec();
                            let send = if *flaky > 0 {
                                *flaky -= 1;
                                body.len() / 2
                            } else {
                                (*send).min(body.len())
                            };
                            (ct.clone(), body, send)
                        })
                    };
                    let resp = match found {
                        Some((ct, body, send)) => {
                            let status = match from {
                                Some(f) => format!(
                                    "206 Partial Content\r\nContent-Range: bytes {f}-{}/*",
                                    f + body.len() - 1
                                ),
                                None => "200 OK".to_string(),
                            };
                            let mut head = format!(
                                "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            head.extend_from_slice(&body[..send]);
                            head
                        }
                        None if path == "/v2/" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec(),
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    };
                    if st.lock().unwrap().contains(&path) {
                        let _ = conn.write_all(&resp[..resp.len() / 2]);
                        while st.lock().unwrap().contains(&path) {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        return;
                    }
                    let _ = conn.write_all(&resp);
                });
            }
        });
        Self {
            addr,
            routes,
            stalled,
            honor_range,
            range_requests,
        }
    }

    fn route(&self, path: &str, ct: &str, body: Vec<u8>, send: usize) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), (ct.to_string(), body, send, 0));
    }

    /// Responses at `path` stop halfway and hang (`true`) or are served whole again.
    fn stall(&self, path: &str, on: bool) {
        let mut s = self.stalled.lock().unwrap();
        if on {
            s.insert(path.to_string());
        } else {
            s.remove(path);
        }
    }

    /// Truncates the response at `path` the next `times` times.
    fn flaky(&self, path: &str, times: usize) {
        if let Some(r) = self.routes.lock().unwrap().get_mut(path) {
            r.3 = times;
        }
    }

    /// An image `repo:tag` whose layer blob is `served` while the manifest names `layer`.
    fn image(
        &self,
        repo: &str,
        tag: &str,
        layer: &[u8],
        served: Vec<u8>,
        send: usize,
        diff_ids: usize,
    ) {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": vec![sha(layer); diff_ids]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": layer.len()}],
        }))
        .unwrap();
        self.route(
            &format!("/v2/{repo}/manifests/{tag}"),
            "application/vnd.oci.image.manifest.v1+json",
            manifest.clone(),
            manifest.len(),
        );
        self.route(
            &format!("/v2/{repo}/blobs/{}", sha(&config)),
            "application/octet-stream",
            config.clone(),
            config.len(),
        );
        self.route(
            &format!("/v2/{repo}/blobs/{}", sha(layer)),
            "application/octet-stream",
            served,
            send,
        );
    }
}

/// A one-file layer; `content` tells layers apart (a broken-off download of one blob is
/// kept to go on from, so scenarios use blobs of their own).
fn layer_tar_of(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "file", content).unwrap();
    b.into_inner().unwrap()
}

fn layer_tar() -> Vec<u8> {
    layer_tar_of(b"hello")
}

fn assert_nothing_stored(d: &Daemon) {
    assert_eq!(ok(d.berth(&["images", "-aq"])), "");
    let layers = std::fs::read_dir(d.dir.join("data/layers"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(layers, 0, "no layer may be published");
    let blobs = std::fs::read_dir(d.dir.join("data/content/blobs/sha256"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "no blob may be kept");
}

#[test]
fn lying_registry_leaves_nothing_behind() {
    let reg = FakeRegistry::start();
    let d = Daemon::start();
    let layer = layer_tar();

    // The layer blob is not what the manifest says.
    let mut evil = layer.clone();
    evil[600] ^= 0xff;
    reg.image("evil/swap", "1", &layer, evil.clone(), evil.len(), 1);
    let out = d.berth(&["pull", &format!("{}/evil/swap:1", reg.addr)]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("digest mismatch") || stderr(&out).contains("diff"),
        "{}",
        stderr(&out)
    );
    assert_nothing_stored(&d);

    // The blob stops halfway.
    reg.image("evil/short", "1", &layer, layer.clone(), layer.len() / 2, 1);
    let out = d.berth(&["pull", &format!("{}/evil/short:1", reg.addr)]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert_nothing_stored(&d);

    // The config lists more layers than the manifest.
    reg.image("evil/count", "1", &layer, layer.clone(), layer.len(), 2);
    let out = d.berth(&["pull", &format!("{}/evil/count:1", reg.addr)]);
    assert!(stderr(&out).contains("layers"), "{}", stderr(&out));
    assert_nothing_stored(&d);

    // A manifest far larger than any real one.
    let huge = vec![b' '; 5 << 20];
    reg.route(
        "/v2/evil/huge/manifests/1",
        "application/vnd.oci.image.manifest.v1+json",
        huge.clone(),
        huge.len(),
    );
    let out = d.berth(&["pull", &format!("{}/evil/huge:1", reg.addr)]);
    assert_ne!(code(&out), 0);
    assert_nothing_stored(&d);

    // A download that breaks off goes on from where it stopped, whether the registry
    // answers the Range request (206) or sends everything again (200).
    for honor in [false, true] {
        let layer = layer_tar_of(format!("flaky {honor}").as_bytes());
        let path = format!("/v2/flaky/img/blobs/{}", sha(&layer));
        reg.honor_range
            .store(honor, std::sync::atomic::Ordering::SeqCst);
        reg.range_requests.lock().unwrap().clear();
        reg.image("flaky/img", "1", &layer, layer.clone(), layer.len(), 1);
        reg.flaky(&path, 1);
        let out = ok(d.berth(&["pull", &format!("{}/flaky/img:1", reg.addr)]));
        assert!(
            out.contains(": Resuming download") && out.contains(": Pull complete"),
            "{out}"
        );
        assert!(!out.contains("Retrying"), "{out}");
        assert_eq!(*reg.range_requests.lock().unwrap(), vec![layer.len() / 2]);
        ok(d.berth(&["rmi", &format!("{}/flaky/img:1", reg.addr)]));
        assert_nothing_stored(&d);
    }
    // One that keeps breaking off is tried again, from the bytes it got so far.
    let layer = layer_tar_of(b"keeps breaking");
    let path = format!("/v2/flaky/img/blobs/{}", sha(&layer));
    reg.image("flaky/img", "1", &layer, layer.clone(), layer.len(), 1);
    reg.flaky(&path, 5);
    let out = ok(d.berth(&["pull", &format!("{}/flaky/img:1", reg.addr)]));
    assert!(
        out.contains(": Resuming download")
            && out.contains(": Retrying")
            && out.contains(": Pull complete"),
        "{out}"
    );
    ok(d.berth(&["rmi", &format!("{}/flaky/img:1", reg.addr)]));
    assert_nothing_stored(&d);

    // An honest one still works afterwards.
    reg.image("good/img", "1", &layer, layer.clone(), layer.len(), 1);
    ok(d.berth(&["pull", &format!("{}/good/img:1", reg.addr)]));
    assert_eq!(ok(d.berth(&["images", "-q"])).lines().count(), 1);
}

/// Every file under `dir` whose name starts with `prefix` (or every file, for "").
fn files_under(dir: &std::path::Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with(prefix) {
            out.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) && !p.ends_with("diff") {
            out.extend(files_under(&p, prefix));
        }
    }
    out
}

#[test]
fn daemon_killed_mid_pull_leaves_no_broken_image_and_the_next_pull_goes_on() {
    let reg = FakeRegistry::start();
    let mut d = Daemon::start();
    let layer = layer_tar();
    reg.image("slow/img", "1", &layer, layer.clone(), layer.len(), 1);
    let blob = format!("/v2/slow/img/blobs/{}", sha(&layer));
    reg.stall(&blob, true);
    let name = format!("{}/slow/img:1", reg.addr);
    let mut pull = std::process::Command::new(berth_bin())
        .env("BERTH_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .args(["pull", "-q", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Mid-pull: the layer is half downloaded (into its partial download) and half unpacked.
    let data = d.dir.join("data");
    let partial = data
        .join("content/ingest")
        .join(format!("{}.partial", &sha(&layer)[7..]));
    wait_until(
        "a half-done layer",
        std::time::Duration::from_secs(20),
        || {
            std::fs::metadata(&partial).is_ok_and(|m| m.len() > 0)
                && !files_under(&data.join("layers"), "tmp-").is_empty()
        },
    );
    d.kill9();
    let _ = pull.wait();
    d.restart();
    assert_nothing_stored(&d);
    assert!(files_under(&data.join("layers"), "tmp-").is_empty());
    // What had arrived is kept as a partial download of that blob...
    let kept = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) as usize;
    assert!(kept > 0 && kept < layer.len(), "{kept} of {}", layer.len());
    assert_eq!(files_under(&data.join("content/ingest"), "").len(), 1);
    // ...and the same pull, served in full, goes on from it with a Range request.
    reg.honor_range
        .store(true, std::sync::atomic::Ordering::SeqCst);
    reg.stall(&blob, false);
    let out = ok(d.berth(&["pull", &name]));
    assert!(out.contains(": Resuming download"), "{out}");
    assert_eq!(*reg.range_requests.lock().unwrap(), vec![kept]);
    assert!(files_under(&data.join("content/ingest"), "").is_empty());
    assert_eq!(ok(d.berth(&["images", "-q"])).lines().count(), 1);
}
