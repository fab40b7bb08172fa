/* The training conformance level a backend earned, and its cache file
 * ($XDG_CACHE_HOME/mlopt/conformance-BACKEND.json) that `mlopt backends`
 * reads back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "conf_internal.h"
#include "error.h"

static const char *const level_names[] = { "none (a forward slot fails)", "forward-only", "forward+backward", "full training step" };

const char *mlopt_conf_level_name(int level)
{
    return level >= 0 && level <= MLOPT_CONF_LEVEL_TRAINING ? level_names[level] : "?";
}

int mlopt_conformance_level(const mlopt_conf_result *kernels, int nkernels, const mlopt_conf_result *grads,
                            int ngrads)
{
    int level = MLOPT_CONF_LEVEL_TRAINING;
    /* A level needs every slot it uses to pass: a NULL slot blocks it too. */
    for (int i = 0; i < nkernels; i++) {
        if (kernels[i].outcome == MLOPT_CONF_PASS)
            continue;
        for (int k = 0; k < mlopt_conformance_kernel_count(); k++) {
            const conf_kernel_check *c = conf_kernel_check_at(k);
            if (strcmp(c->name, kernels[i].name) == 0 && c->level > 0 && c->level - 1 < level)
                level = c->level - 1;
        }
    }
    if (nkernels < mlopt_conformance_kernel_count() && level > MLOPT_CONF_LEVEL_NONE)
        level = MLOPT_CONF_LEVEL_NONE; /* not every slot was checked */
    if (ngrads < mlopt_conformance_grad_count() && level > MLOPT_CONF_LEVEL_FORWARD)
        level = MLOPT_CONF_LEVEL_FORWARD;
    for (int i = 0; i < ngrads; i++) {
        if (grads[i].outcome == MLOPT_CONF_PASS)
            continue;
        int cap = strcmp(grads[i].op, "training") == 0 ? MLOPT_CONF_LEVEL_BACKWARD : MLOPT_CONF_LEVEL_FORWARD;
        if (cap < level)
            level = cap;
    }
    return level;
}

mlopt_status mlopt_conformance_cache_path(const char *backend, char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg && xdg[0])
        w = snprintf(buf, len, "%s/mlopt/conformance-%s.json", xdg, backend);
    else if (home && home[0])
        w = snprintf(buf, len, "%s/.cache/mlopt/conformance-%s.json", home, backend);
    else
        return mlopt_set_error(MLOPT_E_NOT_FOUND,
                               "conformance cache: neither XDG_CACHE_HOME nor HOME is set; set one of them");
    if (w < 0 || (size_t)w >= len)
        return mlopt_set_error(MLOPT_E_INVALID, "conformance cache: path too long");
    return MLOPT_OK;
}

static void json_escape(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

mlopt_status mlopt_conformance_cache_write(const char *backend, const char *device, int level, const char *summary)
{
    char path[1024];
    mlopt_status s = mlopt_conformance_cache_path(backend, path, sizeof path);
    if (s != MLOPT_OK)
        return s;
    if (make_parent_dirs(path))
        return mlopt_set_error(MLOPT_E_IO, "conformance cache: cannot create the directory of %s: %s", path,
                               strerror(errno));
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return mlopt_set_error(MLOPT_E_IO, "conformance cache: cannot write %s: %s", tmp, strerror(errno));
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "{\"backend\": ");
    json_escape(f, backend);
    fprintf(f, ", \"device\": ");
    json_escape(f, device ? device : "");
    fprintf(f, ", \"level\": %d, \"level_name\": ", level);
    json_escape(f, mlopt_conf_level_name(level));
    fprintf(f, ", \"when\": \"%s\", \"mlopt_version\": \"%s\", \"summary\": ", when, mlopt_version());
    json_escape(f, summary ? summary : "");
    fprintf(f, "}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return mlopt_set_error(MLOPT_E_IO, "conformance cache: cannot write %s: %s", path, strerror(errno));
    }
    return MLOPT_OK;
}

/* The string value of "key": "..." in text (no escapes expected). */
static void string_field(const char *text, const char *key, char *buf, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(text, pat);
    if (len)
        buf[0] = '\0';
    if (!p || !len)
        return;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '"' && i + 1 < len) {
        buf[i] = p[i];
        i++;
    }
    buf[i] = '\0';
}

mlopt_status mlopt_conformance_cache_read(const char *backend, int *level, char *device, size_t devlen, char *when,
                                          size_t whenlen)
{
    char path[1024];
    mlopt_status s = mlopt_conformance_cache_path(backend, path, sizeof path);
    if (s != MLOPT_OK)
        return s;
    FILE *f = fopen(path, "r");
    if (!f)
        return mlopt_set_error(MLOPT_E_NOT_FOUND, "no conformance result for %s (run `mlopt conformance --backend=%s`)",
                               backend, backend);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strstr(text, "\"level\": ");
    if (!p)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: no \"level\" field", path);
    *level = atoi(p + strlen("\"level\": "));
    if (device)
        string_field(text, "device", device, devlen);
    if (when)
        string_field(text, "when", when, whenlen);
    return MLOPT_OK;
}
