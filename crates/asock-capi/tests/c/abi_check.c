/* Header / library agreement check.

   1. Includes every header and assigns each exported function to a function pointer of the
      exact c-pal type, written out here independently of the headers: a header declaration that
      differs from c-pal's type fails to compile, a symbol the library does not export fails to
      link.
   2. Checks c-pal's enum numbering (_INVALID = 0, then the listed values from 1) at compile time.
   3. Prints every enum value and the size and field offsets of every struct as "NAME VALUE"
      lines; the Rust test compares them with the Rust side's constants and layouts. */

#ifdef _WIN32
#include <winsock2.h> /* INVALID_SOCKET; before windows.h */
#endif
#include <stddef.h>
#include <stdio.h>

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/execution_engine_linux.h"
#include "c_pal/execution_engine_win32.h"
#include "c_pal/platform.h"
#include "c_pal/socket_handle.h"
#include "c_pal/socket_transport.h"

#define STATIC_CHECK(name, cond) typedef char static_check_##name[(cond) ? 1 : -1]

/* platform.h */
static int (*const p_platform_init)(void) = platform_init;
static void (*const p_platform_deinit)(void) = platform_deinit;

/* execution_engine.h */
static EXECUTION_ENGINE_HANDLE (*const p_execution_engine_create)(const EXECUTION_ENGINE_PARAMETERS*) = execution_engine_create;
static void (*const p_execution_engine_dec_ref)(EXECUTION_ENGINE_HANDLE) = execution_engine_dec_ref;
static void (*const p_execution_engine_inc_ref)(EXECUTION_ENGINE_HANDLE) = execution_engine_inc_ref;
#ifdef _WIN32
static PTP_POOL (*const p_execution_engine_win32_get_threadpool)(EXECUTION_ENGINE_HANDLE) = execution_engine_win32_get_threadpool;
#else
static const EXECUTION_ENGINE_PARAMETERS* (*const p_execution_engine_linux_get_parameters)(EXECUTION_ENGINE_HANDLE) = execution_engine_linux_get_parameters;
#endif

/* socket_transport.h */
static SOCKET_TRANSPORT_HANDLE (*const p_socket_transport_create_client)(void) = socket_transport_create_client;
static SOCKET_TRANSPORT_HANDLE (*const p_socket_transport_create_server)(void) = socket_transport_create_server;
static SOCKET_TRANSPORT_HANDLE (*const p_socket_transport_create_from_socket)(SOCKET_HANDLE) = socket_transport_create_from_socket;
static void (*const p_socket_transport_destroy)(SOCKET_TRANSPORT_HANDLE) = socket_transport_destroy;
static int (*const p_socket_transport_connect)(SOCKET_TRANSPORT_HANDLE, const char*, uint16_t, uint32_t) = socket_transport_connect;
static int (*const p_socket_transport_listen)(SOCKET_TRANSPORT_HANDLE, uint16_t) = socket_transport_listen;
static void (*const p_socket_transport_disconnect)(SOCKET_TRANSPORT_HANDLE) = socket_transport_disconnect;
static SOCKET_ACCEPT_RESULT (*const p_socket_transport_accept)(SOCKET_TRANSPORT_HANDLE, SOCKET_TRANSPORT_HANDLE*, uint32_t) = socket_transport_accept;
static SOCKET_SEND_RESULT (*const p_socket_transport_send)(SOCKET_TRANSPORT_HANDLE, const SOCKET_BUFFER*, uint32_t, uint32_t*, uint32_t, void*) = socket_transport_send;
static SOCKET_RECEIVE_RESULT (*const p_socket_transport_receive)(SOCKET_TRANSPORT_HANDLE, SOCKET_BUFFER*, uint32_t, uint32_t*, uint32_t, void*) = socket_transport_receive;
static SOCKET_HANDLE (*const p_socket_transport_get_underlying_socket)(SOCKET_TRANSPORT_HANDLE) = socket_transport_get_underlying_socket;
static bool (*const p_socket_transport_is_valid_socket)(SOCKET_TRANSPORT_HANDLE) = socket_transport_is_valid_socket;
static int (*const p_socket_transport_get_local_address)(SOCKET_TRANSPORT_HANDLE, char*, LOCAL_ADDRESS**, uint32_t*) = socket_transport_get_local_address;
static uint16_t (*const p_socket_transport_get_local_port)(SOCKET_TRANSPORT_HANDLE) = socket_transport_get_local_port;

