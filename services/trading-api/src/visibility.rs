//! Nothing is visible before it is durable.
//!
//! A command is applied under its book lock right after its journal append. In `batch` and
//! `write` modes its record becomes durable (synced, or written to the OS) a little later, when
//! the journal's writer thread has handled its group. Until then the command may still be lost
//! to a crash, so nobody may see its effects: not the
//! client that sent it (the answer waits, `Venue::run_live`), not market-data subscribers, not
//! REST readers. Before this module, WebSocket clients received trades that a SIGKILL then
//! erased (11 of 8,854 in one test), and on a full disk an order answered 503 still moved
//! balances on the feed.
//!
//! Market data therefore goes through a [`HeldFeed`] per symbol: messages are queued with the
//! journal sequence number of the command that produced them and released to the broadcast, in
//! order, once the journal's durable watermark reaches that number ([`HeldFeed::release`],
//! called after every command and whenever the watermark moves). A subscription's snapshot is
//! queued the same way, for its one client ([`HeldFeed::hold_for`]): it shows the live book,
//! which may include commands not yet durable, so it waits for them, and because it sits in the
//! queue it reaches the client before any update that follows it. If the journal fails, the
//! watermark stops and nothing past it is ever shown; the process must restart, and the
//! restarted state matches what was shown.
//!
//! REST reads use a barrier instead (`Venue::wait_visible`): read, then wait until everything
//! applied so far is durable, then answer.

use std::collections::VecDeque;
use std::sync::Arc;

use contention::Mutex;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::feed::MarketMessage;

/// A message waiting for its command's record to become durable.
enum Held {
    /// For every subscriber of the symbol.
    Everyone {
        seq: u64,
        message: Arc<MarketMessage>,
    },
    /// For one client: a subscription's snapshot, in its place in the stream.
    One {
        seq: u64,
        message: Arc<MarketMessage>,
        to: mpsc::Sender<Arc<MarketMessage>>,
        /// Cancelled when the client's queue is full (it is too slow to keep).
        on_full: CancellationToken,
    },
}

impl Held {
    fn seq(&self) -> u64 {
        match self {
            Held::Everyone { seq, .. } | Held::One { seq, .. } => *seq,
        }
    }
}

/// One symbol's market data: a queue of held messages in front of the broadcast subscribers
/// read from.
pub struct HeldFeed {
    feed: broadcast::Sender<Arc<MarketMessage>>,
    held: Mutex<VecDeque<Held>>,
}

impl HeldFeed {
    /// A feed whose broadcast keeps `capacity` messages (how far a subscriber may lag).
    pub fn new(capacity: usize) -> Self {
        Self {
            feed: broadcast::channel(capacity.max(1)).0,
            held: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether anyone listens (messages are not even built otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.feed.receiver_count() > 0
    }

    /// A new subscriber, receiving what is released from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<MarketMessage>> {
        self.feed.subscribe()
    }

    /// Queues `message`, produced by the command journaled as `seq`, for every subscriber.
    pub fn hold(&self, seq: u64, message: Arc<MarketMessage>) {
        self.held.lock().push_back(Held::Everyone { seq, message });
    }

    /// Queues `message` for one client, to be sent once everything up to `seq` is durable and
    /// before anything queued after it.
    pub fn hold_for(
        &self,
        seq: u64,
        message: Arc<MarketMessage>,
        to: mpsc::Sender<Arc<MarketMessage>>,
        on_full: CancellationToken,
    ) {
        self.held.lock().push_back(Held::One {
            seq,
            message,
            to,
            on_full,
        });
    }

    /// Sends, in order, every held message whose command is durable (`seq <= durable`).
    pub fn release(&self, durable: u64) {
        let mut held = self.held.lock();
        while held.front().is_some_and(|h| h.seq() <= durable) {
            match held.pop_front() {
                Some(Held::Everyone { message, .. }) => {
                    // No receiver is not an error: nobody is subscribed right now.
                    let _ = self.feed.send(message);
                }
                Some(Held::One {
                    message,
                    to,
                    on_full,
                    ..
                }) => {
                    if let Err(mpsc::error::TrySendError::Full(_)) = to.try_send(message) {
                        on_full.cancel();
                    }
                }
                None => break,
            }
        }
    }

    /// Messages waiting (for tests and metrics).
    pub fn held_len(&self) -> usize {
        self.held.lock().len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::feed::Channel;

    fn msg(text: &str) -> Arc<MarketMessage> {
        Arc::new(MarketMessage {
            channel: Channel::Trades,
            book_seq: 0,
            text: text.to_owned().into(),
        })
    }

    #[test]
    fn messages_wait_for_their_record_and_leave_in_order() {
        let feed = HeldFeed::new(16);
        let mut rx = feed.subscribe();
        feed.hold(5, msg("a"));
        feed.hold(6, msg("b"));
        feed.hold(9, msg("c"));
        feed.release(4);
        assert!(rx.try_recv().is_err(), "nothing is durable yet");
        feed.release(6);
        assert_eq!(rx.try_recv().unwrap().text.as_str(), "a");
        assert_eq!(rx.try_recv().unwrap().text.as_str(), "b");
        assert!(rx.try_recv().is_err(), "c (seq 9) is not durable");
        assert_eq!(feed.held_len(), 1);
        feed.release(9);
        assert_eq!(rx.try_recv().unwrap().text.as_str(), "c");
    }

    #[test]
    fn a_snapshot_for_one_client_keeps_its_place_and_a_full_client_is_cancelled() {
        let feed = HeldFeed::new(16);
        let mut everyone = feed.subscribe();
        let (tx, mut client) = mpsc::channel(1);
        let slow = CancellationToken::new();
        feed.hold(3, msg("before"));
        feed.hold_for(4, msg("snapshot"), tx.clone(), slow.clone());
        feed.hold(5, msg("after"));
        feed.release(4);
        assert_eq!(everyone.try_recv().unwrap().text.as_str(), "before");
        assert_eq!(client.try_recv().unwrap().text.as_str(), "snapshot");
        assert!(
            everyone.try_recv().is_err(),
            "the update after the snapshot waits"
        );
        feed.release(5);
        assert_eq!(everyone.try_recv().unwrap().text.as_str(), "after");

        // The client's queue (capacity 1) is full: it is cancelled, not blocked on.
        tx.try_send(msg("filler")).unwrap();
        feed.hold_for(6, msg("snapshot 2"), tx, slow.clone());
        feed.release(6);
        assert!(slow.is_cancelled());
    }
}
