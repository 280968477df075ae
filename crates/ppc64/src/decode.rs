//! The instruction decoder: instruction word → pre-decoded [`Op`].
//!
//! Every 32-bit word decodes to something: an unknown or invalid encoding decodes to the
//! illegal-instruction handler, which raises the program interrupt when (and if) executed.
//! Floating-point, VMX and VSX instructions are decoded by [`crate::fpvec`].

use crate::exec::{branch, int, ldst, sys};
use crate::fpvec;
use crate::op::{BlockEnd, Handler, Op, field};

/// Decodes one instruction word for a little-endian vCPU.
pub fn decode(w: u32) -> (Op, BlockEnd) {
    decode_mode(w, true)
}

/// Decodes one instruction word for the given byte order (some handlers are specialised
/// on MSR[LE]; blocks are decoded per byte order).
pub fn decode_mode(w: u32, le: bool) -> (Op, BlockEnd) {
    match decode_inner(w, le) {
        Some(x) => x,
        None => (Op::new(sys::illegal, w, 0), BlockEnd::No),
    }
}

/// Picks the byte-order variant of a load/store handler.
macro_rules! e {
    ($le:expr, $($path:ident)::+ ::<$($g:tt),+>) => {
        if $le { $($path)::+::<$($g),+, true> as Handler } else { $($path)::+::<$($g),+, false> as Handler }
    };
}

fn op(f: Handler, w: u32, imm: u64) -> Option<(Op, BlockEnd)> {
    Some((Op::new(f, w, imm), BlockEnd::No))
}

fn op_end(f: Handler, w: u32, imm: u64) -> Option<(Op, BlockEnd)> {
    Some((Op::new(f, w, imm), BlockEnd::Yes))
}

/// Picks the const-generic variant for Rc.
macro_rules! rc {
    ($w:expr, $f:ident) => {
        if field::rc($w) {
            int::$f::<true> as Handler
        } else {
            int::$f::<false> as Handler
        }
    };
}

/// Picks the const-generic variant for OE and Rc.
macro_rules! oe_rc {
    ($w:expr, $f:ident) => {
        match ($w & 0x400 != 0, field::rc($w)) {
            (false, false) => int::$f::<false, false> as Handler,
            (false, true) => int::$f::<false, true> as Handler,
            (true, false) => int::$f::<true, false> as Handler,
            (true, true) => int::$f::<true, true> as Handler,
        }
    };
}

