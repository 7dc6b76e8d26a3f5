//! `execution_engine.h`: a reference-counted handle on an [`ExecutionEngine`].
//!
//! The handle is an [`Arc`] turned into a raw pointer: `execution_engine_inc_ref` and
//! `execution_engine_dec_ref` add and release strong references, and the last release drops the
//! [`ExecutionEngine`] reference it holds. Async sockets hold their own [`ExecutionEngine`]
//! clone, so the threads stop only when the last handle reference *and* the last socket are gone.

use std::sync::Arc;

use asock::{ExecutionEngine, ExecutionEngineParameters};

use crate::guard;

/// `EXECUTION_ENGINE_PARAMETERS`: the thread counts of an engine.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EXECUTION_ENGINE_PARAMETERS {
    /// Threads started with the engine (0 means 1).
    pub min_thread_count: u32,
    /// Upper bound on threads, 0 for none; otherwise at least `min_thread_count`.
    pub max_thread_count: u32,
}

/// `DEFAULT_MIN_THREAD_COUNT`.
pub const DEFAULT_MIN_THREAD_COUNT: u32 = asock::DEFAULT_MIN_THREAD_COUNT;
/// `DEFAULT_MAX_THREAD_COUNT`: no maximum.
pub const DEFAULT_MAX_THREAD_COUNT: u32 = asock::DEFAULT_MAX_THREAD_COUNT;

/// The object behind an `EXECUTION_ENGINE_HANDLE`.
#[derive(Debug)]
pub struct EXECUTION_ENGINE_TAG {
    engine: ExecutionEngine,
    /// The parameters in effect (defaults filled in), returned by
    /// `execution_engine_linux_get_parameters` (which Windows does not have).
    #[cfg_attr(windows, allow(dead_code))]
    params: EXECUTION_ENGINE_PARAMETERS,
}

/// `EXECUTION_ENGINE_HANDLE`: a pointer obtained from [`Arc::into_raw`].
pub type EXECUTION_ENGINE_HANDLE = *mut EXECUTION_ENGINE_TAG;

/// The engine behind a handle, `None` for NULL.
///
/// # Safety
/// `handle` is NULL or a live handle from [`execution_engine_create`] (not released), and stays
/// live while the returned reference is used.
pub(crate) unsafe fn engine_ref<'a>(
    handle: EXECUTION_ENGINE_HANDLE,
) -> Option<&'a ExecutionEngine> {
    // SAFETY: per this function's contract the pointer is NULL or points to a live Arc payload.
    unsafe { handle.as_ref() }.map(|tag| &tag.engine)
}

/// `execution_engine_create`: starts an engine; NULL parameters mean the defaults (4, 0).
/// Returns NULL for `max_thread_count != 0 && max_thread_count < min_thread_count` or when the
/// system refuses the threads.
///
/// # Safety
/// `execution_engine_parameters` is NULL or points to a readable `EXECUTION_ENGINE_PARAMETERS`.
#[no_mangle]
pub unsafe extern "C" fn execution_engine_create(
    execution_engine_parameters: *const EXECUTION_ENGINE_PARAMETERS,
) -> EXECUTION_ENGINE_HANDLE {
    guard(std::ptr::null_mut(), || {
        // SAFETY: the caller passes NULL or a valid, readable pointer (this function's contract).
        let params = match unsafe { execution_engine_parameters.as_ref() } {
            Some(p) => ExecutionEngineParameters {
                min_thread_count: p.min_thread_count,
                max_thread_count: p.max_thread_count,
            },
            None => ExecutionEngineParameters::default(),
        };
        match ExecutionEngine::new(Some(params)) {
            Ok(engine) => Arc::into_raw(Arc::new(EXECUTION_ENGINE_TAG {
                engine,
                params: EXECUTION_ENGINE_PARAMETERS {
                    min_thread_count: params.min_thread_count,
                    max_thread_count: params.max_thread_count,
                },
            }))
            .cast_mut(),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// `execution_engine_dec_ref`: releases one reference; the last one drops the engine handle (its
/// threads stop once no async socket uses them either). NULL is ignored.
///
/// # Safety
/// `execution_engine` is NULL or a handle from [`execution_engine_create`] on which the caller
/// still holds a reference (the one released here).
#[no_mangle]
pub unsafe extern "C" fn execution_engine_dec_ref(execution_engine: EXECUTION_ENGINE_HANDLE) {
    guard((), || {
        if !execution_engine.is_null() {
            // SAFETY: the pointer came from `Arc::into_raw` in `execution_engine_create` and the
            // caller owns one of its strong references, which is released here.
            unsafe { Arc::decrement_strong_count(execution_engine.cast_const()) }
        }
    })
}

/// `execution_engine_inc_ref`: adds one reference. NULL is ignored.
///
/// # Safety
/// `execution_engine` is NULL or a live handle from [`execution_engine_create`].
#[no_mangle]
pub unsafe extern "C" fn execution_engine_inc_ref(execution_engine: EXECUTION_ENGINE_HANDLE) {
    guard((), || {
        if !execution_engine.is_null() {
            // SAFETY: the pointer came from `Arc::into_raw` and is live (a reference is held).
            unsafe { Arc::increment_strong_count(execution_engine.cast_const()) }
        }
    })
}

/// `execution_engine_linux_get_parameters`: the parameters in effect, valid as long as the
/// engine handle; NULL for NULL.
///
/// # Safety
/// `execution_engine` is NULL or a live handle from [`execution_engine_create`].
#[cfg(not(windows))]
#[no_mangle]
pub unsafe extern "C" fn execution_engine_linux_get_parameters(
    execution_engine: EXECUTION_ENGINE_HANDLE,
) -> *const EXECUTION_ENGINE_PARAMETERS {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        match unsafe { execution_engine.as_ref() } {
            Some(tag) => &tag.params,
            None => std::ptr::null(),
        }
    })
}

/// `execution_engine_win32_get_threadpool`: the engine's `PTP_POOL`, without a new reference;
/// NULL for NULL. Comes with the Windows backend's `ExecutionEngine::threadpool()`.
///
/// # Safety
/// `execution_engine` is NULL or a live handle from [`execution_engine_create`].
#[cfg(windows)]
#[no_mangle]
pub unsafe extern "C" fn execution_engine_win32_get_threadpool(
    execution_engine: EXECUTION_ENGINE_HANDLE,
) -> *mut std::ffi::c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: NULL or a live handle (this function's contract).
        match unsafe { engine_ref(execution_engine) } {
            Some(engine) => engine.threadpool(),
            None => std::ptr::null_mut(),
        }
    })
}
