//! An in-memory device tree: built by the machine, walked by the Open Firmware client
//! interface (which the guest may also modify with `setprop`), and flattened into a
//! devicetree blob (version 17) for direct-FDT boots.
//!
//! The blob is written here rather than with `vm-fdt`: that crate enforces the Devicetree
//! Specification's 31-character limit on property names, and PAPR's own names exceed it
//! (`ibm,processor-radix-AP-encodings`, `ibm,associativity-reference-points`), as QEMU's
//! pseries trees (written with libfdt, which has no such limit) show.

use std::collections::HashMap;

/// A device-tree node.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// Name with unit address (`"vty@71000000"`); the root is `""`.
    pub name: String,
    /// Properties in insertion order.
    pub props: Vec<(String, Vec<u8>)>,
    /// Child indices in the tree's arena.
    pub children: Vec<usize>,
    /// Parent index (None for the root).
    pub parent: Option<usize>,
    /// Package handle (also stored as the `phandle` property).
    pub phandle: u32,
}

/// A tree of nodes in an arena; index 0 is the root.
#[derive(Clone, Debug)]
pub struct Tree {
    nodes: Vec<Node>,
    by_phandle: HashMap<u32, usize>,
}

/// Encodes big-endian u32 cells.
pub fn cells(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// Encodes big-endian u64 values as pairs of cells.
pub fn cells64(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// Encodes a NUL-terminated string.
pub fn string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Encodes a list of NUL-terminated strings.
pub fn strings(list: &[&str]) -> Vec<u8> {
    list.iter().flat_map(|s| string(s)).collect()
}

fn path_phandle(path: &str) -> u32 {
    // FNV-1a, folded into 0x1000..0x7FFF_FFFF so that phandles are stable across rebuilds
    // of the tree (CAS) and never collide with small reserved values.
    let mut h: u32 = 0x811C_9DC5;
    for b in path.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    0x1000 + (h % 0x7FFF_0000)
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree with an empty root.
    pub fn new() -> Self {
        let mut t = Tree {
            nodes: Vec::new(),
            by_phandle: HashMap::new(),
        };
        t.nodes.push(Node::default());
        t
    }

    /// The root index.
    pub const ROOT: usize = 0;

    /// Adds a child node and returns its index.
    pub fn add(&mut self, parent: usize, name: &str) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_string(),
            parent: Some(parent),
            ..Default::default()
        });
        self.nodes[parent].children.push(i);
        i
    }

    /// Sets (or replaces) a property.
    pub fn set(&mut self, node: usize, name: &str, value: Vec<u8>) {
        let n = &mut self.nodes[node];
        match n.props.iter_mut().find(|(k, _)| k == name) {
            Some(p) => p.1 = value,
            None => n.props.push((name.to_string(), value)),
        }
    }

    /// Sets a u32 property.
    pub fn set_u32(&mut self, node: usize, name: &str, v: u32) {
        self.set(node, name, cells(&[v]));
    }

    /// Sets a string property.
    pub fn set_str(&mut self, node: usize, name: &str, v: &str) {
        self.set(node, name, string(v));
    }

    /// Sets an empty (boolean) property.
    pub fn set_empty(&mut self, node: usize, name: &str) {
        self.set(node, name, Vec::new());
    }

    /// Reads a property.
    pub fn get(&self, node: usize, name: &str) -> Option<&[u8]> {
        self.nodes
            .get(node)?
            .props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A node.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether only the root exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// The full path of a node.
    pub fn path(&self, i: usize) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(i);
        while let Some(c) = cur {
            if c == Self::ROOT {
                break;
            }
            parts.push(self.nodes[c].name.clone());
            cur = self.nodes[c].parent;
        }
        if parts.is_empty() {
            return "/".to_string();
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Assigns phandles (from the path, or a fixed value already set as the `phandle`
    /// property) and writes the `phandle` property of every node.
    pub fn assign_phandles(&mut self) {
        self.by_phandle.clear();
        for i in 0..self.nodes.len() {
            let fixed = self
                .get(i, "phandle")
                .filter(|v| v.len() == 4)
                .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            let mut ph = fixed.unwrap_or_else(|| path_phandle(&self.path(i)));
            while self.by_phandle.contains_key(&ph) {
                ph = ph.wrapping_add(1).max(0x1000);
            }
            self.nodes[i].phandle = ph;
            self.by_phandle.insert(ph, i);
            self.set_u32(i, "phandle", ph);
        }
    }

    /// The node with a phandle.
    pub fn by_phandle(&self, ph: u32) -> Option<usize> {
        self.by_phandle.get(&ph).copied()
    }

    /// Finds a node by path (`/a/b@1`; a component without unit address matches a node
    /// whose name without unit address is equal).
    pub fn find(&self, path: &str) -> Option<usize> {
        if !path.starts_with('/') {
            return None;
        }
        let mut cur = Self::ROOT;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let n = &self.nodes[cur];
            cur = *n.children.iter().find(|&&c| {
                let name = &self.nodes[c].name;
                name == comp || (!comp.contains('@') && name.split('@').next() == Some(comp))
            })?;
        }
        Some(cur)
    }

    /// Serialises the tree into a flattened device tree blob (format version 17, last
    /// compatible version 16) with the given memory reservations and boot CPU.
    pub fn to_fdt(&self, reserve: &[(u64, u64)], boot_cpu: u32) -> Result<Vec<u8>, FdtError> {
        let mut w = FdtBlob::default();
        self.write_node(&mut w, Self::ROOT)?;
        w.token(FDT_END);
        Ok(w.finish(reserve, boot_cpu))
    }

    fn write_node(&self, w: &mut FdtBlob, i: usize) -> Result<(), FdtError> {
        let n = &self.nodes[i];
        if n.name.contains('\0') || n.name.contains('/') || (i != Self::ROOT && n.name.is_empty()) {
            return Err(FdtError::NodeName(n.name.clone()));
        }
        w.token(FDT_BEGIN_NODE);
        w.bytes(n.name.as_bytes());
        w.bytes(&[0]);
        w.pad();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &n.props {
            if k.is_empty() || k.contains('\0') {
                return Err(FdtError::PropertyName(k.clone()));
            }
            if !seen.insert(k.as_str()) {
                return Err(FdtError::Duplicate(k.clone()));
            }
            let len = u32::try_from(v.len()).map_err(|_| FdtError::TooLarge)?;
            let off = w.name_offset(k)?;
            w.token(FDT_PROP);
            w.bytes(&len.to_be_bytes());
            w.bytes(&off.to_be_bytes());
            w.bytes(v);
            w.pad();
        }
        for &c in &n.children {
            self.write_node(w, c)?;
        }
        w.token(FDT_END_NODE);
        Ok(())
    }
}

/// Errors flattening a tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FdtError {
    /// A node name that cannot be represented (empty, or containing `/` or NUL).
    #[error("invalid node name {0:?}")]
    NodeName(String),
    /// A property name that cannot be represented (empty, or containing NUL).
    #[error("invalid property name {0:?}")]
    PropertyName(String),
    /// The same property twice in one node.
    #[error("duplicate property {0:?}")]
    Duplicate(String),
    /// The blob would exceed 4 GiB.
    #[error("device tree too large")]
    TooLarge,
}

