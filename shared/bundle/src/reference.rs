//! Where a bundle lives: `oci:<dir>[:tag|@sha256:...]` (an OCI image layout on disk), or
//! `[http(s)://]host[:port]/repository[:tag|@sha256:...]` (an OCI Distribution registry; plain
//! HTTP only for loopback hosts unless the scheme says so).

use std::fmt;
use std::path::PathBuf;

use crate::BundleError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => write!(f, ":{t}"),
            Self::Digest(d) => write!(f, "@{d}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleRef {
    Layout {
        dir: PathBuf,
        reference: Reference,
    },
    Registry {
        base: String,
        repository: String,
        reference: Reference,
    },
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

fn split_reference(s: &str, full: &str) -> Result<(String, Reference), BundleError> {
    let err = |why: &str| BundleError::Reference(full.to_string(), why.to_string());
    if let Some((name, digest)) = s.rsplit_once('@') {
        if !is_digest(digest) {
            return Err(err("the digest must be sha256:<64 lower-case hex>"));
        }
        return Ok((name.to_string(), Reference::Digest(digest.to_string())));
    }
    // A tag follows the last ':' that comes after the last '/' (a port's ':' does not count).
    let last_slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[last_slash..].rfind(':') {
        Some(i) => {
            let tag = &s[last_slash + i + 1..];
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                return Err(err("bad tag"));
            }
            Ok((
                s[..last_slash + i].to_string(),
                Reference::Tag(tag.to_string()),
            ))
        }
        None => Ok((s.to_string(), Reference::Tag("latest".into()))),
    }
}

impl BundleRef {
    pub fn parse(s: &str) -> Result<Self, BundleError> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, reference) = match rest.rsplit_once('@') {
                Some(_) => split_reference(rest, s)?,
                None => match rest.rsplit_once(':') {
                    Some((d, t)) if !t.contains('/') => {
                        (d.to_string(), Reference::Tag(t.to_string()))
                    }
                    _ => (rest.to_string(), Reference::Tag("latest".into())),
                },
            };
            if dir.is_empty() {
                return Err(BundleError::Reference(s.into(), "no directory".into()));
            }
            return Ok(Self::Layout {
                dir: PathBuf::from(dir),
                reference,
            });
        }
        let (scheme, rest) = match s.split_once("://") {
            Some((sch @ ("http" | "https"), r)) => (Some(sch), r),
            Some(_) => {
                return Err(BundleError::Reference(
                    s.into(),
                    "scheme must be http or https".into(),
                ))
            }
            None => (None, s),
        };
        let (name, reference) = split_reference(rest, s)?;
        let (host, repository) = name
            .split_once('/')
            .ok_or_else(|| BundleError::Reference(s.into(), "expected host/repository".into()))?;
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let scheme = scheme.unwrap_or(if loopback { "http" } else { "https" });
        Ok(Self::Registry {
            base: format!("{scheme}://{host}"),
            repository: repository.to_string(),
            reference,
        })
    }

    /// The same bundle, pinned to a digest.
    pub fn with_digest(&self, digest: &str) -> Self {
        match self {
            Self::Layout { dir, .. } => Self::Layout {
                dir: dir.clone(),
                reference: Reference::Digest(digest.into()),
            },
            Self::Registry {
                base, repository, ..
            } => Self::Registry {
                base: base.clone(),
                repository: repository.clone(),
                reference: Reference::Digest(digest.into()),
            },
        }
    }
}

impl fmt::Display for BundleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Layout { dir, reference } => write!(f, "oci:{}{reference}", dir.display()),
            Self::Registry {
                base,
                repository,
                reference,
            } => write!(f, "{base}/{repository}{reference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let d = format!("sha256:{}", "a".repeat(64));
        for s in [
            format!("oci:/tmp/bundles@{d}"),
            "oci:/tmp/bundles:v1".to_string(),
            "http://127.0.0.1:5000/tre/bundles/base:1.0.0".to_string(),
            format!("https://registry.example.org/tre/base@{d}"),
        ] {
            assert_eq!(BundleRef::parse(&s).expect(&s).to_string(), s);
        }
        let r = BundleRef::parse("127.0.0.1:5000/a/b").expect("loopback");
        assert_eq!(r.to_string(), "http://127.0.0.1:5000/a/b:latest");
        assert!(BundleRef::parse("oci:/x@sha256:short").is_err());
        assert!(BundleRef::parse("ftp://x/y").is_err());
        assert!(BundleRef::parse("noslash").is_err());
    }
}
