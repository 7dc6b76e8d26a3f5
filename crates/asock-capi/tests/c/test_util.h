/* Helpers shared by the C tests of the asock C ABI: checks that exit with a message, bounded
   waits, loopback connection set-up. Every wait is bounded by test_timeout_ms() (10 s, times
   ASOCK_TEST_TIMEOUT_SCALE when set, e.g. under valgrind). */

#ifndef ASOCK_TEST_UTIL_H
#define ASOCK_TEST_UTIL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
/* Winsock in place of the POSIX socket calls; winsock2.h before windows.h. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include "c_pal/socket_handle.h"

#define CHECK(cond, ...)                                                              \
    do                                                                                \
    {                                                                                 \
        if (!(cond))                                                                  \
        {                                                                             \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n");                                                    \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

#define CHECK_EQ_INT(expected, actual)                                                \
    do                                                                                \
    {                                                                                 \
        long long e_ = (long long)(expected);                                         \
        long long a_ = (long long)(actual);                                           \
        CHECK(e_ == a_, "expected %s == %lld, got %lld", #actual, e_, a_);            \
    } while (0)

static int g_tests_run;

#define RUN_TEST(fn)                                                                  \
    do                                                                                \
    {                                                                                 \
        printf("test %s ... ", #fn);                                                  \
        fflush(stdout);                                                               \
        fn();                                                                         \
        printf("ok\n");                                                               \
        fflush(stdout);                                                               \
        g_tests_run++;                                                                \
    } while (0)

#define TESTS_DONE()                                                                  \
    do                                                                                \
    {                                                                                 \
        printf("%d passed, 0 failed\n", g_tests_run);                                 \
        return 0;                                                                     \
    } while (0)

/* A raw socket of the platform (a descriptor on Linux, a Winsock SOCKET on Windows) and the
   few calls that differ. */
#ifdef _WIN32
typedef SOCKET RAW_SOCKET;
typedef unsigned long long rlim_t;
#define RAW_SOCKET_INVALID INVALID_SOCKET
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* Winsock raises no SIGPIPE */
#endif
static inline int close_socket(RAW_SOCKET s) { return closesocket(s); }
static inline int socket_error(void) { return WSAGetLastError(); }
static inline int socket_would_block(int e) { return e == WSAEWOULDBLOCK || e == WSAEINTR; }
static inline int poll_socket(RAW_SOCKET s, short events, int ms)
{
    WSAPOLLFD p = { s, events, 0 };
    return WSAPoll(&p, 1, ms);
}
/* Whether the socket is still open (SO_TYPE answers). */
static inline int socket_is_open(RAW_SOCKET s)
{
    int type = 0;
    int len = (int)sizeof(type);
    return getsockopt(s, SOL_SOCKET, SO_TYPE, (char*)&type, &len) == 0;
}
/* The C tests make raw sockets before the library does: start Winsock first. */
__attribute__((constructor)) static void test_util_wsa_startup(void)
{
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
    {
        fprintf(stderr, "WSAStartup failed\n");
        exit(1);
    }
}
#else
typedef int RAW_SOCKET;
#define RAW_SOCKET_INVALID (-1)
static inline int close_socket(RAW_SOCKET s) { return close(s); }
static inline int socket_error(void) { return errno; }
static inline int socket_would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }
static inline int poll_socket(RAW_SOCKET s, short events, int ms)
{
    struct pollfd p = { s, events, 0 };
    return poll(&p, 1, ms);
}
static inline int socket_is_open(RAW_SOCKET s) { return fcntl(s, F_GETFD) >= 0; }
#endif

/* INVALID_SOCKET as a SOCKET_HANDLE (Winsock's INVALID_SOCKET is an integer, the handle a
   pointer). */
#define INVALID_SOCKET_HANDLE to_handle(RAW_SOCKET_INVALID)

/* A raw socket as the SOCKET_HANDLE of the C ABI. */
static inline SOCKET_HANDLE to_handle(RAW_SOCKET s)
{
#ifdef _WIN32
    return (SOCKET_HANDLE)(uintptr_t)s;
#else
    return s;
#endif
}

static inline double now_ms(void)
{
#ifdef _WIN32
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart * 1000.0 / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
#endif
}

static inline void sleep_ms(unsigned ms)
{
#ifdef _WIN32
    Sleep(ms);
#else
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    {
    }
#endif
}

