//! Records that change nothing, told apart while the listing is read. A no-change pass at 100k
//! residents held every record (about 34 MB) next to every person only to find each record
//! equal to its person; a settled record is kept as its external id alone (docs/BENCHMARKS.md).
//!
//! The pass opens a [`settling`] scope around its pull, as [`super::pms_clock::reading`] does,
//! and [`super::Pull::push_resident`] asks it about each record. A source that reads on another
//! thread (a roster file) or must revisit its records (Entrata's best lease per customer) keeps
//! them whole: settling saves memory and decides nothing, so either way the pass is the same.

use std::future::Future;
use std::sync::Arc;

use super::SourceRecord;

/// Whether a record is already applied exactly as it stands.
pub trait Settles: Send + Sync {
    fn settles(&self, record: &SourceRecord) -> bool;
}

tokio::task_local! {
    static SETTLES: Arc<dyn Settles>;
}

/// Runs `pull` with `judge` telling which of its records are settled.
pub async fn settling<T>(judge: Arc<dyn Settles>, pull: impl Future<Output = T>) -> T {
    SETTLES.scope(judge, pull).await
}

/// Whether the current pull's scope takes `record` as settled; false outside a scope.
pub(super) fn settled(record: &SourceRecord) -> bool {
    SETTLES
        .try_with(|judge| judge.settles(record))
        .unwrap_or(false)
}
