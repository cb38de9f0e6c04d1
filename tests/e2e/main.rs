//! End-to-end tests against the real stack started by `scripts/stack up`: Apache Kafka, the
//! schema registry and PostgreSQL. A missing service fails the tests; nothing is skipped.

// A test binary exports nothing; `pub` only marks what the modules share.
#![allow(unreachable_pub)]

mod audit;
mod audit_queries;
mod avro;
mod bounds;
mod checked_facts;
mod common;
mod comparison;
mod console;
mod datasets;
mod decision_history;
mod decisions;
mod decisions_support;
mod drift;
mod drift_alerts;
mod experiments;
mod faults;
mod hostile;
mod idempotency;
mod ingest;
mod ingest_crash;
mod ingest_inputs;
mod ingest_support;
mod jwt;
mod monitoring;
mod outcomes;
mod poison;
mod policy;
mod processes;
mod redrive;
mod registration;
mod reply_partitions;
mod reviews;
mod scale;
mod secured;
mod service;
mod text_safety;
mod tokens;
mod topics;
mod training;
mod training_label;
mod webdriver;
