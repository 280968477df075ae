//! VMX (AltiVec) instructions: op 4 (VA/VX/VC forms) and the op 31 vector loads/stores.
//!
//! Elements are numbered from the left (ISA order) in every mode; loads and stores do the
//! byte-order work. Saturating operations set VSCR[SAT]. VMX floating point always rounds
//! to nearest, never touches FPSCR, and with VSCR[NJ]=1 flushes denormal inputs and
//! results to zero.

use super::crypto;
use super::soft::{self, F32, Rm, Val};
use super::{fast, fast_ok, vec_off, vec_unavailable};
use crate::core::{Core, Flow};
use crate::op::{Handler, Op, field};

macro_rules! need_vec {
    ($c:expr, $cia:expr) => {
        if vec_off($c) {
            return vec_unavailable($c, $cia);
        }
    };
}

const SAT: u32 = 1;
const NJ: u32 = 0x1_0000;

// ---- element views ------------------------------------------------------------------------------

#[inline(always)]
fn b8(v: u128) -> [u8; 16] {
    v.to_be_bytes()
}
#[inline(always)]
fn from_b8(b: [u8; 16]) -> u128 {
    u128::from_be_bytes(b)
}
#[inline(always)]
fn h16(v: u128) -> [u16; 8] {
    let mut o = [0u16; 8];
    for (i, x) in o.iter_mut().enumerate() {
        *x = (v >> (112 - 16 * i)) as u16;
    }
    o
}
#[inline(always)]
fn from_h16(h: [u16; 8]) -> u128 {
    h.iter().fold(0u128, |acc, &x| (acc << 16) | x as u128)
}
#[inline(always)]
fn w32(v: u128) -> [u32; 4] {
    [
        (v >> 96) as u32,
        (v >> 64) as u32,
        (v >> 32) as u32,
        v as u32,
    ]
}
#[inline(always)]
fn from_w32(w: [u32; 4]) -> u128 {
    w.iter().fold(0u128, |acc, &x| (acc << 32) | x as u128)
}
#[inline(always)]
fn d64(v: u128) -> [u64; 2] {
    [(v >> 64) as u64, v as u64]
}
#[inline(always)]
fn from_d64(d: [u64; 2]) -> u128 {
    ((d[0] as u128) << 64) | d[1] as u128
}

#[inline(always)]
fn vr(c: &Core, i: u8) -> u128 {
    c.vsr[32 + (i as usize & 31)]
}
#[inline(always)]
fn set_vr(c: &mut Core, i: u8, v: u128) {
    c.vsr[32 + (i as usize & 31)] = v;
}

/// Element-wise map over N-bit lanes (N = 8, 16, 32, 64) with a lane function on u64.
#[inline(always)]
fn map2<const N: u32>(a: u128, b: u128, mut f: impl FnMut(u64, u64) -> u64) -> u128 {
    let n = 128 / N;
    let mask: u128 = if N == 64 {
        u64::MAX as u128
    } else {
        (1u128 << N) - 1
    };
    let mut r = 0u128;
    for i in 0..n {
        let sh = N * (n - 1 - i);
        let x = ((a >> sh) & mask) as u64;
        let y = ((b >> sh) & mask) as u64;
        r |= ((f(x, y) as u128) & mask) << sh;
    }
    r
}

/// Sign-extends an N-bit lane value.
#[inline(always)]
fn sx<const N: u32>(x: u64) -> i64 {
    ((x << (64 - N)) as i64) >> (64 - N)
}

/// Saturates a signed value to N bits; sets `sat` if clamped.
#[inline(always)]
fn sat_s<const N: u32>(v: i128, sat: &mut bool) -> u64 {
    let max = (1i128 << (N - 1)) - 1;
    let min = -(1i128 << (N - 1));
    let c = v.clamp(min, max);
    if c != v {
        *sat = true;
    }
    c as u64
}

/// Saturates to an unsigned N-bit value.
#[inline(always)]
fn sat_u<const N: u32>(v: i128, sat: &mut bool) -> u64 {
    let max = if N == 64 {
        u64::MAX as i128
    } else {
        (1i128 << N) - 1
    };
    let c = v.clamp(0, max);
    if c != v {
        *sat = true;
    }
    c as u64
}

// ---- integer VX ops --------------------------------------------------------------------------------

