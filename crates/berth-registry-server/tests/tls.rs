//! HTTPS between berth's registry client and `berth registry serve`, in one process:
//! certificates checked against the CAs in a certs.d dir, refused when unknown or for
//! another name, skipped for insecure registries, plain HTTP as the fallback, and client
//! certificates.

use berth_registry::auth::Credentials;
use berth_registry::client::{Client, Settings};
use berth_registry::tls::ServerFiles;
use berth_registry_server::{serve, ServeOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A certificate for `names` signed by `ca`, written as `<dir>/<stem>.<ext>` and `.key`.
fn issue(
    ca: &Ca,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    dir: &Path,
    stem: &str,
    ext: &str,
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let c = dir.join(format!("{stem}.{ext}"));
    let k = dir.join(format!("{stem}.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn leak(p: PathBuf) -> &'static Path {
    Box::leak(p.into_boxed_path())
}

/// Starts `berth registry serve` on this test's runtime; it ends with the test.
async fn start(root: PathBuf, tls: Option<ServerFiles<'static>>) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: &'static str = Box::leak(format!("127.0.0.1:{port}").into_boxed_str());
    let root = leak(root);
    tokio::spawn(async move {
        serve(ServeOptions {
            addr,
            root,
            htpasswd: None,
            tls,
        })
        .await
    });
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return addr.to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("registry on {addr} did not start");
}

fn creds() -> Credentials {
    Credentials {
        username: "u".into(),
        password: "p".into(),
    }
}

/// A client that checks loopback registries' certificates as it does remote ones'.
fn strict(certs_dir: &Path, insecure: Vec<String>) -> Client {
    Client::with_settings(Settings {
        insecure,
        certs_dir: certs_dir.to_path_buf(),
        loopback_insecure: false,
        ..Settings::default()
    })
}

struct Tls {
    dir: tempfile::TempDir,
    ca: Ca,
    addr: String,
}

async fn tls_registry(names: &[&str], client_ca: bool) -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("berth test CA");
    let server = dir.path().join("server");
    let (cert, key) = issue(
        &ca,
        names,
        ExtendedKeyUsagePurpose::ServerAuth,
        &server,
        "server",
        "crt",
    );
    let ca_file = server.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let files = ServerFiles {
        cert: leak(cert),
        key: leak(key),
        client_ca: client_ca.then(|| leak(ca_file)),
    };
    let addr = start(dir.path().join("root"), Some(files)).await;
    Tls { dir, ca, addr }
}

impl Tls {
    /// A certs.d dir holding this registry's CA as `<host:port>/ca.crt`.
    fn certs_dir_with_ca(&self) -> PathBuf {
        let d = self.dir.path().join("certs.d");
        std::fs::create_dir_all(d.join(&self.addr)).unwrap();
        std::fs::write(d.join(&self.addr).join("ca.crt"), self.ca.cert.pem()).unwrap();
        d
    }

    fn empty_certs_dir(&self) -> PathBuf {
        self.dir.path().join("empty-certs.d")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_checked_against_the_ca_in_certs_dir() {
    let r = tls_registry(&["localhost", "127.0.0.1"], false).await;
    let client = strict(&r.certs_dir_with_ca(), vec![]);
    let s = client.session(&r.addr, "a/b", None).await.unwrap();
    assert_eq!(s.base(), format!("https://{}", r.addr));
    client.login(&r.addr, creds()).await.unwrap();
    let resp = s
        .request(
            http::Method::GET,
            "/v2/_catalog",
            &[],
            berth_registry::client::empty(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_and_wrong_name_are_refused() {
    let r = tls_registry(&["localhost", "127.0.0.1"], false).await;
    let err = strict(&r.empty_certs_dir(), vec![])
        .login(&r.addr, creds())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(err.contains(&format!("https://{}/v2/", r.addr)), "{err}");

    let other = tls_registry(&["registry.example"], false).await;
    let err = strict(&other.certs_dir_with_ca(), vec![])
        .login(&other.addr, creds())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid for name"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_registry_skips_the_check_and_falls_back_to_http() {
    let r = tls_registry(&["registry.example"], false).await;
    let client = strict(&r.empty_certs_dir(), vec![r.addr.clone()]);
    let s = client.session(&r.addr, "a/b", None).await.unwrap();
    assert_eq!(s.base(), format!("https://{}", r.addr));
    client.login(&r.addr, creds()).await.unwrap();

    let plain = start(r.dir.path().join("plain"), None).await;
    let client = strict(&r.empty_certs_dir(), vec!["127.0.0.0/8".into()]);
    let s = client.session(&plain, "a/b", None).await.unwrap();
    assert_eq!(s.base(), format!("http://{plain}"));
    client.login(&plain, creds()).await.unwrap();
    // Not insecure: HTTPS only, and a plain HTTP server is an error, not a fallback.
    let err = strict(&r.empty_certs_dir(), vec![])
        .login(&plain, creds())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("https://{plain}/v2/")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_from_certs_dir() {
    let r = tls_registry(&["127.0.0.1"], true).await;
    let certs = r.certs_dir_with_ca();
    assert!(strict(&certs, vec![])
        .login(&r.addr, creds())
        .await
        .is_err());
    issue(
        &r.ca,
        &["client"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &certs.join(&r.addr),
        "client",
        "cert",
    );
    strict(&certs, vec![])
        .login(&r.addr, creds())
        .await
        .unwrap();
}
