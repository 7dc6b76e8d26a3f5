/* asock C ABI: process-wide set-up (drop-in for c-pal's c_pal/platform.h). */

#ifndef PLATFORM_H
#define PLATFORM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 0. asock needs no process-wide set-up (c-pal's Linux build created its completion
   port here); calling it any number of times, or never, is harmless. */
int platform_init(void);

/* Does nothing; harmless to call any number of times. */
void platform_deinit(void);

#ifdef __cplusplus
}
#endif

#endif /* PLATFORM_H */