/// Two-operand integer operations selected by the VX extended opcode (as `K`).
fn vx2<const K: u32>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let a = vr(c, op.ra);
    let b = vr(c, op.rb);
    let mut sat = false;
    let r: u128 = match K {
        // modulo add/sub
        0 => map2::<8>(a, b, |x, y| x.wrapping_add(y)),
        64 => map2::<16>(a, b, |x, y| x.wrapping_add(y)),
        128 => map2::<32>(a, b, |x, y| x.wrapping_add(y)),
        192 => map2::<64>(a, b, |x, y| x.wrapping_add(y)),
        256 => a.wrapping_add(b),
        320 => a.overflowing_add(b).1 as u128,
        384 => map2::<32>(a, b, |x, y| (x + y) >> 32),
        1024 => map2::<8>(a, b, |x, y| x.wrapping_sub(y)),
        1088 => map2::<16>(a, b, |x, y| x.wrapping_sub(y)),
        1152 => map2::<32>(a, b, |x, y| x.wrapping_sub(y)),
        1216 => map2::<64>(a, b, |x, y| x.wrapping_sub(y)),
        1280 => a.wrapping_sub(b),
        1344 => (a >= b) as u128,
        1408 => map2::<32>(a, b, |x, y| (x >= y) as u64),
        // saturating
        512 => map2::<8>(a, b, |x, y| sat_u::<8>(x as i128 + y as i128, &mut sat)),
        576 => map2::<16>(a, b, |x, y| sat_u::<16>(x as i128 + y as i128, &mut sat)),
        640 => map2::<32>(a, b, |x, y| sat_u::<32>(x as i128 + y as i128, &mut sat)),
        768 => map2::<8>(a, b, |x, y| {
            sat_s::<8>(sx::<8>(x) as i128 + sx::<8>(y) as i128, &mut sat)
        }),
        832 => map2::<16>(a, b, |x, y| {
            sat_s::<16>(sx::<16>(x) as i128 + sx::<16>(y) as i128, &mut sat)
        }),
        896 => map2::<32>(a, b, |x, y| {
            sat_s::<32>(sx::<32>(x) as i128 + sx::<32>(y) as i128, &mut sat)
        }),
        1536 => map2::<8>(a, b, |x, y| sat_u::<8>(x as i128 - y as i128, &mut sat)),
        1600 => map2::<16>(a, b, |x, y| sat_u::<16>(x as i128 - y as i128, &mut sat)),
        1664 => map2::<32>(a, b, |x, y| sat_u::<32>(x as i128 - y as i128, &mut sat)),
        1792 => map2::<8>(a, b, |x, y| {
            sat_s::<8>(sx::<8>(x) as i128 - sx::<8>(y) as i128, &mut sat)
        }),
        1856 => map2::<16>(a, b, |x, y| {
            sat_s::<16>(sx::<16>(x) as i128 - sx::<16>(y) as i128, &mut sat)
        }),
        1920 => map2::<32>(a, b, |x, y| {
            sat_s::<32>(sx::<32>(x) as i128 - sx::<32>(y) as i128, &mut sat)
        }),
        // max/min
        2 => map2::<8>(a, b, |x, y| x.max(y)),
        66 => map2::<16>(a, b, |x, y| x.max(y)),
        130 => map2::<32>(a, b, |x, y| x.max(y)),
        194 => map2::<64>(a, b, |x, y| x.max(y)),
        258 => map2::<8>(a, b, |x, y| sx::<8>(x).max(sx::<8>(y)) as u64),
        322 => map2::<16>(a, b, |x, y| sx::<16>(x).max(sx::<16>(y)) as u64),
        386 => map2::<32>(a, b, |x, y| sx::<32>(x).max(sx::<32>(y)) as u64),
        450 => map2::<64>(a, b, |x, y| (x as i64).max(y as i64) as u64),
        514 => map2::<8>(a, b, |x, y| x.min(y)),
        578 => map2::<16>(a, b, |x, y| x.min(y)),
        642 => map2::<32>(a, b, |x, y| x.min(y)),
        706 => map2::<64>(a, b, |x, y| x.min(y)),
        770 => map2::<8>(a, b, |x, y| sx::<8>(x).min(sx::<8>(y)) as u64),
        834 => map2::<16>(a, b, |x, y| sx::<16>(x).min(sx::<16>(y)) as u64),
        898 => map2::<32>(a, b, |x, y| sx::<32>(x).min(sx::<32>(y)) as u64),
        962 => map2::<64>(a, b, |x, y| (x as i64).min(y as i64) as u64),
        // average
        1026 => map2::<8>(a, b, |x, y| (x + y + 1) >> 1),
        1090 => map2::<16>(a, b, |x, y| (x + y + 1) >> 1),
        1154 => map2::<32>(a, b, |x, y| (x + y + 1) >> 1),
        1282 => map2::<8>(a, b, |x, y| ((sx::<8>(x) + sx::<8>(y) + 1) >> 1) as u64),
        1346 => map2::<16>(a, b, |x, y| ((sx::<16>(x) + sx::<16>(y) + 1) >> 1) as u64),
        1410 => map2::<32>(a, b, |x, y| ((sx::<32>(x) + sx::<32>(y) + 1) >> 1) as u64),
        // absolute difference
        1027 => map2::<8>(a, b, |x, y| x.abs_diff(y)),
        1091 => map2::<16>(a, b, |x, y| x.abs_diff(y)),
        1155 => map2::<32>(a, b, |x, y| x.abs_diff(y)),
        // rotates and shifts (counts masked to the element width)
        4 => map2::<8>(a, b, |x, y| (x as u8).rotate_left(y as u32 & 7) as u64),
        68 => map2::<16>(a, b, |x, y| (x as u16).rotate_left(y as u32 & 15) as u64),
        132 => map2::<32>(a, b, |x, y| (x as u32).rotate_left(y as u32 & 31) as u64),
        196 => map2::<64>(a, b, |x, y| x.rotate_left(y as u32 & 63)),
        260 => map2::<8>(a, b, |x, y| x << (y & 7)),
        324 => map2::<16>(a, b, |x, y| x << (y & 15)),
        388 => map2::<32>(a, b, |x, y| x << (y & 31)),
        1476 => map2::<64>(a, b, |x, y| x << (y & 63)),
        516 => map2::<8>(a, b, |x, y| x >> (y & 7)),
        580 => map2::<16>(a, b, |x, y| x >> (y & 15)),
        644 => map2::<32>(a, b, |x, y| x >> (y & 31)),
        1732 => map2::<64>(a, b, |x, y| x >> (y & 63)),
        772 => map2::<8>(a, b, |x, y| (sx::<8>(x) >> (y & 7)) as u64),
        836 => map2::<16>(a, b, |x, y| (sx::<16>(x) >> (y & 15)) as u64),
        900 => map2::<32>(a, b, |x, y| (sx::<32>(x) >> (y & 31)) as u64),
        964 => map2::<64>(a, b, |x, y| ((x as i64) >> (y & 63)) as u64),
        452 => a << (b as u32 & 7),
        708 => a >> (b as u32 & 7),
        1036 => {
            let n = ((b >> 3) & 15) as u32 * 8;
            if n == 0 { a } else { a << n }
        }
        1100 => {
            let n = ((b >> 3) & 15) as u32 * 8;
            if n == 0 { a } else { a >> n }
        }
        1860 | 1796 => {
            // vslv / vsrv: per-byte shift of the byte pair
            let ab = b8(a);
            let bb = b8(b);
            let mut o = [0u8; 16];
            for i in 0..16 {
                let sh = bb[i] & 7;
                o[i] = if K == 1860 {
                    let hi = ab[i] as u16;
                    let lo = if i < 15 { ab[i + 1] as u16 } else { 0 };
                    ((((hi << 8) | lo) << sh) >> 8) as u8
                } else {
                    let lo = ab[i] as u16;
                    let hi = if i > 0 { ab[i - 1] as u16 } else { 0 };
                    (((hi << 8) | lo) >> sh) as u8
                };
            }
            from_b8(o)
        }
        // logical
        1028 => a & b,
        1092 => a & !b,
        1156 => a | b,
        1220 => a ^ b,
        1284 => !(a | b),
        1348 => a | !b,
        1412 => !(a & b),
        1668 => !(a ^ b),
        // multiply even/odd (even = element 0, 2, …)
        8 | 520 | 264 | 776 => {
            let odd = K == 8 || K == 264;
            let signed = K == 264 || K == 776;
            let (x, y) = (b8(a), b8(b));
            let mut o = [0u16; 8];
            for (i, r) in o.iter_mut().enumerate() {
                let j = 2 * i + odd as usize;
                *r = if signed {
                    (x[j] as i8 as i16).wrapping_mul(y[j] as i8 as i16) as u16
                } else {
                    x[j] as u16 * y[j] as u16
                };
            }
            from_h16(o)
        }
        72 | 584 | 328 | 840 => {
            let odd = K == 72 || K == 328;
            let signed = K == 328 || K == 840;
            let (x, y) = (h16(a), h16(b));
            let mut o = [0u32; 4];
            for (i, r) in o.iter_mut().enumerate() {
                let j = 2 * i + odd as usize;
                *r = if signed {
                    (x[j] as i16 as i32).wrapping_mul(y[j] as i16 as i32) as u32
                } else {
                    x[j] as u32 * y[j] as u32
                };
            }
            from_w32(o)
        }
        136 | 648 | 392 | 904 => {
            let odd = K == 136 || K == 392;
            let signed = K == 392 || K == 904;
            let (x, y) = (w32(a), w32(b));
            let mut o = [0u64; 2];
            for (i, r) in o.iter_mut().enumerate() {
                let j = 2 * i + odd as usize;
                *r = if signed {
                    (x[j] as i32 as i64).wrapping_mul(y[j] as i32 as i64) as u64
                } else {
                    x[j] as u64 * y[j] as u64
                };
            }
            from_d64(o)
        }
        137 => map2::<32>(a, b, |x, y| x.wrapping_mul(y)),
        // polynomial multiply-sum
        1032 | 1096 | 1160 => {
            let n: u32 = match K {
                1032 => 8,
                1096 => 16,
                _ => 32,
            };
            let cnt = 128 / n;
            let mask = (1u64 << n) - 1;
            let mut r = 0u128;
            for i in (0..cnt).step_by(2) {
                let sh0 = n * (cnt - 1 - i);
                let sh1 = n * (cnt - 2 - i);
                let p0 = crypto::clmul(((a >> sh0) as u64) & mask, ((b >> sh0) as u64) & mask);
                let p1 = crypto::clmul(((a >> sh1) as u64) & mask, ((b >> sh1) as u64) & mask);
                r |= (p0 ^ p1) << sh1;
            }
            r
        }
        1224 => {
            let (x, y) = (d64(a), d64(b));
            crypto::clmul(x[0], y[0]) ^ crypto::clmul(x[1], y[1])
        }
        // sums across
        1544 => {
            let (x, y) = (b8(a), w32(b));
            let mut o = [0u32; 4];
            for i in 0..4 {
                let s: i128 = (0..4).map(|k| x[4 * i + k] as i128).sum::<i128>() + y[i] as i128;
                o[i] = sat_u::<32>(s, &mut sat) as u32;
            }
            from_w32(o)
        }
        1800 => {
            let (x, y) = (b8(a), w32(b));
            let mut o = [0u32; 4];
            for i in 0..4 {
                let s: i128 =
                    (0..4).map(|k| x[4 * i + k] as i8 as i128).sum::<i128>() + y[i] as i32 as i128;
                o[i] = sat_s::<32>(s, &mut sat) as u32;
            }
            from_w32(o)
        }
        1608 => {
            let (x, y) = (h16(a), w32(b));
            let mut o = [0u32; 4];
            for i in 0..4 {
                let s = x[2 * i] as i16 as i128 + x[2 * i + 1] as i16 as i128 + y[i] as i32 as i128;
                o[i] = sat_s::<32>(s, &mut sat) as u32;
            }
            from_w32(o)
        }
        1672 => {
            let (x, y) = (w32(a), w32(b));
            let s0 = x[0] as i32 as i128 + x[1] as i32 as i128 + y[1] as i32 as i128;
            let s1 = x[2] as i32 as i128 + x[3] as i32 as i128 + y[3] as i32 as i128;
            from_w32([
                0,
                sat_s::<32>(s0, &mut sat) as u32,
                0,
                sat_s::<32>(s1, &mut sat) as u32,
            ])
        }
        1928 => {
            let (x, y) = (w32(a), w32(b));
            let s: i128 = x.iter().map(|&v| v as i32 as i128).sum::<i128>() + y[3] as i32 as i128;
            from_w32([0, 0, 0, sat_s::<32>(s, &mut sat) as u32])
        }
        // merges
        12 | 268 => {
            let (x, y) = (b8(a), b8(b));
            let o0 = if K == 12 { 0 } else { 8 };
            let mut o = [0u8; 16];
            for i in 0..8 {
                o[2 * i] = x[o0 + i];
                o[2 * i + 1] = y[o0 + i];
            }
            from_b8(o)
        }
        76 | 332 => {
            let (x, y) = (h16(a), h16(b));
            let o0 = if K == 76 { 0 } else { 4 };
            let mut o = [0u16; 8];
            for i in 0..4 {
                o[2 * i] = x[o0 + i];
                o[2 * i + 1] = y[o0 + i];
            }
            from_h16(o)
        }
        140 | 396 => {
            let (x, y) = (w32(a), w32(b));
            let o0 = if K == 140 { 0 } else { 2 };
            from_w32([x[o0], y[o0], x[o0 + 1], y[o0 + 1]])
        }
        1676 => {
            let (x, y) = (w32(a), w32(b));
            from_w32([x[1], y[1], x[3], y[3]])
        }
        1932 => {
            let (x, y) = (w32(a), w32(b));
            from_w32([x[0], y[0], x[2], y[2]])
        }
        // packs
        14 => pack::<16, 8>(a, b, &mut sat, |v, _| v),
        78 => pack::<32, 16>(a, b, &mut sat, |v, _| v),
        1102 => pack::<64, 32>(a, b, &mut sat, |v, _| v),
        142 => pack::<16, 8>(a, b, &mut sat, |v, s| sat_u::<8>(v as i128, s)),
        206 => pack::<32, 16>(a, b, &mut sat, |v, s| sat_u::<16>(v as i128, s)),
        1230 => pack::<64, 32>(a, b, &mut sat, |v, s| sat_u::<32>(v as i128, s)),
        270 => pack::<16, 8>(a, b, &mut sat, |v, s| sat_u::<8>(sx::<16>(v) as i128, s)),
        334 => pack::<32, 16>(a, b, &mut sat, |v, s| sat_u::<16>(sx::<32>(v) as i128, s)),
        1358 => pack::<64, 32>(a, b, &mut sat, |v, s| sat_u::<32>(v as i64 as i128, s)),
        398 => pack::<16, 8>(a, b, &mut sat, |v, s| sat_s::<8>(sx::<16>(v) as i128, s)),
        462 => pack::<32, 16>(a, b, &mut sat, |v, s| sat_s::<16>(sx::<32>(v) as i128, s)),
        1486 => pack::<64, 32>(a, b, &mut sat, |v, s| sat_s::<32>(v as i64 as i128, s)),
        782 => {
            // vpkpx: 32-bit 8:8:8:8 pixels → 1:5:5:5
            let mut o = [0u16; 8];
            for (i, &p) in w32(a).iter().chain(w32(b).iter()).enumerate() {
                o[i] = (((p >> 24) & 1) << 15
                    | ((p >> 19) & 0x1F) << 10
                    | ((p >> 11) & 0x1F) << 5
                    | ((p >> 3) & 0x1F)) as u16;
            }
            from_h16(o)
        }
        // bit gather / permute
        1356 => {
            // vbpermq: 16 bit selections from the 128-bit VRA
            let idx = b8(b);
            let mut r = 0u64;
            for (i, &k) in idx.iter().enumerate() {
                let bit = k < 128 && (a >> (127 - k as u32)) & 1 != 0;
                r |= (bit as u64) << (15 - i);
            }
            (r as u128) << 64
        }
        1484 => {
            // vbpermd: per doubleword, 8 selections
            let idx = b8(b);
            let d = d64(a);
            let mut o = [0u64; 2];
            for (j, od) in o.iter_mut().enumerate() {
                let mut r = 0u64;
                for i in 0..8 {
                    let k = idx[8 * j + i];
                    let bit = k < 64 && (d[j] >> (63 - k as u32)) & 1 != 0;
                    r |= (bit as u64) << (7 - i);
                }
                *od = r;
            }
            from_d64(o)
        }
        // crypto
        1288 => crypto::cipher(a, b, false),
        1289 => crypto::cipher(a, b, true),
        1352 => crypto::ncipher(a, b, false),
        1353 => crypto::ncipher(a, b, true),
        _ => 0,
    };
    set_vr(c, op.rt, r);
    if sat {
        c.vscr |= SAT;
    }
    Flow::Next
}

