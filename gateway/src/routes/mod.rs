pub(crate) mod audit;
pub(crate) mod companies;
pub(crate) mod datasets;
pub(crate) mod decisions;
pub(crate) mod health;
pub(crate) mod models;
pub(crate) mod openapi;
pub(crate) mod tokens;
