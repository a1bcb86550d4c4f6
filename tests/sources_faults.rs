//! One test per fault kind: each ends the pull as failed (an `Err`, so the pass changes nothing)
//! with a clear reason. Retry timing itself is tested as pure functions in `sources::http`.

mod common;

use std::time::Duration;

use common::tls::TestCa;

use lintel::config::secret::SecretRef;
use lintel::sources::buildium::{BuildiumConfig, BuildiumSource};
use lintel::sources::fixtures::Fault;
use lintel::sources::fixtures::buildium::{self, BuildiumServer};
use lintel::sources::http::HttpSettings;
use lintel::sources::json::{JsonSource, JsonSourceConfig};
use lintel::sources::{PullKind, Source, SourceError};

struct Setup {
    _dir: tempfile::TempDir,
    server: BuildiumServer,
    config: BuildiumConfig,
}

fn setup(tenants: usize) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secret");
    std::fs::write(&path, buildium::CLIENT_SECRET).expect("write");
    let server = BuildiumServer::start(buildium::tenants(tenants)).expect("server");
    let config = BuildiumConfig {
        page_size: 5,
        http: HttpSettings {
            retries: 2,
            retry_min: Duration::from_millis(1),
            retry_max: Duration::from_millis(10),
            timeout: Duration::from_millis(300),
            ..HttpSettings::default()
        },
        ..BuildiumConfig::new(
            "buildium",
            &server.base_url(),
            buildium::CLIENT_ID,
            SecretRef::File(path),
        )
    };
    Setup {
        _dir: dir,
        server,
        config,
    }
}

async fn pull(config: &BuildiumConfig) -> Result<lintel::sources::Pull, SourceError> {
    BuildiumSource::new(config)
        .expect("source")
        .pull(PullKind::Full)
        .await
}

fn assert_secret_absent(err: &SourceError) {
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(buildium::CLIENT_SECRET),
        "secret leaked: {text}"
    );
}

