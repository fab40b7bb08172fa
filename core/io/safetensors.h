/* safetensors files: an 8-byte little-endian header length N, N bytes of
 * JSON header ({"name": {"dtype", "shape", "data_offsets"}, ...,
 * "__metadata__": {string: string}}), then the tensors' bytes.
 * Checkpoints are written atomically (temporary file, fsync, rename). */
#ifndef MLOPT_CORE_IO_SAFETENSORS_H
#define MLOPT_CORE_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "mlopt/mlopt.h"

#define MLOPT_ST_MAX_DIMS 8
/* Headers larger than this are rejected (the reference implementation's limit). */
#define MLOPT_ST_MAX_HEADER 100000000ull

/* One tensor, for writing (data is read) or as seen in an opened file
 * (data points into the file's buffer, valid until mlopt_st_close). */
typedef struct mlopt_st_tensor {
    const char *name;
    const char *dtype;   /* "F32", "I32", "I8", "U8", ... (see mlopt_st_dtype_size) */
    int ndim;            /* 0 (a scalar) .. MLOPT_ST_MAX_DIMS */
    int64_t shape[MLOPT_ST_MAX_DIMS];
    const void *data;    /* nbytes bytes, little-endian, row-major */
    size_t nbytes;       /* set by the reader; ignored by the writer (derived from shape) */
} mlopt_st_tensor;

typedef struct mlopt_st_kv {
    const char *key;
    const char *value;
} mlopt_st_kv;

/* Size in bytes of one element of a safetensors dtype, 0 if unknown.
 * Known: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64. */
size_t mlopt_st_dtype_size(const char *dtype);
/* "F32", "I32", "I8", "U8" for the core's dtypes; NULL for others. */
const char *mlopt_st_dtype_name(mlopt_dtype t);
/* The core dtype of a safetensors dtype string: MLOPT_OK or MLOPT_E_UNSUPPORTED. */
mlopt_status mlopt_st_dtype_parse(const char *dtype, mlopt_dtype *out);

/* Write count tensors (data laid out in the given order) and meta_count
 * metadata pairs to path.  The bytes go to "<path>.tmp.<pid>", which is
 * flushed, fsync'ed and renamed over path, and the directory is fsync'ed:
 * a crash leaves either the old file or the new one, and a failed write
 * removes the temporary file and leaves the old file untouched.
 * Names must be unique, non-empty, valid UTF-8 and not "__metadata__". */
mlopt_status mlopt_st_write(const char *path, const mlopt_st_tensor *tensors, int count,
                            const mlopt_st_kv *meta, int meta_count);

typedef struct mlopt_st_file mlopt_st_file;

/* Load and validate the whole file.  Any violation of the format (header
 * size, JSON, missing/unknown fields, unknown dtype, offsets that are not
 * contiguous from 0 and covering the data exactly, sizes that disagree with
 * shape x dtype, duplicate names, non-string metadata) is MLOPT_E_FORMAT
 * with a message naming the file and the problem. */
mlopt_status mlopt_st_open(const char *path, mlopt_st_file **out);
void mlopt_st_close(mlopt_st_file *f);

/* Tensors are indexed in the order of their data offsets. */
int mlopt_st_count(const mlopt_st_file *f);
mlopt_status mlopt_st_get(const mlopt_st_file *f, int index, mlopt_st_tensor *out);
/* MLOPT_E_NOT_FOUND when no tensor has that name. */
mlopt_status mlopt_st_find(const mlopt_st_file *f, const char *name, mlopt_st_tensor *out);

/* Metadata value for key, or NULL. */
const char *mlopt_st_metadata(const mlopt_st_file *f, const char *key);
int mlopt_st_metadata_count(const mlopt_st_file *f);
/* The index-th pair in header order; MLOPT_E_INVALID when out of range. */
mlopt_status mlopt_st_metadata_at(const mlopt_st_file *f, int index, const char **key, const char **value);

#endif
