//! `asock echo-server` and `asock echo-client`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use asock::{AsyncSocket, ExecutionEngine, ReceiveResult, SendResult, SocketTransport};

use crate::args::Args;

/// Echoes everything `socket` receives until the peer goes away.
fn echo_loop(socket: Arc<AsyncSocket>, live: Arc<AtomicUsize>) {
    let s = Arc::clone(&socket);
    let posted = socket.receive(vec![vec![0u8; 16 * 1024]], move |r, n, mut bufs| {
        if r != ReceiveResult::Ok {
            live.fetch_sub(1, Ordering::SeqCst);
            eprintln!("connection ended ({r:?})");
            s.close();
            return;
        }
        let mut data = bufs.pop().expect("one buffer");
        data.truncate(n as usize);
        if s.send(vec![data], |_r: SendResult, _| {}).is_ok() {
            echo_loop(s, live);
        } else {
            live.fetch_sub(1, Ordering::SeqCst);
        }
    });
    if posted.is_err() {
        eprintln!("receive not posted: the socket is closed");
    }
}

pub fn server(args: Args) -> Result<(), String> {
    args.only(&["listen", "max-connections"])?;
    let listen = args.value("listen").unwrap_or("127.0.0.1:7878");
    let max: usize = args.number("max-connections", usize::MAX)?;
    let addr = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let engine = ExecutionEngine::new(None).map_err(|e| e.to_string())?;
    let mut listener = SocketTransport::server();
    listener.listen_on(addr, 128).map_err(|e| e.to_string())?;
    println!(
        "echo server on {} ({} worker threads); Ctrl-C stops it",
        listener
            .local_addr()
            .map_or(listen.to_string(), |a| a.to_string()),
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
        println!("connection {accepted} from {:?}", t.peer_addr());
        let s = Arc::new(AsyncSocket::new(&engine).map_err(|e| e.to_string())?);
        s.open(t).map_err(|e| e.to_string())?;
        live.fetch_add(1, Ordering::SeqCst);
        echo_loop(Arc::clone(&s), Arc::clone(&live));
        sockets.push(s);
    }
    // --max-connections reached: serve the last ones until they leave.
    while live.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

pub fn client(args: Args) -> Result<(), String> {
    args.only(&["messages", "size"])?;
    let target = args
        .positional
        .first()
        .ok_or("echo-client needs ADDR (host:port)")?;
    let messages: usize = args.number("messages", 10)?;
    let size: usize = args.number("size", 64)?;
    if size == 0 {
        return Err("--size must be at least 1".into());
    }
    let (host, port) = target
        .rsplit_once(':')
        .ok_or(format!("{target}: expected host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| format!("{target}: bad port"))?;
    let engine = ExecutionEngine::new(None).map_err(|e| e.to_string())?;
    let mut t = SocketTransport::client();
    t.connect(host, port, Duration::from_secs(5))
        .map_err(|e| format!("connect {target}: {e}"))?;
    let socket = AsyncSocket::new(&engine).map_err(|e| e.to_string())?;
    socket.open(t).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    for i in 0..messages {
        let payload: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
        let t0 = Instant::now();
        let (tx, rx) = mpsc::channel();
        let tx_send = tx.clone();
        socket
            .send(vec![payload.clone()], move |r, _| {
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
                match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(Err(r)) => {
                        if r != SendResult::Ok {
                            return Err(format!("message {i}: send {r:?}"));
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
                    Ok(Ok((r, _))) => return Err(format!("message {i}: receive {r:?}")),
                    Err(_) => return Err(format!("message {i}: no echo within 10 s")),
                }
            }
        }
        if echoed != payload {
            return Err(format!("message {i}: the echo differs from what was sent"));
        }
        worst = worst.max(t0.elapsed());
    }
    let total = started.elapsed();
    println!(
        "{messages} messages of {size} B echoed and checked in {total:?} (mean {:?}, worst {worst:?})",
        total / messages.max(1) as u32
    );
    socket.close();
    Ok(())
}
