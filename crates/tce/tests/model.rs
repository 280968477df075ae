//! Property tests: random sequences of TCE hcalls and DMA translations against a reference
//! model (a `HashMap<index, tce>` plus the §3 validation rules), checking hcall results, table
//! contents, memory use (allocated chunks = what the mapped entries need), the listener
//! mirror, `translate()`, the `vm_memory::Iommu` view and save/restore.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{Mirror, ram, write_list};
use hvapi::hcall::*;
use proptest::prelude::*;
use tce::*;
use vm_memory::{GuestAddress, Iommu, Permissions};

const RAM: u64 = 16 << 20;
const LIOBN: u32 = 0x8000_0001;

#[derive(Debug, Clone, Copy)]
struct Cfg {
    bus: u64,
    shift: u32,
    entries: u64,
    /// Index ranges random operations aim at (to make them collide).
    hot: &'static [(u64, u64)],
}

const SMALL: Cfg = Cfg {
    bus: 0x1000_0000,
    shift: 12,
    entries: 4096,
    hot: &[(0, 16), (0, 64), (0, 4096)],
};
const SPARSE: Cfg = Cfg {
    bus: 1 << 59,
    shift: 16,
    entries: 1 << 24,
    hot: &[
        (0, 16),
        (0, 1500),
        ((1 << 20) - 700, (1 << 20) + 700),
        ((1 << 24) - 1000, 1 << 24),
    ],
};

#[derive(Debug, Clone)]
enum Op {
    Put {
        ioba: u64,
        tce: u64,
    },
    Stuff {
        ioba: u64,
        tce: u64,
        n: u64,
    },
    Indirect {
        ioba: u64,
        list: u64,
        tces: Vec<u64>,
        n: u64,
    },
    Get {
        ioba: u64,
    },
    Translate {
        ioba: u64,
        len: u64,
        access: Access,
    },
}

fn index(c: Cfg) -> impl Strategy<Value = u64> {
    let ranges: Vec<_> = c.hot.iter().map(|&(a, b)| (a..b).boxed()).collect();
    proptest::strategy::Union::new(ranges)
}

fn ioba(c: Cfg) -> impl Strategy<Value = u64> {
    let page = 1u64 << c.shift;
    prop_oneof![
        12 => index(c).prop_map(move |i| c.bus + i * page),
        1 => any::<u64>(),
        1 => (index(c), 1..page).prop_map(move |(i, o)| c.bus + i * page + o),
        1 => Just(c.bus.wrapping_sub(page)),
        1 => Just(c.bus + c.entries * page),
    ]
}

fn tce(c: Cfg) -> impl Strategy<Value = u64> {
    let page = 1u64 << c.shift;
    let pages = RAM / page;
    prop_oneof![
        8 => (0..pages, 0..4u64).prop_map(move |(p, perm)| (p * page) | perm),
        3 => Just(0u64),
        1 => any::<u64>(),
        1 => (pages..pages * 4, 1..4u64).prop_map(move |(p, perm)| (p * page) | perm),
        1 => (0..pages, 1..page / 4, 1..4u64).prop_map(move |(p, junk, perm)| (p * page) | (junk << 2) | perm),
    ]
}

fn op(c: Cfg) -> impl Strategy<Value = Op> {
    let access = prop_oneof![
        Just(Access::Read),
        Just(Access::Write),
        Just(Access::ReadWrite)
    ];
    let page = 1u64 << c.shift;
    prop_oneof![
        4 => (ioba(c), tce(c)).prop_map(|(ioba, tce)| Op::Put { ioba, tce }),
        2 => (ioba(c), tce(c), prop_oneof![6 => 0..20u64, 2 => 0..1100u64, 1 => any::<u64>()])
            .prop_map(|(ioba, tce, n)| Op::Stuff { ioba, tce, n }),
        3 => (
            ioba(c),
            prop_oneof![8 => (0..RAM / 4096).prop_map(|p| p * 4096), 1 => any::<u64>(), 1 => (0..RAM).prop_map(|a| a | 8)],
            prop::collection::vec(tce(c), 0..=512),
            prop_oneof![10 => Just(None), 1 => (513..600u64).prop_map(Some)],
        )
            .prop_map(|(ioba, list, tces, big)| {
                let n = big.unwrap_or(tces.len() as u64);
                Op::Indirect { ioba, list, tces, n }
            }),
        1 => ioba(c).prop_map(|ioba| Op::Get { ioba }),
        3 => (ioba(c), 0..page / 2, 0..3 * page, access)
            .prop_map(|(ioba, off, len, access)| Op::Translate { ioba: ioba.wrapping_add(off), len, access }),
    ]
}

