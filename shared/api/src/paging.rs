//! Paged lists: the page a request asks for (`page_size`, `page_token`) and the answer's link
//! to the next one.

use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use tre_core::app::{Caller, PagePosition, PageRequest};

use crate::problem::ApiError;
use crate::routes::spec::QueryParam;
use crate::state::ApiState;

/// Query parameters of every paged list.
pub(crate) const PAGE_SIZE_PARAM: &str = "page_size";
pub(crate) const PAGE_TOKEN_PARAM: &str = "page_token";

/// The page a list request asks for: `page_size` (default and maximum in `tre_core`) and
/// `page_token`, which must be one this list (its path: route and scope) gave this caller.
pub(crate) fn page_request(
    s: &ApiState,
    caller: &Caller,
    uri: &Uri,
) -> Result<PageRequest, ApiError> {
    let (mut size, mut token) = (None, None);
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            PAGE_SIZE_PARAM => size = Some(v.into_owned()),
            PAGE_TOKEN_PARAM => token = Some(v.into_owned()),
            _ => {}
        }
    }
    let size = PageRequest::size_from(size.as_deref())?;
    let after = match token.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(s.app.page_tokens.open(caller.id(), uri.path(), t)?),
    };
    Ok(PageRequest { size, after })
}

/// The link to the page after this one: the same path and query with a new `page_token`.
pub(crate) fn next_link(
    s: &ApiState,
    caller: &Caller,
    uri: &Uri,
    next: Option<&PagePosition>,
) -> Option<String> {
    let next = next?;
    let token = s.app.page_tokens.seal(caller.id(), uri.path(), next);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k != PAGE_TOKEN_PARAM {
            q.append_pair(&k, &v);
        }
    }
    q.append_pair(PAGE_TOKEN_PARAM, &token);
    Some(format!("{}?{}", uri.path(), q.finish()))
}

/// A page as Azure TRE's clients read it, `{"<list key>": [...]}`, with `nextLink` beside the
/// list and the same link in a `Link: <...>; rel="next"` header. The last page has neither, so
/// a list that fits one page is exactly Azure TRE's body.
pub(crate) fn paged<T: Serialize>(
    s: &ApiState,
    caller: &Caller,
    uri: &Uri,
    list_key: &str,
    items: Vec<T>,
    next: Option<&PagePosition>,
) -> Response {
    let link = next_link(s, caller, uri, next);
    let body = match &link {
        Some(l) => json!({ list_key: items, "nextLink": l }),
        None => json!({ list_key: items }),
    };
    with_next_header(Json(body).into_response(), link.as_deref())
}

/// `Link: <next>; rel="next"` (RFC 8288), for lists whose body is a bare array.
pub(crate) fn with_next_header(mut resp: Response, link: Option<&str>) -> Response {
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"next\"")).ok())
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// The query parameters of every paged list (the answer's `nextLink` carries them on).
pub(crate) const PAGE_QUERY: [QueryParam; 2] = [
    (
        "page_size",
        false,
        "Items per page, 1-1000 (default 200); the answer's `nextLink` (and `Link: rel=\"next\"`) names the next page, absent on the last",
    ),
    (
        "page_token",
        false,
        "Where to resume: only as found in the previous page's `nextLink`, for the same caller and list",
    ),
];
