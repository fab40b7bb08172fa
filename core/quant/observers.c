/* Calibration observers: they see float activations batch by batch and
 * propose the range [lo, hi] to quantize.  min-max and its moving average
 * keep two numbers; percentile and MSE keep a uniform reservoir sample of
 * the values (bounded memory, unbiased) and decide at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "quant_internal.h"

#define QOBS_SAMPLE_CAP ((size_t)1 << 17)
#define QOBS_EMA 0.01f

mlopt_status mlopt_observer_parse(const char *name, mlopt_observer_kind *out)
{
    static const char *const names[] = { "minmax", "ema", "percentile", "mse" };
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (mlopt_observer_kind)i;
            return MLOPT_OK;
        }
    return mlopt_set_error(MLOPT_E_INVALID, "unknown observer '%s' (use minmax, ema, percentile or mse)",
                           name ? name : "(null)");
}

const char *mlopt_observer_name(mlopt_observer_kind k)
{
    static const char *const names[] = { "minmax", "ema", "percentile", "mse" };
    return (int)k >= 0 && (int)k < 4 ? names[k] : "?";
}

void qobs_init(qobserver *o, mlopt_observer_kind kind, float percentile)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->percentile = percentile > 50 && percentile <= 100 ? percentile : 99.99f;
    o->rng = 0x9E3779B97F4A7C15ull;
}

void qobs_free(qobserver *o)
{
    free(o->sample);
    memset(o, 0, sizeof *o);
}

static uint64_t qobs_next(qobserver *o)
{
    o->rng ^= o->rng << 13;
    o->rng ^= o->rng >> 7;
    o->rng ^= o->rng << 17;
    return o->rng;
}

mlopt_status qobs_update(qobserver *o, const float *x, size_t n)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
    if (lo > hi)
        return MLOPT_OK; /* nothing finite in this batch */
    if (o->batches == 0 || o->kind != MLOPT_OBSERVER_EMA) {
        o->lo = o->batches ? fminf(o->lo, lo) : lo;
        o->hi = o->batches ? fmaxf(o->hi, hi) : hi;
    } else {
        o->lo += QOBS_EMA * (lo - o->lo);
        o->hi += QOBS_EMA * (hi - o->hi);
    }
    o->batches++;
    if (o->kind != MLOPT_OBSERVER_PERCENTILE && o->kind != MLOPT_OBSERVER_MSE)
        return MLOPT_OK;
    if (!o->sample) {
        o->sample = malloc(QOBS_SAMPLE_CAP * sizeof *o->sample);
        if (!o->sample)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory (calibration sample)");
        o->cap = QOBS_SAMPLE_CAP;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        o->seen++;
        if (o->ns < o->cap)
            o->sample[o->ns++] = x[i];
        else {
            uint64_t j = qobs_next(o) % o->seen;
            if (j < o->cap)
                o->sample[j] = x[i];
        }
    }
    return MLOPT_OK;
}

void qparams_from_range(float lo, float hi, float *scale, int *zp)
{
    lo = fminf(lo, 0.0f);
    hi = fmaxf(hi, 0.0f);
    if (hi - lo < 1e-8f)
        hi = lo + 1e-8f;
    float s = (hi - lo) / 255.0f;
    long z = lrintf(-128.0f - lo / s);
    *scale = s;
    *zp = (int)(z < -128 ? -128 : z > 127 ? 127 : z);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Mean squared error of int8 affine quantization of the sample over [lo, hi]. */
static double qobs_mse(const float *v, size_t n, float lo, float hi)
{
    float s;
    int zp;
    qparams_from_range(lo, hi, &s, &zp);
    double err = 0;
    float inv = 1.0f / s;
    for (size_t i = 0; i < n; i++) {
        float q = rintf(v[i] * inv) + (float)zp;
        q = q < -128 ? -128 : q > 127 ? 127 : q;
        double d = (double)((q - (float)zp) * s) - v[i];
        err += d * d;
    }
    return err / (double)(n ? n : 1);
}

void qobs_range(qobserver *o, float *lo, float *hi)
{
    *lo = o->batches ? o->lo : 0.0f;
    *hi = o->batches ? o->hi : 1.0f;
    if (!o->ns || (o->kind != MLOPT_OBSERVER_PERCENTILE && o->kind != MLOPT_OBSERVER_MSE))
        return;
    qsort(o->sample, o->ns, sizeof *o->sample, cmp_float);
    if (o->kind == MLOPT_OBSERVER_PERCENTILE) {
        double p = o->percentile / 100.0;
        size_t ihi = (size_t)(p * (double)(o->ns - 1) + 0.5), ilo = (size_t)((1 - p) * (double)(o->ns - 1) + 0.5);
        *lo = o->sample[ilo];
        *hi = o->sample[ihi];
        return;
    }
    /* MSE: shrink both ends of the min-max range by the same factor and
     * keep the best (clipping outliers buys resolution for the rest). */
    float l0 = fminf(o->sample[0], 0.0f), h0 = fmaxf(o->sample[o->ns - 1], 0.0f);
    double best = INFINITY;
    for (int t = 100; t >= 20; t -= 2) {
        float f = (float)t / 100.0f;
        double e = qobs_mse(o->sample, o->ns, l0 * f, h0 * f);
        if (e < best) {
            best = e;
            *lo = l0 * f;
            *hi = h0 * f;
        }
    }
}
