//! irqfds: registration, route caching, resamplers and the epoll worker.

use std::collections::HashMap;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use vmm_sys_util::epoll::{ControlOperation, EpollEvent, EventSet};
use vmm_sys_util::eventfd::EventFd;

use crate::error::IrqfdError;
use crate::fdid::{self, FdIdentity};
use crate::router::{Core, Outcome, WAKE_TOKEN, lock};
use crate::table::{Route, Table};

/// An irqfd's view of its GSI's routes (§3.3): one route is used directly; none means the
/// signal is consumed and does nothing; several go through the table on each signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteCache {
    Empty,
    Single(Route),
    Multi,
}

impl RouteCache {
    fn compute(table: &Table, gsi: u32) -> RouteCache {
        match table.routes(gsi).as_slice() {
            [] => RouteCache::Empty,
            [one] => RouteCache::Single(*one),
            _ => RouteCache::Multi,
        }
    }
}

/// Mutable part of an irqfd, locked by the worker for the whole of one injection, so that
/// deassign (which clears `active` under the same lock) returns only once no injection from
/// this irqfd can still be in flight.
#[derive(Debug)]
pub(crate) struct IrqfdState {
    pub(crate) active: bool,
    pub(crate) cache: RouteCache,
}

/// One assigned irqfd.
#[derive(Debug)]
pub(crate) struct Irqfd {
    pub(crate) id: u64,
    pub(crate) gsi: u32,
    pub(crate) fd: EventFd,
    pub(crate) identity: FdIdentity,
    pub(crate) resample: Option<Arc<EventFd>>,
    pub(crate) state: Mutex<IrqfdState>,
}

impl Irqfd {
    pub(crate) fn recache(&self, table: &Table) {
        lock(&self.state).cache = RouteCache::compute(table, self.gsi);
    }
}

/// All resample irqfds of one GSI share one resampler (§3.4).
#[derive(Debug)]
pub(crate) struct Resampler {
    /// (irqfd id, resample eventfd) of every member.
    pub(crate) fds: Vec<(u64, Arc<EventFd>)>,
}

pub(crate) fn assign(
    core: &Core,
    fd: EventFd,
    gsi: u32,
    resample: Option<EventFd>,
) -> Result<(), IrqfdError> {
    let _g = lock(&core.control);
    let identity = fdid::probe(fd.as_raw_fd())?;
    if let Some(r) = &resample {
        let rid = fdid::probe(r.as_raw_fd())?;
        if fdid::same(fd.as_raw_fd(), identity, r.as_raw_fd(), rid) {
            return Err(IrqfdError::ResampleSameFd);
        }
    }
    {
        let irqfds = core.irqfds.read().unwrap_or_else(|p| p.into_inner());
        for other in irqfds.values() {
            if fdid::same(
                other.fd.as_raw_fd(),
                other.identity,
                fd.as_raw_fd(),
                identity,
            ) {
                return Err(IrqfdError::Busy(other.gsi));
            }
        }
    }
    let table = core.table.load();
    if resample.is_some()
        && !table
            .routes(gsi)
            .as_slice()
            .iter()
            .any(|r| matches!(r, Route::Irqchip { .. }))
    {
        return Err(IrqfdError::ResampleNeedsIrqchip(gsi));
    }
    fdid::set_nonblocking(fd.as_raw_fd())?;
    if let Some(r) = &resample {
        fdid::set_nonblocking(r.as_raw_fd())?;
    }

    let id = core.next_id.fetch_add(1, Ordering::Relaxed);
    let resample = resample.map(Arc::new);
    let raw = fd.as_raw_fd();
    let irqfd = Arc::new(Irqfd {
        id,
        gsi,
        fd,
        identity,
        resample: resample.clone(),
        state: Mutex::new(IrqfdState {
            active: true,
            cache: RouteCache::compute(&table, gsi),
        }),
    });
    core.irqfds
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, irqfd);
    if let Some(rfd) = &resample {
        let mut map: HashMap<u32, Arc<Resampler>> = (**core.resamplers.load()).clone();
        let mut fds = map.get(&gsi).map(|r| r.fds.clone()).unwrap_or_default();
        fds.push((id, rfd.clone()));
        map.insert(gsi, Arc::new(Resampler { fds }));
        core.resamplers.store(Arc::new(map));
    }
    // Level-triggered: a count already pending is seen by the worker at once.
    if let Err(e) = core.epoll.ctl(
        ControlOperation::Add,
        raw,
        EpollEvent::new(EventSet::IN, id),
    ) {
        remove(core, id);
        return Err(IrqfdError::Io(e));
    }
    Ok(())
}

