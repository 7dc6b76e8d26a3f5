/* asock C ABI: the async socket (drop-in for c-pal's c_pal/async_socket.h, with the seed's
   async_socket_open_async taking a SOCKET_TRANSPORT_HANDLE).

   Lifecycle: async_socket_create (CLOSED) -> async_socket_open_async with a connected CLIENT
   transport (OPEN) -> send / receive / notify -> async_socket_close (CLOSED; may be opened
   again with another transport) -> async_socket_destroy.

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

typedef enum ASYNC_SOCKET_OPEN_RESULT_TAG
{
    ASYNC_SOCKET_OPEN_RESULT_INVALID = 0,
    ASYNC_SOCKET_OPEN_OK,    /* 1 */
    ASYNC_SOCKET_OPEN_ERROR  /* 2: reserved, never delivered (a failed open returns non-zero) */
} ASYNC_SOCKET_OPEN_RESULT;

typedef enum ASYNC_SOCKET_SEND_SYNC_RESULT_TAG
{
    ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID = 0,
    ASYNC_SOCKET_SEND_SYNC_OK,       /* 1: accepted, exactly one completion follows */
    ASYNC_SOCKET_SEND_SYNC_ERROR,    /* 2: bad argument or system failure, no completion */
    ASYNC_SOCKET_SEND_SYNC_NOT_OPEN  /* 3: the socket is not OPEN (or the connection was reset), no completion */
} ASYNC_SOCKET_SEND_SYNC_RESULT;

typedef enum ASYNC_SOCKET_SEND_RESULT_TAG
{
    ASYNC_SOCKET_SEND_RESULT_INVALID = 0,
    ASYNC_SOCKET_SEND_OK,        /* 1: every byte was written, in order */
    ASYNC_SOCKET_SEND_ERROR,     /* 2 */
    ASYNC_SOCKET_SEND_ABANDONED  /* 3: connection reset, or the socket was closed first */
} ASYNC_SOCKET_SEND_RESULT;

typedef enum ASYNC_SOCKET_RECEIVE_RESULT_TAG
{
    ASYNC_SOCKET_RECEIVE_RESULT_INVALID = 0,
    ASYNC_SOCKET_RECEIVE_OK,        /* 1: bytes_received >= 1 */
    ASYNC_SOCKET_RECEIVE_ERROR,     /* 2 */
    ASYNC_SOCKET_RECEIVE_ABANDONED  /* 3: peer closed (after all its data), reset, or the socket was closed first */
} ASYNC_SOCKET_RECEIVE_RESULT;

typedef enum ASYNC_SOCKET_NOTIFY_IO_TYPE_TAG
{
    ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID = 0,
    ASYNC_SOCKET_NOTIFY_IO_TYPE_IN,  /* 1 */
    ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT  /* 2 */
} ASYNC_SOCKET_NOTIFY_IO_TYPE;

typedef enum ASYNC_SOCKET_NOTIFY_IO_RESULT_TAG
{
    ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID = 0,
    ASYNC_SOCKET_NOTIFY_IO_RESULT_IN,         /* 1 */
    ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT,        /* 2 */
    ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED,  /* 3 */
    ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR       /* 4 */
} ASYNC_SOCKET_NOTIFY_IO_RESULT;

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

/* Opens a CLOSED async socket on socket_transport, a CLIENT transport holding a connected
   socket. On success the async socket takes the transport's socket (which it closes at
   close / destroy), the transport handle becomes empty (see socket_transport.h: the caller still
   destroys it), on_open_complete(on_open_complete_context, ASYNC_SOCKET_OPEN_OK) runs on the
   calling thread, and 0 is returned. Returns non-zero, calls nothing and leaves the transport to
   the caller untouched for: a NULL async_socket, socket_transport or on_open_complete; a BINDING
   transport or one holding no socket; a socket that is not CLOSED; a system failure. */
int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, SOCKET_TRANSPORT_HANDLE socket_transport, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context);

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

#endif /* ASYNC_SOCKET_H */
