/* opts.h — shared option parsing for the subcommands: getopt_long with a reset, range-checked numbers,
 * and uniform messages. Every command rejects unknown options with its usage (exit 2). */
#ifndef QB_OPTS_H
#define QB_OPTS_H

#include <getopt.h>

/* Resets getopt's global state so a command can be parsed more than once in one process (tests). */
void opts_reset(void);
/* Parses val as an integer in [lo, hi]. On error prints "qinsbench CMD: OPT: …" and returns 2. */
int opts_int(const char *cmd, const char *opt, const char *val, long long lo, long long hi, long long *out);
int opts_double(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out);
/* Prints "qinsbench CMD: message" then the usage text to stderr; returns 2. */
int opts_fail(const char *cmd, const char *usage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For getopt's '?' / ':' cases: getopt has already printed what was wrong; prints usage, returns 2. */
int opts_bad(const char *usage);
/* Reports a library error (qb_last_error) as "qinsbench CMD: message" and returns the exit code. */
int opts_lib_error(const char *cmd, int status);
/* --model DIR: "model directory DIR does not exist" / "DIR is not a directory" (printed, returns 2), else 0. */
int opts_model_dir(const char *cmd, const char *dir);
/* Threads for --threads: 0 → all online cores. */
int opts_default_threads(void);

#endif
