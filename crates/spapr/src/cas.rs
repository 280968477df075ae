//! Client Architecture Support: parsing the guest's option-vector table and negotiating
//! the processor level, the MMU and the interrupt controller.

/// Logical PVR for ISA 3.0 (POWER9 architected mode).
pub const PVR_ARCH_300: u32 = 0x0F00_0005;

/// The guest's CAS request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CasRequest {
    /// (mask, value) PVR pairs.
    pub pvrs: Vec<(u32, u32)>,
    /// Option vectors; `vectors[0]` is OV1. Bytes are numbered from 1 in the spec, so byte
    /// n of vector v is `vectors[v-1][n-1]`.
    pub vectors: Vec<Vec<u8>>,
}

impl CasRequest {
    /// Byte `n` (1-based) of option vector `v` (1-based), 0 if absent.
    pub fn byte(&self, v: usize, n: usize) -> u8 {
        self.vectors
            .get(v.wrapping_sub(1))
            .and_then(|x| x.get(n.wrapping_sub(1)))
            .copied()
            .unwrap_or(0)
    }
}

/// Parses the table with `read` fetching guest memory. Bounded: at most 512 PVR pairs and
/// 256 vectors of at most 256 bytes.
pub fn parse(read: &dyn Fn(u64, &mut [u8]) -> bool, addr: u64) -> Option<CasRequest> {
    let mut r = CasRequest::default();
    let mut p = addr;
    let mut w = [0u8; 8];
    for _ in 0..512 {
        if !read(p, &mut w) {
            return None;
        }
        p += 8;
        let mask = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
        let value = u32::from_be_bytes([w[4], w[5], w[6], w[7]]);
        r.pvrs.push((mask, value));
        if value & !mask != 0 {
            break;
        }
    }
    let mut b = [0u8; 1];
    if !read(p, &mut b) {
        return None;
    }
    p += 1;
    let nvec = b[0] as usize + 1;
    for _ in 0..nvec {
        if !read(p, &mut b) {
            return None;
        }
        p += 1;
        let len = b[0] as usize + 1;
        let mut v = vec![0u8; len];
        if !read(p, &mut v) {
            return None;
        }
        p += len as u64;
        r.vectors.push(v);
    }
    Some(r)
}

/// Interrupt controller choices (option vector 5 byte 23 values).
pub const OV5_INTC_XICS: u8 = 0x00;
/// XIVE exploitation mode.
pub const OV5_INTC_XIVE: u8 = 0x40;
/// Either (platform-support value only).
pub const OV5_INTC_BOTH: u8 = 0x80;

/// The negotiated result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasResult {
    /// `cpu-version` to present.
    pub cpu_version: u32,
    /// XIVE (true) or XICS (false).
    pub xive: bool,
    /// Guest translation shootdown granted.
    pub gtse: bool,
    /// Negotiated option vector 5 (bytes 1..=26).
    pub ov5: Vec<u8>,
}

/// Why negotiation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CasError {
    /// No acceptable processor level in the guest's list.
    #[error("the guest supports no processor level this machine offers (POWER9 / ISA 3.0)")]
    NoPvr,
    /// Option vector 1 or 5 is missing.
    #[error("the guest's CAS request lacks option vector 1 or 5")]
    MissingVector,
    /// The guest asked for an interrupt controller the machine does not offer.
    #[error("the guest requested the {0} interrupt controller, which --irqchip does not offer")]
    Intc(&'static str),
    /// The guest asked for the hash MMU.
    #[error("the guest requested the hash MMU; papr-hv implements the radix MMU only")]
    HashMmu,
}

