//! A virtual Open Firmware client interface, as QEMU's VOF provides it: the services Linux's
//! `prom_init` uses to walk and modify the device tree, claim memory, write to the console,
//! negotiate the platform (CAS) and instantiate RTAS.

use std::collections::HashMap;
use std::time::Instant;

use ppc64::REAL_ADDR_MASK;

use crate::dt::{Tree, cells64};
use crate::machine::Shared;

/// The client-interface entry stub (32-bit big-endian code):
/// `mr r4,r3; li r3,0; ori r3,r3,0xf005; sc 1; blr`.
pub const CI_STUB: [u32; 5] = [
    0x7c64_1b78,
    0x3860_0000,
    0x6063_f005,
    0x4400_0022,
    0x4e80_0020,
];

const PROM_ERROR: u32 = 0xFFFF_FFFF;
const MAX_ARGS: u32 = 10;
const MAX_SETPROP: usize = 2048;
const MAX_WRITE: usize = 1 << 16;

/// What a client-interface call asks of the machine beyond its result.
#[derive(Debug, PartialEq, Eq)]
pub enum VofOutcome {
    /// Return to the caller with this r3.
    Return(i64),
    /// The client called `exit`.
    Exit,
    /// CAS failed in a way the machine cannot continue from.
    Fatal(String),
}

/// Client-interface state.
pub struct Vof {
    /// The device tree the client sees.
    pub tree: Tree,
    claimed: Vec<(u64, u64)>,
    claim_limit: u64,
    instances: HashMap<u32, usize>,
    next_ihandle: u32,
    /// ihandle of the console instance (`/chosen/stdout`).
    pub stdout: u32,
    setprops: Vec<(String, String, Vec<u8>)>,
    /// Set once the client called `quiesce`.
    pub quiesced: bool,
    start: Instant,
}

impl Vof {
    /// Client-interface state over `tree`, with memory claims allowed below `claim_limit`
    /// and `claimed` already in use.
    pub fn new(tree: Tree, claim_limit: u64, claimed: Vec<(u64, u64)>) -> Self {
        let mut v = Vof {
            tree,
            claimed,
            claim_limit,
            instances: HashMap::new(),
            next_ihandle: 1,
            stdout: 0,
            setprops: Vec::new(),
            quiesced: false,
            start: Instant::now(),
        };
        v.open_stdout();
        v.update_available();
        v
    }

    fn open_stdout(&mut self) {
        if let Some(n) = self.tree.find(crate::tree::VTY_PATH) {
            let ih = self.next_ihandle;
            self.next_ihandle += 1;
            self.instances.insert(ih, n);
            self.stdout = ih;
            if let Some(ch) = self.tree.find("/chosen") {
                self.tree.set_u32(ch, "stdout", ih);
            }
        }
    }

    /// Replaces the tree (after CAS), keeping the client's `setprop` changes and re-opening
    /// stdout.
    pub fn replace_tree(&mut self, tree: Tree) {
        // Open instances stay valid: they are re-bound to the same paths in the new tree.
        let paths: Vec<(u32, String)> = self
            .instances
            .iter()
            .map(|(&ih, &n)| (ih, self.tree.path(n)))
            .collect();
        self.tree = tree;
        let props = std::mem::take(&mut self.setprops);
        for (path, name, val) in &props {
            if let Some(n) = self.tree.find(path) {
                self.tree.set(n, name, val.clone());
            }
        }
        self.setprops = props;
        self.instances.clear();
        for (ih, path) in paths {
            if let Some(n) = self.tree.find(&path) {
                self.instances.insert(ih, n);
            }
        }
        if let Some(ch) = self.tree.find("/chosen") {
            self.tree.set_u32(ch, "stdout", self.stdout);
        }
        self.update_available();
    }

    fn update_available(&mut self) {
        let Some(mem) = self.tree.find("/memory@0") else {
            return;
        };
        let mut claimed = self.claimed.clone();
        claimed.sort();
        let mut avail = Vec::new();
        let mut cur = 0u64;
        for (s, e) in claimed {
            if s > cur {
                avail.push((cur, s - cur));
            }
            cur = cur.max(e);
        }
        if cur < self.claim_limit {
            avail.push((cur, self.claim_limit - cur));
        }
        let v: Vec<u64> = avail.iter().flat_map(|&(a, s)| [a, s]).collect();
        self.tree.set(mem, "available", cells64(&v));
    }

