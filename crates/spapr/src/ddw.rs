//! Dynamic DMA Windows: the RTAS calls `ibm,query-pe-dma-window`,
//! `ibm,create-pe-dma-window`, `ibm,remove-pe-dma-window` and `ibm,reset-pe-dma-window`
//! (LoPAR "Dynamic DMA Windows"; QEMU's `spapr_rtas_ddw.c` layouts and statuses), on top of
//! the TCE registry's per-PE window state machine (`tce::TceRegistry::ddw_*`).
//!
//! The calls name a PE by (config address, BUID). [`PeLookup`] turns that pair into the PE's
//! key in the TCE registry (the BUID its windows were registered under with
//! `TceRegistry::add_pe`); the PHB provides it. Until then [`ByBuid`] does what QEMU does:
//! the PHB is found by BUID alone and the config address is ignored.
//!
//! Buffer layout (all cells big-endian u32, after the token / nargs / nret header):
//!
//! | call | args | rets |
//! |---|---|---|
//! | query | config_addr, BUID hi, BUID lo | status, windows available, largest block (1 cell, or hi/lo when nret = 6), page-size mask, migration capable |
//! | create | config_addr, BUID hi, BUID lo, page shift, window shift | status, LIOBN, bus address hi, lo |
//! | remove | LIOBN | status |
//! | reset | config_addr, BUID hi, BUID lo | status |
//!
//! Statuses: 0 success, −1 hardware error (no free window, larger than the largest block),
//! −3 parameter error (wrong cell counts, unknown PE or LIOBN, DDW disabled, page size not
//! offered, window smaller than a page).

use hv::Vm;
use tce::{RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS, RtasError, TceRegistry};

/// RTAS token of `ibm,query-pe-dma-window` (QEMU's number).
pub const QUERY_PE_DMA_WINDOW: u32 = 0x2026;
/// RTAS token of `ibm,create-pe-dma-window`.
pub const CREATE_PE_DMA_WINDOW: u32 = 0x2027;
/// RTAS token of `ibm,remove-pe-dma-window`.
pub const REMOVE_PE_DMA_WINDOW: u32 = 0x2028;
/// RTAS token of `ibm,reset-pe-dma-window`.
pub const RESET_PE_DMA_WINDOW: u32 = 0x2029;

/// The RTAS services of this module, as `(name, token)` for `/rtas`.
pub const DDW_TOKENS: [(&str, u32); 4] = [
    ("ibm,query-pe-dma-window", QUERY_PE_DMA_WINDOW),
    ("ibm,create-pe-dma-window", CREATE_PE_DMA_WINDOW),
    ("ibm,remove-pe-dma-window", REMOVE_PE_DMA_WINDOW),
    ("ibm,reset-pe-dma-window", RESET_PE_DMA_WINDOW),
];

/// Value of a PHB node's `ibm,ddw-applicable` property: the query, create and remove tokens.
pub const DDW_APPLICABLE: [u32; 3] = [
    QUERY_PE_DMA_WINDOW,
    CREATE_PE_DMA_WINDOW,
    REMOVE_PE_DMA_WINDOW,
];

/// Value of a PHB node's `ibm,ddw-extensions` property: 2 extensions, the reset token, and
/// 1 = query returns the largest block in two cells (`nret` = 6), as QEMU 7.2.
pub const DDW_EXTENSIONS: [u32; 3] = [2, RESET_PE_DMA_WINDOW, 1];

/// Finds the PE a DDW call is about.
pub trait PeLookup {
    /// The TCE-registry key (BUID given to `TceRegistry::add_pe`) of the PE that holds the
    /// device at `config_addr` (`bus << 16 | devfn << 8`, or a PE config address) under the
    /// PHB `buid`; `None` when there is no such PHB or device (the call fails with −3).
    fn pe(&self, buid: u64, config_addr: u32) -> Option<u64>;
}

/// QEMU's lookup: a PE registered under `buid` answers for any config address.
#[derive(Clone, Copy)]
pub struct ByBuid<'a>(pub &'a TceRegistry);

