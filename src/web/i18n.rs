//! Every word the pages show, in English and Simplified Chinese. Error texts of the services come
//! from [`crate::i18n`]; this table holds the rest. A test checks that no entry is empty.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::i18n::Lang;

/// `(key, English, 简体中文)`.
const TEXTS: &[(&str, &str, &str)] = &[
    ("skip_to_content", "Skip to content", "跳到正文"),
    ("nav_label", "Account navigation", "账户导航"),
    ("nav_account", "Account", "账户"),
    ("nav_admin", "Administration", "管理"),
    ("sign_in", "Sign in", "登录"),
    ("sign_out", "Sign out", "退出登录"),
    ("home", "Home", "首页"),
    ("continue", "Continue", "继续"),
    ("error_title", "Something went wrong", "出错了"),
    ("email", "Email address", "邮箱地址"),
    ("password", "Password", "密码"),
    ("nickname", "Name", "昵称"),
    ("code", "6-digit code", "6 位验证码"),
    (
        "password_hint",
        "At least 8 characters; a long phrase is best.",
        "至少 8 个字符，长短语最佳。",
    ),
    (
        "captcha_alt",
        "Captcha: five letters and digits",
        "图形验证码：五个字母和数字",
    ),
    ("captcha_label", "Characters in the image", "图中的字符"),
    (
        "captcha_hint",
        "Capital letters and digits; case does not matter.",
        "大写字母和数字，不区分大小写。",
    ),
    ("login_title", "Sign in", "登录"),
    ("login_heading", "Sign in", "登录"),
    ("forgot_link", "Forgot your password?", "忘记密码？"),
    (
        "login_with_provider",
        "Or sign in with",
        "或使用以下方式登录",
    ),
    ("continue_with", "Continue with", "使用"),
    ("no_account", "No account yet?", "还没有账户？"),
    ("register_link", "Create one", "立即注册"),
    (
        "login_error_invalid_state",
        "The sign-in took too long or was started elsewhere; please try again.",
        "登录超时或并非从本页发起，请重试。",
    ),
    (
        "login_error_missing_code",
        "The provider did not complete the sign-in; please try again.",
        "登录服务未完成登录，请重试。",
    ),
    (
        "login_error_token_failed",
        "The provider did not confirm the sign-in; please try again.",
        "登录服务未能确认登录，请重试。",
    ),
    (
        "login_error_invalid_id_token",
        "The provider's answer could not be verified.",
        "无法验证登录服务的应答。",
    ),
    (
        "login_error_email_missing",
        "The provider did not share an email address.",
        "登录服务未提供邮箱地址。",
    ),
    (
        "login_error_email_unverified",
        "The provider has not verified your email address.",
        "登录服务尚未验证你的邮箱地址。",
    ),
    (
        "login_error_account_disabled",
        "This account is disabled.",
        "该账户已被停用。",
    ),
    (
        "login_error_registration_disabled",
        "Registration is closed; no account exists for this sign-in.",
        "注册已关闭，此登录方式没有对应的账户。",
    ),
    (
        "login_error_provider_error",
        "The sign-in provider reported an error or could not be reached.",
        "登录服务报告了错误或无法访问。",
    ),
    (
        "login_error_unknown",
        "The sign-in did not succeed; please try again.",
        "登录未成功，请重试。",
    ),
    ("register_title", "Create an account", "注册账户"),
    ("register_heading", "Create an account", "注册账户"),
    ("register_button", "Create account", "注册"),
    ("have_account", "Already have an account?", "已有账户？"),
    (
        "register_check_mail",
        "Check your inbox: we sent a code and a link to confirm your address.",
        "请查收邮件：我们已发送验证码和确认链接。",
    ),
    ("forgot_title", "Forgot password", "忘记密码"),
    ("forgot_heading", "Forgot your password?", "忘记密码？"),
    (
        "forgot_intro",
        "Enter your email address and we will send you a code and a link to choose a new password.",
        "输入你的邮箱地址，我们会发送验证码和链接，用于设置新密码。",
    ),
    ("forgot_button", "Send code and link", "发送验证码和链接"),
    (
        "forgot_sent",
        "If an account uses this address, a mail with a code and a link is on its way.",
        "如果该地址已注册，包含验证码和链接的邮件已发出。",
    ),
    ("have_code", "I already have a code", "我已有验证码"),
    ("reset_title", "Reset password", "重置密码"),
    ("reset_heading", "Choose a new password", "设置新密码"),
    (
        "reset_code_intro",
        "Enter the 6-digit code from the mail.",
        "请输入邮件中的 6 位验证码。",
    ),
    ("reset_button", "Set new password", "设置新密码"),
    ("reset_request_new", "Request a new mail", "重新发送邮件"),
    ("reset_done_heading", "Password changed", "密码已更改"),
    (
        "reset_done",
        "Your password is changed and every session was signed out. Sign in with the new password.",
        "密码已更改，所有会话均已退出。请使用新密码登录。",
    ),
    ("new_password", "New password", "新密码"),
    ("verify_title", "Verify email", "验证邮箱"),
    (
        "verify_heading",
        "Verify your email address",
        "验证你的邮箱地址",
    ),
    (
        "verify_code_intro",
        "Enter the 6-digit code from the mail we sent you.",
        "请输入我们发送的邮件中的 6 位验证码。",
    ),
    (
        "verify_confirm_intro",
        "Confirm that this address is yours.",
        "请确认此邮箱地址属于你。",
    ),
    ("verify_button", "Verify", "验证"),
    ("verify_resend_heading", "No mail?", "没有收到邮件？"),
    ("verify_resend_button", "Send a new code", "重新发送验证码"),
    (
        "verify_sent",
        "If this address waits for verification, a new mail is on its way.",
        "如果该地址尚待验证，新的邮件已发出。",
    ),
    (
        "verify_done_heading",
        "Email address verified",
        "邮箱地址已验证",
    ),
    (
        "verify_done",
        "Thank you: your email address is confirmed.",
        "谢谢，你的邮箱地址已确认。",
    ),
    ("verify_now", "Verify now", "立即验证"),
    ("account_title", "Your account", "我的账户"),
    ("account_heading", "Your account", "我的账户"),
    ("profile_heading", "Profile", "个人资料"),
    ("verified", "verified", "已验证"),
    ("unverified", "not verified", "未验证"),
    ("avatar", "Avatar URL", "头像链接"),
    (
        "avatar_hint",
        "An https address of an image; leave empty for none.",
        "图片的 https 地址；留空表示不使用头像。",
    ),
    ("language", "Language", "语言"),
    ("color_schema", "Colour scheme", "配色方案"),
    ("scheme_system", "Same as the device", "跟随设备"),
    ("scheme_light", "Light", "浅色"),
    ("scheme_dark", "Dark", "深色"),
    ("timezone", "Time zone", "时区"),
    (
        "timezone_hint",
        "Dates on these pages are shown in this zone; your applications can read it too.",
        "本页面的日期按此时区显示，你的应用也可以读取它。",
    ),
    ("save", "Save", "保存"),
    ("password_heading", "Password", "密码"),
    ("current_password", "Current password", "当前密码"),
    (
        "password_change_hint",
        "Your other sessions will be signed out.",
        "你的其他会话将被退出登录。",
    ),
    (
        "password_none",
        "You sign in with a provider; this account has no password. To set one, we mail you a reset code and link.",
        "你通过第三方登录，此账户没有密码。如需设置密码，我们会向你发送重置验证码和链接。",
    ),
    ("password_set_link", "Set a password", "设置密码"),
    (
        "email_needs_password",
        "Changing the address is confirmed with your password: set one first.",
        "更改邮箱地址需要用密码确认，请先设置密码。",
    ),
    ("password_button", "Change password", "更改密码"),
    ("email_heading", "Email address", "邮箱地址"),
    (
        "email_intro",
        "We send a confirmation to the new address; the change applies once you confirm it.",
        "我们会向新地址发送确认邮件，确认后更改生效。",
    ),
    ("new_email", "New email address", "新邮箱地址"),
    ("email_button", "Change email address", "更改邮箱地址"),
    ("sessions_heading", "Active sessions", "活动会话"),
    ("device", "Device", "设备"),
    ("ip", "IP address", "IP 地址"),
    ("last_seen", "Last seen", "最近活动"),
    ("signed_in_at", "Signed in", "登录时间"),
    ("this_session", "this session", "当前会话"),
    ("revoke", "Sign out", "退出"),
    ("revoke_key", "Revoke", "吊销"),
    ("actions", "Actions", "操作"),
    ("unknown", "Unknown", "未知"),
    ("keys_heading", "API keys", "API 密钥"),
    (
        "key_created",
        "Your new key is shown only this once. Copy it now and keep it somewhere safe.",
        "新密钥仅显示这一次，请立即复制并妥善保存。",
    ),
    ("key_secret", "New API key", "新的 API 密钥"),
    ("name", "Name", "名称"),
    ("key_prefix", "Key", "密钥"),
    ("created", "Created", "创建时间"),
    ("expires", "Expires", "过期时间"),
    ("last_used", "Last used", "最近使用"),
    ("never", "never", "从未"),
    ("no_keys", "No API keys yet.", "还没有 API 密钥。"),
    ("key_name", "Key name", "密钥名称"),
    (
        "key_expires_days",
        "Expires after (days, optional)",
        "有效天数（可选）",
    ),
    ("key_create", "Create key", "创建密钥"),
    ("teams_heading", "Teams", "团队"),
    ("role", "Role", "角色"),
    ("role_owner", "owner", "所有者"),
    ("role_admin", "admin", "管理员"),
    ("role_member", "member", "成员"),
    ("invite_email", "Invite by email", "通过邮箱邀请"),
    ("invite_button", "Send invitation", "发送邀请"),
    ("team_name", "New team name", "新团队名称"),
    ("team_create", "Create team", "创建团队"),
    (
        "times_in_zone",
        "Times are shown in your time zone, {zone}.",
        "时间均以你的时区（{zone}）显示。",
    ),
    (
        "done_profile_saved",
        "Your profile is saved.",
        "个人资料已保存。",
    ),
    (
        "done_password_changed",
        "Your password is changed; your other sessions were signed out.",
        "密码已更改，其他会话已退出登录。",
    ),
    (
        "done_email_sent",
        "Check the new address for a confirmation mail.",
        "请在新邮箱中查收确认邮件。",
    ),
    (
        "done_session_revoked",
        "The session is signed out.",
        "该会话已退出登录。",
    ),
    (
        "done_key_revoked",
        "The API key is revoked.",
        "API 密钥已吊销。",
    ),
    ("done_team_created", "The team is created.", "团队已创建。"),
    (
        "done_invitation_sent",
        "The invitation is sent.",
        "邀请已发送。",
    ),
    (
        "done_invitation_accepted",
        "You joined the team.",
        "你已加入团队。",
    ),
    (
        "done_role_changed",
        "The member's role is changed.",
        "成员角色已更改。",
    ),
    (
        "done_member_removed",
        "The member is removed from the team.",
        "该成员已被移出团队。",
    ),
    (
        "done_invitation_revoked",
        "The invitation is withdrawn; its link no longer works.",
        "邀请已撤回，其链接已失效。",
    ),
    ("pending_invitations", "Pending invitations", "待接受的邀请"),
    ("withdraw_invitation", "Withdraw", "撤回"),
    (
        "done_identity_linked",
        "The sign-in method is linked.",
        "登录方式已关联。",
    ),
    (
        "done_identity_unlinked",
        "The sign-in method is unlinked.",
        "该登录方式已取消关联。",
    ),
    (
        "account_error_identity_taken",
        "That provider account is already linked to another user here.",
        "该登录服务账户已关联到本站的其他用户。",
    ),
    (
        "account_error_unknown",
        "Linking the provider did not succeed; please try again.",
        "关联登录服务未成功，请重试。",
    ),
    ("identities_heading", "Sign-in methods", "登录方式"),
    ("provider", "Provider", "登录服务"),
    (
        "provider_email",
        "Address at the provider",
        "登录服务中的邮箱",
    ),
    ("linked_at", "Linked", "关联时间"),
    (
        "no_identities",
        "No sign-in provider is linked yet.",
        "尚未关联任何登录服务。",
    ),
    ("identity_unlink", "Unlink", "取消关联"),
    ("identity_link", "Link", "关联"),
    ("link_title", "Link a sign-in method", "关联登录方式"),
    (
        "link_heading",
        "Link a sign-in method?",
        "要关联登录方式吗？",
    ),
    ("link_account", "To your account", "关联到账户"),
    (
        "link_intro",
        "After you confirm, the provider asks you to sign in there; that provider account then signs you in here too.",
        "确认后，登录服务会请你在那里登录；之后该登录服务账户也可以登录本站的这个账户。",
    ),
    (
        "link_warning",
        "Only continue if you opened this yourself. If a link or another site brought you here, cancel.",
        "仅在你本人发起时继续。如果是某个链接或其他网站把你带到这里，请取消。",
    ),
    (
        "link_cancel",
        "Cancel and go back to the account",
        "取消并返回账户",
    ),
    ("members", "Members", "成员"),
    ("joined", "Joined", "加入时间"),
    ("you", "you", "你"),
    ("change_role", "Change role", "更改角色"),
    ("remove_member", "Remove", "移除"),
    ("delete_heading", "Delete account", "删除账户"),
    (
        "delete_intro",
        "This removes your account with its sessions, API keys and sign-in methods, and the teams \
         only you belong to. It cannot be undone.",
        "将删除你的账户及其会话、API 密钥、登录方式，以及只有你一人的团队。此操作无法撤销。",
    ),
    (
        "delete_recent_provider",
        "You signed in with a provider a moment ago; that confirms the deletion.",
        "你刚刚通过登录服务登录，可直接确认删除。",
    ),
    (
        "delete_reauth",
        "Your account has no password: sign in again with a linked provider, then come back here \
         to delete it.",
        "你的账户没有设置密码：请先通过已关联的登录服务重新登录，然后回到此处删除账户。",
    ),
    (
        "delete_password_required",
        "Enter your password to confirm.",
        "请输入密码以确认。",
    ),
    ("delete_button", "Delete my account", "删除我的账户"),
    (
        "account_deleted",
        "Your account is deleted.",
        "你的账户已删除。",
    ),
    ("invitation_title", "Invitation", "邀请"),
    ("invitation_heading", "Join a team", "加入团队"),
    (
        "invitation_intro",
        "You were invited to a team. Accept as",
        "你收到了团队邀请。接受邀请的账户：",
    ),
    ("invitation_accept", "Accept invitation", "接受邀请"),
    ("invitation_team", "Team", "团队"),
    ("invitation_for", "Invited address", "受邀邮箱"),
    ("invitation_expires", "Valid until", "有效期至"),
    (
        "invitation_sign_in_hint",
        "Sign in with the invited address to accept; without an account yet, create one with that address first, then open this link again.",
        "请使用受邀邮箱登录后接受邀请；如果还没有账户，请先用该邮箱注册，然后再次打开此链接。",
    ),
    ("invitation_sign_in", "Sign in to accept", "登录并接受"),
    ("admin_users_title", "Users", "用户"),
    ("admin_users_heading", "Users", "用户"),
    ("admin_user_title", "User", "用户详情"),
    ("admin_audit_title", "Audit log", "审计日志"),
    ("admin_audit_heading", "Audit log", "审计日志"),
    ("admin_outbox_title", "Mail outbox", "邮件发件箱"),
    ("admin_outbox_heading", "Mail outbox", "邮件发件箱"),
    (
        "search_users",
        "Search by email or name",
        "按邮箱或昵称搜索",
    ),
    ("search", "Search", "搜索"),
    ("status", "Status", "状态"),
    ("active", "active", "正常"),
    ("disabled", "disabled", "已停用"),
    ("superuser", "superuser", "超级用户"),
    ("last_login", "Last sign-in", "最近登录"),
    ("login_channel", "Sign-in method", "登录方式"),
    ("nothing_found", "Nothing found.", "没有找到记录。"),
    ("pages", "Pages", "分页"),
    ("page", "Page", "第"),
    ("total", "in all", "条记录"),
    ("previous", "Previous", "上一页"),
    ("next", "Next", "下一页"),
    ("admin_disable", "Disable account", "停用账户"),
    ("admin_enable", "Enable account", "启用账户"),
    ("admin_promote", "Make superuser", "设为超级用户"),
    ("admin_demote", "Remove superuser", "取消超级用户"),
    (
        "admin_send_reset",
        "Mail a password reset",
        "发送密码重置邮件",
    ),
    (
        "admin_revoke_sessions",
        "Sign out everywhere",
        "退出所有会话",
    ),
    (
        "admin_user_audit",
        "This user's audit events",
        "该用户的审计事件",
    ),
    ("admin_done_updated", "The user is updated.", "用户已更新。"),
    (
        "admin_done_reset_sent",
        "A reset mail is queued.",
        "重置邮件已加入发送队列。",
    ),
    (
        "admin_done_sessions_revoked",
        "Every session of this user is signed out.",
        "该用户的所有会话均已退出。",
    ),
    ("user_id", "User ID", "用户 ID"),
    ("event", "Event", "事件"),
    ("since", "From (RFC 3339)", "开始时间（RFC 3339）"),
    ("until", "Until (RFC 3339)", "结束时间（RFC 3339）"),
    ("filter", "Filter", "筛选"),
    ("time", "Time", "时间"),
    ("actor", "Actor", "操作者"),
    ("subject", "Subject", "对象"),
    ("detail", "Detail", "详情"),
    ("all", "All", "全部"),
    ("kind", "Kind", "类型"),
    ("recipient", "Recipient", "收件人"),
    ("subject_line", "Subject", "主题"),
    ("attempts", "Attempts", "尝试次数"),
    ("sent", "Sent", "发送时间"),
    ("mail_pending", "pending", "待发送"),
    ("mail_sent", "sent", "已发送"),
    ("mail_failed", "failed", "失败"),
    // The OpenID Provider's pages: consent, RP-initiated logout, the list of clients.
    ("consent_title", "Allow access", "授权访问"),
    (
        "consent_heading",
        "Allow access to your account?",
        "允许访问你的账户？",
    ),
    (
        "consent_intro",
        "asks to sign you in and to see:",
        "请求让你登录，并查看：",
    ),
    (
        "consent_remembered",
        "Your answer is remembered for this application; you can sign in to it later without being asked again.",
        "此应用会记住你的选择，之后登录时不再询问。",
    ),
    ("consent_allow", "Allow", "允许"),
    ("consent_deny", "Deny", "拒绝"),
    ("scope_openid", "Your account ID", "你的账户 ID"),
    ("scope_email", "Your email address", "你的邮箱地址"),
    (
        "scope_profile",
        "Your name, picture, language and time zone",
        "你的昵称、头像、语言和时区",
    ),
    ("scope_groups", "Your teams and roles", "你的团队和角色"),
    (
        "scope_offline_access",
        "Access while you are away (until you sign out)",
        "在你离开时继续访问（直到你退出登录）",
    ),
    ("logout_title", "Sign out", "退出登录"),
    (
        "logout_heading",
        "Sign out of gatehouse?",
        "退出 gatehouse？",
    ),
    (
        "logout_intro",
        "An application asks to sign you out. Sign out of this browser now?",
        "一个应用请求让你退出登录。现在退出此浏览器的登录吗？",
    ),
    ("logout_stay", "Stay signed in", "保持登录"),
    (
        "provider_error_title",
        "This sign-in request cannot be served",
        "无法处理此登录请求",
    ),
    (
        "provider_error_unknown_client",
        "The application is not registered with this service.",
        "该应用未在本服务注册。",
    ),
    (
        "provider_error_redirect_uri",
        "The application asked to return to an address it has not registered.",
        "该应用请求返回一个未登记的地址。",
    ),
    (
        "provider_error_bad_request",
        "The sign-in request is malformed.",
        "登录请求格式有误。",
    ),
    (
        "provider_error_logout_uri",
        "The application asked to return to an address it has not registered for signing out.",
        "该应用请求在退出后返回一个未登记的地址。",
    ),
    (
        "provider_error_id_token_hint",
        "The sign-out request names a token this service did not issue.",
        "退出请求附带的令牌并非本服务签发。",
    ),
    ("admin_clients_title", "Applications", "应用"),
    ("admin_clients_heading", "Applications", "应用"),
    (
        "admin_clients_hint",
        "Applications that sign users in with this service. Register them with the admin API or `gatehouse admin clients add`.",
        "通过本服务登录用户的应用。使用管理 API 或 `gatehouse admin clients add` 注册。",
    ),
    ("client_name", "Name", "名称"),
    ("client_id", "Client ID", "客户端 ID"),
    ("client_redirect_uris", "Redirect URIs", "回调地址"),
    ("client_scopes", "Scopes", "权限范围"),
    ("client_first_party", "first-party", "自有应用"),
    ("client_public", "public", "公开客户端"),
    ("client_confidential", "confidential", "机密客户端"),
];

