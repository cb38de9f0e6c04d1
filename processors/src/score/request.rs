//! A batch of decision requests through the processor's three phases. `prepare` checks each
//! record (token claims, Avro, ids) and validates its order, asks the database for the whole
//! batch at once (token access; customers' stored facts, when not in memory), then decides on
//! every core; `apply` records the decisions in one statement — where an order was decided
//! before, that first decision is the answer, marked as a repeat, or a conflict when the
//! request carries other content under that order id — and dead-letters refused records; `announce` produces every reply, decision record and audit event and
//! awaits their acknowledgements together.

use super::Scorer;
use super::audit::{AuditMark, decision_event};
use super::cache::{CacheError, Chosen};
use crate::DeadLetters;
use crate::authorize::{Authorization, channel, dead_letter_event, judge, sender};
use crate::consumer::Processor;
use crate::failure::Failure;
use aval_core::FieldErrors;
use aval_core::decision::{Decision, decide, score};
use aval_core::experiment::Arm;
use aval_core::features::CustomerFacts;
use aval_core::fingerprint::{Fingerprint, order_fingerprint};
use aval_core::ingest::OrderToDecide;
use aval_core::ingest::items::Order;
use aval_core::policy::PolicyInForce;
use aval_core::reasons::Language;
use aval_store::experiments::NewArmScore;
use aval_store::facts::{FirstDecision, NewDecision, Recorded};
use aval_topics::records::{
    DecisionContext, DecisionItemsWire, DecisionRecord, DecisionReplyRecord, DecisionRequestRecord,
    FieldErrorWire, REPLY_INSTANCE_HEADER, REPLY_PARTITION_HEADER, ReplyStatusWire,
};
use aval_topics::{Fault, TopicRole, keys};
use chrono::{DateTime, Utc};
use rdkafka::Message;
use rdkafka::message::{Headers, OwnedMessage};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

const MAX_REQUEST_ID_CHARS: usize = 100;
/// Below this many decisions a batch is decided on the consuming task: handing work to other
/// threads costs more than it saves.
const PARALLEL_FROM: usize = 16;

#[derive(Debug)]
pub(crate) enum ScoreWork {
    Reply(Box<Outgoing>),
    DeadLetter(String),
}

/// What goes out for one request.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    reply: DecisionReplyRecord,
    route: ReplyRoute,
    company: Uuid,
    /// Decisions with the active model are recorded for idempotency, with the fingerprint of
    /// the order decided (`Some`); a test of a named version is not the order's decision.
    record: Option<ToRecord>,
    /// The other versions of the company's experiment, to score the order once the reply is
    /// on its way; `None` when there are none, or the order was decided before.
    beside: Option<Arc<Beside>>,
    /// What the request's audit event needs besides the reply.
    mark: AuditMark,
}

/// What is recorded of a decision beside its record: the order's fingerprint, and its
/// customer, which the decision record does not carry and the list of decisions filters by.
#[derive(Debug, Clone)]
struct ToRecord {
    fingerprint: Fingerprint,
    customer_id: String,
    drift_values: Vec<f64>,
}

/// An order decided, and the versions that score it beside its decision.
#[derive(Debug)]
pub(crate) struct Beside {
    versions: Vec<Chosen>,
    policy: Option<Arc<PolicyInForce>>,
    order: Order,
    facts: Arc<CustomerFacts>,
}

impl Outgoing {
    fn status(checked: &Checked, status: ReplyStatusWire, message: Option<String>) -> Self {
        Self {
            reply: DecisionReplyRecord {
                request_id: checked.request.request_id.clone(),
                company_id: checked.request.company_id.clone(),
                status,
                decision: None,
                errors: Vec::new(),
                message,
            },
            route: checked.route.clone(),
            company: checked.company,
            record: None,
            beside: None,
            mark: AuditMark {
                at: Utc::now(),
                ..checked.mark.clone()
            },
        }
    }

    fn decided(checked: &Checked, decision: DecisionRecord, record: Option<ToRecord>) -> Self {
        let mut out = Self::status(checked, ReplyStatusWire::Decided, None);
        if let Some(at) = DateTime::from_timestamp_millis(decision.decided_at) {
            out.mark.at = at;
        }
        out.reply.decision = Some(decision);
        out.record = record;
        out
    }
}

/// A record whose token claims, Avro and ids check out, waiting for the batch's database
/// answers (is the token still good? was the order decided before? what is stored?).
#[derive(Debug)]
struct Checked {
    request: RequestHead,
    company: Uuid,
    jti: Uuid,
    route: ReplyRoute,
    mark: AuditMark,
}

