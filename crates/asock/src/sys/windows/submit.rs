//! The start of each send and receive (01_028..01_106): the event, the context,
//! `StartThreadpoolIo`, the transport's overlapped send or receive, `WSAGetLastError`, and on a
//! synchronous failure `CancelThreadpoolIo`.
//!
//! While a send or receive runs, the socket counts it (`api_calls`, c-pal's
//! `pending_api_calls`), and close waits until that count is 0 (01_020); the socket's lock is
//! held only to look at the state and to record the outcome. Submissions of one direction run
//! one at a time, so the order of a direction's slots is the order in which the kernel saw its
//! I/O.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;

use windows_sys::Win32::Foundation::{HANDLE, STATUS_PENDING};
use windows_sys::Win32::Networking::WinSock::{WSABUF, WSAECONNRESET, WSA_IO_PENDING};
use windows_sys::Win32::System::Threading::PTP_IO;
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::os;
use super::socket::{
    Dir, IoContext, Live, Op, Parked, Shared, Slot, FAILED, IN_FLIGHT, SUBMITTING,
};
use super::transport::OverlappedIo;
use crate::core::poison::unpoisoned;
use crate::core::state::SocketState;
use crate::result::SubmitErrorKind;
use crate::transport::SocketTransport;

/// Whether an `NTSTATUS` (as the `OVERLAPPED`'s `Internal` holds it) is an error (severity 3).
fn nt_error(status: usize) -> bool {
    (status as u32) >> 30 == 3
}

/// What the start of one I/O came to.
enum Started {
    /// In the kernel (or done at once): its completion comes through the pool.
    Yes(*mut IoContext),
    /// Failed before any I/O call: the error and the operation handed back.
    No(SubmitErrorKind, Op),
    /// `WSASend` / `WSARecv` failed: the error, and the context (still holding the operation)
    /// whose `StartThreadpoolIo` is still to be balanced.
    Failed(SubmitErrorKind, *mut IoContext),
}

impl Shared {
    /// Starts one send or receive (01_028..01_106). The lock is taken to check the state and
    /// count the call (01_097 / 01_098, 01_020), and again to record the outcome.
    pub(super) fn submit(
        self: &Arc<Self>,
        op: Op,
        total: u32,
        wsabufs: Box<[WSABUF]>,
    ) -> Result<(), (SubmitErrorKind, Op)> {
        let dir = match op {
            Op::Send(_) => Dir::Send,
            Op::Recv(_) => Dir::Recv,
        };
        {
            let mut g = self.lock();
            if g.state != SocketState::Open {
                // 01_097 / 01_098
                return Err((SubmitErrorKind::NotOpen, op));
            }
            // 01_020: from here until the outcome is recorded, close waits for this call.
            g.api_calls += 1;
        }
        // One submission per direction at a time (after the state check, so that a call on a
        // socket that is not OPEN never waits here).
        let order = match dir {
            Dir::Send => &self.send_order,
            Dir::Recv => &self.recv_order,
        };
        let _order = unpoisoned(order.lock());
        let (transport, io, seq) = {
            let g = self.lock();
            // A close waits for this call, so the transport is still there.
            let Some(transport) = g.transport.clone() else {
                unreachable!("the transport stays while a send or receive is counted")
            };
            (transport, g.io, g.next_seq(dir))
        };
        let started = self.start_io(op, total, wsabufs, dir, seq, &transport, io);
        // The transport is released before the call stops counting: close takes it back.
        drop(transport);
        let mut g = self.lock();
        let result = match started {
            Started::Yes(ctx) => {
                match dir {
                    Dir::Send => g.sends.push_back(Slot::InFlight(ctx as usize)),
                    Dir::Recv => g.recvs.push_back(Slot::InFlight(ctx as usize)),
                }
                g.in_flight += 1;
                // SAFETY: `ctx` is alive: its completion, the only other user, waits (under
                // this lock) until the stage leaves SUBMITTING.
                unsafe { (*ctx).stage.store(IN_FLIGHT, SeqCst) };
                // 01_045 / 01_083
                Ok(())
            }
            Started::No(kind, op) => Err((kind, op)),
            Started::Failed(kind, ctx) => {
                // Was a completion posted in spite of the failure? Winsock says none is for a
                // failure other than WSA_IO_PENDING, and then the kernel leaves the I/O's
                // status word as it was before the call (STATUS_PENDING) or sets an error
                // status; an I/O that completed anyway has a success or warning status there
                // (written before the call returned), and its completion is on its way, maybe
                // already in `on_io_complete` (`arrived`).
                // SAFETY: `ctx` is alive and this thread still owns its operation: such a
                // completion waits (under this lock) for the stage, and then frees the context
                // without touching the operation. Fields are read through the raw pointer.
                let (status, arrived) = unsafe {
                    (
                        std::ptr::addr_of!((*ctx).overlapped.Internal).read_volatile(),
                        (*ctx).arrived.load(SeqCst),
                    )
                };
                let posted = arrived || !(status == STATUS_PENDING as usize || nt_error(status));
                if !posted {
                    // 01_100 / 01_099 / 01_106 / 01_105
                    os::cancel_threadpool_io(io);
                }
                // SAFETY: as above; only these fields are touched, through the raw pointer.
                let (op, event) = unsafe { ((*ctx).op.take(), (*ctx).overlapped.hEvent) };
                os::close_handle(event);
                if posted {
                    // That completion balances the StartThreadpoolIo (cancelling it as well
                    // would make the pool drop the socket's next completion, and a close then
                    // wait for it forever); it frees the context and delivers nothing.
                    // SAFETY: as above.
                    unsafe { (*ctx).stage.store(FAILED, SeqCst) };
                    g.parked.push(Parked(ctx));
                } else {
                    // SAFETY: no completion was posted, so nothing else holds the context.
                    drop(unsafe { Box::from_raw(ctx) });
                }
                let Some(op) = op else {
                    unreachable!("a failed submission's context still holds its operation")
                };
                Err((kind, op))
            }
        };
        g.api_calls -= 1;
        drop(g);
        self.cv.notify_all();
        result
    }

