//! Dynamic DMA windows: the sequences Linux 6.1 runs (`tce.md` §4.6), limits and errors.

mod common;

use common::{Mirror, ram, write_list};
use hvapi::hcall::*;
use tce::*;

const BUID: u64 = 0x0800_0000_2000_0000;
const DEF: u32 = 0x8000_0000;
const DDW: u32 = 0x8000_0001;
const GIB: u64 = 1 << 30;

fn call(r: &TceRegistry, mem: &hvapi::GuestMemory, op: u64, a: &[u64]) -> i64 {
    let mut args = [0u64; 9];
    args[..a.len()].copy_from_slice(a);
    r.hcall(op, &args, mem).expect("TCE opcode").ret
}

fn qemu() -> TceRegistry {
    let r = TceRegistry::default();
    r.add_pe(PeConfig::qemu_phb(0)).unwrap();
    r
}

#[test]
fn query_reports_qemu_values_in_both_formats() {
    let r = qemu();
    let q = r.ddw_query(BUID).unwrap();
    assert_eq!(q.windows_available, 1);
    assert_eq!(
        q.page_size_mask, 0x107,
        "4K|64K|16M|2M as measured under QEMU"
    );
    assert_eq!(q.largest_block, 1 << 37);
    assert_eq!(q.migration_capable, 0);
    assert_eq!(q.cells_5(), [1, 0x8000_0000, 0x107, 0]);
    assert_eq!(q.cells_6(), [1, 0x20, 0, 0x107, 0]);
}

/// The measured boot: query, create 16M pages over 1 GiB of RAM, one indirect call of 64
/// TCEs mapping all RAM 1:1 at 2^59, then DMA through the new window.
#[test]
fn linux_direct_mapping_sequence() {
    let r = qemu();
    let mem = ram(GIB as usize);
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 1);
    let shift = ddw_mask_shifts(r.ddw_query(BUID).unwrap().page_size_mask)
        .max()
        .unwrap();
    assert_eq!(shift, 24, "Linux picks the largest offered page size");
    let c = r.ddw_create(BUID, shift, 30).unwrap();
    assert_eq!(c.liobn, DDW);
    assert_eq!(c.window.bus_offset(), 1 << 59);
    assert_eq!(c.window.entries(), 64);
    assert_eq!(c.cells(), [DDW, 0x0800_0000, 0]);
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 0);

    let tces: Vec<u64> = (0..64u64).map(|i| (i << 24) | TCE_RW).collect();
    write_list(&mem, 0x10_0000, &tces);
    assert_eq!(
        call(
            &r,
            &mem,
            H_PUT_TCE_INDIRECT,
            &[DDW.into(), 1 << 59, 0x10_0000, 64]
        ),
        H_SUCCESS
    );
    // Device DMA at phys + 2^59.
    let pieces: Vec<DmaPiece> = r
        .translate(DDW, (1 << 59) + 0x123_4567, 0x200_0000, Access::Write)
        .unwrap()
        .collect();
    assert_eq!(
        pieces,
        vec![DmaPiece {
            ioba: (1 << 59) + 0x123_4567,
            gpa: 0x123_4567,
            len: 0x200_0000
        }],
        "contiguous 16M pages merge into one piece"
    );
    // The default window is untouched and still usable.
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DEF.into(), 0, 0x1003]),
        H_SUCCESS
    );
    // No slot left.
    assert_eq!(r.ddw_create(BUID, 16, 30), Err(RtasError::HwError));
}

/// No window available and the default window unused: Linux removes the default window,
/// queries again and creates the big window in the freed slot (bus address 0); on a later
/// failure it resets the PE.
#[test]
fn linux_remove_default_then_create_then_reset() {
    let r = TceRegistry::default();
    let mut pe = PeConfig::qemu_phb(0);
    pe.ddw_liobns.clear(); // a PE with a single window slot
    r.add_pe(pe).unwrap();
    let mem = ram(64 << 20);
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 0);
    r.ddw_remove(DEF).unwrap();
    assert_eq!(r.table(DEF).unwrap().window(), None);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DEF.into(), 0, 0x1003]),
        H_PARAMETER
    );
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 1);
    let c = r.ddw_create(BUID, 16, 33).unwrap();
    assert_eq!(c.liobn, DEF, "the default LIOBN is the free slot");
    assert_eq!(
        c.window.bus_offset(),
        0,
        "no other window active: the default address"
    );
    assert_eq!(c.window.page_shift(), 16);
    assert_eq!(c.window.entries(), 131_072, "8 GiB of 64K pages");
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DEF.into(), 0x1_0000, 0x1_0003]),
        H_SUCCESS
    );
    // Reset: the default window is back, empty, with its original geometry.
    r.ddw_reset(BUID).unwrap();
    let w = r.table(DEF).unwrap().window().unwrap();
    assert_eq!(w, DmaWindow::QEMU_DEFAULT);
    assert_eq!(r.table(DEF).unwrap().mapped_entries(), 0);
    assert_eq!(r.chunks_used(), 0);
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 0);
}

