//! What a policy may say, checked when it is saved, against the features of the model it will
//! decide with. Every problem is named by its field path (`rules[2].reason.pt-BR`).

use super::{Condition, Cutoff, Policy, ReferBand, Rule, RuleReason};
use crate::FieldErrors;
use crate::model::{Encoding, FeatureSpec};
use crate::text::{self, TextKind};
use std::collections::HashSet;
use std::ops::RangeInclusive;

/// Rules a policy holds at most: each is checked on every decision.
pub const MAX_RULES: usize = 50;
/// Refer bands a policy holds at most.
pub const MAX_REFER_BANDS: usize = 5;
/// Characters of a rule's reason, in each language.
pub const REASON_CHARS: RangeInclusive<usize> = 15..=200;
const ID_CHARS: RangeInclusive<usize> = 1..=40;
const MAX_LEVELS: usize = 100;
const MIN_REASON_WORDS: usize = 3;

/// Words that say nothing of the order by themselves: a reason made of these alone ("internal
/// policy decision", "risco alto de crédito") tells the customer nothing, so it is refused.
const VAGUE_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "by",
    "for",
    "to",
    "on",
    "in",
    "is",
    "was",
    "and",
    "or",
    "not",
    "no",
    "our",
    "due",
    "policy",
    "policies",
    "internal",
    "rule",
    "rules",
    "decision",
    "decided",
    "risk",
    "risky",
    "high",
    "credit",
    "other",
    "others",
    "reason",
    "reasons",
    "denied",
    "rejected",
    "refused",
    "declined",
    "approved",
    "review",
    "criteria",
    "criterion",
    "analysis",
    "de",
    "do",
    "da",
    "dos",
    "das",
    "o",
    "os",
    "as",
    "e",
    "ou",
    "em",
    "por",
    "para",
    "não",
    "nao",
    "nossa",
    "nosso",
    "política",
    "politica",
    "políticas",
    "interna",
    "interno",
    "regra",
    "regras",
    "decisão",
    "decisao",
    "risco",
    "alto",
    "alta",
    "crédito",
    "credito",
    "outro",
    "outros",
    "motivo",
    "motivos",
    "negado",
    "negada",
    "recusado",
    "recusada",
    "reprovado",
    "reprovada",
    "aprovado",
    "revisão",
    "revisao",
    "critério",
    "criterio",
    "critérios",
    "análise",
    "analise",
];

impl Policy {
    /// Every problem of the policy for a model with these features, or `Ok`.
    pub fn check(&self, spec: &FeatureSpec) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.rules.len() > MAX_RULES {
            errors.push("rules", format!("must hold at most {MAX_RULES} rules"));
        }
        let mut ids = HashSet::new();
        let mut reasons = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            check_rule(rule, spec, &at, &mut errors);
            if !ids.insert(rule.id.as_str()) {
                errors.push(format!("{at}.id"), "is the id of an earlier rule");
            }
            if !reasons.insert(rule.reason.en.trim().to_lowercase()) {
                errors.push(
                    format!("{at}.reason.en"),
                    "is the reason of an earlier rule: say what this rule looks at",
                );
            }
        }
        check_cutoff(&self.cutoff, &mut errors);
        check_bands(&self.refer_bands, &mut errors);
        errors.into_result(())
    }
}

fn check_rule(rule: &Rule, spec: &FeatureSpec, at: &str, errors: &mut FieldErrors) {
    let id_ok = ID_CHARS.contains(&rule.id.len())
        && rule
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !id_ok {
        errors.push(format!("{at}.id"), "must be 1 to 40 of a-z, 0-9, _ and -");
    }
    match spec.features.iter().find(|f| f.name == rule.feature) {
        None => errors.push(
            format!("{at}.feature"),
            format!("{:?} is not a feature of the model", rule.feature),
        ),
        Some(column) => check_condition(&rule.condition, &column.encoding, at, errors),
    }
    check_reason(&rule.reason, at, errors);
}

