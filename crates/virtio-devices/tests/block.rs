//! virtio-blk through the PCI transport, driven by a fake driver.

mod common;

use std::path::PathBuf;

use common::*;
use virtio_devices::block::*;
use virtio_devices::{PeIommu, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1, VirtioPciDevice};
use vm_memory::{Bytes, GuestAddress};

const SECTORS: u64 = 64;
const HDR: u64 = 0x10_0000;
const DATA: u64 = 0x11_0000;
const STATUS: u64 = 0x13_0000;
const RING: u64 = 0x20_0000;

struct TempImage(PathBuf);

impl TempImage {
    fn new(name: &str) -> TempImage {
        let p =
            std::env::temp_dir().join(format!("virtio-devices-{}-{name}.img", std::process::id()));
        let data: Vec<u8> = (0..SECTORS * SECTOR_SIZE)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&p, data).unwrap();
        TempImage(p)
    }
    fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for TempImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn setup(img: &TempImage, readonly: bool) -> Driver {
    let mem = ram(8 << 20);
    let blk = Block::open(&img.0, readonly).unwrap();
    assert_eq!(blk.sectors(), SECTORS);
    let dev = VirtioPciDevice::new(Box::new(blk), mem.clone(), PeIommu::default(), true);
    let mut d = Driver::new(dev, mem);
    assert!(d.negotiate(!(1 << VIRTIO_F_ACCESS_PLATFORM)));
    d.enable_msix();
    d.setup_queue(0, 16, RING, RING, 1);
    d.driver_ok();
    d
}

fn header(d: &Driver, ty: u32, sector: u64) {
    d.mem.write_obj(ty, GuestAddress(HDR)).unwrap();
    d.mem.write_obj(0u32, GuestAddress(HDR + 4)).unwrap();
    d.mem.write_obj(sector, GuestAddress(HDR + 8)).unwrap();
    d.mem.write_obj(0xeeu8, GuestAddress(STATUS)).unwrap();
}

fn status(d: &Driver) -> u8 {
    d.mem.read_obj(GuestAddress(STATUS)).unwrap()
}

/// Submits a request and returns (used len, status).
fn submit(d: &mut Driver, ty: u32, sector: u64, data: Option<(u32, bool)>) -> (u32, u8) {
    header(d, ty, sector);
    let mut bufs = vec![(HDR, 16, false)];
    if let Some((len, w)) = data {
        bufs.push((DATA, len, w));
    }
    bufs.push((STATUS, 1, true));
    let head = d.add_chain(0, &bufs);
    d.notify(0);
    let used = d.used(0);
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].0, u32::from(head));
    (used[0].1, status(d))
}

#[test]
fn config_and_features() {
    let img = TempImage::new("config");
    let d = setup(&img, false);
    assert_eq!(d.rd(0x2000, 4) | d.rd(0x2004, 4) << 32, SECTORS);
    assert_eq!(d.rd(0x2000 + 12, 4) as u32, SEG_MAX);
    let f = d.features();
    assert_ne!(f & 1 << VIRTIO_BLK_F_FLUSH, 0);
    assert_ne!(f & 1 << VIRTIO_F_VERSION_1, 0);
    assert_ne!(f & 1 << VIRTIO_F_ACCESS_PLATFORM, 0);
    assert_eq!(f & 1 << VIRTIO_BLK_F_RO, 0);
    // PCI identity: modern virtio-blk
    use virtio_devices::PciFunction;
    assert_eq!(d.dev.config_read(0, 4), 0x1042_1af4);
    assert_eq!(d.dev.config_read(0x0b, 1), 0x01);
}

#[test]
fn read_sectors_land_in_guest_memory_and_interrupt() {
    let img = TempImage::new("read");
    let mut d = setup(&img, false);
    let (len, st) = submit(&mut d, VIRTIO_BLK_T_IN, 3, Some((1024, true)));
    assert_eq!((len, st), (1025, VIRTIO_BLK_S_OK));
    let mut got = vec![0u8; 1024];
    d.mem.read_slice(&mut got, GuestAddress(DATA)).unwrap();
    assert_eq!(got, img.contents()[3 * 512..5 * 512]);
    assert_eq!(*d.sink.msis.lock().unwrap(), vec![(MSIX_ADDR, 0x1301)]);
}

