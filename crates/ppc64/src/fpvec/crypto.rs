//! AES (FIPS-197) round primitives, SHA-2 sigma functions and carry-less multiplication
//! for the ISA 2.07 vector crypto instructions. The AES state is the register's 16 bytes
//! in ISA order, column-major (byte i is row i mod 4, column i / 4), as in FIPS-197.

/// The AES S-box.
const SBOX: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = sbox_calc(i as u8);
        i += 1;
    }
    t
};

/// The inverse S-box.
const INV_SBOX: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[SBOX[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// GF(2^8) multiplication modulo x^8 + x^4 + x^3 + x + 1.
const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    let mut i = 0;
    while i < 8 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1B;
        }
        b >>= 1;
        i += 1;
    }
    p
}

/// S-box entry: multiplicative inverse followed by the affine transform.
const fn sbox_calc(x: u8) -> u8 {
    // inverse by exponentiation: x^254
    let mut inv = 1u8;
    let mut base = x;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 != 0 {
            inv = gmul(inv, base);
        }
        base = gmul(base, base);
        e >>= 1;
    }
    if x == 0 {
        inv = 0;
    }
    let mut r = inv;
    let mut s = inv;
    let mut k = 0;
    while k < 4 {
        s = s.rotate_left(1);
        r ^= s;
        k += 1;
    }
    r ^ 0x63
}

fn sub_bytes(s: &mut [u8; 16], inv: bool) {
    for b in s.iter_mut() {
        *b = if inv {
            INV_SBOX[*b as usize]
        } else {
            SBOX[*b as usize]
        };
    }
}

fn shift_rows(s: &mut [u8; 16], inv: bool) {
    let o = *s;
    for c in 0..4 {
        for r in 0..4 {
            let src = if inv { (c + 4 - r) % 4 } else { (c + r) % 4 };
            s[4 * c + r] = o[4 * src + r];
        }
    }
}

fn mix_columns(s: &mut [u8; 16], inv: bool) {
    let m: [u8; 4] = if inv { [14, 11, 13, 9] } else { [2, 3, 1, 1] };
    for c in 0..4 {
        let col = [s[4 * c], s[4 * c + 1], s[4 * c + 2], s[4 * c + 3]];
        for r in 0..4 {
            let mut v = 0;
            for k in 0..4 {
                v ^= gmul(col[k], m[(k + 4 - r) % 4]);
            }
            s[4 * c + r] = v;
        }
    }
}

/// `vcipher` (LAST: `vcipherlast`).
pub(crate) fn cipher(state: u128, key: u128, last: bool) -> u128 {
    let mut s = state.to_be_bytes();
    sub_bytes(&mut s, false);
    shift_rows(&mut s, false);
    if !last {
        mix_columns(&mut s, false);
    }
    u128::from_be_bytes(s) ^ key
}

/// `vncipher` (LAST: `vncipherlast`).
pub(crate) fn ncipher(state: u128, key: u128, last: bool) -> u128 {
    let mut s = state.to_be_bytes();
    shift_rows(&mut s, true);
    sub_bytes(&mut s, true);
    let mut s = (u128::from_be_bytes(s) ^ key).to_be_bytes();
    if !last {
        mix_columns(&mut s, true);
    }
    u128::from_be_bytes(s)
}

/// `vsbox`.
pub(crate) fn sbox(state: u128) -> u128 {
    let mut s = state.to_be_bytes();
    sub_bytes(&mut s, false);
    u128::from_be_bytes(s)
}

/// SHA-256 σ/Σ functions: `st` selects Σ (1) or σ (0), `one` selects the "1" variant.
pub(crate) fn sigma32(x: u32, st: bool, one: bool) -> u32 {
    match (st, one) {
        (false, false) => x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3),
        (false, true) => x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10),
        (true, false) => x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22),
        (true, true) => x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25),
    }
}

/// SHA-512 σ/Σ functions.
pub(crate) fn sigma64(x: u64, st: bool, one: bool) -> u64 {
    match (st, one) {
        (false, false) => x.rotate_right(1) ^ x.rotate_right(8) ^ (x >> 7),
        (false, true) => x.rotate_right(19) ^ x.rotate_right(61) ^ (x >> 6),
        (true, false) => x.rotate_right(28) ^ x.rotate_right(34) ^ x.rotate_right(39),
        (true, true) => x.rotate_right(14) ^ x.rotate_right(18) ^ x.rotate_right(41),
    }
}

/// Carry-less product of two 64-bit values.
pub(crate) fn clmul(a: u64, b: u64) -> u128 {
    let mut r = 0u128;
    let a = a as u128;
    let mut b = b;
    let mut i = 0;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a << i;
        }
        b >>= 1;
        i += 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_fips197_round() {
        assert_eq!(SBOX[0x00], 0x63);
        assert_eq!(SBOX[0x53], 0xED);
        assert_eq!(INV_SBOX[0xED], 0x53);
        // FIPS-197 appendix B, round 1: start of round → after MixColumns ⊕ round key.
        let start = 0x193de3bea0f4e22b9ac68d2ae9f84808u128;
        let key = 0xa0fafe1788542cb123a339392a6c7605u128;
        let out = 0xa49c7ff2689f352b6b5bea43026a5049u128;
        assert_eq!(cipher(start, key, false), out);
        assert_eq!(ncipher(cipher(start, 0, true), 0, true), start);
    }

    #[test]
    fn clmul_small() {
        assert_eq!(clmul(0b11, 0b11), 0b101);
        assert_eq!(clmul(u64::MAX, 2), (u64::MAX as u128) << 1);
    }
}
