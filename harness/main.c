/* main.c — the qinsbench executable: all logic lives in the libraries so tests can link it. */
#include "commands.h"

int main(int argc, char **argv) { return qb_main(argc, argv); }
