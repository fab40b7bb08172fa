/* Tree-structured Parzen Estimator (Bergstra et al. 2011), with
 * independent per-dimension estimators.  Continuous dimensions live in
 * [0,1] (log-transformed for log dimensions); each observation is a
 * Gaussian truncated to [0,1] with a bandwidth from its sorted
 * neighbours, and a uniform prior component keeps every region possible.
 * Categorical dimensions use counts smoothed by one per choice. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mlopt/search.h"

static double to_unit(const mlopt_hp_dim *d, double v)
{
    double lo = d->lo, hi = d->hi;
    if (d->type == MLOPT_HP_LOG) {
        lo = log(lo), hi = log(hi), v = log(v);
    } else if (d->type == MLOPT_HP_INT) {
        lo -= 0.5, hi += 0.5;
    }
    if (hi <= lo)
        return 0.5;
    double u = (v - lo) / (hi - lo);
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

static double from_unit(const mlopt_hp_dim *d, double u)
{
    double lo = d->lo, hi = d->hi;
    switch (d->type) {
    case MLOPT_HP_LOG: return exp(log(lo) + u * (log(hi) - log(lo)));
    case MLOPT_HP_INT: {
        double v = floor(lo - 0.5 + u * (hi - lo + 1) + 0.5);
        return v < lo ? lo : v > hi ? hi : v;
    }
    default: return lo + u * (hi - lo);
    }
}

/* A 1-D mixture: n truncated Gaussians plus a uniform prior (weight 1). */
typedef struct parzen {
    int n;
    double *mu, *sigma, *mass; /* mass: the kernel's probability inside [0,1] */
} parzen;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double phi(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static void parzen_fit(parzen *p, const double *x, int n)
{
    p->n = n;
    memcpy(p->mu, x, (size_t)n * sizeof *x);
    qsort(p->mu, (size_t)n, sizeof *p->mu, cmp_double);
    double min_bw = 1.0 / (n < 99 ? n + 1 : 100);
    for (int i = 0; i < n; i++) {
        double left = p->mu[i] - (i > 0 ? p->mu[i - 1] : 0.0);
        double right = (i + 1 < n ? p->mu[i + 1] : 1.0) - p->mu[i];
        double bw = left > right ? left : right;
        bw = bw < min_bw ? min_bw : bw > 1.0 ? 1.0 : bw;
        p->sigma[i] = bw;
        p->mass[i] = phi((1.0 - p->mu[i]) / bw) - phi((0.0 - p->mu[i]) / bw);
        if (p->mass[i] < 1e-12)
            p->mass[i] = 1e-12;
    }
}

static double parzen_pdf(const parzen *p, double x)
{
    double sum = 1.0; /* the uniform prior's density on [0,1] */
    for (int i = 0; i < p->n; i++) {
        double z = (x - p->mu[i]) / p->sigma[i];
        sum += exp(-0.5 * z * z) / (p->sigma[i] * 2.5066282746310002 * p->mass[i]);
    }
    return sum / (p->n + 1);
}

static double parzen_sample(const parzen *p, mlopt_rng64 *rng)
{
    int k = mlopt_rng64_below(rng, p->n + 1);
    if (k == p->n)
        return mlopt_rng64_uniform(rng);
    for (int tries = 0; tries < 64; tries++) {
        double x = p->mu[k] + p->sigma[k] * mlopt_rng64_normal(rng);
        if (x >= 0 && x <= 1)
            return x;
    }
    return p->mu[k];
}

typedef struct ranked {
    double value;
    int index;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1; /* best first */
    return x->index - y->index;
}

mlopt_status mlopt_tpe_suggest(const mlopt_hp_space *s, const mlopt_tpe_config *cfg,
                               const mlopt_hp_point *obs, const double *values, int nobs,
                               mlopt_rng64 *rng, mlopt_hp_point *out)
{
    mlopt_tpe_config c = { 0.25, 24, 8 };
    if (cfg) {
        if (cfg->gamma > 0 && cfg->gamma < 1)
            c.gamma = cfg->gamma;
        if (cfg->n_candidates > 0)
            c.n_candidates = cfg->n_candidates;
        if (cfg->n_startup > 0)
            c.n_startup = cfg->n_startup;
    }
    /* Failed trials (NaN values) carry no information about the split. */
    int n = 0;
    ranked *r = malloc((size_t)(nobs > 0 ? nobs : 1) * sizeof *r);
    if (!r)
        return mlopt_set_error(MLOPT_E_NOMEM, "TPE: out of host memory");
    for (int i = 0; i < nobs; i++)
        if (isfinite(values[i]))
            r[n].value = values[i], r[n].index = i, n++;
    if (n < c.n_startup || n < 2) {
        free(r);
        mlopt_random_point(s, rng, out);
        return MLOPT_OK;
    }
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    int ngood = (int)ceil(c.gamma * n);
    if (ngood < 1)
        ngood = 1;
    if (ngood > n - 1)
        ngood = n - 1;
    int nbad = n - ngood;
    double *buf = malloc((size_t)n * 7 * sizeof *buf);
    double *cand = malloc((size_t)c.n_candidates * MLOPT_HP_MAX_DIMS * sizeof *cand);
    double *score = calloc((size_t)c.n_candidates, sizeof *score);
    if (!buf || !cand || !score) {
        free(r), free(buf), free(cand), free(score);
        return mlopt_set_error(MLOPT_E_NOMEM, "TPE: out of host memory");
    }
    for (int d = 0; d < s->ndims; d++) {
        const mlopt_hp_dim *dim = &s->dims[d];
        if (dim->type == MLOPT_HP_CHOICE) {
            int k = dim->nchoices;
            double lw[MLOPT_HP_MAX_CHOICES], gw[MLOPT_HP_MAX_CHOICES];
            for (int j = 0; j < k; j++)
                lw[j] = gw[j] = 1.0;
            for (int i = 0; i < n; i++) {
                int v = (int)obs[r[i].index].v[d];
                if (v >= 0 && v < k)
                    (i < ngood ? lw : gw)[v] += 1.0;
            }
            double lsum = ngood + k, gsum = nbad + k;
            for (int ci = 0; ci < c.n_candidates; ci++) {
                double u = mlopt_rng64_uniform(rng) * lsum, acc = 0;
                int pick = k - 1;
                for (int j = 0; j < k; j++) {
                    acc += lw[j];
                    if (u < acc) {
                        pick = j;
                        break;
                    }
                }
                cand[ci * MLOPT_HP_MAX_DIMS + d] = pick;
                score[ci] += log(lw[pick] / lsum) - log(gw[pick] / gsum);
            }
            continue;
        }
        double *xs = buf, *xg = buf + n;
        parzen l = { 0, buf + 2 * n, buf + 3 * n, buf + 4 * n };
        parzen g = { 0, buf + 5 * n, buf + 6 * n, NULL };
        /* g's mass array shares xs's space: xs is consumed by l's fit first. */
        for (int i = 0; i < ngood; i++)
            xs[i] = to_unit(dim, obs[r[i].index].v[d]);
        for (int i = 0; i < nbad; i++)
            xg[i] = to_unit(dim, obs[r[ngood + i].index].v[d]);
        parzen_fit(&l, xs, ngood);
        g.mass = xs;
        parzen_fit(&g, xg, nbad);
        for (int ci = 0; ci < c.n_candidates; ci++) {
            double u = parzen_sample(&l, rng);
            double v = from_unit(dim, u);
            if (dim->type == MLOPT_HP_INT)
                u = to_unit(dim, v);
            cand[ci * MLOPT_HP_MAX_DIMS + d] = v;
            score[ci] += log(parzen_pdf(&l, u)) - log(parzen_pdf(&g, u));
        }
    }
    int best = 0;
    for (int ci = 1; ci < c.n_candidates; ci++)
        if (score[ci] > score[best])
            best = ci;
    for (int d = 0; d < s->ndims; d++)
        out->v[d] = cand[best * MLOPT_HP_MAX_DIMS + d];
    free(r), free(buf), free(cand), free(score);
    return MLOPT_OK;
}
