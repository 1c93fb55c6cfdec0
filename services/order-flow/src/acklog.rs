//! The acknowledged-orders log: one line per order trading-api accepted (`201`), appended to a
//! file in the data directory so that a crash test can check every one survived a restart.
//!
//! Lines are `order_id symbol key_index` (the position of the placing account's key in the demo
//! key file, so a checker can ask trading-api for the order as its owner) and are written by one task, flushed after each batch; an order
//! is logged only after its acknowledgement arrived, so the file never names an order the
//! exchange did not accept. What the last unflushed batch held is lost if order-flow itself is
//! killed; the file is then a subset of the acknowledged orders, never a superset.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// The sending half: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct AckLog {
    /// Unbounded so that logging never slows order sending; the writer drains in batches.
    tx: mpsc::UnboundedSender<(u64, String, usize)>,
    /// The file, for the status endpoint.
    path: PathBuf,
}

impl AckLog {
    /// Opens (appending) `dir/acked-orders.log`, creating `dir`, and starts the writer task.
    pub async fn open(dir: &Path) -> std::io::Result<AckLog> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join("acked-orders.log");
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(file, rx));
        Ok(AckLog { tx, path })
    }

    /// Records an acknowledged order.
    pub fn record(&self, order_id: u64, symbol: &str, key_index: usize) {
        // Fails only after the writer stopped at shutdown; nothing to do then.
        let _ = self.tx.send((order_id, symbol.to_string(), key_index));
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

async fn write_batches(
    file: tokio::fs::File,
    mut rx: mpsc::UnboundedReceiver<(u64, String, usize)>,
) {
    let mut out = tokio::io::BufWriter::new(file);
    let mut line = String::new();
    // Timed for /debug/pprof/block: the writer waiting for acknowledged orders.
    while let Some(first) = contention::blocked(rx.recv()).await {
        let mut next = Some(first);
        while let Some((id, symbol, key_index)) = next {
            line.clear();
            line.push_str(&format!("{id} {symbol} {key_index}\n"));
            if let Err(err) = out.write_all(line.as_bytes()).await {
                tracing::error!(%err, "cannot append to the acknowledged-orders log");
                return;
            }
            next = rx.try_recv().ok();
        }
        if let Err(err) = out.flush().await {
            tracing::error!(%err, "cannot flush the acknowledged-orders log");
            return;
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedOrder {
    /// trading-api's order id.
    pub order_id: u64,
    /// Its symbol.
    pub symbol: String,
    /// Position of the owner's key in the demo key file.
    pub key_index: usize,
}

/// Reads the log back (for tests and crash checks); malformed lines are skipped.
pub fn read_log(path: &Path) -> std::io::Result<Vec<AckedOrder>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some(AckedOrder {
                order_id: parts.next()?.parse().ok()?,
                symbol: parts.next()?.to_string(),
                key_index: parts.next()?.parse().ok()?,
            })
        })
        .collect())
}

/// The order ids of the log.
pub fn read_ids(path: &Path) -> std::io::Result<Vec<u64>> {
    Ok(read_log(path)?.into_iter().map(|a| a.order_id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_in_order_across_reopen() {
        let dir = std::env::temp_dir().join(format!("acklog-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = AckLog::open(&dir).await.expect("open");
        for id in 1..=100 {
            log.record(id, "BTC-USD", 3);
        }
        let again = AckLog::open(&dir).await.expect("reopen");
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids = read_ids(log.path()).expect("read");
            if ids.len() == 100 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(ids, (1..=100).collect::<Vec<u64>>());
        again.record(101, "ETH-USD", 4);
        for _ in 0..100 {
            ids = read_ids(again.path()).expect("read");
            if ids.len() == 101 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(ids.last(), Some(&101));
        let last = read_log(again.path()).expect("read").pop().expect("a line");
        assert_eq!(
            last,
            AckedOrder {
                order_id: 101,
                symbol: "ETH-USD".into(),
                key_index: 4
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
