//! Facts for the device tree: the `/interrupt-controller` node (QEMU's `spapr_dt_xics`) and
//! the XICS properties of CPU nodes. The machine writes the nodes.

use crate::{Xics, XicsRtasCall};

/// Values of the `/interrupt-controller` node that presents XICS to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XicsDtInfo {
    /// Node name (no unit address): `"interrupt-controller"`.
    pub node_name: &'static str,
    /// `device_type`: `"PowerPC-External-Interrupt-Presentation"`.
    pub device_type: &'static str,
    /// `compatible` string list: `["IBM,ppc-xicp"]` as QEMU writes it (Linux matches
    /// `ibm,ppc-xicp` case-insensitively and falls back to `device_type`).
    pub compatible: &'static [&'static str],
    /// `ibm,interrupt-server-ranges`: `<first count>` = `<0 nr_servers>`.
    pub interrupt_server_ranges: [u32; 2],
    /// `#interrupt-cells`: 2 (`<irq sense>`, sense bit 0 set = level).
    pub interrupt_cells: u32,
    /// Suggested `phandle` / `linux,phandle` (QEMU uses 0x1111).
    pub phandle: u32,
    /// The node also carries an empty `interrupt-controller` property.
    pub interrupt_controller: bool,
    /// RTAS service names the machine must give tokens in `/rtas` (Linux finds the ICS
    /// through them; the ICS has no node of its own).
    pub rtas_calls: [&'static str; 4],
}

/// XICS properties of one CPU (core) node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XicsCpuDt {
    /// `ibm,ppc-interrupt-server#s`: one server number per hardware thread.
    pub server_nums: Vec<u32>,
    /// `ibm,ppc-interrupt-gserver#s`: `<server 0>` pairs, one per thread.
    pub gserver_nums: Vec<u32>,
}

/// Interrupt sense cell value for a level-sensitive source.
pub const DT_SENSE_LEVEL: u32 = 1;
/// Interrupt sense cell value for an edge (MSI) source.
pub const DT_SENSE_EDGE: u32 = 0;

impl Xics {
    /// The `/interrupt-controller` node values for the current `NR_SERVERS`.
    pub fn dt_info(&self) -> XicsDtInfo {
        XicsDtInfo {
            node_name: "interrupt-controller",
            device_type: "PowerPC-External-Interrupt-Presentation",
            compatible: &["IBM,ppc-xicp"],
            interrupt_server_ranges: [0, self.nr_servers()],
            interrupt_cells: 2,
            phandle: 0x1111,
            interrupt_controller: true,
            rtas_calls: XicsRtasCall::ALL.map(XicsRtasCall::name),
        }
    }

    /// CPU-node properties for a core whose first thread is server `first_server` and that
    /// has `threads` hardware threads (servers `first_server ..`).
    pub fn cpu_dt(first_server: u32, threads: u32) -> XicsCpuDt {
        let servers = (0..threads).filter_map(|t| first_server.checked_add(t));
        XicsCpuDt {
            server_nums: servers.clone().collect(),
            gserver_nums: servers.flat_map(|s| [s, 0]).collect(),
        }
    }

    /// The two-cell interrupt specifier `<irq sense>` of `irq` for device nodes, if claimed.
    pub fn dt_interrupt_spec(&self, irq: u32) -> Option<[u32; 2]> {
        self.irq_kind(irq)
            .map(|lsi| [irq, if lsi { DT_SENSE_LEVEL } else { DT_SENSE_EDGE }])
    }
}
