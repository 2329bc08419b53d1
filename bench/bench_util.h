/* bench_util.h — what the benchmarks here share: the generator of their test data and the order statistics of
 * their timings. Header-only (static inline: each benchmark is one translation unit with its own stream). */
#ifndef QB_BENCH_UTIL_H
#define QB_BENCH_UTIL_H

#include <stdint.h>

#include "stats.h"

/* Test data: a fixed xorshift64 stream of floats in [−0.05, 0.05), the same on every run. */
static inline float frand(void) {
    static uint64_t rng = 88172645463325252ull;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((float)(rng >> 40) / 16777216.0f - 0.5f) * 0.1f;
}

/* Lower quartile, median and upper quartile of v[0..n) as the elements at n/4, n/2 and 3n/4 of the sorted
 * values (n ≥ 1; sorts v in place). */
static inline void bench_quartiles(double *v, int n, double *q1, double *med, double *q3) {
    stats_sort(v, (size_t)n);
    *q1 = v[n / 4], *med = v[n / 2], *q3 = v[(3 * n) / 4];
}

#endif
