//! virtio-blk over a raw image file (virtio spec §5.2).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use virtio_queue::Queue;

use crate::{DmaMemory, VirtioDevice, device_type, drain_queue};

/// Sector size of the virtio-blk protocol.
pub const SECTOR_SIZE: u64 = 512;
/// Feature: maximum segments per request in `seg_max`.
pub const VIRTIO_BLK_F_SEG_MAX: u32 = 2;
/// Feature: read-only device.
pub const VIRTIO_BLK_F_RO: u32 = 5;
/// Feature: cache flush command.
pub const VIRTIO_BLK_F_FLUSH: u32 = 9;

/// Request type: read.
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// Request type: write.
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// Request type: flush.
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// Request type: device id string.
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;

/// Status: success.
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// Status: I/O error (also out-of-range sectors, writes to a read-only disk, bad requests).
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// Status: unsupported request type.
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// Length of the id string returned by GET_ID.
pub const ID_LEN: usize = 20;
/// Segments per request offered in `seg_max`.
pub const SEG_MAX: u32 = 126;
/// Largest data transfer accepted in one request; longer chains fail with IOERR (bounds the
/// work and the host memory a single request can cost).
pub const MAX_REQUEST: u64 = 32 << 20;
const CHUNK: usize = 64 << 10;
const QUEUE_SIZE: u16 = 256;

/// A virtio block device.
pub struct Block {
    file: File,
    readonly: bool,
    sectors: u64,
    id: [u8; ID_LEN],
    buf: Vec<u8>,
}

impl Block {
    /// Opens `path` as a raw image (read-only if `readonly`). The capacity is the file size
    /// rounded down to whole sectors.
    pub fn open(path: &Path, readonly: bool) -> io::Result<Block> {
        let file = OpenOptions::new().read(true).write(!readonly).open(path)?;
        let len = file.metadata()?.len();
        let mut id = [0u8; ID_LEN];
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = name.len().min(ID_LEN);
        id[..n].copy_from_slice(&name.as_bytes()[..n]);
        Ok(Block {
            file,
            readonly,
            sectors: len / SECTOR_SIZE,
            id,
            buf: vec![0; CHUNK],
        })
    }

    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Checks `len` bytes at `sector` lie on the disk and are whole sectors; returns the
    /// byte offset.
    fn range(&self, sector: u64, len: u64) -> Option<u64> {
        if !len.is_multiple_of(SECTOR_SIZE) || len > MAX_REQUEST {
            return None;
        }
        let end = sector.checked_add(len / SECTOR_SIZE)?;
        (end <= self.sectors).then(|| sector * SECTOR_SIZE)
    }

    fn read_into(&mut self, mut off: u64, len: u64, w: &mut impl Write) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            self.file.read_exact_at(&mut self.buf[..n], off)?;
            w.write_all(&self.buf[..n])?;
            off += n as u64;
            left -= n as u64;
        }
        Ok(())
    }

    fn write_from(&mut self, mut off: u64, len: u64, r: &mut impl Read) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            r.read_exact(&mut self.buf[..n])?;
            self.file.write_all_at(&self.buf[..n], off)?;
            off += n as u64;
            left -= n as u64;
        }
        Ok(())
    }
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        device_type::BLOCK
    }

    fn pci_class(&self) -> u32 {
        0x01_00_00
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        let mut f = 1 << VIRTIO_BLK_F_FLUSH | 1 << VIRTIO_BLK_F_SEG_MAX;
        if self.readonly {
            f |= 1 << VIRTIO_BLK_F_RO;
        }
        f
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut c = [0u8; 24];
        c[0..8].copy_from_slice(&self.sectors.to_le_bytes());
        c[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        crate::config_slice(&c, offset, data);
    }

    fn process_queue(&mut self, _index: usize, queue: &mut Queue, mem: &DmaMemory) -> bool {
        drain_queue(queue, mem, |chain| {
            // The whole chain's length first: bounded work per request.
            let total = chain
                .clone()
                .try_fold(0u64, |acc, d| acc.checked_add(u64::from(d.len())));
            let Some(total) = total.filter(|&t| t <= MAX_REQUEST + 4096) else {
                tracing::debug!("virtio-blk: oversized or overflowing chain");
                return 0;
            };
            let _ = total;
            let (Ok(mut r), Ok(mut w)) = (chain.clone().reader(mem), chain.writer(mem)) else {
                tracing::debug!("virtio-blk: malformed descriptor chain");
                return 0;
            };
            let avail = w.available_bytes();
            if avail == 0 {
                return 0;
            }
            let Ok(mut status_w) = w.split_at(avail - 1) else {
                return 0;
            };
            let mut hdr = [0u8; 16];
            let (status, data_len) = if r.read_exact(&mut hdr).is_err() {
                (VIRTIO_BLK_S_IOERR, 0)
            } else {
                let ty = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
                let mut s8 = [0u8; 8];
                s8.copy_from_slice(&hdr[8..16]);
                let sector = u64::from_le_bytes(s8);
                self.request(ty, sector, &mut r, &mut w)
            };
            if status_w.write_all(&[status]).is_err() {
                return 0;
            }
            (data_len + 1) as u32
        })
    }
}

