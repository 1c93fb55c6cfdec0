//! One proxied connection: two pumps (client → upstream, upstream → client), each applying the
//! toxics of its stream to every chunk it forwards. Toxics are re-read on every chunk and on
//! every change, so adding or removing one affects open connections too, as in toxiproxy.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::toxic::{Stream, Toxic, ToxicKind};

/// Read buffer per pump.
const CHUNK: usize = 32 * 1024;

/// How a pump (or the link) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The source closed; the destination was shut down for writing.
    Eof,
    /// Close the whole connection (error, timeout, limit_data, proxy disabled).
    Close,
    /// Reset the client connection (reset_peer).
    Reset,
}

/// The toxics one connection has rolled for (toxicity is decided once per connection).
struct Rolls {
    /// Toxic uid → (applies to this connection, when this connection first saw it).
    seen: HashMap<u64, (bool, Instant)>,
}

impl Rolls {
    /// The toxics of `stream` that apply to this connection, with when each first applied.
    fn active(&mut self, toxics: &[Toxic], stream: Stream) -> Vec<(ToxicKind, Instant)> {
        let mut rng = rand::rng();
        toxics
            .iter()
            .filter(|t| t.stream == stream)
            .filter_map(|t| {
                let (applies, since) = *self.seen.entry(t.uid).or_insert_with(|| {
                    let applies =
                        t.toxicity >= 1.0 || (t.toxicity > 0.0 && rng.random_bool(t.toxicity));
                    (applies, Instant::now())
                });
                applies.then_some((t.kind, since))
            })
            .collect()
    }
}

/// Serves one accepted client until either side closes, a toxic ends it, or `cancel` fires.
pub async fn run(
    client: TcpStream,
    upstream: String,
    toxics: watch::Receiver<Arc<Vec<Toxic>>>,
    cancel: CancellationToken,
) {
    let server = tokio::select! {
        () = cancel.cancelled() => return,
        connected = TcpStream::connect(&upstream) => match connected {
            Ok(server) => server,
            Err(err) => {
                tracing::debug!(%upstream, %err, "upstream unreachable; closing client");
                return;
            }
        },
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let end = {
        let up = pump(
            &mut client_read,
            &mut server_write,
            Stream::Upstream,
            toxics.clone(),
        );
        let down = pump(
            &mut server_read,
            &mut client_write,
            Stream::Downstream,
            toxics,
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                () = cancel.cancelled() => End::Close,
                end = &mut up, if !up_done => { up_done = true; end }
                end = &mut down, if !down_done => { down_done = true; end }
            };
            if end != End::Eof || (up_done && down_done) {
                break end;
            }
        }
    };
    if end == End::Reset {
        // SO_LINGER 0 makes close() send RST; `forget` skips the FIN a dropped write half sends.
        let _ = client_read.as_ref().set_zero_linger();
        client_write.forget();
    }
}

/// Chunks read but not yet written (latency); reading pauses beyond this, so a slow stream
/// pushes back on its sender instead of buffering without bound.
const MAX_QUEUED: usize = 64;

/// A chunk waiting for its time.
struct Pending {
    /// When it may be written: arrival + latency, never before the previous chunk's.
    due: Instant,
    data: Vec<u8>,
}

/// Forwards `src` to `dst` through the toxics of `stream`.
///
/// Reading and writing are decoupled by a queue, as in toxiproxy's pipeline of goroutines:
/// each chunk is stamped when it arrives and written at arrival + latency, so a latency toxic
/// delays every chunk by its latency (not by its latency after the previous chunk), and does not
/// cap throughput.
async fn pump<R, W>(
    src: &mut R,
    dst: &mut W,
    stream: Stream,
    mut toxics: watch::Receiver<Arc<Vec<Toxic>>>,
) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut rolls = Rolls {
        seen: HashMap::new(),
    };
    let mut buffer = vec![0u8; CHUNK];
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut last_due = Instant::now();
    let mut sent: u64 = 0;
    let mut eof = false;
    // When the first chunk met a reset_peer toxic: the reset is due `timeout` ms after it.
    let mut reset_at: Option<Instant> = None;
    loop {
        let current = Arc::clone(&toxics.borrow_and_update());
        let active = rolls.active(&current, stream);
        // timeout drops data and closes `timeout` ms after it applied; reset_peer drops data and
        // resets `timeout` ms after data first arrives (toxiproxy: an idle connection is spared).
        let mut deadline: Option<(Instant, End)> = None;
        let mut dropping = false;
        let mut reset_after: Option<u64> = None;
        for (kind, since) in &active {
            match *kind {
                ToxicKind::Timeout { timeout } => {
                    dropping = true;
                    if timeout > 0 {
                        let t = *since + Duration::from_millis(timeout);
                        if deadline.is_none_or(|d| t < d.0) {
                            deadline = Some((t, End::Close));
                        }
                    }
                }
                ToxicKind::ResetPeer { timeout } => {
                    reset_after = Some(reset_after.map_or(timeout, |r| r.min(timeout)));
                }
                _ => {}
            }
        }
        if reset_after.is_none() {
            // Removed before it fired: no reset, as toxiproxy's interrupted toxic.
            reset_at = None;
        }
        if let Some(t) = reset_at {
            if deadline.is_none_or(|d| t < d.0) {
                deadline = Some((t, End::Reset));
            }
        }
        if eof && queue.is_empty() {
            slow_close(&active).await;
            let _ = dst.shutdown().await;
            return End::Eof;
        }
        let next_due = queue.front().map(|p| p.due);
        tokio::select! {
            () = tokio::time::sleep_until(deadline.map_or_else(Instant::now, |d| d.0)),
                if deadline.is_some() => {
                return deadline.map_or(End::Close, |d| d.1);
            }
            changed = toxics.changed() => {
                if changed.is_err() {
                    return End::Close;
                }
            }
            () = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)),
                if next_due.is_some() => {
                let Some(chunk) = queue.pop_front() else { continue };
                match deliver(dst, &chunk.data, &active, &mut sent).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = dst.flush().await;
                        return End::Close;
                    }
                    Err(_) => return End::Close,
                }
            }
            read = src.read(&mut buffer), if !eof && queue.len() < MAX_QUEUED => {
                let now = Instant::now();
                match read {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        if let Some(ms) = reset_after {
                            reset_at.get_or_insert(now + Duration::from_millis(ms));
                        } else if !dropping {
                            let delay = active
                                .iter()
                                .map(|(kind, _)| match *kind {
                                    ToxicKind::Latency { latency, jitter } => {
                                        latency_of(latency, jitter)
                                    }
                                    _ => Duration::ZERO,
                                })
                                .sum::<Duration>();
                            let due = (now + delay).max(last_due);
                            last_due = due;
                            queue.push_back(Pending {
                                due,
                                data: buffer[..n].to_vec(),
                            });
                        }
                    }
                    Err(_) => return End::Close,
                }
            }
        }
    }
}

