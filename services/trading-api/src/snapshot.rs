//! Snapshots bound replay time: every so often the venue's state is captured (commands paused
//! for the copy), written once the journal is durable up to it, and on start the newest valid
//! snapshot is restored and only the journal after its offset is replayed.
//!
//! File: `snapshots/snapshot-<seq>.json` = `<crc32 hex>\n<json>`. A snapshot whose checksum or
//! restored digest does not match is skipped with a warning (an older one, or the full journal,
//! is used instead). The journal itself is never truncated by a snapshot.

use std::io::Write;
use std::path::{Path, PathBuf};

use matching::{AccountId, OrderId, Price, Qty, Side};
use serde::{Deserialize, Serialize};

use crate::ledger::Ledger;
use crate::orders::{OrderRecord, Ticker, TradeRecord};

/// Snapshots kept on disk.
const KEEP: usize = 2;

/// One resting order, in book priority order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestingSnapshot {
    /// Id.
    pub order_id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Open quantity.
    pub remaining: Qty,
    /// Entered quantity as amended (`original − remaining` has filled); absent in snapshots
    /// written before it was kept, then taken to be `remaining`.
    #[serde(default)]
    pub original: Option<Qty>,
    /// Maker-only.
    pub post_only: bool,
}

/// One symbol's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSnapshot {
    /// Symbol name (must match the configured instrument at the same index).
    pub symbol: String,
    /// Trades executed so far (public trade ids continue after it).
    pub trade_seq: u64,
    /// Market-data book sequence number.
    pub book_seq: u64,
    /// Ticker statistics.
    pub ticker: Ticker,
    /// Recent trades.
    pub trades: Vec<TradeRecord>,
    /// Resting orders: bids best first then asks best first, FIFO within a level.
    pub resting: Vec<RestingSnapshot>,
    /// Service records of the resting orders.
    pub open: Vec<OrderRecord>,
    /// Recently finished orders, oldest first (so `GET /orders/{id}` still finds them).
    pub finished: Vec<OrderRecord>,
}

/// The whole venue at journal sequence `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Last journal record included.
    pub seq: u64,
    /// Journal byte offset where the record after `seq` starts.
    pub offset: u64,
    /// Next order id.
    pub next_order_id: OrderId,
    /// Accounts and balances.
    pub ledger: Ledger,
    /// Per-symbol state, by symbol index.
    pub symbols: Vec<SymbolSnapshot>,
    /// State digest at capture; a restore must reproduce it.
    pub digest: u64,
}

/// The snapshot directory under the data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

/// Writes a snapshot atomically (temp file, fsync, rename) and prunes old ones.
pub fn write(data_dir: &Path, snapshot: &Snapshot) -> anyhow::Result<PathBuf> {
    let dir = dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let body = serde_json::to_vec(snapshot)?;
    let path = dir.join(format!("snapshot-{:020}.json", snapshot.seq));
    let tmp = dir.join(format!(".snapshot-{:020}.tmp", snapshot.seq));
    {
        let mut file = std::fs::File::create(&tmp)?;
        writeln!(file, "{:08x}", crc32fast::hash(&body))?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    let mut all = list(data_dir);
    while all.len() > KEEP {
        let old = all.remove(all.len() - 1);
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// Snapshot files, newest first.
pub fn list(data_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir(data_dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot-") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    files.reverse();
    files
}

/// Reads and checks one snapshot file.
pub fn read(path: &Path) -> anyhow::Result<Snapshot> {
    let bytes = std::fs::read(path)?;
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| anyhow::anyhow!("no checksum line"))?;
    let crc_text = std::str::from_utf8(&bytes[..newline])?;
    let crc = u32::from_str_radix(crc_text.trim(), 16)?;
    let body = &bytes[newline + 1..];
    anyhow::ensure!(crc32fast::hash(body) == crc, "checksum mismatch");
    Ok(serde_json::from_slice(body)?)
}
