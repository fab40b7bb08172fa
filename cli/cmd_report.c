/* mlopt report: one self-contained HTML file (inline SVG, no scripts, no
 * network) from a tune/search directory's journal and/or a training
 * log's metrics.csv: training curves, accuracy-versus-cost scatter with
 * the Pareto front, parallel coordinates of hyperparameters; per-layer
 * sparsity and quantization error come from report_compression.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "io/json.h"
#include "mlopt/search.h"
#include "report_compression.h"

#define W 680
#define H 360
#define ML 64
#define MR 24
#define MT 28
#define MB 44


typedef struct axis {
    double lo, hi;
    int log;
} axis;

static void axis_fit(axis *a, const double *v, int n, int allow_log)
{
    a->lo = INFINITY, a->hi = -INFINITY, a->log = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            a->lo = fmin(a->lo, v[i]), a->hi = fmax(a->hi, v[i]);
    if (!isfinite(a->lo))
        a->lo = 0, a->hi = 1;
    if (allow_log && a->lo > 0 && a->hi / a->lo > 30)
        a->log = 1;
    if (a->hi == a->lo) {
        double d = a->lo == 0 ? 1 : fabs(a->lo) * 0.1;
        a->lo -= d, a->hi += d;
    }
}

static double axis_t(const axis *a, double v)
{
    if (a->log)
        return (log(v) - log(a->lo)) / (log(a->hi) - log(a->lo));
    return (v - a->lo) / (a->hi - a->lo);
}

static double px(const axis *a, double v)
{
    return ML + axis_t(a, v) * (W - ML - MR);
}

static double py(const axis *a, double v)
{
    return H - MB - axis_t(a, v) * (H - MT - MB);
}

static void svg_begin(FILE *f, const char *title, const axis *x, const axis *y, const char *xl, const char *yl)
{
    fprintf(f, "<h2>");
    report_html_escape(f, title);
    fprintf(f, "</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
               "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            W, H, W, H, W, H);
    fprintf(f, "<g class=\"axes\" stroke=\"#444\" fill=\"none\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
               "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
            ML, H - MB, W - MR, H - MB, ML, MT, ML, H - MB);
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    for (int i = 0; i <= 4; i++) {
        double t = i / 4.0;
        double xv = x->log ? exp(log(x->lo) + t * (log(x->hi) - log(x->lo))) : x->lo + t * (x->hi - x->lo);
        double yv = y->lo + t * (y->hi - y->lo);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.4g</text>\n", px(x, xv), H - MB + 16, xv);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", ML - 6, py(y, yv) + 4, yv);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n", ML + 1, py(y, yv),
                W - MR, py(y, yv));
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 8);
    report_html_escape(f, xl);
    fprintf(f, "</text>\n<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">", H / 2,
            H / 2);
    report_html_escape(f, yl);
    fprintf(f, "</text>\n</g>\n");
}

static const char *status_color(mlopt_trial_status s)
{
    return s == MLOPT_TRIAL_COMPLETED ? "#1f77b4" : s == MLOPT_TRIAL_PRUNED ? "#bbbbbb" : "#d62728";
}

/* Per-trial curves of one journal metric against the epoch. */
static void journal_curves(FILE *f, const mlopt_journal_data *d, int which, const char *title, const char *yl)
{
    int maxe = 1, n = 0;
    double *vals = malloc(sizeof(double) * (size_t)(d->ntrials * MLOPT_TRIAL_MAX_EPOCHS + 1));
    if (!vals)
        return;
    for (int i = 0; i < d->ntrials; i++) {
        const mlopt_trial_record *r = &d->trials[i];
        maxe = r->epochs > maxe ? r->epochs : maxe;
        for (int e = 0; e < r->epochs; e++) {
            const double *src = which == 0 ? r->val_acc : which == 1 ? r->train_loss : r->val_loss;
            vals[n++] = which == 0 ? 100 * src[e] : src[e];
        }
    }
    axis x = { 1, maxe > 1 ? maxe : 2, 0 }, y;
    axis_fit(&y, vals, n, 0);
    free(vals);
    svg_begin(f, title, &x, &y, "epoch", yl);
    for (int i = 0; i < d->ntrials; i++) {
        const mlopt_trial_record *r = &d->trials[i];
        if (!r->epochs)
            continue;
        fprintf(f, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                status_color(r->status));
        for (int e = 0; e < r->epochs; e++) {
            const double *src = which == 0 ? r->val_acc : which == 1 ? r->train_loss : r->val_loss;
            double v = which == 0 ? 100 * src[e] : src[e];
            if (isfinite(v))
                fprintf(f, "%.1f,%.1f ", px(&x, e + 1), py(&y, v));
        }
        fprintf(f, "\"><title>trial %d (%s)</title></polyline>\n", r->id, mlopt_trial_status_name(r->status));
    }
    fprintf(f, "</svg>\n<p class=\"legend\"><span style=\"color:#1f77b4\">completed</span> "
               "<span style=\"color:#999\">pruned</span> <span style=\"color:#d62728\">failed</span></p>\n");
}

