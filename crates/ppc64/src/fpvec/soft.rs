//! Exact binary floating-point arithmetic (IEEE 754-2008 binary16/32/64/128) in pure Rust.
//!
//! This is the slow path of every floating-point instruction: it computes the exact result
//! of an operation (or an approximation carrying a sticky bit, which rounds identically)
//! and rounds it once to the target format in any rounding mode, reporting what the Power
//! ISA needs and a generic IEEE library does not: whether the fraction was incremented
//! (FPSCR[FR]), tininess *before* rounding, and single rounding of double-format operands
//! to single precision. NaN operands are not handled here: the callers apply the PowerPC
//! propagation rules first and only pass zeros, infinities and finite numbers.
//!
//! Representation of a finite non-zero value: `(sign, e, m)` with `m` normalised so that
//! bit 127 is set; the value is `m × 2^(e − 127)`, i.e. `1.f × 2^e`. Bits below the
//! format's precision may be "jammed": bit 0 ORs together every bit that was shifted out,
//! which is enough for correct rounding as long as at least two bits beyond the target
//! precision are exact (we always keep ≥ 15).

use std::cmp::Ordering;

/// Rounding modes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Rm {
    /// To nearest, ties to even.
    Nearest,
    /// Toward zero.
    Zero,
    /// Toward +∞.
    Up,
    /// Toward −∞.
    Down,
    /// Round to odd (truncate, then set the last bit if inexact).
    Odd,
    /// To nearest, ties away from zero (`frin`, `xsrdpi`).
    NearAway,
}

impl Rm {
    /// The mode selected by FPSCR[RN].
    #[inline]
    pub(crate) fn from_rn(rn: u64) -> Rm {
        match rn & 3 {
            0 => Rm::Nearest,
            1 => Rm::Zero,
            2 => Rm::Up,
            _ => Rm::Down,
        }
    }
}

/// A binary interchange format.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Fmt {
    /// Precision in bits, including the hidden bit.
    pub p: u32,
    /// Exponent field width.
    pub ebits: u32,
}

/// binary16.
pub(crate) const F16: Fmt = Fmt { p: 11, ebits: 5 };
/// binary32.
pub(crate) const F32: Fmt = Fmt { p: 24, ebits: 8 };
/// binary64.
pub(crate) const F64: Fmt = Fmt { p: 53, ebits: 11 };
/// binary128.
pub(crate) const F128: Fmt = Fmt { p: 113, ebits: 15 };

impl Fmt {
    #[inline]
    pub(crate) const fn bias(self) -> i32 {
        (1 << (self.ebits - 1)) - 1
    }
    #[inline]
    pub(crate) const fn emin(self) -> i32 {
        1 - self.bias()
    }
    #[inline]
    pub(crate) const fn emax(self) -> i32 {
        self.bias()
    }
    #[inline]
    pub(crate) const fn frac_mask(self) -> u128 {
        (1u128 << (self.p - 1)) - 1
    }
    #[inline]
    pub(crate) const fn exp_field(self) -> u128 {
        (1u128 << self.ebits) - 1
    }
    #[inline]
    pub(crate) const fn sign_bit(self) -> u128 {
        1u128 << (self.p - 1 + self.ebits)
    }
    #[inline]
    pub(crate) const fn quiet_bit(self) -> u128 {
        1u128 << (self.p - 2)
    }
    /// Biased exponent field of `x`.
    #[inline]
    pub(crate) const fn biased_exp(self, x: u128) -> u128 {
        (x >> (self.p - 1)) & self.exp_field()
    }
    #[inline]
    pub(crate) const fn inf(self, sign: bool) -> u128 {
        (if sign { self.sign_bit() } else { 0 }) | (self.exp_field() << (self.p - 1))
    }
    #[inline]
    pub(crate) const fn zero(self, sign: bool) -> u128 {
        if sign { self.sign_bit() } else { 0 }
    }
    /// Largest finite magnitude with the given sign.
    #[inline]
    pub(crate) const fn max_finite(self, sign: bool) -> u128 {
        self.inf(sign) - 1
    }
    /// The default quiet NaN (positive, only the quiet bit set).
    #[inline]
    pub(crate) const fn default_nan(self) -> u128 {
        (self.exp_field() << (self.p - 1)) | self.quiet_bit()
    }
    #[inline]
    pub(crate) const fn is_nan(self, x: u128) -> bool {
        self.biased_exp(x) == self.exp_field() && x & self.frac_mask() != 0
    }
    #[inline]
    pub(crate) const fn is_snan(self, x: u128) -> bool {
        self.is_nan(x) && x & self.quiet_bit() == 0
    }
    #[inline]
    pub(crate) const fn is_inf(self, x: u128) -> bool {
        x & !self.sign_bit() == self.exp_field() << (self.p - 1)
    }
    #[inline]
    pub(crate) const fn is_zero(self, x: u128) -> bool {
        x & !self.sign_bit() == 0
    }
    #[inline]
    pub(crate) const fn is_neg(self, x: u128) -> bool {
        x & self.sign_bit() != 0
    }
}

