/* A small strict JSON parser (RFC 8259) for file headers such as
 * safetensors'.  It builds a tree; object members keep their order and
 * duplicates are kept so that callers can reject them. */
#ifndef MLOPT_CORE_IO_JSON_H
#define MLOPT_CORE_IO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "mlopt/mlopt.h"

typedef enum mlopt_json_type {
    MLOPT_JSON_NULL = 0,
    MLOPT_JSON_FALSE,
    MLOPT_JSON_TRUE,
    MLOPT_JSON_NUMBER,
    MLOPT_JSON_STRING,
    MLOPT_JSON_ARRAY,
    MLOPT_JSON_OBJECT
} mlopt_json_type;

typedef struct mlopt_json {
    mlopt_json_type type;
    char *key;                 /* member name when inside an object, else NULL */
    char *text;                /* STRING: decoded UTF-8 (no NUL inside); NUMBER: its literal */
    size_t count;              /* ARRAY / OBJECT: number of children */
    struct mlopt_json *items;  /* ARRAY / OBJECT: children in document order */
} mlopt_json;

/* Parse exactly one value from text[0..len) (surrounding whitespace allowed).
 * On failure returns MLOPT_E_FORMAT (or MLOPT_E_NOMEM) and writes a reason
 * with the byte offset into err, without touching the thread's error. */
mlopt_status mlopt_json_parse(const char *text, size_t len, mlopt_json **out, char *err, size_t errlen);

void mlopt_json_free(mlopt_json *v);

/* Member of an object by name (first match), or NULL. */
const mlopt_json *mlopt_json_get(const mlopt_json *obj, const char *key);

/* A NUMBER that is a non-negative integer literal without fraction or
 * exponent and fits in uint64: 1 and *out set; otherwise 0. */
int mlopt_json_u64(const mlopt_json *v, uint64_t *out);

const char *mlopt_json_type_name(mlopt_json_type t);

/* Length of the valid UTF-8 sequence starting at s (n bytes available), or 0
 * when it is invalid (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t mlopt_utf8_sequence(const unsigned char *s, size_t n);

#endif
