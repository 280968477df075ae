//! The pseries device tree: what the machine tells the guest about itself.

use crate::dt::{Tree, cells, cells64, strings};
use crate::rtas::RTAS_TOKENS;

/// Interrupt controller choice as the device tree must describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntcNode {
    /// XICS (`IBM,ppc-xicp`).
    Xics,
    /// XIVE exploitation mode (`ibm,power-ivpe`).
    Xive,
}

/// Everything the tree depends on.
#[derive(Clone, Debug)]
pub struct TreeParams {
    /// RAM size.
    pub ram_size: u64,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// Kernel command line.
    pub bootargs: String,
    /// initrd (start, end) if any.
    pub initrd: Option<(u64, u64)>,
    /// Which interrupt controller node to describe.
    pub intc: IntcNode,
    /// `ibm,arch-vec-5-platform-support` byte 23 (interrupt controllers offered).
    pub platform_intc: u8,
    /// Negotiated option vector 5 (after CAS), bytes 1..; `None` before CAS.
    pub ov5: Option<Vec<u8>>,
    /// `cpu-version` (raw PVR before CAS, logical PVR after).
    pub cpu_version: u32,
    /// Random seed for `/chosen/rng-seed`.
    pub rng_seed: [u32; 8],
    /// XIVE facts (when `intc` is XIVE).
    pub xive: Option<xive::XiveDtFacts>,
    /// XICS facts (when `intc` is XICS).
    pub xics: Option<xics::XicsDtInfo>,
    /// The PCI host bridge, if the machine has PCI devices.
    pub phb: Option<std::sync::Arc<crate::phb::Phb>>,
}

/// The phandle of the interrupt controller node (fixed, as QEMU's).
pub const PHANDLE_INTC: u32 = 0x1111;
/// Unit address (`reg`) of the console.
pub const VTY_REG: u32 = 0x7100_0000;
/// Path of the console.
pub const VTY_PATH: &str = "/vdevice/vty@71000000";

/// POWER9 `ibm,pa-features` as QEMU gives a TCG guest (radix, no TM): 2 header bytes
/// (length 0x42, type 0) and 66 feature bytes.
const PA_FEATURES: [u32; 17] = [
    0x4200_f63f,
    0xc7c0_80f0,
    0x8000_0000,
    0x0000_0000,
    0x0000_8000,
    0x8000_8000,
    0x0000_8000,
    0x8000_8000,
    0x8000_8000,
    0xc000_8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_0000,
];

/// The hypervisor call sets advertised in `/rtas/ibm,hypertas-functions`.
pub const HYPERTAS: &[&str] = &[
    "hcall-term",
    "hcall-dabr",
    "hcall-interrupt",
    "hcall-tce",
    "hcall-vio",
    "hcall-splpar",
    "hcall-set-mode",
    "hcall-sprg0",
    "hcall-copy",
    "hcall-multi-tce",
    "hcall-xdabr",
];

