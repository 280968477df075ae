//! Virtio-style descriptor DMA through `vm_memory::IommuMemory` backed by a TCE table.

mod common;

use std::io::{Read, Write};

use common::ram;
use hvapi::hcall::H_SUCCESS;
use tce::*;
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor as SplitDescriptor;
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, IommuMemory};

const L: u32 = 0x8000_0000;
const NEXT: u16 = 1;
const WRITE: u16 = 2;

type Mem = IommuMemory<hvapi::GuestMemory, TceIommu>;

struct Setup {
    r: TceRegistry,
    backend: hvapi::GuestMemory,
    mem: Mem,
}

impl Setup {
    fn new() -> Self {
        let backend = ram(16 << 20);
        let r = TceRegistry::default();
        r.create_table(L, DmaWindow::new(0, 12, 4096).unwrap())
            .unwrap();
        let mem = IommuMemory::new(backend.clone(), r.iommu(L).unwrap(), true, ());
        let s = Setup { r, backend, mem };
        // Rings: IOVA 0..0x2000 -> GPA 0x80_0000.., read/write.
        s.put(0x0, 0x80_0000 | TCE_RW);
        s.put(0x1000, 0x80_1000 | TCE_RW);
        // Device-readable buffer: two IOVA pages scattered to non-adjacent guest pages.
        s.put(0x1_0000, 0x90_0000 | TCE_READ);
        s.put(0x1_1000, 0x70_0000 | TCE_READ);
        // Device-writable buffer.
        s.put(0x2_0000, 0xA0_0000 | TCE_RW);
        s
    }

    fn put(&self, ioba: u64, tce: u64) {
        assert_eq!(
            self.r.h_put_tce(L.into(), ioba, tce, &self.backend),
            H_SUCCESS
        );
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next))
}

#[test]
fn descriptor_dma_hits_the_mapped_guest_pages() {
    let s = Setup::new();
    let data_a = pattern(0x800, 1);
    let data_b = pattern(0x800, 2);
    s.backend
        .write_slice(&data_a, GuestAddress(0x90_0800))
        .unwrap();
    s.backend
        .write_slice(&data_b, GuestAddress(0x70_0000))
        .unwrap();

    let mq = MockSplitQueue::create(&s.mem, GuestAddress(0), 16);
    mq.add_desc_chains(
        &[
            desc(0x1_0800, 0x1000, NEXT, 1),
            desc(0x2_0000, 0x100, WRITE, 0),
        ],
        0,
    )
    .unwrap();
    // The driver-side writes went through the IOMMU: the descriptor table is at GPA 0x80_0000.
    let raw_addr: u64 = s.backend.read_obj(GuestAddress(0x80_0000)).unwrap();
    assert_eq!(u64::from_le(raw_addr), 0x1_0800);

    let mut q: Queue = mq.create_queue().unwrap();
    let chain = q.pop_descriptor_chain(&s.mem).expect("a chain");
    let head = chain.head_index();

    let mut got = vec![0u8; 0x1000];
    chain
        .clone()
        .reader(&s.mem)
        .unwrap()
        .read_exact(&mut got)
        .unwrap();
    assert_eq!(
        &got[..0x800],
        &data_a[..],
        "first IOVA page from GPA 0x90_0800"
    );
    assert_eq!(
        &got[0x800..],
        &data_b[..],
        "second IOVA page from GPA 0x70_0000"
    );

    let out = pattern(0x100, 9);
    let mut w = chain.writer(&s.mem).unwrap();
    w.write_all(&out).unwrap();
    assert_eq!(w.bytes_written(), 0x100);
    let mut landed = vec![0u8; 0x100];
    s.backend
        .read_slice(&mut landed, GuestAddress(0xA0_0000))
        .unwrap();
    assert_eq!(landed, out);

    q.add_used(&s.mem, head, 0x100).unwrap();
    let used_idx: u16 = s
        .backend
        .read_obj(GuestAddress(0x80_0000 + (mq.used_addr().0 + 2)))
        .unwrap();
    assert_eq!(
        u16::from_le(used_idx),
        1,
        "used ring updated through the IOMMU"
    );
}

#[test]
fn unmapped_and_read_only_buffers_fail() {
    let s = Setup::new();
    let mq = MockSplitQueue::create(&s.mem, GuestAddress(0), 16);
    mq.add_desc_chains(
        &[
            desc(0x3_0000, 0x10, 0, 0),          // chain 0: unmapped IOVA
            desc(0x1_0000, 0x10, WRITE, 0),      // chain 1: device write to a read-only TCE
            desc(0x1_0ff0, 0x20, 0, 0),          // chain 2: read across into the next page: fine
            desc(0x1_1ff0, 0x20, 0, 0),          // chain 3: read past the mapped pages
            desc((16 << 20) - 0x10, 0x20, 0, 0), // chain 4: leaves the window
        ],
        0,
    )
    .unwrap();
    let mut q: Queue = mq.create_queue().unwrap();
    let mut chains = q.iter(&s.mem).unwrap();
    let c0 = chains.next().unwrap();
    assert!(c0.reader(&s.mem).is_err(), "unmapped IOVA");
    let c1 = chains.next().unwrap();
    assert!(c1.writer(&s.mem).is_err(), "write through a read-only TCE");
    let c2 = chains.next().unwrap();
    assert_eq!(c2.reader(&s.mem).unwrap().available_bytes(), 0x20);
    let c3 = chains.next().unwrap();
    assert!(c3.reader(&s.mem).is_err(), "partly unmapped");
    let c4 = chains.next().unwrap();
    assert!(c4.reader(&s.mem).is_err(), "outside the window");

    // Plain Bytes accesses obey the same rules.
    let mut b = [0u8; 8];
    assert!(s.mem.read_slice(&mut b, GuestAddress(0x1_0000)).is_ok());
    assert!(s.mem.write_slice(&b, GuestAddress(0x1_0000)).is_err());
    assert!(s.mem.write_slice(&b, GuestAddress(0x4_0000)).is_err());
}

