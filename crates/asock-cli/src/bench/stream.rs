//! P2: streaming over one connection, 16 x 64 KiB per send, every received byte checked
//! against the pattern it was sent with. The window runs from the first send to the moment the
//! duration is over; the bytes received by then count.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use asock::{AsyncSocket, ReceiveResult, SendResult};

use super::asock_pp::transport_pairs;
use super::measure::{std_pairs, Sample, Window};
use super::Ctx;

/// Buffers per send and their size.
pub const STREAM_BUFS: usize = 16;
pub const STREAM_BUF: usize = 64 * 1024;
/// Receive buffer size.
const STREAM_RECV: usize = 256 * 1024;

/// The stream's content: the byte at stream offset `o` is `o % 256`.
fn pattern() -> &'static [u8] {
    static P: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        (0..STREAM_BUFS * STREAM_BUF + 256)
            .map(|i| i as u8)
            .collect()
    })
}

/// Whether `data`, found at stream offset `offset`, is what was sent there.
fn stream_ok(offset: u64, data: &[u8]) -> bool {
    let start = (offset % 256) as usize;
    data.chunks(STREAM_RECV)
        .all(|chunk| chunk == &pattern()[start..start + chunk.len()])
}

/// What the receiving side has counted and checked so far.
#[derive(Default)]
struct Received {
    bytes: AtomicU64,
    bad: AtomicBool,
}

impl Received {
    fn check(&self, data: &[u8]) {
        let offset = self.bytes.fetch_add(data.len() as u64, Relaxed);
        if !stream_ok(offset, data) {
            self.bad.store(true, Relaxed);
        }
    }

    fn result(&self, bytes: u64, m: super::measure::Measured) -> Result<Sample, String> {
        if self.bad.load(Relaxed) {
            return Err("streamed bytes arrived wrong".into());
        }
        Ok(Sample::streamed(bytes, m))
    }
}

struct StreamState {
    received: Received,
    stop: AtomicBool,
    sender_done: Mutex<Option<mpsc::Sender<()>>>,
}

fn stream_send(s: Arc<AsyncSocket>, st: Arc<StreamState>, bufs: Vec<Vec<u8>>) {
    let s2 = Arc::clone(&s);
    let st2 = Arc::clone(&st);
    let sent = s.send(bufs, move |r, bufs| {
        if r == SendResult::Ok && !st2.stop.load(Relaxed) {
            stream_send(s2, st2, bufs);
        } else if let Some(tx) = st2.sender_done.lock().expect("lock").take() {
            let _ = tx.send(());
        }
    });
    if sent.is_err() {
        if let Some(tx) = st.sender_done.lock().expect("lock").take() {
            let _ = tx.send(());
        }
    }
}

fn stream_recv(s: Arc<AsyncSocket>, st: Arc<StreamState>, buf: Vec<u8>) {
    let s2 = Arc::clone(&s);
    let _ = s.receive(vec![buf], move |r, n, mut bufs| {
        if r != ReceiveResult::Ok {
            return;
        }
        let buf = bufs.pop().expect("one buffer");
        st.received.check(&buf[..n as usize]);
        stream_recv(s2, st, buf);
    });
}

pub fn asock(ctx: &Ctx) -> Result<Sample, String> {
    let (c, s) = transport_pairs(1)?.pop().ok_or("no connection")?;
    let (tx_sock, rx_sock) = (
        Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
        Arc::new(AsyncSocket::new(&ctx.engine).map_err(|e| e.to_string())?),
    );
    tx_sock.open(c).map_err(|e| e.to_string())?;
    rx_sock.open(s).map_err(|e| e.to_string())?;
    let (done_tx, done_rx) = mpsc::channel();
    let st = Arc::new(StreamState {
        received: Received::default(),
        stop: AtomicBool::new(false),
        sender_done: Mutex::new(Some(done_tx)),
    });
    stream_recv(
        Arc::clone(&rx_sock),
        Arc::clone(&st),
        vec![0u8; STREAM_RECV],
    );
    let bufs: Vec<Vec<u8>> = (0..STREAM_BUFS)
        .map(|_| pattern()[..STREAM_BUF].to_vec())
        .collect();
    let window = Window::start();
    stream_send(Arc::clone(&tx_sock), Arc::clone(&st), bufs);
    std::thread::sleep(ctx.duration);
    let bytes = st.received.bytes.load(Relaxed);
    let m = window.finish();
    st.stop.store(true, Relaxed);
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the sender did not stop within 10 s")?;
    tx_sock.close();
    rx_sock.close();
    st.received.result(bytes, m)
}

pub fn tokio(ctx: &Ctx) -> Result<Sample, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dur = ctx.duration;
    ctx.tokio_mt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let mut c = tokio::net::TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let (mut s, _) = l.accept().await.map_err(|e| e.to_string())?;
        c.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let received = Arc::new(Received::default());
        let stop = Arc::new(AtomicBool::new(false));
        let rc = Arc::clone(&received);
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; STREAM_RECV];
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                rc.check(&buf[..n]);
            }
        });
        let window = Window::start();
        let st = Arc::clone(&stop);
        let writer = tokio::spawn(async move {
            let chunk = &pattern()[..STREAM_BUFS * STREAM_BUF];
            while !st.load(Relaxed) {
                if c.write_all(chunk).await.is_err() {
                    break;
                }
            }
        });
        tokio::time::sleep(dur).await;
        let bytes = received.bytes.load(Relaxed);
        let m = window.finish();
        stop.store(true, Relaxed);
        writer.await.map_err(|e| e.to_string())?;
        reader.await.map_err(|e| e.to_string())?;
        received.result(bytes, m)
    })
}

pub fn std_threads(ctx: &Ctx) -> Result<Sample, String> {
    let (mut c, mut s) = std_pairs(1)?.pop().ok_or("no connection")?;
    let stop = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Barrier::new(2));
    let (st, g) = (Arc::clone(&stop), Arc::clone(&go));
    let writer = std::thread::spawn(move || {
        let chunk = &pattern()[..STREAM_BUFS * STREAM_BUF];
        g.wait();
        while !st.load(Relaxed) {
            if c.write_all(chunk).is_err() {
                break;
            }
        }
    });
    let received = Arc::new(Received::default());
    let rc = Arc::clone(&received);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; STREAM_RECV];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            rc.check(&buf[..n]);
        }
    });
    let window = Window::start();
    go.wait();
    std::thread::sleep(ctx.duration);
    let bytes = received.bytes.load(Relaxed);
    let m = window.finish();
    stop.store(true, Relaxed);
    let _ = writer.join();
    reader.join().map_err(|_| "reader panicked")?;
    received.result(bytes, m)
}
