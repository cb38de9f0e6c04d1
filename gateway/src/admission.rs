//! Admission control: overload is shed at the door instead of queueing. Each limited kind of
//! request (decisions, upload batches) counts what is in flight, in all and per company; a
//! request over either limit is answered at once (decisions 503, uploads 429, both with
//! `Retry-After`) rather than waiting behind the others until every caller times out.
//!
//! A decision batch counts as its number of orders (at most the per-company limit, so that a
//! company with nothing else in flight can always send one): in-flight decisions, not HTTP
//! requests, are what the scorer has to work through.

use crate::auth::Authenticated;
use crate::problem::Problem;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use uuid::Uuid;

/// How long a refused client is told to wait: the work in flight drains in milliseconds, but
/// `Retry-After` counts whole seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The limits of one gateway process (settings in `src/config.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub decisions: usize,
    pub decisions_per_company: usize,
    pub uploads_per_company: usize,
}

/// What is limited, for the answer and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Decisions,
    Uploads,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Decisions => "decisions",
            Kind::Uploads => "uploads",
        }
    }
}

/// Which limit refused a request: the `limit` member of the problem and the label of
/// `aval_gateway_shed_total` (never a company id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Global { limit: usize },
    Company { limit: usize },
}

/// The in-flight counts of one kind of request.
#[derive(Debug)]
pub struct InFlight {
    kind: Kind,
    global_limit: usize,
    company_limit: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only companies with something in flight: an entry goes when its count reaches 0, so
    /// the map is never larger than the global limit.
    by_company: HashMap<Uuid, usize>,
}

/// Every limited kind of request of one gateway process.
#[derive(Debug)]
pub struct Admission {
    pub decisions: Arc<InFlight>,
    pub uploads: Arc<InFlight>,
}

impl Admission {
    pub fn new(limits: Limits) -> Self {
        Self {
            decisions: Arc::new(InFlight::new(
                Kind::Decisions,
                limits.decisions,
                limits.decisions_per_company,
            )),
            // Uploads have no global limit of their own: each batch is a few milliseconds of
            // validation, and the body limit bounds its memory.
            uploads: Arc::new(InFlight::new(
                Kind::Uploads,
                usize::MAX,
                limits.uploads_per_company,
            )),
        }
    }
}

/// A slot held while a request is served; dropping it (answered, or the client gone) frees it.
#[derive(Debug)]
pub struct Permit {
    in_flight: Arc<InFlight>,
    company: Uuid,
    weight: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.in_flight.lock();
        counts.total = counts.total.saturating_sub(self.weight);
        if let Some(count) = counts.by_company.get_mut(&self.company) {
            *count = count.saturating_sub(self.weight);
            if *count == 0 {
                counts.by_company.remove(&self.company);
            }
        }
        self.in_flight.report(&counts);
    }
}

impl InFlight {
    fn new(kind: Kind, global_limit: usize, company_limit: usize) -> Self {
        Self {
            kind,
            global_limit,
            company_limit,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, counts: &Counts) {
        metrics::gauge!("aval_gateway_in_flight", "kind" => self.kind.as_str())
            .set(counts.total as f64);
    }

    /// A slot of `weight` for `company`, or which limit is full. A weight above a limit counts
    /// as that limit: the request is admitted when nothing else holds it.
    fn admit(self: &Arc<Self>, company: Uuid, weight: usize) -> Result<Permit, Refusal> {
        let weight = weight.clamp(1, self.company_limit.min(self.global_limit).max(1));
        let mut counts = self.lock();
        let held = counts.by_company.get(&company).copied().unwrap_or(0);
        if held + weight > self.company_limit {
            return Err(Refusal::Company {
                limit: self.company_limit,
            });
        }
        if counts.total + weight > self.global_limit {
            return Err(Refusal::Global {
                limit: self.global_limit,
            });
        }
        counts.total += weight;
        *counts.by_company.entry(company).or_insert(0) += weight;
        self.report(&counts);
        Ok(Permit {
            in_flight: self.clone(),
            company,
            weight,
        })
    }

    /// Companies with something in flight (what the bookkeeping holds).
    pub fn companies(&self) -> usize {
        self.lock().by_company.len()
    }

    /// Everything in flight, by weight.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    fn refuse(&self, refusal: Refusal) -> Problem {
        let (limit_name, detail) = match (self.kind, refusal) {
            (Kind::Decisions, Refusal::Global { limit }) => (
                "decisions",
                format!(
                    "the gateway has {limit} decisions in flight, its limit (AVAL_MAX_INFLIGHT_DECISIONS); retry after {RETRY_AFTER_SECONDS} s"
                ),
            ),
            (Kind::Decisions, Refusal::Company { limit }) => (
                "decisions_per_company",
                format!(
                    "this company has {limit} decisions in flight, its limit (AVAL_MAX_INFLIGHT_DECISIONS_PER_COMPANY); retry after {RETRY_AFTER_SECONDS} s"
                ),
            ),
            (Kind::Uploads, Refusal::Global { limit } | Refusal::Company { limit }) => (
                "uploads_per_company",
                format!(
                    "this company has {limit} upload batches in flight, its limit (AVAL_MAX_INFLIGHT_UPLOADS_PER_COMPANY); retry after {RETRY_AFTER_SECONDS} s"
                ),
            ),
        };
        metrics::counter!("aval_gateway_shed_total", "limit" => limit_name).increment(1);
        match self.kind {
            Kind::Decisions => Problem::overloaded(limit_name, detail, RETRY_AFTER_SECONDS),
            Kind::Uploads => Problem::too_many_requests(limit_name, detail, RETRY_AFTER_SECONDS),
        }
    }
}

/// The company of a request the authentication layer let through.
fn company(request: &Request) -> Option<Uuid> {
    request
        .extensions()
        .get::<Authenticated>()
        .map(|auth| auth.company.id)
}

async fn run(in_flight: &Arc<InFlight>, weight: usize, request: Request, next: Next) -> Response {
    // Only routes behind `auth::authenticate` are limited; without a company there is
    // nothing to count against, and the handler's own extractor answers 401.
    let Some(company) = company(&request) else {
        return next.run(request).await;
    };
    match in_flight.admit(company, weight) {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(refusal) => in_flight.refuse(refusal).into_response(),
    }
}

/// One request, one slot.
pub async fn admit_one(
    State(in_flight): State<Arc<InFlight>>,
    request: Request,
    next: Next,
) -> Response {
    run(&in_flight, 1, request, next).await
}

#[derive(Deserialize)]
struct Orders {
    orders: Vec<IgnoredAny>,
}

/// A decision batch: as many slots as it has orders. The body is read here to count them and
/// handed on whole; a body that is not a batch counts as one and the handler refuses it.
pub async fn admit_batch(
    State(in_flight): State<Arc<InFlight>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(bytes) => bytes,
        Err(rejection) => return crate::json::unreadable(rejection).into_response(),
    };
    let weight = serde_json::from_slice::<Orders>(&bytes).map_or(1, |o| o.orders.len());
    let request = Request::from_parts(parts, Body::from(bytes));
    run(&in_flight, weight, request, next).await
}

#[cfg(test)]
mod tests;
