/* mlopt conformance: placeholder until the conformance harness lands in this file. */
#include <stdio.h>

#include "common.h"

int cmd_conformance(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "mlopt conformance: not built yet\n");
    return 2;
}