static inline double timeout_scale(void)
{
    const char* s = getenv("ASOCK_TEST_TIMEOUT_SCALE");
    double v = s != NULL ? atof(s) : 1.0;
    return v >= 1.0 ? v : 1.0;
}

/* The bound of every wait: 10 s, scaled. */
static inline unsigned test_timeout_ms(void)
{
    return (unsigned)(10000.0 * timeout_scale());
}

/* Waits until *counter >= target, at most test_timeout_ms(); fails the test with what on
   timeout. */
static inline void wait_at_least(atomic_int* counter, int target, const char* what)
{
    double deadline = now_ms() + test_timeout_ms();
    while (atomic_load(counter) < target)
    {
        CHECK(now_ms() < deadline, "timed out after %u ms waiting for %s (%d of %d)",
              test_timeout_ms(), what, atomic_load(counter), target);
        sleep_ms(1);
    }
}

static inline void set_nonblocking(RAW_SOCKET fd)
{
#ifdef _WIN32
    u_long on = 1;
    CHECK(ioctlsocket(fd, FIONBIO, &on) == 0, "ioctlsocket(FIONBIO): %d", socket_error());
#else
    int flags = fcntl(fd, F_GETFL, 0);
    CHECK(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));
#endif
}

/* A raw loopback listener on a kernel-chosen port (as c-pal's Linux integration test sets up). */
static inline RAW_SOCKET raw_listener(uint16_t* port)
{
    RAW_SOCKET fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd != RAW_SOCKET_INVALID, "socket: %s", strerror(errno));
    int one = 1;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (const char*)&one, sizeof(one)) == 0, "SO_REUSEADDR");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    CHECK(bind(fd, (struct sockaddr*)&addr, sizeof(addr)) == 0, "bind: %s", strerror(errno));
    CHECK(listen(fd, SOMAXCONN) == 0, "listen: %s", strerror(errno));
    socklen_t len = sizeof(addr);
    CHECK(getsockname(fd, (struct sockaddr*)&addr, &len) == 0, "getsockname");
    *port = ntohs(addr.sin_port);
    set_nonblocking(fd);
    return fd;
}

/* A raw connected pair over loopback: *client (connected) and *server (accepted), both
   non-blocking. */
static inline void raw_pair(RAW_SOCKET listener, uint16_t port, RAW_SOCKET* client, RAW_SOCKET* server)
{
    RAW_SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c != RAW_SOCKET_INVALID, "socket: %s", strerror(errno));
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    CHECK(connect(c, (struct sockaddr*)&addr, sizeof(addr)) == 0, "connect: %s", strerror(errno));
    set_nonblocking(c);
    double deadline = now_ms() + test_timeout_ms();
    RAW_SOCKET s;
    while ((s = accept(listener, NULL, NULL)) == RAW_SOCKET_INVALID)
    {
        int e = socket_error();
        CHECK(socket_would_block(e), "accept: error %d", e);
        CHECK(now_ms() < deadline, "accept timed out");
        (void)poll_socket(listener, POLLIN, 10);
    }
    set_nonblocking(s);
    *client = c;
    *server = s;
}

/* Raises the soft limit on open descriptors to at least want (up to the hard limit); returns
   the limit now in force. */
static inline rlim_t raise_fd_limit(rlim_t want)
{
#ifdef _WIN32
    return want; /* no per-process descriptor limit on Windows */
#else
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    if (rl.rlim_cur < want)
    {
        rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    }
    return rl.rlim_cur;
#endif
}

/* Reads exactly len bytes from a raw non-blocking fd within the test timeout. */
static inline void raw_read_exact(RAW_SOCKET fd, unsigned char* buf, size_t len)
{
    size_t got = 0;
    double deadline = now_ms() + test_timeout_ms();
    while (got < len)
    {
        long n = (long)recv(fd, (char*)buf + got, (int)(len - got), 0);
        if (n > 0)
        {
            got += (size_t)n;
            continue;
        }
        CHECK(n != 0, "peer closed after %zu of %zu bytes", got, len);
        int e = socket_error();
        CHECK(socket_would_block(e), "recv: error %d", e);
        CHECK(now_ms() < deadline, "timed out reading (%zu of %zu bytes)", got, len);
        (void)poll_socket(fd, POLLIN, 10);
    }
}

#endif /* ASOCK_TEST_UTIL_H */