/// Builds the whole tree.
pub fn build(p: &TreeParams) -> Tree {
    let mut t = Tree::new();
    let root = Tree::ROOT;
    t.set_u32(root, "#address-cells", 2);
    t.set_u32(root, "#size-cells", 2);
    t.set_str(root, "compatible", "qemu,pseries");
    t.set_str(root, "model", "IBM pSeries (emulated by papr-hv)");
    t.set_str(root, "device_type", "chrp");
    t.set_str(root, "vm,uuid", "00000000-0000-0000-0000-000000000000");
    if p.intc == IntcNode::Xive {
        let prio = p
            .xive
            .as_ref()
            .map(|x| x.plat_res_int_priorities.clone())
            .unwrap_or_default();
        let v: Vec<u32> = prio.iter().flat_map(|&(a, b)| [a, b]).collect();
        t.set(root, "ibm,plat-res-int-priorities", cells(&v));
    }

    // /chosen
    let chosen = t.add(root, "chosen");
    t.set_str(chosen, "bootargs", &p.bootargs);
    if let Some((s, e)) = p.initrd {
        t.set_u32(chosen, "linux,initrd-start", s as u32);
        t.set_u32(chosen, "linux,initrd-end", e as u32);
    }
    t.set_str(chosen, "stdout-path", VTY_PATH);
    t.set_str(chosen, "linux,stdout-path", VTY_PATH);
    t.set(
        chosen,
        "ibm,arch-vec-5-platform-support",
        vec![23, p.platform_intc, 24, 0x40, 25, 0x00, 26, 0x40],
    );
    match &p.ov5 {
        Some(ov5) => {
            let mut v = vec![(ov5.len().saturating_sub(1)) as u8];
            v.extend_from_slice(ov5);
            t.set(chosen, "ibm,architecture-vec-5", v);
        }
        None => t.set(chosen, "ibm,architecture-vec-5", vec![0, 0]),
    }
    t.set(chosen, "rng-seed", cells(&p.rng_seed));
    t.set_u32(chosen, "linux,pci-probe-only", 0);

    // /rtas
    let rtas = t.add(root, "rtas");
    for (name, token) in RTAS_TOKENS {
        t.set_u32(rtas, name, *token);
    }
    t.set(rtas, "ibm,hypertas-functions", strings(HYPERTAS));
    t.set_u32(rtas, "rtas-size", crate::rtas::RTAS_SIZE);
    t.set_u32(rtas, "rtas-error-log-max", 2048);
    t.set_u32(rtas, "rtas-event-scan-rate", 1);
    t.set_empty(rtas, "ibm,extended-os-term");
    t.set(
        rtas,
        "ibm,lrdr-capacity",
        cells(&[0, 0, (p.ram_size >> 32) as u32, p.ram_size as u32, 2]),
    );
    t.set(
        rtas,
        "ibm,max-associativity-domains",
        cells(&[4, 0, 0, 0, 1]),
    );
    t.set(
        rtas,
        "ibm,associativity-reference-points",
        cells(&[4, 4, 2]),
    );

    if p.phb.is_some() {
        t.set_empty(rtas, "ibm,change-msix-capable");
    }

    // /cpus
    let cpus = t.add(root, "cpus");
    t.set_u32(cpus, "#address-cells", 1);
    t.set_u32(cpus, "#size-cells", 0);
    for i in 0..p.vcpus {
        let c = t.add(cpus, &format!("PowerPC,POWER9@{i:x}"));
        t.set_str(c, "device_type", "cpu");
        t.set_u32(c, "reg", i);
        t.set_u32(c, "cpu-version", p.cpu_version);
        t.set_u32(c, "d-cache-block-size", 128);
        t.set_u32(c, "d-cache-line-size", 128);
        t.set_u32(c, "i-cache-block-size", 128);
        t.set_u32(c, "i-cache-line-size", 128);
        t.set_u32(c, "d-cache-size", 0x8000);
        t.set_u32(c, "i-cache-size", 0x8000);
        t.set_u32(c, "timebase-frequency", ppc64::timebase::TB_FREQ as u32);
        t.set_u32(c, "clock-frequency", 1_000_000_000);
        t.set_u32(c, "slb-size", 32);
        t.set_u32(c, "ibm,slb-size", 32);
        t.set_str(c, "status", "okay");
        t.set_empty(c, "64-bit");
        t.set_u32(c, "ibm,purr", 1);
        t.set_u32(c, "ibm,spurr", 1);
        t.set(
            c,
            "ibm,processor-segment-sizes",
            cells(&[0x1c, 0x28, 0xffff_ffff, 0xffff_ffff]),
        );
        t.set_u32(c, "ibm,vmx", 2);
        t.set(
            c,
            "ibm,segment-page-sizes",
            cells(&[0x0c, 0x00, 0x01, 0x0c, 0x00, 0x10, 0x110, 0x01, 0x10, 0x01]),
        );
        t.set(c, "ibm,pa-features", cells(&PA_FEATURES));
        t.set_u32(c, "ibm,chip-id", 0);
        t.set(c, "ibm,pft-size", cells(&[0, 0x17]));
        t.set_u32(c, "ibm,ppc-interrupt-server#s", i);
        t.set(c, "ibm,ppc-interrupt-gserver#s", cells(&[i, 0]));
        t.set(
            c,
            "ibm,processor-radix-AP-encodings",
            cells(&[0x0c, 0xa000_0010, 0x2000_0015, 0x4000_001e]),
        );
        t.set_u32(c, "ibm,dec-bits", 56);
        t.set(c, "ibm,associativity", cells(&[5, 0, 0, 0, 0, i]));
    }

    // /vdevice
    let vdev = t.add(root, "vdevice");
    t.set_str(vdev, "device_type", "vdevice");
    t.set_str(vdev, "compatible", "IBM,vdevice");
    t.set_u32(vdev, "#address-cells", 1);
    t.set_u32(vdev, "#size-cells", 0);
    t.set_u32(vdev, "#interrupt-cells", 2);
    t.set_empty(vdev, "interrupt-controller");
    let vty = t.add(vdev, &format!("vty@{VTY_REG:x}"));
    t.set_u32(vty, "reg", VTY_REG);
    t.set_str(vty, "device_type", "serial");
    t.set_str(vty, "compatible", "hvterm1");

    if let Some(phb) = &p.phb {
        phb.add_to_tree(&mut t, root);
    }

    // hardware RNG (H_RANDOM)
    let rng = t.add(root, "ibm,random-v1");
    t.set_str(rng, "compatible", "ibm,random-v1");

    // /memory@0
    let mem = t.add(root, "memory@0");
    t.set_str(mem, "device_type", "memory");
    t.set(mem, "reg", cells64(&[0, p.ram_size]));
    t.set(mem, "ibm,associativity", cells(&[4, 0, 0, 0, 0]));

    // interrupt controller
    match p.intc {
        IntcNode::Xive => {
            if let Some(x) = &p.xive {
                let n = t.add(root, &format!("interrupt-controller@{:x}", x.unit_address));
                t.set_str(n, "device_type", x.device_type);
                t.set_str(n, "compatible", x.compatible);
                let reg: Vec<u64> = x.reg.iter().flat_map(|&(a, s)| [a, s]).collect();
                t.set(n, "reg", cells64(&reg));
                t.set(n, "ibm,xive-eq-sizes", cells(&x.eq_sizes));
                let l: Vec<u32> = x.lisn_ranges.iter().flat_map(|&(a, b)| [a, b]).collect();
                t.set(n, "ibm,xive-lisn-ranges", cells(&l));
                t.set_empty(n, "interrupt-controller");
                t.set_u32(n, "#interrupt-cells", x.interrupt_cells);
                t.set_u32(n, "linux,phandle", PHANDLE_INTC);
                t.set_u32(n, "phandle", PHANDLE_INTC);
            }
        }
        IntcNode::Xics => {
            if let Some(x) = &p.xics {
                let n = t.add(root, x.node_name);
                t.set_str(n, "device_type", x.device_type);
                t.set(n, "compatible", strings(x.compatible));
                t.set_empty(n, "interrupt-controller");
                t.set_u32(n, "#interrupt-cells", x.interrupt_cells);
                t.set(
                    n,
                    "ibm,interrupt-server-ranges",
                    cells(&x.interrupt_server_ranges),
                );
                t.set_u32(n, "linux,phandle", PHANDLE_INTC);
                t.set_u32(n, "phandle", PHANDLE_INTC);
            }
        }
    }
    t.assign_phandles();
    t
}
