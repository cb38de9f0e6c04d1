use aval_core::{Dependency, Fault};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write; `constraint` names which.
    #[error("already exists ({constraint})")]
    Conflict { constraint: String },
    #[error("not found")]
    NotFound,
    /// What the write was judged on changed before it could be made (another writer got
    /// there first); saying what.
    #[error("changed meanwhile: {0}")]
    Stale(&'static str),
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// Stored data breaks an invariant the code relies on.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whose fault the failure is. PostgreSQL says so by SQLSTATE class: 22 (data exception)
    /// and 23 (integrity constraint) are the data's; 08 (connection), 40 (transaction
    /// rollback: serialization failure, deadlock), 53 (insufficient resources), 57 (operator
    /// intervention: shutdown, restart) and 58 (system error) are the server's, and pass.
    /// Anything else (a query that does not fit the schema, a row that cannot be read) is ours.
    pub fn fault(&self) -> Fault {
        let database = Fault::External(Dependency::Database);
        match self {
            StoreError::Conflict { .. } | StoreError::Stale(_) => Fault::Sender,
            StoreError::Database(sqlx::Error::Database(db)) => match db.code() {
                Some(code) => sqlstate_fault(&code),
                None => Fault::Internal,
            },
            StoreError::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_),
            ) => database,
            StoreError::Database(_)
            | StoreError::NotFound
            | StoreError::Corrupt(_)
            | StoreError::Migration(_) => Fault::Internal,
        }
    }
}

/// The fault a SQLSTATE code names, by its two-character class.
fn sqlstate_fault(code: &str) -> Fault {
    match code.get(..2) {
        Some("22" | "23") => Fault::Sender,
        Some("08" | "40" | "53" | "57" | "58") => Fault::External(Dependency::Database),
        _ => Fault::Internal,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                constraint: db.constraint().unwrap_or("unique").to_owned(),
            },
            _ => StoreError::Database(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_name_the_fault() {
        // invalid byte sequence (a NUL in text), unique violation, check violation
        for code in ["22021", "23505", "23514", "22P02"] {
            assert_eq!(sqlstate_fault(code), Fault::Sender, "{code}");
        }
        // connection failure, serialization failure, too many connections, admin shutdown
        for code in [
            "08006", "40001", "40P01", "53300", "57P01", "57P03", "58030",
        ] {
            assert_eq!(
                sqlstate_fault(code),
                Fault::External(Dependency::Database),
                "{code}"
            );
        }
        // undefined column, syntax error: our queries are wrong
        for code in ["42703", "42601", ""] {
            assert_eq!(sqlstate_fault(code), Fault::Internal, "{code}");
        }
    }

    #[test]
    fn an_unreachable_database_is_an_outage() {
        let refused = StoreError::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(refused.fault(), Fault::External(Dependency::Database));
        assert_eq!(
            StoreError::from(sqlx::Error::PoolTimedOut).fault(),
            Fault::External(Dependency::Database)
        );
        assert_eq!(StoreError::Corrupt("x".into()).fault(), Fault::Internal);
    }
}