/// A finite non-zero value `m × 2^(e − 127)` with bit 127 of `m` set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Fin {
    pub sign: bool,
    pub e: i32,
    pub m: u128,
}

/// An exact (or sticky-jammed) result before rounding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Val {
    Zero(bool),
    Inf(bool),
    Fin(Fin),
    /// The result of an invalid operation (the caller substitutes the right NaN).
    NaN,
}

/// Exceptions detected while computing a [`Val`] (rounding adds the others).
pub(crate) mod exc {
    /// ∞ − ∞.
    pub const ISI: u32 = 1;
    /// ∞ ÷ ∞.
    pub const IDI: u32 = 2;
    /// 0 ÷ 0.
    pub const ZDZ: u32 = 4;
    /// ∞ × 0.
    pub const IMZ: u32 = 8;
    /// √(negative).
    pub const SQRT: u32 = 16;
    /// Division of a finite non-zero number by zero.
    pub const ZX: u32 = 32;
}

/// A rounded result.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Rnd {
    /// Result bits in the target format.
    pub bits: u128,
    /// The result differs from the exact value.
    pub inexact: bool,
    /// The magnitude was incremented by rounding (FPSCR[FR]).
    pub inc: bool,
    /// The rounded result exceeded the format's range.
    pub ovf: bool,
    /// The exact non-zero result was below the smallest normal magnitude.
    pub tiny: bool,
}

impl Rnd {
    /// IEEE underflow with traps disabled: tiny and inexact.
    #[inline]
    pub(crate) fn underflow(&self) -> bool {
        self.tiny && self.inexact
    }
}

/// Decodes a non-NaN value of format `f`.
pub(crate) fn unpack(f: Fmt, x: u128) -> Val {
    let sign = f.is_neg(x);
    let be = f.biased_exp(x);
    let frac = x & f.frac_mask();
    if be == f.exp_field() {
        if frac == 0 {
            return Val::Inf(sign);
        }
        return Val::NaN;
    }
    if be == 0 {
        if frac == 0 {
            return Val::Zero(sign);
        }
        let lz = frac.leading_zeros();
        // frac × 2^(emin − (p − 1)) with the MSB moved to bit 127.
        let m = frac << lz;
        let e = f.emin() - (f.p as i32 - 1) + (127 - lz as i32);
        return Val::Fin(Fin { sign, e, m });
    }
    let m = (frac | (1u128 << (f.p - 1))) << (128 - f.p);
    Val::Fin(Fin {
        sign,
        e: be as i32 - f.bias(),
        m,
    })
}

/// Shift right with the shifted-out bits ORed into bit 0.
#[inline]
pub(crate) fn shr_jam(m: u128, n: u32) -> u128 {
    if n == 0 {
        m
    } else if n >= 128 {
        (m != 0) as u128
    } else {
        (m >> n) | ((m << (128 - n)) != 0) as u128
    }
}

