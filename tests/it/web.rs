//! The web pages over real HTTP with a cookie jar, as a browser without JavaScript would use them:
//! every page in both languages, the CSRF token, sign-in and its errors, `return_to`, the account
//! page (dates in the user's zone, sign-in methods, deletion, teams and their members), the reset
//! link whose GET uses nothing, and the operator's template overrides and logo.

use crate::common;

use common::{PASSWORD, TestApp, csrf, unique_email};
use gatehouse::config::{ProviderConfig, ProviderKind, Secret};
use reqwest::header;

const NEW_PASSWORD: &str = "quiet lantern meadow";

/// A browser: cookies kept, redirects not followed (tests look at them), same-origin posts.
fn browser(app: &TestApp, lang: &str) -> reqwest::Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ORIGIN, app.base.parse().unwrap());
    headers.insert(header::ACCEPT_LANGUAGE, lang.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

struct Got {
    status: u16,
    location: String,
    body: String,
}

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> Got {
    read(c.get(app.url(path)).send().await.unwrap()).await
}

async fn read(r: reqwest::Response) -> Got {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Got {
        status,
        location,
        body: unescape(&r.text().await.unwrap()),
    }
}

/// The page's text as a browser reads it: the templates escape `/` and quotes in values too.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// GET `page` for its token, then post `fields` to `action`.
async fn submit(
    c: &reqwest::Client,
    app: &TestApp,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Got {
    let token = csrf(&get(c, app, page).await.body);
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
    form.extend_from_slice(fields);
    read(c.post(app.url(action)).form(&form).send().await.unwrap()).await
}

async fn sign_in(c: &reqwest::Client, app: &TestApp, email: &str, password: &str) -> Got {
    submit(
        c,
        app,
        "/login",
        "/login",
        &[("email", email), ("password", password)],
    )
    .await
}

async fn spawn() -> (TestApp, common::Storage) {
    TestApp::spawn_with(|c| c.captcha.enabled = false).await
}

#[tokio::test]
async fn every_public_page_renders_in_english_and_chinese() {
    let (app, _s) = spawn().await;
    let pages = [
        "/login",
        "/register",
        "/forgot-password",
        "/reset-password",
        "/reset-password?token=abc",
        "/verify-email",
        "/verify-email?token=abc",
    ];
    for path in pages {
        let en = get(&browser(&app, "en"), &app, path).await;
        assert_eq!(en.status, 200, "{path}");
        assert!(en.body.contains("<html lang=\"en\""), "{path}");
        let zh = get(&browser(&app, "zh-CN,zh;q=0.9"), &app, path).await;
        assert_eq!(zh.status, 200, "{path}");
        assert!(zh.body.contains("<html lang=\"zh-CN\""), "{path}");
        assert!(
            zh.body.contains("密码") || zh.body.contains("邮箱"),
            "{path}"
        );
        assert!(
            !en.body.contains("密码") && !en.body.contains("邮箱"),
            "{path}"
        );
        for (field, label) in [("id=\"login-email\"", "for=\"login-email\"")] {
            if en.body.contains(field) {
                assert!(en.body.contains(label), "{path}: a label for every field");
            }
        }
    }
    let c = browser(&app, "en");
    let root = get(&c, &app, "/").await;
    assert_eq!((root.status, root.location.as_str()), (303, "/login"));
    let account = get(&c, &app, "/account").await;
    assert_eq!(account.status, 303);
    assert_eq!(account.location, "/login?return_to=%2Faccount");
    let css = c
        .get(app.url("/assets/gatehouse.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.text().await.unwrap().contains("--accent: #1d4ed8"));
}

#[tokio::test]
async fn the_language_switch_sets_a_cookie_that_beats_accept_language() {
    let (app, _s) = spawn().await;
    let c = browser(&app, "en");
    let r = submit(
        &c,
        &app,
        "/login",
        "/language",
        &[("language", "zh-CN"), ("next", "/login")],
    )
    .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    let page = get(&c, &app, "/login").await;
    assert!(page.body.contains("<html lang=\"zh-CN\""));
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_elsewhere_are_refused() {
    let (app, _s) = spawn().await;
    let c = browser(&app, "en");
    get(&c, &app, "/login").await;
    let form = [
        ("csrf_token", "forged"),
        ("email", "a@b.example"),
        ("password", "x"),
    ];
    let r = read(c.post(app.url("/login")).form(&form).send().await.unwrap()).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("The request did not come from this site."));
    // The right token from another origin is refused as well.
    let token = csrf(&get(&c, &app, "/login").await.body);
    let r = c
        .post(app.url("/login"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("csrf_token", token.as_str()), ("email", "a@b.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A token from one browser does not work in another.
    let other = browser(&app, "en");
    get(&other, &app, "/login").await;
    let r = read(
        other
            .post(app.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("email", "a@b.example")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn register_sign_out_sign_in_and_the_account_page() {
    let (app, _s) = spawn().await;
    let c = browser(&app, "en");
    let email = unique_email("web");
    let r = submit(
        &c,
        &app,
        "/register",
        "/register",
        &[
            ("email", &email),
            ("nickname", "Web Tester"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/account"));
    let account = get(&c, &app, "/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains(&email));
    assert!(account.body.contains("Active sessions"));

    let r = submit(&c, &app, "/account", "/logout", &[]).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    assert_eq!(get(&c, &app, "/account").await.status, 303);

    let wrong = sign_in(&c, &app, &email, "not the password").await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("Wrong email or password."));
    assert!(wrong.body.contains("role=\"alert\""));
    assert!(wrong.body.contains(&format!("value=\"{email}\"")));
    assert!(!wrong.body.contains("not the password"));

    let missing = sign_in(&c, &app, &email, "").await;
    assert!(
        missing
            .body
            .contains("aria-describedby=\"login-password-error\"")
    );
    assert!(missing.body.contains("This field is required."));

    let ok = sign_in(&c, &app, &email, PASSWORD).await;
    assert_eq!((ok.status, ok.location.as_str()), (303, "/account"));

    // The profile form uses the API's rules: a bad avatar is shown beside its field.
    let bad = submit(
        &c,
        &app,
        "/account",
        "/account/profile",
        &[
            ("nickname", "Web Tester"),
            ("avatar", "http://insecure.example/a.png"),
            ("language", "zh-CN"),
            ("color_schema", "dark"),
            ("timezone", "Asia/Shanghai"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"profile-avatar-error\""));
    let saved = submit(
        &c,
        &app,
        "/account",
        "/account/profile",
        &[
            ("nickname", "网页 测试"),
            ("avatar", ""),
            ("language", "zh-CN"),
            ("color_schema", "dark"),
            ("timezone", "Asia/Shanghai"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let account = get(&c, &app, "/account?done=profile_saved").await;
    assert!(
        account
            .body
            .contains("<html lang=\"zh-CN\" data-theme=\"dark\"")
    );
    assert!(account.body.contains("个人资料已保存"));

    // A wrong current password shows beside that field; the right one changes it.
    let wrong = submit(
        &c,
        &app,
        "/account",
        "/account/password",
        &[
            ("current_password", "nope nope"),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong
            .body
            .contains("id=\"password-current_password-error\"")
    );
    let changed = submit(
        &c,
        &app,
        "/account",
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
}

#[tokio::test]
async fn return_to_accepts_only_paths_on_this_site() {
    let (app, _s) = spawn().await;
    let email = unique_email("ret");
    app.register(&email).await;
    for (asked, expected) in [
        ("/account?tab=keys", "/account?tab=keys"),
        ("//evil.example/x", "/account"),
        ("https://evil.example/", "/account"),
        ("/\\evil.example", "/account"),
    ] {
        let c = browser(&app, "en");
        let r = submit(
            &c,
            &app,
            "/login",
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("return_to", asked),
            ],
        )
        .await;
        assert_eq!((r.status, r.location.as_str()), (303, expected), "{asked}");
    }
}

#[tokio::test]
async fn the_reset_link_get_uses_nothing_and_the_post_resets() {
    let (app, _s) = spawn().await;
    let email = unique_email("reset");
    app.register(&email).await;
    let c = browser(&app, "en");
    let r = submit(
        &c,
        &app,
        "/forgot-password",
        "/forgot-password",
        &[("email", &email)],
    )
    .await;
    assert_eq!(r.status, 200);
    let (text,): (String,) = sqlx::query_as(
        "SELECT body_text FROM mail_outbox WHERE recipient = $1 AND kind = 'recovery'",
    )
    .bind(&email)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/reset-password?token="))
        .unwrap();
    let path = &link[link.find("/reset-password").unwrap()..];
    let token = path.split("token=").nth(1).unwrap();
    // A mail scanner following the link twice changes nothing.
    for _ in 0..2 {
        let page = get(&browser(&app, "en"), &app, path).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("name=\"new_password\""));
    }
    let done = submit(
        &c,
        &app,
        path,
        "/reset-password",
        &[("reset_token", token), ("new_password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Password changed"));
    let again = submit(
        &c,
        &app,
        path,
        "/reset-password",
        &[("reset_token", token), ("new_password", NEW_PASSWORD)],
    )
    .await;
    assert!(
        again
            .body
            .contains("The link is invalid, expired or already used.")
    );
    assert_eq!(sign_in(&c, &app, &email, NEW_PASSWORD).await.status, 303);
}

#[tokio::test]
async fn admin_pages_are_for_superusers_only() {
    let (app, _s) = spawn().await;
    let email = unique_email("plain");
    app.register(&email).await;
    let c = browser(&app, "en");
    sign_in(&c, &app, &email, PASSWORD).await;
    assert_eq!(get(&c, &app, "/admin").await.status, 403);

    let admin_email = unique_email("boss");
    let (_, id) = app.register(&admin_email).await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let a = browser(&app, "zh-CN");
    sign_in(&a, &app, &admin_email, PASSWORD).await;
    let list = get(&a, &app, &format!("/admin/users?query={email}")).await;
    assert_eq!(list.status, 200);
    // The administrator's own language setting (English) beats the browser's zh-CN.
    assert!(list.body.contains(&email) && list.body.contains("Users"));
    for path in ["/admin/audit?event=user.login", "/admin/outbox"] {
        assert_eq!(get(&a, &app, path).await.status, 200, "{path}");
    }
}

/// Run `sql` with `binds` against the test's database.
async fn sql(app: &TestApp, query: &'static str, binds: &[&str]) {
    let mut q = sqlx::query(query);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(app.state.db.pool()).await.unwrap();
}

/// The team `name`'s id.
async fn team_id(app: &TestApp, name: &str) -> String {
    sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
        .bind(name)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// The role of `user_id` in `team`, if a member.
async fn role_in(app: &TestApp, team: &str, user_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
        .bind(team)
        .bind(user_id)
        .fetch_optional(app.state.db.pool())
        .await
        .unwrap()
}

/// The path of the invitation link last mailed to `email`.
async fn invitation_path(app: &TestApp, email: &str) -> String {
    let (text,): (String,) = sqlx::query_as(
        "SELECT body_text FROM mail_outbox WHERE recipient = $1 AND kind = 'invitation' \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(email)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/invitations/"))
        .unwrap();
    link[link.find("/invitations/").unwrap()..].to_string()
}

/// A browser signed in as a newly registered user; returns it with the user's id.
async fn signed_in_user(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let (_, id) = app.register(email).await;
    let c = browser(app, "en");
    let r = sign_in(&c, app, email, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    (c, id)
}

/// Each `id` once on the page (labels and error links point at one element), in one `<main>`.
fn assert_well_formed(html: &str) {
    let mut seen = std::collections::BTreeSet::new();
    for id in html
        .split(" id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        assert!(seen.insert(id), "id {id} twice");
    }
    assert_eq!(html.matches("<main id=\"main\" class=\"").count(), 1);
    assert!(
        !html.contains("class=\"wide<"),
        "a block leaked into an attribute"
    );
}

/// 2026-11-25 20:04:00 UTC.
const INSTANT: &str = "1795637040";

#[tokio::test]
async fn dates_show_in_the_viewers_time_zone() {
    let (app, _s) = spawn().await;
    let utc_email = unique_email("utc");
    let (utc, utc_id) = signed_in_user(&app, &utc_email).await;
    let (east, east_id) = signed_in_user(&app, &unique_email("east")).await;
    let r = submit(
        &east,
        &app,
        "/account",
        "/account/profile",
        &[
            ("nickname", "East"),
            ("language", "en"),
            ("color_schema", "system"),
            ("timezone", "Asia/Shanghai"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    for id in [&utc_id, &east_id] {
        let set = "UPDATE sessions SET created_at = CAST($1 AS BIGINT) WHERE user_id = $2";
        sql(&app, set, &[INSTANT, id]).await;
    }
    let page = get(&utc, &app, "/account").await.body;
    assert!(page.contains("2026-11-25 20:04 UTC"), "{page}");
    assert!(page.contains("Times are shown in your time zone, UTC."));
    let page = get(&east, &app, "/account").await.body;
    assert!(page.contains("2026-11-26 04:04 CST"), "{page}");
    assert!(!page.contains("2026-11-25 20:04 UTC"));
    assert!(page.contains("Times are shown in your time zone, Asia/Shanghai."));

    // Administration pages use the administrator's zone.
    let set = "UPDATE users SET is_superuser = 1, timezone = 'Europe/Berlin' WHERE id = $1";
    sql(&app, set, &[&utc_id]).await;
    let set = "UPDATE users SET created_at = CAST($1 AS BIGINT) WHERE id = $2";
    sql(&app, set, &[INSTANT, &east_id]).await;
    let detail = get(&utc, &app, &format!("/admin/users/{east_id}")).await;
    assert_eq!(detail.status, 200);
    assert!(
        detail.body.contains("2026-11-25 21:04 CET"),
        "{}",
        detail.body
    );
    // The user's language by its name, not its code.
    assert!(detail.body.contains("<dd>English</dd>"), "{}", detail.body);
    let list = get(&utc, &app, "/admin/users").await.body;
    assert!(list.contains("2026-11-25 21:04 CET"));
    let set = "UPDATE audit_events SET at = CAST($1 AS BIGINT) WHERE subject_user_id = $2";
    sql(&app, set, &[INSTANT, &east_id]).await;
    let audit = get(&utc, &app, &format!("/admin/audit?user_id={east_id}")).await;
    assert!(
        audit.body.contains("2026-11-25 21:04 CET"),
        "{}",
        audit.body
    );
}

/// A server with two configured providers (never contacted: these tests only link to them).
async fn spawn_with_providers() -> (TestApp, common::Storage) {
    TestApp::spawn_with(|c| {
        c.captcha.enabled = false;
        for (id, name) in [("corp", "Corp SSO"), ("hub", "Hub")] {
            let provider = ProviderConfig {
                kind: Some(ProviderKind::Oidc),
                name: Some(name.into()),
                client_id: Some(id.into()),
                client_secret: Some(Secret::new("unused-secret")),
                issuer: Some("http://127.0.0.1:9".into()),
                ..ProviderConfig::default()
            };
            c.providers.insert(id.into(), provider);
        }
    })
    .await
}

async fn link_identity(app: &TestApp, user_id: &str, provider: &str, email: &str) {
    let id = uuid::Uuid::now_v7().to_string();
    let subject = format!("{provider}-{user_id}");
    sqlx::query(
        "INSERT INTO identities (id, user_id, provider, subject, email, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(provider)
    .bind(&subject)
    .bind(email)
    .bind(1_795_637_040_i64)
    .execute(app.state.db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn sign_in_methods_are_listed_linked_and_unlinked() {
    let (app, _s) = spawn_with_providers().await;
    let (c, id) = signed_in_user(&app, &unique_email("links")).await;
    // Each Link button posts the link form at once (the account page is the confirmation).
    let link = |p: &str| format!("<input type=\"hidden\" name=\"provider\" value=\"{p}\">");
    let page = get(&c, &app, "/account").await.body;
    assert!(page.contains("Sign-in methods") && page.contains("No sign-in provider is linked"));
    assert!(page.contains(&link("corp")) && page.contains(&link("hub")));
    assert!(page.contains(">Link Corp SSO</button>"));
    assert!(page.contains("name=\"return_to\" value=\"/account?done=identity_linked#identities\""));

    link_identity(&app, &id, "corp", "me@corp.example").await;
    let page = get(&c, &app, "/account").await.body;
    assert_well_formed(&page);
    assert!(page.contains("me@corp.example") && page.contains("2026-11-25 20:04 UTC"));
    assert!(!page.contains(&link("corp")) && page.contains(&link("hub")));
    let action = page
        .split("action=\"/account/identities/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let unlink = format!("/account/identities/{action}");
    assert!(page.contains("aria-label=\"Unlink: Corp SSO\""));

    // Without a password, the only identity cannot go: refused in words, and it stays.
    sql(
        &app,
        "UPDATE users SET password_hash = NULL WHERE id = $1",
        &[&id],
    )
    .await;
    let refused = submit(&c, &app, "/account", &unlink, &[]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("This is your last way to sign in"));
    assert!(refused.body.contains("role=\"alert\""));
    assert!(refused.body.contains("me@corp.example"));

    // With another identity it may go.
    link_identity(&app, &id, "hub", "me@hub.example").await;
    let done = submit(&c, &app, "/account", &unlink, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location, "/account?done=identity_unlinked#identities");
    let page = get(&c, &app, "/account?done=identity_unlinked").await.body;
    assert!(page.contains("The sign-in method is unlinked."));
    assert!(!page.contains("me@corp.example") && page.contains("me@hub.example"));
    assert!(page.contains(&link("corp")));

    // A failed link comes back with a code, shown in words.
    let page = get(&c, &app, "/account?error=identity_taken").await.body;
    assert!(page.contains("That provider account is already linked to another user here."));
    let page = get(&c, &app, "/account?error=provider_error").await.body;
    assert!(page.contains("The sign-in provider reported an error or could not be reached."));
    let page = get(&c, &app, "/account?error=whatever").await.body;
    assert!(page.contains("Linking the provider did not succeed"));
}

/// The page a signed-in start of a provider sign-in leads to: it names the provider and the
/// account in the viewer's language, and its form starts the link (here the provider cannot be
/// reached, so the browser comes back to the account page with the code).
#[tokio::test]
async fn the_link_page_asks_before_linking_and_its_form_starts_the_flow() {
    let (app, _s) = spawn_with_providers().await;
    let email = unique_email("linker");
    let (c, _) = signed_in_user(&app, &email).await;
    let start = get(
        &c,
        &app,
        "/api/v1/auth/providers/hub/authorize?return_to=%2Faccount",
    )
    .await;
    assert_eq!(
        (start.status, start.location.as_str()),
        (302, "/account/link?provider=hub&return_to=%2Faccount")
    );
    let page = get(&c, &app, &start.location).await;
    assert_eq!(page.status, 200);
    assert_well_formed(&page.body);
    assert!(page.body.contains("Link a sign-in method?") && page.body.contains("Hub"));
    assert!(page.body.contains(&email));
    assert!(page.body.contains("name=\"return_to\" value=\"/account\""));
    sql(
        &app,
        "UPDATE users SET language = 'zh-CN' WHERE email = $1",
        &[&email],
    )
    .await;
    let zh = get(&c, &app, "/account/link?provider=hub").await;
    assert!(zh.body.contains("要关联登录方式吗？") && zh.body.contains("Hub"));
    let missing = get(&c, &app, "/account/link?provider=nope").await;
    assert_eq!(missing.status, 404);

    let token = csrf(&page.body);
    let fields = [("csrf_token", token.as_str()), ("provider", "hub")];
    let foreign = c
        .post(app.url("/account/link"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let posted = read(
        c.post(app.url("/account/link"))
            .form(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (posted.status, posted.location.as_str()),
        (303, "/account?error=provider_error")
    );

    let anonymous = get(&browser(&app, "en"), &app, "/account/link?provider=hub").await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location.starts_with("/login?return_to="));
}

#[tokio::test]
async fn the_account_is_deleted_with_the_password() {
    let (app, _s) = spawn_with_providers().await;
    let email = unique_email("gone");
    let (c, _) = signed_in_user(&app, &email).await;
    let page = get(&c, &app, "/account").await.body;
    assert_well_formed(&page);
    assert!(page.contains("id=\"delete-password\"") && page.contains(">Delete my account<"));

    let empty = submit(&c, &app, "/account", "/account/delete", &[("password", "")]).await;
    assert_eq!(empty.status, 422);
    assert!(
        empty
            .body
            .contains("id=\"delete-password-error\" role=\"alert\"")
    );
    assert!(empty.body.contains("Enter your password to confirm."));
    let wrong = submit(
        &c,
        &app,
        "/account",
        "/account/delete",
        &[("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("id=\"delete-password-error\""));
    assert!(wrong.body.contains("Wrong email or password."));

    let done = submit(
        &c,
        &app,
        "/account",
        "/account/delete",
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location, "/login?done=account_deleted");
    let login = get(&c, &app, &done.location).await.body;
    assert!(login.contains("Your account is deleted."));
    assert_eq!(get(&c, &app, "/account").await.status, 303);
    assert_eq!(app.login(&email, PASSWORD).await.status, 401);

    // An account without a password: a recent provider sign-in confirms, and no field is shown.
    let sso_email = unique_email("sso");
    let (p, id) = signed_in_user(&app, &sso_email).await;
    sql(
        &app,
        "UPDATE users SET password_hash = NULL WHERE id = $1",
        &[&id],
    )
    .await;
    let page = get(&p, &app, "/account").await.body;
    assert!(page.contains("sign in again with a linked provider"));
    assert!(!page.contains("action=\"/account/delete\""));
    // No password to confirm with: the page offers to set one instead of the two password forms.
    assert!(!page.contains("action=\"/account/password\""));
    assert!(!page.contains("action=\"/account/email\""));
    assert!(page.contains("this account has no password"));
    assert!(page.contains("action=\"/forgot-password\""), "{page}");
    assert!(page.contains(&format!("name=\"email\" value=\"{sso_email}\"")));
    let signed_with_password = get(&c, &app, "/account").await;
    assert_eq!(signed_with_password.status, 303, "deleted above");
    sql(
        &app,
        "UPDATE sessions SET auth_method = 'corp' WHERE user_id = $1",
        &[&id],
    )
    .await;
    let page = get(&p, &app, "/account").await.body;
    assert!(page.contains("You signed in with a provider a moment ago"));
    assert!(!page.contains("id=\"delete-password\""));
    let done = submit(&p, &app, "/account", "/account/delete", &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(get(&p, &app, "/account").await.status, 303);
}

#[tokio::test]
async fn teams_are_created_and_invitations_accepted_through_the_pages() {
    let (app, _s) = spawn().await;
    let (owner, _) = signed_in_user(&app, &unique_email("owner")).await;
    let blank = submit(&owner, &app, "/account", "/account/teams", &[("name", " ")]).await;
    assert_eq!(blank.status, 422);
    assert!(blank.body.contains("id=\"team-name-error\""));
    let created = submit(
        &owner,
        &app,
        "/account",
        "/account/teams",
        &[("name", "Ops")],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let page = get(&owner, &app, "/account?done=team_created").await.body;
    assert!(page.contains("The team is created.") && page.contains("<h3>Ops"));
    let team = team_id(&app, "Ops").await;

    let guest_email = unique_email("guest");
    let invite = format!("/account/teams/{team}/invitations");
    let fields = [("email", guest_email.as_str()), ("role", "member")];
    let sent = submit(&owner, &app, "/account", &invite, &fields).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(
        sent.location,
        format!("/account?done=invitation_sent#team-{team}")
    );
    let path = invitation_path(&app, &guest_email).await;

    // Signed out, the link shows what it offers and a sign-in that comes back here.
    let guest = browser(&app, "en");
    let r = get(&guest, &app, &path).await;
    assert_eq!(r.status, 200);
    let shown = unescape(&r.body);
    assert!(
        shown.contains("<strong>Ops</strong>") && shown.contains(&guest_email),
        "{shown}"
    );
    assert!(
        shown.contains("href=\"/login?return_to=%2Finvitations%2F"),
        "{shown}"
    );
    assert!(!shown.contains(">Accept invitation<"));
    let unknown = get(&guest, &app, "/invitations/not-a-token").await;
    assert_eq!(
        unknown.status, 422,
        "a page re-rendered with an error answers 422"
    );
    assert!(unknown.body.contains("role=\"alert\""));
    // Another account cannot accept it.
    let (other, _) = signed_in_user(&app, &unique_email("other")).await;
    let refused = submit(&other, &app, &path, &path, &[]).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("This invitation was sent to another email address.")
    );

    let (_, guest_id) = app.register(&guest_email).await;
    let back = sign_in_to(&guest, &app, &guest_email, &path).await;
    assert_eq!(back, path);
    let page = get(&guest, &app, &path).await.body;
    assert!(page.contains(&guest_email) && page.contains(">Accept invitation<"));
    let joined = submit(&guest, &app, &path, &path, &[]).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    assert_eq!(joined.location, "/account?done=invitation_accepted#teams");
    let page = get(&guest, &app, "/account?done=invitation_accepted")
        .await
        .body;
    assert!(page.contains("You joined the team.") && page.contains("<h3>Ops"));
    assert_eq!(
        role_in(&app, &team, &guest_id).await.as_deref(),
        Some("member")
    );
    // Used once.
    let again = submit(&guest, &app, &path, &path, &[]).await;
    assert!(
        again
            .body
            .contains("The link is invalid, expired or already used.")
    );

    // A pending invitation is listed for the owner and can be withdrawn; its link then fails.
    let later = unique_email("later");
    let fields = [("email", later.as_str()), ("role", "admin")];
    let sent = submit(&owner, &app, "/account", &invite, &fields).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let later_path = invitation_path(&app, &later).await;
    let page = unescape(&get(&owner, &app, "/account").await.body);
    assert!(
        page.contains("Pending invitations") && page.contains(&later),
        "{page}"
    );
    let withdraw = page
        .split("action=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|action| action.contains("/invitations/") && action.ends_with("/revoke"))
        .expect("a Withdraw form")
        .to_string();
    let done = submit(&owner, &app, "/account", &withdraw, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = get(&owner, &app, &done.location).await.body;
    assert!(page.contains("The invitation is withdrawn"));
    assert!(!page.contains(&later));
    let dead = get(&guest, &app, &later_path).await;
    assert!(
        dead.body
            .contains("The link is invalid, expired or already used.")
    );
}

/// Sign in from the page `return_to` leads to; returns where the browser is sent.
async fn sign_in_to(c: &reqwest::Client, app: &TestApp, email: &str, to: &str) -> String {
    let fields = [("email", email), ("password", PASSWORD), ("return_to", to)];
    let r = submit(c, app, "/login", "/login", &fields).await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.location
}

#[tokio::test]
async fn managers_change_roles_and_remove_members_and_members_only_read() {
    let (app, _s) = spawn().await;
    let (owner, owner_id) = signed_in_user(&app, &unique_email("boss")).await;
    submit(
        &owner,
        &app,
        "/account",
        "/account/teams",
        &[("name", "Crew")],
    )
    .await;
    let team = team_id(&app, "Crew").await;
    let mut members = Vec::new();
    for tag in ["ann", "bob"] {
        let email = unique_email(tag);
        let invite = format!("/account/teams/{team}/invitations");
        let fields = [("email", email.as_str()), ("role", "member")];
        assert_eq!(
            submit(&owner, &app, "/account", &invite, &fields)
                .await
                .status,
            303
        );
        let path = invitation_path(&app, &email).await;
        let (c, id) = signed_in_user(&app, &email).await;
        assert_eq!(submit(&c, &app, &path, &path, &[]).await.status, 303);
        members.push((c, id, email));
    }
    let (ann, ann_id, _) = &members[0];
    let (_, bob_id, bob_email) = &members[1];
    let role_of = |id: &str| format!("/account/teams/{team}/members/{id}/role");
    let remove = |id: &str| format!("/account/teams/{team}/members/{id}/remove");

    // A plain member sees the list without controls, and a forged post is refused.
    let page = get(ann, &app, "/account").await.body;
    assert!(page.contains("<h3>Crew") && page.contains("Joined"));
    assert!(!page.contains(&role_of(bob_id)) && !page.contains(&remove(bob_id)));
    let r = submit(
        ann,
        &app,
        "/account",
        &role_of(bob_id),
        &[("role", "admin")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("You are not allowed to do this."));
    let r = submit(ann, &app, "/account", &remove(bob_id), &[]).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        role_in(&app, &team, bob_id).await.as_deref(),
        Some("member")
    );

    // The owner has a role select and a remove button for each other member.
    let page = get(&owner, &app, "/account").await.body;
    assert_well_formed(&page);
    assert!(page.contains(&format!("action=\"{}\"", role_of(ann_id))));
    assert!(page.contains(&format!("action=\"{}\"", remove(bob_id))));
    assert!(page.contains(&format!(
        "aria-label=\"Remove: {bob_email}\">Remove</button>"
    )));
    assert!(!page.contains(&role_of(&owner_id)));
    assert!(page.contains(&format!(
        "<label for=\"role-{team}-{ann_id}\" class=\"sr-only\">"
    )));
    let r = submit(
        &owner,
        &app,
        "/account",
        &role_of(ann_id),
        &[("role", "admin")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location,
        format!("/account?done=role_changed#team-{team}")
    );
    assert_eq!(role_in(&app, &team, ann_id).await.as_deref(), Some("admin"));
    let page = get(&owner, &app, "/account?done=role_changed").await.body;
    assert!(page.contains("role is changed."));

    // Now an admin, Ann manages Bob but may not make an owner.
    let page = get(ann, &app, "/account").await.body;
    assert!(page.contains(&remove(bob_id)));
    let r = submit(
        ann,
        &app,
        "/account",
        &role_of(bob_id),
        &[("role", "owner")],
    )
    .await;
    assert_eq!(r.status, 422);
    let r = submit(ann, &app, "/account", &remove(bob_id), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(role_in(&app, &team, bob_id).await, None);
    let page = get(ann, &app, "/account?done=member_removed").await.body;
    assert!(page.contains("The member is removed from the team."));
}

#[tokio::test]
async fn the_captcha_appears_on_the_login_page_after_failures() {
    let (app, _s) = TestApp::spawn_with(|c| c.captcha_after_failures = 2).await;
    let email = unique_email("captcha");
    app.register(&email).await;
    let c = browser(&app, "en");
    for _ in 0..2 {
        let r = sign_in(&c, &app, &email, "not the password").await;
        assert!(!r.body.contains("name=\"captcha_answer\""));
    }
    // Due now, even for the right password: the page shows the image and its field.
    let due = sign_in(&c, &app, &email, PASSWORD).await;
    assert_eq!(due.status, 422);
    assert!(due.body.contains("<img src=\"data:image/png;base64,"));
    assert!(
        due.body
            .contains("alt=\"Captcha: five letters and digits\"")
    );
    assert!(due.body.contains("<label for=\"login-captcha_answer\">"));
    assert!(due.body.contains("Solve the captcha to continue."));
    let id = due
        .body
        .split("name=\"captcha_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let key = gatehouse::captcha::service::key(&id);
    let answer = app.state.kv.get(&key).await.unwrap().unwrap();
    let fields = [
        ("email", email.as_str()),
        ("password", PASSWORD),
        ("captcha_id", id.as_str()),
        ("captcha_answer", answer.as_str()),
    ];
    let ok = submit(&c, &app, "/login", "/login", &fields).await;
    assert_eq!((ok.status, ok.location.as_str()), (303, "/account"));
}

#[tokio::test]
async fn an_operators_templates_and_logo_show() {
    let dir = tempfile::tempdir().unwrap();
    let override_path = dir.path().join("login.html");
    std::fs::write(
        &override_path,
        "{% extends \"base.html\" %}{% block content %}<h1>Staff sign-in</h1>{% endblock %}",
    )
    .unwrap();
    let templates = dir.path().to_path_buf();
    let (app, _s) = TestApp::spawn_with(|c| {
        c.captcha.enabled = false;
        c.web.templates_dir = Some(templates);
        c.web.logo_url = Some("https://cdn.example/logo.svg".into());
    })
    .await;
    let c = browser(&app, "en");
    let login = get(&c, &app, "/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("<h1>Staff sign-in</h1>"));
    assert!(!login.body.contains("Forgot your password?"));
    // The embedded base page and its logo are still used around the override.
    assert!(
        login
            .body
            .contains("<img src=\"https://cdn.example/logo.svg\" alt=\"\"")
    );
    // Files are read on every render: an edit shows at once.
    std::fs::write(
        &override_path,
        "{% extends \"base.html\" %}{% block content %}<h1>Edited</h1>{% endblock %}",
    )
    .unwrap();
    assert!(
        get(&c, &app, "/login")
            .await
            .body
            .contains("<h1>Edited</h1>")
    );
    // Pages without an override are the embedded ones, with the logo too.
    let register = get(&c, &app, "/register").await.body;
    assert!(register.contains("Create an account"));
    assert!(register.contains("https://cdn.example/logo.svg"));
}

/// The base32 key shown on the security page, as an authenticator app would take it.
fn totp_of(html: &str) -> totp_rs::Totp {
    let secret = html
        .split("<code id=\"totp-secret\">")
        .nth(1)
        .expect("the key is shown")
        .split('<')
        .next()
        .unwrap();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} field"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn totp_is_set_up_on_the_security_page_and_asked_for_at_sign_in() {
    let (app, _s) = spawn().await;
    let email = unique_email("security");
    app.register(&email).await;
    let c = browser(&app, "en");
    assert_eq!(sign_in(&c, &app, &email, PASSWORD).await.status, 303);
    assert!(
        get(&c, &app, "/account")
            .await
            .body
            .contains("href=\"/account/security\"")
    );
    let page = get(&c, &app, "/account/security").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Authenticator app"));

    let wrong = submit(
        &c,
        &app,
        "/account/security",
        "/account/security/totp",
        &[("password", "nope nope")],
    )
    .await;
    assert_eq!(wrong.status, 422);
    let started = submit(
        &c,
        &app,
        "/account/security",
        "/account/security/totp",
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(started.status, 200);
    assert!(started.body.contains("<svg"), "the QR code is inline");
    let totp = totp_of(&started.body);
    let now = || app.state.clock.now() as u64;
    let token = csrf(&started.body);
    let code = totp.generate(now()).to_string();
    let confirmed = read(
        c.post(app.url("/account/security/totp/confirm"))
            .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(confirmed.status, 200);
    assert!(confirmed.body.contains("id=\"recovery-codes\""));
    assert!(confirmed.body.contains("download=\"recovery-codes.txt\""));
    app.state.clock.advance(30);

    assert_eq!(
        submit(&c, &app, "/account", "/logout", &[]).await.status,
        303
    );
    let step = sign_in(&c, &app, &email, PASSWORD).await;
    assert_eq!(
        step.status, 200,
        "the second step is a page, not a redirect"
    );
    assert!(step.body.contains("name=\"code\""));
    assert!(
        get(&c, &app, "/account")
            .await
            .location
            .starts_with("/login"),
        "no session yet"
    );
    let fields = [
        ("csrf_token", csrf(&step.body)),
        ("mfa_token", hidden(&step.body, "mfa_token")),
        ("return_to", "/account".to_string()),
        ("code", totp.generate(now()).to_string()),
    ];
    let done = read(
        c.post(app.url("/login/mfa"))
            .form(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((done.status, done.location.as_str()), (303, "/account"));
    assert_eq!(get(&c, &app, "/account").await.status, 200);
    let zh = browser(&app, "zh-CN");
    assert_eq!(sign_in(&zh, &app, &email, PASSWORD).await.status, 200);
    assert!(
        get(&zh, &app, "/login/mfa").await.location == "/login",
        "without the cookie, start over"
    );
}
