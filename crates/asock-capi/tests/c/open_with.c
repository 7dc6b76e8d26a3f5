/* Compiled, not run, by the header checks (tests/c_headers.rs, scripts/test-capi-windows.sh):
   one call of async_socket_open_async whose second argument has the type ARG_TYPE (given with
   -DARG_TYPE=...). It must compile for a SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE, and fail to
   compile for any other type, whichever way the header selects the entry point. */

#ifdef _WIN32
#include <winsock2.h> /* SOCKET, which must be cast to SOCKET_HANDLE */
#endif
#include "c_pal/async_socket.h"

#ifndef ARG_TYPE
#error "compile with -DARG_TYPE=<the type of the second argument>"
#endif

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    (void)context;
    (void)result;
}

int call(ASYNC_SOCKET_HANDLE s, ARG_TYPE x);
int call(ASYNC_SOCKET_HANDLE s, ARG_TYPE x)
{
    return async_socket_open_async(s, x, on_open, 0);
}
