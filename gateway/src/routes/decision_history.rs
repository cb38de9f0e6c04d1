//! The company's recorded decisions, for an analyst: `GET /v1/decisions` (a page, newest first,
//! filtered), `GET /v1/decisions/{request_id}` (one, whole) and `GET /v1/decisions/export`
//! (all of a time range, streamed as CSV or JSON lines). Read from the database the scorer
//! records decisions in; outside the decision admission limit, which guards the scorer.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::decisions::{DecisionView, recorded_view};
use crate::routes::openapi::{examples, params, responses};
use crate::routes::query::{id_param, range, refuse_unknown};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_store::decisions::{DecisionFilter, DecisionSummary, Position, Snapshot};
use aval_topics::records::DecisionRecord;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;
/// The export hands the body this much at a time: few wake-ups, little memory.
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// Chunks queued between the database reader and the client: what a slow client holds back.
const EXPORT_CHUNKS_AHEAD: usize = 4;

/// A recorded decision as listed and exported; `GET /v1/decisions/{request_id}` has the rest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DecisionSummary)]
pub(crate) struct SummaryView {
    #[schema(examples("5a0c3c5e-8a3e-4b8e-9d0e-3f1b7c2a9d41"))]
    request_id: String,
    #[schema(examples("A-1"))]
    order_id: String,
    /// The order's customer; null for decisions recorded before the customer was.
    #[schema(required = true, examples("C000001"))]
    customer_id: Option<String>,
    #[schema(pattern = "^(approved|rejected)$")]
    decision: String,
    /// The model's probability that the order should be blocked.
    #[schema(minimum = 0, maximum = 1)]
    probability: f64,
    /// A probability at or above it rejects the order.
    #[schema(minimum = 0, maximum = 1)]
    threshold: f64,
    #[schema(minimum = 1)]
    model_version: i32,
    decided_at: DateTime<Utc>,
}

