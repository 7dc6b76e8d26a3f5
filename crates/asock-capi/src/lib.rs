//! The C ABI of asock: a drop-in replacement for Azure c-pal's `execution_engine.h`,
//! `socket_transport.h`, `async_socket.h`, `socket_handle.h` and `platform.h`.
//!
//! The headers live in `include/c_pal/` beside this crate; the crate builds `libasock_capi.a`
//! and `libasock_capi.so`. A c-pal caller changes only its include path and its link line:
//!
//! ```text
//! cc -std=c99 -I crates/asock-capi/include app.c target/release/libasock_capi.a \
//!    -lpthread -ldl -lm -lrt -lgcc_s -lutil -lc -o app
//! ```
//!
//! # Conventions
//! * Names, argument order and types are c-pal's; enums are plain C enums numbered as c-pal's
//!   `MU_DEFINE_ENUM` numbers them: `*_INVALID = 0`, then the listed values from 1. On the Rust
//!   side every enum crosses the ABI as a [`c_int`] (the C compilers this
//!   targets give such enums the size and passing of `int`), so an out-of-range value from C is
//!   a checked argument error, never undefined behaviour.
//! * Handles are heap objects owned by the caller between `*_create` and `*_destroy` (or the
//!   last `execution_engine_dec_ref`). Every function checks its handles for NULL and returns
//!   the documented failure value; a handle that is dangling or of another type is the caller's
//!   undefined behaviour, as in c-pal.
//! * No panic crosses the ABI: every exported function runs its body inside
//!   [`std::panic::catch_unwind`] (see [`guard`]) and returns its failure value if the body
//!   panicked. Completion callbacks are called from the engine's threads by closures that only
//!   call the C function pointer.
//! * Callback contexts (`void*`) are carried across threads verbatim in [`Context`].
//!
//! * Enum value names: each of the 11 enums has an exported `MU_X_ToString` ([`enum_strings`]),
//!   the function macro_utils' `MU_DEFINE_ENUM` declares, so `MU_ENUM_TO_STRING` works.
//!
//! # Ownership at `async_socket_open_async`
//! Two entry points, which the header's `async_socket_open_async` picks between by the type of
//! its second argument (a `_Generic` macro in C11, GNU builtins before, overloads in C++):
//!
//! * [`async_socket_open_async`] (the seed's form, a `SOCKET_TRANSPORT_HANDLE`): on success the
//!   async socket takes the transport's *socket*; the `SOCKET_TRANSPORT_HANDLE` object stays the
//!   caller's and becomes an empty transport of the same type (no socket:
//!   `socket_transport_is_valid_socket` is false, `socket_transport_disconnect` closes nothing).
//!   The caller still frees it with `socket_transport_destroy`, which never touches the async
//!   socket's connection. So a c-pal caller that disconnects and destroys its transport after
//!   handing it over neither leaks nor double-closes. On failure the transport is untouched.
//! * [`async_socket_open_async_with_socket_handle`] (c-pal's current form, a `SOCKET_HANDLE`):
//!   on success the async socket owns the socket and closes it at close or destroy; on failure
//!   the socket stays the caller's, open.
#![allow(non_camel_case_types)]

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod async_socket;
pub mod enum_strings;
pub mod execution_engine;
pub mod platform;
pub mod socket_handle;
pub mod socket_transport;

pub use async_socket::*;
pub use enum_strings::*;
pub use execution_engine::*;
pub use platform::*;
pub use socket_handle::*;
pub use socket_transport::*;

/// A user context (`void*`) handed to a callback on another thread, verbatim.
#[derive(Clone, Copy, Debug)]
pub struct Context(*mut c_void);

// SAFETY: the library never dereferences the pointer; it only hands it back to the caller's own
// callback, on whatever thread runs the completion. Making that valid on another thread is the
// C caller's side of the contract (as in c-pal, whose completions run on pool threads).
unsafe impl Send for Context {}
// SAFETY: as above: shared references only ever copy the pointer value.
unsafe impl Sync for Context {}

impl Context {
    /// Wraps a user context.
    pub fn new(ptr: *mut c_void) -> Self {
        Self(ptr)
    }

    /// The pointer, as handed in. (A method rather than a field access, so that closures capture
    /// the whole `Send` wrapper and not the raw pointer inside it.)
    pub fn get(self) -> *mut c_void {
        self.0
    }
}

/// Runs an exported function's body, turning a panic into the function's failure value so that
/// no unwinding crosses the C ABI. The panic message still goes to the panic hook (stderr).
pub fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// The non-zero `int` failure value of the functions that return 0 on success: the source line
/// of the failure, as c-pal's `MU_FAILURE` (`__LINE__`), which helps when debugging.
macro_rules! failure {
    () => {
        (line!() as ::std::ffi::c_int).max(1)
    };
}
pub(crate) use failure;

/// `int` success value.
pub(crate) const SUCCESS: c_int = 0;

/// A caller's array of `count` buffer descriptors, or `None` for a NULL array or a count of 0 or
/// over [`asock::buf::MAX_BUFFERS`]: refused before any descriptor is read, so a count that
/// overstates the array is never read past. The descriptors themselves are the caller's to
/// check ([`asock::buf::check_buffers`] or the `*_raw` submissions).
///
/// # Safety
/// `payload` is NULL or points to `count` readable descriptors that stay valid for `'a`.
pub(crate) unsafe fn descriptors<'a, T>(payload: *const T, count: u32) -> Option<&'a [T]> {
    if payload.is_null() || count == 0 || count as usize > asock::buf::MAX_BUFFERS {
        return None;
    }
    // SAFETY: non-NULL, `count` readable descriptors valid for `'a` (this function's contract).
    Some(unsafe { std::slice::from_raw_parts(payload, count as usize) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_a_panic_into_the_failure_value() {
        assert_eq!(guard(7, || 3), 3);
        assert_eq!(guard(7, || -> i32 { panic!("a bug") }), 7);
    }

    #[test]
    fn failure_values_are_non_zero() {
        let f: c_int = failure!();
        assert_ne!(f, SUCCESS);
    }

    #[test]
    fn context_is_carried_verbatim_across_threads() {
        let mut x = 5u8;
        let ctx = Context::new((&mut x as *mut u8).cast());
        let back = std::thread::spawn(move || ctx.get() as usize)
            .join()
            .unwrap();
        assert_eq!(back, &mut x as *mut u8 as usize);
    }
}
