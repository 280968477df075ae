//! Concurrent hcalls, translations and IOMMU accesses: no deadlock, no torn or stale result.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{Mirror, ram};
use hvapi::hcall::H_SUCCESS;
use tce::*;
use vm_memory::{GuestAddress, Iommu, Permissions};

#[test]
fn parallel_writers_on_disjoint_ranges_and_readers() {
    let mem = Arc::new(ram(16 << 20));
    let r = Arc::new(TceRegistry::default());
    r.create_table(1, DmaWindow::new(0, 12, 1 << 16).unwrap())
        .unwrap();
    let m = Mirror::new(0x1000);
    r.link(1, m.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (r, stop) = (r.clone(), stop.clone());
            thread::spawn(move || {
                let iommu = r.iommu(1).unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let ioba = (n % 4096) << 12;
                    // Whatever the state, a successful translation maps the page to the value
                    // every writer uses for it.
                    if let Ok(t) = r.translate(1, ioba, 0x1000, Access::Read) {
                        for p in t {
                            assert_eq!(p.gpa, ioba % (16 << 20));
                        }
                    }
                    if let Ok(it) = iommu.translate(GuestAddress(ioba), 0x1000, Permissions::Read) {
                        for mr in it {
                            assert_eq!(mr.base.0, ioba % (16 << 20));
                        }
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (r, mem) = (r.clone(), mem.clone());
            thread::spawn(move || {
                for round in 0..200u64 {
                    for k in 0..64u64 {
                        let ioba = (w * 1024 + k) << 12;
                        let tce = if (round + k) % 3 == 0 { 0 } else { ioba | 1 };
                        assert_eq!(r.h_put_tce(1, ioba, tce, &mem), H_SUCCESS);
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for t in readers {
        t.join().unwrap();
    }
    // Final state: round 199 wrote entry k as mapped unless (199 + k) % 3 == 0.
    let t = r.table(1).unwrap();
    for w in 0..4u64 {
        for k in 0..64u64 {
            let ioba = (w * 1024 + k) << 12;
            let want = if (199 + k) % 3 == 0 { 0 } else { ioba | 1 };
            assert_eq!(t.tce_at(ioba), Some(want));
        }
    }
    assert_eq!(m.snapshot().len() as u64, t.mapped_entries());
    m.assert_clean();
}

#[test]
fn iommu_never_serves_a_stale_translation_after_unmap_returns() {
    let mem = Arc::new(ram(16 << 20));
    let r = Arc::new(TceRegistry::default());
    r.create_table(1, DmaWindow::new(0, 12, 64).unwrap())
        .unwrap();
    let iommu = r.iommu(1).unwrap();
    for round in 0..2000u64 {
        // Flip the page between two targets with another thread hammering translations.
        let a = 0x10_0000u64;
        let b = 0x20_0000u64;
        let target = if round % 2 == 0 { a } else { b };
        let r2 = r.clone();
        let mem2 = mem.clone();
        let h = thread::spawn(move || {
            assert_eq!(r2.h_put_tce(1, 0x3000, target | 3, &mem2), H_SUCCESS);
        });
        for _ in 0..4 {
            if let Ok(it) = iommu.translate(GuestAddress(0x3000), 16, Permissions::Write) {
                for mr in it {
                    assert!(mr.base.0 == a || mr.base.0 == b, "{:#x}", mr.base.0);
                }
            }
        }
        h.join().unwrap();
        // The put has returned: the cache must agree with it.
        let got: Vec<u64> = iommu
            .translate(GuestAddress(0x3000), 16, Permissions::Write)
            .unwrap()
            .map(|mr| mr.base.0)
            .collect();
        assert_eq!(got, vec![target]);
    }
    assert_eq!(r.h_put_tce(1, 0x3000, 0, &mem), H_SUCCESS);
    assert!(
        iommu
            .translate(GuestAddress(0x3000), 16, Permissions::Read)
            .is_err()
    );
}
