//! A user-mode network backend that needs no privilege: a virtual gateway on the guest's
//! link, with QEMU's user-network ("slirp") addresses.
//!
//! * Network `10.0.2.0/24`; the gateway (the host side) is [`GATEWAY_IP`] `10.0.2.2` with
//!   MAC [`GATEWAY_MAC`] `52:55:0a:00:02:02`; the guest is expected at `10.0.2.15`.
//! * It answers ARP requests for the gateway's address and ICMPv4 echo requests sent to it
//!   ("ping between guest and host"). Anything else the guest sends is dropped and counted.
//!   There is no TCP/UDP forwarding (that would need a user-space TCP/IP stack).
//!
//! Frames are parsed defensively (they come from the guest): a short or inconsistent frame
//! is dropped, never trusted for lengths. Replies wait in a bounded queue (older replies
//! are dropped when the guest does not read them); an eventfd signals the receive thread.

use std::collections::VecDeque;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::net::NetBackend;

/// The gateway's IPv4 address.
pub const GATEWAY_IP: [u8; 4] = [10, 0, 2, 2];
/// The gateway's MAC address (QEMU's slirp uses the same).
pub const GATEWAY_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
/// Replies kept for the guest at most.
const MAX_QUEUED: usize = 64;

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const IPPROTO_ICMP: u8 = 1;

/// Counters of what the backend did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserNetStats {
    /// ARP requests for the gateway answered.
    pub arp_replies: u64,
    /// ICMP echo requests to the gateway answered.
    pub echo_replies: u64,
    /// Frames from the guest that were not answered.
    pub dropped: u64,
}

/// The user-mode backend.
pub struct UserNet {
    queue: Mutex<VecDeque<Vec<u8>>>,
    /// Readable while `queue` is not empty.
    ready: EventFd,
    arp: AtomicU64,
    echo: AtomicU64,
    dropped: AtomicU64,
}