/// Unregister irqfd `id` (the caller holds the control lock). Returns it if it existed.
fn remove(core: &Core, id: u64) -> Option<Arc<Irqfd>> {
    let irqfd = core
        .irqfds
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)?;
    let _ = core.epoll.ctl(
        ControlOperation::Delete,
        irqfd.fd.as_raw_fd(),
        EpollEvent::default(),
    );
    // After this, the worker cannot inject from this irqfd any more.
    lock(&irqfd.state).active = false;
    if irqfd.resample.is_some() {
        let mut map: HashMap<u32, Arc<Resampler>> = (**core.resamplers.load()).clone();
        let mut last = false;
        if let Some(r) = map.get(&irqfd.gsi) {
            let fds: Vec<_> = r.fds.iter().filter(|(i, _)| *i != id).cloned().collect();
            if fds.is_empty() {
                map.remove(&irqfd.gsi);
                last = true;
            } else {
                map.insert(irqfd.gsi, Arc::new(Resampler { fds }));
            }
        }
        core.resamplers.store(Arc::new(map));
        if last {
            // The resampler goes away with its last irqfd, lowering the line it held.
            let table = core.table.load();
            let _ = core.set_irq_in(&table, irqfd.gsi, false);
        }
    }
    Some(irqfd)
}

pub(crate) fn deassign(core: &Core, fd: RawFd, gsi: u32) -> Result<(), IrqfdError> {
    let _g = lock(&core.control);
    let identity = fdid::probe(fd)?;
    let found = {
        let irqfds = core.irqfds.read().unwrap_or_else(|p| p.into_inner());
        irqfds
            .values()
            .find(|i| i.gsi == gsi && fdid::same(i.fd.as_raw_fd(), i.identity, fd, identity))
            .map(|i| i.id)
    };
    match found {
        Some(id) => {
            remove(core, id);
            Ok(())
        }
        None => Err(IrqfdError::NotFound(gsi)),
    }
}

/// Consume one irqfd signal and inject (§3.2).
fn fire(core: &Core, irqfd: &Irqfd) {
    let state = lock(&irqfd.state);
    if !state.active {
        return;
    }
    // Non-blocking read of the whole counter: several writes coalesce into one injection.
    if irqfd.fd.read().is_err() {
        return;
    }
    core.stats.irqfd_signals.fetch_add(1, Ordering::Relaxed);
    let hold = irqfd.resample.is_some();
    let failed = match state.cache {
        RouteCache::Empty => false,
        RouteCache::Single(route) => {
            let backend = core.backend.load();
            let r = core.deliver(&backend, &route, true);
            if !hold {
                core.deliver(&backend, &route, false);
            }
            matches!(r, Outcome::Failed(_))
        }
        RouteCache::Multi => {
            let table = core.table.load();
            let r = core.set_irq_in(&table, irqfd.gsi, true);
            if !hold {
                let _ = core.set_irq_in(&table, irqfd.gsi, false);
            }
            r.is_err()
        }
    };
    if failed {
        core.stats.irqfd_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// The worker thread's body: wait on every irqfd and the wake eventfd with epoll.
pub(crate) fn run_worker(core: Arc<Core>) {
    let mut events = vec![EpollEvent::default(); 64];
    loop {
        let n = match core.epoll.wait(-1, &mut events) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        for ev in events.iter().take(n) {
            let token = ev.data();
            if token == WAKE_TOKEN {
                let _ = core.wake.read();
                if core.stop.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
            let irqfd = core
                .irqfds
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&token)
                .cloned();
            if let Some(irqfd) = irqfd {
                fire(&core, &irqfd);
            }
        }
    }
}
