//! Records the git commit the binary is built from, for the `quire_build_info` metric; and
//! compiles the PostgreSQL integration tests as ignored, with the reason, when no server is
//! named for them (`cargo test` then reports them as ignored, never as passed); the same for
//! the NATS and RabbitMQ tests, and the webhook test that verifies signatures with the
//! reference implementation (`QUIRE_TEST_STANDARDWEBHOOKS`, a python3 that has it), and the
//! tokens' check by an independent JWT library (`QUIRE_TEST_PYJWT`, a python3 with PyJWT and
//! cryptography), and the
//! edge cache's test behind a real Varnish (`QUIRE_TEST_VARNISHD`, its `varnishd`), and the
//! shared cache's tests on a real Redis (`QUIRE_TEST_REDIS_URL`), and the import of the
//! corpus of real posts in the shared samples folder (`QUIRE_TEST_SAMPLES`), and OpenID
//! Connect sign-in against a real provider run by Node.js (`QUIRE_TEST_OIDC_NODE`, the `node`
//! to run `tests/oidc/provider.mjs` with, after `npm ci` there).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(quire_test_postgres)");
    println!("cargo:rerun-if-env-changed=QUIRE_TEST_POSTGRES_URL");
    if std::env::var("QUIRE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=quire_test_postgres");
    }
    // The same for the brokers' tests.
    for (var, cfg) in [
        ("QUIRE_TEST_NATS_URL", "quire_test_nats"),
        ("QUIRE_TEST_AMQP_URL", "quire_test_amqp"),
        ("QUIRE_TEST_STANDARDWEBHOOKS", "quire_test_standardwebhooks"),
        ("QUIRE_TEST_PYJWT", "quire_test_pyjwt"),
        ("QUIRE_TEST_VARNISHD", "quire_test_varnish"),
        ("QUIRE_TEST_REDIS_URL", "quire_test_redis"),
        ("QUIRE_TEST_SAMPLES", "quire_test_samples"),
        ("QUIRE_TEST_OIDC_NODE", "quire_test_oidc"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo:rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|url| !url.is_empty()) {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!(
        "cargo:rerun-if-changed={}",
        root.join(".git/HEAD").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join(".git/refs").display()
    );
    println!("cargo:rerun-if-env-changed=QUIRE_BUILD_COMMIT");
    // An image build has no .git: the commit comes in as a build argument.
    let given = std::env::var("QUIRE_BUILD_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty());
    let commit = given
        .or_else(|| {
            std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(&root)
                .output()
                .ok()
                .filter(|output| output.status.success())
                .and_then(|output| String::from_utf8(output.stdout).ok())
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=QUIRE_GIT_COMMIT={commit}");
}
