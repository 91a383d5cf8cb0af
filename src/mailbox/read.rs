//! Reading fetched messages (mail-parser) into the API's shapes, and sanitising their HTML
//! (ammonia): no scripts, no event handlers, no styles that load, and no remote images unless
//! the reader asks for them.

use std::collections::HashSet;

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders};
use serde::Serialize;
use utoipa::ToSchema;

/// A message as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSummary {
    pub uid: u32,
    /// `Name <address>`, or the address alone.
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    /// RFC 3339, from the `Date` header.
    pub date: Option<String>,
    pub seen: bool,
    pub flagged: bool,
    pub has_attachments: bool,
    /// The first characters of the text.
    pub preview: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentInfo {
    /// Its position among the message's attachments (use it in the download URL).
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: usize,
}

/// One message, read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub uid: u32,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub seen: bool,
    pub flagged: bool,
    pub text: Option<String>,
    /// Sanitised HTML (null when the message has no HTML part).
    pub html: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
}

/// An attachment's bytes and how to name them.
pub struct AttachmentData {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

const PREVIEW_CHARS: usize = 160;

pub fn parse(bytes: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(bytes)
}

fn addr_list(addr: Option<&Address<'_>>) -> Vec<String> {
    addr.map(|a| {
        a.iter()
            .filter_map(|a| {
                let email = a.address()?;
                Some(match a.name().filter(|n| !n.trim().is_empty()) {
                    Some(name) => format!("{name} <{email}>"),
                    None => email.to_string(),
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

fn text_of(value: &HeaderValue<'_>) -> Option<String> {
    match value {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::TextList(list) => list.first().map(|t| t.to_string()),
        _ => None,
    }
}

pub fn summary(uid: u32, seen: bool, flagged: bool, bytes: &[u8]) -> MessageSummary {
    let Some(message) = parse(bytes) else {
        return MessageSummary {
            uid,
            from: None,
            to: vec![],
            cc: vec![],
            subject: None,
            date: None,
            seen,
            flagged,
            has_attachments: false,
            preview: String::new(),
        };
    };
    let preview = message
        .body_text(0)
        .map(|t| {
            t.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(PREVIEW_CHARS)
                .collect()
        })
        .unwrap_or_default();
    MessageSummary {
        uid,
        from: addr_list(message.from()).into_iter().next(),
        to: addr_list(message.to()),
        cc: addr_list(message.cc()),
        subject: message.subject().map(str::to_string),
        date: message.date().map(|d| d.to_rfc3339()),
        seen,
        flagged,
        has_attachments: message.attachment_count() > 0,
        preview,
    }
}

fn attachment_name(part: &mail_parser::MessagePart<'_>, index: usize) -> String {
    part.attachment_name()
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("attachment-{}", index + 1))
}

fn content_type_of(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase()
}

/// The whole message for the reading pane; `None` when it cannot be parsed at all.
pub fn view(
    uid: u32,
    seen: bool,
    flagged: bool,
    bytes: &[u8],
    remote_images: bool,
) -> Option<MessageView> {
    let message = parse(bytes)?;
    let html = message
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(|h| sanitize(h, remote_images));
    let attachments = message
        .attachments()
        .enumerate()
        .map(|(i, part)| AttachmentInfo {
            id: i.to_string(),
            filename: attachment_name(part, i),
            content_type: content_type_of(part),
            size: part.contents().len(),
        })
        .collect();
    Some(MessageView {
        uid,
        from: addr_list(message.from()).into_iter().next(),
        to: addr_list(message.to()),
        cc: addr_list(message.cc()),
        subject: message.subject().map(str::to_string),
        date: message.date().map(|d| d.to_rfc3339()),
        seen,
        flagged,
        text: message.body_text(0).map(|t| t.into_owned()),
        html,
        attachments,
        message_id: message.message_id().map(str::to_string),
        in_reply_to: text_of(message.in_reply_to()),
    })
}

/// The `index`th attachment of the message.
pub fn attachment(bytes: &[u8], index: usize) -> Option<AttachmentData> {
    let message = parse(bytes)?;
    let part = message.attachments().nth(index)?;
    Some(AttachmentData {
        filename: attachment_name(part, index),
        content_type: content_type_of(part),
        bytes: part.contents().to_vec(),
    })
}

/// What a reply needs of the message it answers: its Message-ID and References.
pub struct ReplyContext {
    pub message_id: Option<String>,
    pub references: Vec<String>,
}

pub fn reply_context(bytes: &[u8]) -> ReplyContext {
    let Some(message) = parse(bytes) else {
        return ReplyContext {
            message_id: None,
            references: vec![],
        };
    };
    let references = match message.references() {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    };
    ReplyContext {
        message_id: message.message_id().map(str::to_string),
        references,
    }
}

/// Clean HTML a browser may show: ammonia's allow-list (no script, style, event handlers or
/// forms), links opened without a referrer, and images only from the message itself (`cid:`,
/// `data:`) unless `remote_images`.
pub fn sanitize(html: &str, remote_images: bool) -> String {
    let mut builder = ammonia::Builder::default();
    // Links keep http(s); remote image sources are filtered below.
    let schemes: HashSet<&str> = ["http", "https", "mailto", "cid", "data"]
        .into_iter()
        .collect();
    builder
        .url_schemes(schemes)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                let lower = value.trim_start().to_ascii_lowercase();
                let remote = lower.starts_with("http:")
                    || lower.starts_with("https:")
                    || lower.starts_with("//");
                if remote && !remote_images {
                    return None;
                }
            }
            Some(value.into())
        });
    builder.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_removes_scripts_handlers_and_remote_images() {
        let dirty = r#"<p onclick="x()">Hi<script>alert(1)</script><img src="https://track.example/p.gif" alt="t"><img src="cid:logo"><a href="javascript:alert(1)">j</a><a href="https://ok.example/">ok</a></p>"#;
        let clean = sanitize(dirty, false);
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("track.example"), "{clean}");
        assert!(clean.contains("cid:logo"), "{clean}");
        assert!(!clean.contains("javascript"), "{clean}");
        assert!(clean.contains("https://ok.example/"), "{clean}");
        let with_images = sanitize(dirty, true);
        assert!(with_images.contains("track.example"), "{with_images}");
        assert!(!with_images.contains("script"), "{with_images}");
    }
}
