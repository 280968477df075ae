//! Generator entries for the floating-point, VMX and VSX families.
//!
//! Cases use `parts: Parts::Full` so that FPSCR, VSCR and the 64 VSRs are loaded before
//! and compared after each execution. The test `diff_fpvec` runs these entries (and random
//! sequences mixing them with the integer ones); it is skipped with a message while the
//! CPU does not decode the FP/VSX instructions the test runtime itself needs
//! (`lfd`, `mtfsf`, `mffs`, `stfd`, `lxvd2x`, `stxvd2x`, `mtvscr`, `mfvscr`).
//!
//! This file covers the bit-exact families (VSX/VMX logical, permute, merge, splat,
//! integer vector arithmetic, GPR<->VSR moves, FP moves and sign operations, FP/VSX/VMX
//! loads and stores). FP arithmetic with its FPSCR side effects is covered by the
//! FP/vector differential test inside the `ppc64` crate (`fpvec::difftest`); add entries
//! here with the same shape to run them end to end through whole programs.

use super::asm::*;
use super::gen_int::{Form, mem};
use super::generator::*;
use super::state::{self, Parts};

fn e(name: &'static str, family: &'static str, make: fn(&mut Rng) -> Case, seq: bool) -> Entry {
    Entry {
        name,
        family,
        make,
        seq,
    }
}

fn full(words: Vec<u32>, text: String) -> Case {
    Case::plain(words, text).with_parts(Parts::Full)
}

/// XX3-form (op 60): XT, XA, XB 6-bit, XO in bits 21:28.
fn xx3(r: &mut Rng, name: &str, xo: u32) -> Case {
    let (t, a, b) = (r.bits(6), r.bits(6), r.bits(6));
    let w = field(60, 0, 6)
        | field(t & 31, 6, 5)
        | field(a & 31, 11, 5)
        | field(b & 31, 16, 5)
        | field(xo, 21, 8)
        | field(a >> 5, 29, 1)
        | field(b >> 5, 30, 1)
        | (t >> 5);
    full(vec![w], format!("{name} vs{t},vs{a},vs{b}"))
}

/// XX3-form with a 2-bit immediate in bits 22:23 (xxpermdi DM, xxsldwi SHW).
fn xx3_imm(r: &mut Rng, name: &str, xo: u32) -> Case {
    let imm = r.bits(2);
    let mut c = xx3(r, name, xo);
    c.words[0] |= field(imm, 22, 2);
    c.text.push_str(&format!(",{imm}"));
    c
}

fn xxsel(r: &mut Rng) -> Case {
    let (t, a, b, cc) = (r.bits(6), r.bits(6), r.bits(6), r.bits(6));
    let w = field(60, 0, 6)
        | field(t & 31, 6, 5)
        | field(a & 31, 11, 5)
        | field(b & 31, 16, 5)
        | field(cc & 31, 21, 5)
        | field(3, 26, 2)
        | field(cc >> 5, 28, 1)
        | field(a >> 5, 29, 1)
        | field(b >> 5, 30, 1)
        | (t >> 5);
    full(vec![w], format!("xxsel vs{t},vs{a},vs{b},vs{cc}"))
}

/// XX2-form (op 60) with XO in bits 21:29 and an immediate/sub-opcode in bits 11:15.
fn xx2(r: &mut Rng, name: &str, xo: u32, uim: u32) -> Case {
    let (t, b) = (r.bits(6), r.bits(6));
    let w = field(60, 0, 6)
        | field(t & 31, 6, 5)
        | field(uim, 11, 5)
        | field(b & 31, 16, 5)
        | field(xo, 21, 9)
        | field(b >> 5, 30, 1)
        | (t >> 5);
    full(vec![w], format!("{name} vs{t},vs{b},{uim}"))
}

/// VX-form (op 4): VRT, VRA, VRB, 11-bit XO.
fn vx(r: &mut Rng, name: &str, xo: u32) -> Case {
    let (t, a, b) = (r.bits(5), r.bits(5), r.bits(5));
    full(
        vec![field(4, 0, 6) | field(t, 6, 5) | field(a, 11, 5) | field(b, 16, 5) | xo],
        format!("{name} v{t},v{a},v{b}"),
    )
}

/// VX-form unary op: the VRA field is reserved (0).
fn vx1(r: &mut Rng, name: &str, xo: u32) -> Case {
    let (t, b) = (r.bits(5), r.bits(5));
    full(
        vec![field(4, 0, 6) | field(t, 6, 5) | field(b, 16, 5) | xo],
        format!("{name} v{t},v{b}"),
    )
}

