//! One side of the book: price levels, each a FIFO of orders in the [`OrderArena`], kept in a
//! price-sorted index whose *last* entry is the best price.
//!
//! Levels live in a slab with stable slots, so an order knows its level in O(1) (cancel never
//! searches). The sorted index is a `Vec<(key, slot)>` where `key` orders both sides the same
//! way (bids by price, asks by `u64::MAX - price`); the best level is `index.last()`, and new
//! levels, which mostly appear near the touch, are inserted with a short `memmove` near the end.
//!
//! A level that empties away from the touch stays in the index, empty, so that orders coming
//! back to that price (amends moving up and down a deep book) reuse it instead of paying a
//! `memmove` to delete and another to re-insert. Invariant: the *last* index entry is never
//! empty, so the best level is still `index.last()`. Empty levels are skipped by iteration and
//! swept out once they outnumber the live ones (amortised O(1)).

use std::collections::HashMap;

use crate::arena::{OrderArena, NIL};
use crate::hash::BuildIdHasher;
use crate::types::Side;

/// All orders resting at one price on one side.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// The level's price.
    pub price: u64,
    /// Sum of the open quantities of its orders.
    pub total: u64,
    /// Oldest order (first to match), or `NIL`.
    pub head: u32,
    /// Youngest order, or `NIL`.
    pub tail: u32,
    /// Number of orders.
    pub count: u32,
}

/// One side's levels.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    /// Bids or asks; decides the sort key.
    side: Side,
    /// Level slab; slots listed in `free` are unused.
    levels: Vec<Level>,
    /// Unused level slots.
    free: Vec<u32>,
    /// `(key, level slot)` sorted by key ascending: the best level is last.
    index: Vec<(u64, u32)>,
    /// Price to level slot for every level in `index` (empty ones too): finding an existing
    /// level (the common case when an order rests) is one hash probe, not a binary search.
    by_price: HashMap<u64, u32, BuildIdHasher>,
    /// Empty levels kept in `index`.
    empty: usize,
}

/// Empty levels tolerated before a sweep, beyond one per live level.
const EMPTY_SLACK: usize = 64;

impl Ladder {
    /// An empty side with room for `levels` price levels.
    pub fn new(side: Side, levels: usize) -> Self {
        Ladder {
            side,
            levels: Vec::with_capacity(levels),
            free: Vec::with_capacity(levels),
            index: Vec::with_capacity(levels),
            by_price: HashMap::with_capacity_and_hasher(levels, BuildIdHasher::default()),
            empty: 0,
        }
    }

    /// Sort key: larger is better for both sides.
    #[inline]
    fn key(&self, price: u64) -> u64 {
        match self.side {
            Side::Buy => price,
            Side::Sell => u64::MAX - price,
        }
    }

    /// Slot of the best level, if any.
    #[inline]
    pub fn best(&self) -> Option<u32> {
        self.index.last().map(|&(_, slot)| slot)
    }

