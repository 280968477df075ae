//! Loading the kernel (ELF64 ppc64), the initrd and raw firmware into guest RAM.

use object::elf::{EM_PPC64, ET_DYN, ET_EXEC, PT_LOAD};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object};

/// Where a position-independent kernel (and a kernel for `--firmware`) is loaded, as on
/// QEMU's pseries machine.
pub const KERNEL_LOAD_ADDR: u64 = 0x40_0000;

/// A kernel placed in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedKernel {
    /// Lowest guest-real address written.
    pub start: u64,
    /// One past the highest address used (including .bss).
    pub end: u64,
    /// Real address of the entry point.
    pub entry: u64,
    /// Whether the image is little-endian.
    pub little_endian: bool,
}

/// Why a kernel could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not an ELF64 file.
    #[error("not an ELF64 file ({0})")]
    NotElf(String),
    /// ELF for another machine.
    #[error("not a ppc64 kernel (ELF machine {0})")]
    WrongMachine(u16),
    /// Neither ET_EXEC nor ET_DYN.
    #[error("ELF type {0} is not an executable")]
    WrongType(u16),
    /// No loadable segment.
    #[error("no loadable segment")]
    Empty,
    /// Does not fit in RAM.
    #[error("the image (up to {end:#x}) does not fit in {ram:#x} bytes of RAM")]
    TooBig {
        /// End address.
        end: u64,
        /// RAM size.
        ram: u64,
    },
    /// A segment points outside the file.
    #[error("a segment lies outside the file")]
    Truncated,
}

/// Loads an ELF64 ppc64 kernel: ET_EXEC at its physical addresses (`p_paddr`, top four
/// address bits ignored), ET_DYN at [`KERNEL_LOAD_ADDR`]; `force_base` overrides the base.
pub fn load_elf(
    data: &[u8],
    ram: &ppc64::Ram,
    force_base: Option<u64>,
) -> Result<LoadedKernel, LoadError> {
    let elf = ElfFile64::<Endianness>::parse(data).map_err(|e| LoadError::NotElf(e.to_string()))?;
    let hdr = elf.elf_header();
    let endian = elf.endian();
    let machine = hdr.e_machine(endian);
    if machine != EM_PPC64 {
        return Err(LoadError::WrongMachine(machine.0));
    }
    let ty = hdr.e_type(endian);
    if ty != ET_EXEC && ty != ET_DYN {
        return Err(LoadError::WrongType(ty.0));
    }
    let segs: Vec<_> = elf
        .elf_program_headers()
        .iter()
        .filter(|p| p.p_type(endian) == PT_LOAD)
        .collect();
    if segs.is_empty() {
        return Err(LoadError::Empty);
    }
    let mask = ppc64::REAL_ADDR_MASK;
    let min_paddr = segs
        .iter()
        .map(|p| p.p_paddr(endian) & mask)
        .min()
        .unwrap_or(0);
    let min_vaddr = segs.iter().map(|p| p.p_vaddr(endian)).min().unwrap_or(0);
    // Relocation: segments keep their offsets from the lowest one.
    let base = match (force_base, ty) {
        (Some(b), _) => b,
        (None, ET_DYN) => KERNEL_LOAD_ADDR,
        _ => min_paddr,
    };
    let mut end = 0u64;
    for p in &segs {
        let off = (p.p_paddr(endian) & mask) - min_paddr;
        let dst = base.checked_add(off).ok_or(LoadError::Truncated)?;
        let filesz = p.p_filesz(endian);
        let memsz = p.p_memsz(endian).max(filesz);
        let seg_end = dst.checked_add(memsz).ok_or(LoadError::Truncated)?;
        if seg_end > ram.size() {
            return Err(LoadError::TooBig {
                end: seg_end,
                ram: ram.size(),
            });
        }
        let bytes = p.data(endian, data).map_err(|_| LoadError::Truncated)?;
        if bytes.len() as u64 != filesz {
            return Err(LoadError::Truncated);
        }
        ram.write(dst, bytes).ok_or(LoadError::TooBig {
            end: seg_end,
            ram: ram.size(),
        })?;
        // Zero .bss explicitly (RAM is zero at boot, but not after a reboot of the same RAM).
        let bss = (memsz - filesz) as usize;
        let zeros = vec![0u8; 1 << 20];
        let mut z = dst + filesz;
        let mut left = bss;
        while left > 0 {
            let n = left.min(zeros.len());
            ram.write(z, &zeros[..n]).ok_or(LoadError::Truncated)?;
            z += n as u64;
            left -= n;
        }
        end = end.max(seg_end);
    }
    let entry_v = elf.entry();
    let entry = base + (entry_v.wrapping_sub(min_vaddr) & mask);
    Ok(LoadedKernel {
        start: base,
        end,
        entry,
        little_endian: elf.is_little_endian(),
    })
}

/// Whether `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}
