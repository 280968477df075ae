//! The `H_INT_*` hypercalls (PAPR, as QEMU's `spapr_xive` implements them).

use hvapi::hcall::*;

use crate::end::{End, VALID_QSHIFTS, queue_backed};
use crate::source::{
    EAS_END_DATA, EAS_MASKED, EAS_VALID, PQ_OFF, Source, eas_end_index, eas_with_end_index,
};
use crate::{Tables, Xive, guest_error};

/// GET_SOURCE_INFO output flag: the guest must use H_INT_ESB for ESB management.
pub const SRC_H_INT_ESB: u64 = 0x8;
/// GET_SOURCE_INFO output flag: level-sensitive source.
pub const SRC_LSI: u64 = 0x4;
/// GET_SOURCE_INFO output flag: the management page also triggers (one-page mode).
pub const SRC_TRIGGER: u64 = 0x2;
/// GET_SOURCE_INFO output flag: StoreEOI supported.
pub const SRC_STORE_EOI: u64 = 0x1;
/// SET_SOURCE_CONFIG flag: update the EISN.
pub const SRC_SET_EISN: u64 = 0x2;
/// SET_SOURCE_CONFIG flag: mask the EAS.
pub const SRC_MASK: u64 = 0x1;
/// SET/GET_QUEUE_CONFIG flag: unconditional notify.
pub const END_ALWAYS_NOTIFY: u64 = 0x1;
/// GET_QUEUE_CONFIG input flag: return debug data.
pub const END_DEBUG: u64 = 0x1;
/// GET_QUEUE_CONFIG output flag (with DEBUG): generation bit, PAPR's PPC bit 62.
pub const END_GENERATION: u64 = 0x2;
/// H_INT_ESB flag: store (else load).
pub const ESB_STORE: u64 = 0x1;

type HResult = Result<HcallResult, i64>;

impl Xive {
    /// Handle a PAPR hypercall made by the vCPU `server`. `args` are r4..r12. Returns `None`
    /// if `opcode` is not an `H_INT_*` call.
    pub fn hcall(&self, server: u32, opcode: u64, args: &[u64; 9]) -> Option<HcallResult> {
        let r = match opcode {
            H_INT_GET_SOURCE_INFO => self.h_get_source_info(args),
            H_INT_SET_SOURCE_CONFIG => self.h_set_source_config(args),
            H_INT_GET_SOURCE_CONFIG => self.h_get_source_config(args),
            H_INT_GET_QUEUE_INFO => self.h_get_queue_info(args),
            H_INT_SET_QUEUE_CONFIG => self.h_set_queue_config(args),
            H_INT_GET_QUEUE_CONFIG => self.h_get_queue_config(args),
            // QEMU does not implement the OS reporting line either.
            H_INT_SET_OS_REPORTING_LINE | H_INT_GET_OS_REPORTING_LINE => Err(H_FUNCTION),
            H_INT_ESB => self.h_esb(args),
            H_INT_SYNC => self.h_sync(args),
            H_INT_RESET => self.h_reset(args),
            _ => return None,
        };
        let r = r.unwrap_or_else(HcallResult::status);
        if r.ret != H_SUCCESS {
            tracing::debug!(server, opcode, ret = r.ret, "XIVE hcall failed");
        }
        Some(r)
    }

