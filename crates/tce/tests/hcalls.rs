//! TCE hypercalls: every error path of `tce.md` §3 and the behaviour of the four calls.

mod common;

use common::{ram, write_list};
use hvapi::hcall::*;
use tce::{Access, DmaError, DmaPiece, DmaWindow, PeConfig, TceConfig, TceRegistry};

const VIO: u32 = 0x7100_0002;
const OFFSET_TABLE: u32 = 0x7100_0003;
const RAM: usize = 64 << 20;

/// A registry with a 256 MiB 4K-page window at 0 (`VIO`), a 16 MiB window at bus
/// 0x1000_0000 (`OFFSET_TABLE`) and QEMU's PHB 0 (default window plus a disabled DDW slot).
fn setup() -> (TceRegistry, hvapi::GuestMemory) {
    let r = TceRegistry::default();
    r.create_table(VIO, DmaWindow::new(0, 12, (256 << 20) >> 12).unwrap())
        .unwrap();
    r.create_table(OFFSET_TABLE, DmaWindow::new(0x1000_0000, 12, 4096).unwrap())
        .unwrap();
    r.add_pe(PeConfig::qemu_phb(0)).unwrap();
    (r, ram(RAM))
}

fn call(r: &TceRegistry, mem: &hvapi::GuestMemory, op: u64, a: &[u64]) -> HcallResult {
    let mut args = [0u64; 9];
    args[..a.len()].copy_from_slice(a);
    r.hcall(op, &args, mem).expect("a TCE opcode")
}

fn get(r: &TceRegistry, mem: &hvapi::GuestMemory, liobn: u32, ioba: u64) -> u64 {
    let res = call(r, mem, H_GET_TCE, &[liobn.into(), ioba]);
    assert_eq!(res.ret, H_SUCCESS, "H_GET_TCE {liobn:#x} {ioba:#x}");
    assert_eq!(res.nout, 1);
    res.out[0]
}

#[test]
fn non_tce_opcodes_are_not_handled() {
    let (r, mem) = setup();
    for op in [H_CEDE, H_ENTER, H_INT_ESB, 0x1234, H_PUT_TCE + 1] {
        assert!(r.hcall(op, &[0; 9], &mem).is_none(), "opcode {op:#x}");
    }
}

