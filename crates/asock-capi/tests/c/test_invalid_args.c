/* async_socket.h: every NULL / invalid argument and wrong-state call returns the documented
   failure value, promises no completion, and crashes nothing; argument errors are reported
   before state errors; NULL contexts are allowed and handed back as NULL. The seed requirements
   that only C can express (a NULL engine, handle, callback, payload, a zero count, a NULL
   context) are named in full at the assertion that proves each, one per line. */

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/platform.h"
#include "c_pal/socket_transport.h"

#include "test_util.h"

static EXECUTION_ENGINE_HANDLE g_engine;
static atomic_int g_callbacks;

static void count_open(void* context, ASYNC_SOCKET_OPEN_RESULT r) { (void)context; (void)r; atomic_fetch_add(&g_callbacks, 1); }
static void count_send(void* context, ASYNC_SOCKET_SEND_RESULT r) { (void)context; (void)r; atomic_fetch_add(&g_callbacks, 1); }
static void count_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT r, uint32_t n) { (void)context; (void)r; (void)n; atomic_fetch_add(&g_callbacks, 1); }
static void count_notify(void* context, ASYNC_SOCKET_NOTIFY_IO_RESULT r) { (void)context; (void)r; atomic_fetch_add(&g_callbacks, 1); }
static int dummy_send(void* context, ASYNC_SOCKET_HANDLE s, const void* buf, size_t len) { (void)context; (void)s; (void)buf; return (int)len; }
static int dummy_recv(void* context, ASYNC_SOCKET_HANDLE s, void* buf, size_t len) { (void)context; (void)s; (void)buf; (void)len; return 0; }

/* Every argument error of send / receive / notify on s: ERROR or non-zero, no completion. */
static void check_argument_errors(ASYNC_SOCKET_HANDLE s)
{
    unsigned char bytes[4] = { 1, 2, 3, 4 };
    ASYNC_SOCKET_BUFFER good = { bytes, 4 };
    ASYNC_SOCKET_BUFFER null_buf = { NULL, 4 };
    ASYNC_SOCKET_BUFFER empty_buf = { bytes, 0 };
    ASYNC_SOCKET_BUFFER second_null[2] = { { bytes, 4 }, { NULL, 4 } };
    ASYNC_SOCKET_BUFFER second_empty[2] = { { bytes, 4 }, { bytes, 0 } };
    ASYNC_SOCKET_BUFFER over_u32[2] = { { bytes, 0x80000000u }, { bytes, 0x80000000u } };

    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(NULL, &good, 1, count_send, NULL)); /* SRS_ASYNC_SOCKET_WIN32_01_024 */
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, NULL, 1, count_send, NULL)); /* SRS_ASYNC_SOCKET_WIN32_01_025 */
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &good, 0, count_send, NULL)); /* SRS_ASYNC_SOCKET_WIN32_01_085 */
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &null_buf, 1, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &empty_buf, 1, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, second_null, 2, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, second_empty, 2, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, over_u32, 2, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &good, 1, NULL, NULL)); /* SRS_ASYNC_SOCKET_WIN32_01_026 */
    /* A count whose descriptors would exceed UINT32_MAX bytes is refused before any is read. */
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &good, UINT32_MAX, count_send, NULL));

    CHECK(async_socket_receive_async(NULL, &good, 1, count_receive, NULL) != 0, "receive(NULL)"); /* SRS_ASYNC_SOCKET_WIN32_01_073 */
    CHECK(async_socket_receive_async(s, NULL, 1, count_receive, NULL) != 0, "receive(payload NULL)"); /* SRS_ASYNC_SOCKET_WIN32_01_074 */
    CHECK(async_socket_receive_async(s, &good, 0, count_receive, NULL) != 0, "receive(count 0)"); /* SRS_ASYNC_SOCKET_WIN32_01_086 */
    CHECK(async_socket_receive_async(s, &null_buf, 1, count_receive, NULL) != 0, "receive(buffer NULL)");
    CHECK(async_socket_receive_async(s, &empty_buf, 1, count_receive, NULL) != 0, "receive(length 0)");
    CHECK(async_socket_receive_async(s, second_null, 2, count_receive, NULL) != 0, "receive(second buffer NULL)");
    CHECK(async_socket_receive_async(s, second_empty, 2, count_receive, NULL) != 0, "receive(second length 0)");
    CHECK(async_socket_receive_async(s, over_u32, 2, count_receive, NULL) != 0, "receive(total over UINT32_MAX)");
    CHECK(async_socket_receive_async(s, &good, 1, NULL, NULL) != 0, "receive(callback NULL)"); /* SRS_ASYNC_SOCKET_WIN32_01_075 */
    CHECK(async_socket_receive_async(s, &good, UINT32_MAX, count_receive, NULL) != 0, "receive(count UINT32_MAX)");

    CHECK(async_socket_notify_io_async(NULL, ASYNC_SOCKET_NOTIFY_IO_TYPE_IN, count_notify, NULL) != 0, "notify(NULL)");
    CHECK(async_socket_notify_io_async(s, ASYNC_SOCKET_NOTIFY_IO_TYPE_IN, NULL, NULL) != 0, "notify(callback NULL)");
    CHECK(async_socket_notify_io_async(s, ASYNC_SOCKET_NOTIFY_IO_TYPE_INVALID, count_notify, NULL) != 0, "notify(INVALID)");
    CHECK(async_socket_notify_io_async(s, (ASYNC_SOCKET_NOTIFY_IO_TYPE)3, count_notify, NULL) != 0, "notify(3)");
    CHECK(async_socket_notify_io_async(s, (ASYNC_SOCKET_NOTIFY_IO_TYPE)-1, count_notify, NULL) != 0, "notify(-1)");
    CHECK(async_socket_notify_io_async(s, (ASYNC_SOCKET_NOTIFY_IO_TYPE)1000, count_notify, NULL) != 0, "notify(1000)");
}

