/* async_socket_create_with_transport: the C ON_ASYNC_SOCKET_SEND / ON_ASYNC_SOCKET_RECV
   (send(2) / recv(2) look-alikes with errno) mapped onto the Rust Transport: data through the
   functions, real EAGAIN under back-pressure, injected ECONNRESET / EIO / EAGAIN, 0-byte
   returns, -1 without errno, over-long returns, contexts and handle passed verbatim. */

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/platform.h"
#include "c_pal/socket_transport.h"

#include "test_util.h"

static EXECUTION_ENGINE_HANDLE g_engine;

enum INJECT
{
    INJECT_NONE = 0,
    INJECT_ERRNO,         /* return -1 with errno = inject_errno */
    INJECT_ZERO,          /* return 0 */
    INJECT_NO_ERRNO,      /* return -1 leaving errno 0 */
    INJECT_TOO_MANY       /* return len + 1 */
};

typedef struct XPORT_TAG
{
    int fd;                       /* the real socket, captured before open (no public accessor) */
    ASYNC_SOCKET_HANDLE handle;   /* what the functions must be passed */
    atomic_int calls;
    atomic_int eagain;
    atomic_int wrong_handle;
    atomic_int inject;            /* enum INJECT, consumed by the next call */
    int inject_errno;
} XPORT;

static void xport_init(XPORT* x)
{
    x->fd = -1;
    x->handle = NULL;
    atomic_init(&x->calls, 0);
    atomic_init(&x->eagain, 0);
    atomic_init(&x->wrong_handle, 0);
    atomic_init(&x->inject, INJECT_NONE);
    x->inject_errno = 0;
}

/* Applies a pending injection; returns 1 and sets *rc when one was applied. */
static int injected(XPORT* x, size_t len, int* rc)
{
    int what = atomic_exchange(&x->inject, INJECT_NONE);
    switch (what)
    {
    case INJECT_ERRNO:
        errno = x->inject_errno;
        *rc = -1;
        return 1;
    case INJECT_ZERO:
        *rc = 0;
        return 1;
    case INJECT_NO_ERRNO:
        errno = 0;
        *rc = -1;
        return 1;
    case INJECT_TOO_MANY:
        *rc = (int)len + 1;
        return 1;
    default:
        return 0;
    }
}

static int x_send(void* context, ASYNC_SOCKET_HANDLE async_socket, const void* buf, size_t len)
{
    XPORT* x = (XPORT*)context;
    atomic_fetch_add(&x->calls, 1);
    if (x->handle != NULL && async_socket != x->handle)
    {
        atomic_fetch_add(&x->wrong_handle, 1);
    }
    int rc;
    if (injected(x, len, &rc))
    {
        return rc;
    }
    ssize_t n = send(x->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    {
        int saved = errno;
        atomic_fetch_add(&x->eagain, 1);
        errno = saved;
    }
    return (int)n;
}

static int x_recv(void* context, ASYNC_SOCKET_HANDLE async_socket, void* buf, size_t len)
{
    XPORT* x = (XPORT*)context;
    atomic_fetch_add(&x->calls, 1);
    if (x->handle != NULL && async_socket != x->handle)
    {
        atomic_fetch_add(&x->wrong_handle, 1);
    }
    int rc;
    if (injected(x, len, &rc))
    {
        return rc;
    }
    return (int)recv(x->fd, buf, len, 0);
}

typedef struct OP_TAG
{
    atomic_int calls;
    atomic_int result;
    atomic_uint bytes;
} OP;

static void op_init(OP* op)
{
    atomic_init(&op->calls, 0);
    atomic_init(&op->result, 0);
    atomic_init(&op->bytes, 0);
}

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT r)
{
    (void)context;
    CHECK_EQ_INT(ASYNC_SOCKET_OPEN_OK, r);
}

