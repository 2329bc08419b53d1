/* cmd_bench.c — placeholder until its issue lands: says so and exits 2. */
#include <stdio.h>
#include "commands.h"

int cmd_bench(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "qinsbench %s: not implemented yet\n", argv[0]);
    return 2;
}
