//! Writes that live through an outage: one attempt bounded in time, and the
//! same write again, with backoff, while the database says "not now".

use std::future::Future;
use std::time::Duration;

use crate::StoreError;

/// How long one attempt may take: a write that hangs (a half-open connection)
/// counts as an outage and is retried, never waited on for ever.
pub const ATTEMPT: Duration = Duration::from_secs(30);

/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between attempts.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// `op`, with no answer within [`ATTEMPT`] counted as the database being unavailable.
pub async fn bounded<T>(op: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    match tokio::time::timeout(ATTEMPT, op).await {
        Ok(done) => done,
        Err(_) => Err(StoreError::Unavailable(format!("no answer within {} s", ATTEMPT.as_secs()))),
    }
}

/// Runs `op` (each attempt [`bounded`]) until it succeeds, fails for another
/// reason than an outage, or `give_up_after` has passed (never, when `None`).
pub async fn through_outage<T, F, Fut>(give_up_after: Option<Duration>, op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = give_up_after.map(|d| tokio::time::Instant::now() + d);
    through_outage_while(op, |pause| deadline.is_none_or(|d| tokio::time::Instant::now() + pause < d)).await
}

/// Like [`through_outage`], for as long as `go_on(next pause)` says (a caller
/// whose write stops mattering: a link that ended). An attempt under way is
/// never cut off.
pub async fn through_outage_while<T, F, Fut>(
    mut op: F,
    mut go_on: impl FnMut(Duration) -> bool,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match bounded(op()).await {
            Err(e) if e.is_unavailable() && go_on(pause) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            done => return done,
        }
    }
}