static TABLES: LazyLock<[BTreeMap<&'static str, &'static str>; 2]> = LazyLock::new(|| {
    [
        TEXTS.iter().map(|(k, en, _)| (*k, *en)).collect(),
        TEXTS.iter().map(|(k, _, zh)| (*k, *zh)).collect(),
    ]
});

/// Every text in `lang`, for the templates (`{{ t.sign_in }}`).
pub fn table(lang: Lang) -> &'static BTreeMap<&'static str, &'static str> {
    match lang {
        Lang::En => &TABLES[0],
        Lang::ZhCn => &TABLES[1],
    }
}

/// One text; an unknown key shows as itself, so a gap is visible rather than blank.
pub fn text(key: &str, lang: Lang) -> &'static str {
    table(lang)
        .get(key)
        .copied()
        .unwrap_or_else(|| table(Lang::En).get(key).copied().unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_both_languages_and_keys_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, en, zh) in TEXTS {
            assert!(seen.insert(*key), "duplicate key {key}");
            assert!(!en.trim().is_empty() && !zh.trim().is_empty(), "{key}");
        }
    }

    #[test]
    fn every_key_a_template_uses_exists() {
        for (name, source) in super::super::page::template_sources() {
            let mut rest = *source;
            while let Some(at) = rest.find("t.") {
                let before = rest[..at].chars().last();
                rest = &rest[at + 2..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !key.is_empty() {
                    assert!(
                        table(Lang::En).contains_key(key.as_str()),
                        "{name}: t.{key}"
                    );
                }
            }
        }
    }
}