/// Teardown as Linux does it: clear all TCEs with H_STUFF_TCE(0) 512 at a time, then remove.
#[test]
fn linux_teardown_and_listener_view() {
    let r = qemu();
    let mem = ram(256 << 20);
    let c = r.ddw_create(BUID, 16, 28).unwrap(); // 256 MiB of 64K pages: 4096 TCEs
    let mirror = Mirror::new(0x1_0000);
    let id = r.link(DDW, mirror.clone()).unwrap();
    let tces: Vec<u64> = (0..512u64).map(|i| (i << 16) | TCE_RW).collect();
    write_list(&mem, 0x2_0000, &tces);
    for k in 0..8u64 {
        let ioba = c.window.bus_offset() + k * 512 * 0x1_0000;
        let res = call(
            &r,
            &mem,
            H_PUT_TCE_INDIRECT,
            &[DDW.into(), ioba, 0x2_0000, 512],
        );
        assert_eq!(res, H_SUCCESS);
    }
    assert_eq!(mirror.snapshot().len(), 4096);
    for k in 0..8u64 {
        let ioba = c.window.bus_offset() + k * 512 * 0x1_0000;
        assert_eq!(
            call(&r, &mem, H_STUFF_TCE, &[DDW.into(), ioba, 0, 512]),
            H_SUCCESS
        );
    }
    assert!(mirror.snapshot().is_empty());
    r.ddw_remove(DDW).unwrap();
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 1);
    assert_eq!(
        r.translate(DDW, c.window.bus_offset(), 1, Access::Read)
            .unwrap_err(),
        DmaError::WindowDisabled
    );
    assert_eq!(
        call(&r, &mem, H_GET_TCE, &[DDW.into(), c.window.bus_offset()]),
        H_PARAMETER
    );
    // The listener stays linked to the slot and sees the next window's mappings.
    assert!(r.is_linked(DDW, id));
    let c2 = r.ddw_create(BUID, 24, 30).unwrap();
    assert_eq!(c2.liobn, DDW);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DDW.into(), 1 << 59, 0x100_0003]),
        H_SUCCESS
    );
    assert_eq!(mirror.snapshot().len(), 256, "one 16M page in 64K granules");
    mirror.assert_clean();
}

#[test]
fn removing_a_window_with_live_mappings_unmaps_them() {
    let r = qemu();
    let mem = ram(64 << 20);
    r.ddw_create(BUID, 16, 30).unwrap();
    let mirror = Mirror::new(0x1000);
    r.link(DDW, mirror.clone()).unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DDW.into(), 1 << 59, 0x1_0003]),
        H_SUCCESS
    );
    assert_eq!(mirror.snapshot().len(), 16);
    r.ddw_remove(DDW).unwrap();
    assert!(mirror.snapshot().is_empty());
    assert_eq!(r.chunks_used(), 0);
    mirror.assert_clean();
}

#[test]
fn reset_restores_the_default_window_and_drops_the_ddw() {
    let r = qemu();
    let mem = ram(64 << 20);
    let def_mirror = Mirror::new(0x1000);
    r.link(DEF, def_mirror.clone()).unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DEF.into(), 0x5000, 0x2003]),
        H_SUCCESS
    );
    r.ddw_create(BUID, 24, 30).unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DDW.into(), 1 << 59, 0x3]),
        H_SUCCESS
    );
    r.ddw_reset(BUID).unwrap();
    assert_eq!(
        r.table(DEF).unwrap().window(),
        Some(DmaWindow::QEMU_DEFAULT)
    );
    assert_eq!(
        r.table(DEF).unwrap().mapped_entries(),
        0,
        "the default window comes back cleared"
    );
    assert_eq!(r.table(DDW).unwrap().window(), None);
    assert!(def_mirror.snapshot().is_empty());
    assert_eq!(r.ddw_query(BUID).unwrap().windows_available, 1);
    def_mirror.assert_clean();
}

