/* socket_transport.h through the C ABI: the scenarios of c-pal's socket_transport_int
   integration test on loopback with kernel-chosen ports (c-pal used fixed ones), plus timeouts,
   wrong types, the transport lifecycle and every NULL / invalid argument. */

#ifndef _WIN32
#include <sys/ioctl.h>
#endif

#include "c_pal/platform.h"
#include "c_pal/socket_transport.h"

#include "test_util.h"

#define SEND_FLAGS MSG_NOSIGNAL

typedef struct CONNECTION_TAG
{
    SOCKET_TRANSPORT_HANDLE listener;
    SOCKET_TRANSPORT_HANDLE client;
    SOCKET_TRANSPORT_HANDLE accepted;
} CONNECTION;

static SOCKET_TRANSPORT_HANDLE listen_any_port(uint16_t* port)
{
    SOCKET_TRANSPORT_HANDLE listener = socket_transport_create_server();
    CHECK(listener != NULL, "create_server failed");
    CHECK_EQ_INT(0, socket_transport_listen(listener, 0));
    *port = socket_transport_get_local_port(listener);
    CHECK(*port != 0, "no local port after listen(0)");
    return listener;
}

static SOCKET_TRANSPORT_HANDLE connect_and_accept(SOCKET_TRANSPORT_HANDLE listener, uint16_t port, const char* host, SOCKET_TRANSPORT_HANDLE* accepted)
{
    SOCKET_TRANSPORT_HANDLE client = socket_transport_create_client();
    CHECK(client != NULL, "create_client failed");
    CHECK_EQ_INT(0, socket_transport_connect(client, host, port, test_timeout_ms()));
    *accepted = (SOCKET_TRANSPORT_HANDLE)0x1; /* accept must overwrite it */
    CHECK_EQ_INT(SOCKET_ACCEPT_OK, socket_transport_accept(listener, accepted, test_timeout_ms()));
    CHECK(*accepted != NULL, "accept gave no transport");
    return client;
}

static CONNECTION make_connection(void)
{
    CONNECTION c;
    uint16_t port;
    c.listener = listen_any_port(&port);
    c.client = connect_and_accept(c.listener, port, "127.0.0.1", &c.accepted);
    return c;
}

static void destroy_connection(CONNECTION* c)
{
    socket_transport_disconnect(c->client);
    socket_transport_disconnect(c->accepted);
    socket_transport_disconnect(c->listener);
    socket_transport_destroy(c->client);
    socket_transport_destroy(c->accepted);
    socket_transport_destroy(c->listener);
}

/* Waits until at least want bytes are queued for reading on the transport's socket. */
static void wait_readable_bytes(SOCKET_TRANSPORT_HANDLE t, int want)
{
    SOCKET_HANDLE fd = socket_transport_get_underlying_socket(t);
    CHECK(fd != INVALID_SOCKET_HANDLE, "no underlying socket");
    double deadline = now_ms() + test_timeout_ms();
    for (;;)
    {
#ifdef _WIN32
        u_long queued_bytes = 0;
        CHECK(ioctlsocket((SOCKET)(uintptr_t)fd, FIONREAD, &queued_bytes) == 0, "FIONREAD: %d", socket_error());
        int queued = (int)queued_bytes;
#else
        int queued = 0;
        CHECK(ioctl(fd, FIONREAD, &queued) == 0, "FIONREAD: %s", strerror(errno));
#endif
        if (queued >= want)
        {
            return;
        }
        CHECK(now_ms() < deadline, "timed out waiting for %d bytes (%d queued)", want, queued);
        (void)poll_socket((RAW_SOCKET)(uintptr_t)fd, POLLIN, 10);
        if (queued > 0)
        {
            sleep_ms(1);
        }
    }
}

/* Waits until the peer's end of stream is readable on the transport's socket. */
static void wait_readable(SOCKET_TRANSPORT_HANDLE t)
{
    SOCKET_HANDLE fd = socket_transport_get_underlying_socket(t);
    CHECK(fd != INVALID_SOCKET_HANDLE, "no underlying socket");
    CHECK(poll_socket((RAW_SOCKET)(uintptr_t)fd, POLLIN, (int)test_timeout_ms()) == 1, "socket never became readable");
}

