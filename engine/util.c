/* util.c — error buffer, checked allocation, file helpers, clocks, RSS and float16/bfloat16 conversion. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_buf[1024];

qb_status qb_errorf(qb_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return st;
}

void qb_error_prefix(const char *prefix) {
    /* move the message right, then write the prefix in front (truncating at the buffer's end) */
    size_t p = strlen(prefix) + 2, n = strlen(err_buf);
    if (p >= sizeof err_buf) p = sizeof err_buf - 1;
    if (p + n >= sizeof err_buf) n = sizeof err_buf - 1 - p;
    memmove(err_buf + p, err_buf, n);
    err_buf[p + n] = 0;
    memcpy(err_buf, prefix, p - 2 < sizeof err_buf ? p - 2 : 0);
    err_buf[p - 2] = ':';
    err_buf[p - 1] = ' ';
}

const char *qb_last_error(void) { return err_buf[0] ? err_buf : "unknown error"; }
void qb_error_clear(void) { err_buf[0] = 0; }

int qb_exit_code(qb_status st) {
    switch (st) {
    case QB_OK: return 0;
    case QB_ERR_INPUT:
    case QB_ERR_UNSUPPORTED:
    case QB_ERR_IO: return 2;
    default: return 3;
    }
}

/* Asks for transparent huge pages on the 2 MB-aligned interior of a large, freshly allocated block (this
 * machine's THP mode is "madvise": nothing gets huge pages unless asked). Weights and KV caches are touched
 * page by page on first use; with 4 KB pages loading the full-size FP32 model (15 GB) spent ~55% of its time
 * in page faults and kernel page clearing (perf, full-size synthetic Phi-3.5-mini), and every weight stream
 * walks a new TLB entry per 4 KB. Advice only: a kernel without THP ignores it, and results do not change. */
#define QB_HUGE_MIN ((size_t)8 << 20)
static void advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    const uintptr_t H = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + H - 1) & ~(H - 1), b = ((uintptr_t)p + n) & ~(H - 1);
    if (n >= QB_HUGE_MIN && b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

void *qb_malloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (p) advise_huge(p, n);
    if (!p) qb_errorf(QB_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *qb_calloc(size_t count, size_t size, const char *what) {
    size_t total;
    if (qb_mul_overflow(count, size, &total)) {
        qb_errorf(QB_ERR_NOMEM, "size overflow allocating %zu × %zu bytes for %s", count, size, what);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) advise_huge(p, total);
    if (!p) qb_errorf(QB_ERR_NOMEM, "out of memory allocating %zu bytes for %s", total, what);
    return p;
}

void *qb_aligned_alloc(size_t n, const char *what) {
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n) {
        qb_errorf(QB_ERR_NOMEM, "size overflow allocating %zu bytes for %s", n, what);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) advise_huge(p, rounded);
    if (!p) qb_errorf(QB_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

int qb_mul_overflow(size_t a, size_t b, size_t *out) {
    if (__builtin_mul_overflow(a, b, out)) return -1;
    return 0;
}

qb_status qb_read_file(const char *path, char **out, size_t *len, size_t max_bytes) {
    *out = NULL;
    if (len) *len = 0;
    /* O_NONBLOCK so that a FIFO in place of the file cannot hang us before the regular-file check */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return qb_errorf(QB_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return qb_errorf(QB_ERR_INPUT, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return qb_errorf(QB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        fclose(f);
        return qb_errorf(QB_ERR_INPUT, "%s: file is %lld bytes, more than the %zu allowed", path,
                         (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = qb_malloc(n + 1, path);
    if (!buf) {
        fclose(f);
        return QB_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return qb_errorf(QB_ERR_IO, "%s: read failed", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return QB_OK;
}

char *qb_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = qb_malloc(a + b + 2, "path");
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int qb_file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int qb_dir_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

double qb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t qb_peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

uint64_t qb_current_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    int ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
    fclose(f);
    return ok ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

float qb_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t qb_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                        /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float qb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (mant == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400u));
            mant &= 0x3ffu;
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t qb_f32_to_f16(float f) {
    /* Round-to-nearest-even conversion (same results as the hardware F16C instruction). */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (a >= 0x47800000u) {                                 /* ≥ 65536 rounds to inf (or is inf) */
        /* values in [65520, 65536) round to inf too; handled by the normal path below for < 65536 */
        return (uint16_t)(sign | 0x7c00u);
    }
    if (a < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign; /* < 2^-25 rounds to zero */
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 14 + (113 - exp) */
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((a >> 13) - ((127u - 15u) << 10));
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* may carry into the exponent: correct */
    if (h >= 0x7c00u) return (uint16_t)(sign | 0x7c00u);
    return (uint16_t)(sign | h);
}

qb_status qb_parse_int_list(const char *s, const char *what, long long max_value, int **out, int *n) {
    *out = NULL;
    *n = 0;
    if (!s || !*s) return qb_errorf(QB_ERR_INPUT, "%s: empty list", what);
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        if (*p == ',') cap++;
    int *ids = qb_malloc(cap * sizeof(int), what);
    if (!ids) return QB_ERR_NOMEM;
    int k = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        if (*p < '0' || *p > '9') {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: item %d is not a non-negative integer", what, k + 1);
        }
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE || v > max_value || v > INT_MAX) {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: item %d (%.*s) is out of range (0..%lld)", what, k + 1,
                             (int)(end - p), p, max_value);
        }
        ids[k++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == 0) break;
        if (*p != ',') {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: item %d is not a non-negative integer", what, k);
        }
        p++;
    }
    *out = ids;
    *n = k;
    return QB_OK;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void qb_rng_seed(qb_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qb_rng_next(qb_rng *r) {
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

int qb_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) || stat(b, &sb)) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* 1 when path exists and its parent directory is the directory dir. */
static int parent_is(const char *path, const char *dir) {
    struct stat sp;
    if (stat(path, &sp)) return 0;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "a/b/" names b */
    size_t cut = n;
    while (cut > 0 && path[cut - 1] != '/') cut--;
    char *parent = cut == 0 ? strdup(".") : strndup(path, cut);
    if (!parent) return 0;
    int r = qb_same_file(parent, dir);
    free(parent);
    return r;
}

qb_status qb_check_not_input(const char *out, const char *in) {
    if (!out || !in) return QB_OK;
    if (qb_same_file(out, in))
        return qb_errorf(QB_ERR_INPUT, "%s: is the input %s: refusing to write over an input (choose another output)",
                         out, in);
    if (qb_dir_exists(in) && parent_is(out, in))
        return qb_errorf(QB_ERR_INPUT,
                         "%s: is a file of the input directory %s: refusing to write over an input (choose another "
                         "output)", out, in);
    return QB_OK;
}