/// Whether rounding increments the kept part, given the kept part's last bit and how the
/// discarded part compares with one half of the last kept place.
#[inline]
fn round_up(rm: Rm, sign: bool, lsb: bool, rest: Ordering, nonzero: bool) -> bool {
    match rm {
        Rm::Nearest => rest == Ordering::Greater || (rest == Ordering::Equal && lsb),
        Rm::NearAway => rest != Ordering::Less,
        Rm::Zero => false,
        Rm::Up => nonzero && !sign,
        Rm::Down => nonzero && sign,
        Rm::Odd => nonzero && !lsb,
    }
}

/// Rounds a finite non-zero value to format `f`.
pub(crate) fn round_fin(f: Fmt, rm: Rm, v: Fin) -> Rnd {
    let emin = f.emin();
    let tiny = v.e < emin;
    let (m, e) = if tiny {
        (shr_jam(v.m, (emin - v.e) as u32), emin)
    } else {
        (v.m, v.e)
    };
    let sh = 128 - f.p;
    let mut r = m >> sh;
    let rest = m & ((1u128 << sh) - 1);
    let half = 1u128 << (sh - 1);
    let inexact = rest != 0;
    let up = round_up(rm, v.sign, r & 1 != 0, rest.cmp(&half), inexact);
    if up {
        r += 1;
    }
    let ef = if r >> f.p != 0 { e + 1 } else { e };
    if ef > f.emax() {
        let to_inf = match rm {
            Rm::Nearest | Rm::NearAway => true,
            Rm::Zero | Rm::Odd => false,
            Rm::Up => !v.sign,
            Rm::Down => v.sign,
        };
        let bits = if to_inf {
            f.inf(v.sign)
        } else {
            f.max_finite(v.sign)
        };
        return Rnd {
            bits,
            inexact: true,
            inc: to_inf,
            ovf: true,
            tiny: false,
        };
    }
    // (e + bias − 1) in the exponent field plus r (whose hidden bit adds the final 1 and
    // whose carry-out, if any, adds one more).
    let bits = f.zero(v.sign) | ((((e + f.bias() - 1) as u128) << (f.p - 1)) + r);
    Rnd {
        bits,
        inexact,
        inc: up,
        ovf: false,
        tiny,
    }
}

/// Rounds any non-NaN value to format `f` (zeros and infinities are exact).
pub(crate) fn round(f: Fmt, rm: Rm, v: Val) -> Rnd {
    match v {
        Val::Zero(s) => Rnd {
            bits: f.zero(s),
            ..Rnd::default()
        },
        Val::Inf(s) => Rnd {
            bits: f.inf(s),
            ..Rnd::default()
        },
        Val::Fin(x) => round_fin(f, rm, x),
        Val::NaN => Rnd {
            bits: f.default_nan(),
            ..Rnd::default()
        },
    }
}

/// Rounds an exact value with the exponent scaled by `2^adj` first (the trap-enabled
/// overflow/underflow results of the Power ISA).
pub(crate) fn round_scaled(f: Fmt, rm: Rm, v: Val, adj: i32) -> Rnd {
    match v {
        Val::Fin(mut x) => {
            x.e += adj;
            round_fin(f, rm, x)
        }
        other => round(f, rm, other),
    }
}

// ---- 256-bit helper ---------------------------------------------------------------------------

/// An unsigned 256-bit integer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct U256 {
    pub hi: u128,
    pub lo: u128,
}

impl U256 {
    const ZERO: U256 = U256 { hi: 0, lo: 0 };

    #[inline]
    fn is_zero(self) -> bool {
        self.hi == 0 && self.lo == 0
    }

    #[inline]
    fn leading_zeros(self) -> u32 {
        if self.hi != 0 {
            self.hi.leading_zeros()
        } else {
            128 + self.lo.leading_zeros()
        }
    }

    #[inline]
    fn shl(self, n: u32) -> U256 {
        if n == 0 {
            self
        } else if n >= 256 {
            U256::ZERO
        } else if n >= 128 {
            U256 {
                hi: self.lo << (n - 128),
                lo: 0,
            }
        } else {
            U256 {
                hi: (self.hi << n) | (self.lo >> (128 - n)),
                lo: self.lo << n,
            }
        }
    }

