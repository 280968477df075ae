//! ESB and TIMA MMIO, byte-oriented like a KVM MMIO exit. All data is big-endian.

use crate::tctx::{self, Tctx};
use crate::{TIMA_PAGE_SHIFT, TIMA_SIZE, Tables, Xive, guest_error};

/// ESB management-page load offsets.
pub const ESB_LOAD_EOI: u64 = 0x000;
/// Read PQ.
pub const ESB_GET: u64 = 0x800;
/// Set PQ=00 (loads return the previous PQ).
pub const ESB_SET_PQ_00: u64 = 0xC00;
/// Set PQ=01.
pub const ESB_SET_PQ_01: u64 = 0xD00;
/// Set PQ=10.
pub const ESB_SET_PQ_10: u64 = 0xE00;
/// Set PQ=11.
pub const ESB_SET_PQ_11: u64 = 0xF00;
/// StoreEOI store offset.
pub const ESB_STORE_EOI: u64 = 0x400;

/// TIMA page of the OS view.
pub const TIMA_OS_PAGE: u64 = 2;
/// ACK_OS_REG special load (2 bytes).
pub const TM_SPC_ACK_OS_REG: u64 = 0x810;
/// SET_OS_PENDING special store (1 byte).
pub const TM_SPC_SET_OS_PENDING: u64 = 0x812;
/// PULL_OS_CTX (hypervisor only).
pub const TM_SPC_PULL_OS_CTX: u64 = 0x818;
/// ACK_OS_EL (OS reporting line, not implemented by QEMU).
pub const TM_SPC_ACK_OS_EL: u64 = 0xC10;
/// QW1 (OS ring) base in the register area.
pub const TM_QW1_OS: u64 = 0x10;

/// Result of an ESB access: the loaded value (`None` = invalid access) and the LSI whose
/// EOI must be reported to the ack listener.
pub(crate) struct EsbOutcome {
    pub value: Option<u64>,
    pub lsi_eoi: Option<u32>,
}