/// Packs the elements of `a` then `b` (N-bit) into M-bit elements with `f`.
#[inline(always)]
fn pack<const N: u32, const M: u32>(
    a: u128,
    b: u128,
    sat: &mut bool,
    mut f: impl FnMut(u64, &mut bool) -> u64,
) -> u128 {
    let n = 128 / N;
    let nmask: u128 = if N == 64 {
        u64::MAX as u128
    } else {
        (1u128 << N) - 1
    };
    let mmask: u128 = (1u128 << M) - 1;
    let mut r = 0u128;
    for (s, v) in [a, b].iter().enumerate() {
        for i in 0..n {
            let x = ((v >> (N * (n - 1 - i))) & nmask) as u64;
            let y = f(x, sat) as u128 & mmask;
            let pos = s as u32 * n + i;
            r |= y << (M * (2 * n - 1 - pos));
        }
    }
    r
}

// ---- one-operand and special VX ops ------------------------------------------------------------------

/// Ops on VRB (and the UIM/SIMM in the VRA field).
fn vx1<const K: u32>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let b = vr(c, op.rb);
    let uim = op.ra as u32;
    let r: u128 = match K {
        // unpacks (high = elements 0…)
        526 | 654 => {
            let x = b8(b);
            let o0 = if K == 526 { 0 } else { 8 };
            let mut o = [0u16; 8];
            for (i, r) in o.iter_mut().enumerate() {
                *r = x[o0 + i] as i8 as i16 as u16;
            }
            from_h16(o)
        }
        590 | 718 => {
            let x = h16(b);
            let o0 = if K == 590 { 0 } else { 4 };
            let mut o = [0u32; 4];
            for (i, r) in o.iter_mut().enumerate() {
                *r = x[o0 + i] as i16 as i32 as u32;
            }
            from_w32(o)
        }
        1614 | 1742 => {
            let x = w32(b);
            let o0 = if K == 1614 { 0 } else { 2 };
            from_d64([x[o0] as i32 as i64 as u64, x[o0 + 1] as i32 as i64 as u64])
        }
        846 | 974 => {
            let x = h16(b);
            let o0 = if K == 846 { 0 } else { 4 };
            let mut o = [0u32; 4];
            for (i, r) in o.iter_mut().enumerate() {
                let p = x[o0 + i] as u32;
                let a = if p & 0x8000 != 0 { 0xFF } else { 0 };
                *r = (a << 24) | (((p >> 10) & 0x1F) << 16) | (((p >> 5) & 0x1F) << 8) | (p & 0x1F);
            }
            from_w32(o)
        }
        // counts
        1794 => map2::<8>(b, 0, |x, _| (x as u8).leading_zeros() as u64),
        1858 => map2::<16>(b, 0, |x, _| (x as u16).leading_zeros() as u64),
        1922 => map2::<32>(b, 0, |x, _| (x as u32).leading_zeros() as u64),
        1986 => map2::<64>(b, 0, |x, _| x.leading_zeros() as u64),
        1795 => map2::<8>(b, 0, |x, _| x.count_ones() as u64),
        1859 => map2::<16>(b, 0, |x, _| x.count_ones() as u64),
        1923 => map2::<32>(b, 0, |x, _| x.count_ones() as u64),
        1987 => map2::<64>(b, 0, |x, _| x.count_ones() as u64),
        // vgbbd: transpose the 8×8 bit matrix of each doubleword
        1292 => {
            let d = d64(b);
            let mut o = [0u64; 2];
            for (j, od) in o.iter_mut().enumerate() {
                let x = d[j].to_be_bytes();
                let mut r = [0u8; 8];
                for (i, rb) in r.iter_mut().enumerate() {
                    for (k, &xb) in x.iter().enumerate() {
                        if (xb >> (7 - i)) & 1 != 0 {
                            *rb |= 0x80 >> k;
                        }
                    }
                }
                *od = u64::from_be_bytes(r);
            }
            from_d64(o)
        }
        1480 => crypto::sbox(vr(c, op.ra)),
        1666 | 1730 => {
            let a = vr(c, op.ra);
            let st = (op.raw >> 15) & 1 != 0;
            let six = (op.raw >> 11) & 15;
            if K == 1666 {
                let x = w32(a);
                let mut o = [0u32; 4];
                for i in 0..4 {
                    o[i] = crypto::sigma32(x[i], st, (six >> (3 - i)) & 1 != 0);
                }
                from_w32(o)
            } else {
                let x = d64(a);
                from_d64([
                    crypto::sigma64(x[0], st, (six >> 3) & 1 != 0),
                    crypto::sigma64(x[1], st, (six >> 1) & 1 != 0),
                ])
            }
        }
        // splats
        524 => {
            let v = b8(b)[(uim & 15) as usize];
            from_b8([v; 16])
        }
        588 => {
            let v = h16(b)[(uim & 7) as usize];
            from_h16([v; 8])
        }
        652 => {
            let v = w32(b)[(uim & 3) as usize];
            from_w32([v; 4])
        }
        780 => from_b8([(((uim as i8) << 3) >> 3) as u8; 16]),
        844 => from_h16([(((uim as i16) << 11) >> 11) as u16; 8]),
        908 => from_w32([(((uim as i32) << 27) >> 27) as u32; 4]),
        // extract/insert (UIM = byte offset)
        525 | 589 | 653 | 717 => {
            let n = match K {
                525 => 1,
                589 => 2,
                653 => 4,
                _ => 8,
            };
            let x = b8(b);
            let u = (uim & 15) as usize;
            let mut v = 0u64;
            for j in 0..n {
                v = (v << 8) | x[(u + j) & 15] as u64;
            }
            // the element lands right-justified in doubleword 0
            from_d64([v, 0])
        }
        781 | 845 | 909 | 973 => {
            let n = match K {
                781 => 1,
                845 => 2,
                909 => 4,
                _ => 8,
            };
            // source: the rightmost element of doubleword 0 of VRB
            let src = d64(b)[0].to_be_bytes();
            let mut t = b8(vr(c, op.rt));
            let u = (uim & 15) as usize;
            for j in 0..n {
                t[(u + j) & 15] = src[8 - n + j];
            }
            from_b8(t)
        }
        _ => 0,
    };
    set_vr(c, op.rt, r);
    Flow::Next
}