static void on_send_complete(void* context, ASYNC_SOCKET_SEND_RESULT r)
{
    OP* op = (OP*)context;
    atomic_store(&op->result, (int)r);
    atomic_fetch_add(&op->calls, 1);
}

static void on_receive_complete(void* context, ASYNC_SOCKET_RECEIVE_RESULT r, uint32_t n)
{
    OP* op = (OP*)context;
    atomic_store(&op->result, (int)r);
    atomic_fetch_add(&op->bytes, n);
    atomic_fetch_add(&op->calls, 1);
}

static void expect_once(OP* op, int result, const char* what)
{
    wait_at_least(&op->calls, 1, what);
    sleep_ms(20);
    CHECK(atomic_load(&op->calls) == 1, "%s completed %d times", what, atomic_load(&op->calls));
    CHECK(atomic_load(&op->result) == result, "%s: result %d, expected %d", what, atomic_load(&op->result), result);
}

typedef struct FIXTURE_TAG
{
    int listener;
    int peer;
    XPORT sx;
    XPORT rx;
    ASYNC_SOCKET_HANDLE s;
} FIXTURE;

/* A custom-transport async socket on one end of a loopback pair; the other end stays raw. */
static void fixture_open(FIXTURE* f)
{
    uint16_t port;
    int c;
    f->listener = raw_listener(&port);
    raw_pair(f->listener, port, &c, &f->peer);
    xport_init(&f->sx);
    xport_init(&f->rx);
    f->s = async_socket_create_with_transport(g_engine, x_send, &f->sx, x_recv, &f->rx);
    CHECK(f->s != NULL, "create_with_transport failed");
    f->sx.handle = f->s;
    f->rx.handle = f->s;
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_from_socket(c);
    CHECK(t != NULL, "create_from_socket failed");
    f->sx.fd = socket_transport_get_underlying_socket(t);
    f->rx.fd = f->sx.fd;
    CHECK_EQ_INT(0, async_socket_open_async(f->s, t, on_open, NULL));
    socket_transport_destroy(t);
}

static void fixture_close(FIXTURE* f)
{
    async_socket_close(f->s);
    async_socket_destroy(f->s);
    CHECK_EQ_INT(0, atomic_load(&f->sx.wrong_handle));
    CHECK_EQ_INT(0, atomic_load(&f->rx.wrong_handle));
    close(f->peer);
    close(f->listener);
}

static void data_goes_through_the_functions_with_contexts_and_handle_verbatim(void)
{
    FIXTURE f;
    fixture_open(&f);
    unsigned char a[3] = { 'a', 'b', 'c' }, b[2] = { 'd', 'e' };
    ASYNC_SOCKET_BUFFER sbufs[2] = { { a, 3 }, { b, 2 } };
    OP s;
    op_init(&s);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(f.s, sbufs, 2, on_send_complete, &s));
    expect_once(&s, ASYNC_SOCKET_SEND_OK, "custom send");
    CHECK(atomic_load(&f.sx.calls) >= 1, "on_send was not called");
    unsigned char got[5];
    raw_read_exact(f.peer, got, 5);
    CHECK(memcmp(got, "abcde", 5) == 0, "content differs");

    CHECK_EQ_INT(4, send(f.peer, "wxyz", 4, MSG_NOSIGNAL));
    unsigned char in1[2], in2[8];
    ASYNC_SOCKET_BUFFER rbufs[2] = { { in1, 2 }, { in2, 8 } };
    OP r;
    op_init(&r);
    CHECK_EQ_INT(0, async_socket_receive_async(f.s, rbufs, 2, on_receive_complete, &r));
    expect_once(&r, ASYNC_SOCKET_RECEIVE_OK, "custom receive");
    CHECK_EQ_INT(4, atomic_load(&r.bytes));
    CHECK(memcmp(in1, "wx", 2) == 0 && memcmp(in2, "yz", 2) == 0, "scatter content differs");
    CHECK(atomic_load(&f.rx.calls) >= 1, "on_recv was not called");
    fixture_close(&f);
}