static void create_rejects_null_engine_and_functions(void)
{
    CHECK(async_socket_create(NULL) == NULL, "create(NULL)"); /* SRS_ASYNC_SOCKET_WIN32_01_002 */
    CHECK(async_socket_create_with_transport(NULL, dummy_send, NULL, dummy_recv, NULL) == NULL, "create_with_transport(NULL engine)");
    CHECK(async_socket_create_with_transport(g_engine, NULL, NULL, dummy_recv, NULL) == NULL, "create_with_transport(on_send NULL)");
    CHECK(async_socket_create_with_transport(g_engine, dummy_send, NULL, NULL, NULL) == NULL, "create_with_transport(on_recv NULL)");
    ASYNC_SOCKET_HANDLE s = async_socket_create_with_transport(g_engine, dummy_send, NULL, dummy_recv, NULL);
#ifdef _WIN32
    /* No custom transports on Windows (SRS_ASYNC_SOCKET_WIN32_04_001): NULL even when valid. */
    CHECK(s == NULL, "create_with_transport succeeded on Windows");
#else
    CHECK(s != NULL, "create_with_transport with NULL contexts failed");
#endif
    async_socket_destroy(s);
}

static void null_handles_are_ignored(void)
{
    async_socket_destroy(NULL); /* returns: SRS_ASYNC_SOCKET_WIN32_01_004 */
    async_socket_close(NULL); /* returns: SRS_ASYNC_SOCKET_WIN32_01_018 */
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_client();
    CHECK(async_socket_open_async(NULL, t, count_open, NULL) != 0, "open(NULL)"); /* SRS_ASYNC_SOCKET_WIN32_01_007 */
    socket_transport_destroy(t);
    CHECK_EQ_INT(0, atomic_load(&g_callbacks));
}

/* Open on a connected pair (the client end) with a transport; the peer is returned raw. */
static ASYNC_SOCKET_HANDLE open_client(RAW_SOCKET listener, uint16_t port, RAW_SOCKET* peer, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open, void* context)
{
    RAW_SOCKET c;
    raw_pair(listener, port, &c, peer);
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_from_socket(to_handle(c));
    CHECK(t != NULL, "create_from_socket failed");
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    CHECK(s != NULL, "create failed");
    CHECK_EQ_INT(0, async_socket_open_async(s, t, on_open, context));
    socket_transport_destroy(t);
    return s;
}

static void open_rejects_a_null_transport_or_callback(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    RAW_SOCKET c, peer;
    raw_pair(listener, port, &c, &peer);
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_from_socket(to_handle(c));
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    CHECK(async_socket_open_async(s, (SOCKET_TRANSPORT_HANDLE)NULL, count_open, NULL) != 0, "open(NULL transport)"); /* SRS_ASYNC_SOCKET_WIN32_01_034 */
    CHECK(async_socket_open_async(s, t, NULL, NULL) != 0, "open(NULL callback)"); /* SRS_ASYNC_SOCKET_WIN32_01_008 */
    CHECK(socket_transport_is_valid_socket(t), "a refused open took the transport's socket");
    CHECK_EQ_INT(0, atomic_load(&g_callbacks));
    async_socket_destroy(s);
    socket_transport_destroy(t);
    close_socket(peer);
    close_socket(listener);
}

