//! State capture and restore: only mapped entries, windows and DDW state included, postcard
//! round trip, in-place restore with listeners, and refusal of inconsistent images.

mod common;

use common::{Mirror, ram, write_list};
use hvapi::hcall::*;
use serde::Serialize;
use tce::*;

const BUID: u64 = 0x0800_0000_2000_0000;
const VIO: u32 = 0x7100_0002;

fn call(r: &TceRegistry, mem: &hvapi::GuestMemory, op: u64, a: &[u64]) -> i64 {
    let mut args = [0u64; 9];
    args[..a.len()].copy_from_slice(a);
    r.hcall(op, &args, mem).expect("TCE opcode").ret
}

/// A machine after boot: VIO table with a few entries, PHB with the default window removed
/// and a 64K-page DDW direct-mapping 64 MiB.
fn booted(mem: &hvapi::GuestMemory) -> TceRegistry {
    let r = TceRegistry::default();
    r.create_table(VIO, DmaWindow::new(0, 12, 65536).unwrap())
        .unwrap();
    r.add_pe(PeConfig::qemu_phb(0)).unwrap();
    for i in 0..5u64 {
        assert_eq!(
            call(
                &r,
                mem,
                H_PUT_TCE,
                &[VIO.into(), i << 12, (0x10_0000 + (i << 12)) | 3]
            ),
            H_SUCCESS
        );
    }
    assert_eq!(
        call(&r, mem, H_PUT_TCE, &[VIO.into(), 100 << 12, 0x5000_0000]),
        H_SUCCESS
    ); // poison
    r.ddw_remove(0x8000_0000).unwrap();
    let c = r.ddw_create(BUID, 16, 26).unwrap();
    let tces: Vec<u64> = (0..512u64).map(|i| (i << 16) | 3).collect();
    write_list(mem, 0x1000, &tces);
    for k in 0..2u64 {
        let ioba = c.window.bus_offset() + k * (512 << 16);
        let list: Vec<u64> = tces.iter().map(|t| t + ((k * 512) << 16)).collect();
        write_list(mem, 0x1000, &list);
        assert_eq!(
            call(
                &r,
                mem,
                H_PUT_TCE_INDIRECT,
                &[c.liobn.into(), ioba, 0x1000, 512]
            ),
            H_SUCCESS
        );
    }
    r
}

#[test]
fn round_trip_through_postcard() {
    let mem = ram(64 << 20);
    let r = booted(&mem);
    let st = r.save();
    assert_eq!(st.version, TceState::VERSION);
    assert_eq!(st.pes, vec![PeConfig::qemu_phb(0)]);
    let vio = st.tables.iter().find(|t| t.liobn == VIO).unwrap();
    assert_eq!(
        TceRun::count(&vio.runs),
        6,
        "only non-zero entries are saved"
    );
    assert_eq!(vio.runs.len(), 2);
    let def = st.tables.iter().find(|t| t.liobn == 0x8000_0000).unwrap();
    assert_eq!(
        def.window.unwrap().page_shift(),
        16,
        "the DDW took the default slot"
    );
    assert_eq!(TceRun::count(&def.runs), 1024);
    assert_eq!(def.runs.len(), 1);
    let ddw = st.tables.iter().find(|t| t.liobn == 0x8000_0001).unwrap();
    assert_eq!(ddw.window, None);

    let bytes = postcard::to_allocvec(&st).unwrap();
    assert!(bytes.len() < 12 * 1024, "compact: {} bytes", bytes.len());
    let back: TceState = postcard::from_bytes(&bytes).unwrap();
    let r2 = TceRegistry::default();
    r2.restore(&back).unwrap();
    assert_eq!(r2.save(), st);
    assert_eq!(r2.liobns(), r.liobns());
    assert_eq!(r2.chunks_used(), r.chunks_used());
    assert_eq!(r2.ddw_query(BUID).unwrap(), r.ddw_query(BUID).unwrap());
    // The restored machine behaves the same.
    assert_eq!(
        call(&r2, &mem, H_GET_TCE, &[VIO.into(), 100 << 12]),
        H_SUCCESS
    );
    let p: Vec<DmaPiece> = r2
        .translate(0x8000_0000, 0x12_3450, 0x20, Access::Write)
        .unwrap()
        .collect();
    assert_eq!(
        p,
        vec![DmaPiece {
            ioba: 0x12_3450,
            gpa: 0x12_3450,
            len: 0x20
        }]
    );
    r2.ddw_reset(BUID).unwrap();
    assert_eq!(
        r2.table(0x8000_0000).unwrap().window(),
        Some(DmaWindow::QEMU_DEFAULT)
    );
}