/* metrics.csv from `mlopt train --logdir`: step,tag,value */
typedef struct series {
    char tag[64];
    int n, cap;
    double *x, *y;
} series;

static int read_metrics(const char *path, series **out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    series *s = NULL;
    int ns = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char tag[64];
        double step, v;
        if (sscanf(line, "%lf,%63[^,],%lf", &step, tag, &v) != 3)
            continue;
        int k = 0;
        while (k < ns && strcmp(s[k].tag, tag) != 0)
            k++;
        if (k == ns) {
            series *t = realloc(s, (size_t)(ns + 1) * sizeof *s);
            if (!t)
                break;
            s = t;
            memset(&s[ns], 0, sizeof s[ns]);
            snprintf(s[ns++].tag, sizeof s[0].tag, "%s", tag);
        }
        if (s[k].n == s[k].cap) {
            int cap = s[k].cap ? 2 * s[k].cap : 64;
            double *a = realloc(s[k].x, (size_t)cap * sizeof *a), *b = a ? realloc(s[k].y, (size_t)cap * sizeof *b) : NULL;
            if (!a || !b) {
                if (a)
                    s[k].x = a;
                break;
            }
            s[k].x = a, s[k].y = b, s[k].cap = cap;
        }
        s[k].x[s[k].n] = step;
        s[k].y[s[k].n++] = v;
    }
    fclose(f);
    *out = s;
    return ns;
}

static void metrics_chart(FILE *f, series *s, int ns, const char *key, const char *title)
{
    static const char *colors[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd" };
    double *xs = NULL, *ys = NULL;
    int n = 0, total = 0;
    for (int k = 0; k < ns; k++)
        if (strstr(s[k].tag, key))
            total += s[k].n;
    if (!total)
        return;
    xs = malloc((size_t)total * sizeof *xs), ys = malloc((size_t)total * sizeof *ys);
    if (!xs || !ys) {
        free(xs), free(ys);
        return;
    }
    for (int k = 0; k < ns; k++)
        if (strstr(s[k].tag, key))
            for (int i = 0; i < s[k].n; i++)
                xs[n] = s[k].x[i], ys[n++] = s[k].y[i];
    axis x, y;
    axis_fit(&x, xs, n, 0);
    axis_fit(&y, ys, n, 0);
    free(xs), free(ys);
    svg_begin(f, title, &x, &y, "step", key);
    int c = 0;
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\">\n");
    for (int k = 0; k < ns; k++) {
        if (!strstr(s[k].tag, key))
            continue;
        const char *col = colors[c % 5];
        fprintf(f, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int i = 0; i < s[k].n; i++)
            fprintf(f, "%.1f,%.1f ", px(&x, s[k].x[i]), py(&y, s[k].y[i]));
        fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">", W - MR - 150, MT + 14 * (c + 1), col);
        report_html_escape(f, s[k].tag);
        fprintf(f, "</text>\n");
        c++;
    }
    fprintf(f, "</g>\n</svg>\n");
}