/* async_socket.h */
static ASYNC_SOCKET_HANDLE (*const p_async_socket_create)(EXECUTION_ENGINE_HANDLE) = async_socket_create;
static ASYNC_SOCKET_HANDLE (*const p_async_socket_create_with_transport)(EXECUTION_ENGINE_HANDLE, ON_ASYNC_SOCKET_SEND, void*, ON_ASYNC_SOCKET_RECV, void*) = async_socket_create_with_transport;
static void (*const p_async_socket_destroy)(ASYNC_SOCKET_HANDLE) = async_socket_destroy;
/* The name alone (no call) is the seed's form, also where async_socket_open_async is the
   dispatching macro. */
static int (*const p_async_socket_open_async)(ASYNC_SOCKET_HANDLE, SOCKET_TRANSPORT_HANDLE, ON_ASYNC_SOCKET_OPEN_COMPLETE, void*) = async_socket_open_async;
static int (*const p_async_socket_open_async_with_socket_handle)(ASYNC_SOCKET_HANDLE, SOCKET_HANDLE, ON_ASYNC_SOCKET_OPEN_COMPLETE, void*) = async_socket_open_async_with_socket_handle;
static void (*const p_async_socket_close)(ASYNC_SOCKET_HANDLE) = async_socket_close;
static ASYNC_SOCKET_SEND_SYNC_RESULT (*const p_async_socket_send_async)(ASYNC_SOCKET_HANDLE, const ASYNC_SOCKET_BUFFER*, uint32_t, ON_ASYNC_SOCKET_SEND_COMPLETE, void*) = async_socket_send_async;
static int (*const p_async_socket_receive_async)(ASYNC_SOCKET_HANDLE, ASYNC_SOCKET_BUFFER*, uint32_t, ON_ASYNC_SOCKET_RECEIVE_COMPLETE, void*) = async_socket_receive_async;
static int (*const p_async_socket_notify_io_async)(ASYNC_SOCKET_HANDLE, ASYNC_SOCKET_NOTIFY_IO_TYPE, ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE, void*) = async_socket_notify_io_async;

/* The names of the enum values, as macro_utils' MU_DEFINE_ENUM declares them. */
static const char* (*const p_MU_SOCKET_SEND_RESULT_ToString)(SOCKET_SEND_RESULT) = MU_SOCKET_SEND_RESULT_ToString;
static const char* (*const p_MU_SOCKET_RECEIVE_RESULT_ToString)(SOCKET_RECEIVE_RESULT) = MU_SOCKET_RECEIVE_RESULT_ToString;
static const char* (*const p_MU_SOCKET_ACCEPT_RESULT_ToString)(SOCKET_ACCEPT_RESULT) = MU_SOCKET_ACCEPT_RESULT_ToString;
static const char* (*const p_MU_SOCKET_TYPE_ToString)(SOCKET_TYPE) = MU_SOCKET_TYPE_ToString;
static const char* (*const p_MU_ADDRESS_TYPE_ToString)(ADDRESS_TYPE) = MU_ADDRESS_TYPE_ToString;
static const char* (*const p_MU_ASYNC_SOCKET_OPEN_RESULT_ToString)(ASYNC_SOCKET_OPEN_RESULT) = MU_ASYNC_SOCKET_OPEN_RESULT_ToString;
static const char* (*const p_MU_ASYNC_SOCKET_SEND_SYNC_RESULT_ToString)(ASYNC_SOCKET_SEND_SYNC_RESULT) = MU_ASYNC_SOCKET_SEND_SYNC_RESULT_ToString;
static const char* (*const p_MU_ASYNC_SOCKET_SEND_RESULT_ToString)(ASYNC_SOCKET_SEND_RESULT) = MU_ASYNC_SOCKET_SEND_RESULT_ToString;
static const char* (*const p_MU_ASYNC_SOCKET_RECEIVE_RESULT_ToString)(ASYNC_SOCKET_RECEIVE_RESULT) = MU_ASYNC_SOCKET_RECEIVE_RESULT_ToString;
static const char* (*const p_MU_ASYNC_SOCKET_NOTIFY_IO_TYPE_ToString)(ASYNC_SOCKET_NOTIFY_IO_TYPE) = MU_ASYNC_SOCKET_NOTIFY_IO_TYPE_ToString;
static const char* (*const p_MU_ASYNC_SOCKET_NOTIFY_IO_RESULT_ToString)(ASYNC_SOCKET_NOTIFY_IO_RESULT) = MU_ASYNC_SOCKET_NOTIFY_IO_RESULT_ToString;

