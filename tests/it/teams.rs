//! API keys, teams, invitations, broadcast and administration: who may do what.

use crate::common;

use common::{PASSWORD, Resp, Storage, TestApp, base_config, unique_email};
use reqwest::Method;
use serde_json::{Value, json};

struct Caller {
    name: &'static str,
    token: Option<String>,
}

/// A tenant T with an owner, an admin and a member, an outsider, a superuser, and API keys.
struct World {
    tenant: String,
    owner: (String, String),
    admin: (String, String),
    member: (String, String),
    outsider: (String, String),
    superuser: (String, String),
    key_of_tenant: String,
    key_of_other_tenant: String,
}

async fn register_with_id(app: &TestApp, tag: &str) -> (String, String) {
    app.register(&unique_email(tag)).await
}

async fn add_member(app: &TestApp, tenant: &str, user: &str, role: &str) {
    sqlx::query("INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, $3, 0) ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = $3")
        .bind(tenant)
        .bind(user)
        .bind(role)
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

async fn world(app: &TestApp) -> World {
    let owner = register_with_id(app, "owner").await;
    let admin = register_with_id(app, "admin").await;
    let member = register_with_id(app, "member").await;
    let outsider = register_with_id(app, "outsider").await;
    let superuser = register_with_id(app, "super").await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&superuser.1)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let t = app
        .post("/api/v1/tenants", Some(&owner.0), json!({"name": "Ops"}))
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(t.body["role"], "owner");
    let tenant = t.body["id"].as_str().unwrap().to_string();
    add_member(app, &tenant, &admin.1, "admin").await;
    add_member(app, &tenant, &member.1, "member").await;
    let k = app
        .post(
            "/api/v1/api-keys",
            Some(&owner.0),
            json!({"name": "ci", "tenant_id": tenant}),
        )
        .await;
    assert_eq!(k.status, 201, "{}", k.text);
    let key_of_tenant = k.body["key"].as_str().unwrap().to_string();
    let k = app
        .post(
            "/api/v1/api-keys",
            Some(&owner.0),
            json!({"name": "personal"}),
        )
        .await;
    let key_of_other_tenant = k.body["key"].as_str().unwrap().to_string();
    World {
        tenant,
        owner,
        admin,
        member,
        outsider,
        superuser,
        key_of_tenant,
        key_of_other_tenant,
    }
}

