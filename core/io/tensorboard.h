/* TensorBoard event files: TFRecord-framed Event protobufs, encoded by hand.
 * Written so that `tensorboard --logdir DIR` plots mlopt's metrics. */
#ifndef MLOPT_CORE_IO_TENSORBOARD_H
#define MLOPT_CORE_IO_TENSORBOARD_H

#include <stdint.h>

#include "mlopt/mlopt.h"

typedef struct mlopt_tb_writer mlopt_tb_writer;

/* Create logdir (and its parents) if needed and a new file
 * logdir/events.out.tfevents.<unix time>.<hostname> (with .<pid>.<n>
 * appended if that name is taken), starting with the file_version event
 * "brain.Event:2". */
mlopt_status mlopt_tb_open(const char *logdir, mlopt_tb_writer **out);
/* The event file's path. */
const char *mlopt_tb_path(const mlopt_tb_writer *w);
/* Append Event{wall_time = now, step, summary{value{tag, simple_value}}}.
 * Buffered: call mlopt_tb_flush at epoch boundaries. */
mlopt_status mlopt_tb_scalar(mlopt_tb_writer *w, const char *tag, int64_t step, float value);
/* Same with an explicit wall time (seconds since the epoch). */
mlopt_status mlopt_tb_scalar_at(mlopt_tb_writer *w, const char *tag, int64_t step, float value, double wall_time);
mlopt_status mlopt_tb_flush(mlopt_tb_writer *w);
/* Flush and close; returns the first error seen.  w is freed in any case. */
mlopt_status mlopt_tb_close(mlopt_tb_writer *w);

/* ---- Reader (for tests and tools) ---- */

typedef struct mlopt_tb_scalar_event {
    double wall_time;
    int64_t step;
    const char *tag;   /* valid during the callback only */
    float value;
} mlopt_tb_scalar_event;

/* Return non-zero to stop reading (mlopt_tb_read_scalars then returns MLOPT_OK). */
typedef int (*mlopt_tb_scalar_fn)(void *user, const mlopt_tb_scalar_event *ev);

typedef struct mlopt_tb_read_info {
    long records;           /* TFRecords read */
    long scalars;           /* simple_value summary values seen */
    char file_version[64];  /* from the file_version event, "" if none */
} mlopt_tb_read_info;

/* Read every record of an event file, verifying the masked CRC-32C of each
 * length and each payload, decode the Events and call fn for every scalar
 * summary value (simple_value).  info may be NULL.  A bad CRC, a truncated
 * record or a malformed protobuf is MLOPT_E_FORMAT naming the file and the
 * record's byte offset. */
mlopt_status mlopt_tb_read_scalars(const char *path, mlopt_tb_scalar_fn fn, void *user, mlopt_tb_read_info *info);

#endif
