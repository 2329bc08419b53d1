/* opts.c — see opts.h. */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

void opts_reset(void) {
    optind = 0; /* GNU getopt: 0 reinitialises its internal state */
    opterr = 1;
}

int opts_int(const char *cmd, const char *opt, const char *val, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (end == val || *end || errno == ERANGE) {
        fprintf(stderr, "qinsbench %s: %s: '%s' is not an integer\n", cmd, opt, val);
        return 2;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "qinsbench %s: %s: %lld is out of range (%lld..%lld)\n", cmd, opt, v, lo, hi);
        return 2;
    }
    *out = v;
    return 0;
}

int opts_double(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno == ERANGE || !isfinite(v)) {
        fprintf(stderr, "qinsbench %s: %s: '%s' is not a number\n", cmd, opt, val);
        return 2;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "qinsbench %s: %s: %g is out of range (%g..%g)\n", cmd, opt, v, lo, hi);
        return 2;
    }
    *out = v;
    return 0;
}

int opts_fail(const char *cmd, const char *usage, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "qinsbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int opts_bad(const char *usage) {
    fputs(usage, stderr);
    return 2;
}

int opts_lib_error(const char *cmd, int status) {
    fprintf(stderr, "qinsbench %s: %s\n", cmd, qb_last_error());
    return qb_exit_code((qb_status)status);
}

int opts_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int opts_model_dir(const char *cmd, const char *dir) {
    struct stat sb;
    if (stat(dir, &sb)) {
        fprintf(stderr, "qinsbench %s: --model: model directory %s does not exist%s\n", cmd, dir,
                dir[0] == '/' ? "" : " (relative to the current directory)");
        return 2;
    }
    if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "qinsbench %s: --model: %s is not a directory (--model takes a checkpoint directory: "
                        "config.json + *.safetensors)\n", cmd, dir);
        return 2;
    }
    return 0;
}
