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
    /// The order with the facts given alongside it, each already checked, and checked to be
    /// about the order's customer ([`facts_about_the_order`]).
    pub fn new(
        order: Order,
        customer: Option<Customer>,
        credit_limit: Option<CreditLimit>,
        bureau_report: Option<BureauReport>,
    ) -> Self {
        Self {
            given: CustomerFacts {
                customer,
                credit_limits: credit_limit.into_iter().collect(),
                bureau_reports: bureau_report.into_iter().collect(),
                orders: Vec::new(),
            },
            order,
        }
    }
}

/// Each fact given with an order must be about the order's customer (assembly would silently
/// ignore it otherwise): the customer id of each, when given, against the order's, reported at
/// its path under `prefix` (`customer.id`, or `orders[2].customer.id` in a batch).
pub fn facts_about_the_order(
    order_customer_id: &str,
    customer_id: Option<&str>,
    credit_limit_customer_id: Option<&str>,
    bureau_report_customer_id: Option<&str>,
    prefix: &str,
    errors: &mut FieldErrors,
) {
    for (path, id) in [
        ("customer.id", customer_id),
        ("credit_limit.customer_id", credit_limit_customer_id),
        ("bureau_report.customer_id", bureau_report_customer_id),
    ] {
        if id.is_some_and(|id| id != order_customer_id) {
            errors.push(format!("{prefix}{path}"), "must be the order's customer_id");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_given_with_an_order_must_be_about_its_customer() {
        let mut errors = FieldErrors::default();
        facts_about_the_order("C1", Some("C1"), None, Some("C1"), "", &mut errors);
        assert!(errors.is_empty(), "{errors}");
        facts_about_the_order("C1", None, Some("C2"), None, "orders[1].", &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["orders[1].credit_limit.customer_id"]);
    }
}
