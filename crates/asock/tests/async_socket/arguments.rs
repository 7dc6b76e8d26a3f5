//! Argument errors (C3): rejected in every state, buffers handed back, nothing called.

use super::*;

/// (address, length) of every buffer: equal before and after proves the very same
/// allocations came back, without reading gigabytes.
pub(super) fn identity(bufs: &[Vec<u8>]) -> Vec<(usize, usize)> {
    bufs.iter()
        .map(|b| (b.as_ptr() as usize, b.len()))
        .collect()
}

/// Contents of the small buffers (the big ones are compared by identity only).
fn small_contents(bufs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    bufs.iter()
        .map(|b| if b.len() <= 64 { b.clone() } else { Vec::new() })
        .collect()
}

/// The reason of an `InvalidArgument`, or a failure naming what came instead.
fn invalid_argument_reason(kind: &SubmitErrorKind, what: &str) -> String {
    match kind {
        SubmitErrorKind::InvalidArgument(why) => why.to_lowercase(),
        other => panic!("{what}: expected SubmitErrorKind::InvalidArgument, got {other:?}"),
    }
}

fn assert_send_invalid(socket: &AsyncSocket, bufs: Vec<Vec<u8>>, reason: &str, what: &str) {
    let (id, contents) = (identity(&bufs), small_contents(&bufs));
    let (tx, rx) = mpsc::channel::<SendResult>();
    let err = socket
        .send(bufs, move |r, _| {
            let _ = tx.send(r);
        })
        .expect_err(what);
    let why = invalid_argument_reason(err.kind(), what);
    assert!(
        why.contains(reason),
        "{what}: reason {why:?} should mention {reason:?}"
    );
    assert_eq!(err.send_sync_result(), SendSyncResult::Error, "{what}");
    let back = err.into_inner();
    assert_eq!(identity(&back), id, "{what}: the same buffers handed back");
    assert_eq!(small_contents(&back), contents, "{what}: contents intact");
    assert_no_more(&rx, what);
}

fn assert_receive_invalid(socket: &AsyncSocket, bufs: Vec<Vec<u8>>, reason: &str, what: &str) {
    let (id, contents) = (identity(&bufs), small_contents(&bufs));
    let (tx, rx) = mpsc::channel::<ReceiveResult>();
    let err = socket
        .receive(bufs, move |r, _, _| {
            let _ = tx.send(r);
        })
        .expect_err(what);
    let why = invalid_argument_reason(err.kind(), what);
    assert!(
        why.contains(reason),
        "{what}: reason {why:?} should mention {reason:?}"
    );
    let back = err.into_inner();
    assert_eq!(identity(&back), id, "{what}: the same buffers handed back");
    assert_eq!(small_contents(&back), contents, "{what}: contents intact");
    assert_no_more(&rx, what);
}

fn assert_send_raw_invalid(socket: &AsyncSocket, bufs: &[RawBuf], reason: &str, what: &str) {
    let (tx, rx) = mpsc::channel::<SendResult>();
    // SAFETY: every non-null pointer given here points to leaked ('static) memory of at least
    // the stated length, and the call is expected to be rejected before using any of them.
    let err = unsafe {
        socket.send_raw(bufs, move |r| {
            let _ = tx.send(r);
        })
    }
    .expect_err(what);
    let why = invalid_argument_reason(err.kind(), what);
    assert!(
        why.contains(reason),
        "{what}: reason {why:?} should mention {reason:?}"
    );
    assert_eq!(err.send_sync_result(), SendSyncResult::Error, "{what}");
    assert_no_more(&rx, what);
}

fn assert_receive_raw_invalid(socket: &AsyncSocket, bufs: &[RawBuf], reason: &str, what: &str) {
    let (tx, rx) = mpsc::channel::<ReceiveResult>();
    // SAFETY: as in `assert_send_raw_invalid`.
    let err = unsafe {
        socket.receive_raw(bufs, move |r, _| {
            let _ = tx.send(r);
        })
    }
    .expect_err(what);
    let why = invalid_argument_reason(err.kind(), what);
    assert!(
        why.contains(reason),
        "{what}: reason {why:?} should mention {reason:?}"
    );
    assert_no_more(&rx, what);
}

/// Runs `check` on one async socket in each state: never opened (CLOSED), OPEN, and CLOSED
/// again after close — argument errors win over state errors (C3). While OPEN it then proves
/// the rejected calls left no trace: a marker byte sent next is the first the peer reads, and
/// a byte from the peer goes to the next receive.
fn in_every_state(check: impl Fn(&AsyncSocket, &str)) {
    let engine = engine();
    let socket = AsyncSocket::new(&engine).expect("create");
    assert_eq!(socket.state(), SocketState::Closed);
    check(&socket, "never opened (CLOSED)");

    let (client, peer) = transport_pair();
    socket.open(client).expect("open");
    check(&socket, "OPEN");
    let (r, _) = send_and_wait(&socket, vec![b"M".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(
        raw_read_exact(&peer, 1),
        b"M",
        "nothing from a rejected send reached the peer"
    );
    raw_send(&peer, b"N");
    let (r, n, bufs) = receive_and_wait(&socket, vec![vec![0u8; 4]]);
    assert_eq!((r, filled(&bufs, n)), (ReceiveResult::Ok, b"N".to_vec()));

    socket.close();
    assert_eq!(socket.state(), SocketState::Closed);
    check(&socket, "CLOSED after close");
}

/// Two 2 GiB buffers and one byte: a total over `u32::MAX`. `vec![0; n]` is calloc'd, and its
/// pages are never touched (the submission is rejected), so this costs no memory.
fn over_u32_max() -> Vec<Vec<u8>> {
    vec![vec![0u8; 1 << 31], vec![0u8; 1 << 31], vec![7u8]]
}

/// C3: a send with no buffers is an argument error in every state.
#[test]
fn send_with_no_buffers_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        assert_send_invalid(
            s,
            Vec::new(),
            "no buffers",
            &format!("send(no buffers), {state}"),
        )
    });
}