fn check_condition(condition: &Condition, encoding: &Encoding, at: &str, errors: &mut FieldErrors) {
    match (condition, encoding) {
        (Condition::Missing, _) => {}
        (
            Condition::Above { value }
            | Condition::AtLeast { value }
            | Condition::Below { value }
            | Condition::AtMost { value }
            | Condition::Equals { value },
            Encoding::Number,
        ) => {
            if !value.is_finite() {
                errors.push(format!("{at}.value"), "must be a finite number");
            }
        }
        (
            Condition::In { levels } | Condition::NotIn { levels },
            Encoding::Category { levels: known },
        ) => {
            if levels.is_empty() || levels.len() > MAX_LEVELS {
                errors.push(
                    format!("{at}.levels"),
                    format!("must name 1 to {MAX_LEVELS} levels"),
                );
            }
            for (j, level) in levels.iter().enumerate() {
                if known.binary_search(level).is_err() {
                    errors.push(
                        format!("{at}.levels[{j}]"),
                        format!("{level:?} is not a level the model knows of this feature"),
                    );
                }
            }
        }
        (Condition::In { .. } | Condition::NotIn { .. }, Encoding::Number) => errors.push(
            format!("{at}.operator"),
            "a number is compared with above, at_least, below, at_most, equals or missing",
        ),
        (_, Encoding::Category { .. }) => errors.push(
            format!("{at}.operator"),
            "a category is compared with in, not_in or missing",
        ),
    }
}

fn check_reason(reason: &RuleReason, at: &str, errors: &mut FieldErrors) {
    for (language, text) in [("en", &reason.en), ("pt-BR", &reason.pt_br)] {
        let field = format!("{at}.reason.{language}");
        let chars = text.trim().chars().count();
        if let Err(refused) = text::check(text, TextKind::Value, *REASON_CHARS.end()) {
            errors.push(field, refused);
        } else if !REASON_CHARS.contains(&chars) {
            errors.push(
                field,
                format!(
                    "must be {} to {} characters: say what about the order decides",
                    REASON_CHARS.start(),
                    REASON_CHARS.end()
                ),
            );
        } else if is_vague(text) {
            errors.push(
                field,
                "is too vague: name what about the order or the customer decides (a bankruptcy \
                 on record, an amount above the credit limit)",
            );
        }
    }
}

/// Fewer than three words, or only words that name no fact.
fn is_vague(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.len() < MIN_REASON_WORDS || words.iter().all(|w| VAGUE_WORDS.contains(&w.as_str()))
}

fn check_cutoff(cutoff: &Cutoff, errors: &mut FieldErrors) {
    let open_unit = |v: f64| v > 0.0 && v < 1.0;
    match *cutoff {
        Cutoff::Model => {}
        Cutoff::Probability { probability } if !open_unit(probability) => {
            errors.push("cutoff.probability", "must be above 0 and below 1");
        }
        Cutoff::ApprovalRate { approval_rate } if !open_unit(approval_rate) => {
            errors.push("cutoff.approval_rate", "must be above 0 and below 1");
        }
        Cutoff::ExpectedCost {
            bad_approval_cost,
            lost_sale_cost,
        } => {
            for (field, cost) in [
                ("cutoff.bad_approval_cost", bad_approval_cost),
                ("cutoff.lost_sale_cost", lost_sale_cost),
            ] {
                if !(cost.is_finite() && cost > 0.0) {
                    errors.push(field, "must be a positive amount");
                }
            }
        }
        Cutoff::Probability { .. } | Cutoff::ApprovalRate { .. } => {}
    }
}

fn check_bands(bands: &[ReferBand], errors: &mut FieldErrors) {
    if bands.len() > MAX_REFER_BANDS {
        errors.push(
            "refer_bands",
            format!("must hold at most {MAX_REFER_BANDS} bands"),
        );
    }
    for (i, band) in bands.iter().enumerate() {
        if !(0.0 <= band.from && band.from < band.to && band.to <= 1.0) {
            errors.push(format!("refer_bands[{i}]"), "must have 0 <= from < to <= 1");
            continue;
        }
        for (j, earlier) in bands[..i].iter().enumerate() {
            if band.from < earlier.to && earlier.from < band.to {
                errors.push(
                    format!("refer_bands[{i}]"),
                    format!("overlaps refer_bands[{j}]: bands must be apart"),
                );
            }
        }
    }
}
