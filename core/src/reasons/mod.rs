//! Reasons in words: each factor behind a decision as a sentence a credit analyst reads, in
//! English or Portuguese ("3 PEFIN records raised the risk" / "3 registros de PEFIN
//! aumentaram o risco").

mod phrases;

use crate::features::FeatureValue;
pub use phrases::Subject;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Portuguese,
}

impl Language {
    /// Picks the first language of an `Accept-Language` header that aval speaks; English
    /// otherwise. Quality values are honoured.
    pub fn from_accept_language(header: &str) -> Language {
        let mut choices: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim();
                let quality = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((quality, tag))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in choices {
            let primary = tag
                .split('-')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match primary.as_str() {
                "pt" => return Language::Portuguese,
                "en" => return Language::English,
                _ => {}
            }
        }
        Language::English
    }

    /// The BCP 47 tag used on the wire.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Portuguese => "pt-BR",
        }
    }

    pub fn from_tag(tag: &str) -> Language {
        Self::from_accept_language(tag)
    }
}

/// The sentence for one factor: what the feature's value was, and which way it pushed the
/// risk (`contribution` > 0 raised it).
pub fn sentence(
    feature: &str,
    value: &FeatureValue,
    contribution: f64,
    language: Language,
) -> String {
    let subject = phrases::subject(feature, value, language);
    let raised = contribution > 0.0;
    let verb = match (language, raised, subject.plural) {
        (Language::English, true, _) => "raised the risk",
        (Language::English, false, _) => "lowered the risk",
        (Language::Portuguese, true, false) => "aumentou o risco",
        (Language::Portuguese, true, true) => "aumentaram o risco",
        (Language::Portuguese, false, false) => "reduziu o risco",
        (Language::Portuguese, false, true) => "reduziram o risco",
    };
    let mut text = format!("{} {verb}", subject.text);
    if let Some(first) = text.get(..1) {
        let upper = first.to_uppercase();
        text.replace_range(..1, &upper);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: f64) -> FeatureValue {
        FeatureValue::Number(v)
    }

    #[test]
    fn the_examples_of_the_design() {
        assert_eq!(
            sentence(
                "bureau.negatives.pefin.count",
                &n(3.0),
                0.4,
                Language::English
            ),
            "3 PEFIN records raised the risk"
        );
        assert_eq!(
            sentence(
                "bureau.negatives.pefin.count",
                &n(3.0),
                0.4,
                Language::Portuguese
            ),
            "3 registros de PEFIN aumentaram o risco"
        );
        assert_eq!(
            sentence(
                "bureau.negatives.pefin.count",
                &n(1.0),
                0.4,
                Language::Portuguese
            ),
            "1 registro de PEFIN aumentou o risco"
        );
    }

    #[test]
    fn money_and_shares_read_naturally() {
        assert_eq!(
            sentence("terms.amount", &n(15000.0), 0.2, Language::Portuguese),
            "O valor do pedido de R$ 15.000,00 aumentou o risco"
        );
        assert_eq!(
            sentence("terms.amount", &n(1234.5), -0.2, Language::English),
            "The order amount of R$ 1,234.50 lowered the risk"
        );
        assert_eq!(
            sentence("bureau.on_time", &n(0.8), -0.3, Language::English),
            "Paying 80% of bills on time lowered the risk"
        );
        assert_eq!(
            sentence(
                "bureau.score",
                &FeatureValue::Missing,
                0.1,
                Language::Portuguese
            ),
            "Score de crédito desconhecido aumentou o risco"
        );
    }

    #[test]
    fn one_inquiry_is_singular_and_agrees_with_its_verb() {
        assert_eq!(
            sentence("bureau.inquiries", &n(1.0), -0.1, Language::Portuguese),
            "1 consulta recente de crédito reduziu o risco"
        );
        assert_eq!(
            sentence("bureau.inquiries", &n(3.0), 0.1, Language::Portuguese),
            "3 consultas recentes de crédito aumentaram o risco"
        );
        assert_eq!(
            sentence("bureau.inquiries", &n(1.0), 0.1, Language::English),
            "1 recent credit inquiry raised the risk"
        );
    }

    #[test]
    fn attributes_and_unknown_features_still_get_a_sentence() {
        assert_eq!(
            sentence(
                "customer.segment",
                &FeatureValue::Category("retail".into()),
                0.1,
                Language::English
            ),
            "The customer's segment = \"retail\" raised the risk"
        );
        assert_eq!(
            sentence("customer.has_guarantee", &n(1.0), -0.2, Language::English),
            "The customer's has_guarantee = 1 lowered the risk"
        );
        assert_eq!(
            sentence("order.channel_score", &n(2.5), 0.2, Language::Portuguese),
            "O atributo channel_score do pedido igual a 2,50 aumentou o risco"
        );
        let fallback = sentence("something.new", &n(2.0), -0.1, Language::Portuguese);
        assert!(fallback.ends_with("reduziu o risco"), "{fallback}");
    }

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(
            Language::from_accept_language("pt-BR,pt;q=0.9,en;q=0.8"),
            Language::Portuguese
        );
        assert_eq!(
            Language::from_accept_language("en-US,pt;q=0.5"),
            Language::English
        );
        assert_eq!(
            Language::from_accept_language("fr;q=1, pt;q=0.2"),
            Language::Portuguese
        );
        assert_eq!(Language::from_accept_language("de"), Language::English);
        assert_eq!(Language::from_accept_language(""), Language::English);
    }
}
