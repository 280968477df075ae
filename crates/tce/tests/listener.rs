//! Listener links (`tce.md` §5.3): replay on link, mirroring of every change, nothing left
//! behind on unlink, window removal, table removal or VFIO group deletion.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Mirror, ram, write_list};
use hvapi::device::{DeviceAttrs, DeviceError, DeviceKind};
use hvapi::hcall::*;
use tce::*;

const L: u32 = 0x7100_0002;

fn call(r: &TceRegistry, mem: &hvapi::GuestMemory, op: u64, a: &[u64]) -> i64 {
    let mut args = [0u64; 9];
    args[..a.len()].copy_from_slice(a);
    r.hcall(op, &args, mem).expect("TCE opcode").ret
}

/// What a correct mirror of `liobn` holds, per 4K granule, from the saved state.
fn expected(r: &TceRegistry, liobn: u32) -> BTreeMap<u64, (u64, Perm)> {
    let st = r.save();
    let t = st.tables.iter().find(|t| t.liobn == liobn).unwrap();
    let mut m = BTreeMap::new();
    let Some(w) = t.window else { return m };
    for run in &t.runs {
        for (k, &tce) in run.tces.iter().enumerate() {
            let Some(p) = Perm::from_tce(tce) else {
                continue;
            };
            let ioba = w.ioba_of(run.index + k as u64);
            let gpa = tce & !(w.page_size() - 1);
            let mut off = 0;
            while off < w.page_size() {
                m.insert(ioba + off, (gpa + off, p));
                off += 0x1000;
            }
        }
    }
    m
}

fn setup() -> (TceRegistry, hvapi::GuestMemory) {
    let r = TceRegistry::default();
    r.create_table(L, DmaWindow::new(0, 12, 1 << 16).unwrap())
        .unwrap();
    (r, ram(64 << 20))
}

#[test]
fn link_replays_then_mirrors_every_change() {
    let (r, mem) = setup();
    // Mappings that exist before the link.
    let tces: Vec<u64> = (0..100u64).map(|i| (0x10_0000 + i * 0x1000) | 3).collect();
    write_list(&mem, 0x1000, &tces);
    assert_eq!(
        call(
            &r,
            &mem,
            H_PUT_TCE_INDIRECT,
            &[L.into(), 0x40_0000, 0x1000, 100]
        ),
        H_SUCCESS
    );
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[L.into(), 0x9000, 0x7001]),
        H_SUCCESS
    );
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[L.into(), 0xA000, 0xDEAD_0000]),
        H_SUCCESS
    ); // no perm
    let m = Mirror::new(0x1000);
    r.link(L, m.clone()).unwrap();
    assert_eq!(m.snapshot(), expected(&r, L));
    assert_eq!(m.snapshot().len(), 101);
    assert_eq!(
        *m.calls.lock(),
        2,
        "the contiguous run is replayed as one call"
    );

    // Overwrite with another address, change permission, poison, clear, stuff, indirect.
    let steps: &[(u64, &[u64])] = &[
        (H_PUT_TCE, &[L as u64, 0x9000, 0x8003]),
        (H_PUT_TCE, &[L as u64, 0x9000, 0x8001]),
        (H_PUT_TCE, &[L as u64, 0x40_0000, 0xBEEF_0000]),
        (H_PUT_TCE, &[L as u64, 0x40_1000, 0]),
        (H_STUFF_TCE, &[L as u64, 0x40_2000, 0x2_0002, 10]),
        (H_STUFF_TCE, &[L as u64, 0x40_5000, 0, 3]),
        (H_PUT_TCE_INDIRECT, &[L as u64, 0x40_8000, 0x1000, 50]),
    ];
    for (op, args) in steps {
        assert_eq!(call(&r, &mem, *op, args), H_SUCCESS, "{op:#x} {args:x?}");
        assert_eq!(m.snapshot(), expected(&r, L), "after {op:#x} {args:x?}");
    }
    m.assert_clean();
}

