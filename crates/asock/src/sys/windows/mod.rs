//! The Windows backend: thread-pool I/O, call for call as c-pal's `async_socket_win32` and the
//! seed (`SRS_ASYNC_SOCKET_WIN32_*`) specify. `docs/windows.md` holds the list of the seed's
//! requirements with the tests that prove them, and the one table of the places where this
//! backend departs from the seed, each with its reason and the test that shows it.
//!
//! * [`engine`]: a private `PTP_POOL` per execution engine.
//! * [`socket`]: per async socket a callback environment bound to that pool and a `PTP_IO` for
//!   its socket; per operation a context whose first field is the `OVERLAPPED`, a `WSABUF`
//!   array and an event.
//! * [`submit`]: `StartThreadpoolIo` and the transport's overlapped send / receive
//!   ([`transport`]); `CancelThreadpoolIo` on a synchronous failure.
//! * [`complete`]: `on_io_complete` on a pool thread, and the delivery of completions in
//!   submission order per direction, one at a time per socket.
//! * [`close`]: `closesocket`, `WaitForThreadpoolIoCallbacks(FALSE)`, `CloseThreadpoolIo`,
//!   `DestroyThreadpoolEnvironment`, from any thread, including the socket's own callbacks.
//! * [`os`]: the thin layer over those calls.
//! * `fault` (cargo feature `fault-injection`, tests only): makes any of those calls fail and
//!   logs them.
//!
//! # Under Wine (where CI runs it)
//! Wine 8 differs from Windows in ways that show through this backend:
//! * a receive aborted by `closesocket` completes with `ERROR_HANDLES_CLOSED` (676; Windows
//!   reports `ERROR_NETNAME_DELETED` or `ERROR_CONNECTION_ABORTED`), which the seed maps to
//!   ERROR rather than ABANDONED;
//! * `closesocket` leaves a send that has written part of its bytes pending until the peer
//!   reads (hence the `CancelIoEx` of `close`, which changes nothing visible on Windows: such
//!   a send is ERROR there too);
//! * a receive on a listening socket goes pending (Windows fails it with `WSAENOTCONN`);
//! * overlapped I/O still pending when the thread that started it exits is cancelled
//!   (`ERROR_OPERATION_ABORTED`), although the socket is bound to a completion port (Windows
//!   since Vista keeps it going): submit from threads that outlive their operations.

mod close;
pub(crate) mod complete;
pub(crate) mod engine;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub(crate) mod os;
pub(crate) mod socket;
mod submit;
pub(crate) mod transport;

pub(crate) use engine::Engine;
pub(crate) use socket::SocketIo;
