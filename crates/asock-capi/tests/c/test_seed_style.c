/* A program written against the seed's signature: every socket comes from socket_transport
   (listen, connect, accept) and async_socket_open_async takes the SOCKET_TRANSPORT_HANDLE. It
   includes nothing but the c_pal headers (no macro_utils) and names results through the headers'
   own MU_ENUM_TO_STRING. Built unchanged as C11 and as GNU C99 (the dispatch through GNU
   builtins), statically and against the shared library (the DLL on Windows). */

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/platform.h"
#include "c_pal/socket_transport.h"

#include "test_util.h"

static EXECUTION_ENGINE_HANDLE g_engine;

typedef struct RESULT_TAG
{
    atomic_int calls;
    atomic_int result;
    atomic_uint bytes;
    const char* name; /* MU_ENUM_TO_STRING of the result, written before calls is incremented */
} RESULT;

static void result_init(RESULT* r)
{
    atomic_init(&r->calls, 0);
    atomic_init(&r->result, 0);
    atomic_init(&r->bytes, 0);
    r->name = NULL;
}

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
{
    RESULT* r = (RESULT*)context;
    r->name = MU_ENUM_TO_STRING(ASYNC_SOCKET_OPEN_RESULT, open_result);
    atomic_fetch_add(&r->calls, 1);
}

static void on_sent(void* context, ASYNC_SOCKET_SEND_RESULT send_result)
{
    RESULT* r = (RESULT*)context;
    r->name = MU_ENUM_TO_STRING(ASYNC_SOCKET_SEND_RESULT, send_result);
    atomic_store(&r->result, (int)send_result);
    atomic_fetch_add(&r->calls, 1);
}

static void on_received(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t bytes_received)
{
    RESULT* r = (RESULT*)context;
    r->name = MU_ENUM_TO_STRING(ASYNC_SOCKET_RECEIVE_RESULT, receive_result);
    atomic_store(&r->result, (int)receive_result);
    atomic_fetch_add(&r->bytes, bytes_received);
    atomic_fetch_add(&r->calls, 1);
}

static void expect_name(RESULT* r, const char* expected, const char* what)
{
    wait_at_least(&r->calls, 1, what);
    sleep_ms(10);
    CHECK_EQ_INT(1, atomic_load(&r->calls));
    CHECK(r->name != NULL && strcmp(r->name, expected) == 0, "%s: %s, expected %s", what, r->name ? r->name : "(none)", expected);
}

/* Opens a new async socket on a transport; the transport is empty afterwards. */
static ASYNC_SOCKET_HANDLE open_on_transport(SOCKET_TRANSPORT_HANDLE t)
{
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    CHECK(s != NULL, "async_socket_create failed");
    RESULT open;
    result_init(&open);
    CHECK_EQ_INT(0, async_socket_open_async(s, t, on_open, &open));
    CHECK_EQ_INT(1, atomic_load(&open.calls));
    CHECK(strcmp(open.name, "ASYNC_SOCKET_OPEN_OK") == 0, "open: %s", open.name);
    CHECK(!socket_transport_is_valid_socket(t), "the handed-over transport still holds its socket");
    return s;
}

static void transports_connect_accept_and_echo(void)
{
    SOCKET_TRANSPORT_HANDLE server = socket_transport_create_server();
    CHECK_EQ_INT(0, socket_transport_listen(server, 0));
    uint16_t port = socket_transport_get_local_port(server);
    CHECK(port != 0, "no port");
    SOCKET_TRANSPORT_HANDLE client_t = socket_transport_create_client();
    CHECK_EQ_INT(0, socket_transport_connect(client_t, "127.0.0.1", port, test_timeout_ms()));
    SOCKET_TRANSPORT_HANDLE accepted = NULL;
    SOCKET_ACCEPT_RESULT accept_result = socket_transport_accept(server, &accepted, test_timeout_ms());
    CHECK(accept_result == SOCKET_ACCEPT_OK, "accept: %s", MU_ENUM_TO_STRING(SOCKET_ACCEPT_RESULT, accept_result));

    ASYNC_SOCKET_HANDLE client = open_on_transport(client_t);
    ASYNC_SOCKET_HANDLE peer = open_on_transport(accepted);
    socket_transport_destroy(client_t); /* empty now: destroying them touches no connection */
    socket_transport_destroy(accepted);

    unsigned char a[3] = { 'a', 'b', 'c' }, b[2] = { 'd', 'e' }, in1[2], in2[8];
    ASYNC_SOCKET_BUFFER out[2] = { { a, 3 }, { b, 2 } };
    ASYNC_SOCKET_BUFFER in[2] = { { in1, 2 }, { in2, 8 } };
    RESULT sent, received;
    result_init(&sent);
    result_init(&received);
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(client, out, 2, on_sent, &sent));
    expect_name(&sent, "ASYNC_SOCKET_SEND_OK", "send");
    CHECK_EQ_INT(0, async_socket_receive_async(peer, in, 2, on_received, &received));
    expect_name(&received, "ASYNC_SOCKET_RECEIVE_OK", "receive");
    CHECK(atomic_load(&received.bytes) >= 1, "no byte");

    /* Closing the client closes its connection: the peer's next receive ends the stream. */
    async_socket_close(client);
    RESULT end;
    result_init(&end);
    unsigned char rest[8];
    ASYNC_SOCKET_BUFFER rb = { rest, 8 };
    while (atomic_load(&received.bytes) < 5)
    {
        /* The 5 bytes may arrive in two reads. */
        RESULT more;
        result_init(&more);
        CHECK_EQ_INT(0, async_socket_receive_async(peer, &rb, 1, on_received, &more));
        expect_name(&more, "ASYNC_SOCKET_RECEIVE_OK", "receive of the rest");
        atomic_fetch_add(&received.bytes, atomic_load(&more.bytes));
    }
    CHECK_EQ_INT(0, async_socket_receive_async(peer, &rb, 1, on_received, &end));
    expect_name(&end, "ASYNC_SOCKET_RECEIVE_ABANDONED", "receive after the peer's close");

    async_socket_destroy(client);
    async_socket_destroy(peer);
    socket_transport_destroy(server);
}

static void open_refuses_a_null_or_empty_transport(void)
{
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    RESULT open;
    result_init(&open);
    CHECK(async_socket_open_async(s, (SOCKET_TRANSPORT_HANDLE)NULL, on_open, &open) != 0, "open(NULL transport)");
    /* A plain NULL compiles too and fails the same (on Windows it is read as a NULL SOCKET_HANDLE). */
    CHECK(async_socket_open_async(s, NULL, on_open, &open) != 0, "open(NULL)");
    SOCKET_TRANSPORT_HANDLE empty = socket_transport_create_client();
    CHECK(async_socket_open_async(s, empty, on_open, &open) != 0, "open on an empty transport");
    CHECK_EQ_INT(0, atomic_load(&open.calls));
    socket_transport_destroy(empty);
    async_socket_destroy(s);
}

int main(void)
{
    CHECK_EQ_INT(0, platform_init());
    g_engine = execution_engine_create(NULL);
    CHECK(g_engine != NULL, "engine create failed");
    RUN_TEST(transports_connect_accept_and_echo);
    RUN_TEST(open_refuses_a_null_or_empty_transport);
    execution_engine_dec_ref(g_engine);
    platform_deinit();
    TESTS_DONE();
}