static void send_and_receive_2_buffer_of_2_byte_succeeds(void)
{
    CONNECTION c = make_connection();
    unsigned char out1[2] = { 0x42, 0x43 }, out2[2] = { 0x44, 0x45 };
    SOCKET_BUFFER send_bufs[2] = { { 2, out1 }, { 2, out2 } };
    uint32_t sent = 0;
    CHECK_EQ_INT(SOCKET_SEND_OK, socket_transport_send(c.client, send_bufs, 2, &sent, SEND_FLAGS, NULL));
    CHECK_EQ_INT(4, sent);

    wait_readable_bytes(c.accepted, 4);
    unsigned char in1[2] = { 0 }, in2[2] = { 0 };
    SOCKET_BUFFER recv_bufs[2] = { { 2, in1 }, { 2, in2 } };
    uint32_t received = 0;
    CHECK_EQ_INT(SOCKET_RECEIVE_OK, socket_transport_receive(c.accepted, recv_bufs, 2, &received, 0, NULL));
    CHECK_EQ_INT(4, received);
    CHECK(memcmp(in1, out1, 2) == 0 && memcmp(in2, out2, 2) == 0, "content differs");
    destroy_connection(&c);
}

#define ROUND_BUFFERS 8
#define ROUND_BUFFER_SIZE 64

static void send_round(SOCKET_TRANSPORT_HANDLE from, unsigned char data[ROUND_BUFFERS][ROUND_BUFFER_SIZE], char first_letter, SOCKET_SEND_RESULT* result, uint32_t* sent)
{
    SOCKET_BUFFER bufs[ROUND_BUFFERS];
    for (int i = 0; i < ROUND_BUFFERS; i++)
    {
        memset(data[i], first_letter + i, ROUND_BUFFER_SIZE);
        bufs[i].length = ROUND_BUFFER_SIZE;
        bufs[i].buffer = data[i];
    }
    *result = socket_transport_send(from, bufs, ROUND_BUFFERS, sent, SEND_FLAGS, NULL);
}

static void receive_round_and_compare(SOCKET_TRANSPORT_HANDLE at, unsigned char expected[ROUND_BUFFERS][ROUND_BUFFER_SIZE])
{
    unsigned char in[ROUND_BUFFERS][ROUND_BUFFER_SIZE];
    SOCKET_BUFFER bufs[ROUND_BUFFERS];
    for (int i = 0; i < ROUND_BUFFERS; i++)
    {
        bufs[i].length = ROUND_BUFFER_SIZE;
        bufs[i].buffer = in[i];
    }
    wait_readable_bytes(at, ROUND_BUFFERS * ROUND_BUFFER_SIZE);
    uint32_t received = 0;
    CHECK_EQ_INT(SOCKET_RECEIVE_OK, socket_transport_receive(at, bufs, ROUND_BUFFERS, &received, 0, NULL));
    CHECK_EQ_INT(ROUND_BUFFERS * ROUND_BUFFER_SIZE, received);
    for (int i = 0; i < ROUND_BUFFERS; i++)
    {
        CHECK(memcmp(in[i], expected[i], ROUND_BUFFER_SIZE) == 0, "buffer %d differs", i);
    }
}

static void send_and_receive_random_buffer_of_random_byte_succeeds(void)
{
    CONNECTION c = make_connection();
    unsigned char out[ROUND_BUFFERS][ROUND_BUFFER_SIZE];
    SOCKET_SEND_RESULT result;
    uint32_t sent = 0;
    send_round(c.client, out, 'A', &result, &sent);
    CHECK_EQ_INT(SOCKET_SEND_OK, result);
    CHECK_EQ_INT(ROUND_BUFFERS * ROUND_BUFFER_SIZE, sent);
    receive_round_and_compare(c.accepted, out);
    destroy_connection(&c);
}

#define KNIGHT_CLIENTS 4

