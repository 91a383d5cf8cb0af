//! SQL of `tenants` and `tenant_members`.

use crate::db::{Backend, Exec, StoreFuture, flag};

/// Create a tenant with `owner_id` as its owner; returns the tenant id.
pub fn create_with_owner<'c>(
    ex: impl Exec<'c> + 'c,
    name: &'c str,
    owner_id: &'c str,
    personal: bool,
    now: i64,
) -> StoreFuture<'c, String> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        // A personal tenant shares its owner's id, as RAGFlow's does (API.md settled 17).
        let id = if personal {
            owner_id.to_string()
        } else {
            uuid::Uuid::now_v7().to_string()
        };
        sqlx::query("INSERT INTO tenants (id, name, is_personal, settings, created_at) VALUES ($1, $2, $3, '{}', $4)")
        .bind(&id)
        .bind(name)
        .bind(flag(personal))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)")
        .bind(&id)
        .bind(owner_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(id)
    })
}

/// Personal tenants (same id as their owner) for many users at once, as `create_with_owner`
/// makes one: the operators' `admin seed`. `owners` are (user id, tenant name).
pub fn create_personal_many<'c>(
    ex: impl Exec<'c> + 'c,
    owners: &'c [(&'c str, &'c str)],
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        if owners.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO tenants (id, name, is_personal, settings, created_at) VALUES {}",
            crate::db::values_list(owners.len(), 5)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, name) in owners {
            query = query
                .bind(*id)
                .bind(*name)
                .bind(flag(true))
                .bind("{}")
                .bind(now);
        }
        query.execute(&mut *conn).await?;
        let sql = format!(
            "INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES {}",
            crate::db::values_list(owners.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, _) in owners {
            query = query.bind(*id).bind(*id).bind("owner").bind(now);
        }
        query.execute(&mut *conn).await.map(|_| ())
    })
}

/// Tenants `user_id` owns that have other members (they must be handed over first).
pub fn count_owned_with_others<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, i64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM tenant_members m WHERE m.user_id = $1 AND m.role = 'owner' \
         AND EXISTS (SELECT 1 FROM tenant_members o WHERE o.tenant_id = m.tenant_id AND o.user_id <> $1)",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
    })
}

/// Delete the tenants whose only member is `user_id`.
pub fn delete_sole_member_tenants<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "DELETE FROM tenants WHERE id IN (SELECT m.tenant_id FROM tenant_members m WHERE m.user_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM tenant_members o WHERE o.tenant_id = m.tenant_id AND o.user_id <> $1))",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected())
    })
}

/// The role of `user_id` in `tenant_id`, if a member.
pub fn role_of<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    user_id: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
    })
}

pub fn personal_tenant<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
        "SELECT t.id FROM tenants t JOIN tenant_members m ON m.tenant_id = t.id \
         WHERE m.user_id = $1 AND t.is_personal = 1 AND m.role = 'owner' ORDER BY t.created_at LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// (id, name, role, created_at) of the tenants `user_id` belongs to.
pub fn list_for_user<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, Vec<(String, String, String, i64)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT t.id, t.name, m.role, t.created_at FROM tenants t JOIN tenant_members m ON m.tenant_id = t.id \
         WHERE m.user_id = $1 ORDER BY t.created_at, t.id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    })
}

pub fn name_of<'c>(ex: impl Exec<'c> + 'c, tenant_id: &'c str) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&mut *conn)
            .await
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub nickname: String,
    pub language: String,
    pub role: String,
    pub joined_at: i64,
}

pub fn members<'c>(ex: impl Exec<'c> + 'c, tenant_id: &'c str) -> StoreFuture<'c, Vec<MemberRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT m.user_id, u.email, u.nickname, u.language, m.role, m.joined_at FROM tenant_members m \
         JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY m.joined_at, u.email",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await
    })
}

pub fn member<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    user_id: &'c str,
) -> StoreFuture<'c, Option<MemberRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT m.user_id, u.email, u.nickname, u.language, m.role, m.joined_at FROM tenant_members m \
         JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// The team's owners, counted under a lock on their rows until the transaction ends: two
