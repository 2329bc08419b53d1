/* membw.c — see membw.h. The kernel sums the buffer into independent vector accumulators so the loop is
 * bound by loads, not by adds; the result is used so the compiler cannot drop the reads. */
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
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            /* Four 16-float accumulators, one per cache line of a 256-byte step, each kept in a vector
             * register across the whole loop and summed once at the end. The first version summed every
             * line horizontally (16 dependent scalar adds per 64 bytes): compute-bound, it read 7.6-9.9 GB/s
             * on a machine whose fp32 decode streamed 14 GB/s of weights (bench "of bound" 1.4-1.9). */
            float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 64)
                for (int j = 0; j < 16; j++) {
                    a0[j] += buf[i + j];
                    a1[j] += buf[i + 16 + j];
                    a2[j] += buf[i + 32 + j];
                    a3[j] += buf[i + 48 + j];
                }
            for (int j = 0; j < 16; j++) total += a0[j] + a1[j] + a2[j] + a3[j];
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
