//! P4: memory per idle socket, each with one pending 64 B receive: the user-space heap the
//! library holds for it (the kernel's socket memory is the same for every system).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asock::AsyncSocket;

use super::asock_pp::transport_pairs;
use super::measure::{std_pairs, Sample, MSG};
use super::Ctx;

pub fn asock(ctx: &Ctx) -> Result<Sample, String> {
    let n = ctx.idle_sockets;
    let pairs = transport_pairs(n)?;
    let before = crate::heap_bytes();
    let mut sockets = Vec::with_capacity(n);
    let pending = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    for (c, s) in pairs {
        let a = AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?;
        a.open(s).map_err(|e| e.to_string())?;
        let p = Arc::clone(&pending);
        a.receive(vec![vec![0u8; MSG]], move |_r, _n, _b| {
            p.fetch_sub(1, Relaxed);
        })
        .map_err(|e| e.to_string())?;
        pending.fetch_add(1, Relaxed);
        sockets.push(a);
        clients.push(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = crate::heap_bytes();
    let open = sockets
        .iter()
        .filter(|s| s.state() == asock::SocketState::Open)
        .count();
    drop(sockets); // closes: every pending receive completes ABANDONED
    if open != n || pending.load(Relaxed) != 0 {
        return Err(format!(
            "{open} of {n} sockets stayed open; {} receives never completed",
            pending.load(Relaxed)
        ));
    }
    drop(clients);
    Ok(Sample::per_socket(
        (after - before) as f64 / n as f64,
        n as u64,
    ))
}

pub fn tokio(ctx: &Ctx) -> Result<Sample, String> {
    use tokio::io::AsyncReadExt;
    let n = ctx.idle_sockets;
    let pairs = std_pairs(n)?;
    let before = crate::heap_bytes();
    let polled = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    {
        let _guard = ctx.tokio_mt.enter();
        for (c, s) in pairs {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            let s = tokio::net::TcpStream::from_std(s).map_err(|e| e.to_string())?;
            let p = Arc::clone(&polled);
            tasks.push(ctx.tokio_mt.spawn(async move {
                let mut s = s;
                let mut buf = [0u8; MSG];
                p.fetch_add(1, Relaxed);
                let _ = s.read(&mut buf).await;
            }));
            clients.push(c);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while polled.load(Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = crate::heap_bytes();
    let waiting = polled.load(Relaxed);
    drop(clients); // each read returns 0: the tasks end
    ctx.tokio_mt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    if waiting != n {
        return Err(format!("only {waiting} of {n} tasks started"));
    }
    Ok(Sample::per_socket(
        (after - before) as f64 / n as f64,
        n as u64,
    ))
}
