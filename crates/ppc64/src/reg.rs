//! Architected constants: MSR bits, SPR numbers, interrupt vectors and cause bits.
//!
//! The ISA numbers bits from the most-significant end; every constant here is the mask in
//! ordinary (LSB = bit 0) terms.

/// MSR bits.
pub mod msr {
    /// 64-bit mode.
    pub const SF: u64 = 1 << 63;
    /// Hypervisor state (always 0 for the guest).
    pub const HV: u64 = 1 << 60;
    /// Transaction state (not offered).
    pub const TS: u64 = 3 << 33;
    /// TM available (not offered).
    pub const TM: u64 = 1 << 32;
    /// VMX available.
    pub const VEC: u64 = 1 << 25;
    /// VSX available.
    pub const VSX: u64 = 1 << 23;
    /// Secure (ultravisor).
    pub const S: u64 = 1 << 22;
    /// External interrupt enable.
    pub const EE: u64 = 1 << 15;
    /// Problem state.
    pub const PR: u64 = 1 << 14;
    /// FP available.
    pub const FP: u64 = 1 << 13;
    /// Machine check enable.
    pub const ME: u64 = 1 << 12;
    /// FP exception mode 0.
    pub const FE0: u64 = 1 << 11;
    /// Single-step trace.
    pub const SE: u64 = 1 << 10;
    /// Branch trace.
    pub const BE: u64 = 1 << 9;
    /// FP exception mode 1.
    pub const FE1: u64 = 1 << 8;
    /// Instruction relocation.
    pub const IR: u64 = 1 << 5;
    /// Data relocation.
    pub const DR: u64 = 1 << 4;
    /// Performance monitor mark.
    pub const PMM: u64 = 1 << 2;
    /// Recoverable interrupt.
    pub const RI: u64 = 1 << 1;
    /// Little-endian mode.
    pub const LE: u64 = 1;
    /// Bits that exist on POWER9 (everything else reads as zero).
    pub const VALID: u64 = SF
        | HV
        | TS
        | TM
        | VEC
        | VSX
        | S
        | EE
        | PR
        | FP
        | ME
        | FE0
        | SE
        | BE
        | FE1
        | IR
        | DR
        | PMM
        | RI
        | LE;
}

/// SRR1 bits 33:36 and 42:47, which interrupts replace with cause information.
pub const SRR1_CAUSE_MASK: u64 = 0x0000_0000_783F_0000;

/// Program interrupt causes (SRR1).
pub mod program {
    /// Floating-point enabled exception.
    pub const FP: u64 = 0x0010_0000;
    /// Illegal instruction.
    pub const ILLEGAL: u64 = 0x0008_0000;
    /// Privileged instruction.
    pub const PRIV: u64 = 0x0004_0000;
    /// Trap.
    pub const TRAP: u64 = 0x0002_0000;
    /// SRR0 holds the next instruction (imprecise modes).
    pub const NEXT: u64 = 0x0001_0000;
}

/// DSISR bits (and the same positions in SRR1 for ISI).
pub mod dsisr {
    /// No translation.
    pub const NOPTE: u64 = 0x4000_0000;
    /// Fetch not permitted (ISI: no-execute, guarded, privileged page from user).
    pub const NOEXEC: u64 = 0x1000_0000;
    /// Protection violation.
    pub const PROT: u64 = 0x0800_0000;
    /// Bad access (e.g. larx/stcx. to cache-inhibited storage).
    pub const BADACCESS: u64 = 0x0400_0000;
    /// The access was a store.
    pub const STORE: u64 = 0x0200_0000;
    /// Unsupported radix tree configuration.
    pub const UNSUPP_MMU: u64 = 0x0008_0000;
    /// Reference or change bit must be set.
    pub const ATT_RC: u64 = 0x0004_0000;
    /// Fault while walking a table.
    pub const PRTABLE_FAULT: u64 = 0x0002_0000;
}

