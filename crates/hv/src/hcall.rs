//! Hypercalls handled inside the hypervisor core, on the vCPU thread.

use hvapi::hcall::*;
use ppc64::REAL_ADDR_MASK;
use ppc64::reg::lpcr;

use crate::{IrqChip, Vcpu, VpaRegs};

const H_UNSUPPORTED_FLAG: i64 = H_UNSUPPORTED_FLAG_START;

// H_REGISTER_PROC_TBL flags.
const PROC_TABLE_MODIFY: u64 = 0x10;
const PROC_TABLE_REGISTER: u64 = 0x08;
const PROC_TABLE_RADIX: u64 = 0x04;
const PROC_TABLE_HPT_SEG: u64 = 0x02;
const PROC_TABLE_GTSE: u64 = 0x01;

// H_PAGE_INIT flags (PPC bit numbers 40, 41, 48, 49).
const H_ICACHE_INVALIDATE: u64 = 1 << (63 - 40);
const H_ICACHE_SYNCHRONIZE: u64 = 1 << (63 - 41);
const H_ZERO_PAGE: u64 = 1 << (63 - 48);
const H_COPY_PAGE: u64 = 1 << (63 - 49);

// H_GET_CPU_CHARACTERISTICS behaviour bits.
const H_CPU_BEHAV_NO_L1D_FLUSH_ENTRY: u64 = 1 << 56;
const H_CPU_BEHAV_NO_L1D_FLUSH_UACCESS: u64 = 1 << 55;
const H_CPU_BEHAV_NO_STF_BARRIER: u64 = 1 << 54;

/// VPA field offsets.
const VPA_SIZE_OFF: u64 = 4;
const VPA_STATUS_OFF: u64 = 9;
const VPA_SHARED_PROC: u8 = 0x2;
const VPA_YIELD_COUNT_OFF: u64 = 0x100;
const VPA_MIN_SIZE: u64 = 640;

/// Handles `nr` if it is a fast-path hypercall.
pub(crate) fn fast(v: &mut Vcpu, nr: u64, a: &[u64; 9]) -> Option<HcallResult> {
    let r = match nr {
        H_CEDE => cede(v),
        H_PROD => prod(v, a[0]),
        H_CONFER => {
            std::thread::yield_now();
            HcallResult::status(H_SUCCESS)
        }
        H_SET_MODE => set_mode(v, a),
        H_REGISTER_PROC_TBL => register_proc_tbl(v, a),
        H_REGISTER_VPA => register_vpa(v, a),
        H_PAGE_INIT => page_init(v, a),
        H_RANDOM => HcallResult::ok(&[ppc64::host_random()]),
        H_GET_CPU_CHARACTERISTICS => HcallResult::ok(&[
            0,
            H_CPU_BEHAV_NO_L1D_FLUSH_ENTRY
                | H_CPU_BEHAV_NO_L1D_FLUSH_UACCESS
                | H_CPU_BEHAV_NO_STF_BARRIER,
        ]),
        H_LOGICAL_CI_LOAD => ci_load(v, a[0], a[1]),
        H_LOGICAL_CI_STORE => ci_store(v, a[0], a[1], a[2]),
        H_SET_SPRG0 => {
            v.cpu.core.sprg[0] = a[0];
            HcallResult::status(H_SUCCESS)
        }
        H_SET_DABR => {
            v.cpu.core.dawr0 = a[0];
            HcallResult::status(H_SUCCESS)
        }
        H_SET_XDABR => {
            // Only the kernel and user privilege bits may be given.
            if a[1] & !0x3 != 0 {
                HcallResult::status(H_PARAMETER)
            } else {
                v.cpu.core.dawr0 = if a[1] & 3 == 0 { 0 } else { a[0] };
                v.cpu.core.dawrx0 = a[1];
                HcallResult::status(H_SUCCESS)
            }
        }
        H_SIGNAL_SYS_RESET => signal_sys_reset(v, a[0] as i64),
        _ => return irq_or_tce(v, nr, a),
    };
    Some(r)
}