    fn is_free(&self, s: u64, e: u64) -> bool {
        e <= self.claim_limit && self.claimed.iter().all(|&(a, b)| e <= a || b <= s)
    }

    /// `claim`: exact placement when `align` is 0, else the lowest free aligned block.
    pub fn claim(&mut self, addr: u64, size: u64, align: u64) -> Option<u64> {
        if size == 0 {
            return None;
        }
        let base = if align == 0 {
            let end = addr.checked_add(size)?;
            if !self.is_free(addr, end) {
                return None;
            }
            addr
        } else {
            if !align.is_power_of_two() {
                return None;
            }
            let mut cands: Vec<u64> = vec![0];
            cands.extend(self.claimed.iter().map(|&(_, e)| e));
            cands.sort();
            cands
                .into_iter()
                .filter_map(|c| c.checked_add(align - 1).map(|x| x & !(align - 1)))
                .find(|&c| c.checked_add(size).is_some_and(|e| self.is_free(c, e)))?
        };
        self.claimed.push((base, base + size));
        self.update_available();
        Some(base)
    }

    /// `release`.
    pub fn release(&mut self, addr: u64, size: u64) {
        let end = addr.saturating_add(size);
        let mut out = Vec::new();
        for &(a, b) in &self.claimed {
            if b <= addr || end <= a {
                out.push((a, b));
            } else {
                if a < addr {
                    out.push((a, addr));
                }
                if end < b {
                    out.push((end, b));
                }
            }
        }
        self.claimed = out;
        self.update_available();
    }

    fn node_of(&self, ph: u32) -> Option<usize> {
        self.tree.by_phandle(ph)
    }

    fn phandle(&self, n: usize) -> u32 {
        self.tree.node(n).map(|x| x.phandle).unwrap_or(0)
    }
}

