//! ICS RTAS calls (xics.md §4): statuses, outputs, argument-count checks, Linux sequences.

mod common;

use common::{route, setup};
use hvapi::irq::IrqInjector;
use xics::{RtasStatus, XicsRtasCall};

const A: u32 = 0x1300;
const PE: RtasStatus = RtasStatus::ParameterError;

#[test]
fn names_tokens_and_arities() {
    let names: Vec<_> = XicsRtasCall::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["ibm,set-xive", "ibm,get-xive", "ibm,int-off", "ibm,int-on"]
    );
    for c in XicsRtasCall::ALL {
        assert_eq!(XicsRtasCall::from_name(c.name()), Some(c));
    }
    assert_eq!(XicsRtasCall::from_name("ibm,set-xive "), None);
    let tokens: Vec<_> = XicsRtasCall::ALL.iter().map(|c| c.qemu_token()).collect();
    assert_eq!(tokens, [0x200A, 0x200B, 0x200C, 0x200D]);
    assert_eq!(XicsRtasCall::SetXive.arity(), (3, 1));
    assert_eq!(XicsRtasCall::GetXive.arity(), (1, 3));
    assert_eq!(RtasStatus::ParameterError.cell(), 0xFFFF_FFFD);
}

#[test]
fn wrong_nargs_or_nret_is_a_parameter_error() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    for call in XicsRtasCall::ALL {
        let (na, nr) = call.arity();
        for (nargs, nret) in [
            (na + 1, nr),
            (na - 1, nr),
            (na, nr + 1),
            (na, nr - 1),
            (0, 0),
        ] {
            let args = vec![A, 0, 5, 0][..nargs].to_vec();
            let mut rets = vec![0x5555_5555u32; nret];
            assert_eq!(
                x.rtas_call(call, &args, &mut rets),
                PE,
                "{call:?} {nargs}/{nret}"
            );
            if nret > 0 {
                assert_eq!(rets[0], PE.cell());
            }
        }
    }
    // Nothing was changed by the refused calls.
    assert_eq!(x.rtas_get_xive(A), Ok((0, 5)));
}

#[test]
fn unclaimed_or_out_of_range_irq_is_a_parameter_error() {
    let (x, _) = setup(1);
    x.claim_irq(0x1001, false).unwrap();
    for irq in [0, 2, 16, 0xFFF, 0x1000, 0x1002, 0x2000, u32::MAX] {
        assert_eq!(x.rtas_set_xive(irq, 0, 5), Err(PE), "{irq:#x}");
        assert_eq!(x.rtas_get_xive(irq), Err(PE));
        assert_eq!(x.rtas_int_off(irq), Err(PE));
        assert_eq!(x.rtas_int_on(irq), Err(PE));
    }
}

#[test]
fn set_xive_checks_server_and_priority() {
    let (x, _) = setup(2);
    x.claim_irq(A, false).unwrap();
    x.disconnect_vcpu(1).unwrap();
    for server in [1, 2, u32::MAX] {
        assert_eq!(x.rtas_set_xive(A, server, 5), Err(PE), "server {server}");
    }
    for prio in [0x100, 0x1FF, u32::MAX] {
        assert_eq!(x.rtas_set_xive(A, 0, prio), Err(PE), "prio {prio:#x}");
    }
    assert_eq!(
        x.rtas_get_xive(A),
        Ok((0, 0xFF)),
        "failed calls changed nothing"
    );
    assert_eq!(x.rtas_set_xive(A, 0, 0xFF), Ok(()));
    assert_eq!(x.rtas_set_xive(A, 0, 0), Ok(()));
}

#[test]
fn get_xive_through_the_cell_interface() {
    let (x, _) = setup(2);
    route(&x, A, false, 1, 5);
    let mut rets = [0u32; 3];
    assert_eq!(
        x.rtas_call(XicsRtasCall::GetXive, &[A], &mut rets),
        RtasStatus::Success
    );
    assert_eq!(rets, [0, 1, 5]);
    let mut rets = [7u32; 1];
    assert_eq!(
        x.rtas_call(XicsRtasCall::SetXive, &[A, 0, 6], &mut rets),
        RtasStatus::Success
    );
    assert_eq!(rets, [0]);
    assert_eq!(x.rtas_get_xive(A), Ok((0, 6)));
}

#[test]
fn int_off_saves_the_current_priority_and_int_on_restores_it() {
    let (x, _) = setup(1);
    route(&x, A, false, 0, 5);
    x.rtas_int_off(A).unwrap();
    assert_eq!(x.rtas_get_xive(A), Ok((0, 0xFF)));
    x.rtas_int_on(A).unwrap();
    assert_eq!(x.rtas_get_xive(A), Ok((0, 5)));
    // int-off twice saves 0xFF the second time (as KVM and QEMU do).
    x.rtas_int_off(A).unwrap();
    x.rtas_int_off(A).unwrap();
    x.rtas_int_on(A).unwrap();
    assert_eq!(x.rtas_get_xive(A), Ok((0, 0xFF)));
}

#[test]
fn linux_mask_and_unmask_sequences() {
    let (x, sink) = setup(2);
    x.claim_irq(A, false).unwrap();
    // Startup: get-xive probe, set-xive(server, 5), int-on.
    assert_eq!(x.rtas_get_xive(A), Ok((0, 0xFF)));
    x.rtas_set_xive(A, 1, 5).unwrap();
    x.rtas_int_on(A).unwrap();
    assert_eq!(x.rtas_get_xive(A), Ok((1, 5)));
    // Mask: int-off, set-xive(default server, 0xFF).
    x.rtas_int_off(A).unwrap();
    x.rtas_set_xive(A, 0, 0xFF).unwrap();
    x.set_irq(A, true).unwrap();
    assert!(!sink.line(0) && !sink.line(1));
    // Unmask to server 1.
    x.rtas_set_xive(A, 1, 5).unwrap();
    x.rtas_int_on(A).unwrap();
    assert!(sink.line(1));
    assert_eq!(x.h_xirr(1).unwrap(), 0xFF00_1300);
    // Affinity change: get-xive for the priority, set-xive with the new server.
    let (_, prio) = x.rtas_get_xive(A).unwrap();
    x.rtas_set_xive(A, 0, u32::from(prio)).unwrap();
    x.h_eoi(1, 0xFF00_1300).unwrap();
    x.set_irq(A, true).unwrap();
    assert_eq!(x.h_xirr(0).unwrap(), 0xFF00_1300);
}

#[test]
fn set_xive_delivers_a_refused_interrupt_to_its_new_server() {
    let (x, sink) = setup(2);
    route(&x, A, false, 0, 5);
    x.h_cppr(0, 0).unwrap();
    x.set_irq(A, true).unwrap(); // refused by server 0
    x.rtas_set_xive(A, 1, 5).unwrap();
    assert!(sink.line(1));
    assert_eq!(x.h_xirr(1).unwrap(), 0xFF00_1300);
    x.h_cppr(0, 0xFF).unwrap();
    assert_eq!(x.h_xirr(0).unwrap(), 0xFF00_0000, "not delivered twice");
}