static double cost_of(const mlopt_trial_record *r, const char *cost)
{
    return strcmp(cost, "latency") == 0 ? r->latency_ms : strcmp(cost, "flops") == 0 ? r->flops : r->params_count;
}

static void scatter(FILE *f, const mlopt_journal_data *d, const char *cost)
{
    int n = d->ntrials;
    double *acc = calloc((size_t)n + 1, sizeof *acc), *c = calloc((size_t)n + 1, sizeof *c);
    int *front = calloc((size_t)n + 1, sizeof *front);
    if (!acc || !c || !front) {
        free(acc), free(c), free(front);
        return;
    }
    for (int i = 0; i < n; i++) {
        const mlopt_trial_record *r = &d->trials[i];
        int ok = r->status == MLOPT_TRIAL_COMPLETED;
        acc[i] = ok ? 100 * r->final_acc : NAN;
        c[i] = ok ? cost_of(r, cost) : NAN;
    }
    mlopt_pareto_front(acc, c, n, front);
    axis x, y;
    axis_fit(&x, c, n, 1);
    axis_fit(&y, acc, n, 0);
    char xl[64];
    const char *unit = strcmp(cost, "latency") == 0 ? " (ms, measured)" : strcmp(cost, "flops") == 0 ? " (FLOPs per image)"
                                                                                               : " (parameters)";
    snprintf(xl, sizeof xl, "%s%s%s", cost, unit, x.log ? ", log scale" : "");
    svg_begin(f, "Validation accuracy versus cost (Pareto front in red)", &x, &y, xl, "validation accuracy (%)");
    /* the front as a staircase, cheapest first */
    int *idx = malloc(sizeof(int) * (size_t)(n + 1)), nf = 0;
    for (int i = 0; idx && i < n; i++)
        if (front[i])
            idx[nf++] = i;
    for (int a = 1; a < nf; a++)
        for (int b = a; b > 0 && c[idx[b]] < c[idx[b - 1]]; b--) {
            int t = idx[b];
            idx[b] = idx[b - 1], idx[b - 1] = t;
        }
    fprintf(f, "<polyline class=\"pareto\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" points=\"");
    for (int k = 0; k < nf; k++) {
        if (k)
            fprintf(f, "%.1f,%.1f ", px(&x, c[idx[k]]), py(&y, acc[idx[k - 1]]));
        fprintf(f, "%.1f,%.1f ", px(&x, c[idx[k]]), py(&y, acc[idx[k]]));
    }
    fprintf(f, "\"/>\n");
    free(idx);
    for (int i = 0; i < n; i++) {
        if (!isfinite(acc[i]) || !isfinite(c[i]))
            continue;
        fprintf(f, "<circle class=\"point%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" stroke=\"#222\" "
                   "stroke-width=\"0.5\"><title>trial %d: %.2f%%, %s %.4g, ",
                front[i] ? " front" : "", px(&x, c[i]), py(&y, acc[i]), front[i] ? 5 : 3,
                front[i] ? "#d62728" : "#1f77b4", d->trials[i].id, acc[i], cost, c[i]);
        report_html_escape(f, d->trials[i].spec);
        fprintf(f, "</title></circle>\n");
    }
    fprintf(f, "</svg>\n");
    free(acc), free(c), free(front);
}

