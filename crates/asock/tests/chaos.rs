//! Chaos test: many connections on loopback, several threads doing random sends, receives,
//! notifies, closes, peer resets (SO_LINGER 0, then close) and drops, with every byte that
//! arrives checked against what was sent.
//!
//! Seeded and reproducible: the seed is printed; `ASOCK_CHAOS_SEED=<n>` replays the same random
//! choices (thread timing still varies). `ASOCK_CHAOS_SECS` sets the duration (default 20 s).
//!
//! Every byte of a direction (one socket to its peer) at stream offset `o` has the value
//! `byte(key, o)`, a hash of the direction's key and the offset. Sends on one socket take their
//! offsets in the order they are accepted (a per-direction lock is held across `send`), so the
//! receiving callback (receives of one socket complete in order, C14) checks every byte against
//! the offset it lands at: nothing lost, duplicated, reordered or corrupted; nothing that was
//! not sent. At the end the counts balance:
//! * every accepted submission completed exactly once, on an engine worker, and every close
//!   returned only after the socket's outstanding operations had completed;
//! * a send fails only on a connection that was closed, reset or dropped;
//! * on connections that stayed open, every byte sent OK arrives.
//!
//! Half the connections have small kernel send buffers, so sends queue behind one another,
//! writes come back short and closes, resets and drops find sends in flight.

mod common;

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use asock::socket2::SockRef;
use asock::transport::SocketTransport;
use asock::{
    AsyncSocket, ExecutionEngine, NotifyResult, NotifyType, ReceiveResult, SendResult,
    SubmitErrorKind,
};
use common::*;

const SLOTS: usize = 48;
const THREADS: usize = 4;
/// Most unsent bytes queued on one socket.
const MAX_QUEUED: u64 = 512 * 1024;
/// Most receives outstanding on one socket.
const MAX_RECVS: usize = 3;

/// SplitMix64: small, seedable, good enough to drive random choices and to hash offsets.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The byte at stream offset `off` of the direction with key `key`.
fn byte(key: u64, off: u64) -> u8 {
    (mix(key ^ (off >> 3).wrapping_mul(0x2545_f491_4f6c_dd1d)) >> ((off & 7) * 8)) as u8
}

fn fill(key: u64, from: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = byte(key, from + i as u64);
    }
}

#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    completed: AtomicU64,
    sends_ok: AtomicU64,
    sends_failed: AtomicU64,
    recvs_ok: AtomicU64,
    recvs_abandoned: AtomicU64,
    notifies: AtomicU64,
    rejected: AtomicU64,
    bytes_verified: AtomicU64,
    connections: AtomicU64,
    closes: AtomicU64,
    resets: AtomicU64,
    drops: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Stats {
    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 20 {
            v.push(what);
        }
    }
    /// Every callback calls this once, first.
    fn completion(&self, what: &str) {
        self.completed.fetch_add(1, SeqCst);
        let name = thread::current().name().unwrap_or("").to_string();
        if !name.starts_with("asock-worker") {
            self.violation(format!("{what} completed on thread {name:?}, not a worker"));
        }
    }
}

/// One direction of a connection: bytes written by one side, read by the other.
struct Dir {
    key: u64,
    /// End of the bytes handed to accepted sends (or being handed, under this lock).
    reserved: u64,
    /// End of the bytes of sends that completed OK (sends complete in order).
    ok: u64,
    /// Bytes received and verified so far.
    received: u64,
    /// The receiving side saw the end of the stream (or an error).
    ended: bool,
}

struct Side {
    sock: Option<AsyncSocket>,
    fd: RawFd,
    /// Operations accepted on this socket and not completed yet.
    outstanding: Arc<AtomicUsize>,
    recvs: Arc<AtomicUsize>,
}

struct Slot {
    sides: [Side; 2],
    /// `dirs[i]`: written by side `i`, read by side `1 - i`.
    dirs: [Arc<Mutex<Dir>>; 2],
    /// A side was closed, reset or dropped: sends may now fail and data may stop.
    disturbed: Arc<AtomicBool>,
}

struct World {
    engine: ExecutionEngine,
    listener: Mutex<Listener>,
    slots: Vec<Mutex<Slot>>,
    stats: Arc<Stats>,
}

