//! virtio-net (virtio spec §5.1), without offloads, on a [`NetBackend`]: a Linux tap
//! interface ([`Tap`]) or the unprivileged user-mode gateway ([`crate::usernet::UserNet`]).
//!
//! Queue 0 receives, queue 1 transmits. Every buffer starts with the 12-byte
//! `virtio_net_hdr` of virtio 1.x (no offloads negotiated: all zero on receive, ignored on
//! transmit). Received frames are read from the backend on a thread ([`start_rx`]) that
//! kicks queue 0; when the guest has no receive buffer, the frame waits and the thread
//! sleeps until the guest adds buffers (its notify wakes the thread through an eventfd).
//! Transmitted frames go to the backend on the notifying (vCPU) thread.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::{DmaMemory, VirtioDevice, VirtioPciDevice, device_type, drain_queue};

/// Feature: the device has a MAC address in its configuration.
pub const VIRTIO_NET_F_MAC: u32 = 5;
/// Size of `virtio_net_hdr` in virtio 1.x.
pub const NET_HDR_LEN: usize = 12;
/// Largest frame handled (Ethernet + VLAN tag, no offloads).
pub const MAX_FRAME: usize = 1518;
const QUEUE_SIZE: u16 = 256;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// Where a virtio-net device's frames go and come from.
pub trait NetBackend: Send + Sync {
    /// Reads one received frame into `buf` (its length), or `WouldBlock` when none waits.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends one frame from the guest.
    fn send(&self, frame: &[u8]) -> io::Result<()>;
    /// A descriptor that polls readable while a frame may be waiting.
    fn poll_fd(&self) -> RawFd;
}

/// A tap interface (non-blocking).
pub struct Tap(File);

impl Tap {
    /// Opens (or creates) tap interface `ifname` (needs CAP_NET_ADMIN, or a persistent
    /// tap owned by the user).
    pub fn open(ifname: &str) -> io::Result<Tap> {
        open_tun(ifname).map(Tap)
    }
}

impl NetBackend for Tap {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }
    fn send(&self, frame: &[u8]) -> io::Result<()> {
        (&self.0).write(frame).map(|_| ())
    }
    fn poll_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// What the receive thread shares with the device.
#[derive(Clone)]
pub struct RxHandle {
    backend: Arc<dyn NetBackend>,
    wake: Arc<EventFd>,
    starved: Arc<AtomicBool>,
}

/// A virtio network device.
pub struct Net {
    rx: RxHandle,
    mac: [u8; 6],
    pending: Option<Vec<u8>>,
    buf: Vec<u8>,
}

fn open_tun(ifname: &str) -> io::Result<File> {
    if ifname.is_empty() || ifname.len() >= 16 || ifname.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be 1 to 15 bytes",
        ));
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")
        .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TAP | IFF_NO_PI,
        pad: [0; 22],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes); `req` is that size
    // and lives for the call; the fd is open.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "not permitted to create or attach tap {ifname} (needs CAP_NET_ADMIN, or a \
                     persistent tap owned by this user: ip tuntap add {ifname} mode tap user $USER)"
                ),
            ));
        }
        return Err(io::Error::new(e.kind(), format!("TUNSETIFF {ifname}: {e}")));
    }
    Ok(f)
}

impl Net {
    /// Opens (or creates) tap interface `ifname`. The MAC address is a locally
    /// administered one derived from the name.
    pub fn open_tap(ifname: &str) -> io::Result<Net> {
        let tap = Tap::open(ifname)?;
        let mut mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        let h = ifname
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        mac[3..6].copy_from_slice(&h.to_be_bytes()[1..4]);
        Net::with_backend(Arc::new(tap), mac)
    }

