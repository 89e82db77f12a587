//! The ClamAV adapter: each file streams to clamd (`INSTREAM`) as it is copied, so it is read
//! once. Used when `TRE_CLAMD_ADDRESS` names a clamd (`unix:/run/clamav/clamd.ctl` or
//! `host:3310`). It fails closed: a file clamd could not scan (unreachable, over its
//! `StreamMaxLength`, any error) is reported as a finding, never let through.

use std::io::{Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Clamd {
    pub address: String,
}

enum Conn {
    #[cfg(unix)]
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn open(address: &str) -> std::io::Result<Self> {
        #[cfg(unix)]
        if let Some(path) = address.strip_prefix("unix:") {
            let s = UnixStream::connect(path)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            return Ok(Conn::Unix(s));
        }
        let s = TcpStream::connect(address.strip_prefix("tcp:").unwrap_or(address))?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Conn::Tcp(s))
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.write_all(bytes),
            Conn::Tcp(s) => s.write_all(bytes),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Clamd {
    /// `TRE_CLAMD_ADDRESS`, if set.
    pub fn from_env() -> Option<Self> {
        std::env::var("TRE_CLAMD_ADDRESS")
            .ok()
            .filter(|a| !a.trim().is_empty())
            .map(|address| Self { address })
    }

    /// Open a scan of one file; its bytes follow through [`ClamdSession::feed`].
    pub fn session(&self, name: &str) -> ClamdSession {
        let mut s = ClamdSession {
            name: name.to_string(),
            conn: None,
            error: None,
        };
        match Conn::open(&self.address) {
            Ok(mut conn) => match conn.write_all(b"zINSTREAM\0") {
                Ok(()) => s.conn = Some(conn),
                Err(e) => s.error = Some(format!("clamd at {}: {e}", self.address)),
            },
            Err(e) => s.error = Some(format!("clamd at {} is unreachable: {e}", self.address)),
        }
        s
    }
}

impl crate::scan::Scanner for Clamd {
    fn name(&self) -> &'static str {
        "clamav"
    }
    fn session(&self, file: &str) -> Box<dyn crate::scan::ScanSession> {
        Box::new(Clamd::session(self, file))
    }
}

impl crate::scan::ScanSession for ClamdSession {
    fn feed(&mut self, chunk: &[u8]) {
        ClamdSession::feed(self, chunk)
    }
    fn finish(self: Box<Self>) -> Vec<String> {
        ClamdSession::finish(*self)
    }
}

pub struct ClamdSession {
    name: String,
    conn: Option<Conn>,
    error: Option<String>,
}

impl ClamdSession {
    pub fn feed(&mut self, chunk: &[u8]) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // INSTREAM chunks: a 4-byte big-endian length, then the bytes.
        for part in chunk.chunks(u32::MAX as usize) {
            let sent = conn
                .write_all(&(part.len() as u32).to_be_bytes())
                .and_then(|_| conn.write_all(part));
            if let Err(e) = sent {
                // clamd closes the stream when a file passes its StreamMaxLength: its answer
                // says so, and `finish` reads it.
                self.error = Some(format!("sending to clamd: {e}"));
                return;
            }
        }
    }

    /// The findings for this file (empty when clamd says it is clean).
    pub fn finish(self) -> Vec<String> {
        let name = self.name;
        let Some(mut conn) = self.conn else {
            return vec![format!(
                "clamav could not scan `{name}`: {}",
                self.error.unwrap_or_default()
            )];
        };
        let _ = conn.write_all(&0u32.to_be_bytes());
        let mut reply = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    reply.extend_from_slice(&buf[..n]);
                    if reply.contains(&0) {
                        break;
                    }
                }
                Err(e) => {
                    return vec![format!(
                        "clamav could not scan `{name}`: reading its answer: {e}"
                    )]
                }
            }
        }
        let text = String::from_utf8_lossy(&reply)
            .trim_end_matches('\0')
            .trim()
            .to_string();
        let verdict = text.strip_prefix("stream:").unwrap_or(&text).trim();
        if verdict == "OK" && self.error.is_none() {
            Vec::new()
        } else if let Some(signature) = verdict.strip_suffix("FOUND") {
            vec![format!("clamav: {} in `{name}`", signature.trim())]
        } else {
            let why = if verdict.is_empty() {
                self.error.unwrap_or_else(|| "no answer".into())
            } else {
                verdict.to_string()
            };
            vec![format!("clamav could not scan `{name}`: {why}")]
        }
    }
}
