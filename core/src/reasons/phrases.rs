//! The subject of each reason's sentence, per feature family. Numbers are written the way a
//! Brazilian credit analyst writes them in each language (R$ 1.200,00 / R$ 1,200.00).

use super::Language;
use crate::features::FeatureValue;
use crate::ingest::Cents;

/// The first half of a sentence, and whether its verb takes the plural (Portuguese agrees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub text: String,
    pub plural: bool,
}

fn said(text: String, plural: bool) -> Subject {
    Subject { text, plural }
}

fn pick(language: Language, en: String, pt: String) -> String {
    match language {
        Language::English => en,
        Language::Portuguese => pt,
    }
}

fn money(value: f64, language: Language) -> String {
    let sign = if value < 0.0 { "-" } else { "" };
    let amount = Cents((value.abs() * 100.0).round() as i64);
    let text = match language {
        Language::English => amount.grouped(',', '.'),
        Language::Portuguese => amount.grouped('.', ','),
    };
    format!("{sign}R$ {text}")
}

fn percent(share: f64) -> String {
    // "0%" for a small but real share would read as none.
    if share > 0.0 && share < 0.005 {
        "<1%".to_owned()
    } else {
        format!("{:.0}%", share * 100.0)
    }
}

fn count(value: f64) -> (String, bool) {
    let n = value.round() as i64;
    (n.to_string(), n != 1)
}

/// Negative-record kinds: (English singular, English plural, Portuguese singular, plural).
fn negative_names(kind: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        "pefin" => (
            "PEFIN record",
            "PEFIN records",
            "registro de PEFIN",
            "registros de PEFIN",
        ),
        "refin" => (
            "REFIN record",
            "REFIN records",
            "registro de REFIN",
            "registros de REFIN",
        ),
        "overdue_debts" => (
            "overdue debt",
            "overdue debts",
            "dívida vencida",
            "dívidas vencidas",
        ),
        "bankruptcy" => (
            "bankruptcy or concordata filing",
            "bankruptcy or concordata filings",
            "pedido de falência ou concordata",
            "pedidos de falência ou concordata",
        ),
        "bounced_cheques" => (
            "bounced cheque",
            "bounced cheques",
            "cheque sem fundo",
            "cheques sem fundo",
        ),
        "represented_cheques" => (
            "re-presented cheque",
            "re-presented cheques",
            "cheque reapresentado",
            "cheques reapresentados",
        ),
        "bankruptcy_participation" => (
            "participation in a bankruptcy",
            "participations in bankruptcies",
            "participação em falência",
            "participações em falências",
        ),
        _ => (
            "negative record",
            "negative records",
            "registro negativo",
            "registros negativos",
        ),
    }
}

/// Portuguese agrees "nenhum/nenhuma" with the noun.
fn feminine(kind: &str) -> bool {
    matches!(kind, "overdue_debts" | "bankruptcy_participation")
}

/// How a feature is named when its value is unknown.
fn unknown(feature: &str, language: Language) -> String {
    let (en, pt) = match feature {
        "bureau.score" => ("an unknown credit score", "score de crédito desconhecido"),
        "limit.total" | "terms.amount_to_limit" => (
            "having no credit limit on record",
            "não ter limite de crédito registrado",
        ),
        f if f.starts_with("bureau.") => {
            ("missing bureau information", "informação de birô ausente")
        }
        "profile.age_years" => ("an unknown founding date", "data de fundação desconhecida"),
        _ => ("a missing fact", "um dado ausente"),
    };
    pick(language, en.to_owned(), pt.to_owned())
}

