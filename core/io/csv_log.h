/* A plain CSV metrics log written alongside TensorBoard, for spreadsheets and
 * scripts:   step,tag,value   */
#ifndef MLOPT_CORE_IO_CSV_LOG_H
#define MLOPT_CORE_IO_CSV_LOG_H

#include <stdint.h>

#include "mlopt/mlopt.h"

typedef struct mlopt_csv_log mlopt_csv_log;

/* Open path for writing (append != 0 keeps existing rows, e.g. when a run
 * resumes).  The header line is written only when the file is empty. */
mlopt_status mlopt_csv_open(const char *path, int append, mlopt_csv_log **out);
/* One row; the tag is quoted when it contains a comma, quote or newline.
 * Values print with 9 significant digits (exact for float metrics). */
mlopt_status mlopt_csv_row(mlopt_csv_log *log, int64_t step, const char *tag, double value);
mlopt_status mlopt_csv_flush(mlopt_csv_log *log);
/* Flush and close; returns the first error seen.  log is freed in any case. */
mlopt_status mlopt_csv_close(mlopt_csv_log *log);

#endif