#[test]
fn failed_hcalls_tell_listeners_nothing() {
    let (r, mem) = setup();
    let m = Mirror::new(0x1000);
    r.link(L, m.clone()).unwrap();
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[L.into(), 0x800, 0x1003]),
        H_PARAMETER
    );
    let mut list = vec![0x1003u64; 10];
    list[9] = 0x1013;
    write_list(&mem, 0x3000, &list);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE_INDIRECT, &[L.into(), 0, 0x3000, 10]),
        H_PARAMETER
    );
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[L.into(), 0, (1 << 40) | 1, 5]),
        H_PARAMETER
    );
    assert_eq!(*m.calls.lock(), 0);
}

#[test]
fn several_listeners_and_unlink() {
    let (r, mem) = setup();
    let a = Mirror::new(0x1000);
    let b = Mirror::new(0x1000);
    let ia = r.link(L, a.clone()).unwrap();
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[L.into(), 0, 0x5003, 20]),
        H_SUCCESS
    );
    let ib = r.link(L, b.clone()).unwrap();
    assert_ne!(ia, ib);
    assert_eq!(r.table(L).unwrap().listener_count(), 2);
    assert_eq!(a.snapshot(), b.snapshot());
    assert_eq!(a.snapshot().len(), 20);
    r.unlink(L, ia).unwrap();
    assert!(a.snapshot().is_empty(), "unlink leaves no stale mapping");
    assert_eq!(r.unlink(L, ia), Err(TceError::NoSuchLink));
    assert!(!r.is_linked(L, ia));
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[L.into(), 0x10_0000, 0x6001]),
        H_SUCCESS
    );
    assert_eq!(a.snapshot().len(), 0, "an unlinked listener hears nothing");
    assert_eq!(b.snapshot(), expected(&r, L));
    a.assert_clean();
    b.assert_clean();
}

#[test]
fn table_removal_unmaps_everything() {
    let (r, mem) = setup();
    let m = Mirror::new(0x1000);
    let id = r.link(L, m.clone()).unwrap();
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[L.into(), 0x1000, 0x5003, 700]),
        H_SUCCESS
    );
    assert_eq!(m.snapshot().len(), 700);
    r.remove_table(L).unwrap();
    assert!(m.snapshot().is_empty());
    assert_eq!(r.link(L, m.clone()), Err(TceError::NoSuchLiobn(L)));
    assert_eq!(r.unlink(L, id), Err(TceError::NoSuchLiobn(L)));
    assert_eq!(r.remove_table(L), Err(TceError::NoSuchLiobn(L)));
    m.assert_clean();
}

#[test]
fn replay_of_a_direct_mapped_window_is_one_call() {
    let r = TceRegistry::default();
    r.create_table(2, DmaWindow::new(1 << 59, 16, 1 << 14).unwrap())
        .unwrap();
    let mem = ram(1 << 30);
    let tces: Vec<u64> = (0..512u64).map(|i| (i << 16) | 3).collect();
    write_list(&mem, 0x1000, &tces);
    for k in 0..32u64 {
        let mut l = tces.clone();
        for t in &mut l {
            *t += (k * 512) << 16;
        }
        write_list(&mem, 0x1000, &l);
        assert_eq!(
            call(
                &r,
                &mem,
                H_PUT_TCE_INDIRECT,
                &[2, (1 << 59) + k * (512 << 16), 0x1000, 512]
            ),
            H_SUCCESS
        );
    }
    let m = Mirror::new(0x1_0000);
    r.link(2, m.clone()).unwrap();
    assert_eq!(*m.calls.lock(), 1, "1 GiB mapped 1:1 replays as one range");
    assert_eq!(m.snapshot().len(), 1 << 14);
    m.assert_clean();
}