static void socket_transport_chaos_knight_test(void)
{
    uint16_t port;
    SOCKET_TRANSPORT_HANDLE listener = listen_any_port(&port);
    SOCKET_TRANSPORT_HANDLE clients[KNIGHT_CLIENTS], accepted[KNIGHT_CLIENTS];
    for (int i = 0; i < KNIGHT_CLIENTS; i++)
    {
        clients[i] = connect_and_accept(listener, port, "127.0.0.1", &accepted[i]);
    }
    unsigned char out[ROUND_BUFFERS][ROUND_BUFFER_SIZE];
    for (int i = 0; i < KNIGHT_CLIENTS; i++)
    {
        SOCKET_SEND_RESULT result;
        uint32_t sent = 0;
        send_round(clients[i], out, (char)('A' + i), &result, &sent);
        CHECK_EQ_INT(SOCKET_SEND_OK, result);
        CHECK_EQ_INT(ROUND_BUFFERS * ROUND_BUFFER_SIZE, sent);
        receive_round_and_compare(accepted[i], out);
    }

    srand((unsigned)time(NULL));
    int victim = rand() % KNIGHT_CLIENTS;
    socket_transport_disconnect(accepted[victim]);

    for (int i = 0; i < KNIGHT_CLIENTS; i++)
    {
        SOCKET_SEND_RESULT result;
        uint32_t sent = 0;
        send_round(clients[i], out, (char)('a' + i), &result, &sent);
        if (result == SOCKET_SEND_OK)
        {
            CHECK_EQ_INT(ROUND_BUFFERS * ROUND_BUFFER_SIZE, sent);
        }
        if (i == victim)
        {
            unsigned char in[4];
            SOCKET_BUFFER b = { sizeof(in), in };
            uint32_t received = 77;
            CHECK_EQ_INT(SOCKET_RECEIVE_ERROR, socket_transport_receive(accepted[i], &b, 1, &received, 0, NULL));
            CHECK_EQ_INT(0, received);
        }
        else
        {
            CHECK_EQ_INT(SOCKET_SEND_OK, result);
            receive_round_and_compare(accepted[i], out);
        }
    }

    for (int i = 0; i < KNIGHT_CLIENTS; i++)
    {
        socket_transport_disconnect(clients[i]);
        if (i != victim)
        {
            socket_transport_disconnect(accepted[i]);
        }
        socket_transport_destroy(clients[i]);
        socket_transport_destroy(accepted[i]);
    }
    socket_transport_disconnect(listener);
    socket_transport_destroy(listener);
}

static void get_local_socket_address_test(void)
{
    CONNECTION c = make_connection();
    char host_a[MAX_GET_HOST_NAME_LEN], host_b[MAX_GET_HOST_NAME_LEN];
    LOCAL_ADDRESS* list_a = NULL;
    LOCAL_ADDRESS* list_b = NULL;
    uint32_t count_a = 99, count_b = 98;
    CHECK_EQ_INT(0, socket_transport_get_local_address(c.accepted, host_a, &list_a, &count_a));
    CHECK_EQ_INT(0, socket_transport_get_local_address(c.client, host_b, &list_b, &count_b));
    CHECK(strcmp(host_a, host_b) == 0, "host names differ: %s / %s", host_a, host_b);
    CHECK(strlen(host_a) > 0, "empty host name");
    CHECK_EQ_INT(count_a, count_b);
    CHECK(count_a > 0, "no address at all (loopback is up)");
    CHECK(list_a != NULL && list_b != NULL, "NULL list with a non-zero count");
    int saw_loopback = 0;
    for (uint32_t i = 0; i < count_a; i++)
    {
        CHECK(list_a[i].address_type == ADDRESS_INET || list_a[i].address_type == ADDRESS_INET_6, "bad type %d", (int)list_a[i].address_type);
        CHECK(memchr(list_a[i].address, 0, MAX_LOCAL_ADDRESS_LEN) != NULL, "address not terminated");
        CHECK(strcmp(list_a[i].address, list_b[i].address) == 0, "lists differ");
        if (strcmp(list_a[i].address, "127.0.0.1") == 0)
        {
            CHECK_EQ_INT(ADDRESS_INET, list_a[i].address_type);
            saw_loopback = 1;
        }
    }
    CHECK(saw_loopback, "127.0.0.1 not listed");
    free(list_a);
    free(list_b);

    /* Host name only. */
    char host_c[MAX_GET_HOST_NAME_LEN];
    CHECK_EQ_INT(0, socket_transport_get_local_address(c.client, host_c, NULL, NULL));
    CHECK(strcmp(host_a, host_c) == 0, "host names differ");
    destroy_connection(&c);
}

static void connect_by_name_localhost_succeeds(void)
{
    uint16_t port;
    SOCKET_TRANSPORT_HANDLE listener = listen_any_port(&port);
    SOCKET_TRANSPORT_HANDLE accepted;
    SOCKET_TRANSPORT_HANDLE client = connect_and_accept(listener, port, "localhost", &accepted);
    socket_transport_destroy(client); /* destroy closes what disconnect did not */
    socket_transport_destroy(accepted);
    socket_transport_destroy(listener);
}