/// What the reply and the decision record need of a request, its items taken out to be
/// checked.
#[derive(Debug)]
struct RequestHead {
    request_id: String,
    company_id: String,
    model_version: Option<i32>,
    language: String,
    requested_at: i64,
}

/// The order and the facts given with it, or the field errors.
type Valid = Result<OrderToDecide, FieldErrors>;

/// The answer to a request for an order decided before, built on `out`: that first decision,
/// marked as a repeat, when the request carries the same order; a conflict naming it when it
/// carries other content (amount, customer, dates, terms...) under the same order id, so the
/// requester learns that its order was not decided, rather than taking the first decision for
/// it. Nothing of it is recorded.
fn answer_with_first(
    mut out: Outgoing,
    first: &FirstDecision,
    fingerprint: &Fingerprint,
) -> Outgoing {
    out.record = None;
    let beside = out.beside.take();
    let mut decision = match serde_json::from_value::<DecisionRecord>(first.decision.clone()) {
        Ok(decision) => decision,
        Err(e) => {
            out.reply.status = ReplyStatusWire::Failed;
            out.reply.decision = None;
            out.reply.message = Some(format!("the recorded decision cannot be read: {e}"));
            return out;
        }
    };
    // The same request delivered again (a scorer died between recording and committing) is
    // answered, and audited, as the decision it made, not as a repeat of it.
    decision.repeat = decision.request_id != out.reply.request_id;
    if first.is_same_order(fingerprint) {
        out.reply.status = ReplyStatusWire::Decided;
        out.reply.message = None;
        // Its versions beside may not have scored it before the scorer died.
        if !decision.repeat {
            out.beside = beside;
        }
    } else {
        let decided_at = DateTime::from_timestamp_millis(decision.decided_at)
            .map_or_else(String::new, |at| {
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            });
        out.reply.status = ReplyStatusWire::Conflict;
        out.reply.message = Some(format!(
            "order {} was decided before with other content (request {}, {decided_at}: {}); \
             a repeat must carry the same order, and a new order needs a new id",
            decision.order_id,
            decision.request_id,
            decision.decision.as_str()
        ));
    }
    out.reply.decision = Some(decision);
    out
}

/// A request ready for the model.
struct ToDecide {
    slot: usize,
    checked: Checked,
    chosen: Chosen,
    arms: Arms,
    policy: Option<Arc<PolicyInForce>>,
    order: Order,
    facts: Arc<CustomerFacts>,
}

/// Which arm of the experiment decides an order, and the versions that score it beside.
#[derive(Debug, Default)]
struct Arms {
    /// `None` for a test of a named version.
    arm: Option<Arm>,
    beside: Vec<Chosen>,
}

/// Where a request's reply goes, as its headers say: the gateway instance waiting for it
/// (copied onto the reply) and the partition of the replies topic that instance reads.
#[derive(Debug, Clone, Default)]
struct ReplyRoute {
    instance: Option<Vec<u8>>,
    partition: Option<i32>,
}

impl ReplyRoute {
    /// A partition the replies topic does not have (anyone producing requests sets the
    /// header) is ignored: the reply is then keyed by request id, and a bad header can never
    /// fail the batch.
    fn of(message: &impl Message, reply_partitions: i32) -> Self {
        let header = |name: &str| {
            message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value.map(<[u8]>::to_vec))
            })
        };
        let partition = header(REPLY_PARTITION_HEADER)
            .and_then(|value| std::str::from_utf8(&value).ok()?.parse::<i32>().ok())
            .filter(|partition| (0..reply_partitions).contains(partition));
        Self {
            instance: header(REPLY_INSTANCE_HEADER),
            partition,
        }
    }
}

fn micros(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_micros()).unwrap_or(i64::MAX)
}

/// Facts given in the request replace the stored ones of their kind, for this decision.
fn with_given(stored: &Arc<CustomerFacts>, given: CustomerFacts) -> Arc<CustomerFacts> {
    if given.customer.is_none() && given.credit_limits.is_empty() && given.bureau_reports.is_empty()
    {
        return stored.clone();
    }
    Arc::new(CustomerFacts {
        customer: given.customer.or_else(|| stored.customer.clone()),
        credit_limits: if given.credit_limits.is_empty() {
            stored.credit_limits.clone()
        } else {
            given.credit_limits
        },
        bureau_reports: if given.bureau_reports.is_empty() {
            stored.bureau_reports.clone()
        } else {
            given.bureau_reports
        },
        orders: stored.orders.clone(),
    })
}