    /// Slots of the non-empty levels from best to worst.
    pub fn iter_best_first(&self) -> impl Iterator<Item = u32> + '_ {
        self.index
            .iter()
            .rev()
            .map(|&(_, slot)| slot)
            .filter(|&slot| self.levels[slot as usize].count > 0)
    }

    /// Number of non-empty price levels.
    pub fn len(&self) -> usize {
        self.index.len() - self.empty
    }

    /// The level in `slot`.
    #[inline]
    pub fn level(&self, slot: u32) -> &Level {
        &self.levels[slot as usize]
    }

    /// The level in `slot`, mutably.
    #[inline]
    pub fn level_mut(&mut self, slot: u32) -> &mut Level {
        &mut self.levels[slot as usize]
    }

    /// Position of `price` in the index: `Ok(pos)` if the level exists, else `Err(insert_pos)`.
    #[inline]
    fn search(&self, price: u64) -> Result<usize, usize> {
        let key = self.key(price);
        // Most activity is at or near the touch, i.e. at the end of the index.
        if let Some(&(last, _)) = self.index.last() {
            if last == key {
                return Ok(self.index.len() - 1);
            }
            if last < key {
                return Err(self.index.len());
            }
        }
        self.index.binary_search_by(|&(k, _)| k.cmp(&key))
    }

    /// Slot of the level at `price`, if it exists (it may be empty).
    pub fn find(&self, price: u64) -> Option<u32> {
        self.by_price.get(&price).copied()
    }

    /// Slot of the level at `price`, creating an empty one if needed. The caller must put an
    /// order in it before anything else looks at the ladder (an empty best level would break
    /// the invariant).
    #[inline]
    pub fn find_or_create(&mut self, price: u64) -> u32 {
        if let Some(&slot) = self.by_price.get(&price) {
            if self.levels[slot as usize].count == 0 {
                self.empty -= 1;
            }
            return slot;
        }
        match self.search(price) {
            Ok(pos) => self.index[pos].1,
            Err(pos) => {
                let level = Level {
                    price,
                    total: 0,
                    head: NIL,
                    tail: NIL,
                    count: 0,
                };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.levels[slot as usize] = level;
                        slot
                    }
                    None => {
                        self.levels.push(level);
                        (self.levels.len() - 1) as u32
                    }
                };
                let key = self.key(price);
                self.index.insert(pos, (key, slot));
                self.by_price.insert(price, slot);
                slot
            }
        }
    }

    /// Called when the level in `slot` has just become empty. At the touch it is removed (with
    /// any empty levels behind it, so the best level stays last and non-empty); elsewhere it
    /// is kept for reuse until empty levels outnumber live ones.
    #[inline]
    pub fn level_emptied(&mut self, slot: u32) {
        if self.index.last().map(|&(_, s)| s) != Some(slot) {
            self.empty += 1;
            if self.empty > self.index.len() - self.empty + EMPTY_SLACK {
                self.sweep();
            }
            return;
        }
        while let Some(&(_, last)) = self.index.last() {
            let level = &self.levels[last as usize];
            if level.count > 0 {
                break;
            }
            if last != slot {
                self.empty -= 1;
            }
            self.by_price.remove(&level.price);
            self.index.pop();
            self.free.push(last);
        }
    }

    /// Drops every empty level from the index.
    #[cold]
    fn sweep(&mut self) {
        let Ladder {
            levels,
            free,
            index,
            by_price,
            ..
        } = self;
        index.retain(|&(_, slot)| {
            let level = &levels[slot as usize];
            if level.count > 0 {
                return true;
            }
            by_price.remove(&level.price);
            free.push(slot);
            false
        });
        self.empty = 0;
    }

    /// Appends the order in `order` (already in the arena) to the back of level `slot`.
    #[inline]
    pub fn push_back(&mut self, arena: &mut OrderArena, slot: u32, order: u32) {
        let level = &mut self.levels[slot as usize];
        let tail = level.tail;
        {
            let node = arena.get_mut(order);
            node.level = slot;
            node.prev = tail;
            node.next = NIL;
            level.total = level.total.wrapping_add(node.remaining);
        }
        if tail == NIL {
            level.head = order;
        } else {
            arena.get_mut(tail).next = order;
        }
        level.tail = order;
        level.count += 1;
    }

    /// Unlinks `order` from its level, subtracting its remaining quantity from the level total.
    /// Returns true if the level is now empty (the caller decides when to remove it).
    #[inline]
    pub fn unlink(&mut self, arena: &mut OrderArena, order: u32) -> bool {
        let (prev, next, slot, remaining) = {
            let node = arena.get(order);
            (node.prev, node.next, node.level, node.remaining)
        };
        if prev != NIL {
            arena.get_mut(prev).next = next;
        }
        if next != NIL {
            arena.get_mut(next).prev = prev;
        }
        let level = &mut self.levels[slot as usize];
        if prev == NIL {
            level.head = next;
        }
        if next == NIL {
            level.tail = prev;
        }
        level.total = level.total.wrapping_sub(remaining);
        level.count -= 1;
        level.count == 0
    }
}
