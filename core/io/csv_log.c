#include "io/csv_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define CSV_HEADER "step,tag,value\n"

struct mlopt_csv_log {
    FILE *fp;
    char *path;
    mlopt_status status; /* first write error */
};

mlopt_status mlopt_csv_open(const char *path, int append, mlopt_csv_log **out)
{
    if (!out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_csv_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_csv_open: empty path");
    mlopt_csv_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return mlopt_set_error(MLOPT_E_NOMEM, "csv log %s: out of memory", path);
    }
    log->fp = fopen(path, append ? "ab" : "wb");
    if (!log->fp) {
        mlopt_status s = mlopt_set_error(MLOPT_E_IO, "csv log: cannot open %s: %s", path, strerror(errno));
        free(log->path);
        free(log);
        return s;
    }
    /* In append mode the position is the end of the existing file. */
    if (fseek(log->fp, 0, SEEK_END) == 0 && ftell(log->fp) == 0 && fputs(CSV_HEADER, log->fp) == EOF)
        log->status = mlopt_set_error(MLOPT_E_IO, "csv log: writing %s failed: %s", path, strerror(errno));
    if (log->status) {
        mlopt_status s = log->status;
        mlopt_csv_close(log);
        return s;
    }
    *out = log;
    return MLOPT_OK;
}

static int needs_quotes(const char *s)
{
    return strpbrk(s, ",\"\n\r") != NULL;
}

mlopt_status mlopt_csv_row(mlopt_csv_log *log, int64_t step, const char *tag, double value)
{
    if (!log || !tag)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_csv_row: NULL log or tag");
    if (log->status)
        return log->status;
    int bad = fprintf(log->fp, "%lld,", (long long)step) < 0;
    if (needs_quotes(tag)) {
        /* RFC 4180: quote the field and double embedded quotes. */
        bad |= fputc('"', log->fp) == EOF;
        for (const char *c = tag; *c; c++) {
            if (*c == '"')
                bad |= fputc('"', log->fp) == EOF;
            bad |= fputc(*c, log->fp) == EOF;
        }
        bad |= fputc('"', log->fp) == EOF;
    } else {
        bad |= fputs(tag, log->fp) == EOF;
    }
    bad |= fprintf(log->fp, ",%.9g\n", value) < 0;
    if (bad)
        log->status = mlopt_set_error(MLOPT_E_IO, "csv log: writing %s failed: %s", log->path, strerror(errno));
    return log->status;
}

mlopt_status mlopt_csv_flush(mlopt_csv_log *log)
{
    if (!log)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_csv_flush: NULL log");
    if (!log->status && fflush(log->fp) != 0)
        log->status = mlopt_set_error(MLOPT_E_IO, "csv log: writing %s failed: %s", log->path, strerror(errno));
    return log->status;
}

mlopt_status mlopt_csv_close(mlopt_csv_log *log)
{
    if (!log)
        return MLOPT_OK;
    mlopt_status s = mlopt_csv_flush(log);
    if (fclose(log->fp) != 0 && !s)
        s = mlopt_set_error(MLOPT_E_IO, "csv log: closing %s failed: %s", log->path, strerror(errno));
    free(log->path);
    free(log);
    return s;
}