fn callers(w: &World) -> Vec<Caller> {
    vec![
        Caller {
            name: "anonymous",
            token: None,
        },
        Caller {
            name: "outsider",
            token: Some(w.outsider.0.clone()),
        },
        Caller {
            name: "member",
            token: Some(w.member.0.clone()),
        },
        Caller {
            name: "admin",
            token: Some(w.admin.0.clone()),
        },
        Caller {
            name: "owner",
            token: Some(w.owner.0.clone()),
        },
        Caller {
            name: "key_of_tenant",
            token: Some(w.key_of_tenant.clone()),
        },
        Caller {
            name: "key_of_other_tenant",
            token: Some(w.key_of_other_tenant.clone()),
        },
        Caller {
            name: "superuser",
            token: Some(w.superuser.0.clone()),
        },
    ]
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_specified() {
    let (app, _s) = TestApp::spawn().await;
    let w = world(&app).await;
    let t = &w.tenant;
    let m = &w.member.1;
    // Expected status per caller, in the order of `callers()`:
    // anonymous, outsider, member, admin, owner, key_of_tenant, key_of_other_tenant, superuser.
    let table: Vec<(Method, String, Option<Value>, [u16; 8])> = vec![
        (
            Method::GET,
            "/api/v1/tenants".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            Some(json!({"name": "New"})),
            [401, 201, 201, 201, 201, 403, 403, 201],
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{t}/members"),
            None,
            [401, 404, 200, 200, 200, 200, 404, 404],
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{t}/invitations"),
            Some(json!({"email": "guest@example.com", "role": "member"})),
            [401, 404, 403, 201, 201, 201, 404, 404],
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{t}/invitations"),
            None,
            [401, 404, 403, 200, 200, 200, 404, 404],
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{t}/invitations/{m}"),
            None,
            [401, 404, 403, 404, 404, 404, 404, 404],
        ),
        (
            Method::GET,
            "/api/v1/invitations/nonexistent".into(),
            None,
            [400, 400, 400, 400, 400, 400, 400, 400],
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{t}/members/{m}"),
            Some(json!({"role": "member"})),
            [401, 404, 403, 200, 200, 200, 404, 404],
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{t}/broadcast"),
            Some(json!({"subject": "Hi", "body": "Hello team"})),
            [401, 404, 403, 202, 202, 202, 404, 404],
        ),
        (
            Method::POST,
            "/api/v1/api-keys".into(),
            Some(json!({"name": "k"})),
            [401, 201, 201, 201, 201, 403, 403, 201],
        ),
        (
            Method::GET,
            "/api/v1/api-keys".into(),
            None,
            [401, 200, 200, 200, 200, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/invitations/nonexistent/accept".into(),
            None,
            [401, 400, 400, 400, 400, 403, 403, 400],
        ),
        (
            Method::GET,
            "/api/v1/admin/users".into(),
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/admin/users/{m}"),
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/admin/audit".into(),
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/admin/outbox".into(),
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/users/me/sessions".into(),
            None,
            [401, 200, 200, 200, 200, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/users/me".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &table {
        for (caller, want) in callers(&w).iter().zip(expected) {
            let r = app
                .request(method.clone(), path, caller.token.as_deref(), body.clone())
                .await;
            if r.status != *want {
                wrong.push(format!(
                    "{method} {path} as {}: want {want}, got {} {}",
                    caller.name, r.status, r.text
                ));
            }
            if r.status == 403
                && caller.name.starts_with("key")
                && *want == 403
                && !path.contains("/admin/")
            {
                assert_eq!(
                    r.code(),
                    "session_required",
                    "{method} {path} as {}",
                    caller.name
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // DELETE a member: each caller tries to remove a fresh victim.
    let expected = [401, 404, 403, 204, 204, 204, 404, 404];
    for (caller, want) in callers(&w).iter().zip(expected) {
        let victim = register_with_id(&app, "victim").await;
        add_member(&app, t, &victim.1, "member").await;
        let r = app
            .delete(
                &format!("/api/v1/tenants/{t}/members/{}", victim.1),
                caller.token.as_deref(),
            )
            .await;
        assert_eq!(
            r.status, want,
            "remove a member as {}: {}",
            caller.name, r.text
        );
    }
    // Anyone may leave.
    let r = app
        .delete(
            &format!("/api/v1/tenants/{t}/members/{m}"),
            Some(&w.member.0),
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn api_keys_are_shown_once_limited_to_their_tenant_and_revoked_at_once() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("keys")).await;
    let created = app
        .post(
            "/api/v1/api-keys",
            Some(&token),
            json!({"name": "deploy", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(created.status, 201);
    let key = created.body["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("ghk_") && key.len() == 47);
    assert_eq!(created.body["prefix"].as_str().unwrap(), &key[..12]);
    let listed = app.get("/api/v1/api-keys", Some(&token)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(
        listed.body[0].get("key").is_none(),
        "the key is shown only once"
    );
    assert!(!listed.text.contains(&key));
    let me = app.get("/api/v1/users/me", Some(&key)).await;
    assert_eq!(me.status, 200);
    let used = app.get("/api/v1/api-keys", Some(&token)).await;
    assert!(used.body[0]["last_used_at"].is_string());
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE key_hash = $1")
        .bind(&key)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0, "only a hash is stored");
    let id = created.body["id"].as_str().unwrap();
    let stranger = app.register(&unique_email("stranger")).await.0;
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), Some(&stranger))
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), Some(&token))
            .await
            .status,
        204
    );
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await.status, 401);
    let bad = app
        .post(
            "/api/v1/api-keys",
            Some(&token),
            json!({"name": "x", "tenant_id": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (403, "forbidden"));
    let expired = app
        .post(
            "/api/v1/api-keys",
            Some(&token),
            json!({"name": "short", "expires_in_days": 1}),
        )
        .await;
    let short = expired.body["key"].as_str().unwrap().to_string();
    app.state.clock.advance(2 * 86400);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&short)).await.status,
        401,
        "expired keys stop"
    );
}

/// The invitation token from the queued invitation mail to `to`.
async fn invitation_token(app: &TestApp, to: &str) -> String {
    let text: String = sqlx::query_scalar("SELECT body_text FROM mail_outbox WHERE recipient = $1 AND kind = 'invitation' ORDER BY id DESC LIMIT 1")
        .bind(to)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    text.split("/invitations/")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn invitations_are_single_use_and_only_for_the_invited_address() {
    let (app, _s) = TestApp::spawn().await;
    let (owner, _) = app.register(&unique_email("own")).await;
    let tenant = app
        .post("/api/v1/tenants", Some(&owner), json!({"name": "Crew"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let guest = unique_email("guest");
    let r = app
        .post(
            &format!("/api/v1/tenants/{tenant}/invitations"),
            Some(&owner),
            json!({"email": guest, "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = invitation_token(&app, &guest).await;
    // The link's holder may see what it offers before signing in.
    let offer = app.get(&format!("/api/v1/invitations/{token}"), None).await;
    assert_eq!(offer.status, 200, "{}", offer.text);
    assert_eq!(
        (
            &offer.body["tenant_name"],
            &offer.body["email"],
            &offer.body["role"]
        ),
        (&json!("Crew"), &json!(guest), &json!("admin"))
    );
    let bogus = app.get("/api/v1/invitations/nope", None).await;
    assert_eq!((bogus.status, bogus.code()), (400, "invalid_token"));
    let (other, _) = app.register(&unique_email("other")).await;
    let mismatch = app
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(
        (mismatch.status, mismatch.code()),
        (403, "invitation_email_mismatch")
    );
    let (guest_token, guest_id) = app.register(&guest).await;
    let ok = app
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&guest_token),
            json!({}),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let reused = app
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&guest_token),
            json!({}),
        )
        .await;
    assert_eq!((reused.status, reused.code()), (400, "invalid_token"));
    let used = app.get(&format!("/api/v1/invitations/{token}"), None).await;
    assert_eq!((used.status, used.code()), (400, "invalid_token"));
    let members = app
        .get(
            &format!("/api/v1/tenants/{tenant}/members"),
            Some(&guest_token),
        )
        .await;
    let me = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == guest_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(me["role"], "admin");
    assert_eq!(app.audit_events("tenant.member_joined").await.len(), 1);
    let owner_invite = app
        .post(
            &format!("/api/v1/tenants/{tenant}/invitations"),
            Some(&guest_token),
            json!({"email": "x@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(owner_invite.status, 403, "admins cannot invite owners");
    let late = app
        .post(
            &format!("/api/v1/tenants/{tenant}/invitations"),
            Some(&owner),
            json!({"email": guest, "role": "member"}),
        )
        .await;
    assert_eq!(late.status, 201);
    let late_token = invitation_token(&app, &guest).await;
    app.state.clock.advance(8 * 86400);
    let fresh = app.login(&guest, PASSWORD).await.body["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let expired = app
        .post(
            &format!("/api/v1/invitations/{late_token}/accept"),
            Some(&fresh),
            json!({}),
        )
        .await;
    assert_eq!(expired.code(), "invalid_token");
}

/// Managers see the pending invitations and withdraw them; a withdrawn link stops working, an
/// admin cannot withdraw an owner invitation, and members and outsiders see nothing.
#[tokio::test]
async fn pending_invitations_are_listed_and_withdrawn_by_managers() {
    let (app, _s) = TestApp::spawn().await;
    let w = world(&app).await;
    let list_path = format!("/api/v1/tenants/{}/invitations", w.tenant);
    let invite = |token: String, email: String, role: &'static str| {
        let (app, path) = (&app, list_path.clone());
        async move {
            let r = app
                .post(&path, Some(&token), json!({"email": email, "role": role}))
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let guest = unique_email("guest");
    let member_invite = invite(w.admin.0.clone(), guest.clone(), "member").await;
    let owner_invite = invite(w.owner.0.clone(), unique_email("co"), "owner").await;

    let listed = app.get(&list_path, Some(&w.admin.0)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let items = listed.body.as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", listed.text);
    let mine = items
        .iter()
        .find(|i| i["id"] == member_invite.as_str())
        .unwrap();
    assert_eq!(
        (&mine["email"], &mine["role"]),
        (&json!(guest), &json!("member"))
    );
    assert!(mine.get("token").is_none() && !listed.text.contains("token_hash"));
    assert_eq!(app.get(&list_path, Some(&w.member.0)).await.status, 403);
    assert_eq!(app.get(&list_path, Some(&w.outsider.0)).await.status, 404);

    let one = |id: &str| format!("{list_path}/{id}");
    let refused = app.delete(&one(&owner_invite), Some(&w.admin.0)).await;
    assert_eq!(
        refused.status, 403,
        "admins do not withdraw owner invitations"
    );
    assert_eq!(
        app.delete(&one(&member_invite), Some(&w.member.0))
            .await
            .status,
        403
    );
    let token = invitation_token(&app, &guest).await;
    let done = app.delete(&one(&member_invite), Some(&w.admin.0)).await;
    assert_eq!(done.status, 204, "{}", done.text);
    let gone = app.get(&format!("/api/v1/invitations/{token}"), None).await;
    assert_eq!((gone.status, gone.code()), (400, "invalid_token"));
    let again = app.delete(&one(&member_invite), Some(&w.admin.0)).await;
    assert_eq!((again.status, again.code()), (404, "not_found"));
    let left = app.get(&list_path, Some(&w.owner.0)).await.body;
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(app.audit_events("tenant.invitation_revoked").await.len(), 1);
    assert_eq!(
        app.delete(&one(&owner_invite), Some(&w.owner.0))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn the_last_owner_stays() {
    let (app, _s) = TestApp::spawn().await;
    let (owner, owner_id) = app.register(&unique_email("solo")).await;
    let tenant = app
        .post("/api/v1/tenants", Some(&owner), json!({"name": "Solo"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let demote = app
        .request(
            Method::PATCH,
            &format!("/api/v1/tenants/{tenant}/members/{owner_id}"),
            Some(&owner),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!((demote.status, demote.code()), (409, "last_owner"));
    let leave = app
        .delete(
            &format!("/api/v1/tenants/{tenant}/members/{owner_id}"),
            Some(&owner),
        )
        .await;
    assert_eq!((leave.status, leave.code()), (409, "last_owner"));
    let (second, second_id) = app.register(&unique_email("second")).await;
    add_member(&app, &tenant, &second_id, "admin").await;
    let by_admin = app
        .request(
            Method::PATCH,
            &format!("/api/v1/tenants/{tenant}/members/{second_id}"),
            Some(&second),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(by_admin.status, 403, "admins do not grant ownership");
    let promote = app
        .request(
            Method::PATCH,
            &format!("/api/v1/tenants/{tenant}/members/{second_id}"),
            Some(&owner),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(
        (promote.status, promote.body["role"].as_str()),
        (200, Some("owner"))
    );
    let changed = app.audit_events("tenant.member_role_changed").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].0.as_deref(), Some(second_id.as_str()));
    assert!(
        changed[0].1.contains("\"from\":\"admin\"") && changed[0].1.contains("\"to\":\"owner\""),
        "{changed:?}"
    );
    let leave = app
        .delete(
            &format!("/api/v1/tenants/{tenant}/members/{owner_id}"),
            Some(&owner),
        )
        .await;
    assert_eq!(leave.status, 204, "with another owner the first may leave");
}

async fn demote(app: &TestApp, token: &str, member: &str) -> Resp {
    app.request(
        Method::PATCH,
        member,
        Some(token),
        Some(json!({"role": "admin"})),
    )
    .await
}

async fn owners_of(app: &TestApp, tenant: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM tenant_members WHERE tenant_id = $1 AND role = 'owner'",
    )
    .bind(tenant)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap()
}

/// Two owners who demote each other, leave, or one leaves while demoting the other, all at
/// the same moment: one call wins, the other is refused unless it no longer takes an owner
/// away (B leaving after A made B an admin), and the team keeps an owner.
#[tokio::test]
async fn two_owners_acting_at_once_never_leave_the_team_without_one() {
    let (app, _s) = TestApp::spawn().await;
    let (a, a_id) = app.register(&unique_email("own-a")).await;
    let (b, b_id) = app.register(&unique_email("own-b")).await;
    let t = app
        .post("/api/v1/tenants", Some(&a), json!({"name": "Pair"}))
        .await;
    let tenant = t.body["id"].as_str().unwrap().to_string();
    let (of_a, of_b) = (
        format!("/api/v1/tenants/{tenant}/members/{a_id}"),
        format!("/api/v1/tenants/{tenant}/members/{b_id}"),
    );
    let mut last_owner = 0;
    for round in 0..60 {
        add_member(&app, &tenant, &a_id, "owner").await;
        add_member(&app, &tenant, &b_id, "owner").await;
        let (first, second) = match round % 3 {
            0 => tokio::join!(demote(&app, &a, &of_b), demote(&app, &b, &of_a)),
            1 => tokio::join!(app.delete(&of_a, Some(&a)), app.delete(&of_b, Some(&b))),
            _ => tokio::join!(demote(&app, &a, &of_b), app.delete(&of_b, Some(&b))),
        };
        let owners = owners_of(&app, &tenant).await;
        assert!(
            owners >= 1,
            "round {round}: no owner left ({} {}, {} {})",
            first.status,
            first.code(),
            second.status,
            second.code()
        );
        let won = [&first, &second]
            .iter()
            .filter(|r| matches!(r.status, 200 | 204))
            .count();
        // The loser is refused as the last owner, or (when it began after the winner's
        // change) as a caller who is no longer an owner itself.
        for r in [&first, &second] {
            assert!(
                matches!(
                    (r.status, r.code()),
                    (200 | 204, _) | (409, "last_owner") | (403, "forbidden") | (404, "not_found")
                ),
                "round {round}: {} {}",
                r.status,
                r.text
            );
            last_owner += usize::from(r.code() == "last_owner");
        }
        assert!(
            won >= 1,
            "round {round}: {} and {}",
            first.text,
            second.text
        );
    }
    assert!(last_owner > 0, "no call was refused as the last owner");
}

#[tokio::test]
async fn broadcast_queues_one_mail_per_member_in_their_language() {
    let (app, _s) = TestApp::spawn().await;
    let (owner, _) = app.register(&unique_email("bc")).await;
    let tenant = app
        .post("/api/v1/tenants", Some(&owner), json!({"name": "Crew"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut emails = Vec::new();
    for i in 0..4 {
        let email = unique_email(&format!("m{i}"));
        let (token, id) = app.register(&email).await;
        if i % 2 == 0 {
            app.request(
                Method::PATCH,
                "/api/v1/users/me",
                Some(&token),
                Some(json!({"language": "zh-CN"})),
            )
            .await;
        }
        add_member(&app, &tenant, &id, "member").await;
        emails.push(email);
    }
    let r = app
        .post(&format!("/api/v1/tenants/{tenant}/broadcast"), Some(&owner), json!({"subject": {"en": "Maintenance", "zh-CN": "维护通知"}, "body": {"en": "We restart at 9.", "zh-CN": "九点重启。"}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["queued"], 5);
    for (i, email) in emails.iter().enumerate() {
        let (subject, text): (String, String) = sqlx::query_as("SELECT subject, body_text FROM mail_outbox WHERE recipient = $1 AND kind = 'broadcast'")
            .bind(email)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        if i % 2 == 0 {
            assert!(
                subject.contains("维护通知") && text.contains("九点重启"),
                "{subject}"
            );
        } else {
            assert!(
                subject.contains("Maintenance") && text.contains("We restart at 9."),
                "{subject}"
            );
        }
    }
    for _ in 0..4 {
        app.post(
            &format!("/api/v1/tenants/{tenant}/broadcast"),
            Some(&owner),
            json!({"subject": "s", "body": "b"}),
        )
        .await;
    }
    let limited = app
        .post(
            &format!("/api/v1/tenants/{tenant}/broadcast"),
            Some(&owner),
            json!({"subject": "s", "body": "b"}),
        )
        .await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
}

#[tokio::test]
async fn admin_manages_users_and_reads_the_audit_without_secrets() {
    let (app, _s) = TestApp::spawn().await;
    let (root, root_id) = app.register(&unique_email("root")).await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&root_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let email = unique_email("target");
    let created = app
        .post(
            "/api/v1/admin/users",
            Some(&root),
            json!({"email": email, "nickname": "Target", "password": PASSWORD}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["email_verified"], true);
    let id = created.body["id"].as_str().unwrap().to_string();
    let found = app
        .get(
            &format!("/api/v1/admin/users?query={}&per_page=5", &email[..10]),
            Some(&root),
        )
        .await;
    assert_eq!(
        (
            found.body["total"].as_i64(),
            found.body["per_page"].as_i64()
        ),
        (Some(1), Some(5))
    );
    let bad_page = app
        .get("/api/v1/admin/users?per_page=500", Some(&root))
        .await;
    assert_eq!(bad_page.status, 422);
    let login = app.login(&email, PASSWORD).await;
    let session = login.body["session"]["token"].as_str().unwrap().to_string();
    let key = app
        .post("/api/v1/api-keys", Some(&session), json!({"name": "k"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let off = app
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/users/{id}"),
            Some(&root),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(
        (off.status, off.body["is_active"].as_bool()),
        (200, Some(false))
    );
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        401
    );
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await.status, 401);
    let self_off = app
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/users/{root_id}"),
            Some(&root),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(self_off.status, 403);
    let on = app
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/users/{id}"),
            Some(&root),
            Some(json!({"is_active": true, "is_superuser": true})),
        )
        .await;
    assert_eq!(on.body["is_superuser"], true);
    assert_eq!(
        app.post(
            &format!("/api/v1/admin/users/{id}/password-reset"),
            Some(&root),
            json!({})
        )
        .await
        .status,
        202
    );
    let reset_mails: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_outbox WHERE recipient = $1 AND kind = 'recovery'",
    )
    .bind(&email)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(reset_mails, 1);
    let again = app.login(&email, PASSWORD).await.body["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.delete(&format!("/api/v1/admin/users/{id}/sessions"), Some(&root))
            .await
            .status,
        204
    );
    assert_eq!(app.get("/api/v1/users/me", Some(&again)).await.status, 401);

    let audit = app
        .get(
            &format!("/api/v1/admin/audit?user_id={id}&event=admin.user_updated"),
            Some(&root),
        )
        .await;
    assert_eq!(audit.body["total"], 2, "{}", audit.text);
    assert_eq!(audit.body["items"][0]["actor_user_id"], root_id.as_str());
    let since = app
        .get(
            "/api/v1/admin/audit?since=2999-01-01T00:00:00Z",
            Some(&root),
        )
        .await;
    assert_eq!(since.body["total"], 0);
    assert_eq!(
        app.get("/api/v1/admin/audit?since=yesterday", Some(&root))
            .await
            .status,
        422
    );
    let outbox = app
        .get("/api/v1/admin/outbox?status=pending", Some(&root))
        .await;
    assert!(outbox.body["total"].as_i64().unwrap() >= 1);
    assert!(
        outbox.body["items"][0].get("body_text").is_none(),
        "bodies are not shown"
    );
    assert_eq!(
        app.get("/api/v1/admin/outbox?status=lost", Some(&root))
            .await
            .status,
        422
    );

    assert_eq!(
        app.delete(&format!("/api/v1/admin/users/{id}"), Some(&root))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/admin/users/{id}"), Some(&root))
            .await
            .status,
        404
    );

    let everything = app
        .get("/api/v1/admin/audit?per_page=200", Some(&root))
        .await
        .text;
    for secret in [PASSWORD, &root, &session, &key, &again] {
        assert!(!everything.contains(secret), "the audit holds a secret");
    }
    for event in [
        "user.registered",
        "user.login",
        "api_key.created",
        "admin.user_updated",
        "session.revoked",
        "user.password_reset_requested",
        "user.deleted",
    ] {
        assert!(everything.contains(event), "no {event}");
    }
}

#[tokio::test]
async fn disabling_a_user_locks_them_out_on_a_second_instance_too() {
    let storage = Storage::new(true, true).await;
    let a = TestApp::spawn_on(&storage, base_config(&storage)).await;
    let b = TestApp::spawn_on(&storage, base_config(&storage)).await;
    let (root, root_id) = a.register(&unique_email("root")).await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&root_id)
        .execute(a.state.db.pool())
        .await
        .unwrap();
    let (session, id) = a.register(&unique_email("user")).await;
    let key = a
        .post("/api/v1/api-keys", Some(&session), json!({"name": "k"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.get("/api/v1/users/me", Some(&session)).await.status, 200);
    assert_eq!(b.get("/api/v1/users/me", Some(&key)).await.status, 200);
    let r: Resp = a
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/users/{id}"),
            Some(&root),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(b.get("/api/v1/users/me", Some(&session)).await.status, 401);
    assert_eq!(b.get("/api/v1/users/me", Some(&key)).await.status, 401);
}