/* Callbacks that record the context they were handed. */
static atomic_int g_null_context_calls;
static atomic_int g_ok_results;
static void null_ctx_open(void* context, ASYNC_SOCKET_OPEN_RESULT r)
{
    if (context == NULL) { atomic_fetch_add(&g_null_context_calls, 1); }
    if (r == ASYNC_SOCKET_OPEN_OK) { atomic_fetch_add(&g_ok_results, 1); }
}
static void null_ctx_send(void* context, ASYNC_SOCKET_SEND_RESULT r)
{
    if (context == NULL) { atomic_fetch_add(&g_null_context_calls, 1); }
    if (r == ASYNC_SOCKET_SEND_OK) { atomic_fetch_add(&g_ok_results, 1); }
}
static void null_ctx_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT r, uint32_t n)
{
    if (context == NULL) { atomic_fetch_add(&g_null_context_calls, 1); }
    if (r == ASYNC_SOCKET_RECEIVE_OK && n == 4) { atomic_fetch_add(&g_ok_results, 1); }
}

static void null_contexts_are_allowed_and_handed_back(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    RAW_SOCKET peer;
    atomic_store(&g_null_context_calls, 0);
    atomic_store(&g_ok_results, 0);
    ASYNC_SOCKET_HANDLE s = open_client(listener, port, &peer, null_ctx_open, NULL);
    CHECK_EQ_INT(1, atomic_load(&g_null_context_calls)); /* open succeeded, context NULL: SRS_ASYNC_SOCKET_WIN32_01_009 */
    CHECK_EQ_INT(1, atomic_load(&g_ok_results));
    unsigned char out[4] = { 1, 2, 3, 4 }, in[4] = { 0 };
    ASYNC_SOCKET_BUFFER sb = { out, 4 }, rb = { in, 4 };
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &sb, 1, null_ctx_send, NULL));
    wait_at_least(&g_ok_results, 2, "the send with a NULL context");
    CHECK_EQ_INT(2, atomic_load(&g_null_context_calls)); /* send completed OK, context NULL: SRS_ASYNC_SOCKET_WIN32_01_027 */
    unsigned char echo[4];
    raw_read_exact(peer, echo, 4);
    CHECK_EQ_INT(4, send(peer, (const char*)echo, 4, MSG_NOSIGNAL));
    CHECK_EQ_INT(0, async_socket_receive_async(s, &rb, 1, null_ctx_receive, NULL));
    wait_at_least(&g_ok_results, 3, "the receive with a NULL context");
    CHECK_EQ_INT(3, atomic_load(&g_null_context_calls)); /* receive completed OK, context NULL: SRS_ASYNC_SOCKET_WIN32_01_076 */
    CHECK(memcmp(in, out, 4) == 0, "content differs");
    async_socket_destroy(s);
    close_socket(peer);
    close_socket(listener);
}

static void closed_socket_argument_errors_come_before_state_errors(void)
{
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    CHECK(s != NULL, "create failed");
    check_argument_errors(s);
    /* Good arguments on a CLOSED socket: the state error. */
    unsigned char bytes[4] = { 1, 2, 3, 4 };
    ASYNC_SOCKET_BUFFER good = { bytes, 4 };
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_NOT_OPEN, async_socket_send_async(s, &good, 1, count_send, NULL));
    CHECK(async_socket_receive_async(s, &good, 1, count_receive, NULL) != 0, "receive on a CLOSED socket");
    CHECK(async_socket_notify_io_async(s, ASYNC_SOCKET_NOTIFY_IO_TYPE_OUT, count_notify, NULL) != 0, "notify on a CLOSED socket");
    async_socket_close(s); /* close of a never-opened socket: nothing to do */
    async_socket_close(s);
    async_socket_destroy(s);
    sleep_ms(20);
    CHECK_EQ_INT(0, atomic_load(&g_callbacks));
}

static void open_socket_argument_errors_promise_nothing(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    RAW_SOCKET peer;
    ASYNC_SOCKET_HANDLE s = open_client(listener, port, &peer, count_open, NULL);
    CHECK_EQ_INT(1, atomic_load(&g_callbacks));
    check_argument_errors(s);
    /* A writable peer and data to read: a wrongly accepted operation would complete. */
    CHECK_EQ_INT(4, send(peer, "abcd", 4, MSG_NOSIGNAL));
    sleep_ms(50);
    CHECK_EQ_INT(1, atomic_load(&g_callbacks));
    async_socket_destroy(s);
    CHECK_EQ_INT(1, atomic_load(&g_callbacks));
    close_socket(peer);
    close_socket(listener);
    atomic_store(&g_callbacks, 0);
}

int main(void)
{
    CHECK_EQ_INT(0, platform_init());
    g_engine = execution_engine_create(NULL);
    CHECK(g_engine != NULL, "engine create failed");
    RUN_TEST(create_rejects_null_engine_and_functions);
    RUN_TEST(null_handles_are_ignored);
    RUN_TEST(open_rejects_a_null_transport_or_callback);
    RUN_TEST(null_contexts_are_allowed_and_handed_back);
    RUN_TEST(closed_socket_argument_errors_come_before_state_errors);
    RUN_TEST(open_socket_argument_errors_promise_nothing);
    execution_engine_dec_ref(g_engine);
    platform_deinit();
    TESTS_DONE();
}