/// XO 1538 sub-operations (in the VRA field).
fn x1538<const SUB: u32>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let b = vr(c, op.rb);
    let r: u128 = match SUB {
        0 | 1 => {
            // vclzlsbb / vctzlsbb → GPR
            let x = b8(b);
            let n = if SUB == 0 {
                x.iter().take_while(|&&v| v & 1 == 0).count()
            } else {
                x.iter().rev().take_while(|&&v| v & 1 == 0).count()
            };
            c.gpr[op.rt as usize & 31] = n as u64;
            return Flow::Next;
        }
        6 => map2::<32>(b, 0, |x, _| (x as u32).wrapping_neg() as u64),
        7 => map2::<64>(b, 0, |x, _| x.wrapping_neg()),
        8 => map2::<32>(b, 0, |x, _| (x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24)) & 1),
        9 => map2::<64>(b, 0, |x, _| {
            let mut p = 0;
            for i in 0..8 {
                p ^= x >> (8 * i);
            }
            p & 1
        }),
        10 => {
            let x = b8(b);
            (x.iter().fold(0u8, |p, &v| p ^ v) & 1) as u128
        }
        16 => map2::<32>(b, 0, |x, _| x as u8 as i8 as i64 as u64),
        17 => map2::<32>(b, 0, |x, _| x as u16 as i16 as i64 as u64),
        24 => map2::<64>(b, 0, |x, _| x as u8 as i8 as i64 as u64),
        25 => map2::<64>(b, 0, |x, _| x as u16 as i16 as i64 as u64),
        26 => map2::<64>(b, 0, |x, _| x as u32 as i32 as i64 as u64),
        28 => map2::<8>(b, 0, |x, _| (x as u8).trailing_zeros() as u64),
        29 => map2::<16>(b, 0, |x, _| (x as u16).trailing_zeros() as u64),
        30 => map2::<32>(b, 0, |x, _| (x as u32).trailing_zeros() as u64),
        _ => map2::<64>(b, 0, |x, _| x.trailing_zeros() as u64),
    };
    set_vr(c, op.rt, r);
    Flow::Next
}