impl PeLookup for ByBuid<'_> {
    fn pe(&self, buid: u64, _config_addr: u32) -> Option<u64> {
        self.0.pe(buid).map(|p| p.buid)
    }
}

fn buid_of(args: &[u32]) -> u64 {
    (u64::from(args[1]) << 32) | u64::from(args[2])
}

fn status(e: RtasError) -> Vec<u32> {
    vec![e.status() as u32]
}

/// `ibm,query-pe-dma-window`: the return cells (status first) for `args` and `nret`.
pub fn query(tce: &TceRegistry, lookup: &dyn PeLookup, args: &[u32], nret: u32) -> Vec<u32> {
    if args.len() != 3 || !(nret == 5 || nret == 6) {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    }
    let Some(pe) = lookup.pe(buid_of(args), args[0]) else {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    };
    match tce.ddw_query(pe) {
        Ok(q) => {
            let mut r = vec![RTAS_OUT_SUCCESS as u32];
            if nret == 6 {
                r.extend_from_slice(&q.cells_6());
            } else {
                r.extend_from_slice(&q.cells_5());
            }
            r
        }
        Err(e) => status(e),
    }
}

/// `ibm,create-pe-dma-window`: the return cells (status first).
pub fn create(tce: &TceRegistry, lookup: &dyn PeLookup, args: &[u32], nret: u32) -> Vec<u32> {
    if args.len() != 5 || nret != 4 {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    }
    let Some(pe) = lookup.pe(buid_of(args), args[0]) else {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    };
    match tce.ddw_create(pe, args[3], args[4]) {
        Ok(c) => {
            tracing::debug!(
                liobn = format_args!("{:#x}", c.liobn),
                bus = format_args!("{:#x}", c.window.bus_offset()),
                page_shift = c.window.page_shift(),
                entries = c.window.entries(),
                "DDW created"
            );
            let mut r = vec![RTAS_OUT_SUCCESS as u32];
            r.extend_from_slice(&c.cells());
            r
        }
        Err(e) => status(e),
    }
}

/// `ibm,remove-pe-dma-window`: the return cells (status).
pub fn remove(tce: &TceRegistry, args: &[u32], nret: u32) -> Vec<u32> {
    if args.len() != 1 || nret != 1 {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    }
    match tce.ddw_remove(args[0]) {
        Ok(()) => {
            tracing::debug!(liobn = format_args!("{:#x}", args[0]), "DDW removed");
            vec![RTAS_OUT_SUCCESS as u32]
        }
        Err(e) => status(e),
    }
}

/// `ibm,reset-pe-dma-window`: the return cells (status).
pub fn reset(tce: &TceRegistry, lookup: &dyn PeLookup, args: &[u32], nret: u32) -> Vec<u32> {
    if args.len() != 3 || nret != 1 {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    }
    let Some(pe) = lookup.pe(buid_of(args), args[0]) else {
        return vec![RTAS_OUT_PARAM_ERROR as u32];
    };
    match tce.ddw_reset(pe) {
        Ok(()) => vec![RTAS_OUT_SUCCESS as u32],
        Err(e) => status(e),
    }
}

