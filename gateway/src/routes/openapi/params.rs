//! The parameters of the API's calls, each stated from the rule of the code that reads it: the
//! handlers read paths, queries and headers by hand (to answer 404 or 422 as the API says, not
//! axum's rejections), so these are written here rather than derived from extractors.

use crate::routes::audit::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::routes::datasets::MAX_IDEMPOTENCY_KEY_CHARS;
use crate::routes::decision_history::{
    DEFAULT_LIMIT as DECISIONS_DEFAULT_LIMIT, MAX_LIMIT as DECISIONS_MAX_LIMIT,
};
use crate::routes::decisions::MAX_MODEL_VERSION;
use crate::routes::models::COMPARED_VERSIONS;
use crate::routes::paging;
use crate::routes::query::MAX_ID_CHARS;
use aval_core::audit::AuditKind;
use serde_json::json;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, Required, SchemaFormat};

fn parameter(
    name: &str,
    place: ParameterIn,
    required: bool,
    description: &str,
) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
}

/// A model version: 1 up to the largest the database numbers.
fn version_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_MODEL_VERSION))
}

/// The one rule of every `Idempotency-Key` (`datasets::sent_idempotency_key`).
pub(crate) fn idempotency_key_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_IDEMPOTENCY_KEY_CHARS))
        .pattern(Some(format!(
            "^[A-Za-z0-9._:-]{{1,{MAX_IDEMPOTENCY_KEY_CHARS}}}$"
        )))
        .into()
}

/// Implements [`IntoParams`] for a unit type by the parameters `make` returns.
macro_rules! params {
    ($(#[$doc:meta])* $name:ident, $make:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $name;

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                $make
            }
        }
    };
}

params!(
    /// `{id}` of a dataset's calls.
    DatasetId,
    vec![
        parameter(
            "id",
            ParameterIn::Path,
            true,
            "The dataset id. An id that is not a UUID, unknown, or another company's all get the \
             same 404.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build()
    ]
);

params!(
    /// The `Idempotency-Key` of a batch upload.
    IdempotencyKey,
    vec![
        parameter(
            "Idempotency-Key",
            ParameterIn::Header,
            false,
            "Makes a retry safe: a batch with a key already used for this dataset is stored only \
             once. It becomes the batch id. Without it the gateway makes up a random id, so a \
             retry is stored twice. A bad key gets 400.",
        )
        .schema(Some(idempotency_key_schema()))
        .build()
    ]
);

params!(
    /// The `Idempotency-Key` of a retrain.
    RetrainIdempotencyKey,
    vec![
        parameter(
            "Idempotency-Key",
            ParameterIn::Header,
            false,
            &format!(
                "Makes a retried call safe: the same key names the same training request, which \
                 trains once. 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters of A-Z a-z 0-9 - _ . : \
                 (the rule of every `Idempotency-Key`); anything else gets 400."
            ),
        )
        .schema(Some(idempotency_key_schema()))
        .build()
    ]
);

params!(
    /// `{jti}` of a token's calls.
    TokenId,
    vec![
        parameter(
            "jti",
            ParameterIn::Path,
            true,
            "The token's id (its `jti` claim). An id that is not a UUID, unknown, or another \
             company's all get the same 404.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build()
    ]
);

params!(
    /// `{version}` of a model's calls.
    ModelVersion,
    vec![
        parameter(
            "version",
            ParameterIn::Path,
            true,
            "The version number, from 1. Anything else, or a version the company does not have, \
             gets 404.",
        )
        .schema(Some(version_schema()))
        .build()
    ]
);

params!(
    /// The language of a decision's reasons (`aval_core::reasons::Language`).
    AcceptLanguage,
    vec![
        parameter(
            "Accept-Language",
            ParameterIn::Header,
            false,
            "The language of the reasons' sentences: Portuguese (`pt-BR`) if the first language \
             it names that aval speaks, by quality, is `pt` or any `pt-*`; English otherwise \
             (also when absent).",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples([json!("pt-BR,pt;q=0.9,en;q=0.8"), json!("en")]),
        ))
        .build()
    ]
);

params!(
    /// `versions` of a comparison (`models::compared_versions`).
    CompareVersions,
    vec![
        parameter(
            "versions",
            ParameterIn::Query,
            true,
            &format!(
                "{} to {} distinct version numbers separated by commas, like `versions=1,2`. \
                 Missing, or anything else, gets 422; a version the company does not have gets \
                 404.",
                COMPARED_VERSIONS.start(),
                COMPARED_VERSIONS.end()
            ),
        )
        .style(Some(ParameterStyle::Form))
        .explode(Some(false))
        .schema(Some(
            ArrayBuilder::new()
                .items(version_schema())
                .min_items(Some(*COMPARED_VERSIONS.start()))
                .max_items(Some(*COMPARED_VERSIONS.end()))
                .unique_items(true),
        ))
        .example(Some(json!([1, 2])))
        .build()
    ]
);

params!(
    /// The paging and filters of the audit log (`audit::list`).
    AuditFilters,
    vec![
        limit("Events", MAX_LIMIT, DEFAULT_LIMIT),
        parameter(
            "before",
            ParameterIn::Query,
            false,
            "Only events with a `seq` lower than this: the `next_before` of the previous page.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        ))
        .build(),
        parameter(
            "kind",
            ParameterIn::Query,
            false,
            "Only these kinds, separated by commas; a name ending in `.*` is a family \
             (`decision.*`, `training.*`). A name that matches no kind gets 422.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(kind_list_pattern())),
        ))
        .example(Some(json!("dataset.ready,training.*")))
        .build(),
        date_time(
            "from",
            "Only events that occurred at or after this time (RFC 3339, with its offset).",
        ),
        date_time(
            "to",
            "Only events that occurred before this time (RFC 3339); later than `from`.",
        ),
        parameter(
            "dataset_id",
            ParameterIn::Query,
            false,
            "Only events about this dataset: its creation, batches and verdict, and the \
             trainings that used it.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build(),
        parameter(
            "model_version",
            ParameterIn::Query,
            false,
            "Only events about this model version: its training, activation, and the \
             decisions it made.",
        )
        .schema(Some(version_schema()))
        .build(),
        text_id(
            "request_id",
            "Only events of this request: a decision's, or a training's.",
        ),
    ]
);

params!(
    /// A head kept from an earlier check of the audit log (`audit::verify`).
    AuditHead,
    vec![
        parameter(
            "head_seq",
            ParameterIn::Query,
            false,
            "The `head_seq` of an earlier check; with `head`.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        ))
        .build(),
        parameter(
            "head",
            ParameterIn::Query,
            false,
            "The `head` of that check, 64 lowercase hex digits; with `head_seq`.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9a-f]{64}$")),
        ))
        .build(),
    ]
);

