//! The journal: an append-only file of every accepted command, written before the client is
//! answered, replayed on start.
//!
//! Record layout (little endian): `len: u32 | crc32: u32 | seq: u64 | payload[len]`, where the
//! CRC covers the sequence number and the payload. Sequence numbers start at 1 and increase by
//! one; a gap is corruption.
//!
//! Sync modes and what an acknowledged command survives:
//! - `always`: each record is written and `fdatasync`ed inside the append, before the command is
//!   applied. Survives process crash and power loss. Slowest: one fsync per command.
//! - `batch` (default): appends go to a buffer; a writer thread writes and fsyncs whatever has
//!   accumulated (group commit) and the command is answered once its record is synced. Same
//!   guarantee as `always`, with one fsync shared by all commands that arrived meanwhile.
//! - `write`: the writer thread writes each group to the OS (`write(2)`, no fsync) and the
//!   commands are answered once their record is written; a syncer thread fsyncs at most
//!   [`WRITE_SYNC_INTERVAL`] after a write, so writes never wait behind an fsync. Survives a process crash (the kernel has the bytes);
//!   a power loss or OS crash can lose the last interval of answered commands. What most
//!   production systems run (PostgreSQL's `synchronous_commit = off` plus `wal_writer_delay`,
//!   Kafka's default flush policy, Redis `appendfsync everysec`).
//! - `none`: the writer thread writes without fsync and commands are answered without waiting.
//!   A process crash can lose the last few milliseconds of answered commands; an OS crash more.
//!
//! "Durable" below means durable as the mode promises: synced for `always` and `batch`, written
//! to the OS for `write`, appended for `none`. Nothing is shown to anyone (answers, market data,
//! REST reads) before it is durable in that sense; see `venue.rs`.
//!
//! Reading tells two kinds of damage apart, because only one of them can be repaired safely:
//! - A *torn tail* ([`TornTail`]) is what a crash leaves: the last record cut short (a process
//!   crash mid-write), or the end of the file zero-filled from a disk-block boundary (a power loss
//!   after the file's size was updated but before its data blocks were). No acknowledged record
//!   can lie there: it was never completely on disk. It is dropped with a warning naming the kind,
//!   and the file truncated.
//! - Anything else is *corruption*: a complete record whose checksum fails (even the last one: it
//!   was whole on disk, so it may have been acknowledged), a bad record followed by an intact one,
//!   a broken sequence. Start-up stops with an error naming the offset and the reason, and the
//!   file is left exactly as it was for inspection.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use contention::{Condvar, Mutex};
use prometheus::Histogram;
use tokio::sync::watch;

/// In `write` mode, the longest written records wait for their fsync: what a power loss can
/// take from answered commands.
pub const WRITE_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Bytes before the payload.
const HEADER_LEN: usize = 16;
/// Largest payload accepted when reading; anything bigger is corruption.
const MAX_RECORD: usize = 1 << 20;

/// How appends are made durable (see the module docs for each guarantee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync every record before answering.
    Always,
    /// Group commit: one fsync for all records waiting, answer after it.
    Batch,
    /// Answer once written to the OS; fsync in the background within [`WRITE_SYNC_INTERVAL`].
    Write,
    /// Never fsync; answer without waiting for the write.
    None,
}

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing the file failed.
    #[error("journal I/O on {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A record in the middle of the file is damaged; the journal cannot be trusted.
    #[error("journal {path} is corrupt at byte {offset} (after sequence {last_seq}): {reason}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// Last good sequence number.
        last_seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write failed; nothing more is accepted.
    #[error("journal stopped after an earlier write failure")]
    Failed,
    /// The journal is closed (shutting down).
    #[error("journal is closed")]
    Closed,
}

/// Power loss loses whole disk blocks: a zero-filled tail that begins on a multiple of this is
/// a lost write, one that begins elsewhere is data that happens to end in zeros. 512 bytes is the
/// smallest sector; filesystem blocks (4096) are multiples of it.
const DISK_BLOCK: u64 = 512;