#[test]
fn put_tce_error_paths() {
    let (r, mem) = setup();
    let ddw_slot = u64::from(0x8000_0001u32); // exists but disabled
    let cases: &[(&str, u64, u64, u64, i64)] = &[
        ("unknown LIOBN", 0x4242, 0, 0x1003, H_PARAMETER),
        (
            "LIOBN with high bits",
            (1 << 32) | u64::from(VIO),
            0,
            0x1003,
            H_PARAMETER,
        ),
        ("disabled window", ddw_slot, 0, 0x1003, H_PARAMETER),
        (
            "ioba not page aligned",
            VIO.into(),
            0x800,
            0x1003,
            H_PARAMETER,
        ),
        (
            "ioba at window end",
            VIO.into(),
            256 << 20,
            0x1003,
            H_PARAMETER,
        ),
        ("ioba far out", VIO.into(), !0xFFF, 0x1003, H_PARAMETER),
        (
            "ioba below bus offset",
            OFFSET_TABLE.into(),
            0x0FFF_F000,
            0x1003,
            H_PARAMETER,
        ),
        (
            "ioba past offset window",
            OFFSET_TABLE.into(),
            0x1100_0000,
            0x1003,
            H_PARAMETER,
        ),
        (
            "TCE bits inside the page",
            VIO.into(),
            0,
            0x1803,
            H_PARAMETER,
        ),
        ("TCE bit 2 set", VIO.into(), 0, 0x1005, H_PARAMETER),
        (
            "TCE outside RAM",
            VIO.into(),
            0,
            RAM as u64 | 3,
            H_PARAMETER,
        ),
        (
            "TCE far outside RAM",
            VIO.into(),
            0,
            0xFFFF_FFFF_FFFF_F001,
            H_PARAMETER,
        ),
        (
            "write-only TCE outside RAM",
            VIO.into(),
            0,
            (1 << 40) | 2,
            H_PARAMETER,
        ),
        ("valid RW", VIO.into(), 0x5000, 0x3000 | 3, H_SUCCESS),
        (
            "valid RO, last RAM page",
            VIO.into(),
            0x6000,
            (RAM as u64 - 0x1000) | 1,
            H_SUCCESS,
        ),
        (
            "valid at offset window start",
            OFFSET_TABLE.into(),
            0x1000_0000,
            0x1001,
            H_SUCCESS,
        ),
        (
            "valid at offset window end",
            OFFSET_TABLE.into(),
            0x10FF_F000,
            0x1002,
            H_SUCCESS,
        ),
        ("clear", VIO.into(), 0x7000, 0, H_SUCCESS),
        (
            "poison without permission",
            VIO.into(),
            0x8000,
            0xDEAD_BEEF_0000,
            H_SUCCESS,
        ),
        (
            "default window of the PHB",
            0x8000_0000,
            0x3FFF_F000,
            0x2003,
            H_SUCCESS,
        ),
    ];
    for &(what, liobn, ioba, tce, want) in cases {
        let res = call(&r, &mem, H_PUT_TCE, &[liobn, ioba, tce]);
        assert_eq!(res.ret, want, "{what}");
        assert_eq!(res.nout, 0, "{what}");
        if want == H_SUCCESS {
            assert_eq!(
                get(&r, &mem, liobn as u32, ioba),
                tce,
                "{what}: GET after PUT"
            );
        } else if let Some(t) = u32::try_from(liobn).ok().and_then(|l| r.table(l)) {
            assert!(
                t.tce_at(ioba).is_none_or(|v| v == 0),
                "{what}: a failed PUT must not write"
            );
        }
    }
    // The poisoned entry is stored but grants nothing.
    assert_eq!(
        r.translate(VIO, 0x8000, 1, Access::Read).unwrap_err(),
        DmaError::NotMapped(0x8000)
    );
}

#[test]
fn get_tce_error_paths_write_no_output() {
    let (r, mem) = setup();
    let cases: &[(&str, u64, u64)] = &[
        ("unknown LIOBN", 0x4242, 0),
        ("LIOBN with high bits", (1 << 33) | u64::from(VIO), 0),
        ("disabled window", 0x8000_0001, 0),
        ("misaligned", VIO.into(), 0x10),
        ("past the end", VIO.into(), 256 << 20),
        ("below the offset", OFFSET_TABLE.into(), 0),
    ];
    for &(what, liobn, ioba) in cases {
        let res = call(&r, &mem, H_GET_TCE, &[liobn, ioba]);
        assert_eq!(res.ret, H_PARAMETER, "{what}");
        assert_eq!(res.nout, 0, "{what}: no r4 on failure");
    }
    // Never-written entries read as zero, anywhere in the window.
    for ioba in [0, 0x1000, (256 << 20) - 0x1000] {
        assert_eq!(get(&r, &mem, VIO, ioba), 0);
    }
}

#[test]
fn put_get_round_trip_all_permissions() {
    let (r, mem) = setup();
    for (i, perm) in [1u64, 2, 3].into_iter().enumerate() {
        let ioba = 0x10_0000 + (i as u64) * 0x1000;
        let tce = (0x20_0000 + (i as u64) * 0x1000) | perm;
        assert_eq!(
            call(&r, &mem, H_PUT_TCE, &[VIO.into(), ioba, tce]).ret,
            H_SUCCESS
        );
        assert_eq!(get(&r, &mem, VIO, ioba), tce);
    }
    // Overwrite and clear.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[VIO.into(), 0x10_0000, 0x9000 | 3]).ret,
        H_SUCCESS
    );
    assert_eq!(get(&r, &mem, VIO, 0x10_0000), 0x9003);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[VIO.into(), 0x10_0000, 0]).ret,
        H_SUCCESS
    );
    assert_eq!(get(&r, &mem, VIO, 0x10_0000), 0);
}

