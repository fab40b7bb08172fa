/* Report sections for pruning and quantization: per-layer sparsity read
 * from pruned checkpoints, per-layer SQNR read from `mlopt quantize --json`
 * output, both as horizontal bar charts in inline SVG.  They appear only
 * when DIR holds such files, so a plain search report is unchanged. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "report_compression.h"

#define BAR_W 680
#define BAR_ROW 20
#define BAR_LABEL 150
#define BAR_TOP 10

typedef struct bar {
    char label[96];
    double value;
} bar;

void report_html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Bars from 0 to max(values, full); value_fmt prints each value. */
static void bar_chart(FILE *f, const char *cls, const bar *bars, int n, double full, const char *value_fmt,
                      const char *color)
{
    double top = full;
    for (int i = 0; i < n; i++)
        if (isfinite(bars[i].value) && bars[i].value > top)
            top = bars[i].value;
    if (!(top > 0))
        top = 1;
    int h = BAR_TOP * 2 + n * BAR_ROW;
    int span = BAR_W - BAR_LABEL - 90;
    fprintf(f, "<svg class=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
               "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
               "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n",
            cls, BAR_W, h, BAR_W, h, BAR_W, h);
    for (int i = 0; i < n; i++) {
        int y = BAR_TOP + i * BAR_ROW;
        double v = isfinite(bars[i].value) && bars[i].value > 0 ? bars[i].value : 0;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", BAR_LABEL - 6, y + 14);
        report_html_escape(f, bars[i].label);
        fprintf(f, "</text>\n<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
                BAR_LABEL, y + 3, span * v / top, BAR_ROW - 6, color);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">", BAR_LABEL + span * v / top + 4, y + 14);
        fprintf(f, value_fmt, bars[i].value);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n</svg>\n");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int only_suffix(const struct dirent *e, const char *suffix)
{
    return e->d_name[0] != '.' && ends_with(e->d_name, suffix);
}

static int is_checkpoint(const struct dirent *e)
{
    return only_suffix(e, ".safetensors");
}

static int is_json(const struct dirent *e)
{
    return only_suffix(e, ".json");
}

/* The per-layer sparsity of one checkpoint's conv/linear weights (F32,
 * 2-D or more); 0 when it has none or none of them holds zeros. */
static int checkpoint_sparsity(const char *path, bar **out)
{
    mlopt_st_file *st;
    *out = NULL;
    if (mlopt_st_open(path, &st) != MLOPT_OK)
        return 0; /* not ours to judge here: `mlopt eval` names the problem */
    int n = 0, any = 0, count = mlopt_st_count(st);
    bar *bars = calloc((size_t)count + 1, sizeof *bars);
    for (int i = 0; bars && i < count; i++) {
        mlopt_st_tensor t;
        if (mlopt_st_get(st, i, &t) != MLOPT_OK || strcmp(t.dtype, "F32") || t.ndim < 2 ||
            !ends_with(t.name, ".weight"))
            continue;
        size_t total = t.nbytes / sizeof(float), zeros = 0;
        for (size_t k = 0; k < total; k++) {
            float v;
            memcpy(&v, (const char *)t.data + k * sizeof v, sizeof v);
            zeros += v == 0.0f;
        }
        snprintf(bars[n].label, sizeof bars[n].label, "%.*s", (int)(strlen(t.name) - strlen(".weight")), t.name);
        bars[n].value = total ? 100.0 * (double)zeros / (double)total : 0;
        any |= bars[n].value >= 1.0; /* a dense float model has next to no exact zeros */
        n++;
    }
    mlopt_st_close(st);
    if (!any) {
        free(bars);
        return 0;
    }
    *out = bars;
    return n;
}

int report_sparsity_sections(FILE *f, const char *dir)
{
    struct dirent **names;
    int nn = scandir(dir, &names, is_checkpoint, alphasort), sections = 0;
    for (int k = 0; k < nn; k++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]->d_name);
        bar *bars;
        int n = checkpoint_sparsity(path, &bars);
        if (n > 0) {
            fprintf(f, "<h2>Per-layer sparsity: ");
            report_html_escape(f, names[k]->d_name);
            fprintf(f, "</h2>\n<p>Share of exactly-zero weights in each convolution and linear layer.</p>\n");
            bar_chart(f, "sparsity", bars, n, 100.0, "%.1f%%", "#2ca02c");
            sections++;
        }
        free(bars);
        free(names[k]);
    }
    if (nn >= 0)
        free(names);
    return sections;
}

