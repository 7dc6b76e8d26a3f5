/* asock C ABI: Linux accessor of the execution engine (drop-in for c-pal's
   c_pal/execution_engine_linux.h). */

#ifndef EXECUTION_ENGINE_LINUX_H
#define EXECUTION_ENGINE_LINUX_H

#include "c_pal/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(_WIN32) && !defined(WIN32)
/* The parameters the engine was created with (the defaults filled in when NULL was passed),
   valid as long as the engine; NULL for a NULL engine. */
const EXECUTION_ENGINE_PARAMETERS* execution_engine_linux_get_parameters(EXECUTION_ENGINE_HANDLE execution_engine);
#endif

#ifdef __cplusplus
}
#endif

#endif /* EXECUTION_ENGINE_LINUX_H */