/// The two shapes of an incomplete last write (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornTail {
    /// The last record stops before its length says it ends (a crash mid-write).
    CutShort,
    /// The file ends in zeros from a disk-block boundary on (a power loss after a size update).
    ZeroFilled,
}

impl std::fmt::Display for TornTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TornTail::CutShort => "cut short (crash mid-write)",
            TornTail::ZeroFilled => "zero-filled (power loss after a size update)",
        })
    }
}

/// Where a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanEnd {
    /// Sequence number of the last good record (or the start point if none).
    pub last_seq: u64,
    /// Byte length of the valid prefix; appends continue here.
    pub valid_len: u64,
    /// The torn tail that was dropped, if any.
    pub torn_tail: Option<TornTail>,
}

/// Reads records from `offset` (which must start a record with sequence `after_seq + 1`), calls
/// `apply` for each, truncates a torn tail, and fails on corruption.
pub fn scan(
    path: &Path,
    offset: u64,
    after_seq: u64,
    mut apply: impl FnMut(u64, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<ScanEnd> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ScanEnd {
                last_seq: after_seq,
                valid_len: 0,
                torn_tail: None,
            })
        }
        Err(e) => return Err(io(e).into()),
    };
    let file_len = file.metadata().map_err(io)?.len();
    if offset > file_len {
        return Err(JournalError::Corrupt {
            path: path.to_owned(),
            offset,
            last_seq: after_seq,
            reason: format!("snapshot points past the end of the journal ({file_len} bytes)"),
        }
        .into());
    }
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut pos = offset;
    let mut last_seq = after_seq;
    let mut payload = Vec::new();
    let corrupt = |pos: u64, last_seq: u64, reason: String| JournalError::Corrupt {
        path: path.to_owned(),
        offset: pos,
        last_seq,
        reason,
    };
    // Where the run of zero bytes that ends the file starts (file_len when the last byte is not
    // zero); read once, used only to classify a bad record.
    let zeros_from = trailing_zeros_start(path, file_len).map_err(io)?;
    // A bad record at `pos` whose damage lies in a zero-filled tail is a lost write.
    let zero_filled_at = |pos: u64, record_end: u64| {
        zeros_from <= pos || (zeros_from % DISK_BLOCK == 0 && zeros_from < record_end)
    };
    let mut torn_tail = None;
    while pos < file_len {
        let remaining = file_len - pos;
        if zeros_from <= pos {
            torn_tail = Some(TornTail::ZeroFilled);
            break;
        }
        if remaining < HEADER_LEN as u64 {
            torn_tail = Some(TornTail::CutShort);
            break;
        }
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header).map_err(io)?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&header[8..16]);
        let seq = u64::from_le_bytes(seq_bytes);
        let end = pos + (HEADER_LEN + len) as u64;
        if end > file_len {
            if len > MAX_RECORD {
                return Err(
                    corrupt(pos, last_seq, format!("record length {len} is implausible")).into(),
                );
            }
            if valid_record_after(path, pos + 1, last_seq + 2).map_err(io)? {
                return Err(corrupt(pos, last_seq, "damaged record length".to_owned()).into());
            }
            torn_tail = Some(if zero_filled_at(pos, end) {
                TornTail::ZeroFilled
            } else {
                TornTail::CutShort
            });
            break;
        }
        if len > MAX_RECORD {
            return Err(
                corrupt(pos, last_seq, format!("record length {len} is implausible")).into(),
            );
        }
        payload.resize(len, 0);
        reader.read_exact(&mut payload).map_err(io)?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq_bytes);
        hasher.update(&payload);
        if hasher.finalize() != crc {
            // Only zeros written over by a lost write excuse a failed checksum; a complete record
            // with other damage may have been acknowledged, so it is refused, never dropped.
            if zero_filled_at(pos, end) {
                torn_tail = Some(TornTail::ZeroFilled);
                break;
            }
            let reason = if end == file_len {
                "checksum mismatch in the last record, which is complete (damaged on disk, \
                 not a torn write)"
            } else {
                "checksum mismatch"
            };
            return Err(corrupt(pos, last_seq, reason.to_owned()).into());
        }
        if seq != last_seq + 1 {
            return Err(corrupt(
                pos,
                last_seq,
                format!("expected sequence {}, found {seq}", last_seq + 1),
            )
            .into());
        }
        apply(seq, &payload).map_err(|e| {
            corrupt(
                pos,
                last_seq,
                format!("record {seq} cannot be applied: {e:#}"),
            )
        })?;
        last_seq = seq;
        pos = end;
    }
    if let Some(kind) = torn_tail {
        tracing::warn!(
            path = %path.display(),
            offset = pos,
            dropped_bytes = file_len - pos,
            last_seq,
            torn_tail = %kind,
            "dropping the torn end of the journal"
        );
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(pos).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok(ScanEnd {
        last_seq,
        valid_len: pos,
        torn_tail,
    })
}

