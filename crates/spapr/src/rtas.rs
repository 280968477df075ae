//! RTAS: the run-time services the guest calls through a small firmware stub that issues
//! the KVMPPC_H_RTAS hypercall with the argument block's address.

use ppc64::REAL_ADDR_MASK;

use crate::machine::{Shared, StartError};

/// Bytes the guest reserves for RTAS (`rtas-size`).
pub const RTAS_SIZE: u32 = 0x1000;

/// The RTAS code the guest copies to its RTAS base (big-endian; RTAS runs in 32-bit BE
/// real mode): `mr r4,r3; li r3,0; ori r3,r3,0xf000; sc 1; blr`.
pub const RTAS_BLOB: [u32; 5] = [
    0x7c64_1b78,
    0x3860_0000,
    0x6063_f000,
    0x4400_0022,
    0x4e80_0020,
];

/// Service tokens (QEMU's numbering, for familiarity; the guest reads them from `/rtas`).
pub const RTAS_TOKENS: &[(&str, u32)] = &[
    ("display-character", 0x2000),
    ("get-time-of-day", 0x2001),
    ("set-time-of-day", 0x2002),
    ("power-off", 0x2003),
    ("system-reboot", 0x2004),
    ("query-cpu-stopped-state", 0x2005),
    ("start-cpu", 0x2006),
    ("stop-self", 0x2007),
    ("ibm,get-system-parameter", 0x2008),
    ("ibm,set-system-parameter", 0x2009),
    ("ibm,set-xive", 0x200a),
    ("ibm,get-xive", 0x200b),
    ("ibm,int-off", 0x200c),
    ("ibm,int-on", 0x200d),
    ("check-exception", 0x200e),
    ("event-scan", 0x200f),
    ("read-pci-config", 0x2014),
    ("write-pci-config", 0x2015),
    ("ibm,read-pci-config", 0x2016),
    ("ibm,write-pci-config", 0x2017),
    ("ibm,query-interrupt-source-number", 0x2018),
    ("ibm,change-msi", 0x2019),
    ("ibm,os-term", 0x201f),
    ("ibm,query-pe-dma-window", crate::ddw::QUERY_PE_DMA_WINDOW),
    ("ibm,create-pe-dma-window", crate::ddw::CREATE_PE_DMA_WINDOW),
    ("ibm,remove-pe-dma-window", crate::ddw::REMOVE_PE_DMA_WINDOW),
    ("ibm,reset-pe-dma-window", crate::ddw::RESET_PE_DMA_WINDOW),
    ("ibm,nmi-register", 0x202b),
    ("ibm,nmi-interlock", 0x202c),
];

const SUCCESS: i32 = 0;
const NO_ERRORS_FOUND: i32 = 1;
const HW_ERROR: i32 = -1;
const PARAM_ERROR: i32 = -3;
const NOT_AUTHORIZED: i32 = -9002;

/// What the machine must do after an RTAS call.
#[derive(Debug, PartialEq, Eq)]
pub enum RtasOutcome {
    /// Return to the caller with this hcall status.
    Return(i64),
    /// The calling vCPU stops (stop-self); it never returns from the call.
    StopSelf,
    /// Power off the machine.
    PowerOff,
    /// Reboot the machine.
    Reboot,
}

struct Args<'a> {
    shared: &'a Shared,
    base: u64,
    nargs: u32,
    nret: u32,
}

impl Args<'_> {
    fn arg(&self, i: u32) -> u32 {
        if i >= self.nargs {
            return 0;
        }
        self.shared
            .read_be32(self.base + 12 + 4 * i as u64)
            .unwrap_or(0)
    }
    fn ret(&self, i: u32, v: u32) {
        if i < self.nret {
            let _ = self
                .shared
                .write_be32(self.base + 12 + 4 * (self.nargs + i) as u64, v);
        }
    }
    fn status(&self, s: i32) {
        self.ret(0, s as u32);
    }
}

