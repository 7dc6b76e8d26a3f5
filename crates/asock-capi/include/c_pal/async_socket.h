/* asock C ABI: the async socket (drop-in for c-pal's c_pal/async_socket.h). async_socket_open_async
   takes either a SOCKET_TRANSPORT_HANDLE (the seed's form) or a SOCKET_HANDLE (c-pal's current
   form): see the end of this file.

   Lifecycle: async_socket_create (CLOSED) -> async_socket_open_async with a connected CLIENT
   transport or socket (OPEN) -> send / receive / notify -> async_socket_close (CLOSED; may be opened
   again with another transport or socket) -> async_socket_destroy.

   Completions: an operation whose submitting call succeeded (ASYNC_SOCKET_SEND_SYNC_OK, or 0)
   completes exactly once, on one of the engine's threads, never inside the submitting call, also
   when the socket is closed or destroyed first (then with ..._ABANDONED). A failed submission
   never calls its callback. The user context is passed back verbatim. A socket's receives
   complete in submission order, and so do its sends; the bytes of two sends never interleave. A
   completion may submit the next operation, or close the socket, from inside itself.

   Buffers: the memory the buffers point to belongs to the caller and must stay valid (and, for a
   receive, untouched) until the completion has run; the ASYNC_SOCKET_BUFFER array itself is
   copied and may be released as soon as the call returns.

   Threads: every function but async_socket_destroy may be called from any thread, concurrently;
   async_socket_destroy must be the last call on the handle. */

#ifndef ASYNC_SOCKET_H
#define ASYNC_SOCKET_H

#ifdef __cplusplus
#include <cstddef>
#include <cstdint>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#include "c_pal/execution_engine.h"
#include "c_pal/socket_handle.h"
#include "c_pal/socket_transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ASYNC_SOCKET_TAG* ASYNC_SOCKET_HANDLE;

/* Each enum X has an X_VALUES list and an exported MU_X_ToString (see socket_transport.h). */
#define ASYNC_SOCKET_OPEN_RESULT_VALUES \
    ASYNC_SOCKET_OPEN_OK,   /* 1 */ \
    ASYNC_SOCKET_OPEN_ERROR /* 2: reserved, never delivered (a failed open returns non-zero) */
typedef enum ASYNC_SOCKET_OPEN_RESULT_TAG { ASYNC_SOCKET_OPEN_RESULT_INVALID = 0, ASYNC_SOCKET_OPEN_RESULT_VALUES } ASYNC_SOCKET_OPEN_RESULT;
const char* MU_ASYNC_SOCKET_OPEN_RESULT_ToString(ASYNC_SOCKET_OPEN_RESULT value);

#define ASYNC_SOCKET_SEND_SYNC_RESULT_VALUES \
    ASYNC_SOCKET_SEND_SYNC_OK,      /* 1: accepted, exactly one completion follows */ \
    ASYNC_SOCKET_SEND_SYNC_ERROR,   /* 2: bad argument or system failure, no completion */ \
    ASYNC_SOCKET_SEND_SYNC_NOT_OPEN /* 3: the socket is not OPEN (or the connection was reset), no completion */
typedef enum ASYNC_SOCKET_SEND_SYNC_RESULT_TAG { ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID = 0, ASYNC_SOCKET_SEND_SYNC_RESULT_VALUES } ASYNC_SOCKET_SEND_SYNC_RESULT;
const char* MU_ASYNC_SOCKET_SEND_SYNC_RESULT_ToString(ASYNC_SOCKET_SEND_SYNC_RESULT value);

#define ASYNC_SOCKET_SEND_RESULT_VALUES \
    ASYNC_SOCKET_SEND_OK,       /* 1: every byte was written, in order */ \
    ASYNC_SOCKET_SEND_ERROR,    /* 2 */ \
    ASYNC_SOCKET_SEND_ABANDONED /* 3: connection reset, or the socket was closed first */
typedef enum ASYNC_SOCKET_SEND_RESULT_TAG { ASYNC_SOCKET_SEND_RESULT_INVALID = 0, ASYNC_SOCKET_SEND_RESULT_VALUES } ASYNC_SOCKET_SEND_RESULT;
const char* MU_ASYNC_SOCKET_SEND_RESULT_ToString(ASYNC_SOCKET_SEND_RESULT value);

#define ASYNC_SOCKET_RECEIVE_RESULT_VALUES \
    ASYNC_SOCKET_RECEIVE_OK,       /* 1: bytes_received >= 1 */ \
    ASYNC_SOCKET_RECEIVE_ERROR,    /* 2 */ \
    ASYNC_SOCKET_RECEIVE_ABANDONED /* 3: peer closed (after all its data), reset, or the socket was closed first */
