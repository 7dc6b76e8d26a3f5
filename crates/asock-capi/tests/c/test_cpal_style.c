/* A program written as c-pal programs are today, built unchanged against the asock headers with
   c-pal's usual flags (-std=gnu11 -Wall -Wextra -Werror): macro_utils included first (here the
   stand-in cpal_macro_utils.h), async_socket_open_async called with a SOCKET_HANDLE (the async
   socket then owns the socket and closes it at close), results logged by name through
   MU_ENUM_TO_STRING / PRI_MU_ENUM / MU_ENUM_VALUE. Also built with -std=gnu99 (the dispatch
   through GNU builtins) and with -DASOCK_OPEN_WITH_SOCKET_HANDLE (the define for compilers
   without _Generic), statically and against the shared library (the DLL on Windows). */

#include "cpal_macro_utils.h"

#include <inttypes.h>
#include <pthread.h>

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/platform.h"
#include "c_pal/socket_handle.h"
#include "c_pal/socket_transport.h"

#include "test_util.h"

static EXECUTION_ENGINE_HANDLE g_engine;

/* One operation's completions, with its result logged by name as a c-pal program logs it. */
typedef struct RESULT_TAG
{
    atomic_int calls;
    atomic_int result;
    atomic_uint bytes;
    char logged[96]; /* written before calls is incremented */
} RESULT;

static void result_init(RESULT* r)
{
    atomic_init(&r->calls, 0);
    atomic_init(&r->result, 0);
    atomic_init(&r->bytes, 0);
    r->logged[0] = '\0';
}

