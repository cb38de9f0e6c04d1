//! Companies (tenants), the tokens issued to them and the tokens withdrawn.

use crate::{Pending, Store, StoreError};
use aval_core::company::Registration;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub registered_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// What a valid token's claims are worth today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Granted(Company),
    /// The token's company does not exist (deleted, or a token from another deployment).
    UnknownCompany,
    CompanyDeactivated,
    TokenRevoked,
}

impl Store {
    /// Inserts the company in an open transaction; `Conflict` when the email is taken.
    pub async fn begin_registration(
        &self,
        registration: &Registration,
        at: DateTime<Utc>,
    ) -> Result<Pending<Company>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let company: Company = sqlx::query_as(
            "INSERT INTO companies (id, name, email, registered_at)
             VALUES ($1, $2, $3, $4)
             RETURNING id, name, email, registered_at, deactivated_at",
        )
        .bind(Uuid::new_v4())
        .bind(&registration.name)
        .bind(&registration.email)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        Ok(Pending::new(company, tx))
    }

    pub async fn company(&self, id: Uuid) -> Result<Company, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, email, registered_at, deactivated_at FROM companies WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// May this token act for this company now? At most one round trip.
    pub async fn access(&self, company_id: Uuid, jti: Uuid) -> Result<Access, StoreError> {
        let mut answers = self.accesses(&[(company_id, jti)]).await?;
        Ok(answers
            .remove(&(company_id, jti))
            .unwrap_or(Access::UnknownCompany))
    }

    /// [`Store::access`] for many (company, token id) pairs: the scorer checks a whole batch
    /// of requests at once. Granted access is remembered while this process hears of every
    /// deactivation and revocation (see `access.rs`); the rest is read in one round trip.
    pub async fn accesses(
        &self,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Access>, StoreError> {
        self.access.start(&self.pool);
        let mut answers = HashMap::with_capacity(pairs.len());
        let mut unknown = Vec::new();
        for &(company, jti) in pairs {
            match self.access.granted(company, jti) {
                Some(known) => {
                    answers.insert((company, jti), Access::Granted(known));
                }
                None => unknown.push((company, jti, self.access.begin_read(company))),
            }
        }
        if unknown.is_empty() {
            return Ok(answers);
        }
        let read: Vec<(Uuid, Uuid)> = unknown.iter().map(|&(c, j, _)| (c, j)).collect();
        let mut read = self.read_accesses(&read).await?;
        for (company, jti, generation) in unknown {
            let access = read
                .remove(&(company, jti))
                .unwrap_or(Access::UnknownCompany);
            if let (Access::Granted(known), Some(generation)) = (&access, generation) {
                self.access.remember(known.clone(), jti, generation);
            }
            answers.insert((company, jti), access);
        }
        Ok(answers)
    }

    /// Forgets this company's granted tokens in this process now (after a revocation it
    /// committed), rather than when the database's notification arrives: the revoking process
    /// refuses the token at once; the others within the notification's delay.
    pub fn forget_access(&self, company_id: Uuid) {
        self.access.forget(company_id);
    }

    /// Whether the next check of this token would be answered from memory, without the
    /// database: for tests and diagnostics.
    pub fn remembers_access(&self, company_id: Uuid, jti: Uuid) -> bool {
        self.access.granted(company_id, jti).is_some()
    }

    /// What the database says of each pair now, in one round trip.
    async fn read_accesses(
        &self,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Access>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            jti: Uuid,
            #[sqlx(flatten)]
            company: Company,
            revoked: bool,
        }
        let (companies, jtis): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT k.jti, c.id, c.name, c.email, c.registered_at, c.deactivated_at,
                    EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = k.jti) AS revoked
             FROM UNNEST($1::uuid[], $2::uuid[]) AS k(company_id, jti)
             JOIN companies c ON c.id = k.company_id",
        )
        .bind(&companies)
        .bind(&jtis)
        .fetch_all(&self.pool)
        .await?;
        let mut answers: HashMap<(Uuid, Uuid), Access> = pairs
            .iter()
            .map(|&pair| (pair, Access::UnknownCompany))
            .collect();
        for row in rows {
            let key = (row.company.id, row.jti);
            let access = if row.revoked {
                Access::TokenRevoked
            } else if row.company.deactivated_at.is_some() {
                Access::CompanyDeactivated
            } else {
                Access::Granted(row.company)
            };
            answers.insert(key, access);
        }
        Ok(answers)
    }

    /// Stops every token of the company from working; `NotFound` for an unknown id.
    pub async fn deactivate_company(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE companies SET deactivated_at = COALESCE(deactivated_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Withdraws one token. Revoking twice is not an error.
    pub async fn revoke_token(
        &self,
        company_id: Uuid,
        jti: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, company_id, revoked_at, reason)
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(company_id)
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A token as recorded: its claims and label, never the token string.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    pub jti: Uuid,
    pub company_id: Uuid,
    pub kid: String,
    pub label: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked by this call.
    Revoked,
    /// It already was; nothing changed.
    AlreadyRevoked,
}

/// A token to record: its identity, the key that signed it and the company's label.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub jti: Uuid,
    pub company_id: Uuid,
    pub kid: &'a str,
    pub label: &'a str,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl<T> Pending<T> {
    /// Records an issued token in the same transaction (registration's first token).
    pub async fn record_token(&mut self, token: &NewToken<'_>) -> Result<(), StoreError> {
        insert_token(&mut self.tx, token).await
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    token: &NewToken<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tokens (jti, company_id, kid, label, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.jti)
    .bind(token.company_id)
    .bind(token.kid)
    .bind(token.label)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Records a token in an open transaction: the caller audits it, then commits.
    pub async fn begin_token(&self, token: &NewToken<'_>) -> Result<Pending<()>, StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_token(&mut tx, token).await?;
        Ok(Pending::new((), tx))
    }

    /// The company's recorded tokens, newest first, revoked ones included.
    pub async fn tokens(&self, company_id: Uuid) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.jti, t.company_id, t.kid, t.label, t.issued_at, t.expires_at, r.revoked_at
             FROM tokens t LEFT JOIN revoked_tokens r ON r.jti = t.jti
             WHERE t.company_id = $1
             ORDER BY t.issued_at DESC, t.jti",
        )
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes one of the company's own tokens in an open transaction: the caller audits a
    /// [`Revocation::Revoked`], then commits. `NotFound` when the company has no such token:
    /// another company's token is no different from an unknown one. `own` vouches that the
    /// token is the company's although it may not be recorded (the token of the request
    /// itself, perhaps issued before tokens were recorded).
    pub async fn begin_revocation(
        &self,
        company_id: Uuid,
        jti: Uuid,
        own: bool,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Pending<Revocation>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let recorded: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM tokens WHERE jti = $1 AND company_id = $2)",
        )
        .bind(jti)
        .bind(company_id)
        .fetch_one(&mut *tx)
        .await?;
        if !recorded && !own {
            return Err(StoreError::NotFound);
        }
        let inserted = sqlx::query(
            "INSERT INTO revoked_tokens (jti, company_id, revoked_at, reason)
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(company_id)
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let revocation = if inserted.rows_affected() == 1 {
            Revocation::Revoked
        } else {
            Revocation::AlreadyRevoked
        };
        Ok(Pending::new(revocation, tx))
    }
}