/// The offset where the file's final run of zero bytes begins (`file_len` if it ends otherwise).
fn trailing_zeros_start(path: &Path, file_len: u64) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let mut start = file_len;
    let mut chunk = vec![0u8; 64 * 1024];
    while start > 0 {
        let len = chunk
            .len()
            .min(usize::try_from(start).unwrap_or(usize::MAX));
        let at = start - len as u64;
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut chunk[..len])?;
        match chunk[..len].iter().rposition(|&b| b != 0) {
            Some(last_nonzero) => return Ok(at + last_nonzero as u64 + 1),
            None => start = at,
        }
    }
    Ok(0)
}

/// Whether an intact record with sequence `seq` starts somewhere at or after `from`. A bad record
/// followed by a good one is corruption, not a torn tail: a crash only ever cuts the end.
/// Only runs on the failure path, so reading the rest of the file is fine.
fn valid_record_after(path: &Path, from: u64, seq: u64) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut rest = Vec::new();
    file.read_to_end(&mut rest)?;
    let needle = seq.to_le_bytes();
    let mut start = 0;
    while let Some(found) = rest[start..].windows(8).position(|w| w == needle) {
        let seq_at = start + found;
        start = seq_at + 1;
        // The sequence number sits 8 bytes into the header.
        let Some(header_at) = seq_at.checked_sub(8) else {
            continue;
        };
        let header = &rest[header_at..seq_at];
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let payload_at = seq_at + 8;
        if len > MAX_RECORD || payload_at + len > rest.len() {
            continue;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&needle);
        hasher.update(&rest[payload_at..payload_at + len]);
        if hasher.finalize() == crc {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Encodes one record.
fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let seq_bytes = seq.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq_bytes);
    hasher.update(payload);
    // Payloads are bounded by the request body limit, far below u32::MAX.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&seq_bytes);
    out.extend_from_slice(payload);
}

/// Journal latency metrics.
#[derive(Clone)]
pub struct JournalMetrics {
    /// Time spent inside [`Journal::append`] (encode, and for `always` the write and fsync).
    pub append: Histogram,
    /// Duration of each fsync.
    pub fsync: Histogram,
}

/// Durability progress published to waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Durable {
    /// Highest sequence number that is durable per the sync mode.
    seq: u64,
    /// A write failed; waiters must give up.
    failed: bool,
}

/// Wakes when the durable watermark moves ([`Journal::watch_durable`]).
pub struct DurableWatch(watch::Receiver<Durable>);

impl DurableWatch {
    /// Waits for the next move; `false` once the journal is gone or has failed.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok() && !self.0.borrow_and_update().failed
    }
}

/// State behind the append lock.
struct State {
    /// Next sequence number to assign.
    next_seq: u64,
    /// Logical file length including pending bytes: where the next record starts.
    len: u64,
    /// Encoded records not yet handed to the writer (`batch`/`none`).
    pending: Vec<u8>,
    /// Sequence number of the last record in `pending`.
    pending_last: u64,
    /// The file, for `always` mode (the writer thread owns it otherwise).
    file: Option<File>,
    /// Set by [`Journal::close`]; appends fail afterwards.
    closed: bool,
    /// Set on a write failure; appends fail afterwards.
    failed: bool,
}

