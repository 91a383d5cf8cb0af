//! SQL of `tenants` and `tenant_members`.

use crate::db::{Backend, Conn, Db, flag};

/// Create a tenant with `owner_id` as its owner; returns the tenant id.
pub async fn create_with_owner(
    conn: &mut Conn,
    name: &str,
    owner_id: &str,
    personal: bool,
    now: i64,
) -> Result<String, sqlx::Error> {
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
}

/// Personal tenants (same id as their owner) for many users at once, as `create_with_owner`
/// makes one: the operators' `admin seed`. `owners` are (user id, tenant name).
pub async fn create_personal_many(
    conn: &mut Conn,
    owners: &[(&str, &str)],
    now: i64,
) -> Result<(), sqlx::Error> {
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
}

/// Tenants `user_id` owns that have other members (they must be handed over first).
pub async fn count_owned_with_others(conn: &mut Conn, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM tenant_members m WHERE m.user_id = $1 AND m.role = 'owner' \
         AND EXISTS (SELECT 1 FROM tenant_members o WHERE o.tenant_id = m.tenant_id AND o.user_id <> $1)",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
}

/// Delete the tenants whose only member is `user_id`.
pub async fn delete_sole_member_tenants(
    conn: &mut Conn,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM tenants WHERE id IN (SELECT m.tenant_id FROM tenant_members m WHERE m.user_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM tenant_members o WHERE o.tenant_id = m.tenant_id AND o.user_id <> $1))",
    )
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The role of `user_id` in `tenant_id`, if a member.
pub async fn role_of(
    conn: &mut Conn,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

pub async fn personal_tenant(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT t.id FROM tenants t JOIN tenant_members m ON m.tenant_id = t.id \
         WHERE m.user_id = $1 AND t.is_personal = 1 AND m.role = 'owner' ORDER BY t.created_at LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// (id, name, role, created_at) of the tenants `user_id` belongs to.
pub async fn list_for_user(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Vec<(String, String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.name, m.role, t.created_at FROM tenants t JOIN tenant_members m ON m.tenant_id = t.id \
         WHERE m.user_id = $1 ORDER BY t.created_at, t.id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

pub async fn name_of(conn: &mut Conn, tenant_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(conn)
        .await
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

pub async fn members(conn: &mut Conn, tenant_id: &str) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.user_id, u.email, u.nickname, u.language, m.role, m.joined_at FROM tenant_members m \
         JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY m.joined_at, u.email",
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

pub async fn member(
    conn: &mut Conn,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.user_id, u.email, u.nickname, u.language, m.role, m.joined_at FROM tenant_members m \
         JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// The team's owners, counted under a lock on their rows until the transaction ends: two
/// owners demoting each other (or leaving) at once must not both see the other one stay.
/// PostgreSQL locks the rows (`FOR UPDATE`, in one order so two callers cannot deadlock; a
/// row changed meanwhile is re-read, so the second caller counts what the first committed);
/// SQLite's writers already run one at a time (`BEGIN IMMEDIATE`, see [`crate::db::Db::begin`]).
pub async fn count_owners(
    conn: &mut Conn,
    backend: Backend,
    tenant_id: &str,
) -> Result<i64, sqlx::Error> {
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
        .fetch_one(conn)
        .await
}

/// Add a member, or leave an existing membership as it is; true when added.
pub async fn add_member(
    conn: &mut Conn,
    tenant_id: &str,
    user_id: &str,
    role: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_role(
    conn: &mut Conn,
    tenant_id: &str,
    user_id: &str,
    role: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tenant_members SET role = $1 WHERE tenant_id = $2 AND user_id = $3")
        .bind(role)
        .bind(tenant_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn remove_member(
    conn: &mut Conn,
    tenant_id: &str,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
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

pub async fn insert_invitation(conn: &mut Conn, i: NewInvitation<'_>) -> Result<(), sqlx::Error> {
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
    .execute(conn)
    .await
    .map(|_| ())
}

/// A live invitation: (id, tenant id, invited email normalised, role).
pub async fn live_invitation(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<(String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, email_normalized, role FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A team's invitations not yet used and not expired: (id, email as written, role, expiry),
/// soonest to expire first.
pub async fn pending_invitations(
    conn: &mut Conn,
    tenant_id: &str,
    now: i64,
) -> Result<Vec<(String, String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, role, expires_at FROM invitations \
         WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > $2 ORDER BY expires_at, id",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Withdraw an unused invitation of `tenant_id`; its role, or `None` when there was none.
pub async fn delete_invitation(
    conn: &mut Conn,
    tenant_id: &str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM invitations WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL RETURNING role",
    )
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(conn)
    .await
}

/// What a live invitation offers: (team name, invited email as written, role, expiry).
pub async fn invitation_offer(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<(String, String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.name, i.email, i.role, i.expires_at FROM invitations i JOIN tenants t ON t.id = i.tenant_id \
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Use an invitation once; false when it was used meanwhile.
pub async fn claim_invitation(
    conn: &mut Conn,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The team's settings (a JSON object as text; features keep their own keys in it).
pub async fn settings(db: &Db, tenant_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT settings FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await
}

pub async fn set_settings(db: &Db, tenant_id: &str, settings: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tenants SET settings = $1 WHERE id = $2")
        .bind(settings)
        .bind(tenant_id)
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// Insert a tenant brought over with its own id and settings, unless that id exists; true when
/// inserted. Its members are added separately.
pub async fn insert_imported(
    conn: &mut Conn,
    id: &str,
    name: &str,
    personal: bool,
    settings: &str,
    created_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO tenants (id, name, is_personal, settings, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(name)
    .bind(flag(personal))
    .bind(settings)
    .bind(created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// [`insert_invitation`] unless an invitation with that id exists (used or not); true when
/// inserted.
pub async fn insert_invitation_once(
    conn: &mut Conn,
    i: NewInvitation<'_>,
) -> Result<bool, sqlx::Error> {
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
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The live invitation of `tenant_id` for this normalised email: (id, role).
pub async fn live_invitation_for(
    conn: &mut Conn,
    tenant_id: &str,
    email_normalized: &str,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, role FROM invitations WHERE tenant_id = $1 AND email_normalized = $2 \
         AND accepted_at IS NULL AND expires_at > $3 ORDER BY created_at, id LIMIT 1",
    )
    .bind(tenant_id)
    .bind(email_normalized)
    .bind(now)
    .fetch_optional(conn)
    .await
}
