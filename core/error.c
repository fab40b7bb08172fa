#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* One message per thread: tuning runs trials on several threads. */
static _Thread_local char last_error[2048];

mlopt_status mlopt_set_error(mlopt_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *mlopt_last_error(void)
{
    return last_error[0] ? last_error : "no error";
}

const char *mlopt_version(void)
{
    return MLOPT_VERSION_STRING;
}

const char *mlopt_status_name(mlopt_status s)
{
    switch (s) {
    case MLOPT_OK: return "MLOPT_OK";
    case MLOPT_E_INVALID: return "MLOPT_E_INVALID";
    case MLOPT_E_NOMEM: return "MLOPT_E_NOMEM";
    case MLOPT_E_IO: return "MLOPT_E_IO";
    case MLOPT_E_FORMAT: return "MLOPT_E_FORMAT";
    case MLOPT_E_BACKEND: return "MLOPT_E_BACKEND";
    case MLOPT_E_UNSUPPORTED: return "MLOPT_E_UNSUPPORTED";
    case MLOPT_E_NOT_FOUND: return "MLOPT_E_NOT_FOUND";
    case MLOPT_E_NONFINITE: return "MLOPT_E_NONFINITE";
    }
    return "MLOPT_E_UNKNOWN";
}
