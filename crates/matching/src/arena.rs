//! The order arena: every resting order lives in one slot of a `Vec`, linked into its price
//! level's FIFO by `u32` slot indices, with freed slots kept on an intrusive free list.
//!
//! Slots are reused, so once the arena has grown to the book's high-water mark, resting an
//! order allocates nothing.

use crate::types::Side;

/// "No slot": the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

/// One resting order. Aligned to a cache line so touching an order (matching, or linking
/// behind the tail) costs one line, never two.
#[derive(Debug, Clone)]
#[repr(align(64))]
pub(crate) struct OrderNode {
    /// Caller-assigned order id.
    pub id: u64,
    /// Owner, for self-trade prevention and cancel/amend authorisation.
    pub account: u64,
    /// Limit price in price units.
    pub price: u64,
    /// Open quantity still resting.
    pub remaining: u64,
    /// Quantity the order was entered with (adjusted by amends, so `original - remaining` is
    /// always what has filled).
    pub original: u64,
    /// Previous order at the same level (towards the head, older), or `NIL`.
    pub prev: u32,
    /// Next order at the same level (younger), or `NIL`; also links the free list.
    pub next: u32,
    /// Slot of the level in its side's ladder.
    pub level: u32,
    /// Which ladder the order rests in.
    pub side: Side,
    /// Kept so an amend to a crossing price can be refused like a post-only submit.
    pub post_only: bool,
}

/// Slab of order nodes with a free list.
#[derive(Debug, Default, Clone)]
pub(crate) struct OrderArena {
    /// All slots, live or free.
    nodes: Vec<OrderNode>,
    /// First free slot, chained through `next`.
    free_head: u32,
    /// Number of live orders.
    live: usize,
}

impl OrderArena {
    /// An arena with room for `capacity` orders before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        OrderArena {
            nodes: Vec::with_capacity(capacity),
            free_head: NIL,
            live: 0,
        }
    }

    /// Stores `node` and returns its slot.
    #[inline]
    pub fn insert(&mut self, node: OrderNode) -> u32 {
        self.live += 1;
        if self.free_head != NIL {
            let slot = self.free_head;
            let cell = &mut self.nodes[slot as usize];
            self.free_head = cell.next;
            *cell = node;
            slot
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    /// Returns `slot` to the free list. The caller has already unlinked it from its level.
    #[inline]
    pub fn free(&mut self, slot: u32) {
        self.live -= 1;
        let cell = &mut self.nodes[slot as usize];
        cell.next = self.free_head;
        cell.prev = NIL;
        self.free_head = slot;
    }

    /// Number of live orders.
    pub fn len(&self) -> usize {
        self.live
    }

    /// The node in `slot` (which must be live).
    #[inline]
    pub fn get(&self, slot: u32) -> &OrderNode {
        &self.nodes[slot as usize]
    }

    /// The node in `slot`, mutably.
    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> &mut OrderNode {
        &mut self.nodes[slot as usize]
    }
}
