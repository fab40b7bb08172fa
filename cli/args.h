/* Command-line options: `--name=value`, `--name value`, and flags, with
 * the global options accepted before or after the subcommand. */
#ifndef MLOPT_CLI_ARGS_H
#define MLOPT_CLI_ARGS_H

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STRING } opt_type;

typedef struct cli_option {
    const char *name;  /* without the leading dashes */
    opt_type type;
    void *value;       /* int*, float*, const char** */
    const char *meta;  /* placeholder in help, e.g. "N" */
    const char *help;
    int min_int;       /* OPT_INT: smallest allowed value */
    int seen;          /* set when given on the command line */
} cli_option;

/* Parse argv against opts (NULL-name terminated).  Non-option words go to
 * positional[] (up to max_pos).  Returns 0, or 2 after printing a message
 * to stderr for an unknown option or a bad value. */
int args_parse(const char *cmd, int argc, char **argv, cli_option *opts, const char **positional, int max_pos,
               int *npos);
void args_help(const char *usage, const char *description, const cli_option *opts);
const cli_option *args_find(const cli_option *opts, const char *name);

#endif
