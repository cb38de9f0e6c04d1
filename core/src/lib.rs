//! The domain of aval: record types, validation rules, features, models, explanations and
//! the decision on an order. Pure code: nothing here touches the network, a database or a
//! clock it was not handed (only a stopwatch, to report how long a step took), so every rule
//! is testable in microseconds.

pub mod audit;
pub mod company;
pub mod decision;
pub mod experiment;
pub mod fault;
pub mod features;
pub mod fingerprint;
pub mod ingest;
pub mod model;
pub mod monitoring;
pub mod outcome;
pub mod policy;
pub mod reasons;
pub mod text;
pub mod token;
pub mod validation;

pub use fault::{Dependency, Fault, Outages};
pub use validation::{FieldError, FieldErrors};
