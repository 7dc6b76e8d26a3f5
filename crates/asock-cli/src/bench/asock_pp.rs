//! P1 / P3 on asock: the ping-pong through the callback API ("asock") and through
//! `asock::future` with tasks on the engine's workers ("asock async", P1).
//!
//! As in every system, the benchmark's own code allocates nothing per round trip: each
//! connection's buffers (a `Vec` holding one 64 B array) move into each operation and come back
//! in its completion. What asock allocates inside is its own cost and shows in the table.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use asock::{AsyncSocket, ReceiveResult, SendResult, SocketTransport};

use super::measure::{message, Sample, Window, MSG};
use super::Ctx;

/// One message's buffers, reused for the whole run.
type Buf = Vec<[u8; MSG]>;

fn buf() -> Buf {
    vec![[0u8; MSG]]
}

/// `n` connected loopback pairs of transports (client, server).
pub fn transport_pairs(n: usize) -> Result<Vec<(SocketTransport, SocketTransport)>, String> {
    let mut l = SocketTransport::server();
    l.listen_on("127.0.0.1:0".parse().expect("address"), 1024)
        .map_err(|e| e.to_string())?;
    let port = l.local_port().ok_or("listener has no port")?;
    (0..n)
        .map(|_| {
            let mut c = SocketTransport::client();
            c.connect("127.0.0.1", port, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            let s = l
                .accept(Duration::from_secs(5))
                .map_err(|e| e.to_string())?
                .ok_or("no connection accepted")?;
            Ok((c, s))
        })
        .collect()
}

/// Receives one whole message into `bufs`, then calls `then` with them (`None` once the
/// connection failed or ended). Returns false when the receive could not be posted.
fn read_msg<F>(sock: &Arc<AsyncSocket>, bufs: Buf, then: F) -> bool
where
    F: FnOnce(Option<Buf>) + Send + 'static,
{
    let s = Arc::clone(sock);
    sock.receive(bufs, move |r, n, bufs| match (r, n as usize) {
        (ReceiveResult::Ok, MSG) => then(Some(bufs)),
        (ReceiveResult::Ok, n) => read_rest(s, bufs, n, then),
        _ => then(None),
    })
    .is_ok()
}

/// The rest of a message that arrived in pieces (rare at 64 B).
fn read_rest<F>(s: Arc<AsyncSocket>, mut whole: Buf, have: usize, then: F)
where
    F: FnOnce(Option<Buf>) + Send + 'static,
{
    let s2 = Arc::clone(&s);
    // Should this receive not be posted, the run's stop times out and reports it.
    let _ = s.receive(vec![vec![0u8; MSG - have]], move |r, n, rest| {
        let n = n as usize;
        if r != ReceiveResult::Ok {
            return then(None);
        }
        whole[0][have..have + n].copy_from_slice(&rest[0][..n]);
        if have + n == MSG {
            then(Some(whole))
        } else {
            read_rest(s2, whole, have + n, then)
        }
    });
}

struct PingState {
    round_trips: AtomicU64,
    bad: AtomicU64,
    stop: AtomicBool,
    stopped: AtomicUsize,
    connections: usize,
    done: Mutex<Option<mpsc::Sender<()>>>,
}

impl PingState {
    fn client_finished(&self) {
        if self.stopped.fetch_add(1, AcqRel) + 1 == self.connections {
            if let Some(tx) = self.done.lock().expect("lock").take() {
                let _ = tx.send(());
            }
        }
    }
}

/// A client connection, made once: the two halves of a round trip (the send's completion and
/// the echo) meet here, and its buffers wait here between round trips.
struct Client {
    socket: Arc<AsyncSocket>,
    st: Arc<PingState>,
    n: AtomicU64,
    halves: AtomicU8,
    out: Mutex<Option<Buf>>,
    back: Mutex<Option<Buf>>,
}

/// One round trip: send message `n` and receive its echo at once; the next one starts when
/// both have completed.
fn hop(c: Arc<Client>) {
    let n = c.n.load(Relaxed);
    let mut out = c.out.lock().expect("lock").take().expect("send buffer");
    out[0] = message(n);
    c.halves.store(2, Release);
    let c1 = Arc::clone(&c);
    let sent = c.socket.send(out, move |r, bufs| {
        if r != SendResult::Ok {
            c1.st.bad.fetch_add(1, Relaxed);
        }
        *c1.out.lock().expect("lock") = Some(bufs);
        half_done(c1);
    });
    if let Err(e) = sent {
        *c.out.lock().expect("lock") = Some(e.into_inner());
        c.st.bad.fetch_add(1, Relaxed);
        return c.st.client_finished();
    }
    let back = c.back.lock().expect("lock").take().expect("receive buffer");
    let c2 = Arc::clone(&c);
    let posted = read_msg(&c.socket, back, move |m| match m {
        Some(m) => {
            if m[0] == message(n) {
                c2.st.round_trips.fetch_add(1, Relaxed);
            } else {
                c2.st.bad.fetch_add(1, Relaxed);
            }
            *c2.back.lock().expect("lock") = Some(m);
            half_done(c2);
        }
        None => {
            c2.st.bad.fetch_add(1, Relaxed);
            c2.st.client_finished();
        }
    });
    if !posted {
        c.st.bad.fetch_add(1, Relaxed);
        c.st.client_finished();
    }
}

fn half_done(c: Arc<Client>) {
    if c.halves.fetch_sub(1, AcqRel) == 1 {
        if c.st.stop.load(Relaxed) {
            return c.st.client_finished();
        }
        c.n.fetch_add(1, Relaxed);
        hop(c);
    }
}

/// The server end: echoes each message at once and posts the next receive without waiting
/// for the send's completion, with the buffers a completed send handed back.
struct Echo {
    socket: Arc<AsyncSocket>,
    spare: Mutex<Vec<Buf>>,
}

fn echo(e: Arc<Echo>) {
    let b = e.spare.lock().expect("lock").pop().unwrap_or_else(buf);
    let e2 = Arc::clone(&e);
    read_msg(&e.socket, b, move |m| {
        let Some(m) = m else { return };
        let e3 = Arc::clone(&e2);
        let sent = e2.socket.send(m, move |_r, b| {
            e3.spare.lock().expect("lock").push(b);
        });
        if sent.is_ok() {
            echo(e2);
        }
    });
}

fn pingpong(ctx: &Ctx, connections: usize) -> Result<Sample, String> {
    let (tx, rx) = mpsc::channel();
    let st = Arc::new(PingState {
        round_trips: AtomicU64::new(0),
        bad: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stopped: AtomicUsize::new(0),
        connections,
        done: Mutex::new(Some(tx)),
    });
    let mut clients = Vec::with_capacity(connections);
    let mut echoes = Vec::with_capacity(connections);
    for (c, s) in transport_pairs(connections)? {
        let (a, b) = (
            Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
            Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
        );
        a.open(c).map_err(|e| e.to_string())?;
        b.open(s).map_err(|e| e.to_string())?;
        clients.push(Arc::new(Client {
            socket: a,
            st: Arc::clone(&st),
            n: AtomicU64::new(0),
            halves: AtomicU8::new(0),
            out: Mutex::new(Some(buf())),
            back: Mutex::new(Some(buf())),
        }));
        echoes.push(Arc::new(Echo {
            socket: b,
            spare: Mutex::new(vec![buf(), buf()]),
        }));
    }
    for e in &echoes {
        echo(Arc::clone(e));
    }
    let window = Window::start();
    for c in &clients {
        hop(Arc::clone(c));
    }
    std::thread::sleep(ctx.duration);
    st.stop.store(true, Relaxed);
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the ping-pong did not stop within 10 s")?;
    let m = window.finish();
    for (c, e) in clients.iter().zip(&echoes) {
        c.socket.close();
        e.socket.close();
    }
    let bad = st.bad.load(Relaxed);
    if bad > 0 {
        return Err(format!("{bad} round trips failed or came back wrong"));
    }
    Ok(Sample::round_trips(st.round_trips.load(Relaxed), m))
}

pub fn p1(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(ctx, 1)
}

pub fn p3(ctx: &Ctx) -> Result<Sample, String> {
    pingpong(ctx, ctx.connections)
}

/// P1 through `asock::future`: the same ping-pong with `.await` on owned buffers, the client
/// and the echo as tasks on the engine's workers (`asock::future::spawn`), where a completion
/// wakes its task on the same worker.
pub fn p1_async(ctx: &Ctx) -> Result<Sample, String> {
    use asock::future::Socket;
    /// Receives until `bufs` holds a whole message; `None` once the connection ends.
    async fn read_msg(s: &Socket, bufs: Buf) -> Option<Buf> {
        let (r, n, mut bufs) = s.receive(bufs).await.ok()?;
        let mut have = n;
        if r != ReceiveResult::Ok {
            return None;
        }
        while have < MSG {
            let (r, k, rest) = s.receive(vec![vec![0u8; MSG - have]]).await.ok()?;
            if r != ReceiveResult::Ok {
                return None;
            }
            bufs[0][have..have + k].copy_from_slice(&rest[0][..k]);
            have += k;
        }
        Some(bufs)
    }
    let (c, s) = transport_pairs(1)?.pop().ok_or("no connection")?;
    let client = Socket::open_on(&ctx.engine, c).map_err(|e| e.to_string())?;
    let server = Socket::open_on(&ctx.engine, s).map_err(|e| e.to_string())?;
    let echo = asock::future::spawn(&ctx.engine, async move {
        // Echo at once and receive the next message without waiting for the send's
        // completion; the previous send (long done) hands its buffers back for the receive.
        let (mut b, mut spare) = (buf(), Some(buf()));
        let mut last = None;
        while let Some(m) = read_msg(&server, b).await {
            let sent = server.send(m);
            b = match last.replace(sent) {
                None => spare.take().unwrap_or_else(buf),
                Some(prev) => match prev.await {
                    Ok((SendResult::Ok, back)) => back,
                    _ => break,
                },
            };
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&stop);
    let window = Window::start();
    let pinger = asock::future::spawn(&ctx.engine, async move {
        let (mut out, mut back) = (buf(), buf());
        let mut n = 0u64;
        while !st.load(Relaxed) {
            let m = message(n);
            out[0] = m;
            // Send and receive at once: the echo may arrive before the send's completion.
            let sent = client.send(out);
            let got = read_msg(&client, back).await;
            match sent.await {
                Ok((SendResult::Ok, o)) => out = o,
                _ => return Err(("a send failed".to_string(), client)),
            }
            match got {
                Some(g) if g[0] == m => back = g,
                Some(_) => return Err(("echo differs".to_string(), client)),
                None => return Err(("the echo did not come".to_string(), client)),
            }
            n += 1;
        }
        Ok((n, client))
    });
    std::thread::sleep(ctx.duration);
    stop.store(true, Relaxed);
    let result = ctx.tokio_ct.block_on(pinger);
    let m = window.finish();
    let (n, client) = result.map_err(|(e, _)| e)?;
    ctx.tokio_ct.block_on(async {
        client.close().await;
        echo.await;
    });
    Ok(Sample::round_trips(n, m))
}
