//! TCE hot paths: H_PUT_TCE_INDIRECT per entry (default window, with a listener, and a
//! 2^51-byte 64 KiB-page dynamic window), H_PUT_TCE, H_GET_TCE, translation per page.
//!
//! Run: `CARGO_TARGET_DIR=/work/targets/tce cargo bench -p tce --bench tce`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hvapi::GuestMemory;
use hvapi::hcall::{H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_SUCCESS};
use tce::{Access, DmaWindow, PeConfig, Perm, TceListener, TceRegistry};
use vm_memory::{Bytes, GuestAddress, Iommu, Permissions};

const L: u32 = 0x8000_0000;
const RAM: usize = 64 << 20;

struct Nop;
impl TceListener for Nop {
    fn map(&self, _: u64, _: u64, _: u64, _: Perm) {}
    fn unmap(&self, _: u64, _: u64) {}
}

fn setup() -> (TceRegistry, GuestMemory) {
    let mem = GuestMemory::from_ranges(&[(GuestAddress(0), RAM)]).unwrap();
    let r = TceRegistry::default();
    r.create_table(L, DmaWindow::QEMU_DEFAULT).unwrap();
    (r, mem)
}

fn write_list(mem: &GuestMemory, at: u64, tces: impl Iterator<Item = u64>) {
    let b: Vec<u8> = tces.flat_map(u64::to_be_bytes).collect();
    mem.write_slice(&b, GuestAddress(at)).unwrap();
}

fn args(a: &[u64]) -> [u64; 9] {
    let mut x = [0u64; 9];
    x[..a.len()].copy_from_slice(a);
    x
}

fn indirect(c: &mut Criterion) {
    let mut g = c.benchmark_group("h_put_tce_indirect");
    g.throughput(Throughput::Elements(512));
    for listener in [false, true] {
        let (r, mem) = setup();
        if listener {
            r.link(L, Arc::new(Nop)).unwrap();
        }
        // Two lists with different targets so every entry changes on every call.
        write_list(
            &mem,
            0x1000,
            (0..512u64).map(|i| (0x10_0000 + (i << 12)) | 3),
        );
        write_list(
            &mem,
            0x2000,
            (0..512u64).map(|i| (0x30_0000 + (i << 12)) | 1),
        );
        let a = args(&[L.into(), 0x40_0000, 0x1000, 512]);
        let b = args(&[L.into(), 0x40_0000, 0x2000, 512]);
        let name = if listener {
            "512_entries_with_listener"
        } else {
            "512_entries"
        };
        let mut flip = false;
        g.bench_function(name, |bch| {
            bch.iter(|| {
                flip = !flip;
                let res = r
                    .hcall(H_PUT_TCE_INDIRECT, if flip { &a } else { &b }, &mem)
                    .unwrap();
                debug_assert_eq!(res.ret, H_SUCCESS);
                black_box(res)
            })
        });
    }
    // Linux's direct mapping of RAM through a dynamic window (tce.md §4.6 step 6): a
    // 2^51-byte window of 64 KiB pages at 2^59 (a deeper sparse tree), one list page per call.
    {
        let mem = GuestMemory::from_ranges(&[(GuestAddress(0), RAM)]).unwrap();
        let r = TceRegistry::default();
        r.add_pe(PeConfig::qemu_phb(0)).unwrap();
        let w = r.ddw_create(PeConfig::qemu_phb(0).buid, 16, 51).unwrap();
        let liobn = u64::from(w.liobn);
        write_list(&mem, 0x1000, (0..512u64).map(|i| (i << 16) | 3));
        write_list(&mem, 0x2000, (0..512u64).map(|i| (i << 16) | 1));
        // Somewhere in the middle of the window: 2^59 + 4 TiB.
        let ioba = w.window.bus_offset() + (1 << 42);
        let a = args(&[liobn, ioba, 0x1000, 512]);
        let b = args(&[liobn, ioba, 0x2000, 512]);
        let mut flip = false;
        g.bench_function("512_entries_ddw_64k_2p51", |bch| {
            bch.iter(|| {
                flip = !flip;
                let res = r
                    .hcall(H_PUT_TCE_INDIRECT, if flip { &a } else { &b }, &mem)
                    .unwrap();
                debug_assert_eq!(res.ret, H_SUCCESS);
                black_box(res)
            })
        });
    }
    g.finish();
}

fn put_get(c: &mut Criterion) {
    let (r, mem) = setup();
    let a = args(&[L.into(), 0x40_0000, 0x10_0003]);
    let b = args(&[L.into(), 0x40_0000, 0x20_0001]);
    let mut flip = false;
    c.bench_function("h_put_tce", |bch| {
        bch.iter(|| {
            flip = !flip;
            black_box(
                r.hcall(H_PUT_TCE, if flip { &a } else { &b }, &mem)
                    .unwrap(),
            )
        })
    });
    let g = args(&[L.into(), 0x40_0000]);
    c.bench_function("h_get_tce", |bch| {
        bch.iter(|| black_box(r.hcall(H_GET_TCE, &g, &mem).unwrap()))
    });
}

fn translate(c: &mut Criterion) {
    let (r, mem) = setup();
    // Map 4 MiB (1024 pages) scattered so that pages do not merge.
    for i in 0..1024u64 {
        let tce = ((((i * 7) % 1024) << 12) + 0x100_0000) | 3;
        assert_eq!(r.h_put_tce(L.into(), i << 12, tce, &mem), H_SUCCESS);
    }
    let t = r.table(L).unwrap();
    let mut g = c.benchmark_group("translate");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("table_translate_per_page", |bch| {
        bch.iter(|| {
            i = (i + 1) & 1023;
            let mut n = 0;
            for p in t.translate(i << 12, 0x1000, Access::Write).unwrap() {
                n += p.gpa;
            }
            black_box(n)
        })
    });
    g.bench_function("registry_translate_per_page", |bch| {
        bch.iter(|| {
            i = (i + 1) & 1023;
            let mut n = 0;
            for p in r.translate(L, i << 12, 0x1000, Access::Read).unwrap() {
                n += p.gpa;
            }
            black_box(n)
        })
    });
    g.bench_function("translate_addr", |bch| {
        bch.iter(|| {
            i = (i + 1) & 1023;
            black_box(t.translate_addr((i << 12) + 8, Access::Read).unwrap())
        })
    });
    let iommu = r.iommu(L).unwrap();
    g.bench_function("vm_memory_iommu_per_page_iotlb_hit", |bch| {
        bch.iter(|| {
            i = (i + 1) & 1023;
            let mut n = 0;
            for m in iommu
                .translate(GuestAddress(i << 12), 0x1000, Permissions::Read)
                .unwrap()
            {
                n += m.base.0;
            }
            black_box(n)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("translate_64k");
    g.throughput(Throughput::Elements(16));
    g.bench_function("table_translate_16_pages", |bch| {
        bch.iter(|| {
            i = (i + 16) & 1008;
            let mut n = 0;
            for p in t.translate(i << 12, 0x1_0000, Access::Read).unwrap() {
                n += p.len;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, indirect, put_get, translate);
criterion_main!(benches);