/// Per-byte visibility of the OS ring (QW1) through the OS page: bit 0 = readable,
/// bit 1 = writable. NSR r, CPPR rw, IPB r, LSMFB r, ACK_CNT r, INC r, AGE hidden, PIPR r,
/// WORD2/WORD3 hidden.
const OS_VIEW_QW1: [u8; 16] = [1, 3, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
/// Same through the HW/HV pages: everything but AGE and WORD3 readable.
const HV_VIEW_QW1: [u8; 16] = [1, 3, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0];

impl Xive {
    /// Guest load from the ESB region at `offset` (relative to the region base). `data.len()`
    /// is the access size; the result is big-endian. Invalid accesses read all-ones.
    pub fn esb_read(&self, offset: u64, data: &mut [u8]) {
        let out = {
            let t = self.t.read();
            let out = if data.len() == 8 {
                self.esb_access(&t, offset, None)
            } else {
                guest_error!(offset, size = data.len(), "XIVE: ESB load of invalid size");
                EsbOutcome {
                    value: None,
                    lsi_eoi: None,
                }
            };
            let listener = out.lsi_eoi.and_then(|_| t.ack_listener.clone());
            (out, listener)
        };
        let mut value = out.0.value;
        if let Some(lisn) = out.0.lsi_eoi {
            // An LSI load-EOI answers whether the event was forwarded again.
            value = Some(u64::from(self.finish_lsi_eoi(out.1, lisn)));
        }
        match value {
            Some(v) => data.copy_from_slice(&v.to_be_bytes()),
            None => data.fill(0xFF),
        }
    }

    /// Guest store to the ESB region at `offset`. Invalid stores are ignored.
    pub fn esb_write(&self, offset: u64, data: &[u8]) {
        let (lsi_eoi, listener) = {
            let t = self.t.read();
            let lsi_eoi = if data.len() == 8 {
                let mut v = [0u8; 8];
                v.copy_from_slice(data);
                self.esb_access(&t, offset, Some(u64::from_be_bytes(v)))
                    .lsi_eoi
            } else {
                guest_error!(offset, size = data.len(), "XIVE: ESB store of invalid size");
                None
            };
            (lsi_eoi, lsi_eoi.and_then(|_| t.ack_listener.clone()))
        };
        if let Some(lisn) = lsi_eoi {
            self.finish_lsi_eoi(listener, lisn);
        }
    }

    /// One 8-byte ESB access (`store` = value for a store, `None` for a load). Shared by MMIO
    /// and `H_INT_ESB`.
    pub(crate) fn esb_access(&self, t: &Tables, offset: u64, store: Option<u64>) -> EsbOutcome {
        let invalid = EsbOutcome {
            value: None,
            lsi_eoi: None,
        };
        let shift = self.cfg.esb_shift;
        let lisn64 = offset >> shift;
        if lisn64 >= u64::from(self.cfg.nr_irqs) {
            guest_error!(offset, "XIVE: ESB access beyond the ESB region");
            return invalid;
        }
        let lisn = lisn64 as u32;
        let Some(src) = t.sources.get(lisn) else {
            guest_error!(lisn, offset, "XIVE: ESB access to an unclaimed source");
            return invalid;
        };
        let trigger_page = self.cfg.two_page() && (offset >> (shift - 1)) & 1 == 0;
        let op = offset & 0xFFF;
        let lsi = src.is_lsi();
        let mut fwd = false;
        let mut lsi_eoi = None;
        let value = match store {
            None if trigger_page => {
                guest_error!(lisn, offset, "XIVE: load from a trigger page");
                None
            }
            None => match op {
                0x000..=0x7FF if lsi => {
                    // Finished by the caller (`finish_lsi_eoi`), which supplies the value.
                    src.lsi_eoi_reset();
                    lsi_eoi = Some(lisn);
                    Some(0)
                }
                0x000..=0x7FF => {
                    fwd = src.eoi();
                    Some(u64::from(fwd))
                }
                0x800..=0xBFF => Some(u64::from(src.pq())),
                _ => {
                    let (old, f) = src.set_pq(((op >> 8) & 3) as u8);
                    fwd = f;
                    Some(u64::from(old))
                }
            },
            Some(_) if trigger_page => {
                fwd = src.trigger();
                Some(0)
            }
            Some(_) => match op {
                0x000..=0x3FF => {
                    fwd = src.trigger();
                    Some(0)
                }
                0x400..=0x7FF if self.cfg.store_eoi => {
                    if lsi {
                        src.lsi_eoi_reset();
                        lsi_eoi = Some(lisn);
                    } else {
                        fwd = src.eoi();
                    }
                    Some(0)
                }
                0x400..=0x7FF => {
                    guest_error!(lisn, "XIVE: StoreEOI on a source without StoreEOI");
                    None
                }
                0x800..=0xBFF => {
                    guest_error!(lisn, op, "XIVE: invalid ESB store offset");
                    None
                }
                _ => {
                    let (_, f) = src.set_pq(((op >> 8) & 3) as u8);
                    fwd = f;
                    Some(0)
                }
            },
        };
        if fwd {
            self.route(t, lisn, src);
        }
        EsbOutcome { value, lsi_eoi }
    }

    // ---- TIMA ---------------------------------------------------------------------------

    /// Guest load from the TIMA at `offset` (relative to the TIMA base) by the vCPU whose
    /// interrupt server is `server`. Invalid accesses read all-ones.
    pub fn tima_read(&self, server: u32, offset: u64, data: &mut [u8]) {
        let t = self.t.read();
        let value = self.tima_access(&t, server, offset, data.len(), None);
        match value {
            Some(v) => {
                let b = v.to_be_bytes();
                data.copy_from_slice(&b[8 - data.len()..]);
            }
            None => data.fill(0xFF),
        }
    }

    /// Guest store to the TIMA at `offset` by the vCPU `server`. Invalid stores are ignored.
    pub fn tima_write(&self, server: u32, offset: u64, data: &[u8]) {
        if !matches!(data.len(), 1 | 2 | 4 | 8) {
            guest_error!(
                server,
                offset,
                size = data.len(),
                "XIVE: TIMA store of invalid size"
            );
            return;
        }
        let mut b = [0u8; 8];
        b[8 - data.len()..].copy_from_slice(data);
        let t = self.t.read();
        self.tima_access(&t, server, offset, data.len(), Some(u64::from_be_bytes(b)));
    }

    fn tima_access(
        &self,
        t: &Tables,
        server: u32,
        offset: u64,
        size: usize,
        store: Option<u64>,
    ) -> Option<u64> {
        if !matches!(size, 1 | 2 | 4 | 8) || offset >= TIMA_SIZE {
            guest_error!(
                server,
                offset,
                size,
                "XIVE: TIMA access of invalid size/offset"
            );
            return None;
        }
        let Some(srv) = t.server(server) else {
            guest_error!(server, "XIVE: TIMA access from an unknown server");
            return None;
        };
        let page = offset >> TIMA_PAGE_SHIFT;
        let off = offset & 0xFFF;
        let mut tc = srv.tctx.lock();
        if !tc.connected {
            guest_error!(
                server,
                "XIVE: TIMA access from a vCPU not connected to XIVE"
            );
            return None;
        }
        let os_ok = page <= TIMA_OS_PAGE;
        match (off, size, store) {
            (TM_SPC_ACK_OS_REG, 2, None) if os_ok => {
                let was = tc.line();
                let v = tc.accept();
                if was && !tc.line() {
                    self.sink.set_external(server, false);
                }
                Some(u64::from(v))
            }
            (0x11, 1, Some(v)) if os_ok => {
                self.set_cppr(&mut tc, server, v as u8);
                Some(0)
            }
            (TM_SPC_SET_OS_PENDING, 1, Some(v)) if os_ok => {
                if tc.post(v as u8) {
                    self.sink.set_external(server, true);
                }
                Some(0)
            }
            (TM_SPC_ACK_OS_EL, 1, Some(_)) if page == TIMA_OS_PAGE => {
                guest_error!(
                    server,
                    "XIVE: ACK_OS_EL (OS reporting line) is not implemented"
                );
                None
            }
            (0x00..=0x3F, 4 | 8, _) if off.is_multiple_of(size as u64) => {
                self.tima_raw(&mut tc, server, page, off, size, store)
            }
            _ => {
                guest_error!(
                    server,
                    page,
                    off,
                    size,
                    write = store.is_some(),
                    "XIVE: unsupported TIMA access"
                );
                None
            }
        }
    }

    fn set_cppr(&self, tc: &mut Tctx, server: u32, cppr: u8) {
        if tc.set_cppr(cppr) {
            self.sink.set_external(server, true);
        }
    }

    /// Raw 4/8-byte access to the register area. Only QW1 (the OS ring) is modelled: reads
    /// through the OS page see the OS view; through the HW/HV pages the full ring; a raw
    /// write through the OS page can only change CPPR.
    fn tima_raw(
        &self,
        tc: &mut Tctx,
        server: u32,
        page: u64,
        off: u64,
        size: usize,
        store: Option<u64>,
    ) -> Option<u64> {
        let ring = off & !0xF;
        let view = match page {
            0 | 1 => &HV_VIEW_QW1,
            2 => &OS_VIEW_QW1,
            _ => {
                guest_error!(server, off, "XIVE: raw access through the USER TIMA page");
                return None;
            }
        };
        if ring != TM_QW1_OS {
            guest_error!(server, off, "XIVE: raw TIMA access to an unmodelled ring");
            return None;
        }
        let first = (off & 0xF) as usize;
        let bytes = first..first + size;
        match store {
            None => {
                if view[bytes.clone()].iter().all(|&m| m & 1 == 0) {
                    guest_error!(server, off, "XIVE: raw TIMA load of hidden registers");
                    return None;
                }
                let mut v = 0u64;
                for i in bytes {
                    let b = if view[i] & 1 != 0 { tc.regs[i] } else { 0 };
                    v = (v << 8) | u64::from(b);
                }
                Some(v)
            }
            Some(v) => {
                if page != TIMA_OS_PAGE || !bytes.contains(&tctx::CPPR) {
                    guest_error!(server, page, off, "XIVE: raw TIMA store ignored");
                    return None;
                }
                let shift = 8 * (first + size - 1 - tctx::CPPR);
                self.set_cppr(tc, server, (v >> shift) as u8);
                Some(0)
            }
        }
    }
}