#define BIG (16u * 1024u * 1024u)

static void real_eagain_under_back_pressure_completes_every_byte(void)
{
    FIXTURE f;
    fixture_open(&f);
    unsigned char* out = malloc(BIG);
    unsigned char* in = malloc(BIG);
    CHECK(out != NULL && in != NULL, "out of memory");
    for (size_t i = 0; i < BIG; i++)
    {
        out[i] = (unsigned char)(i * 7u + (i >> 12));
    }
    ASYNC_SOCKET_BUFFER sb = { out, BIG };
    OP s;
    op_init(&s);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));
    sleep_ms(20); /* let the socket buffers fill */
    raw_read_exact(f.peer, in, BIG);
    expect_once(&s, ASYNC_SOCKET_SEND_OK, "back-pressured custom send");
    CHECK(memcmp(in, out, BIG) == 0, "content differs");
    CHECK(atomic_load(&f.sx.eagain) > 0, "the send never hit EAGAIN (payload too small for this kernel?)");
    fixture_close(&f);
    free(out);
    free(in);
}

static void send_errors_at_submission_map_to_sync_results(void)
{
    FIXTURE f;
    fixture_open(&f);
    unsigned char x[4] = { 1, 2, 3, 4 };
    ASYNC_SOCKET_BUFFER sb = { x, 4 };
    OP s;
    op_init(&s);

    f.sx.inject_errno = ECONNRESET;
    atomic_store(&f.sx.inject, INJECT_ERRNO);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_NOT_OPEN, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));

    f.sx.inject_errno = EPIPE;
    atomic_store(&f.sx.inject, INJECT_ERRNO);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_NOT_OPEN, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));

    f.sx.inject_errno = EIO;
    atomic_store(&f.sx.inject, INJECT_ERRNO);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));

    /* A send that returns 0 fails once; it is not retried in a loop. */
    int before = atomic_load(&f.sx.calls);
    atomic_store(&f.sx.inject, INJECT_ZERO);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));
    CHECK_EQ_INT(before + 1, atomic_load(&f.sx.calls));

    atomic_store(&f.sx.inject, INJECT_NO_ERRNO);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));

    atomic_store(&f.sx.inject, INJECT_TOO_MANY);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));

    sleep_ms(20);
    CHECK_EQ_INT(0, atomic_load(&s.calls)); /* no completion for a refused submission */

    /* Still usable afterwards. */
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(f.s, &sb, 1, on_send_complete, &s));
    expect_once(&s, ASYNC_SOCKET_SEND_OK, "send after the injected failures");
    unsigned char got[4];
    raw_read_exact(f.peer, got, 4);
    CHECK(memcmp(got, x, 4) == 0, "content differs");
    fixture_close(&f);
}

/* Posts a 4-byte receive, makes the socket readable, and expects result. */
static void receive_with_injection(int inject, int inject_errno, int result, const char* what)
{
    FIXTURE f;
    fixture_open(&f);
    f.rx.inject_errno = inject_errno;
    atomic_store(&f.rx.inject, inject);
    unsigned char in[4];
    ASYNC_SOCKET_BUFFER rb = { in, 4 };
    OP r;
    op_init(&r);
    CHECK_EQ_INT(0, async_socket_receive_async(f.s, &rb, 1, on_receive_complete, &r));
    CHECK_EQ_INT(1, send(f.peer, "q", 1, MSG_NOSIGNAL));
    expect_once(&r, result, what);
    CHECK_EQ_INT(0, atomic_load(&r.bytes));
    fixture_close(&f);
}