pub(super) fn subject(feature: &str, value: &FeatureValue, language: Language) -> Subject {
    let number = match value {
        FeatureValue::Number(v) => *v,
        FeatureValue::Category(category) => return category_subject(feature, category, language),
        FeatureValue::Missing => {
            return Subject {
                text: unknown(feature, language),
                plural: false,
            };
        }
    };
    let l = language;
    if let Some(rest) = feature.strip_prefix("bureau.negatives.") {
        let (kind, measure) = rest.rsplit_once('.').unwrap_or((rest, ""));
        let (en_one, en_many, pt_one, pt_many) = negative_names(kind);
        return match measure {
            "count" => {
                let (n, plural) = count(number);
                if n == "0" {
                    let none = if feminine(kind) { "nenhuma" } else { "nenhum" };
                    said(
                        pick(l, format!("no {en_many}"), format!("{none} {pt_one}")),
                        false,
                    )
                } else if plural {
                    said(
                        pick(l, format!("{n} {en_many}"), format!("{n} {pt_many}")),
                        true,
                    )
                } else {
                    said(
                        pick(l, format!("{n} {en_one}"), format!("{n} {pt_one}")),
                        false,
                    )
                }
            }
            "total" => said(
                pick(
                    l,
                    format!("{en_many} worth {}", money(number, l)),
                    format!("{pt_many} no valor de {}", money(number, l)),
                ),
                true,
            ),
            _ => match kind {
                "count" => {
                    let (n, plural) = count(number);
                    said(
                        pick(
                            l,
                            format!("{n} negative records in all"),
                            format!("{n} registros negativos no total"),
                        ),
                        plural,
                    )
                }
                _ => said(
                    pick(
                        l,
                        format!("negative records worth {}", money(number, l)),
                        format!("registros negativos no valor de {}", money(number, l)),
                    ),
                    true,
                ),
            },
        };
    }
    if let Some(bucket) = feature.strip_prefix("bureau.suppliers.") {
        let (n, plural) = count(number);
        let (en, pt) = match bucket {
            "m0_6" => ("of up to 6 months", "de até 6 meses"),
            "m6_12" => ("of 6 months to a year", "de 6 meses a 1 ano"),
            "y1_3" => ("of 1 to 3 years", "de 1 a 3 anos"),
            "y3_5" => ("of 3 to 5 years", "de 3 a 5 anos"),
            "y5_10" => ("of 5 to 10 years", "de 5 a 10 anos"),
            "y10_plus" => ("of over 10 years", "de mais de 10 anos"),
            _ => ("no longer active", "inativos"),
        };
        let noun = if plural {
            ("suppliers", "fornecedores")
        } else {
            ("supplier", "fornecedor")
        };
        return said(
            pick(
                l,
                format!("{n} {} with relationships {en}", noun.0),
                format!("{n} {} com relacionamento {pt}", noun.1),
            ),
            plural,
        );
    }
    let late = |en: &str, pt: &str| {
        said(
            pick(
                l,
                format!("paying {} of bills {en}", percent(number)),
                format!("pagar {} das contas {pt}", percent(number)),
            ),
            false,
        )
    };
    let (n, plural) = count(number);
    match feature {
        "bureau.score" => said(
            pick(
                l,
                format!("a credit score of {n}"),
                format!("score de crédito de {n}"),
            ),
            false,
        ),
        "bureau.inquiries" => said(
            match (plural, l) {
                (true, Language::English) => format!("{n} recent credit inquiries"),
                (false, Language::English) => format!("{n} recent credit inquiry"),
                (true, Language::Portuguese) => format!("{n} consultas recentes de crédito"),
                (false, Language::Portuguese) => format!("{n} consulta recente de crédito"),
            },
            plural,
        ),
        "bureau.age_days" => said(
            pick(
                l,
                format!("a bureau report {n} days old"),
                format!("consulta ao birô de {n} dias atrás"),
            ),
            false,
        ),
        "bureau.on_time" => late("on time", "em dia"),
        "bureau.cash" => late("in cash", "à vista"),
        "bureau.late_share" => late("late", "com atraso"),
        "bureau.late_8_15" => late("8 to 15 days late", "com 8 a 15 dias de atraso"),
        "bureau.late_16_30" => late("16 to 30 days late", "com 16 a 30 dias de atraso"),
        "bureau.late_31_60" => late("31 to 60 days late", "com 31 a 60 dias de atraso"),
        "bureau.late_over_60" => late("over 60 days late", "com mais de 60 dias de atraso"),
        "terms.amount" => said(
            pick(
                l,
                format!("the order amount of {}", money(number, l)),
                format!("o valor do pedido de {}", money(number, l)),
            ),
            false,
        ),
        "terms.amount_to_limit" => said(
            pick(
                l,
                format!("an order of {} of the credit limit", percent(number)),
                format!("pedido de {} do limite de crédito", percent(number)),
            ),
            false,
        ),
        "terms.payment_term_days" => said(
            pick(
                l,
                format!("a payment term of {n} days"),
                format!("prazo de pagamento de {n} dias"),
            ),
            false,
        ),
        "terms.installments" => said(
            pick(l, format!("{n} installments"), format!("{n} parcelas")),
            plural,
        ),
        "limit.total" => said(
            pick(
                l,
                format!("a credit limit of {}", money(number, l)),
                format!("limite de crédito de {}", money(number, l)),
            ),
            false,
        ),
        "history.orders" => said(
            pick(
                l,
                format!("{n} earlier orders"),
                format!("{n} pedidos anteriores"),
            ),
            plural,
        ),
        "history.amount" => said(
            pick(
                l,
                format!("earlier orders worth {}", money(number, l)),
                format!("pedidos anteriores no valor de {}", money(number, l)),
            ),
            true,
        ),
        "history.blocked_share" => said(
            pick(
                l,
                format!("{} of earlier orders blocked", percent(number)),
                format!("{} dos pedidos anteriores bloqueados", percent(number)),
            ),
            false,
        ),
        "profile.age_years" => said(
            pick(
                l,
                format!("a business founded {:.0} years before the order", number),
                format!("empresa fundada {:.0} anos antes do pedido", number),
            ),
            false,
        ),
        "profile.simples_nacional" => flag_subject(
            number,
            l,
            ("being in Simples Nacional", "estar no Simples Nacional"),
            (
                "not being in Simples Nacional",
                "não estar no Simples Nacional",
            ),
        ),
        "profile.mei" => flag_subject(
            number,
            l,
            ("being a MEI", "ser MEI"),
            ("not being a MEI", "não ser MEI"),
        ),
        "profile.final_consumer" => flag_subject(
            number,
            l,
            ("being a final consumer", "ser consumidor final"),
            ("not being a final consumer", "não ser consumidor final"),
        ),
        _ => attribute_subject(feature, &format_number(number, l), l),
    }
}

