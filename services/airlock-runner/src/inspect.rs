//! Hashing and scanning a file's bytes off the I/O path. The hash and the scan each run on a
//! thread of their own, fed the chunks (shared, not copied) through bounded channels, so
//! reading, writing, hashing and scanning overlap: a checked copy runs at about the speed of
//! the slowest of them instead of their sum. Memory stays bounded by the channels' depth.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::scan::ContentScan;
use crate::Measured;

/// Chunks waiting per consumer. With the stores' chunks (up to 1 MiB locally, smaller from
/// S3), a few MiB at most.
const DEPTH: usize = 4;

/// A clonable handle that feeds an [`Inspector`].
#[derive(Clone)]
pub(crate) struct Feed {
    hash: mpsc::Sender<Bytes>,
    scan: Option<mpsc::Sender<Bytes>>,
}

impl Feed {
    /// Hand a chunk to the hash and the scan; waits while they are behind (backpressure).
    pub(crate) async fn send(&self, chunk: &Bytes) -> Result<(), String> {
        let gone = |_| "the file's inspection stopped".to_string();
        self.hash.send(chunk.clone()).await.map_err(gone)?;
        if let Some(scan) = &self.scan {
            scan.send(chunk.clone()).await.map_err(gone)?;
        }
        Ok(())
    }
}

pub(crate) struct Inspector {
    feed: Feed,
    hasher: JoinHandle<(u64, String)>,
    scanner: Option<JoinHandle<Vec<String>>>,
}

impl Inspector {
    pub(crate) fn new(scan: Option<ContentScan>) -> Self {
        let (hash_tx, mut hash_rx) = mpsc::channel::<Bytes>(DEPTH);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = hash_rx.blocking_recv() {
                hasher.update(&chunk);
                size += chunk.len() as u64;
            }
            (size, hex::encode(hasher.finalize()))
        });
        let (scan_tx, scanner) = match scan {
            Some(mut scan) => {
                let (tx, mut rx) = mpsc::channel::<Bytes>(DEPTH);
                let handle = tokio::task::spawn_blocking(move || {
                    while let Some(chunk) = rx.blocking_recv() {
                        scan.feed(&chunk);
                    }
                    scan.findings()
                });
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        Self {
            feed: Feed {
                hash: hash_tx,
                scan: scan_tx,
            },
            hasher,
            scanner,
        }
    }

    pub(crate) fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// What the bytes fed so far measure. Every other [`Feed`] must have been dropped (their
    /// bytes counted), or this waits for them.
    pub(crate) async fn finish(self) -> Result<Measured, String> {
        drop(self.feed);
        let failed = |e: tokio::task::JoinError| format!("the file's inspection failed: {e}");
        let (size, sha256) = self.hasher.await.map_err(failed)?;
        let findings = match self.scanner {
            Some(s) => s.await.map_err(failed)?,
            None => Vec::new(),
        };
        Ok(Measured {
            size,
            sha256,
            findings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Policy, Scanner, EICAR};
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn measures_what_it_is_fed_in_order() {
        let scanners: Vec<Arc<dyn Scanner>> = vec![Arc::new(Policy::default())];
        let inspector = Inspector::new(Some(ContentScan::new("a.txt", &scanners)));
        let feed = inspector.feed();
        let mut all = Vec::new();
        for i in 0..100u32 {
            let chunk: Vec<u8> = (0..(i * 37 % 5000)).map(|b| (b ^ i) as u8).collect();
            all.extend_from_slice(&chunk);
            feed.send(&Bytes::from(chunk)).await.unwrap();
        }
        // A signature split across two chunks is found.
        let (a, b) = EICAR.split_at(20);
        feed.send(&Bytes::from_static(a)).await.unwrap();
        feed.send(&Bytes::from_static(b)).await.unwrap();
        all.extend_from_slice(EICAR);
        drop(feed);
        let m = inspector.finish().await.unwrap();
        assert_eq!(m.size, all.len() as u64);
        assert_eq!(m.sha256, hex::encode(Sha256::digest(&all)));
        assert_eq!(m.findings.len(), 1, "{:?}", m.findings);

        let empty = Inspector::new(None).finish().await.unwrap();
        assert_eq!(empty.size, 0);
        assert_eq!(empty.sha256, hex::encode(Sha256::digest(b"")));
        assert!(empty.findings.is_empty());
    }
}
