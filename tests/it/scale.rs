//! `admin seed`: many users and sessions in batches, on the backend the environment chooses.

use crate::common;

use common::{PASSWORD, TestApp};
use gatehouse::admin::seed::{SeedOptions, seed};
use gatehouse::domain::Password;

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn seeded_users_have_personal_teams_sessions_and_can_sign_in() {
    let (app, _s) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let options = SeedOptions {
        users: 1_201,
        sessions: true,
        insecure_fast_hash: true,
    };
    let done = seed(&app.state, &Password::new(PASSWORD.into()), options, |_| {})
        .await
        .unwrap();
    assert_eq!((done.users, done.sessions), (1_201, 1_201));
    assert_eq!(count(&app, "users").await, 1_201);
    assert_eq!(count(&app, "sessions").await, 1_201);
    assert_eq!(count(&app, "tenants WHERE is_personal = 1").await, 1_201);
    assert_eq!(
        count(&app, "tenant_members WHERE role = 'owner'").await,
        1_201
    );

    // The last one signs in; its cheap hash is replaced by a real one at that sign-in.
    let r = app.login(&done.last_email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind(&done.last_email)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let r = app.login(&done.first_email, "not the password").await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn without_the_flag_each_seeded_user_gets_its_own_argon2_hash() {
    let (app, _s) = TestApp::spawn().await;
    let options = SeedOptions {
        users: 3,
        sessions: false,
        insecure_fast_hash: false,
    };
    let done = seed(&app.state, &Password::new(PASSWORD.into()), options, |_| {})
        .await
        .unwrap();
    assert_eq!((done.users, done.sessions), (3, 0));
    let hashes: Vec<String> = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(hashes.len(), 3);
    assert!(
        hashes
            .iter()
            .all(|h| h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"))
    );
    assert!(
        hashes[0] != hashes[1] && hashes[1] != hashes[2],
        "own salts"
    );
}