/// Handles KVMPPC_H_VOF_CLIENT with the argument block at `addr`.
pub fn call(shared: &Shared, vof: &mut Vof, addr: u64) -> VofOutcome {
    let base = addr & REAL_ADDR_MASK;
    let (Some(svc_ptr), Some(nargs), Some(nret)) = (
        shared.read_be32(base),
        shared.read_be32(base + 4),
        shared.read_be32(base + 8),
    ) else {
        return VofOutcome::Return(-1);
    };
    if nargs >= MAX_ARGS || nargs.saturating_add(nret) > MAX_ARGS {
        return VofOutcome::Return(-1);
    }
    let service = shared.read_cstring(svc_ptr as u64, 64);
    let args: Vec<u32> = (0..nargs)
        .map(|i| shared.read_be32(base + 12 + 4 * i as u64).unwrap_or(0))
        .collect();
    let mut rets = vec![0u32; nret as usize];
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    tracing::trace!(service, ?args, "client interface");
    let r: Option<u32> = match (service.as_str(), nargs) {
        ("finddevice", 1) => {
            let path = shared.read_cstring(arg(0) as u64, 256);
            Some(
                vof.tree
                    .find(&path)
                    .map(|n| vof.phandle(n))
                    .unwrap_or(PROM_ERROR),
            )
        }
        ("getprop", 4) => Some(getprop(shared, vof, arg(0), arg(1), arg(2), arg(3))),
        ("getproplen", 2) => {
            let name = shared.read_cstring(arg(1) as u64, 64);
            Some(match vof.node_of(arg(0)) {
                Some(n) => prop_value(vof, n, &name)
                    .map(|v| v.len() as u32)
                    .unwrap_or(PROM_ERROR),
                None => PROM_ERROR,
            })
        }
        ("setprop", 4) => {
            let name = shared.read_cstring(arg(1) as u64, 64);
            let len = arg(3) as usize;
            match vof.node_of(arg(0)) {
                Some(n) if len <= MAX_SETPROP => {
                    let mut val = vec![0u8; len];
                    if shared
                        .vm
                        .partition()
                        .ram
                        .read(arg(2) as u64, &mut val)
                        .is_some()
                    {
                        let path = vof.tree.path(n);
                        vof.tree.set(n, &name, val.clone());
                        vof.setprops.retain(|(p, k, _)| !(p == &path && k == &name));
                        vof.setprops.push((path, name, val));
                        Some(len as u32)
                    } else {
                        Some(PROM_ERROR)
                    }
                }
                _ => Some(PROM_ERROR),
            }
        }
        ("nextprop", 3) => Some(nextprop(shared, vof, arg(0), arg(1), arg(2))),
        ("peer", 1) => Some(if arg(0) == 0 {
            vof.phandle(Tree::ROOT)
        } else {
            match vof.node_of(arg(0)).and_then(|n| vof.tree.node(n)) {
                Some(node) => match node.parent.and_then(|p| vof.tree.node(p)) {
                    Some(parent) => {
                        let me = vof.node_of(arg(0)).unwrap_or(0);
                        let pos = parent.children.iter().position(|&c| c == me);
                        pos.and_then(|i| parent.children.get(i + 1))
                            .map(|&c| vof.phandle(c))
                            .unwrap_or(0)
                    }
                    None => 0,
                },
                None => PROM_ERROR,
            }
        }),
        ("child", 1) => Some(match vof.node_of(arg(0)).and_then(|n| vof.tree.node(n)) {
            Some(node) => node.children.first().map(|&c| vof.phandle(c)).unwrap_or(0),
            None => PROM_ERROR,
        }),
        ("parent", 1) => Some(match vof.node_of(arg(0)).and_then(|n| vof.tree.node(n)) {
            Some(node) => node.parent.map(|p| vof.phandle(p)).unwrap_or(0),
            None => PROM_ERROR,
        }),
        ("open", 1) => {
            let path = shared.read_cstring(arg(0) as u64, 256);
            Some(match vof.tree.find(&path) {
                Some(n) => {
                    let ih = vof.next_ihandle;
                    vof.next_ihandle = vof.next_ihandle.wrapping_add(1).max(1);
                    vof.instances.insert(ih, n);
                    ih
                }
                None => PROM_ERROR,
            })
        }
        ("close", 1) => {
            if arg(0) != vof.stdout {
                vof.instances.remove(&arg(0));
            }
            None
        }
        ("instance-to-package", 1) => Some(
            vof.instances
                .get(&arg(0))
                .map(|&n| vof.phandle(n))
                .unwrap_or(PROM_ERROR),
        ),
        ("package-to-path", 3) => Some(match vof.node_of(arg(0)) {
            Some(n) => copy_path(shared, &vof.tree.path(n), arg(1), arg(2)),
            None => PROM_ERROR,
        }),
        ("instance-to-path", 3) => Some(match vof.instances.get(&arg(0)) {
            Some(&n) => copy_path(shared, &vof.tree.path(n), arg(1), arg(2)),
            None => PROM_ERROR,
        }),
        ("write", 3) => {
            let len = (arg(2) as usize).min(MAX_WRITE);
            if arg(0) == vof.stdout && vof.stdout != 0 {
                let mut buf = vec![0u8; len];
                if shared
                    .vm
                    .partition()
                    .ram
                    .read(arg(1) as u64, &mut buf)
                    .is_some()
                {
                    shared.console.write(&buf);
                    Some(len as u32)
                } else {
                    Some(PROM_ERROR)
                }
            } else {
                Some(PROM_ERROR)
            }
        }
        ("claim", 3) => Some(
            vof.claim(arg(0) as u64, arg(1) as u64, arg(2) as u64)
                .map(|a| a as u32)
                .unwrap_or(PROM_ERROR),
        ),
        ("release", 2) => {
            vof.release(arg(0) as u64, arg(1) as u64);
            None
        }
        ("call-method", n) if n >= 2 => {
            let method = shared.read_cstring(arg(0) as u64, 64);
            match method.as_str() {
                "ibm,client-architecture-support" => {
                    match shared.client_architecture_support(vof, arg(2) as u64) {
                        Ok(()) => {
                            if let Some(r) = rets.get_mut(1) {
                                *r = 0;
                            }
                            Some(0)
                        }
                        Err(e) => return VofOutcome::Fatal(e),
                    }
                }
                "instantiate-rtas" => {
                    let base = arg(2) as u64;
                    let blob: Vec<u8> = crate::rtas::RTAS_BLOB
                        .iter()
                        .flat_map(|w| w.to_be_bytes())
                        .collect();
                    if shared.vm.partition().ram.write(base, &blob).is_some() {
                        shared
                            .vm
                            .partition()
                            .code
                            .invalidate_range(base, blob.len() as u64);
                        if let Some(r) = rets.get_mut(1) {
                            *r = base as u32;
                        }
                        Some(0)
                    } else {
                        Some(PROM_ERROR)
                    }
                }
                _ => Some(PROM_ERROR),
            }
        }
        ("milliseconds", 0) => Some(vof.start.elapsed().as_millis() as u32),
        ("quiesce", 0) => {
            vof.quiesced = true;
            None
        }
        ("exit", 0) => return VofOutcome::Exit,
        _ => {
            tracing::debug!(service, nargs, nret, "unsupported client-interface service");
            return VofOutcome::Return(-1);
        }
    };
    if let (Some(v), Some(x)) = (r, rets.get_mut(0)) {
        *x = v;
    }
    for (i, v) in rets.iter().enumerate() {
        let _ = shared.write_be32(base + 12 + 4 * (nargs as u64 + i as u64), *v);
    }
    VofOutcome::Return(0)
}

