/* IDX files (the MNIST / Fashion-MNIST layout), raw or gzip-compressed. */
#ifndef MLOPT_CORE_IO_IDX_H
#define MLOPT_CORE_IO_IDX_H

#include <stdint.h>

#include "mlopt/mlopt.h"

#define MLOPT_IDX_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Images stay bytes (0..255); normalization belongs to the data pipeline. */
typedef struct mlopt_idx_dataset {
    int count, rows, cols;
    uint8_t *images;   /* count * rows * cols, row-major, image after image */
    uint8_t *labels;   /* count */
    int num_classes;   /* max label + 1 */
} mlopt_idx_dataset;

/* Load <dir>/<split>-images-idx3-ubyte and <dir>/<split>-labels-idx1-ubyte,
 * each either raw or with a .gz suffix (the raw file wins when both exist;
 * the content is recognized by its gzip magic, not by its name).
 * dir NULL or "" means MLOPT_IDX_DEFAULT_DIR; split is "train" or "t10k".
 * On failure *out is zeroed and the message names the file and the problem. */
mlopt_status mlopt_idx_load(const char *dir, const char *split, mlopt_idx_dataset *out);

/* The same from two explicit paths. */
mlopt_status mlopt_idx_load_files(const char *images_path, const char *labels_path,
                                  mlopt_idx_dataset *out);

/* Free the arrays and zero *ds (safe on a zeroed or already freed dataset). */
void mlopt_idx_free(mlopt_idx_dataset *ds);

#endif
