//! The built-in policy scanner, always on: the EICAR test signature (so the whole path from
//! upload to blocked request can be tested with a harmless file), a size limit and blocked
//! file types. It inspects the bytes as they stream past; nothing is read twice.

/// The EICAR anti-virus test file's signature.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Extensions refused by default: executables and scripts that run by double-click.
pub const DEFAULT_BLOCKED_EXTENSIONS: &[&str] = &[
    "exe", "dll", "com", "bat", "cmd", "scr", "msi", "vbs", "ps1", "pif", "cpl",
];

#[derive(Clone, Debug)]
pub struct Policy {
    pub max_file_bytes: u64,
    pub blocked_extensions: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_file_bytes: 100 * 1024 * 1024 * 1024,
            blocked_extensions: DEFAULT_BLOCKED_EXTENSIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl Policy {
    /// `TRE_AIRLOCK_MAX_FILE_BYTES` and `TRE_AIRLOCK_BLOCKED_EXTENSIONS` (comma-separated; empty
    /// blocks none) override the defaults.
    pub fn from_env() -> Result<Self, String> {
        let mut p = Self::default();
        if let Ok(v) = std::env::var("TRE_AIRLOCK_MAX_FILE_BYTES") {
            p.max_file_bytes = v
                .parse()
                .map_err(|e| format!("TRE_AIRLOCK_MAX_FILE_BYTES `{v}`: {e}"))?;
        }
        if let Ok(v) = std::env::var("TRE_AIRLOCK_BLOCKED_EXTENSIONS") {
            p.blocked_extensions = v
                .split(',')
                .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
        }
        Ok(p)
    }

    /// Findings that need no content: the file's type.
    pub fn check_name(&self, name: &str) -> Option<String> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        self.blocked_extensions
            .contains(&ext)
            .then(|| format!("policy: `{name}` has a blocked file type (.{ext})"))
    }
}

/// The scanning port: a scanner opens a session per file, is fed the file's bytes as they
/// stream past (nothing is read twice), and reports its findings (empty: nothing found).
pub trait Scanner: Send + Sync {
    /// Recorded with the request's scan result.
    fn name(&self) -> &'static str;
    fn session(&self, file: &str) -> Box<dyn ScanSession>;
}

pub trait ScanSession: Send {
    fn feed(&mut self, chunk: &[u8]);
    fn finish(self: Box<Self>) -> Vec<String>;
}

impl Scanner for Policy {
    fn name(&self) -> &'static str {
        "policy"
    }
    fn session(&self, file: &str) -> Box<dyn ScanSession> {
        Box::new(PolicySession {
            name: file.to_string(),
            max: self.max_file_bytes,
            seen: 0,
            tail: Vec::with_capacity(2 * EICAR.len()),
            finder: memchr::memmem::Finder::new(EICAR),
            found_signature: false,
            findings: self.check_name(file).into_iter().collect(),
        })
    }
}

/// The policy scanner's view of one file.
struct PolicySession {
    name: String,
    max: u64,
    seen: u64,
    /// The end of the previous chunk, so a signature split across chunks is still found.
    tail: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
    found_signature: bool,
    findings: Vec<String>,
}

impl ScanSession for PolicySession {
    fn feed(&mut self, chunk: &[u8]) {
        self.seen += chunk.len() as u64;
        if self.seen > self.max && !self.findings.iter().any(|f| f.contains("larger than")) {
            self.findings.push(format!(
                "policy: `{}` is larger than the limit of {} bytes",
                self.name, self.max
            ));
        }
        if self.found_signature {
            return;
        }
        // A signature across the boundary lies within the previous chunk's tail and this
        // chunk's first bytes: only those are joined; the chunk itself is searched in place.
        let head = &chunk[..chunk.len().min(EICAR.len() - 1)];
        let mut seam = std::mem::take(&mut self.tail);
        seam.extend_from_slice(head);
        if self.finder.find(&seam).is_some() || self.finder.find(chunk).is_some() {
            self.found_signature = true;
            self.findings
                .push(format!("policy: EICAR test signature in `{}`", self.name));
            return;
        }
        // What may start a signature the next chunk completes: the seam's end when the chunk
        // is shorter than a signature, else the chunk's own end.
        let keep = EICAR.len() - 1;
        seam.drain(..seam.len().saturating_sub(keep));
        if chunk.len() >= keep {
            seam.clear();
            seam.extend_from_slice(&chunk[chunk.len() - keep..]);
        }
        self.tail = seam;
    }

    fn finish(self: Box<Self>) -> Vec<String> {
        self.findings
    }
}

/// Every configured scanner's session for one file, fed together.
pub struct ContentScan {
    sessions: Vec<Box<dyn ScanSession>>,
}

impl ContentScan {
    pub fn new(file: &str, scanners: &[std::sync::Arc<dyn Scanner>]) -> Self {
        Self {
            sessions: scanners.iter().map(|s| s.session(file)).collect(),
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        for s in &mut self.sessions {
            s.feed(chunk);
        }
    }

    pub fn findings(self) -> Vec<String> {
        self.sessions.into_iter().flat_map(|s| s.finish()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_signature_across_chunk_boundaries() {
        let policy: Vec<std::sync::Arc<dyn Scanner>> = vec![std::sync::Arc::new(Policy::default())];
        let mut data = b"harmless prefix ".to_vec();
        data.extend_from_slice(EICAR);
        data.extend_from_slice(b" suffix");
        for split in 1..data.len() {
            let mut s = ContentScan::new("x.txt", &policy);
            s.feed(&data[..split]);
            s.feed(&data[split..]);
            assert_eq!(s.findings().len(), 1, "split at {split}");
        }
        let mut clean = ContentScan::new("x.txt", &policy);
        clean.feed(&EICAR[..EICAR.len() - 1]);
        assert!(clean.findings().is_empty());
    }

    #[test]
    fn finds_the_signature_fed_in_small_pieces() {
        let policy: Vec<std::sync::Arc<dyn Scanner>> = vec![std::sync::Arc::new(Policy::default())];
        let mut data = vec![b'X'; 100];
        data.extend_from_slice(EICAR);
        data.extend_from_slice(&[b'H'; 100]);
        for piece in [1, 2, 3, 7, 40, 67, 68, 69] {
            let mut s = ContentScan::new("x.txt", &policy);
            for chunk in data.chunks(piece) {
                s.feed(chunk);
            }
            assert_eq!(s.findings().len(), 1, "pieces of {piece}");
            // One byte short of the signature is clean, however it is cut.
            let mut s = ContentScan::new("x.txt", &policy);
            for chunk in data[..100 + EICAR.len() - 1].chunks(piece) {
                s.feed(chunk);
            }
            assert!(s.findings().is_empty(), "pieces of {piece}");
        }
    }

    #[test]
    fn size_and_type() {
        let policy = Policy {
            max_file_bytes: 4,
            ..Policy::default()
        };
        let scanners: Vec<std::sync::Arc<dyn Scanner>> = vec![std::sync::Arc::new(policy.clone())];
        let mut s = ContentScan::new("a.csv", &scanners);
        s.feed(b"123");
        s.feed(b"45");
        assert_eq!(s.findings().len(), 1);
        assert!(policy.check_name("tool.EXE").is_some());
        assert!(policy.check_name("data.csv").is_none());
        assert!(policy.check_name("README").is_none());
    }
}
