//! Pages of lists: a page size, and a continuation position that resumes a key-ordered store
//! query exactly after the last item a page returned. Positions travel to clients only inside
//! page tokens, HMAC-SHA256-signed and bound to the caller and the list, so a client can neither
//! forge nor move one to another list.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{AppError, AppResult};
use crate::ports::{Item, Query, Table};

/// Page size when the client names none: Azure TRE's clients read only the first page, so it
/// holds every item of a small deployment.
pub const DEFAULT_PAGE_SIZE: usize = 200;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Fewest items read from the store at once while filters drop items, so a page of mostly
/// hidden items is not read one item per round trip.
const MIN_STORE_READ: usize = 16;
/// Most items read from the store at once (the embedded store's own cap).
const MAX_STORE_READ: usize = 1000;

/// Which page of a list to return.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRequest {
    pub size: usize,
    /// Where the previous page ended; `None` for the first page.
    pub after: Option<PagePosition>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(DEFAULT_PAGE_SIZE)
    }
}

impl PageRequest {
    pub fn first(size: usize) -> Self {
        Self { size, after: None }
    }

    /// A size as a client gave it (absent: the default); 1..=MAX_PAGE_SIZE.
    pub fn size_from(raw: Option<&str>) -> AppResult<usize> {
        let Some(raw) = raw else {
            return Ok(DEFAULT_PAGE_SIZE);
        };
        match raw.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            _ => Err(AppError::validation(format!(
                "`page_size` is a whole number from 1 to {MAX_PAGE_SIZE}, not `{raw}`"
            ))),
        }
    }
}

/// Where a list resumes: the store cursor the page holding the last returned item was read
/// from, that item's position in the store's order (items at or before it are skipped), and
/// how many items of that store page were consumed (only a hint for how much to read).
/// `part` names the partition being walked, for lists spanning several (e.g. workspaces).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagePosition {
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub(super) cursor: Option<String>,
    #[serde(rename = "k", default, skip_serializing_if = "Vec::is_empty")]
    pub(super) after: Vec<String>,
    #[serde(rename = "n", default, skip_serializing_if = "is_zero")]
    pub(super) consumed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One page of a list, and where the next one starts (`None` on the last page).
#[derive(Clone, Debug, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<PagePosition>,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// An item's place in the order a query walks: the index sort key then the primary key on the
/// index (ties on the index sort key are broken by the primary key, as the stores do), the
/// sort key on the primary key.
pub(super) fn natural_position(query: &Query, item: &Item) -> Vec<String> {
    if query.index.is_some() {
        vec![
            item.index
                .as_ref()
                .map(|k| k.sk.clone())
                .unwrap_or_default(),
            item.key.pk.clone(),
            item.key.sk.clone(),
        ]
    } else {
        vec![item.key.sk.clone()]
    }
}

/// A walk over one key-ordered query that fills one page. The caller reads store pages with
/// [`Walk::read`], asks [`Walk::fresh`] of every item in order, and hands what it keeps to
/// [`Walk::push`]; items dropped by filters cost a read, never a skipped or repeated item.
pub(super) struct Walk<T> {
    query: Query,
    size: usize,
    position: fn(&Query, &Item) -> Vec<String>,
    /// Store cursor for the next read (`None` at the start), and whether the store is done.
    cursor: Option<String>,
    exhausted: bool,
    /// The cursor the current store page was read from, its next cursor, and its length.
    page_start: Option<String>,
    page_next: Option<String>,
    page_len: usize,
    /// Items of the current store page looked at so far.
    looked: usize,
    /// Nothing at or before this position is looked at again (the last item returned, or a
    /// later one looked at and dropped).
    behind: Option<Vec<String>>,
    consumed_hint: usize,
    items: Vec<T>,
    next: Option<PagePosition>,
}

impl<T> Walk<T> {
    pub(super) fn new(query: Query, page: &PageRequest) -> Self {
        Self::with_position(query, page, natural_position)
    }

    /// A walk whose items are placed by `position`, which must rise with the store's order; items
    /// sharing a position (several role assignments of one workspace) count as one.
    pub(super) fn with_position(
        query: Query,
        page: &PageRequest,
        position: fn(&Query, &Item) -> Vec<String>,
    ) -> Self {
        let after = page.after.clone().unwrap_or_default();
        Self {
            query,
            size: page.size.max(1),
            position,
            cursor: after.cursor,
            exhausted: false,
            page_start: None,
            page_next: None,
            page_len: 0,
            looked: 0,
            behind: (!after.after.is_empty()).then_some(after.after),
            consumed_hint: after.consumed,
            items: Vec::new(),
            next: None,
        }
    }

    fn full(&self) -> bool {
        self.items.len() >= self.size
    }

    /// The next store page, or `None` once the page is full or the store has no more.
    pub(super) async fn read(&mut self, table: &dyn Table) -> AppResult<Option<Vec<Item>>> {
        if self.full() || self.exhausted {
            return Ok(None);
        }
        let want = self.size - self.items.len();
        // Exactly what is missing when nothing is dropped, so a full page ends at the end of a
        // store page and the store's own cursor resumes it; more while filters drop items.
        let want = if self.page_len > 0 && self.looked > 0 {
            want.max(MIN_STORE_READ)
        } else {
            want
        };
        let limit = (want + std::mem::take(&mut self.consumed_hint)).min(MAX_STORE_READ);
        let mut q = self.query.clone();
        q.limit = Some(limit);
        q.cursor = self.cursor.clone();
        let page = table.query(&q).await?;
        self.page_start = self.cursor.take();
        self.page_next = page.next.clone();
        self.page_len = page.items.len();
        self.looked = 0;
        match page.next {
            Some(c) => self.cursor = Some(c),
            None => self.exhausted = true,
        }
        Ok(Some(page.items))
    }

