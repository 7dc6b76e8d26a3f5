/* asock C ABI: the synchronous socket transport (drop-in for c-pal's c_pal/socket_transport.h).

   A transport is a CLIENT (socket_transport_create_client, then connect; or
   socket_transport_create_from_socket; or accepted) or a BINDING server (create_server, then
   listen and accept). It holds at most one socket: it gets one from connect / listen /
   create_from_socket / accept, gives it up at disconnect (after which it may connect or listen
   again) and closes it at destroy if it still holds one (c-pal leaked it). Every socket it holds
   is non-blocking.

   Threads: send, receive, accept and the getters may run concurrently on one transport;
   connect, listen and disconnect wait for those in flight. destroy must be the last call.

   Handing a transport to async_socket_open_async: on success the async socket takes the
   transport's socket and the handle becomes an EMPTY transport of the same type: it holds no
   socket (is_valid_socket is false, get_underlying_socket gives INVALID_SOCKET, send / receive /
   accept fail, disconnect does nothing and closes nothing). The caller still destroys the handle
   with socket_transport_destroy, before or after the async socket's close/destroy; doing so
   never touches the async socket's connection. On failure the transport is left as it was. */

#ifndef SOCKET_TRANSPORT_H
#define SOCKET_TRANSPORT_H

#ifdef __cplusplus
#include <cstdint>
extern "C" {
#else
#include <stdbool.h>
#include <stdint.h>
#endif

#include "c_pal/socket_handle.h"

#define MAX_GET_HOST_NAME_LEN 256
#define MAX_LOCAL_ADDRESS_LEN 22

typedef struct SOCKET_TRANSPORT_TAG* SOCKET_TRANSPORT_HANDLE;

/* Names of enum values, as c-pal's macro_utils gives them: every enum X below has an exported
   const char* MU_X_ToString(X value) returning the value's name ("X_INVALID" for 0, "UNKNOWN"
   for a value outside the enum; a static string), and these headers define macro_utils'
   MU_ENUM_TO_STRING(X, value), PRI_MU_ENUM and MU_ENUM_VALUE(X, value) (with MU_C2 / MU_C3, which
   they use) unless they are defined already. So a program needs no macro_utils for them, and
   one that includes macro_utils before or after these headers gets no redefinition: the
   definitions are macro_utils' own.

       printf("send: %" PRI_MU_ENUM "\n", MU_ENUM_VALUE(ASYNC_SOCKET_SEND_RESULT, result));

   The values of each enum are also listed, as c-pal's headers list them for MU_DEFINE_ENUM, by
   an X_VALUES macro (without the X_INVALID = 0 that comes first). */
#ifndef MU_C2_
#define MU_C2_(x,y) x##y
#endif
#ifndef MU_C2
#define MU_C2(x,y) MU_C2_(x,y)
#endif
#ifndef MU_C3
#define MU_C3(x,y,z) MU_C2(x, MU_C2(y,z))
#endif
#ifndef MU_ENUM_TO_STRING
#define MU_ENUM_TO_STRING(enumName, value) MU_C3(MU_, enumName, _ToString)(value)
#endif
#ifndef PRI_MU_ENUM
#define PRI_MU_ENUM "s%s (%d)"
#endif
#ifndef MU_ENUM_VALUE
#define MU_ENUM_VALUE(enumIdentifier, value) "", MU_ENUM_TO_STRING(enumIdentifier, (value)), (int)(value)
#endif

#define SOCKET_SEND_RESULT_VALUES \
    SOCKET_SEND_INVALID_ARG, /* 1: NULL transport or payload, count 0 or so large the descriptors exceed UINT32_MAX bytes, a NULL or empty buffer, total over UINT32_MAX */ \
    SOCKET_SEND_OK,          /* 2: every byte was written */ \
    SOCKET_SEND_ERROR,       /* 3: the transport holds no socket */ \
    SOCKET_SEND_FAILED,      /* 4: a system call failed (*bytes_sent tells how far it got) */ \
    SOCKET_SEND_SHUTDOWN     /* 5: the connection was reset, aborted or closed for writing */
typedef enum SOCKET_SEND_RESULT_TAG { SOCKET_SEND_RESULT_INVALID = 0, SOCKET_SEND_RESULT_VALUES } SOCKET_SEND_RESULT;
const char* MU_SOCKET_SEND_RESULT_ToString(SOCKET_SEND_RESULT value);

#define SOCKET_RECEIVE_RESULT_VALUES \
    SOCKET_RECEIVE_INVALID_ARG, /* 1: NULL transport or payload, count 0 or so large the descriptors exceed UINT32_MAX bytes, a NULL or empty buffer, total over UINT32_MAX */ \
    SOCKET_RECEIVE_OK,          /* 2: at least one byte, filling the buffers in order */ \
    SOCKET_RECEIVE_WOULD_BLOCK, /* 3: no data now */ \
    SOCKET_RECEIVE_ERROR,       /* 4: the transport holds no socket, or a system call failed */ \
    SOCKET_RECEIVE_SHUTDOWN     /* 5: the peer closed (after all its data) or reset the connection */
typedef enum SOCKET_RECEIVE_RESULT_TAG { SOCKET_RECEIVE_RESULT_INVALID = 0, SOCKET_RECEIVE_RESULT_VALUES } SOCKET_RECEIVE_RESULT;
const char* MU_SOCKET_RECEIVE_RESULT_ToString(SOCKET_RECEIVE_RESULT value);

#define SOCKET_ACCEPT_RESULT_VALUES \
    SOCKET_ACCEPT_OK,              /* 1: *accepted_socket is a new CLIENT transport */ \
    SOCKET_ACCEPT_ERROR,           /* 2: NULL arguments, a CLIENT transport, not listening, other failures */ \
    SOCKET_ACCEPT_PORT_EXHAUSTION, /* 3: out of descriptors or buffers */ \
    SOCKET_ACCEPT_INPROGRESS,      /* 4: the system reported an operation in progress */ \
    SOCKET_ACCEPT_NO_CONNECTION    /* 5: no client arrived within the timeout */
typedef enum SOCKET_ACCEPT_RESULT_TAG { SOCKET_ACCEPT_RESULT_INVALID = 0, SOCKET_ACCEPT_RESULT_VALUES } SOCKET_ACCEPT_RESULT;
const char* MU_SOCKET_ACCEPT_RESULT_ToString(SOCKET_ACCEPT_RESULT value);

#define SOCKET_TYPE_VALUES \
    SOCKET_BINDING, /* 1 */ \
    SOCKET_CLIENT   /* 2 */
typedef enum SOCKET_TYPE_TAG { SOCKET_TYPE_INVALID = 0, SOCKET_TYPE_VALUES } SOCKET_TYPE;
const char* MU_SOCKET_TYPE_ToString(SOCKET_TYPE value);

#define ADDRESS_TYPE_VALUES \
    ADDRESS_INET,   /* 1 */ \
    ADDRESS_INET_6, /* 2 */ \
    ADDRESS_NETBIOS /* 3: never produced */
typedef enum ADDRESS_TYPE_TAG { ADDRESS_TYPE_INVALID = 0, ADDRESS_TYPE_VALUES } ADDRESS_TYPE;
const char* MU_ADDRESS_TYPE_ToString(ADDRESS_TYPE value);

/* Same layout as Winsock's WSABUF. */
typedef struct SOCKET_BUFFER_TAG
{
    uint32_t length;
    unsigned char* buffer;
} SOCKET_BUFFER;

typedef struct LOCAL_ADDRESS_TAG
{
    ADDRESS_TYPE address_type;
    char address[MAX_LOCAL_ADDRESS_LEN]; /* numeric text, NUL-terminated */
} LOCAL_ADDRESS;

/* A CLIENT transport holding no socket yet; NULL only when out of memory. */
SOCKET_TRANSPORT_HANDLE socket_transport_create_client(void);

/* A BINDING transport holding no socket yet; NULL only when out of memory. */
SOCKET_TRANSPORT_HANDLE socket_transport_create_server(void);

/* A CLIENT transport that takes ownership of a connected stream socket and makes it
   non-blocking. Returns NULL, and leaves socket_handle to the caller, when it is INVALID_SOCKET
   or not a stream socket. */
SOCKET_TRANSPORT_HANDLE socket_transport_create_from_socket(SOCKET_HANDLE socket_handle);

/* Closes the socket if the transport still holds one, then frees the transport. NULL is
   ignored. */
void socket_transport_destroy(SOCKET_TRANSPORT_HANDLE socket_transport);

/* Connects a CLIENT transport to hostname:port (IPv4 or IPv6, every resolved address tried) within
   connection_timeout_ms. A refused connection fails at once. Returns 0 on success, non-zero for
   NULL arguments, a BINDING transport, port 0, a transport that already holds a socket, a
   refusal, a timeout or a resolution failure. */
int socket_transport_connect(SOCKET_TRANSPORT_HANDLE socket_transport, const char* hostname, uint16_t port, uint32_t connection_timeout_ms);

/* Listens on every interface (IPv6 dual-stack, else IPv4) on port. asock extension: port 0
   lets the system choose; read it back with socket_transport_get_local_port. Returns 0 on
   success, non-zero for NULL, a CLIENT transport, a transport that already holds a socket, or a
   system failure (port in use). */
int socket_transport_listen(SOCKET_TRANSPORT_HANDLE socket_transport, uint16_t port);

/* Shuts down (not for a listener) and closes the socket; the transport may then connect or
   listen again. Does nothing for NULL or a transport holding no socket. */
void socket_transport_disconnect(SOCKET_TRANSPORT_HANDLE socket_transport);

/* Accepts one client on a listening BINDING transport, waiting up to connection_timeout_ms.
   *accepted_socket is always written when accepted_socket is not NULL: the new CLIENT transport
   on SOCKET_ACCEPT_OK, NULL otherwise. */
SOCKET_ACCEPT_RESULT socket_transport_accept(SOCKET_TRANSPORT_HANDLE socket_transport, SOCKET_TRANSPORT_HANDLE* accepted_socket, uint32_t connection_timeout_ms);

/* Sends every byte of the buffers, in order, before returning (waiting for room when the socket
   buffer is full); never raises SIGPIPE. flags go to sendmsg(2). data is ignored (Windows passes
   an OVERLAPPED there). bytes_sent may be NULL; otherwise it receives the bytes written, also
   on SOCKET_SEND_FAILED / SOCKET_SEND_SHUTDOWN. */
SOCKET_SEND_RESULT socket_transport_send(SOCKET_TRANSPORT_HANDLE socket_transport, const SOCKET_BUFFER* payload, uint32_t buffer_count, uint32_t* bytes_sent, uint32_t flags, void* data);

/* One scatter read of what is available now (like readv(2)). flags go to recvmsg(2). data is
   ignored. bytes_recv may be NULL; otherwise it receives the byte count on SOCKET_RECEIVE_OK
   and 0 otherwise. */
SOCKET_RECEIVE_RESULT socket_transport_receive(SOCKET_TRANSPORT_HANDLE socket_transport, SOCKET_BUFFER* payload, uint32_t buffer_count, uint32_t* bytes_recv, uint32_t flags, void* data);

/* The socket the transport holds (it keeps ownership: do not close it), INVALID_SOCKET for NULL
   or a transport holding none. */
SOCKET_HANDLE socket_transport_get_underlying_socket(SOCKET_TRANSPORT_HANDLE socket_transport);

/* Whether the transport holds a socket (false for NULL, before connect / listen and after
   disconnect or a successful async_socket_open_async). */
bool socket_transport_is_valid_socket(SOCKET_TRANSPORT_HANDLE socket_transport_handle);

/* Writes the host name (NUL-terminated, truncated to MAX_GET_HOST_NAME_LEN - 1 characters) into
   hostname and, when local_address_list is not NULL, a malloc'ed array of the addresses of the
   interfaces that are up (IPv4 and IPv6, loopback included; IPv6 addresses whose text does not fit
   in MAX_LOCAL_ADDRESS_LEN are left out) into *local_address_list and its length into
   *address_count. The caller releases the array with free(); with no address it is NULL and the
   count 0. Returns 0 on success, non-zero for a NULL transport or hostname, a non-NULL list with a
   NULL count, a transport holding no socket, or a system failure (outputs then untouched). */
int socket_transport_get_local_address(SOCKET_TRANSPORT_HANDLE socket_transport, char hostname[MAX_GET_HOST_NAME_LEN], LOCAL_ADDRESS** local_address_list, uint32_t* address_count);

/* asock extension (not in c-pal): the local port of the socket the transport holds (after
   socket_transport_listen(t, 0), the port the system chose); 0 for NULL, a transport holding no
   socket, or a failure. */
uint16_t socket_transport_get_local_port(SOCKET_TRANSPORT_HANDLE socket_transport);

#ifdef __cplusplus
}
#endif

#endif /* SOCKET_TRANSPORT_H */
