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

/// A digest this registry stores: `sha256:<64 lowercase hex>` (the only algorithm it accepts).
pub fn parse_digest(d: &str) -> Option<&str> {
    let hex = d.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
    .then_some(hex)
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
        assert!(parse_digest(&format!("sha512:{}", "a".repeat(128))).is_none());
        assert_eq!(
            parse_reference("latest"),
            Some(Reference::Tag("latest".into()))
        );
        assert_eq!(parse_reference(&d), Some(Reference::Digest(d.clone())));
        assert_eq!(parse_reference("../x"), None);
    }
}