    fn beyond(&self, a: &[String], b: &[String]) -> bool {
        if self.query.descending {
            a < b
        } else {
            a > b
        }
    }

    /// Whether an item (the next in store order) is new to this walk; every item read must be
    /// asked about, in order.
    pub(super) fn fresh(&mut self, item: &Item) -> bool {
        self.looked += 1;
        let pos = (self.position)(&self.query, item);
        if let Some(b) = &self.behind {
            if !self.beyond(&pos, b) {
                return false;
            }
        }
        self.behind = Some(pos);
        true
    }

    /// Keep a value made from the item last found fresh; true when the page is now full.
    pub(super) fn push(&mut self, value: T) -> bool {
        self.items.push(value);
        if !self.full() {
            return false;
        }
        let after = self.behind.clone().unwrap_or_default();
        self.next = if self.looked >= self.page_len {
            // The page ended with the store page: resume from the store's cursor, if any.
            self.page_next.clone().map(|c| PagePosition {
                cursor: Some(c),
                after,
                ..Default::default()
            })
        } else {
            PagePosition {
                cursor: self.page_start.clone(),
                after,
                consumed: self.looked,
                ..Default::default()
            }
            .into()
        };
        true
    }

    pub(super) fn finish(self) -> Paged<T> {
        Paged {
            items: self.items,
            next: self.next,
        }
    }
}

/// Signs and checks page tokens. The key comes from the deployment (or the local state
/// directory); a process without one draws a random key, valid for its own lifetime.
#[derive(Clone)]
pub struct PageTokens {
    /// The keyed MAC before any input, cloned for each token.
    keyed: HmacSha256,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

/// Shortest key accepted (HMAC-SHA256 gains nothing from more than 64 bytes).
pub const PAGE_TOKEN_KEY_MIN_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

impl PageTokens {
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, String> {
        let key = key.into();
        if key.len() < PAGE_TOKEN_KEY_MIN_BYTES {
            return Err(format!(
                "a page token key has at least {PAGE_TOKEN_KEY_MIN_BYTES} bytes, not {}",
                key.len()
            ));
        }
        let keyed = HmacSha256::new_from_slice(&key).map_err(|e| e.to_string())?;
        Ok(Self { keyed })
    }

    /// A key of this process alone (tokens die with it).
    pub fn random() -> Self {
        // One HMAC-SHA256 block of random bytes (the key size HMAC uses without hashing).
        let mut key = [0u8; 64];
        for chunk in key.chunks_mut(16) {
            chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        // The fixed-size constructor cannot fail (unlike `new_from_slice`'s signature).
        #[allow(deprecated)]
        let key = hmac::digest::generic_array::GenericArray::from_slice(&key);
        Self {
            keyed: <HmacSha256 as hmac::digest::KeyInit>::new(key),
        }
    }

    fn mac(&self, caller: &str, list: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        // Length-prefixed, so no two (caller, list, payload) triples share a message.
        for part in [
            b"tre-page-v1".as_slice(),
            caller.as_bytes(),
            list.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(payload);
        mac
    }

    /// The token a client sends back to get the page after `position` of `list` (a route and
    /// its scope) as `caller`.
    pub fn seal(&self, caller: &str, list: &str, position: &PagePosition) -> String {
        let payload = serde_json::to_vec(position).unwrap_or_default();
        let tag = self.mac(caller, list, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position a token carries, if this caller got it for this list from this key.
    pub fn open(&self, caller: &str, list: &str, token: &str) -> AppResult<PagePosition> {
        let refused = || {
            AppError::validation(
                "`page_token` is not a token this list gave this caller (altered, expired by a \
                 key change, or from another list); start again without it",
            )
        };
        let (payload, tag) = token.trim().split_once('.').ok_or_else(refused)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refused())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refused())?;
        // Constant-time comparison: a timing side channel must not help forge a tag.
        self.mac(caller, list, &payload)
            .verify_slice(&tag)
            .map_err(|_| refused())?;
        serde_json::from_slice(&payload).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::new(vec![7u8; 32]).unwrap()
    }

    #[test]
    fn tokens_round_trip_only_for_their_caller_and_list() {
        let t = tokens();
        let pos = PagePosition {
            part: Some("ws".into()),
            cursor: Some("abc".into()),
            after: vec!["x".into(), "y".into()],
            consumed: 3,
        };
        let token = t.seal("alice", "/api/workspaces", &pos);
        assert_eq!(t.open("alice", "/api/workspaces", &token).unwrap(), pos);
        assert!(t.open("bob", "/api/workspaces", &token).is_err());
        assert!(t.open("alice", "/api/shared-services", &token).is_err());
        // Moving bytes between the fields must not produce the same message.
        assert!(t.open("alice/api", "/workspaces", &token).is_err());
        let other = PageTokens::new(vec![8u8; 32]).unwrap();
        assert!(other.open("alice", "/api/workspaces", &token).is_err());
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let t = tokens();
        let token = t.seal("alice", "l", &PagePosition::default());
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(b).unwrap();
            if altered != token {
                let err = t.open("alice", "l", &altered).unwrap_err();
                assert!(err.to_string().contains("page_token"), "{err}");
            }
        }
    }

    #[test]
    fn short_keys_and_bad_sizes_are_refused() {
        assert!(PageTokens::new(vec![1u8; 31]).is_err());
        assert_eq!(PageRequest::size_from(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(PageRequest::size_from(Some("5")).unwrap(), 5);
        for bad in ["0", "1001", "ten", "-1", ""] {
            let e = PageRequest::size_from(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("page_size"), "{bad}: {e}");
        }
    }
}