#[test]
fn tce_alignment_follows_the_table_page_size() {
    let (r, mem) = setup();
    // A 64K-page window: TCE bits 2..15 must be zero.
    r.create_table(0x55, DmaWindow::new(1 << 59, 16, 1024).unwrap())
        .unwrap();
    let base = 1u64 << 59;
    for (tce, want) in [
        (0x1_0000 | 3, H_SUCCESS),
        (0x1_1000 | 3, H_PARAMETER),
        (0x1_0004 | 1, H_PARAMETER),
        (0x1_F000, H_SUCCESS), // no permission: stored as is
    ] {
        assert_eq!(
            call(&r, &mem, H_PUT_TCE, &[0x55, base, tce]).ret,
            want,
            "{tce:#x}"
        );
    }
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[0x55, base + 0x1000, 0x1_0003]).ret,
        H_PARAMETER
    );
}

#[test]
fn stuff_tce_error_paths_write_nothing() {
    let (r, mem) = setup();
    let cases: &[(&str, u64, u64, u64, u64)] = &[
        ("unknown LIOBN", 0x4242, 0, 0, 1),
        ("disabled window", 0x8000_0001, 0, 0, 1),
        ("misaligned", VIO.into(), 0x100, 0, 1),
        ("range past the end", VIO.into(), (256 << 20) - 0x1000, 0, 2),
        ("npages wraps", VIO.into(), 0x1000, 0, u64::MAX),
        ("npages larger than the window", VIO.into(), 0, 0, 65537),
        ("below the offset", OFFSET_TABLE.into(), 0x0FFF_F000, 0, 1),
        ("bad value: bits in page", VIO.into(), 0, 0x1013, 4),
        ("bad value: outside RAM", VIO.into(), 0, (1 << 36) | 1, 4),
    ];
    for &(what, liobn, ioba, tce, n) in cases {
        assert_eq!(
            call(&r, &mem, H_STUFF_TCE, &[liobn, ioba, tce, n]).ret,
            H_PARAMETER,
            "{what}"
        );
    }
    assert_eq!(r.table(VIO).unwrap().mapped_entries(), 0);
    // npages = 0 with a valid start (or one past the last entry) is a no-op success.
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[VIO.into(), 0, 0x1003, 0]).ret,
        H_SUCCESS
    );
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[VIO.into(), 256 << 20, 0, 0]).ret,
        H_SUCCESS
    );
    assert_eq!(r.table(VIO).unwrap().mapped_entries(), 0);
}

#[test]
fn stuff_tce_over_ranges() {
    let (r, mem) = setup();
    // Fill 1000 entries starting mid-chunk with one read-only page, then clear a middle part.
    let start = 300 * 0x1000;
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[VIO.into(), start, 0x4001, 1000]).ret,
        H_SUCCESS
    );
    let t = r.table(VIO).unwrap();
    assert_eq!(t.mapped_entries(), 1000);
    assert_eq!(t.leaf_chunks(), 3); // entries 300..1300 touch chunks 0, 1 and 2
    assert_eq!(get(&r, &mem, VIO, start - 0x1000), 0);
    assert_eq!(get(&r, &mem, VIO, start), 0x4001);
    assert_eq!(get(&r, &mem, VIO, start + 999 * 0x1000), 0x4001);
    assert_eq!(get(&r, &mem, VIO, start + 1000 * 0x1000), 0);
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[VIO.into(), 512 * 0x1000, 0, 512]).ret,
        H_SUCCESS
    );
    assert_eq!(t.mapped_entries(), 1000 - 512);
    assert_eq!(t.leaf_chunks(), 2, "the fully cleared chunk is freed");
    // Linux's teardown: clear the whole window 512 entries at a time.
    for k in 0..128u64 {
        let res = call(
            &r,
            &mem,
            H_STUFF_TCE,
            &[VIO.into(), k * 512 * 0x1000, 0, 512],
        );
        assert_eq!(res.ret, H_SUCCESS);
    }
    assert_eq!(t.mapped_entries(), 0);
    assert_eq!(t.leaf_chunks() + t.dir_chunks(), 0);
    assert_eq!(r.chunks_used(), 0);
    // Clearing a whole huge window in one call is cheap and allowed.
    r.create_table(0x99, DmaWindow::new(0, 12, 1 << 40).unwrap())
        .unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[0x99, (1 << 52) - 0x1000, 0x1003]).ret,
        H_SUCCESS
    );
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[0x99, 0, 0, 1 << 40]).ret,
        H_SUCCESS
    );
    assert_eq!(r.chunks_used(), 0);
}

