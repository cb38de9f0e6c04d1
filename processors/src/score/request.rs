//! One decision request through the processor's three phases: `prepare` authenticates,
//! validates and decides (reads only); `apply` records the first decision per order (or finds
//! it); `announce` produces the reply and the decision record.

use super::Scorer;
use super::cache::CacheError;
use super::decide::decide;
use super::validate::validate;
use crate::authorize::{Authorization, authorize};
use crate::consumer::{Handler, Transient};
use aval_core::features::CustomerFacts;
use aval_core::reasons::Language;
use aval_store::facts::Recorded;
use aval_topics::records::{
    DecisionRecord, DecisionReplyRecord, DecisionRequestRecord, FieldErrorWire,
    REPLY_INSTANCE_HEADER, ReplyStatusWire,
};
use aval_topics::{Fault, TopicRole};
use chrono::{DateTime, Utc};
use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers, OwnedMessage};
use std::time::Instant;
use uuid::Uuid;

const MAX_REQUEST_ID_CHARS: usize = 100;

#[derive(Debug)]
pub(crate) enum ScoreWork {
    Reply(Box<Outgoing>),
    DeadLetter(String),
}

/// What goes out for one request.
#[derive(Debug)]
pub(crate) struct Outgoing {
    reply: DecisionReplyRecord,
    /// The gateway instance waiting for the reply, copied from the request.
    instance: Option<Vec<u8>>,
    company: Uuid,
    /// Decisions with the active model are recorded for idempotency; a test of a named
    /// version is not the order's decision.
    record: bool,
}

impl Outgoing {
    fn status(
        request: &DecisionRequestRecord,
        company: Uuid,
        instance: Option<Vec<u8>>,
        status: ReplyStatusWire,
        message: String,
    ) -> Self {
        Self {
            reply: DecisionReplyRecord {
                request_id: request.request_id.clone(),
                company_id: request.company_id.clone(),
                status,
                decision: None,
                errors: Vec::new(),
                message: Some(message),
            },
            instance,
            company,
            record: false,
        }
    }
}

fn reply_instance(message: &impl Message) -> Option<Vec<u8>> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == REPLY_INSTANCE_HEADER)
            .and_then(|h| h.value.map(<[u8]>::to_vec))
    })
}

impl Scorer {
    async fn decide_request(
        &self,
        request: &DecisionRequestRecord,
        company: Uuid,
        instance: Option<Vec<u8>>,
        started: Instant,
    ) -> Result<Outgoing, Transient> {
        let now = Utc::now();
        let (order, given) = match validate(request, now) {
            Ok(valid) => valid,
            Err(errors) => {
                let mut out = Outgoing::status(
                    request,
                    company,
                    instance,
                    ReplyStatusWire::Invalid,
                    "the order is invalid".to_owned(),
                );
                out.reply.errors = FieldErrorWire::all(&errors);
                return Ok(out);
            }
        };
        if request.model_version.is_none()
            && let Some(first) = self.config.store.decision(company, &order.id).await?
        {
            return Ok(match serde_json::from_value::<DecisionRecord>(first) {
                Ok(mut decision) => {
                    decision.repeat = true;
                    let mut out = Outgoing::status(
                        request,
                        company,
                        instance,
                        ReplyStatusWire::Decided,
                        String::new(),
                    );
                    out.reply.message = None;
                    out.reply.decision = Some(decision);
                    out
                }
                Err(e) => Outgoing::status(
                    request,
                    company,
                    instance,
                    ReplyStatusWire::Failed,
                    format!("the recorded decision cannot be read: {e}"),
                ),
            });
        }
        let chosen = match self.cache.model(company, request.model_version).await {
            Ok(Some(chosen)) => chosen,
            Ok(None) => {
                let message = match request.model_version {
                    Some(version) => format!("the company has no model version {version}"),
                    None => "the company has no active model yet: upload a dataset and let it train, or activate a version".to_owned(),
                };
                return Ok(Outgoing::status(
                    request,
                    company,
                    instance,
                    ReplyStatusWire::NoModel,
                    message,
                ));
            }
            Err(CacheError::Store(e)) => return Err(e.into()),
            Err(e @ CacheError::Artifact { .. }) => {
                tracing::error!(%company, error = %e, "model unusable");
                return Ok(Outgoing::status(
                    request,
                    company,
                    instance,
                    ReplyStatusWire::Failed,
                    e.to_string(),
                ));
            }
        };
        let facts_started = Instant::now();
        let stored = self
            .config
            .store
            .customer_facts(company, &order.customer_id)
            .await?;
        let facts_us = i64::try_from(facts_started.elapsed().as_micros()).unwrap_or(i64::MAX);
        // Facts given in the request replace the stored ones of their kind, for this decision.
        let facts = CustomerFacts {
            customer: given.customer.or(stored.customer),
            credit_limits: if given.credit_limits.is_empty() {
                stored.credit_limits
            } else {
                given.credit_limits
            },
            bureau_reports: if given.bureau_reports.is_empty() {
                stored.bureau_reports
            } else {
                given.bureau_reports
            },
            orders: stored.orders,
        };
        let language = Language::from_tag(&request.language);
        let verdict = decide(&chosen.model, &order, &facts, language);
        let mut timings_us = verdict.timings_us;
        timings_us.insert("stored_facts".to_owned(), facts_us);
        timings_us.insert(
            "scorer".to_owned(),
            i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        );
        let decided_at = Utc::now().timestamp_millis();
        timings_us.insert(
            "since_request".to_owned(),
            decided_at
                .saturating_sub(request.requested_at)
                .saturating_mul(1_000),
        );
        let decision = DecisionRecord {
            request_id: request.request_id.clone(),
            company_id: request.company_id.clone(),
            order_id: order.id.clone(),
            decision: verdict.decision,
            probability: verdict.probability,
            threshold: verdict.threshold,
            model_version: chosen.version,
            reasons: verdict.reasons,
            max_approvable_amount_cents: verdict.max_approvable_amount_cents,
            repeat: false,
            decided_at,
            timings_us,
        };
        let mut out = Outgoing::status(
            request,
            company,
            instance,
            ReplyStatusWire::Decided,
            String::new(),
        );
        out.reply.message = None;
        out.reply.decision = Some(decision);
        out.record = request.model_version.is_none();
        Ok(out)
    }
}

