//! Every mail gatehouse sends, in English and Simplified Chinese: a plain-text template per kind
//! and language (first line `Subject: …`) and one HTML layout that presents the same paragraphs.

use std::sync::LazyLock;

use minijinja::{Environment, Value, context};

use crate::i18n::Lang;

/// What a mail is about, with the values its template shows.
#[derive(Clone)]
pub enum Template<'a> {
    Verification {
        code: &'a str,
        link: &'a str,
        minutes: i64,
    },
    Recovery {
        code: &'a str,
        link: &'a str,
    },
    /// A recovery code without a link (the RAGFlow profile's four-letter code).
    ResetCode {
        code: &'a str,
        minutes: i64,
    },
    PasswordChanged {
        link: &'a str,
    },
    EmailChangeConfirm {
        code: &'a str,
        link: &'a str,
        new_email: &'a str,
        minutes: i64,
    },
    EmailChangeNotice {
        new_email: &'a str,
        link: &'a str,
    },
    SignupAttempt {
        link: &'a str,
    },
    Invitation {
        inviter: &'a str,
        tenant: &'a str,
        link: &'a str,
    },
    Broadcast {
        tenant: &'a str,
        subject: &'a str,
        body: &'a str,
    },
    /// `max_consecutive_failures` reached: password sign-in stays locked until a reset.
    AccountLocked {
        link: &'a str,
    },
    /// A way to sign in was added, removed or changed; `detail` names it (a provider, the new
    /// address).
    SignInChanged {
        change: SignInChange,
        detail: &'a str,
        link: &'a str,
    },
}

/// The sign-in changes the owner is told about (besides the password, which has its own mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInChange {
    IdentityLinked,
    EmailChanged,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodesRenewed,
    PasskeyAdded,
    PasskeyRemoved,
    MfaReset,
}

impl SignInChange {
    fn as_str(self) -> &'static str {
        match self {
            Self::IdentityLinked => "identity_linked",
            Self::EmailChanged => "email_changed",
            Self::TotpEnabled => "totp_enabled",
            Self::TotpDisabled => "totp_disabled",
            Self::RecoveryCodesRenewed => "recovery_codes_renewed",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::MfaReset => "mfa_reset",
        }
    }
}

impl std::fmt::Debug for Template<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes and links are secrets: only the kind is ever printed.
        f.write_str(self.kind())
    }
}

impl Template<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Verification { .. } => "verification",
            Self::Recovery { .. } => "recovery",
            Self::ResetCode { .. } => "reset_code",
            Self::PasswordChanged { .. } => "password_changed",
            Self::EmailChangeConfirm { .. } => "email_change_confirm",
            Self::EmailChangeNotice { .. } => "email_change_notice",
            Self::SignupAttempt { .. } => "signup_attempt",
            Self::Invitation { .. } => "invitation",
            Self::Broadcast { .. } => "broadcast",
            Self::AccountLocked { .. } => "account_locked",
            Self::SignInChanged { .. } => "sign_in_changed",
        }
    }

    fn values(&self) -> Value {
        match *self {
            Self::Verification {
                code,
                link,
                minutes,
            } => context! { code, link, minutes },
            Self::Recovery { code, link } => context! { code, link },
            Self::ResetCode { code, minutes } => context! { code, minutes },
            Self::PasswordChanged { link }
            | Self::SignupAttempt { link }
            | Self::AccountLocked { link } => context! { link },
            Self::SignInChanged {
                change,
                detail,
                link,
            } => context! { change => change.as_str(), detail, link },
            Self::EmailChangeConfirm {
                code,
                link,
                new_email,
                minutes,
            } => context! { code, link, new_email, minutes },
            Self::EmailChangeNotice { new_email, link } => context! { new_email, link },
            Self::Invitation {
                inviter,
                tenant,
                link,
            } => context! { inviter => unlinkable(inviter), tenant => unlinkable(tenant), link },
            Self::Broadcast {
                tenant,
                subject,
                body,
            } => context! { tenant, subject, body },
        }
    }
}

/// A name someone else chose (a team's, an inviter's), made to read as plain text in the
/// recipient's mail client: a zero-width space after each `.`, `:` and `/` keeps clients from
/// turning `pay.example/login` into a link that seems to come from us.
fn unlinkable(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        out.push(c);
        if matches!(c, '.' | ':' | '/' | '@') {
            out.push('\u{200B}');
        }
    }
    out
}

/// A mail ready to queue.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

macro_rules! mail_templates {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!($name, ".en.txt"), include_str!(concat!("../../templates/mail/", $name, ".en.txt"))),
            (concat!($name, ".zh-CN.txt"), include_str!(concat!("../../templates/mail/", $name, ".zh-CN.txt"))),
        )*]
    };
}

const SOURCES: &[(&str, &str)] = mail_templates!(
    "verification",
    "recovery",
    "reset_code",
    "password_changed",
    "email_change_confirm",
    "email_change_notice",
    "signup_attempt",
    "invitation",
    "broadcast",
    "account_locked",
    "sign_in_changed",
);

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in SOURCES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "mail template does not parse");
        }
    }
    if let Err(e) = env.add_template(
        "layout.html",
        include_str!("../../templates/mail/layout.html"),
    ) {
        tracing::error!(error = %e, "mail layout does not parse");
    }
    env
});