/// A comma-separated list of audit kinds and families (`decision.*`), as `audit::list` reads it.
fn kind_list_pattern() -> String {
    let mut names: Vec<String> = AuditKind::ALL
        .iter()
        .map(|kind| kind.as_str().replace('.', "\\."))
        .collect();
    let mut families: Vec<String> = AuditKind::ALL
        .iter()
        .filter_map(|kind| kind.as_str().split_once('.'))
        .map(|(family, _)| format!("{family}\\.\\*"))
        .collect();
    families.sort();
    families.dedup();
    names.extend(families);
    let one = format!("(?:{})", names.join("|"));
    format!("^{one}(?:,{one})*$")
}

/// `limit`, `cursor` and `status` of a cursor-paged list (`routes::paging`), with the list's
/// statuses.
fn paging(items: &str, statuses: &[&str]) -> Vec<Parameter> {
    vec![
        limit(items, paging::MAX_LIMIT, paging::DEFAULT_LIMIT),
        parameter(
            "cursor",
            ParameterIn::Query,
            false,
            "The `next_cursor` of the previous page, as it came (opaque).",
        )
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build(),
        parameter(
            "status",
            ParameterIn::Query,
            false,
            &format!("Only {} in this status.", items.to_lowercase()),
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(statuses.iter().copied())),
        ))
        .build(),
    ]
}

params!(
    /// The query of `GET /v1/datasets`.
    DatasetPaging,
    paging(
        "Datasets",
        &aval_store::datasets::DatasetStatus::ALL.map(aval_store::datasets::DatasetStatus::as_str)
    )
);

params!(
    /// The query of `GET /v1/models/runs`.
    RunPaging,
    paging(
        "Runs",
        &aval_store::training_runs::RunStatus::ALL
            .map(aval_store::training_runs::RunStatus::as_str)
    )
);

params!(
    /// The query of `GET /v1/reviews`.
    ReviewPaging,
    paging(
        "Reviews",
        &aval_store::reviews::ReviewStatus::ALL.map(aval_store::reviews::ReviewStatus::as_str)
    )
);

/// `limit` of a paged list: `items` per page, 1 to `max`.
fn limit(items: &str, max: i64, default: i64) -> Parameter {
    parameter(
        "limit",
        ParameterIn::Query,
        false,
        &format!("{items} per page, 1 to {max}."),
    )
    .schema(Some(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(max))
            .default(Some(json!(default))),
    ))
    .build()
}

fn date_time(name: &str, description: &str) -> Parameter {
    parameter(name, ParameterIn::Query, false, description)
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        ))
        .build()
}

fn text_id(name: &str, description: &str) -> Parameter {
    parameter(name, ParameterIn::Query, false, description)
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_ID_CHARS)),
        ))
        .build()
}