    /// Shift right, ORing every lost bit into bit 0.
    #[inline]
    fn shr_jam(self, n: u32) -> U256 {
        if n == 0 {
            self
        } else if n >= 256 {
            U256 {
                hi: 0,
                lo: (!self.is_zero()) as u128,
            }
        } else if n >= 128 {
            let k = n - 128;
            let lost = self.lo != 0 || (k > 0 && (self.hi << (128 - k)) != 0);
            U256 {
                hi: 0,
                lo: (if k == 0 { self.hi } else { self.hi >> k }) | lost as u128,
            }
        } else {
            let lost = (self.lo << (128 - n)) != 0;
            U256 {
                hi: self.hi >> n,
                lo: (self.lo >> n) | (self.hi << (128 - n)) | lost as u128,
            }
        }
    }

    #[inline]
    fn add(self, o: U256) -> U256 {
        let (lo, c) = self.lo.overflowing_add(o.lo);
        U256 {
            hi: self.hi.wrapping_add(o.hi).wrapping_add(c as u128),
            lo,
        }
    }

    #[inline]
    fn sub(self, o: U256) -> U256 {
        let (lo, b) = self.lo.overflowing_sub(o.lo);
        U256 {
            hi: self.hi.wrapping_sub(o.hi).wrapping_sub(b as u128),
            lo,
        }
    }

    #[inline]
    fn cmp(self, o: U256) -> Ordering {
        self.hi.cmp(&o.hi).then(self.lo.cmp(&o.lo))
    }

    /// Full 128 × 128 → 256-bit product.
    #[inline]
    fn mul(a: u128, b: u128) -> U256 {
        let (a1, a0) = ((a >> 64) as u64 as u128, a as u64 as u128);
        let (b1, b0) = ((b >> 64) as u64 as u128, b as u64 as u128);
        let p00 = a0 * b0;
        let p01 = a0 * b1;
        let p10 = a1 * b0;
        let p11 = a1 * b1;
        let mid = (p00 >> 64) + (p01 as u64 as u128) + (p10 as u64 as u128);
        let lo = (p00 as u64 as u128) | (mid << 64);
        let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
        U256 { hi, lo }
    }

    /// The top 128 bits after normalising the MSB to bit 255, with the rest jammed into
    /// bit 0, and the left shift that was applied. `self` must be non-zero.
    #[inline]
    fn normalize_jam(self) -> (u128, u32) {
        let lz = self.leading_zeros();
        let n = self.shl(lz);
        (n.hi | (n.lo != 0) as u128, lz)
    }
}

// ---- operations -------------------------------------------------------------------------------

/// Signed addition of two values held as 256-bit significands `s × 2^(e − 254)` (MSB at
/// bit ≤ 254, low 28 bits of the larger zero or insignificant). Returns the exact (jammed)
/// sum; an exact zero gets the IEEE sign for mode `rm`.
fn add256(rm: Rm, sa: bool, ea: i32, a: U256, sb: bool, eb: i32, b: U256) -> Val {
    // Order by magnitude.
    let a_big = match ea.cmp(&eb) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => a.cmp(b) != Ordering::Less,
    };
    let (sx, ex, x, sy, ey, y) = if a_big {
        (sa, ea, a, sb, eb, b)
    } else {
        (sb, eb, b, sa, ea, a)
    };
    let d = (ex - ey) as u32;
    let y = y.shr_jam(d);
    let s = if sx == sy { x.add(y) } else { x.sub(y) };
    if s.is_zero() {
        return Val::Zero(rm == Rm::Down);
    }
    let (m, lz) = s.normalize_jam();
    // s × 2^(ex − 254) = m × 2^(ex − 254 + 128 − lz) = m × 2^(e − 127)
    Val::Fin(Fin {
        sign: sx,
        e: ex + 1 - lz as i32,
        m,
    })
}

#[inline]
fn wide(m: u128) -> U256 {
    // m × 2^(e − 127) → (m << 127) × 2^(e − 254)
    U256 { hi: m, lo: 0 }.shr_jam(1)
}

