//! Property test over random sequences of API calls on one async socket and its (plain) peer,
//! with every kind of bad input: empty buffer lists, zero-length buffers, null pointers, totals
//! over `u32::MAX` (untouched 2 GiB allocations), huge buffer counts, and calls in every state
//! (never opened, OPEN, CLOSING from inside a completion, CLOSED, re-opened).
//!
//! For each call the test predicts the documented result (C3, C4): the exact
//! [`SubmitErrorKind`] with its reason, the buffers handed back untouched (same allocations),
//! or `Ok`, after which exactly one completion runs, on an engine worker. Nothing may panic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};

use asock::transport::SocketTransport;
use asock::{
    AsyncSocket, ExecutionEngine, NotifyType, OpenErrorKind, RawBuf, SocketState, SubmitErrorKind,
};
use common::*;
use proptest::prelude::*;

/// A buffer list, described (the buffers are made in the test body).
#[derive(Debug, Clone)]
enum Bufs {
    /// No buffers at all.
    Empty,
    /// Buffers of these lengths (a zero is a zero-length buffer).
    Lens(Vec<usize>),
    /// Two untouched 2 GiB buffers: a total over `u32::MAX`.
    OverU32,
    /// `count` one-byte buffers, the last of length `last` (0 makes it invalid).
    Many { count: usize, last: usize },
}

/// A raw buffer descriptor list, described.
#[derive(Debug, Clone)]
enum Raw {
    Empty,
    /// (null pointer?, length) pairs.
    Descs(Vec<(bool, usize)>),
    /// `count` valid one-byte descriptors then a null one.
    ManyThenNull {
        count: usize,
    },
}

#[derive(Debug, Clone)]
enum Call {
    Send(Bufs),
    Receive(Bufs),
    SendRaw(Raw),
    ReceiveRaw(Raw),
    Notify(bool),
    Close,
    /// Open on a new connected transport (`true`) or on an unconnected one.
    Open(bool),
    /// The peer writes this many bytes.
    PeerWrite(usize),
    /// The peer closes its end.
    PeerClose,
    /// A receive whose completion, run while close is CLOSING the socket, tries a send, a
    /// receive and a notify: each must be rejected NOT_OPEN.
    ProbeClosing,
}

fn bufs() -> impl Strategy<Value = Bufs> {
    prop_oneof![
        1 => Just(Bufs::Empty),
        6 => prop::collection::vec(prop_oneof![3 => 1usize..64, 1 => Just(0usize)], 1..5)
            .prop_map(Bufs::Lens),
        1 => Just(Bufs::OverU32),
        1 => (1usize..70_000, 0usize..2).prop_map(|(count, last)| Bufs::Many { count, last }),
    ]
}

fn raw() -> impl Strategy<Value = Raw> {
    prop_oneof![
        1 => Just(Raw::Empty),
        4 => prop::collection::vec((prop::bool::weighted(0.2), 0usize..16), 1..4)
            .prop_map(Raw::Descs),
        1 => (1usize..70_000).prop_map(|count| Raw::ManyThenNull { count }),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => bufs().prop_map(Call::Send),
        4 => bufs().prop_map(Call::Receive),
        2 => raw().prop_map(Call::SendRaw),
        2 => raw().prop_map(Call::ReceiveRaw),
        2 => any::<bool>().prop_map(Call::Notify),
        1 => Just(Call::Close),
        2 => any::<bool>().prop_map(Call::Open),
        2 => (1usize..200).prop_map(Call::PeerWrite),
        1 => Just(Call::PeerClose),
        1 => Just(Call::ProbeClosing),
    ]
}

/// The argument error `validate` must give for (has memory, length) pairs, if any.
fn expected_invalid(descs: &[(bool, usize)]) -> Option<&'static str> {
    if descs.is_empty() {
        return Some("no buffers");
    }
    let mut total: u64 = 0;
    for &(has_memory, len) in descs {
        if !has_memory {
            return Some("no memory");
        }
        if len == 0 {
            return Some("zero length");
        }
        total += len as u64;
        if total > u64::from(u32::MAX) {
            return Some("u32::MAX");
        }
    }
    None
}

fn make(b: &Bufs) -> Vec<Vec<u8>> {
    match b {
        Bufs::Empty => Vec::new(),
        Bufs::Lens(lens) => lens.iter().map(|&n| vec![7u8; n]).collect(),
        // Untouched zeroed allocations: the pages are never written, so they cost nothing.
        Bufs::OverU32 => vec![vec![0u8; 1 << 31], vec![0u8; 1 << 31]],
        Bufs::Many { count, last } => {
            let mut v: Vec<Vec<u8>> = (0..*count).map(|_| vec![1u8]).collect();
            v.push(vec![1u8; *last]);
            v
        }
    }
}