/// Decides every request, on as many threads as there are cores when the batch is large.
async fn decide_all(items: Vec<ToDecide>) -> Result<Vec<(ToDecide, Decision)>, Failure> {
    let run = |items: Vec<ToDecide>| -> Vec<(ToDecide, Decision)> {
        items
            .into_iter()
            .map(|item| {
                let language = Language::from_tag(&item.checked.request.language);
                let decision = decide(
                    &item.chosen.model,
                    item.policy.as_deref(),
                    &item.order,
                    &item.facts,
                    language,
                );
                (item, decision)
            })
            .collect()
    };
    let cores = aval_core::model::cores();
    if items.len() < PARALLEL_FROM || cores < 2 {
        return Ok(run(items));
    }
    let per_thread = items.len().div_ceil(cores);
    let mut items = items.into_iter();
    let mut handles = Vec::with_capacity(cores);
    loop {
        let chunk: Vec<ToDecide> = items.by_ref().take(per_thread).collect();
        if chunk.is_empty() {
            break;
        }
        handles.push(tokio::task::spawn_blocking(move || run(chunk)));
    }
    let mut decided = Vec::new();
    for handle in handles {
        decided.extend(handle.await?);
    }
    Ok(decided)
}

impl Scorer {
    /// The record-level checks, then its items'; `Ok(Err(reason))` dead-letters the record.
    async fn check(
        &self,
        message: &OwnedMessage,
    ) -> Result<Result<(Checked, Valid), String>, Failure> {
        let config = &self.config;
        let (company, jti) = match sender(message, &config.tokens) {
            Ok(sender) => sender,
            Err(reason) => return Ok(Err(reason)),
        };
        let Some(payload) = message.payload() else {
            return Ok(Err("the record has no value".to_owned()));
        };
        let request = match config.codec.decode::<DecisionRequestRecord>(payload).await {
            Ok(request) => request,
            Err(e) if e.fault() == Fault::Sender => return Ok(Err(format!("undecodable: {e}"))),
            Err(e) => return Err(e.into()),
        };
        if request.company_id != company.to_string() {
            return Ok(Err("company_id is not the token's company".to_owned()));
        }
        if !keys::is_company_key(message.key(), &request.company_id) {
            return Ok(Err(
                "the record key must be the company_id, or the company_id, ':' and the customer_id"
                    .to_owned(),
            ));
        }
        if request.request_id.is_empty()
            || request.request_id.chars().count() > MAX_REQUEST_ID_CHARS
        {
            return Ok(Err(format!(
                "request_id must be 1 to {MAX_REQUEST_ID_CHARS} characters"
            )));
        }
        let DecisionRequestRecord {
            request_id,
            company_id,
            order,
            customer,
            credit_limit,
            bureau_report,
            model_version,
            language,
            requested_at,
        } = request;
        let mark = AuditMark {
            event_id: AuditMark::event_id(message),
            channel: channel(message),
            order_id: order.id.clone(),
            customer_id: order.customer_id.clone(),
            version_requested: model_version.is_some(),
            at: Utc::now(),
        };
        let items = DecisionItemsWire {
            order,
            customer,
            credit_limit,
            bureau_report,
        };
        let checked = Checked {
            request: RequestHead {
                request_id,
                company_id,
                model_version,
                language,
                requested_at,
            },
            company,
            jti,
            route: ReplyRoute::of(
                message,
                config
                    .catalogue
                    .topic(TopicRole::DecisionReplies)
                    .partitions,
            ),
            mark,
        };
        Ok(Ok((checked, items.checked(Utc::now()))))
    }

    /// Every valid request's customer's stored facts: from the cache, else read per company
    /// in one round trip (all companies at once) and cached.
    async fn stored_facts(
        &self,
        checked: &[(usize, Checked, Valid)],
    ) -> Result<HashMap<(Uuid, String), Arc<CustomerFacts>>, Failure> {
        let mut all = HashMap::new();
        let mut wanted: HashMap<Uuid, HashSet<&str>> = HashMap::new();
        for (_, c, valid) in checked {
            if let Ok(OrderToDecide { order, .. }) = valid {
                let key = (c.company, order.customer_id.clone());
                if all.contains_key(&key) {
                    continue;
                }
                match self.facts.get(c.company, &order.customer_id) {
                    Some(facts) => {
                        all.insert(key, facts);
                    }
                    None => {
                        wanted
                            .entry(c.company)
                            .or_default()
                            .insert(&order.customer_id);
                    }
                }
            }
        }
        let reads = wanted.into_iter().map(|(company, customers)| async move {
            let generation = self.facts.generation(company);
            let customers: Vec<String> = customers.into_iter().map(str::to_owned).collect();
            let facts = self
                .config
                .store
                .customers_facts(company, &customers)
                .await?;
            Ok::<_, aval_store::StoreError>((company, generation, facts))
        });
        for (company, generation, facts) in futures::future::try_join_all(reads).await? {
            for (customer, facts) in facts {
                let facts = Arc::new(facts);
                self.facts
                    .put(company, customer.clone(), facts.clone(), generation);
                all.insert((company, customer), facts);
            }
        }
        Ok(all)
    }

