//! Languages gatehouse speaks (English and Simplified Chinese) and the API's translated messages.

use std::sync::{Arc, OnceLock};

use crate::error::{ErrorCode, FieldProblem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [&'static str; 2] = ["en", "zh-CN"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }

    /// Exactly one of the stored codes (`en`, `zh-CN`).
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "zh-CN" => Some(Self::ZhCn),
            _ => None,
        }
    }

    /// The best match of an `Accept-Language` header, by quality; English when nothing matches.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::En;
        };
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Some(Self::ZhCn)
            } else if tag == "en" || tag.starts_with("en-") {
                Some(Self::En)
            } else {
                None
            };
            if let Some(lang) = lang
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

/// The language of the current request: `Accept-Language`, overridden by the signed-in user's
/// setting once the authentication extractor has found the user.
#[derive(Clone, Default)]
pub struct RequestLang {
    pub accept: Lang,
    pub user: Arc<OnceLock<Lang>>,
}

impl RequestLang {
    pub fn get(&self) -> Lang {
        self.user.get().copied().unwrap_or(self.accept)
    }
}

impl ErrorCode {
    /// The code's sentence in `lang`. No catch-all arm: a new code does not build without both
    /// translations.
    pub fn message(self, lang: Lang) -> &'static str {
        use ErrorCode as C;
        let (en, zh) = match self {
            C::MalformedJson => (
                "The request body is not valid JSON.",
                "请求体不是有效的 JSON。",
            ),
            C::ValidationFailed => ("Some fields are invalid.", "部分字段无效。"),
            C::WeakPassword => (
                "This password is too common; choose another.",
                "该密码过于常见，请换一个。",
            ),
            C::UnsupportedMediaType => (
                "Send the body as application/json.",
                "请以 application/json 格式发送请求体。",
            ),
            C::PayloadTooLarge => ("The request body is too large.", "请求体过大。"),
            C::NotFound => ("Not found.", "未找到。"),
            C::MethodNotAllowed => ("This method is not allowed here.", "此处不允许该请求方法。"),
            C::Unauthenticated => ("Sign in to continue.", "请先登录。"),
            C::SessionRequired => (
                "This action needs a signed-in session, not an API key.",
                "此操作需要登录会话，不能使用 API 密钥。",
            ),
            C::Forbidden => ("You are not allowed to do this.", "你无权执行此操作。"),
            C::CsrfFailed => (
                "The request did not come from this site.",
                "请求并非来自本站。",
            ),
            C::RateLimited => (
                "Too many attempts; try again later.",
                "尝试次数过多，请稍后再试。",
            ),
            C::AccountLocked => (
                "This account is locked after too many failed sign-ins: reset the password by mail.",
                "登录失败次数过多，该账户已被锁定：请通过邮件重置密码。",
            ),
            C::EmailTaken => (
                "This email address is already registered.",
                "该邮箱地址已被注册。",
            ),
            C::RegistrationDisabled => ("Registration is closed.", "注册已关闭。"),
            C::PasswordLoginDisabled => {
                ("Sign-in with a password is turned off.", "密码登录已关闭。")
            }
            C::InvalidCredentials => ("Wrong email or password.", "邮箱或密码错误。"),
            C::AccountDisabled => ("This account is disabled.", "该账户已被停用。"),
            C::EmailUnverified => ("Verify your email address first.", "请先验证你的邮箱地址。"),
            C::CaptchaRequired => ("Solve the captcha to continue.", "请完成验证码后继续。"),
            C::InvalidCaptcha => (
                "The captcha answer is wrong or expired.",
                "验证码错误或已过期。",
            ),
            C::TenantHasMembers => (
                "Hand over the teams you own before deleting your account.",
                "删除账户前，请先移交你拥有的团队。",
            ),
            C::InvitationEmailMismatch => (
                "This invitation was sent to another email address.",
                "此邀请发送给了另一个邮箱地址。",
            ),
            C::LastOwner => (
                "A team needs at least one owner.",
                "团队至少需要一位所有者。",
            ),
            C::LastLoginMethod => (
                "This is your last way to sign in; set a password or link another provider first.",
                "这是你最后一种登录方式；请先设置密码或关联其他登录方式。",
            ),
            C::InvalidCode => ("The code is wrong or expired.", "验证码错误或已过期。"),
            C::InvalidToken => (
                "The link is invalid, expired or already used.",
                "链接无效、已过期或已被使用。",
            ),
            C::TooManyAttempts => (
                "Too many wrong codes; try again in 30 minutes.",
                "错误次数过多，请 30 分钟后再试。",
            ),
            C::MfaAlreadyEnabled => (
                "Two-factor authentication is already on.",
                "两步验证已经开启。",
            ),
            C::MfaNotEnabled => ("Two-factor authentication is not on.", "两步验证尚未开启。"),
            C::InvalidCredential => (
                "The passkey answer is invalid or expired.",
                "通行密钥的应答无效或已过期。",
            ),
            C::MfaEnrolmentRequired => (
                "Set up two-factor authentication to continue.",
                "请先设置两步验证再继续。",
            ),
            C::PasskeysUnavailable => (
                "Passkeys need the service to be reached by a domain name.",
                "通行密钥需要通过域名访问本服务。",
            ),
            C::Busy => (
                "The server is busy; try again in a moment.",
                "服务器繁忙，请稍后再试。",
            ),
            C::MailConnectionFailed => (
                "Could not sign in to the mail server; see detail.",
                "无法登录邮件服务器，详见 detail。",
            ),
            C::MailServerError => (
                "The mail server failed or did not answer in time.",
                "邮件服务器出错或未及时响应。",
            ),
            C::MessageTooLarge => ("The message is larger than 25 MiB.", "邮件超过 25 MiB。"),
            C::UsernameTaken => ("This username is already taken.", "该用户名已被占用。"),
            C::InternalError => ("Something went wrong on our side.", "服务器内部出错。"),
        };
        match lang {
            Lang::En => en,
            Lang::ZhCn => zh,
        }
    }
}