#[test]
fn machine_reset_clears_everything() {
    let r = qemu();
    let mem = ram(64 << 20);
    r.create_table(0x7100_0002, DmaWindow::new(0, 12, 65536).unwrap())
        .unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[0x7100_0002, 0, 0x1003]),
        H_SUCCESS
    );
    r.ddw_remove(DEF).unwrap();
    r.ddw_create(BUID, 16, 30).unwrap();
    r.reset();
    assert_eq!(
        r.table(0x7100_0002).unwrap().window().unwrap().entries(),
        65536
    );
    assert_eq!(r.table(0x7100_0002).unwrap().mapped_entries(), 0);
    assert_eq!(
        r.table(DEF).unwrap().window(),
        Some(DmaWindow::QEMU_DEFAULT)
    );
    assert_eq!(r.table(DDW).unwrap().window(), None);
    assert_eq!(r.chunks_used(), 0);
}

#[test]
fn rtas_error_codes() {
    assert_eq!(RtasError::HwError.status(), RTAS_OUT_HW_ERROR);
    assert_eq!(RtasError::HwError.status(), -1);
    assert_eq!(RtasError::ParamError.status(), RTAS_OUT_PARAM_ERROR);
    assert_eq!(RtasError::ParamError.status(), -3);
    assert_eq!(RTAS_OUT_SUCCESS, 0);
}

#[test]
fn create_errors_and_limits() {
    let r = qemu();
    r.create_table(0x7100_0002, DmaWindow::new(0, 12, 16).unwrap())
        .unwrap();
    let cases: &[(&str, u64, u32, u32, RtasError)] = &[
        ("unknown BUID", BUID + 1, 16, 30, RtasError::ParamError),
        (
            "page size not offered (256M)",
            BUID,
            28,
            30,
            RtasError::ParamError,
        ),
        (
            "page size not offered (32K)",
            BUID,
            15,
            30,
            RtasError::ParamError,
        ),
        (
            "absurd page shift",
            BUID,
            u32::MAX,
            u32::MAX,
            RtasError::ParamError,
        ),
        ("page shift 64", BUID, 64, 70, RtasError::ParamError),
        (
            "window smaller than a page",
            BUID,
            16,
            15,
            RtasError::ParamError,
        ),
        ("window past 2^64", BUID, 16, 64, RtasError::ParamError),
        (
            "absurd window shift",
            BUID,
            12,
            u32::MAX,
            RtasError::ParamError,
        ),
        (
            "more TCEs than the largest block",
            BUID,
            12,
            50,
            RtasError::HwError,
        ),
    ];
    for &(what, buid, ps, ws, want) in cases {
        assert_eq!(r.ddw_create(buid, ps, ws), Err(want), "{what}");
        assert_eq!(
            r.ddw_query(BUID).unwrap().windows_available,
            1,
            "{what}: nothing created"
        );
    }
    // The largest block exactly, and the biggest window the bus allows: 2^59 + 2^63 fits.
    let c = r.ddw_create(BUID, 16, 53).unwrap();
    assert_eq!(c.window.entries(), 1 << 37);
    r.ddw_remove(DDW).unwrap();
    let mut pe = PeConfig::qemu_phb(1);
    pe.largest_block = u64::MAX;
    pe.page_size_mask = DDW_PGSIZE_16G;
    r.add_pe(pe.clone()).unwrap();
    let c = r.ddw_create(pe.buid, 34, 63).unwrap();
    assert_eq!(c.window.end(), (1 << 59) + (1 << 63));
    assert_eq!(r.chunks_used(), 0, "windows are allocated lazily");
    // Page-size parameter errors come before the slot check.
    assert_eq!(r.ddw_create(pe.buid, 12, 30), Err(RtasError::ParamError));
    assert_eq!(
        r.ddw_create(pe.buid, 34, 40),
        Err(RtasError::HwError),
        "no slot left"
    );
}

