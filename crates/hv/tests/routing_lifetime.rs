//! The irqfd worker's lifetime: no thread until the first irqfd, one while irqfds may be
//! assigned, none once the VM (its `Vm` handles and its vCPUs) is dropped. Alone in its test
//! binary so that the process's thread list only holds this test's threads.

use hv::routing::EventFd;

mod common;

/// Waits (bounded: 20 s) until `n` worker threads are listed: a new thread names itself
/// after `spawn` returns, and a joined thread may stay listed a moment while it exits.
fn workers_become(n: usize) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < end {
        if workers() == n {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

/// Threads of this process named like the router's worker.
fn workers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim_end() == "irqfd-worker")
        .count()
}

#[test]
fn worker_starts_with_the_first_irqfd_and_stops_with_the_vm() {
    for _ in 0..2 {
        let (vm, vcpus) = common::vm(2);
        assert_eq!(workers(), 0, "no worker before an irqfd");
        assert!(!vm.router().worker_running());
        let fd = EventFd::new(0).unwrap();
        let dev = fd.try_clone().unwrap();
        vm.irqfd_assign(fd, 0x1100, None).unwrap();
        assert!(vm.router().worker_running());
        assert!(workers_become(1));
        // More irqfds share the one worker; deassigning all keeps it (cheap, idle).
        let fd2 = EventFd::new(0).unwrap();
        vm.irqfd_assign(fd2.try_clone().unwrap(), 0x1101, None)
            .unwrap();
        assert_eq!(workers(), 1);
        vm.irqfd_deassign(&dev, 0x1100).unwrap();
        // The VM lives while any handle does: a clone and the vCPUs.
        let other = vm.clone();
        drop(vm);
        assert!(other.router().worker_running());
        drop(vcpus);
        assert_eq!(workers(), 1);
        drop(other);
        // The last handle joined the worker before returning.
        assert!(workers_become(0), "the worker stops when the VM is dropped");
    }
}