/// `vextu[bhw][lr]x RT,RA,VRB`: the N-byte element at byte index RA[60:63] counted from
/// the left, or ending that many bytes from the right.
fn vextux<const N: usize, const RIGHT: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let x = b8(vr(c, op.rb));
    let idx = (c.gpr[op.ra as usize & 31] & 15) as isize;
    // Indices past the last whole element are undefined; bytes wrap modulo 16 (QEMU).
    let start = if RIGHT { 16 - N as isize - idx } else { idx };
    let mut v = 0u64;
    for j in 0..N as isize {
        let pos = (start + j).rem_euclid(16) as usize;
        v = (v << 8) | x[pos] as u64;
    }
    c.gpr[op.rt as usize & 31] = v;
    Flow::Next
}

/// `vrlwmi`/`vrldmi`/`vrlwnm`/`vrldnm`: rotate left with a mask from VRB.
fn vrlm<const D: bool, const MI: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let a = vr(c, op.ra);
    let b = vr(c, op.rb);
    let t = vr(c, op.rt);
    let mask = |mb: u32, me: u32, n: u32| -> u64 {
        // bits mb..me (MSB = 0) of an n-bit value, wrapping if mb > me
        let full = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        let m1 = full >> mb;
        let m2 = if me + 1 >= n { 0 } else { full >> (me + 1) };
        if mb <= me {
            m1 & !m2
        } else {
            m1 | (!m2 & full)
        }
    };
    let r = if D {
        let (x, y, z) = (d64(a), d64(b), d64(t));
        let mut o = [0u64; 2];
        for i in 0..2 {
            let sh = (y[i] & 63) as u32;
            let me = ((y[i] >> 8) & 63) as u32;
            let mb = ((y[i] >> 16) & 63) as u32;
            let m = mask(mb, me, 64);
            let rot = x[i].rotate_left(sh);
            o[i] = if MI { (rot & m) | (z[i] & !m) } else { rot & m };
        }
        from_d64(o)
    } else {
        let (x, y, z) = (w32(a), w32(b), w32(t));
        let mut o = [0u32; 4];
        for i in 0..4 {
            let sh = y[i] & 31;
            let me = (y[i] >> 8) & 31;
            let mb = (y[i] >> 16) & 31;
            let m = mask(mb, me, 32) as u32;
            let rot = x[i].rotate_left(sh);
            o[i] = if MI { (rot & m) | (z[i] & !m) } else { rot & m };
        }
        from_w32(o)
    };
    set_vr(c, op.rt, r);
    Flow::Next
}

/// `mfvscr` / `mtvscr`.
fn mfvscr(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let v = c.vscr as u128;
    set_vr(c, op.rt, v);
    Flow::Next
}

fn mtvscr(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    c.vscr = (vr(c, op.rb) as u32) & (NJ | SAT);
    Flow::Next
}

// ---- VA form ----------------------------------------------------------------------------------------

fn va<const K: u32>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let a = vr(c, op.ra);
    let b = vr(c, op.rb);
    let cc = vr(c, op.rc);
    if (K == 46 || K == 47) && fast_ok() {
        let nj = c.vscr & NJ != 0;
        let r = if K == 47 {
            fast::vmx_fma::<true>(a, cc, b, nj)
        } else {
            fast::vmx_fma::<false>(a, cc, b, nj)
        };
        if let Some(r) = r {
            set_vr(c, op.rt, r);
            return Flow::Next;
        }
    }
    let mut sat = false;
    let r: u128 = match K {
        32 | 33 => {
            let (x, y, z) = (h16(a), h16(b), h16(cc));
            let mut o = [0u16; 8];
            for i in 0..8 {
                let p = (x[i] as i16 as i64) * (y[i] as i16 as i64);
                let p = if K == 33 { p + 0x4000 } else { p };
                o[i] = sat_s::<16>(((p >> 15) + z[i] as i16 as i64) as i128, &mut sat) as u16;
            }
            from_h16(o)
        }
        34 => {
            let (x, y, z) = (h16(a), h16(b), h16(cc));
            let mut o = [0u16; 8];
            for i in 0..8 {
                o[i] = x[i].wrapping_mul(y[i]).wrapping_add(z[i]);
            }
            from_h16(o)
        }
        35 => {
            let (x, y) = (d64(a), d64(b));
            (x[0] as u128 * y[0] as u128)
                .wrapping_add(x[1] as u128 * y[1] as u128)
                .wrapping_add(cc)
        }
        36 | 37 => {
            let (x, y, z) = (b8(a), b8(b), w32(cc));
            let mut o = [0u32; 4];
            for i in 0..4 {
                let mut s = z[i] as i64;
                for k in 0..4 {
                    let j = 4 * i + k;
                    s += if K == 36 {
                        x[j] as i64 * y[j] as i64
                    } else {
                        x[j] as i8 as i64 * y[j] as i64
                    };
                }
                o[i] = s as u32;
            }
            from_w32(o)
        }
        38..=41 => {
            let (x, y, z) = (h16(a), h16(b), w32(cc));
            let signed = K >= 40;
            let mut o = [0u32; 4];
            for i in 0..4 {
                let mut s: i128 = if signed {
                    z[i] as i32 as i128
                } else {
                    z[i] as i128
                };
                for k in 0..2 {
                    let j = 2 * i + k;
                    s += if signed {
                        x[j] as i16 as i128 * y[j] as i16 as i128
                    } else {
                        x[j] as i128 * y[j] as i128
                    };
                }
                o[i] = match K {
                    39 => sat_u::<32>(s, &mut sat) as u32,
                    41 => sat_s::<32>(s, &mut sat) as u32,
                    _ => s as u32,
                };
            }
            from_w32(o)
        }
        42 => (a & !cc) | (b & cc),
        43 | 59 => {
            let src = [b8(a), b8(b)];
            let ctl = b8(cc);
            let mut o = [0u8; 16];
            for i in 0..16 {
                let mut k = (ctl[i] & 31) as usize;
                if K == 59 {
                    k = 31 - k;
                }
                o[i] = src[k >> 4][k & 15];
            }
            from_b8(o)
        }
        44 => {
            let sh = ((op.raw >> 6) & 15) * 8;
            if sh == 0 {
                a
            } else {
                (a << sh) | (b >> (128 - sh))
            }
        }
        45 => {
            let (x, y, z) = (b8(a), b8(b), b8(cc));
            let mut o = [0u8; 16];
            for i in 0..16 {
                o[i] = x[(z[i] >> 4) as usize] ^ y[(z[i] & 15) as usize];
            }
            from_b8(o)
        }
        46 | 47 => {
            let nj = c.vscr & NJ != 0;
            let (x, y, z) = (w32(a), w32(b), w32(cc));
            let mut o = [0u32; 4];
            for i in 0..4 {
                o[i] = vfp_fma(x[i], z[i], y[i], K == 47, nj);
            }
            from_w32(o)
        }
        60 => a.wrapping_add(b).wrapping_add(cc & 1),
        61 => {
            let (s1, c1) = a.overflowing_add(b);
            let (_, c2) = s1.overflowing_add(cc & 1);
            (c1 | c2) as u128
        }
        62 => a.wrapping_add(!b).wrapping_add(cc & 1),
        63 => {
            let (s1, c1) = a.overflowing_add(!b);
            let (_, c2) = s1.overflowing_add(cc & 1);
            (c1 | c2) as u128
        }
        _ => 0,
    };
    set_vr(c, op.rt, r);
    if sat {
        c.vscr |= SAT;
    }
    Flow::Next
}