/// a + b (a − b is a + (−b)).
pub(crate) fn add(rm: Rm, a: Val, b: Val) -> (Val, u32) {
    match (a, b) {
        (Val::NaN, _) | (_, Val::NaN) => (Val::NaN, 0),
        (Val::Inf(x), Val::Inf(y)) => {
            if x == y {
                (Val::Inf(x), 0)
            } else {
                (Val::NaN, exc::ISI)
            }
        }
        (Val::Inf(x), _) | (_, Val::Inf(x)) => (Val::Inf(x), 0),
        (Val::Zero(x), Val::Zero(y)) => {
            if x == y {
                (Val::Zero(x), 0)
            } else {
                (Val::Zero(rm == Rm::Down), 0)
            }
        }
        (Val::Zero(_), v) | (v, Val::Zero(_)) => (v, 0),
        (Val::Fin(x), Val::Fin(y)) => (
            add256(rm, x.sign, x.e, wide(x.m), y.sign, y.e, wide(y.m)),
            0,
        ),
    }
}

/// Negation (exact).
#[inline]
pub(crate) fn neg(v: Val) -> Val {
    match v {
        Val::Zero(s) => Val::Zero(!s),
        Val::Inf(s) => Val::Inf(!s),
        Val::Fin(f) => Val::Fin(Fin { sign: !f.sign, ..f }),
        Val::NaN => Val::NaN,
    }
}

/// Exact product of two finite non-zero values as a 256-bit significand `s × 2^(e − 254)`
/// with the MSB at bit 254.
fn mul_wide(x: Fin, y: Fin) -> (i32, U256) {
    let p = U256::mul(x.m, y.m);
    // p × 2^(ex + ey − 254); p's MSB is bit 254 or 255.
    if p.hi >> 127 != 0 {
        (x.e + y.e + 1, p.shr_jam(1))
    } else {
        (x.e + y.e, p)
    }
}

/// a × b.
pub(crate) fn mul(a: Val, b: Val) -> (Val, u32) {
    match (a, b) {
        (Val::NaN, _) | (_, Val::NaN) => (Val::NaN, 0),
        (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(_)) => (Val::NaN, exc::IMZ),
        (Val::Inf(x), Val::Inf(y))
        | (Val::Inf(x), Val::Fin(Fin { sign: y, .. }))
        | (Val::Fin(Fin { sign: x, .. }), Val::Inf(y)) => (Val::Inf(x ^ y), 0),
        (Val::Zero(x), Val::Zero(y))
        | (Val::Zero(x), Val::Fin(Fin { sign: y, .. }))
        | (Val::Fin(Fin { sign: x, .. }), Val::Zero(y)) => (Val::Zero(x ^ y), 0),
        (Val::Fin(x), Val::Fin(y)) => {
            let (e, p) = mul_wide(x, y);
            let (m, lz) = p.normalize_jam();
            (
                Val::Fin(Fin {
                    sign: x.sign ^ y.sign,
                    e: e + 1 - lz as i32,
                    m,
                }),
                0,
            )
        }
    }
}

/// a × c + b, rounded once by the caller.
pub(crate) fn fma(rm: Rm, a: Val, c: Val, b: Val) -> (Val, u32) {
    match (a, c) {
        (Val::NaN, _) | (_, Val::NaN) => return (Val::NaN, 0),
        (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(_)) => return (Val::NaN, exc::IMZ),
        _ => {}
    }
    if b == Val::NaN {
        return (Val::NaN, 0);
    }
    match (a, c) {
        (Val::Fin(x), Val::Fin(y)) => match b {
            Val::Fin(z) => {
                let (e, p) = mul_wide(x, y);
                (add256(rm, x.sign ^ y.sign, e, p, z.sign, z.e, wide(z.m)), 0)
            }
            Val::Zero(_) => mul(a, c),
            other => (other, 0),
        },
        _ => {
            // The product is an exact zero or infinity.
            let (p, _) = mul(a, c);
            add(rm, p, b)
        }
    }
}