static void accept_times_out_with_no_connection(void)
{
    uint16_t port;
    SOCKET_TRANSPORT_HANDLE listener = listen_any_port(&port);
    SOCKET_TRANSPORT_HANDLE accepted = (SOCKET_TRANSPORT_HANDLE)0x1;
    double start = now_ms();
    CHECK_EQ_INT(SOCKET_ACCEPT_NO_CONNECTION, socket_transport_accept(listener, &accepted, 300));
    double elapsed = now_ms() - start;
    CHECK(accepted == NULL, "accepted must be NULL on NO_CONNECTION");
    CHECK(elapsed >= 250, "accept returned after %.0f ms, before its 300 ms timeout", elapsed);
    CHECK(elapsed < test_timeout_ms(), "accept took %.0f ms", elapsed);
    socket_transport_destroy(listener);
}

static void connect_refused_fails_fast(void)
{
    uint16_t port;
    SOCKET_TRANSPORT_HANDLE listener = listen_any_port(&port);
    socket_transport_disconnect(listener); /* the port is free again: connections are refused */
    SOCKET_TRANSPORT_HANDLE client = socket_transport_create_client();
    double start = now_ms();
    CHECK(socket_transport_connect(client, "127.0.0.1", port, 10000) != 0, "connect to a closed port succeeded");
    double elapsed = now_ms() - start;
    CHECK(elapsed < 2000 * timeout_scale(), "a refused connect took %.0f ms", elapsed);
    CHECK(!socket_transport_is_valid_socket(client), "a failed connect left a socket");
    socket_transport_disconnect(client); /* nothing to disconnect: harmless */
    socket_transport_destroy(client);
    socket_transport_destroy(listener);
}

static void validity_follows_the_lifecycle_and_reconnect_works(void)
{
    uint16_t port;
    SOCKET_TRANSPORT_HANDLE listener = listen_any_port(&port);
    CHECK(socket_transport_is_valid_socket(listener), "listener has no socket");
    SOCKET_TRANSPORT_HANDLE client = socket_transport_create_client();
    CHECK(!socket_transport_is_valid_socket(client), "valid before connect");
    CHECK_EQ_INT(INVALID_SOCKET, socket_transport_get_underlying_socket(client));
    CHECK_EQ_INT(0, socket_transport_get_local_port(client));
    for (int round = 0; round < 2; round++)
    {
        CHECK_EQ_INT(0, socket_transport_connect(client, "127.0.0.1", port, test_timeout_ms()));
        CHECK(socket_transport_is_valid_socket(client), "not valid after connect");
        CHECK(socket_transport_get_underlying_socket(client) != INVALID_SOCKET_HANDLE, "no fd after connect");
        CHECK(socket_transport_connect(client, "127.0.0.1", port, test_timeout_ms()) != 0, "connect while connected succeeded");
        SOCKET_TRANSPORT_HANDLE accepted = NULL;
        CHECK_EQ_INT(SOCKET_ACCEPT_OK, socket_transport_accept(listener, &accepted, test_timeout_ms()));
        socket_transport_disconnect(client);
        CHECK(!socket_transport_is_valid_socket(client), "valid after disconnect");
        /* The peer sees the end of stream. */
        wait_readable(accepted);
        unsigned char b[4];
        SOCKET_BUFFER buf = { sizeof(b), b };
        uint32_t n = 5;
        CHECK_EQ_INT(SOCKET_RECEIVE_SHUTDOWN, socket_transport_receive(accepted, &buf, 1, &n, 0, NULL));
        socket_transport_destroy(accepted);
    }
    socket_transport_destroy(client);
    socket_transport_destroy(listener);
}

static void receive_with_nothing_queued_would_block(void)
{
    CONNECTION c = make_connection();
    unsigned char b[4];
    SOCKET_BUFFER buf = { sizeof(b), b };
    uint32_t n = 5;
    CHECK_EQ_INT(SOCKET_RECEIVE_WOULD_BLOCK, socket_transport_receive(c.accepted, &buf, 1, &n, 0, NULL));
    CHECK_EQ_INT(0, n);
    destroy_connection(&c);
}

