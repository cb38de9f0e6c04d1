//! The items of a decision request: the order, and the facts about its customer given with
//! it. Each item is read by the rules of its kind; this is the rule about them together.

use super::items::{BureauReport, CreditLimit, Customer, Order};
use crate::FieldErrors;
use crate::features::CustomerFacts;

/// An order to decide, with the facts given alongside it: they replace the stored facts of
/// their kind for this decision.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderToDecide {
    pub order: Order,
    pub given: CustomerFacts,
}

impl OrderToDecide {
    /// Each fact given with an order must be about the order's customer (assembly would
    /// silently ignore it otherwise); a fact about another is reported at its path under
    /// `prefix` (`customer.id`, or `orders[2].customer.id` in a batch).
    pub fn new(
        order: Order,
        customer: Option<Customer>,
        credit_limit: Option<CreditLimit>,
        bureau_report: Option<BureauReport>,
        prefix: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut same = |path: &str, id: &str| {
            if id != order.customer_id {
                errors.push(format!("{prefix}{path}"), "must be the order's customer_id");
            }
        };
        if let Some(c) = &customer {
            same("customer.id", &c.id);
        }
        if let Some(l) = &credit_limit {
            same("credit_limit.customer_id", &l.customer_id);
        }
        if let Some(r) = &bureau_report {
            same("bureau_report.customer_id", &r.customer_id);
        }
        errors.into_result(Self {
            given: CustomerFacts {
                customer,
                credit_limits: credit_limit.into_iter().collect(),
                bureau_reports: bureau_report.into_iter().collect(),
                orders: Vec::new(),
            },
            order,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::items::Cents;

    #[test]
    fn facts_given_with_an_order_must_be_about_its_customer() {
        let order = Order {
            id: "O1".into(),
            customer_id: "C1".into(),
            issued_at: chrono::DateTime::from_timestamp_millis(0).unwrap_or_default(),
            amount: Cents(100),
            payment_term_days: None,
            installments: None,
            attributes: Default::default(),
            outcome: None,
        };
        let limit = |customer_id: &str| CreditLimit {
            customer_id: customer_id.into(),
            limit: Cents(1_000),
            valid_from: chrono::NaiveDate::default(),
        };
        let given = OrderToDecide::new(order.clone(), None, Some(limit("C1")), None, "")
            .expect("about the order's customer");
        assert_eq!(given.given.credit_limits, [limit("C1")]);
        let errors = OrderToDecide::new(order, None, Some(limit("C2")), None, "orders[1].")
            .expect_err("about another customer");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["orders[1].credit_limit.customer_id"]);
    }
}