// ---- VMX floating point ------------------------------------------------------------------------------

#[inline(always)]
fn flush_in(x: u32, nj: bool) -> u32 {
    if nj && x & 0x7F80_0000 == 0 {
        x & 0x8000_0000
    } else {
        x
    }
}

#[inline(always)]
fn flush_out(x: u32, nj: bool) -> u32 {
    if nj && x & 0x7F80_0000 == 0 {
        x & 0x8000_0000
    } else {
        x
    }
}

#[inline(always)]
fn is_nan32(x: u32) -> bool {
    x & 0x7FFF_FFFF > 0x7F80_0000
}

/// First NaN operand, quieted.
#[inline(always)]
fn nan_pick(ops: &[u32]) -> Option<u32> {
    ops.iter().find(|&&x| is_nan32(x)).map(|&x| x | 0x0040_0000)
}

#[inline(always)]
fn round32(v: Val, nj: bool) -> u32 {
    let r = match v {
        Val::NaN => 0x7FC0_0000,
        other => soft::round(F32, Rm::Nearest, other).bits as u32,
    };
    flush_out(r, nj)
}

fn vfp_bin(k: u32, a: u32, b: u32, nj: bool) -> u32 {
    let (a, b) = (flush_in(a, nj), flush_in(b, nj));
    if let Some(n) = nan_pick(&[a, b]) {
        return n;
    }
    let (va, vb) = (soft::unpack(F32, a as u128), soft::unpack(F32, b as u128));
    let v = match k {
        10 => soft::add(Rm::Nearest, va, vb).0,
        _ => soft::add(Rm::Nearest, va, soft::neg(vb)).0,
    };
    round32(v, nj)
}

/// a × c + b (negated-subtract form when `nmsub`: −(a × c − b)).
fn vfp_fma(a: u32, c: u32, b: u32, nmsub: bool, nj: bool) -> u32 {
    let (a, b, c) = (flush_in(a, nj), flush_in(b, nj), flush_in(c, nj));
    if let Some(n) = nan_pick(&[a, b, c]) {
        return n;
    }
    let vb = soft::unpack(F32, b as u128);
    let vb = if nmsub { soft::neg(vb) } else { vb };
    let (v, _) = soft::fma(
        Rm::Nearest,
        soft::unpack(F32, a as u128),
        soft::unpack(F32, c as u128),
        vb,
    );
    let r = round32(v, nj);
    if nmsub && !is_nan32(r) {
        r ^ 0x8000_0000
    } else {
        r
    }
}

fn vfp_max(a: u32, b: u32, max: bool, nj: bool) -> u32 {
    let (a, b) = (flush_in(a, nj), flush_in(b, nj));
    if let Some(n) = nan_pick(&[a, b]) {
        return n;
    }
    let key = |x: u32| -> i64 {
        let m = (x & 0x7FFF_FFFF) as i64;
        if x >> 31 != 0 { -m - 1 } else { m }
    };
    let pick_a = if max {
        key(a) >= key(b)
    } else {
        key(a) <= key(b)
    };
    flush_out(if pick_a { a } else { b }, nj)
}

/// VX float ops.
fn vfp<const K: u32>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let nj = c.vscr & NJ != 0;
    if (K == 10 || K == 74) && fast_ok() {
        let (a, b) = (vr(c, op.ra), vr(c, op.rb));
        let r = if K == 74 {
            fast::vmx_add::<true>(a, b, nj)
        } else {
            fast::vmx_add::<false>(a, b, nj)
        };
        if let Some(r) = r {
            set_vr(c, op.rt, r);
            return Flow::Next;
        }
    }
    let a = w32(vr(c, op.ra));
    let b = w32(vr(c, op.rb));
    let uim = op.ra as i32;
    let mut sat = false;
    let mut o = [0u32; 4];
    for i in 0..4 {
        let x = b[i];
        o[i] = match K {
            10 | 74 => vfp_bin(K, a[i], x, nj),
            1034 => vfp_max(a[i], x, true, nj),
            1098 => vfp_max(a[i], x, false, nj),
            266 | 330 | 394 | 458 => {
                let x = flush_in(x, nj);
                if is_nan32(x) {
                    x | 0x0040_0000
                } else {
                    let f = f32::from_bits(x) as f64;
                    let r = match K {
                        266 => 1.0 / f,
                        330 => 1.0 / f.sqrt(),
                        394 => f.exp2(),
                        _ => f.log2(),
                    };
                    flush_out((r as f32).to_bits(), nj)
                }
            }
            522 | 586 | 650 | 714 => {
                let x = flush_in(x, nj);
                if is_nan32(x) {
                    x | 0x0040_0000
                } else {
                    let rm = match K {
                        522 => Rm::Nearest,
                        586 => Rm::Zero,
                        650 => Rm::Up,
                        _ => Rm::Down,
                    };
                    soft::round_to_integral(F32, rm, soft::unpack(F32, x as u128)).0 as u32
                }
            }
            778 | 842 => {
                // vcfux / vcfsx: integer × 2^-UIM
                let v: i128 = if K == 778 {
                    x as i128
                } else {
                    x as i32 as i128
                };
                match soft::from_u128(v < 0, v.unsigned_abs()) {
                    Val::Fin(mut f) => {
                        f.e -= uim;
                        round32(Val::Fin(f), nj)
                    }
                    other => round32(other, nj),
                }
            }
            _ => {
                // vctuxs (906) / vctsxs (970): float × 2^UIM → saturated integer (truncate)
                let x = flush_in(x, nj);
                let signed = K == 970;
                if is_nan32(x) {
                    sat = true;
                    0
                } else {
                    let (min, max): (i128, i128) = if signed {
                        (i32::MIN as i128, i32::MAX as i128)
                    } else {
                        (0, u32::MAX as i128)
                    };
                    let v = match soft::unpack(F32, x as u128) {
                        Val::Fin(mut f) => {
                            f.e += uim;
                            match soft::to_int(Rm::Zero, f).0 {
                                Some(m) if m < (1u128 << 100) => {
                                    if f.sign {
                                        -(m as i128)
                                    } else {
                                        m as i128
                                    }
                                }
                                _ => {
                                    if f.sign {
                                        i128::MIN
                                    } else {
                                        i128::MAX
                                    }
                                }
                            }
                        }
                        Val::Inf(s) => {
                            if s {
                                i128::MIN
                            } else {
                                i128::MAX
                            }
                        }
                        _ => 0,
                    };
                    let cl = v.clamp(min, max);
                    if cl != v {
                        sat = true;
                    }
                    cl as u32
                }
            }
        };
    }
    set_vr(c, op.rt, from_w32(o));
    if sat {
        c.vscr |= SAT;
    }
    Flow::Next
}