impl Block {
    fn request(
        &mut self,
        ty: u32,
        sector: u64,
        r: &mut impl ReadAvail,
        w: &mut impl WriteAvail,
    ) -> (u8, usize) {
        match ty {
            VIRTIO_BLK_T_IN => {
                let len = w.avail() as u64;
                let Some(off) = self.range(sector, len) else {
                    return (VIRTIO_BLK_S_IOERR, 0);
                };
                match self.read_into(off, len, w) {
                    Ok(()) => (VIRTIO_BLK_S_OK, len as usize),
                    Err(e) => {
                        tracing::warn!("virtio-blk: read failed: {e}");
                        (VIRTIO_BLK_S_IOERR, 0)
                    }
                }
            }
            VIRTIO_BLK_T_OUT => {
                if self.readonly {
                    return (VIRTIO_BLK_S_IOERR, 0);
                }
                let len = r.avail() as u64;
                let Some(off) = self.range(sector, len) else {
                    return (VIRTIO_BLK_S_IOERR, 0);
                };
                match self.write_from(off, len, r) {
                    Ok(()) => (VIRTIO_BLK_S_OK, 0),
                    Err(e) => {
                        tracing::warn!("virtio-blk: write failed: {e}");
                        (VIRTIO_BLK_S_IOERR, 0)
                    }
                }
            }
            VIRTIO_BLK_T_FLUSH => match self.file.sync_all() {
                Ok(()) => (VIRTIO_BLK_S_OK, 0),
                Err(e) => {
                    tracing::warn!("virtio-blk: flush failed: {e}");
                    (VIRTIO_BLK_S_IOERR, 0)
                }
            },
            VIRTIO_BLK_T_GET_ID => {
                let n = w.avail().min(ID_LEN);
                match w.write_all(&self.id[..n]) {
                    Ok(()) => (VIRTIO_BLK_S_OK, n),
                    Err(_) => (VIRTIO_BLK_S_IOERR, 0),
                }
            }
            _ => (VIRTIO_BLK_S_UNSUPP, 0),
        }
    }
}

/// A reader that knows how many bytes remain.
trait ReadAvail: Read {
    fn avail(&self) -> usize;
}

/// A writer that knows how many bytes of room remain.
trait WriteAvail: Write {
    fn avail(&self) -> usize;
}

impl<B: vm_memory::bitmap::BitmapSlice> ReadAvail for virtio_queue::Reader<'_, B> {
    fn avail(&self) -> usize {
        self.available_bytes()
    }
}

impl<B: vm_memory::bitmap::BitmapSlice> WriteAvail for virtio_queue::Writer<'_, B> {
    fn avail(&self) -> usize {
        self.available_bytes()
    }
}
