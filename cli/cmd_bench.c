/* mlopt bench: placeholder until the bench harness lands in this file. */
#include <stdio.h>

#include "common.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "mlopt bench: not built yet\n");
    return 2;
}
