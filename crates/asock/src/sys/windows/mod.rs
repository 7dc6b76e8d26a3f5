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

pub(crate) mod engine;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub(crate) mod os;
pub(crate) mod socket;

pub(crate) use engine::Engine;
pub(crate) use socket::SocketIo;
