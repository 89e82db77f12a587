//! Finding requests: the filters and orders of Azure TRE's request lists, and the caller's
//! requests across workspaces (`GET /api/requests`).

use super::paging::{PagePosition, PageRequest, Paged};
use super::{App, AppResult, Caller};
use crate::domain::airlock::{AirlockRequest, RequestStatus, RequestType};
use crate::domain::WorkspaceRole;

/// What a request list may be ordered by, in Azure TRE's field names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestOrder {
    #[default]
    CreatedWhen,
    UpdatedWhen,
    Title,
    Type,
    Status,
    CreatedBy,
}

impl RequestOrder {
    pub const NAMES: [&'static str; 6] = [
        "createdWhen",
        "updatedWhen",
        "title",
        "type",
        "status",
        "createdBy.name",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "createdWhen" => Self::CreatedWhen,
            "updatedWhen" => Self::UpdatedWhen,
            "title" => Self::Title,
            "type" => Self::Type,
            "status" => Self::Status,
            "createdBy.name" | "createdBy" => Self::CreatedBy,
            _ => return None,
        })
    }
}

/// Which requests a list keeps, and in what order (oldest first by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFilter {
    pub creator: Option<String>,
    pub kind: Option<RequestType>,
    pub status: Option<RequestStatus>,
    pub order_by: RequestOrder,
    pub ascending: bool,
}

impl Default for RequestFilter {
    fn default() -> Self {
        Self {
            creator: None,
            kind: None,
            status: None,
            order_by: RequestOrder::default(),
            ascending: true,
        }
    }
}

impl RequestFilter {
    pub fn keeps(&self, r: &AirlockRequest) -> bool {
        self.creator.as_ref().is_none_or(|c| *c == r.created_by)
            && self.kind.is_none_or(|k| k == r.kind)
            && self.status.is_none_or(|s| s == r.status)
    }

    /// Keep what the filter keeps, sorted; ties fall back to creation time, then id, so the
    /// order is stable.
    pub fn apply(&self, requests: Vec<AirlockRequest>) -> Vec<AirlockRequest> {
        let mut out: Vec<AirlockRequest> = requests.into_iter().filter(|r| self.keeps(r)).collect();
        out.sort_by(|a, b| {
            let key = match self.order_by {
                RequestOrder::CreatedWhen => a.created_at.cmp(&b.created_at),
                RequestOrder::UpdatedWhen => a.updated_at.cmp(&b.updated_at),
                RequestOrder::Title => a.title.cmp(&b.title),
                RequestOrder::Type => a.kind.as_str().cmp(b.kind.as_str()),
                RequestOrder::Status => a.status.as_str().cmp(b.status.as_str()),
                RequestOrder::CreatedBy => name(a).cmp(name(b)),
            };
            let key = key
                .then(a.created_at.cmp(&b.created_at))
                .then(a.id.cmp(&b.id));
            if self.ascending {
                key
            } else {
                key.reverse()
            }
        });
        out
    }
}

fn name(r: &AirlockRequest) -> &str {
    r.created_by_name.as_deref().unwrap_or(&r.created_by)
}

impl App {
    /// A page of the caller's own requests in every workspace where they hold a role or, with
    /// `airlock_manager`, every request of the workspaces where they are an airlock manager.
    /// Pages walk the workspaces in id order; the filter's order sorts each page.
    pub async fn my_airlock_requests(
        &self,
        caller: &Caller,
        airlock_manager: bool,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> AppResult<Paged<AirlockRequest>> {
        let me = self.whoami(caller).await?;
        let workspaces: Vec<String> = me
            .workspace_roles
            .into_iter()
            .filter(|ws| !airlock_manager || ws.roles.contains(&WorkspaceRole::AirlockManager))
            .map(|ws| ws.workspace_id)
            .collect();
        let mut found = self
            .requests_across(&workspaces, page, |r| {
                (airlock_manager || r.created_by == caller.id()) && filter.keeps(r)
            })
            .await?;
        found.items = filter.apply(found.items);
        Ok(found)
    }

    /// A page of the requests `keep` keeps across workspaces, one workspace after another (in
    /// the order given, which must be sorted): the position names the workspace it is in.
    pub(super) async fn requests_across(
        &self,
        workspaces: &[String],
        page: &PageRequest,
        keep: impl Fn(&AirlockRequest) -> bool,
    ) -> AppResult<Paged<AirlockRequest>> {
        let start = page.after.as_ref().and_then(|p| p.part.clone());
        // Indices, not an iterator with closures, so the future stays `Send` across awaits.
        let from = start.as_ref().map_or(0, |s| {
            workspaces
                .iter()
                .position(|ws| ws >= s)
                .unwrap_or(workspaces.len())
        });
        let mut items = Vec::new();
        for i in from..workspaces.len() {
            let ws = &workspaces[i];
            // Only the workspace the last page ended in resumes mid-way.
            let after = match (&start, &page.after) {
                (Some(s), Some(p)) if s == ws => Some(PagePosition {
                    part: None,
                    ..p.clone()
                }),
                _ => None,
            };
            let inner = PageRequest {
                size: page.size.saturating_sub(items.len()).max(1),
                after,
            };
            let got = self.requests_page(ws, &inner, &keep).await?;
            items.extend(got.items);
            if let Some(mut next) = got.next {
                next.part = Some(ws.clone());
                return Ok(Paged {
                    items,
                    next: Some(next),
                });
            }
            if items.len() >= page.size {
                let next = workspaces.get(i + 1).map(|ws| PagePosition {
                    part: Some(ws.clone()),
                    ..Default::default()
                });
                return Ok(Paged { items, next });
            }
        }
        Ok(Paged { items, next: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn req(
        id: &str,
        by: &str,
        kind: RequestType,
        status: RequestStatus,
        at: i64,
    ) -> AirlockRequest {
        let t = DateTime::<Utc>::from_timestamp(at, 0).unwrap_or_default();
        AirlockRequest {
            id: id.into(),
            workspace_id: "w".into(),
            kind,
            title: format!("title {id}"),
            justification: "j".into(),
            status,
            files: Vec::new(),
            created_by: by.into(),
            created_by_name: None,
            created_at: t,
            updated_at: t,
            required_approvals: 1,
            reviews: Vec::new(),
            scan: None,
            history: Vec::new(),
            sequence: 0,
            review_user_resources: Default::default(),
            version: 1,
        }
    }

    #[test]
    fn filters_and_orders() {
        use RequestStatus as S;
        use RequestType as T;
        let all = vec![
            req("b", "ada", T::Import, S::Draft, 20),
            req("a", "bob", T::Export, S::InReview, 10),
            req("c", "ada", T::Import, S::InReview, 30),
        ];
        let ids = |rs: Vec<AirlockRequest>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(RequestFilter::default().apply(all.clone())),
            ["a", "b", "c"]
        );
        let f = RequestFilter {
            creator: Some("ada".into()),
            ascending: false,
            ..Default::default()
        };
        assert_eq!(ids(f.apply(all.clone())), ["c", "b"]);
        let f = RequestFilter {
            status: Some(S::InReview),
            kind: Some(T::Import),
            ..Default::default()
        };
        assert_eq!(ids(f.apply(all.clone())), ["c"]);
        let f = RequestFilter {
            order_by: RequestOrder::parse("status").unwrap_or_default(),
            ..Default::default()
        };
        assert_eq!(ids(f.apply(all)), ["b", "a", "c"]);
        assert_eq!(RequestOrder::parse("nonsense"), None);
    }
}
