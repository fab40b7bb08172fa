/* The text model-spec format, presets, and activation names. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

static const struct {
    const char *name;
    int act;
    float alpha, beta; /* defaults */
} act_table[] = {
    { "identity", MLOPT_ACT_IDENTITY, 0, 0 },   { "relu", MLOPT_ACT_RELU, 0, 0 },
    { "leaky_relu", MLOPT_ACT_LEAKY_RELU, 0.01f, 0 }, { "elu", MLOPT_ACT_ELU, 1.0f, 0 },
    { "gelu", MLOPT_ACT_GELU, 0, 0 },           { "silu", MLOPT_ACT_SILU, 0, 0 },
    { "tanh", MLOPT_ACT_TANH, 0, 0 },           { "sigmoid", MLOPT_ACT_SIGMOID, 0, 0 },
    { "hard_sigmoid", MLOPT_ACT_HARD_SIGMOID, 0.2f, 0.5f }, { "hard_swish", MLOPT_ACT_HARD_SWISH, 0, 0 },
};
#define N_ACTS ((int)(sizeof act_table / sizeof act_table[0]))

const char *mlopt_act_name(int act)
{
    for (int i = 0; i < N_ACTS; i++)
        if (act_table[i].act == act)
            return act_table[i].name;
    return "unknown";
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (end == s || *end || errno)
        return 0;
    *out = v;
    return 1;
}

static void act_names(char *buf, size_t len)
{
    size_t used = 0;
    for (int i = 0; i < N_ACTS && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", act_table[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

mlopt_status mlopt_act_parse(const char *text, int *act, float *alpha, float *beta)
{
    char name[64];
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len >= sizeof name)
        len = sizeof name - 1;
    memcpy(name, text, len);
    name[len] = '\0';
    for (char *p = name; *p; p++)
        *p = *p == '-' ? '_' : (char)tolower((unsigned char)*p);
    if (strcmp(name, "leakyrelu") == 0)
        strcpy(name, "leaky_relu");
    if (strcmp(name, "swish") == 0)
        strcpy(name, "silu");
    for (int i = 0; i < N_ACTS; i++) {
        if (strcmp(act_table[i].name, name) != 0)
            continue;
        *act = act_table[i].act;
        *alpha = act_table[i].alpha;
        *beta = act_table[i].beta;
        if (colon && !parse_float(colon + 1, alpha))
            return mlopt_set_error(MLOPT_E_INVALID, "activation '%s': parameter '%s' is not a number", text, colon + 1);
        return MLOPT_OK;
    }
    char names[256];
    act_names(names, sizeof names);
    return mlopt_set_error(MLOPT_E_NOT_FOUND, "unknown activation '%s' (known: %s)", text, names);
}

/* ---- parsing ---- */

typedef struct spec_list {
    mlopt_layer_spec *v;
    int n, cap;
} spec_list;

static mlopt_status push(spec_list *l, const mlopt_layer_spec *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        mlopt_layer_spec *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *s;
    return MLOPT_OK;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < -1000000 || v > 100000000)
        return 0;
    *out = (int)v;
    return 1;
}

#define SPEC_ERR(...) mlopt_set_error(MLOPT_E_FORMAT, __VA_ARGS__)

