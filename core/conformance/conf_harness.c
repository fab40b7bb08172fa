/* Running generated kernel cases on a backend and on the reference:
 * every argument lives in a larger buffer at a non-zero offset, with a
 * sentinel guard before and after it, so that writes outside an output,
 * writes to an input and ignored offsets are all caught. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_slots.h"
#include "conf_internal.h"
#include "error.h"

#define GUARD_FLOATS 37u
/* A quiet NaN with a payload no kernel produces by arithmetic. */
#define SENTINEL_BITS 0x7FC0DEADu

uint64_t conf_rng_next(conf_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double conf_rng_uniform(conf_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(conf_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

int conf_rng_int(conf_rng *r, int lo, int hi)
{
    return lo + (int)(conf_rng_next(r) % (uint64_t)(hi - lo + 1));
}

const char *mlopt_conf_outcome_name(int outcome)
{
    switch (outcome) {
    case MLOPT_CONF_PASS: return "pass";
    case MLOPT_CONF_FAIL: return "FAIL";
    case MLOPT_CONF_UNSUPPORTED: return "not supported";
    default: return "?";
    }
}

float *conf_add_arg(conf_case *c, const char *name, int kind, size_t n)
{
    if (c->nargs >= CONF_MAX_ARGS)
        return NULL;
    conf_arg *a = &c->args[c->nargs++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->kind = kind;
    a->n = n;
    if (kind == CONF_NULL)
        return NULL;
    a->data = calloc(n ? n : 1, sizeof(float));
    return a->data;
}

int32_t *conf_add_int_arg(conf_case *c, const char *name, int kind, size_t n)
{
    float *f = conf_add_arg(c, name, kind, n);
    if (!f)
        return NULL;
    c->args[c->nargs - 1].is_int = 1;
    return (int32_t *)(void *)f;
}

void conf_case_free(conf_case *c)
{
    for (int i = 0; i < c->nargs; i++)
        free(c->args[i].data);
    memset(c, 0, sizeof *c);
}

void conf_fill_uniform(conf_rng *r, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)conf_rng_uniform(r, lo, hi);
}

void conf_fill_edge(conf_rng *r, float *x, size_t n, double scale, int specials)
{
    for (size_t i = 0; i < n; i++) {
        int pick = conf_rng_int(r, 0, 15);
        double v = conf_rng_uniform(r, -scale, scale);
        switch (pick) {
        case 0: v = 0.0; break;
        case 1: v = -0.0; break;
        case 2: v = -fabs(v); break;
        case 3: v = 1e-40 * (conf_rng_int(r, 0, 1) ? 1 : -1); break; /* denormal */
        case 4: v = v * 1e4; break;                                    /* large */
        case 5: if (specials) v = INFINITY; break;
        case 6: if (specials) v = -INFINITY; break;
        case 7: if (specials) v = NAN; break;
        default: break;
        }
        x[i] = (float)v;
    }
}

void conf_compare(const float *got, const float *want, size_t n, double floor_frac, double abs_floor,
                  conf_cmp *out)
{
    memset(out, 0, sizeof *out);
    double maxabs = 0, err2 = 0, ref2 = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > maxabs)
            maxabs = fabs(want[i]);
    double floor = floor_frac * maxabs;
    if (floor < 1e-30)
        floor = 1e-30;
    int have_worst = 0;
    for (size_t i = 0; i < n; i++) {
        float g = got[i], w = want[i];
        if (!isfinite(w) || !isfinite(g)) {
            int same = (isnan(w) && isnan(g)) || (isinf(w) && isinf(g) && signbit(w) == signbit(g));
            if (!same && !out->nonfinite_mismatch) {
                out->nonfinite_mismatch = 1;
                out->worst = i;
                out->got = g;
                out->want = w;
                out->max_rel = INFINITY;
                have_worst = 1;
            }
            continue;
        }
        double d = (double)g - (double)w;
        err2 += d * d;
        ref2 += (double)w * w;
        double rel = fabs(d) / fmax(fabs((double)w), floor);
        if (!out->nonfinite_mismatch && (!have_worst || rel > out->max_rel)) {
            out->max_rel = rel;
            out->worst = i;
            out->got = g;
            out->want = w;
            have_worst = 1;
        }
    }
    double denom = fmax(ref2, (double)n * abs_floor * abs_floor);
    out->nmse = denom > 0 ? err2 / denom : (err2 > 0 ? INFINITY : 0.0);
    if (ref2 == 0 && err2 > 0 && err2 < 1e-30)
        out->nmse = 0; /* denormal-sized noise around an all-zero answer */
}

/* Device images of one case's arguments. */
typedef struct case_images {
    mlopt_buffer *buf[CONF_MAX_ARGS];
    float *image[CONF_MAX_ARGS]; /* downloaded whole buffers */
    size_t lead[CONF_MAX_ARGS];  /* floats before the argument */
} case_images;

static size_t image_floats(const conf_case *c, int i, size_t lead)
{
    return lead + c->args[i].n + GUARD_FLOATS;
}

static void images_free(const mlopt_backend *be, mlopt_backend_ctx *b, case_images *im)
{
    for (int i = 0; i < CONF_MAX_ARGS; i++) {
        if (im->buf[i])
            be->buffer_free(b, im->buf[i]);
        free(im->image[i]);
    }
    memset(im, 0, sizeof *im);
}

/* Upload, launch, download.  Returns 0, or 1 with why set (a failing
 * slot or transfer); -1 on host memory exhaustion. */
static int run_case(mlopt_context *cx, const conf_kernel_check *k, const conf_case *c, case_images *im,
                    char *why, size_t whylen)
{
    const mlopt_backend *be = mlopt_context_backend(cx);
    mlopt_backend_ctx *b = mlopt_context_backend_ctx(cx);
    mlopt_ref refs[CONF_MAX_ARGS];
    memset(refs, 0, sizeof refs);
    memset(im, 0, sizeof *im);
    uint32_t sentinel = SENTINEL_BITS;
    for (int i = 0; i < c->nargs; i++) {
        const conf_arg *a = &c->args[i];
        if (a->kind == CONF_NULL)
            continue;
        /* Offsets differ per argument so that a kernel that ignores one is caught. */
        im->lead[i] = GUARD_FLOATS + (size_t)(i * 3 % 5);
        size_t total = image_floats(c, i, im->lead[i]);
        float *host = malloc(total * sizeof *host);
        if (!host)
            return -1;
        for (size_t j = 0; j < total; j++)
            memcpy(&host[j], &sentinel, 4);
        if (a->kind != CONF_OUT)
            memcpy(host + im->lead[i], a->data, a->n * sizeof(float));
        im->image[i] = host;
        if (be->buffer_alloc(b, total * sizeof(float), &im->buf[i])) {
            snprintf(why, whylen, "buffer_alloc(%zu bytes): %s", total * sizeof(float), be->last_error(b));
            return 1;
        }
        if (be->upload(b, (mlopt_ref){ im->buf[i], 0 }, host, total * sizeof(float))) {
            snprintf(why, whylen, "upload: %s", be->last_error(b));
            return 1;
        }
        refs[i] = (mlopt_ref){ im->buf[i], im->lead[i] * sizeof(float) };
    }
    if (k->launch(be, b, c, refs)) {
        snprintf(why, whylen, "%s failed: %s", k->name, be->last_error(b));
        return 1;
    }
    for (int i = 0; i < c->nargs; i++) {
        if (!im->buf[i])
            continue;
        size_t total = image_floats(c, i, im->lead[i]);
        if (be->download(b, im->image[i], (mlopt_ref){ im->buf[i], 0 }, total * sizeof(float))) {
            snprintf(why, whylen, "download: %s", be->last_error(b));
            return 1;
        }
    }
    return 0;
}

/* Guards intact and inputs unchanged on the tested backend. */
static int check_integrity(const conf_case *c, const case_images *im, char *why, size_t whylen)
{
    uint32_t sentinel = SENTINEL_BITS;
    for (int i = 0; i < c->nargs; i++) {
        const conf_arg *a = &c->args[i];
        if (a->kind == CONF_NULL)
            continue;
        size_t total = image_floats(c, i, im->lead[i]);
        for (size_t j = 0; j < total; j++) {
            if (j >= im->lead[i] && j < im->lead[i] + a->n)
                continue;
            uint32_t bits;
            memcpy(&bits, &im->image[i][j], 4);
            if (bits != sentinel) {
                long long rel = (long long)j - (long long)im->lead[i];
                snprintf(why, whylen, "wrote outside %s (%zu elements) at element %lld: %g", a->name, a->n,
                         rel >= (long long)a->n ? rel : rel, (double)im->image[i][j]);
                return 1;
            }
        }
        int aliased = (c->alias_out && i == c->alias_in);
        if (a->kind == CONF_IN && !aliased &&
            memcmp(im->image[i] + im->lead[i], a->data, a->n * sizeof(float)) != 0) {
            for (size_t j = 0; j < a->n; j++)
                if (memcmp(&im->image[i][im->lead[i] + j], &a->data[j], 4) != 0) {
                    snprintf(why, whylen, "modified its input %s at element %zu (%g -> %g)", a->name, j,
                             (double)a->data[j], (double)im->image[i][im->lead[i] + j]);
                    break;
                }
            return 1;
        }
    }
    return 0;
}

mlopt_status conf_run_kernel_check(const conf_kernel_check *k, mlopt_context *ctx, mlopt_context *ref,
                                   mlopt_conf_result *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", k->name);
    int nslots;
    const mlopt_slot_desc *slots = mlopt_backend_slots(&nslots);
    const char *slot_name = k->name;
    for (int i = 0; i < nslots; i++)
        if (slots[i].offset == k->slot)
            slot_name = slots[i].name;
    snprintf(out->op, sizeof out->op, "%s", slot_name);
    out->tol_nmse = k->tol_nmse;
    out->tol_rel = k->tol_rel;
    const mlopt_backend *be = mlopt_context_backend(ctx);
    if (!mlopt_backend_has_slot(be, k->slot)) {
        out->outcome = MLOPT_CONF_UNSUPPORTED;
        snprintf(out->detail, sizeof out->detail, "backend %s does not implement %s", be->name, slot_name);
        return MLOPT_OK;
    }
    if (!mlopt_backend_has_slot(mlopt_context_backend(ref), k->slot)) {
        out->outcome = MLOPT_CONF_UNSUPPORTED;
        snprintf(out->detail, sizeof out->detail, "the reference backend does not implement %s", slot_name);
        return MLOPT_OK;
    }
    conf_rng rng = { 0x5EED0000u + k->slot };
    for (int index = 0;; index++) {
        conf_case c;
        memset(&c, 0, sizeof c);
        if (!k->gen(&c, index, &rng)) {
            conf_case_free(&c);
            break;
        }
        for (int i = 0; i < c.nargs; i++)
            if (c.args[i].kind != CONF_NULL && !c.args[i].data) {
                conf_case_free(&c);
                return mlopt_set_error(MLOPT_E_NOMEM, "conformance %s: out of host memory", k->name);
            }
        out->cases++;
        case_images got, want;
        memset(&got, 0, sizeof got);
        char why[400] = "";
        int rc = run_case(ref, k, &c, &want, why, sizeof why);
        if (rc == 1) {
            /* The reference failing is a harness bug: report it as such. */
            char tmp[400];
            snprintf(tmp, sizeof tmp, "reference: %.380s", why);
            snprintf(why, sizeof why, "%s", tmp);
        } else if (rc == 0) {
            rc = run_case(ctx, k, &c, &got, why, sizeof why);
            if (rc == 0 && check_integrity(&c, &got, why, sizeof why))
                rc = 1;
        }
        if (rc < 0) {
            images_free(be, mlopt_context_backend_ctx(ctx), &got);
            images_free(mlopt_context_backend(ref), mlopt_context_backend_ctx(ref), &want);
            conf_case_free(&c);
            return mlopt_set_error(MLOPT_E_NOMEM, "conformance %s: out of host memory", k->name);
        }
        if (rc == 1) {
            if (out->outcome != MLOPT_CONF_FAIL)
                snprintf(out->detail, sizeof out->detail, "%.100s: %.300s", c.desc, why);
            out->outcome = MLOPT_CONF_FAIL;
            out->max_rel = INFINITY;
        } else {
            for (int i = 0; i < c.nargs; i++) {
                const conf_arg *a = &c.args[i];
                if (a->kind != CONF_OUT && a->kind != CONF_INOUT)
                    continue;
                const float *g = got.image[i] + got.lead[i], *w = want.image[i] + want.lead[i];
                int fail = 0;
                conf_cmp cmp;
                if (a->is_int) {
                    memset(&cmp, 0, sizeof cmp);
                    for (size_t j = 0; j < a->n; j++)
                        if (memcmp(&g[j], &w[j], 4) != 0) {
                            int32_t gi, wi;
                            memcpy(&gi, &g[j], 4);
                            memcpy(&wi, &w[j], 4);
                            cmp.worst = j;
                            cmp.got = (float)gi;
                            cmp.want = (float)wi;
                            cmp.max_rel = INFINITY;
                            fail = 1;
                            break;
                        }
                } else {
                    conf_compare(g, w, a->n, 1e-3, 0.0, &cmp);
                    double scale = c.tol_scale > 0 ? c.tol_scale : 1.0;
                    fail = cmp.nonfinite_mismatch || !(cmp.nmse <= k->tol_nmse * scale) ||
                           !(cmp.max_rel <= k->tol_rel * scale);
                }
                if (cmp.nmse > out->nmse || isnan(cmp.nmse))
                    out->nmse = cmp.nmse;
                if (cmp.max_rel > out->max_rel || isnan(cmp.max_rel))
                    out->max_rel = cmp.max_rel;
                if (fail && out->outcome != MLOPT_CONF_FAIL) {
                    out->outcome = MLOPT_CONF_FAIL;
                    snprintf(out->detail, sizeof out->detail,
                             "%s: %s[%zu] got %.9g want %.9g (nmse %.3g, max rel %.3g)", c.desc, a->name,
                             cmp.worst, (double)cmp.got, (double)cmp.want, cmp.nmse, cmp.max_rel);
                }
            }
        }
        images_free(be, mlopt_context_backend_ctx(ctx), &got);
        images_free(mlopt_context_backend(ref), mlopt_context_backend_ctx(ref), &want);
        conf_case_free(&c);
    }
    return MLOPT_OK;
}