pub fn field_message(problem: &FieldProblem, lang: Lang) -> String {
    use FieldProblem as P;
    let (en, zh) = match problem {
        P::WrongType(detail) => {
            return format!(
                "{}: {detail}",
                if lang == Lang::En {
                    "Wrong type"
                } else {
                    "类型错误"
                }
            );
        }
        P::Required => ("This field is required.", "此字段为必填项。"),
        P::Unknown => ("Unknown field.", "未知字段。"),
        P::NotAllowed => ("This field cannot be changed here.", "此处不能修改该字段。"),
        P::InvalidEmail => ("Enter a valid email address.", "请输入有效的邮箱地址。"),
        P::InvalidNickname => (
            "1–100 characters: letters, digits, spaces and . _ ' -",
            "1–100 个字符：字母、数字、空格及 . _ ' -",
        ),
        P::PasswordLength => ("Use 8 to 256 characters.", "请使用 8 到 256 个字符。"),
        P::WeakPassword => (
            "This password is too common or equals your email; choose another.",
            "该密码过于常见或与邮箱相同，请换一个。",
        ),
        P::InvalidLanguage => ("Use \"en\" or \"zh-CN\".", "请使用 \"en\" 或 \"zh-CN\"。"),
        P::InvalidColorSchema => (
            "Use \"light\", \"dark\" or \"system\".",
            "请使用 \"light\"、\"dark\" 或 \"system\"。",
        ),
        P::InvalidTimezone => (
            "Use an IANA time zone such as Europe/Berlin.",
            "请使用 IANA 时区名称，例如 Asia/Shanghai。",
        ),
        P::InvalidAvatar => (
            "Use an https URL or a PNG, JPEG or WebP data URI of at most 256 KiB.",
            "请使用 https 链接，或不超过 256 KiB 的 PNG、JPEG、WebP data URI。",
        ),
        P::PreferencesTooLarge => (
            "Preferences must be a JSON object of at most 16 KiB.",
            "偏好设置必须是不超过 16 KiB 的 JSON 对象。",
        ),
        P::Invalid => ("This value is invalid.", "该值无效。"),
    };
    match lang {
        Lang::En => en.to_string(),
        Lang::ZhCn => zh.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_quality() {
        assert_eq!(
            Lang::from_accept_language(Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_accept_language(Some("fr, en;q=0.5, zh;q=0.4")),
            Lang::En
        );
        assert_eq!(Lang::from_accept_language(Some("de")), Lang::En);
        assert_eq!(Lang::from_accept_language(None), Lang::En);
    }
}