struct Shared {
    mode: SyncMode,
    path: PathBuf,
    state: Mutex<State>,
    /// Wakes the writer thread when `pending` fills or on close.
    wake: Condvar,
    durable: watch::Sender<Durable>,
    /// Notified (under `state`) whenever `durable` moves, for blocking waiters.
    durable_changed: Condvar,
    /// How many threads wait in [`Journal::wait_durable_blocking`]: the writer takes the state
    /// lock to notify them only when there are some (the `coarse` design), not once per group.
    blocking_waiters: std::sync::atomic::AtomicUsize,
    /// `write` mode: the writer's requests to the syncer thread.
    sync_request: Mutex<SyncRequest>,
    /// Wakes the syncer thread.
    sync_wake: Condvar,
    metrics: JournalMetrics,
    /// Milliseconds added before every fsync: the `slow-journal` chaos fault (0 normally).
    fsync_delay_ms: std::sync::atomic::AtomicU64,
}

/// The `slow-journal` fault: sleeps before an fsync, as a slow disk would make it take longer.
#[inline(never)]
fn chaos_fsync_delay(delay_ms: &std::sync::atomic::AtomicU64) {
    let ms = delay_ms.load(std::sync::atomic::Ordering::Relaxed);
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// An open journal, appending after the records already replayed.
pub struct Journal {
    shared: Arc<Shared>,
    /// The group-commit writer (`batch`/`write`/`none`).
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The background fsync (`write`).
    syncer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.shared.path)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens `path` for appending at `end` (from [`scan`]).
    pub fn open(
        path: &Path,
        end: ScanEnd,
        mode: SyncMode,
        metrics: JournalMetrics,
    ) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        file.set_len(end.valid_len).map_err(io)?;
        file.seek(SeekFrom::Start(end.valid_len)).map_err(io)?;
        if let Some(dir) = path.parent() {
            // Make the file's directory entry durable too.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        let (durable, _) = watch::channel(Durable {
            seq: end.last_seq,
            failed: false,
        });
        let threaded = mode != SyncMode::Always;
        let shared = Arc::new(Shared {
            mode,
            path: path.to_owned(),
            state: Mutex::new(State {
                next_seq: end.last_seq + 1,
                len: end.valid_len,
                pending: Vec::with_capacity(1 << 16),
                pending_last: end.last_seq,
                file: if threaded {
                    None
                } else {
                    Some(file.try_clone().map_err(io)?)
                },
                closed: false,
                failed: false,
            }),
            wake: Condvar::new(),
            durable,
            durable_changed: Condvar::new(),
            blocking_waiters: std::sync::atomic::AtomicUsize::new(0),
            sync_request: Mutex::new(SyncRequest::default()),
            sync_wake: Condvar::new(),
            metrics,
            fsync_delay_ms: std::sync::atomic::AtomicU64::new(0),
        });
        let syncer = if mode == SyncMode::Write {
            let (shared, file) = (Arc::clone(&shared), file.try_clone().map_err(io)?);
            Some(
                std::thread::Builder::new()
                    .name("journal-syncer".into())
                    .spawn(move || syncer_loop(&shared, file))
                    .map_err(io)?,
            )
        } else {
            None
        };
        let writer = if threaded {
            let shared = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("journal-writer".into())
                    .spawn(move || writer_loop(&shared, file))
                    .map_err(io)?,
            )
        } else {
            None
        };
        Ok(Self {
            shared,
            writer: Mutex::new(writer),
            syncer: Mutex::new(syncer),
        })
    }

    /// Adds `delay` before every fsync from now on (the `slow-journal` chaos fault; zero
    /// restores normal speed). Counted in the fsync histogram, as a slow disk would be.
    pub fn set_fsync_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared
            .fsync_delay_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The sync mode.
    pub fn mode(&self) -> SyncMode {
        self.shared.mode
    }

    /// Appends one record and returns its sequence number. Call it inside the critical section
    /// that applies the command, so journal order is apply order. In `always` mode the record is
    /// durable on return; otherwise await [`Journal::wait_durable`] before answering.
    pub fn append(&self, payload: &[u8]) -> Result<u64, JournalError> {
        let started = Instant::now();
        let mut st = self.shared.state.lock();
        if st.failed {
            return Err(JournalError::Failed);
        }
        if st.closed {
            return Err(JournalError::Closed);
        }
        let seq = st.next_seq;
        let result = match self.shared.mode {
            SyncMode::Always => {
                let mut record = Vec::with_capacity(HEADER_LEN + payload.len());
                encode(seq, payload, &mut record);
                let fsync = &self.shared.metrics.fsync;
                let write = st.file.as_mut().map(|file| {
                    file.write_all(&record)?;
                    let t = Instant::now();
                    chaos_fsync_delay(&self.shared.fsync_delay_ms);
                    file.sync_data()?;
                    fsync.observe(t.elapsed().as_secs_f64());
                    Ok::<_, std::io::Error>(())
                });
                match write {
                    Some(Ok(())) => {
                        st.len += record.len() as u64;
                        self.shared
                            .durable
                            .send_replace(Durable { seq, failed: false });
                        Ok(seq)
                    }
                    Some(Err(source)) => {
                        st.failed = true;
                        self.shared.durable.send_replace(Durable {
                            seq: seq - 1,
                            failed: true,
                        });
                        Err(JournalError::Io {
                            path: self.shared.path.clone(),
                            source,
                        })
                    }
                    None => Err(JournalError::Closed),
                }
            }
            SyncMode::Batch | SyncMode::Write | SyncMode::None => {
                let before = st.pending.len();
                encode(seq, payload, &mut st.pending);
                st.len += (st.pending.len() - before) as u64;
                st.pending_last = seq;
                self.shared.wake.notify_one();
                Ok(seq)
            }
        };
        if result.is_ok() {
            st.next_seq += 1;
        }
        drop(st);
        self.shared
            .metrics
            .append
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Waits until record `seq` is as durable as the sync mode promises (immediately for `none`).
    pub async fn wait_durable(&self, seq: u64) -> Result<(), JournalError> {
        if self.shared.mode == SyncMode::None {
            return Ok(());
        }
        let mut rx = self.shared.durable.subscribe();
        // Timed for /debug/pprof/block: the group-commit wait is where an order spends its time
        // when the disk is slow.
        let durable = contention::blocked(rx.wait_for(|d| d.seq >= seq || d.failed))
            .await
            .map_err(|_| JournalError::Closed)?;
        if durable.seq >= seq {
            Ok(())
        } else {
            Err(JournalError::Failed)
        }
    }

    /// The highest sequence number whose effects may be shown: durable as the mode promises,
    /// or everything appended in `none` mode (which promises nothing).
    pub fn visible_seq(&self) -> u64 {
        match self.shared.mode {
            SyncMode::None => u64::MAX,
            _ => self.shared.durable.borrow().seq,
        }
    }

    /// A watch on the durable watermark, for whoever must act when it moves.
    pub fn watch_durable(&self) -> DurableWatch {
        DurableWatch(self.shared.durable.subscribe())
    }

    /// [`Journal::wait_durable`] for a thread that may block (the `coarse` lock design holds
    /// its lock across this wait): parks on the journal's condition variable, so the wait shows
    /// in `/debug/pprof/block`.
    pub fn wait_durable_blocking(&self, seq: u64) -> Result<(), JournalError> {
        if self.shared.mode == SyncMode::None {
            return Ok(());
        }
        // Counted before the first check, so the writer sees a waiter whenever it might have
        // published after that check; the short timed wait bounds any wake-up lost in between.
        let waiters = &self.shared.blocking_waiters;
        waiters.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut st = self.shared.state.lock();
        let result = loop {
            let durable = *self.shared.durable.borrow();
            if durable.seq >= seq {
                break Ok(());
            }
            if durable.failed || st.failed {
                break Err(JournalError::Failed);
            }
            if st.closed {
                break Err(JournalError::Closed);
            }
            self.shared
                .durable_changed
                .wait_for(&mut st, std::time::Duration::from_millis(10));
        };
        drop(st);
        waiters.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        result
    }

    /// `(last sequence number, byte length)` of everything appended so far; a snapshot taken
    /// while commands are quiesced records this as its replay starting point.
    pub fn position(&self) -> (u64, u64) {
        let st = self.shared.state.lock();
        (st.next_seq - 1, st.len)
    }

    /// Stops accepting appends, writes and fsyncs everything pending, and stops the writer.
    pub fn close(&self) {
        {
            let mut st = self.shared.state.lock();
            st.closed = true;
            if let Some(file) = st.file.as_ref() {
                let _ = file.sync_all();
            }
            self.shared.wake.notify_all();
            self.shared.durable_changed.notify_all();
        }
        if let Some(handle) = self.writer.lock().take() {
            if handle.join().is_err() {
                tracing::error!("journal writer panicked");
            }
        }
        // The writer told the syncer to stop once everything was synced.
        if let Some(handle) = self.syncer.lock().take() {
            if handle.join().is_err() {
                tracing::error!("journal syncer panicked");
            }
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// The `batch`/`write`/`none` writer: takes whatever is pending, writes it, fsyncs (`batch`:
/// before publishing; `write`: within [`WRITE_SYNC_INTERVAL`] after), publishes.
fn writer_loop(shared: &Shared, mut file: File) {
    let mut buffer = Vec::with_capacity(1 << 16);
    loop {
        let (last, closing) = {
            let mut st = shared.state.lock();
            while st.pending.is_empty() && !st.closed {
                shared.wake.wait(&mut st);
            }
            std::mem::swap(&mut buffer, &mut st.pending);
            (st.pending_last, st.closed)
        };
        if !buffer.is_empty() {
            let result = file.write_all(&buffer).and_then(|()| {
                if shared.mode == SyncMode::Batch {
                    sync(shared, &file)?;
                }
                Ok(())
            });
            buffer.clear();
            if let Err(err) = result {
                fail(shared, &err);
                return;
            }
            shared.durable.send_replace(Durable {
                seq: last,
                failed: false,
            });
            notify_blocking_waiters(shared);
            if shared.mode == SyncMode::Write {
                let mut request = shared.sync_request.lock();
                if request.dirty_since.is_none() {
                    request.dirty_since = Some(Instant::now());
                    shared.sync_wake.notify_one();
                }
            }
        }
        if closing {
            let st = shared.state.lock();
            if st.pending.is_empty() {
                drop(st);
                if let Err(err) = file.sync_all() {
                    tracing::error!(%err, "final journal fsync failed");
                }
                let mut request = shared.sync_request.lock();
                request.closed = true;
                shared.sync_wake.notify_one();
                return;
            }
        }
    }
}

/// What the `write` mode's syncer thread is asked to do.
#[derive(Default)]
struct SyncRequest {
    /// When the oldest written-but-unsynced bytes were written.
    dirty_since: Option<Instant>,
    /// The writer has finished (and synced everything itself).
    closed: bool,
}

/// The `write` mode's background fsync, on its own thread so that writes (and with them
/// answers and market data) never wait behind an fsync: at most [`WRITE_SYNC_INTERVAL`] after
/// the first unsynced write, it syncs whatever has been written by then.
fn syncer_loop(shared: &Shared, file: File) {
    loop {
        {
            let mut request = shared.sync_request.lock();
            loop {
                if request.closed {
                    return;
                }
                match request.dirty_since {
                    None => shared.sync_wake.wait(&mut request),
                    Some(since) => {
                        let left = WRITE_SYNC_INTERVAL.saturating_sub(since.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        shared.sync_wake.wait_for(&mut request, left);
                    }
                }
            }
            request.dirty_since = None;
        }
        // A failed background fsync means written records may never reach the disk: stop
        // accepting commands, as for a failed write.
        if let Err(err) = sync(shared, &file) {
            fail(shared, &err);
            return;
        }
    }
}

/// A write or sync failed: refuse further commands and wake every waiter with the failure.
fn fail(shared: &Shared, err: &std::io::Error) {
    tracing::error!(%err, path = %shared.path.display(), "journal write failed; refusing further commands");
    shared.state.lock().failed = true;
    shared.durable.send_modify(|d| d.failed = true);
    notify_blocking_waiters(shared);
    // The syncer must not wait for a writer that has stopped (`Journal::close` joins it).
    shared.sync_request.lock().closed = true;
    shared.sync_wake.notify_all();
}

/// Wakes [`Journal::wait_durable_blocking`] callers; under the state lock, so none misses it.
fn notify_blocking_waiters(shared: &Shared) {
    if shared
        .blocking_waiters
        .load(std::sync::atomic::Ordering::SeqCst)
        == 0
    {
        return;
    }
    let _st = shared.state.lock();
    shared.durable_changed.notify_all();
}

/// One fsync of the journal file, timed, with the `slow-journal` delay before it.
fn sync(shared: &Shared, file: &File) -> std::io::Result<()> {
    let t = Instant::now();
    chaos_fsync_delay(&shared.fsync_delay_ms);
    file.sync_data()?;
    shared.metrics.fsync.observe(t.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn metrics() -> JournalMetrics {
        let h = || Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
        JournalMetrics {
            append: h(),
            fsync: h(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("simex-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_records(path: &Path, mode: SyncMode, payloads: &[&str]) {
        let end = scan(path, 0, 0, |_, _| Ok(())).unwrap();
        let journal = Journal::open(path, end, mode, metrics()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for p in payloads {
            let seq = journal.append(p.as_bytes()).unwrap();
            rt.block_on(journal.wait_durable(seq)).unwrap();
        }
        journal.close();
    }

    fn read_all(path: &Path) -> anyhow::Result<(Vec<String>, ScanEnd)> {
        let mut out = Vec::new();
        let end = scan(path, 0, 0, |_, p| {
            out.push(String::from_utf8(p.to_vec())?);
            Ok(())
        })?;
        Ok((out, end))
    }

    #[test]
    fn round_trips_in_every_mode_and_appends_after_reopen() {
        for mode in [
            SyncMode::Always,
            SyncMode::Batch,
            SyncMode::Write,
            SyncMode::None,
        ] {
            let dir = temp_dir(&format!("{mode:?}"));
            let path = dir.join("journal.log");
            write_records(&path, mode, &["a", "bb"]);
            write_records(&path, mode, &["ccc"]);
            let (records, end) = read_all(&path).unwrap();
            assert_eq!(records, ["a", "bb", "ccc"], "{mode:?}");
            assert_eq!(end.last_seq, 3);
            assert_eq!(end.torn_tail, None);
        }
    }

    #[test]
    fn write_mode_answers_before_the_fsync_and_syncs_in_the_background() {
        let dir = temp_dir("write-sync");
        let path = dir.join("journal.log");
        let end = scan(&path, 0, 0, |_, _| Ok(())).unwrap();
        let metrics = metrics();
        let fsync = metrics.fsync.clone();
        let journal = Journal::open(&path, end, SyncMode::Write, metrics).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let seq = journal.append(b"one").unwrap();
        rt.block_on(journal.wait_durable(seq)).unwrap();
        // Written to the OS: a reader of the file (another process) sees it now.
        let (records, _) = read_all(&path).unwrap();
        assert_eq!(records, ["one"]);
        // No further appends: the background fsync still comes, within the interval.
        let mut synced = false;
        for _ in 0..100 {
            if fsync.get_sample_count() > 0 {
                synced = true;
                break;
            }
            std::thread::sleep(WRITE_SYNC_INTERVAL / 5);
        }
        assert!(synced, "no fsync within {:?} x 20", WRITE_SYNC_INTERVAL);
        journal.close();
    }

    #[test]
    fn torn_tail_is_dropped_and_truncated() {
        let dir = temp_dir("torn");
        let path = dir.join("journal.log");
        write_records(&path, SyncMode::Always, &["one", "two", "three"]);
        let len = std::fs::metadata(&path).unwrap().len();
        // Cut the last record in half, as a crash mid-write would.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (records, end) = read_all(&path).unwrap();
        assert_eq!(records, ["one", "two"]);
        assert_eq!(end.torn_tail, Some(TornTail::CutShort));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end.valid_len);
        // Appends continue with the next sequence number.
        write_records(&path, SyncMode::Batch, &["four"]);
        let (records, end) = read_all(&path).unwrap();
        assert_eq!(records, ["one", "two", "four"]);
        assert_eq!(end.last_seq, 3);
    }

    #[test]
    fn corruption_in_the_middle_stops_with_offset() {
        let dir = temp_dir("corrupt");
        let path = dir.join("journal.log");
        write_records(&path, SyncMode::Always, &["first", "second", "third"]);
        let mut bytes = std::fs::read(&path).unwrap();
        // Flip a payload byte of the first record.
        bytes[HEADER_LEN] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_all(&path).unwrap_err();
        let err = err.downcast::<JournalError>().unwrap();
        assert!(
            matches!(
                err,
                JournalError::Corrupt {
                    offset: 0,
                    last_seq: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    // Issue 14: a complete last record with a bad checksum was truncated as a torn tail,
    // silently deleting a record that may have been acknowledged.
    #[test]
    fn damaged_complete_last_record_is_refused_and_kept() {
        let dir = temp_dir("bad-last");
        let path = dir.join("journal.log");
        write_records(&path, SyncMode::Always, &["first", "second", "third"]);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_all(&path)
            .unwrap_err()
            .downcast::<JournalError>()
            .unwrap();
        let third_at = 2 * (HEADER_LEN as u64) + 5 + 6;
        assert!(
            matches!(&err, JournalError::Corrupt { offset, last_seq: 2, reason, .. }
                if *offset == third_at && reason.contains("complete")),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the file is kept as it was"
        );
    }

    // Issue 14: zeros past the last record (power loss after a size update) were called
    // corruption, and start-up was refused forever.
    #[test]
    fn zero_filled_tail_is_a_torn_write() {
        let dir = temp_dir("zeros");
        let path = dir.join("journal.log");
        write_records(&path, SyncMode::Always, &["one", "two"]);
        let good_len = std::fs::metadata(&path).unwrap().len();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        std::fs::write(&path, &bytes).unwrap();
        let (records, end) = read_all(&path).unwrap();
        assert_eq!(records, ["one", "two"]);
        assert_eq!(end.torn_tail, Some(TornTail::ZeroFilled));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    }

    #[test]
    fn last_record_zeroed_from_a_block_boundary_is_a_torn_write() {
        let dir = temp_dir("zero-block");
        let path = dir.join("journal.log");
        // Five records of 116 bytes: the fifth spans bytes 464..580, across the 512 boundary.
        let payload = "x".repeat(100);
        write_records(&path, SyncMode::Always, &[payload.as_str(); 5]);
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 580);
        bytes[512..].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        let (records, end) = read_all(&path).unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(end.torn_tail, Some(TornTail::ZeroFilled));
        assert_eq!(end.valid_len, 464);

        // The same zeros starting off a block boundary are damage, not a lost block.
        write_records(
            &dir.join("other.log"),
            SyncMode::Always,
            &[payload.as_str(); 5],
        );
        let mut bytes = std::fs::read(dir.join("other.log")).unwrap();
        bytes[520..].fill(0);
        std::fs::write(dir.join("other.log"), &bytes).unwrap();
        let err = read_all(&dir.join("other.log")).unwrap_err();
        assert!(
            matches!(
                err.downcast_ref::<JournalError>(),
                Some(JournalError::Corrupt { offset: 464, .. })
            ),
            "{err:#}"
        );
    }

    #[test]
    fn damaged_length_in_the_middle_is_corruption_not_a_torn_tail() {
        let dir = temp_dir("bad-len");
        let path = dir.join("journal.log");
        write_records(&path, SyncMode::Always, &["first", "second", "third"]);
        let mut bytes = std::fs::read(&path).unwrap();
        // Record 1's length now points past the end of the file, like a torn write would.
        bytes[1] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_all(&path)
            .unwrap_err()
            .downcast::<JournalError>()
            .unwrap();
        assert!(
            matches!(err, JournalError::Corrupt { offset: 0, .. }),
            "{err}"
        );
        // Nothing was truncated.
        assert_eq!(std::fs::read(&path).unwrap().len(), bytes.len());
    }
}