impl World {
    fn new_slot(&self, rng: &mut Rng) -> Slot {
        let (a, b) = self.listener.lock().unwrap().connect_pair();
        self.stats.connections.fetch_add(1, SeqCst);
        // Half the connections get small kernel send buffers, so that sends queue up, writes
        // come back short and closes find sends in flight.
        let small = rng.below(2) == 0;
        let side = |t: SocketTransport| {
            let fd = t.underlying_socket().expect("a connected transport");
            if small {
                // SAFETY: `t` owns the descriptor and keeps it open for this borrow.
                let b = unsafe { BorrowedFd::borrow_raw(fd) };
                let s = SockRef::from(&b);
                // (A receive buffer below two loopback segments, 64 KiB each, would stall TCP
                // itself: the receiver never reopens its window by a full segment.)
                s.set_send_buffer_size(8192).expect("SO_SNDBUF");
                s.set_recv_buffer_size(128 * 1024).expect("SO_RCVBUF");
            }
            Side {
                sock: Some(open_on(&self.engine, t)),
                fd,
                outstanding: Arc::default(),
                recvs: Arc::default(),
            }
        };
        let dir = |key| {
            Arc::new(Mutex::new(Dir {
                key,
                reserved: 0,
                ok: 0,
                received: 0,
                ended: false,
            }))
        };
        Slot {
            sides: [side(a), side(b)],
            dirs: [dir(rng.next()), dir(rng.next())],
            disturbed: Arc::default(),
        }
    }
}

/// Submits a send of random buffers on side `s` (offsets taken under the direction's lock).
fn send(world: &World, slot: &Slot, s: usize, rng: &mut Rng) {
    let Some(sock) = &slot.sides[s].sock else {
        return;
    };
    let dir = Arc::clone(&slot.dirs[s]);
    let mut d = dir.lock().unwrap();
    if d.reserved - d.ok > MAX_QUEUED {
        return;
    }
    let count = rng.range(1, 6);
    let mut bufs = Vec::with_capacity(count);
    let mut off = d.reserved;
    for _ in 0..count {
        let len = if rng.below(4) == 0 {
            rng.range(1, 64 * 1024)
        } else {
            rng.range(1, 2048)
        };
        let mut b = vec![0u8; len];
        fill(d.key, off, &mut b);
        off += len as u64;
        bufs.push(b);
    }
    let (start, end) = (d.reserved, off);
    d.reserved = end;
    let stats = Arc::clone(&world.stats);
    let (dir2, disturbed, outstanding) = (
        Arc::clone(&dir),
        Arc::clone(&slot.disturbed),
        Arc::clone(&slot.sides[s].outstanding),
    );
    outstanding.fetch_add(1, SeqCst);
    let r = sock.send(bufs, move |r, bufs| {
        stats.completion("send");
        let total: usize = bufs.iter().map(Vec::len).sum();
        if total as u64 != end - start {
            stats.violation(format!(
                "send handed back {total} bytes, not {}",
                end - start
            ));
        }
        let mut d = dir2.lock().unwrap();
        match r {
            SendResult::Ok => {
                stats.sends_ok.fetch_add(1, SeqCst);
                if d.ok != start {
                    stats.violation(format!(
                        "send [{start}, {end}) completed OK after OK sends up to {}",
                        d.ok
                    ));
                }
                d.ok = end;
            }
            _ => {
                stats.sends_failed.fetch_add(1, SeqCst);
                if !disturbed.load(SeqCst) {
                    stats.violation(format!("send {r:?} on an undisturbed connection"));
                }
            }
        }
        drop(d);
        outstanding.fetch_sub(1, SeqCst);
    });
    match r {
        Ok(()) => {
            world.stats.accepted.fetch_add(1, SeqCst);
        }
        Err(e) => {
            // Nothing of a rejected send was written: give its offsets back.
            d.reserved = start;
            slot.sides[s].outstanding.fetch_sub(1, SeqCst);
            world.stats.rejected.fetch_add(1, SeqCst);
            if !matches!(e.kind(), SubmitErrorKind::NotOpen) || !slot.disturbed.load(SeqCst) {
                world
                    .stats
                    .violation(format!("send rejected: {:?}", e.kind()));
            }
        }
    }
}

