#include "io/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting limit: recursion depth must not depend on untrusted input. */
#define JSON_MAX_DEPTH 64

typedef struct json_parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    mlopt_status status;
} json_parser;

static int fail(json_parser *p, mlopt_status s, const char *fmt, ...)
{
    if (p->status == MLOPT_OK) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(p->err, p->errlen, "%s at byte %zu", msg, p->pos);
        p->status = s;
    }
    return -1;
}

static void skip_ws(json_parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static void json_clear(mlopt_json *v)
{
    free(v->key);
    free(v->text);
    for (size_t i = 0; i < v->count; i++)
        json_clear(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

void mlopt_json_free(mlopt_json *v)
{
    if (!v)
        return;
    json_clear(v);
    free(v);
}

static int hex4(json_parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail(p, MLOPT_E_FORMAT, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(p, MLOPT_E_FORMAT, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t mlopt_utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* p->pos is just past the opening quote. */
static int parse_string(json_parser *p, char **out)
{
    /* Decoded text is never longer than the source. */
    size_t start = p->pos, end = start;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->len)
        return fail(p, MLOPT_E_FORMAT, "unterminated string");
    char *o = malloc(end - start + 1);
    if (!o)
        return fail(p, MLOPT_E_NOMEM, "out of memory");
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            free(o);
            return fail(p, MLOPT_E_FORMAT, "unescaped control character in string");
        }
        if (c != '\\') {
            size_t l = mlopt_utf8_sequence((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (!l) {
                free(o);
                return fail(p, MLOPT_E_FORMAT, "invalid UTF-8 in string");
            }
            memcpy(o + n, p->s + p->pos, l);
            n += l;
            p->pos += l;
            continue;
        }
        p->pos++;
        char e = p->s[p->pos++];
        unsigned cp;
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u':
            if (hex4(p, &cp)) {
                free(o);
                return -1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    free(o);
                    return fail(p, MLOPT_E_FORMAT, "unpaired surrogate in \\u escape");
                }
                p->pos += 2;
                if (hex4(p, &lo)) {
                    free(o);
                    return -1;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(o);
                    return fail(p, MLOPT_E_FORMAT, "unpaired surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(o);
                return fail(p, MLOPT_E_FORMAT, "unpaired surrogate in \\u escape");
            }
            if (cp == 0) {
                /* Names are C strings; an embedded NUL would truncate them. */
                free(o);
                return fail(p, MLOPT_E_FORMAT, "\\u0000 in string is not supported");
            }
            /* A \uXXXX escape (6 source bytes) decodes to at most 3 bytes and a
             * surrogate pair (12) to 4, so the buffer is large enough. */
            n += utf8_put(o + n, cp);
            break;
        default:
            free(o);
            return fail(p, MLOPT_E_FORMAT, "invalid escape \\%c", e);
        }
    }
    p->pos++; /* closing quote */
    o[n] = 0;
    *out = o;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(json_parser *p, mlopt_json *v)
{
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || !is_digit(p->s[p->pos]))
        return fail(p, MLOPT_E_FORMAT, "invalid number");
    if (p->s[p->pos] == '0')
        p->pos++;
    else
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, MLOPT_E_FORMAT, "invalid number: digit expected after '.'");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, MLOPT_E_FORMAT, "invalid number: digit expected in exponent");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    size_t n = p->pos - start;
    v->text = malloc(n + 1);
    if (!v->text)
        return fail(p, MLOPT_E_NOMEM, "out of memory");
    memcpy(v->text, p->s + start, n);
    v->text[n] = 0;
    v->type = MLOPT_JSON_NUMBER;
    return 0;
}

static int parse_value(json_parser *p, mlopt_json *v, int depth);

static int push_child(json_parser *p, mlopt_json *v, size_t *cap)
{
    if (v->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        mlopt_json *items = realloc(v->items, ncap * sizeof *items);
        if (!items)
            return fail(p, MLOPT_E_NOMEM, "out of memory");
        v->items = items;
        *cap = ncap;
    }
    memset(&v->items[v->count], 0, sizeof v->items[0]);
    v->count++;
    return 0;
}

static int parse_container(json_parser *p, mlopt_json *v, int depth, int object)
{
    char close = object ? '}' : ']';
    size_t cap = 0;
    v->type = object ? MLOPT_JSON_OBJECT : MLOPT_JSON_ARRAY;
    if (depth >= JSON_MAX_DEPTH)
        return fail(p, MLOPT_E_FORMAT, "nesting deeper than %d", JSON_MAX_DEPTH);
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (push_child(p, v, &cap))
            return -1;
        mlopt_json *child = &v->items[v->count - 1];
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, MLOPT_E_FORMAT, "member name (a string) expected");
            p->pos++;
            if (parse_string(p, &child->key))
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, MLOPT_E_FORMAT, "':' expected after member name");
            p->pos++;
        }
        if (parse_value(p, child, depth + 1))
            return -1;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, MLOPT_E_FORMAT, "unexpected end of input, '%c' expected", close);
        char c = p->s[p->pos++];
        if (c == close)
            return 0;
        if (c != ',') {
            p->pos--;
            return fail(p, MLOPT_E_FORMAT, "',' or '%c' expected", close);
        }
    }
}