/// (pointer, length) of each buffer, to check that a rejected call hands the same ones back.
fn identity(bufs: &[Vec<u8>]) -> Vec<(usize, usize)> {
    bufs.iter()
        .map(|b| (b.as_ptr() as usize, b.len()))
        .collect()
}

fn engine_once() -> &'static ExecutionEngine {
    static ENGINE: OnceLock<ExecutionEngine> = OnceLock::new();
    ENGINE.get_or_init(engine)
}

fn listener_once() -> &'static Mutex<Listener> {
    static L: OnceLock<Mutex<Listener>> = OnceLock::new();
    L.get_or_init(|| Mutex::new(Listener::v4()))
}

/// Counts of one sequence: accepted submissions, completions, completions off the workers.
#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    completed: AtomicUsize,
    off_worker: AtomicUsize,
    probe_failures: Mutex<Vec<String>>,
}

impl Counts {
    fn done(&self) {
        if !thread_is_worker() {
            self.off_worker.fetch_add(1, SeqCst);
        }
        self.completed.fetch_add(1, SeqCst);
    }
}

fn thread_is_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("asock-worker"))
}

fn reason(kind: &SubmitErrorKind) -> String {
    match kind {
        SubmitErrorKind::InvalidArgument(why) => why.to_string(),
        other => format!("{other:?}"),
    }
}

struct Run {
    socket: Arc<AsyncSocket>,
    peer: Option<SocketTransport>,
    counts: Arc<Counts>,
    /// Memory handed to accepted raw operations, freed once everything completed.
    raw_memory: Vec<Box<[u8]>>,
    /// The peer closed: sends may be refused NOT_OPEN (reset) or complete ABANDONED.
    peer_closed: bool,
}

impl Run {
    fn state(&self) -> SocketState {
        self.socket.state()
    }

    /// Checks a submission's outcome against the expected argument error or state error.
    fn check(
        &mut self,
        what: &str,
        descs: &[(bool, usize)],
        send: bool,
        r: Result<(), SubmitErrorKind>,
    ) -> Result<(), TestCaseError> {
        let open = self.state() == SocketState::Open;
        match (expected_invalid(descs), r) {
            (Some(why), Err(SubmitErrorKind::InvalidArgument(got))) => {
                prop_assert!(
                    got.contains(why),
                    "{what}: reason {got:?}, expected {why:?}"
                );
            }
            (Some(why), other) => {
                prop_assert!(
                    false,
                    "{what}: expected InvalidArgument({why}), got {other:?}"
                )
            }
            (None, Ok(())) => {
                prop_assert!(open, "{what} accepted on a socket that is not OPEN");
                self.counts.accepted.fetch_add(1, SeqCst);
            }
            (None, Err(SubmitErrorKind::NotOpen)) => prop_assert!(
                !open || (send && self.peer_closed),
                "{what}: NotOpen on an OPEN socket"
            ),
            (None, Err(other)) => prop_assert!(false, "{what}: unexpected {}", reason(&other)),
        }
        Ok(())
    }

