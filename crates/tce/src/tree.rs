//! Sparse storage for one TCE table: a radix tree of 4 KiB nodes allocated on demand.
//!
//! Entries live in *leaf chunks* of 512 `u64` (4 KiB, the size of one H_PUT_TCE_INDIRECT
//! list). Leaves hang off 512-way directory nodes; the number of directory levels depends on
//! the window size (1 level up to 2^18 entries, 5 levels for the largest possible window of
//! 2^52 entries). A leaf is allocated when a non-zero value is first written into its range
//! and freed as soon as its last non-zero entry is cleared; directories are pruned the same
//! way. The root directory is always present.
//!
//! Every leaf and non-root directory is charged to a [`Budget`] shared by all tables of a
//! registry, so a guest cannot make the host allocate more than the configured number of
//! chunks whatever windows it creates and fills.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// log2 of the number of slots in a node.
pub(crate) const NODE_BITS: u32 = 9;
/// Slots (TCEs or children) per node.
pub(crate) const NODE_SLOTS: usize = 1 << NODE_BITS;
const SLOT_MASK: u64 = (NODE_SLOTS as u64) - 1;

/// A shared allowance of 4 KiB table chunks (leaves plus non-root directories).
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Budget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` chunks out of the allowance; false (and nothing taken) if that would exceed
    /// the limit.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&v| v <= self.limit)
            })
            .is_ok()
    }

    /// Takes `n` chunks regardless of the limit (used when moving already-allocated chunks
    /// from one budget to another).
    fn force_reserve(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives `n` chunks back.
    pub(crate) fn release(&self, n: usize) {
        if n != 0 {
            // Never underflows: every release matches an earlier reservation.
            let _ = self
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                    Some(u.saturating_sub(n))
                });
        }
    }
}

/// The budget is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoSpace;

struct LeafNode {
    tces: [u64; NODE_SLOTS],
    used: u32,
}

struct DirNode {
    slots: [Option<Box<Node>>; NODE_SLOTS],
    used: u32,
}

enum Node {
    Dir(DirNode),
    Leaf(LeafNode),
}

impl DirNode {
    fn new() -> Self {
        DirNode {
            slots: [const { None }; NODE_SLOTS],
            used: 0,
        }
    }
}

/// Chunks reserved in advance for a batch write, consumed as nodes are created.
pub(crate) struct Reservation {
    left: usize,
}

/// A sparse array of `entries` TCEs, all initially zero.
pub(crate) struct SparseTable {
    entries: u64,
    /// Directory levels including the root (≥ 1). Level 1 directories hold leaves.
    levels: u32,
    root: Box<DirNode>,
    leaves: usize,
    dirs: usize,
    budget: Arc<Budget>,
}

impl std::fmt::Debug for SparseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseTable")
            .field("entries", &self.entries)
            .field("levels", &self.levels)
            .field("leaves", &self.leaves)
            .field("dirs", &self.dirs)
            .finish()
    }
}

/// Number of directory levels for a table of `entries` entries.
fn levels_for(entries: u64) -> u32 {
    let bits = 64 - entries.saturating_sub(1).leading_zeros();
    let above_leaf = bits.saturating_sub(NODE_BITS);
    above_leaf.div_ceil(NODE_BITS).max(1)
}

/// Nodes needed to build, from nothing, a subtree whose top node is at `level` (0 = leaf)
/// covering leaf indices `lo..=hi`.
fn fresh_subtree_nodes(level: u32, lo: u64, hi: u64) -> u64 {
    (0..=level)
        .map(|m| {
            let sh = m * NODE_BITS;
            (hi >> sh) - (lo >> sh) + 1
        })
        .sum()
}

impl SparseTable {
    /// An empty table; `entries` must be ≥ 1 and ≤ 2^54.
    pub(crate) fn new(entries: u64, budget: Arc<Budget>) -> Self {
        SparseTable {
            entries,
            levels: levels_for(entries),
            root: Box::new(DirNode::new()),
            leaves: 0,
            dirs: 0,
            budget,
        }
    }

    /// The budget's limit in chunks.
    pub(crate) fn budget_limit(&self) -> usize {
        self.budget.limit()
    }

    /// Allocated leaf chunks.
    pub(crate) fn leaf_chunks(&self) -> usize {
        self.leaves
    }

    /// Allocated non-root directory chunks.
    pub(crate) fn dir_chunks(&self) -> usize {
        self.dirs
    }

    /// Moves this table's charge to another budget (no limit check).
    pub(crate) fn rebudget(&mut self, budget: Arc<Budget>) {
        let n = self.leaves + self.dirs;
        self.budget.release(n);
        budget.force_reserve(n);
        self.budget = budget;
    }

    /// The entry at `idx` (0 for never-written or out-of-range entries).
    #[inline]
    pub(crate) fn get(&self, idx: u64) -> u64 {
        if idx >= self.entries {
            return 0;
        }
        let mut dir: &DirNode = &self.root;
        let mut level = self.levels;
        loop {
            let slot = ((idx >> (level * NODE_BITS)) & SLOT_MASK) as usize;
            match dir.slots[slot].as_deref() {
                None => return 0,
                Some(Node::Dir(d)) => dir = d,
                Some(Node::Leaf(l)) => return l.tces[(idx & SLOT_MASK) as usize],
            }
            level -= 1;
            if level == 0 {
                return 0;
            }
        }
    }

    /// How many chunks must be allocated so that every leaf covering entries
    /// `first..=last` exists.
    pub(crate) fn chunks_needed(&self, first: u64, last: u64) -> u64 {
        if first > last || last >= self.entries {
            return 0;
        }
        Self::needed_in(
            &self.root,
            self.levels,
            first >> NODE_BITS,
            last >> NODE_BITS,
        )
    }

    fn needed_in(dir: &DirNode, level: u32, lo: u64, hi: u64) -> u64 {
        // Children of a level-`level` directory are at level-1; each child covers a block of
        // 2^(9*(level-1)) leaf indices.
        let child_shift = (level - 1) * NODE_BITS;
        let mut count = 0u64;
        let mut cur = lo;
        while cur <= hi {
            let slot = ((cur >> child_shift) & SLOT_MASK) as usize;
            let block_end = (cur | ((1u64 << child_shift) - 1)).min(hi);
            count = count.saturating_add(match dir.slots[slot].as_deref() {
                None => fresh_subtree_nodes(level - 1, cur, block_end),
                Some(Node::Dir(d)) => Self::needed_in(d, level - 1, cur, block_end),
                Some(Node::Leaf(_)) => 0,
            });
            match block_end.checked_add(1) {
                Some(n) => cur = n,
                None => break,
            }
        }
        count
    }

    /// Reserves `n` chunks from the budget for a batch write.
    pub(crate) fn reserve(&self, n: u64) -> Result<Reservation, NoSpace> {
        let n = usize::try_from(n).map_err(|_| NoSpace)?;
        if self.budget.try_reserve(n) {
            Ok(Reservation { left: n })
        } else {
            Err(NoSpace)
        }
    }

    /// Returns what is left of a reservation to the budget.
    pub(crate) fn finish(&self, r: Reservation) {
        self.budget.release(r.left);
    }

    /// Chunks missing on the path to the leaf holding `idx`.
    fn missing_on_path(&self, idx: u64) -> usize {
        let mut dir: &DirNode = &self.root;
        let mut level = self.levels;
        loop {
            let slot = ((idx >> (level * NODE_BITS)) & SLOT_MASK) as usize;
            match dir.slots[slot].as_deref() {
                None => return level as usize,
                Some(Node::Dir(d)) => dir = d,
                Some(Node::Leaf(_)) => return 0,
            }
            level -= 1;
            if level == 0 {
                return 0;
            }
        }
    }

    /// The leaf holding entry `idx`, created (with its directories) if missing. The whole
    /// path is paid for before anything is allocated, so a failure leaves the tree unchanged.
    fn leaf_create(&mut self, idx: u64, r: &mut Reservation) -> Result<&mut LeafNode, NoSpace> {
        let missing = self.missing_on_path(idx);
        if missing > 0 {
            let from_r = missing.min(r.left);
            if !self.budget.try_reserve(missing - from_r) {
                return Err(NoSpace);
            }
            r.left -= from_r;
        }
        let leaves = &mut self.leaves;
        let dirs = &mut self.dirs;
        let mut dir: &mut DirNode = &mut self.root;
        let mut level = self.levels;
        loop {
            let slot = ((idx >> (level * NODE_BITS)) & SLOT_MASK) as usize;
            if dir.slots[slot].is_none() {
                let node = if level == 1 {
                    *leaves += 1;
                    Node::Leaf(LeafNode {
                        tces: [0; NODE_SLOTS],
                        used: 0,
                    })
                } else {
                    *dirs += 1;
                    Node::Dir(DirNode::new())
                };
                dir.slots[slot] = Some(Box::new(node));
                dir.used += 1;
            }
            match dir.slots[slot].as_deref_mut() {
                Some(Node::Dir(d)) => dir = d,
                Some(Node::Leaf(l)) => return Ok(l),
                None => return Err(NoSpace),
            }
            level -= 1;
            if level == 0 {
                return Err(NoSpace);
            }
        }
    }

    /// The leaf holding entry `idx`, if allocated.
    fn leaf_mut(&mut self, idx: u64) -> Option<&mut LeafNode> {
        let mut dir: &mut DirNode = &mut self.root;
        let mut level = self.levels;
        loop {
            let slot = ((idx >> (level * NODE_BITS)) & SLOT_MASK) as usize;
            match dir.slots[slot].as_deref_mut() {
                None => return None,
                Some(Node::Dir(d)) => dir = d,
                Some(Node::Leaf(l)) => return Some(l),
            }
            level -= 1;
            if level == 0 {
                return None;
            }
        }
    }

    /// Frees the (empty) leaf holding `idx` and every directory that becomes empty.
    fn remove_leaf(&mut self, idx: u64) {
        let mut freed_leaves = 0usize;
        let mut freed_dirs = 0usize;
        Self::remove_in(
            &mut self.root,
            self.levels,
            idx,
            &mut freed_leaves,
            &mut freed_dirs,
        );
        self.leaves -= freed_leaves;
        self.dirs -= freed_dirs;
        self.budget.release(freed_leaves + freed_dirs);
    }

    /// Returns true when `dir` became empty.
    fn remove_in(dir: &mut DirNode, level: u32, idx: u64, fl: &mut usize, fd: &mut usize) -> bool {
        let slot = ((idx >> (level * NODE_BITS)) & SLOT_MASK) as usize;
        let remove = match dir.slots[slot].as_deref_mut() {
            Some(Node::Leaf(l)) if l.used == 0 => {
                *fl += 1;
                true
            }
            Some(Node::Dir(d)) => {
                let emptied = Self::remove_in(d, level - 1, idx, fl, fd);
                *fd += usize::from(emptied);
                emptied
            }
            _ => false,
        };
        if remove {
            dir.slots[slot] = None;
            dir.used -= 1;
        }
        dir.used == 0
    }

    /// Writes `value(i)` into entries `start..start+n`, calling `on_change(idx, old, new)` for
    /// every entry whose value changes. Leaves are created only for segments that receive a
    /// non-zero value, and freed when they end up empty. Allocation draws on `r` first, then
    /// on the budget; on `NoSpace` the entries before the failing segment stay written.
    pub(crate) fn write_run(
        &mut self,
        start: u64,
        n: u64,
        mut value: impl FnMut(u64) -> u64,
        r: &mut Reservation,
        mut on_change: impl FnMut(u64, u64, u64),
    ) -> Result<(), NoSpace> {
        let end = start.saturating_add(n).min(self.entries);
        let mut idx = start;
        while idx < end {
            let seg_end = (idx | SLOT_MASK).saturating_add(1).min(end);
            let any_nonzero = (idx..seg_end).any(|i| value(i) != 0);
            let leaf = if any_nonzero {
                self.leaf_create(idx, r)?
            } else {
                match self.leaf_mut(idx) {
                    Some(l) => l,
                    None => {
                        idx = seg_end;
                        continue;
                    }
                }
            };
            for i in idx..seg_end {
                let new = value(i);
                let e = &mut leaf.tces[(i & SLOT_MASK) as usize];
                let old = *e;
                if old != new {
                    *e = new;
                    if old == 0 {
                        leaf.used += 1;
                    } else if new == 0 {
                        leaf.used -= 1;
                    }
                    on_change(i, old, new);
                }
            }
            if leaf.used == 0 {
                self.remove_leaf(idx);
            }
            idx = seg_end;
        }
        Ok(())
    }

    /// Calls `f(idx, tce)` for every non-zero entry in `first..=last`, in index order.
    pub(crate) fn for_each_nonzero(&self, first: u64, last: u64, mut f: impl FnMut(u64, u64)) {
        if first > last || first >= self.entries {
            return;
        }
        let last = last.min(self.entries - 1);
        Self::walk(&self.root, self.levels, 0, first, last, &mut f);
    }

    fn walk(
        dir: &DirNode,
        level: u32,
        base: u64,
        first: u64,
        last: u64,
        f: &mut impl FnMut(u64, u64),
    ) {
        // A child slot of a level-`level` directory spans 2^(9*level) entries.
        let span_shift = level * NODE_BITS;
        for (slot, child) in dir.slots.iter().enumerate() {
            let Some(child) = child.as_deref() else {
                continue;
            };
            let cbase = base | ((slot as u64) << span_shift);
            let cend = cbase | ((1u64 << span_shift) - 1);
            if cend < first || cbase > last {
                continue;
            }
            match child {
                Node::Dir(d) => Self::walk(d, level - 1, cbase, first, last, f),
                Node::Leaf(l) => {
                    for (i, &t) in l.tces.iter().enumerate() {
                        let idx = cbase | i as u64;
                        if t != 0 && idx >= first && idx <= last {
                            f(idx, t);
                        }
                    }
                }
            }
        }
    }

    /// Sets every entry in `first..=last` to zero, calling `on_change(idx, old)` for each entry
    /// that was non-zero, and frees the emptied chunks. Cost is proportional to the allocated
    /// chunks in the range, not to its size.
    pub(crate) fn clear_range(
        &mut self,
        first: u64,
        last: u64,
        mut on_change: impl FnMut(u64, u64),
    ) {
        if first > last || first >= self.entries {
            return;
        }
        let last = last.min(self.entries - 1);
        let mut fl = 0usize;
        let mut fd = 0usize;
        Self::clear_in(
            &mut self.root,
            self.levels,
            0,
            first,
            last,
            &mut on_change,
            &mut fl,
            &mut fd,
        );
        self.leaves -= fl;
        self.dirs -= fd;
        self.budget.release(fl + fd);
    }

    #[allow(clippy::too_many_arguments)]
    fn clear_in(
        dir: &mut DirNode,
        level: u32,
        base: u64,
        first: u64,
        last: u64,
        f: &mut impl FnMut(u64, u64),
        fl: &mut usize,
        fd: &mut usize,
    ) {
        let span_shift = level * NODE_BITS;
        for slot in 0..NODE_SLOTS {
            let cbase = base | ((slot as u64) << span_shift);
            let cend = cbase | ((1u64 << span_shift) - 1);
            if cend < first || cbase > last {
                continue;
            }
            let emptied = match dir.slots[slot].as_deref_mut() {
                None => false,
                Some(Node::Dir(d)) => {
                    Self::clear_in(d, level - 1, cbase, first, last, f, fl, fd);
                    if d.used == 0 {
                        *fd += 1;
                        true
                    } else {
                        false
                    }
                }
                Some(Node::Leaf(l)) => {
                    for (i, e) in l.tces.iter_mut().enumerate() {
                        let idx = cbase | i as u64;
                        if *e != 0 && idx >= first && idx <= last {
                            f(idx, *e);
                            *e = 0;
                            l.used -= 1;
                        }
                    }
                    if l.used == 0 {
                        *fl += 1;
                        true
                    } else {
                        false
                    }
                }
            };
            if emptied {
                dir.slots[slot] = None;
                dir.used -= 1;
            }
        }
    }
}

impl Drop for SparseTable {
    fn drop(&mut self) {
        self.budget.release(self.leaves + self.dirs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: u64, limit: usize) -> SparseTable {
        SparseTable::new(entries, Arc::new(Budget::new(limit)))
    }

    fn put(t: &mut SparseTable, idx: u64, v: u64) -> Result<(), NoSpace> {
        let mut r = Reservation { left: 0 };
        t.write_run(idx, 1, |_| v, &mut r, |_, _, _| {})
    }

    #[test]
    fn levels_cover_the_index_space() {
        assert_eq!(levels_for(1), 1);
        assert_eq!(levels_for(1 << 18), 1);
        assert_eq!(levels_for((1 << 18) + 1), 2);
        assert_eq!(levels_for(1 << 27), 2);
        assert_eq!(levels_for(1 << 36), 3);
        assert_eq!(levels_for(1 << 52), 5);
        for e in [1u64, 511, 512, 513, 1 << 20, (1 << 40) + 3, 1 << 52] {
            let l = levels_for(e);
            assert!(
                u64::from(l * NODE_BITS + NODE_BITS) >= u64::from(64 - (e - 1).leading_zeros())
            );
        }
    }

    #[test]
    fn get_set_free_in_a_huge_table() {
        let mut t = table(1 << 52, 100);
        assert_eq!(t.get(123), 0);
        put(&mut t, (1 << 52) - 1, 0x1003).unwrap();
        put(&mut t, 5, 0x2001).unwrap();
        assert_eq!(t.get((1 << 52) - 1), 0x1003);
        assert_eq!(t.get(5), 0x2001);
        assert_eq!(t.leaf_chunks(), 2);
        // 5 levels: each leaf path has 4 non-root directories, none shared.
        assert_eq!(t.dir_chunks(), 8);
        assert_eq!(t.budget.used(), 10);
        put(&mut t, 5, 0).unwrap();
        assert_eq!(t.leaf_chunks(), 1);
        assert_eq!(t.dir_chunks(), 4);
        put(&mut t, (1 << 52) - 1, 0).unwrap();
        assert_eq!(t.leaf_chunks() + t.dir_chunks(), 0);
        assert_eq!(t.budget.used(), 0);
    }

    #[test]
    fn zero_writes_never_allocate() {
        let mut t = table(1 << 30, 10);
        put(&mut t, 77, 0).unwrap();
        let mut r = Reservation { left: 0 };
        t.write_run(
            0,
            1 << 20,
            |_| 0,
            &mut r,
            |_, _, _| panic!("no change expected"),
        )
        .unwrap();
        assert_eq!(t.leaf_chunks() + t.dir_chunks(), 0);
    }

    #[test]
    fn budget_is_enforced() {
        let mut t = table(1 << 20, 3); // 2 levels: dir + leaf per 2^18 entries
        put(&mut t, 0, 1).unwrap();
        put(&mut t, 512, 1).unwrap(); // second leaf in the same dir
        assert_eq!(t.budget.used(), 3);
        assert_eq!(put(&mut t, 1024, 1), Err(NoSpace));
        assert_eq!(t.get(1024), 0);
        put(&mut t, 0, 0).unwrap();
        put(&mut t, 1024, 1).unwrap();
        assert_eq!(t.budget.used(), 3);
    }

    #[test]
    fn chunks_needed_matches_allocation() {
        for &(entries, first, last) in &[
            (1u64 << 52, 0u64, 1023u64),
            (1 << 52, (1 << 27) - 600, (1 << 27) + 600),
            (1 << 30, 100, 100),
            (1 << 30, 511, 512),
            (1 << 40, (1 << 36) - 1, 1 << 36),
        ] {
            let mut t = table(entries, 1 << 20);
            put(&mut t, first.saturating_sub(2000), 1).unwrap();
            let need = t.chunks_needed(first, last);
            let before = t.budget.used();
            let mut r = t.reserve(need).unwrap();
            t.write_run(first, last - first + 1, |_| 3, &mut r, |_, _, _| {})
                .unwrap();
            assert_eq!(
                r.left, 0,
                "reservation for {first}..={last} should be exact"
            );
            t.finish(r);
            assert_eq!(t.budget.used() - before, need as usize);
        }
    }

    #[test]
    fn clear_range_visits_only_allocated_chunks() {
        let mut t = table(1 << 50, 1000);
        for i in [3u64, 700, 1 << 40, (1 << 50) - 1] {
            put(&mut t, i, i << 12 | 1).unwrap();
        }
        let mut seen = vec![];
        t.clear_range(1, (1 << 50) - 2, |i, old| seen.push((i, old)));
        assert_eq!(
            seen,
            vec![
                (3, 3 << 12 | 1),
                (700, 700 << 12 | 1),
                (1 << 40, (1u64 << 52) | 1)
            ]
        );
        let mut left = vec![];
        t.for_each_nonzero(0, u64::MAX, |i, v| left.push((i, v)));
        assert_eq!(left, vec![((1 << 50) - 1, ((1u64 << 50) - 1) << 12 | 1)]);
        assert_eq!(t.leaf_chunks(), 1);
    }
}