fn prop_value(vof: &Vof, n: usize, name: &str) -> Option<Vec<u8>> {
    if let Some(v) = vof.tree.get(n, name) {
        return Some(v.to_vec());
    }
    if name == "name" {
        let node = vof.tree.node(n)?;
        let base = node.name.split('@').next().unwrap_or("");
        let mut v = base.as_bytes().to_vec();
        v.push(0);
        return Some(v);
    }
    None
}

fn getprop(shared: &Shared, vof: &Vof, ph: u32, name_ptr: u32, buf: u32, len: u32) -> u32 {
    let name = shared.read_cstring(name_ptr as u64, 64);
    let Some(n) = vof.node_of(ph) else {
        return PROM_ERROR;
    };
    let Some(v) = prop_value(vof, n, &name) else {
        return PROM_ERROR;
    };
    let k = v.len().min(len as usize);
    if k > 0
        && shared
            .vm
            .partition()
            .ram
            .write(buf as u64, &v[..k])
            .is_none()
    {
        return PROM_ERROR;
    }
    v.len() as u32
}

fn nextprop(shared: &Shared, vof: &Vof, ph: u32, prev_ptr: u32, buf: u32) -> u32 {
    let Some(n) = vof.node_of(ph) else {
        return PROM_ERROR;
    };
    let Some(node) = vof.tree.node(n) else {
        return PROM_ERROR;
    };
    let prev = shared.read_cstring(prev_ptr as u64, 64);
    let idx = if prev.is_empty() {
        0
    } else {
        match node.props.iter().position(|(k, _)| *k == prev) {
            Some(i) => i + 1,
            None => return PROM_ERROR,
        }
    };
    match node.props.get(idx) {
        Some((k, _)) => {
            let mut b = k.as_bytes().to_vec();
            b.truncate(63);
            b.push(0);
            if shared.vm.partition().ram.write(buf as u64, &b).is_none() {
                return PROM_ERROR;
            }
            1
        }
        None => 0,
    }
}

fn copy_path(shared: &Shared, path: &str, buf: u32, len: u32) -> u32 {
    let mut b = path.as_bytes().to_vec();
    b.push(0);
    let k = b.len().min(len as usize);
    if k > 0
        && shared
            .vm
            .partition()
            .ram
            .write(buf as u64, &b[..k])
            .is_none()
    {
        return PROM_ERROR;
    }
    path.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims() {
        let mut t = Tree::new();
        let m = t.add(Tree::ROOT, "memory@0");
        t.assign_phandles();
        let _ = m;
        let mut v = Vof::new(t, 0x1000_0000, vec![(0, 0x10_0000)]);
        assert_eq!(v.claim(0x8_0000, 0x1000, 0), None, "overlaps the kernel");
        assert_eq!(v.claim(0x20_0000, 0x1000, 0), Some(0x20_0000));
        assert_eq!(v.claim(0x20_0800, 0x1000, 0), None);
        assert_eq!(v.claim(0, 0x1000, 0x1_0000), Some(0x10_0000));
        assert_eq!(v.claim(0x0FFF_F000, 0x2000, 0), None, "beyond the limit");
        v.release(0x20_0000, 0x1000);
        assert_eq!(v.claim(0x20_0800, 0x100, 0), Some(0x20_0800));
        let avail = v
            .tree
            .get(v.tree.find("/memory@0").unwrap(), "available")
            .unwrap()
            .to_vec();
        assert!(!avail.is_empty());
    }
}
