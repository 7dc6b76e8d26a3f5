//! P1 / P3 on compio, as it is meant to be used: thread per core, each thread a single-thread
//! runtime (io_uring driver, its polling driver where io_uring is refused) driving both ends of
//! its share of the connections. The same checked work as every system: 64 B each way, every
//! echo compared with what was sent, no allocation per round trip in the benchmark's code
//! (the buffers move into each operation and come back).

use std::net::TcpStream as StdStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::TcpStream;
use compio::BufResult;

use super::measure::{message, on_threads, std_pairs, GatePass, Sample, MSG};
use super::Ctx;

/// Which driver compio's runtime uses here ("io_uring" or "polling").
pub fn driver() -> String {
    match compio::runtime::Runtime::new() {
        Ok(rt) => match rt.driver_type() {
            compio::driver::DriverType::IoUring => "io_uring".into(),
            compio::driver::DriverType::Poll => "polling".into(),
            other => format!("{other:?}"),
        },
        Err(e) => format!("unavailable: {e}"),
    }
}

async fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; MSG];
    loop {
        let BufResult(r, b) = s.read_exact(buf).await;
        if r.is_err() {
            return;
        }
        let BufResult(r, b) = s.write_all(b).await;
        if r.is_err() {
            return;
        }
        buf = b;
    }
}

async fn ping(mut c: TcpStream, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let (mut out, mut back) = (vec![0u8; MSG], vec![0u8; MSG]);
    let mut n = 0u64;
    while !stop.load(Relaxed) {
        let m = message(n);
        out.copy_from_slice(&m);
        let BufResult(r, o) = c.write_all(out).await;
        r.map_err(|e| e.to_string())?;
        out = o;
        let BufResult(r, b) = c.read_exact(back).await;
        r.map_err(|e| e.to_string())?;
        if b[..] != m[..] {
            return Err("echo differs".into());
        }
        back = b;
        n += 1;
    }
    Ok(n)
}

/// One runtime thread: both ends of `pairs`.
fn runtime(pairs: Vec<(StdStream, StdStream)>, mut gate: GatePass, stop: Arc<AtomicBool>) {
    let rt = match compio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return gate.report(Err(format!("compio runtime: {e}"))),
    };
    let result = rt.block_on(async {
        let mut clients = Vec::with_capacity(pairs.len());
        for (c, s) in pairs {
            let s = TcpStream::from_std(s).map_err(|e| e.to_string())?;
            compio::runtime::spawn(echo(s)).detach();
            clients.push(TcpStream::from_std(c).map_err(|e| e.to_string())?);
        }
        gate.pass();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|c| compio::runtime::spawn(ping(c, Arc::clone(&stop))))
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|_| "a client task panicked")??;
        }
        Ok(total)
    });
    gate.report(result);
}

/// `connections` connections over `threads` runtimes.
fn pingpong(ctx: &Ctx, connections: usize, threads: usize) -> Result<Sample, String> {
    on_threads(std_pairs(connections)?, threads, ctx.duration, runtime)
}

pub fn p1(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(ctx, 1, 1)
}

pub fn p3(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(ctx, ctx.connections, 2)
}