    /// The company's policy in force (kept in memory until a `policy.changed` event).
    async fn policy_for(&self, company: Uuid) -> Result<Option<Arc<PolicyInForce>>, Failure> {
        let store = &self.config.store;
        Ok(self
            .policies
            .get(company, store.policy_in_force(company))
            .await?)
    }

    /// The version that decides the order and its arm, and the versions that score it
    /// beside, by the company's experiment (kept in memory until an `experiment.changed`
    /// event). A version that cannot be loaded is our bug or corruption: logged, and left out
    /// (the champion decides in a challenger's stead).
    async fn arms(
        &self,
        company: Uuid,
        customer: &str,
        champion: Chosen,
    ) -> Result<(Chosen, Arms), Failure> {
        let store = &self.config.store;
        let experiment = self
            .experiments
            .get(company, store.experiment_in_force(company))
            .await?;
        let Some(experiment) = experiment else {
            let arms = Arms {
                arm: Some(Arm::Champion),
                beside: Vec::new(),
            };
            return Ok((champion, arms));
        };
        let (version, arm) = experiment.serving(company, customer, champion.version);
        let (serving, arm) = if arm == Arm::Challenger
            && let Some(challenger) = self.version_of(company, version).await?
        {
            (challenger, arm)
        } else {
            (champion.clone(), Arm::Champion)
        };
        let mut beside = Vec::new();
        for version in experiment.scoring_beside(champion.version, serving.version, Utc::now()) {
            if version == champion.version {
                beside.push(champion.clone());
            } else if let Some(chosen) = self.version_of(company, version).await? {
                beside.push(chosen);
            }
        }
        let arms = Arms {
            arm: Some(arm),
            beside,
        };
        Ok((serving, arms))
    }

    /// A version of the company's experiment; `None`, logged, when it cannot be used.
    async fn version_of(&self, company: Uuid, version: i32) -> Result<Option<Chosen>, Failure> {
        match self.cache.model(company, Some(version)).await {
            Ok(Some(chosen)) => Ok(Some(chosen)),
            Ok(None) => {
                tracing::error!(%company, version, "the experiment names a version the company does not have");
                Ok(None)
            }
            Err(CacheError::Store(e)) => Err(e.into()),
            Err(e @ CacheError::Artifact { .. }) => {
                tracing::error!(%company, version, error = %e, "an experiment's version is unusable");
                Ok(None)
            }
        }
    }

    /// The model for the request, or the reply that says why there is none.
    async fn model_for(&self, checked: &Checked) -> Result<Result<Chosen, Outgoing>, Failure> {
        let requested = checked.request.model_version;
        match self.cache.model(checked.company, requested).await {
            Ok(Some(chosen)) => Ok(Ok(chosen)),
            Ok(None) => {
                let message = match requested {
                    Some(version) => format!("the company has no model version {version}"),
                    None => "the company has no active model yet: upload a dataset and let it train, or activate a version".to_owned(),
                };
                Ok(Err(Outgoing::status(
                    checked,
                    ReplyStatusWire::NoModel,
                    Some(message),
                )))
            }
            Err(CacheError::Store(e)) => Err(e.into()),
            Err(e @ CacheError::Artifact { .. }) => {
                tracing::error!(company = %checked.company, error = %e, "model unusable");
                Ok(Err(Outgoing::status(
                    checked,
                    ReplyStatusWire::Failed,
                    Some(e.to_string()),
                )))
            }
        }
    }
}

impl Scorer {
    /// Dead-letters a refused request and tells its company, when its token names one.
    async fn refuse(&self, message: &OwnedMessage, reason: &str) -> Result<(), Failure> {
        self.config.dead_letters.send(message, reason).await?;
        self.dead_lettered(message, reason).await
    }
}

impl Processor for Scorer {
    const NAME: &'static str = "score";
    /// Replies, decisions and audit events are independent records, each keyed and ordered
    /// within its batch. Waiting for one batch's acknowledgements (1.3-1.7 ms on average in
    /// `scripts/bench-decisions`) before applying the next put that wait on every following
    /// decision's path. Under a Kafka outage, a batch whose announcement is retried may
    /// publish after the batch behind it. `apply` is safe to run beside another batch's (a
    /// batch settled record by record applies again): every scorer's inserts already meet.
    const OVERLAPPING_ANNOUNCE: bool = true;
    type Work = Vec<ScoreWork>;
    type Announcement = Vec<Outgoing>;

