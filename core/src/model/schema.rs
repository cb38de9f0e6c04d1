//! The API document's schemas of model fields whose serde shape the derive cannot state.

use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, ObjectBuilder, Schema, Type};

/// `feature_importance`: `[name, share]` pairs, as serde writes a `(String, f64)`.
pub(crate) fn feature_importance() -> Schema {
    let pair = ArrayBuilder::new()
        .prefix_items([
            Schema::from(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The feature's name.")),
            ),
            share(),
        ])
        .items(ArrayItems::False)
        .min_items(Some(2))
        .max_items(Some(2));
    ArrayBuilder::new()
        .items(pair)
        .description(Some(
            "`[feature, share]` pairs: each feature's share of the mean absolute contribution \
             (log-odds) on the training orders. The shares sum to 1; largest first.",
        ))
        .examples([serde_json::json!([
            ["terms.amount_to_limit", 0.3412],
            ["bureau.score", 0.1468]
        ])])
        .into()
}

fn share() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(0))
        .maximum(Some(1))
        .into()
}
