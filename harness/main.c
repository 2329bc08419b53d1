/* main.c — the qinsbench executable: all logic lives in the libraries so tests can link it. */
#include <unistd.h>

#include "commands.h"
#include "runtime_env.h"

int main(int argc, char **argv) {
    /* libgomp and OpenBLAS read their environment before main runs: set what is missing, re-exec once. */
    if (qb_runtime_env()) execv("/proc/self/exe", argv);
    return qb_main(argc, argv);
}