fn irq_or_tce(v: &mut Vcpu, nr: u64, a: &[u64; 9]) -> Option<HcallResult> {
    if (H_INT_GET_SOURCE_INFO..=H_INT_RESET).contains(&nr)
        || matches!(nr, H_EOI | H_CPPR | H_IPI | H_IPOLL | H_XIRR | H_XIRR_X)
    {
        let chip =
            v.vm.injector
                .chip
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
        let server = v.id();
        return Some(match chip {
            Some(IrqChip::Xics(x)) => {
                let tb = v.cpu.core.timebase();
                x.hcall(server, nr, a, tb)
                    .unwrap_or(HcallResult::status(H_FUNCTION))
            }
            Some(IrqChip::Xive(_))
                if !v.vm.xive_hcalls.load(std::sync::atomic::Ordering::Relaxed) =>
            {
                HcallResult::status(H_FUNCTION)
            }
            Some(IrqChip::Xive(x)) => x
                .hcall(server, nr, a)
                .unwrap_or(HcallResult::status(H_FUNCTION)),
            None => HcallResult::status(H_FUNCTION),
        });
    }
    if matches!(nr, H_PUT_TCE | H_GET_TCE | H_STUFF_TCE | H_PUT_TCE_INDIRECT) {
        return v.vm.tce.hcall(nr, a, &v.vm.mem);
    }
    None
}

fn bump_yield_count(v: &Vcpu) {
    let vpa = v.vm.vpas.lock().unwrap_or_else(|e| e.into_inner())[v.id() as usize].vpa;
    if vpa != 0 {
        let ram = &v.vm.part.ram;
        let mut b = [0u8; 4];
        if ram.read(vpa + VPA_YIELD_COUNT_OFF, &mut b).is_some() {
            let n = u32::from_be_bytes(b).wrapping_add(1);
            let _ = ram.write(vpa + VPA_YIELD_COUNT_OFF, &n.to_be_bytes());
        }
    }
}

fn cede(v: &mut Vcpu) -> HcallResult {
    bump_yield_count(v);
    v.cpu.cede();
    bump_yield_count(v);
    HcallResult::status(H_SUCCESS)
}

fn prod(v: &Vcpu, target: u64) -> HcallResult {
    match v
        .vm
        .sink
        .vcpus
        .get(target as usize)
        .filter(|_| target < u32::MAX as u64)
    {
        Some(t) => {
            t.prod();
            HcallResult::status(H_SUCCESS)
        }
        None => HcallResult::status(H_PARAMETER),
    }
}

fn signal_sys_reset(v: &Vcpu, target: i64) -> HcallResult {
    let me = v.id() as i64;
    match target {
        t if t >= 0 => match v.vm.sink.vcpus.get(t as usize) {
            Some(c) => {
                c.request_sreset();
                HcallResult::status(H_SUCCESS)
            }
            None => HcallResult::status(H_PARAMETER),
        },
        -1 | -2 => {
            for (i, c) in v.vm.sink.vcpus.iter().enumerate() {
                if target == -1 || i as i64 != me {
                    c.request_sreset();
                }
            }
            HcallResult::status(H_SUCCESS)
        }
        _ => HcallResult::status(H_PARAMETER),
    }
}

fn set_mode(v: &mut Vcpu, a: &[u64; 9]) -> HcallResult {
    let (mflags, resource, v1, v2) = (a[0], a[1], a[2], a[3]);
    let part = &v.vm.part;
    match resource {
        1 => {
            // CIABR
            if mflags != 0 {
                return HcallResult::status(H_UNSUPPORTED_FLAG);
            }
            if v2 != 0 {
                return HcallResult::status(H_P4);
            }
            if v1 & 3 == 3 {
                return HcallResult::status(H_P3); // hypervisor privilege
            }
            v.cpu.core.ciabr = v1;
            HcallResult::status(H_SUCCESS)
        }
        2 => {
            // DAWR0
            if mflags != 0 {
                return HcallResult::status(H_UNSUPPORTED_FLAG);
            }
            if v2 & 0x4 != 0 {
                return HcallResult::status(H_P4); // DAWRX[HYP]
            }
            v.cpu.core.dawr0 = v1;
            v.cpu.core.dawrx0 = v2;
            HcallResult::status(H_SUCCESS)
        }
        3 => {
            // Address translation mode (AIL)
            if v1 != 0 {
                return HcallResult::status(H_P3);
            }
            if v2 != 0 {
                return HcallResult::status(H_P4);
            }
            if !matches!(mflags, 0 | 2 | 3) {
                return HcallResult::status(H_UNSUPPORTED_FLAG);
            }
            let l = (part.lpcr() & !lpcr::AIL) | (mflags << lpcr::AIL_SHIFT);
            part.set_lpcr(l);
            HcallResult::status(H_SUCCESS)
        }
        4 => {
            // Interrupt endianness
            if v1 != 0 {
                return HcallResult::status(H_P3);
            }
            if v2 != 0 {
                return HcallResult::status(H_P4);
            }
            let l = match mflags {
                0 => part.lpcr() & !lpcr::ILE,
                1 => part.lpcr() | lpcr::ILE,
                _ => return HcallResult::status(H_UNSUPPORTED_FLAG),
            };
            part.set_lpcr(l);
            HcallResult::status(H_SUCCESS)
        }
        _ => HcallResult::status(H_P2),
    }
}

