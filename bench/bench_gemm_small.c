/* bench_gemm_small.c — the small-batch product (codec_gemm_small_fn, T activation rows × a whole weight
 * matrix) against single-threaded OpenBLAS sgemm on the same f32 weights, one thread, at two Phi-3.5-mini
 * shapes, for T from 2 to 128: GFLOP/s (2·T·rows·cols per call), best of REPS calls, the two variants
 * interleaved so machine load hits both alike. Also codec_matmul as the forward pass calls it (fp32 and
 * q8_0, 1 thread), which picks the small kernel for T ≤ MM_SMALL_T_MAX. The weight matrices (≥ 96 MB) are
 * far larger than the caches, so every call streams them from DRAM as the decode step does.
 *
 * Build and run: make bench-gemm-small (mk/kernels.mk). A benchmark, not a test: numbers depend on the machine and its load.
 * Usage: bench_gemm_small [REPS] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "runtime_env.h"
#include "kernels.h"

void openblas_set_num_threads(int);

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((float)(rng >> 40) / 16777216.0f - 0.5f) * 0.1f;
}

int main(int argc, char **argv) {
    /* The environment qinsbench itself runs with (harness/runtime_env.c): passive OpenMP waiting, and
     * OpenBLAS's SkylakeX/Haswell kernels where it would fall back to Prescott's. Without it the sgemm and
     * f32-activation figures here were Prescott's (25-33 GFLOP/s for sgemm on a core that runs 80+). */
    if (qb_runtime_env()) execv("/proc/self/exe", argv);
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    openblas_set_num_threads(1);
    static const int64_t shapes[][2] = {{9216, 3072}, {3072, 8192}}; /* qkv_proj, down_proj */
    static const int Ts[] = {2, 4, 8, 16, 24, 32, 48, 64, 128};
    codec_gemm_small_fn gemm = codec_gemm_small_for();
    if (!gemm) {
        fprintf(stderr, "bench_gemm_small: no small-batch kernel at this SIMD level\n");
        return 1;
    }
    printf("| rows × cols | T | small kernel GFLOP/s | same, padded x stride | sgemm | codec_matmul fp32 | codec_matmul q8_0 |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1];
        /* 64-byte aligned like the engine's weights and activations (unaligned zmm loads split cache lines) */
        size_t xp = (size_t)cols + 16; /* a padded activation stride, as codec_matmul packs them */
        float *w = aligned_alloc(64, sizeof(float) * (size_t)(rows * cols));
        float *x = aligned_alloc(64, sizeof(float) * (size_t)(128 * cols)), *out = malloc(sizeof(float) * (size_t)(128 * rows));
        float *xpad = aligned_alloc(64, sizeof(float) * 128 * xp);
        if (!w || !x || !out || !xpad) return 1;
        for (int64_t i = 0; i < rows * cols; i++) w[i] = frand();
        for (int64_t i = 0; i < 128 * cols; i++) x[i] = frand();
        for (int t = 0; t < 128; t++) memcpy(xpad + (size_t)t * xp, x + (size_t)t * cols, sizeof(float) * (size_t)cols);
        CodedTensor f, q;
        if (codec_tensor_init(&f, CODEC_FP32, 0, rows, cols, 0) != QB_OK ||
            codec_encode_rows(&f, 0, rows, w) != QB_OK ||
            codec_tensor_init(&q, CODEC_Q8_0, 0, rows, cols, 0) != QB_OK ||
            codec_encode_rows(&q, 0, rows, w) != QB_OK)
            return 1;
        for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
            int T = Ts[ti];
            double best[5] = {1e30, 1e30, 1e30, 1e30, 1e30};
            for (int r = 0; r < reps; r++) {
                double t0 = omp_get_wtime();
                gemm(w, (size_t)cols, rows, x, (size_t)cols, T, cols, out, (size_t)rows);
                double t1 = omp_get_wtime();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)rows, (int)cols, 1.0f, x, (int)cols, w,
                            (int)cols, 0.0f, out, (int)rows);
                double t2 = omp_get_wtime();
                codec_matmul(out, &f, x, T, 1);
                double t3 = omp_get_wtime();
                codec_matmul(out, &q, x, T, 1);
                double t4 = omp_get_wtime();
                gemm(w, (size_t)cols, rows, xpad, xp, T, cols, out, (size_t)rows);
                double t5 = omp_get_wtime();
                double d[5] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4};
                for (int k = 0; k < 5; k++)
                    if (d[k] < best[k]) best[k] = d[k];
            }
            double flop = 2.0 * T * (double)rows * (double)cols;
            printf("| %lld × %lld | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", (long long)rows, (long long)cols, T,
                   flop / best[0] * 1e-9, flop / best[4] * 1e-9, flop / best[1] * 1e-9, flop / best[2] * 1e-9,
                   flop / best[3] * 1e-9);
            fflush(stdout);
        }
        codec_tensor_free(&f);
        codec_tensor_free(&q);
        free(w), free(x), free(out), free(xpad);
    }
    return 0;
}
