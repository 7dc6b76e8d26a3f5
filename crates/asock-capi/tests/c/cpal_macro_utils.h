/* A stand-in for macro_utils, written for these tests: the few macros a c-pal program logs enum
   values with, spelled differently from the asock headers' own fallbacks (other parameter names,
   another MU_C3), so that a header that redefined them without #ifndef would be a redefinition
   error under -Werror. A c-pal program includes macro_utils before the c_pal headers; so does
   test_cpal_style.c with this file. */

#ifndef CPAL_MACRO_UTILS_H
#define CPAL_MACRO_UTILS_H

#define MU_FAILURE __LINE__

#define MU_C2_(a, b) a##b
#define MU_C2(a, b) MU_C2_(a, b)
#define MU_C3(a, b, c) MU_C2(MU_C2(a, b), c)

#define MU_ENUM_TO_STRING(enum_type, enum_value) MU_C3(MU_, enum_type, _ToString)(enum_value)
#define PRI_MU_ENUM "s" "%s (%d)"
#define MU_ENUM_VALUE(enum_type, enum_value) "", MU_ENUM_TO_STRING(enum_type, (enum_value)), (int)(enum_value)

#endif /* CPAL_MACRO_UTILS_H */