/* key=value options allowed per kind */
static mlopt_status parse_option(mlopt_layer_spec *s, const char *tok, const char *src, int line)
{
    const char *eq = strchr(tok, '=');
    if (!eq)
        return SPEC_ERR("%s:%d: expected key=value, got '%s'", src, line, tok);
    char key[32];
    size_t kl = (size_t)(eq - tok);
    if (kl >= sizeof key)
        kl = sizeof key - 1;
    memcpy(key, tok, kl);
    key[kl] = '\0';
    const char *val = eq + 1;
    int is_conv = s->kind == MLOPT_LAYER_CONV2D;
    int is_pool = s->kind == MLOPT_LAYER_MAXPOOL2D || s->kind == MLOPT_LAYER_AVGPOOL2D;
    int *ip = NULL;
    if (strcmp(key, "name") == 0) {
        if (!*val || strlen(val) >= sizeof s->name)
            return SPEC_ERR("%s:%d: expected a name of 1..%zu characters", src, line, sizeof s->name - 1);
        snprintf(s->name, sizeof s->name, "%s", val);
        return MLOPT_OK;
    }
    if ((strcmp(key, "k") == 0 || strcmp(key, "kernel") == 0) && (is_conv || is_pool)) ip = &s->kernel;
    else if ((strcmp(key, "s") == 0 || strcmp(key, "stride") == 0) && (is_conv || is_pool)) ip = &s->stride;
    else if ((strcmp(key, "p") == 0 || strcmp(key, "pad") == 0) && (is_conv || is_pool)) ip = &s->pad;
    else if ((strcmp(key, "d") == 0 || strcmp(key, "dilation") == 0) && is_conv) ip = &s->dilation;
    else if ((strcmp(key, "g") == 0 || strcmp(key, "groups") == 0) && is_conv) ip = &s->groups;
    else if (strcmp(key, "bias") == 0 && (is_conv || s->kind == MLOPT_LAYER_LINEAR)) {
        int b;
        if (!parse_int(val, &b) || (b != 0 && b != 1))
            return SPEC_ERR("%s:%d: expected bias=0 or bias=1", src, line);
        s->no_bias = !b;
        return MLOPT_OK;
    } else if (strcmp(key, "eps") == 0 && s->kind == MLOPT_LAYER_BATCHNORM) {
        if (!parse_float(val, &s->alpha) || !(s->alpha > 0))
            return SPEC_ERR("%s:%d: expected eps=<positive number>", src, line);
        return MLOPT_OK;
    } else if (strcmp(key, "momentum") == 0 && s->kind == MLOPT_LAYER_BATCHNORM) {
        if (!parse_float(val, &s->beta) || !(s->beta > 0 && s->beta <= 1))
            return SPEC_ERR("%s:%d: expected momentum=<number in (0,1]>", src, line);
        return MLOPT_OK;
    }
    if (!ip)
        return SPEC_ERR("%s:%d: unknown option '%s' for this layer", src, line, key);
    if (!parse_int(val, ip) || *ip < 0 || (ip != &s->pad && *ip == 0))
        return SPEC_ERR("%s:%d: expected %s=<%s integer>, got '%s'", src, line, key,
                        ip == &s->pad ? "non-negative" : "positive", val);
    return MLOPT_OK;
}

static mlopt_status parse_line(char *line_text, const char *src, int line, spec_list *out)
{
    char *tok[16];
    int nt = 0;
    for (char *save = NULL, *p = strtok_r(line_text, " \t\r", &save); p && nt < 16; p = strtok_r(NULL, " \t\r", &save))
        tok[nt++] = p;
    if (nt == 0)
        return MLOPT_OK;
    mlopt_layer_spec s;
    memset(&s, 0, sizeof s);
    int first_opt = 1;
    const char *kw = tok[0];
    if (strcmp(kw, "conv") == 0 || strcmp(kw, "conv2d") == 0) {
        s.kind = MLOPT_LAYER_CONV2D;
        if (nt < 2 || !parse_int(tok[1], &s.out) || s.out <= 0)
            return SPEC_ERR("%s:%d: expected `conv <out channels> k=<kernel>`", src, line);
        first_opt = 2;
    } else if (strcmp(kw, "maxpool") == 0 || strcmp(kw, "avgpool") == 0) {
        s.kind = kw[0] == 'm' ? MLOPT_LAYER_MAXPOOL2D : MLOPT_LAYER_AVGPOOL2D;
        if (nt < 2 || !parse_int(tok[1], &s.kernel) || s.kernel <= 0)
            return SPEC_ERR("%s:%d: expected `%s <kernel size>`", src, line, kw);
        first_opt = 2;
    } else if (strcmp(kw, "linear") == 0 || strcmp(kw, "fc") == 0) {
        s.kind = MLOPT_LAYER_LINEAR;
        if (nt < 2 || !parse_int(tok[1], &s.out) || s.out <= 0)
            return SPEC_ERR("%s:%d: expected `linear <out features>`", src, line);
        first_opt = 2;
    } else if (strcmp(kw, "flatten") == 0) {
        s.kind = MLOPT_LAYER_FLATTEN;
    } else if (strcmp(kw, "batchnorm") == 0 || strcmp(kw, "bn") == 0) {
        s.kind = MLOPT_LAYER_BATCHNORM;
    } else if (strcmp(kw, "dropout") == 0) {
        s.kind = MLOPT_LAYER_DROPOUT;
        if (nt < 2 || !parse_float(tok[1], &s.alpha) || !(s.alpha >= 0 && s.alpha < 1))
            return SPEC_ERR("%s:%d: expected `dropout <probability in [0,1)>`", src, line);
        first_opt = 2;
    } else if (strcmp(kw, "act") == 0 || strcmp(kw, "activation") == 0) {
        s.kind = MLOPT_LAYER_ACTIVATION;
        if (nt < 2)
            return SPEC_ERR("%s:%d: expected `act <name> [param]`", src, line);
        if (mlopt_act_parse(tok[1], &s.act, &s.alpha, &s.beta) != MLOPT_OK)
            return SPEC_ERR("%s:%d: %s", src, line, mlopt_last_error());
        first_opt = 2;
        if (nt >= 3 && !strchr(tok[2], '=')) {
            if (!parse_float(tok[2], &s.alpha))
                return SPEC_ERR("%s:%d: expected a number for the activation parameter, got '%s'", src, line, tok[2]);
            first_opt = 3;
            /* hard_sigmoid takes a second parameter: beta (the offset). */
            if (nt >= 4 && !strchr(tok[3], '=')) {
                if (s.act != MLOPT_ACT_HARD_SIGMOID || !parse_float(tok[3], &s.beta))
                    return SPEC_ERR("%s:%d: expected key=value or (hard_sigmoid only) a second number, got '%s'",
                                    src, line, tok[3]);
                first_opt = 4;
            }
        }
    } else {
        int a;
        float al, be;
        if (mlopt_act_parse(kw, &a, &al, &be) == MLOPT_OK) { /* bare activation name */
            s.kind = MLOPT_LAYER_ACTIVATION;
            s.act = a;
            s.alpha = al;
            s.beta = be;
        } else {
            return SPEC_ERR("%s:%d: expected a layer (conv, maxpool, avgpool, linear, flatten, batchnorm, "
                            "dropout, act), got '%s'", src, line, kw);
        }
    }
    for (int i = first_opt; i < nt; i++)
        TRY(parse_option(&s, tok[i], src, line));
    if (s.kind == MLOPT_LAYER_CONV2D && s.kernel == 0)
        return SPEC_ERR("%s:%d: expected k=<kernel size> for conv", src, line);
    return push(out, &s);
}

