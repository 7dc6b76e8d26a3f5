/* execution_engine.h and platform.h through the C ABI. */

#include "c_pal/async_socket.h"
#include "c_pal/execution_engine.h"
#include "c_pal/execution_engine_linux.h"
#include "c_pal/platform.h"

#include "test_util.h"

#ifdef _WIN32
/* Windows has execution_engine_win32_get_threadpool instead of the Linux parameters getter. */
#include "c_pal/execution_engine_win32.h"
#endif

static void platform_init_and_deinit_are_harmless(void)
{
    CHECK_EQ_INT(0, platform_init());
    CHECK_EQ_INT(0, platform_init());
    platform_deinit();
    platform_deinit();
    CHECK_EQ_INT(0, platform_init());
}

static void create_with_null_parameters_uses_the_defaults(void)
{
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(NULL);
    CHECK(engine != NULL, "execution_engine_create(NULL) failed");
#ifdef _WIN32
    PTP_POOL pool = execution_engine_win32_get_threadpool(engine);
    CHECK(pool != NULL, "no thread pool");
    CHECK(execution_engine_win32_get_threadpool(engine) == pool, "the thread pool changed");
#else
    const EXECUTION_ENGINE_PARAMETERS* p = execution_engine_linux_get_parameters(engine);
    CHECK(p != NULL, "no parameters");
    CHECK_EQ_INT(DEFAULT_MIN_THREAD_COUNT, p->min_thread_count);
    CHECK_EQ_INT(DEFAULT_MAX_THREAD_COUNT, p->max_thread_count);
#endif
    execution_engine_dec_ref(engine);
}

static void create_with_parameters_keeps_them(void)
{
    EXECUTION_ENGINE_PARAMETERS params = { 2, 8 };
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&params);
    CHECK(engine != NULL, "create {2, 8} failed");
#ifdef _WIN32
    CHECK(execution_engine_win32_get_threadpool(engine) != NULL, "no thread pool");
#else
    const EXECUTION_ENGINE_PARAMETERS* p = execution_engine_linux_get_parameters(engine);
    CHECK_EQ_INT(2, p->min_thread_count);
    CHECK_EQ_INT(8, p->max_thread_count);
#endif
    execution_engine_dec_ref(engine);
}

static void zero_thread_counts_are_accepted(void)
{
    EXECUTION_ENGINE_PARAMETERS params = { 0, 0 };
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&params);
    CHECK(engine != NULL, "create {0, 0} failed");
    execution_engine_dec_ref(engine);
}

static void max_below_min_is_rejected(void)
{
    EXECUTION_ENGINE_PARAMETERS params = { 5, 3 };
    CHECK(execution_engine_create(&params) == NULL, "create {5, 3} must fail");
    EXECUTION_ENGINE_PARAMETERS equal = { 3, 3 };
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&equal);
    CHECK(engine != NULL, "create {3, 3} failed");
    execution_engine_dec_ref(engine);
}

static void null_handles_are_ignored(void)
{
    execution_engine_inc_ref(NULL);
    execution_engine_dec_ref(NULL);
#ifdef _WIN32
    CHECK(execution_engine_win32_get_threadpool(NULL) == NULL, "get_threadpool(NULL) must be NULL");
#else
    CHECK(execution_engine_linux_get_parameters(NULL) == NULL, "get_parameters(NULL) must be NULL");
#endif
}

static void references_are_counted(void)
{
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(NULL);
    CHECK(engine != NULL, "create failed");
    execution_engine_inc_ref(engine);
    execution_engine_inc_ref(engine);
    execution_engine_dec_ref(engine);
    execution_engine_dec_ref(engine);
    /* One reference left: still usable. */
    ASYNC_SOCKET_HANDLE s = async_socket_create(engine);
    CHECK(s != NULL, "async_socket_create on a live engine failed");
    async_socket_destroy(s);
    execution_engine_dec_ref(engine);
}

static void an_async_socket_keeps_the_engine_alive(void)
{
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(NULL);
    CHECK(engine != NULL, "create failed");
    ASYNC_SOCKET_HANDLE s = async_socket_create(engine);
    CHECK(s != NULL, "async_socket_create failed");
    /* The creator lets go first; the socket still holds the engine's threads. */
    execution_engine_dec_ref(engine);
    async_socket_close(s);
    async_socket_destroy(s);
}

int main(void)
{
    RUN_TEST(platform_init_and_deinit_are_harmless);
    RUN_TEST(create_with_null_parameters_uses_the_defaults);
    RUN_TEST(create_with_parameters_keeps_them);
    RUN_TEST(zero_thread_counts_are_accepted);
    RUN_TEST(max_below_min_is_rejected);
    RUN_TEST(null_handles_are_ignored);
    RUN_TEST(references_are_counted);
    RUN_TEST(an_async_socket_keeps_the_engine_alive);
    TESTS_DONE();
}
