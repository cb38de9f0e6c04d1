//! Publishes each company's audit chain head to the compacted `audit-heads` topic: a copy held
//! outside the database, against which a truncated or rewritten tail shows. A company's head
//! goes out at most once per interval; a head still pending is published by the ticker within
//! about an interval, and every pending head at shutdown.

use aval_core::audit::ChainHead;
use aval_topics::records::AuditHeadRecord;
use aval_topics::{Catalogue, Publisher, TopicRole, TopicsError};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The heads waiting to go out, and when each company's last one did.
#[derive(Debug, Default)]
struct State {
    pending: HashMap<Uuid, ChainHead>,
    published: HashMap<Uuid, Instant>,
}

#[derive(Debug)]
pub(crate) struct HeadPublisher {
    publisher: Publisher,
    catalogue: Arc<Catalogue>,
    interval: Duration,
    state: Mutex<State>,
}

impl HeadPublisher {
    pub(crate) fn new(publisher: Publisher, catalogue: Arc<Catalogue>, interval: Duration) -> Self {
        Self {
            publisher,
            catalogue,
            interval,
            state: Mutex::default(),
        }
    }

    /// Notes the new heads of the chains that grew (a later head replaces a pending one), then
    /// publishes those due.
    pub(crate) async fn grew(&self, heads: &[(Uuid, ChainHead)]) -> Result<(), TopicsError> {
        {
            let mut state = self.lock();
            for &(company, head) in heads {
                state.pending.insert(company, head);
            }
        }
        self.publish(false).await
    }

    /// Publishes the pending heads whose company published none within the interval, or every
    /// pending head when `all`. A head that cannot be published stays pending.
    pub(crate) async fn publish(&self, all: bool) -> Result<(), TopicsError> {
        let now = Instant::now();
        let due: Vec<(Uuid, ChainHead)> = {
            let mut state = self.lock();
            let State { pending, published } = &mut *state;
            let due: Vec<Uuid> = pending
                .keys()
                .filter(|company| {
                    all || published
                        .get(company)
                        .is_none_or(|at| now.duration_since(*at) >= self.interval)
                })
                .copied()
                .collect();
            due.into_iter()
                .filter_map(|company| pending.remove(&company).map(|head| (company, head)))
                .collect()
        };
        let sent = due.iter().map(|&(company, head)| async move {
            let result = self.send(company, head).await;
            (company, head, result)
        });
        let mut failure = None;
        for (company, head, result) in futures::future::join_all(sent).await {
            let mut state = self.lock();
            match result {
                Ok(()) => {
                    state.published.insert(company, now);
                }
                Err(e) => {
                    // Unless a newer head arrived meanwhile, this one is still the one to send.
                    state.pending.entry(company).or_insert(head);
                    failure = Some(e);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Publishes due heads every tenth of the interval until `stop`, then every pending head.
    pub(crate) async fn tick(&self, stop: CancellationToken) {
        let period = (self.interval / 10).max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.publish(false).await {
                tracing::warn!(error = %e, "cannot publish audit chain heads; retried next tick");
            }
        }
        if let Err(e) = self.publish(true).await {
            tracing::error!(error = %e, "cannot publish the pending audit chain heads at shutdown");
        }
    }

    async fn send(&self, company: Uuid, head: ChainHead) -> Result<(), TopicsError> {
        let key = company.to_string();
        let record = AuditHeadRecord {
            company_id: key.clone(),
            seq: head.seq,
            hash: hex(&head.hash),
            published_at: Utc::now().timestamp_millis(),
        };
        self.publisher
            .publish(
                self.catalogue.topic(TopicRole::AuditHeads),
                &key,
                &record,
                &[],
            )
            .await?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a pair of maps updated in single statements: a panic elsewhere cannot
        // leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// 64 lowercase hex digits.
pub(crate) fn hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write;
    hash.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_64_lowercase_digits() {
        let mut hash = [0u8; 32];
        hash[0] = 0xAB;
        hash[31] = 0x0f;
        let text = super::hex(&hash);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("ab00"));
        assert!(text.ends_with("000f"));
    }
}