#[test]
fn indirect_round_trip_1_to_512_entries() {
    let (r, mem) = setup();
    let list = 0x10_0000u64;
    for n in [1u64, 2, 3, 17, 255, 256, 257, 511, 512] {
        // Start mid-chunk so that longer lists straddle two chunks.
        let ioba = 0x100_0000 + 77 * 0x1000;
        let tces: Vec<u64> = (0..n)
            .map(|i| (0x80_0000 + i * 0x1000) | (1 + i % 3))
            .collect();
        write_list(&mem, list, &tces);
        let res = call(&r, &mem, H_PUT_TCE_INDIRECT, &[VIO.into(), ioba, list, n]);
        assert_eq!(res.ret, H_SUCCESS, "n = {n}");
        for (i, &t) in tces.iter().enumerate() {
            assert_eq!(get(&r, &mem, VIO, ioba + i as u64 * 0x1000), t);
        }
        assert_eq!(
            get(&r, &mem, VIO, ioba + n * 0x1000),
            0,
            "no entry past the list"
        );
        assert_eq!(r.table(VIO).unwrap().mapped_entries(), n);
        assert_eq!(
            call(&r, &mem, H_STUFF_TCE, &[VIO.into(), ioba, 0, n]).ret,
            H_SUCCESS
        );
    }
}

#[test]
fn indirect_error_paths_write_nothing() {
    let (r, mem) = setup();
    let good: Vec<u64> = (0..512u64).map(|i| (i * 0x1000) | 3).collect();
    write_list(&mem, 0x2_0000, &good);
    let mut bad_mid = good.clone();
    bad_mid[300] = 0x1234 | 3; // misaligned address
    write_list(&mem, 0x3_0000, &bad_mid);
    let mut bad_last = good.clone();
    bad_last[511] = (RAM as u64) | 1; // outside RAM
    write_list(&mem, 0x4_0000, &bad_last);
    let v: u64 = VIO.into();
    let cases: &[(&str, u64, u64, u64, u64)] = &[
        ("unknown LIOBN", 0x4242, 0, 0x2_0000, 1),
        ("disabled window", 0x8000_0001, 0, 0x2_0000, 1),
        ("513 entries", v, 0, 0x2_0000, 513),
        ("huge count", v, 0, 0x2_0000, u64::MAX),
        ("list misaligned by 8", v, 0, 0x2_0008, 1),
        ("list misaligned by 0x800", v, 0, 0x2_0800, 4),
        ("list outside RAM", v, 0, RAM as u64, 1),
        ("list far outside RAM", v, 0, 0xFFFF_FFFF_FFFF_F000, 512),
        (
            "list with the real-mode prefix",
            v,
            0,
            0xC000_0000_0002_0000,
            1,
        ),
        ("ioba misaligned", v, 0x10, 0x2_0000, 1),
        (
            "range past the end",
            v,
            (256 << 20) - 511 * 0x1000,
            0x2_0000,
            512,
        ),
        ("below the offset", OFFSET_TABLE.into(), 0, 0x2_0000, 1),
        ("bad entry in the middle", v, 0, 0x3_0000, 512),
        ("bad last entry", v, 0x40_0000, 0x4_0000, 512),
    ];
    for &(what, liobn, ioba, list, n) in cases {
        assert_eq!(
            call(&r, &mem, H_PUT_TCE_INDIRECT, &[liobn, ioba, list, n]).ret,
            H_PARAMETER,
            "{what}"
        );
        assert_eq!(
            r.table(VIO).unwrap().mapped_entries(),
            0,
            "{what}: nothing written"
        );
    }
    // The bad entry's list minus its last element is fine.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[v, 0, 0x4_0000, 511]).ret,
        H_SUCCESS
    );
    // Zero entries: a no-op success.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[v, 0, 0x2_0000, 0]).ret,
        H_SUCCESS
    );
}