static void on_open_complete(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
{
    RESULT* r = (RESULT*)context;
    snprintf(r->logged, sizeof(r->logged), "open: %s", MU_ENUM_TO_STRING(ASYNC_SOCKET_OPEN_RESULT, open_result));
    atomic_store(&r->result, (int)open_result);
    atomic_fetch_add(&r->calls, 1);
}

static void on_send_complete(void* context, ASYNC_SOCKET_SEND_RESULT send_result)
{
    RESULT* r = (RESULT*)context;
    snprintf(r->logged, sizeof(r->logged), "send: %" PRI_MU_ENUM, MU_ENUM_VALUE(ASYNC_SOCKET_SEND_RESULT, send_result));
    atomic_store(&r->result, (int)send_result);
    atomic_fetch_add(&r->calls, 1);
}

static void on_receive_complete(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t bytes_received)
{
    RESULT* r = (RESULT*)context;
    snprintf(r->logged, sizeof(r->logged), "receive: %" PRI_MU_ENUM ", %" PRIu32 " bytes",
             MU_ENUM_VALUE(ASYNC_SOCKET_RECEIVE_RESULT, receive_result), bytes_received);
    atomic_store(&r->result, (int)receive_result);
    atomic_fetch_add(&r->bytes, bytes_received);
    atomic_fetch_add(&r->calls, 1);
}

/* Waits for the one completion of r, then checks what it logged. */
static void expect_logged(RESULT* r, const char* expected, const char* what)
{
    wait_at_least(&r->calls, 1, what);
    sleep_ms(10);
    CHECK_EQ_INT(1, atomic_load(&r->calls));
    CHECK(strcmp(r->logged, expected) == 0, "%s logged \"%s\", expected \"%s\"", what, r->logged, expected);
}

/* c-pal's way: create, then open on the socket itself. */
static ASYNC_SOCKET_HANDLE open_on_socket(RAW_SOCKET fd)
{
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    CHECK(s != NULL, "async_socket_create failed");
    RESULT open;
    result_init(&open);
    CHECK_EQ_INT(0, async_socket_open_async(s, to_handle(fd), on_open_complete, &open));
    CHECK_EQ_INT(1, atomic_load(&open.calls));
    CHECK(strcmp(open.logged, "open: ASYNC_SOCKET_OPEN_OK") == 0, "open logged \"%s\"", open.logged);
    return s;
}

static void open_with_a_socket_handle_sends_receives_and_closes_the_socket(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    RAW_SOCKET c, s;
    raw_pair(listener, port, &c, &s);
    ASYNC_SOCKET_HANDLE client = open_on_socket(c);
    ASYNC_SOCKET_HANDLE server = open_on_socket(s);

    unsigned char out[5] = { 'h', 'e', 'l', 'l', 'o' }, in[16];
    ASYNC_SOCKET_BUFFER sb = { out, sizeof(out) }, rb = { in, sizeof(in) };
    RESULT sent, received;
    result_init(&sent);
    result_init(&received);
    CHECK_EQ_INT(0, async_socket_receive_async(server, &rb, 1, on_receive_complete, &received));
    ASYNC_SOCKET_SEND_SYNC_RESULT sync = async_socket_send_async(client, &sb, 1, on_send_complete, &sent);
    CHECK(sync == ASYNC_SOCKET_SEND_SYNC_OK, "send_async: %" PRI_MU_ENUM, MU_ENUM_VALUE(ASYNC_SOCKET_SEND_SYNC_RESULT, sync));
    expect_logged(&sent, "send: ASYNC_SOCKET_SEND_OK (1)", "send");
    expect_logged(&received, "receive: ASYNC_SOCKET_RECEIVE_OK (1), 5 bytes", "receive");
    CHECK(memcmp(in, out, 5) == 0, "content differs");

    /* The client's async socket owns c: its close closes c, and the server reads the end. */
    async_socket_close(client);
    RESULT end;
    result_init(&end);
    CHECK_EQ_INT(0, async_socket_receive_async(server, &rb, 1, on_receive_complete, &end));
    expect_logged(&end, "receive: ASYNC_SOCKET_RECEIVE_ABANDONED (3), 0 bytes", "receive after the peer's close");
    async_socket_destroy(client);
    async_socket_destroy(server); /* closes s */
    close_socket(listener);
}

/* The socket is still open and still carries bytes to its peer. */
static void check_socket_still_usable(RAW_SOCKET fd, RAW_SOCKET peer, const char* what)
{
    CHECK(socket_is_open(fd), "%s: the refused socket was closed", what);
    CHECK_EQ_INT(2, send(fd, "ok", 2, MSG_NOSIGNAL));
    unsigned char got[2];
    raw_read_exact(peer, got, 2);
    CHECK(memcmp(got, "ok", 2) == 0, "%s: content differs", what);
}

static void open_failures_leave_the_socket_to_the_caller(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    RAW_SOCKET c, peer, c2, peer2;
    raw_pair(listener, port, &c, &peer);
    raw_pair(listener, port, &c2, &peer2);
    RAW_SOCKET udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(udp != RAW_SOCKET_INVALID, "socket(SOCK_DGRAM)");
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    RESULT open;
    result_init(&open);

    CHECK(async_socket_open_async(NULL, to_handle(c), on_open_complete, &open) != 0, "open(NULL async socket)");
    CHECK(async_socket_open_async(s, to_handle(c), NULL, &open) != 0, "open(NULL callback)");
    CHECK(async_socket_open_async(s, INVALID_SOCKET_HANDLE, on_open_complete, &open) != 0, "open(INVALID_SOCKET)");
    CHECK(async_socket_open_async(s, to_handle(udp), on_open_complete, &open) != 0, "open(a datagram socket)");
    CHECK(socket_is_open(udp), "the refused datagram socket was closed");
    CHECK(async_socket_open_async(s, to_handle(listener), on_open_complete, &open) != 0, "open(a listening socket)");
    CHECK(socket_is_open(listener), "the refused listener was closed");
    CHECK_EQ_INT(0, atomic_load(&open.calls));
    check_socket_still_usable(c, peer, "after the refused opens");

    CHECK_EQ_INT(0, async_socket_open_async(s, to_handle(c), on_open_complete, &open));
    CHECK_EQ_INT(1, atomic_load(&open.calls));
#ifndef _WIN32
    /* Blocking, as a caller may hand it: a refused open must not change that either. */
    int flags = fcntl(c2, F_GETFL, 0);
    CHECK(flags >= 0 && fcntl(c2, F_SETFL, flags & ~O_NONBLOCK) == 0, "fcntl");
#endif
    /* Already OPEN: the second socket stays the caller's, untouched. */
    CHECK(async_socket_open_async(s, to_handle(c2), on_open_complete, &open) != 0, "open on an OPEN socket");
    CHECK_EQ_INT(1, atomic_load(&open.calls));
#ifndef _WIN32
    CHECK((fcntl(c2, F_GETFL, 0) & O_NONBLOCK) == 0, "the refused open made the socket non-blocking");
#endif
    check_socket_still_usable(c2, peer2, "after the open on an OPEN socket");

    async_socket_destroy(s); /* closes c */
    CHECK(poll_socket(peer, POLLIN, (int)test_timeout_ms()) == 1, "peer never saw the close");
    unsigned char byte;
    CHECK_EQ_INT(0, recv(peer, (char*)&byte, 1, 0));
    close_socket(c2);
    close_socket(udp);
    close_socket(peer);
    close_socket(peer2);
    close_socket(listener);
}

/* Linux: a closed async socket opens again on a new socket. Windows follows the seed, which
   refuses that (see docs/windows.md). */
static void reopen_with_a_new_socket_handle_after_close(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
    for (int round = 0; round < 3; round++)
    {
        RAW_SOCKET c, peer;
        raw_pair(listener, port, &c, &peer);
        RESULT open, sent;
        result_init(&open);
        result_init(&sent);
#ifdef _WIN32
        if (round > 0)
        {
            /* The seed: a closed async socket cannot be opened again; the refused socket
               stays the caller's, open. */
            CHECK(async_socket_open_async(s, to_handle(c), on_open_complete, &open) != 0,
                  "re-open refused");
            close_socket(c);
            close_socket(peer);
            continue;
        }
#endif
        CHECK_EQ_INT(0, async_socket_open_async(s, to_handle(c), on_open_complete, &open));
        unsigned char out[2] = { (unsigned char)round, 7 };
        ASYNC_SOCKET_BUFFER sb = { out, 2 };
        CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &sb, 1, on_send_complete, &sent));
        expect_logged(&sent, "send: ASYNC_SOCKET_SEND_OK (1)", "send after (re-)open");
        unsigned char in[2];
        raw_read_exact(peer, in, 2);
        CHECK(memcmp(in, out, 2) == 0, "content differs");
        async_socket_close(s); /* closes c: the caller never does */
        CHECK(poll_socket(peer, POLLIN, (int)test_timeout_ms()) == 1, "peer never saw the close");
        CHECK_EQ_INT(0, recv(peer, (char*)in, 1, 0));
        close_socket(peer);
    }
    async_socket_destroy(s);
    close_socket(listener);
}

