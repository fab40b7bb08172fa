/* tb_verify EVENT_FILE TAG...: re-read an event file written by `mlopt
 * train --logdir`, verifying every record's CRCs, and check each TAG has
 * at least one scalar.  Prints "tag: n values, last v" lines. */
#include <stdio.h>
#include <string.h>

#include "io/tensorboard.h"

typedef struct tag_count {
    const char *tag;
    int n;
    float last;
} tag_count;

typedef struct state {
    tag_count tags[16];
    int ntags;
} state;

static int on_scalar(void *user, const mlopt_tb_scalar_event *ev)
{
    state *st = user;
    for (int i = 0; i < st->ntags; i++)
        if (strcmp(st->tags[i].tag, ev->tag) == 0) {
            st->tags[i].n++;
            st->tags[i].last = ev->value;
        }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tb_verify EVENT_FILE TAG...\n");
        return 2;
    }
    state st = { .ntags = 0 };
    for (int i = 2; i < argc && st.ntags < 16; i++)
        st.tags[st.ntags++].tag = argv[i];
    mlopt_tb_read_info info;
    if (mlopt_tb_read_scalars(argv[1], on_scalar, &st, &info) != MLOPT_OK) {
        fprintf(stderr, "tb_verify: %s\n", mlopt_last_error());
        return 1;
    }
    printf("%s: %ld records (CRCs verified), %ld scalars, file_version %s\n", argv[1], info.records, info.scalars,
           info.file_version);
    int rc = strcmp(info.file_version, "brain.Event:2") != 0;
    for (int i = 0; i < st.ntags; i++) {
        printf("%s: %d values, last %g\n", st.tags[i].tag, st.tags[i].n, (double)st.tags[i].last);
        rc |= st.tags[i].n == 0;
    }
    return rc;
}