#[test]
fn indirect_list_in_the_last_ram_page_and_a_list_of_clears() {
    let (r, mem) = setup();
    let last = RAM as u64 - 0x1000;
    let tces: Vec<u64> = (0..512u64).map(|i| (i << 12) | 1).collect();
    write_list(&mem, last, &tces);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[VIO.into(), 0, last, 512]).ret,
        H_SUCCESS
    );
    assert_eq!(r.table(VIO).unwrap().mapped_entries(), 512);
    write_list(&mem, last, &[0; 512]);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[VIO.into(), 0, last, 512]).ret,
        H_SUCCESS
    );
    assert_eq!(r.table(VIO).unwrap().mapped_entries(), 0);
    assert_eq!(r.chunks_used(), 0);
}

#[test]
fn budget_exhaustion_is_not_enough_resources_and_all_or_nothing() {
    let r = TceRegistry::new(TceConfig {
        max_chunks: 3,
        ..TceConfig::default()
    });
    let mem = ram(RAM);
    // 2^20 entries: two directory levels (root + one directory per 2^18 entries).
    r.create_table(1, DmaWindow::new(0, 12, 1 << 20).unwrap())
        .unwrap();
    assert_eq!(call(&r, &mem, H_PUT_TCE, &[1, 0, 0x1003]).ret, H_SUCCESS);
    assert_eq!(r.chunks_used(), 2);
    // An indirect call straddling chunks 1 and 2 needs two new leaves: one too many.
    let tces: Vec<u64> = (0..512u64).map(|i| (i << 12) | 3).collect();
    write_list(&mem, 0x1_0000, &tces);
    let ioba = (512 + 256) * 0x1000;
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[1, ioba, 0x1_0000, 512]).ret,
        H_NOT_ENOUGH_RESOURCES
    );
    assert_eq!(r.table(1).unwrap().mapped_entries(), 1, "nothing written");
    // A stuff over more chunks than the whole budget fails up front.
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[1, 0, 0x1003, 1 << 20]).ret,
        H_NOT_ENOUGH_RESOURCES
    );
    // One more leaf fits; then validation still comes before the budget check.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[1, 512 * 0x1000, 0x1003]).ret,
        H_SUCCESS
    );
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[1, 1024 * 0x1000, 0x1803]).ret,
        H_PARAMETER
    );
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[1, 1024 * 0x1000, 0x1003]).ret,
        H_NOT_ENOUGH_RESOURCES
    );
    // Rewriting inside allocated chunks and clearing still work at the limit.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[1, 0x1000, 0x2001]).ret,
        H_SUCCESS
    );
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[1, 0, 0, 1 << 20]).ret,
        H_SUCCESS
    );
    assert_eq!(r.chunks_used(), 0);
    // Removing a table gives its chunks back.
    assert_eq!(call(&r, &mem, H_PUT_TCE, &[1, 0, 0x1003]).ret, H_SUCCESS);
    r.remove_table(1).unwrap();
    assert_eq!(r.chunks_used(), 0);
}

