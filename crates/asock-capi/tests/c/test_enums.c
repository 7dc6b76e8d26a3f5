/* The enums as c-pal programs use them, with nothing but these headers (no macro_utils): for
   each of the 11 enums, the X_VALUES list holds the values 1, 2, ... in order, and the exported
   MU_X_ToString (through the headers' MU_ENUM_TO_STRING and MU_ENUM_VALUE) names each value as
   the list spells it, "X_INVALID" for 0 and "UNKNOWN" outside the enum. */

#include <limits.h>

#include "c_pal/async_socket.h"
#include "c_pal/socket_transport.h"

#include "test_util.h"

#define STRINGIFY_(...) #__VA_ARGS__
#define STRINGIFY(...) STRINGIFY_(__VA_ARGS__)

#define CHECK_STR(expected, actual)                                                               \
    do                                                                                            \
    {                                                                                             \
        const char* e_ = (expected);                                                              \
        const char* a_ = (actual);                                                                \
        CHECK(a_ != NULL && strcmp(e_, a_) == 0, "expected \"%s\", got \"%s\"", e_, a_ ? a_ : "(null)"); \
    } while (0)

/* The index-th name (from 0) of a stringified "A, B, C" list, into out. */
static void nth_name(const char* list, size_t index, char* out, size_t out_size)
{
    const char* p = list;
    for (size_t i = 0; i < index; i++)
    {
        p = strchr(p, ',');
        CHECK(p != NULL, "the list \"%s\" has fewer than %zu names", list, index + 1);
        p++;
    }
    while (*p == ' ')
    {
        p++;
    }
    size_t n = strcspn(p, ", ");
    CHECK(n > 0 && n < out_size, "bad name at %zu in \"%s\"", index, list);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Checks one enum X: its list, its names, its INVALID and UNKNOWN, and MU_ENUM_VALUE. */
#define CHECK_ENUM(X)                                                                             \
    do                                                                                            \
    {                                                                                             \
        const int values[] = { X##_VALUES };                                                      \
        const char* list = STRINGIFY(X##_VALUES);                                                 \
        const size_t count = sizeof(values) / sizeof(values[0]);                                  \
        char name[128];                                                                           \
        CHECK_STR(#X "_INVALID", MU_ENUM_TO_STRING(X, (X)0));                                     \
        CHECK_EQ_INT(0, X##_INVALID);                                                             \
        for (size_t i = 0; i < count; i++)                                                        \
        {                                                                                         \
            CHECK(values[i] == (int)i + 1, "%s: value %zu of the list is %d", #X, i, values[i]);  \
            nth_name(list, i, name, sizeof(name));                                                \
            CHECK_STR(name, MU_ENUM_TO_STRING(X, (X)values[i]));                                  \
        }                                                                                         \
        CHECK_STR("UNKNOWN", MU_ENUM_TO_STRING(X, (X)(count + 1)));                               \
        CHECK_STR("UNKNOWN", MU_ENUM_TO_STRING(X, (X)(count + 100)));                             \
        CHECK_STR("UNKNOWN", MU_ENUM_TO_STRING(X, (X)-1));                                        \
        CHECK_STR("UNKNOWN", MU_ENUM_TO_STRING(X, (X)INT_MAX));                                   \
        CHECK_STR("UNKNOWN", MU_ENUM_TO_STRING(X, (X)INT_MIN));                                   \
        /* The logging idiom: "%" PRI_MU_ENUM with MU_ENUM_VALUE prints "NAME (value)". */        \
        char line[160], want[160];                                                                \
        nth_name(list, count - 1, name, sizeof(name));                                            \
        snprintf(want, sizeof(want), "[%s (%d)]", name, (int)count);                              \
        snprintf(line, sizeof(line), "[%" PRI_MU_ENUM "]", MU_ENUM_VALUE(X, (X)count));           \
        CHECK_STR(want, line);                                                                    \
        printf("(%s: %zu values) ", #X, count);                                                   \
    } while (0)

static void socket_transport_enums_are_named_as_listed(void)
{
    CHECK_ENUM(SOCKET_SEND_RESULT);
    CHECK_ENUM(SOCKET_RECEIVE_RESULT);
    CHECK_ENUM(SOCKET_ACCEPT_RESULT);
    CHECK_ENUM(SOCKET_TYPE);
    CHECK_ENUM(ADDRESS_TYPE);
}

static void async_socket_enums_are_named_as_listed(void)
{
    CHECK_ENUM(ASYNC_SOCKET_OPEN_RESULT);
    CHECK_ENUM(ASYNC_SOCKET_SEND_SYNC_RESULT);
    CHECK_ENUM(ASYNC_SOCKET_SEND_RESULT);
    CHECK_ENUM(ASYNC_SOCKET_RECEIVE_RESULT);
    CHECK_ENUM(ASYNC_SOCKET_NOTIFY_IO_TYPE);
    CHECK_ENUM(ASYNC_SOCKET_NOTIFY_IO_RESULT);
}

static void the_functions_are_callable_by_name(void)
{
    /* As c-pal programs also call them directly. */
    CHECK_STR("ASYNC_SOCKET_SEND_ABANDONED", MU_ASYNC_SOCKET_SEND_RESULT_ToString(ASYNC_SOCKET_SEND_ABANDONED));
    CHECK_STR("SOCKET_RECEIVE_WOULD_BLOCK", MU_SOCKET_RECEIVE_RESULT_ToString(SOCKET_RECEIVE_WOULD_BLOCK));
    CHECK_STR("ADDRESS_INET_6", MU_ADDRESS_TYPE_ToString(ADDRESS_INET_6));
    CHECK_STR("SOCKET_CLIENT", MU_SOCKET_TYPE_ToString(SOCKET_CLIENT));
    /* The same static string every time. */
    CHECK(MU_SOCKET_TYPE_ToString(SOCKET_CLIENT) == MU_SOCKET_TYPE_ToString(SOCKET_CLIENT), "not static");
}

int main(void)
{
    RUN_TEST(socket_transport_enums_are_named_as_listed);
    RUN_TEST(async_socket_enums_are_named_as_listed);
    RUN_TEST(the_functions_are_callable_by_name);
    TESTS_DONE();
}