typedef enum ASYNC_SOCKET_RECEIVE_RESULT_TAG { ASYNC_SOCKET_RECEIVE_RESULT_INVALID = 0, ASYNC_SOCKET_RECEIVE_RESULT_VALUES } ASYNC_SOCKET_RECEIVE_RESULT;
const char* MU_ASYNC_SOCKET_RECEIVE_RESULT_ToString(ASYNC_SOCKET_RECEIVE_RESULT value);

#define ASYNC_SOCKET_NOTIFY_IO_TYPE_VALUES \
    ASYNC_SOCKET_NOTIFY_IO_TYPE_IN, /* 1 */ \
    ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT /* 2 */
typedef enum ASYNC_SOCKET_NOTIFY_IO_TYPE_TAG { ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID = 0, ASYNC_SOCKET_NOTIFY_IO_TYPE_VALUES } ASYNC_SOCKET_NOTIFY_IO_TYPE;
const char* MU_ASYNC_SOCKET_NOTIFY_IO_TYPE_ToString(ASYNC_SOCKET_NOTIFY_IO_TYPE value);

#define ASYNC_SOCKET_NOTIFY_IO_RESULT_VALUES \
    ASYNC_SOCKET_NOTIFY_IO_RESULT_IN,        /* 1 */ \
    ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT,       /* 2 */ \
    ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED, /* 3 */ \
    ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR      /* 4 */
typedef enum ASYNC_SOCKET_NOTIFY_IO_RESULT_TAG { ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID = 0, ASYNC_SOCKET_NOTIFY_IO_RESULT_VALUES } ASYNC_SOCKET_NOTIFY_IO_RESULT;
const char* MU_ASYNC_SOCKET_NOTIFY_IO_RESULT_ToString(ASYNC_SOCKET_NOTIFY_IO_RESULT value);

typedef void (*ON_ASYNC_SOCKET_OPEN_COMPLETE)(void* context, ASYNC_SOCKET_OPEN_RESULT open_result);
typedef void (*ON_ASYNC_SOCKET_SEND_COMPLETE)(void* context, ASYNC_SOCKET_SEND_RESULT send_result);
typedef void (*ON_ASYNC_SOCKET_RECEIVE_COMPLETE)(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t bytes_received);
typedef void (*ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE)(void* context, ASYNC_SOCKET_NOTIFY_IO_RESULT notify_io_result);

/* Custom transport functions: behave like send(2) / recv(2) on a non-blocking socket: return the
   bytes moved (recv: 0 at end of stream), or -1 with errno set (EAGAIN / EWOULDBLOCK: nothing can
   move now, ECONNRESET / EPIPE / ECONNABORTED / ENOTCONN: the connection is gone, anything else:
   an error). len is at most INT_MAX. A send returning 0 fails the send (it is not retried). They
   run while the socket's internal lock is held: they must not call async_socket functions. */
typedef int (*ON_ASYNC_SOCKET_SEND)(void* context, ASYNC_SOCKET_HANDLE async_socket, const void* buf, size_t len);
typedef int (*ON_ASYNC_SOCKET_RECV)(void* context, ASYNC_SOCKET_HANDLE async_socket, void* buf, size_t len);

typedef struct ASYNC_SOCKET_BUFFER_TAG
{
    void* buffer;
    uint32_t length;
} ASYNC_SOCKET_BUFFER;

/* A CLOSED async socket on execution_engine, holding a reference to it. NULL for a NULL engine. */
ASYNC_SOCKET_HANDLE async_socket_create(EXECUTION_ENGINE_HANDLE execution_engine);

/* As async_socket_create, but sends and receives go through on_send / on_recv (readiness still
   comes from the transport's socket). NULL for a NULL engine, a NULL on_send or on_recv, and on
   platforms without custom transports (Windows). The contexts may be NULL. */
ASYNC_SOCKET_HANDLE async_socket_create_with_transport(EXECUTION_ENGINE_HANDLE execution_engine, ON_ASYNC_SOCKET_SEND on_send, void* on_send_context, ON_ASYNC_SOCKET_RECV on_recv, void* on_recv_context);

/* Closes the socket if it is OPEN (waiting while it is opening or closing), releases the engine
   reference and frees the handle. NULL is ignored. */
void async_socket_destroy(ASYNC_SOCKET_HANDLE async_socket);

