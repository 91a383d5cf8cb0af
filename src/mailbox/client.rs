//! Mail client operations on a logged-in IMAP session: folders with roles and counts, paged
//! and searched message lists, reading, flags, delete (to Trash, for good in Trash) and
//! APPEND. A folder the server does not know, or a UID not in the folder, is `NotFound`.

use futures_util::TryStreamExt;

use async_imap::types::{Fetch, Flag, NameAttribute};

use super::imap::Session;

/// What went wrong with an operation.
#[derive(Debug)]
pub enum OpError {
    /// The folder or message does not exist.
    NotFound,
    /// The server failed, refused or dropped the connection.
    Server(String),
}

impl From<async_imap::error::Error> for OpError {
    fn from(e: async_imap::error::Error) -> Self {
        Self::Server(e.to_string())
    }
}

pub type OpResult<T> = Result<T, OpError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub role: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct FolderCounts {
    pub folder: Folder,
    pub total: u32,
    pub unread: u32,
}

/// The role by the folder's common name, for servers without SPECIAL-USE.
fn role_by_name(name: &str) -> Option<&'static str> {
    let last = name
        .rsplit(['/', '.'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    match last.as_str() {
        "sent" | "sent items" | "sent messages" | "sent mail" => Some("sent"),
        "drafts" | "draft" => Some("drafts"),
        "trash" | "deleted items" | "deleted messages" | "bin" | "deleted" => Some("trash"),
        "junk" | "spam" | "junk e-mail" | "junk email" | "bulk mail" => Some("junk"),
        "archive" | "archives" | "all mail" => Some("archive"),
        _ => None,
    }
}

/// Every selectable folder with its role: SPECIAL-USE attributes first, else common names
/// (one folder per role), INBOX always `inbox`.
pub async fn folders(session: &mut Session) -> OpResult<Vec<Folder>> {
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await?
        .try_collect()
        .await?;
    let mut out: Vec<Folder> = Vec::new();
    for name in &names {
        if name
            .attributes()
            .iter()
            .any(|a| matches!(a, NameAttribute::NoSelect))
        {
            continue;
        }
        let role = if name.name().eq_ignore_ascii_case("INBOX") {
            Some("inbox")
        } else {
            name.attributes().iter().find_map(|a| match a {
                NameAttribute::Sent => Some("sent"),
                NameAttribute::Drafts => Some("drafts"),
                NameAttribute::Trash => Some("trash"),
                NameAttribute::Junk => Some("junk"),
                NameAttribute::Archive => Some("archive"),
                _ => None,
            })
        };
        out.push(Folder {
            name: name.name().to_string(),
            role,
        });
    }
    let taken: Vec<&'static str> = out.iter().filter_map(|f| f.role).collect();
    let mut named: Vec<&'static str> = Vec::new();
    for folder in out.iter_mut().filter(|f| f.role.is_none()) {
        if let Some(role) = role_by_name(&folder.name)
            && !taken.contains(&role)
            && !named.contains(&role)
        {
            folder.role = Some(role);
            named.push(role);
        }
    }
    Ok(out)
}

/// Folders with their message and unseen counts (STATUS, which leaves the session unselected).
pub async fn folders_with_counts(session: &mut Session) -> OpResult<Vec<FolderCounts>> {
    let list = folders(session).await?;
    let mut out = Vec::with_capacity(list.len());
    for folder in list {
        let status = session.status(&folder.name, "(MESSAGES UNSEEN)").await?;
        out.push(FolderCounts {
            total: status.exists,
            unread: status.unseen.unwrap_or(0),
            folder,
        });
    }
    Ok(out)
}

/// The folder with `role`, created under `fallback` when the server has none.
pub async fn folder_for_role(
    session: &mut Session,
    role: &str,
    fallback: &str,
) -> OpResult<String> {
    if let Some(f) = folders(session)
        .await?
        .into_iter()
        .find(|f| f.role == Some(role))
    {
        return Ok(f.name);
    }
    session.create(fallback).await?;
    Ok(fallback.to_string())
}

async fn open(session: &mut Session, folder: &str, write: bool) -> OpResult<()> {
    let result = if write {
        session.select(folder).await
    } else {
        session.examine(folder).await
    };
    match result {
        Ok(_) => Ok(()),
        Err(async_imap::error::Error::No(_)) | Err(async_imap::error::Error::Validate(_)) => {
            Err(OpError::NotFound)
        }
        Err(e) => Err(e.into()),
    }
}

/// An IMAP quoted string; `None` when the text cannot be one (CR, LF, NUL).
pub fn quoted(text: &str) -> Option<String> {
    if text.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
        return None;
    }
    Some(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn flags_of(fetch: &Fetch) -> (bool, bool) {
    let mut seen = false;
    let mut flagged = false;
    for flag in fetch.flags() {
        match flag {
            Flag::Seen => seen = true,
            Flag::Flagged => flagged = true,
            _ => {}
        }
    }
    (seen, flagged)
}

/// Bytes of a message fetched for listing: enough for headers, structure and a preview.
const LIST_FETCH: &str = "(UID FLAGS BODY.PEEK[]<0.65536>)";

/// One page of the folder, newest (highest UID) first, optionally searched on the server in
/// subject, from and body. Returns the page's (uid, seen, flagged, bytes) and the total.
pub async fn list(
    session: &mut Session,
    folder: &str,
    query: Option<&str>,
    offset: usize,
    limit: usize,
) -> OpResult<(Vec<(u32, bool, bool, Vec<u8>)>, usize)> {
    open(session, folder, false).await?;
    let criteria = match query.map(str::trim).filter(|q| !q.is_empty()) {
        None => "ALL".to_string(),
        Some(q) => {
            let q = quoted(q).ok_or(OpError::NotFound)?;
            if q.is_ascii() {
                format!("OR OR SUBJECT {q} FROM {q} BODY {q}")
            } else {
                format!("CHARSET UTF-8 OR OR SUBJECT {q} FROM {q} BODY {q}")
            }
        }
    };
    let mut uids: Vec<u32> = session.uid_search(&criteria).await?.into_iter().collect();
    uids.sort_unstable_by(|a, b| b.cmp(a));
    let total = uids.len();
    let page: Vec<u32> = uids.into_iter().skip(offset).take(limit).collect();
    if page.is_empty() {
        return Ok((vec![], total));
    }
    let set = page
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched: Vec<Fetch> = session
        .uid_fetch(&set, LIST_FETCH)
        .await?
        .try_collect()
        .await?;
    let mut items: Vec<(u32, bool, bool, Vec<u8>)> = fetched
        .iter()
        .filter_map(|f| {
            let uid = f.uid?;
            let (seen, flagged) = flags_of(f);
            Some((uid, seen, flagged, f.body().unwrap_or_default().to_vec()))
        })
        .collect();
    items.sort_unstable_by_key(|item| std::cmp::Reverse(item.0));
    Ok((items, total))
}

/// The whole message; `mark_seen` fetches with `BODY[]` (which sets `\Seen`) instead of PEEK.
pub async fn fetch(
    session: &mut Session,
    folder: &str,
    uid: u32,
    mark_seen: bool,
) -> OpResult<(bool, bool, Vec<u8>)> {
    open(session, folder, mark_seen).await?;
    let query = if mark_seen {
        "(UID FLAGS BODY[])"
    } else {
        "(UID FLAGS BODY.PEEK[])"
    };
    let fetched: Vec<Fetch> = session
        .uid_fetch(uid.to_string(), query)
        .await?
        .try_collect()
        .await?;
    let found = fetched
        .iter()
        .find(|f| f.uid == Some(uid))
        .ok_or(OpError::NotFound)?;
    let (seen, flagged) = flags_of(found);
    let body = found.body().ok_or(OpError::NotFound)?.to_vec();
    Ok((seen || mark_seen, flagged, body))
}

async fn exists(session: &mut Session, uid: u32) -> OpResult<()> {
    let fetched: Vec<Fetch> = session
        .uid_fetch(uid.to_string(), "(UID FLAGS)")
        .await?
        .try_collect()
        .await?;
    if fetched.iter().any(|f| f.uid == Some(uid)) {
        Ok(())
    } else {
        Err(OpError::NotFound)
    }
}

/// Set or clear `\Seen` and `\Flagged`.
pub async fn set_flags(
    session: &mut Session,
    folder: &str,
    uid: u32,
    seen: Option<bool>,
    flagged: Option<bool>,
) -> OpResult<()> {
    open(session, folder, true).await?;
    exists(session, uid).await?;
    for (value, flag) in [(seen, "\\Seen"), (flagged, "\\Flagged")] {
        let Some(on) = value else { continue };
        let op = if on { "+FLAGS.SILENT" } else { "-FLAGS.SILENT" };
        let _: Vec<Fetch> = session
            .uid_store(uid.to_string(), format!("{op} ({flag})"))
            .await?
            .try_collect()
            .await?;
    }
    Ok(())
}

/// Move to the Trash folder, or delete for good when the message is already there.
pub async fn delete(session: &mut Session, folder: &str, uid: u32) -> OpResult<()> {
    let trash = folder_for_role(session, "trash", "Trash").await?;
    open(session, folder, true).await?;
    exists(session, uid).await?;
    if trash == folder {
        expunge_uid(session, uid).await
    } else {
        session.uid_mv(uid.to_string(), &trash).await?;
        Ok(())
    }
}

async fn expunge_uid(session: &mut Session, uid: u32) -> OpResult<()> {
    let _: Vec<Fetch> = session
        .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
        .await?
        .try_collect()
        .await?;
    let _: Vec<_> = session
        .uid_expunge(uid.to_string())
        .await?
        .try_collect()
        .await?;
    Ok(())
}

/// APPEND a message to `folder` with `flags` (e.g. `(\Seen)`).
pub async fn append(
    session: &mut Session,
    folder: &str,
    flags: &str,
    bytes: &[u8],
) -> OpResult<()> {
    session.append(folder, Some(flags), None, bytes).await?;
    Ok(())
}

/// Remove from `folder` every message whose `header` is `value` (a draft's earlier copies).
pub async fn remove_by_header(
    session: &mut Session,
    folder: &str,
    header: &str,
    value: &str,
) -> OpResult<()> {
    open(session, folder, true).await?;
    let value = quoted(value).ok_or(OpError::NotFound)?;
    let uids = session
        .uid_search(format!("HEADER {header} {value}"))
        .await?;
    for uid in uids {
        expunge_uid(session, uid).await?;
    }
    Ok(())
}