/// VX-form splat with a `bits`-wide immediate in the VRA field (right-aligned) and
/// VRB used (`has_b`) or reserved.
fn vx_imm(r: &mut Rng, name: &str, xo: u32, bits: u32, has_b: bool) -> Case {
    let (t, imm, b) = (r.bits(5), r.bits(bits), if has_b { r.bits(5) } else { 0 });
    full(
        vec![field(4, 0, 6) | field(t, 6, 5) | field(imm, 11, 5) | field(b, 16, 5) | xo],
        format!("{name} v{t},v{b},{imm}"),
    )
}

/// VC-form compares (Rc → CR6).
fn vc(r: &mut Rng, name: &str, xo: u32) -> Case {
    let rc = r.bits(1);
    let mut c = vx(r, name, xo);
    c.words[0] |= rc << 10;
    if rc != 0 {
        c.text = c.text.replacen(' ', ". ", 1);
    }
    c
}

/// VA-form (op 4): VRT, VRA, VRB, VRC, 6-bit XO.
fn va(r: &mut Rng, name: &str, xo: u32) -> Case {
    let (t, a, b, cc) = (r.bits(5), r.bits(5), r.bits(5), r.bits(5));
    full(
        vec![
            field(4, 0, 6)
                | field(t, 6, 5)
                | field(a, 11, 5)
                | field(b, 16, 5)
                | field(cc, 21, 5)
                | xo,
        ],
        format!("{name} v{t},v{a},v{b},v{cc}"),
    )
}

/// X-form op 63 FP register op with FRT, FRA (optional), FRB and Rc (if it has one).
fn fx(r: &mut Rng, name: &str, xo: u32, has_a: bool) -> Case {
    let has_rc = !matches!(xo, 838 | 966);
    let (t, a, b) = (r.bits(5), if has_a { r.bits(5) } else { 0 }, r.bits(5));
    let rc = if has_rc { r.bits(1) } else { 0 };
    let ops = if has_a {
        format!("f{t},f{a},f{b}")
    } else {
        format!("f{t},f{b}")
    };
    full(
        vec![x(63, t, a, b, xo, rc)],
        format!("{name}{} {ops}", if rc != 0 { "." } else { "" }),
    )
}

/// XX1 GPR<->VSR moves: (op 31, XO, the GPR is RA; for mtvsrdd also RB).
fn xx1_move(r: &mut Rng, name: &str, xo: u32, rb_too: bool) -> Case {
    let (s, ra) = (r.bits(6), gpr(r));
    let rb = if rb_too { gpr(r) } else { 0 };
    let w = x(31, s & 31, ra, rb, xo, s >> 5);
    let extra = if rb_too {
        format!(",r{rb}")
    } else {
        String::new()
    };
    full(vec![w], format!("{name} vs{s},r{ra}{extra}"))
}

fn fmem(r: &mut Rng, name: &str, op: u32, xo: u32, form: Form, size: u64) -> Case {
    mem(r, name, op, xo, form, size, true, false).with_parts(Parts::Full)
}

/// VSX X-form loads/stores with a 6-bit register (TX/SX in bit 31).
fn vsx_mem(r: &mut Rng, name: &str, xo: u32, size: u64) -> Case {
    let mut c = mem(r, name, 31, xo, Form::X, size, true, false).with_parts(Parts::Full);
    let tx = r.bits(1);
    c.words[0] |= tx;
    c.win_dwords = 3;
    c
}

