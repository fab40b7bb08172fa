/* A flat JSON object written field by field, for --json output. */
#ifndef MLOPT_CLI_JSON_OUT_H
#define MLOPT_CLI_JSON_OUT_H

#include <stdio.h>

typedef struct json_out {
    FILE *f;
    int fields;
} json_out;

void json_begin(json_out *j, FILE *f);
void json_str(json_out *j, const char *key, const char *value);
void json_num(json_out *j, const char *key, double value);
void json_int(json_out *j, const char *key, long long value);
void json_bool(json_out *j, const char *key, int value);
/* A raw, already valid JSON value (array / object). */
void json_raw(json_out *j, const char *key, const char *json);
void json_end(json_out *j);
/* Escape s as a JSON string literal (with quotes) into f. */
void json_write_string(FILE *f, const char *s);

#endif
