/* async_socket.h: every NULL / invalid argument and wrong-state call returns the documented
   failure value, promises no completion, and crashes nothing; argument errors are reported
   before state errors (contract C3, C4). */

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

    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(NULL, &good, 1, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, NULL, 1, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &good, 0, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &null_buf, 1, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &empty_buf, 1, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, second_null, 2, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, second_empty, 2, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, over_u32, 2, count_send, NULL));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &good, 1, NULL, NULL));
    /* A count whose descriptors would exceed UINT32_MAX bytes is refused before any is read. */
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &good, UINT32_MAX, count_send, NULL));

    CHECK(async_socket_receive_async(NULL, &good, 1, count_receive, NULL) != 0, "receive(NULL)");
    CHECK(async_socket_receive_async(s, NULL, 1, count_receive, NULL) != 0, "receive(payload NULL)");
    CHECK(async_socket_receive_async(s, &good, 0, count_receive, NULL) != 0, "receive(count 0)");
    CHECK(async_socket_receive_async(s, &null_buf, 1, count_receive, NULL) != 0, "receive(buffer NULL)");
    CHECK(async_socket_receive_async(s, &empty_buf, 1, count_receive, NULL) != 0, "receive(length 0)");
    CHECK(async_socket_receive_async(s, second_null, 2, count_receive, NULL) != 0, "receive(second buffer NULL)");
    CHECK(async_socket_receive_async(s, second_empty, 2, count_receive, NULL) != 0, "receive(second length 0)");
    CHECK(async_socket_receive_async(s, over_u32, 2, count_receive, NULL) != 0, "receive(total over UINT32_MAX)");
    CHECK(async_socket_receive_async(s, &good, 1, NULL, NULL) != 0, "receive(callback NULL)");
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
    CHECK(async_socket_create(NULL) == NULL, "create(NULL)");
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
    async_socket_destroy(NULL);
    async_socket_close(NULL);
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_client();
    CHECK(async_socket_open_async(NULL, t, count_open, NULL) != 0, "open(NULL)");
    socket_transport_destroy(t);
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
    RAW_SOCKET c, peer;
    raw_pair(listener, port, &c, &peer);
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_from_socket(to_handle(c));
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    CHECK_EQ_INT(0, async_socket_open_async(s, t, count_open, NULL)); /* NULL context is allowed */
    CHECK_EQ_INT(1, atomic_load(&g_callbacks));
    check_argument_errors(s);
    /* A writable peer and data to read: a wrongly accepted operation would complete. */
    CHECK_EQ_INT(4, send(peer, "abcd", 4, MSG_NOSIGNAL));
    sleep_ms(50);
    CHECK_EQ_INT(1, atomic_load(&g_callbacks));
    async_socket_destroy(s);
    socket_transport_destroy(t);
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
    RUN_TEST(closed_socket_argument_errors_come_before_state_errors);
    RUN_TEST(open_socket_argument_errors_promise_nothing);
    execution_engine_dec_ref(g_engine);
    platform_deinit();
    TESTS_DONE();
}
