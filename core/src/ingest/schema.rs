//! The JSON Schemas of what a company uploads, as the validators of this module read it (not
//! the serde shape of the domain items, which is how they are stored). Built from the same
//! constants and patterns as the checks, so the API document cannot state other limits.
//! Only the gateway turns the `openapi` feature on.

use super::attributes::{MAX_ATTRIBUTE_NAME_CHARS, MAX_ATTRIBUTE_TEXT_CHARS, MAX_ATTRIBUTES};
use super::batch::MAX_BATCH_ITEMS;
use super::bureau_report::MAX_SCORE;
use super::fields::{MAX_FORMATTED_CHARS, MAX_ID_CHARS, UFS};
use super::items::{ItemKind, NEGATIVE_KINDS};
use super::money::MAX_MONEY_CENTS;
use super::order::MAX_PAYMENT_TERM_DAYS;
use crate::text;
use serde_json::{Value, json};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::RefBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

/// Every schema of this module, by component name.
pub fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut all: Vec<(&str, Schema)> = vec![
        ("Id", id()),
        ("Date", date()),
        ("Timestamp", timestamp()),
        ("Money", money()),
        ("Fraction", fraction()),
        ("Count", count()),
        ("AttributeValue", attribute_value()),
        ("Attributes", attributes()),
        ("Customer", customer()),
        ("CreditLimit", credit_limit()),
        ("PaymentHabits", payment_habits()),
        ("SupplierRelationships", supplier_relationships()),
        ("NegativeRecord", negative_record()),
        ("Negatives", negatives()),
        ("BureauReport", bureau_report()),
        ("Order", order()),
        ("Counts", counts()),
    ];
    for kind in ItemKind::ALL {
        all.push((batch_name(kind), batch(kind)));
    }
    all.into_iter()
        .map(|(name, schema)| (name.to_owned(), RefOr::T(schema)))
        .collect()
}

/// `Counts` is also a response field (a dataset's counts), in the same shape.
impl utoipa::PartialSchema for super::items::Counts {
    fn schema() -> RefOr<Schema> {
        RefOr::T(counts())
    }
}

impl utoipa::ToSchema for super::items::Counts {}

/// The component name of one item of `kind` (`Customer`).
pub fn item_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Customers => "Customer",
        ItemKind::Orders => "Order",
        ItemKind::CreditLimits => "CreditLimit",
        ItemKind::BureauReports => "BureauReport",
    }
}

/// The component name of a batch of `kind` (`CustomerBatch`).
pub fn batch_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Customers => "CustomerBatch",
        ItemKind::Orders => "OrderBatch",
        ItemKind::CreditLimits => "CreditLimitBatch",
        ItemKind::BureauReports => "BureauReportBatch",
    }
}

/// A `$ref` to the component `name`.
pub fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// `name`, or null (unknown).
pub fn nullable(name: &str) -> Schema {
    nullable_with(name, None)
}

/// `name`, or null, with what the field holds.
pub fn nullable_with(name: &str, description: Option<&str>) -> Schema {
    AnyOfBuilder::new()
        .description(description)
        .item(reference(name))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// JSON Schema keywords the typed builders have no field for (an `anyOf` beside a `type`),
/// kept as written: utoipa serialises extensions flattened into the schema. One keyword per
/// schema, so the document's text does not depend on a hash map's order.
fn keywords(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Option<Extensions> {
    Some(pairs.into_iter().collect())
}

fn either(types: [Type; 2]) -> SchemaType {
    SchemaType::from_iter(types)
}

/// `^(?:[Aa][Cc]|...)$`: the state codes in any case (ECMA-262 has no inline `(?i)`).
pub fn state_pattern() -> String {
    let any_case = |code: &str| -> String {
        code.chars()
            .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
            .collect()
    };
    let codes: Vec<String> = UFS.iter().map(|code| any_case(code)).collect();
    format!("^(?:{})$", codes.join("|"))
}

/// The lower bound of dates and instants (1900) as a pattern on the year as written; the upper
/// one moves with the clock, so it is stated in words.
const YEAR_FROM_1900: &str = "^(?:19|[2-9][0-9])[0-9]{2}-";

fn id() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "The company's own key for a customer or an order: 1 to {MAX_ID_CHARS} characters, \
             one line, no control characters, no invisible format characters (zero-width, bidi \
             overrides), no leading or trailing whitespace."
        )))
        .min_length(Some(1))
        .max_length(Some(MAX_ID_CHARS))
        .pattern(Some(text::id_pattern()))
        .examples([json!("C1")])
        .into()
}

