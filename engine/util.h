/* util.h — status codes, the error message buffer, checked allocation and small helpers shared by the
 * engine and the harness.
 *
 * The library never exits: a function that can fail returns a qb_status and, on failure, has called
 * qb_errorf() with a message of the form "path: what is wrong". Only main() turns a status into an exit
 * code (qb_exit_code). The message buffer is thread-local so worker threads cannot garble it. */
#ifndef QB_UTIL_H
#define QB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    QB_OK = 0,
    QB_ERR_INPUT = 2,       /* bad outside input: a file, an option, a config (exit 2) */
    QB_ERR_UNSUPPORTED = 3, /* well-formed but not something we implement (exit 2) */
    QB_ERR_IO = 4,          /* a read or write failed (exit 2) */
    QB_ERR_NOMEM = 5,       /* allocation failed (exit 3) */
    QB_ERR_INTERNAL = 6,    /* a bug: an invariant did not hold (exit 3) */
} qb_status;

/* Records the error message (printf-style) and returns `st`, so callers can write
 * `return qb_errorf(QB_ERR_INPUT, "%s: header length %llu past end of file", path, n);` */
qb_status qb_errorf(qb_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "prefix: " (to add context such as a file name). */
void qb_error_prefix(const char *prefix);
const char *qb_last_error(void);
void qb_error_clear(void);
/* exit status for a status: 0 ok, 2 bad input/unsupported/io, 3 internal/memory. */
int qb_exit_code(qb_status st);

/* Allocation that reports (not aborts) on failure: returns NULL after qb_errorf(QB_ERR_NOMEM, …) naming
 * `what` and the byte count. */
void *qb_malloc(size_t n, const char *what);
void *qb_calloc(size_t count, size_t size, const char *what);
/* 64-byte aligned allocation (for SIMD kernels); free with free(). */
void *qb_aligned_alloc(size_t n, const char *what);
/* Overflow-checked multiply: returns 0 and sets *out, or -1 on overflow. */
int qb_mul_overflow(size_t a, size_t b, size_t *out);

/* Whole-file read into a NUL-terminated heap buffer (for JSON files). *len excludes the NUL.
 * max_bytes guards against absurd files. */
qb_status qb_read_file(const char *path, char **out, size_t *len, size_t max_bytes);
/* Joins dir and name into a heap string. NULL on out-of-memory (error set). */
char *qb_path_join(const char *dir, const char *name);
int qb_file_exists(const char *path);
int qb_dir_exists(const char *path);

/* Never write over an input. qb_same_file: 1 when a and b both exist and are the same file (device and
 * inode, symlinks followed: catches hard links, symlinks, "./x" vs "x"). qb_check_not_input: QB_OK when
 * writing `out` (in place, or via out.tmp + rename) cannot replace the input `in`; `in` may be a
 * directory (a model directory), and then out may be neither the directory nor an existing file directly
 * inside it. Otherwise QB_ERR_INPUT, "OUT: is the input IN (…)". An out that does not exist yet cannot be
 * an existing input. */
int qb_same_file(const char *a, const char *b);
qb_status qb_check_not_input(const char *out, const char *in);

/* Wall-clock seconds (CLOCK_MONOTONIC). */
double qb_now(void);
/* Peak resident set size of this process in bytes (getrusage ru_maxrss). */
uint64_t qb_peak_rss(void);
/* Current resident set size in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t qb_current_rss(void);

/* bf16 / f16 conversions (exact, round-to-nearest-even for the narrowing ones). */
float qb_bf16_to_f32(uint16_t h);
uint16_t qb_f32_to_bf16(float f);
float qb_f16_to_f32(uint16_t h);
uint16_t qb_f32_to_f16(float f);

/* The one pseudo-random generator (xoshiro256**, seeded through splitmix64): the same seed gives the same
 * stream on every platform, which is what makes synthetic checkpoints and bootstrap CIs reproducible. */
typedef struct {
    uint64_t s[4];
} qb_rng;
void qb_rng_seed(qb_rng *r, uint64_t seed);
uint64_t qb_rng_next(qb_rng *r);

/* Parses a comma-separated list of non-negative integers ("1,2,3"). `what` names the source in errors
 * (e.g. "--ids"). Returns a heap array in *out and its length in *n. Rejects non-numbers, empty items,
 * values > max_value. */
qb_status qb_parse_int_list(const char *s, const char *what, long long max_value, int **out, int *n);

#endif
