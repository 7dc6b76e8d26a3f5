//! P1 / P3 on compio, as it is meant to be used: thread per core, each thread a single-thread
//! runtime (io_uring driver; its polling driver where io_uring is refused) driving both ends of
//! its share of the connections (P1: one runtime; P3: two, half the connections each), with the
//! ping-pong of `rent.rs`.

use std::io;
use std::net::TcpStream as StdStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::TcpStream;
use compio::BufResult;

use super::measure::{GatePass, Sample};
use super::rent::{echo, ping, pingpong, RentStream};
use super::Ctx;

impl RentStream for TcpStream {
    async fn read_exact(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let BufResult(r, b) = AsyncReadExt::read_exact(self, buf).await;
        (r, b)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let BufResult(r, b) = AsyncWriteExt::write_all(self, buf).await;
        (r, b)
    }
}

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

pub fn p1(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(ctx, 1, 1, runtime)
}

pub fn p3(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(ctx, ctx.connections, 2, runtime)
}
