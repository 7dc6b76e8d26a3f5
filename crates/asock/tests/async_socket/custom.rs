//! Custom transports (C12).

use super::*;

/// What a scripted transport does after its injected WouldBlocks.
#[cfg(not(windows))] // custom transports fail on Windows (04_001)
#[derive(Clone, Copy, Debug)]
pub(super) enum Then {
    PassThrough,
    Reset,
    Zero,
}

/// Call counters and injections of a [`Scripted`] transport.
#[cfg(not(windows))] // custom transports fail on Windows (04_001)
pub(super) struct Script {
    send_calls: AtomicUsize,
    recv_calls: AtomicUsize,
    send_would_block: AtomicUsize,
    recv_would_block: AtomicUsize,
    send_then: Then,
    recv_then: Then,
    calls: Mutex<Sender<&'static str>>,
}

#[cfg(not(windows))] // custom transports fail on Windows (04_001)
impl Script {
    pub(super) fn new(
        send_would_block: usize,
        send_then: Then,
        recv_would_block: usize,
        recv_then: Then,
    ) -> (Arc<Script>, mpsc::Receiver<&'static str>) {
        let (tx, rx) = mpsc::channel();
        let script = Script {
            send_calls: AtomicUsize::new(0),
            recv_calls: AtomicUsize::new(0),
            send_would_block: AtomicUsize::new(send_would_block),
            recv_would_block: AtomicUsize::new(recv_would_block),
            send_then,
            recv_then,
            calls: Mutex::new(tx),
        };
        (Arc::new(script), rx)
    }
}

