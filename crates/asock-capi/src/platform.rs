//! `platform.h`: process-wide set-up, which asock does not need.

use std::ffi::c_int;

use crate::SUCCESS;

/// `platform_init`: returns 0 and does nothing (c-pal's Linux build created its process-wide
/// completion port here; asock's engines own their own). Harmless to call any number of times.
#[no_mangle]
pub extern "C" fn platform_init() -> c_int {
    SUCCESS
}

/// `platform_deinit`: does nothing; harmless to call any number of times.
#[no_mangle]
pub extern "C" fn platform_deinit() {}