#[tokio::test]
async fn timeout() {
    let s = setup(8);
    s.server
        .common()
        .fault_always(Some(Fault::Delay(Duration::from_secs(5))));
    let err = pull(&s.config).await.expect_err("hang");
    assert!(matches!(err, SourceError::Http { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("timed out after 300ms"), "{text}");
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert_secret_absent(&err);
}

#[tokio::test]
async fn server_error() {
    let s = setup(8);
    s.server.common().fault_always(Some(Fault::Status(503)));
    let err = pull(&s.config).await.expect_err("503");
    assert!(
        matches!(err, SourceError::Status { status: 503, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("answered HTTP 503 (server error; gave up after 3 attempts)"),
        "{err}"
    );
    assert_eq!(s.server.common().requests(), 3);
    // A passing 5xx is retried away.
    s.server.common().reset();
    s.server.common().fault_on(2, Fault::Status(502));
    assert_eq!(pull(&s.config).await.expect("recovered").records.len(), 8);
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let s = setup(8);
    // Asked to come back within retry_max: retried.
    s.server.common().fault_on(
        1,
        Fault::RateLimited {
            retry_after: Some("0".into()),
        },
    );
    pull(&s.config).await.expect("retried after Retry-After: 0");
    // Asked to come back in an hour: the pull fails now, saying so.
    s.server.common().reset();
    s.server.common().fault_always(Some(Fault::RateLimited {
        retry_after: Some("3600".into()),
    }));
    let err = pull(&s.config).await.expect_err("429");
    assert!(
        matches!(err, SourceError::Status { status: 429, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("retry after 3600s, more than retry_max"),
        "{err}"
    );
    assert_eq!(s.server.common().requests(), 1);
    // Without Retry-After: retried with backoff until retries run out.
    s.server.common().reset();
    s.server
        .common()
        .fault_always(Some(Fault::RateLimited { retry_after: None }));
    let err = pull(&s.config).await.expect_err("429 forever");
    assert!(
        err.to_string()
            .contains("rate limited; gave up after 3 attempts"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_failure() {
    let s = setup(3);
    // The fixture speaks plain HTTP: a TLS client hello to it fails the handshake.
    let config = BuildiumConfig {
        base_url: s.server.base_url().replace("http://", "https://"),
        ..s.config.clone()
    };
    let err = pull(&config).await.expect_err("tls");
    assert!(matches!(err, SourceError::Http { .. }), "{err}");
    assert!(err.to_string().contains("TLS failure"), "{err}");
    assert_eq!(s.server.common().requests(), 0, "nothing reached HTTP");
    assert_secret_absent(&err);
}

/// HTTPS with a certificate from a CA made here: refused with the default settings (built-in
/// roots only), accepted once `ca_file` names the CA.
#[tokio::test]
async fn a_private_ca_is_refused_until_ca_file_names_it() {
    let s = setup(3);
    let ca = TestCa::new();
    let server = BuildiumServer::start_on(ca.listener().await, "https", buildium::tenants(3))
        .expect("TLS server");
    let config = BuildiumConfig {
        base_url: server.base_url(),
        ..s.config.clone()
    };
    assert!(config.base_url.starts_with("https://127.0.0.1:"));

    let err = pull(&config).await.expect_err("unknown CA");
    assert!(matches!(err, SourceError::Http { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("TLS failure (certificate verification is on; set ca_file for a private CA)"),
        "{text}"
    );
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    assert_eq!(server.common().requests(), 0, "nothing reached HTTP");

    let path = s._dir.path().join("ca.pem");
    ca.write_pem(&path);
    let mut trusted = config.clone();
    trusted.http.ca_file = Some(path);
    let pulled = pull(&trusted).await.expect("CA trusted");
    let plain = pull(&s.config).await.expect("plain HTTP");
    assert!(!pulled.records.is_empty());
    assert_eq!(
        pulled.records, plain.records,
        "the same pull as over plain HTTP"
    );
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_a_config_error() {
    let s = setup(3);
    let bad = s._dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").expect("write");
    let mut config = s.config.clone();
    config.http.ca_file = Some(bad);
    let err = BuildiumSource::new(&config).expect_err("bad ca");
    assert!(err.to_string().contains("ca_file"), "{err}");
}

#[tokio::test]
async fn truncated_or_invalid_json() {
    let s = setup(8);
    s.server.common().fault_on(
        2,
        Fault::RawBody(r#"[{"Id": 1006, "FirstName": "Tr"#.into()),
    );
    let err = pull(&s.config).await.expect_err("truncated");
    assert!(
        matches!(&err, SourceError::Body { reason, .. } if reason.starts_with("invalid JSON")),
        "{err}"
    );
    assert!(
        err.to_string().contains("offset=5"),
        "the error names the page: {err}"
    );

    let json = lintel::demo::pms::PmsServer::start(vec![]).expect("pms");
    json.serve_raw(Some(r#"{"residents": [{"id": "R-1", "first_"#.into()));
    let cfg = JsonSourceConfig {
        records: "residents".into(),
        ..JsonSourceConfig::new("json", json.url())
    };
    let err = JsonSource::new(&cfg)
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect_err("truncated");
    assert!(
        matches!(&err, SourceError::Body { reason, .. } if reason.starts_with("invalid JSON")),
        "{err}"
    );
}

#[tokio::test]
async fn body_over_the_size_cap() {
    let s = setup(8);
    s.server.common().fault_on(1, Fault::Oversize(200_000));
    let mut config = s.config.clone();
    config.http.max_body_bytes = 64 * 1024;
    let err = pull(&config).await.expect_err("too big");
    assert!(
        matches!(&err, SourceError::Body { reason, .. } if reason.contains("max_body_bytes (65536 bytes)")),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_field_types() {
    // A whole body of the wrong shape fails the pull...
    let json = lintel::demo::pms::PmsServer::start(vec![]).expect("pms");
    json.serve_raw(Some(r#"{"residents": {"id": "R-1"}}"#.into()));
    let cfg = JsonSourceConfig {
        records: "residents".into(),
        ..JsonSourceConfig::new("json", json.url())
    };
    let err = JsonSource::new(&cfg)
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect_err("object");
    assert!(
        err.to_string()
            .contains("holds an object, expected an array"),
        "{err}"
    );
    // ...while one record of the wrong shape is skipped with its reason.
    let s = setup(4);
    s.server
        .update(1002, |t| t["LastName"] = serde_json::json!(42));
    let pull = pull(&s.config).await.expect("pull");
    assert_eq!(pull.records.len(), 3);
    assert_eq!(pull.skipped[0].external_id.as_deref(), Some("1002"));
    assert_eq!(
        pull.skipped[0].reason,
        "LastName: expected a string, found a number"
    );
}

#[tokio::test]
async fn a_missing_page_in_the_middle() {
    let s = setup(20);
    s.server.common().fault_on(2, Fault::ShortPage(0));
    let err = pull(&s.config).await.expect_err("empty page");
    assert!(err.to_string().contains("a page is missing"), "{err}");
    s.server.common().reset();
    s.server.common().fault_on(3, Fault::Status(404));
    let err = pull(&s.config).await.expect_err("404 page");
    assert!(
        matches!(err, SourceError::Status { status: 404, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused() {
    let s = setup(3);
    let url = s.server.base_url();
    drop(s.server);
    // Let the listener close.
    let config = BuildiumConfig {
        base_url: url,
        ..s.config.clone()
    };
    let mut last = None;
    for _ in 0..50 {
        match pull(&config).await {
            Err(e @ SourceError::Http { .. }) => {
                last = Some(e);
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }
    let err = last.expect("connection refused");
    assert!(
        err.to_string().contains("gave up after 3 attempts"),
        "{err}"
    );
}