/// The reference model.
struct Model {
    c: Cfg,
    tces: HashMap<u64, u64>,
}

impl Model {
    fn page(&self) -> u64 {
        1 << self.c.shift
    }

    fn index_of(&self, ioba: u64, n: u64) -> Option<u64> {
        if !ioba.is_multiple_of(self.page()) || ioba < self.c.bus {
            return None;
        }
        let idx = (ioba - self.c.bus) / self.page();
        (idx.checked_add(n)? <= self.c.entries).then_some(idx)
    }

    fn valid(&self, tce: u64) -> bool {
        tce & 3 == 0 || (tce & (self.page() - 1) & !3 == 0 && (tce & !(self.page() - 1)) < RAM)
    }

    fn store(&mut self, idx: u64, tce: u64) {
        if tce == 0 {
            self.tces.remove(&idx);
        } else {
            self.tces.insert(idx, tce);
        }
    }

    fn get(&self, idx: u64) -> u64 {
        self.tces.get(&idx).copied().unwrap_or(0)
    }

    /// Expected translation: pieces with contiguous pages merged, or `None` for a fault.
    fn translate(&self, ioba: u64, len: u64, access: Access) -> Option<Vec<(u64, u64, u64)>> {
        let end = ioba.checked_add(len)?;
        if len == 0 {
            return Some(vec![]);
        }
        let win_end = self.c.bus + self.c.entries * self.page();
        if ioba < self.c.bus || end > win_end {
            return None;
        }
        let mut out: Vec<(u64, u64, u64)> = vec![];
        let mut cur = ioba;
        while cur < end {
            let idx = (cur - self.c.bus) / self.page();
            let tce = self.get(idx);
            if tce & access.bits() != access.bits() {
                return None;
            }
            let off = cur % self.page();
            let gpa = (tce & !(self.page() - 1)) + off;
            let n = (self.page() - off).min(end - cur);
            match out.last_mut() {
                Some(last) if last.1 + last.2 == gpa => last.2 += n,
                _ => out.push((cur, gpa, n)),
            }
            cur += n;
        }
        Some(out)
    }

    fn mirror(&self) -> BTreeMap<u64, (u64, Perm)> {
        self.tces
            .iter()
            .filter_map(|(&i, &t)| {
                Perm::from_tce(t)
                    .map(|p| (self.c.bus + i * self.page(), (t & !(self.page() - 1), p)))
            })
            .collect()
    }
}

fn merged(v: impl IntoIterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = vec![];
    for (b, l) in v {
        if l == 0 {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.0 + last.1 == b => last.1 += l,
            _ => out.push((b, l)),
        }
    }
    out
}

fn hcall(r: &TceRegistry, mem: &hvapi::GuestMemory, op: u64, a: &[u64]) -> HcallResult {
    let mut args = [0u64; 9];
    args[..a.len()].copy_from_slice(a);
    r.hcall(op, &args, mem).expect("TCE opcode")
}

