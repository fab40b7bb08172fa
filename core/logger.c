/* Training logs: TensorBoard scalars and the same rows in metrics.csv. */
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "io/csv_log.h"
#include "io/tensorboard.h"

struct mlopt_logger {
    mlopt_tb_writer *tb;
    mlopt_csv_log *csv;
};

mlopt_status mlopt_logger_open(const char *logdir, int append, mlopt_logger **out)
{
    *out = NULL;
    mlopt_logger *l = calloc(1, sizeof *l);
    if (!l)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    mlopt_status s = mlopt_tb_open(logdir, &l->tb);
    if (s == MLOPT_OK) {
        char path[4096];
        snprintf(path, sizeof path, "%s/metrics.csv", logdir);
        s = mlopt_csv_open(path, append, &l->csv);
    }
    if (s != MLOPT_OK) {
        mlopt_logger_close(l);
        return s;
    }
    *out = l;
    return MLOPT_OK;
}

mlopt_status mlopt_logger_scalar(mlopt_logger *l, const char *tag, long long step, double value)
{
    mlopt_status s = mlopt_tb_scalar(l->tb, tag, step, (float)value);
    if (s == MLOPT_OK)
        s = mlopt_csv_row(l->csv, step, tag, value);
    return s;
}

mlopt_status mlopt_logger_flush(mlopt_logger *l)
{
    mlopt_status s = mlopt_tb_flush(l->tb);
    if (s == MLOPT_OK)
        s = mlopt_csv_flush(l->csv);
    return s;
}

mlopt_status mlopt_logger_close(mlopt_logger *l)
{
    if (!l)
        return MLOPT_OK;
    mlopt_status s = MLOPT_OK, t = MLOPT_OK;
    if (l->tb)
        s = mlopt_tb_close(l->tb);
    if (l->csv)
        t = mlopt_csv_close(l->csv);
    free(l);
    return s != MLOPT_OK ? s : t;
}

const char *mlopt_logger_event_path(const mlopt_logger *l)
{
    return mlopt_tb_path(l->tb);
}
