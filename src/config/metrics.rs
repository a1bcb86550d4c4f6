//! `[metrics]`: the opt-in Prometheus endpoint.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `127.0.0.1:9464` serves `GET /metrics` there; unset (the default) serves nothing. Only
    /// loopback addresses: the endpoint has no authentication.
    #[serde(deserialize_with = "loopback")]
    pub listen: Option<SocketAddr>,
}

fn loopback<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    let addr: SocketAddr = text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}` is not an address and port such as \"127.0.0.1:9464\""
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(serde::de::Error::custom(format!(
            "`{text}` is not a loopback address; the metrics endpoint has no authentication, so \
             it listens on 127.0.0.1 or [::1] only (scrape it through a reverse proxy or an \
             SSH tunnel)"
        )));
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[serde(default)]
        metrics: MetricsConfig,
    }

    fn parse(text: &str) -> Result<MetricsConfig, String> {
        toml::from_str::<Doc>(text)
            .map(|d| d.metrics)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn disabled_by_default_loopback_only() {
        assert_eq!(parse("").expect("empty"), MetricsConfig::default());
        assert_eq!(parse("[metrics]").expect("empty table").listen, None);
        assert_eq!(
            parse("[metrics]\nlisten = \"127.0.0.1:9464\"")
                .expect("v4")
                .listen,
            Some("127.0.0.1:9464".parse().expect("addr"))
        );
        assert!(parse("[metrics]\nlisten = \"[::1]:9464\"").is_ok());
        let err = parse("[metrics]\nlisten = \"0.0.0.0:9464\"").expect_err("wildcard");
        assert!(err.contains("listen") && err.contains("loopback"), "{err}");
        let err = parse("[metrics]\nlisten = \"localhost\"").expect_err("no port");
        assert!(err.contains("not an address"), "{err}");
        assert!(parse("[metrics]\nport = 1").is_err());
    }
}
