/* bench_gemm_small.c — the small-batch product (codec_gemm_small_fn, T activation rows × a whole weight
 * matrix) against single-threaded OpenBLAS sgemm on the same f32 weights, one thread, at two Phi-3.5-mini
 * shapes, for T from 2 to 128: GFLOP/s (2·T·rows·cols per call), best of REPS calls, the two variants
 * interleaved so machine load hits both alike. Also codec_matmul as the forward pass calls it (fp32 and
 * q8_0, 1 thread), which picks the small kernel for T ≤ MM_SMALL_T_MAX. The weight matrices (96–113 MB) are
 * far larger than a core's L2 but not than every L3 (300 MB on the machine of the README): the second table
 * streams from DRAM for sure.
 *
 * Second table, the runner's lockstep step (step_table): T = 23 (its batch at Phi-3.5-mini's full size)
 * through codec_matmul_rows, as the forward pass calls it, on 1 and 2 threads, over STEP_NMAT qkv-shaped
 * matrices taken in turn (2.7 GB of fp32 weights, 9× that L3; a full-size step reads 15.3 GB). Beside it
 * the same flops with each thread's own 96 weight rows (1.2 MB) held in L2, the kernel called directly:
 * what the step would run at if reading the weights cost nothing. GFLOP/s and GB/s of weights read.
 *
 * Build and run: make bench-gemm-small (mk/kernels.mk). A benchmark, not a test: numbers depend on the machine and its load.
 * Usage: bench_gemm_small [REPS [STEP_ROUNDS]] (STEP_ROUNDS 0 skips the second table) */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "codec.h"
#include "runtime_env.h"
#include "kernels.h"

void openblas_set_num_threads(int);

#define STEP_NMAT 24
#define STEP_T 23

/* Seconds for nmat products of T rows through W[0..nmat) on `threads` threads, as the runner calls them. */
static double step_stream(const CodedTensor *W, int nmat, const float *x, int T, int threads, float *out) {
    double t0 = omp_get_wtime();
    for (int m = 0; m < nmat; m++) codec_matmul_rows(out, &W[m], x, T, threads);
    return omp_get_wtime() - t0;
}

/* Seconds for `flop` flops of the kernel on L2-resident weights: each thread calls it on its own first
 * `nr` rows of W[thread] (cols columns) with no barrier between calls. */
static double step_in_l2(codec_gemm_small_fn gemm, const CodedTensor *W, int64_t nr, int64_t cols, const float *x,
                         int T, int threads, double flop) {
    long calls = (long)(flop / (2.0 * T * (double)nr * (double)cols) / threads + 0.5);
    double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads)
    {
        float *o = malloc(sizeof(float) * (size_t)T * (size_t)nr);
        const float *w = (const float *)W[omp_get_thread_num()].codes;
        if (o)
            for (long k = 0; k < calls; k++) gemm(w, (size_t)cols, nr, x, (size_t)cols, T, cols, o, (size_t)nr);
        free(o);
    }
    return omp_get_wtime() - t0;
}

static int step_table(codec_gemm_small_fn gemm, int rounds) {
    const int64_t rows = 9216, cols = 3072, l2_rows = 96; /* qkv_proj */
    CodedTensor f[STEP_NMAT], q[STEP_NMAT];
    float *w = malloc(sizeof(float) * (size_t)(rows * cols));
    float *x = aligned_alloc(64, sizeof(float) * (size_t)(STEP_T * cols)), *out = malloc(sizeof(float) * (size_t)(STEP_T * rows));
    if (!w || !x || !out) {
        fprintf(stderr, "bench_gemm_small: out of memory for the step table\n");
        return 1;
    }
    for (int64_t i = 0; i < rows * cols; i++) w[i] = frand();
    for (int64_t i = 0; i < STEP_T * cols; i++) x[i] = frand();
    for (int m = 0; m < STEP_NMAT; m++)
        if (codec_tensor_init(&f[m], CODEC_FP32, 0, rows, cols, 0) != QB_OK ||
            codec_encode_rows(&f[m], 0, rows, w) != QB_OK ||
            codec_tensor_init(&q[m], CODEC_Q8_0, 0, rows, cols, 0) != QB_OK ||
            codec_encode_rows(&q[m], 0, rows, w) != QB_OK) {
            fprintf(stderr, "bench_gemm_small: cannot make the step table's weights (%.1f GB; out of memory?)\n",
                    (double)STEP_NMAT * (double)(rows * cols) * 5.1e-9);
            return 1;
        }
    const double flop = 2.0 * STEP_T * (double)rows * (double)cols * STEP_NMAT;
    const double fbytes = (double)f[0].row_stride * (double)rows * STEP_NMAT, qbytes = (double)q[0].row_stride * (double)rows * STEP_NMAT;
    printf("\nThe runner's lockstep step: T = %d, %d × %lld × %lld weights taken in turn (%.1f GB fp32), "
           "codec_matmul_rows; in L2: each thread's own %lld rows\n\n", STEP_T, STEP_NMAT, (long long)rows,
           (long long)cols, fbytes * 1e-9, (long long)l2_rows);
    printf("| round | threads | fp32 streamed GFLOP/s | GB/s | q8_0 streamed GFLOP/s | GB/s | fp32 in L2 GFLOP/s |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int r = 0; r < rounds; r++)
        for (int th = 1; th <= 2; th++) {
            double df = step_stream(f, STEP_NMAT, x, STEP_T, th, out);
            double dq = step_stream(q, STEP_NMAT, x, STEP_T, th, out);
            double dl = step_in_l2(gemm, f, l2_rows, cols, x, STEP_T, th, flop);
            printf("| %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", r + 1, th, flop / df * 1e-9, fbytes / df * 1e-9,
                   flop / dq * 1e-9, qbytes / dq * 1e-9, flop / dl * 1e-9);
            fflush(stdout);
        }
    for (int m = 0; m < STEP_NMAT; m++) codec_tensor_free(&f[m]), codec_tensor_free(&q[m]);
    free(w), free(x), free(out);
    return 0;
}

int main(int argc, char **argv) {
    /* The environment qinsbench itself runs with (harness/runtime_env.c): passive OpenMP waiting, and
     * OpenBLAS's SkylakeX/Haswell kernels where it would fall back to Prescott's. Without it the sgemm and
     * f32-activation figures here were Prescott's (25-33 GFLOP/s for sgemm on a core that runs 80+). */
    if (qb_runtime_env()) execv("/proc/self/exe", argv);
    int reps = argc > 1 ? atoi(argv[1]) : 5, step_rounds = argc > 2 ? atoi(argv[2]) : 3;
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
    return step_rounds > 0 ? step_table(gemm, step_rounds) : 0;
}