/// Negotiates against the platform offer (`platform_intc`: OV5 byte-23 value offered).
pub fn negotiate(
    req: &CasRequest,
    real_pvr: u32,
    platform_intc: u8,
) -> Result<CasResult, CasError> {
    let logical = req
        .pvrs
        .iter()
        .any(|&(m, v)| v & m == PVR_ARCH_300 & m && v == PVR_ARCH_300);
    let raw = req
        .pvrs
        .iter()
        .any(|&(m, v)| real_pvr & m == v & m && v & !m == 0);
    let cpu_version = if logical {
        PVR_ARCH_300
    } else if raw {
        real_pvr
    } else {
        return Err(CasError::NoPvr);
    };
    if req.vectors.len() < 5 {
        return Err(CasError::MissingVector);
    }
    let intc_req = req.byte(5, 23) & 0xC0;
    let xive = match intc_req {
        OV5_INTC_XIVE if platform_intc != OV5_INTC_XICS => true,
        OV5_INTC_XICS if platform_intc != OV5_INTC_XIVE => false,
        OV5_INTC_XIVE => return Err(CasError::Intc("XIVE")),
        OV5_INTC_XICS => return Err(CasError::Intc("XICS")),
        _ => return Err(CasError::Intc("\"either\"")),
    };
    if req.byte(5, 24) & 0xC0 != 0x40 {
        return Err(CasError::HashMmu);
    }
    let gtse = req.byte(5, 26) & 0x40 != 0;
    let mut ov5 = vec![0u8; 26];
    ov5[22] = if xive { OV5_INTC_XIVE } else { OV5_INTC_XICS };
    ov5[23] = 0x40;
    ov5[25] = if gtse { 0x40 } else { 0 };
    Ok(CasResult {
        cpu_version,
        xive,
        gtse,
        ov5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(intc: u8, mmu: u8) -> Vec<u8> {
        let mut t = Vec::new();
        for (m, v) in [
            (0xffff_0000u32, 0x004e_0000u32),
            (0xffff_ffff, 0x0f00_0005),
            (0xffff_fffe, 0x0f00_0001),
        ] {
            t.extend_from_slice(&m.to_be_bytes());
            t.extend_from_slice(&v.to_be_bytes());
        }
        t.push(4); // 5 vectors
        for v in 1..=5 {
            let len = if v == 5 { 26 } else { 4 };
            t.push(len - 1);
            let mut bytes = vec![0u8; len as usize];
            if v == 5 {
                bytes[22] = intc;
                bytes[23] = mmu;
                bytes[25] = 0x40;
            }
            t.extend_from_slice(&bytes);
        }
        t
    }

    fn parse_vec(t: &[u8]) -> CasRequest {
        parse(
            &|a, buf: &mut [u8]| {
                let a = a as usize;
                if a + buf.len() > t.len() {
                    return false;
                }
                buf.copy_from_slice(&t[a..a + buf.len()]);
                true
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn linux_style_request() {
        let r = parse_vec(&table(OV5_INTC_XIVE, 0x40));
        assert_eq!(r.pvrs.len(), 3);
        assert_eq!(r.vectors.len(), 5);
        let n = negotiate(&r, 0x004E_1202, OV5_INTC_BOTH).unwrap();
        assert_eq!(n.cpu_version, PVR_ARCH_300);
        assert!(n.xive && n.gtse);
        assert_eq!(n.ov5[22], 0x40);
        let n = negotiate(
            &parse_vec(&table(OV5_INTC_XICS, 0x40)),
            0x004E_1202,
            OV5_INTC_BOTH,
        )
        .unwrap();
        assert!(!n.xive);
    }

    #[test]
    fn refusals() {
        let r = parse_vec(&table(OV5_INTC_XICS, 0x40));
        assert_eq!(
            negotiate(&r, 0x004E_1202, OV5_INTC_XIVE),
            Err(CasError::Intc("XICS"))
        );
        let r = parse_vec(&table(OV5_INTC_XIVE, 0x00));
        assert_eq!(
            negotiate(&r, 0x004E_1202, OV5_INTC_BOTH),
            Err(CasError::HashMmu)
        );
        // truncated table
        let t = table(OV5_INTC_XIVE, 0x40);
        let short = &t[..t.len() - 3];
        assert!(
            parse(
                &|a, buf: &mut [u8]| {
                    let a = a as usize;
                    if a + buf.len() > short.len() {
                        return false;
                    }
                    buf.copy_from_slice(&short[a..a + buf.len()]);
                    true
                },
                0
            )
            .is_none()
        );
    }
}