static void both_forms_in_one_program(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    RAW_SOCKET c, s;
    raw_pair(listener, port, &c, &s);
    /* The seed's form, on a transport, beside c-pal's form, on a socket. */
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_from_socket(to_handle(c));
    CHECK(t != NULL, "create_from_socket failed");
    ASYNC_SOCKET_HANDLE client = async_socket_create(g_engine);
    RESULT open;
    result_init(&open);
#ifdef ASOCK_OPEN_WITH_SOCKET_HANDLE
    /* With the define every call is the socket-handle form; the name alone is the seed's. */
    CHECK_EQ_INT(0, (async_socket_open_async)(client, t, on_open_complete, &open));
#else
    CHECK_EQ_INT(0, async_socket_open_async(client, t, on_open_complete, &open));
#endif
    CHECK(!socket_transport_is_valid_socket(t), "the transport still holds its socket");
    socket_transport_destroy(t);
    ASYNC_SOCKET_HANDLE server = open_on_socket(s);

    unsigned char out[3] = { 1, 2, 3 }, in[3] = { 0 };
    ASYNC_SOCKET_BUFFER sb = { out, 3 }, rb = { in, 3 };
    RESULT sent, received;
    result_init(&sent);
    result_init(&received);
    CHECK_EQ_INT(0, async_socket_receive_async(client, &rb, 1, on_receive_complete, &received));
    CHECK_EQ_INT(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(server, &sb, 1, on_send_complete, &sent));
    expect_logged(&sent, "send: ASYNC_SOCKET_SEND_OK (1)", "send");
    expect_logged(&received, "receive: ASYNC_SOCKET_RECEIVE_OK (1), 3 bytes", "receive");
    async_socket_destroy(client);
    async_socket_destroy(server);
    close_socket(listener);
}

