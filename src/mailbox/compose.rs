//! Writing messages: checking what a user asks to send (addresses, header injection,
//! attachments, size) and building it with lettre, ready for SMTP and for the Sent copy.

use base64::Engine;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde::Deserialize;
use utoipa::ToSchema;

use super::MAX_MESSAGE_BYTES;
use crate::error::ApiError;
use crate::error::{FieldErrors, FieldProblem};

/// Recipients per message, all lists together.
const MAX_RECIPIENTS: usize = 100;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub filename: String,
    pub content_type: String,
    /// Base64 (standard alphabet; line breaks allowed).
    pub data: String,
}

/// What to send (and, without the SMTP part, what a draft holds).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Option<Vec<String>>,
    #[serde(default)]
    pub bcc: Option<Vec<String>>,
    #[serde(default)]
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Option<Vec<AttachmentInput>>,
    /// Answer this message (UID in `folder`): sets `In-Reply-To` and `References`.
    pub reply_to_uid: Option<u32>,
    /// Forward this message (UID in `folder`), attached as `message/rfc822`.
    pub forward_uid: Option<u32>,
    /// The folder of `reply_to_uid` / `forward_uid` (default `INBOX`).
    pub folder: Option<String>,
}

/// A checked message, before the parts that need the server (reply context, forwarded copy).
#[derive(Debug, Clone)]
pub struct Checked {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<(String, ContentType, Vec<u8>)>,
}

fn has_line_break(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '\r' | '\n' | '\0'))
}

/// One address as a mailbox (`a@b` or `Name <a@b>`); CR/LF anywhere refuses it.
pub fn mailbox(raw: &str) -> Option<Mailbox> {
    let raw = raw.trim();
    if raw.is_empty() || has_line_break(raw) || raw.len() > 320 {
        return None;
    }
    let parsed: Mailbox = raw.parse().ok()?;
    crate::domain::Email::parse(parsed.email.as_ref())?;
    Some(parsed)
}

fn addresses(list: &[String], field: &str, errors: &mut FieldErrors) -> Vec<Mailbox> {
    let mut out = Vec::new();
    for raw in list {
        match mailbox(raw) {
            Some(m) => out.push(m),
            None => {
                errors.insert(field.to_string(), FieldProblem::InvalidEmail);
            }
        }
    }
    out
}

/// Check `input`; `require_content` is false for drafts (which may be empty).
pub fn check(input: &SendInput, require_content: bool) -> Result<Checked, ApiError> {
    let mut errors = FieldErrors::new();
    let to = addresses(&input.to, "to", &mut errors);
    let cc = addresses(input.cc.as_deref().unwrap_or_default(), "cc", &mut errors);
    let bcc = addresses(input.bcc.as_deref().unwrap_or_default(), "bcc", &mut errors);
    if require_content && errors.is_empty() && to.len() + cc.len() + bcc.len() == 0 {
        errors.insert("to".into(), FieldProblem::Required);
    }
    if to.len() + cc.len() + bcc.len() > MAX_RECIPIENTS {
        errors.insert("to".into(), FieldProblem::Invalid);
    }
    if has_line_break(&input.subject) || input.subject.chars().count() > 998 {
        errors.insert("subject".into(), FieldProblem::Invalid);
    }
    let mut attachments = Vec::new();
    let mut size =
        input.text.as_ref().map_or(0, String::len) + input.html.as_ref().map_or(0, String::len);
    for (i, a) in input.attachments.iter().flatten().enumerate() {
        let name = a.filename.trim();
        if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
            errors.insert(format!("attachments[{i}].filename"), FieldProblem::Invalid);
        }
        let content_type = match ContentType::parse(a.content_type.trim()) {
            Ok(ct) if !has_line_break(&a.content_type) => Some(ct),
            _ => {
                errors.insert(
                    format!("attachments[{i}].content_type"),
                    FieldProblem::Invalid,
                );
                None
            }
        };
        let compact: String = a
            .data
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
            Ok(b) => Some(b),
            Err(_) => {
                errors.insert(format!("attachments[{i}].data"), FieldProblem::Invalid);
                None
            }
        };
        if let (Some(ct), Some(bytes)) = (content_type, bytes) {
            size += bytes.len();
            attachments.push((name.to_string(), ct, bytes));
        }
    }
    let empty = input.text.as_deref().is_none_or(str::is_empty)
        && input.html.as_deref().is_none_or(str::is_empty)
        && attachments.is_empty()
        && input.forward_uid.is_none();
    if require_content && empty && errors.is_empty() {
        errors.insert("text".into(), FieldProblem::Required);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if size > MAX_MESSAGE_BYTES {
        return Err(ApiError::MessageTooLarge);
    }
    Ok(Checked {
        to,
        cc,
        bcc,
        subject: input.subject.clone(),
        text: input.text.clone().filter(|t| !t.is_empty()),
        html: input.html.clone().filter(|t| !t.is_empty()),
        attachments,
    })
}