/// Handles KVMPPC_H_RTAS for vCPU `caller` with the argument block at `addr`.
pub fn call(shared: &Shared, caller: u32, addr: u64) -> RtasOutcome {
    let base = addr & REAL_ADDR_MASK;
    let (Some(token), Some(nargs), Some(nret)) = (
        shared.read_be32(base),
        shared.read_be32(base + 4),
        shared.read_be32(base + 8),
    ) else {
        return RtasOutcome::Return(hvapi::hcall::H_PARAMETER);
    };
    if nargs.saturating_add(nret) > 16
        || shared
            .vm
            .partition()
            .ram
            .host_ptr(base, 12 + 4 * (nargs + nret) as u64)
            .is_none()
    {
        return RtasOutcome::Return(hvapi::hcall::H_PARAMETER);
    }
    let a = Args {
        shared,
        base,
        nargs,
        nret,
    };
    let name = RTAS_TOKENS
        .iter()
        .find(|(_, t)| *t == token)
        .map(|(n, _)| *n)
        .unwrap_or("");
    tracing::trace!(
        token = format_args!("{token:#x}"),
        name,
        nargs,
        nret,
        "RTAS call"
    );
    let counts = |n: u32, r: u32| nargs == n && nret >= r;
    match name {
        "display-character" => {
            if nargs != 1 {
                a.status(PARAM_ERROR);
            } else {
                shared.console.write(&[a.arg(0) as u8]);
                a.status(SUCCESS);
            }
        }
        "get-time-of-day" => {
            if !counts(0, 8) {
                a.status(PARAM_ERROR);
            } else {
                let t = shared.time_of_day();
                let (y, mo, d, h, mi, s) = civil_from_unix(t.0);
                for (i, v) in [y as u32, mo, d, h, mi, s, t.1].iter().enumerate() {
                    a.ret(1 + i as u32, *v);
                }
                a.status(SUCCESS);
            }
        }
        "set-time-of-day" => {
            if !counts(7, 1) {
                a.status(PARAM_ERROR);
            } else {
                let secs = unix_from_civil(
                    a.arg(0) as i64,
                    a.arg(1),
                    a.arg(2),
                    a.arg(3),
                    a.arg(4),
                    a.arg(5),
                );
                shared.set_time_of_day(secs);
                a.status(SUCCESS);
            }
        }
        "power-off" => {
            if nargs != 2 || nret != 1 {
                a.status(PARAM_ERROR);
            } else {
                a.status(SUCCESS);
                return RtasOutcome::PowerOff;
            }
        }
        "system-reboot" => {
            if nargs != 0 || nret != 1 {
                a.status(PARAM_ERROR);
            } else {
                a.status(SUCCESS);
                return RtasOutcome::Reboot;
            }
        }
        "query-cpu-stopped-state" => {
            if !counts(1, 2) {
                a.status(PARAM_ERROR);
            } else {
                match shared.cpu_stopped(a.arg(0)) {
                    Some(stopped) => {
                        a.ret(1, if stopped { 0 } else { 2 });
                        a.status(SUCCESS);
                    }
                    None => a.status(PARAM_ERROR),
                }
            }
        }
        "start-cpu" => {
            if !counts(3, 1) {
                a.status(PARAM_ERROR);
            } else {
                match shared.start_cpu(a.arg(0), a.arg(1) as u64, a.arg(2) as u64) {
                    Ok(()) => a.status(SUCCESS),
                    Err(StartError::NoSuchCpu) => a.status(PARAM_ERROR),
                    Err(StartError::NotStopped) => a.status(HW_ERROR),
                }
            }
        }
        "stop-self" => {
            if nargs != 0 || nret != 1 {
                a.status(PARAM_ERROR);
            } else {
                a.status(SUCCESS);
                let _ = caller;
                return RtasOutcome::StopSelf;
            }
        }
        "ibm,get-system-parameter" => {
            if !counts(3, 1) {
                a.status(PARAM_ERROR);
            } else {
                let data: Option<Vec<u8>> = match a.arg(0) {
                    20 => Some(shared.splpar_characteristics().into_bytes()),
                    42 => Some(vec![0]),
                    48 => Some(vec![0u8; 16]),
                    _ => None,
                };
                match data {
                    Some(d) => {
                        let buf = a.arg(1) as u64;
                        let len = a.arg(2) as usize;
                        let mut out = (d.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&d);
                        out.truncate(len);
                        if shared.vm.partition().ram.write(buf, &out).is_some() {
                            a.status(SUCCESS);
                        } else {
                            a.status(PARAM_ERROR);
                        }
                    }
                    None => a.status(PARAM_ERROR),
                }
            }
        }
        "ibm,set-system-parameter" => {
            if !counts(2, 1) {
                a.status(PARAM_ERROR);
            } else if matches!(a.arg(0), 20 | 42 | 48) {
                a.status(NOT_AUTHORIZED);
            } else {
                a.status(PARAM_ERROR);
            }
        }
        "ibm,set-xive" | "ibm,get-xive" | "ibm,int-off" | "ibm,int-on" => {
            xics_call(shared, &a, name)
        }
        "read-pci-config"
        | "write-pci-config"
        | "ibm,read-pci-config"
        | "ibm,write-pci-config"
        | "ibm,query-interrupt-source-number"
        | "ibm,change-msi" => pci_call(shared, &a, name),
        "check-exception" | "event-scan" => {
            if nargs < 4 || nret < 1 {
                a.status(PARAM_ERROR);
            } else {
                a.status(NO_ERRORS_FOUND);
            }
        }
        "ibm,os-term" => {
            let msg = shared.read_cstring(a.arg(0) as u64, 1024);
            shared.guest_panicked(&msg);
            a.status(SUCCESS);
        }
        "ibm,nmi-register" => {
            if !counts(2, 1) {
                a.status(PARAM_ERROR);
            } else {
                shared.set_fwnmi(a.arg(0) as u64, a.arg(1) as u64);
                a.status(SUCCESS);
            }
        }
        "ibm,nmi-interlock" => a.status(SUCCESS),
        "ibm,query-pe-dma-window"
        | "ibm,create-pe-dma-window"
        | "ibm,remove-pe-dma-window"
        | "ibm,reset-pe-dma-window" => {
            // The PHB finds the PE from (BUID, config address); without a PHB there is none.
            struct NoPe;
            impl crate::ddw::PeLookup for NoPe {
                fn pe(&self, _buid: u64, _config_addr: u32) -> Option<u64> {
                    None
                }
            }
            let lookup: &dyn crate::ddw::PeLookup = match &shared.phb {
                Some(p) => &**p,
                None => &NoPe,
            };
            let _ = crate::ddw::call(&shared.vm, lookup, token, base);
        }
        _ => {
            a.status(PARAM_ERROR);
            return RtasOutcome::Return(hvapi::hcall::H_PARAMETER);
        }
    }
    RtasOutcome::Return(hvapi::hcall::H_SUCCESS)
}

