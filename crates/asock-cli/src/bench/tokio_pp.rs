//! P1 / P3 on tokio (multi-thread with 2 workers, and current-thread), and P1's blocking
//! baselines: a std thread per end, and the one-thread limit (both ends on one thread).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::measure::{message, std_pairs, Sample, Window, MSG};
use super::Ctx;

fn pingpong(
    rt: &tokio::runtime::Runtime,
    connections: usize,
    dur: Duration,
) -> Result<Sample, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections {
            let c = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            let (mut s, _) = l.accept().await.map_err(|e| e.to_string())?;
            c.set_nodelay(true).map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
            clients.push(c);
        }
        let window = Window::start();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut buf = [0u8; MSG];
                    let mut n = 0u64;
                    while !stop.load(Relaxed) {
                        let m = message(n);
                        c.write_all(&m).await.map_err(|e| e.to_string())?;
                        c.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                        if buf != m {
                            return Err("echo differs".to_string());
                        }
                        n += 1;
                    }
                    Ok::<u64, String>(n)
                })
            })
            .collect();
        tokio::time::sleep(dur).await;
        stop.store(true, Relaxed);
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())??;
        }
        Ok(Sample::round_trips(total, window.finish()))
    })
}

pub fn p1_mt(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(&ctx.tokio_mt, 1, ctx.duration)
}

pub fn p1_ct(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(&ctx.tokio_ct, 1, ctx.duration)
}

pub fn p3(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(&ctx.tokio_mt, ctx.connections, ctx.duration)
}

/// A blocking thread per end: every round trip pays two cross-thread wake-ups.
pub fn p1_std_threads(ctx: &Ctx) -> Result<Sample, String> {
    let (mut c, mut s) = std_pairs(1)?.pop().ok_or("no connection")?;
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; MSG];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Barrier::new(2));
    let (st, g) = (Arc::clone(&stop), Arc::clone(&go));
    let client = std::thread::spawn(move || -> Result<u64, String> {
        let mut buf = [0u8; MSG];
        let mut n = 0u64;
        g.wait();
        while !st.load(Relaxed) {
            let m = message(n);
            c.write_all(&m).map_err(|e| e.to_string())?;
            c.read_exact(&mut buf).map_err(|e| e.to_string())?;
            if buf != m {
                return Err("echo differs".into());
            }
            n += 1;
        }
        Ok(n)
    });
    let window = Window::start();
    go.wait();
    std::thread::sleep(ctx.duration);
    stop.store(true, Relaxed);
    let n = client.join().map_err(|_| "client thread panicked")??;
    let m = window.finish();
    let _ = server.join();
    Ok(Sample::round_trips(n, m))
}

/// The limit: one thread drives both ends with blocking calls (no wake-ups, pure syscalls).
pub fn p1_limit(ctx: &Ctx) -> Result<Sample, String> {
    let (mut c, mut s) = std_pairs(1)?.pop().ok_or("no connection")?;
    let mut buf = [0u8; MSG];
    let window = Window::start();
    let started = std::time::Instant::now();
    let mut n = 0u64;
    while started.elapsed() < ctx.duration {
        let m = message(n);
        c.write_all(&m).map_err(|e| e.to_string())?;
        s.read_exact(&mut buf).map_err(|e| e.to_string())?;
        s.write_all(&buf).map_err(|e| e.to_string())?;
        c.read_exact(&mut buf).map_err(|e| e.to_string())?;
        if buf != m {
            return Err("echo differs".into());
        }
        n += 1;
    }
    Ok(Sample::round_trips(n, window.finish()))
}