    fn dead_letters(&self) -> &DeadLetters {
        &self.config.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<ScoreWork>, Failure> {
        let started = Instant::now();
        let store = &self.config.store;
        let mut work: Vec<Option<ScoreWork>> = Vec::with_capacity(messages.len());
        let mut checked: Vec<(usize, Checked, Valid)> = Vec::new();
        for (slot, message) in messages.iter().enumerate() {
            match self.check(message).await? {
                Ok((c, valid)) => {
                    checked.push((slot, c, valid));
                    work.push(None);
                }
                Err(reason) => work.push(Some(ScoreWork::DeadLetter(reason))),
            }
        }

        // One round trip for the batch: whether each token still stands, and the stored
        // facts (from memory, mostly). Facts are read before the token is known to stand,
        // and dropped with the request when it does not. Orders decided before are found
        // when the batch is recorded (the first decision wins there), not asked for here:
        // repeats are rare, and this saves a statement per batch.
        let tokens: Vec<(Uuid, Uuid)> = checked
            .iter()
            .map(|(_, c, _)| (c.company, c.jti))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let facts_started = Instant::now();
        let (access, stored) = tokio::try_join!(
            async { Ok::<_, Failure>(store.accesses(&tokens).await?) },
            self.stored_facts(&checked),
        )?;
        let facts_us = micros(facts_started);

        let mut to_decide = Vec::new();
        let mut without_model: Vec<(usize, Checked, Order, Outgoing)> = Vec::new();
        for (slot, c, valid) in checked {
            let access = access
                .get(&(c.company, c.jti))
                .cloned()
                .unwrap_or(aval_store::companies::Access::UnknownCompany);
            if let Authorization::Refused(reason) = judge(access) {
                work[slot] = Some(ScoreWork::DeadLetter(reason));
                continue;
            }
            let OrderToDecide { order, given } = match valid {
                Ok(valid) => valid,
                Err(errors) => {
                    let mut out = Outgoing::status(
                        &c,
                        ReplyStatusWire::Invalid,
                        Some("the order is invalid".to_owned()),
                    );
                    out.reply.errors = FieldErrorWire::all(&errors);
                    work[slot] = Some(ScoreWork::Reply(Box::new(out)));
                    continue;
                }
            };
            let chosen = match self.model_for(&c).await? {
                Ok(chosen) => chosen,
                Err(out) if c.request.model_version.is_none() => {
                    without_model.push((slot, c, order, out));
                    continue;
                }
                Err(out) => {
                    work[slot] = Some(ScoreWork::Reply(Box::new(out)));
                    continue;
                }
            };
            let stored = stored
                .get(&(c.company, order.customer_id.clone()))
                .cloned()
                .unwrap_or_default();
            let policy = self.policy_for(c.company).await?;
            let (chosen, arms) = if c.request.model_version.is_none() {
                self.arms(c.company, &order.customer_id, chosen).await?
            } else {
                (chosen, Arms::default())
            };
            to_decide.push(ToDecide {
                slot,
                checked: c,
                chosen,
                arms,
                policy,
                order,
                facts: with_given(&stored, given),
            });
        }

        // An order decided before is answered with its first decision (or the conflict with
        // it) even when the company has no active model now.
        if !without_model.is_empty() {
            let orders: Vec<(Uuid, String)> = without_model
                .iter()
                .map(|(_, c, order, _)| (c.company, order.id.clone()))
                .collect();
            let firsts = store.first_decisions(&orders).await?;
            for (slot, c, order, out) in without_model {
                let first = firsts
                    .get(&(c.company, order.id.clone()))
                    .map(|first| (first, order_fingerprint(&order)));
                let reply = match first {
                    Some((first, fingerprint)) => answer_with_first(
                        Outgoing::status(&c, ReplyStatusWire::Decided, None),
                        first,
                        &fingerprint,
                    ),
                    None => out,
                };
                work[slot] = Some(ScoreWork::Reply(Box::new(reply)));
            }
        }

        for (item, mut decision) in decide_all(to_decide).await? {
            let c = &item.checked;
            let decided_at = Utc::now();
            let drift_values = std::mem::take(&mut decision.drift_values);
            let mut decision = DecisionRecord::new(
                DecisionContext {
                    request_id: c.request.request_id.clone(),
                    company_id: c.request.company_id.clone(),
                    order_id: item.order.id.clone(),
                    model_version: item.chosen.version,
                    decided_at,
                    arm: item.arms.arm,
                },
                decision,
            );
            let timings_us = &mut decision.timings_us;
            timings_us.insert("stored_facts".to_owned(), facts_us);
            timings_us.insert("scorer".to_owned(), micros(started));
            timings_us.insert(
                "since_request".to_owned(),
                decided_at
                    .timestamp_millis()
                    .saturating_sub(c.request.requested_at)
                    .saturating_mul(1_000),
            );
            let record = c.request.model_version.is_none().then(|| ToRecord {
                fingerprint: order_fingerprint(&item.order),
                customer_id: item.order.customer_id.clone(),
                drift_values,
            });
            let mut out = Outgoing::decided(c, decision, record);
            if !item.arms.beside.is_empty() {
                out.beside = Some(Arc::new(Beside {
                    versions: item.arms.beside,
                    policy: item.policy,
                    order: item.order,
                    facts: item.facts,
                }));
            }
            work[item.slot] = Some(ScoreWork::Reply(Box::new(out)));
        }
        work.into_iter()
            .map(|w| w.ok_or_else(|| Failure::Defect("a request was left undecided".to_owned())))
            .collect()
    }

    async fn apply(
        &self,
        messages: &[OwnedMessage],
        work: &Vec<ScoreWork>,
    ) -> Result<Vec<Outgoing>, Failure> {
        let config = &self.config;
        let dead_letters =
            futures::future::try_join_all(work.iter().zip(messages).filter_map(|(w, message)| {
                match w {
                    ScoreWork::DeadLetter(reason) => Some(self.refuse(message, reason)),
                    ScoreWork::Reply(_) => None,
                }
            }));
        let mut replies: Vec<Outgoing> = work
            .iter()
            .filter_map(|w| match w {
                ScoreWork::Reply(out) => Some((**out).clone()),
                ScoreWork::DeadLetter(_) => None,
            })
            .collect();
        let to_record: Vec<(usize, ToRecord, String)> = replies
            .iter()
            .enumerate()
            .filter_map(|(i, out)| {
                let record = out.record.clone()?;
                out.reply.decision.as_ref().map(|d| (i, record, d))
            })
            .map(|(i, record, d)| Ok((i, record, serde_json::to_string(d)?)))
            .collect::<Result<_, serde_json::Error>>()?;
        let new: Vec<NewDecision<'_>> = to_record
            .iter()
            .filter_map(|(i, record, json)| {
                let decision = replies[*i].reply.decision.as_ref()?;
                Some(NewDecision {
                    company_id: replies[*i].company,
                    order_id: decision.order_id.as_str(),
                    request_id: decision.request_id.as_str(),
                    decision: json,
                    decided_at: DateTime::from_timestamp_millis(decision.decided_at)
                        .unwrap_or_else(Utc::now),
                    order_fingerprint: &record.fingerprint,
                    customer_id: &record.customer_id,
                    outcome: decision.decision.as_str(),
                    probability: decision.probability,
                    threshold: decision.threshold,
                    model_version: decision.model_version,
                    arm: decision.arm.unwrap_or(Arm::Champion),
                    drift_values: &record.drift_values,
                })
            })
            .collect();
        let (_, recorded) = tokio::try_join!(dead_letters, async {
            Ok::<_, Failure>(config.store.record_decisions(&new).await?)
        },)?;
        // A concurrent or earlier request for the same order got there first: its decision is
        // the order's, returned as a repeat, or as the conflict when the content differs.
        let earlier: Vec<(usize, Fingerprint, FirstDecision)> = to_record
            .iter()
            .zip(recorded)
            .filter_map(|((i, record, _), recorded)| match recorded {
                Recorded::Repeat(first) => Some((*i, record.fingerprint, first)),
                Recorded::First => None,
            })
            .collect();
        for (i, fingerprint, first) in earlier {
            replies[i] = answer_with_first(replies[i].clone(), &first, &fingerprint);
        }
        for out in &replies {
            metrics::counter!("aval_decisions_total", "status" => format!("{:?}", out.reply.status))
                .increment(1);
        }
        Ok(replies)
    }

    async fn dead_lettered(&self, message: &OwnedMessage, reason: &str) -> Result<(), Failure> {
        let config = &self.config;
        if let Some(event) = dead_letter_event(message, &config.tokens, Self::NAME, reason) {
            config
                .publisher
                .publish_audit(&config.catalogue, &event)
                .await?;
        }
        Ok(())
    }

    async fn announce(&self, outs: &Vec<Outgoing>) -> Result<(), Failure> {
        let config = &self.config;
        let replies_topic = config.catalogue.topic(TopicRole::DecisionReplies);
        let decisions_topic = config.catalogue.topic(TopicRole::Decisions);
        // A conflict carries the first decision to name it; it is no decision of its own.
        let decisions: Vec<(&Outgoing, &DecisionRecord)> = outs
            .iter()
            .filter(|out| out.reply.status == ReplyStatusWire::Decided)
            .filter_map(|out| out.reply.decision.as_ref().map(|d| (out, d)))
            .collect();
        let own_topics = self.company_topics(&decisions).await?;
        let replies = outs.iter().map(|out| async move {
            let headers: Vec<(&str, &[u8])> = out
                .route
                .instance
                .as_deref()
                .map(|instance| vec![(REPLY_INSTANCE_HEADER, instance)])
                .unwrap_or_default();
            let (publisher, key) = (&config.publisher, &out.reply.request_id);
            match out.route.partition {
                Some(partition) => {
                    publisher
                        .publish_to_partition(replies_topic, partition, key, &out.reply, &headers)
                        .await
                }
                None => {
                    publisher
                        .publish(replies_topic, key, &out.reply, &headers)
                        .await
                }
            }
            .map_err(Failure::from)
        });
        let decisions = decisions.iter().map(|&(out, decision)| {
            let own = own_topics.get(&out.company);
            async move {
                // Encoded once: the company's copy is the same bytes, under the shared
                // topic's schema id.
                let payload = config.codec.encode(decisions_topic, decision).await?;
                let key = out.company.to_string();
                let publisher = &config.publisher;
                let shared = publisher.publish_raw(
                    &decisions_topic.name,
                    Some(key.as_bytes()),
                    &payload,
                    &[],
                );
                let Some(own) = own else {
                    shared.await?;
                    return Ok(());
                };
                let (shared, own) = tokio::join!(
                    shared,
                    publisher.publish_raw(own, Some(key.as_bytes()), &payload, &[])
                );
                shared?;
                own.map_err(|e| self.own_topic_failed(out.company, e))?;
                Ok::<_, Failure>(())
            }
        });
        // Every answer is audited; an event that cannot be produced fails the batch as an
        // outage, retried (the event ids are fixed, so a retry stores each once).
        let audits = outs.iter().map(|out| async move {
            config
                .publisher
                .publish_audit(
                    &config.catalogue,
                    &decision_event(out.company, &out.mark, &out.reply),
                )
                .await
                .map_err(Failure::from)
        });
        // Every record of the batch is in flight at once; the batch waits for the last
        // acknowledgement, not for their sum. The versions beside are polled last, once every
        // record is handed to the producer, and score on the blocking pool while the
        // acknowledgements come back.
        futures::future::try_join4(
            futures::future::try_join_all(replies),
            futures::future::try_join_all(decisions),
            futures::future::try_join_all(audits),
            self.score_beside(outs),
        )
        .await?;
        Ok(())
    }
}

impl Scorer {
    /// Scores each order decided with the other versions of its company's experiment, and
    /// records what they made of it: never returned, so off the reply path. A batch delivered
    /// again keeps the scores recorded the first time.
    async fn score_beside(&self, outs: &[Outgoing]) -> Result<(), Failure> {
        let work: Vec<(Uuid, String, Arc<Beside>)> = outs
            .iter()
            .filter(|out| out.reply.status == ReplyStatusWire::Decided)
            .filter_map(|out| {
                let decision = out.reply.decision.as_ref()?;
                Some((out.company, decision.order_id.clone(), out.beside.clone()?))
            })
            .collect();
        if work.is_empty() {
            return Ok(());
        }
        let scored = tokio::task::spawn_blocking(move || {
            let mut scored = Vec::new();
            for (company, order_id, beside) in work {
                for version in &beside.versions {
                    let (probability, verdict) = score(
                        &version.model,
                        beside.policy.as_deref(),
                        &beside.order,
                        &beside.facts,
                    );
                    scored.push((
                        company,
                        order_id.clone(),
                        version.version,
                        probability,
                        verdict,
                    ));
                }
            }
            scored
        })
        .await?;
        let scored_at = Utc::now();
        let rows: Vec<NewArmScore<'_>> = scored
            .iter()
            .map(
                |(company_id, order_id, model_version, probability, verdict)| NewArmScore {
                    company_id: *company_id,
                    order_id,
                    model_version: *model_version,
                    probability: *probability,
                    verdict: *verdict,
                    scored_at,
                },
            )
            .collect();
        self.config.store.record_arm_scores(&rows).await?;
        metrics::counter!("aval_arm_scores_total").increment(rows.len() as u64);
        Ok(())
    }
}

impl Scorer {
    /// Each deciding company's own decisions topic, ensured (created once per company per
    /// process); none when decisions go to the shared topic alone. A topic that cannot be
    /// created fails the batch as an outage, retried, so no decision misses it.
    async fn company_topics(
        &self,
        decisions: &[(&Outgoing, &DecisionRecord)],
    ) -> Result<HashMap<Uuid, Arc<str>>, Failure> {
        let Some(topics) = &self.company_topics else {
            return Ok(HashMap::new());
        };
        let companies: HashSet<Uuid> = decisions.iter().map(|(out, _)| out.company).collect();
        let names =
            futures::future::try_join_all(companies.into_iter().map(|company| async move {
                Ok::<_, Failure>((company, topics.ensure(company).await?))
            }))
            .await?;
        Ok(names.into_iter().collect())
    }