/* Parallel coordinates: one axis per hyperparameter, then accuracy. */
static void parallel_coords(FILE *f, const mlopt_journal_data *d)
{
    enum { MAXK = 16, MAXCAT = 16 };
    char keys[MAXK][32];
    int nk = 0, n = d->ntrials;
    mlopt_json **parsed = calloc((size_t)n + 1, sizeof *parsed);
    if (!parsed)
        return;
    for (int i = 0; i < n; i++) {
        char err[64];
        if (mlopt_json_parse(d->trials[i].params, strlen(d->trials[i].params), &parsed[i], err, sizeof err) !=
            MLOPT_OK)
            parsed[i] = NULL;
        for (size_t k = 0; parsed[i] && k < parsed[i]->count; k++) {
            int found = 0;
            for (int j = 0; j < nk; j++)
                found |= strcmp(keys[j], parsed[i]->items[k].key) == 0;
            if (!found && nk < MAXK)
                snprintf(keys[nk++], sizeof keys[0], "%s", parsed[i]->items[k].key);
        }
    }
    int naxes = nk + 1;
    double *val = malloc(sizeof(double) * (size_t)(n + 1) * (size_t)naxes);
    axis ax[MAXK + 1];
    char cats[MAXK][MAXCAT][32];
    int ncat[MAXK] = { 0 }, numeric[MAXK];
    if (!val) {
        free(parsed);
        return;
    }
    for (int j = 0; j < nk; j++) {
        numeric[j] = 1;
        for (int i = 0; i < n; i++) {
            const mlopt_json *v = parsed[i] ? mlopt_json_get(parsed[i], keys[j]) : NULL;
            char *end;
            double x = v && v->text ? strtod(v->text, &end) : NAN;
            if (v && v->text && *end)
                numeric[j] = 0;
            val[i * naxes + j] = x;
        }
        if (!numeric[j]) {
            for (int i = 0; i < n; i++) {
                const mlopt_json *v = parsed[i] ? mlopt_json_get(parsed[i], keys[j]) : NULL;
                int c = -1;
                for (int k = 0; v && v->text && k < ncat[j]; k++)
                    if (strcmp(cats[j][k], v->text) == 0)
                        c = k;
                if (v && v->text && c < 0 && ncat[j] < MAXCAT) {
                    c = ncat[j]++;
                    snprintf(cats[j][c], sizeof cats[0][0], "%s", v->text);
                }
                val[i * naxes + j] = c >= 0 ? c : NAN;
            }
        }
        double *col = malloc(sizeof(double) * (size_t)(n + 1));
        for (int i = 0; col && i < n; i++)
            col[i] = val[i * naxes + j];
        axis_fit(&ax[j], col ? col : val, col ? n : 0, numeric[j]);
        free(col);
    }
    double *acc = malloc(sizeof(double) * (size_t)(n + 1));
    for (int i = 0; acc && i < n; i++) {
        const mlopt_trial_record *r = &d->trials[i];
        acc[i] = r->epochs ? 100 * r->val_acc[r->epochs - 1] : NAN;
        val[i * naxes + nk] = acc[i];
    }
    axis_fit(&ax[nk], acc, acc ? n : 0, 0);
    fprintf(f, "<h2>Hyperparameters (parallel coordinates; colour = last validation accuracy)</h2>\n"
               "<svg class=\"pcoord\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\">\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            W, H, W, H, W, H);
    double step = naxes > 1 ? (double)(W - 2 * ML) / (naxes - 1) : 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(val[i * naxes + nk]))
            continue;
        double t = axis_t(&ax[nk], val[i * naxes + nk]);
        int red = (int)(255 * (1 - t)), blue = (int)(255 * t);
        fprintf(f, "<polyline class=\"pline\" fill=\"none\" stroke=\"rgb(%d,80,%d)\" stroke-opacity=\"0.7\" "
                   "stroke-width=\"%s\" points=\"",
                red, blue, d->trials[i].status == MLOPT_TRIAL_COMPLETED ? "2" : "1");
        for (int j = 0; j < naxes; j++) {
            double v = val[i * naxes + j];
            if (!isfinite(v))
                continue;
            fprintf(f, "%.1f,%.1f ", ML + j * step, py(&ax[j], v));
        }
        fprintf(f, "\"><title>trial %d</title></polyline>\n", d->trials[i].id);
    }
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
    for (int j = 0; j < naxes; j++) {
        double xx = ML + j * step;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>\n", xx, MT, xx, H - MB);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", xx, H - MB + 28);
        report_html_escape(f, j < nk ? keys[j] : "val acc %");
        fprintf(f, "%s</text>\n", j < nk && ax[j].log ? " (log)" : "");
        if (j < nk && !numeric[j]) {
            for (int k = 0; k < ncat[j]; k++) {
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", xx + 4, py(&ax[j], k) + 4);
                report_html_escape(f, cats[j][k]);
                fprintf(f, "</text>\n");
            }
        } else {
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.3g</text><text x=\"%.1f\" y=\"%d\">%.3g</text>\n", xx + 4,
                    MT + 4, ax[j].hi, xx + 4, H - MB, ax[j].lo);
        }
    }
    fprintf(f, "</g>\n</svg>\n");
    for (int i = 0; i < n; i++)
        mlopt_json_free(parsed[i]);
    free(parsed), free(val), free(acc);
}

