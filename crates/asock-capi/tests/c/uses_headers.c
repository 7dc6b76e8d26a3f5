/* Compiled, not run, by the header checks (tests/c_headers.rs, scripts/test-capi-windows.sh) in
   every C and C++ mode they try: touches every kind of thing the headers define (both open
   forms, the enum lists and names, the logging macros), which must compile without a single
   diagnostic under -Wall -Wextra -Werror (and -pedantic). */

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/socket_transport.h"

#include <stdio.h>

#ifdef __cplusplus
#define NO_TRANSPORT nullptr
#else
#define NO_TRANSPORT NULL
#endif

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    (void)context;
    (void)result;
}

int uses(ASYNC_SOCKET_HANDLE s, SOCKET_TRANSPORT_HANDLE t, SOCKET_HANDLE h);
int uses(ASYNC_SOCKET_HANDLE s, SOCKET_TRANSPORT_HANDLE t, SOCKET_HANDLE h)
{
    static const ASYNC_SOCKET_SEND_RESULT sends[] = { ASYNC_SOCKET_SEND_RESULT_VALUES };
    static const SOCKET_TYPE types[] = { SOCKET_TYPE_VALUES };
    const SOCKET_TRANSPORT_HANDLE ct = t;
    const SOCKET_HANDLE ch = h;
    int (*seed_form)(ASYNC_SOCKET_HANDLE, SOCKET_TRANSPORT_HANDLE, ON_ASYNC_SOCKET_OPEN_COMPLETE, void*) = async_socket_open_async;
    int rc = async_socket_open_async(s, t, on_open, NULL);
    rc += async_socket_open_async(s, h, on_open, NULL);
    rc += async_socket_open_async(s, ct, on_open, NULL);
    rc += async_socket_open_async(s, ch, on_open, NULL);
    rc += async_socket_open_async(s, NO_TRANSPORT, on_open, NULL);
    rc += seed_form(s, t, on_open, NULL);
    printf("%" PRI_MU_ENUM " %s %s\n", MU_ENUM_VALUE(ASYNC_SOCKET_SEND_RESULT, sends[0]),
           MU_ENUM_TO_STRING(SOCKET_TYPE, types[1]), MU_ASYNC_SOCKET_OPEN_RESULT_ToString(ASYNC_SOCKET_OPEN_OK));
    return rc;
}