#[test]
fn write_then_flush_reaches_the_file() {
    let img = TempImage::new("write");
    let mut d = setup(&img, false);
    let pattern: Vec<u8> = (0..2048).map(|i| (i * 7 + 3) as u8).collect();
    d.mem.write_slice(&pattern, GuestAddress(DATA)).unwrap();
    let (len, st) = submit(&mut d, VIRTIO_BLK_T_OUT, 10, Some((2048, false)));
    assert_eq!((len, st), (1, VIRTIO_BLK_S_OK));
    let (_, st) = submit(&mut d, VIRTIO_BLK_T_FLUSH, 0, None);
    assert_eq!(st, VIRTIO_BLK_S_OK);
    let c = img.contents();
    assert_eq!(&c[10 * 512..14 * 512], &pattern[..]);
    assert_eq!(c[9 * 512 + 511], ((9 * 512 + 511) % 251) as u8);
    assert_eq!(c[14 * 512], ((14 * 512) % 251) as u8);
}

#[test]
fn out_of_range_sectors_are_ioerr() {
    let img = TempImage::new("range");
    let mut d = setup(&img, false);
    let before = img.contents();
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_IN, SECTORS - 1, Some((1024, true))).1,
        VIRTIO_BLK_S_IOERR
    );
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_OUT, SECTORS, Some((512, false))).1,
        VIRTIO_BLK_S_IOERR
    );
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_OUT, u64::MAX, Some((512, false))).1,
        VIRTIO_BLK_S_IOERR
    );
    // not a whole number of sectors
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_IN, 0, Some((100, true))).1,
        VIRTIO_BLK_S_IOERR
    );
    // the last sector itself is fine
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_IN, SECTORS - 1, Some((512, true))).1,
        VIRTIO_BLK_S_OK
    );
    assert_eq!(img.contents(), before);
}

#[test]
fn readonly_disk_refuses_writes() {
    let img = TempImage::new("ro");
    let mut d = setup(&img, true);
    assert_ne!(d.features() & 1 << VIRTIO_BLK_F_RO, 0);
    let before = img.contents();
    d.mem.write_slice(&[0x55; 512], GuestAddress(DATA)).unwrap();
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_OUT, 0, Some((512, false))).1,
        VIRTIO_BLK_S_IOERR
    );
    assert_eq!(img.contents(), before);
    assert_eq!(
        submit(&mut d, VIRTIO_BLK_T_IN, 0, Some((512, true))).1,
        VIRTIO_BLK_S_OK
    );
}

#[test]
fn get_id_and_unsupported_types() {
    let img = TempImage::new("id");
    let mut d = setup(&img, false);
    let (len, st) = submit(&mut d, VIRTIO_BLK_T_GET_ID, 0, Some((20, true)));
    assert_eq!(st, VIRTIO_BLK_S_OK);
    assert_eq!(len, 21);
    let mut id = [0u8; 20];
    d.mem.read_slice(&mut id, GuestAddress(DATA)).unwrap();
    assert!(id.starts_with(b"virtio-devices-"));
    assert_eq!(submit(&mut d, 11, 0, None).1, VIRTIO_BLK_S_UNSUPP);
}

#[test]
fn malformed_chains_do_not_panic() {
    let img = TempImage::new("malformed");
    let mut d = setup(&img, false);
    let before = img.contents();
    // No writable status byte at all.
    header(&d, VIRTIO_BLK_T_IN, 0);
    d.add_chain(0, &[(HDR, 16, false)]);
    d.notify(0);
    assert_eq!(d.used(0), vec![(0, 0)]);
    // Header too short.
    d.add_chain(0, &[(HDR, 4, false), (STATUS, 1, true)]);
    d.notify(0);
    assert_eq!(d.used(0)[0].1, 1);
    assert_eq!(status(&d), VIRTIO_BLK_S_IOERR);
    // Buffer outside guest memory.
    header(&d, VIRTIO_BLK_T_IN, 0);
    d.add_chain(
        0,
        &[(HDR, 16, false), (1 << 40, 512, true), (STATUS, 1, true)],
    );
    d.notify(0);
    assert_eq!(d.used(0).len(), 1);
    // Huge lengths that overflow.
    header(&d, VIRTIO_BLK_T_OUT, 0);
    d.add_chain(
        0,
        &[
            (HDR, 16, false),
            (DATA, u32::MAX, false),
            (DATA, u32::MAX, false),
            (STATUS, 1, true),
        ],
    );
    d.notify(0);
    assert_eq!(d.used(0).len(), 1);
    // A descriptor loop: the chain's `next` points back at itself.
    let vq = &d.vqs[0];
    let idx = vq.next_desc;
    let dt = vq.gpa + 16 * u64::from(idx);
    d.mem.write_obj(HDR, GuestAddress(dt)).unwrap();
    d.mem.write_obj(16u32, GuestAddress(dt + 8)).unwrap();
    d.mem.write_obj(1u16, GuestAddress(dt + 12)).unwrap();
    d.mem.write_obj(idx, GuestAddress(dt + 14)).unwrap();
    let a = vq.gpa + 0x1000;
    let slot = a + 4 + 2 * u64::from(vq.avail_idx % vq.size);
    d.mem.write_obj(idx, GuestAddress(slot)).unwrap();
    d.mem
        .write_obj(vq.avail_idx.wrapping_add(1), GuestAddress(a + 2))
        .unwrap();
    d.notify(0);
    assert_eq!(img.contents(), before);
}