/// Submits a receive into random buffers on side `s`; its callback verifies every byte.
fn receive(world: &World, slot: &Slot, s: usize, rng: &mut Rng) {
    let side = &slot.sides[s];
    let Some(sock) = &side.sock else {
        return;
    };
    if side.recvs.load(SeqCst) >= MAX_RECVS {
        return;
    }
    let count = rng.range(1, 4);
    let bufs: Vec<Vec<u8>> = (0..count)
        .map(|_| vec![0u8; rng.range(1, 16 * 1024)])
        .collect();
    let total: usize = bufs.iter().map(Vec::len).sum();
    let dir = Arc::clone(&slot.dirs[1 - s]);
    let stats = Arc::clone(&world.stats);
    let (outstanding, recvs) = (Arc::clone(&side.outstanding), Arc::clone(&side.recvs));
    outstanding.fetch_add(1, SeqCst);
    recvs.fetch_add(1, SeqCst);
    let r = sock.receive(bufs, move |r, n, bufs| {
        stats.completion("receive");
        let mut d = dir.lock().unwrap();
        match r {
            ReceiveResult::Ok => {
                stats.recvs_ok.fetch_add(1, SeqCst);
                let n = n as u64;
                if n == 0 || n > total as u64 {
                    stats.violation(format!("receive OK with {n} bytes into {total}"));
                }
                if d.received + n > d.reserved {
                    stats.violation(format!(
                        "received up to {} but only {} were sent",
                        d.received + n,
                        d.reserved
                    ));
                }
                let mut off = d.received;
                let mut left = n as usize;
                let mut bad = None;
                for b in &bufs {
                    let k = left.min(b.len());
                    for (i, &x) in b[..k].iter().enumerate() {
                        if x != byte(d.key, off + i as u64) && bad.is_none() {
                            bad = Some(off + i as u64);
                        }
                    }
                    off += k as u64;
                    left -= k;
                }
                if let Some(at) = bad {
                    stats.violation(format!("wrong byte at stream offset {at}"));
                }
                d.received += n;
                stats.bytes_verified.fetch_add(n, SeqCst);
            }
            ReceiveResult::Abandoned => {
                stats.recvs_abandoned.fetch_add(1, SeqCst);
                if n != 0 {
                    stats.violation(format!("receive ABANDONED with {n} bytes"));
                }
                d.ended = true;
            }
            ReceiveResult::Error => {
                d.ended = true;
                stats.violation("receive ERROR".to_string());
            }
        }
        drop(d);
        recvs.fetch_sub(1, SeqCst);
        outstanding.fetch_sub(1, SeqCst);
    });
    match r {
        Ok(()) => {
            world.stats.accepted.fetch_add(1, SeqCst);
        }
        Err(e) => {
            side.outstanding.fetch_sub(1, SeqCst);
            side.recvs.fetch_sub(1, SeqCst);
            world.stats.rejected.fetch_add(1, SeqCst);
            world.stats.violation(format!(
                "receive on an open socket rejected: {:?}",
                e.kind()
            ));
        }
    }
}

fn notify(world: &World, slot: &Slot, s: usize, rng: &mut Rng) {
    let side = &slot.sides[s];
    let Some(sock) = &side.sock else {
        return;
    };
    let io_type = if rng.below(2) == 0 {
        NotifyType::In
    } else {
        NotifyType::Out
    };
    let stats = Arc::clone(&world.stats);
    let outstanding = Arc::clone(&side.outstanding);
    let disturbed = Arc::clone(&slot.disturbed);
    outstanding.fetch_add(1, SeqCst);
    let r = sock.notify_io(io_type, move |r| {
        stats.completion("notify");
        stats.notifies.fetch_add(1, SeqCst);
        let fine = matches!(
            (io_type, r),
            (NotifyType::In, NotifyResult::In)
                | (NotifyType::Out, NotifyResult::Out)
                | (_, NotifyResult::Abandoned)
        ) || (r == NotifyResult::Error && disturbed.load(SeqCst));
        if !fine {
            stats.violation(format!("notify {io_type:?} completed {r:?}"));
        }
        outstanding.fetch_sub(1, SeqCst);
    });
    match r {
        Ok(()) => {
            world.stats.accepted.fetch_add(1, SeqCst);
        }
        Err(e) => {
            side.outstanding.fetch_sub(1, SeqCst);
            world
                .stats
                .violation(format!("notify on an open socket rejected: {:?}", e.kind()));
        }
    }
}

/// Ends side `s`: a close, a reset (SO_LINGER 0 then close) or a drop; then checks that
/// nothing of it is still outstanding.
fn end_side(world: &World, slot: &mut Slot, s: usize, how: u64) {
    let Some(sock) = slot.sides[s].sock.take() else {
        return;
    };
    slot.disturbed.store(true, SeqCst);
    match how {
        0 => {
            sock.close();
            world.stats.closes.fetch_add(1, SeqCst);
            drop(sock);
        }
        1 => {
            // SAFETY: the async socket owns this descriptor and keeps it open until the close
            // below; the borrow ends before it.
            let fd = unsafe { BorrowedFd::borrow_raw(slot.sides[s].fd) };
            SockRef::from(&fd)
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER 0");
            sock.close();
            world.stats.resets.fetch_add(1, SeqCst);
            drop(sock);
        }
        _ => {
            drop(sock);
            world.stats.drops.fetch_add(1, SeqCst);
        }
    }
    let left = slot.sides[s].outstanding.load(SeqCst);
    if left != 0 {
        world.stats.violation(format!(
            "close/drop returned with {left} operations outstanding"
        ));
    }
}