    /// A record the company's own topic refused; when the broker no longer knows the topic
    /// (deleted since it was ensured), the retry creates it again.
    fn own_topic_failed(&self, company: Uuid, error: aval_topics::TopicsError) -> Failure {
        if let aval_topics::TopicsError::Kafka(e) = &error
            && matches!(
                e.rdkafka_error_code(),
                Some(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
                        | rdkafka::types::RDKafkaErrorCode::UnknownTopic
                )
            )
            && let Some(topics) = &self.company_topics
        {
            topics.forget(company);
        }
        error.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};

    fn request_with(headers: &[(&str, &str)]) -> OwnedMessage {
        let mut owned = OwnedHeaders::new();
        for (key, value) in headers {
            owned = owned.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        OwnedMessage::new(
            None,
            None,
            "requests".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(owned),
        )
    }

    #[test]
    fn the_reply_goes_to_the_partition_the_request_names() {
        let route = ReplyRoute::of(
            &request_with(&[
                (REPLY_INSTANCE_HEADER, "gw-1"),
                (REPLY_PARTITION_HEADER, "5"),
            ]),
            6,
        );
        assert_eq!(route.instance.as_deref(), Some(b"gw-1".as_slice()));
        assert_eq!(route.partition, Some(5));
    }

    #[test]
    fn a_partition_the_replies_topic_lacks_is_ignored() {
        for bad in ["6", "-1", "x", "", "99999999999"] {
            let route = ReplyRoute::of(&request_with(&[(REPLY_PARTITION_HEADER, bad)]), 6);
            assert_eq!(route.partition, None, "{bad:?}");
        }
        assert_eq!(ReplyRoute::of(&request_with(&[]), 6).partition, None);
    }

    fn answered(request_id: &str) -> Outgoing {
        Outgoing {
            reply: DecisionReplyRecord {
                request_id: request_id.into(),
                company_id: Uuid::nil().to_string(),
                status: ReplyStatusWire::Decided,
                decision: None,
                errors: Vec::new(),
                message: None,
            },
            route: ReplyRoute {
                instance: None,
                partition: None,
            },
            company: Uuid::nil(),
            record: None,
            beside: None,
            mark: AuditMark {
                event_id: Uuid::nil(),
                channel: "kafka",
                order_id: "o-1".into(),
                customer_id: "c-1".into(),
                version_requested: false,
                at: chrono::Utc::now(),
            },
        }
    }

    fn first_decided_by(request_id: &str) -> FirstDecision {
        let decision = DecisionRecord {
            request_id: request_id.into(),
            company_id: Uuid::nil().to_string(),
            order_id: "o-1".into(),
            decision: aval_topics::records::DecisionOutcomeWire::Approved,
            probability: 0.2,
            threshold: 0.5,
            model_version: 1,
            reasons: Vec::new(),
            max_approvable_amount_cents: None,
            repeat: false,
            decided_at: 1_764_000_000_000,
            timings_us: std::collections::HashMap::new(),
            policy: None,
            arm: Some(Arm::Champion),
        };
        FirstDecision {
            decision: serde_json::to_value(decision).expect("json"),
            order_fingerprint: None,
        }
    }

    #[test]
    fn another_request_for_a_decided_order_is_a_repeat() {
        let out = answer_with_first(answered("r-2"), &first_decided_by("r-1"), &[0; 32]);
        let decision = out.reply.decision.expect("decision");
        assert!(decision.repeat);
        assert_eq!(decision.request_id, "r-1");
    }

    #[test]
    fn the_same_request_delivered_again_is_its_own_decision_not_a_repeat() {
        let out = answer_with_first(answered("r-1"), &first_decided_by("r-1"), &[0; 32]);
        assert_eq!(out.reply.status, ReplyStatusWire::Decided);
        assert!(!out.reply.decision.expect("decision").repeat);
    }
}