    fn apply(&mut self, c: &Call) -> Result<(), TestCaseError> {
        match c {
            Call::Send(b) | Call::Receive(b) => {
                let send = matches!(c, Call::Send(_));
                let bufs = make(b);
                let descs: Vec<(bool, usize)> = bufs.iter().map(|x| (true, x.len())).collect();
                let before = identity(&bufs);
                let counts = Arc::clone(&self.counts);
                let r = if send {
                    self.socket.send(bufs, move |_, _| counts.done())
                } else {
                    self.socket.receive(bufs, move |_, _, _| counts.done())
                };
                let r = match r {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let (kind, back) = e.into_parts();
                        prop_assert_eq!(identity(&back), before, "{:?}: buffers handed back", c);
                        Err(kind)
                    }
                };
                self.check(&format!("{c:?}"), &descs, send, r)?;
            }
            Call::SendRaw(spec) | Call::ReceiveRaw(spec) => {
                let send = matches!(c, Call::SendRaw(_));
                let descs: Vec<(bool, usize)> = match spec {
                    Raw::Empty => Vec::new(),
                    Raw::Descs(d) => d.iter().map(|&(null, len)| (!null, len)).collect(),
                    Raw::ManyThenNull { count } => {
                        let mut d = vec![(true, 1); *count];
                        d.push((false, 1));
                        d
                    }
                };
                let mut memory = Vec::new();
                let raws: Vec<RawBuf> = descs
                    .iter()
                    .map(|&(has, len)| {
                        if has {
                            let mut m = vec![3u8; len.max(1)].into_boxed_slice();
                            let p = m.as_mut_ptr();
                            memory.push(m);
                            RawBuf::new(p, len)
                        } else {
                            RawBuf::new(std::ptr::null_mut(), len)
                        }
                    })
                    .collect();
                let counts = Arc::clone(&self.counts);
                // SAFETY: on success the memory is kept in `raw_memory` until the socket is
                // closed (every completion has run) and touched by nothing else meanwhile.
                let r = unsafe {
                    if send {
                        self.socket.send_raw(&raws, move |_| counts.done())
                    } else {
                        self.socket.receive_raw(&raws, move |_, _| counts.done())
                    }
                };
                let r = r.map_err(|e| e.into_parts().0);
                if r.is_ok() {
                    self.raw_memory.extend(memory);
                }
                self.check(&format!("{c:?}"), &descs, send, r)?;
            }
            Call::Notify(inward) => {
                let t = if *inward {
                    NotifyType::In
                } else {
                    NotifyType::Out
                };
                let counts = Arc::clone(&self.counts);
                let r = self.socket.notify_io(t, move |_| counts.done());
                self.check(
                    &format!("{c:?}"),
                    &[(true, 1)],
                    false,
                    r.map_err(|e| e.into_parts().0),
                )?;
            }
            Call::Close => {
                self.socket.close();
                prop_assert_eq!(self.state(), SocketState::Closed);
                prop_assert_eq!(
                    self.counts.accepted.load(SeqCst),
                    self.counts.completed.load(SeqCst),
                    "close returned before every accepted operation completed"
                );
            }
            Call::Open(connected) => {
                let was = self.state();
                if *connected {
                    let (mine, theirs) = listener_once().lock().unwrap().connect_pair();
                    match self.socket.open(mine) {
                        Ok(()) => {
                            prop_assert_eq!(was, SocketState::Closed);
                            self.peer = Some(theirs);
                            self.peer_closed = false;
                        }
                        Err(e) => {
                            prop_assert!(matches!(e.kind(), OpenErrorKind::NotClosed));
                            prop_assert_eq!(was, SocketState::Open);
                            prop_assert!(e.into_transport().is_valid_socket());
                        }
                    }
                } else {
                    let e = self
                        .socket
                        .open(SocketTransport::client())
                        .expect_err("an unconnected transport");
                    prop_assert!(matches!(e.kind(), OpenErrorKind::InvalidTransport));
                    prop_assert_eq!(self.state(), was);
                }
            }
            Call::PeerWrite(n) => {
                if let Some(p) = &self.peer {
                    // The peer's write fails once our end is closed (reset): that is fine.
                    let _ = p.send(&[std::io::IoSlice::new(&vec![9u8; *n])], 0);
                }
            }
            Call::PeerClose => {
                if let Some(mut p) = self.peer.take() {
                    p.disconnect();
                    self.peer_closed = true;
                }
            }
            Call::ProbeClosing => {
                let (me, counts) = (Arc::clone(&self.socket), Arc::clone(&self.counts));
                let r = self.socket.receive(vec![vec![0u8; 1]], move |_, _, _| {
                    if me.state() == SocketState::Closing {
                        let mut bad = Vec::new();
                        if let Err(e) = me.send(vec![vec![1u8]], |_, _| {}) {
                            if !matches!(e.kind(), SubmitErrorKind::NotOpen) {
                                bad.push(format!("send {:?}", e.kind()));
                            }
                        } else {
                            bad.push("send accepted while CLOSING".into());
                        }
                        if me.receive(vec![vec![0u8; 1]], |_, _, _| {}).is_ok() {
                            bad.push("receive accepted while CLOSING".into());
                        }
                        if me.notify_io(NotifyType::Out, |_| {}).is_ok() {
                            bad.push("notify accepted while CLOSING".into());
                        }
                        counts.probe_failures.lock().unwrap().extend(bad);
                    }
                    counts.done();
                });
                self.check(
                    &format!("{c:?}"),
                    &[(true, 1)],
                    false,
                    r.map_err(|e| e.into_parts().0),
                )?;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_call_sequences_get_the_documented_results(
        start_open in any::<bool>(),
        calls in prop::collection::vec(call(), 1..24),
    ) {
        let socket = Arc::new(AsyncSocket::new(engine_once()).expect("socket"));
        let mut run = Run {
            socket,
            peer: None,
            counts: Arc::default(),
            raw_memory: Vec::new(),
            peer_closed: false,
        };
        if start_open {
            run.apply(&Call::Open(true))?;
        }
        for c in &calls {
            run.apply(c)?;
        }
        run.apply(&Call::Close)?;
        let counts = Arc::clone(&run.counts);
        let Run { socket, raw_memory, .. } = run;
        drop(socket);
        drop(raw_memory);
        prop_assert_eq!(counts.off_worker.load(SeqCst), 0, "completions off the workers");
        let probes = counts.probe_failures.lock().unwrap().clone();
        prop_assert!(probes.is_empty(), "calls while CLOSING: {:?}", probes);
        prop_assert_eq!(counts.accepted.load(SeqCst), counts.completed.load(SeqCst));
    }
}