static void wrong_socket_types_fail(void)
{
    uint16_t port;
    SOCKET_TRANSPORT_HANDLE listener = listen_any_port(&port);
    SOCKET_TRANSPORT_HANDLE server = socket_transport_create_server();
    SOCKET_TRANSPORT_HANDLE client = socket_transport_create_client();
    CHECK(socket_transport_connect(server, "127.0.0.1", port, 1000) != 0, "connect on a server succeeded");
    CHECK(socket_transport_listen(client, 0) != 0, "listen on a client succeeded");
    SOCKET_TRANSPORT_HANDLE accepted = (SOCKET_TRANSPORT_HANDLE)0x1;
    CHECK_EQ_INT(SOCKET_ACCEPT_ERROR, socket_transport_accept(client, &accepted, 10));
    CHECK(accepted == NULL, "accepted not cleared");
    accepted = (SOCKET_TRANSPORT_HANDLE)0x1;
    CHECK_EQ_INT(SOCKET_ACCEPT_ERROR, socket_transport_accept(server, &accepted, 10)); /* not listening */
    CHECK(accepted == NULL, "accepted not cleared");
    CHECK(socket_transport_listen(listener, 0) != 0, "listen twice succeeded");
    CHECK(socket_transport_listen(server, port) != 0, "listen on a port in use succeeded");
    socket_transport_destroy(server);
    socket_transport_destroy(client);
    socket_transport_destroy(listener);
}

static void create_from_socket_takes_only_connected_stream_sockets(void)
{
    CHECK(socket_transport_create_from_socket(INVALID_SOCKET_HANDLE) == NULL, "INVALID_SOCKET accepted");
    CHECK(socket_transport_create_from_socket(to_handle((RAW_SOCKET)-5)) == NULL, "negative fd accepted");

#ifndef _WIN32 /* pipes are not sockets' kin on Windows (no descriptor to pass) */
    int pipe_fds[2];
    CHECK(pipe(pipe_fds) == 0, "pipe");
    CHECK(socket_transport_create_from_socket(pipe_fds[0]) == NULL, "a pipe accepted");
    CHECK(fcntl(pipe_fds[0], F_GETFD) >= 0, "the rejected fd was closed");
    close(pipe_fds[0]);
    close(pipe_fds[1]);
#endif

    RAW_SOCKET udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(udp != RAW_SOCKET_INVALID, "socket");
    CHECK(socket_transport_create_from_socket(to_handle(udp)) == NULL, "a datagram socket accepted");
    close_socket(udp);

    uint16_t port;
    RAW_SOCKET raw_l = raw_listener(&port);
    CHECK(socket_transport_create_from_socket(to_handle(raw_l)) == NULL, "a listening socket accepted");

    RAW_SOCKET raw_c, raw_s;
    raw_pair(raw_l, port, &raw_c, &raw_s);
    SOCKET_TRANSPORT_HANDLE t = socket_transport_create_from_socket(to_handle(raw_c));
    CHECK(t != NULL, "a connected socket was refused");
    CHECK_EQ_INT(raw_c, socket_transport_get_underlying_socket(t));
    CHECK(socket_transport_is_valid_socket(t), "not valid");
    unsigned char msg[3] = { 1, 2, 3 };
    SOCKET_BUFFER b = { 3, msg };
    uint32_t sent = 0;
    CHECK_EQ_INT(SOCKET_SEND_OK, socket_transport_send(t, &b, 1, &sent, SEND_FLAGS, NULL));
    unsigned char in[3];
    raw_read_exact(raw_s, in, 3);
    CHECK(memcmp(in, msg, 3) == 0, "content differs");
    socket_transport_destroy(t); /* closes raw_c */
    CHECK(!socket_is_open(raw_c), "destroy did not close the socket");
    close_socket(raw_s);
    close_socket(raw_l);
}

