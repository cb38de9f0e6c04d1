//! Where the CPU of an ingest record goes, per item: Avro encode (gateway), Avro decode and
//! schema resolution, serde into the wire structs, and the wire records into domain items by
//! the upload rules (processor), and the validated batch's fingerprint (both, to bind its id
//! to its content).
//! Pure code, no registry: `cargo bench -p aval-topics --bench ingest_record`.

use apache_avro::from_value;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use aval_core::fingerprint::batch_fingerprint;
use aval_core::ingest::items::ItemKind;
use aval_core::ingest::validate_batch;
use aval_topics::records::{IngestContent, IngestRecord};
use aval_topics::schemas::INGEST_RECORD;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Instant;

const BATCH: usize = 500;
const ROUNDS: usize = 40;

fn orders() -> Vec<Value> {
    (0..BATCH)
        .map(|i| {
            json!({"id": format!("O{i:07}"), "customer_id": format!("C{:05}", i % 97),
                   "issued_at": "2025-03-05T12:00:00Z", "amount": format!("{}.{:02}", 1000 + i, i % 100),
                   "payment_term_days": 30, "installments": 1 + i % 6,
                   "attributes": {"channel": "sales-rep", "product_line": "steel"},
                   "outcome": if i % 4 == 0 { "blocked" } else { "approved" }})
        })
        .collect()
}

fn bureau_reports() -> Vec<Value> {
    (0..BATCH)
        .map(|i| {
            json!({"customer_id": format!("C{i:05}"), "queried_at": "2025-03-01T10:00:00Z", "inquiries": i % 9, "score": 300 + i % 600,
                   "payment_habits": {"on_time": 0.8, "cash": 0.05, "late_8_15": 0.1, "late_16_30": 0.03, "late_31_60": 0.02, "late_over_60": 0.0},
                   "supplier_relationships": {"m0_6": 1, "m6_12": 2, "y1_3": 3, "y3_5": 0, "y5_10": 0, "y10_plus": 0, "inactive": 1},
                   "negatives": {"pefin": {"count": i % 3, "total": "1200.00"}, "refin": {"count": 0, "total": "0"},
                                 "overdue_debts": {"count": 0, "total": "0"}, "bankruptcy": {"count": 0},
                                 "bounced_cheques": {"count": 0}, "represented_cheques": {"count": 0},
                                 "bankruptcy_participation": {"count": 0}}})
        })
        .collect()
}

/// Runs `step` ROUNDS times and prints microseconds per item.
fn measure<T>(label: &str, mut step: impl FnMut() -> T) {
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(step());
    }
    let per_item = started.elapsed().as_secs_f64() * 1e6 / (ROUNDS * BATCH) as f64;
    println!("  {label:<34} {per_item:>7.2} µs/item");
}

fn main() {
    let schema = INGEST_RECORD.parsed().expect("schema");
    let now = chrono::Utc::now();
    for (name, kind, items) in [
        ("orders", ItemKind::Orders, orders()),
        ("bureau reports", ItemKind::BureauReports, bureau_reports()),
    ] {
        println!("{name} (batches of {BATCH}):");
        let batch = validate_batch(kind, &items, now).expect("valid");
        let record = IngestRecord::batch("company", "dataset", "batch", now, &batch);
        let writer = GenericDatumWriter::builder(schema).build().expect("writer");
        let bytes = writer.write_ser_to_vec(&record).expect("encode");
        let reader = GenericDatumReader::builder(schema).build().expect("reader");
        let value = reader.read_value(&mut bytes.as_slice()).expect("decode");
        let resolved = value.clone().resolve(schema).expect("resolve");
        let decoded: IngestRecord = from_value(&resolved).expect("from_value");
        // Converting consumes the record: one copy per round, made before the clock starts.
        let mut copies = vec![decoded; ROUNDS].into_iter();
        measure("gateway: validate JSON items", || {
            validate_batch(kind, &items, now).expect("valid")
        });
        measure("gateway: fingerprint", || batch_fingerprint(&batch));
        measure("gateway: Avro encode", || {
            writer.write_ser_to_vec(&record).expect("encode")
        });
        measure("processor: Avro decode to Value", || {
            reader.read_value(&mut bytes.as_slice()).expect("decode")
        });
        // Skipped by the codec when the writer schema is the reader's (the usual case).
        measure("processor: resolve to reader schema", || {
            value.clone().resolve(schema).expect("resolve")
        });
        measure("processor: Value into wire structs", || {
            from_value::<IngestRecord>(&resolved).expect("from_value")
        });
        measure("processor: validate wire into domain", || {
            let record = copies.next().expect("a copy per round");
            match record.into_content(now) {
                IngestContent::Batch(_, batch) => batch.expect("valid"),
                IngestContent::Completion(_) => panic!("a batch"),
            }
        });
        measure("processor: fingerprint", || batch_fingerprint(&batch));
        println!(
            "  (one {name} record: {} bytes, {:.0} bytes/item)",
            bytes.len(),
            bytes.len() as f64 / BATCH as f64
        );
    }
}