impl UserNet {
    /// Creates the backend.
    pub fn new() -> io::Result<UserNet> {
        Ok(UserNet {
            queue: Mutex::new(VecDeque::new()),
            ready: EventFd::new(EFD_NONBLOCK)?,
            arp: AtomicU64::new(0),
            echo: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// What the backend answered so far.
    pub fn stats(&self) -> UserNetStats {
        UserNetStats {
            arp_replies: self.arp.load(Ordering::Relaxed),
            echo_replies: self.echo.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

impl NetBackend for UserNet {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = q.pop_front() else {
            let _ = self.ready.read();
            return Err(io::ErrorKind::WouldBlock.into());
        };
        if q.is_empty() {
            // Level-triggered readiness: cleared with the queue, under its lock.
            let _ = self.ready.read();
        }
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Ok(n)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        match respond(frame) {
            Some((Reply::Arp, r)) => {
                self.arp.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("user net: ARP reply for the gateway");
                self.push(r);
            }
            Some((Reply::Echo, r)) => {
                let n = self.echo.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(
                    from = format_args!("{}.{}.{}.{}", r[30], r[31], r[32], r[33]),
                    n,
                    "user net: ICMP echo reply"
                );
                self.push(r);
            }
            None => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn poll_fd(&self) -> RawFd {
        self.ready.as_raw_fd()
    }
}

impl UserNet {
    fn push(&self, f: Vec<u8>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_QUEUED {
            q.pop_front();
        }
        q.push_back(f);
        let _ = self.ready.write(1);
    }
}

/// Kinds of reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// ARP reply.
    Arp,
    /// ICMP echo reply.
    Echo,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The gateway's answer to an Ethernet frame from the guest, if it has one.
pub fn respond(frame: &[u8]) -> Option<(Reply, Vec<u8>)> {
    match be16(frame, 12)? {
        ETHERTYPE_ARP => arp_reply(frame).map(|r| (Reply::Arp, r)),
        ETHERTYPE_IPV4 => echo_reply(frame).map(|r| (Reply::Echo, r)),
        _ => None,
    }
}

fn arp_reply(f: &[u8]) -> Option<Vec<u8>> {
    let a = f.get(ETH_HLEN..ETH_HLEN + 28)?;
    // Ethernet/IPv4, request, for the gateway's address.
    if be16(a, 0)? != 1 || be16(a, 2)? != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4 {
        return None;
    }
    if be16(a, 6)? != 1 || a[24..28] != GATEWAY_IP {
        return None;
    }
    let (sha, spa) = (&a[8..14], &a[14..18]);
    let mut r = Vec::with_capacity(ETH_HLEN + 28);
    r.extend_from_slice(sha);
    r.extend_from_slice(&GATEWAY_MAC);
    r.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    r.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    r.extend_from_slice(&GATEWAY_MAC);
    r.extend_from_slice(&GATEWAY_IP);
    r.extend_from_slice(sha);
    r.extend_from_slice(spa);
    Some(r)
}

fn echo_reply(f: &[u8]) -> Option<Vec<u8>> {
    let ip = f.get(ETH_HLEN..)?;
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ihl < 20 {
        return None;
    }
    let total = usize::from(be16(ip, 2)?);
    if total < ihl + 8 || total > ip.len() {
        return None;
    }
    let ip = &ip[..total];
    // Not a fragment (MF clear, offset 0), ICMP, to the gateway, valid header checksum.
    if be16(ip, 6)? & 0x3fff != 0 || ip[9] != IPPROTO_ICMP || ip[16..20] != GATEWAY_IP {
        return None;
    }
    if inet_checksum(&ip[..ihl]) != 0 {
        return None;
    }
    let icmp = &ip[ihl..];
    if icmp[0] != 8 || icmp[1] != 0 || inet_checksum(icmp) != 0 {
        return None;
    }
    let mut r = Vec::with_capacity(ETH_HLEN + 20 + icmp.len());
    r.extend_from_slice(&f[6..12]);
    r.extend_from_slice(&GATEWAY_MAC);
    r.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&ip[4..6]);
    h[8] = 64;
    h[9] = IPPROTO_ICMP;
    h[12..16].copy_from_slice(&GATEWAY_IP);
    h[16..20].copy_from_slice(&ip[12..16]);
    let c = inet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    r.extend_from_slice(&h);
    let start = r.len();
    r.extend_from_slice(icmp);
    r[start] = 0;
    r[start + 2] = 0;
    r[start + 3] = 0;
    let c = inet_checksum(&r[start..]);
    r[start + 2..start + 4].copy_from_slice(&c.to_be_bytes());
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const GUEST_IP: [u8; 4] = [10, 0, 2, 15];

    fn arp_request(target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&GUEST_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&GUEST_MAC);
        f.extend_from_slice(&GUEST_IP);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f
    }

    fn echo_request(dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut f = GATEWAY_MAC.to_vec();
        f.extend_from_slice(&GUEST_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&[0x12, 0x34]);
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = 1;
        ip[12..16].copy_from_slice(&GUEST_IP);
        ip[16..20].copy_from_slice(&dst);
        let c = inet_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut icmp = vec![8, 0, 0, 0, 0xab, 0xcd, 0, 1];
        icmp.extend_from_slice(payload);
        let c = inet_checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&icmp);
        f
    }

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7: sum ddf2, checksum 220d.
        assert_eq!(
            inet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(inet_checksum(&[0xff]), 0x00ff);
    }

    #[test]
    fn arp_for_the_gateway_only() {
        let (k, r) = respond(&arp_request(GATEWAY_IP)).unwrap();
        assert_eq!(k, Reply::Arp);
        assert_eq!(&r[0..6], &GUEST_MAC, "to the asker");
        assert_eq!(&r[6..12], &GATEWAY_MAC);
        assert_eq!(&r[12..14], &[0x08, 0x06]);
        assert_eq!(&r[20..22], &[0, 2], "reply opcode");
        assert_eq!(&r[22..28], &GATEWAY_MAC, "sender MAC");
        assert_eq!(&r[28..32], &GATEWAY_IP, "sender IP");
        assert_eq!(&r[32..38], &GUEST_MAC, "target MAC");
        assert_eq!(&r[38..42], &GUEST_IP, "target IP");
        assert!(respond(&arp_request([10, 0, 2, 3])).is_none());
        let mut reply = arp_request(GATEWAY_IP);
        reply[21] = 2;
        assert!(respond(&reply).is_none(), "ARP replies are not answered");
    }

    #[test]
    fn echo_reply_mirrors_the_request() {
        let payload: Vec<u8> = (0..56).collect();
        let (k, r) = respond(&echo_request(GATEWAY_IP, &payload)).unwrap();
        assert_eq!(k, Reply::Echo);
        assert_eq!(&r[0..6], &GUEST_MAC);
        assert_eq!(&r[6..12], &GATEWAY_MAC);
        let ip = &r[14..34];
        assert_eq!(inet_checksum(ip), 0, "IP header checksum");
        assert_eq!(&ip[12..16], &GATEWAY_IP);
        assert_eq!(&ip[16..20], &GUEST_IP);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), 20 + 8 + 56);
        let icmp = &r[34..];
        assert_eq!(icmp[0], 0, "echo reply");
        assert_eq!(inet_checksum(icmp), 0, "ICMP checksum");
        assert_eq!(
            &icmp[4..8],
            &[0xab, 0xcd, 0, 1],
            "identifier and sequence kept"
        );
        assert_eq!(&icmp[8..], &payload[..]);
    }

    #[test]
    fn echo_rejects() {
        assert!(
            respond(&echo_request([10, 0, 2, 3], b"x")).is_none(),
            "not the gateway"
        );
        let mut bad = echo_request(GATEWAY_IP, b"abc");
        bad[14 + 20 + 8] ^= 1;
        assert!(respond(&bad).is_none(), "ICMP checksum");
        let mut bad = echo_request(GATEWAY_IP, b"abc");
        bad[14 + 8] ^= 1;
        assert!(respond(&bad).is_none(), "IP checksum");
        let mut bad = echo_request(GATEWAY_IP, b"abc");
        bad[14 + 3] += 10;
        assert!(respond(&bad).is_none(), "total length past the frame");
        let mut frag = echo_request(GATEWAY_IP, b"abc");
        frag[14 + 6] = 0x20; // MF
        assert!(respond(&frag).is_none(), "fragment");
    }

    #[test]
    fn backend_queues_replies_and_signals() {
        let u = UserNet::new().unwrap();
        let mut buf = [0u8; 2048];
        assert_eq!(
            u.recv(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        u.send(&arp_request(GATEWAY_IP)).unwrap();
        u.send(&echo_request(GATEWAY_IP, b"hello")).unwrap();
        u.send(&[0u8; 3]).unwrap();
        assert_eq!(
            u.stats(),
            UserNetStats {
                arp_replies: 1,
                echo_replies: 1,
                dropped: 1
            }
        );
        let mut pfd = libc::pollfd {
            fd: u.poll_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1, "readable");
        assert_eq!(u.recv(&mut buf).unwrap(), 42);
        assert_eq!(u.recv(&mut buf).unwrap(), 14 + 28 + 5);
        pfd.revents = 0;
        // SAFETY: as above.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 0, "drained");
        assert!(u.recv(&mut buf).is_err());
    }

    #[test]
    fn queue_is_bounded() {
        let u = UserNet::new().unwrap();
        for _ in 0..MAX_QUEUED + 10 {
            u.send(&arp_request(GATEWAY_IP)).unwrap();
        }
        let mut buf = [0u8; 64];
        let mut n = 0;
        while u.recv(&mut buf).is_ok() {
            n += 1;
        }
        assert_eq!(n, MAX_QUEUED);
    }

    proptest! {
        /// Arbitrary guest frames never panic, and any reply is well formed.
        #[test]
        fn arbitrary_frames(mut f in proptest::collection::vec(any::<u8>(), 0..200), kind in 0u8..3) {
            if f.len() >= 14 {
                match kind {
                    0 => { f[12] = 0x08; f[13] = 0x06; }
                    1 => { f[12] = 0x08; f[13] = 0x00; }
                    _ => {}
                }
            }
            if let Some((k, r)) = respond(&f) {
                match k {
                    Reply::Arp => prop_assert_eq!(r.len(), 42),
                    Reply::Echo => {
                        prop_assert_eq!(inet_checksum(&r[14..34]), 0);
                        prop_assert_eq!(inet_checksum(&r[34..]), 0);
                    }
                }
            }
        }
    }
}