fn date() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A calendar date, `YYYY-MM-DD`. An RFC 3339 timestamp is also taken, as its UTC \
             date. From 1900-01-01 (the pattern checks the year) to at most one day after the \
             moment the request arrives.",
        ))
        .examples([json!("2024-01-01")])
        .pattern(Some(YEAR_FROM_1900))
        .max_length(Some(MAX_FORMATTED_CHARS))
        .extensions(keywords([(
            "anyOf",
            json!([{"format": "date"}, {"format": "date-time"}]),
        )]))
        .into()
}

fn timestamp() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "An instant: an RFC 3339 timestamp with its time zone (`2024-03-01T10:00:00Z`, \
             `2024-03-01T07:00:00-03:00`). A date `YYYY-MM-DD` is also taken, as midnight UTC. \
             From 1900-01-01T00:00:00Z (the pattern checks the year as written) to at most one \
             day after the moment the request arrives.",
        ))
        .examples([json!("2024-03-01T10:00:00Z")])
        .pattern(Some(YEAR_FROM_1900))
        .max_length(Some(MAX_FORMATTED_CHARS))
        .extensions(keywords([(
            "anyOf",
            json!([{"format": "date-time"}, {"format": "date"}]),
        )]))
        .into()
}

/// The largest amount in whole BRL, and its digits (the string pattern is written on them).
fn money_pattern() -> String {
    let max = MAX_MONEY_CENTS / 100;
    let digits = max.to_string().len();
    format!(
        "^(?:-0+(?:\\.0+)?|0*[0-9]{{1,{}}}(?:\\.[0-9]{{1,2}}0*)?|0*{max}(?:\\.0+)?)$",
        digits - 1
    )
}

fn money() -> Schema {
    let max = MAX_MONEY_CENTS / 100;
    OneOfBuilder::new()
        .description(Some(format!(
            "BRL, from 0 to {max}.00, with at most two decimals. A JSON number (read exactly from \
             its text, never through a float) or a decimal string with a dot and no thousands \
             separator, like \"1200.50\" (trailing zeros after the two decimals are taken: \
             \"1.500\" is 1.50)."
        )))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(0))
                .maximum(Some(max))
                .multiple_of(Some(0.01)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(money_pattern()))
                .max_length(Some(MAX_FORMATTED_CHARS)),
        )
        .examples([json!("1200.50"), json!(15000.0)])
        .into()
}

fn fraction() -> Schema {
    ObjectBuilder::new()
        .schema_type(either([Type::Number, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(1))
        .description(Some("A share from 0 to 1 (0.8, not 80)."))
        .into()
}

fn count() -> Schema {
    ObjectBuilder::new()
        .schema_type(either([Type::Integer, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(u32::MAX))
        .description(Some(format!(
            "A whole number from 0 to {}. As in JSON Schema, `3.0` is the whole number 3; `3.5` \
             and `\"3\"` are refused.",
            u32::MAX
        )))
        .into()
}

fn attribute_value() -> Schema {
    OneOfBuilder::new()
        .description(Some(format!(
            "A number, a text of at most {MAX_ATTRIBUTE_TEXT_CHARS} characters on one line \
             without control characters, or a boolean. Null is refused: leave the attribute out \
             when it is unknown."
        )))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_ATTRIBUTE_TEXT_CHARS))
                .pattern(Some(text::text_pattern())),
        )
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .into()
}

/// The pattern of an attribute's name.
pub fn attribute_name_pattern() -> String {
    format!("^[a-z0-9_]{{1,{MAX_ATTRIBUTE_NAME_CHARS}}}$")
}

fn attributes() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "Extra facts for the model, by name: at most {MAX_ATTRIBUTES}, each name 1 to \
             {MAX_ATTRIBUTE_NAME_CHARS} characters of a-z, 0-9 and _."
        )))
        .max_properties(Some(MAX_ATTRIBUTES))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(attribute_name_pattern())),
        ))
        .additional_properties(Some(reference("AttributeValue")))
        .examples([json!({"segment": "retail", "employees": 12})])
        .into()
}