/// a ÷ b, with enough quotient bits for a result of `prec` bits.
pub(crate) fn div(a: Val, b: Val, prec: u32) -> (Val, u32) {
    match (a, b) {
        (Val::NaN, _) | (_, Val::NaN) => (Val::NaN, 0),
        (Val::Inf(_), Val::Inf(_)) => (Val::NaN, exc::IDI),
        (Val::Zero(_), Val::Zero(_)) => (Val::NaN, exc::ZDZ),
        (Val::Inf(x), Val::Zero(y))
        | (Val::Inf(x), Val::Fin(Fin { sign: y, .. }))
        | (Val::Zero(x), Val::Inf(y))
        | (Val::Fin(Fin { sign: x, .. }), Val::Inf(y)) => {
            if matches!(a, Val::Inf(_)) {
                (Val::Inf(x ^ y), 0)
            } else {
                (Val::Zero(x ^ y), 0)
            }
        }
        (Val::Fin(Fin { sign: x, .. }), Val::Zero(y)) => (Val::Inf(x ^ y), exc::ZX),
        (Val::Zero(x), Val::Fin(Fin { sign: y, .. })) => (Val::Zero(x ^ y), 0),
        (Val::Fin(x), Val::Fin(y)) => {
            let sign = x.sign ^ y.sign;
            const LOW65: u128 = (1u128 << 65) - 1;
            if prec <= 60 && x.m & LOW65 == 0 && y.m & LOW65 == 0 {
                // ≤ 63 significant bits each: one native 128 ÷ 64 division.
                let a = (x.m >> 64) as u64;
                let b = (y.m >> 64) as u64;
                let num = ((a >> 1) as u128) << 64;
                let q = num / b as u128;
                let r = num % b as u128;
                let q = q << 64;
                let lz = q.leading_zeros();
                let m = (q << lz) | (r != 0) as u128;
                return (
                    Val::Fin(Fin {
                        sign,
                        e: x.e - y.e - lz as i32,
                        m,
                    }),
                    0,
                );
            }
            // Restoring division of (x.m / 2) × 2^128 by y.m.
            let d = y.m;
            let mut rem = x.m >> 1; // x.m has its low bits zero (format value)
            let mut q: u128 = 0;
            for _ in 0..128 {
                let carry = rem >> 127 != 0;
                rem <<= 1;
                q <<= 1;
                if carry || rem >= d {
                    rem = rem.wrapping_sub(d);
                    q |= 1;
                }
            }
            let lz = q.leading_zeros();
            let m = (q << lz) | (rem != 0) as u128;
            (
                Val::Fin(Fin {
                    sign,
                    e: x.e - y.e - lz as i32,
                    m,
                }),
                0,
            )
        }
    }
}

/// Integer square root of a 128-bit number: (⌊√r⌋, r ≠ ⌊√r⌋²).
fn isqrt128(r: u128) -> (u64, bool) {
    if r == 0 {
        return (0, false);
    }
    // Start above the root and run Newton's iteration down to it.
    let mut x: u128 = {
        let est = (r as f64).sqrt() as u128;
        (est + (est >> 40) + 2).min(u64::MAX as u128)
    };
    loop {
        let y = (x + r / x) >> 1;
        if y >= x {
            break;
        }
        x = y;
    }
    while x * x > r {
        x -= 1;
    }
    while (x + 1).checked_mul(x + 1).is_some_and(|s| s <= r) {
        x += 1;
    }
    (x as u64, x * x != r)
}

/// Integer square root of a 256-bit number whose root fits in 128 bits.
fn isqrt256(r: U256) -> (u128, bool) {
    let mut res: U256 = U256::ZERO;
    let mut rem: U256 = U256::ZERO;
    for i in (0..128u32).rev() {
        let two = r.shr_bits(2 * i) & 3;
        rem = rem.shl(2);
        rem.lo |= two;
        let trial = res.shl(2).add(U256 { hi: 0, lo: 1 });
        res = res.shl(1);
        if rem.cmp(trial) != Ordering::Less {
            rem = rem.sub(trial);
            res.lo |= 1;
        }
    }
    (res.lo, !rem.is_zero())
}

impl U256 {
    /// The low 128 bits of `self >> n` (n < 256).
    #[inline]
    fn shr_bits(self, n: u32) -> u128 {
        if n == 0 {
            self.lo
        } else if n >= 128 {
            self.hi >> (n - 128)
        } else {
            (self.lo >> n) | (self.hi << (128 - n))
        }
    }
}