/* Opening: two entry points, one per kind of program.

   async_socket_open_async (the seed's form) opens a CLOSED async socket on socket_transport, a
   CLIENT transport holding a connected socket. On success the async socket takes the
   transport's socket (which it closes at close / destroy), the transport handle becomes empty
   (see socket_transport.h: the caller still destroys it), on_open_complete(on_open_complete_context,
   ASYNC_SOCKET_OPEN_OK) runs on the calling thread, and 0 is returned. Returns non-zero, calls
   nothing and leaves the transport to the caller untouched for: a NULL async_socket,
   socket_transport or on_open_complete; a BINDING transport or one holding no socket; a socket
   that is not CLOSED; a system failure. */
int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, SOCKET_TRANSPORT_HANDLE socket_transport, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context);

/* async_socket_open_async_with_socket_handle (c-pal's current form of async_socket_open_async)
   opens a CLOSED async socket on socket_handle, a connected stream socket (Linux: a descriptor;
   Windows: a SOCKET cast to SOCKET_HANDLE). On success the async socket owns the socket: it makes
   it non-blocking and closes it at close / destroy, and the caller must not close it;
   on_open_complete(on_open_complete_context, ASYNC_SOCKET_OPEN_OK) runs on the calling thread and
   0 is returned. Returns non-zero, calls nothing and leaves the socket to the caller, open, for: a
   NULL async_socket or on_open_complete; INVALID_SOCKET; a handle that is not an open stream
   socket, or a listening one; a socket that is not CLOSED; a system failure. */
int async_socket_open_async_with_socket_handle(ASYNC_SOCKET_HANDLE async_socket, SOCKET_HANDLE socket_handle, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context);

/* Closes the socket: every pending operation completes, exactly once, with ..._ABANDONED before
   this returns; then the socket is closed and the async socket is CLOSED. Idempotent; a second
   concurrent close waits for CLOSED too; from inside one of the socket's own completions it does
   not wait for that one. NULL is ignored. */
void async_socket_close(ASYNC_SOCKET_HANDLE async_socket);

/* Sends every byte of the buffers, in order. Returns ASYNC_SOCKET_SEND_SYNC_ERROR (no
   completion) for a NULL async_socket, payload or on_send_complete, a buffer_count of 0 or so
   large that the descriptors exceed UINT32_MAX bytes, a buffer with a NULL pointer or a length of
   0, a total over UINT32_MAX, or a system failure; ASYNC_SOCKET_SEND_SYNC_NOT_OPEN (no
   completion) when the socket is not OPEN or the connection was found reset; otherwise
   ASYNC_SOCKET_SEND_SYNC_OK and one completion follows. */
ASYNC_SOCKET_SEND_SYNC_RESULT async_socket_send_async(ASYNC_SOCKET_HANDLE async_socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context);

/* Receives into the buffers, filling them in order, completing as soon as at least one byte has
   arrived (ASYNC_SOCKET_RECEIVE_OK with the count; never OK with 0). Returns 0 on success;
   non-zero (no completion) for the argument errors of async_socket_send_async and when the
   socket is not OPEN. */
int async_socket_receive_async(ASYNC_SOCKET_HANDLE async_socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context);

/* Calls on_notify_io_complete once when the socket is readable (IN) or writable (OUT), with
   ERROR on a socket error or ABANDONED when closed first. Returns 0 on success; non-zero (no
   completion) for a NULL async_socket or callback, an io_type other than IN / OUT, a socket that
   is not OPEN, and on platforms without readiness notification (Windows). */
int async_socket_notify_io_async(ASYNC_SOCKET_HANDLE async_socket, ASYNC_SOCKET_NOTIFY_IO_TYPE io_type, ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE on_notify_io_complete, void* on_notify_io_complete_context);

#ifdef __cplusplus
}
#endif

/* async_socket_open_async(async_socket, X, on_open_complete, on_open_complete_context) compiles
   for both kinds of program and picks the entry point by the type of X:

   * X a SOCKET_TRANSPORT_HANDLE: async_socket_open_async, the seed's form;
   * X a SOCKET_HANDLE: async_socket_open_async_with_socket_handle, c-pal's current form;
   * NULL in C, nullptr in C++: the transport form (which fails: NULL transport), except in C on
     Windows, where NULL is a SOCKET_HANDLE (void*) and the socket-handle form fails on it (in C++
     NULL is an integer constant: a compile error, write nullptr);
   * anything else (a long, a raw Winsock SOCKET not cast to SOCKET_HANDLE, a pointer to another
     type, ...) is a compile error, never a call that reads one type as the other.

   How: in C11 and later a _Generic function-like macro named async_socket_open_async; in C
   before C11 with GCC or Clang the same through __builtin_choose_expr /
   __builtin_types_compatible_p (a wrong type fails with "async_socket_open_async needs a
   SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE"); in C++ overloads, with a deleted template for
   every other type (C++11 and later). The macro evaluates each argument once.

   Any other C compiler before C11 (no _Generic, no GNU builtins) sees the seed's prototype alone;
   a program written for c-pal's form defines ASOCK_OPEN_WITH_SOCKET_HANDLE before including this
   header, which makes every call async_socket_open_async(...) the socket-handle form (in C, for
   any compiler and standard; in C++ the overloads already cover it and the define changes
   nothing).

   The name without arguments (a function pointer, &async_socket_open_async,
   (async_socket_open_async)(...)) is the seed's form; take the address of
   async_socket_open_async_with_socket_handle for the other. */