mlopt_status mlopt_spec_parse(const char *text, const char *source, mlopt_layer_spec **layers, int *count)
{
    *layers = NULL;
    *count = 0;
    const char *src = source ? source : "<spec>";
    spec_list out = { 0 };
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char buf[1024];
        if (len >= sizeof buf) {
            free(out.v);
            return SPEC_ERR("%s:%d: line too long", src, line);
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        mlopt_status s = parse_line(buf, src, line, &out);
        if (s != MLOPT_OK) {
            free(out.v);
            return s;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    if (out.n == 0) {
        free(out.v);
        return SPEC_ERR("%s: expected at least one layer", src);
    }
    *layers = out.v;
    *count = out.n;
    return MLOPT_OK;
}

/* ---- presets ---- */

static const char seed_cnn[] = "conv 32 k=3\nact relu\nmaxpool 2\n"
                               "conv 64 k=3\nact relu\nmaxpool 2\n"
                               "flatten\nlinear 128\nact relu\n";
static const char seed_cnn_bn[] = "conv 32 k=3\nbatchnorm\nact relu\nmaxpool 2\n"
                                  "conv 64 k=3\nbatchnorm\nact relu\nmaxpool 2\n"
                                  "flatten\nlinear 128\nbatchnorm\nact relu\n";

mlopt_status mlopt_spec_preset(const char *name, mlopt_layer_spec **layers, int *count)
{
    const char *body = NULL;
    int extra = 0;
    if (strcmp(name, "seed-cnn") == 0)
        body = seed_cnn;
    else if (strcmp(name, "seed-cnn-bn") == 0)
        body = seed_cnn_bn;
    else if (strncmp(name, "seed-cnn-deep:", 14) == 0) {
        if (!parse_int(name + 14, &extra) || extra < 0 || extra > 64)
            return mlopt_set_error(MLOPT_E_INVALID, "preset '%s': expected seed-cnn-deep:N with N in 0..64", name);
        body = seed_cnn;
    } else if (strcmp(name, "seed-cnn-deep") == 0)
        return mlopt_set_error(MLOPT_E_INVALID, "preset seed-cnn-deep needs a block count, e.g. seed-cnn-deep:4");
    if (!body)
        return mlopt_set_error(MLOPT_E_NOT_FOUND,
                               "unknown model '%s': not a preset (seed-cnn, seed-cnn-deep:N, seed-cnn-bn) "
                               "and not a spec file", name);
    char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "%s", body);
    for (int i = 0; i < extra && used < sizeof text; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "linear 128\nact relu\n");
    if (used < sizeof text)
        snprintf(text + used, sizeof text - used, "linear 10\n");
    return mlopt_spec_parse(text, name, layers, count);
}

mlopt_status mlopt_spec_load(const char *name_or_path, mlopt_layer_spec **layers, int *count)
{
    FILE *f = fopen(name_or_path, "rb");
    if (!f) {
        if (strchr(name_or_path, '/') || strstr(name_or_path, ".txt") || strstr(name_or_path, ".spec"))
            return mlopt_set_error(MLOPT_E_IO, "cannot open model spec %s: %s", name_or_path, strerror(errno));
        return mlopt_spec_preset(name_or_path, layers, count);
    }
    char *buf = malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    int too_big = !feof(f);
    fclose(f);
    buf[n] = '\0';
    if (too_big || memchr(buf, '\0', n)) {
        free(buf);
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: not a text model spec (binary or over 1 MB)", name_or_path);
    }
    mlopt_status s = mlopt_spec_parse(buf, name_or_path, layers, count);
    free(buf);
    return s;
}

mlopt_status mlopt_spec_set_activation(mlopt_layer_spec *layers, int count, const char *act)
{
    int a;
    float alpha, beta;
    TRY(mlopt_act_parse(act, &a, &alpha, &beta));
    for (int i = 0; i < count; i++)
        if (layers[i].kind == MLOPT_LAYER_ACTIVATION) {
            layers[i].act = a;
            layers[i].alpha = alpha;
            layers[i].beta = beta;
        }
    return MLOPT_OK;
}

mlopt_status mlopt_spec_format(const mlopt_layer_spec *layers, int count, char **text)
{
    size_t cap = (size_t)count * 128 + 1;
    char *buf = malloc(cap);
    if (!buf)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    size_t u = 0;
    buf[0] = '\0';
#define OUT(...) u += (size_t)snprintf(buf + u, cap - u, __VA_ARGS__)
    for (int i = 0; i < count; i++) {
        const mlopt_layer_spec *s = &layers[i];
        switch (s->kind) {
        case MLOPT_LAYER_CONV2D:
            OUT("conv %d k=%d", s->out, s->kernel);
            if (s->stride > 1) OUT(" s=%d", s->stride);
            if (s->pad) OUT(" p=%d", s->pad);
            if (s->dilation > 1) OUT(" d=%d", s->dilation);
            if (s->groups > 1) OUT(" g=%d", s->groups);
            if (s->no_bias) OUT(" bias=0");
            break;
        case MLOPT_LAYER_MAXPOOL2D:
        case MLOPT_LAYER_AVGPOOL2D:
            OUT("%s %d", s->kind == MLOPT_LAYER_MAXPOOL2D ? "maxpool" : "avgpool", s->kernel);
            if (s->stride && s->stride != s->kernel) OUT(" s=%d", s->stride);
            if (s->pad) OUT(" p=%d", s->pad);
            break;
        case MLOPT_LAYER_LINEAR:
            OUT("linear %d", s->out);
            if (s->no_bias) OUT(" bias=0");
            break;
        case MLOPT_LAYER_FLATTEN: OUT("flatten"); break;
        case MLOPT_LAYER_BATCHNORM:
            OUT("batchnorm");
            if (s->alpha) OUT(" eps=%.9g", (double)s->alpha);
            if (s->beta) OUT(" momentum=%.9g", (double)s->beta);
            break;
        case MLOPT_LAYER_DROPOUT: OUT("dropout %.9g", (double)s->alpha); break;
        case MLOPT_LAYER_ACTIVATION:
            OUT("act %s", mlopt_act_name(s->act));
            if (s->act == MLOPT_ACT_LEAKY_RELU || s->act == MLOPT_ACT_ELU)
                OUT(" %.9g", (double)s->alpha);
            else if (s->act == MLOPT_ACT_HARD_SIGMOID)
                OUT(" %.9g %.9g", (double)s->alpha, (double)s->beta);
            break;
        case MLOPT_LAYER_KIND_COUNT_: break;
        }
        if (s->name[0]) OUT(" name=%s", s->name);
        OUT("\n");
    }
#undef OUT
    *text = buf;
    return MLOPT_OK;
}

mlopt_status mlopt_model_from_specs(mlopt_context *ctx, int in_c, int in_h, int in_w,
                                    const mlopt_layer_spec *layers, int count, uint64_t seed, mlopt_model **out)
{
    *out = NULL; /* like every other constructor: callers may destroy *out on failure */
    mlopt_model *m;
    TRY(mlopt_model_create(ctx, in_c, in_h, in_w, &m));
    for (int i = 0; i < count; i++) {
        mlopt_status s = mlopt_model_add(m, &layers[i]);
        if (s != MLOPT_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", mlopt_last_error());
            mlopt_model_destroy(m);
            return mlopt_set_error(s, "layer %d: %s", i + 1, msg);
        }
    }
    mlopt_status s = mlopt_model_init(m, seed);
    if (s != MLOPT_OK) {
        mlopt_model_destroy(m);
        return s;
    }
    *out = m;
    return MLOPT_OK;
}