// ---- compares -------------------------------------------------------------------------------------------

fn vcmp<const K: u32, const RC: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let a = vr(c, op.ra);
    let b = vr(c, op.rb);
    let t = |x: bool| if x { u64::MAX } else { 0 };
    let nj = c.vscr & NJ != 0;
    let r: u128 = match K {
        6 => map2::<8>(a, b, |x, y| t(x == y)),
        70 => map2::<16>(a, b, |x, y| t(x == y)),
        134 => map2::<32>(a, b, |x, y| t(x == y)),
        199 => map2::<64>(a, b, |x, y| t(x == y)),
        7 => map2::<8>(a, b, |x, y| t(x != y)),
        71 => map2::<16>(a, b, |x, y| t(x != y)),
        135 => map2::<32>(a, b, |x, y| t(x != y)),
        263 => map2::<8>(a, b, |x, y| t(x != y || x == 0 || y == 0)),
        327 => map2::<16>(a, b, |x, y| t(x != y || x == 0 || y == 0)),
        391 => map2::<32>(a, b, |x, y| t(x != y || x == 0 || y == 0)),
        518 => map2::<8>(a, b, |x, y| t(x > y)),
        582 => map2::<16>(a, b, |x, y| t(x > y)),
        646 => map2::<32>(a, b, |x, y| t(x > y)),
        711 => map2::<64>(a, b, |x, y| t(x > y)),
        774 => map2::<8>(a, b, |x, y| t(sx::<8>(x) > sx::<8>(y))),
        838 => map2::<16>(a, b, |x, y| t(sx::<16>(x) > sx::<16>(y))),
        902 => map2::<32>(a, b, |x, y| t(sx::<32>(x) > sx::<32>(y))),
        967 => map2::<64>(a, b, |x, y| t((x as i64) > (y as i64))),
        198 | 454 | 710 | 966 => map2::<32>(a, b, |x, y| {
            let (x, y) = (flush_in(x as u32, nj), flush_in(y as u32, nj));
            if is_nan32(x) || is_nan32(y) {
                return if K == 966 { 0xC000_0000 } else { 0 };
            }
            let (fx, fy) = (f32::from_bits(x), f32::from_bits(y));
            match K {
                198 => t(fx == fy),
                454 => t(fx >= fy),
                710 => t(fx > fy),
                _ => (((fx > fy) as u64) << 31) | (((fx < -fy) as u64) << 30),
            }
        }),
        _ => 0,
    };
    set_vr(c, op.rt, r);
    if RC {
        let cr6 = if K == 966 {
            ((r == 0) as u32) << 1
        } else {
            ((r == u128::MAX) as u32) << 3 | ((r == 0) as u32) << 1
        };
        c.set_cr_field(6, cr6);
    }
    Flow::Next
}

// ---- loads and stores -----------------------------------------------------------------------------------

/// `lvx`/`lvxl` (16-byte aligned).
fn lvx(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let ea = c.ea_x(op.ra, op.rb) & !15;
    let mut b = [0u8; 16];
    if let Err(f) = c.read_bytes(ea, &mut b) {
        return c.fault(f, cia);
    }
    let v = if c.little_endian() {
        u128::from_le_bytes(b)
    } else {
        u128::from_be_bytes(b)
    };
    set_vr(c, op.rt, v);
    Flow::Next
}

