//! PAPR hypercall return codes and opcodes (LoPAR, Linux `asm/hvcall.h`).
//!
//! Calling convention: `sc 1` with r3 = opcode, r4..r12 = arguments; the hypervisor returns
//! the status in r3 and outputs in r4... `H_Pn` means "argument n is bad", counting r4 as 1.

#![allow(missing_docs)]

// ---- return codes -------------------------------------------------------------------------
pub const H_SUCCESS: i64 = 0;
pub const H_BUSY: i64 = 1;
pub const H_CLOSED: i64 = 2;
pub const H_NOT_AVAILABLE: i64 = 3;
pub const H_CONSTRAINED: i64 = 4;
pub const H_PARTIAL: i64 = 5;
pub const H_IN_PROGRESS: i64 = 14;
pub const H_PAGE_REGISTERED: i64 = 15;
pub const H_PARTIAL_STORE: i64 = 16;
pub const H_PENDING: i64 = 17;
pub const H_CONTINUE: i64 = 18;
pub const H_LONG_BUSY_ORDER_1_MSEC: i64 = 9900;
pub const H_LONG_BUSY_ORDER_10_MSEC: i64 = 9901;
pub const H_LONG_BUSY_ORDER_100_MSEC: i64 = 9902;
pub const H_LONG_BUSY_ORDER_1_SEC: i64 = 9903;
pub const H_LONG_BUSY_ORDER_10_SEC: i64 = 9904;
pub const H_LONG_BUSY_ORDER_100_SEC: i64 = 9905;
pub const H_HARDWARE: i64 = -1;
pub const H_FUNCTION: i64 = -2;
pub const H_PRIVILEGE: i64 = -3;
pub const H_PARAMETER: i64 = -4;
pub const H_BAD_MODE: i64 = -5;
pub const H_PTEG_FULL: i64 = -6;
pub const H_NOT_FOUND: i64 = -7;
pub const H_RESERVED_DABR: i64 = -8;
pub const H_NO_MEM: i64 = -9;
pub const H_AUTHORITY: i64 = -10;
pub const H_PERMISSION: i64 = -11;
pub const H_DROPPED: i64 = -12;
pub const H_RESOURCE: i64 = -16;
pub const H_NOT_ENOUGH_RESOURCES: i64 = -44;
pub const H_ABORTED: i64 = -54;
pub const H_P2: i64 = -55;
pub const H_P3: i64 = -56;
pub const H_P4: i64 = -57;
pub const H_P5: i64 = -58;
pub const H_P6: i64 = -59;
pub const H_P7: i64 = -60;
pub const H_P8: i64 = -61;
pub const H_P9: i64 = -62;
pub const H_NOOP: i64 = -63;
pub const H_TOO_BIG: i64 = -64;
pub const H_UNSUPPORTED: i64 = -67;
pub const H_OVERLAP: i64 = -68;
pub const H_INTERRUPT: i64 = -69;
pub const H_BAD_DATA: i64 = -70;
pub const H_STATE: i64 = -75;
pub const H_IN_USE: i64 = -77;
pub const H_UNSUPPORTED_FLAG_START: i64 = -256;
pub const H_UNSUPPORTED_FLAG_END: i64 = -511;
pub const H_MULTI_THREADS_ACTIVE: i64 = -9005;