#[test]
fn negotiation_without_version_1_is_refused_and_reset_clears() {
    let img = TempImage::new("neg");
    let mem = ram(8 << 20);
    let dev = VirtioPciDevice::new(
        Box::new(Block::open(&img.0, false).unwrap()),
        mem.clone(),
        PeIommu::default(),
        true,
    );
    let mut d = Driver::new(dev, mem);
    assert!(!d.negotiate(1 << VIRTIO_BLK_F_FLUSH));
    // offering more than the device has is refused too
    d.wr(0x14, 1, 0);
    d.wr(0x14, 1, 3);
    d.wr(0x08, 4, 1);
    d.wr(0x0c, 4, 0xffff_ffff);
    d.wr(0x14, 1, 0xb);
    assert_eq!(d.rd(0x14, 1) & 8, 0);
    assert!(d.negotiate(1 << VIRTIO_F_VERSION_1));
    d.setup_queue(0, 16, RING, RING, 0);
    assert_eq!(d.rd(0x1c, 2), 1);
    d.wr(0x14, 1, 0);
    assert_eq!(d.rd(0x14, 1), 0);
    d.wr(0x16, 2, 0);
    assert_eq!(d.rd(0x1c, 2), 0, "reset disables the queue");
    assert_eq!(d.rd(0x1a, 2), 0xffff, "reset clears the vector");
    // a queue index past the end reads as absent
    d.wr(0x16, 2, 5);
    assert_eq!(d.rd(0x18, 2), 0);
}

#[test]
fn intx_without_msix_and_isr_read_lowers_it() {
    let img = TempImage::new("intx");
    let mem = ram(8 << 20);
    let dev = VirtioPciDevice::new(
        Box::new(Block::open(&img.0, false).unwrap()),
        mem.clone(),
        PeIommu::default(),
        false,
    );
    let mut d = Driver::new(dev, mem);
    assert!(d.negotiate(u64::MAX));
    d.setup_queue(0, 16, RING, RING, 0xffff);
    d.driver_ok();
    submit(&mut d, VIRTIO_BLK_T_IN, 0, Some((512, true)));
    assert_eq!(*d.sink.intx.lock().unwrap(), vec![true]);
    assert_eq!(d.rd(0x1000, 1), 1);
    assert_eq!(*d.sink.intx.lock().unwrap(), vec![true, false]);
    assert_eq!(d.rd(0x1000, 1), 0);
}

#[test]
fn masked_msix_vector_is_pending_until_unmasked() {
    let img = TempImage::new("mask");
    let mut d = setup(&img, false);
    use virtio_devices::PciFunction;
    d.dev.bar_write(1, 16 + 12, &1u32.to_le_bytes());
    submit(&mut d, VIRTIO_BLK_T_IN, 0, Some((512, true)));
    assert!(d.sink.msis.lock().unwrap().is_empty());
    let mut pba = [0u8; 8];
    d.dev.bar_read(1, 0x800, &mut pba);
    assert_eq!(pba[0], 0b10);
    d.dev.bar_write(1, 16 + 12, &0u32.to_le_bytes());
    assert_eq!(*d.sink.msis.lock().unwrap(), vec![(MSIX_ADDR, 0x1301)]);
    d.dev.bar_read(1, 0x800, &mut pba);
    assert_eq!(pba[0], 0);
}
