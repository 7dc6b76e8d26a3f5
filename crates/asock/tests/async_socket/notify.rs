//! Readiness notification (C13).

use super::*;

pub(super) fn notify(socket: &AsyncSocket, io_type: NotifyType) -> mpsc::Receiver<NotifyResult> {
    let (tx, rx) = mpsc::channel();
    socket
        .notify_io(io_type, move |r| {
            let _ = tx.send(r);
        })
        .expect("notify accepted");
    rx
}

/// C13: notify Out on a writable socket is delivered once; nothing is written.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn notify_out_is_delivered_once_on_a_writable_socket() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let rx = notify(&socket, NotifyType::Out);
    assert_eq!(wait_for(&rx, "notify Out"), NotifyResult::Out);
    assert_no_more(&rx, "notify Out");
    socket.close();
    raw_expect_eof(&peer); // nothing was written
}

/// C13: notify In waits for data, is delivered once when the peer writes, and reads nothing:
/// the data is still there for the next receive.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn notify_in_waits_for_data_and_consumes_nothing() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let rx = notify(&socket, NotifyType::In);
    assert_silent_for(
        &rx,
        Duration::from_millis(200),
        "notify In with nothing to read",
    );
    raw_send(&peer, b"zq");
    assert_eq!(wait_for(&rx, "notify In"), NotifyResult::In);
    assert_no_more(&rx, "notify In");
    assert_eq!(receive_exactly(&socket, 2, 8), b"zq");
}

/// C13: notify In when the peer already wrote is delivered at once; and when the peer has
/// closed (end of stream is readable) too.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn notify_in_after_the_peer_wrote_or_closed_is_delivered() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    raw_send(&peer, b"q");
    let rx = notify(&socket, NotifyType::In);
    assert_eq!(
        wait_for(&rx, "notify In with data queued"),
        NotifyResult::In
    );
    assert_no_more(&rx, "notify In");
    assert_eq!(receive_exactly(&socket, 1, 8), b"q");
    drop(peer);
    let rx = notify(&socket, NotifyType::In);
    assert_eq!(
        wait_for(&rx, "notify In after the peer closed"),
        NotifyResult::In
    );
    assert_no_more(&rx, "notify In");
}

/// C13, C9: a notify pending at close completes ABANDONED, before close returns.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn notify_pending_at_close_is_abandoned() {
    let engine = engine();
    let (socket, _peer) = socket_and_raw_peer(&engine);
    let rx = notify(&socket, NotifyType::In);
    assert_silent_for(
        &rx,
        Duration::from_millis(50),
        "notify In with nothing to read",
    );
    socket.close();
    assert_eq!(rx.try_recv(), Ok(NotifyResult::Abandoned));
    assert_no_more(&rx, "the abandoned notify");
}

/// C13: several notifies pending at once complete independently: Out at once, both Ins when
/// data arrives, each exactly once.
#[test]
#[cfg(not(windows))] // notify_io fails on Windows (04_002: windows_seed tests it)
fn several_pending_notifies_complete_independently() {
    let engine = engine();
    let (socket, peer) = socket_and_raw_peer(&engine);
    let in1 = notify(&socket, NotifyType::In);
    let out = notify(&socket, NotifyType::Out);
    let in2 = notify(&socket, NotifyType::In);
    assert_eq!(wait_for(&out, "notify Out"), NotifyResult::Out);
    assert_no_more(&out, "notify Out");
    assert_silent_for(&in1, Duration::from_millis(100), "notify In #1 before data");
    assert_eq!(
        in2.try_recv(),
        Err(TryRecvError::Empty),
        "notify In #2 before data"
    );
    raw_send(&peer, b"d");
    assert_eq!(wait_for(&in1, "notify In #1"), NotifyResult::In);
    assert_eq!(wait_for(&in2, "notify In #2"), NotifyResult::In);
    assert_no_more(&in1, "notify In #1");
    assert_no_more(&in2, "notify In #2");
    assert_eq!(receive_exactly(&socket, 1, 4), b"d");
}
