/* membw.c — see membw.h. The kernel sums 64-byte lines with independent accumulators so the loop is
 * bound by loads, not by the add latency; the result is used so the compiler cannot drop the reads. */
#include "membw.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

double membw_read_gbs(size_t bytes, int threads, int reps) {
    size_t n = bytes / sizeof(float);
    n -= n % 64;
    float *buf = qb_aligned_alloc(n * sizeof(float), "bandwidth buffer");
    if (!buf || n == 0) {
        free(buf);
        return 0;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7); /* touch: each thread faults in its own part */
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = qb_now();
        float total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
        for (size_t i = 0; i < n; i += 64) {
            float a[16] = {0};
            for (int k = 0; k < 64; k += 16)
                for (int j = 0; j < 16; j++) a[j] += buf[i + k + j];
            float s = 0;
            for (int j = 0; j < 16; j++) s += a[j];
            total += s;
        }
        double dt = qb_now() - t0;
        sink += total;
        double gbs = (double)(n * sizeof(float)) / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    (void)sink;
    free(buf);
    return best;
}
