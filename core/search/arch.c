/* Architecture spaces over the layer graph: sampling, mutation, specs and
 * a one-line text form. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mlopt/search.h"

void mlopt_arch_space_default(mlopt_arch_space *s)
{
    static const int cw[] = { 8, 16, 24, 32, 48, 64 };
    static const int ks[] = { 3, 5 };
    static const int lw[] = { 32, 64, 128, 256 };
    memset(s, 0, sizeof *s);
    s->min_conv = 1, s->max_conv = 3;
    s->nconv_widths = 6, memcpy(s->conv_widths, cw, sizeof cw);
    s->nkernels = 2, memcpy(s->kernels, ks, sizeof ks);
    s->min_linear = 0, s->max_linear = 2;
    s->nlinear_widths = 4, memcpy(s->linear_widths, lw, sizeof lw);
    s->nacts = 2;
    strcpy(s->acts[0], "relu");
    strcpy(s->acts[1], "gelu");
    s->batchnorm = 2;
    s->pad = 2;
}

static int read_ints(char *args, int *out, int max, int *n)
{
    *n = 0;
    for (char *t = strtok(args, " \t,"); t; t = strtok(NULL, " \t,")) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < 1 || v > 4096 || *n >= max)
            return 0;
        out[(*n)++] = (int)v;
    }
    return *n > 0;
}

static int tri_state(const char *v)
{
    if (strcmp(v, "off") == 0 || strcmp(v, "valid") == 0 || strcmp(v, "0") == 0)
        return 0;
    if (strcmp(v, "on") == 0 || strcmp(v, "same") == 0 || strcmp(v, "1") == 0)
        return 1;
    if (strcmp(v, "search") == 0)
        return 2;
    return -1;
}

mlopt_status mlopt_arch_space_parse(const char *text, const char *source, mlopt_arch_space *s)
{
    mlopt_arch_space_default(s);
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[512];
        lineno++;
        if (len >= sizeof line)
            return mlopt_set_error(MLOPT_E_FORMAT, "%s:%d: line too long", source, lineno);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (e ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *key = line;
        while (isspace((unsigned char)*key))
            key++;
        if (!*key)
            continue;
        char *args = key;
        while (*args && !isspace((unsigned char)*args) && *args != ':')
            args++;
        if (*args)
            *args++ = 0;
        while (*args == ':' || isspace((unsigned char)*args))
            args++;
        char *end = args + strlen(args);
        while (end > args && isspace((unsigned char)end[-1]))
            *--end = 0;
        int v[MLOPT_ARCH_MAX_CHOICES], n = 0, ok = 1;
        if (strcmp(key, "conv_stages") == 0) {
            ok = read_ints(args, v, 2, &n) && n == 2 && v[0] <= v[1] && v[1] <= MLOPT_ARCH_MAX_CONV;
            if (ok)
                s->min_conv = v[0], s->max_conv = v[1];
        } else if (strcmp(key, "linear_layers") == 0) {
            /* 0 is allowed here: read by hand */
            int a, b;
            ok = sscanf(args, "%d %d", &a, &b) == 2 && a >= 0 && a <= b && b <= MLOPT_ARCH_MAX_LINEAR;
            if (ok)
                s->min_linear = a, s->max_linear = b;
        } else if (strcmp(key, "conv_widths") == 0) {
            ok = read_ints(args, s->conv_widths, MLOPT_ARCH_MAX_CHOICES, &s->nconv_widths);
        } else if (strcmp(key, "kernels") == 0) {
            ok = read_ints(args, s->kernels, MLOPT_ARCH_MAX_CHOICES, &s->nkernels);
        } else if (strcmp(key, "linear_widths") == 0) {
            ok = read_ints(args, s->linear_widths, MLOPT_ARCH_MAX_CHOICES, &s->nlinear_widths);
        } else if (strcmp(key, "activations") == 0) {
            s->nacts = 0;
            for (char *t = strtok(args, " \t,"); t && ok; t = strtok(NULL, " \t,")) {
                int act;
                float al, be;
                ok = s->nacts < MLOPT_ARCH_MAX_CHOICES && strlen(t) < sizeof s->acts[0] &&
                     mlopt_act_parse(t, &act, &al, &be) == MLOPT_OK;
                if (ok)
                    snprintf(s->acts[s->nacts++], sizeof s->acts[0], "%s", t);
            }
            ok = ok && s->nacts > 0;
        } else if (strcmp(key, "batchnorm") == 0) {
            ok = (s->batchnorm = tri_state(args)) >= 0;
        } else if (strcmp(key, "pad") == 0) {
            ok = (s->pad = tri_state(args)) >= 0;
        } else {
            return mlopt_set_error(MLOPT_E_FORMAT,
                                   "%s:%d: unknown key '%s' (conv_stages, conv_widths, kernels, linear_layers, "
                                   "linear_widths, activations, batchnorm, pad)",
                                   source, lineno, key);
        }
        if (!ok)
            return mlopt_set_error(MLOPT_E_FORMAT, "%s:%d: bad values for '%s'", source, lineno, key);
    }
    return MLOPT_OK;
}