/// Interrupt vector offsets.
pub mod vec {
    /// System reset.
    pub const SRESET: u64 = 0x100;
    /// Machine check.
    pub const MCHECK: u64 = 0x200;
    /// Data storage.
    pub const DSI: u64 = 0x300;
    /// Data segment.
    pub const DSEG: u64 = 0x380;
    /// Instruction storage.
    pub const ISI: u64 = 0x400;
    /// Instruction segment.
    pub const ISEG: u64 = 0x480;
    /// External.
    pub const EXTERNAL: u64 = 0x500;
    /// Alignment.
    pub const ALIGN: u64 = 0x600;
    /// Program.
    pub const PROGRAM: u64 = 0x700;
    /// FP unavailable.
    pub const FPU: u64 = 0x800;
    /// Decrementer.
    pub const DEC: u64 = 0x900;
    /// Directed privileged doorbell.
    pub const DOORBELL: u64 = 0xA00;
    /// System call.
    pub const SYSCALL: u64 = 0xC00;
    /// Trace.
    pub const TRACE: u64 = 0xD00;
    /// Performance monitor.
    pub const PERFMON: u64 = 0xF00;
    /// VMX unavailable.
    pub const VMX: u64 = 0xF20;
    /// VSX unavailable.
    pub const VSX: u64 = 0xF40;
    /// Facility unavailable.
    pub const FAC: u64 = 0xF60;
}

/// FSCR facility numbers (interrupt cause, and enable bit `1 << (63 - 56 + ...)`).
pub mod fscr {
    /// DSCR facility.
    pub const IC_DSCR: u64 = 2;
    /// PMU SPRs.
    pub const IC_PM: u64 = 3;
    /// BHRB.
    pub const IC_BHRB: u64 = 4;
    /// Transactional memory.
    pub const IC_TM: u64 = 5;
    /// Event-based branches.
    pub const IC_EBB: u64 = 7;
    /// Target address register.
    pub const IC_TAR: u64 = 8;
    /// msgsndp.
    pub const IC_MSGP: u64 = 10;
    /// scv.
    pub const IC_SCV: u64 = 12;
    /// The enable bit of facility `n` in FSCR.
    pub const fn enable(n: u64) -> u64 {
        1 << n
    }
    /// The IC field (bits 0:7).
    pub const IC_MASK: u64 = 0xFF00_0000_0000_0000;
}

/// LPCR fields the emulator models (the guest changes them only through hcalls).
pub mod lpcr {
    /// Alternate interrupt location.
    pub const AIL_SHIFT: u32 = 23;
    /// AIL mask.
    pub const AIL: u64 = 3 << AIL_SHIFT;
    /// Interrupt little-endian.
    pub const ILE: u64 = 1 << 25;
    /// Large decrementer.
    pub const LD: u64 = 1 << 17;
    /// Host radix.
    pub const HR: u64 = 1 << 20;
    /// Use process table.
    pub const UPRT: u64 = 1 << 22;
    /// Guest translation shootdown enable.
    pub const GTSE: u64 = 1 << 10;
}

