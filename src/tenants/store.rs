//! SQL of `tenants` and `tenant_members`.

use crate::db::{Conn, flag};

/// Create a tenant with `owner_id` as its owner; returns the tenant id.
pub async fn create_with_owner(
    conn: &mut Conn,
    name: &str,
    owner_id: &str,
    personal: bool,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
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