int mlopt_arch_valid(const mlopt_arch *a, int in_h, int in_w)
{
    if (a->conv_stages < 1 || a->conv_stages > MLOPT_ARCH_MAX_CONV || a->linear_layers < 0 ||
        a->linear_layers > MLOPT_ARCH_MAX_LINEAR)
        return 0;
    int h = in_h, w = in_w;
    for (int i = 0; i < a->conv_stages; i++) {
        int k = a->conv_kernel[i], p = a->pad ? k / 2 : 0;
        h = h + 2 * p - k + 1, w = w + 2 * p - k + 1;
        if (h < 2 || w < 2)
            return 0;
        h /= 2, w /= 2;
    }
    return 1;
}

static int pick(mlopt_rng64 *rng, const int *v, int n)
{
    return v[mlopt_rng64_below(rng, n)];
}

static int range(mlopt_rng64 *rng, int lo, int hi)
{
    return lo + mlopt_rng64_below(rng, hi - lo + 1);
}

static void random_conv(const mlopt_arch_space *s, mlopt_rng64 *rng, mlopt_arch *a, int i)
{
    a->conv_width[i] = pick(rng, s->conv_widths, s->nconv_widths);
    a->conv_kernel[i] = pick(rng, s->kernels, s->nkernels);
    a->conv_act[i] = mlopt_rng64_below(rng, s->nacts);
}

static void random_linear(const mlopt_arch_space *s, mlopt_rng64 *rng, mlopt_arch *a, int i)
{
    a->linear_width[i] = pick(rng, s->linear_widths, s->nlinear_widths);
    a->linear_act[i] = mlopt_rng64_below(rng, s->nacts);
}

void mlopt_arch_random(const mlopt_arch_space *s, mlopt_rng64 *rng, int in_h, int in_w, mlopt_arch *out)
{
    for (int tries = 0;; tries++) {
        memset(out, 0, sizeof *out);
        out->conv_stages = range(rng, s->min_conv, s->max_conv);
        for (int i = 0; i < out->conv_stages; i++)
            random_conv(s, rng, out, i);
        out->linear_layers = range(rng, s->min_linear, s->max_linear);
        for (int i = 0; i < out->linear_layers; i++)
            random_linear(s, rng, out, i);
        out->batchnorm = s->batchnorm == 2 ? mlopt_rng64_below(rng, 2) : s->batchnorm;
        out->pad = s->pad == 2 ? mlopt_rng64_below(rng, 2) : s->pad;
        if (mlopt_arch_valid(out, in_h, in_w))
            return;
        if (tries > 1000) { /* tiny inputs: fall back to one same-padded stage */
            out->conv_stages = 1;
            out->pad = 1;
            return;
        }
    }
}

