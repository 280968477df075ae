//! Address translation for a guest partition.
//!
//! The emulator is the hypervisor, so partition-scoped translation is the identity: a guest
//! real address is an offset into the VM's RAM. What remains is process-scoped translation
//! of effective addresses through the guest's own tables. [`Mmu`] is the interface; radix
//! ([`RadixMmu`]) is the implementation a POWER9 Linux guest uses. A hash (HPT) MMU can be
//! added behind the same trait.

use crate::mem::Ram;
use crate::reg::dsisr;
use crate::tlb::Access;

/// What the MMU needs from the vCPU and partition to translate.
#[derive(Clone, Copy, Debug)]
pub struct MmuCtx {
    /// MSR[PR].
    pub pr: bool,
    /// PIDR (process id for quadrant 0).
    pub pidr: u32,
    /// Process table registration: base (4K aligned) | size field (table = 2^(size+12) bytes),
    /// as the partition-table doubleword 1. 0 = none registered.
    pub prtb: u64,
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Guest real address of the translated effective address.
    pub ra: u64,
    /// log2 of the page size the translation came from.
    pub page_shift: u32,
    /// Loads allowed without a fault.
    pub read: bool,
    /// Stores allowed without a fault (implies the change bit is set).
    pub write: bool,
    /// Instruction fetch allowed.
    pub exec: bool,
}

/// Why a translation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuFault {
    /// Segment interrupt (bad quadrant or non-zero EA bits 2:11).
    Segment,
    /// Storage interrupt with these DSISR (data) / SRR1 (instruction) cause bits; the
    /// store bit is added by the caller.
    Storage(u64),
}

/// An MMU model.
pub trait Mmu: Send {
    /// Translates `ea` for `access`. Must not cache anything derived from a walk that
    /// faulted.
    fn translate(
        &mut self,
        ram: &Ram,
        ctx: &MmuCtx,
        ea: u64,
        access: Access,
    ) -> Result<Translation, MmuFault>;
}

/// Radix tree translation (ISA 3.0 Book III §5.7.6), process scope only.
#[derive(Default)]
pub struct RadixMmu;

const PTE_V: u64 = 1 << 63;
const PTE_L: u64 = 1 << 62;
const PDE_NLB: u64 = 0x0FFF_FFFF_FFFF_FF00;
const PDE_NLS: u64 = 0x1F;
const PTE_RPN: u64 = 0x01FF_FFFF_FFFF_F000;
const PTE_R: u64 = 0x100;
const PTE_C: u64 = 0x80;
const PTE_ATT_GUARDED: u64 = 0x20; // ATT = 0b10: non-idempotent I/O
const PTE_ATT_MASK: u64 = 0x30;
const PTE_PRIV: u64 = 0x8;
const PTE_READ: u64 = 0x4;
const PTE_RW: u64 = 0x2;
const PTE_EXEC: u64 = 0x1;

impl RadixMmu {
    /// Reads the process-table entry (dword 0) for `pid`.
    fn prte(ram: &Ram, prtb: u64, pid: u32) -> Result<u64, MmuFault> {
        if prtb == 0 {
            return Err(MmuFault::Storage(dsisr::NOPTE));
        }
        let base = prtb & 0x0FFF_FFFF_FFFF_F000;
        let size_field = prtb & 0x1F;
        let table_bytes = 1u64 << (size_field + 12).min(62);
        let off = (pid as u64) * 16;
        if off >= table_bytes {
            return Err(MmuFault::Storage(dsisr::NOPTE));
        }
        ram.read_be64(base + off)
            .ok_or(MmuFault::Storage(dsisr::NOPTE | dsisr::PRTABLE_FAULT))
    }
}