impl From<DecisionSummary> for SummaryView {
    fn from(d: DecisionSummary) -> Self {
        Self {
            request_id: d.request_id,
            order_id: d.order_id,
            customer_id: d.customer_id,
            decision: d.outcome,
            probability: d.probability,
            threshold: d.threshold,
            model_version: d.model_version,
            decided_at: d.decided_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DecisionPage {
    /// Newest first.
    decisions: Vec<SummaryView>,
    /// Pass as `cursor`, with the same filters, for the next (older) page. Absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]+$")]
    next_cursor: Option<String>,
}

/// Where the next page starts, and the snapshot of the first page's statement: the pages of one
/// listing show exactly the decisions that first statement saw. Opaque to the client: hex of
/// `<decided_at µs>\n<pg_snapshot>\n<order_id>`.
#[derive(Debug, PartialEq)]
struct Cursor {
    position: Position,
    snapshot: Snapshot,
}

impl Cursor {
    fn encode(&self) -> String {
        hex::encode(format!(
            "{}\n{}\n{}",
            self.position.decided_at.timestamp_micros(),
            self.snapshot.as_str(),
            self.position.order_id
        ))
    }

    fn decode(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, '\n');
        let micros: i64 = parts.next()?.parse().ok()?;
        let snapshot = Snapshot::parse(parts.next()?)?;
        let order_id = parts.next()?.to_owned();
        Some(Self {
            position: Position {
                decided_at: DateTime::from_timestamp_micros(micros)?,
                order_id,
            },
            snapshot,
        })
    }
}

struct ListQuery {
    filter: DecisionFilter,
    limit: i64,
    cursor: Option<Cursor>,
}

fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, Problem> {
    let mut errors = FieldErrors::default();
    refuse_unknown(
        params,
        &[
            "limit",
            "cursor",
            "from",
            "to",
            "decision",
            "customer_id",
            "model_version",
            "order_id",
        ],
        &mut errors,
    );
    let limit = match params.get("limit").map(|v| v.parse::<i64>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            errors.push("limit", format!("must be an integer from 1 to {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    };
    let cursor = params.get("cursor").and_then(|c| {
        let cursor = Cursor::decode(c);
        if cursor.is_none() {
            errors.push(
                "cursor",
                "not a cursor this API gave; pass a next_cursor unchanged",
            );
        }
        cursor
    });
    let (from, to) = range(params, &mut errors);
    let outcome = match params.get("decision").map(String::as_str) {
        None => None,
        Some("approved") => Some("approved"),
        Some("rejected") => Some("rejected"),
        Some("review") => Some("review"),
        Some(_) => {
            errors.push("decision", "must be approved, rejected or review");
            None
        }
    };
    let model_version = match params.get("model_version").map(|v| v.parse::<i32>()) {
        None => None,
        Some(Ok(v)) if v >= 1 => Some(v),
        Some(_) => {
            errors.push("model_version", "must be an integer from 1 to 2147483647");
            None
        }
    };
    let customer_id = id_param(params, "customer_id", &mut errors);
    let order_id = id_param(params, "order_id", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(ListQuery {
        filter: DecisionFilter {
            from,
            to,
            outcome,
            customer_id,
            model_version,
            order_id,
        },
        limit,
        cursor,
    })
}

fn unreadable(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "cannot read decisions");
    Problem::unavailable("cannot read decisions right now; retry")
}

#[utoipa::path(
    get,
    path = "/v1/decisions",
    tag = "decisions",
    operation_id = "listDecisions",
    summary = "The company's recorded decisions",
    description = "The decisions recorded for the company's orders (the first decision of each order with the active model; what-if decisions with `model_version` are not recorded), newest first by `decided_at`, then by `order_id`. Each filter given narrows the list: `from` and `to` (RFC 3339, the half-open range [from, to)), `decision`, `customer_id`, `model_version`, `order_id`. Any other query parameter, or a bad value, is refused (422, naming the field).\n\nPaging: pass `next_cursor` as `cursor`, with the same filters, for the next (older) page; the last page has none. A listing shows exactly the decisions that existed when its first page was read: the cursor carries that first read's database snapshot, so decisions recorded meanwhile (even one whose `decided_at` is older than the cursor's, as a scorer stamps a decision a moment before it is stored) never enter the later pages, and none is shown twice or skipped. Start again without a cursor to see new decisions.",
    params(params::DecisionListing),
    responses(
        (status = 200, description = "One page of decisions.", content_type = "application/json", body = DecisionPage, example = examples::list_decisions_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<DecisionPage>, Problem> {
    let query = list_query(&params)?;
    let after = query.cursor.as_ref().map(|c| (&c.position, &c.snapshot));
    let page = state
        .store
        .decisions_page(auth.company.id, &query.filter, after, query.limit)
        .await
        .map_err(unreadable)?;
    let full = page.decisions.len() as i64 == query.limit;
    let next_cursor = match (page.decisions.last(), page.snapshot) {
        (Some(last), Some(snapshot)) if full => Some(
            Cursor {
                position: Position {
                    decided_at: last.decided_at,
                    order_id: last.order_id.clone(),
                },
                snapshot,
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(Json(DecisionPage {
        decisions: page.decisions.into_iter().map(SummaryView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/decisions/{request_id}",
    tag = "decisions",
    operation_id = "getDecision",
    summary = "One recorded decision",
    description = "The decision recorded for the company's request `request_id`, whole, as `POST /v1/decisions` answered it first: reasons, the largest approvable amount, model version, the scorer's timings (`repeat` false; no `gateway` timing, as no call waits for it). Only recorded decisions are found (not what-if decisions with `model_version`). An unknown request id, or another company's, gets 404. Request ids `batch`, `export` and `activity` name other calls.",
    params(params::RequestId),
    responses(
        (status = 200, description = "The decision.", content_type = "application/json", body = DecisionView, example = examples::get_decision_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::DecisionNotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<DecisionView>, Problem> {
    let mut errors = FieldErrors::default();
    refuse_unknown(&params, &[], &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let text = state
        .store
        .decision_by_request(auth.company.id, &request_id)
        .await
        .map_err(unreadable)?
        .ok_or_else(|| Problem::not_found(format!("no decision with request id {request_id}")))?;
    let record: DecisionRecord = serde_json::from_str(&text).map_err(unreadable)?;
    Ok(Json(recorded_view(record)))
}

/// How an export writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

const CSV_HEADER: &str =
    "request_id,order_id,customer_id,decision,probability,threshold,model_version,decided_at\n";

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/jsonl",
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Format::Csv => "decisions.csv",
            Format::JsonLines => "decisions.jsonl",
        }
    }

    fn write(self, out: &mut Vec<u8>, decision: DecisionSummary) {
        match self {
            Format::Csv => write_csv_row(out, &decision),
            Format::JsonLines => {
                // A summary of strings, numbers and a date always serialises.
                if serde_json::to_writer(&mut *out, &SummaryView::from(decision)).is_ok() {
                    out.push(b'\n');
                }
            }
        }
    }
}

/// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

fn write_csv_row(out: &mut Vec<u8>, d: &DecisionSummary) {
    csv_field(out, &d.request_id);
    out.push(b',');
    csv_field(out, &d.order_id);
    out.push(b',');
    csv_field(out, d.customer_id.as_deref().unwrap_or(""));
    out.extend_from_slice(
        format!(
            ",{},{},{},{},{}\n",
            d.outcome,
            d.probability,
            d.threshold,
            d.model_version,
            d.decided_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
        .as_bytes(),
    );
}

/// Reads the rows and hands them to the body a chunk at a time, waiting while the client is
/// slow (a bounded queue). A database error ends the body with an error after the rows sent,
/// so the client sees a broken transfer, never a short file that looks whole.
async fn pump(
    state: AppState,
    company: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: Format,
    chunks: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut rows = state.store.decisions_export(company, from, to);
    let mut buffer = Vec::with_capacity(EXPORT_CHUNK_BYTES);
    if format == Format::Csv {
        buffer.extend_from_slice(CSV_HEADER.as_bytes());
    }
    while let Some(row) = rows.next().await {
        match row {
            Ok(decision) => format.write(&mut buffer, decision),
            Err(e) => {
                tracing::error!(error = %e, "a decision export failed midway");
                let _ = chunks.send(Ok(Bytes::from(buffer))).await;
                let _ = chunks
                    .send(Err(std::io::Error::other("the database failed midway")))
                    .await;
                return;
            }
        }
        if buffer.len() >= EXPORT_CHUNK_BYTES {
            let full = std::mem::replace(&mut buffer, Vec::with_capacity(EXPORT_CHUNK_BYTES));
            if chunks.send(Ok(Bytes::from(full))).await.is_err() {
                return; // the client went away
            }
        }
    }
    if !buffer.is_empty() {
        let _ = chunks.send(Ok(Bytes::from(buffer))).await;
    }
}

#[utoipa::path(
    get,
    path = "/v1/decisions/export",
    tag = "decisions",
    operation_id = "exportDecisions",
    summary = "Export the company's recorded decisions",
    description = "Every decision recorded for the company in the half-open range [from, to) of `decided_at` (each bound optional), newest first (the order of `GET /v1/decisions`), as `format=csv` (a header row, then one row per decision, RFC 4180 quoting; an unknown customer is an empty field) or `format=jsonl` (one JSON object per line, the list's items). Streamed from one database statement as it reads, so any number of decisions exports in constant memory; the set is the decisions recorded when the export began. Should the database fail midway, the transfer ends with an error (an incomplete chunked body), never as a short file that looks complete. Any other query parameter, or a bad value, is refused (422).",
    params(params::DecisionExport),
    responses(
        (status = 200, description = "The decisions, as a download.", headers(("Content-Disposition" = String, description = "`attachment; filename=\"decisions.csv\"` (or `.jsonl`)")), content(
            (String = "text/csv", example = examples::export_decisions_csv),
            (String = "application/jsonl", example = examples::export_decisions_jsonl),
        )),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
    )
)]
pub(crate) async fn export(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let mut errors = FieldErrors::default();
    refuse_unknown(&params, &["format", "from", "to"], &mut errors);
    let format = match params.get("format").map(String::as_str) {
        Some("csv") => Some(Format::Csv),
        Some("jsonl") => Some(Format::JsonLines),
        _ => {
            errors.push("format", "required: csv or jsonl");
            None
        }
    };
    let (from, to) = range(&params, &mut errors);
    let Some(format) = format.filter(|_| errors.is_empty()) else {
        return Err(Problem::invalid(errors));
    };
    let (chunks, body) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    tokio::spawn(pump(state, auth.company.id, from, to, format, chunks));
    let body = futures::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    });
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", format.file_name()),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(order_id: &str, customer_id: Option<&str>) -> DecisionSummary {
        DecisionSummary {
            request_id: "r-1".to_owned(),
            order_id: order_id.to_owned(),
            customer_id: customer_id.map(str::to_owned),
            outcome: "rejected".to_owned(),
            probability: 0.625,
            threshold: 0.5,
            model_version: 3,
            decided_at: DateTime::from_timestamp_micros(1_764_806_400_123_456).expect("time"),
        }
    }

    #[test]
    fn a_cursor_reads_back_as_written_and_a_forged_one_is_refused() {
        let cursor = Cursor {
            position: Position {
                decided_at: DateTime::from_timestamp_micros(1_764_806_400_123_456).expect("time"),
                order_id: "A-1\nB".to_owned(),
            },
            snapshot: Snapshot::parse("740:745:741,743").expect("snapshot"),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for forged in [
            "zz",
            &hex::encode("1\n745:740:\nA"),
            &hex::encode("1\n740:745:746\nA"),
            &hex::encode("1\n740:745:743,741\nA"),
            &hex::encode("x\n740:745:\nA"),
            &hex::encode("1\n740:745:'; DROP TABLE decisions\nA"),
        ] {
            assert_eq!(Cursor::decode(forged), None, "{forged}");
        }
    }

    #[test]
    fn csv_rows_quote_what_needs_quoting() {
        let mut out = Vec::new();
        write_csv_row(&mut out, &summary("A,\"1\"", None));
        write_csv_row(&mut out, &summary("A-2", Some("C1")));
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "r-1,\"A,\"\"1\"\"\",,rejected,0.625,0.5,3,2025-12-04T00:00:00.123456Z\n\
             r-1,A-2,C1,rejected,0.625,0.5,3,2025-12-04T00:00:00.123456Z\n"
        );
    }

    #[test]
    fn unknown_and_bad_parameters_are_named() {
        let params: HashMap<String, String> = [
            ("limit", "0"),
            ("decision", "maybe"),
            ("from", "yesterday"),
            ("page", "2"),
            ("model_version", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let Err(problem) = list_query(&params) else {
            panic!("accepted");
        };
        let text = serde_json::to_string(&problem).expect("json");
        for field in ["limit", "decision", "from", "page", "model_version"] {
            assert!(
                text.contains(&format!("\"field\":\"{field}\"")),
                "{field}: {text}"
            );
        }
    }
}
