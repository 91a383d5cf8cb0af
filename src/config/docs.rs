//! One line of meaning per configuration key (`gatehouse config-example`).

/// One line of meaning for every configuration key, in the order `gatehouse config-example`
/// writes them, with a sample value for keys that have no default (those are written commented
/// out). A test checks that this table and the configuration types name the same keys, so a new
/// key fails the build's tests until it has its line here. `providers.*.KEY` stands for each
/// provider's table. Add a key's line in its section.
pub const KEY_DOCS: &[(&str, &str, &str)] = &[
    // (key, sample value when there is no default, meaning)
    ("listen", "", "Address and port of the HTTP listener."),
    (
        "data_dir",
        "",
        "Directory of the SQLite database, the generated secret key, the lock file and dev mail.",
    ),
    (
        "database_url",
        "\"postgres://gatehouse:PASSWORD@127.0.0.1:5432/gatehouse\"",
        "Database URL (sqlite:// or postgres://); default: the SQLite file {data_dir}/gatehouse.db.",
    ),
    (
        "redis_url",
        "\"redis://127.0.0.1:6379\"",
        "Redis for short-lived state shared by several instances; default: kept in process.",
    ),
    (
        "redis_prefix",
        "",
        "Put before every Redis key, so several deployments can share one Redis.",
    ),
    (
        "public_base_url",
        "\"https://auth.example.com\"",
        "The URL users reach (links in mail, provider redirects; https makes cookies Secure); default: http://{listen}.",
    ),
    ("product_name", "", "The name users see in mails and pages."),
    (
        "secret_key",
        "\"AT-LEAST-32-RANDOM-CHARACTERS\"",
        "The server key (at least 32 characters); prefer secret_key_file.",
    ),
    (
        "secret_key_file",
        "\"/etc/gatehouse/secret.key\"",
        "File holding the server key; default: {data_dir}/secret.key, generated with mode 0600 at first start.",
    ),
    ("registration_enabled", "", "Anyone may create an account."),
    (
        "password_login_enabled",
        "",
        "Sign-in with a password (false: providers only).",
    ),
    (
        "email_verification_required",
        "",
        "New accounts must confirm their address before signing in.",
    ),
    (
        "login_after_verification",
        "",
        "Confirming the address of a new account signs it in.",
    ),
    (
        "captcha_after_failures",
        "",
        "Consecutive failed sign-ins of an account before the captcha is required.",
    ),
    (
        "ip_captcha_after_failures",
        "",
        "Failed sign-ins from one IP within 15 minutes before the captcha is required (5 times this refuses the IP).",
    ),
    (
        "lockout_threshold",
        "",
        "Failed sign-ins that lock an account for lockout_duration (1 to 100).",
    ),
    ("lockout_duration", "", "How long a lockout lasts."),
    (
        "max_consecutive_failures",
        "",
        "Failed sign-ins without a success after which password sign-in stays locked until a reset or an unlock (1 to 100).",
    ),
    (
        "session_idle_timeout",
        "",
        "A session unused this long ends.",
    ),
    (
        "session_lifetime",
        "",
        "A session ends this long after sign-in, used or not.",
    ),
    (
        "metrics_listen",
        "\"127.0.0.1:9100\"",
        "Serve /metrics on this separate listener instead of the main one.",
    ),
    (
        "trusted_proxies",
        "",
        "Networks (CIDR) of reverse proxies whose X-Forwarded-For is believed.",
    ),
    ("log_format", "", "\"text\" or \"json\"."),
    (
        "smtp.host",
        "\"smtp.example.com\"",
        "SMTP server; default: mail is written to {data_dir}/mail/ (needs public_base_url when set).",
    ),
    (
        "smtp.port",
        "587",
        "SMTP port; default: 465, 587 or 25 by tls.",
    ),
    (
        "smtp.tls",
        "",
        "\"implicit\", \"starttls\" (required, never optional) or \"none\".",
    ),
    ("smtp.username", "\"gatehouse\"", "SMTP AUTH user."),
    (
        "smtp.password",
        "\"PASSWORD\"",
        "SMTP AUTH password; prefer password_file.",
    ),
    (
        "smtp.password_file",
        "\"/etc/gatehouse/smtp-password\"",
        "File holding the SMTP AUTH password.",
    ),
    ("smtp.from_name", "", "Display name of the From: header."),
    (
        "smtp.from_address",
        "\"noreply@example.com\"",
        "Address of the From: header; default: noreply@ the host of public_base_url.",
    ),
    (
        "smtp.timeout",
        "",
        "Bounds connecting and each delivery attempt.",
    ),
    (
        "smtp.allow_insecure_auth",
        "",
        "Allow AUTH over tls = \"none\" (a trusted local relay only).",
    ),
    (
        "smtp.give_up_after",
        "",
        "A mail still undelivered this long after it was queued is marked failed.",
    ),
    (
        "smtp.ca_file",
        "\"/etc/gatehouse/smtp-ca.pem\"",
        "Extra root certificate (PEM) to trust for the SMTP server.",
    ),
    (
        "providers.*.type",
        "\"oidc\"",
        "\"oidc\", \"oauth2\" or \"github\".",
    ),
    (
        "providers.*.name",
        "\"Corp SSO\"",
        "Shown on the sign-in page; default: the provider id.",
    ),
    (
        "providers.*.icon",
        "\"sso\"",
        "Icon name shown beside the name.",
    ),
    (
        "providers.*.client_id",
        "\"gatehouse\"",
        "Client id registered at the provider (required).",
    ),
    (
        "providers.*.client_secret",
        "\"SECRET\"",
        "Client secret; prefer client_secret_file.",
    ),
    (
        "providers.*.client_secret_file",
        "\"/etc/gatehouse/corp-secret\"",
        "File holding the client secret.",
    ),
    (
        "providers.*.issuer",
        "\"https://sso.example.com\"",
        "OpenID issuer; discovery at {issuer}/.well-known/openid-configuration (oidc; required).",
    ),
    (
        "providers.*.authorization_url",
        "\"https://sso.example.com/authorize\"",
        "Authorization endpoint (oauth2; required).",
    ),
    (
        "providers.*.token_url",
        "\"https://sso.example.com/token\"",
        "Token endpoint (oauth2; required).",
    ),
    (
        "providers.*.userinfo_url",
        "\"https://sso.example.com/userinfo\"",
        "Userinfo endpoint (oauth2; required).",
    ),
    (
        "providers.*.api_base_url",
        "\"https://api.github.com\"",
        "GitHub API base URL (github; for GitHub Enterprise).",
    ),
    (
        "providers.*.web_base_url",
        "\"https://github.com\"",
        "GitHub web base URL (github; for GitHub Enterprise).",
    ),
    (
        "providers.*.scopes",
        "[\"openid\", \"email\", \"profile\"]",
        "Scopes to ask for; default by type.",
    ),
    (
        "providers.*.allow_registration",
        "true",
        "Unknown users may create an account through this provider.",
    ),
    (
        "providers.*.trust_email",
        "false",
        "An email without an email_verified claim counts as verified.",
    ),
    (
        "captcha.enabled",
        "",
        "Show a captcha after repeated failures.",
    ),
    ("captcha.length", "", "Characters in a captcha (4 to 8)."),
    ("captcha.ttl", "", "How long a captcha can be answered."),
    (
        "ragflow.listen",
        "\"127.0.0.1:9380\"",
        "Address of RAGFlow's compatibility profile; default: off.",
    ),
    (
        "ragflow.public_base_url",
        "\"https://ragflow.example.com\"",
        "Where RAGFlow's clients reach the profile; default: http://{listen}.",
    ),
    (
        "ragflow.secret_key",
        "\"AT-LEAST-32-RANDOM-CHARACTERS\"",
        "Signs the profile's tokens; default: RAGFLOW_SECRET_KEY, else derived from the server key.",
    ),
    (
        "ragflow.secret_key_file",
        "\"/etc/gatehouse/ragflow.key\"",
        "File holding ragflow.secret_key.",
    ),
    (
        "ragflow.rsa_private_key_file",
        "\"/etc/gatehouse/ragflow-private.pem\"",
        "RSA key of RAGFlow's password transport; default: RAGFlow's published pair.",
    ),
    (
        "ragflow.rsa_passphrase",
        "\"PASSPHRASE\"",
        "Passphrase of rsa_private_key_file.",
    ),
    (
        "ragflow.register_enabled",
        "",
        "Registration as reported by the profile's /system/config.",
    ),
    (
        "ragflow.disable_password_login",
        "",
        "Reported by the profile's /system/config, as in RAGFlow.",
    ),
    (
        "ragflow.token_max_age",
        "",
        "Lifetime of the profile's tokens.",
    ),
    (
        "ragflow.password_policy",
        "",
        "\"native\" or \"ragflow\" (no rule for new passwords).",
    ),
    (
        "ragflow.llm_factories",
        "\"/opt/ragflow/conf/llm_factories.json\"",
        "RAGFlow's model catalog.",
    ),
    (
        "web.templates_dir",
        "\"/etc/gatehouse/templates\"",
        "Templates here replace the built-in pages of the same name.",
    ),
    (
        "web.logo_url",
        "\"https://example.com/logo.svg\"",
        "Image shown next to the product name.",
    ),
    (
        "web.accent_color",
        "",
        "#rrggbb of buttons and links (white text on it: keep it dark).",
    ),
    (
        "mail_accounts.allow_private_hosts",
        "",
        "Let users' mail accounts name loopback, private or link-local hosts (intranets, tests).",
    ),
    (
        "mail_accounts.timeout",
        "",
        "Bound of every network step with a user's mail server.",
    ),
    (
        "mail_accounts.send_per_hour",
        "",
        "Messages a user may send per hour through their mail accounts.",
    ),
    (
        "mail_accounts.ca_file",
        "\"/etc/gatehouse/mail-ca.pem\"",
        "Extra root certificate (PEM) trusted for users' mail servers.",
    ),
    (
        "mail_accounts.idle_timeout",
        "",
        "An unused pooled IMAP session is closed after this long.",
    ),
    (
        "botserver.enabled",
        "",
        "Serve BotServer's documented /api/email and /api/auth routes on the main listener.",
    ),
    (
        "mfa.required_for",
        "",
        "Who must have a second factor: \"none\", \"superusers\" or \"all\".",
    ),
    (
        "webauthn.rp_id",
        "\"example.com\"",
        "Passkeys' relying party id (a domain); default: the host of public_base_url.",
    ),
    (
        "webauthn.rp_name",
        "\"Example Inc.\"",
        "Name authenticators show; default: product_name.",
    ),
    (
        "webauthn.origins",
        "",
        "Origins allowed to answer passkey ceremonies; default: public_base_url itself.",
    ),
    (
        "oidc_provider.access_token_ttl",
        "",
        "Lifetime of the access and ID tokens gatehouse issues to applications.",
    ),
    (
        "oidc_provider.refresh_token_ttl",
        "",
        "Lifetime of a refresh token (each use rotates it).",
    ),
    (
        "oidc_provider.code_ttl",
        "",
        "Lifetime of an authorization code (single use).",
    ),
    (
        "forward_auth.allowed_hosts",
        "",
        "Hosts (app.example.com or host:port) a sign-in may return to by absolute URL.",
    ),
    (
        "forward_auth.cookie_domain",
        "\"example.com\"",
        "Parent domain whose apps share the session cookie over https (__Secure- with Domain).",
    ),
];