static void trial_table(FILE *f, const mlopt_journal_data *d)
{
    fprintf(f, "<h2>Trials</h2>\n<table>\n<tr><th>id</th><th>status</th><th>epochs</th><th>val acc</th>"
               "<th>test acc</th><th>params</th><th>FLOPs</th><th>latency ms</th><th>parameters / architecture</th>"
               "</tr>\n");
    for (int i = 0; i < d->ntrials; i++) {
        const mlopt_trial_record *r = &d->trials[i];
        double last = r->epochs ? r->val_acc[r->epochs - 1] : NAN;
        fprintf(f, "<tr><td>%d</td><td>%s</td><td>%d</td>", r->id, mlopt_trial_status_name(r->status), r->epochs);
        if (isfinite(last))
            fprintf(f, "<td>%.2f%%</td>", 100 * last);
        else
            fprintf(f, "<td>-</td>");
        if (isfinite(r->test_acc))
            fprintf(f, "<td>%.2f%%</td>", 100 * r->test_acc);
        else
            fprintf(f, "<td>-</td>");
        fprintf(f, isfinite(r->params_count) ? "<td>%.0f</td>" : "<td>-</td>", r->params_count);
        fprintf(f, isfinite(r->flops) ? "<td>%.3g</td>" : "<td>-</td>", r->flops);
        fprintf(f, isfinite(r->latency_ms) ? "<td>%.3f</td>" : "<td>-</td>", r->latency_ms);
        fprintf(f, "<td><code>");
        report_html_escape(f, r->params);
        fprintf(f, " ");
        report_html_escape(f, r->spec);
        if (r->reason[0]) {
            fprintf(f, "</code> <em>");
            report_html_escape(f, r->reason);
            fprintf(f, "</em></td></tr>\n");
        } else {
            fprintf(f, "</code></td></tr>\n");
        }
    }
    fprintf(f, "</table>\n");
}