impl Mmu for RadixMmu {
    fn translate(
        &mut self,
        ram: &Ram,
        ctx: &MmuCtx,
        ea: u64,
        access: Access,
    ) -> Result<Translation, MmuFault> {
        // Quadrant: 0 -> PIDR, 3 -> PID 0, 1/2 -> segment interrupt for a guest.
        let pid = match ea >> 62 {
            0 => ctx.pidr,
            3 => 0,
            _ => return Err(MmuFault::Segment),
        };
        let prte = Self::prte(ram, ctx.prtb, pid)?;
        let rts = (((prte >> 61) & 3) << 3) | ((prte >> 5) & 7);
        let tree_bits = rts + 31;
        let rpds = prte & 0x1F;
        let rpdb = prte & 0x0FFF_FFFF_FFFF_FF00;
        if tree_bits != 52 || rpds != 13 {
            return Err(MmuFault::Storage(dsisr::UNSUPP_MMU));
        }
        // EA bits 2:11 (the bits above the 52-bit tree in the quadrant) must be zero.
        if (ea >> 52) & 0x3FF != 0 {
            return Err(MmuFault::Segment);
        }
        if rpdb & ((1 << (rpds + 3)) - 1) != 0 {
            return Err(MmuFault::Storage(dsisr::UNSUPP_MMU));
        }
        let mut bits_left = tree_bits;
        let mut base = rpdb;
        let mut nls = rpds;
        let mut level = 0;
        let pte = loop {
            bits_left -= nls;
            let index = (ea >> bits_left) & ((1 << nls) - 1);
            let entry = ram
                .read_be64(base + index * 8)
                .ok_or(MmuFault::Storage(dsisr::NOPTE | dsisr::PRTABLE_FAULT))?;
            if entry & PTE_V == 0 {
                return Err(MmuFault::Storage(dsisr::NOPTE));
            }
            if entry & PTE_L != 0 {
                // A leaf at the root level (512 GiB) is not a POWER9 page size.
                if level == 0 {
                    return Err(MmuFault::Storage(dsisr::UNSUPP_MMU));
                }
                break entry;
            }
            level += 1;
            nls = entry & PDE_NLS;
            base = entry & PDE_NLB;
            // POWER9 shapes: levels 1 and 2 have 9 bits; level 3 has 9 (4K pages) or 5 (64K).
            let ok = match level {
                1 | 2 => nls == 9,
                3 => nls == 9 || nls == 5,
                _ => false,
            };
            if !ok || nls > bits_left || base & ((1 << (nls + 3)) - 1) != 0 {
                return Err(MmuFault::Storage(dsisr::UNSUPP_MMU));
            }
        };
        let page_shift = bits_left as u32;
        let page_mask = (1u64 << page_shift) - 1;
        let ra = ((pte & PTE_RPN) & !page_mask) | (ea & page_mask);

        // Permissions (EAA). A privileged page is inaccessible from problem state.
        let user_denied = ctx.pr && pte & PTE_PRIV != 0;
        let read = !user_denied && pte & (PTE_READ | PTE_RW) != 0;
        let mut write = !user_denied && pte & PTE_RW != 0;
        let exec = !user_denied && pte & PTE_EXEC != 0 && pte & PTE_ATT_MASK != PTE_ATT_GUARDED;
        let allowed = match access {
            Access::Read => read,
            Access::Write => write,
            Access::Exec => exec,
        };
        if !allowed {
            return Err(MmuFault::Storage(match access {
                Access::Exec => dsisr::NOEXEC,
                _ => dsisr::PROT,
            }));
        }
        // POWER9 does not set R and C in radix mode: it faults and the OS sets them.
        if pte & PTE_R == 0 {
            return Err(MmuFault::Storage(dsisr::ATT_RC));
        }
        if pte & PTE_C == 0 {
            if access == Access::Write {
                return Err(MmuFault::Storage(dsisr::ATT_RC));
            }
            write = false;
        }
        Ok(Translation {
            ra,
            page_shift,
            read,
            write,
            exec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vm_memory::{GuestAddress, GuestMemoryMmap};

    /// Builds a 64K-page Linux-style tree in a small RAM and returns it.
    struct Tree {
        ram: Ram,
        prtb: u64,
    }

    const PRTB: u64 = 0x10_0000; // process table (size field 0 -> 4K = 256 entries)
    const PGD: u64 = 0x20_0000; // 64K root
    const PUD: u64 = 0x30_0000;
    const PMD: u64 = 0x30_1000;
    const PTE: u64 = 0x30_2000;

    fn tree() -> Tree {
        let mem =
            Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 8 << 20)]).unwrap());
        let ram = Ram::from_guest_memory(mem).unwrap();
        // PID 0 entry: RTS = 21 (52 bits): RTS1 = 2, RTS2 = 5; RPDS = 13.
        let prte = (2u64 << 61) | PGD | (5 << 5) | 13;
        ram.write_be64(PRTB, prte).unwrap();
        ram.write_be64(PRTB + 16, prte).unwrap(); // PID 1 shares the tree
        Tree { ram, prtb: PRTB }
    }

    fn map_64k(t: &Tree, ea: u64, ra: u64, flags: u64) {
        let i0 = (ea >> 39) & 0x1FFF;
        let i1 = (ea >> 30) & 0x1FF;
        let i2 = (ea >> 21) & 0x1FF;
        let i3 = (ea >> 16) & 0x1F;
        t.ram.write_be64(PGD + i0 * 8, PTE_V | PUD | 9).unwrap();
        t.ram.write_be64(PUD + i1 * 8, PTE_V | PMD | 9).unwrap();
        t.ram.write_be64(PMD + i2 * 8, PTE_V | PTE | 5).unwrap();
        t.ram
            .write_be64(PTE + i3 * 8, PTE_V | PTE_L | ra | flags)
            .unwrap();
    }

    fn ctx(t: &Tree, pr: bool) -> MmuCtx {
        MmuCtx {
            pr,
            pidr: 1,
            prtb: t.prtb,
        }
    }

    #[test]
    fn walk_64k_page() {
        let t = tree();
        map_64k(
            &t,
            0xC000_0000_0123_0000,
            0x50_0000,
            PTE_R | PTE_C | PTE_PRIV | PTE_READ | PTE_RW,
        );
        let tr = RadixMmu
            .translate(
                &t.ram,
                &ctx(&t, false),
                0xC000_0000_0123_4567,
                Access::Write,
            )
            .unwrap();
        assert_eq!(tr.ra, 0x50_4567);
        assert_eq!(tr.page_shift, 16);
        assert!(tr.read && tr.write && !tr.exec);
    }

    #[test]
    fn faults() {
        let t = tree();
        map_64k(&t, 0x1000_0000, 0x50_0000, PTE_R | PTE_READ);
        let c = ctx(&t, true);
        let mut m = RadixMmu;
        assert_eq!(
            m.translate(&t.ram, &c, 0x4000_0000_0000_0000, Access::Read),
            Err(MmuFault::Segment)
        );
        assert_eq!(
            m.translate(&t.ram, &c, 0xC010_0000_0000_0000, Access::Read),
            Err(MmuFault::Segment)
        );
        assert_eq!(
            m.translate(&t.ram, &c, 0x2000_0000, Access::Read),
            Err(MmuFault::Storage(dsisr::NOPTE))
        );
        assert_eq!(
            m.translate(&t.ram, &c, 0x1000_0000, Access::Write),
            Err(MmuFault::Storage(dsisr::PROT))
        );
        assert_eq!(
            m.translate(&t.ram, &c, 0x1000_0000, Access::Exec),
            Err(MmuFault::Storage(dsisr::NOEXEC))
        );
        // read-only page without C: loads fine, not writable
        let tr = m.translate(&t.ram, &c, 0x1000_0004, Access::Read).unwrap();
        assert!(tr.read && !tr.write);
        // R = 0 faults with the R/C bit
        map_64k(&t, 0x1000_0000, 0x50_0000, PTE_READ | PTE_RW);
        assert_eq!(
            m.translate(&t.ram, &c, 0x1000_0000, Access::Read),
            Err(MmuFault::Storage(dsisr::ATT_RC))
        );
        // C = 0 store faults with the R/C bit
        map_64k(&t, 0x1000_0000, 0x50_0000, PTE_R | PTE_READ | PTE_RW);
        assert_eq!(
            m.translate(&t.ram, &c, 0x1000_0000, Access::Write),
            Err(MmuFault::Storage(dsisr::ATT_RC))
        );
        // privileged page from user
        map_64k(
            &t,
            0x1000_0000,
            0x50_0000,
            PTE_R | PTE_C | PTE_PRIV | PTE_READ | PTE_RW,
        );
        assert_eq!(
            m.translate(&t.ram, &c, 0x1000_0000, Access::Read),
            Err(MmuFault::Storage(dsisr::PROT))
        );
        // PID beyond the table
        let c2 = MmuCtx {
            pr: true,
            pidr: 1000,
            prtb: t.prtb,
        };
        assert_eq!(
            m.translate(&t.ram, &c2, 0x1000_0000, Access::Read),
            Err(MmuFault::Storage(dsisr::NOPTE))
        );
    }

    #[test]
    fn huge_leaves() {
        let t = tree();
        // 1 GiB leaf at PUD level for 0xC000_0000_4000_0000 -> RA 0x4000_0000
        let ea = 0xC000_0000_4000_0000u64;
        let i0 = (ea >> 39) & 0x1FFF;
        let i1 = (ea >> 30) & 0x1FF;
        t.ram.write_be64(PGD + i0 * 8, PTE_V | PUD | 9).unwrap();
        t.ram
            .write_be64(
                PUD + i1 * 8,
                PTE_V | PTE_L | 0x4000_0000 | PTE_R | PTE_C | PTE_READ | PTE_EXEC,
            )
            .unwrap();
        let tr = RadixMmu
            .translate(&t.ram, &ctx(&t, false), ea + 0x123_4568, Access::Exec)
            .unwrap();
        assert_eq!(tr.ra, 0x4123_4568);
        assert_eq!(tr.page_shift, 30);
        // 2 MiB leaf at PMD level
        let ea = 0xC000_0000_0060_0000u64;
        let i1 = (ea >> 30) & 0x1FF;
        let i2 = (ea >> 21) & 0x1FF;
        t.ram.write_be64(PUD + i1 * 8, PTE_V | PMD | 9).unwrap();
        t.ram
            .write_be64(
                PMD + i2 * 8,
                PTE_V | PTE_L | 0x20_0000 | PTE_R | PTE_C | PTE_READ,
            )
            .unwrap();
        let tr = RadixMmu
            .translate(&t.ram, &ctx(&t, false), ea + 0x1_2345, Access::Read)
            .unwrap();
        assert_eq!(tr.ra, 0x21_2345);
        assert_eq!(tr.page_shift, 21);
    }

    #[test]
    fn bad_shape_is_unsupported() {
        let t = tree();
        let ea = 0x1000_0000u64;
        let i0 = (ea >> 39) & 0x1FFF;
        t.ram.write_be64(PGD + i0 * 8, PTE_V | PUD | 7).unwrap(); // NLS 7 at level 1
        assert_eq!(
            RadixMmu.translate(&t.ram, &ctx(&t, false), ea, Access::Read),
            Err(MmuFault::Storage(dsisr::UNSUPP_MMU))
        );
    }
}
