//! The `MU_X_ToString` functions that c-pal's `MU_DEFINE_ENUM` declares for each of its enums,
//! so that `MU_ENUM_TO_STRING(X, value)` and `MU_ENUM_VALUE(X, value)` (macro_utils' or the
//! headers' own) work in a c-pal program.
//!
//! Each returns the value's name as a static NUL-terminated string: `"X_INVALID"` for 0, the
//! listed names from 1 in the header's order, and `"UNKNOWN"` for any other value, as macro_utils
//! does. The names here are checked against the headers' `X_VALUES` lists by
//! `tests/c/test_enums.c`.

use std::ffi::{c_char, c_int};

/// What every `MU_X_ToString` returns for a value outside its enum.
const UNKNOWN: &str = "UNKNOWN\0";

/// The name at `value` in `names` (NUL-terminated), or [`UNKNOWN`].
fn name_of(names: &[&'static str], value: c_int) -> *const c_char {
    let name = usize::try_from(value)
        .ok()
        .and_then(|i| names.get(i))
        .copied()
        .unwrap_or(UNKNOWN);
    name.as_ptr().cast::<c_char>()
}

/// Defines `MU_<enum>_ToString` for each enum, from its `_INVALID` name and its listed values.
macro_rules! to_string_functions {
    ($($function:ident($enum_type:ident): $($name:ident),+;)+) => {
        $(
            #[doc = concat!(
                "`", stringify!($function), "`: the name of a `", stringify!($enum_type),
                "` value (`\"", stringify!($enum_type), "_INVALID\"` for 0), `\"UNKNOWN\"` for ",
                "a value outside the enum. The string is static: never free it."
            )]
            #[no_mangle]
            #[allow(non_snake_case)]
            pub extern "C" fn $function(value: crate::$enum_type) -> *const c_char {
                const NAMES: &[&str] = &[$(concat!(stringify!($name), "\0")),+];
                name_of(NAMES, value)
            }
        )+
    };
}