void mlopt_arch_mutate(const mlopt_arch_space *s, mlopt_rng64 *rng, int in_h, int in_w, const mlopt_arch *parent,
                       mlopt_arch *out)
{
    for (int tries = 0; tries < 1000; tries++) {
        *out = *parent;
        int nconv = out->conv_stages, nlin = out->linear_layers;
        switch (mlopt_rng64_below(rng, 9)) {
        case 0: out->conv_width[mlopt_rng64_below(rng, nconv)] = pick(rng, s->conv_widths, s->nconv_widths); break;
        case 1: out->conv_kernel[mlopt_rng64_below(rng, nconv)] = pick(rng, s->kernels, s->nkernels); break;
        case 2: {
            int layers = nconv + nlin, k = mlopt_rng64_below(rng, layers);
            if (k < nconv)
                out->conv_act[k] = mlopt_rng64_below(rng, s->nacts);
            else
                out->linear_act[k - nconv] = mlopt_rng64_below(rng, s->nacts);
            break;
        }
        case 3: /* add a conv stage at a random position */
            if (nconv < s->max_conv) {
                int at = mlopt_rng64_below(rng, nconv + 1);
                for (int i = nconv; i > at; i--) {
                    out->conv_width[i] = out->conv_width[i - 1];
                    out->conv_kernel[i] = out->conv_kernel[i - 1];
                    out->conv_act[i] = out->conv_act[i - 1];
                }
                random_conv(s, rng, out, at);
                out->conv_stages++;
            }
            break;
        case 4: /* remove a conv stage */
            if (nconv > s->min_conv) {
                int at = mlopt_rng64_below(rng, nconv);
                for (int i = at; i + 1 < nconv; i++) {
                    out->conv_width[i] = out->conv_width[i + 1];
                    out->conv_kernel[i] = out->conv_kernel[i + 1];
                    out->conv_act[i] = out->conv_act[i + 1];
                }
                out->conv_stages--;
                out->conv_width[out->conv_stages] = out->conv_kernel[out->conv_stages] = 0;
                out->conv_act[out->conv_stages] = 0;
            }
            break;
        case 5:
            if (nlin > 0)
                out->linear_width[mlopt_rng64_below(rng, nlin)] = pick(rng, s->linear_widths, s->nlinear_widths);
            break;
        case 6: /* add or remove a linear layer */
            if (mlopt_rng64_below(rng, 2) && nlin < s->max_linear) {
                int at = mlopt_rng64_below(rng, nlin + 1);
                for (int i = nlin; i > at; i--) {
                    out->linear_width[i] = out->linear_width[i - 1];
                    out->linear_act[i] = out->linear_act[i - 1];
                }
                random_linear(s, rng, out, at);
                out->linear_layers++;
            } else if (nlin > s->min_linear) {
                int at = mlopt_rng64_below(rng, nlin);
                for (int i = at; i + 1 < nlin; i++) {
                    out->linear_width[i] = out->linear_width[i + 1];
                    out->linear_act[i] = out->linear_act[i + 1];
                }
                out->linear_layers--;
                out->linear_width[out->linear_layers] = out->linear_act[out->linear_layers] = 0;
            }
            break;
        case 7:
            if (s->batchnorm == 2)
                out->batchnorm = !out->batchnorm;
            break;
        case 8:
            if (s->pad == 2)
                out->pad = !out->pad;
            break;
        }
        if (memcmp(out, parent, sizeof *out) != 0 && mlopt_arch_valid(out, in_h, in_w))
            return;
    }
    *out = *parent; /* a space with a single point: nothing to mutate */
}

mlopt_status mlopt_arch_to_specs(const mlopt_arch_space *s, const mlopt_arch *a, int classes,
                                 mlopt_layer_spec **specs, int *count)
{
    int max = a->conv_stages * 4 + a->linear_layers * 3 + 2;
    mlopt_layer_spec *l = calloc((size_t)max, sizeof *l);
    if (!l)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    int n = 0;
    mlopt_status st = MLOPT_OK;
    for (int i = 0; i < a->conv_stages && st == MLOPT_OK; i++) {
        l[n].kind = MLOPT_LAYER_CONV2D;
        l[n].out = a->conv_width[i];
        l[n].kernel = a->conv_kernel[i];
        l[n++].pad = a->pad ? a->conv_kernel[i] / 2 : 0;
        if (a->batchnorm)
            l[n++].kind = MLOPT_LAYER_BATCHNORM;
        l[n].kind = MLOPT_LAYER_ACTIVATION;
        st = mlopt_act_parse(s->acts[a->conv_act[i] % s->nacts], &l[n].act, &l[n].alpha, &l[n].beta);
        n++;
        l[n].kind = MLOPT_LAYER_MAXPOOL2D;
        l[n++].kernel = 2;
    }
    l[n++].kind = MLOPT_LAYER_FLATTEN;
    for (int i = 0; i < a->linear_layers && st == MLOPT_OK; i++) {
        l[n].kind = MLOPT_LAYER_LINEAR;
        l[n++].out = a->linear_width[i];
        if (a->batchnorm)
            l[n++].kind = MLOPT_LAYER_BATCHNORM;
        l[n].kind = MLOPT_LAYER_ACTIVATION;
        st = mlopt_act_parse(s->acts[a->linear_act[i] % s->nacts], &l[n].act, &l[n].alpha, &l[n].beta);
        n++;
    }
    l[n].kind = MLOPT_LAYER_LINEAR;
    l[n++].out = classes;
    if (st != MLOPT_OK) {
        free(l);
        return st;
    }
    *specs = l;
    *count = n;
    return MLOPT_OK;
}

