/* Hyperparameter spaces: the text format and value <-> text conversion. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mlopt/search.h"

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

int mlopt_hp_space_find(const mlopt_hp_space *s, const char *name)
{
    for (int i = 0; i < s->ndims; i++)
        if (strcmp(s->dims[i].name, name) == 0)
            return i;
    return -1;
}

mlopt_status mlopt_hp_space_add(mlopt_hp_space *s, const char *line)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", line);
    char *tok[MLOPT_HP_MAX_CHOICES + 4];
    int n = 0;
    for (char *p = strtok(buf, " \t\r\n"); p && n < (int)(sizeof tok / sizeof tok[0]); p = strtok(NULL, " \t\r\n"))
        tok[n++] = p;
    if (n < 3)
        return mlopt_set_error(MLOPT_E_FORMAT, "'%s': expected NAME TYPE VALUES (e.g. `lr log 1e-4 1e-1`)", line);
    if (s->ndims >= MLOPT_HP_MAX_DIMS)
        return mlopt_set_error(MLOPT_E_INVALID, "more than %d dimensions", MLOPT_HP_MAX_DIMS);
    if (strlen(tok[0]) >= sizeof s->dims[0].name)
        return mlopt_set_error(MLOPT_E_FORMAT, "dimension name '%s' is too long", tok[0]);
    if (mlopt_hp_space_find(s, tok[0]) >= 0)
        return mlopt_set_error(MLOPT_E_FORMAT, "dimension '%s' given twice", tok[0]);
    mlopt_hp_dim d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", tok[0]);
    d.grid = 3;
    const char *type = tok[1];
    if (strcmp(type, "float") == 0 || strcmp(type, "log") == 0 || strcmp(type, "int") == 0) {
        d.type = type[0] == 'f' ? MLOPT_HP_FLOAT : type[0] == 'l' ? MLOPT_HP_LOG : MLOPT_HP_INT;
        if (n < 4 || !parse_double(tok[2], &d.lo) || !parse_double(tok[3], &d.hi) || d.lo > d.hi)
            return mlopt_set_error(MLOPT_E_FORMAT, "'%s': %s needs LO HI with LO <= HI", line, type);
        if (d.type == MLOPT_HP_LOG && d.lo <= 0)
            return mlopt_set_error(MLOPT_E_FORMAT, "'%s': log dimensions need LO > 0", line);
        if (d.type == MLOPT_HP_INT && (d.lo != floor(d.lo) || d.hi != floor(d.hi)))
            return mlopt_set_error(MLOPT_E_FORMAT, "'%s': int bounds must be integers", line);
        for (int i = 4; i < n; i++) {
            double g;
            if (strncmp(tok[i], "grid=", 5) != 0 || !parse_double(tok[i] + 5, &g) || g < 1 || g > 1000)
                return mlopt_set_error(MLOPT_E_FORMAT, "'%s': unknown option '%s' (grid=N)", line, tok[i]);
            d.grid = (int)g;
        }
    } else if (strcmp(type, "choice") == 0 || strcmp(type, "fixed") == 0) {
        d.type = MLOPT_HP_CHOICE;
        if (type[0] == 'f' && n != 3)
            return mlopt_set_error(MLOPT_E_FORMAT, "'%s': fixed takes one value", line);
        for (int i = 2; i < n; i++) {
            if (d.nchoices >= MLOPT_HP_MAX_CHOICES || strlen(tok[i]) >= sizeof d.choices[0])
                return mlopt_set_error(MLOPT_E_FORMAT, "'%s': too many or too long choices", line);
            snprintf(d.choices[d.nchoices++], sizeof d.choices[0], "%s", tok[i]);
        }
    } else {
        return mlopt_set_error(MLOPT_E_FORMAT, "'%s': unknown type '%s' (float, log, int, choice, fixed)", line, type);
    }
    s->dims[s->ndims++] = d;
    return MLOPT_OK;
}

mlopt_status mlopt_hp_space_parse(const char *text, const char *source, mlopt_hp_space *out)
{
    memset(out, 0, sizeof *out);
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        if (len >= sizeof line)
            return mlopt_set_error(MLOPT_E_FORMAT, "%s:%d: line too long", source, lineno + 1);
        memcpy(line, p, len);
        line[len] = 0;
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *q = line;
        while (isspace((unsigned char)*q))
            q++;
        if (*q) {
            mlopt_status s = mlopt_hp_space_add(out, q);
            if (s != MLOPT_OK)
                return mlopt_set_error(s, "%s:%d: %s", source, lineno, mlopt_last_error());
        }
        p += len + (e ? 1 : 0);
    }
    if (out->ndims == 0)
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: no dimensions", source);
    return MLOPT_OK;
}

void mlopt_hp_value_text(const mlopt_hp_space *s, const mlopt_hp_point *p, int i, char *buf, size_t len)
{
    const mlopt_hp_dim *d = &s->dims[i];
    switch (d->type) {
    case MLOPT_HP_CHOICE: {
        int c = (int)p->v[i];
        snprintf(buf, len, "%s", c >= 0 && c < d->nchoices ? d->choices[c] : "?");
        break;
    }
    case MLOPT_HP_INT: snprintf(buf, len, "%.0f", p->v[i]); break;
    default: snprintf(buf, len, "%.9g", p->v[i]); break;
    }
}

mlopt_status mlopt_hp_value_parse(const mlopt_hp_space *s, int i, const char *text, mlopt_hp_point *p)
{
    const mlopt_hp_dim *d = &s->dims[i];
    if (d->type == MLOPT_HP_CHOICE) {
        for (int c = 0; c < d->nchoices; c++)
            if (strcmp(d->choices[c], text) == 0) {
                p->v[i] = c;
                return MLOPT_OK;
            }
        return mlopt_set_error(MLOPT_E_NOT_FOUND, "%s: '%s' is not one of its choices", d->name, text);
    }
    double v;
    if (!parse_double(text, &v))
        return mlopt_set_error(MLOPT_E_FORMAT, "%s: '%s' is not a number", d->name, text);
    p->v[i] = v;
    return MLOPT_OK;
}
