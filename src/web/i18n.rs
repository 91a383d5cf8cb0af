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
    // The administrators' overview (/admin).
    ("admin_overview_title", "Overview", "概览"),
    ("admin_overview_heading", "Overview", "概览"),
    (
        "overview_24h",
        "Last 24 hours, per hour",
        "最近 24 小时（按小时）",
    ),
    (
        "overview_30d",
        "Last 30 days, per day",
        "最近 30 天（按天）",
    ),
    ("overview_peak", "Highest bar:", "最高值："),
    ("overview_sign_ins", "Sign-ins", "登录"),
    ("overview_failed_sign_ins", "Failed sign-ins", "登录失败"),
    ("overview_lockouts", "Lockouts", "账户锁定"),
    ("overview_new_accounts", "New accounts", "新账户"),
    ("overview_mail_sent", "Mail sent", "已发送邮件"),
    ("overview_mail_failed", "Mail failed", "发送失败邮件"),
    // Mail accounts and the mail client.
    ("account_menu", "Account sections", "账户栏目"),
    ("menu_profile", "Profile", "个人资料"),
    ("menu_security", "Security", "安全"),
    ("menu_mail", "Mail accounts", "邮箱账户"),
    ("menu_teams", "Teams", "团队"),
    ("menu_keys", "API keys", "API 密钥"),
    ("menu_mail_client", "Open mail", "打开邮件"),
    ("nav_mail", "Mail", "邮件"),
    ("mail_accounts_title", "Mail accounts", "邮箱账户"),
    ("mail_accounts_heading", "Mail accounts", "邮箱账户"),
    ("mail_your_accounts", "Your mailboxes", "你的邮箱"),
    ("mail_servers", "Servers", "服务器"),
    ("mail_last_check", "Last check", "上次检查"),
    ("mail_primary", "primary", "主账户"),
    ("mail_check_ok", "working", "正常"),
    ("mail_test", "Test", "测试"),
    ("mail_make_primary", "Make primary", "设为主账户"),
    ("mail_remove", "Remove", "移除"),
    (
        "mail_no_accounts",
        "No mail account yet.",
        "尚未添加邮箱账户。",
    ),
    ("mail_add_heading", "Add a mail account", "添加邮箱账户"),
    (
        "mail_add_intro",
        "gatehouse signs in to the IMAP and SMTP servers before saving; the password is stored encrypted and never shown again.",
        "保存前 gatehouse 会登录 IMAP 和 SMTP 服务器；密码加密保存，不会再次显示。",
    ),
    ("mail_preset", "Provider", "服务商"),
    (
        "mail_preset_hint",
        "A provider fills in the server fields you leave empty.",
        "选择服务商后，留空的服务器字段会自动填写。",
    ),
    (
        "mail_display_name",
        "Name shown to recipients",
        "收件人看到的名称",
    ),
    ("mail_username", "Sign-in name", "登录名"),
    (
        "mail_username_hint",
        "Usually the address itself (the default).",
        "通常就是邮箱地址（默认）。",
    ),
    ("mail_password", "Mailbox password", "邮箱密码"),
    (
        "mail_password_hint",
        "For Gmail, Outlook and Yahoo use an app password.",
        "Gmail、Outlook 和 Yahoo 请使用应用专用密码。",
    ),
    ("mail_host", "Server", "服务器"),
    ("mail_port", "Port", "端口"),
    ("mail_tls", "Encryption", "加密方式"),
    ("mail_tls_implicit", "TLS (SSL)", "TLS（SSL）"),
    ("mail_tls_starttls", "STARTTLS", "STARTTLS"),
    (
        "mail_tls_none",
        "None (local servers only)",
        "无（仅限本地服务器）",
    ),
    ("mail_add_button", "Test and add", "测试并添加"),
    (
        "mail_failure_dns",
        "server name not found",
        "找不到服务器名称",
    ),
    ("mail_failure_connect", "could not connect", "无法连接"),
    (
        "mail_failure_tls",
        "secure connection failed",
        "安全连接失败",
    ),
    (
        "mail_failure_authentication",
        "sign-in refused",
        "登录被拒绝",
    ),
    ("mail_failure_timeout", "no answer in time", "未及时响应"),
    (
        "done_mail_account_added",
        "Mail account added.",
        "邮箱账户已添加。",
    ),
    (
        "done_mail_account_removed",
        "Mail account removed.",
        "邮箱账户已移除。",
    ),
    (
        "done_mail_account_primary",
        "Primary account changed.",
        "主账户已更改。",
    ),
    ("done_mail_sent", "Message sent.", "邮件已发送。"),
    ("done_mail_draft_saved", "Draft saved.", "草稿已保存。"),
    ("done_mail_deleted", "Message deleted.", "邮件已删除。"),
    ("mail_title", "Mail", "邮件"),
    ("mail_folders", "Mail folders", "邮件文件夹"),
    ("mail_account", "Account", "账户"),
    ("mail_switch", "Switch", "切换"),
    ("mail_compose", "Write a message", "写邮件"),
    ("mail_role_inbox", "Inbox", "收件箱"),
    ("mail_role_sent", "Sent", "已发送"),
    ("mail_role_drafts", "Drafts", "草稿箱"),
    ("mail_role_trash", "Trash", "已删除"),
    ("mail_role_junk", "Junk", "垃圾邮件"),
    ("mail_role_archive", "Archive", "归档"),
    ("mail_unread", "unread", "未读"),
    ("mail_search", "Search mail", "搜索邮件"),
    ("mail_no_subject", "(no subject)", "（无主题）"),
    ("mail_attachments", "Attachments", "附件"),
    ("mail_pages", "Message pages", "邮件分页"),
    ("mail_newer", "Newer", "较新"),
    ("mail_older", "Older", "较早"),
    ("mail_empty", "No messages here.", "这里没有邮件。"),
    ("mail_compose_new", "New message", "新邮件"),
    ("mail_compose_reply", "Reply", "回复"),
    ("mail_compose_forward", "Forward", "转发"),
    ("mail_to", "To", "收件人"),
    (
        "mail_addresses_hint",
        "Separate addresses with commas.",
        "多个地址用逗号分隔。",
    ),
    ("mail_cc", "Cc", "抄送"),
    ("mail_bcc", "Bcc", "密送"),
    ("mail_subject", "Subject", "主题"),
    ("mail_body", "Message", "正文"),
    (
        "mail_forward_hint",
        "The original message is attached.",
        "原邮件将作为附件发送。",
    ),
    ("mail_send", "Send", "发送"),
    ("mail_save_draft", "Save draft", "保存草稿"),
    ("mail_from", "From", "发件人"),
    ("mail_date", "Date", "日期"),
    ("mail_reply", "Reply", "回复"),
    ("mail_forward", "Forward", "转发"),
    ("mail_mark_unread", "Mark unread", "标为未读"),
    ("mail_delete", "Delete", "删除"),
    ("mail_show_images", "Show remote images", "显示远程图片"),
    (
        "mail_pick",
        "Pick a message to read it.",
        "选择一封邮件进行阅读。",
    ),
    // Two-factor authentication and passkeys.
    ("mfa_heading", "Two-step verification", "两步验证"),
    (
        "mfa_code",
        "Code from your authenticator app, or a recovery code",
        "验证器应用中的验证码，或一个恢复码",
    ),
    (
        "mfa_code_hint",
        "Six digits, or a recovery code like abcde-fghjk.",
        "6 位数字，或形如 abcde-fghjk 的恢复码。",
    ),
    ("passkey_heading", "Passkey", "通行密钥"),
    (
        "mfa_passkey_hint",
        "Or confirm with one of your passkeys.",
        "也可以用你的通行密钥确认。",
    ),
    ("mfa_use_passkey", "Use a passkey", "使用通行密钥"),
    (
        "passkey_failed",
        "The passkey did not work; try again.",
        "通行密钥未能完成验证，请重试。",
    ),
    (
        "passkey_needs_js",
        "Passkeys need JavaScript in this browser.",
        "在此浏览器中使用通行密钥需要启用 JavaScript。",
    ),
    ("mfa_start_over", "Start over", "重新开始"),
    ("security_heading", "Sign-in security", "登录安全"),
    ("security_back", "Back to the account", "返回账户"),
    (
        "account_security_link",
        "Two-factor authentication and passkeys",
        "两步验证和通行密钥",
    ),
    (
        "security_enrol_required",
        "Your organisation asks for a second factor: set up an authenticator app or a passkey to continue.",
        "你的组织要求使用第二重验证：请设置验证器应用或通行密钥后继续。",
    ),
    ("totp_heading", "Authenticator app", "验证器应用"),
    (
        "totp_on",
        "Two-step verification with an authenticator app is on.",
        "验证器应用两步验证已开启。",
    ),
    (
        "totp_off",
        "Add a code from an authenticator app to every sign-in with your password.",
        "每次用密码登录时，再输入验证器应用中的验证码。",
    ),
    (
        "totp_enable",
        "Set up an authenticator app",
        "设置验证器应用",
    ),
    (
        "totp_scan",
        "Scan this QR code with your authenticator app, then enter the code it shows.",
        "用验证器应用扫描此二维码，然后输入应用显示的验证码。",
    ),
    (
        "totp_qr_alt",
        "QR code to add this account to an authenticator app",
        "将此账户添加到验证器应用的二维码",
    ),
    ("totp_secret", "Or type this key:", "或手动输入此密钥："),
    ("totp_confirm", "Turn on", "开启"),
    ("totp_disable", "Turn off", "关闭"),
    (
        "recovery_codes_intro",
        "Keep these recovery codes somewhere safe. Each works once, if you lose your authenticator app. They are shown only now.",
        "请妥善保存这些恢复码。丢失验证器应用时，每个恢复码可使用一次。它们只显示这一次。",
    ),
    ("recovery_codes_download", "Download", "下载"),
    ("recovery_codes_copy", "Copy", "复制"),
    ("recovery_codes_copied", "Copied", "已复制"),
    ("recovery_codes_left", "Recovery codes left", "剩余恢复码"),
    ("recovery_codes_heading", "Recovery codes", "恢复码"),
    (
        "totp_disable_heading",
        "Turn the authenticator app off",
        "关闭验证器应用",
    ),
    (
        "recovery_codes_new",
        "Make new recovery codes",
        "生成新的恢复码",
    ),
    ("passkeys_heading", "Passkeys", "通行密钥"),
    (
        "passkeys_none",
        "No passkeys yet. A passkey signs you in with your device's screen lock, without a password.",
        "还没有通行密钥。通行密钥让你用设备的屏幕锁登录，无需密码。",
    ),
    ("passkey_added_at", "added", "添加于"),
    ("passkey_used_at", "last used", "最近使用"),
    ("passkey_remove", "Remove", "移除"),
    ("passkey_name", "Name of the passkey", "通行密钥名称"),
    ("passkey_default_name", "My passkey", "我的通行密钥"),
    ("passkey_add", "Add a passkey", "添加通行密钥"),
    (
        "passkey_sign_in",
        "Sign in with a passkey",
        "使用通行密钥登录",
    ),
    (
        "security_done_passkey_added",
        "The passkey was added.",
        "通行密钥已添加。",
    ),
    (
        "security_done_passkey_removed",
        "The passkey was removed.",
        "通行密钥已移除。",
    ),
    (
        "security_done_totp_enabled",
        "The authenticator app is set up.",
        "验证器应用已设置。",
    ),
    (
        "security_done_totp_disabled",
        "The authenticator app was turned off.",
        "验证器应用已关闭。",
    ),
    (
        "security_done_codes_renewed",
        "New recovery codes were made; the old ones no longer work.",
        "已生成新的恢复码；旧的恢复码已失效。",
    ),
    (
        "login_error_mfa_expired",
        "The sign-in took too long or was already finished; sign in again.",
        "登录超时或已完成，请重新登录。",
    ),
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