fn decode_inner(w: u32, le: bool) -> Option<(Op, BlockEnd)> {
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let simm = field::simm16(w);
    let uimm = (w & 0xFFFF) as u64;
    match field::opcd(w) {
        2 => op(int::trap::<false, true>, w, simm),
        3 => op(int::trap::<true, true>, w, simm),
        4 => {
            if w & 0x20 != 0 && matches!(w & 0x3F, 48 | 49 | 51) {
                op(int::madd, w, 0)
            } else {
                fpvec::decode(w).map(|o| (o, BlockEnd::No))
            }
        }
        7 => op(int::mulli, w, simm),
        8 => op(int::subfic, w, simm),
        10 => op(int::cmpl::<true>, w, uimm),
        11 => op(int::cmp::<true>, w, simm),
        12 => op(int::addic::<false>, w, simm),
        13 => op(int::addic::<true>, w, simm),
        14 => {
            if ra == 0 {
                op(int::li, w, simm)
            } else {
                op(int::addi, w, simm)
            }
        }
        15 => {
            let imm = simm << 16;
            if ra == 0 {
                op(int::li, w, imm)
            } else {
                op(int::addi, w, imm)
            }
        }
        16 => {
            let bd = (w & 0xFFFC) as u16 as i16 as i64 as u64;
            let bo = rt;
            let aa = w & 2 != 0;
            let lk = w & 1 != 0;
            let f: Handler = match (aa, lk) {
                (false, false) if bo == 16 => branch::bdnz,
                (false, false) if bo & 0x14 == 0x04 => {
                    if bo & 8 != 0 {
                        branch::bc_cr::<true>
                    } else {
                        branch::bc_cr::<false>
                    }
                }
                (false, false) => branch::bc::<false, false>,
                (false, true) => branch::bc::<false, true>,
                (true, false) => branch::bc::<true, false>,
                (true, true) => branch::bc::<true, true>,
            };
            let always = bo & 0x14 == 0x14;
            Some((
                Op::new(f, w, bd),
                if always { BlockEnd::Yes } else { BlockEnd::No },
            ))
        }
        17 => match w & 3 {
            2 => op_end(sys::sc, w, 0),
            1 => op_end(sys::scv, w, 0),
            _ => None,
        },
        18 => {
            let li = (((w & 0x03FF_FFFC) << 6) as i32 >> 6) as i64 as u64;
            let f: Handler = match (w & 2 != 0, w & 1 != 0) {
                (false, false) => branch::b::<false, false>,
                (false, true) => branch::b::<false, true>,
                (true, false) => branch::b::<true, false>,
                (true, true) => branch::b::<true, true>,
            };
            op_end(f, w, li)
        }
        19 => decode19(w),
        20 => {
            let mut o = Op::new(rc!(w, rlwimi), w, rlw_mask(w));
            o.rb = ((w >> 11) & 31) as u8;
            Some((o, BlockEnd::No))
        }
        21 => {
            let mut o = Op::new(rc!(w, rlwinm), w, rlw_mask(w));
            o.rb = ((w >> 11) & 31) as u8;
            Some((o, BlockEnd::No))
        }
        23 => op(rc!(w, rlwnm), w, rlw_mask(w)),
        24 => {
            if w == 0x6000_0000 {
                op(int::nop, w, 0)
            } else {
                op(int::ori, w, uimm)
            }
        }
        25 => op(int::ori, w, uimm << 16),
        26 => op(int::xori, w, uimm),
        27 => op(int::xori, w, uimm << 16),
        28 => op(int::andi, w, uimm),
        29 => op(int::andi, w, uimm << 16),
        30 => decode30(w),
        31 => decode31(w, le),
        32 => op(e!(le, ldst::ld_d::<4, false, false>), w, simm),
        33 => load_update(w, e!(le, ldst::ld_d::<4, false, true>), simm),
        34 => op(e!(le, ldst::ld_d::<1, false, false>), w, simm),
        35 => load_update(w, e!(le, ldst::ld_d::<1, false, true>), simm),
        36 => op(e!(le, ldst::st_d::<4, false>), w, simm),
        37 => store_update(w, e!(le, ldst::st_d::<4, true>), simm),
        38 => op(e!(le, ldst::st_d::<1, false>), w, simm),
        39 => store_update(w, e!(le, ldst::st_d::<1, true>), simm),
        40 => op(e!(le, ldst::ld_d::<2, false, false>), w, simm),
        41 => load_update(w, e!(le, ldst::ld_d::<2, false, true>), simm),
        42 => op(e!(le, ldst::ld_d::<2, true, false>), w, simm),
        43 => load_update(w, e!(le, ldst::ld_d::<2, true, true>), simm),
        44 => op(e!(le, ldst::st_d::<2, false>), w, simm),
        45 => store_update(w, e!(le, ldst::st_d::<2, true>), simm),
        46 => {
            if ra >= rt && ra != 0 {
                None
            } else {
                op(ldst::lmw, w, simm)
            }
        }
        47 => op(ldst::stmw, w, simm),
        56 => op(ldst::lq, w, (w & 0xFFF0) as u16 as i16 as i64 as u64),
        58 => {
            let ds = (w & 0xFFFC) as u16 as i16 as i64 as u64;
            match w & 3 {
                0 => op(e!(le, ldst::ld_d::<8, false, false>), w, ds),
                1 => load_update(w, e!(le, ldst::ld_d::<8, false, true>), ds),
                2 => op(e!(le, ldst::ld_d::<4, true, false>), w, ds),
                _ => None,
            }
        }
        62 => {
            let ds = (w & 0xFFFC) as u16 as i16 as i64 as u64;
            match w & 3 {
                0 => op(e!(le, ldst::st_d::<8, false>), w, ds),
                1 => store_update(w, e!(le, ldst::st_d::<8, true>), ds),
                2 => op(ldst::stq, w, ds),
                _ => None,
            }
        }
        48..=55 | 57 | 59 | 60 | 61 | 63 => fpvec::decode(w).map(|o| (o, BlockEnd::No)),
        _ => None,
    }
}

/// Update-form loads with RA = 0 or RA = RT are invalid forms.
fn load_update(w: u32, f: Handler, imm: u64) -> Option<(Op, BlockEnd)> {
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    if ra == 0 || ra == rt {
        None
    } else {
        op(f, w, imm)
    }
}

/// Update-form stores with RA = 0 are invalid forms.
fn store_update(w: u32, f: Handler, imm: u64) -> Option<(Op, BlockEnd)> {
    if (w >> 16) & 31 == 0 {
        None
    } else {
        op(f, w, imm)
    }
}