/// owners demoting each other (or leaving) at once must not both see the other one stay.
/// PostgreSQL locks the rows (`FOR UPDATE`, in one order so two callers cannot deadlock; a
/// row changed meanwhile is re-read, so the second caller counts what the first committed);
/// SQLite's writers already run one at a time (`BEGIN IMMEDIATE`, see [`crate::db::Db::begin`]).
pub fn count_owners<'c>(
    ex: impl Exec<'c> + 'c,
    backend: Backend,
    tenant_id: &'c str,
) -> StoreFuture<'c, i64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let sql = match backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM tenant_members WHERE tenant_id = $1 AND role = 'owner'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM (SELECT user_id FROM tenant_members \
             WHERE tenant_id = $1 AND role = 'owner' ORDER BY user_id FOR UPDATE) owners"
            }
        };
        sqlx::query_scalar(sql)
            .bind(tenant_id)
            .fetch_one(&mut *conn)
            .await
    })
}

/// Add a member, or leave an existing membership as it is; true when added.
pub fn add_member<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    user_id: &'c str,
    role: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub fn set_role<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    user_id: &'c str,
    role: &'c str,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE tenant_members SET role = $1 WHERE tenant_id = $2 AND user_id = $3")
            .bind(role)
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub fn remove_member<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    user_id: &'c str,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("DELETE FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub role: &'a str,
    pub token_hash: &'a str,
    pub invited_by: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub fn insert_invitation<'c>(ex: impl Exec<'c> + 'c, i: NewInvitation<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO invitations (id, tenant_id, email, email_normalized, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(i.id)
    .bind(i.tenant_id)
    .bind(i.email)
    .bind(i.email_normalized)
    .bind(i.role)
    .bind(i.token_hash)
    .bind(i.invited_by)
    .bind(i.now)
    .bind(i.expires_at)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

/// A live invitation: (id, tenant id, invited email normalised, role).
pub fn live_invitation<'c>(
    ex: impl Exec<'c> + 'c,
    token_hash: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<(String, String, String, String)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT id, tenant_id, email_normalized, role FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// A team's invitations not yet used and not expired: (id, email as written, role, expiry),
/// soonest to expire first.
pub fn pending_invitations<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    now: i64,
) -> StoreFuture<'c, Vec<(String, String, String, i64)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "SELECT id, email, role, expires_at FROM invitations \
         WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > $2 ORDER BY expires_at, id",
        )
        .bind(tenant_id)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
    })
}

/// Withdraw an unused invitation of `tenant_id`; its role, or `None` when there was none.
pub fn delete_invitation<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
        "DELETE FROM invitations WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL RETURNING role",
    )
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// What a live invitation offers: (team name, invited email as written, role, expiry).
pub fn invitation_offer<'c>(
    ex: impl Exec<'c> + 'c,
    token_hash: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<(String, String, String, i64)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT t.name, i.email, i.role, i.expires_at FROM invitations i JOIN tenants t ON t.id = i.tenant_id \
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// Use an invitation once; false when it was used meanwhile.
pub fn claim_invitation<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The team's settings (a JSON object as text; features keep their own keys in it).
pub fn settings<'c>(ex: impl Exec<'c> + 'c, tenant_id: &'c str) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT settings FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&mut *conn)
            .await
    })
}

pub fn set_settings<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    settings: &'c str,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE tenants SET settings = $1 WHERE id = $2")
            .bind(settings)
            .bind(tenant_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// Insert a tenant brought over with its own id and settings, unless that id exists; true when
/// inserted. Its members are added separately.
pub fn insert_imported<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    name: &'c str,
    personal: bool,
    settings: &'c str,
    created_at: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "INSERT INTO tenants (id, name, is_personal, settings, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(name)
    .bind(flag(personal))
    .bind(settings)
    .bind(created_at)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// [`insert_invitation`] unless an invitation with that id exists (used or not); true when
/// inserted.
pub fn insert_invitation_once<'c>(
    ex: impl Exec<'c> + 'c,
    i: NewInvitation<'c>,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "INSERT INTO invitations (id, tenant_id, email, email_normalized, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(i.id)
    .bind(i.tenant_id)
    .bind(i.email)
    .bind(i.email_normalized)
    .bind(i.role)
    .bind(i.token_hash)
    .bind(i.invited_by)
    .bind(i.now)
    .bind(i.expires_at)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The live invitation of `tenant_id` for this normalised email: (id, role).
pub fn live_invitation_for<'c>(
    ex: impl Exec<'c> + 'c,
    tenant_id: &'c str,
    email_normalized: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<(String, String)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "SELECT id, role FROM invitations WHERE tenant_id = $1 AND email_normalized = $2 \
         AND accepted_at IS NULL AND expires_at > $3 ORDER BY created_at, id LIMIT 1",
        )
        .bind(tenant_id)
        .bind(email_normalized)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
    })
}
