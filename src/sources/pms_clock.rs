//! The PMS's own clock, read from the HTTP `Date` header of the first successful response of a
//! pull. Incremental pulls ask for records changed since the last successful pass *on this
//! clock* (minus the overlap), because the PMS stamps its records with it: measured on the
//! gateway's clock instead, a PMS running behind by more than the overlap would stamp a change
//! before the next window and it would be missed until the next full pull.
//!
//! Every HTTP adapter's requests go through [`super::http::HttpClient::send`], which notes the
//! first 2xx answer's `Date` in the scope [`reading`] opens around a pull. Reading it there, not
//! in each adapter's paging loop, covers every adapter and every way of paging alike.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use reqwest::header::{DATE, HeaderMap};

tokio::task_local! {
    /// The first successful response's `Date` in the current pull: set once, `None` inside
    /// when that response had no usable `Date` (later responses do not stand in for it).
    static FIRST_DATE: Arc<OnceLock<Option<Timestamp>>>;
}

/// Runs `pull` and returns its output with the PMS's clock at its first successful response,
/// if that response carried a usable `Date` header. `None` also for sources that send no HTTP
/// request (a roster file).
pub async fn reading<T>(pull: impl Future<Output = T>) -> (T, Option<Timestamp>) {
    let first = Arc::new(OnceLock::new());
    let output = FIRST_DATE.scope(first.clone(), pull).await;
    (output, first.get().copied().flatten())
}

/// Notes the `Date` of a successful response, if it is the pull's first (outside a
/// [`reading`] scope: nothing to do).
pub(super) fn note(headers: &HeaderMap) {
    let _ = FIRST_DATE.try_with(|first| {
        first.get_or_init(|| {
            headers
                .get(DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date)
        });
    });
}

/// An HTTP date (RFC 9110 IMF-fixdate, which RFC 2822's grammar covers); `None` if unreadable.
pub fn parse_http_date(value: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::parse(value.trim())
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(date: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(d) = date {
            h.insert(DATE, d.parse().expect("header value"));
        }
        h
    }

    #[tokio::test]
    async fn the_first_successful_response_sets_the_reading() {
        let ((), at) = reading(async {
            note(&headers(Some("Sun, 06 Nov 1994 08:49:37 GMT")));
            note(&headers(Some("Sun, 06 Nov 1994 09:00:00 GMT")));
        })
        .await;
        assert_eq!(at, Some(Timestamp::from_second(784_111_777).expect("ts")));
    }

    #[tokio::test]
    async fn an_unusable_first_date_is_not_replaced_by_a_later_one() {
        for first in [None, Some("yesterday"), Some("")] {
            let ((), at) = reading(async {
                note(&headers(first));
                note(&headers(Some("Sun, 06 Nov 1994 09:00:00 GMT")));
            })
            .await;
            assert_eq!(at, None, "{first:?}");
        }
    }

    #[tokio::test]
    async fn no_request_no_reading_and_no_scope_no_effect() {
        let ((), at) = reading(async {}).await;
        assert_eq!(at, None);
        note(&headers(Some("Sun, 06 Nov 1994 08:49:37 GMT")));
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date(" Sun, 06 Nov 1994 08:49:37 GMT "),
            Some(Timestamp::from_second(784_111_777).expect("ts"))
        );
        assert_eq!(parse_http_date("1994-11-06T08:49:37Z"), None);
    }
}
