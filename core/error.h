/* Thread-local error message shared by every core module. */
#ifndef MLOPT_CORE_ERROR_H
#define MLOPT_CORE_ERROR_H

#include "mlopt/mlopt.h"

#if defined(__GNUC__)
#define MLOPT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MLOPT_PRINTF(a, b)
#endif

/* Record a message for the calling thread and return s (for `return mlopt_set_error(...)`). */
mlopt_status mlopt_set_error(mlopt_status s, const char *fmt, ...) MLOPT_PRINTF(2, 3);

#endif
