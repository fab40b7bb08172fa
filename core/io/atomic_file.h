/* Replace a file atomically: write a temporary file beside it, fsync it,
 * rename it over the target and fsync the directory, so that a crash or a
 * failed write never leaves a half-written file or loses the old one. */
#ifndef MLOPT_CORE_IO_ATOMIC_FILE_H
#define MLOPT_CORE_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "mlopt/mlopt.h"

typedef struct mlopt_atomic_file {
    FILE *fp;
    char *path;        /* the target */
    char *tmp_path;    /* "<path>.tmp.<pid>" */
    mlopt_status status; /* first write error; later writes are skipped */
} mlopt_atomic_file;

/* Create "<path>.tmp.<pid>" for writing. */
mlopt_status mlopt_atomic_open(const char *path, mlopt_atomic_file *af);
/* Append n bytes; an error is remembered and returned here and by commit. */
mlopt_status mlopt_atomic_write(mlopt_atomic_file *af, const void *data, size_t n);
/* Flush, fsync, close, rename over the target, fsync the directory.  On any
 * failure the temporary file is removed and the target is untouched. */
mlopt_status mlopt_atomic_commit(mlopt_atomic_file *af);
/* Discard the temporary file (safe after commit and on a zeroed struct). */
void mlopt_atomic_abort(mlopt_atomic_file *af);

#endif