static char *read_small_file(const char *path, size_t *len)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return NULL;
    char *buf = NULL;
    if (fseek(in, 0, SEEK_END) == 0) {
        long size = ftell(in);
        if (size > 0 && size < (16 << 20) && fseek(in, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1))) {
            *len = fread(buf, 1, (size_t)size, in);
            buf[*len] = 0;
        }
    }
    fclose(in);
    return buf;
}

static double json_number(const mlopt_json *obj, const char *key)
{
    const mlopt_json *v = mlopt_json_get(obj, key);
    return v && v->type == MLOPT_JSON_NUMBER ? strtod(v->text, NULL) : NAN;
}

static void quant_summary(FILE *f, const mlopt_json *q)
{
    const mlopt_json *mode = mlopt_json_get(q, "mode"), *obs = mlopt_json_get(q, "observer");
    fprintf(f, "<table>\n<tr><th></th><th>float32</th><th>int8 (");
    report_html_escape(f, mode && mode->text ? mode->text : "?");
    fprintf(f, ", observer ");
    report_html_escape(f, obs && obs->text ? obs->text : "?");
    fprintf(f, ")</th></tr>\n");
    static const char *rows[][3] = { { "size (bytes)", "float_bytes", "int8_bytes" },
                                     { "test accuracy (%)", "float_accuracy", "int8_accuracy" },
                                     { "latency, batch 1 (ms)", "float_latency_b1_ms", "int8_latency_b1_ms" },
                                     { "latency, batch 256 (ms)", "float_latency_b256_ms", "int8_latency_b256_ms" } };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        double scale = r == 1 ? 100 : 1;
        fprintf(f, "<tr><td>%s</td><td>%.4g</td><td>%.4g</td></tr>\n", rows[r][0], scale * json_number(q, rows[r][1]),
                scale * json_number(q, rows[r][2]));
    }
    fprintf(f, "</table>\n");
}

int report_quant_sections(FILE *f, const char *dir)
{
    struct dirent **names;
    int nn = scandir(dir, &names, is_json, alphasort), sections = 0;
    for (int k = 0; k < nn; k++) {
        char path[2048], err[96];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]->d_name);
        size_t len = 0;
        char *text = read_small_file(path, &len);
        mlopt_json *q = NULL;
        const mlopt_json *cmd = NULL, *layers = NULL;
        if (text && mlopt_json_parse(text, len, &q, err, sizeof err) == MLOPT_OK && q->type == MLOPT_JSON_OBJECT &&
            (cmd = mlopt_json_get(q, "command")) && cmd->text && strcmp(cmd->text, "quantize") == 0 &&
            (layers = mlopt_json_get(q, "layers")) && layers->type == MLOPT_JSON_ARRAY && layers->count > 0) {
            bar *bars = calloc(layers->count, sizeof *bars);
            int n = 0;
            for (size_t i = 0; bars && i < layers->count; i++) {
                const mlopt_json *l = &layers->items[i], *name = mlopt_json_get(l, "name");
                snprintf(bars[n].label, sizeof bars[n].label, "%s", name && name->text ? name->text : "?");
                bars[n++].value = json_number(l, "sqnr_db");
            }
            fprintf(f, "<h2>Quantization: ");
            report_html_escape(f, names[k]->d_name);
            fprintf(f, "</h2>\n");
            quant_summary(f, q);
            fprintf(f, "<p>Per-layer quantization error: signal-to-quantization-noise ratio of each layer's "
                       "output in dB (higher is better).</p>\n");
            if (bars)
                bar_chart(f, "sqnr", bars, n, 0, "%.1f dB", "#9467bd");
            free(bars);
            sections++;
        }
        mlopt_json_free(q);
        free(text);
        free(names[k]);
    }
    if (nn >= 0)
        free(names);
    return sections;
}