/// All entries of this file.
pub fn entries() -> Vec<Entry> {
    vec![
        // VSX logical / permute
        e("xxland", "vsx.logic", |r| xx3(r, "xxland", 130), true),
        e("xxlandc", "vsx.logic", |r| xx3(r, "xxlandc", 138), true),
        e("xxlor", "vsx.logic", |r| xx3(r, "xxlor", 146), true),
        e("xxlxor", "vsx.logic", |r| xx3(r, "xxlxor", 154), true),
        e("xxlnor", "vsx.logic", |r| xx3(r, "xxlnor", 162), true),
        e("xxlorc", "vsx.logic", |r| xx3(r, "xxlorc", 170), true),
        e("xxlnand", "vsx.logic", |r| xx3(r, "xxlnand", 178), true),
        e("xxleqv", "vsx.logic", |r| xx3(r, "xxleqv", 186), true),
        e("xxpermdi", "vsx.perm", |r| xx3_imm(r, "xxpermdi", 10), true),
        e("xxsldwi", "vsx.perm", |r| xx3_imm(r, "xxsldwi", 2), true),
        e("xxmrghw", "vsx.perm", |r| xx3(r, "xxmrghw", 18), true),
        e("xxmrglw", "vsx.perm", |r| xx3(r, "xxmrglw", 50), true),
        e("xxperm", "vsx.perm", |r| xx3(r, "xxperm", 26), true),
        e("xxpermr", "vsx.perm", |r| xx3(r, "xxpermr", 58), true),
        e("xxsel", "vsx.perm", xxsel, true),
        e(
            "xxspltw",
            "vsx.perm",
            |r| {
                let u = r.bits(2);
                xx2(r, "xxspltw", 164, u)
            },
            true,
        ),
        e(
            "xxspltib",
            "vsx.perm",
            |r| {
                let (t, imm) = (r.bits(6), r.bits(8));
                let w = field(60, 0, 6)
                    | field(t & 31, 6, 5)
                    | field(imm, 13, 8)
                    | field(360, 21, 10)
                    | (t >> 5);
                full(vec![w], format!("xxspltib vs{t},{imm}"))
            },
            true,
        ),
        e(
            "xxbr",
            "vsx.perm",
            |r| {
                let u = r.pick(&[7u32, 15, 23, 31]);
                xx2(r, "xxbr[hwdq]", 475, u)
            },
            true,
        ),
        e(
            "xscpsgndp",
            "vsx.fpmove",
            |r| xx3(r, "xscpsgndp", 176),
            true,
        ),
        e(
            "xvcpsgndp",
            "vsx.fpmove",
            |r| xx3(r, "xvcpsgndp", 240),
            true,
        ),
        e("xsabsdp", "vsx.fpmove", |r| xx2(r, "xsabsdp", 345, 0), true),
        e("xsnegdp", "vsx.fpmove", |r| xx2(r, "xsnegdp", 377, 0), true),
        e(
            "xsnabsdp",
            "vsx.fpmove",
            |r| xx2(r, "xsnabsdp", 361, 0),
            true,
        ),
        e("xvabsdp", "vsx.fpmove", |r| xx2(r, "xvabsdp", 473, 0), true),
        e("xvnegsp", "vsx.fpmove", |r| xx2(r, "xvnegsp", 441, 0), true),
        // GPR <-> VSR
        e(
            "mfvsrd",
            "vsx.move",
            |r| xx1_move(r, "mfvsrd", 51, false),
            true,
        ),
        e(
            "mfvsrwz",
            "vsx.move",
            |r| xx1_move(r, "mfvsrwz", 115, false),
            true,
        ),
        e(
            "mfvsrld",
            "vsx.move",
            |r| xx1_move(r, "mfvsrld", 307, false),
            true,
        ),
        e(
            "mtvsrd",
            "vsx.move",
            |r| xx1_move(r, "mtvsrd", 179, false),
            false,
        ),
        e(
            "mtvsrwa",
            "vsx.move",
            |r| xx1_move(r, "mtvsrwa", 211, false),
            false,
        ),
        e(
            "mtvsrwz",
            "vsx.move",
            |r| xx1_move(r, "mtvsrwz", 243, false),
            false,
        ),
        e(
            "mtvsrws",
            "vsx.move",
            |r| xx1_move(r, "mtvsrws", 403, false),
            true,
        ),
        e(
            "mtvsrdd",
            "vsx.move",
            |r| xx1_move(r, "mtvsrdd", 435, true),
            true,
        ),
        // VMX integer / logical / permute
        e("vaddubm", "vmx.int", |r| vx(r, "vaddubm", 0), true),
        e("vadduhm", "vmx.int", |r| vx(r, "vadduhm", 64), true),
        e("vadduwm", "vmx.int", |r| vx(r, "vadduwm", 128), true),
        e("vaddudm", "vmx.int", |r| vx(r, "vaddudm", 192), true),
        e("vadduqm", "vmx.int", |r| vx(r, "vadduqm", 256), true),
        e("vsububm", "vmx.int", |r| vx(r, "vsububm", 1024), true),
        e("vsubudm", "vmx.int", |r| vx(r, "vsubudm", 1216), true),
        e("vaddubs", "vmx.int", |r| vx(r, "vaddubs", 512), true),
        e("vaddsws", "vmx.int", |r| vx(r, "vaddsws", 896), true),
        e("vsubuhs", "vmx.int", |r| vx(r, "vsubuhs", 1600), true),
        e("vmaxub", "vmx.int", |r| vx(r, "vmaxub", 2), true),
        e("vminsd", "vmx.int", |r| vx(r, "vminsd", 962), true),
        e("vavgsh", "vmx.int", |r| vx(r, "vavgsh", 1346), true),
        e("vmuloub", "vmx.int", |r| vx(r, "vmuloub", 8), true),
        e("vmulesw", "vmx.int", |r| vx(r, "vmulesw", 904), true),
        e("vmuluwm", "vmx.int", |r| vx(r, "vmuluwm", 137), true),
        e("vpmsumd", "vmx.int", |r| vx(r, "vpmsumd", 1224), true),
        e("vsum4ubs", "vmx.int", |r| vx(r, "vsum4ubs", 1544), true),
        e("vsumsws", "vmx.int", |r| vx(r, "vsumsws", 1928), true),
        e("vrlw", "vmx.shift", |r| vx(r, "vrlw", 132), true),
        e("vslh", "vmx.shift", |r| vx(r, "vslh", 324), true),
        e("vsrad", "vmx.shift", |r| vx(r, "vsrad", 964), true),
        e("vsl", "vmx.shift", |r| vx(r, "vsl", 452), true),
        e("vslo", "vmx.shift", |r| vx(r, "vslo", 1036), true),
        e("vand", "vmx.logic", |r| vx(r, "vand", 1028), true),
        e("vandc", "vmx.logic", |r| vx(r, "vandc", 1092), true),
        e("vor", "vmx.logic", |r| vx(r, "vor", 1156), true),
        e("vxor", "vmx.logic", |r| vx(r, "vxor", 1220), true),
        e("vnor", "vmx.logic", |r| vx(r, "vnor", 1284), true),
        e("veqv", "vmx.logic", |r| vx(r, "veqv", 1668), true),
        e("vmrghb", "vmx.perm", |r| vx(r, "vmrghb", 12), true),
        e("vmrglw", "vmx.perm", |r| vx(r, "vmrglw", 396), true),
        e("vmrgew", "vmx.perm", |r| vx(r, "vmrgew", 1932), true),
        e("vpkuhum", "vmx.perm", |r| vx(r, "vpkuhum", 14), true),
        e("vpkswss", "vmx.perm", |r| vx(r, "vpkswss", 462), true),
        e("vupkhsb", "vmx.perm", |r| vx1(r, "vupkhsb", 526), true),
        e(
            "vspltb",
            "vmx.perm",
            |r| vx_imm(r, "vspltb", 524, 4, true),
            true,
        ),
        e(
            "vspltw",
            "vmx.perm",
            |r| vx_imm(r, "vspltw", 652, 2, true),
            true,
        ),
        e(
            "vspltisw",
            "vmx.perm",
            |r| vx_imm(r, "vspltisw", 908, 5, false),
            true,
        ),
        e("vpopcntd", "vmx.int", |r| vx1(r, "vpopcntd", 1987), true),
        e("vclzw", "vmx.int", |r| vx1(r, "vclzw", 1922), true),
        e("vbpermq", "vmx.perm", |r| vx(r, "vbpermq", 1356), true),
        e("vgbbd", "vmx.perm", |r| vx1(r, "vgbbd", 1292), true),
        e("vcmpequb", "vmx.cmp", |r| vc(r, "vcmpequb", 6), true),
        e("vcmpgtsw", "vmx.cmp", |r| vc(r, "vcmpgtsw", 902), true),
        e("vcmpequd", "vmx.cmp", |r| vc(r, "vcmpequd", 199), true),
        e("vcmpnezb", "vmx.cmp", |r| vc(r, "vcmpnezb", 263), true),
        e("vperm", "vmx.perm", |r| va(r, "vperm", 43), true),
        e("vpermr", "vmx.perm", |r| va(r, "vpermr", 59), true),
        e("vsel", "vmx.perm", |r| va(r, "vsel", 42), true),
        e(
            "vsldoi",
            "vmx.perm",
            |r| {
                let mut c = va(r, "vsldoi", 44);
                c.words[0] &= !field(1, 21, 1); // SHB is 4 bits (22:25)
                c
            },
            true,
        ),
        e("vaddeuqm", "vmx.int", |r| va(r, "vaddeuqm", 60), true),
        e("vmsumubm", "vmx.int", |r| va(r, "vmsumubm", 36), true),
        e(
            "mfvscr/mtvscr",
            "vmx.vscr",
            |r| {
                let (t, b) = (r.bits(5), r.bits(5));
                // VSCR bits other than NJ and SAT are reserved; QEMU 7.2 keeps whatever was
                // written (QEMU_DEVIATIONS), so only NJ and SAT are compared.
                let reserved = 0xFFFF_FFFF_FFFE_FFFEu64;
                full(
                    vec![mtvscr(b), mfvscr(t)],
                    format!("mtvscr v{b}; mfvscr v{t}"),
                )
                .with_mask(state::VSCR + 1, reserved)
                .with_mask(state::VSR + 2 * (32 + t as usize) + 1, reserved)
            },
            false,
        ),
        // FP register moves and sign operations (bit-exact, no FPSCR effect)
        e("fmr", "fp.move", |r| fx(r, "fmr", 72, false), true),
        e("fneg", "fp.move", |r| fx(r, "fneg", 40, false), true),
        e("fabs", "fp.move", |r| fx(r, "fabs", 264, false), true),
        e("fnabs", "fp.move", |r| fx(r, "fnabs", 136, false), true),
        e("fcpsgn", "fp.move", |r| fx(r, "fcpsgn", 8, true), true),
        e("fmrgew", "fp.move", |r| fx(r, "fmrgew", 966, true), true),
        e("fmrgow", "fp.move", |r| fx(r, "fmrgow", 838, true), true),
        e("mffs", "fp.fpscr", |r| fx(r, "mffs", 583, false), true),
        // loads and stores
        e(
            "lfd",
            "fp.mem",
            |r| fmem(r, "lfd", 50, 0, Form::D, 8),
            false,
        ),
        e(
            "lfdu",
            "fp.mem",
            |r| mem(r, "lfdu", 51, 0, Form::D, 8, false, true).with_parts(Parts::Full),
            false,
        ),
        e(
            "lfs",
            "fp.mem",
            |r| fmem(r, "lfs", 48, 0, Form::D, 4),
            false,
        ),
        e(
            "stfd",
            "fp.mem",
            |r| fmem(r, "stfd", 54, 0, Form::D, 8),
            false,
        ),
        e(
            "stfs",
            "fp.mem",
            |r| fmem(r, "stfs", 52, 0, Form::D, 4),
            false,
        ),
        e(
            "lfdx",
            "fp.mem",
            |r| fmem(r, "lfdx", 31, 599, Form::X, 8),
            false,
        ),
        e(
            "stfdx",
            "fp.mem",
            |r| fmem(r, "stfdx", 31, 727, Form::X, 8),
            false,
        ),
        e(
            "lfiwax",
            "fp.mem",
            |r| fmem(r, "lfiwax", 31, 855, Form::X, 4),
            false,
        ),
        e(
            "stfiwx",
            "fp.mem",
            |r| fmem(r, "stfiwx", 31, 983, Form::X, 4),
            false,
        ),
        e(
            "lxvd2x",
            "vsx.mem",
            |r| vsx_mem(r, "lxvd2x", 844, 16),
            false,
        ),
        e(
            "stxvd2x",
            "vsx.mem",
            |r| vsx_mem(r, "stxvd2x", 972, 16),
            false,
        ),
        e(
            "lxvw4x",
            "vsx.mem",
            |r| vsx_mem(r, "lxvw4x", 780, 16),
            false,
        ),
        e(
            "stxvw4x",
            "vsx.mem",
            |r| vsx_mem(r, "stxvw4x", 908, 16),
            false,
        ),
        e("lxvx", "vsx.mem", |r| vsx_mem(r, "lxvx", 268, 16), false),
        e("stxvx", "vsx.mem", |r| vsx_mem(r, "stxvx", 396, 16), false),
        e(
            "lxvb16x",
            "vsx.mem",
            |r| vsx_mem(r, "lxvb16x", 876, 16),
            false,
        ),
        e("lxvdsx", "vsx.mem", |r| vsx_mem(r, "lxvdsx", 332, 8), false),
        e("lxsdx", "vsx.mem", |r| vsx_mem(r, "lxsdx", 588, 8), false),
        e("stxsdx", "vsx.mem", |r| vsx_mem(r, "stxsdx", 716, 8), false),
        e(
            "lxsiwzx",
            "vsx.mem",
            |r| vsx_mem(r, "lxsiwzx", 12, 4),
            false,
        ),
        e(
            "lvx",
            "vmx.mem",
            |r| fmem(r, "lvx", 31, 103, Form::X, 16),
            false,
        ),
        e(
            "stvx",
            "vmx.mem",
            |r| fmem(r, "stvx", 31, 231, Form::X, 16),
            false,
        ),
        e(
            "lvsl",
            "vmx.mem",
            |r| fmem(r, "lvsl", 31, 6, Form::X, 1),
            false,
        ),
        e(
            "lvebx",
            "vmx.mem",
            |r| fmem(r, "lvebx", 31, 7, Form::X, 1),
            false,
        ),
    ]
}