/// √a, with enough root bits for a result of `prec` bits.
pub(crate) fn sqrt(a: Val, prec: u32) -> (Val, u32) {
    match a {
        Val::NaN => (Val::NaN, 0),
        Val::Zero(s) => (Val::Zero(s), 0),
        Val::Inf(false) => (Val::Inf(false), 0),
        Val::Inf(true) | Val::Fin(Fin { sign: true, .. }) => (Val::NaN, exc::SQRT),
        Val::Fin(x) => {
            if prec <= 60 && x.m as u64 == 0 {
                // value = h × 2^(e − 63) with h the top 64 bits.
                let h = (x.m >> 64) as u64 as u128;
                let (r, s) = if x.e & 1 != 0 {
                    (h << 64, 64)
                } else {
                    (h << 63, 63)
                };
                let (root, inexact) = isqrt128(r);
                let m = ((root as u128) << 64) | inexact as u128;
                let e = 63 + (x.e - 63 - s) / 2;
                (Val::Fin(Fin { sign: false, e, m }), 0)
            } else {
                let (r, s) = if x.e & 1 != 0 {
                    (U256 { hi: x.m, lo: 0 }, 128)
                } else {
                    (U256 { hi: x.m, lo: 0 }.shr_jam(1), 127)
                };
                let (root, inexact) = isqrt256(r);
                let m = root | inexact as u128;
                let e = 127 + (x.e - 127 - s) / 2;
                (Val::Fin(Fin { sign: false, e, m }), 0)
            }
        }
    }
}

/// The exact value of an unsigned integer.
pub(crate) fn from_u128(sign: bool, v: u128) -> Val {
    if v == 0 {
        return Val::Zero(false);
    }
    let lz = v.leading_zeros();
    Val::Fin(Fin {
        sign,
        e: 127 - lz as i32,
        m: v << lz,
    })
}

/// Splits a finite value into its integer magnitude and the rounding information of the
/// fraction. `None` if the integer part needs more than 128 bits.
fn split_int(x: Fin) -> Option<(u128, Ordering, bool)> {
    if x.e >= 128 {
        return None;
    }
    if x.e < -1 {
        return Some((0, Ordering::Less, true));
    }
    if x.e == -1 {
        let rest = x.m.cmp(&(1u128 << 127));
        return Some((0, rest, true));
    }
    let sh = (127 - x.e) as u32;
    if sh == 0 {
        return Some((x.m, Ordering::Less, false));
    }
    let int = x.m >> sh;
    let rest = x.m & ((1u128 << sh) - 1);
    let half = 1u128 << (sh - 1);
    Some((int, rest.cmp(&half), rest != 0))
}

/// Rounds a finite value to an integer magnitude: (magnitude or None if ≥ 2^128, inexact,
/// incremented).
pub(crate) fn to_int(rm: Rm, x: Fin) -> (Option<u128>, bool, bool) {
    match split_int(x) {
        None => (None, false, false),
        Some((int, rest, nz)) => {
            let up = round_up(rm, x.sign, int & 1 != 0, rest, nz);
            let v = if up { int.checked_add(1) } else { Some(int) };
            (v, nz, up)
        }
    }
}

