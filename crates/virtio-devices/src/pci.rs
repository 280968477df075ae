//! PCI function interface and a type-0 configuration space with write masks.

/// PCI command register bit: memory space decoding.
pub const CMD_MEMORY: u16 = 1 << 1;
/// PCI command register bit: bus mastering (DMA).
pub const CMD_MASTER: u16 = 1 << 2;
/// PCI command register bit: INTx disabled.
pub const CMD_INTX_DISABLE: u16 = 1 << 10;

/// Size of a conventional PCI configuration space.
pub const CONFIG_SIZE: usize = 256;

/// A memory BAR of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarRegion {
    /// BAR number (0..=5; a 64-bit BAR uses `index` and `index + 1`).
    pub index: u8,
    /// Current PCI bus address (0 until the guest assigns it).
    pub addr: u64,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// 64-bit BAR.
    pub mem64: bool,
    /// Prefetchable.
    pub prefetch: bool,
}

/// What a PCI host bridge needs from a function on its bus.
///
/// Config accesses are `size` 1, 2 or 4 bytes, naturally aligned, below
/// [`CONFIG_SIZE`]: the bridge checks that before calling. Values are little-endian register
/// values as the PCI spec defines them.
pub trait PciFunction: Send + Sync {
    /// Reads a configuration register.
    fn config_read(&self, reg: u16, size: u8) -> u32;
    /// Writes a configuration register (read-only bits are kept).
    fn config_write(&self, reg: u16, size: u8, value: u32);
    /// The memory BARs with their current addresses.
    fn bars(&self) -> Vec<BarRegion>;
    /// The BAR and offset that decode `len` bytes at bus address `addr`, if memory decoding
    /// is on and one BAR holds the whole access.
    fn decode(&self, addr: u64, len: u64) -> Option<(u8, u64)> {
        if self.config_read(0x04, 2) as u16 & CMD_MEMORY == 0 {
            return None;
        }
        self.bars().into_iter().find_map(|b| {
            let off = addr.checked_sub(b.addr)?;
            (b.addr != 0 && off.checked_add(len)? <= b.size).then_some((b.index, off))
        })
    }
    /// A load from BAR `bar` at `offset` (data in memory byte order, little-endian device).
    fn bar_read(&self, bar: u8, offset: u64, data: &mut [u8]);
    /// A store to BAR `bar` at `offset`.
    fn bar_write(&self, bar: u8, offset: u64, data: &[u8]);
    /// Number of MSI-X vectors (0 without MSI-X).
    fn msix_vectors(&self) -> u16;
    /// Programs MSI-X table entry `vector` (what platform firmware does for
    /// `ibm,change-msi`). Out-of-range vectors are ignored.
    fn set_msix_message(&self, vector: u16, addr: u64, data: u32);
}

/// Kinds of memory BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// 32-bit, non-prefetchable.
    Mem32,
    /// 64-bit, prefetchable.
    Mem64Prefetch,
}

/// A type-0 configuration space: register bytes and per-byte write masks.
#[derive(Clone, Debug)]
pub struct ConfigSpace {
    data: [u8; CONFIG_SIZE],
    wmask: [u8; CONFIG_SIZE],
    bars: [(u64, Option<BarKind>); 6],
    next_cap: u8,
    last_cap: Option<u8>,
}

impl ConfigSpace {
    /// A header with these identifiers, INTA, and no BARs or capabilities.
    pub fn new(vendor: u16, device: u16, class: u32, revision: u8, subsys: (u16, u16)) -> Self {
        let mut c = ConfigSpace {
            data: [0; CONFIG_SIZE],
            wmask: [0; CONFIG_SIZE],
            bars: [(0, None); 6],
            next_cap: 0x40,
            last_cap: None,
        };
        c.put16(0x00, vendor);
        c.put16(0x02, device);
        c.data[0x08] = revision;
        c.data[0x09] = class as u8;
        c.data[0x0a] = (class >> 8) as u8;
        c.data[0x0b] = (class >> 16) as u8;
        c.put16(0x2c, subsys.0);
        c.put16(0x2e, subsys.1);
        c.data[0x3d] = 1; // INTA
        c.set_wmask16(0x04, CMD_MEMORY | CMD_MASTER | CMD_INTX_DISABLE | 1);
        c.wmask[0x3c] = 0xff;
        c
    }