fn rlw_mask(w: u32) -> u64 {
    let mb = (w >> 6) & 31;
    let me = (w >> 1) & 31;
    int::mask64(mb + 32, me + 32)
}

fn decode19(w: u32) -> Option<(Op, BlockEnd)> {
    if (w >> 1) & 0x1F == 2 {
        // addpcis (DX-form): D = d0 (bits 16:25) ‖ d1 (bits 11:15) ‖ d2 (bit 31).
        let d0 = (w >> 6) & 0x3FF;
        let d1 = (w >> 16) & 0x1F;
        let d2 = w & 1;
        let d = ((d0 << 6) | (d1 << 1) | d2) as u16 as i16 as i64;
        return op(int::addpcis, w, (d << 16) as u64);
    }
    let bo = (w >> 21) & 31;
    let always = bo & 0x14 == 0x14;
    let lk = w & 1 != 0;
    match field::xo10(w) {
        0 => op(branch::mcrf, w, 0),
        16 => {
            let f: Handler = match (always, lk) {
                (true, false) => branch::blr,
                (_, false) => branch::bclr::<false>,
                (_, true) => branch::bclr::<true>,
            };
            Some((
                Op::new(f, w, 0),
                if always { BlockEnd::Yes } else { BlockEnd::No },
            ))
        }
        18 => op_end(sys::rfi::<false>, w, 0),
        82 => op_end(sys::rfi::<true>, w, 0),
        33 | 129 | 193 | 225 | 257 | 289 | 417 | 449 => op(branch::crlogic, w, 0),
        150 => op_end(sys::isync, w, 0),
        274 | 370 => op(sys::hv_only, w, 0),
        528 => {
            let f: Handler = if lk {
                branch::bcctr::<true>
            } else {
                branch::bcctr::<false>
            };
            Some((
                Op::new(f, w, 0),
                if always { BlockEnd::Yes } else { BlockEnd::No },
            ))
        }
        560 => {
            let f: Handler = if lk {
                branch::bctar::<true>
            } else {
                branch::bctar::<false>
            };
            Some((
                Op::new(f, w, 0),
                if always { BlockEnd::Yes } else { BlockEnd::No },
            ))
        }
        _ => None,
    }
}

fn decode30(w: u32) -> Option<(Op, BlockEnd)> {
    let sh = ((w >> 11) & 31) | ((w & 2) << 4);
    let mbe = ((w >> 6) & 31) | (w & 0x20);
    let with_sh = |f: Handler, mask: u64| {
        let mut o = Op::new(f, w, mask);
        o.rb = sh as u8;
        Some((o, BlockEnd::No))
    };
    match (w >> 2) & 7 {
        0 => with_sh(rc!(w, rldic_mask), int::mask64(mbe, 63)),
        1 => with_sh(rc!(w, rldic_mask), int::mask64(0, mbe)),
        2 => with_sh(rc!(w, rldic_mask), int::mask64(mbe, 63 - sh)),
        3 => with_sh(rc!(w, rldimi), int::mask64(mbe, 63 - sh)),
        4 => match (w >> 1) & 0xF {
            8 => op(rc!(w, rldc), w, int::mask64(mbe, 63)),
            9 => op(rc!(w, rldc), w, int::mask64(0, mbe)),
            _ => None,
        },
        _ => None,
    }
}

