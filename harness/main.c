/* main.c — the qinsbench executable: all logic lives in the libraries so tests can link it. */
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"

int main(int argc, char **argv) {
    /* libgomp's default wait policy spins between parallel regions, against every other process on a
     * shared machine. Measured (austen-toy, bench -t 2 tg32, load average 13 on 2 cores): 55 tok/s
     * spinning, 1412 tok/s with OMP_WAIT_POLICY=passive. libgomp reads the variable before main runs, so
     * set it and re-exec once; a user's own OMP_WAIT_POLICY (e.g. active on a dedicated node) wins. */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0) execv("/proc/self/exe", argv);
    return qb_main(argc, argv);
}