#[test]
fn multi_tce_can_be_withheld() {
    let r = TceRegistry::new(TceConfig {
        multi_tce: false,
        ..TceConfig::default()
    });
    let mem = ram(RAM);
    r.create_table(1, DmaWindow::new(0, 12, 16).unwrap())
        .unwrap();
    assert_eq!(call(&r, &mem, H_STUFF_TCE, &[1, 0, 0, 1]).ret, H_FUNCTION);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[1, 0, 0, 1]).ret,
        H_FUNCTION
    );
    assert_eq!(call(&r, &mem, H_PUT_TCE, &[1, 0, 0x1003]).ret, H_SUCCESS);
}

#[test]
fn huge_window_costs_only_what_is_mapped() {
    let (r, mem) = setup();
    // 2^51 bytes of 64K pages (2^35 TCEs), as a guest with pmem might ask for.
    r.create_table(0x77, DmaWindow::new(1 << 59, 16, 1 << 35).unwrap())
        .unwrap();
    assert_eq!(r.chunks_used(), 0);
    let base = 1u64 << 59;
    let far = base + ((1u64 << 35) - 1) * 0x1_0000;
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[0x77, far, 0x3_0000 | 3]).ret,
        H_SUCCESS
    );
    assert_eq!(get(&r, &mem, 0x77, far), 0x3_0003);
    // One leaf plus two directories (3 levels).
    assert_eq!(r.chunks_used(), 3);
    assert_eq!(
        r.translate(0x77, far + 0x10, 0x100, Access::Write)
            .unwrap()
            .next()
            .unwrap()
            .gpa,
        0x3_0010
    );
    assert_eq!(call(&r, &mem, H_PUT_TCE, &[0x77, far, 0]).ret, H_SUCCESS);
    assert_eq!(r.chunks_used(), 0);
}