/// Writes one chunk through limit_data, slicer and bandwidth; `Ok(false)` when limit_data's
/// budget is spent and the connection must close.
async fn deliver<W: AsyncWrite + Unpin>(
    dst: &mut W,
    data: &[u8],
    active: &[(ToxicKind, Instant)],
    sent: &mut u64,
) -> std::io::Result<bool> {
    let mut chunk = data;
    let mut keep_open = true;
    let mut rate = None;
    let mut slicer = None;
    for (kind, _) in active {
        match *kind {
            ToxicKind::LimitData { bytes } => {
                let room = bytes.saturating_sub(*sent);
                if (chunk.len() as u64) >= room {
                    chunk = &chunk[..usize::try_from(room).unwrap_or(chunk.len())];
                    keep_open = false;
                }
            }
            ToxicKind::Bandwidth { rate: r } if r > 0 => rate = Some(r),
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } if average_size > 0 => slicer = Some((average_size, size_variation, delay)),
            _ => {}
        }
    }
    let pieces = match slicer {
        Some((average, variation, _)) => slice_sizes(chunk.len(), average, variation),
        None => vec![chunk.len()],
    };
    let mut rest = chunk;
    for size in pieces {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        match rate {
            Some(rate) => paced_write(dst, piece, rate).await?,
            None => dst.write_all(piece).await?,
        }
        if let Some((_, _, delay_us)) = slicer {
            dst.flush().await?;
            tokio::time::sleep(Duration::from_micros(delay_us)).await;
        }
    }
    *sent += chunk.len() as u64;
    Ok(keep_open)
}

/// Piece sizes for the slicer, as toxiproxy cuts: halve (± `variation`) until a piece is within
/// `variation` of `average`. Every piece is at least one byte; the sizes add up to `len`.
fn slice_sizes(len: usize, average: u64, variation: u64) -> Vec<usize> {
    let average = usize::try_from(average).unwrap_or(usize::MAX).max(1);
    let variation = usize::try_from(variation).unwrap_or(usize::MAX);
    let mut rng = rand::rng();
    let mut out = Vec::new();
    // Depth-first, left piece first, so the pieces come out in order.
    let mut todo = vec![len];
    while let Some(size) = todo.pop() {
        if size.saturating_sub(average) <= variation || size < 2 {
            if size > 0 {
                out.push(size);
            }
            continue;
        }
        let mut left = size / 2;
        if variation > 0 {
            let shift = rng.random_range(0..variation.saturating_mul(2));
            left = (left + shift).saturating_sub(variation);
        }
        let left = left.clamp(1, size - 1);
        todo.push(size - left);
        todo.push(left);
    }
    out
}

/// A delay of `latency` ± `jitter` ms, uniformly.
fn latency_of(latency: u64, jitter: u64) -> Duration {
    let ms = if jitter == 0 {
        latency
    } else {
        rand::rng().random_range(latency.saturating_sub(jitter)..=latency.saturating_add(jitter))
    };
    Duration::from_millis(ms)
}

/// Writes `chunk` at `rate` KB/s: slices of a tenth of a second's budget, each followed by the
/// time it is worth.
async fn paced_write<W: AsyncWrite + Unpin>(
    dst: &mut W,
    chunk: &[u8],
    rate_kb: u64,
) -> std::io::Result<()> {
    let bytes_per_sec = rate_kb.saturating_mul(1000) as f64;
    let slice = usize::try_from((rate_kb.saturating_mul(100)).max(1)).unwrap_or(usize::MAX);
    for piece in chunk.chunks(slice) {
        dst.write_all(piece).await?;
        tokio::time::sleep(Duration::from_secs_f64(piece.len() as f64 / bytes_per_sec)).await;
    }
    Ok(())
}

/// Waits out any slow_close toxic before the close is passed on.
async fn slow_close(active: &[(ToxicKind, Instant)]) {
    let delay = active
        .iter()
        .filter_map(|(kind, _)| match kind {
            ToxicKind::SlowClose { delay } => Some(*delay),
            _ => None,
        })
        .max();
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
