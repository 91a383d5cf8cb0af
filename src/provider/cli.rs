//! `gatehouse admin clients …` and `gatehouse admin keys rotate`: the operator's side of the
//! OpenID Provider, through the same services as the admin API.

use clap::Subcommand;

use super::clients::{self, ClientPatch, ClientType, ClientView, NewClient};
use crate::admin::Admin;
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::http::paging::Paging;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register an application; a confidential client's secret is printed once.
    Add {
        #[arg(long)]
        name: String,
        /// Repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a browser or native app without a secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// Trusted: users are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// Allowed scopes (default: all of openid email profile groups offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// `EdDSA` (default) or `RS256`.
        #[arg(long)]
        alg: Option<String>,
    },
    List {
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// Show one client (id or client_id).
    Show { client: String },
    /// Change a client; options not given stay as they are.
    Update {
        client: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        first_party: Option<bool>,
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long)]
        alg: Option<String>,
    },
    /// Remove a client with its consents and refresh tokens.
    Remove { client: String },
    /// Print a new secret for a confidential client; the old one stops working.
    RotateSecret { client: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// New signing keys; the old public keys stay in the JWKS until their tokens expire.
    Rotate,
}

fn cli_client() -> ClientInfo {
    ClientInfo {
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        user_agent: Some("gatehouse-cli".into()),
    }
}

fn explain(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::NotFound => anyhow::anyhow!("no such client"),
        ApiError::Validation(fields) => anyhow::anyhow!(
            "invalid {}",
            fields.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        ApiError::Internal(e) => e,
        other => anyhow::anyhow!("{}", other.code()),
    }
}

fn print(view: &ClientView) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(view)?);
    if view.client_secret.is_some() {
        eprintln!("the client_secret is shown only now: store it with the application");
    }
    Ok(())
}

fn some_list(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

pub async fn clients(state: &AppState, command: ClientsCommand) -> anyhow::Result<()> {
    let admin = Admin::from_cli();
    let info = cli_client();
    match command {
        ClientsCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            scopes,
            alg,
        } => {
            let input = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                client_type: if public {
                    ClientType::Public
                } else {
                    ClientType::Confidential
                },
                first_party,
                allowed_scopes: some_list(scopes),
                id_token_signed_response_alg: alg,
            };
            let view = clients::create(state, &admin, input, &info)
                .await
                .map_err(explain)?;
            print(&view)
        }
        ClientsCommand::List { page, per_page } => {
            let paging = Paging {
                page: page.max(1),
                per_page: per_page.clamp(1, 200),
            };
            let found = clients::list(state, &admin, paging)
                .await
                .map_err(explain)?;
            for c in &found.items {
                println!(
                    "{}  {}  {}  {}{}",
                    c.id,
                    c.client_id,
                    c.name,
                    c.client_type,
                    if c.first_party { "  [first-party]" } else { "" }
                );
            }
            println!("{} of {} clients", found.items.len(), found.total);
            Ok(())
        }
        ClientsCommand::Show { client } => print(
            &clients::find(state, &admin, &client)
                .await
                .map_err(explain)?,
        ),
        ClientsCommand::Update {
            client,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            first_party,
            scopes,
            alg,
        } => {
            let found = clients::find(state, &admin, &client)
                .await
                .map_err(explain)?;
            let patch = ClientPatch {
                name,
                redirect_uris: some_list(redirect_uris),
                post_logout_redirect_uris: some_list(post_logout_redirect_uris),
                client_type: None,
                first_party,
                allowed_scopes: some_list(scopes),
                id_token_signed_response_alg: alg,
            };
            let view = clients::update(state, &admin, &found.id, patch, &info)
                .await
                .map_err(explain)?;
            print(&view)
        }
        ClientsCommand::Remove { client } => {
            let found = clients::find(state, &admin, &client)
                .await
                .map_err(explain)?;
            clients::delete(state, &admin, &found.id, &info)
                .await
                .map_err(explain)?;
            println!("removed {} ({})", found.name, found.client_id);
            Ok(())
        }
        ClientsCommand::RotateSecret { client } => {
            let found = clients::find(state, &admin, &client)
                .await
                .map_err(explain)?;
            let view = clients::rotate_secret(state, &admin, &found.id, &info)
                .await
                .map_err(explain)?;
            print(&view)
        }
    }
}

pub async fn keys(state: &AppState, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => {
            let kids = super::keys::rotate(state).await?;
            println!("new signing keys: {}", kids.join(", "));
            Ok(())
        }
    }
}