impl Handler for Scorer {
    type Work = ScoreWork;
    type Announcement = Option<Outgoing>;

    async fn prepare(&self, message: &BorrowedMessage<'_>) -> Result<ScoreWork, Transient> {
        let started = Instant::now();
        let dead = |reason: &str| Ok(ScoreWork::DeadLetter(reason.to_owned()));
        let config = &self.config;
        let company = match authorize(message, &config.tokens, &config.store).await? {
            Authorization::Company(company) => company,
            Authorization::Refused(reason) => return dead(&reason),
        };
        let Some(payload) = message.payload() else {
            return dead("the record has no value");
        };
        let request = match config.codec.decode::<DecisionRequestRecord>(payload).await {
            Ok(request) => request,
            Err(e) if e.fault() == Fault::Sender => return dead(&format!("undecodable: {e}")),
            Err(e) => return Err(e.into()),
        };
        if request.company_id != company.to_string() {
            return dead("company_id is not the token's company");
        }
        if message.key() != Some(request.company_id.as_bytes()) {
            return dead("the record key must be the company_id");
        }
        if request.request_id.is_empty()
            || request.request_id.chars().count() > MAX_REQUEST_ID_CHARS
        {
            return dead(&format!(
                "request_id must be 1 to {MAX_REQUEST_ID_CHARS} characters"
            ));
        }
        let out = self
            .decide_request(&request, company, reply_instance(message), started)
            .await?;
        Ok(ScoreWork::Reply(Box::new(out)))
    }

    async fn apply(
        &self,
        message: &OwnedMessage,
        work: &ScoreWork,
    ) -> Result<Option<Outgoing>, Transient> {
        let out = match work {
            ScoreWork::DeadLetter(reason) => {
                self.config
                    .dead_letters
                    .send(message, reason)
                    .await
                    .map_err(|e| Transient(format!("cannot dead-letter: {e}")))?;
                return Ok(None);
            }
            ScoreWork::Reply(out) => out,
        };
        let mut reply = out.reply.clone();
        if out.record
            && let Some(decision) = &mut reply.decision
        {
            let json = serde_json::to_value(&*decision).map_err(|e| Transient(e.to_string()))?;
            let at = DateTime::from_timestamp_millis(decision.decided_at).unwrap_or_else(Utc::now);
            // A concurrent or earlier request for the same order got there first: its
            // decision is the order's, returned as a repeat.
            if let Recorded::Repeat(first) = self
                .config
                .store
                .record_decision(
                    out.company,
                    &decision.order_id,
                    &decision.request_id,
                    &json,
                    at,
                )
                .await?
                && let Ok(mut first) = serde_json::from_value::<DecisionRecord>(first)
            {
                first.repeat = true;
                *decision = first;
            }
        }
        metrics::counter!("aval_decisions_total", "status" => format!("{:?}", reply.status))
            .increment(1);
        Ok(Some(Outgoing {
            reply,
            instance: out.instance.clone(),
            company: out.company,
            record: out.record,
        }))
    }

    async fn announce(&self, out: &Option<Outgoing>) -> Result<(), Transient> {
        let Some(out) = out else { return Ok(()) };
        let config = &self.config;
        let headers: Vec<(&str, &[u8])> = out
            .instance
            .as_deref()
            .map(|instance| vec![(REPLY_INSTANCE_HEADER, instance)])
            .unwrap_or_default();
        let reply = config.publisher.publish(
            config.catalogue.topic(TopicRole::DecisionReplies),
            &out.reply.request_id,
            &out.reply,
            &headers,
        );
        // The reply and the decision go out together: awaiting one acknowledgement after the
        // other doubled the time each record holds the (one at a time) announce phase.
        let company = out.company.to_string();
        let decision = async {
            if let Some(decision) = &out.reply.decision {
                config
                    .publisher
                    .publish(
                        config.catalogue.topic(TopicRole::Decisions),
                        &company,
                        decision,
                        &[],
                    )
                    .await?;
            }
            Ok::<_, aval_topics::TopicsError>(())
        };
        tokio::try_join!(reply, decision)?;
        Ok(())
    }
}