fn run(c: Cfg, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mem = ram(RAM as usize);
    let r = TceRegistry::default();
    r.create_table(LIOBN, DmaWindow::new(c.bus, c.shift, c.entries).unwrap())
        .unwrap();
    let table = r.table(LIOBN).unwrap();
    let iommu = r.iommu(LIOBN).unwrap();
    let mirror = Mirror::new(1 << c.shift);
    r.link(LIOBN, mirror.clone()).unwrap();
    let mut m = Model {
        c,
        tces: HashMap::new(),
    };
    let l: u64 = LIOBN.into();

    for op in ops {
        match op {
            Op::Put { ioba, tce } => {
                let want = match m.index_of(ioba, 1) {
                    Some(i) if m.valid(tce) => {
                        m.store(i, tce);
                        H_SUCCESS
                    }
                    _ => H_PARAMETER,
                };
                prop_assert_eq!(hcall(&r, &mem, H_PUT_TCE, &[l, ioba, tce]).ret, want);
            }
            Op::Stuff { ioba, tce, n } => {
                let want = match m.index_of(ioba, n) {
                    Some(i) if m.valid(tce) => {
                        for k in 0..n {
                            m.store(i + k, tce);
                        }
                        H_SUCCESS
                    }
                    _ => H_PARAMETER,
                };
                prop_assert_eq!(hcall(&r, &mem, H_STUFF_TCE, &[l, ioba, tce, n]).ret, want);
            }
            Op::Indirect {
                ioba,
                list,
                tces,
                n,
            } => {
                let list_ok = n <= 512 && list % 4096 == 0 && list < RAM;
                if list % 4096 == 0 && list < RAM {
                    write_list(&mem, list, &tces);
                }
                let want = match m.index_of(ioba, n) {
                    Some(i) if list_ok && tces.iter().all(|&t| m.valid(t)) => {
                        for (k, &t) in tces.iter().enumerate() {
                            m.store(i + k as u64, t);
                        }
                        H_SUCCESS
                    }
                    _ => H_PARAMETER,
                };
                prop_assert_eq!(
                    hcall(&r, &mem, H_PUT_TCE_INDIRECT, &[l, ioba, list, n]).ret,
                    want
                );
            }
            Op::Get { ioba } => {
                let res = hcall(&r, &mem, H_GET_TCE, &[l, ioba]);
                match m.index_of(ioba, 1) {
                    Some(i) => {
                        prop_assert_eq!(res.ret, H_SUCCESS);
                        prop_assert_eq!(res.out[0], m.get(i));
                    }
                    None => prop_assert_eq!(res.ret, H_PARAMETER),
                }
            }
            Op::Translate { ioba, len, access } => {
                let want = m.translate(ioba, len, access);
                let got = r
                    .translate(LIOBN, ioba, len, access)
                    .ok()
                    .map(|t| t.map(|p| (p.ioba, p.gpa, p.len)).collect::<Vec<_>>());
                prop_assert_eq!(&got, &want, "translate {:#x}+{:#x} {:?}", ioba, len, access);
                // Never an address outside what was mapped with the right permission.
                for &(pi, pg, pl) in got.iter().flatten() {
                    let idx = (pi - c.bus) >> c.shift;
                    let t = m.get(idx);
                    prop_assert!(t & access.bits() == access.bits());
                    prop_assert_eq!(pg & !((1 << c.shift) - 1), t & !((1 << c.shift) - 1));
                    prop_assert!(pl > 0);
                }
                // The same answer through the rust-vmm IOMMU (and its IOTLB cache).
                let perm = match access {
                    Access::Read => Permissions::Read,
                    Access::Write => Permissions::Write,
                    Access::ReadWrite => Permissions::ReadWrite,
                };
                let via_iommu = iommu
                    .translate(GuestAddress(ioba), len as usize, perm)
                    .ok()
                    .map(|it| merged(it.map(|mr| (mr.base.0, mr.length as u64))));
                let want_merged = want.map(|v| merged(v.into_iter().map(|(_, g, n)| (g, n))));
                prop_assert_eq!(
                    via_iommu,
                    want_merged,
                    "IOMMU {:#x}+{:#x} {:?}",
                    ioba,
                    len,
                    access
                );
            }
        }
        // Contents: every model entry is there, and nothing else is.
        for (&i, &t) in &m.tces {
            prop_assert_eq!(table.tce_at(c.bus + (i << c.shift)), Some(t));
        }
        prop_assert_eq!(table.mapped_entries(), m.tces.len() as u64);
        // Memory: exactly the chunks the mapped entries need.
        let leaves: BTreeSet<u64> = m.tces.keys().map(|i| i >> 9).collect();
        prop_assert_eq!(table.leaf_chunks(), leaves.len());
        let dirs: BTreeSet<u64> = if c.entries > 1 << 18 {
            m.tces.keys().map(|i| i >> 18).collect()
        } else {
            BTreeSet::new()
        };
        prop_assert_eq!(table.dir_chunks(), dirs.len());
        prop_assert_eq!(r.chunks_used(), leaves.len() + dirs.len());
        // The listener mirrors exactly the mapped entries.
        let want_mirror = m.mirror();
        let got_mirror = mirror.snapshot();
        prop_assert_eq!(&got_mirror, &want_mirror);
    }
    prop_assert!(
        mirror.violations.lock().is_empty(),
        "{:?}",
        mirror.violations.lock()
    );

    // Save, serialize, restore into a fresh registry: same contents.
    let state = r.save();
    let bytes = postcard::to_allocvec(&state).unwrap();
    let back: TceState = postcard::from_bytes(&bytes).unwrap();
    prop_assert_eq!(&back, &state);
    let r2 = TceRegistry::default();
    r2.restore(&back).unwrap();
    prop_assert_eq!(r2.save(), state);
    let t2 = r2.table(LIOBN).unwrap();
    for (&i, &t) in &m.tces {
        prop_assert_eq!(t2.tce_at(c.bus + (i << c.shift)), Some(t));
    }
    prop_assert_eq!(r2.chunks_used(), r.chunks_used());
    // Unlinking leaves an empty mirror.
    drop(r);
    Ok(())
}

