//! The page routes and the stylesheet.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{
    account_views as account, admin_views as admin, auth_views as auth, link_views as link,
    mail_views as mail, overview_views as overview, page, provider_views as provider,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route(
            "/register",
            get(auth::register_page).post(auth::register_submit),
        )
        .route("/logout", post(auth::logout))
        .route("/language", post(auth::set_language))
        .route(
            "/forgot-password",
            get(auth::forgot_page).post(auth::forgot_submit),
        )
        .route(
            "/reset-password",
            get(auth::reset_page).post(auth::reset_submit),
        )
        .route("/reset-password/code", post(auth::reset_code))
        .route(
            "/verify-email",
            get(auth::verify_page).post(auth::verify_submit),
        )
        .route("/verify-email/resend", post(auth::verify_resend))
        .route("/account", get(account::account))
        .route(
            "/account/profile",
            get(account::profile_page).post(account::update_profile),
        )
        .route("/account/password", post(account::change_password))
        .route("/account/email", post(account::change_email))
        .route(
            "/account/sessions/{id}/revoke",
            post(account::revoke_session),
        )
        .route("/account/keys", get(account::keys_page))
        .route("/account/api-keys", post(account::create_key))
        .route("/account/api-keys/{id}/revoke", post(account::revoke_key))
        .route(
            "/account/identities/{id}/unlink",
            post(account::unlink_identity),
        )
        .route("/account/delete", post(account::delete_account))
        .route(
            "/account/link",
            get(link::link_page).post(link::link_submit),
        )
        .route(
            "/account/teams",
            get(account::teams_page).post(account::create_team),
        )
        .route("/account/teams/{id}/invitations", post(account::invite))
        .route(
            "/account/teams/{id}/invitations/{invitation_id}/revoke",
            post(account::revoke_invitation),
        )
        .route(
            "/account/teams/{id}/members/{user_id}/role",
            post(account::change_role),
        )
        .route(
            "/account/teams/{id}/members/{user_id}/remove",
            post(account::remove_member),
        )
        .route(
            "/invitations/{token}",
            get(account::invitation_page).post(account::accept_invitation),
        )
        .route("/admin", get(overview::overview))
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}", get(admin::user))
        .route("/admin/users/{id}/{action}", post(admin::user_action))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/outbox", get(admin::outbox))
        .route(
            "/account/mail",
            get(mail::accounts_page).post(mail::add_account),
        )
        .route("/account/mail/{id}/{action}", post(mail::account_action))
        .route("/mail", get(mail::client))
        .route("/mail/compose", post(mail::compose_submit))
        .route("/mail/message", post(mail::message_action))
        .route("/assets/gatehouse.css", get(stylesheet))
        .merge(super::security_views::router())
        .route(
            "/oauth/authorize",
            get(provider::authorize).post(provider::consent),
        )
        .route(
            "/oauth/logout",
            get(provider::logout).post(provider::logout_confirm),
        )
        .route("/admin/clients", get(provider::clients_page))
        .layer(axum::middleware::from_fn(page::render_page_errors))
}

/// The embedded stylesheet with the configured accent colour (checked as `#rrggbb` at startup).
async fn stylesheet(State(state): State<AppState>) -> Response {
    let css = format!(
        "{}\n:root {{ --accent: {}; }}\n",
        page::STYLESHEET,
        state.config.web.accent_color
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        css,
    )
        .into_response()
}