    fn put16(&mut self, at: usize, v: u16) {
        self.data[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn set_wmask16(&mut self, at: usize, v: u16) {
        self.wmask[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    /// Declares BAR `index` (a 64-bit BAR takes `index + 1` too). `size` must be a power of
    /// two of at least 16 bytes.
    pub fn add_bar(&mut self, index: usize, size: u64, kind: BarKind) {
        debug_assert!(size.is_power_of_two() && size >= 16 && index < 6);
        self.bars[index] = (size, Some(kind));
        let at = 0x10 + 4 * index;
        let mask = !(size - 1);
        let flags: u32 = match kind {
            BarKind::Mem32 => 0,
            BarKind::Mem64Prefetch => 0b1100,
        };
        self.data[at..at + 4].copy_from_slice(&flags.to_le_bytes());
        self.wmask[at..at + 4].copy_from_slice(&((mask as u32) & !0xf).to_le_bytes());
        if kind == BarKind::Mem64Prefetch {
            self.wmask[at + 4..at + 8].copy_from_slice(&((mask >> 32) as u32).to_le_bytes());
        }
    }

    /// Appends a capability with `body` (after its 2-byte header) and returns its offset.
    /// `wmask` gives write masks for the body bytes (missing = read-only).
    pub fn add_cap(&mut self, id: u8, body: &[u8], wmask: &[u8]) -> u8 {
        let at = self.next_cap as usize;
        let len = 2 + body.len();
        debug_assert!(at + len <= CONFIG_SIZE);
        self.data[at] = id;
        self.data[at + 1] = 0;
        self.data[at + 2..at + len].copy_from_slice(body);
        for (i, m) in wmask.iter().enumerate() {
            self.wmask[at + 2 + i] = *m;
        }
        match self.last_cap {
            None => {
                self.data[0x34] = at as u8;
                self.data[0x06] |= 0x10; // capability list
            }
            Some(prev) => self.data[prev as usize + 1] = at as u8,
        }
        self.last_cap = Some(at as u8);
        self.next_cap = ((at + len + 3) & !3) as u8;
        at as u8
    }

    /// Reads `size` bytes at `reg` (the caller checked alignment and bounds; anything else
    /// reads as all ones).
    pub fn read(&self, reg: u16, size: u8) -> u32 {
        let r = reg as usize;
        let n = size as usize;
        if !matches!(n, 1 | 2 | 4) || r + n > CONFIG_SIZE {
            return u32::MAX;
        }
        let mut b = [0u8; 4];
        b[..n].copy_from_slice(&self.data[r..r + n]);
        u32::from_le_bytes(b)
    }

    /// Writes through the write masks.
    pub fn write(&mut self, reg: u16, size: u8, value: u32) {
        let r = reg as usize;
        let n = size as usize;
        if !matches!(n, 1 | 2 | 4) || r + n > CONFIG_SIZE {
            return;
        }
        for (i, v) in value.to_le_bytes()[..n].iter().enumerate() {
            let m = self.wmask[r + i];
            self.data[r + i] = (self.data[r + i] & !m) | (v & m);
        }
    }

    /// Raw byte access for capability state (MSI-X message control).
    pub fn byte(&self, at: u8) -> u8 {
        self.data[at as usize]
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.read(0x04, 2) as u16
    }

    /// The memory BARs and their current addresses.
    pub fn bars(&self) -> Vec<BarRegion> {
        let mut out = Vec::new();
        for (i, (size, kind)) in self.bars.iter().enumerate() {
            let Some(kind) = kind else { continue };
            let lo = u64::from(self.read(0x10 + 4 * i as u16, 4) & !0xf);
            let addr = match kind {
                BarKind::Mem32 => lo,
                BarKind::Mem64Prefetch => lo | u64::from(self.read(0x14 + 4 * i as u16, 4)) << 32,
            };
            out.push(BarRegion {
                index: i as u8,
                addr,
                size: *size,
                mem64: *kind == BarKind::Mem64Prefetch,
                prefetch: *kind == BarKind::Mem64Prefetch,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_sizing_and_assignment() {
        let mut c = ConfigSpace::new(0x1af4, 0x1042, 0x01_00_00, 1, (0x1af4, 0x1100));
        c.add_bar(1, 0x1000, BarKind::Mem32);
        c.add_bar(4, 0x4000, BarKind::Mem64Prefetch);
        c.write(0x14, 4, 0xffff_ffff);
        assert_eq!(c.read(0x14, 4), 0xffff_f000);
        c.write(0x20, 4, 0xffff_ffff);
        c.write(0x24, 4, 0xffff_ffff);
        assert_eq!(c.read(0x20, 4), 0xffff_c00c);
        assert_eq!(c.read(0x24, 4), 0xffff_ffff);
        c.write(0x14, 4, 0x8105_1000);
        c.write(0x20, 4, 0x4004);
        c.write(0x24, 4, 0x2100);
        let bars = c.bars();
        assert_eq!(bars[0].addr, 0x8105_1000);
        assert_eq!(bars[1].addr, 0x2100_0000_4000);
        // read-only identifiers
        c.write(0, 4, 0);
        assert_eq!(c.read(0, 4), 0x1042_1af4);
        assert_eq!(c.read(0x0b, 1), 0x01);
        // command: only the defined bits stick
        c.write(4, 2, 0xffff);
        assert_eq!(c.command(), 0x0407);
    }

    #[test]
    fn capability_chain() {
        let mut c = ConfigSpace::new(1, 2, 0, 0, (0, 0));
        let a = c.add_cap(0x09, &[14, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[]);
        let b = c.add_cap(0x11, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[0, 0xc0]);
        assert_eq!(c.read(0x34, 1), a as u32);
        assert_eq!(c.read(a as u16 + 1, 1), b as u32);
        assert_eq!(c.read(b as u16 + 1, 1), 0);
        assert_eq!(c.read(6, 2) & 0x10, 0x10);
        c.write(b as u16 + 2, 2, 0xffff);
        assert_eq!(c.read(b as u16 + 2, 2), 0xc000);
        // out of range
        assert_eq!(c.read(255, 4), u32::MAX);
    }
}