int cmd_report(int argc, char **argv)
{
    const char *out = NULL;
    cli_option opts[] = { { "out", OPT_STRING, &out, "FILE", "HTML file to write (default DIR/report.html)", 0, 0 },
                          GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("report", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (G.help || npos != 1) {
        args_help("mlopt report DIR [--out=FILE]",
                  "Write one self-contained HTML report (inline SVG, no scripts) of a tune/search directory "
                  "(DIR/journal.jsonl), a training log directory (DIR/metrics.csv), pruned checkpoints "
                  "(DIR/*.safetensors: per-layer sparsity) and `mlopt quantize --json` output (DIR/*.json: "
                  "per-layer SQNR).", opts);
        return G.help ? 0 : 2;
    }
    const char *dir = pos[0];
    char jpath[1024], mpath[1024], opath[1024];
    snprintf(jpath, sizeof jpath, "%s/journal.jsonl", dir);
    snprintf(mpath, sizeof mpath, "%s/metrics.csv", dir);
    snprintf(opath, sizeof opath, "%s", out ? out : "");
    if (!out)
        snprintf(opath, sizeof opath, "%s/report.html", dir);
    mlopt_journal_data d;
    if (mlopt_journal_read(jpath, &d, NULL, NULL) != MLOPT_OK)
        return report_failure("report", "reading the journal", MLOPT_E_IO);
    series *s = NULL;
    int ns = read_metrics(mpath, &s);
    /* the compression sections are probed into a scratch stream first, so
     * that a directory with nothing to show is an error */
    FILE *probe = tmpfile();
    int ncomp = probe ? report_sparsity_sections(probe, dir) + report_quant_sections(probe, dir) : 0;
    if (probe)
        fclose(probe);
    if (!d.ntrials && !ns && !ncomp) {
        fprintf(stderr, "mlopt report: %s has no journal.jsonl (mlopt tune/search), metrics.csv "
                        "(mlopt train --logdir), pruned checkpoint or `mlopt quantize --json` output\n", dir);
        mlopt_journal_data_free(&d);
        free(s);
        return 1;
    }
    FILE *f = fopen(opath, "w");
    if (!f) {
        fprintf(stderr, "mlopt report: cannot write %s\n", opath);
        mlopt_journal_data_free(&d);
        return 1;
    }
    /* experiment settings */
    char kind[32] = "", cost[32] = "params";
    mlopt_json *exp = NULL;
    char err[64];
    if (d.experiment[0] && mlopt_json_parse(d.experiment, strlen(d.experiment), &exp, err, sizeof err) == MLOPT_OK) {
        const mlopt_json *k = mlopt_json_get(exp, "kind"), *c = mlopt_json_get(exp, "cost");
        if (k && k->text)
            snprintf(kind, sizeof kind, "%s", k->text);
        if (c && c->text)
            snprintf(cost, sizeof cost, "%s", c->text);
    }
    fprintf(f, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
               "<meta charset=\"utf-8\"/>\n<title>mlopt report: ");
    report_html_escape(f, dir);
    fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:24px;max-width:980px}"
               "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
               "svg{border:1px solid #ddd;display:block;margin:8px 0}code{font-size:11px;word-break:break-all}</style>\n</head>\n<body>\n"
               "<h1>mlopt report: ");
    report_html_escape(f, dir);
    fprintf(f, "</h1>\n");
    if (d.ntrials) {
        int counts[4] = { 0 };
        long long epochs = 0;
        for (int i = 0; i < d.ntrials; i++)
            counts[d.trials[i].status]++, epochs += d.trials[i].epochs;
        fprintf(f, "<p>%s: %d trials (%d completed, %d pruned, %d failed, %d unfinished), %lld trial-epochs.</p>\n",
                kind[0] ? kind : "experiment", d.ntrials, counts[1], counts[2], counts[3], counts[0], epochs);
        fprintf(f, "<p>Settings: <code>");
        report_html_escape(f, d.experiment);
        fprintf(f, "</code></p>\n");
        if (strcmp(kind, "search") == 0)
            scatter(f, &d, cost);
        else
            parallel_coords(f, &d);
        journal_curves(f, &d, 0, "Validation accuracy per epoch (every trial)", "validation accuracy (%)");
        journal_curves(f, &d, 1, "Training loss per epoch (every trial)", "training loss");
    }
    if (ns) {
        fprintf(f, "<h2>Training run (metrics.csv)</h2>\n");
        metrics_chart(f, s, ns, "accuracy", "Train / test accuracy");
        metrics_chart(f, s, ns, "loss", "Train / test loss");
    }
    report_sparsity_sections(f, dir);
    report_quant_sections(f, dir);
    if (d.ntrials)
        trial_table(f, &d);
    fprintf(f, "</body>\n</html>\n");
    int rc = fclose(f) != 0;
    mlopt_json_free(exp);
    for (int k = 0; k < ns; k++)
        free(s[k].x), free(s[k].y);
    free(s);
    mlopt_journal_data_free(&d);
    if (rc) {
        fprintf(stderr, "mlopt report: writing %s failed\n", opath);
        return 1;
    }
    if (!G.json)
        printf("wrote %s\n", opath);
    return 0;
}
