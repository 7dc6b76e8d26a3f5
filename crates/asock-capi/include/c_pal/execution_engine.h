/* asock C ABI: the execution engine (drop-in for c-pal's c_pal/execution_engine.h).

   A reference-counted pool of worker threads on which every async socket completion runs.
   execution_engine_create returns a handle holding one reference; execution_engine_inc_ref adds
   one, execution_engine_dec_ref releases one, and the last release stops the threads (also when
   it happens on one of them, inside a completion). Every async socket holds its own reference
   from async_socket_create to async_socket_destroy, so the creator may release its reference
   while sockets still run on the engine. */

#ifndef EXECUTION_ENGINE_H
#define EXECUTION_ENGINE_H

#ifdef __cplusplus
#include <cstdint>
extern "C" {
#else
#include <stdint.h>
#endif

typedef struct EXECUTION_ENGINE_PARAMETERS_TAG
{
    /* Threads started with the engine (0 is accepted and means 1). */
    uint32_t min_thread_count;
    /* Upper bound on threads, 0 for none; otherwise it must be >= min_thread_count. */
    uint32_t max_thread_count;
} EXECUTION_ENGINE_PARAMETERS;

#define DEFAULT_MIN_THREAD_COUNT 4
#define DEFAULT_MAX_THREAD_COUNT 0 /* no max thread count */

typedef struct EXECUTION_ENGINE_TAG* EXECUTION_ENGINE_HANDLE;

/* Starts an engine. NULL parameters mean the defaults (4, 0). Returns NULL when
   max_thread_count != 0 && max_thread_count < min_thread_count, or when the system refuses the
   threads. */
EXECUTION_ENGINE_HANDLE execution_engine_create(const EXECUTION_ENGINE_PARAMETERS* execution_engine_parameters);

/* Releases one reference; NULL is ignored. Releasing more references than were taken is
   undefined behaviour, as in c-pal. */
void execution_engine_dec_ref(EXECUTION_ENGINE_HANDLE execution_engine);

/* Adds one reference; NULL is ignored. */
void execution_engine_inc_ref(EXECUTION_ENGINE_HANDLE execution_engine);

#ifdef __cplusplus
}
#endif

#endif /* EXECUTION_ENGINE_H */
