//! One proxied connection: two pumps (client → upstream, upstream → client), each applying the
//! toxics of its stream to every chunk it forwards. Toxics are re-read on every chunk and on
//! every change, so adding or removing one affects open connections too, as in toxiproxy.

use std::collections::HashMap;
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

/// Forwards `src` to `dst` through the toxics of `stream`.
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
    let mut sent: u64 = 0;
    loop {
        let current = Arc::clone(&toxics.borrow_and_update());
        let active = rolls.active(&current, stream);
        // Timers: timeout closes, reset_peer resets, at a fixed time after they applied.
        let mut deadline: Option<(Instant, End)> = None;
        let mut dropping = false;
        for (kind, since) in &active {
            let timer = match *kind {
                ToxicKind::Timeout { timeout } => {
                    dropping = true;
                    (timeout > 0).then(|| (*since + Duration::from_millis(timeout), End::Close))
                }
                ToxicKind::ResetPeer { timeout } => {
                    Some((*since + Duration::from_millis(timeout), End::Reset))
                }
                _ => None,
            };
            if let Some(t) = timer {
                if deadline.is_none_or(|d| t.0 < d.0) {
                    deadline = Some(t);
                }
            }
        }
        let sleep_until = deadline.map_or_else(Instant::now, |d| d.0);
        let read = tokio::select! {
            () = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                return deadline.map_or(End::Close, |d| d.1);
            }
            changed = toxics.changed() => {
                if changed.is_err() {
                    return End::Close;
                }
                continue;
            }
            read = src.read(&mut buffer) => read,
        };
        let n = match read {
            Ok(0) => {
                slow_close(&active).await;
                let _ = dst.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Close,
        };
        if dropping {
            continue;
        }
        let mut chunk = &buffer[..n];
        let mut close_after = false;
        for (kind, _) in &active {
            match *kind {
                ToxicKind::Latency { latency, jitter } => {
                    tokio::time::sleep(latency_of(latency, jitter)).await;
                }
                ToxicKind::LimitData { bytes } => {
                    let room = bytes.saturating_sub(sent);
                    if (chunk.len() as u64) >= room {
                        chunk = &chunk[..usize::try_from(room).unwrap_or(chunk.len())];
                        close_after = true;
                    }
                }
                _ => {}
            }
        }
        let rate = active.iter().find_map(|(kind, _)| match kind {
            ToxicKind::Bandwidth { rate } if *rate > 0 => Some(*rate),
            _ => None,
        });
        let written = match rate {
            Some(rate) => paced_write(dst, chunk, rate).await,
            None => dst.write_all(chunk).await,
        };
        if written.is_err() {
            return End::Close;
        }
        sent += chunk.len() as u64;
        if close_after {
            let _ = dst.flush().await;
            return End::Close;
        }
    }
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
