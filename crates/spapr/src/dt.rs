//! An in-memory device tree: built by the machine, walked by the Open Firmware client
//! interface (which the guest may also modify with `setprop`), and flattened with `vm-fdt`
//! for direct-FDT boots.

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

    /// Serialises the tree into a flattened device tree blob.
    pub fn to_fdt(&self, reserve: &[(u64, u64)], boot_cpu: u32) -> Result<Vec<u8>, vm_fdt::Error> {
        let rsv: Vec<vm_fdt::FdtReserveEntry> = reserve
            .iter()
            .filter_map(|&(a, s)| vm_fdt::FdtReserveEntry::new(a, s).ok())
            .collect();
        let mut w = vm_fdt::FdtWriter::new_with_mem_reserv(&rsv)?;
        w.set_boot_cpuid_phys(boot_cpu);
        self.write_node(&mut w, Self::ROOT)?;
        w.finish()
    }

    fn write_node(&self, w: &mut vm_fdt::FdtWriter, i: usize) -> Result<(), vm_fdt::Error> {
        let n = &self.nodes[i];
        let h = w.begin_node(&n.name)?;
        for (k, v) in &n.props {
            w.property(k, v)?;
        }
        for &c in &n.children {
            self.write_node(w, c)?;
        }
        w.end_node(h)
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
}