/// An object of the upload: its known fields only, as the validators refuse any other.
fn closed(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

fn nullable_boolean(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(either([Type::Boolean, Type::Null]))
        .description(Some(description))
}

fn customer() -> Schema {
    let states = UFS.join(" ");
    closed(
        "A buyer (sacado). Only `id` is required; any other field may be absent or null, \
         meaning unknown. Unknown fields are refused.",
    )
    .property("id", reference("Id"))
    .required("id")
    .property(
        "document",
        ObjectBuilder::new()
            .schema_type(either([Type::String, Type::Null]))
            .pattern(Some("^[./-]*(?:(?:[0-9][./-]*){11}|(?:[0-9][./-]*){14})$"))
            .description(Some(
                "CNPJ (14 digits) or CPF (11 digits), bare or with the separators . / - \
                 anywhere (`11.222.333/0001-81`). Its check digits must match and its digits \
                 must not all be the same. Stored as digits.",
            ))
            .max_length(Some(MAX_FORMATTED_CHARS)),
    )
    .property(
        "simples_nacional",
        nullable_boolean("Taxed under Simples Nacional."),
    )
    .property(
        "mei",
        nullable_boolean("A MEI (individual micro-entrepreneur)."),
    )
    .property("final_consumer", nullable_boolean("A final consumer."))
    .property(
        "founded_on",
        AnyOfBuilder::new()
            .description(Some("Founding date."))
            .item(reference("Date"))
            .item(ObjectBuilder::new().schema_type(Type::Null)),
    )
    .property(
        "state",
        ObjectBuilder::new()
            .schema_type(either([Type::String, Type::Null]))
            .pattern(Some(state_pattern()))
            .description(Some(format!(
                "State code (UF), any case, stored upper case: one of {states}."
            ))),
    )
    .property("attributes", nullable("Attributes"))
    .into()
}

fn credit_limit() -> Schema {
    closed(
        "The total credit a customer has, from a date on. Every field is required. Unknown \
         fields are refused.",
    )
    .property("customer_id", reference("Id"))
    .property("limit", reference("Money"))
    .property("valid_from", reference("Date"))
    .required("customer_id")
    .required("limit")
    .required("valid_from")
    .into()
}

fn payment_habits() -> Schema {
    let mut habits = closed(
        "Shares of the customer's payments by lateness. The shares given must sum to at most 1 \
         (0.001 of rounding allowed).",
    );
    for field in [
        "on_time",
        "cash",
        "late_8_15",
        "late_16_30",
        "late_31_60",
        "late_over_60",
    ] {
        habits = habits.property(field, reference("Fraction"));
    }
    habits.into()
}

fn supplier_relationships() -> Schema {
    let mut relationships = closed(
        "How many suppliers deal with the customer, by age of the relationship: months 0-6 and \
         6-12, years 1-3, 3-5, 5-10 and over 10, and inactive ones.",
    );
    for field in [
        "m0_6", "m6_12", "y1_3", "y3_5", "y5_10", "y10_plus", "inactive",
    ] {
        relationships = relationships.property(field, reference("Count"));
    }
    relationships.into()
}

fn negative_record() -> Schema {
    closed("One kind of negative record: how many, and their total value when the bureau gives it.")
        .property("count", reference("Count"))
        .property("total", nullable("Money"))
        .into()
}

fn negatives() -> Schema {
    let mut negatives = closed(
        "Negative records by kind: PEFIN, REFIN, overdue debts, bankruptcy or concordata, \
         bounced cheques, re-presented cheques, participation in a bankruptcy.",
    );
    for kind in NEGATIVE_KINDS {
        negatives = negatives.property(kind, nullable("NegativeRecord"));
    }
    negatives.into()
}

fn bureau_report() -> Schema {
    closed(
        "A credit-bureau (Serasa) query about a customer. Only `customer_id` and `queried_at` \
         are required; any other field (and any field of the nested objects) may be absent or \
         null, meaning unknown. Unknown fields are refused, nested ones included.",
    )
    .property("customer_id", reference("Id"))
    .property("queried_at", reference("Timestamp"))
    .required("customer_id")
    .required("queried_at")
    .property(
        "inquiries",
        RefBuilder::new()
            .ref_location_from_schema_name("Count")
            .description(Some("How many times the customer was queried."))
            .build(),
    )
    .property(
        "score",
        ObjectBuilder::new()
            .schema_type(either([Type::Integer, Type::Null]))
            .minimum(Some(0))
            .maximum(Some(MAX_SCORE))
            .description(Some(format!("The bureau score, 0 to {MAX_SCORE}."))),
    )
    .property("payment_habits", nullable("PaymentHabits"))
    .property("supplier_relationships", nullable("SupplierRelationships"))
    .property("negatives", nullable("Negatives"))
    .into()
}

fn order() -> Schema {
    closed(
        "An order a customer placed. `id`, `customer_id`, `issued_at` and `amount` are \
         required; any other field may be absent or null, meaning unknown. Unknown fields are \
         refused.",
    )
    .property("id", reference("Id"))
    .property("customer_id", reference("Id"))
    .property("issued_at", reference("Timestamp"))
    .property("amount", reference("Money"))
    .required("id")
    .required("customer_id")
    .required("issued_at")
    .required("amount")
    .property(
        "payment_term_days",
        ObjectBuilder::new()
            .schema_type(either([Type::Integer, Type::Null]))
            .minimum(Some(0))
            .maximum(Some(MAX_PAYMENT_TERM_DAYS))
            .description(Some(format!(
                "Payment term in days, 0 to {MAX_PAYMENT_TERM_DAYS}."
            ))),
    )
    .property(
        "installments",
        ObjectBuilder::new()
            .schema_type(either([Type::Integer, Type::Null]))
            .minimum(Some(1))
            .maximum(Some(u32::MAX))
            .description(Some("Number of installments, at least 1.")),
    )
    .property("attributes", nullable("Attributes"))
    .property(
        "outcome",
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .enum_values(Some([json!("approved"), json!("blocked"), Value::Null]))
            .description(Some(
                "What the company decided. Training data only; a dataset is trained on only \
                 when every order has one and both occur.",
            )),
    )
    .into()
}

fn counts() -> Schema {
    let mut counts = closed(&format!(
        "A number of items of each kind: whole numbers from 0 to {}.",
        u32::MAX
    ));
    for kind in ItemKind::ALL {
        counts = counts
            .property(
                kind.as_str(),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(u32::MAX)),
            )
            .required(kind.as_str());
    }
    counts.into()
}

fn batch(kind: ItemKind) -> Schema {
    let items = match kind {
        ItemKind::Customers => "customers with distinct ids".to_owned(),
        ItemKind::Orders => "orders with distinct ids".to_owned(),
        ItemKind::CreditLimits => {
            "credit limits, no two with the same `customer_id` and `valid_from`".to_owned()
        }
        ItemKind::BureauReports => {
            "bureau reports, no two with the same `customer_id` and `queried_at`".to_owned()
        }
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .property(
            "items",
            ArrayBuilder::new()
                .items(reference(item_name(kind)))
                .min_items(Some(1))
                .max_items(Some(MAX_BATCH_ITEMS))
                .description(Some(format!("1 to {MAX_BATCH_ITEMS} {items}."))),
        )
        .required("items")
        .into()
}
