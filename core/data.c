/* Datasets as index views over shared IDX bytes: a validation split or a
 * truncation never copies pixels, so a full Fashion-MNIST run keeps one
 * 47 MB copy of the training images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io/idx.h"
#include "rng.h"

typedef struct shared_pixels {
    mlopt_idx_dataset idx;
    int refs;
    float mean, std;
} shared_pixels;

struct mlopt_dataset {
    shared_pixels *px;
    int *index; /* samples of this view, into px */
    int count;
};

static void release(shared_pixels *px)
{
    if (px && --px->refs == 0) {
        mlopt_idx_free(&px->idx);
        free(px);
    }
}

mlopt_status mlopt_dataset_load(const char *dir, const char *split, mlopt_dataset **out)
{
    *out = NULL;
    shared_pixels *px = calloc(1, sizeof *px);
    mlopt_dataset *ds = calloc(1, sizeof *ds);
    if (!px || !ds) {
        free(px);
        free(ds);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    mlopt_status s = mlopt_idx_load(dir, split, &px->idx);
    if (s != MLOPT_OK) {
        free(px);
        free(ds);
        return s;
    }
    px->refs = 1;
    size_t n = (size_t)px->idx.count * px->idx.rows * px->idx.cols;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        double v = px->idx.images[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    double mean = n ? sum / (double)n : 0, var = n ? sq / (double)n - mean * mean : 1;
    px->mean = (float)mean;
    px->std = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    ds->px = px;
    ds->count = px->idx.count;
    ds->index = malloc((size_t)ds->count * sizeof *ds->index);
    if (!ds->index) {
        mlopt_dataset_destroy(ds);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    for (int i = 0; i < ds->count; i++)
        ds->index[i] = i;
    *out = ds;
    return MLOPT_OK;
}

void mlopt_dataset_destroy(mlopt_dataset *ds)
{
    if (!ds)
        return;
    release(ds->px);
    free(ds->index);
    free(ds);
}

int mlopt_dataset_size(const mlopt_dataset *ds) { return ds->count; }
int mlopt_dataset_classes(const mlopt_dataset *ds) { return ds->px->idx.num_classes; }

void mlopt_dataset_shape(const mlopt_dataset *ds, int *c, int *h, int *w)
{
    *c = 1;
    *h = ds->px->idx.rows;
    *w = ds->px->idx.cols;
}

void mlopt_dataset_stats(const mlopt_dataset *ds, float *mean, float *std)
{
    *mean = ds->px->mean;
    *std = ds->px->std;
}

mlopt_status mlopt_dataset_truncate(mlopt_dataset *ds, int count)
{
    if (count <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "dataset limit must be positive, got %d", count);
    if (count < ds->count)
        ds->count = count;
    return MLOPT_OK;
}

void mlopt_dataset_shuffle(const mlopt_dataset *ds, uint64_t seed, int *order)
{
    mlopt_rng r;
    mlopt_rng_seed(&r, seed);
    for (int i = 0; i < ds->count; i++)
        order[i] = i;
    for (int i = ds->count - 1; i > 0; i--) {
        int j = (int)mlopt_rng_below(&r, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

mlopt_status mlopt_dataset_split(mlopt_dataset *ds, int count, uint64_t seed, mlopt_dataset **out)
{
    *out = NULL;
    if (count <= 0 || count >= ds->count)
        return mlopt_set_error(MLOPT_E_INVALID, "validation split of %d samples out of %d; choose 1..%d", count,
                               ds->count, ds->count - 1);
    mlopt_dataset *val = calloc(1, sizeof *val);
    int *order = malloc((size_t)ds->count * sizeof *order);
    int *keep = malloc((size_t)(ds->count - count) * sizeof *keep);
    if (val)
        val->index = malloc((size_t)count * sizeof *val->index);
    if (!val || !order || !keep || !val->index) {
        if (val)
            free(val->index);
        free(val);
        free(order);
        free(keep);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    mlopt_dataset_shuffle(ds, seed, order);
    /* Keep both parts in their original order so epochs shuffle them alike. */
    char *is_val = calloc((size_t)ds->count, 1);
    if (!is_val) {
        free(val->index);
        free(val);
        free(order);
        free(keep);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    for (int i = 0; i < count; i++)
        is_val[order[i]] = 1;
    int nv = 0, nk = 0;
    for (int i = 0; i < ds->count; i++) {
        if (is_val[i])
            val->index[nv++] = ds->index[i];
        else
            keep[nk++] = ds->index[i];
    }
    free(is_val);
    free(order);
    free(ds->index);
    ds->index = keep;
    ds->count = nk;
    val->count = nv;
    val->px = ds->px;
    ds->px->refs++;
    *out = val;
    return MLOPT_OK;
}

void mlopt_dataset_batch(const mlopt_dataset *ds, const int *order, int n, float mean, float std,
                         const mlopt_augment *aug, uint64_t seed, float *images, int32_t *labels)
{
    const mlopt_idx_dataset *idx = &ds->px->idx;
    int h = idx->rows, w = idx->cols;
    size_t per = (size_t)h * w;
    /* A table turns each byte into its normalized value with one load. */
    float lut[256];
    float inv = 1.0f / (255.0f * std);
    for (int v = 0; v < 256; v++)
        lut[v] = (float)v * inv - mean / std;
    mlopt_rng r;
    mlopt_rng_seed(&r, seed);
    int augmenting = aug && (aug->crop_pad > 0 || aug->hflip);
    for (int b = 0; b < n; b++) {
        int sample = ds->index[order[b]];
        const uint8_t *src = idx->images + (size_t)sample * per;
        float *dst = images + (size_t)b * per;
        labels[b] = idx->labels[sample];
        if (!augmenting) {
            for (size_t i = 0; i < per; i++)
                dst[i] = lut[src[i]];
            continue;
        }
        int pad = aug->crop_pad;
        int dy = pad ? (int)mlopt_rng_below(&r, (uint64_t)(2 * pad + 1)) - pad : 0;
        int dx = pad ? (int)mlopt_rng_below(&r, (uint64_t)(2 * pad + 1)) - pad : 0;
        int flip = aug->hflip && (mlopt_rng_next(&r) & 1);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
                dst[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? lut[src[sy * w + sx]] : lut[0];
            }
    }
}