/// Property tests run from a fixed seed so that CI is reproducible; set
/// `PROPTEST_RNG_SEED=<u64>` to explore other seeds.
fn fixed_seed() -> proptest::test_runner::RngSeed {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x7061_7072_2d68_7601);
    proptest::test_runner::RngSeed::Fixed(seed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, rng_seed: fixed_seed(), ..ProptestConfig::default() })]

    #[test]
    fn small_window_matches_model(ops in prop::collection::vec(op(SMALL), 1..80)) {
        run(SMALL, ops)?;
    }

    #[test]
    fn sparse_64k_window_matches_model(ops in prop::collection::vec(op(SPARSE), 1..80)) {
        run(SPARSE, ops)?;
    }

    /// Arbitrary register values never panic and only produce the documented codes.
    #[test]
    fn hostile_arguments_are_answered(
        calls in prop::collection::vec(
            (prop_oneof![Just(H_GET_TCE), Just(H_PUT_TCE), Just(H_STUFF_TCE), Just(H_PUT_TCE_INDIRECT)],
             prop::array::uniform4(prop_oneof![
                 3 => any::<u64>(),
                 1 => Just(u64::from(LIOBN)),
                 1 => 0..(1u64 << 20),
                 1 => Just(u64::MAX),
                 1 => Just(1u64 << 59),
             ])),
            1..40)
    ) {
        let mem = ram(RAM as usize);
        let r = TceRegistry::new(TceConfig { max_chunks: 64, ..TceConfig::default() });
        r.create_table(LIOBN, DmaWindow::new(1 << 59, 12, 1 << 40).unwrap()).unwrap();
        r.create_table(0, DmaWindow::new(0, 12, 1 << 20).unwrap()).unwrap();
        for (op, a) in calls {
            let res = hcall(&r, &mem, op, &a);
            prop_assert!(
                [H_SUCCESS, H_PARAMETER, H_NOT_ENOUGH_RESOURCES].contains(&res.ret),
                "{:#x} {:x?} -> {}", op, a, res.ret
            );
            prop_assert!(r.chunks_used() <= 64);
        }
    }
}

#[test]
fn unlink_after_random_use_empties_the_mirror() {
    let mem = ram(RAM as usize);
    let r = TceRegistry::default();
    r.create_table(1, DmaWindow::new(0, 12, 4096).unwrap())
        .unwrap();
    let m = Mirror::new(0x1000);
    let id = r.link(1, m.clone()).unwrap();
    let mut x = 0x1234_5678u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let idx = x % 4096;
        let tce = if x & 0x30000 == 0 {
            0
        } else {
            ((x >> 20) % 4096) << 12 | (x >> 16) & 3
        };
        assert_eq!(
            hcall(&r, &mem, H_PUT_TCE, &[1, idx << 12, tce]).ret,
            H_SUCCESS
        );
    }
    assert!(!m.snapshot().is_empty());
    r.unlink(1, id).unwrap();
    assert!(m.snapshot().is_empty());
    m.assert_clean();
}