/// Headers that are not part of the checked input.
pub struct Extra {
    pub from: Mailbox,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// A forwarded original, attached as `message/rfc822`.
    pub forwarded: Option<Vec<u8>>,
    /// `X-Gatehouse-Draft: <id>` on drafts, so earlier copies can be found and replaced.
    pub draft_id: Option<String>,
    /// Keep `Bcc` in the message (drafts: the user's own copy).
    pub keep_bcc: bool,
}

fn angle(id: &str) -> String {
    let id = id.trim();
    if id.starts_with('<') {
        id.to_string()
    } else {
        format!("<{id}>")
    }
}

/// The message lettre builds: text and/or HTML (alternative), then attachments (mixed).
pub fn build(checked: &Checked, extra: Extra) -> Result<Message, ApiError> {
    let mut builder = Message::builder()
        .from(extra.from.clone())
        .subject(checked.subject.clone())
        .message_id(Some(extra.message_id))
        .date_now();
    for m in &checked.to {
        builder = builder.to(m.clone());
    }
    for m in &checked.cc {
        builder = builder.cc(m.clone());
    }
    for m in &checked.bcc {
        builder = builder.bcc(m.clone());
    }
    if extra.keep_bcc {
        builder = builder.keep_bcc();
    }
    if extra.draft_id.is_some() {
        // A draft may have no recipient yet; it is stored, never sent, so its envelope is
        // simply the author.
        let envelope = lettre::address::Envelope::new(
            Some(extra.from.email.clone()),
            vec![extra.from.email.clone()],
        )
        .map_err(|_| ApiError::field("email", FieldProblem::InvalidEmail))?;
        builder = builder.envelope(envelope);
    }
    if let Some(id) = &extra.in_reply_to {
        builder = builder.in_reply_to(angle(id));
        let mut refs: Vec<String> = extra.references.iter().map(|r| angle(r)).collect();
        refs.push(angle(id));
        builder = builder.references(refs.join(" "));
    }
    if let Some(draft_id) = &extra.draft_id {
        builder = builder.header(DraftHeader(draft_id.clone()));
    }
    let body = match (&checked.text, &checked.html) {
        (Some(t), Some(h)) => Some(MultiPart::alternative_plain_html(t.clone(), h.clone())),
        _ => None,
    };
    let single = match (&checked.text, &checked.html) {
        (Some(_), Some(_)) => None,
        (None, Some(h)) => Some(SinglePart::html(h.clone())),
        (Some(t), None) => Some(SinglePart::plain(t.clone())),
        (None, None) => Some(SinglePart::plain(String::new())),
    };
    let no_attachments = checked.attachments.is_empty() && extra.forwarded.is_none();
    let result = if no_attachments {
        match (body, single) {
            (Some(multi), _) => builder.multipart(multi),
            (None, Some(single)) => builder.singlepart(single),
            (None, None) => builder.body(String::new()),
        }
    } else {
        let mut mixed = match (body, single) {
            (Some(multi), _) => MultiPart::mixed().multipart(multi),
            (None, Some(single)) => MultiPart::mixed().singlepart(single),
            (None, None) => MultiPart::mixed().singlepart(SinglePart::plain(String::new())),
        };
        for (name, ct, bytes) in &checked.attachments {
            mixed = mixed.singlepart(Attachment::new(name.clone()).body(bytes.clone(), ct.clone()));
        }
        if let Some(original) = extra.forwarded {
            let ct = ContentType::parse("message/rfc822")
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("content type: {e}")))?;
            mixed = mixed.singlepart(Attachment::new("forwarded.eml".into()).body(original, ct));
        }
        builder.multipart(mixed)
    };
    result.map_err(|_| ApiError::field("to", FieldProblem::Invalid))
}

/// `X-Gatehouse-Draft`, naming the gatehouse draft a message in the Drafts folder belongs to.
#[derive(Debug, Clone)]
pub struct DraftHeader(pub String);

pub const DRAFT_HEADER: &str = "X-Gatehouse-Draft";

impl lettre::message::header::Header for DraftHeader {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str(DRAFT_HEADER)
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(to: &[&str], subject: &str) -> SendInput {
        SendInput {
            to: to.iter().map(|s| s.to_string()).collect(),
            subject: subject.into(),
            text: Some("hi".into()),
            ..SendInput::default()
        }
    }

    #[test]
    fn header_injection_and_bad_addresses_are_refused() {
        assert!(check(&input(&["a@example.com"], "ok"), true).is_ok());
        assert!(
            check(
                &input(&["a@example.com"], "x\r\nBcc: evil@example.com"),
                true
            )
            .is_err()
        );
        assert!(check(&input(&["a@example.com\r\nBcc: e@example.com"], "x"), true).is_err());
        assert!(check(&input(&["not an address"], "x"), true).is_err());
        assert!(check(&input(&["Ann <ann@example.com>"], "x"), true).is_ok());
        assert!(check(&input(&[], "x"), true).is_err());
        assert!(check(&input(&[], "x"), false).is_ok());
    }
}