const FDT_MAGIC: u32 = 0xD00D_FEED;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;
const FDT_HEADER_LEN: usize = 40;

/// The structure and strings blocks of a blob being written.
#[derive(Default)]
struct FdtBlob {
    structure: Vec<u8>,
    strings: Vec<u8>,
    offsets: HashMap<String, u32>,
}

impl FdtBlob {
    fn token(&mut self, t: u32) {
        self.structure.extend_from_slice(&t.to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.structure.extend_from_slice(b);
    }

    /// Pads the structure block to a 4-byte boundary.
    fn pad(&mut self) {
        let n = self.structure.len().next_multiple_of(4);
        self.structure.resize(n, 0);
    }

    /// Offset of `name` in the strings block, adding it on first use.
    fn name_offset(&mut self, name: &str) -> Result<u32, FdtError> {
        if let Some(&o) = self.offsets.get(name) {
            return Ok(o);
        }
        let o = u32::try_from(self.strings.len()).map_err(|_| FdtError::TooLarge)?;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.offsets.insert(name.to_owned(), o);
        Ok(o)
    }

    /// Header, memory reservation block, structure block, strings block.
    fn finish(self, reserve: &[(u64, u64)], boot_cpu: u32) -> Vec<u8> {
        let rsv_off = FDT_HEADER_LEN.next_multiple_of(8);
        let rsv: Vec<(u64, u64)> = reserve.iter().copied().filter(|&(_, s)| s != 0).collect();
        let struct_off = rsv_off + (rsv.len() + 1) * 16;
        let strings_off = struct_off + self.structure.len();
        let total = strings_off + self.strings.len();
        let mut out = Vec::with_capacity(total);
        for v in [
            FDT_MAGIC,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            boot_cpu,
            self.strings.len() as u32,
            self.structure.len() as u32,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.resize(rsv_off, 0);
        for (a, s) in rsv.iter().chain(std::iter::once(&(0, 0))) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&self.structure);
        out.extend_from_slice(&self.strings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_phandles_and_find() {
        let mut t = Tree::new();
        let vdev = t.add(Tree::ROOT, "vdevice");
        let vty = t.add(vdev, "vty@71000000");
        t.set_str(vty, "compatible", "hvterm1");
        let intc = t.add(Tree::ROOT, "interrupt-controller@0");
        t.set_u32(intc, "phandle", 0x1111);
        t.assign_phandles();
        assert_eq!(t.path(vty), "/vdevice/vty@71000000");
        assert_eq!(t.find("/vdevice/vty@71000000"), Some(vty));
        assert_eq!(t.find("/vdevice/vty"), Some(vty));
        assert_eq!(t.find("/nope"), None);
        assert_eq!(t.node(intc).unwrap().phandle, 0x1111);
        let ph = t.node(vty).unwrap().phandle;
        assert_eq!(t.by_phandle(ph), Some(vty));
        // stable across rebuilds
        let mut t2 = t.clone();
        t2.assign_phandles();
        assert_eq!(t2.node(vty).unwrap().phandle, ph);
        let fdt = t.to_fdt(&[(0, 0x1000)], 0).unwrap();
        assert_eq!(&fdt[0..4], &0xD00D_FEEDu32.to_be_bytes());
    }

    /// The blob parses with an independent reader, keeps PAPR's long property names, and
    /// carries the reservations and boot CPU.
    #[test]
    fn flattened_tree_round_trips() {
        let mut t = Tree::new();
        t.set_str(Tree::ROOT, "model", "papr-hv");
        let cpus = t.add(Tree::ROOT, "cpus");
        let cpu = t.add(cpus, "PowerPC,POWER9@0");
        t.set(
            cpu,
            "ibm,processor-radix-AP-encodings",
            cells(&[0xc, 0xa000_0010]),
        );
        t.set(
            Tree::ROOT,
            "ibm,associativity-reference-points",
            cells(&[4, 4]),
        );
        t.set(cpu, "empty", Vec::new());
        t.set(cpu, "odd", vec![1, 2, 3]);
        let blob = t
            .to_fdt(&[(0x1000, 0x2000), (0, 0), (0x8000, 0x100)], 1)
            .unwrap();
        let f = fdt::Fdt::new(&blob).expect("parses");
        let n = f.find_node("/cpus/PowerPC,POWER9@0").expect("cpu node");
        let p = n.property("ibm,processor-radix-AP-encodings").unwrap();
        assert_eq!(p.value, &cells(&[0xc, 0xa000_0010])[..]);
        assert_eq!(n.property("odd").unwrap().value, &[1, 2, 3]);
        assert!(n.property("empty").unwrap().value.is_empty());
        let root = f.find_node("/").unwrap();
        assert_eq!(
            root.property("ibm,associativity-reference-points")
                .unwrap()
                .value,
            &cells(&[4, 4])[..]
        );
        assert_eq!(root.property("model").unwrap().as_str(), Some("papr-hv"));
        let rsv: Vec<(usize, usize)> = f
            .memory_reservations()
            .map(|r| (r.address() as usize, r.size()))
            .collect();
        assert_eq!(rsv, vec![(0x1000, 0x2000), (0x8000, 0x100)]);
        assert_eq!(u32::from_be_bytes(blob[28..32].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_be_bytes(blob[4..8].try_into().unwrap()) as usize,
            blob.len()
        );
    }

    #[test]
    fn unrepresentable_names_are_errors() {
        let mut t = Tree::new();
        t.add(Tree::ROOT, "a/b");
        assert_eq!(t.to_fdt(&[], 0), Err(FdtError::NodeName("a/b".into())));
        let mut t = Tree::new();
        let n = t.add(Tree::ROOT, "ok");
        t.set(n, "bad\0name", vec![]);
        assert!(matches!(t.to_fdt(&[], 0), Err(FdtError::PropertyName(_))));
    }
}
