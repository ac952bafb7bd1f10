//! HTTPS by quire itself: a client trusting a test CA connects over HTTP/1.1 and HTTP/2
//! (curl, with OpenSSL: an implementation other than quire's) and over gRPC (tonic with
//! rustls); a renewed certificate is served without a restart; HSTS rides on TLS only; every
//! response carries the security headers, and HTML pages their own Content Security Policy.

use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

use quire_grpc::pb::post_service_client::PostServiceClient;
use quire_proto::v1 as pb;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::helpers::{Engine, TestApp, TestEnv};

/// A certificate authority of the test's own.
struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `localhost` and 127.0.0.1, written with its key into `dir`.
    fn issue_into(&self, dir: &Path) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        // Written aside and renamed, as a renewal tool does, so no reader sees half a file.
        std::fs::write(dir.join("key.pem.new"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("cert.pem.new"), cert.pem()).unwrap();
        std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
        std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, &self.pem).unwrap();
    }
}

/// What curl answers for `GET path` over HTTPS, trusting `ca`: the HTTP version, status and
/// headers, or curl's complaint when the connection is refused (an untrusted certificate).
async fn curl(
    app: &TestApp,
    ca: &Path,
    http2: bool,
    path: &str,
) -> Result<(String, String), String> {
    let port = app.address.port();
    // Run beside the test's runtime, which also serves the app.
    let output = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "--max-time", "10"])
        .args(["-w", "version=%{http_version}"])
        .arg(if http2 { "--http2" } else { "--http1.1" })
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .await
        .expect("curl runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).unwrap();
    let (headers, version) = text.rsplit_once("version=").unwrap();
    Ok((version.trim().to_owned(), headers.to_ascii_lowercase()))
}

async fn grpc_over_tls(app: &TestApp, ca: &str) -> Result<(), String> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://127.0.0.1:{}", app.address.port()))
        .unwrap()
        .tls_config(tls)
        .map_err(|error| error.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|error| format!("{error:?}"))?;
    PostServiceClient::new(channel)
        .list_posts(pb::ListPostsRequest::default())
        .await
        .map(|_| ())
        .map_err(|status| format!("{status:?}"))
}

#[tokio::test]
async fn https_serves_http1_http2_and_grpc_and_takes_a_renewed_certificate() {
    let certificates = tempfile::tempdir().unwrap();
    let dir = certificates.path();
    let first = TestCa::new("quire test CA one");
    first.issue_into(dir);
    first.write(&dir.join("ca-one.pem"));

    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.tls.cert_file = Some(dir.join("cert.pem"));
    config.tls.key_file = Some(dir.join("key.pem"));
    config.tls.reload_secs = 1;
    let app = TestApp::spawn_with(config, env).await;

    for http2 in [false, true] {
        let (version, headers) = curl(&app, &dir.join("ca-one.pem"), http2, "/api/tags")
            .await
            .expect("HTTPS connects");
        assert_eq!(version, if http2 { "2" } else { "1.1" });
        assert!(headers.contains(" 200"), "{headers}");
        assert!(
            headers.contains("strict-transport-security: max-age=31536000; includesubdomains"),
            "{headers}"
        );
        assert!(
            headers.contains("x-content-type-options: nosniff"),
            "{headers}"
        );
    }
    grpc_over_tls(&app, &first.pem)
        .await
        .expect("gRPC over TLS");

    // A client that does not trust the CA is refused, on both.
    let stranger = TestCa::new("someone else");
    stranger.write(&dir.join("ca-stranger.pem"));
    assert!(
        curl(&app, &dir.join("ca-stranger.pem"), true, "/api/tags")
            .await
            .is_err()
    );
    assert!(grpc_over_tls(&app, &stranger.pem).await.is_err());
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/api/tags", app.address.port()))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // The certificate is renewed by another CA: new connections get it, no restart.
    let second = TestCa::new("quire test CA two");
    second.write(&dir.join("ca-two.pem"));
    // File times have a resolution; a renewal in the same instant as the first write must
    // still look new.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    second.issue_into(dir);
    let mut renewed = false;
    for _ in 0..50 {
        if curl(&app, &dir.join("ca-two.pem"), true, "/api/tags")
            .await
            .is_ok()
        {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        renewed,
        "the renewed certificate is served within ten seconds"
    );
    assert!(
        curl(&app, &dir.join("ca-one.pem"), true, "/api/tags")
            .await
            .is_err()
    );
    grpc_over_tls(&app, &second.pem)
        .await
        .expect("gRPC over TLS, renewed");

    // A broken renewal (a key that is not the certificate's) keeps the last good one.
    std::fs::write(
        dir.join("key.pem"),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        curl(&app, &dir.join("ca-two.pem"), false, "/api/tags")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_certificate_that_cannot_serve_stops_the_start() {
    let certificates = tempfile::tempdir().unwrap();
    let dir = certificates.path();
    TestCa::new("quire test CA").issue_into(dir);
    std::fs::write(
        dir.join("key.pem"),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.tls.cert_file = Some(dir.join("cert.pem"));
    config.tls.key_file = Some(dir.join("key.pem"));
    let error = quire_server::Application::build(config.clone())
        .await
        .err()
        .expect("a mismatched key is refused");
    assert!(
        format!("{error:#}").contains("does not serve the certificate"),
        "{error:#}"
    );
    config.tls.cert_file = Some(dir.join("missing.pem"));
    let error = quire_server::Application::build(config)
        .await
        .err()
        .unwrap();
    assert!(format!("{error:#}").contains("missing.pem"), "{error:#}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_pages_their_own_policy() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    for path in ["/api/tags", "/api/v1/posts", "/api/nowhere", "/readyz"] {
        let reply = app.get(path, None).await;
        let headers = &reply.headers;
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP: {path}"
        );
    }
    for page in ["/api/v1/docs/", "/graphql"] {
        let response = app
            .client
            .get(app.url(page))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{page}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{page}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{page}: {policy}");
        }
        assert!(policy.contains("default-src 'self'"), "{page}: {policy}");
        assert!(!policy.contains("unsafe-eval"), "{page}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{page}");
    }
}