fn register_proc_tbl(v: &mut Vcpu, a: &[u64; 9]) -> HcallResult {
    let (flags, base, page_size, table_size) = (a[0], a[1], a[2], a[3]);
    let part = &v.vm.part;
    if flags & !0x1F != 0 {
        return HcallResult::status(H_PARAMETER);
    }
    let radix_now = part.lpcr() & lpcr::HR != 0;
    if flags & PROC_TABLE_MODIFY == 0 {
        // Only a check that the requested type matches the current registration.
        let want_radix = flags & PROC_TABLE_RADIX != 0;
        return HcallResult::status(if want_radix == radix_now {
            H_SUCCESS
        } else {
            H_PARAMETER
        });
    }
    if flags & PROC_TABLE_REGISTER == 0 {
        part.prtb.store(0, std::sync::atomic::Ordering::SeqCst);
        part.flush_all_tlbs();
        return HcallResult::status(H_SUCCESS);
    }
    if flags & PROC_TABLE_HPT_SEG != 0 || flags & PROC_TABLE_RADIX == 0 {
        // Hash page tables are not offered by this platform.
        return HcallResult::status(H_PARAMETER);
    }
    if base & 0xFFF != 0 || base >> 60 != 0 {
        return HcallResult::status(H_P2);
    }
    if page_size != 0 {
        return HcallResult::status(H_P3);
    }
    if table_size > 24 {
        return HcallResult::status(H_P4);
    }
    part.prtb
        .store(base | table_size, std::sync::atomic::Ordering::SeqCst);
    let mut l = part.lpcr() | lpcr::UPRT | lpcr::HR;
    if flags & PROC_TABLE_GTSE != 0 {
        l |= lpcr::GTSE;
    } else {
        l &= !lpcr::GTSE;
    }
    part.set_lpcr(l);
    part.flush_all_tlbs();
    v.cpu.core.flush_tlb();
    HcallResult::status(H_SUCCESS)
}

fn read_be(v: &Vcpu, ra: u64, n: usize) -> Option<u64> {
    let mut b = [0u8; 8];
    v.vm.part.ram.read(ra, &mut b[..n])?;
    Some(b[..n].iter().fold(0u64, |acc, x| (acc << 8) | *x as u64))
}