/// `stvx`/`stvxl`.
fn stvx(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let ea = c.ea_x(op.ra, op.rb) & !15;
    let v = vr(c, op.rt);
    let b = if c.little_endian() {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    match c.write_bytes(ea, &b) {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

/// `lve[bhw]x`: the element goes where a 16-byte load would put it; the rest is kept.
fn lvex<const N: usize>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let ea = c.ea_x(op.ra, op.rb) & !(N as u64 - 1);
    let v = match N {
        1 => c.ld::<1>(ea),
        2 => c.ld::<2>(ea),
        _ => c.ld::<4>(ea),
    };
    let v = match v {
        Ok(v) => v,
        Err(f) => return c.fault(f, cia),
    };
    let k = (ea & 15) as usize;
    let mut t = b8(vr(c, op.rt));
    // register byte index of the element's first byte
    let pos = if c.little_endian() { 16 - k - N } else { k };
    let bytes = (v as u32).to_be_bytes();
    t[pos..pos + N].copy_from_slice(&bytes[4 - N..]);
    set_vr(c, op.rt, from_b8(t));
    Flow::Next
}

/// `stve[bhw]x`.
fn stvex<const N: usize>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let ea = c.ea_x(op.ra, op.rb) & !(N as u64 - 1);
    let k = (ea & 15) as usize;
    let t = b8(vr(c, op.rt));
    let pos = if c.little_endian() { 16 - k - N } else { k };
    let mut w = [0u8; 4];
    w[4 - N..].copy_from_slice(&t[pos..pos + N]);
    let v = u32::from_be_bytes(w) as u64;
    let r = match N {
        1 => c.st::<1>(ea, v),
        2 => c.st::<2>(ea, v),
        _ => c.st::<4>(ea, v),
    };
    match r {
        Ok(()) => Flow::Next,
        Err(f) => c.fault(f, cia),
    }
}

/// `lvsl` (R = false) / `lvsr`.
fn lvs<const R: bool>(c: &mut Core, op: &Op, cia: u64) -> Flow {
    need_vec!(c, cia);
    let sh = (c.ea_x(op.ra, op.rb) & 15) as u8;
    let mut o = [0u8; 16];
    for (i, x) in o.iter_mut().enumerate() {
        *x = if R { 16 - sh + i as u8 } else { sh + i as u8 };
    }
    set_vr(c, op.rt, from_b8(o));
    Flow::Next
}

/// Op 31 vector loads/stores.
pub(super) fn decode31(w: u32) -> Option<Op> {
    let f: Handler = match field::xo10(w) {
        6 => lvs::<false>,
        38 => lvs::<true>,
        7 => lvex::<1>,
        39 => lvex::<2>,
        71 => lvex::<4>,
        103 | 359 => lvx,
        135 => stvex::<1>,
        167 => stvex::<2>,
        199 => stvex::<4>,
        231 | 487 => stvx,
        _ => return None,
    };
    Some(Op::new(f, w, 0))
}

// ---- decode ---------------------------------------------------------------------------------------------

macro_rules! vx2_table {
    ($xo:expr, $($k:literal)|*) => {
        match $xo {
            $($k => Some(vx2::<$k> as Handler),)*
            _ => None,
        }
    };
}

/// Op 4.
pub(super) fn decode(w: u32) -> Option<Op> {
    // VA form: XO in bits 26:31
    let va_xo = w & 0x3F;
    if va_xo >= 32 {
        let f: Handler = match va_xo {
            32 => va::<32>,
            33 => va::<33>,
            34 => va::<34>,
            35 => va::<35>,
            36 => va::<36>,
            37 => va::<37>,
            38 => va::<38>,
            39 => va::<39>,
            40 => va::<40>,
            41 => va::<41>,
            42 => va::<42>,
            43 => va::<43>,
            44 => va::<44>,
            45 => va::<45>,
            46 => va::<46>,
            47 => va::<47>,
            59 => va::<59>,
            60 => va::<60>,
            61 => va::<61>,
            62 => va::<62>,
            63 => va::<63>,
            _ => return None,
        };
        return Some(Op::new(f, w, 0));
    }
    let xo = w & 0x7FF;
    // VC form compares: Rc at bit 21 (0x400), XO in bits 22:31
    let vc = w & 0x3FF;
    let rc = w & 0x400 != 0;
    macro_rules! cmp {
        ($k:literal) => {
            if rc {
                vcmp::<$k, true> as Handler
            } else {
                vcmp::<$k, false> as Handler
            }
        };
    }
    let fc: Option<Handler> = match vc {
        6 => Some(cmp!(6)),
        70 => Some(cmp!(70)),
        134 => Some(cmp!(134)),
        199 => Some(cmp!(199)),
        7 => Some(cmp!(7)),
        71 => Some(cmp!(71)),
        135 => Some(cmp!(135)),
        263 => Some(cmp!(263)),
        327 => Some(cmp!(327)),
        391 => Some(cmp!(391)),
        518 => Some(cmp!(518)),
        582 => Some(cmp!(582)),
        646 => Some(cmp!(646)),
        711 => Some(cmp!(711)),
        774 => Some(cmp!(774)),
        838 => Some(cmp!(838)),
        902 => Some(cmp!(902)),
        967 => Some(cmp!(967)),
        198 => Some(cmp!(198)),
        454 => Some(cmp!(454)),
        710 => Some(cmp!(710)),
        966 => Some(cmp!(966)),
        _ => None,
    };
    if let Some(f) = fc {
        return Some(Op::new(f, w, 0));
    }
    let f: Handler = match xo {
        10 => vfp::<10>,
        74 => vfp::<74>,
        266 => vfp::<266>,
        330 => vfp::<330>,
        394 => vfp::<394>,
        458 => vfp::<458>,
        522 => vfp::<522>,
        586 => vfp::<586>,
        650 => vfp::<650>,
        714 => vfp::<714>,
        778 => vfp::<778>,
        842 => vfp::<842>,
        906 => vfp::<906>,
        970 => vfp::<970>,
        1034 => vfp::<1034>,
        1098 => vfp::<1098>,
        526 => vx1::<526>,
        654 => vx1::<654>,
        590 => vx1::<590>,
        718 => vx1::<718>,
        1614 => vx1::<1614>,
        1742 => vx1::<1742>,
        846 => vx1::<846>,
        974 => vx1::<974>,
        1794 => vx1::<1794>,
        1858 => vx1::<1858>,
        1922 => vx1::<1922>,
        1986 => vx1::<1986>,
        1795 => vx1::<1795>,
        1859 => vx1::<1859>,
        1923 => vx1::<1923>,
        1987 => vx1::<1987>,
        1292 => vx1::<1292>,
        1480 => vx1::<1480>,
        1666 => vx1::<1666>,
        1730 => vx1::<1730>,
        524 => vx1::<524>,
        588 => vx1::<588>,
        652 => vx1::<652>,
        780 => vx1::<780>,
        844 => vx1::<844>,
        908 => vx1::<908>,
        525 => vx1::<525>,
        589 => vx1::<589>,
        653 => vx1::<653>,
        717 => vx1::<717>,
        781 => vx1::<781>,
        845 => vx1::<845>,
        909 => vx1::<909>,
        973 => vx1::<973>,
        1538 => match (w >> 16) & 31 {
            0 => x1538::<0>,
            1 => x1538::<1>,
            6 => x1538::<6>,
            7 => x1538::<7>,
            8 => x1538::<8>,
            9 => x1538::<9>,
            10 => x1538::<10>,
            16 => x1538::<16>,
            17 => x1538::<17>,
            24 => x1538::<24>,
            25 => x1538::<25>,
            26 => x1538::<26>,
            28 => x1538::<28>,
            29 => x1538::<29>,
            30 => x1538::<30>,
            31 => x1538::<31>,
            _ => return None,
        },
        1549 => vextux::<1, false>,
        1805 => vextux::<1, true>,
        1613 => vextux::<2, false>,
        1869 => vextux::<2, true>,
        1677 => vextux::<4, false>,
        1933 => vextux::<4, true>,
        133 => vrlm::<false, true>,
        197 => vrlm::<true, true>,
        389 => vrlm::<false, false>,
        453 => vrlm::<true, false>,
        1540 => mfvscr,
        1604 => mtvscr,
        _ => vx2_table!(
            xo,
            0 | 64
                | 128
                | 192
                | 256
                | 320
                | 384
                | 1024
                | 1088
                | 1152
                | 1216
                | 1280
                | 1344
                | 1408
                | 512
                | 576
                | 640
                | 768
                | 832
                | 896
                | 1536
                | 1600
                | 1664
                | 1792
                | 1856
                | 1920
                | 2
                | 66
                | 130
                | 194
                | 258
                | 322
                | 386
                | 450
                | 514
                | 578
                | 642
                | 706
                | 770
                | 834
                | 898
                | 962
                | 1026
                | 1090
                | 1154
                | 1282
                | 1346
                | 1410
                | 1027
                | 1091
                | 1155
                | 4
                | 68
                | 132
                | 196
                | 260
                | 324
                | 388
                | 1476
                | 516
                | 580
                | 644
                | 1732
                | 772
                | 836
                | 900
                | 964
                | 452
                | 708
                | 1036
                | 1100
                | 1860
                | 1796
                | 1028
                | 1092
                | 1156
                | 1220
                | 1284
                | 1348
                | 1412
                | 1668
                | 8
                | 520
                | 264
                | 776
                | 72
                | 584
                | 328
                | 840
                | 136
                | 648
                | 392
                | 904
                | 137
                | 1032
                | 1096
                | 1160
                | 1224
                | 1544
                | 1800
                | 1608
                | 1672
                | 1928
                | 12
                | 268
                | 76
                | 332
                | 140
                | 396
                | 1676
                | 1932
                | 14
                | 78
                | 1102
                | 142
                | 206
                | 1230
                | 270
                | 334
                | 1358
                | 398
                | 462
                | 1486
                | 782
                | 1356
                | 1484
                | 1288
                | 1289
                | 1352
                | 1353
        )?,
    };
    Some(Op::new(f, w, 0))
}