#if defined(__cplusplus)
inline int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, SOCKET_HANDLE socket_handle, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context)
{
    return async_socket_open_async_with_socket_handle(async_socket, socket_handle, on_open_complete, on_open_complete_context);
}
#if __cplusplus >= 201103L || (defined(_MSVC_LANG) && _MSVC_LANG >= 201103L)
inline int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, decltype(nullptr) socket_transport, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context)
{
    return async_socket_open_async(async_socket, static_cast<SOCKET_TRANSPORT_HANDLE>(socket_transport), on_open_complete, on_open_complete_context);
}
/* Any other type: async_socket_open_async needs a SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE. */
template <typename T>
int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, T wrong_type, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context) = delete;
#endif
#elif defined(ASOCK_OPEN_WITH_SOCKET_HANDLE)
#define async_socket_open_async(async_socket, socket_handle, on_open_complete, on_open_complete_context) \
    async_socket_open_async_with_socket_handle(async_socket, socket_handle, on_open_complete, on_open_complete_context)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#if defined(_WIN32) || defined(WIN32)
#define ASOCK_OPEN_ASYNC_ENTRY(x) _Generic((x), \
    SOCKET_TRANSPORT_HANDLE: async_socket_open_async, \
    SOCKET_HANDLE: async_socket_open_async_with_socket_handle)
#else
#define ASOCK_OPEN_ASYNC_ENTRY(x) _Generic((x), \
    SOCKET_TRANSPORT_HANDLE: async_socket_open_async, \
    void*: async_socket_open_async, \
    SOCKET_HANDLE: async_socket_open_async_with_socket_handle)
#endif
#define async_socket_open_async(async_socket, x, on_open_complete, on_open_complete_context) \
    ASOCK_OPEN_ASYNC_ENTRY(x)(async_socket, x, on_open_complete, on_open_complete_context)
#elif defined(__GNUC__)
/* Never defined: only named when the argument has a wrong type, which the error attribute makes
   a compile error (and, with a compiler that lacks the attribute, a link error). */
#if defined(__has_attribute)
#if __has_attribute(error)
#define ASOCK_OPEN_ASYNC_WRONG_TYPE __attribute__((error("async_socket_open_async needs a SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE")))
#endif
#endif
#ifndef ASOCK_OPEN_ASYNC_WRONG_TYPE
#define ASOCK_OPEN_ASYNC_WRONG_TYPE
#endif
extern int asock_open_async_wrong_argument_type(ASYNC_SOCKET_HANDLE async_socket, ...) ASOCK_OPEN_ASYNC_WRONG_TYPE;
#if defined(_WIN32) || defined(WIN32)
#define ASOCK_OPEN_ASYNC_IS_TRANSPORT(x) __builtin_types_compatible_p(__typeof__(x), SOCKET_TRANSPORT_HANDLE)
#else
#define ASOCK_OPEN_ASYNC_IS_TRANSPORT(x) (__builtin_types_compatible_p(__typeof__(x), SOCKET_TRANSPORT_HANDLE) || \
    __builtin_types_compatible_p(__typeof__(x), void*))
#endif
#define ASOCK_OPEN_ASYNC_ENTRY(x) __builtin_choose_expr(ASOCK_OPEN_ASYNC_IS_TRANSPORT(x), async_socket_open_async, \
    __builtin_choose_expr(__builtin_types_compatible_p(__typeof__(x), SOCKET_HANDLE), async_socket_open_async_with_socket_handle, \
    asock_open_async_wrong_argument_type))
#define async_socket_open_async(async_socket, x, on_open_complete, on_open_complete_context) \
    ASOCK_OPEN_ASYNC_ENTRY(x)(async_socket, x, on_open_complete, on_open_complete_context)
#endif

#endif /* ASYNC_SOCKET_H */