/// The PCI calls of the PHB (`phb.rs`); argument and return counts as QEMU checks them
/// (wrong counts → −1, as QEMU; no PHB → −3).
fn pci_call(shared: &Shared, a: &Args, name: &str) {
    let Some(phb) = shared.phb.as_ref() else {
        a.status(PARAM_ERROR);
        return;
    };
    let buid = |i: u32| u64::from(a.arg(i)) << 32 | u64::from(a.arg(i + 1));
    let (n, r) = (a.nargs, a.nret);
    let res: Result<Vec<u32>, i32> = match name {
        "read-pci-config" if n == 2 && r == 2 => {
            phb.config_read(None, a.arg(0), a.arg(1)).map(|v| vec![v])
        }
        "ibm,read-pci-config" if n == 4 && r == 2 => phb
            .config_read(Some(buid(1)), a.arg(0), a.arg(3))
            .map(|v| vec![v]),
        "write-pci-config" if n == 3 && r == 1 => phb
            .config_write(None, a.arg(0), a.arg(1), a.arg(2))
            .map(|_| vec![]),
        "ibm,write-pci-config" if n == 5 && r == 1 => phb
            .config_write(Some(buid(1)), a.arg(0), a.arg(3), a.arg(4))
            .map(|_| vec![]),
        "ibm,query-interrupt-source-number" if n == 4 && r == 3 => phb
            .query_irq(buid(1), a.arg(0), a.arg(3))
            .map(|(irq, ty)| vec![irq, ty]),
        "ibm,change-msi" if (n == 5 || n == 6) && (r == 3 || r == 4) => phb
            .change_msi(buid(1), a.arg(0), a.arg(3), a.arg(4), a.arg(5))
            .map(|(c, s, t)| if r == 4 { vec![c, s, t] } else { vec![c, s] }),
        _ => Err(HW_ERROR),
    };
    match res {
        Ok(v) => {
            for (i, x) in v.iter().enumerate() {
                a.ret(1 + i as u32, *x);
            }
            a.status(SUCCESS);
        }
        Err(s) => a.status(s),
    }
}

fn xics_call(shared: &Shared, a: &Args, name: &str) {
    let Some(hv::IrqChip::Xics(x)) = shared.vm.irqchip() else {
        a.status(HW_ERROR);
        return;
    };
    let r = match name {
        "ibm,set-xive" if a.nargs == 3 => {
            x.rtas_set_xive(a.arg(0), a.arg(1), a.arg(2)).map(|_| None)
        }
        "ibm,get-xive" if a.nargs == 1 && a.nret >= 3 => {
            x.rtas_get_xive(a.arg(0)).map(|(s, p)| Some((s, p as u32)))
        }
        "ibm,int-off" if a.nargs == 1 => x.rtas_int_off(a.arg(0)).map(|_| None),
        "ibm,int-on" if a.nargs == 1 => x.rtas_int_on(a.arg(0)).map(|_| None),
        _ => {
            a.status(PARAM_ERROR);
            return;
        }
    };
    match r {
        Ok(Some((s, p))) => {
            a.ret(1, s);
            a.ret(2, p);
            a.status(SUCCESS);
        }
        Ok(None) => a.status(SUCCESS),
        Err(e) => a.status(e.code()),
    }
}

/// Converts seconds since the Unix epoch to (year, month, day, hour, minute, second).
pub fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// The inverse of [`civil_from_unix`] (out-of-range fields are folded in arithmetically).
pub fn unix_from_civil(y: i64, m: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    let m = m.clamp(1, 12) as i64;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d.clamp(1, 31) as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + s as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_from_unix(1_795_222_861), (2026, 11, 21, 1, 1, 1));
        for t in [0i64, 86_399, 951_782_400, 1_795_222_861, 4_102_444_800] {
            let (y, mo, d, h, mi, s) = civil_from_unix(t);
            assert_eq!(unix_from_civil(y, mo, d, h, mi, s), t);
        }
    }
}
