/* asock C ABI: the platform socket handle (drop-in for c-pal's c_pal/socket_handle.h). */

#ifndef SOCKET_HANDLE_H
#define SOCKET_HANDLE_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) || defined(WIN32)
/* A Winsock SOCKET, carried as a pointer-sized value; INVALID_SOCKET comes from winsock2.h. */
typedef void* SOCKET_HANDLE;
#define PRI_SOCKET "p"
#define SOCKET_ASSERT_TYPE void_ptr
#else
/* A file descriptor; -1 is the invalid socket. */
typedef int SOCKET_HANDLE;
#ifndef INVALID_SOCKET
#define INVALID_SOCKET -1
#endif
#define PRI_SOCKET "d"
#define SOCKET_ASSERT_TYPE int
#endif

#ifdef __cplusplus
}
#endif

#endif /* SOCKET_HANDLE_H */