#[test]
fn restore_in_place_keeps_handles_and_updates_listeners() {
    let mem = ram(64 << 20);
    let src = booted(&mem);
    let st = src.save();

    // The destination: same topology but different contents, one extra table, and a
    // listener plus an IOMMU handle on the VIO LIOBN.
    let dst = TceRegistry::default();
    dst.create_table(VIO, DmaWindow::new(0, 12, 65536).unwrap())
        .unwrap();
    dst.create_table(0x42, DmaWindow::new(0, 12, 16).unwrap())
        .unwrap();
    dst.add_pe(PeConfig::qemu_phb(0)).unwrap();
    assert_eq!(
        call(&dst, &mem, H_STUFF_TCE, &[VIO.into(), 0x40_0000, 0x9003, 7]),
        H_SUCCESS
    );
    let m = Mirror::new(0x1000);
    dst.link(VIO, m.clone()).unwrap();
    let extra = Mirror::new(0x1000);
    assert_eq!(call(&dst, &mem, H_PUT_TCE, &[0x42, 0, 0x1003]), H_SUCCESS);
    dst.link(0x42, extra.clone()).unwrap();
    let handle = dst.table(VIO).unwrap();

    dst.restore(&st).unwrap();
    assert_eq!(dst.save(), st);
    assert!(
        std::sync::Arc::ptr_eq(&handle, &dst.table(VIO).unwrap()),
        "same table object"
    );
    assert_eq!(
        m.snapshot().len(),
        5,
        "the listener mirrors the restored mappings"
    );
    assert_eq!(
        m.snapshot().get(&0x3000),
        Some(&(0x10_3000, Perm::ReadWrite))
    );
    assert!(
        dst.table(0x42).is_none(),
        "tables absent from the image are removed"
    );
    assert!(extra.snapshot().is_empty());
    assert_eq!(
        handle.translate_addr(0x2008, Access::Read).unwrap().0,
        0x10_2008
    );
    m.assert_clean();
    extra.assert_clean();
}

#[derive(Serialize)]
struct FakeWindow {
    bus_offset: u64,
    page_shift: u32,
    entries: u64,
}

fn forged_window(
    bus_offset: u64,
    page_shift: u32,
    entries: u64,
) -> Result<DmaWindow, postcard::Error> {
    let b = postcard::to_allocvec(&FakeWindow {
        bus_offset,
        page_shift,
        entries,
    })
    .unwrap();
    postcard::from_bytes(&b)
}

#[test]
fn forged_windows_do_not_deserialize() {
    assert_eq!(
        forged_window(0x1000, 12, 16).unwrap(),
        DmaWindow::new(0x1000, 12, 16).unwrap()
    );
    for (what, b, s, e) in [
        ("page shift 40", 0, 40, 16),
        ("page shift 70", 0, 70, 16),
        ("zero entries", 0, 12, 0),
        ("misaligned offset", 0x800, 12, 16),
        ("wrapping window", 1 << 63, 12, 1 << 51),
        ("entries overflow", 0, 12, u64::MAX),
    ] {
        assert!(forged_window(b, s, e).is_err(), "{what}");
    }
    // The same inside a whole image.
    let mem = ram(64 << 20);
    let st = booted(&mem).save();
    let mut bytes = postcard::to_allocvec(&st).unwrap();
    let good: TceState = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(good, st);
    // Patch the VIO window's page shift (Some tag, bus offset 0, page shift 12, entries).
    let needle = postcard::to_allocvec(&Some(DmaWindow::new(0, 12, 65536).unwrap())).unwrap();
    assert_eq!(needle[..3], [1, 0, 12]);
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .unwrap();
    bytes[pos + 2] = 40;
    assert!(postcard::from_bytes::<TceState>(&bytes).is_err());
}

#[test]
fn inconsistent_images_are_refused_without_change() {
    let mem = ram(64 << 20);
    let r = booted(&mem);
    let good = r.save();
    let tamper = |f: &dyn Fn(&mut TceState)| {
        let mut s = good.clone();
        f(&mut s);
        s
    };
    let vio_idx = good.tables.iter().position(|t| t.liobn == VIO).unwrap();
    let cases: Vec<(&str, TceState)> = vec![
        ("version", tamper(&|s| s.version = 99)),
        (
            "duplicate LIOBN",
            tamper(&|s| s.tables.push(s.tables[vio_idx].clone())),
        ),
        (
            "entry past the window",
            tamper(&|s| {
                s.tables[vio_idx].runs.push(TceRun {
                    index: 65535,
                    tces: vec![1, 2],
                })
            }),
        ),
        (
            "index overflow",
            tamper(&|s| {
                s.tables[vio_idx].runs.push(TceRun {
                    index: u64::MAX,
                    tces: vec![1],
                })
            }),
        ),
        (
            "entries without a window",
            tamper(&|s| {
                let t = s
                    .tables
                    .iter_mut()
                    .find(|t| t.liobn == 0x8000_0001)
                    .unwrap();
                t.runs.push(TceRun {
                    index: 0,
                    tces: vec![3],
                });
            }),
        ),
        (
            "PE slot without table",
            tamper(&|s| s.pes[0].ddw_liobns.push(0x8000_0002)),
        ),
        (
            "LIOBN in two PEs",
            tamper(&|s| {
                let mut pe = PeConfig::qemu_phb(1);
                pe.ddw_liobns = vec![0x8000_0001];
                s.tables.push(TableState {
                    liobn: pe.default_liobn,
                    window: None,
                    runs: vec![],
                });
                s.pes.push(pe);
            }),
        ),
        ("duplicate PE", tamper(&|s| s.pes.push(s.pes[0].clone()))),
    ];
    for (what, st) in cases {
        let before = r.save();
        assert!(
            matches!(r.restore(&st), Err(TceError::BadState(_))),
            "{what}"
        );
        assert_eq!(r.save(), before, "{what}: registry unchanged");
    }
}

#[test]
fn image_larger_than_the_budget_is_refused() {
    let mem = ram(64 << 20);
    let st = booted(&mem).save();
    let small = TceRegistry::new(TceConfig {
        max_chunks: 2,
        ..TceConfig::default()
    });
    small
        .create_table(1, DmaWindow::new(0, 12, 16).unwrap())
        .unwrap();
    assert_eq!(small.restore(&st), Err(TceError::NoMemory));
    assert_eq!(small.liobns(), vec![1]);
    assert_eq!(small.chunks_used(), 0);
}