// ---- opcodes ------------------------------------------------------------------------------
pub const H_REMOVE: u64 = 0x04;
pub const H_ENTER: u64 = 0x08;
pub const H_READ: u64 = 0x0C;
pub const H_CLEAR_MOD: u64 = 0x10;
pub const H_CLEAR_REF: u64 = 0x14;
pub const H_PROTECT: u64 = 0x18;
pub const H_GET_TCE: u64 = 0x1C;
pub const H_PUT_TCE: u64 = 0x20;
pub const H_SET_SPRG0: u64 = 0x24;
pub const H_SET_DABR: u64 = 0x28;
pub const H_PAGE_INIT: u64 = 0x2C;
pub const H_LOGICAL_CI_LOAD: u64 = 0x3C;
pub const H_LOGICAL_CI_STORE: u64 = 0x40;
pub const H_GET_TERM_CHAR: u64 = 0x54;
pub const H_PUT_TERM_CHAR: u64 = 0x58;
pub const H_EOI: u64 = 0x64;
pub const H_CPPR: u64 = 0x68;
pub const H_IPI: u64 = 0x6C;
pub const H_IPOLL: u64 = 0x70;
pub const H_XIRR: u64 = 0x74;
pub const H_REGISTER_VPA: u64 = 0xDC;
pub const H_CEDE: u64 = 0xE0;
pub const H_CONFER: u64 = 0xE4;
pub const H_PROD: u64 = 0xE8;
pub const H_GET_PPP: u64 = 0xEC;
pub const H_SET_PPP: u64 = 0xF0;
pub const H_PURR: u64 = 0xF4;
pub const H_VIO_SIGNAL: u64 = 0x104;
pub const H_BULK_REMOVE: u64 = 0x124;
pub const H_SET_XDABR: u64 = 0x134;
pub const H_STUFF_TCE: u64 = 0x138;
pub const H_PUT_TCE_INDIRECT: u64 = 0x13C;
pub const H_GET_CPU_CHARACTERISTICS: u64 = 0x1C8;
pub const H_JOIN: u64 = 0x298;
pub const H_XIRR_X: u64 = 0x2FC;
pub const H_RANDOM: u64 = 0x300;
pub const H_SET_MODE: u64 = 0x31C;
pub const H_REGISTER_PROC_TBL: u64 = 0x37C;
pub const H_SIGNAL_SYS_RESET: u64 = 0x380;
pub const H_INT_GET_SOURCE_INFO: u64 = 0x3A8;
pub const H_INT_SET_SOURCE_CONFIG: u64 = 0x3AC;
pub const H_INT_GET_SOURCE_CONFIG: u64 = 0x3B0;
pub const H_INT_GET_QUEUE_INFO: u64 = 0x3B4;
pub const H_INT_SET_QUEUE_CONFIG: u64 = 0x3B8;
pub const H_INT_GET_QUEUE_CONFIG: u64 = 0x3BC;
pub const H_INT_SET_OS_REPORTING_LINE: u64 = 0x3C0;
pub const H_INT_GET_OS_REPORTING_LINE: u64 = 0x3C4;
pub const H_INT_ESB: u64 = 0x3C8;
pub const H_INT_SYNC: u64 = 0x3CC;
pub const H_INT_RESET: u64 = 0x3D0;
pub const H_RPT_INVALIDATE: u64 = 0x448;
/// QEMU/KVM private: RTAS entry, r4 = real address of the argument block.
pub const KVMPPC_H_RTAS: u64 = 0xF000;
/// QEMU private: Open Firmware client-interface call under VOF.
pub const KVMPPC_H_VOF_CLIENT: u64 = 0xF005;

/// The result of a hypercall: status for r3 and up to nine outputs for r4..r12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HcallResult {
    /// Status returned in r3.
    pub ret: i64,
    /// Outputs returned in r4..r12; only the first `nout` are written back.
    pub out: [u64; 9],
    /// How many of `out` the call defines.
    pub nout: usize,
}

impl HcallResult {
    /// A status with no outputs.
    pub const fn status(ret: i64) -> Self {
        HcallResult {
            ret,
            out: [0; 9],
            nout: 0,
        }
    }
    /// `H_SUCCESS` with the given outputs (at most nine).
    pub fn ok(outs: &[u64]) -> Self {
        let mut out = [0u64; 9];
        let n = outs.len().min(9);
        out[..n].copy_from_slice(&outs[..n]);
        HcallResult {
            ret: H_SUCCESS,
            out,
            nout: n,
        }
    }
}

/// Whether `ret` is one of the "try again later" codes.
pub fn is_busy(ret: i64) -> bool {
    ret == H_BUSY || (H_LONG_BUSY_ORDER_1_MSEC..=H_LONG_BUSY_ORDER_100_SEC).contains(&ret)
}
