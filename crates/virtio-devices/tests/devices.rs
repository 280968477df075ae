//! rng, console, and DMA through the TCE IOMMU.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use tce::{DmaWindow, TCE_RW, TCE_WRITE, TceRegistry};
use virtio_devices::block::{Block, SECTOR_SIZE, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN};
use virtio_devices::console::Console;
use virtio_devices::rng::Rng;
use virtio_devices::{PeIommu, VIRTIO_F_ACCESS_PLATFORM, VirtioPciDevice};
use vm_memory::{Bytes, GuestAddress};

#[test]
fn rng_fills_the_buffer() {
    let mem = ram(4 << 20);
    let dev = VirtioPciDevice::new(
        Box::new(Rng::new().unwrap()),
        mem.clone(),
        PeIommu::default(),
        false,
    );
    let mut d = Driver::new(dev, mem);
    assert!(d.negotiate(u64::MAX));
    d.setup_queue(0, 8, 0x10_0000, 0x10_0000, 0xffff);
    d.driver_ok();
    d.add_chain(0, &[(0x20_0000, 256, true)]);
    d.notify(0);
    assert_eq!(d.used(0), vec![(0, 256)]);
    let mut b = [0u8; 256];
    d.mem.read_slice(&mut b, GuestAddress(0x20_0000)).unwrap();
    assert!(b.iter().any(|&x| x != 0));
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn console_transmits_and_receives() {
    let mem = ram(4 << 20);
    let out = Shared::default();
    let con = Console::new(Box::new(out.clone()));
    let input = con.input();
    let dev = VirtioPciDevice::new(Box::new(con), mem.clone(), PeIommu::default(), false);
    let mut d = Driver::new(dev, mem);
    assert!(d.negotiate(u64::MAX));
    d.setup_queue(0, 8, 0x10_0000, 0x10_0000, 0xffff);
    d.setup_queue(1, 8, 0x18_0000, 0x18_0000, 0xffff);
    d.driver_ok();
    d.mem
        .write_slice(b"hello", GuestAddress(0x20_0000))
        .unwrap();
    d.add_chain(1, &[(0x20_0000, 5, false)]);
    d.notify(1);
    assert_eq!(&*out.0.lock().unwrap(), b"hello");
    d.add_chain(0, &[(0x30_0000, 64, true)]);
    d.notify(0);
    assert!(d.used(0).is_empty(), "no input yet");
    input.push(b"typed");
    d.dev.kick(0);
    assert_eq!(d.used(0), vec![(0, 5)]);
    let mut b = [0u8; 5];
    d.mem.read_slice(&mut b, GuestAddress(0x30_0000)).unwrap();
    assert_eq!(&b, b"typed");
}

const L: u32 = 0x8000_0000;

#[test]
fn dma_goes_through_the_tce_window_when_negotiated() {
    let img = std::env::temp_dir().join(format!("virtio-devices-{}-iommu.img", std::process::id()));
    let data: Vec<u8> = (0..8 * SECTOR_SIZE).map(|i| (i % 253) as u8).collect();
    std::fs::write(&img, &data).unwrap();
    let mem = ram(16 << 20);
    let reg = TceRegistry::default();
    reg.create_table(L, DmaWindow::new(0, 12, 1024).unwrap())
        .unwrap();
    // Rings at IOVA 0..0x3000 -> GPA 0x80_0000; header at IOVA 0x10000 -> GPA 0x90_0000;
    // data at IOVA 0x20000 -> GPA 0xA0_0000 (write-only for the device); status at 0x30000.
    let put = |ioba: u64, tce: u64| {
        assert_eq!(reg.h_put_tce(L.into(), ioba, tce, &mem), 0);
    };
    for i in 0..3 {
        put(i * 0x1000, (0x80_0000 + i * 0x1000) | TCE_RW);
    }
    put(0x1_0000, 0x90_0000 | TCE_RW);
    put(0x2_0000, 0xA0_0000 | TCE_WRITE);
    put(0x3_0000, 0xB0_0000 | TCE_RW);
    let iommu = PeIommu::new(vec![reg.iommu(L).unwrap()]);
    let dev = VirtioPciDevice::new(
        Box::new(Block::open(&img, false).unwrap()),
        mem.clone(),
        iommu,
        true,
    );
    let mut d = Driver::new(dev, mem.clone());
    assert!(d.negotiate(u64::MAX));
    assert_ne!(d.dev.acked_features() & 1 << VIRTIO_F_ACCESS_PLATFORM, 0);
    d.setup_queue(0, 16, 0x80_0000, 0, 0xffff);
    d.driver_ok();
    assert!(d.dev.dma_translated());
    d.mem
        .write_obj(VIRTIO_BLK_T_IN, GuestAddress(0x90_0000))
        .unwrap();
    d.mem.write_obj(2u64, GuestAddress(0x90_0008)).unwrap();
    d.add_chain(
        0,
        &[
            (0x1_0000, 16, false),
            (0x2_0000, 512, true),
            (0x3_0000, 1, true),
        ],
    );
    d.notify(0);
    assert_eq!(d.used(0), vec![(0, 513)]);
    let st: u8 = d.mem.read_obj(GuestAddress(0xB0_0000)).unwrap();
    assert_eq!(st, VIRTIO_BLK_S_OK);
    let mut got = vec![0u8; 512];
    d.mem.read_slice(&mut got, GuestAddress(0xA0_0000)).unwrap();
    assert_eq!(got, data[1024..1536]);
    // An IOVA with no TCE: the device cannot reach it, and nothing at the same guest
    // physical address is touched.
    d.mem
        .write_slice(&[0xAA; 512], GuestAddress(0x4_0000))
        .unwrap();
    d.mem.write_obj(0xeeu8, GuestAddress(0xB0_0000)).unwrap();
    d.add_chain(
        0,
        &[
            (0x1_0000, 16, false),
            (0x4_0000, 512, true),
            (0x3_0000, 1, true),
        ],
    );
    d.notify(0);
    assert_eq!(d.used(0)[0].1, 0);
    let mut raw = vec![0u8; 512];
    d.mem.read_slice(&mut raw, GuestAddress(0x4_0000)).unwrap();
    assert!(raw.iter().all(|&b| b == 0xAA));
    // A read-only TCE cannot be written by the device: remap data read-only.
    put(0x2_0000, 0xA0_0000 | tce::TCE_READ);
    d.add_chain(
        0,
        &[
            (0x1_0000, 16, false),
            (0x2_0000, 512, true),
            (0x3_0000, 1, true),
        ],
    );
    d.notify(0);
    assert_eq!(d.used(0)[0].1, 0);
    let _ = std::fs::remove_file(&img);
}

#[test]
fn without_access_platform_dma_uses_guest_physical_addresses() {
    let img =
        std::env::temp_dir().join(format!("virtio-devices-{}-noiommu.img", std::process::id()));
    std::fs::write(&img, vec![7u8; 4096]).unwrap();
    let mem = ram(16 << 20);
    let reg = TceRegistry::default();
    reg.create_table(L, DmaWindow::new(0, 12, 1024).unwrap())
        .unwrap();
    let iommu = PeIommu::new(vec![reg.iommu(L).unwrap()]);
    let dev = VirtioPciDevice::new(
        Box::new(Block::open(&img, false).unwrap()),
        mem.clone(),
        iommu,
        true,
    );
    let mut d = Driver::new(dev, mem);
    assert!(d.negotiate(!(1 << VIRTIO_F_ACCESS_PLATFORM)));
    d.setup_queue(0, 16, 0x80_0000, 0x80_0000, 0xffff);
    d.driver_ok();
    assert!(!d.dev.dma_translated());
    d.mem
        .write_obj(VIRTIO_BLK_T_IN, GuestAddress(0x90_0000))
        .unwrap();
    d.add_chain(
        0,
        &[
            (0x90_0000, 16, false),
            (0xA0_0000, 512, true),
            (0xB0_0000, 1, true),
        ],
    );
    d.notify(0);
    assert_eq!(d.used(0), vec![(0, 513)]);
    let _ = std::fs::remove_file(&img);
}

mod hostile {
    use super::*;
    use proptest::prelude::*;
    use virtio_devices::PciFunction;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        /// Any access size (1..=16 bytes), offset, BAR or config register, in any order, never
        /// panics.
        #[test]
        fn arbitrary_accesses_do_not_panic(
            ops in proptest::collection::vec(
                (0u8..6, 0u64..0x5000, 1usize..=16, any::<bool>(), any::<u64>()),
                1..64,
            )
        ) {
            let mem = ram(1 << 20);
            let dev = VirtioPciDevice::new(
                Box::new(virtio_devices::rng::Rng::new().unwrap()),
                mem.clone(),
                PeIommu::default(),
                true,
            );
            let d = Driver::new(dev, mem);
            for (bar, off, len, write, val) in ops {
                let mut buf = [0u8; 16];
                buf[..8].copy_from_slice(&val.to_le_bytes());
                buf[8..].copy_from_slice(&val.rotate_left(7).to_le_bytes());
                if bar == 5 {
                    let reg = (off % 256) as u16;
                    let size = [1u8, 2, 4][len % 3];
                    if reg.is_multiple_of(u16::from(size)) && usize::from(reg) + usize::from(size) <= 256 {
                        if write {
                            d.dev.config_write(reg, size, val as u32);
                        } else {
                            d.dev.config_read(reg, size);
                        }
                    }
                } else if write {
                    d.dev.bar_write(bar, off, &buf[..len]);
                } else {
                    d.dev.bar_read(bar, off, &mut buf[..len]);
                }
            }
        }
    }
}
