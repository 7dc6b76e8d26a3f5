//! The ping-pong of the thread-per-core peers (compio, monoio), written once over their
//! owned-buffer ("rent") I/O: the buffers move into each read and write and come back, so the
//! benchmark's code allocates nothing per round trip. Each peer implements [`RentStream`] and
//! runs one single-thread runtime per thread with both ends of its share of the connections.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use super::measure::{message, on_threads, std_pairs, GatePass, Sample, MSG};
use super::Ctx;

/// A connected stream of a peer runtime, reading and writing owned buffers.
pub trait RentStream: Sized {
    /// Reads exactly `buf.len()` bytes into `buf`.
    async fn read_exact(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>);
    /// Writes all of `buf`.
    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>);
}

/// The server end: echoes every message until the connection ends.
pub async fn echo<S: RentStream>(mut s: S) {
    let mut buf = vec![0u8; MSG];
    loop {
        let (r, b) = s.read_exact(buf).await;
        if r.is_err() {
            return;
        }
        let (r, b) = s.write_all(b).await;
        if r.is_err() {
            return;
        }
        buf = b;
    }
}

/// The client end: round trips until `stop`, every echo compared with what was sent.
pub async fn ping<S: RentStream>(mut c: S, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let (mut out, mut back) = (vec![0u8; MSG], vec![0u8; MSG]);
    let mut n = 0u64;
    while !stop.load(Relaxed) {
        let m = message(n);
        out.copy_from_slice(&m);
        let (r, o) = c.write_all(out).await;
        r.map_err(|e| e.to_string())?;
        out = o;
        let (r, b) = c.read_exact(back).await;
        r.map_err(|e| e.to_string())?;
        if b[..] != m[..] {
            return Err("echo differs".into());
        }
        back = b;
        n += 1;
    }
    Ok(n)
}

/// What one runtime thread gets: its connections (client, server), its gate, the stop flag.
pub type RuntimeFn = fn(Vec<(std::net::TcpStream, std::net::TcpStream)>, GatePass, Arc<AtomicBool>);

/// `connections` connections over `threads` runtime threads, each running `runtime`.
pub fn pingpong(
    ctx: &Ctx,
    connections: usize,
    threads: usize,
    runtime: RuntimeFn,
) -> Result<Sample, String> {
    let pairs = std_pairs(connections)?;
    for (c, s) in &pairs {
        c.set_nonblocking(true).map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    on_threads(pairs, threads, ctx.duration, runtime)
}