    /// A device on the user-mode gateway (no privilege needed), with QEMU's default guest
    /// MAC `52:54:00:12:34:56`. The backend is returned too, for its statistics.
    pub fn user() -> io::Result<(Net, Arc<crate::usernet::UserNet>)> {
        let u = Arc::new(crate::usernet::UserNet::new()?);
        let n = Net::with_backend(u.clone(), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])?;
        Ok((n, u))
    }

    /// A device on `backend` with MAC address `mac`.
    pub fn with_backend(backend: Arc<dyn NetBackend>, mac: [u8; 6]) -> io::Result<Net> {
        Ok(Net {
            rx: RxHandle {
                backend,
                wake: Arc::new(EventFd::new(EFD_NONBLOCK)?),
                starved: Arc::new(AtomicBool::new(false)),
            },
            mac,
            pending: None,
            buf: vec![0; NET_HDR_LEN + 65536],
        })
    }

    /// The handle [`start_rx`] needs.
    pub fn rx_handle(&self) -> RxHandle {
        self.rx.clone()
    }

    /// The MAC address given to the guest.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn next_frame(&mut self) -> Option<Vec<u8>> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        let mut frame = vec![0u8; 65536];
        match self.rx.backend.recv(&mut frame) {
            Ok(n) if n > 0 => {
                frame.truncate(n);
                Some(frame)
            }
            _ => None,
        }
    }

    fn receive(&mut self, queue: &mut Queue, mem: &DmaMemory) -> bool {
        let mut used = false;
        let was_starved = self.rx.starved.swap(false, Ordering::SeqCst);
        // Bounded per call: at most one queue's worth of frames.
        for _ in 0..QUEUE_SIZE {
            let Some(frame) = self.next_frame() else {
                break;
            };
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                self.pending = Some(frame);
                self.rx.starved.store(true, Ordering::SeqCst);
                break;
            };
            let head = chain.head_index();
            let mut n = 0u32;
            if let Ok(mut w) = chain.writer(mem) {
                let len = (NET_HDR_LEN + frame.len()).min(w.available_bytes());
                let mut hdr = [0u8; NET_HDR_LEN];
                hdr[10] = 1; // num_buffers
                if len >= NET_HDR_LEN
                    && w.write_all(&hdr).is_ok()
                    && w.write_all(&frame[..len - NET_HDR_LEN]).is_ok()
                {
                    n = len as u32;
                }
            }
            if queue.add_used(mem, head, n).is_err() {
                break;
            }
            used = true;
        }
        if was_starved && !self.rx.starved.load(Ordering::SeqCst) {
            // Buffers arrived: let the thread poll the tap again.
            let _ = self.rx.wake.write(1);
        }
        used
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        device_type::NET
    }

    fn pci_class(&self) -> u32 {
        0x02_00_00
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE, QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        1 << VIRTIO_NET_F_MAC
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut c = [0u8; 8];
        c[..6].copy_from_slice(&self.mac);
        crate::config_slice(&c, offset, data);
    }

    fn reset(&mut self) {
        self.pending = None;
    }

    fn process_queue(&mut self, index: usize, queue: &mut Queue, mem: &DmaMemory) -> bool {
        match index {
            0 => self.receive(queue, mem),
            1 => {
                let backend = self.rx.backend.clone();
                let buf = &mut self.buf;
                drain_queue(queue, mem, |chain| {
                    let Ok(mut r) = chain.reader(mem) else {
                        return 0;
                    };
                    let mut n = 0;
                    while n < buf.len() {
                        match r.read(&mut buf[n..]) {
                            Ok(0) | Err(_) => break,
                            Ok(k) => n += k,
                        }
                    }
                    if n > NET_HDR_LEN
                        && let Err(e) = backend.send(&buf[NET_HDR_LEN..n])
                    {
                        tracing::debug!("virtio-net: send: {e}");
                    }
                    0
                })
            }
            _ => false,
        }
    }
}

/// Starts the receive thread of a net device: it waits for frames from the backend (or, while
/// the guest has no receive buffer, for the guest to add some) and kicks queue 0. It ends
/// when the device is dropped.
pub fn start_rx(dev: &Arc<VirtioPciDevice>, rx: RxHandle) -> io::Result<()> {
    let weak: Weak<VirtioPciDevice> = Arc::downgrade(dev);
    std::thread::Builder::new()
        .name("virtio-net-rx".into())
        .spawn(move || {
            loop {
                let starved = rx.starved.load(Ordering::SeqCst);
                let mut fds = [
                    libc::pollfd {
                        fd: rx.wake.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                    libc::pollfd {
                        fd: rx.backend.poll_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                let nfds = if starved { 1 } else { 2 };
                // SAFETY: `fds` holds `nfds` valid pollfd entries for the duration of the call.
                let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, 200) };
                let Some(dev) = weak.upgrade() else {
                    return;
                };
                if r <= 0 {
                    continue;
                }
                let _ = rx.wake.read();
                if dev.status() & crate::DeviceStatus::DRIVER_OK == 0 {
                    // No driver yet: frames wait in the backend (which drops when full).
                    drop(dev);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
                dev.kick(0);
            }
        })?;
    Ok(())
}
