//! Compact columns give back the items pushed, and merge datasets as the store did.

use super::synthetic_dataset;
use crate::ingest::items::{
    BureauReport, Cents, NegativeRecord, Negatives, PaymentHabits, SupplierRelationships,
};
use crate::model::{ColumnsBuilder, TrainingColumns, examples, for_each_example};
use chrono::{TimeZone, Utc};

#[test]
fn every_field_of_a_bureau_report_comes_back() {
    let (customers, limits, mut reports, orders) = synthetic_dataset(50, 3);
    reports[0] = BureauReport {
        customer_id: reports[0].customer_id.clone(),
        queried_at: Utc
            .with_ymd_and_hms(2023, 5, 1, 8, 30, 0)
            .single()
            .expect("date"),
        inquiries: None,
        score: Some(-1),
        payment_habits: Some(PaymentHabits {
            on_time: Some(0.5),
            cash: None,
            late_8_15: Some(0.0),
            ..PaymentHabits::default()
        }),
        supplier_relationships: Some(SupplierRelationships {
            m0_6: Some(0),
            inactive: Some(7),
            ..SupplierRelationships::default()
        }),
        negatives: Some(Negatives {
            refin: Some(NegativeRecord {
                count: None,
                total: Some(Cents(-5)),
            }),
            bankruptcy_participation: Some(NegativeRecord {
                count: Some(2),
                total: None,
            }),
            ..Negatives::default()
        }),
    };
    let columns = TrainingColumns::from_items(&customers, &limits, &reports, &orders);
    let back: Vec<BureauReport> = (0..columns.customers())
        .filter_map(|c| columns.customer_items_if(c, |_| true))
        .flat_map(|items| items.reports)
        .collect();
    assert_eq!(back.len(), reports.len());
    for report in &reports {
        assert!(back.contains(report), "{report:?}");
    }
    for (i, order) in orders.iter().enumerate() {
        assert_eq!(&columns.order(i), order);
    }
}

#[test]
fn merging_keeps_the_last_item_per_key_in_the_place_of_the_first() {
    let (customers, limits, reports, orders) = synthetic_dataset(120, 5);
    let mut corrected = orders[3].clone();
    corrected.amount = Cents(corrected.amount.0 + 1);
    let mut renamed = customers[0].clone();
    renamed.state = Some("RJ".into());
    let mut builder = ColumnsBuilder::merging();
    for c in &customers {
        builder.push_customer(c);
    }
    for l in &limits {
        builder.push_credit_limit(l);
    }
    for r in &reports {
        builder.push_bureau_report(r);
    }
    for o in &orders {
        builder.push_order(o.into());
    }
    // A later dataset: one order corrected, one customer corrected, one report repeated.
    builder.push_order((&corrected).into());
    builder.push_customer(&renamed);
    builder.push_bureau_report(&reports[0]);
    let merged = builder.finish();
    assert_eq!(merged.orders(), orders.len());
    assert_eq!(merged.order(3), corrected);

    let mut expected_orders = orders.clone();
    expected_orders[3] = corrected;
    let mut expected_customers = customers.clone();
    expected_customers[0] = renamed;
    let mut from_merged = Vec::new();
    for_each_example(&merged, |i, example| from_merged.push((i, example)));
    from_merged.sort_by_key(|(i, _)| *i);
    let from_merged: Vec<_> = from_merged.into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        from_merged,
        examples(&expected_customers, &limits, &reports, &expected_orders)
    );
}