static void null_and_invalid_arguments_fail_cleanly(void)
{
    CONNECTION c = make_connection();
    unsigned char bytes[4] = { 1, 2, 3, 4 };
    SOCKET_BUFFER good = { 4, bytes };
    SOCKET_BUFFER null_buf = { 4, NULL };
    SOCKET_BUFFER empty_buf = { 0, bytes };
    SOCKET_BUFFER two_big[2] = { { 0x80000000u, bytes }, { 0x80000000u, bytes } };
    uint32_t n = 0;

    socket_transport_destroy(NULL);
    socket_transport_disconnect(NULL);
    CHECK(socket_transport_connect(NULL, "127.0.0.1", 1, 10) != 0, "connect(NULL)");
    CHECK(socket_transport_connect(c.client, NULL, 1, 10) != 0, "connect(host NULL)");
    SOCKET_TRANSPORT_HANDLE fresh = socket_transport_create_client();
    CHECK(socket_transport_connect(fresh, "127.0.0.1", 0, 10) != 0, "connect(port 0)");
    CHECK(socket_transport_connect(fresh, "", 80, 10) != 0, "connect(empty host)");
    CHECK(socket_transport_listen(NULL, 0) != 0, "listen(NULL)");

    SOCKET_TRANSPORT_HANDLE acc = (SOCKET_TRANSPORT_HANDLE)0x1;
    CHECK_EQ_INT(SOCKET_ACCEPT_ERROR, socket_transport_accept(NULL, &acc, 10));
    CHECK(acc == NULL, "accept(NULL) left the out-parameter");
    CHECK_EQ_INT(SOCKET_ACCEPT_ERROR, socket_transport_accept(c.listener, NULL, 10));

    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(NULL, &good, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(c.client, NULL, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(c.client, &good, 0, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(c.client, &null_buf, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(c.client, &empty_buf, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(c.client, two_big, 2, &n, 0, NULL));
    /* A count whose descriptors would exceed UINT32_MAX bytes is refused before any is read. */
    CHECK_EQ_INT(SOCKET_SEND_INVALID_ARG, socket_transport_send(c.client, &good, UINT32_MAX, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_SEND_ERROR, socket_transport_send(fresh, &good, 1, &n, 0, NULL)); /* no socket */
    CHECK_EQ_INT(0, n);
    CHECK_EQ_INT(SOCKET_SEND_OK, socket_transport_send(c.client, &good, 1, NULL, SEND_FLAGS, NULL)); /* bytes_sent may be NULL */

    CHECK_EQ_INT(SOCKET_RECEIVE_INVALID_ARG, socket_transport_receive(NULL, &good, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_RECEIVE_INVALID_ARG, socket_transport_receive(c.accepted, NULL, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_RECEIVE_INVALID_ARG, socket_transport_receive(c.accepted, &good, 0, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_RECEIVE_INVALID_ARG, socket_transport_receive(c.accepted, &null_buf, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_RECEIVE_INVALID_ARG, socket_transport_receive(c.accepted, &empty_buf, 1, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_RECEIVE_INVALID_ARG, socket_transport_receive(c.accepted, &good, UINT32_MAX, &n, 0, NULL));
    CHECK_EQ_INT(SOCKET_RECEIVE_ERROR, socket_transport_receive(fresh, &good, 1, &n, 0, NULL)); /* no socket */
    wait_readable_bytes(c.accepted, 4);
    CHECK_EQ_INT(SOCKET_RECEIVE_OK, socket_transport_receive(c.accepted, &good, 1, NULL, 0, NULL)); /* bytes_recv may be NULL */

    CHECK_EQ_INT(INVALID_SOCKET, socket_transport_get_underlying_socket(NULL));
    CHECK(!socket_transport_is_valid_socket(NULL), "is_valid_socket(NULL)");
    CHECK_EQ_INT(0, socket_transport_get_local_port(NULL));
    char host[MAX_GET_HOST_NAME_LEN];
    LOCAL_ADDRESS* list = (LOCAL_ADDRESS*)0x1;
    uint32_t count = 7;
    CHECK(socket_transport_get_local_address(NULL, host, &list, &count) != 0, "get_local_address(NULL)");
    CHECK(socket_transport_get_local_address(c.client, NULL, &list, &count) != 0, "get_local_address(host NULL)");
    CHECK(socket_transport_get_local_address(c.client, host, &list, NULL) != 0, "get_local_address(count NULL)");
    CHECK(socket_transport_get_local_address(fresh, host, &list, &count) != 0, "get_local_address(no socket)");
    CHECK(list == (LOCAL_ADDRESS*)0x1 && count == 7, "outputs written on failure");

    socket_transport_destroy(fresh);
    destroy_connection(&c);
}

int main(void)
{
    CHECK_EQ_INT(0, platform_init());
    RUN_TEST(send_and_receive_2_buffer_of_2_byte_succeeds);
    RUN_TEST(send_and_receive_random_buffer_of_random_byte_succeeds);
    RUN_TEST(socket_transport_chaos_knight_test);
    RUN_TEST(get_local_socket_address_test);
    RUN_TEST(connect_by_name_localhost_succeeds);
    RUN_TEST(accept_times_out_with_no_connection);
    RUN_TEST(connect_refused_fails_fast);
    RUN_TEST(validity_follows_the_lifecycle_and_reconnect_works);
    RUN_TEST(receive_with_nothing_queued_would_block);
    RUN_TEST(wrong_socket_types_fail);
    RUN_TEST(create_from_socket_takes_only_connected_stream_sockets);
    RUN_TEST(null_and_invalid_arguments_fail_cleanly);
    platform_deinit();
    TESTS_DONE();
}