#[test]
fn remove_and_reset_errors() {
    let r = qemu();
    r.create_table(0x7100_0002, DmaWindow::new(0, 12, 16).unwrap())
        .unwrap();
    assert_eq!(
        r.ddw_remove(0x1234),
        Err(RtasError::ParamError),
        "unknown LIOBN"
    );
    assert_eq!(
        r.ddw_remove(0x7100_0002),
        Err(RtasError::ParamError),
        "not a PE window"
    );
    assert_eq!(
        r.ddw_remove(DDW),
        Err(RtasError::ParamError),
        "slot not active"
    );
    assert_eq!(r.ddw_reset(BUID + 7), Err(RtasError::ParamError));
    assert_eq!(r.ddw_query(BUID + 7), Err(RtasError::ParamError));
    r.ddw_remove(DEF).unwrap();
    assert_eq!(
        r.ddw_remove(DEF),
        Err(RtasError::ParamError),
        "already removed"
    );
}

#[test]
fn ddw_disabled_pe_refuses_every_call() {
    let r = TceRegistry::default();
    let mut pe = PeConfig::qemu_phb(0);
    pe.ddw_enabled = false;
    r.add_pe(pe).unwrap();
    assert_eq!(r.ddw_query(BUID), Err(RtasError::ParamError));
    assert_eq!(r.ddw_create(BUID, 16, 30), Err(RtasError::ParamError));
    assert_eq!(r.ddw_remove(DEF), Err(RtasError::ParamError));
    assert_eq!(r.ddw_reset(BUID), Err(RtasError::ParamError));
    // The default window works as usual.
    let mem = ram(1 << 20);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DEF.into(), 0, 0x1003]),
        H_SUCCESS
    );
}

#[test]
fn pe_registration_rules() {
    let r = qemu();
    assert_eq!(
        r.add_pe(PeConfig::qemu_phb(0)),
        Err(TceError::PeExists(BUID))
    );
    let mut clash = PeConfig::qemu_phb(1);
    clash.ddw_liobns = vec![DEF];
    assert_eq!(r.add_pe(clash), Err(TceError::Exists(DEF)));
    let mut dup = PeConfig::qemu_phb(2);
    dup.ddw_liobns = vec![dup.default_liobn];
    assert!(r.add_pe(dup).is_err());
    assert_eq!(r.remove_table(DEF), Err(TceError::OwnedByPe(DEF)));
    assert_eq!(r.liobns(), vec![DEF, DDW]);
    // A handle kept across removal sees a dead table.
    let t = r.table(DDW).unwrap();
    r.remove_pe(BUID).unwrap();
    assert!(r.liobns().is_empty());
    assert_eq!(t.window(), None);
    assert_eq!(r.remove_pe(BUID), Err(TceError::NoSuchPe(BUID)));
}

#[test]
fn handles_follow_the_slot_across_remove_and_create() {
    let r = qemu();
    let mem = ram(64 << 20);
    let t = r.table(DDW).unwrap();
    let iommu = r.iommu(DDW).unwrap();
    r.ddw_create(BUID, 16, 30).unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DDW.into(), 1 << 59, 0x3_0001]),
        H_SUCCESS
    );
    assert_eq!(
        t.translate_addr((1 << 59) + 8, Access::Read).unwrap(),
        (0x3_0008, 0xFFF8)
    );
    r.ddw_remove(DDW).unwrap();
    assert_eq!(
        t.translate_addr(1 << 59, Access::Read),
        Err(DmaError::WindowDisabled)
    );
    r.ddw_create(BUID, 16, 30).unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[DDW.into(), 1 << 59, 0x5_0003]),
        H_SUCCESS
    );
    assert_eq!(
        t.translate_addr(1 << 59, Access::Write).unwrap().0,
        0x5_0000
    );
    assert!(std::sync::Arc::ptr_eq(iommu.table(), &t));
}

#[test]
fn page_size_mask_helpers() {
    assert_eq!(ddw_mask_from_shifts(&[12, 16, 21, 24]), 0x107);
    assert_eq!(
        ddw_mask_from_shifts(&[13, 30]),
        0,
        "sizes DDW cannot express are dropped"
    );
    assert_eq!(
        ddw_mask_shifts(0x1FF).collect::<Vec<_>>(),
        vec![12, 16, 21, 24, 25, 26, 27, 28, 34]
    );
    assert_eq!(ddw_mask_bit(34), Some(DDW_PGSIZE_16G));
    assert_eq!(ddw_mask_bit(21), Some(DDW_PGSIZE_2M));
    assert_eq!(ddw_mask_bit(30), None);
}