    /// LISN argument check: in range and claimed (EAS valid), else H_P2.
    fn lisn_arg<'t>(&self, t: &'t Tables, lisn: u64) -> Result<(u32, &'t Source), i64> {
        let l = u32::try_from(lisn).map_err(|_| H_P2)?;
        match t.sources.get(l) {
            Some(s) if l < self.cfg.nr_irqs => Ok((l, s)),
            _ => {
                guest_error!(lisn, "XIVE: hcall on an unknown LISN");
                Err(H_P2)
            }
        }
    }

    /// Target argument check: a connected vCPU, else `err`.
    fn target_arg(&self, t: &Tables, target: u64, err: i64) -> Result<u32, i64> {
        let s = u32::try_from(target).map_err(|_| err)?;
        t.connected(s).map(|_| s).ok_or(err)
    }

    fn h_get_source_info(&self, a: &[u64; 9]) -> HResult {
        if a[0] != 0 {
            return Err(H_PARAMETER);
        }
        let t = self.t.read();
        let (lisn, src) = self.lisn_arg(&t, a[1])?;
        let mut flags = 0;
        if !self.cfg.two_page() {
            flags |= SRC_TRIGGER;
        }
        if self.cfg.store_eoi {
            flags |= SRC_STORE_EOI;
        }
        if src.is_lsi() {
            flags |= SRC_H_INT_ESB | SRC_LSI;
        }
        let hcall_esb = flags & SRC_H_INT_ESB != 0;
        let eoi_page = if hcall_esb {
            u64::MAX
        } else {
            self.cfg
                .esb_base
                .wrapping_add(self.cfg.mgmt_page_offset(lisn))
        };
        let trig_page = if self.cfg.two_page() && !hcall_esb {
            self.cfg
                .esb_base
                .wrapping_add(u64::from(lisn) << self.cfg.esb_shift)
        } else {
            u64::MAX
        };
        let shift = if self.cfg.two_page() {
            self.cfg.esb_shift - 1
        } else {
            self.cfg.esb_shift
        };
        Ok(HcallResult::ok(&[
            flags,
            eoi_page,
            trig_page,
            u64::from(shift),
        ]))
    }

    fn h_set_source_config(&self, a: &[u64; 9]) -> HResult {
        let (flags, target, prio, eisn) = (a[0], a[2], a[3], a[4]);
        if flags & !(SRC_SET_EISN | SRC_MASK) != 0 {
            return Err(H_PARAMETER);
        }
        // Taken for write: once the call returns no in-flight event uses the old EAS.
        let t = self.t.write();
        let (_, src) = self.lisn_arg(&t, a[1])?;
        if prio == 0xFF {
            src.set_eas(EAS_VALID | EAS_MASKED);
            return Ok(HcallResult::ok(&[]));
        }
        let old = src.eas();
        let mut eas = if flags & SRC_MASK != 0 {
            old | EAS_MASKED
        } else {
            old & !EAS_MASKED
        };
        if !self.prio_ok(prio) {
            return Err(H_P4);
        }
        let target = self.target_arg(&t, target, H_P3)?;
        // target < MAX_SERVERS and prio < 8: the END index fits its 24-bit field.
        eas = eas_with_end_index(eas, (target << 3) | prio as u32);
        if flags & SRC_SET_EISN != 0 {
            eas = (eas & !EAS_END_DATA) | (eisn & EAS_END_DATA);
        }
        src.set_eas(eas | EAS_VALID);
        Ok(HcallResult::ok(&[]))
    }

    fn h_get_source_config(&self, a: &[u64; 9]) -> HResult {
        if a[0] != 0 {
            return Err(H_PARAMETER);
        }
        let t = self.t.read();
        let (_, src) = self.lisn_arg(&t, a[1])?;
        let eas = src.eas();
        let end = eas_end_index(eas);
        let prio = if eas & EAS_MASKED != 0 {
            0xFF
        } else {
            u64::from(end & 7)
        };
        Ok(HcallResult::ok(&[
            u64::from(end >> 3),
            prio,
            eas & EAS_END_DATA,
        ]))
    }

    /// Common checks of the queue calls: reserved priority → H_P3, unknown target → H_P2.
    fn queue_args(&self, t: &Tables, target: u64, prio: u64) -> Result<(u32, usize), i64> {
        if !self.prio_ok(prio) {
            guest_error!(prio, "XIVE: queue call with a reserved priority");
            return Err(H_P3);
        }
        let server = self.target_arg(t, target, H_P2)?;
        Ok((server, prio as usize))
    }

    fn h_get_queue_info(&self, a: &[u64; 9]) -> HResult {
        if a[0] != 0 {
            return Err(H_PARAMETER);
        }
        let t = self.t.read();
        let (server, prio) = self.queue_args(&t, a[1], a[2])?;
        let srv = t.server(server).ok_or(H_P2)?;
        let end = *srv.ends[prio].lock();
        let addr = self.end_esb_addr((server << 3) | prio as u32);
        Ok(HcallResult::ok(&[addr, u64::from(end.qshift)]))
    }

    fn h_set_queue_config(&self, a: &[u64; 9]) -> HResult {
        let (flags, qpage, qshift) = (a[0], a[3], a[4]);
        if flags & !END_ALWAYS_NOTIFY != 0 {
            return Err(H_PARAMETER);
        }
        let t = self.t.read();
        let (server, prio) = self.queue_args(&t, a[1], a[2])?;
        let new = match u8::try_from(qshift) {
            Ok(0) => End::reset(),
            Ok(s) if VALID_QSHIFTS.contains(&s) => {
                if !queue_backed(&self.mem, qpage, s) {
                    guest_error!(qpage, qshift, "XIVE: event queue not aligned or not in RAM");
                    return Err(H_P4);
                }
                End::configured(qpage, s, flags & END_ALWAYS_NOTIFY != 0)
            }
            _ => return Err(H_P5),
        };
        let srv = t.server(server).ok_or(H_P2)?;
        *srv.ends[prio].lock() = new;
        Ok(HcallResult::ok(&[]))
    }

    fn h_get_queue_config(&self, a: &[u64; 9]) -> HResult {
        let flags = a[0];
        if flags & !END_DEBUG != 0 {
            return Err(H_PARAMETER);
        }
        let t = self.t.read();
        let (server, prio) = self.queue_args(&t, a[1], a[2])?;
        let srv = t.server(server).ok_or(H_P2)?;
        let end = *srv.ends[prio].lock();
        let mut qflags = if end.always_notify {
            END_ALWAYS_NOTIFY
        } else {
            0
        };
        let (qpage, qshift) = if end.is_valid() {
            (end.qaddr, u64::from(end.qshift))
        } else {
            (0, 0)
        };
        let mut index = 0;
        if flags & END_DEBUG != 0 {
            if end.generation {
                qflags |= END_GENERATION;
            }
            index = u64::from(end.index);
        }
        Ok(HcallResult::ok(&[qflags, qpage, qshift, index]))
    }

    fn h_esb(&self, a: &[u64; 9]) -> HResult {
        let (flags, offset, data) = (a[0], a[2], a[3]);
        if flags & !ESB_STORE != 0 {
            return Err(H_PARAMETER);
        }
        let (out, listener) = {
            let t = self.t.read();
            let (lisn, _) = self.lisn_arg(&t, a[1])?;
            if offset > 1u64 << self.cfg.esb_shift {
                return Err(H_P3);
            }
            // Same address computation as an MMIO access to the management page.
            let abs = self.cfg.mgmt_page_offset(lisn).wrapping_add(offset);
            let store = (flags & ESB_STORE != 0).then_some(data);
            // Whether the access lands on a claimed source's pages; only then is it
            // performed (an invalid operation there reads as all-ones / is ignored, as the
            // MMIO access would be).
            let target = abs >> self.cfg.esb_shift;
            let mapped =
                target < u64::from(self.cfg.nr_irqs) && t.sources.get(target as u32).is_some();
            let mut out = self.esb_access(&t, abs, store);
            if mapped && out.value.is_none() {
                out.value = Some(u64::MAX);
            }
            let listener = out.lsi_eoi.and_then(|_| t.ack_listener.clone());
            (out, listener)
        };
        let mut value = out.value;
        if let Some(lisn) = out.lsi_eoi {
            let fwd = self.finish_lsi_eoi(listener, lisn);
            value = Some(u64::from(fwd));
        }
        match value {
            None => Err(H_HARDWARE),
            Some(_) if flags & ESB_STORE != 0 => Ok(HcallResult::ok(&[u64::MAX])),
            Some(v) => Ok(HcallResult::ok(&[v])),
        }
    }

    fn h_sync(&self, a: &[u64; 9]) -> HResult {
        if a[0] != 0 {
            return Err(H_PARAMETER);
        }
        {
            let t = self.t.read();
            self.lisn_arg(&t, a[1])?;
        }
        // Events are routed synchronously under the read lock: taking the write lock once
        // waits for every in-flight delivery to reach its queue.
        drop(self.t.write());
        Ok(HcallResult::ok(&[]))
    }

    fn h_reset(&self, a: &[u64; 9]) -> HResult {
        if a[0] != 0 {
            return Err(H_PARAMETER);
        }
        self.reset_routing();
        Ok(HcallResult::ok(&[]))
    }

    /// H_INT_RESET / KVM CTRL RESET: every claimed source masked (EAS VALID|MASKED, PQ=01),
    /// every END reset. Claimed LISNs stay claimed; LSI line levels are kept; presenters are
    /// untouched.
    pub fn reset_routing(&self) {
        let t = self.t.write();
        for (_, src) in t.sources.iter() {
            src.set_eas(EAS_VALID | EAS_MASKED);
            src.set_pq(PQ_OFF);
        }
        for srv in t.servers.iter() {
            for e in &srv.ends {
                *e.lock() = End::reset();
            }
        }
    }
}
