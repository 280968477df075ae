//! `ppc64-user [--timeout SECONDS] [--count] <elf> [args...]`: runs a static ppc64le
//! program on the papr-hv CPU, passing its output through, and exits with its exit code
//! (128 + signal number if it died of a signal, 124 on timeout).

use std::process::ExitCode;
use std::time::Duration;

use ppc64_user::{Options, Status, run_elf};

fn usage() -> ExitCode {
    eprintln!("usage: ppc64-user [--timeout SECONDS] [--count] <elf> [args...]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Options {
        echo: true,
        ..Options::default()
    };
    while let Some(a) = args.first().cloned() {
        match a.as_str() {
            "--timeout" if args.len() >= 2 => {
                let Ok(s) = args[1].parse::<f64>() else {
                    return usage();
                };
                opts.timeout = Some(Duration::from_secs_f64(s.max(0.0)));
                args.drain(..2);
            }
            "--count" => {
                opts.count_instructions = true;
                args.remove(0);
            }
            _ => break,
        }
    }
    if args.is_empty() {
        return usage();
    }
    let elf = match std::fs::read(&args[0]) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ppc64-user: {}: {e}", args[0]);
            return ExitCode::from(2);
        }
    };
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    match run_elf(&elf, &argv, opts) {
        Ok(o) => {
            if let Some(n) = o.instructions {
                eprintln!("ppc64-user: {n} instructions executed");
            }
            match o.status {
                Status::Signaled { signal, pc } => {
                    eprintln!("ppc64-user: killed by signal {signal} at {pc:#x}");
                }
                Status::TimedOut => eprintln!("ppc64-user: timed out"),
                Status::Exited(_) => {}
            }
            ExitCode::from(o.exit_code() as u8)
        }
        Err(e) => {
            eprintln!("ppc64-user: {e}");
            ExitCode::from(2)
        }
    }
}