#[test]
fn vfio_device_attributes() {
    let (r, mem) = setup();
    let r = Arc::new(r);
    assert_eq!(
        call(&r, &mem, H_STUFF_TCE, &[L.into(), 0, 0x5003, 8]),
        H_SUCCESS
    );
    let dev = VfioTceDevice::new(r.clone());
    assert_eq!(dev.kind(), DeviceKind::Vfio);
    for attr in [1u64, 2, 3] {
        assert!(dev.has_attr(KVM_DEV_VFIO_GROUP, attr));
    }
    assert!(!dev.has_attr(KVM_DEV_VFIO_GROUP, 4));
    assert!(!dev.has_attr(2, 1));
    let hw = Mirror::new(0x1000);
    dev.register_group(7, hw.clone());
    dev.register_table(40, L);
    let set = |g: i32, t: i32| {
        let mut d = g.to_ne_bytes().to_vec();
        d.extend_from_slice(&t.to_ne_bytes());
        dev.set_attr(KVM_DEV_VFIO_GROUP, KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE, &d)
    };
    // SET_SPAPR_TCE before ADD: ENOENT.
    assert_eq!(set(7, 40), Err(DeviceError::NotFound));
    assert_eq!(
        dev.set_attr(
            KVM_DEV_VFIO_GROUP,
            KVM_DEV_VFIO_GROUP_ADD,
            &9i32.to_ne_bytes()
        ),
        Err(DeviceError::Invalid)
    );
    assert_eq!(
        dev.set_attr(KVM_DEV_VFIO_GROUP, KVM_DEV_VFIO_GROUP_ADD, &[1, 2]),
        Err(DeviceError::Invalid)
    );
    dev.set_attr(
        KVM_DEV_VFIO_GROUP,
        KVM_DEV_VFIO_GROUP_ADD,
        &7i32.to_ne_bytes(),
    )
    .unwrap();
    assert_eq!(
        dev.set_attr(
            KVM_DEV_VFIO_GROUP,
            KVM_DEV_VFIO_GROUP_ADD,
            &7i32.to_ne_bytes()
        ),
        Err(DeviceError::Exists)
    );
    assert_eq!(set(7, 41), Err(DeviceError::Invalid), "not a table fd");
    assert_eq!(
        dev.set_attr(
            KVM_DEV_VFIO_GROUP,
            KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE,
            &[0; 7]
        ),
        Err(DeviceError::Invalid)
    );
    set(7, 40).unwrap();
    assert_eq!(hw.snapshot().len(), 8, "attaching replays the mappings");
    set(7, 40).unwrap(); // a second attach only counts a reference
    assert_eq!(r.table(L).unwrap().listener_count(), 1);
    assert_eq!(dev.attached(7), vec![L]);
    assert_eq!(
        call(&r, &mem, H_PUT_TCE, &[L.into(), 0x10_0000, 0x6003]),
        H_SUCCESS
    );
    assert_eq!(hw.snapshot(), expected(&r, L));
    // Hot-unplug: DEL unlinks and unmaps everything.
    dev.set_attr(
        KVM_DEV_VFIO_GROUP,
        KVM_DEV_VFIO_GROUP_DEL,
        &7i32.to_ne_bytes(),
    )
    .unwrap();
    assert!(hw.snapshot().is_empty());
    assert_eq!(r.table(L).unwrap().listener_count(), 0);
    assert_eq!(
        dev.set_attr(
            KVM_DEV_VFIO_GROUP,
            KVM_DEV_VFIO_GROUP_DEL,
            &7i32.to_ne_bytes()
        ),
        Err(DeviceError::NotFound)
    );
    assert_eq!(
        dev.set_attr(KVM_DEV_VFIO_GROUP, 9, &[]),
        Err(DeviceError::NoSuchAttr)
    );
    assert_eq!(dev.set_attr(3, 1, &[]), Err(DeviceError::NoSuchAttr));
    assert_eq!(
        dev.get_attr(KVM_DEV_VFIO_GROUP, 1, &mut [0; 4]),
        Err(DeviceError::NoSuchAttr)
    );
    // Destroying the device detaches whatever is still attached.
    dev.set_attr(
        KVM_DEV_VFIO_GROUP,
        KVM_DEV_VFIO_GROUP_ADD,
        &7i32.to_ne_bytes(),
    )
    .unwrap();
    set(7, 40).unwrap();
    assert_eq!(hw.snapshot().len(), 9);
    drop(dev);
    assert!(hw.snapshot().is_empty());
    assert_eq!(r.table(L).unwrap().listener_count(), 0);
    hw.assert_clean();
}