#[test]
fn kvm_shaped_table_creation() {
    use hvapi::device::DeviceError;
    let r = TceRegistry::default();
    type Case = (&'static str, u64, u32, u64, u64, Result<(), DeviceError>);
    let cases: &[Case] = &[
        ("zero size", 1, 12, 0, 0, Err(DeviceError::Invalid)),
        ("page shift 11", 1, 11, 0, 16, Err(DeviceError::Invalid)),
        ("page shift 35", 1, 35, 0, 16, Err(DeviceError::Invalid)),
        (
            "offset + size overflows",
            1,
            12,
            u64::MAX,
            2,
            Err(DeviceError::Invalid),
        ),
        (
            "past the bus space",
            1,
            12,
            1 << 51,
            1 << 51,
            Err(DeviceError::Invalid),
        ),
        (
            "64-bit LIOBN",
            1 << 32,
            12,
            0,
            16,
            Err(DeviceError::Invalid),
        ),
        ("DDW-like", 2, 16, (1 << 59) >> 16, 1 << 20, Ok(())),
        ("16G pages", 3, 34, 0, 4, Ok(())),
        ("same LIOBN again", 2, 12, 0, 16, Err(DeviceError::Busy)),
    ];
    for &(what, liobn, ps, off, size, ref want) in cases {
        let got = r.create_spapr_tce_64(liobn, ps, 0, off, size).map(|_| ());
        assert_eq!(&got, want, "{what}");
    }
    let w = r.table(2).unwrap().window().unwrap();
    assert_eq!(
        (w.bus_offset(), w.page_shift(), w.entries()),
        (1 << 59, 16, 1 << 20)
    );
    let t = r.create_spapr_tce(0x7100_0000, 0x1000_0000).unwrap();
    assert_eq!(
        t.window().unwrap().dt_cells(0x7100_0000),
        [0x7100_0000, 0, 0, 0, 0x1000_0000]
    );
    assert_eq!(
        r.create_spapr_tce(9, 0x800).map(|_| ()),
        Err(DeviceError::Invalid)
    );
    assert_eq!(r.chunks_used(), 0);
}

#[test]
fn translation_checks_window_mapping_and_permission() {
    let (r, mem) = setup();
    let v: u64 = VIO.into();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[v, 0x1000, 0x10_0000 | 1]).ret,
        H_SUCCESS
    ); // RO
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[v, 0x2000, 0x10_1000 | 2]).ret,
        H_SUCCESS
    ); // WO
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[v, 0x3000, 0x20_0000 | 3]).ret,
        H_SUCCESS
    ); // RW
    let err = |ioba, len, a| r.translate(VIO, ioba, len, a).unwrap_err();
    assert_eq!(err(0x1000, 8, Access::Write), DmaError::Denied(0x1000));
    assert_eq!(err(0x2000, 8, Access::Read), DmaError::Denied(0x2000));
    assert_eq!(err(0x1ff8, 16, Access::ReadWrite), DmaError::Denied(0x1ff8));
    assert_eq!(err(0x3ff0, 0x20, Access::Read), DmaError::NotMapped(0x4000));
    assert_eq!(err(0x0, 1, Access::Read), DmaError::NotMapped(0));
    assert_eq!(
        err(256 << 20, 1, Access::Read),
        DmaError::OutOfWindow(256 << 20)
    );
    assert_eq!(
        err((256 << 20) - 1, 2, Access::Read),
        DmaError::OutOfWindow((256 << 20) - 1)
    );
    assert_eq!(
        err(u64::MAX, 2, Access::Read),
        DmaError::OutOfWindow(u64::MAX)
    );
    assert_eq!(
        r.translate(0x1234, 0, 1, Access::Read).unwrap_err(),
        DmaError::NoSuchLiobn(0x1234)
    );
    assert_eq!(
        r.translate(0x8000_0001, 0, 1, Access::Read).unwrap_err(),
        DmaError::WindowDisabled
    );
    assert_eq!(
        r.table(OFFSET_TABLE)
            .unwrap()
            .translate(0x0FFF_FFFF, 1, Access::Read)
            .unwrap_err(),
        DmaError::OutOfWindow(0x0FFF_FFFF)
    );
    // Read across the RO and WO pages fails, across WO and RW for writing succeeds, split in two
    // pieces because the guest pages are not adjacent.
    let p: Vec<DmaPiece> = r
        .translate(VIO, 0x2ff0, 0x20, Access::Write)
        .unwrap()
        .collect();
    assert_eq!(
        p,
        vec![
            DmaPiece {
                ioba: 0x2ff0,
                gpa: 0x10_1ff0,
                len: 0x10
            },
            DmaPiece {
                ioba: 0x3000,
                gpa: 0x20_0000,
                len: 0x10
            },
        ]
    );
    // Adjacent guest pages merge; zero length is an empty success.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[v, 0x4000, 0x20_1000 | 3]).ret,
        H_SUCCESS
    );
    let p: Vec<DmaPiece> = r
        .translate(VIO, 0x3800, 0x1000, Access::ReadWrite)
        .unwrap()
        .collect();
    assert_eq!(
        p,
        vec![DmaPiece {
            ioba: 0x3800,
            gpa: 0x20_0800,
            len: 0x1000
        }]
    );
    assert_eq!(
        r.translate(VIO, 0x9000, 0, Access::Write).unwrap().count(),
        0
    );
    // A translation may be nested inside another on the same table.
    let outer = r.translate(VIO, 0x3000, 8, Access::Read).unwrap();
    let inner = r
        .table(VIO)
        .unwrap()
        .translate_addr(0x1004, Access::Read)
        .unwrap();
    assert_eq!(inner, (0x10_0004, 0xFFC));
    assert_eq!(outer.count(), 1);
}
