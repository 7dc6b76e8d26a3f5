/* Not a test of the library: a deliberate leak (a transport never destroyed) that the valgrind
   run must report, proving that the valgrind run really checks for leaks. */

#include "c_pal/socket_transport.h"

#include <stdio.h>

int main(void)
{
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_client();
    printf("leaked %p\n", (void*)t);
    t = NULL;
    return 0;
}