/// Runs the DDW call `token` on the RTAS argument buffer at guest real address `base`
/// (token, nargs, nret, args, rets; big-endian cells) and writes its return cells. `None`
/// when `token` is not a DDW call or the buffer is not in guest RAM (nothing is written
/// then); at most `nargs` arguments are read and at most `nret` cells written.
pub fn call(vm: &Vm, lookup: &dyn PeLookup, token: u32, base: u64) -> Option<()> {
    let ram = &vm.partition().ram;
    let cell = |i: u64| -> Option<u32> {
        let mut b = [0u8; 4];
        ram.read(base.checked_add(4 * i)?, &mut b)?;
        Some(u32::from_be_bytes(b))
    };
    if cell(0)? != token || !DDW_TOKENS.iter().any(|(_, t)| *t == token) {
        return None;
    }
    let (nargs, nret) = (cell(1)?, cell(2)?);
    // Bound the buffer before reading it (RTAS buffers are small; guests choose these).
    if nargs > 16 || nret > 16 {
        let rets = base.checked_add(12 + 4 * u64::from(nargs))?;
        if nret > 0 {
            ram.write(rets, &(RTAS_OUT_PARAM_ERROR as u32).to_be_bytes())?;
        }
        return Some(());
    }
    let args: Vec<u32> = (0..u64::from(nargs))
        .map(|i| cell(3 + i))
        .collect::<Option<_>>()?;
    let tce = vm.tce();
    let out = match token {
        QUERY_PE_DMA_WINDOW => query(tce, lookup, &args, nret),
        CREATE_PE_DMA_WINDOW => create(tce, lookup, &args, nret),
        REMOVE_PE_DMA_WINDOW => remove(tce, &args, nret),
        _ => reset(tce, lookup, &args, nret),
    };
    let rets = base.checked_add(12 + 4 * u64::from(nargs))?;
    for (i, v) in out.iter().take(nret as usize).enumerate() {
        ram.write(rets + 4 * i as u64, &v.to_be_bytes())?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::VmConfig;
    use tce::{DmaWindow, PeConfig, TCE_RW};

    const BUF: u64 = 0x4000;
    const PHB0: u64 = 0x0800_0000_2000_0000;

    fn vm() -> Vm {
        let (vm, _) = Vm::new(VmConfig {
            mem_size: 16 << 20,
            vcpus: 1,
        })
        .unwrap();
        vm.tce().add_pe(PeConfig::qemu_phb(0)).unwrap();
        vm
    }

    /// Writes an RTAS buffer, runs the call through guest memory, reads the return cells.
    fn rtas(vm: &Vm, token: u32, args: &[u32], nret: u32) -> Vec<i64> {
        let ram = &vm.partition().ram;
        let mut b = Vec::new();
        for v in [token, args.len() as u32, nret]
            .iter()
            .chain(args)
            .chain(std::iter::repeat_n(&0xDEAD_BEEFu32, nret as usize))
        {
            b.extend_from_slice(&v.to_be_bytes());
        }
        ram.write(BUF, &b).unwrap();
        call(vm, &ByBuid(vm.tce()), token, BUF).unwrap();
        let mut out = vec![0u8; 4 * nret as usize];
        ram.read(BUF + 12 + 4 * args.len() as u64, &mut out)
            .unwrap();
        out.chunks(4)
            .map(|c| i64::from(i32::from_be_bytes(c.try_into().unwrap())))
            .collect()
    }

    fn phb(cfg: u32) -> [u32; 3] {
        [cfg, (PHB0 >> 32) as u32, PHB0 as u32]
    }

    /// A return cell as `rtas` reports it (sign-extended).
    fn cell(v: u32) -> i64 {
        i64::from(v as i32)
    }

    const UNTOUCHED: i64 = 0xDEAD_BEEFu32 as i32 as i64;

    #[test]
    fn query_5_and_6_cells() {
        let vm = vm();
        let r = rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0x100), 5);
        // One free slot (the default window is active), 32-bit largest block capped,
        // 4K|64K|2M|16M, no migration.
        assert_eq!(r, vec![0, 1, 0x8000_0000u32 as i32 as i64, 0x107, 0]);
        let r = rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0x100), 6);
        assert_eq!(r, vec![0, 1, 0x20, 0, 0x107, 0]);
        // Wrong counts, unknown BUID: −3, nothing else written.
        assert_eq!(
            rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0), 4),
            vec![-3, UNTOUCHED, UNTOUCHED, UNTOUCHED]
        );
        assert_eq!(rtas(&vm, QUERY_PE_DMA_WINDOW, &[0, 0], 5)[0], -3);
        assert_eq!(
            rtas(&vm, QUERY_PE_DMA_WINDOW, &[0, 0x0800_0000, 0x2000_0001], 5)[..2],
            [-3, UNTOUCHED]
        );
    }

    #[test]
    fn linux_sequence_remove_default_create_reset() {
        let vm = vm();
        let tce = vm.tce();
        let dflt = 0x8000_0000u32;
        // Default window in use: create a second window at 2^59 (16M pages, 8 GiB).
        let r = rtas(
            &vm,
            CREATE_PE_DMA_WINDOW,
            &[0, 0x0800_0000, 0x2000_0000, 24, 33],
            4,
        );
        assert_eq!(r, vec![0, cell(dflt | 1), 0x0800_0000, 0]);
        let w = tce.table(dflt | 1).unwrap().window().unwrap();
        assert_eq!(
            (w.bus_offset(), w.page_shift(), w.entries()),
            (1 << 59, 24, 512)
        );
        // No slot left.
        assert_eq!(rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0), 5)[..2], [0, 0]);
        assert_eq!(
            rtas(
                &vm,
                CREATE_PE_DMA_WINDOW,
                &[0, 0x0800_0000, 0x2000_0000, 16, 30],
                4
            )[0],
            -1
        );
        // Map through the new window with H_PUT_TCE, then remove it: TCE calls fail.
        assert_eq!(
            tce.h_put_tce(u64::from(dflt | 1), 1 << 59, TCE_RW, vm.memory()),
            hvapi::hcall::H_SUCCESS
        );
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[dflt | 1], 1), vec![0]);
        assert_ne!(
            tce.h_put_tce(u64::from(dflt | 1), 1 << 59, TCE_RW, vm.memory()),
            hvapi::hcall::H_SUCCESS
        );
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[dflt | 1], 1), vec![-3]);
        // Linux when no window is free: remove the default window, create one at its
        // address (bus 0) with 64K pages, reuse of the default LIOBN first.
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[dflt], 1), vec![0]);
        assert_eq!(rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0), 5)[..2], [0, 2]);
        let r = rtas(
            &vm,
            CREATE_PE_DMA_WINDOW,
            &[0, 0x0800_0000, 0x2000_0000, 16, 33],
            4,
        );
        assert_eq!(r, vec![0, cell(dflt), 0, 0]);
        assert_eq!(
            tce.table(dflt).unwrap().window().unwrap().entries(),
            1 << 17
        );
        // Reset: the default window back, empty; the other slot disabled.
        assert_eq!(rtas(&vm, RESET_PE_DMA_WINDOW, &phb(0), 1), vec![0]);
        assert_eq!(
            tce.table(dflt).unwrap().window(),
            Some(DmaWindow::QEMU_DEFAULT)
        );
        assert_eq!(tce.table(dflt | 1).unwrap().window(), None);
        assert_eq!(rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0), 5)[..2], [0, 1]);
    }

    #[test]
    fn create_parameter_errors() {
        let vm = vm();
        let ok = |ps: u32, ws: u32| [0, 0x0800_0000, 0x2000_0000, ps, ws];
        // Page sizes not offered (32M, 4M, garbage), window smaller than a page.
        for (ps, ws) in [(25, 33), (22, 33), (0xFFFF_FFFF, 33), (16, 15), (24, 23)] {
            assert_eq!(
                rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(ps, ws), 4),
                vec![-3, UNTOUCHED, UNTOUCHED, UNTOUCHED],
                "page shift {ps}, window shift {ws}"
            );
        }
        // A window that does not fit 64 bits of bus space, or beyond the largest block.
        assert_eq!(rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(12, 64), 4)[0], -3);
        assert_eq!(
            rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(12, 0xFFFF_FFFF), 4)[0],
            -3
        );
        assert_eq!(rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(12, 50), 4)[0], -1);
        // Wrong counts.
        assert_eq!(rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(16, 33), 3)[0], -3);
        assert_eq!(rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(16, 33)[..4], 4)[0], -3);
        // Unknown PHB.
        assert_eq!(
            rtas(&vm, CREATE_PE_DMA_WINDOW, &[0, 0, 0, 16, 33], 4)[0],
            -3
        );
        // A huge window (2^51 bytes of 64K pages) is accepted without allocating it.
        let before = vm.tce().chunks_used();
        assert_eq!(rtas(&vm, CREATE_PE_DMA_WINDOW, &ok(16, 51), 4)[0], 0);
        assert_eq!(vm.tce().chunks_used(), before);
        // Nothing changed by the failures: one window was created.
        assert_eq!(rtas(&vm, QUERY_PE_DMA_WINDOW, &phb(0), 5)[..2], [0, 0]);
    }

    #[test]
    fn remove_and_reset_errors() {
        let vm = vm();
        // A table that is not a PE's window is not removable through DDW.
        vm.tce()
            .create_table(0x1234, DmaWindow::QEMU_DEFAULT)
            .unwrap();
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[0x1234], 1), vec![-3]);
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[0x9999], 1), vec![-3]);
        assert_eq!(
            rtas(&vm, REMOVE_PE_DMA_WINDOW, &[0x8000_0000, 0], 1),
            vec![-3]
        );
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[0x8000_0000], 0), vec![]);
        assert!(vm.tce().table(0x8000_0000).unwrap().window().is_some());
        assert_eq!(rtas(&vm, RESET_PE_DMA_WINDOW, &phb(0), 2)[0], -3);
        assert_eq!(rtas(&vm, RESET_PE_DMA_WINDOW, &[0, 1, 2], 1), vec![-3]);
        // DDW disabled on a PE: every call answers −3.
        let mut p = PeConfig::qemu_phb(1);
        p.ddw_enabled = false;
        vm.tce().add_pe(p).unwrap();
        let phb1 = [0, 0x0800_0000, 0x2000_0001];
        assert_eq!(rtas(&vm, QUERY_PE_DMA_WINDOW, &phb1, 5)[0], -3);
        assert_eq!(rtas(&vm, RESET_PE_DMA_WINDOW, &phb1, 1)[0], -3);
        assert_eq!(rtas(&vm, REMOVE_PE_DMA_WINDOW, &[0x8000_0100], 1)[0], -3);
    }

    #[test]
    fn hostile_buffers() {
        let vm = vm();
        let ram = &vm.partition().ram;
        let top = vm.partition().ram.size();
        // Buffer straddling the end of RAM: nothing written, no panic.
        assert!(call(&vm, &ByBuid(vm.tce()), QUERY_PE_DMA_WINDOW, top - 8).is_none());
        assert!(call(&vm, &ByBuid(vm.tce()), QUERY_PE_DMA_WINDOW, u64::MAX - 3).is_none());
        // Token mismatch or not a DDW token: not handled.
        ram.write(BUF, &0x2000u32.to_be_bytes()).unwrap();
        assert!(call(&vm, &ByBuid(vm.tce()), 0x2000, BUF).is_none());
        assert!(call(&vm, &ByBuid(vm.tce()), QUERY_PE_DMA_WINDOW, BUF).is_none());
        // Absurd counts: −3 in the first return cell.
        let mut b = Vec::new();
        for v in [QUERY_PE_DMA_WINDOW, 1000, 5] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        ram.write(BUF, &b).unwrap();
        assert!(call(&vm, &ByBuid(vm.tce()), QUERY_PE_DMA_WINDOW, BUF).is_some());
        let mut s = [0u8; 4];
        ram.read(BUF + 12 + 4000, &mut s).unwrap();
        assert_eq!(i32::from_be_bytes(s), -3);
    }

    /// A PHB-provided lookup that knows only some devices: unknown config addresses get −3.
    #[test]
    fn lookup_decides_the_pe() {
        struct OnlyDev(u64);
        impl PeLookup for OnlyDev {
            fn pe(&self, buid: u64, config_addr: u32) -> Option<u64> {
                (buid == self.0 && config_addr == 0x0800).then_some(self.0)
            }
        }
        let vm = vm();
        let l = OnlyDev(PHB0);
        assert_eq!(query(vm.tce(), &l, &phb(0x0800), 5)[0], 0);
        assert_eq!(query(vm.tce(), &l, &phb(0x1000), 5), vec![-3i32 as u32]);
        assert_eq!(reset(vm.tce(), &l, &phb(0x1000), 1), vec![-3i32 as u32]);
        assert_eq!(
            create(vm.tce(), &l, &[0x1000, 0x0800_0000, 0x2000_0000, 16, 30], 4)[0],
            -3i32 as u32
        );
    }

    /// The machine's RTAS dispatcher serves the four calls under QEMU's tokens, which the
    /// `/rtas` node advertises.
    #[test]
    fn machine_rtas_dispatch() {
        use crate::machine::{BootMode, IrqChipMode, Machine, MachineConfig};
        use crate::rtas::{RTAS_TOKENS, RtasOutcome};
        for (name, token) in DDW_TOKENS {
            assert!(RTAS_TOKENS.contains(&(name, token)), "{name}");
        }
        // The smallest kernel the loader takes: an ELF64 LE ET_EXEC for PPC64 with one
        // 8-byte PT_LOAD at 4 MiB (never run here).
        let mut elf = Vec::new();
        elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf.extend_from_slice(&21u16.to_le_bytes()); // EM_PPC64
        elf.extend_from_slice(&1u32.to_le_bytes());
        elf.extend_from_slice(&0x40_0000u64.to_le_bytes()); // entry
        elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
        elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
        elf.extend_from_slice(&0u32.to_le_bytes()); // flags
        for v in [64u16, 56, 1, 64, 0, 0] {
            elf.extend_from_slice(&v.to_le_bytes());
        }
        elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf.extend_from_slice(&5u32.to_le_bytes());
        for v in [120u64, 0x40_0000, 0x40_0000, 8, 8, 0x1_0000] {
            elf.extend_from_slice(&v.to_le_bytes());
        }
        elf.extend_from_slice(&[0; 8]);
        let cfg = MachineConfig {
            kernel: Some(std::sync::Arc::new(elf)),
            initrd: None,
            firmware: None,
            append: String::new(),
            cpus: 1,
            mem_size: 256 << 20,
            irqchip: IrqChipMode::Xics,
            boot: BootMode::ClientInterface,
            devices: Vec::new(),
        };
        let console = std::sync::Arc::new(crate::Console::new(Box::new(std::io::sink()), None));
        let query = |m: &Machine, config_addr: u32| -> Vec<u32> {
            let ram = &m.vm().partition().ram;
            let mut b = Vec::new();
            for v in [
                QUERY_PE_DMA_WINDOW,
                3,
                5,
                config_addr,
                0x0800_0000,
                0x2000_0000,
            ] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            b.extend_from_slice(&[0xFF; 20]);
            ram.write(BUF, &b).unwrap();
            assert_eq!(
                crate::rtas::call(m.shared(), 0, BUF),
                RtasOutcome::Return(hvapi::hcall::H_SUCCESS)
            );
            let mut out = [0u8; 20];
            ram.read(BUF + 24, &mut out).unwrap();
            out.chunks(4)
                .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
                .collect()
        };
        // No PCI device: no PHB, no PE.
        let m = Machine::new(&cfg, console.clone()).unwrap();
        assert!(m.vm().tce().pe(PHB0).is_none());
        assert_eq!(query(&m, 0)[0], -3i32 as u32);
        drop(m);
        // A disk: the PHB registers its PE (once) and answers for the disk's function only.
        let img = std::env::temp_dir().join(format!("spapr-ddw-{}.img", std::process::id()));
        std::fs::write(&img, [0u8; 4096]).unwrap();
        let cfg = MachineConfig {
            devices: vec![crate::machine::PciDeviceConfig::Disk {
                path: img.clone(),
                readonly: true,
                iommu: true,
            }],
            ..cfg
        };
        let m = Machine::new(&cfg, console).unwrap();
        assert!(
            m.vm().tce().add_pe(PeConfig::qemu_phb(0)).is_err(),
            "the PHB registered its PE"
        );
        assert_eq!(query(&m, 0), vec![0, 1, 0x8000_0000, 0x107, 0]);
        assert_eq!(query(&m, 0x0800)[0], -3i32 as u32, "empty slot");
        let _ = std::fs::remove_file(img);
    }
}