fn chaos_thread(world: &World, mut rng: Rng, deadline: Instant) -> u64 {
    let mut actions = 0;
    while Instant::now() < deadline {
        let i = rng.below(SLOTS as u64) as usize;
        let mut slot = world.slots[i].lock().unwrap();
        let s = rng.below(2) as usize;
        actions += 1;
        match rng.below(100) {
            0..=39 => send(world, &slot, s, &mut rng),
            40..=79 => receive(world, &slot, s, &mut rng),
            80..=89 => notify(world, &slot, s, &mut rng),
            90..=91 => end_side(world, &mut slot, s, rng.below(3)),
            _ => {
                // Replace a connection once both of its sides have ended.
                if slot.sides.iter().all(|x| x.sock.is_none()) {
                    *slot = world.new_slot(&mut rng);
                }
            }
        }
    }
    actions
}

/// On a connection that stayed open, every byte sent OK arrives: keep receives posted until
/// each direction has received what was sent (all sends there complete OK).
fn drain(world: &World, slot: &Slot, rng: &mut Rng) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for s in 0..2 {
        loop {
            let (reserved, ok, received) = {
                let d = slot.dirs[s].lock().unwrap();
                (d.reserved, d.ok, d.received)
            };
            if ok == reserved && received == reserved {
                break;
            }
            if Instant::now() >= deadline {
                let q = |fd, req| {
                    let mut n: libc::c_int = -1;
                    // SAFETY: the ioctl writes one c_int into `n`; the sockets are still open.
                    unsafe { libc::ioctl(fd, req, &mut n) };
                    n
                };
                panic!(
                    "drain: direction {s}: {reserved} bytes sent, {ok} completed OK, {received} \
                     received after 30 s; the receiver's kernel queue holds {} bytes, the \
                     sender's {} unsent; {} receives outstanding",
                    q(slot.sides[1 - s].fd, libc::FIONREAD),
                    q(slot.sides[s].fd, libc::TIOCOUTQ),
                    slot.sides[1 - s].recvs.load(SeqCst),
                );
            }
            receive(world, slot, 1 - s, rng);
            thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn chaos_many_connections_random_operations_every_byte_checked() {
    let seed = std::env::var("ASOCK_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let secs: u64 = std::env::var("ASOCK_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    println!("chaos: seed {seed} (ASOCK_CHAOS_SEED={seed} replays it), {secs} s");
    let mut rng = Rng(seed);
    let mut world = World {
        engine: engine(),
        listener: Mutex::new(Listener::v4()),
        slots: Vec::new(),
        stats: Arc::default(),
    };
    let slots: Vec<_> = (0..SLOTS)
        .map(|_| Mutex::new(world.new_slot(&mut rng)))
        .collect();
    world.slots = slots;
    let world = Arc::new(world);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let w = Arc::clone(&world);
            let r = Rng(mix(seed ^ (t as u64 + 1)));
            thread::spawn(move || chaos_thread(&w, r, deadline))
        })
        .collect();
    let actions: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    // Connections that stayed open deliver everything.
    let mut intact = 0;
    for slot in &world.slots {
        let slot = slot.lock().unwrap();
        if !slot.disturbed.load(SeqCst) {
            intact += 1;
            drain(&world, &slot, &mut rng);
        }
    }
    // Close and drop everything: every accepted operation must have completed.
    for slot in &world.slots {
        let mut slot = slot.lock().unwrap();
        for s in 0..2 {
            end_side(&world, &mut slot, s, 0);
        }
    }
    let st = &world.stats;
    let (accepted, completed) = (st.accepted.load(SeqCst), st.completed.load(SeqCst));
    println!(
        "chaos: {actions} random actions; {accepted} submissions accepted, {completed} \
         completed, {} rejected; sends {} OK / {} failed; receives {} OK / {} abandoned; {} \
         notifies; {} bytes verified; {} connections ({intact} intact at the end), {} closes, \
         {} resets, {} drops",
        st.rejected.load(SeqCst),
        st.sends_ok.load(SeqCst),
        st.sends_failed.load(SeqCst),
        st.recvs_ok.load(SeqCst),
        st.recvs_abandoned.load(SeqCst),
        st.notifies.load(SeqCst),
        st.bytes_verified.load(SeqCst),
        st.connections.load(SeqCst),
        st.closes.load(SeqCst),
        st.resets.load(SeqCst),
        st.drops.load(SeqCst),
    );
    let violations = st.violations.lock().unwrap().clone();
    assert!(
        violations.is_empty(),
        "seed {seed}: violations: {violations:#?}"
    );
    assert_eq!(accepted, completed, "seed {seed}: accepted vs completed");
    assert!(
        st.bytes_verified.load(SeqCst) > 0,
        "seed {seed}: no data moved"
    );
    assert!(accepted > 1000, "seed {seed}: only {accepted} operations");
}
