pub(crate) mod audit;
pub(crate) mod companies;
pub(crate) mod health;
