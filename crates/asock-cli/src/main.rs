//! `asock`: a loopback echo server and client, and `asock bench`, which runs the benchmark
//! scenarios P1-P4 for asock beside tokio and the syscall limit in one invocation.

mod args;
mod bench;
mod echo;
mod report;

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting live heap bytes: P4 measures memory per socket with it
/// (exact, unlike RSS, which the allocator's reuse of freed pages blurs).
struct CountingAlloc;

static LIVE_HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is only
// bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_HEAP.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Live heap bytes of the whole process.
pub fn heap_bytes() -> isize {
    LIVE_HEAP.load(Ordering::Relaxed)
}

const USAGE: &str = "\
usage:
  asock echo-server [--listen ADDR] [--max-connections N]
  asock echo-client ADDR [--messages N] [--size BYTES]
  asock bench [--quick] [--scenario P1,P2,P3,P4] [--rounds N] [--duration SECS]
              [--connections N] [--idle-sockets N] [--only SYSTEM,..] [--backend epoll|uring|auto|both]
              [--json FILE] [--svg FILE]

bench runs every system of each scenario in the same process, interleaved over the rounds,
and prints the median per system with its ratio to tokio (and, for P1, to the one-thread limit).";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("echo-server") => args::Args::parse(&argv[1..]).and_then(echo::server),
        Some("echo-client") => args::Args::parse(&argv[1..]).and_then(echo::client),
        Some("bench") => args::Args::parse(&argv[1..]).and_then(bench::run),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("unknown or missing command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asock: {e}");
            ExitCode::FAILURE
        }
    }
}
