pub(crate) mod companies;
pub(crate) mod health;