fn flag_subject(value: f64, language: Language, yes: (&str, &str), no: (&str, &str)) -> Subject {
    let (en, pt) = if value >= 0.5 { yes } else { no };
    said(pick(language, en.to_owned(), pt.to_owned()), false)
}

/// A number as written in `language`: "2.50" in English, "2,50" in Portuguese.
fn format_number(value: f64, language: Language) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.2}");
        match language {
            Language::English => text,
            Language::Portuguese => text.replace('.', ","),
        }
    }
}

fn category_subject(feature: &str, category: &str, language: Language) -> Subject {
    match feature {
        "profile.state" => said(
            pick(
                language,
                format!("being in {category}"),
                format!("estar em {category}"),
            ),
            false,
        ),
        "profile.document" if category == "cpf" => said(
            pick(
                language,
                "being an individual (CPF)".into(),
                "ser pessoa física (CPF)".into(),
            ),
            false,
        ),
        "profile.document" => said(
            pick(
                language,
                "being a company (CNPJ)".into(),
                "ser pessoa jurídica (CNPJ)".into(),
            ),
            false,
        ),
        _ => attribute_subject(feature, &format!("\"{category}\""), language),
    }
}

/// The company's own attributes keep their names: only the company knows what they mean.
/// "=" because the value may be anything, a yes/no attribute's 1 or 0 too ("the customer's
/// has_guarantee 1" read as a typo).
fn attribute_subject(feature: &str, shown: &str, language: Language) -> Subject {
    let (owner, name) = feature.split_once('.').unwrap_or(("", feature));
    let text = match (owner, language) {
        ("customer", Language::English) => format!("the customer's {name} = {shown}"),
        ("customer", Language::Portuguese) => {
            format!("o atributo {name} do cliente igual a {shown}")
        }
        ("order", Language::English) => format!("the order's {name} = {shown}"),
        ("order", Language::Portuguese) => format!("o atributo {name} do pedido igual a {shown}"),
        (_, Language::English) => format!("{feature} of {shown}"),
        (_, Language::Portuguese) => format!("{feature} igual a {shown}"),
    };
    said(text, false)
}