/// Render `template` in `lang` for a deployment called `product`.
pub fn render(template: &Template<'_>, lang: Lang, product: &str) -> anyhow::Result<Rendered> {
    let name = format!("{}.{}.txt", template.kind(), lang.as_str());
    let values = template.values();
    let full = ENV
        .get_template(&name)?
        .render(context! { product, ..values.clone() })?;
    let (first, body) = full.split_once('\n').unwrap_or((&full, ""));
    let subject = first
        .strip_prefix("Subject: ")
        .unwrap_or(first)
        .trim()
        .to_string();
    let text = body.trim().to_string() + "\n";
    let paragraphs: Vec<Vec<String>> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.lines().map(str::to_string).collect())
        .collect();
    let link_label = match lang {
        Lang::En => "Open",
        Lang::ZhCn => "打开链接",
    };
    let html = ENV.get_template("layout.html")?.render(context! {
        lang => lang.as_str(), subject => subject.clone(), product, paragraphs, link_label, ..values
    })?;
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Template<'static>> {
        vec![
            Template::Verification {
                code: "123456",
                link: "https://a.example/verify-email?token=t",
                minutes: 30,
            },
            Template::Recovery {
                code: "654321",
                link: "https://a.example/reset-password?token=t",
            },
            Template::ResetCode {
                code: "QWER",
                minutes: 5,
            },
            Template::PasswordChanged {
                link: "https://a.example/forgot-password",
            },
            Template::EmailChangeConfirm {
                code: "111222",
                link: "https://a.example/verify-email?token=t",
                new_email: "n@x.example",
                minutes: 30,
            },
            Template::EmailChangeNotice {
                new_email: "n@x.example",
                link: "https://a.example/account",
            },
            Template::SignupAttempt {
                link: "https://a.example/forgot-password",
            },
            Template::Invitation {
                inviter: "Ann",
                tenant: "Ops",
                link: "https://a.example/invitations/t",
            },
            Template::Broadcast {
                tenant: "Ops",
                subject: "Maintenance",
                body: "We <b>restart</b> at 9.",
            },
            Template::AccountLocked {
                link: "https://a.example/forgot-password",
            },
            Template::SignInChanged {
                change: SignInChange::IdentityLinked,
                detail: "Corp SSO",
                link: "https://a.example/forgot-password",
            },
            Template::SignInChanged {
                change: SignInChange::EmailChanged,
                detail: "n@x.example",
                link: "https://a.example/forgot-password",
            },
        ]
    }

    #[test]
    fn every_template_renders_in_both_languages() {
        for t in all() {
            for lang in [Lang::En, Lang::ZhCn] {
                let r = render(&t, lang, "Acme ID")
                    .unwrap_or_else(|e| panic!("{} {lang:?}: {e}", t.kind()));
                assert!(
                    !r.subject.is_empty() && !r.subject.contains("{{"),
                    "{}",
                    t.kind()
                );
                assert!(r.html.contains(&format!("lang=\"{}\"", lang.as_str())));
                assert!(!r.text.contains("{{") && !r.html.contains("{{"));
            }
        }
    }

    #[test]
    fn names_others_chose_never_read_as_links() {
        let t = Template::Invitation {
            inviter: "Ann",
            tenant: "Visit https://pay.example/login now",
            link: "https://a.example/invitations/t",
        };
        let r = render(&t, Lang::En, "Acme").unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.text.contains("https://pay.example"), "{}", r.text);
        assert!(!r.subject.contains("pay.example"), "{}", r.subject);
        assert!(
            r.text.contains("https://a.example/invitations/t"),
            "our link stays whole"
        );
        let shown: String = r.text.chars().filter(|c| *c != '\u{200B}').collect();
        assert!(
            shown.contains("Visit https://pay.example/login now"),
            "the name still reads the same"
        );
    }

    #[test]
    fn codes_links_and_chinese_appear() {
        let t = Template::Recovery {
            code: "654321",
            link: "https://a.example/reset-password?token=t",
        };
        let zh = render(&t, Lang::ZhCn, "Acme").unwrap_or_else(|e| panic!("{e}"));
        assert!(zh.subject.contains("重置"));
        assert!(
            zh.text.contains("654321")
                && zh.text.contains("https://a.example/reset-password?token=t")
        );
        // minijinja escapes `/` as `&#x2f;` in HTML, which browsers read back as `/`.
        assert!(
            zh.html
                .contains("<a href=\"https:&#x2f;&#x2f;a.example&#x2f;reset-password?token=t\""),
            "{}",
            zh.html
        );
        let b = Template::Broadcast {
            tenant: "Ops",
            subject: "Hi",
            body: "We <b>restart</b>",
        };
        let en = render(&b, Lang::En, "Acme").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            en.text.contains("We <b>restart</b>"),
            "plain text is not escaped"
        );
        assert!(
            en.html.contains("We &lt;b&gt;restart&lt;&#x2f;b&gt;"),
            "HTML is escaped: {}",
            en.html
        );
    }
}