/// Rounds a non-NaN value to an integral value in the same format (exact result; the
/// caller decides about flags): (value, inexact, incremented).
pub(crate) fn round_to_integral(f: Fmt, rm: Rm, v: Val) -> (u128, bool, bool) {
    match v {
        Val::Fin(x) => {
            if x.e >= f.p as i32 - 1 {
                return (round_fin(f, rm, x).bits, false, false);
            }
            let (int, inexact, inc) = to_int(rm, x);
            let int = int.unwrap_or(0);
            let r = round(f, rm, from_u128(x.sign, int)).bits;
            let r = if int == 0 { f.zero(x.sign) } else { r };
            (r, inexact, inc)
        }
        other => (round(f, rm, other).bits, false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(x: f64) -> Val {
        unpack(F64, x.to_bits() as u128)
    }

    fn r64(v: Val) -> f64 {
        f64::from_bits(round(F64, Rm::Nearest, v).bits as u64)
    }

    #[test]
    fn basic_ops_match_host_in_round_to_nearest() {
        let xs = [
            1.0,
            -2.5,
            3.0e-310,
            1.0e308,
            std::f64::consts::PI,
            1.0 / 3.0,
            -7.0e-320,
            5.0e-324,
            123456789.0,
            0.1,
        ];
        for &a in &xs {
            for &b in &xs {
                assert_eq!(
                    r64(add(Rm::Nearest, rd(a), rd(b)).0).to_bits(),
                    (a + b).to_bits()
                );
                assert_eq!(
                    r64(mul(rd(a), rd(b)).0).to_bits(),
                    (a * b).to_bits(),
                    "{a}*{b}"
                );
                assert_eq!(
                    r64(div(rd(a), rd(b), 53).0).to_bits(),
                    (a / b).to_bits(),
                    "{a}/{b}"
                );
                for &c in &xs {
                    assert_eq!(
                        r64(fma(Rm::Nearest, rd(a), rd(b), rd(c)).0).to_bits(),
                        a.mul_add(b, c).to_bits(),
                        "{a}*{b}+{c}"
                    );
                }
            }
            if a >= 0.0 {
                assert_eq!(r64(sqrt(rd(a), 53).0).to_bits(), a.sqrt().to_bits());
            }
        }
    }

    #[test]
    fn quad_sqrt_and_div_are_exact_for_squares() {
        // (1 + 2^-50)^2 = 1 + 2^-49 + 2^-100: exact in binary128.
        let one = 0x3FFF_0000_0000_0000_0000_0000_0000_0000u128;
        let x = one | (1u128 << (112 - 50));
        let (sq, _) = mul(unpack(F128, x), unpack(F128, x));
        let sq = round(F128, Rm::Nearest, sq);
        assert!(!sq.inexact);
        let r = round(F128, Rm::Nearest, sqrt(unpack(F128, sq.bits), 113).0);
        assert_eq!(r.bits, x);
        assert!(!r.inexact);
        let q = round(
            F128,
            Rm::Nearest,
            div(unpack(F128, sq.bits), unpack(F128, x), 113).0,
        );
        assert_eq!(q.bits, x);
        assert!(!q.inexact);
    }

    #[test]
    fn tininess_before_rounding_and_increment() {
        // Largest subnormal single × (1 + 2^-23)... simpler: 2^-126 × (1 − 2^-25) rounds up
        // to 2^-126 in nearest: tiny before rounding, inexact, incremented.
        let v = Fin {
            sign: false,
            e: -127,
            m: u128::MAX << 100,
        };
        let r = round_fin(F32, Rm::Nearest, v);
        assert_eq!(r.bits, 0x0080_0000);
        assert!(r.tiny && r.inexact && r.inc && r.underflow());
        let r = round_fin(F32, Rm::Zero, v);
        assert_eq!(r.bits, 0x007F_FFFF);
        assert!(!r.inc);
    }

    #[test]
    fn overflow_by_mode() {
        let big = Fin {
            sign: true,
            e: 1024,
            m: 1 << 127,
        };
        assert_eq!(
            round_fin(F64, Rm::Nearest, big).bits as u64,
            0xFFF0_0000_0000_0000
        );
        assert_eq!(
            round_fin(F64, Rm::Up, big).bits as u64,
            0xFFEF_FFFF_FFFF_FFFF
        );
        assert_eq!(
            round_fin(F64, Rm::Down, big).bits as u64,
            0xFFF0_0000_0000_0000
        );
        assert!(round_fin(F64, Rm::Zero, big).ovf);
    }

    #[test]
    fn round_to_integral_ties() {
        let (r, inexact, _) = round_to_integral(F64, Rm::NearAway, rd(2.5));
        assert_eq!(f64::from_bits(r as u64), 3.0);
        assert!(inexact);
        let (r, _, _) = round_to_integral(F64, Rm::Nearest, rd(2.5));
        assert_eq!(f64::from_bits(r as u64), 2.0);
        let (r, _, _) = round_to_integral(F64, Rm::Up, rd(-0.5));
        assert_eq!((r as u64), (-0.0f64).to_bits());
    }
}