#[test]
fn tce_updates_take_effect_for_the_next_access() {
    let s = Setup::new();
    let mut b = [0u8; 16];
    // Warm the IOTLB, then unmap: the next access must fail.
    s.mem.read_slice(&mut b, GuestAddress(0x1_0000)).unwrap();
    s.put(0x1_0000, 0);
    assert!(s.mem.read_slice(&mut b, GuestAddress(0x1_0000)).is_err());
    // Remap elsewhere: the next access sees the new page.
    s.backend
        .write_slice(&[0x5A; 16], GuestAddress(0xB0_0000))
        .unwrap();
    s.put(0x1_0000, 0xB0_0000 | TCE_READ);
    s.mem.read_slice(&mut b, GuestAddress(0x1_0000)).unwrap();
    assert_eq!(b, [0x5A; 16]);
    // Upgrade read-only to read/write: writes now land.
    assert!(s.mem.write_slice(&[7; 4], GuestAddress(0x1_1000)).is_err());
    s.put(0x1_1000, 0x70_0000 | TCE_RW);
    s.mem.write_slice(&[7; 4], GuestAddress(0x1_1000)).unwrap();
    let mut g = [0u8; 4];
    s.backend
        .read_slice(&mut g, GuestAddress(0x70_0000))
        .unwrap();
    assert_eq!(g, [7; 4]);
    // Downgrade to read-only: writes fail again.
    s.put(0x1_1000, 0x70_0000 | TCE_READ);
    assert!(s.mem.write_slice(&[8; 4], GuestAddress(0x1_1000)).is_err());
    // Stuff-clear the whole window: nothing translates any more.
    let mut args = [0u64; 9];
    args[..4].copy_from_slice(&[L.into(), 0, 0, 4096]);
    assert_eq!(
        s.r.hcall(hvapi::hcall::H_STUFF_TCE, &args, &s.backend)
            .unwrap()
            .ret,
        H_SUCCESS
    );
    assert!(s.mem.read_slice(&mut b, GuestAddress(0x2_0000)).is_err());
    assert!(s.mem.read_slice(&mut b, GuestAddress(0x0)).is_err());
}

#[test]
fn ring_unmapped_under_the_device_stops_the_queue() {
    let s = Setup::new();
    let mq = MockSplitQueue::create(&s.mem, GuestAddress(0), 16);
    mq.add_desc_chains(&[desc(0x1_0000, 0x10, 0, 0)], 0)
        .unwrap();
    let mut q: Queue = mq.create_queue().unwrap();
    s.put(0x0, 0);
    assert!(
        q.pop_descriptor_chain(&s.mem).is_none(),
        "avail ring no longer reachable"
    );
}

#[test]
fn removing_the_window_cuts_dma() {
    let s = Setup::new();
    let mut b = [0u8; 8];
    s.mem.read_slice(&mut b, GuestAddress(0x2_0000)).unwrap();
    s.r.remove_table(L).unwrap();
    assert!(s.mem.read_slice(&mut b, GuestAddress(0x2_0000)).is_err());
}

#[test]
fn iotlb_stays_bounded() {
    let backend = ram(16 << 20);
    let r = TceRegistry::default();
    // 64 MiB of IOVA space, every page mapped (four IOVA pages per guest page).
    r.create_table(1, DmaWindow::new(0, 12, 16384).unwrap())
        .unwrap();
    for p in 0..16384u64 {
        let tce = ((p % 4096) << 12) | TCE_RW;
        assert_eq!(r.h_put_tce(1, p << 12, tce, &backend), H_SUCCESS);
    }
    let mem = IommuMemory::new(backend.clone(), r.iommu(1).unwrap(), true, ());
    let t = r.table(1).unwrap();
    let mut b = [0u8; 8];
    for p in 0..16384u64 {
        mem.read_slice(&mut b, GuestAddress((p << 12) + 16))
            .unwrap();
        assert!(t.iotlb_pages() <= IOTLB_CAP);
    }
    // Accesses after the flush still translate correctly.
    backend
        .write_slice(&[3; 8], GuestAddress(0xFF_F010))
        .unwrap();
    mem.read_slice(&mut b, GuestAddress((16383 << 12) + 16))
        .unwrap();
    assert_eq!(b, [3; 8]);
    mem.read_slice(&mut b, GuestAddress((4095 << 12) + 16))
        .unwrap();
    assert_eq!(b, [3; 8]);
}