fn decode31(w: u32, le: bool) -> Option<(Op, BlockEnd)> {
    let rt = (w >> 21) & 31;
    let ra = (w >> 16) & 31;
    let rb = (w >> 11) & 31;
    // A-form isel.
    if (w >> 1) & 0x1F == 15 {
        return op(int::isel, w, 0);
    }
    // XS-form sradi / extswsli.
    let xo9s = (w >> 2) & 0x1FF;
    let sh = (((w >> 11) & 31) | ((w & 2) << 4)) as u64;
    if xo9s == 413 {
        return op(rc!(w, sradi), w, sh);
    }
    if xo9s == 445 {
        return op(rc!(w, extswsli), w, sh);
    }
    // XO-form arithmetic (9-bit XO, OE in bit 21).
    let xo9 = (w >> 1) & 0x1FF;
    let arith: Option<Handler> = match xo9 {
        266 => Some(oe_rc!(w, add)),
        10 => Some(oe_rc!(w, addc)),
        138 => Some(oe_rc!(w, adde)),
        234 => Some(oe_rc!(w, addme)),
        202 => Some(oe_rc!(w, addze)),
        40 => Some(oe_rc!(w, subf)),
        8 => Some(oe_rc!(w, subfc)),
        136 => Some(oe_rc!(w, subfe)),
        232 => Some(oe_rc!(w, subfme)),
        200 => Some(oe_rc!(w, subfze)),
        104 => Some(oe_rc!(w, neg)),
        235 => Some(oe_rc!(w, mullw)),
        233 => Some(oe_rc!(w, mulld)),
        491 => Some(oe_rc!(w, divw)),
        459 => Some(oe_rc!(w, divwu)),
        427 => Some(oe_rc!(w, divwe)),
        395 => Some(oe_rc!(w, divweu)),
        489 => Some(oe_rc!(w, divd)),
        457 => Some(oe_rc!(w, divdu)),
        425 => Some(oe_rc!(w, divde)),
        393 => Some(oe_rc!(w, divdeu)),
        75 if w & 0x400 == 0 => Some(rc!(w, mulhw)),
        11 if w & 0x400 == 0 => Some(rc!(w, mulhwu)),
        73 if w & 0x400 == 0 => Some(rc!(w, mulhd)),
        9 if w & 0x400 == 0 => Some(rc!(w, mulhdu)),
        _ => None,
    };
    if let Some(f) = arith {
        return op(f, w, 0);
    }
    let xo = field::xo10(w);
    let spr = field::spr(w) as u64;
    match xo {
        0 => op(int::cmp::<false>, w, 0),
        32 => op(int::cmpl::<false>, w, 0),
        4 => {
            if rt != 0 {
                op(int::trap::<true, false>, w, 0)
            } else {
                op(int::nop, w, 0) // tw 0,...: never traps
            }
        }
        68 => op(int::trap::<false, false>, w, 0),
        19 => op(branch::mfcr, w, 0),
        144 => op(branch::mtcrf, w, 0),
        83 => op(sys::mfmsr, w, 0),
        146 => op_end(sys::mtmsr::<true>, w, 0),
        178 => op_end(sys::mtmsr::<false>, w, 0),
        339 => match spr {
            8 => op(sys::mflr, w, 0),
            9 => op(sys::mfctr, w, 0),
            _ => op(sys::mfspr, w, spr),
        },
        467 => match spr {
            8 => op(sys::mtlr, w, 0),
            9 => op(sys::mtctr, w, 0),
            _ => op(sys::mtspr, w, spr),
        },
        371 => op(sys::mftb, w, spr),
        28 => op(rc!(w, and), w, 0),
        60 => op(rc!(w, andc), w, 0),
        444 => {
            if rt == rb && !field::rc(w) {
                if rt == ra {
                    op(int::nop, w, 0)
                } else {
                    op(int::mr, w, 0)
                }
            } else {
                op(rc!(w, or), w, 0)
            }
        }
        412 => op(rc!(w, orc), w, 0),
        124 => op(rc!(w, nor), w, 0),
        316 => op(rc!(w, xor), w, 0),
        284 => op(rc!(w, eqv), w, 0),
        476 => op(rc!(w, nand), w, 0),
        954 => op(rc!(w, extsb), w, 0),
        922 => op(rc!(w, extsh), w, 0),
        986 => op(rc!(w, extsw), w, 0),
        26 => op(rc!(w, cntlzw), w, 0),
        58 => op(rc!(w, cntlzd), w, 0),
        538 => op(rc!(w, cnttzw), w, 0),
        570 => op(rc!(w, cnttzd), w, 0),
        122 => op(int::popcntb, w, 0),
        378 => op(int::popcntw, w, 0),
        506 => op(int::popcntd, w, 0),
        154 => op(int::prtyw, w, 0),
        186 => op(int::prtyd, w, 0),
        252 => op(int::bpermd, w, 0),
        508 => op(int::cmpb, w, 0),
        24 => op(rc!(w, slw), w, 0),
        536 => op(rc!(w, srw), w, 0),
        792 => op(rc!(w, sraw), w, 0),
        824 => op(rc!(w, srawi), w, 0),
        27 => op(rc!(w, sld), w, 0),
        539 => op(rc!(w, srd), w, 0),
        794 => op(rc!(w, srad), w, 0),
        779 => op(int::modsw, w, 0),
        267 => op(int::moduw, w, 0),
        777 => op(int::modsd, w, 0),
        265 => op(int::modud, w, 0),
        755 => op(int::darn, w, 0),
        192 => op(int::cmprb, w, 0),
        224 => op(int::cmpeqb, w, 0),
        128 => op(int::setb, w, 0),
        576 => op(int::mcrxrx, w, 0),
        // loads
        23 => op(e!(le, ldst::ld_x::<4, false, false>), w, 0),
        55 => load_update(w, e!(le, ldst::ld_x::<4, false, true>), 0),
        87 => op(e!(le, ldst::ld_x::<1, false, false>), w, 0),
        119 => load_update(w, e!(le, ldst::ld_x::<1, false, true>), 0),
        279 => op(e!(le, ldst::ld_x::<2, false, false>), w, 0),
        311 => load_update(w, e!(le, ldst::ld_x::<2, false, true>), 0),
        343 => op(e!(le, ldst::ld_x::<2, true, false>), w, 0),
        375 => load_update(w, e!(le, ldst::ld_x::<2, true, true>), 0),
        21 => op(e!(le, ldst::ld_x::<8, false, false>), w, 0),
        53 => load_update(w, e!(le, ldst::ld_x::<8, false, true>), 0),
        341 => op(e!(le, ldst::ld_x::<4, true, false>), w, 0),
        373 => load_update(w, e!(le, ldst::ld_x::<4, true, true>), 0),
        534 => op(ldst::ld_brx::<4>, w, 0),
        790 => op(ldst::ld_brx::<2>, w, 0),
        532 => op(ldst::ld_brx::<8>, w, 0),
        597 => op(ldst::lswi, w, 0),
        533 => op(ldst::lswx, w, 0),
        // stores
        151 => op(e!(le, ldst::st_x::<4, false>), w, 0),
        183 => store_update(w, e!(le, ldst::st_x::<4, true>), 0),
        215 => op(e!(le, ldst::st_x::<1, false>), w, 0),
        247 => store_update(w, e!(le, ldst::st_x::<1, true>), 0),
        407 => op(e!(le, ldst::st_x::<2, false>), w, 0),
        439 => store_update(w, e!(le, ldst::st_x::<2, true>), 0),
        149 => op(e!(le, ldst::st_x::<8, false>), w, 0),
        181 => store_update(w, e!(le, ldst::st_x::<8, true>), 0),
        662 => op(ldst::st_brx::<4>, w, 0),
        918 => op(ldst::st_brx::<2>, w, 0),
        660 => op(ldst::st_brx::<8>, w, 0),
        725 => op(ldst::stswi, w, 0),
        661 => op(ldst::stswx, w, 0),
        // reservations
        52 => op(ldst::larx::<1>, w, 0),
        116 => op(ldst::larx::<2>, w, 0),
        20 => op(ldst::larx::<4>, w, 0),
        84 => op(ldst::larx::<8>, w, 0),
        276 => op(ldst::lqarx, w, 0),
        694 if field::rc(w) => op(ldst::stcx::<1>, w, 0),
        726 if field::rc(w) => op(ldst::stcx::<2>, w, 0),
        150 if field::rc(w) => op(ldst::stcx::<4>, w, 0),
        214 if field::rc(w) => op(ldst::stcx::<8>, w, 0),
        182 if field::rc(w) => op(ldst::stqcx, w, 0),
        // storage control
        598 => op(sys::sync, w, 0),
        854 => op(sys::eieio, w, 0),
        566 => op(sys::tlbsync, w, 0),
        1014 => op(ldst::dcbz, w, 0),
        54 | 86 | 982 => op(ldst::cache_touch, w, 0),
        278 | 246 | 22 | 758 | 342 | 374 | 822 => op(int::nop, w, 0),
        470 => op(sys::priv_nop, w, 0),
        838 => op(int::nop, w, 0), // cp_abort
        306 => op(sys::tlbie, w, 0),
        274 => op(sys::tlbiel, w, 0),
        498 => op(sys::slbia, w, 0),
        434 | 402 | 338 => op(sys::priv_nop, w, 0),
        915 | 851 => op(sys::priv_zero, w, 0),
        142 => op_end(sys::msgsndp, w, 0),
        174 => op(sys::msgclrp, w, 0),
        466 | 850 | 206 | 238 | 886 | 789 | 821 | 853 | 885 | 917 | 949 | 981 | 1013 => {
            op(sys::hv_only, w, 0)
        }
        30 | 62 => op(int::nop, w, 0), // wait
        _ => {
            if xo & 0xFF == 170 && (xo >> 8) == 0 {
                op(int::addex, w, 0)
            } else {
                fpvec::decode(w).map(|o| (o, BlockEnd::No))
            }
        }
    }
}
