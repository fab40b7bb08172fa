/* Structured pruning: remove whole conv filters / linear neurons and
 * rewrite their consumers, giving a smaller dense model of the same layer
 * kinds (really faster, unlike masks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "passes_internal.h"

mlopt_status mlopt_keep_channels(mlopt_model *m, const char *layer, const int *keep, int nkeep)
{
    int li = passes_find_layer(m, layer);
    if (li < 0)
        return MLOPT_E_NOT_FOUND;
    for (int j = 1; j < nkeep; j++)
        if (keep[j] <= keep[j - 1])
            return mlopt_set_error(MLOPT_E_INVALID, "%s: kept channels must be ascending and distinct", layer);
    host_model hm;
    TRY(hm_capture(m, &hm));
    mlopt_status s = hm_remap_channels(&hm, li, nkeep, keep, NULL);
    if (s == MLOPT_OK)
        s = hm_commit(&hm, m);
    hm_free(&hm);
    return s;
}

typedef struct chan {
    int layer, channel;
    float score;
} chan;

static int cmp_chan(const void *a, const void *b)
{
    const chan *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    if (x->layer != y->layer)
        return x->layer - y->layer;
    return x->channel - y->channel;
}

mlopt_status mlopt_prune_structured(mlopt_model *m, const mlopt_structured_config *cfg)
{
    if (!(cfg->amount >= 0.0 && cfg->amount < 1.0))
        return mlopt_set_error(MLOPT_E_INVALID, "pruning amount %g must be in [0, 1)", cfg->amount);
    int out_layer = passes_output_layer(m);
    int *sel = calloc((size_t)m->nlayers, sizeof *sel);
    if (!sel)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    mlopt_status s = MLOPT_OK;
    if (cfg->layers) {
        for (int i = 0; i < cfg->nlayers && s == MLOPT_OK; i++) {
            int li = passes_find_layer(m, cfg->layers[i]);
            if (li < 0)
                s = MLOPT_E_NOT_FOUND;
            else if (!passes_is_weighted(&m->layers[li]))
                s = mlopt_set_error(MLOPT_E_INVALID, "layer %s has no channels to prune (only conv and linear do)",
                                    cfg->layers[i]);
            else if (li == out_layer)
                s = mlopt_set_error(MLOPT_E_INVALID, "%s is the output layer: its outputs are the classes",
                                    cfg->layers[i]);
            else
                sel[li] = 1;
        }
    } else {
        for (int i = 0; i < m->nlayers; i++)
            sel[i] = passes_is_weighted(&m->layers[i]) && i != out_layer;
    }
    /* Score every selected layer's channels. */
    int total = 0;
    for (int i = 0; i < m->nlayers; i++)
        total += sel[i] ? m->layers[i].spec.out : 0;
    chan *all = calloc((size_t)total + 1, sizeof *all);
    float *buf = malloc(((size_t)total + 1) * sizeof *buf);
    if (s == MLOPT_OK && (!all || !buf))
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    int u = 0;
    for (int i = 0; i < m->nlayers && s == MLOPT_OK; i++) {
        if (!sel[i])
            continue;
        int k = m->layers[i].spec.out;
        if ((s = mlopt_channel_scores(m, m->layers[i].spec.name, cfg->score, &cfg->data, buf)) != MLOPT_OK)
            break;
        double mean = 0;
        for (int c = 0; c < k; c++)
            mean += buf[c];
        mean /= k;
        for (int c = 0; c < k; c++, u++) {
            all[u].layer = i;
            all[u].channel = c;
            /* Global ranking compares layers of different sizes: normalize by the layer's mean. */
            all[u].score = cfg->scope == MLOPT_SCOPE_GLOBAL && mean > 0 ? (float)(buf[c] / mean) : buf[c];
        }
    }
    /* Decide the channels to drop. */
    char *drop = calloc((size_t)total + 1, 1);
    int *left = calloc((size_t)m->nlayers, sizeof *left);
    if (s == MLOPT_OK && (!drop || !left))
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    if (s == MLOPT_OK) {
        for (int i = 0; i < m->nlayers; i++)
            left[i] = sel[i] ? m->layers[i].spec.out : 0;
        if (cfg->scope == MLOPT_SCOPE_GLOBAL) {
            chan *sorted = malloc(((size_t)total + 1) * sizeof *sorted);
            if (!sorted)
                s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
            else {
                memcpy(sorted, all, (size_t)total * sizeof *sorted);
                qsort(sorted, (size_t)total, sizeof *sorted, cmp_chan);
                int want = (int)floor(cfg->amount * total + 0.5), done = 0;
                for (int j = 0; j < total && done < want; j++) {
                    if (left[sorted[j].layer] <= 1)
                        continue; /* every layer keeps at least one channel */
                    int base = 0;
                    for (int v = 0; v < total; v++)
                        if (all[v].layer == sorted[j].layer) {
                            base = v;
                            break;
                        }
                    drop[base + sorted[j].channel] = 1;
                    left[sorted[j].layer]--;
                    done++;
                }
                free(sorted);
            }
        } else {
            for (int v = 0; v < total;) {
                int li = all[v].layer, k = m->layers[li].spec.out;
                int want = (int)floor(cfg->amount * k + 0.5);
                if (want >= k)
                    want = k - 1;
                chan *part = malloc((size_t)k * sizeof *part);
                if (!part) {
                    s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
                    break;
                }
                memcpy(part, all + v, (size_t)k * sizeof *part);
                qsort(part, (size_t)k, sizeof *part, cmp_chan);
                for (int j = 0; j < want; j++)
                    drop[v + part[j].channel] = 1;
                free(part);
                v += k;
            }
        }
    }
    /* Surgery on a host copy, then one rebuild. */
    if (s == MLOPT_OK) {
        host_model hm;
        s = hm_capture(m, &hm);
        int *keep = malloc(((size_t)total + 1) * sizeof *keep);
        if (s == MLOPT_OK && !keep)
            s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        for (int v = 0; v < total && s == MLOPT_OK;) {
            int li = all[v].layer, k = m->layers[li].spec.out, nk = 0;
            for (int c = 0; c < k; c++)
                if (!drop[v + c])
                    keep[nk++] = c;
            if (nk < k)
                s = hm_remap_channels(&hm, li, nk, keep, NULL);
            v += k;
        }
        if (s == MLOPT_OK)
            s = hm_commit(&hm, m);
        free(keep);
        hm_free(&hm);
    }
    free(sel), free(all), free(buf), free(drop), free(left);
    return s;
}