fn register_vpa(v: &mut Vcpu, a: &[u64; 9]) -> HcallResult {
    let (flags, target, addr) = (a[0], a[1], a[2] & REAL_ADDR_MASK);
    if target >= v.vm.nr_vcpus as u64 {
        return HcallResult::status(H_PARAMETER);
    }
    let sub = (flags >> 45) & 7;
    let mut vpas = v.vm.vpas.lock().unwrap_or_else(|e| e.into_inner());
    let r: &mut VpaRegs = &mut vpas[target as usize];
    let ram_size = v.vm.part.ram.size();
    let in_ram = |addr: u64, len: u64| addr.checked_add(len).is_some_and(|e| e <= ram_size);
    let status = match sub {
        1 => {
            if addr % 128 != 0 || !in_ram(addr, 8) {
                H_PARAMETER
            } else {
                match read_be(v, addr + VPA_SIZE_OFF, 2) {
                    Some(size)
                        if size >= VPA_MIN_SIZE
                            && (addr & 0xFFF) + size <= 0x1000
                            && in_ram(addr, size) =>
                    {
                        r.vpa = addr;
                        let mut st = [0u8; 1];
                        if v.vm.part.ram.read(addr + VPA_STATUS_OFF, &mut st).is_some() {
                            st[0] |= VPA_SHARED_PROC;
                            let _ = v.vm.part.ram.write(addr + VPA_STATUS_OFF, &st);
                        }
                        H_SUCCESS
                    }
                    _ => H_PARAMETER,
                }
            }
        }
        2 => {
            if r.vpa == 0 {
                H_RESOURCE
            } else {
                match read_be(v, addr + 4, 4).filter(|_| in_ram(addr, 8)) {
                    Some(size) if size >= 48 && in_ram(addr, size) => {
                        r.dtl = addr;
                        r.dtl_size = size as u32;
                        H_SUCCESS
                    }
                    _ => H_PARAMETER,
                }
            }
        }
        3 => {
            if r.vpa == 0 {
                H_RESOURCE
            } else {
                match read_be(v, addr + 4, 4).filter(|_| in_ram(addr, 8)) {
                    Some(size)
                        if size >= 8 && (addr & 0xFFF) + size <= 0x1000 && in_ram(addr, size) =>
                    {
                        r.slb_shadow = addr;
                        r.slb_shadow_size = size as u32;
                        H_SUCCESS
                    }
                    _ => H_PARAMETER,
                }
            }
        }
        5 => {
            if r.dtl != 0 || r.slb_shadow != 0 {
                H_RESOURCE
            } else {
                r.vpa = 0;
                H_SUCCESS
            }
        }
        6 => {
            r.dtl = 0;
            r.dtl_size = 0;
            H_SUCCESS
        }
        7 => {
            r.slb_shadow = 0;
            r.slb_shadow_size = 0;
            H_SUCCESS
        }
        _ => H_PARAMETER,
    };
    HcallResult::status(status)
}

fn page_init(v: &mut Vcpu, a: &[u64; 9]) -> HcallResult {
    let (flags, dst, src) = (a[0], a[1] & REAL_ADDR_MASK, a[2] & REAL_ADDR_MASK);
    if flags & !(H_ICACHE_INVALIDATE | H_ICACHE_SYNCHRONIZE | H_ZERO_PAGE | H_COPY_PAGE) != 0 {
        return HcallResult::status(H_PARAMETER);
    }
    let ram = &v.vm.part.ram;
    if dst & 0xFFF != 0 || ram.host_ptr(dst, 4096).is_none() {
        return HcallResult::status(H_PARAMETER);
    }
    if flags & H_COPY_PAGE != 0 {
        if src & 0xFFF != 0 || ram.host_ptr(src, 4096).is_none() {
            return HcallResult::status(H_PARAMETER);
        }
        let mut buf = vec![0u8; 4096];
        let _ = ram.read(src, &mut buf);
        let _ = ram.write(dst, &buf);
    } else if flags & H_ZERO_PAGE != 0 {
        let _ = ram.write(dst, &[0u8; 4096]);
    }
    v.vm.part.code.invalidate_range(dst, 4096);
    HcallResult::status(H_SUCCESS)
}

fn ci_load(v: &mut Vcpu, size: u64, addr: u64) -> HcallResult {
    let n = match size {
        1 | 2 | 4 | 8 => size as usize,
        _ => return HcallResult::status(H_PARAMETER),
    };
    let ra = addr & REAL_ADDR_MASK;
    let mut b = [0u8; 8];
    let ok = v.vm.part.ram.read(ra, &mut b[..n]).is_some()
        || ppc64::Bus::read(&*v.vm.bus, v.id(), ra, &mut b[..n]);
    if !ok {
        return HcallResult::status(H_PARAMETER);
    }
    HcallResult::ok(&[b[..n].iter().fold(0u64, |acc, x| (acc << 8) | *x as u64)])
}

fn ci_store(v: &mut Vcpu, size: u64, addr: u64, val: u64) -> HcallResult {
    let n = match size {
        1 | 2 | 4 | 8 => size as usize,
        _ => return HcallResult::status(H_PARAMETER),
    };
    let ra = addr & REAL_ADDR_MASK;
    let bytes = val.to_be_bytes();
    let b = &bytes[8 - n..];
    let ok = if v.vm.part.ram.write(ra, b).is_some() {
        v.vm.part.code.invalidate_range(ra, n as u64);
        true
    } else {
        ppc64::Bus::write(&*v.vm.bus, v.id(), ra, b)
    };
    HcallResult::status(if ok { H_SUCCESS } else { H_PARAMETER })
}