/* Callback types, exactly as c-pal declares them. */
static void (*p_on_open)(void*, ASYNC_SOCKET_OPEN_RESULT);
static void (*p_on_send_complete)(void*, ASYNC_SOCKET_SEND_RESULT);
static void (*p_on_receive_complete)(void*, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t);
static void (*p_on_notify)(void*, ASYNC_SOCKET_NOTIFY_IO_RESULT);
static int (*p_on_send)(void*, ASYNC_SOCKET_HANDLE, const void*, size_t);
static int (*p_on_recv)(void*, ASYNC_SOCKET_HANDLE, void*, size_t);

/* c-pal's numbering. */
STATIC_CHECK(open_ok, ASYNC_SOCKET_OPEN_RESULT_INVALID == 0 && ASYNC_SOCKET_OPEN_OK == 1 && ASYNC_SOCKET_OPEN_ERROR == 2);
STATIC_CHECK(send_sync, ASYNC_SOCKET_SEND_SYNC_RESULT_INVALID == 0 && ASYNC_SOCKET_SEND_SYNC_OK == 1 && ASYNC_SOCKET_SEND_SYNC_ERROR == 2 && ASYNC_SOCKET_SEND_SYNC_NOT_OPEN == 3);
STATIC_CHECK(send, ASYNC_SOCKET_SEND_RESULT_INVALID == 0 && ASYNC_SOCKET_SEND_OK == 1 && ASYNC_SOCKET_SEND_ERROR == 2 && ASYNC_SOCKET_SEND_ABANDONED == 3);
STATIC_CHECK(receive, ASYNC_SOCKET_RECEIVE_RESULT_INVALID == 0 && ASYNC_SOCKET_RECEIVE_OK == 1 && ASYNC_SOCKET_RECEIVE_ERROR == 2 && ASYNC_SOCKET_RECEIVE_ABANDONED == 3);
STATIC_CHECK(notify_type, ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID == 0 && ASYNC_SOCKET_NOTIFY_IO_TYPE_IN == 1 && ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT == 2);
STATIC_CHECK(notify_result, ASYNC_SOCKET_NOTIFY_IO_RESULT_INVALID == 0 && ASYNC_SOCKET_NOTIFY_IO_RESULT_IN == 1 && ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT == 2 && ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED == 3 && ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR == 4);
STATIC_CHECK(socket_send, SOCKET_SEND_RESULT_INVALID == 0 && SOCKET_SEND_INVALID_ARG == 1 && SOCKET_SEND_OK == 2 && SOCKET_SEND_ERROR == 3 && SOCKET_SEND_FAILED == 4 && SOCKET_SEND_SHUTDOWN == 5);
STATIC_CHECK(socket_receive, SOCKET_RECEIVE_RESULT_INVALID == 0 && SOCKET_RECEIVE_INVALID_ARG == 1 && SOCKET_RECEIVE_OK == 2 && SOCKET_RECEIVE_WOULD_BLOCK == 3 && SOCKET_RECEIVE_ERROR == 4 && SOCKET_RECEIVE_SHUTDOWN == 5);
STATIC_CHECK(socket_accept, SOCKET_ACCEPT_RESULT_INVALID == 0 && SOCKET_ACCEPT_OK == 1 && SOCKET_ACCEPT_ERROR == 2 && SOCKET_ACCEPT_PORT_EXHAUSTION == 3 && SOCKET_ACCEPT_INPROGRESS == 4 && SOCKET_ACCEPT_NO_CONNECTION == 5);
STATIC_CHECK(socket_type, SOCKET_TYPE_INVALID == 0 && SOCKET_BINDING == 1 && SOCKET_CLIENT == 2);
STATIC_CHECK(address_type, ADDRESS_TYPE_INVALID == 0 && ADDRESS_INET == 1 && ADDRESS_INET_6 == 2 && ADDRESS_NETBIOS == 3);
STATIC_CHECK(defaults, DEFAULT_MIN_THREAD_COUNT == 4 && DEFAULT_MAX_THREAD_COUNT == 0);
STATIC_CHECK(lengths, MAX_GET_HOST_NAME_LEN == 256 && MAX_LOCAL_ADDRESS_LEN == 22);
#ifdef _WIN32
STATIC_CHECK(invalid_socket, INVALID_SOCKET == (SOCKET)~(SOCKET)0 && sizeof(SOCKET_HANDLE) == sizeof(SOCKET));
#else
STATIC_CHECK(invalid_socket, INVALID_SOCKET == -1);
#endif
/* The Rust side passes every enum as an int. */
STATIC_CHECK(enum_is_int, sizeof(ASYNC_SOCKET_SEND_SYNC_RESULT) == sizeof(int) && sizeof(SOCKET_TYPE) == sizeof(int) && sizeof(ADDRESS_TYPE) == sizeof(int));