static int parse_literal(json_parser *p, const char *word, mlopt_json_type t, mlopt_json *v)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, MLOPT_E_FORMAT, "unexpected character '%c'", p->s[p->pos]);
    p->pos += n;
    v->type = t;
    return 0;
}

static int parse_value(json_parser *p, mlopt_json *v, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, MLOPT_E_FORMAT, "unexpected end of input, value expected");
    char c = p->s[p->pos];
    switch (c) {
    case '{': return parse_container(p, v, depth, 1);
    case '[': return parse_container(p, v, depth, 0);
    case '"':
        p->pos++;
        v->type = MLOPT_JSON_STRING;
        return parse_string(p, &v->text);
    case 't': return parse_literal(p, "true", MLOPT_JSON_TRUE, v);
    case 'f': return parse_literal(p, "false", MLOPT_JSON_FALSE, v);
    case 'n': return parse_literal(p, "null", MLOPT_JSON_NULL, v);
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p, v);
        return fail(p, MLOPT_E_FORMAT, "unexpected character '%c'", c);
    }
}

mlopt_status mlopt_json_parse(const char *text, size_t len, mlopt_json **out, char *err, size_t errlen)
{
    static char scratch[1];
    json_parser p = {text, len, 0, err ? err : scratch, err ? errlen : sizeof scratch, MLOPT_OK};
    *out = NULL;
    mlopt_json *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(p.err, p.errlen, "out of memory");
        return MLOPT_E_NOMEM;
    }
    if (parse_value(&p, v, 0) == 0) {
        skip_ws(&p);
        if (p.pos != p.len)
            fail(&p, MLOPT_E_FORMAT, "unexpected data after the JSON value");
    }
    if (p.status != MLOPT_OK) {
        mlopt_json_free(v);
        return p.status;
    }
    *out = v;
    return MLOPT_OK;
}

const mlopt_json *mlopt_json_get(const mlopt_json *obj, const char *key)
{
    if (!obj || obj->type != MLOPT_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->items[i].key, key) == 0)
            return &obj->items[i];
    return NULL;
}

int mlopt_json_u64(const mlopt_json *v, uint64_t *out)
{
    if (!v || v->type != MLOPT_JSON_NUMBER)
        return 0;
    uint64_t r = 0;
    for (const char *c = v->text; *c; c++) {
        if (!is_digit(*c))
            return 0; /* sign, fraction or exponent */
        unsigned d = (unsigned)(*c - '0');
        if (r > (UINT64_MAX - d) / 10)
            return 0;
        r = r * 10 + d;
    }
    *out = r;
    return 1;
}

const char *mlopt_json_type_name(mlopt_json_type t)
{
    switch (t) {
    case MLOPT_JSON_NULL: return "null";
    case MLOPT_JSON_FALSE:
    case MLOPT_JSON_TRUE: return "a boolean";
    case MLOPT_JSON_NUMBER: return "a number";
    case MLOPT_JSON_STRING: return "a string";
    case MLOPT_JSON_ARRAY: return "an array";
    case MLOPT_JSON_OBJECT: return "an object";
    }
    return "?";
}