to_string_functions! {
    MU_SOCKET_SEND_RESULT_ToString(SOCKET_SEND_RESULT):
        SOCKET_SEND_RESULT_INVALID, SOCKET_SEND_INVALID_ARG, SOCKET_SEND_OK, SOCKET_SEND_ERROR,
        SOCKET_SEND_FAILED, SOCKET_SEND_SHUTDOWN;
    MU_SOCKET_RECEIVE_RESULT_ToString(SOCKET_RECEIVE_RESULT):
        SOCKET_RECEIVE_RESULT_INVALID, SOCKET_RECEIVE_INVALID_ARG, SOCKET_RECEIVE_OK,
        SOCKET_RECEIVE_WOULD_BLOCK, SOCKET_RECEIVE_ERROR, SOCKET_RECEIVE_SHUTDOWN;
    MU_SOCKET_ACCEPT_RESULT_ToString(SOCKET_ACCEPT_RESULT):
        SOCKET_ACCEPT_RESULT_INVALID, SOCKET_ACCEPT_OK, SOCKET_ACCEPT_ERROR,
        SOCKET_ACCEPT_PORT_EXHAUSTION, SOCKET_ACCEPT_INPROGRESS, SOCKET_ACCEPT_NO_CONNECTION;
    MU_SOCKET_TYPE_ToString(SOCKET_TYPE):
        SOCKET_TYPE_INVALID, SOCKET_BINDING, SOCKET_CLIENT;
    MU_ADDRESS_TYPE_ToString(ADDRESS_TYPE):
        ADDRESS_TYPE_INVALID, ADDRESS_INET, ADDRESS_INET_6, ADDRESS_NETBIOS;
    MU_ASYNC_SOCKET_OPEN_RESULT_ToString(ASYNC_SOCKET_OPEN_RESULT):
        ASYNC_SOCKET_OPEN_RESULT_INVALID, ASYNC_SOCKET_OPEN_OK, ASYNC_SOCKET_OPEN_ERROR;
    MU_ASYNC_SOCKET_SEND_SYNC_RESULT_ToString(ASYNC_SOCKET_SEND_SYNC_RESULT):
        ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID, ASYNC_SOCKET_SEND_SYNC_OK,
        ASYNC_SOCKET_SEND_SYNC_ERROR, ASYNC_SOCKET_SEND_SYNC_NOT_OPEN;
    MU_ASYNC_SOCKET_SEND_RESULT_ToString(ASYNC_SOCKET_SEND_RESULT):
        ASYNC_SOCKET_SEND_RESULT_INVALID, ASYNC_SOCKET_SEND_OK, ASYNC_SOCKET_SEND_ERROR,
        ASYNC_SOCKET_SEND_ABANDONED;
    MU_ASYNC_SOCKET_RECEIVE_RESULT_ToString(ASYNC_SOCKET_RECEIVE_RESULT):
        ASYNC_SOCKET_RECEIVE_RESULT_INVALID, ASYNC_SOCKET_RECEIVE_OK, ASYNC_SOCKET_RECEIVE_ERROR,
        ASYNC_SOCKET_RECEIVE_ABANDONED;
    MU_ASYNC_SOCKET_NOTIFY_IO_TYPE_ToString(ASYNC_SOCKET_NOTIFY_IO_TYPE):
        ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID, ASYNC_SOCKET_NOTIFY_IO_TYPE_IN,
        ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT;
    MU_ASYNC_SOCKET_NOTIFY_IO_RESULT_ToString(ASYNC_SOCKET_NOTIFY_IO_RESULT):
        ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID, ASYNC_SOCKET_NOTIFY_IO_RESULT_IN,
        ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT, ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED,
        ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use std::ffi::CStr;

    fn text(p: *const c_char) -> &'static str {
        // SAFETY: every MU_X_ToString returns a pointer into a static NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    /// Every name sits at the value of the Rust constant of that name.
    #[test]
    fn names_sit_at_their_values() {
        macro_rules! at_value {
            ($function:ident: $($name:ident),+) => {
                $( assert_eq!(text($function($name)), stringify!($name)); )+
            };
        }
        at_value!(MU_SOCKET_SEND_RESULT_ToString: SOCKET_SEND_RESULT_INVALID, SOCKET_SEND_INVALID_ARG, SOCKET_SEND_OK, SOCKET_SEND_ERROR, SOCKET_SEND_FAILED, SOCKET_SEND_SHUTDOWN);
        at_value!(MU_SOCKET_RECEIVE_RESULT_ToString: SOCKET_RECEIVE_RESULT_INVALID, SOCKET_RECEIVE_INVALID_ARG, SOCKET_RECEIVE_OK, SOCKET_RECEIVE_WOULD_BLOCK, SOCKET_RECEIVE_ERROR, SOCKET_RECEIVE_SHUTDOWN);
        at_value!(MU_SOCKET_ACCEPT_RESULT_ToString: SOCKET_ACCEPT_RESULT_INVALID, SOCKET_ACCEPT_OK, SOCKET_ACCEPT_ERROR, SOCKET_ACCEPT_PORT_EXHAUSTION, SOCKET_ACCEPT_INPROGRESS, SOCKET_ACCEPT_NO_CONNECTION);
        at_value!(MU_SOCKET_TYPE_ToString: SOCKET_TYPE_INVALID, SOCKET_BINDING, SOCKET_CLIENT);
        at_value!(MU_ADDRESS_TYPE_ToString: ADDRESS_TYPE_INVALID, ADDRESS_INET, ADDRESS_INET_6, ADDRESS_NETBIOS);
        at_value!(MU_ASYNC_SOCKET_OPEN_RESULT_ToString: ASYNC_SOCKET_OPEN_RESULT_INVALID, ASYNC_SOCKET_OPEN_OK, ASYNC_SOCKET_OPEN_ERROR);
        at_value!(MU_ASYNC_SOCKET_SEND_SYNC_RESULT_ToString: ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID, ASYNC_SOCKET_SEND_SYNC_OK, ASYNC_SOCKET_SEND_SYNC_ERROR, ASYNC_SOCKET_SEND_SYNC_NOT_OPEN);
        at_value!(MU_ASYNC_SOCKET_SEND_RESULT_ToString: ASYNC_SOCKET_SEND_RESULT_INVALID, ASYNC_SOCKET_SEND_OK, ASYNC_SOCKET_SEND_ERROR, ASYNC_SOCKET_SEND_ABANDONED);
        at_value!(MU_ASYNC_SOCKET_RECEIVE_RESULT_ToString: ASYNC_SOCKET_RECEIVE_RESULT_INVALID, ASYNC_SOCKET_RECEIVE_OK, ASYNC_SOCKET_RECEIVE_ERROR, ASYNC_SOCKET_RECEIVE_ABANDONED);
        at_value!(MU_ASYNC_SOCKET_NOTIFY_IO_TYPE_ToString: ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID, ASYNC_SOCKET_NOTIFY_IO_TYPE_IN, ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT);
        at_value!(MU_ASYNC_SOCKET_NOTIFY_IO_RESULT_ToString: ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID, ASYNC_SOCKET_NOTIFY_IO_RESULT_IN, ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT, ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED, ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR);
    }

    #[test]
    fn values_outside_the_enum_are_unknown() {
        for v in [-1, 4, 5, 1000, c_int::MAX, c_int::MIN] {
            assert_eq!(
                text(MU_ASYNC_SOCKET_SEND_RESULT_ToString(v)),
                "UNKNOWN",
                "{v}"
            );
        }
        assert_eq!(text(MU_SOCKET_SEND_RESULT_ToString(6)), "UNKNOWN");
        assert_eq!(
            text(MU_SOCKET_SEND_RESULT_ToString(5)),
            "SOCKET_SEND_SHUTDOWN"
        );
    }
}