/* Two threads open one CLOSED async socket at once, each with its own socket. */
typedef struct OPENER_TAG
{
    ASYNC_SOCKET_HANDLE async_socket;
    RAW_SOCKET fd;
    RESULT open;
    int rc;
} OPENER;

static void* opener_thread(void* arg)
{
    OPENER* o = (OPENER*)arg;
    o->rc = async_socket_open_async(o->async_socket, to_handle(o->fd), on_open_complete, &o->open);
    return NULL;
}

#define RACE_ROUNDS 50

static void concurrent_opens_one_wins_the_other_keeps_its_socket(void)
{
    uint16_t port;
    RAW_SOCKET listener = raw_listener(&port);
    for (int round = 0; round < RACE_ROUNDS; round++)
    {
        /* A fresh async socket each round: Windows does not open one again (the seed). */
        ASYNC_SOCKET_HANDLE s = async_socket_create(g_engine);
        RAW_SOCKET peers[2];
        OPENER o[2];
        pthread_t threads[2];
        for (int i = 0; i < 2; i++)
        {
            raw_pair(listener, port, &o[i].fd, &peers[i]);
            o[i].async_socket = s;
            result_init(&o[i].open);
        }
        for (int i = 0; i < 2; i++)
        {
            CHECK_EQ_INT(0, pthread_create(&threads[i], NULL, opener_thread, &o[i]));
        }
        for (int i = 0; i < 2; i++)
        {
            pthread_join(threads[i], NULL);
        }
        CHECK((o[0].rc == 0) != (o[1].rc == 0), "round %d: open results %d and %d", round, o[0].rc, o[1].rc);
        int winner = o[0].rc == 0 ? 0 : 1;
        CHECK_EQ_INT(1, atomic_load(&o[winner].open.calls));
        CHECK_EQ_INT(0, atomic_load(&o[1 - winner].open.calls));
        /* The loser's socket is still the caller's: open, usable, closed by the caller. */
        check_socket_still_usable(o[1 - winner].fd, peers[1 - winner], "the losing opener's socket");
        close_socket(o[1 - winner].fd);
        async_socket_close(s); /* closes the winner's socket */
        CHECK(poll_socket(peers[winner], POLLIN, (int)test_timeout_ms()) == 1, "peer never saw the close");
        close_socket(peers[0]);
        close_socket(peers[1]);
        async_socket_destroy(s);
    }
    close_socket(listener);
}

int main(void)
{
    CHECK_EQ_INT(0, platform_init());
    g_engine = execution_engine_create(NULL);
    CHECK(g_engine != NULL, "engine create failed");
    RUN_TEST(open_with_a_socket_handle_sends_receives_and_closes_the_socket);
    RUN_TEST(open_failures_leave_the_socket_to_the_caller);
    RUN_TEST(reopen_with_a_new_socket_handle_after_close);
    RUN_TEST(both_forms_in_one_program);
    RUN_TEST(concurrent_opens_one_wins_the_other_keeps_its_socket);
    execution_engine_dec_ref(g_engine);
    platform_deinit();
    TESTS_DONE();
}
