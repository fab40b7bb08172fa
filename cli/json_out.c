#include "json_out.h"

#include <math.h>

void json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void key(json_out *j, const char *k)
{
    fputs(j->fields++ ? ", " : "", j->f);
    json_write_string(j->f, k);
    fputs(": ", j->f);
}

void json_begin(json_out *j, FILE *f)
{
    j->f = f;
    j->fields = 0;
    fputc('{', f);
}

void json_str(json_out *j, const char *k, const char *v)
{
    key(j, k);
    json_write_string(j->f, v);
}

void json_num(json_out *j, const char *k, double v)
{
    key(j, k);
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f);
}

void json_int(json_out *j, const char *k, long long v)
{
    key(j, k);
    fprintf(j->f, "%lld", v);
}

void json_bool(json_out *j, const char *k, int v)
{
    key(j, k);
    fputs(v ? "true" : "false", j->f);
}

void json_raw(json_out *j, const char *k, const char *json)
{
    key(j, k);
    fputs(json, j->f);
}

void json_end(json_out *j)
{
    fputs("}\n", j->f);
    fflush(j->f);
}