/// C3: a send with a zero-length buffer among others is an argument error in every state.
#[test]
fn send_with_a_zero_length_buffer_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let bufs = vec![b"ab".to_vec(), Vec::new(), b"c".to_vec()];
        assert_send_invalid(
            s,
            bufs,
            "zero length",
            &format!("send(zero-length), {state}"),
        );
        assert_send_invalid(
            s,
            vec![Vec::new()],
            "zero length",
            &format!("send([]), {state}"),
        );
    });
}

/// C3: a send totalling more than `u32::MAX` bytes is an argument error in every state.
#[test]
fn send_over_u32_max_total_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        assert_send_invalid(
            s,
            over_u32_max(),
            "u32::max",
            &format!("send(> u32::MAX), {state}"),
        )
    });
}

/// C3 boundary: a total of exactly `u32::MAX` is a valid argument (a CLOSED socket then
/// answers with the state error, without touching the 4 GiB).
#[test]
fn send_and_receive_of_exactly_u32_max_bytes_are_valid_arguments() {
    let engine = engine();
    let socket = AsyncSocket::new(&engine).expect("create");
    let exact = || vec![vec![0u8; 1 << 31], vec![0u8; (1 << 31) - 1]];
    let err = socket.send(exact(), |_, _| {}).expect_err("closed socket");
    assert!(
        matches!(err.kind(), SubmitErrorKind::NotOpen),
        "{:?}",
        err.kind()
    );
    let err = socket
        .receive(exact(), |_, _, _| {})
        .expect_err("closed socket");
    assert!(
        matches!(err.kind(), SubmitErrorKind::NotOpen),
        "{:?}",
        err.kind()
    );
    let back = err.into_inner();
    assert_eq!(back.iter().map(Vec::len).sum::<usize>(), u32::MAX as usize);
}

/// C3: a receive with no buffers is an argument error in every state.
#[test]
fn receive_with_no_buffers_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let what = format!("receive(no buffers), {state}");
        assert_receive_invalid(s, Vec::new(), "no buffers", &what)
    });
}

/// C3: a receive with a zero-length buffer among others is an argument error in every state.
#[test]
fn receive_with_a_zero_length_buffer_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let bufs = vec![vec![1u8; 2], Vec::new(), vec![2u8; 1]];
        let what = format!("receive(zero-length), {state}");
        assert_receive_invalid(s, bufs, "zero length", &what);
        let what = format!("receive([]), {state}");
        assert_receive_invalid(s, vec![Vec::new()], "zero length", &what);
    });
}

/// C3: a receive into more than `u32::MAX` bytes is an argument error in every state.
#[test]
fn receive_over_u32_max_total_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let what = format!("receive(> u32::MAX), {state}");
        assert_receive_invalid(s, over_u32_max(), "u32::max", &what)
    });
}

/// 4 bytes of leaked memory: valid for the whole test run, whatever the library does.
fn leaked_bytes() -> *mut u8 {
    Box::leak(Box::new([0x11u8; 4])).as_mut_ptr()
}

/// C3: `send_raw` with a null pointer, alone or after a valid buffer, is an argument error in
/// every state.
#[test]
fn send_raw_with_a_null_pointer_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let null = RawBuf::new(std::ptr::null_mut(), 4);
        let good = RawBuf::new(leaked_bytes(), 4);
        assert_send_raw_invalid(s, &[null], "null", &format!("send_raw(null), {state}"));
        let what = format!("send_raw(good, null), {state}");
        assert_send_raw_invalid(s, &[good, null], "null", &what);
    });
}

/// C3: `send_raw` with a zero length, or with no descriptors, is an argument error in every
/// state.
#[test]
fn send_raw_with_zero_length_or_no_buffers_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let zero = RawBuf::new(leaked_bytes(), 0);
        let good = RawBuf::new(leaked_bytes(), 4);
        assert_send_raw_invalid(
            s,
            &[zero],
            "zero length",
            &format!("send_raw(len 0), {state}"),
        );
        let what = format!("send_raw(good, len 0), {state}");
        assert_send_raw_invalid(s, &[good, zero], "zero length", &what);
        assert_send_raw_invalid(s, &[], "no buffers", &format!("send_raw([]), {state}"));
    });
}

/// C3: `receive_raw` with a null pointer is an argument error in every state.
#[test]
fn receive_raw_with_a_null_pointer_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let null = RawBuf::new(std::ptr::null_mut(), 4);
        let good = RawBuf::new(leaked_bytes(), 4);
        assert_receive_raw_invalid(s, &[null], "null", &format!("receive_raw(null), {state}"));
        let what = format!("receive_raw(good, null), {state}");
        assert_receive_raw_invalid(s, &[good, null], "null", &what);
    });
}

/// C3: `receive_raw` with a zero length, or with no descriptors, is an argument error in
/// every state.
#[test]
fn receive_raw_with_zero_length_or_no_buffers_is_invalid_argument_in_every_state() {
    in_every_state(|s, state| {
        let zero = RawBuf::new(leaked_bytes(), 0);
        let good = RawBuf::new(leaked_bytes(), 4);
        let what = format!("receive_raw(len 0), {state}");
        assert_receive_raw_invalid(s, &[zero], "zero length", &what);
        let what = format!("receive_raw(good, len 0), {state}");
        assert_receive_raw_invalid(s, &[good, zero], "zero length", &what);
        let what = format!("receive_raw([]), {state}");
        assert_receive_raw_invalid(s, &[], "no buffers", &what);
    });
}
