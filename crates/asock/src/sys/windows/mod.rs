//! The Windows backend: thread-pool I/O, call for call as c-pal's `async_socket_win32` and the
//! seed (`SRS_ASYNC_SOCKET_WIN32_*`) specify.
//!
//! * [`engine`]: a private `PTP_POOL` per execution engine.
//! * [`socket`]: per async socket a callback environment bound to that pool and a `PTP_IO` for
//!   its socket; per operation a context whose first field is the `OVERLAPPED`, a `WSABUF`
//!   array and an event; `StartThreadpoolIo` + overlapped `WSASend` / `WSARecv`;
//!   `CancelThreadpoolIo` on a synchronous failure; completions in `on_io_complete` on a pool
//!   thread; close as `closesocket`, `WaitForThreadpoolIoCallbacks(FALSE)`, `CloseThreadpoolIo`,
//!   `DestroyThreadpoolEnvironment`.
//! * [`os`]: the thin layer over those calls.
//! * `fault` (cargo feature `fault-injection`, tests only): makes any of those calls fail and
//!   logs them.
//!
//! Beyond the seed, for the contract: completions are delivered in submission order per
//! direction, one at a time per socket (the pool would run them concurrently and out of order);
//! a close from inside one of the socket's own callbacks waits on its own count of operations
//! instead of `WaitForThreadpoolIoCallbacks` (which would wait for itself); `close_with` never
//! blocks; before `closesocket`, sends still in the kernel are cancelled with `CancelIoEx`.
//!
//! # Under Wine (where CI runs it)
//! Wine 8 differs from Windows in three ways that show through this backend:
//! * a receive aborted by `closesocket` completes with `ERROR_HANDLES_CLOSED` (676; Windows
//!   reports `ERROR_NETNAME_DELETED` or `ERROR_CONNECTION_ABORTED`), which the seed maps to
//!   ERROR rather than ABANDONED;
//! * `closesocket` leaves a send that has written part of its bytes pending forever (hence the
//!   `CancelIoEx` above, which changes nothing visible on Windows: such a send is ERROR there
//!   too);
//! * overlapped I/O still pending when the thread that started it exits is cancelled
//!   (`ERROR_OPERATION_ABORTED`), although the socket is bound to a completion port (Windows
//!   since Vista keeps it going): submit from threads that outlive their operations.

pub(crate) mod engine;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub(crate) mod os;
pub(crate) mod socket;

pub(crate) use engine::Engine;
pub(crate) use socket::SocketIo;
