/* Sections of `mlopt report` for the compression passes whose outputs lie
 * in the report's directory. */
#ifndef MLOPT_CLI_REPORT_COMPRESSION_H
#define MLOPT_CLI_REPORT_COMPRESSION_H

#include <stdio.h>

/* HTML-escape s onto f (shared by the report's files). */
void report_html_escape(FILE *f, const char *s);

/* Per-layer sparsity of every float checkpoint DIR/ *.safetensors that has
 * pruned (zero) weights: one bar chart each.  Returns the sections written. */
int report_sparsity_sections(FILE *f, const char *dir);

/* Per-layer quantization error (SQNR) from every DIR/ *.json written by
 * `mlopt quantize --json`: one bar chart each, with the size, accuracy and
 * latency figures of the float and int8 models.  Returns the sections. */
int report_quant_sections(FILE *f, const char *dir);

#endif