    /// The calls of one submission, outside the socket's lock: the event, the context,
    /// `StartThreadpoolIo`, the transport's overlapped send or receive, and `WSAGetLastError`
    /// when it failed (the caller then balances the `StartThreadpoolIo`).
    #[allow(clippy::too_many_arguments)]
    fn start_io(
        self: &Arc<Self>,
        op: Op,
        total: u32,
        wsabufs: Box<[WSABUF]>,
        dir: Dir,
        seq: u64,
        transport: &SocketTransport,
        io: PTP_IO,
    ) -> Started {
        // 01_057 / 01_080
        let event: HANDLE = match os::create_event() {
            Ok(e) => e,
            // 01_029 / 01_084
            Err(e) => return Started::No(SubmitErrorKind::Io(e), op),
        };
        let count = wsabufs.len() as u32;
        let ctx = Box::into_raw(Box::new(IoContext {
            overlapped: OVERLAPPED {
                // Not written unless the I/O completes (see `completion_posted`).
                Internal: STATUS_PENDING as usize,
                hEvent: event,
                ..Default::default()
            },
            flags: 0,
            total,
            dir,
            seq,
            stage: AtomicU8::new(SUBMITTING),
            arrived: AtomicBool::new(false),
            op: Some(op),
            wsabufs,
            shared: Arc::clone(self),
            live: Live::new(),
        }));
        // 01_060 / 01_081
        os::start_threadpool_io(io);
        // SAFETY: `ctx` is a live allocation whose buffers, WSABUF array, flags and OVERLAPPED
        // stay in place until its completion has been delivered, or, should this fail, until
        // the failure path (or the completion posted anyway) frees it. No reference into it is
        // held across the call (a completion may run on another thread as soon as the I/O is
        // started).
        let how = unsafe {
            let bufs = (*ctx).wsabufs.as_ptr();
            let overlapped = std::ptr::addr_of_mut!((*ctx).overlapped);
            match dir {
                // 01_061: the OVERLAPPED with the event, flags 0, no byte count.
                Dir::Send => {
                    transport.send_overlapped(bufs, count, std::ptr::null_mut(), 0, overlapped)
                }
                // 01_082
                Dir::Recv => transport.receive_overlapped(
                    bufs,
                    count,
                    std::ptr::null_mut(),
                    std::ptr::addr_of_mut!((*ctx).flags),
                    overlapped,
                ),
            }
        };
        let failure = match how {
            // Done at once; the completion still comes through the pool.
            OverlappedIo::Ok => None,
            // 01_062 / 01_054
            OverlappedIo::SocketError => match os::wsa_get_last_error() {
                // 01_053 / 01_055
                WSA_IO_PENDING => None,
                // 01_100 and 01_106 (send), 01_099 (receive)
                e => Some(Err(e)),
            },
            // 01_029 (send), 01_105 (receive): a failure of any other kind.
            OverlappedIo::Other(rc) => Some(Ok(rc)),
        };
        let Some(failure) = failure else {
            return Started::Yes(ctx);
        };
        let kind = match failure {
            // 42_002
            Err(WSAECONNRESET) if dir == Dir::Send => SubmitErrorKind::NotOpen,
            // 01_029 / 01_084
            Err(e) => SubmitErrorKind::Io(std::io::Error::from_raw_os_error(e)),
            Ok(rc) => SubmitErrorKind::Io(std::io::Error::other(format!(
                "the transport's overlapped {} failed ({rc})",
                if dir == Dir::Send { "send" } else { "receive" }
            ))),
        };
        Started::Failed(kind, ctx)
    }
}