/// SPR numbers.
#[allow(missing_docs)]
pub mod spr {
    pub const XER: u16 = 1;
    pub const DSCR_U: u16 = 3;
    pub const LR: u16 = 8;
    pub const CTR: u16 = 9;
    pub const AMR_U: u16 = 13;
    pub const DSCR: u16 = 17;
    pub const DSISR: u16 = 18;
    pub const DAR: u16 = 19;
    pub const DEC: u16 = 22;
    pub const SRR0: u16 = 26;
    pub const SRR1: u16 = 27;
    pub const CFAR: u16 = 28;
    pub const AMR: u16 = 29;
    pub const PIDR: u16 = 48;
    pub const IAMR: u16 = 61;
    pub const TFHAR: u16 = 128;
    pub const TFIAR: u16 = 129;
    pub const TEXASR: u16 = 130;
    pub const TEXASRU: u16 = 131;
    pub const CTRL_R: u16 = 136;
    pub const TIDR: u16 = 144;
    pub const CTRL_W: u16 = 152;
    pub const FSCR: u16 = 153;
    pub const UAMOR: u16 = 157;
    pub const PSPB: u16 = 159;
    pub const DPDES: u16 = 176;
    pub const DAWR0: u16 = 180;
    pub const RPR: u16 = 186;
    pub const CIABR: u16 = 187;
    pub const DAWRX0: u16 = 188;
    pub const HFSCR: u16 = 190;
    pub const VRSAVE: u16 = 256;
    pub const SPRG3_U: u16 = 259;
    pub const TBL_R: u16 = 268;
    pub const TBU_R: u16 = 269;
    pub const SPRG0: u16 = 272;
    pub const SPRG1: u16 = 273;
    pub const SPRG2: u16 = 274;
    pub const SPRG3: u16 = 275;
    pub const TBL_W: u16 = 284;
    pub const TBU_W: u16 = 285;
    pub const TBU40: u16 = 286;
    pub const PVR: u16 = 287;
    pub const HSPRG0: u16 = 304;
    pub const HSPRG1: u16 = 305;
    pub const HDSISR: u16 = 306;
    pub const HDAR: u16 = 307;
    pub const SPURR: u16 = 308;
    pub const PURR: u16 = 309;
    pub const HDEC: u16 = 310;
    pub const HRMOR: u16 = 313;
    pub const HSRR0: u16 = 314;
    pub const HSRR1: u16 = 315;
    pub const LPCR: u16 = 318;
    pub const LPIDR: u16 = 319;
    pub const HMER: u16 = 336;
    pub const HMEER: u16 = 337;
    pub const PCR: u16 = 338;
    pub const HEIR: u16 = 339;
    pub const AMOR: u16 = 349;
    pub const TIR: u16 = 446;
    pub const PTCR: u16 = 464;
    pub const USIER: u16 = 768;
    pub const UMMCR2: u16 = 769;
    pub const UMMCRA: u16 = 770;
    pub const UPMC1: u16 = 771;
    pub const UPMC6: u16 = 776;
    pub const UMMCR0: u16 = 779;
    pub const USIAR: u16 = 780;
    pub const USDAR: u16 = 781;
    pub const UMMCR1: u16 = 782;
    pub const SIER: u16 = 784;
    pub const MMCR2: u16 = 785;
    pub const MMCRA: u16 = 786;
    pub const PMC1: u16 = 787;
    pub const PMC6: u16 = 792;
    pub const MMCR0: u16 = 795;
    pub const SIAR: u16 = 796;
    pub const SDAR: u16 = 797;
    pub const MMCR1: u16 = 798;
    pub const BESCRS: u16 = 800;
    pub const BESCRSU: u16 = 801;
    pub const BESCRR: u16 = 802;
    pub const BESCRRU: u16 = 803;
    pub const EBBHR: u16 = 804;
    pub const EBBRR: u16 = 805;
    pub const BESCR: u16 = 806;
    pub const TAR: u16 = 815;
    pub const ASDR: u16 = 816;
    pub const PSSCR_PR: u16 = 823;
    pub const IC: u16 = 848;
    pub const VTB: u16 = 849;
    pub const PSSCR: u16 = 855;
    pub const PPR: u16 = 896;
    pub const PPR32: u16 = 898;
    pub const HID0: u16 = 1008;
    pub const PIR: u16 = 1023;
}

/// XER bits as seen by `mfxer`.
pub mod xer {
    /// Summary overflow.
    pub const SO: u64 = 1 << 31;
    /// Overflow.
    pub const OV: u64 = 1 << 30;
    /// Carry.
    pub const CA: u64 = 1 << 29;
    /// Overflow of the low word (ISA 3.0).
    pub const OV32: u64 = 1 << 19;
    /// Carry out of the low word (ISA 3.0).
    pub const CA32: u64 = 1 << 18;
    /// String byte count.
    pub const BC: u64 = 0x7F;
}

/// The POWER9 DD2.2 processor version register value.
pub const PVR_POWER9_DD22: u32 = 0x004E_1202;