static void receive_errors_map_to_completion_results(void)
{
    receive_with_injection(INJECT_ERRNO, ECONNRESET, ASYNC_SOCKET_RECEIVE_ABANDONED, "recv ECONNRESET");
    receive_with_injection(INJECT_ERRNO, EIO, ASYNC_SOCKET_RECEIVE_ERROR, "recv EIO");
    receive_with_injection(INJECT_ZERO, 0, ASYNC_SOCKET_RECEIVE_ABANDONED, "recv end of stream (0)");
    receive_with_injection(INJECT_NO_ERRNO, 0, ASYNC_SOCKET_RECEIVE_ERROR, "recv -1 without errno");
    receive_with_injection(INJECT_TOO_MANY, 0, ASYNC_SOCKET_RECEIVE_ERROR, "recv returning more than len");
}

static void receive_eagain_waits_for_the_next_readiness(void)
{
    FIXTURE f;
    fixture_open(&f);
    f.rx.inject_errno = EAGAIN;
    atomic_store(&f.rx.inject, INJECT_ERRNO);
    unsigned char in[8];
    ASYNC_SOCKET_BUFFER rb = { in, 8 };
    OP r;
    op_init(&r);
    CHECK_EQ_INT(0, async_socket_receive_async(f.s, &rb, 1, on_receive_complete, &r));
    CHECK_EQ_INT(2, send(f.peer, "ab", 2, MSG_NOSIGNAL));
    /* The injected EAGAIN is consumed and is no failure: the receive waits for readiness. On
       epoll that is the next edge (new data); io_uring's poll reports the socket readable at
       once (the two bytes are still queued), so the receive may complete with them already. */
    wait_at_least(&f.rx.calls, 1, "the first recv call");
    sleep_ms(30);
    if (atomic_load(&r.calls) == 1)
    {
        CHECK_EQ_INT(ASYNC_SOCKET_RECEIVE_OK, atomic_load(&r.result));
        CHECK_EQ_INT(2, atomic_load(&r.bytes));
        CHECK(memcmp(in, "ab", 2) == 0, "content differs");
    }
    else
    {
        CHECK_EQ_INT(0, atomic_load(&r.calls));
        /* New data: new readiness; the receive gets everything queued. */
        CHECK_EQ_INT(2, send(f.peer, "cd", 2, MSG_NOSIGNAL));
        expect_once(&r, ASYNC_SOCKET_RECEIVE_OK, "receive after EAGAIN");
        CHECK_EQ_INT(4, atomic_load(&r.bytes));
        CHECK(memcmp(in, "abcd", 4) == 0, "content differs");
    }
    CHECK(atomic_load(&f.rx.calls) >= 2, "on_recv called %d times", atomic_load(&f.rx.calls));
    fixture_close(&f);
}

static void close_abandons_a_pending_custom_receive(void)
{
    FIXTURE f;
    fixture_open(&f);
    unsigned char in[8];
    ASYNC_SOCKET_BUFFER rb = { in, 8 };
    OP r;
    op_init(&r);
    CHECK_EQ_INT(0, async_socket_receive_async(f.s, &rb, 1, on_receive_complete, &r));
    async_socket_close(f.s);
    CHECK_EQ_INT(1, atomic_load(&r.calls));
    CHECK_EQ_INT(ASYNC_SOCKET_RECEIVE_ABANDONED, atomic_load(&r.result));
    fixture_close(&f);
}

int main(void)
{
    CHECK_EQ_INT(0, platform_init());
    g_engine = execution_engine_create(NULL);
    CHECK(g_engine != NULL, "engine create failed");
    RUN_TEST(data_goes_through_the_functions_with_contexts_and_handle_verbatim);
    RUN_TEST(real_eagain_under_back_pressure_completes_every_byte);
    RUN_TEST(send_errors_at_submission_map_to_sync_results);
    RUN_TEST(receive_errors_map_to_completion_results);
    RUN_TEST(receive_eagain_waits_for_the_next_readiness);
    RUN_TEST(close_abandons_a_pending_custom_receive);
    execution_engine_dec_ref(g_engine);
    platform_deinit();
    TESTS_DONE();
}
