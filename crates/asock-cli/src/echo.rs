//! `asock echo-server` and `asock echo-client`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use asock::{AsyncSocket, ExecutionEngine, ReceiveResult, SendResult, SocketTransport};

use crate::args::{EchoClientArgs, EchoServerArgs};

/// Echoes everything `socket` receives until the peer goes away; connection `id` in the log.
fn echo_loop(socket: Arc<AsyncSocket>, id: u64, live: Arc<AtomicUsize>) {
    let s = Arc::clone(&socket);
    let posted = socket.receive(vec![vec![0u8; 16 * 1024]], move |r, n, mut bufs| {
        if r != ReceiveResult::Ok {
            match r {
                ReceiveResult::Abandoned => println!("connection {id}: peer closed"),
                r => println!("connection {id}: receive failed ({r:?})"),
            }
            live.fetch_sub(1, Ordering::SeqCst);
            s.close();
            return;
        }
        let mut data = bufs.pop().expect("one buffer");
        data.truncate(n as usize);
        let sent = s.send(vec![data], move |r: SendResult, _| {
            if r != SendResult::Ok {
                println!("connection {id}: send failed ({r:?})");
            }
        });
        if sent.is_ok() {
            echo_loop(s, id, live);
        } else {
            println!("connection {id}: closed before the echo could be sent");
            live.fetch_sub(1, Ordering::SeqCst);
        }
    });
    if posted.is_err() {
        println!("connection {id}: closed (no receive could be posted)");
    }
}

pub fn server(args: EchoServerArgs) -> Result<(), String> {
    let max = args.max_connections.unwrap_or(u64::MAX);
    let engine = ExecutionEngine::new(None).map_err(|e| e.to_string())?;
    let mut listener = SocketTransport::server();
    listener
        .listen_on(args.listen, 128)
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    println!(
        "echo server on {} ({} worker threads); Ctrl-C stops it",
        listener
            .local_addr()
            .map_or(args.listen.to_string(), |a| a.to_string()),
        engine.thread_count()
    );
    let live = Arc::new(AtomicUsize::new(0));
    let mut sockets = Vec::new();
    let mut accepted = 0;
    while accepted < max {
        let t = match listener.accept(Duration::from_millis(500)) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => return Err(format!("accept: {e}")),
        };
        accepted += 1;
        match t.peer_addr() {
            Some(a) => println!("connection {accepted} from {a}"),
            None => println!("connection {accepted}"),
        }
        let s = Arc::new(AsyncSocket::new(&engine).map_err(|e| e.to_string())?);
        s.open(t).map_err(|e| e.to_string())?;
        live.fetch_add(1, Ordering::SeqCst);
        echo_loop(Arc::clone(&s), accepted, Arc::clone(&live));
        sockets.push(s);
    }
    // --max-connections reached: serve the last ones until they leave.
    while live.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The message a client sends as its number `i`: a pattern that differs from one to the next.
fn payload(i: u64, size: usize) -> Vec<u8> {
    (0..size).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Sends `payload` and waits until all of it has come back and the send has completed.
fn round_trip(
    socket: &AsyncSocket,
    payload: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let size = payload.len();
    let (tx, rx) = mpsc::channel();
    let tx_send = tx.clone();
    socket
        .send(vec![payload], move |r, _| {
            let _ = tx_send.send(Err(r));
        })
        .map_err(|e| e.to_string())?;
    let mut echoed = Vec::with_capacity(size);
    let mut send_done = false;
    while echoed.len() < size || !send_done {
        if echoed.len() < size {
            let tx = tx.clone();
            socket
                .receive(vec![vec![0u8; size - echoed.len()]], move |r, n, b| {
                    let _ = tx.send(Ok((r, b[0][..n as usize].to_vec())));
                })
                .map_err(|e| e.to_string())?;
        }
        loop {
            match rx.recv_timeout(timeout) {
                Ok(Err(r)) => {
                    if r != SendResult::Ok {
                        return Err(format!("send {r:?}"));
                    }
                    send_done = true;
                    if echoed.len() >= size {
                        break;
                    }
                }
                Ok(Ok((ReceiveResult::Ok, bytes))) => {
                    echoed.extend_from_slice(&bytes);
                    break;
                }
                Ok(Ok((ReceiveResult::Abandoned, _))) => return Err("the server closed".into()),
                Ok(Ok((r, _))) => return Err(format!("receive {r:?}")),
                Err(_) => return Err(format!("no echo within {timeout:?}")),
            }
        }
    }
    Ok(echoed)
}

pub fn client(args: EchoClientArgs) -> Result<(), String> {
    let size = usize::try_from(args.size).map_err(|_| "--size too large")?;
    let timeout = Duration::from_secs_f64(args.timeout);
    let target = format!("{}:{}", args.addr.host, args.addr.port);
    let engine = ExecutionEngine::new(None).map_err(|e| e.to_string())?;
    let mut t = SocketTransport::client();
    t.connect(&args.addr.host, args.addr.port, timeout)
        .map_err(|e| format!("connect {target}: {e}"))?;
    let socket = AsyncSocket::new(&engine).map_err(|e| e.to_string())?;
    socket.open(t).map_err(|e| e.to_string())?;
    let started = Instant::now();
    // One measurement per round trip, from the send to the last echoed byte; every statistic
    // below comes from these.
    let mut times = Vec::with_capacity(args.messages as usize);
    for i in 0..args.messages {
        let sent = payload(i, size);
        let t0 = Instant::now();
        let echoed = round_trip(&socket, sent, timeout).map_err(|e| format!("message {i}: {e}"))?;
        times.push(t0.elapsed());
        if echoed != payload(i, size) {
            return Err(format!("message {i}: the echo differs from what was sent"));
        }
    }
    let total = started.elapsed();
    socket.close();
    times.sort();
    let n = times.len();
    let at = |q: f64| times[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
    let mean = times.iter().sum::<Duration>() / n as u32;
    println!(
        "{n} messages of {size} B echoed and checked in {total:.2?}; round trip: min {:.2?}, mean {mean:.2?}, p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, worst {:.2?}",
        times[0],
        at(0.5),
        at(0.9),
        at(0.99),
        times[n - 1]
    );
    Ok(())
}