void mlopt_arch_format(const mlopt_arch_space *s, const mlopt_arch *a, char *buf, size_t len)
{
    size_t u = 0;
#define PUT(...)                                                                       \
    do {                                                                               \
        int w_ = snprintf(buf + u, u < len ? len - u : 0, __VA_ARGS__);                \
        if (w_ > 0)                                                                    \
            u += (size_t)w_;                                                           \
    } while (0)
    PUT("conv=");
    for (int i = 0; i < a->conv_stages; i++)
        PUT("%s%dx%d:%s", i ? "," : "", a->conv_width[i], a->conv_kernel[i], s->acts[a->conv_act[i] % s->nacts]);
    PUT(";linear=");
    for (int i = 0; i < a->linear_layers; i++)
        PUT("%s%d:%s", i ? "," : "", a->linear_width[i], s->acts[a->linear_act[i] % s->nacts]);
    PUT(";bn=%d;pad=%s", a->batchnorm, a->pad ? "same" : "valid");
#undef PUT
}

static int act_index(const mlopt_arch_space *s, const char *name)
{
    for (int i = 0; i < s->nacts; i++)
        if (strcmp(s->acts[i], name) == 0)
            return i;
    return -1;
}

mlopt_status mlopt_arch_parse(const mlopt_arch_space *s, const char *text, mlopt_arch *out)
{
    memset(out, 0, sizeof *out);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(part, '=');
        if (!eq)
            goto bad;
        *eq = 0;
        char *val = eq + 1, *save2 = NULL;
        if (strcmp(part, "conv") == 0 || strcmp(part, "linear") == 0) {
            int conv = part[0] == 'c';
            for (char *item = strtok_r(val, ",", &save2); item; item = strtok_r(NULL, ",", &save2)) {
                int w, k = 0, used = 0, ai;
                char act[32];
                if (conv ? sscanf(item, "%dx%d:%31s%n", &w, &k, act, &used) != 3
                         : sscanf(item, "%d:%31s%n", &w, act, &used) != 2)
                    goto bad;
                if ((ai = act_index(s, act)) < 0)
                    goto bad;
                if (conv) {
                    if (out->conv_stages >= MLOPT_ARCH_MAX_CONV)
                        goto bad;
                    out->conv_width[out->conv_stages] = w;
                    out->conv_kernel[out->conv_stages] = k;
                    out->conv_act[out->conv_stages++] = ai;
                } else {
                    if (out->linear_layers >= MLOPT_ARCH_MAX_LINEAR)
                        goto bad;
                    out->linear_width[out->linear_layers] = w;
                    out->linear_act[out->linear_layers++] = ai;
                }
            }
        } else if (strcmp(part, "bn") == 0) {
            out->batchnorm = atoi(val) != 0;
        } else if (strcmp(part, "pad") == 0) {
            out->pad = strcmp(val, "same") == 0;
        } else {
            goto bad;
        }
    }
    if (out->conv_stages < 1)
        goto bad;
    return MLOPT_OK;
bad:
    return mlopt_set_error(MLOPT_E_FORMAT,
                           "architecture '%s': expected conv=WxK:ACT,...;linear=W:ACT,...;bn=0|1;pad=valid|same "
                           "with activations from the space",
                           text);
}
