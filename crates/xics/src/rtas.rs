//! The ICS RTAS calls: `ibm,set-xive`, `ibm,get-xive`, `ibm,int-off`, `ibm,int-on`.
//!
//! The machine parses the RTAS argument block (token, nargs, nret, 32-bit cells) and calls
//! either the typed methods or [`Xics::rtas_call`], which also checks nargs/nret and fills
//! the return cells (status first).

use crate::ics::{F_CLAIMED, F_MASKED_PENDING, F_RESEND, Source};
use crate::{MASKED, Xics};

/// RTAS status codes used by the ICS calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum RtasStatus {
    /// 0: success.
    Success = 0,
    /// −3: parameter error (bad nargs/nret, irq not owned, unknown server, priority > 0xFF).
    ParameterError = -3,
}

impl RtasStatus {
    /// The status as the signed value RTAS defines.
    pub fn code(self) -> i32 {
        self as i32
    }
    /// The status as a 32-bit return cell.
    pub fn cell(self) -> u32 {
        self.code() as u32
    }
}

/// The four ICS RTAS services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XicsRtasCall {
    /// `ibm,set-xive` (3 args: irq, server, priority / 1 ret).
    SetXive,
    /// `ibm,get-xive` (1 arg: irq / 3 rets: status, server, priority).
    GetXive,
    /// `ibm,int-off` (1 arg: irq / 1 ret).
    IntOff,
    /// `ibm,int-on` (1 arg: irq / 1 ret).
    IntOn,
}

impl XicsRtasCall {
    /// All four calls, in QEMU's token order (0x200A..0x200D).
    pub const ALL: [XicsRtasCall; 4] = [
        XicsRtasCall::SetXive,
        XicsRtasCall::GetXive,
        XicsRtasCall::IntOff,
        XicsRtasCall::IntOn,
    ];

    /// The RTAS service name (the `/rtas` property naming its token).
    pub fn name(self) -> &'static str {
        match self {
            XicsRtasCall::SetXive => "ibm,set-xive",
            XicsRtasCall::GetXive => "ibm,get-xive",
            XicsRtasCall::IntOff => "ibm,int-off",
            XicsRtasCall::IntOn => "ibm,int-on",
        }
    }

    /// The call named `name`, if it is one of the four.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// QEMU's token for this call.
    pub fn qemu_token(self) -> u32 {
        match self {
            XicsRtasCall::SetXive => 0x200A,
            XicsRtasCall::GetXive => 0x200B,
            XicsRtasCall::IntOff => 0x200C,
            XicsRtasCall::IntOn => 0x200D,
        }
    }

    /// `(nargs, nret)` the call requires.
    pub fn arity(self) -> (usize, usize) {
        match self {
            XicsRtasCall::SetXive => (3, 1),
            XicsRtasCall::GetXive => (1, 3),
            XicsRtasCall::IntOff | XicsRtasCall::IntOn => (1, 1),
        }
    }
}

impl Xics {
    /// Run one ICS RTAS call with the argument cells `args` (nargs = `args.len()`) and fill
    /// `rets` (nret = `rets.len()`): `rets[0]` = status, then the outputs. Wrong nargs/nret
    /// give −3 (written to `rets[0]` when there is room). Returns the status.
    pub fn rtas_call(&self, call: XicsRtasCall, args: &[u32], rets: &mut [u32]) -> RtasStatus {
        let status = if (args.len(), rets.len()) != call.arity() {
            Err(RtasStatus::ParameterError)
        } else {
            match call {
                XicsRtasCall::SetXive => self.rtas_set_xive(args[0], args[1], args[2]),
                XicsRtasCall::GetXive => self.rtas_get_xive(args[0]).map(|(server, prio)| {
                    rets[1] = server;
                    rets[2] = u32::from(prio);
                }),
                XicsRtasCall::IntOff => self.rtas_int_off(args[0]),
                XicsRtasCall::IntOn => self.rtas_int_on(args[0]),
            }
        };
        let status = status.err().unwrap_or(RtasStatus::Success);
        if let Some(r0) = rets.first_mut() {
            *r0 = status.cell();
        }
        status
    }

    /// `ibm,set-xive`: route `irq` to `server` at `priority` (0xFF masks); the saved
    /// priority follows. A pending (masked or refused) occurrence is delivered now if the new
    /// priority is not 0xFF. −3 if `irq` is not claimed, `server` is not connected or
    /// `priority > 0xFF`.
    pub fn rtas_set_xive(&self, irq: u32, server: u32, priority: u32) -> Result<(), RtasStatus> {
        let prio = u8::try_from(priority).map_err(|_| RtasStatus::ParameterError)?;
        if !self.is_connected(server) {
            return Err(RtasStatus::ParameterError);
        }
        self.write_xive(irq, |s| {
            s.server = server;
            s.priority = prio;
            s.saved_priority = prio;
        })
    }

    /// `ibm,get-xive`: `(server, current priority)` of `irq`. −3 if not claimed.
    pub fn rtas_get_xive(&self, irq: u32) -> Result<(u32, u8), RtasStatus> {
        let (_, m) = self.ics.source(irq).ok_or(RtasStatus::ParameterError)?;
        let s = m.lock();
        if !s.has(F_CLAIMED) {
            return Err(RtasStatus::ParameterError);
        }
        Ok((s.server, s.priority))
    }

    /// `ibm,int-off`: saved priority ← current priority, priority ← 0xFF. −3 if not claimed.
    pub fn rtas_int_off(&self, irq: u32) -> Result<(), RtasStatus> {
        self.write_xive(irq, |s| {
            s.saved_priority = s.priority;
            s.priority = MASKED;
        })
    }

    /// `ibm,int-on`: priority ← saved priority; a pending occurrence is delivered if that
    /// unmasks the source. −3 if not claimed.
    pub fn rtas_int_on(&self, irq: u32) -> Result<(), RtasStatus> {
        self.write_xive(irq, |s| s.priority = s.saved_priority)
    }

    /// Apply `f` to claimed source `irq` and deliver a kept occurrence if it is now unmasked.
    fn write_xive(&self, irq: u32, f: impl FnOnce(&mut Source)) -> Result<(), RtasStatus> {
        let (block, m) = self.ics.source(irq).ok_or(RtasStatus::ParameterError)?;
        let mut s = m.lock();
        if !s.has(F_CLAIMED) {
            return Err(RtasStatus::ParameterError);
        }
        f(&mut s);
        let displaced = if s.priority != MASKED && s.has(F_MASKED_PENDING | F_RESEND) {
            s.clear(F_MASKED_PENDING | F_RESEND);
            self.deliver_locked(irq, block, &mut s)
        } else {
            None
        };
        drop(s);
        self.redeliver(displaced);
        Ok(())
    }
}
