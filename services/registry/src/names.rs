//! The distribution spec's grammar for repository names, tags and digests. Nothing that fails
//! these reaches the store, so no name can escape its place (no `..`, no absolute paths).

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.
pub fn valid_repository(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or one or more `-`, between alphanumerics.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !is_alnum(b[i]) {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The digest algorithms this registry verifies and stores (OCI image-spec's registered ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A parsed digest: `<algorithm>:<lowercase hex of the algorithm's length>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Digest {
    pub fn new(algorithm: Algorithm, hex: String) -> Self {
        Self { algorithm, hex }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

/// A digest this registry stores: `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase.
pub fn parse_digest(d: &str) -> Option<Digest> {
    let (algo, hex) = d.split_once(':')?;
    let algorithm = Algorithm::parse(algo)?;
    (hex.len() == algorithm.hex_len()
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
    .then(|| Digest::new(algorithm, hex.to_string()))
}

/// A manifest reference: a digest or a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Digest(String),
    Tag(String),
}

pub fn parse_reference(r: &str) -> Option<Reference> {
    if r.contains(':') {
        parse_digest(r).map(|_| Reference::Digest(r.to_string()))
    } else if valid_tag(r) {
        Some(Reference::Tag(r.to_string()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_grammar() {
        for ok in [
            "a",
            "library/ubuntu",
            "tre/bundles/base",
            "a.b_c__d---e",
            "x0/y-1",
        ] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "../etc", "a/..", "a_-b", "a___b", "-a", "a.", "a b",
            "a/.b",
        ] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert!(!valid_repository(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_digests() {
        assert!(valid_tag("v1.0.0") && valid_tag("_x") && valid_tag(&"a".repeat(128)));
        assert!(
            !valid_tag("") && !valid_tag(".x") && !valid_tag("-x") && !valid_tag(&"a".repeat(129))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(parse_digest(&d).is_some());
        assert!(parse_digest("sha256:ABC").is_none());
        let long = format!("sha512:{}", "a".repeat(128));
        assert_eq!(parse_digest(&long).map(|d| d.to_string()), Some(long));
        assert!(parse_digest(&format!("sha512:{}", "a".repeat(64))).is_none());
        assert!(parse_digest(&format!("md5:{}", "a".repeat(32))).is_none());
        assert_eq!(
            parse_reference("latest"),
            Some(Reference::Tag("latest".into()))
        );
        assert_eq!(parse_reference(&d), Some(Reference::Digest(d.clone())));
        assert_eq!(parse_reference("../x"), None);
    }
}
