/* asock C ABI: Windows accessor of the execution engine (drop-in for c-pal's
   c_pal/execution_engine_win32.h). Declares nothing on other platforms. */

#ifndef EXECUTION_ENGINE_WIN32_H
#define EXECUTION_ENGINE_WIN32_H

#include "c_pal/execution_engine.h"

#if defined(_WIN32)
#include <windows.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The engine's thread pool; NULL for a NULL engine. Adds no reference: the pool lives as long as
   the engine. */
PTP_POOL execution_engine_win32_get_threadpool(EXECUTION_ENGINE_HANDLE execution_engine);

#ifdef __cplusplus
}
#endif

#endif /* _WIN32 */

#endif /* EXECUTION_ENGINE_WIN32_H */
