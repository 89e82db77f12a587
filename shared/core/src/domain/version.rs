//! Semantic versions of templates, and which registered versions a resource may move to.

use std::cmp::Ordering;

use serde::Serialize;
use utoipa::ToSchema;

/// `MAJOR.MINOR.PATCH` with an optional pre-release (`-rc.1`); build metadata is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<String>,
}

impl SemVer {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.split('+').next().unwrap_or_default();
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, p.split('.').map(str::to_string).collect()),
            None => (s, Vec::new()),
        };
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            major,
            minor,
            patch,
            pre,
        })
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                // A release ranks above its pre-releases.
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &other.pre),
            })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pre-release identifiers: numeric ones compare as numbers and rank below alphanumeric ones.
fn compare_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// A newer registered version of a resource's template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableUpgrade {
    pub version: String,
    /// A major version change: its parameters or what it deploys may not be compatible.
    pub force_update_required: bool,
}

/// The versions newer than `current`: minor and patch upgrades first, then major ones, each in
/// ascending order (the order Azure TRE's clients show them in).
pub fn available_upgrades<'a>(
    current: &str,
    registered: impl IntoIterator<Item = &'a str>,
) -> Vec<AvailableUpgrade> {
    let Some(from) = SemVer::parse(current) else {
        return Vec::new();
    };
    let mut newer: Vec<(SemVer, &str)> = registered
        .into_iter()
        .filter_map(|v| SemVer::parse(v).map(|s| (s, v)))
        .filter(|(s, _)| *s > from)
        .collect();
    newer.sort_by(|a, b| {
        let major = |s: &SemVer| s.major != from.major;
        major(&a.0).cmp(&major(&b.0)).then_with(|| a.0.cmp(&b.0))
    });
    newer
        .into_iter()
        .map(|(s, v)| AvailableUpgrade {
            version: v.to_string(),
            force_update_required: s.major != from.major,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_semver_says() {
        let v = |s| SemVer::parse(s).unwrap_or_else(|| panic!("{s}"));
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("1.0.0") > v("1.0.0-rc.2"));
        assert!(v("1.0.0-rc.10") > v("1.0.0-rc.2"));
        assert!(v("1.0.0-beta") > v("1.0.0-1"));
        assert!(SemVer::parse("1.2").is_none());
    }

    #[test]
    fn upgrades_list_minor_then_major_and_skip_older() {
        let ups = available_upgrades("1.1.0", ["0.9.0", "2.0.0", "1.1.0", "1.3.0", "1.2.0"]);
        let got: Vec<(&str, bool)> = ups
            .iter()
            .map(|u| (u.version.as_str(), u.force_update_required))
            .collect();
        assert_eq!(got, [("1.2.0", false), ("1.3.0", false), ("2.0.0", true)]);
    }
}