fn decided_range() -> Vec<Parameter> {
    vec![
        date_time(
            "from",
            "Only decisions decided at or after this instant (RFC 3339).",
        ),
        date_time(
            "to",
            "Only decisions decided before this instant (RFC 3339); later than `from`.",
        ),
    ]
}

params!(
    /// The filters and paging of `GET /v1/decisions`.
    DecisionListing,
    {
        let mut all = vec![
            limit("Decisions", DECISIONS_MAX_LIMIT, DECISIONS_DEFAULT_LIMIT),
            parameter(
                "cursor",
                ParameterIn::Query,
                false,
                "The `next_cursor` of the previous page, unchanged (pass the same filters with \
                 it). Anything else gets 422.",
            )
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9a-f]+$")),
            ))
            .build(),
        ];
        all.extend(decided_range());
        all.push(
            parameter(
                "decision",
                ParameterIn::Query,
                false,
                "Only approved, only rejected, or only review decisions (sent to a person by the policy).",
            )
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["approved", "rejected", "review"])),
            ))
            .build(),
        );
        all.push(text_id("customer_id", "Only decisions on this customer's orders."));
        all.push(
            parameter(
                "model_version",
                ParameterIn::Query,
                false,
                "Only decisions by this model version.",
            )
            .schema(Some(version_schema()))
            .build(),
        );
        all.push(text_id("order_id", "Only the decision on this order."));
        all
    }
);

params!(
    /// The format and range of `GET /v1/decisions/export`.
    DecisionExport,
    {
        let mut all = vec![
            parameter(
                "format",
                ParameterIn::Query,
                true,
                "`csv` (a header row, then one row per decision) or `jsonl` (one JSON object per \
                 line).",
            )
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["csv", "jsonl"])),
            ))
            .build(),
        ];
        all.extend(decided_range());
        all
    }
);

params!(
    /// The range and bucket of `GET /v1/decisions/activity`.
    DecisionActivity,
    {
        let mut all = vec![
            parameter(
                "bucket",
                ParameterIn::Query,
                false,
                "`hour` or `day` (UTC; the default).",
            )
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["hour", "day"])),
            ))
            .build(),
        ];
        all.extend(decided_range());
        all
    }
);

params!(
    /// `{request_id}` of a recorded decision.
    RequestId,
    vec![
        parameter(
            "request_id",
            ParameterIn::Path,
            true,
            "The decision request's id (the `request_id` of the decision). Unknown, or another \
             company's, gets 404.",
        )
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(100)),
        ))
        .build()
    ]
);

params!(
    /// The paging and filter of `GET /v1/outcomes`.
    OutcomeListing,
    vec![
        limit("Outcomes", paging::MAX_LIMIT, paging::DEFAULT_LIMIT),
        parameter(
            "cursor",
            ParameterIn::Query,
            false,
            "The `next_cursor` of the previous page, as it came (opaque; pass the same `order_id` \
             with it). Anything else gets 422.",
        )
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build(),
        text_id("order_id", "Only the outcomes of this order."),
    ]
);

params!(
    /// The window, instant and confidence of `GET /v1/monitoring/performance`.
    LivePerformance,
    {
        let mut all = vec![
            parameter(
                "model_version",
                ParameterIn::Query,
                false,
                "Only this model version (404 when the company has none such).",
            )
            .schema(Some(version_schema()))
            .build(),
        ];
        all.extend(decided_range());
        all.push(date_time(
            "as_of",
            "Judge as known at this instant (RFC 3339, not in the future; default now): \
             decisions up to it, outcomes stored by it, the definition in force then.",
        ));
        all.push(
            parameter(
                "confidence",
                ParameterIn::Query,
                false,
                "The confidence of every interval, 0.5 to 0.999 (default 0.95).",
            )
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0.5))
                    .maximum(Some(0.999)),
            ))
            .build(),
        );
        all
    }
);

params!(
    /// The version, window and false-alarm rate of `GET /v1/monitoring/drift`.
    Drift,
    {
        let mut all = vec![
            parameter(
                "model_version",
                ParameterIn::Query,
                false,
                "The model version (default: the active one; 404 when the company has none such).",
            )
            .schema(Some(version_schema()))
            .build(),
        ];
        all.extend(decided_range());
        all.push(
            parameter(
                "alpha",
                ParameterIn::Query,
                false,
                "The chance that a window drawn like the training orders suggests retraining, \
                 0.0001 to 0.2 (default 0.01).",
            )
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0.0001))
                    .maximum(Some(0.2)),
            ))
            .build(),
        );
        all
    }
);

params!(
    /// `from` and `to` of a report over the decisions of a window.
    DecidedRange,
    decided_range()
);