#define PRINT(name) printf("%s %lld\n", #name, (long long)(name))
#define LAYOUT(type, field) printf("offsetof(%s.%s) %zu\n", #type, #field, offsetof(type, field))
#define SIZE(type) printf("sizeof(%s) %zu\n", #type, sizeof(type))

int main(void)
{
    /* Use every pointer so that the compiler keeps (and the linker resolves) every symbol. */
    const void* all[] = {
        (const void*)&p_platform_init, (const void*)&p_platform_deinit,
        (const void*)&p_execution_engine_create, (const void*)&p_execution_engine_dec_ref,
#ifdef _WIN32
        (const void*)&p_execution_engine_inc_ref, (const void*)&p_execution_engine_win32_get_threadpool,
#else
        (const void*)&p_execution_engine_inc_ref, (const void*)&p_execution_engine_linux_get_parameters,
#endif
        (const void*)&p_socket_transport_create_client, (const void*)&p_socket_transport_create_server,
        (const void*)&p_socket_transport_create_from_socket, (const void*)&p_socket_transport_destroy,
        (const void*)&p_socket_transport_connect, (const void*)&p_socket_transport_listen,
        (const void*)&p_socket_transport_disconnect, (const void*)&p_socket_transport_accept,
        (const void*)&p_socket_transport_send, (const void*)&p_socket_transport_receive,
        (const void*)&p_socket_transport_get_underlying_socket, (const void*)&p_socket_transport_is_valid_socket,
        (const void*)&p_socket_transport_get_local_address, (const void*)&p_socket_transport_get_local_port,
        (const void*)&p_async_socket_create, (const void*)&p_async_socket_create_with_transport,
        (const void*)&p_async_socket_destroy, (const void*)&p_async_socket_open_async,
        (const void*)&p_async_socket_close, (const void*)&p_async_socket_send_async,
        (const void*)&p_async_socket_receive_async, (const void*)&p_async_socket_notify_io_async,
        (const void*)&p_async_socket_open_async_with_socket_handle,
        (const void*)&p_MU_SOCKET_SEND_RESULT_ToString, (const void*)&p_MU_SOCKET_RECEIVE_RESULT_ToString,
        (const void*)&p_MU_SOCKET_ACCEPT_RESULT_ToString, (const void*)&p_MU_SOCKET_TYPE_ToString,
        (const void*)&p_MU_ADDRESS_TYPE_ToString, (const void*)&p_MU_ASYNC_SOCKET_OPEN_RESULT_ToString,
        (const void*)&p_MU_ASYNC_SOCKET_SEND_SYNC_RESULT_ToString, (const void*)&p_MU_ASYNC_SOCKET_SEND_RESULT_ToString,
        (const void*)&p_MU_ASYNC_SOCKET_RECEIVE_RESULT_ToString, (const void*)&p_MU_ASYNC_SOCKET_NOTIFY_IO_TYPE_ToString,
        (const void*)&p_MU_ASYNC_SOCKET_NOTIFY_IO_RESULT_ToString,
    };
    size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < n; i++)
    {
        if (*(void* const*)all[i] == NULL)
        {
            printf("function %zu is NULL\n", i);
            return 1;
        }
    }
    ON_ASYNC_SOCKET_OPEN_COMPLETE t1 = p_on_open;
    ON_ASYNC_SOCKET_SEND_COMPLETE t2 = p_on_send_complete;
    ON_ASYNC_SOCKET_RECEIVE_COMPLETE t3 = p_on_receive_complete;
    ON_ASYNC_SOCKET_NOTIFY_IO_COMPLETE t4 = p_on_notify;
    ON_ASYNC_SOCKET_SEND t5 = p_on_send;
    ON_ASYNC_SOCKET_RECV t6 = p_on_recv;
    (void)t1; (void)t2; (void)t3; (void)t4; (void)t5; (void)t6;
    printf("functions %zu\n", n);

    PRINT(ASYNC_SOCKET_OPEN_OK); PRINT(ASYNC_SOCKET_OPEN_ERROR);
    PRINT(ASYNC_SOCKET_SEND_SYNC_OK); PRINT(ASYNC_SOCKET_SEND_SYNC_ERROR); PRINT(ASYNC_SOCKET_SEND_SYNC_NOT_OPEN);
    PRINT(ASYNC_SOCKET_SEND_OK); PRINT(ASYNC_SOCKET_SEND_ERROR); PRINT(ASYNC_SOCKET_SEND_ABANDONED);
    PRINT(ASYNC_SOCKET_RECEIVE_OK); PRINT(ASYNC_SOCKET_RECEIVE_ERROR); PRINT(ASYNC_SOCKET_RECEIVE_ABANDONED);
    PRINT(ASYNC_SOCKET_NOTIFY_IO_TYPE_IN); PRINT(ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT);
    PRINT(ASYNC_SOCKET_NOTIFY_IO_RESULT_IN); PRINT(ASYNC_SOCKET_NOTIFY_IO_RESULT_OUT);
    PRINT(ASYNC_SOCKET_NOTIFY_IO_RESULT_ABANDONED); PRINT(ASYNC_SOCKET_NOTIFY_IO_RESULT_ERROR);
    PRINT(SOCKET_SEND_INVALID_ARG); PRINT(SOCKET_SEND_OK); PRINT(SOCKET_SEND_ERROR); PRINT(SOCKET_SEND_FAILED); PRINT(SOCKET_SEND_SHUTDOWN);
    PRINT(SOCKET_RECEIVE_INVALID_ARG); PRINT(SOCKET_RECEIVE_OK); PRINT(SOCKET_RECEIVE_WOULD_BLOCK); PRINT(SOCKET_RECEIVE_ERROR); PRINT(SOCKET_RECEIVE_SHUTDOWN);
    PRINT(SOCKET_ACCEPT_OK); PRINT(SOCKET_ACCEPT_ERROR); PRINT(SOCKET_ACCEPT_PORT_EXHAUSTION); PRINT(SOCKET_ACCEPT_INPROGRESS); PRINT(SOCKET_ACCEPT_NO_CONNECTION);
    PRINT(SOCKET_BINDING); PRINT(SOCKET_CLIENT);
    PRINT(ADDRESS_INET); PRINT(ADDRESS_INET_6); PRINT(ADDRESS_NETBIOS);
    PRINT(DEFAULT_MIN_THREAD_COUNT); PRINT(DEFAULT_MAX_THREAD_COUNT);
    PRINT(MAX_GET_HOST_NAME_LEN); PRINT(MAX_LOCAL_ADDRESS_LEN);
    PRINT(INVALID_SOCKET);

    SIZE(EXECUTION_ENGINE_PARAMETERS);
    LAYOUT(EXECUTION_ENGINE_PARAMETERS, min_thread_count);
    LAYOUT(EXECUTION_ENGINE_PARAMETERS, max_thread_count);
    SIZE(ASYNC_SOCKET_BUFFER);
    LAYOUT(ASYNC_SOCKET_BUFFER, buffer);
    LAYOUT(ASYNC_SOCKET_BUFFER, length);
    SIZE(SOCKET_BUFFER);
    LAYOUT(SOCKET_BUFFER, length);
    LAYOUT(SOCKET_BUFFER, buffer);
    SIZE(LOCAL_ADDRESS);
    LAYOUT(LOCAL_ADDRESS, address_type);
    LAYOUT(LOCAL_ADDRESS, address);
    SIZE(SOCKET_HANDLE);
    return 0;
}
