#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cli_option *args_find(const cli_option *opts, const char *name)
{
    for (const cli_option *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int set_value(const char *cmd, cli_option *o, const char *v)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno || x < o->min_int || x > 2000000000L) {
            fprintf(stderr, "mlopt %s: --%s expects an integer >= %d, got '%s'\n", cmd, o->name, o->min_int, v);
            return 2;
        }
        *(int *)o->value = (int)x;
        break;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x)) {
            fprintf(stderr, "mlopt %s: --%s expects a number, got '%s'\n", cmd, o->name, v);
            return 2;
        }
        *(float *)o->value = (float)x;
        break;
    }
    case OPT_STRING:
        if (!*v) {
            fprintf(stderr, "mlopt %s: --%s expects a value\n", cmd, o->name);
            return 2;
        }
        *(const char **)o->value = v;
        break;
    case OPT_FLAG:
        if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
            *(int *)o->value = 1;
        else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
            *(int *)o->value = 0;
        else {
            fprintf(stderr, "mlopt %s: --%s is a flag; use --%s or --%s=0/1\n", cmd, o->name, o->name, o->name);
            return 2;
        }
        break;
    }
    o->seen = 1;
    return 0;
}

int args_parse(const char *cmd, int argc, char **argv, cli_option *opts, const char **positional, int max_pos,
               int *npos)
{
    *npos = 0;
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (*npos >= max_pos) {
                fprintf(stderr, "mlopt %s: unexpected argument '%s' (see mlopt %s --help)\n", cmd, a, cmd);
                return 2;
            }
            positional[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = 1;
            continue;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        char key[64];
        const char *eq = strchr(name, '=');
        size_t kl = eq ? (size_t)(eq - name) : strlen(name);
        if (kl >= sizeof key)
            kl = sizeof key - 1;
        memcpy(key, name, kl);
        key[kl] = '\0';
        cli_option *o = (cli_option *)args_find(opts, key);
        if (!o && strcmp(key, "h") == 0)
            o = (cli_option *)args_find(opts, "help");
        if (!o) {
            fprintf(stderr, "mlopt %s: unknown option '%s' (see mlopt %s --help)\n", cmd, a, cmd);
            return 2;
        }
        if (o->type == OPT_FLAG && !eq) {
            *(int *)o->value = 1;
            o->seen = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mlopt %s: --%s needs a value (%s)\n", cmd, o->name, o->meta ? o->meta : "value");
                return 2;
            }
            v = argv[++i];
        }
        if (set_value(cmd, o, v))
            return 2;
    }
    return 0;
}

void args_help(const char *usage, const char *description, const cli_option *opts)
{
    printf("usage: %s\n\n%s\n\noptions:\n", usage, description);
    for (const cli_option *o = opts; o->name; o++) {
        char left[64];
        if (o->type == OPT_FLAG)
            snprintf(left, sizeof left, "--%s", o->name);
        else
            snprintf(left, sizeof left, "--%s=%s", o->name, o->meta ? o->meta : "V");
        printf("  %-26s %s\n", left, o->help);
    }
}