#[cfg(not(windows))] // custom transports fail on Windows (04_001)
fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(SeqCst, SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

/// A custom transport that counts calls, answers WouldBlock a set number of times, then
/// passes through to the socket (or resets, or claims 0 bytes).
#[cfg(not(windows))] // custom transports fail on Windows (04_001)
pub(super) struct Scripted(pub(super) Arc<Script>);

#[cfg(not(windows))] // custom transports fail on Windows (04_001)
impl Transport for Scripted {
    fn send(&self, socket: &Socket, buf: &[u8]) -> io::Result<usize> {
        self.0.send_calls.fetch_add(1, SeqCst);
        let _ = self.0.calls.lock().unwrap().send("send");
        if take_one(&self.0.send_would_block) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.0.send_then {
            Then::PassThrough => {
                let mut s: &Socket = socket;
                s.write(buf)
            }
            Then::Reset => Err(io::ErrorKind::ConnectionReset.into()),
            Then::Zero => Ok(0),
        }
    }

    fn recv(&self, socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_calls.fetch_add(1, SeqCst);
        let _ = self.0.calls.lock().unwrap().send("recv");
        if take_one(&self.0.recv_would_block) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.0.recv_then {
            Then::PassThrough => {
                let mut s: &Socket = socket;
                s.read(buf)
            }
            Then::Reset => Err(io::ErrorKind::ConnectionReset.into()),
            Then::Zero => Ok(0),
        }
    }
}

#[cfg(not(windows))] // custom transports fail on Windows (04_001)
pub(super) fn scripted_socket(
    engine: &ExecutionEngine,
    script: &Arc<Script>,
) -> (AsyncSocket, SocketTransport) {
    let (client, peer) = transport_pair();
    let socket = AsyncSocket::with_transport(engine, Scripted(Arc::clone(script)))
        .expect("create with a custom transport");
    socket.open(client).expect("open");
    (socket, peer)
}

/// C12: one injected WouldBlock on send, then pass-through: the send completes OK
/// once the socket reports readiness again (here: the peer writes a byte, an edge on the
/// socket — readiness comes from the socket, as documented), all bytes intact, 2 calls.
#[test]
#[cfg(not(windows))] // with_transport fails on Windows (04_001: windows_seed tests it)
fn custom_transport_send_survives_one_would_block() {
    let engine = engine();
    let (script, _calls) = Script::new(1, Then::PassThrough, 0, Then::PassThrough);
    let (socket, peer) = scripted_socket(&engine, &script);
    let (tx, rx) = mpsc::channel();
    socket
        .send(
            vec![b"hello".to_vec(), b" world".to_vec()],
            move |r, bufs| {
                let _ = tx.send((r, bufs));
            },
        )
        .expect("send accepted despite WouldBlock");
    raw_send(&peer, b"!"); // a readiness edge
    let (r, bufs) = wait_for(&rx, "the send after an injected WouldBlock");
    assert_eq!(r, SendResult::Ok);
    assert_eq!(bufs, vec![b"hello".to_vec(), b" world".to_vec()]);
    assert_eq!(raw_read_exact(&peer, 11), b"hello world");
    // WouldBlock once, then one call per buffer.
    assert_eq!(script.send_calls.load(SeqCst), 3, "send calls");
    assert_eq!(script.recv_calls.load(SeqCst), 0, "no receive was posted");
}

/// C12: one injected WouldBlock on receive, then pass-through: the receive delivers every
/// byte once more data makes the socket readable again.
#[test]
#[cfg(not(windows))] // with_transport fails on Windows (04_001: windows_seed tests it)
fn custom_transport_receive_survives_one_would_block() {
    let engine = engine();
    let (script, calls) = Script::new(0, Then::PassThrough, 1, Then::PassThrough);
    let (socket, peer) = scripted_socket(&engine, &script);
    let (tx, rx) = mpsc::channel();
    socket
        .receive(vec![vec![0u8; 64]], move |r, n, bufs| {
            let _ = tx.send((r, filled(&bufs, n)));
        })
        .expect("receive accepted");
    raw_send(&peer, b"abc");
    assert_eq!(wait_for(&calls, "the custom recv to be called"), "recv");
    raw_send(&peer, b"def");
    let (r, mut data) = wait_for(&rx, "the receive after an injected WouldBlock");
    assert_eq!(r, ReceiveResult::Ok);
    if data.len() < 6 {
        data.extend(receive_exactly(&socket, 6 - data.len(), 64));
    }
    assert_eq!(data, b"abcdef");
    let recvs = script.recv_calls.load(SeqCst);
    assert!((2..=4).contains(&recvs), "recv calls: {recvs}");
    assert_eq!(script.send_calls.load(SeqCst), 0);
}

/// C12, C7, C8: a transport reporting ConnectionReset: the send is rejected
/// NOT_OPEN (reset found at submission) or completes ABANDONED; a receive completes
/// ABANDONED with 0 bytes.
#[test]
#[cfg(not(windows))] // with_transport fails on Windows (04_001: windows_seed tests it)
fn custom_transport_connection_reset_abandons_send_and_receive() {
    let engine = engine();
    let (script, _calls) = Script::new(0, Then::Reset, 0, Then::Reset);
    let (socket, peer) = scripted_socket(&engine, &script);
    let (tx, rx) = mpsc::channel();
    match socket.send(vec![b"doomed".to_vec()], move |r, _| {
        let _ = tx.send(r);
    }) {
        Err(e) => {
            assert!(
                matches!(e.kind(), SubmitErrorKind::NotOpen),
                "{:?}",
                e.kind()
            );
            assert_eq!(e.send_sync_result(), SendSyncResult::NotOpen);
            assert_eq!(e.into_inner(), vec![b"doomed".to_vec()]);
            assert_no_more(&rx, "a rejected send");
        }
        Ok(()) => {
            assert_eq!(wait_for(&rx, "the reset send"), SendResult::Abandoned);
            assert_no_more(&rx, "the reset send");
        }
    }
    assert_eq!(script.send_calls.load(SeqCst), 1, "no retry after a reset");

    let (tx, rx) = mpsc::channel();
    socket
        .receive(vec![vec![0u8; 8]], move |r, n, _| {
            let _ = tx.send((r, n));
        })
        .expect("receive accepted");
    raw_send(&peer, b"z"); // readable: the custom recv gets called
    assert_eq!(
        wait_for(&rx, "the reset receive"),
        (ReceiveResult::Abandoned, 0)
    );
    assert!(script.recv_calls.load(SeqCst) >= 1);
}

/// C12: a transport whose send returns Ok(0) fails the send, at submission
/// (an OS-style error) or with SendResult::Error, after exactly one call: no spinning. After a
/// WouldBlock, the 0 comes back from the engine's retry: SendResult::Error after 2 calls.
#[test]
#[cfg(not(windows))] // with_transport fails on Windows (04_001: windows_seed tests it)
fn custom_transport_send_returning_zero_fails_without_spinning() {
    let engine = engine();
    let (script, _calls) = Script::new(0, Then::Zero, 0, Then::PassThrough);
    let (socket, _peer) = scripted_socket(&engine, &script);
    let (tx, rx) = mpsc::channel();
    match socket.send(vec![b"zero".to_vec()], move |r, _| {
        let _ = tx.send(r);
    }) {
        Err(e) => {
            assert!(matches!(e.kind(), SubmitErrorKind::Io(_)), "{:?}", e.kind());
            assert_eq!(e.send_sync_result(), SendSyncResult::Error);
            assert_eq!(e.into_inner(), vec![b"zero".to_vec()]);
            assert_no_more(&rx, "a rejected send");
        }
        Ok(()) => assert_eq!(wait_for(&rx, "the zero send"), SendResult::Error),
    }
    assert_eq!(
        script.send_calls.load(SeqCst),
        1,
        "Ok(0) must not be retried"
    );

    let (script, _calls) = Script::new(1, Then::Zero, 0, Then::PassThrough);
    let (socket, peer) = scripted_socket(&engine, &script);
    let (tx, rx) = mpsc::channel();
    socket
        .send(vec![b"zero".to_vec()], move |r, _| {
            let _ = tx.send(r);
        })
        .expect("send accepted (WouldBlock first)");
    raw_send(&peer, b"!"); // a readiness edge
    assert_eq!(
        wait_for(&rx, "the zero send after WouldBlock"),
        SendResult::Error
    );
    assert_no_more(&rx, "the zero send");
    assert_eq!(
        script.send_calls.load(SeqCst),
        2,
        "WouldBlock, then one Ok(0), no spin"
    );
}
