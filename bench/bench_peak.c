/* bench_peak.c — this core's arithmetic ceilings, for reading the kernel benchmarks against: a register-only
 * loop of independent f32 FMAs (AVX-512), the same with vdpbf16ps (AVX512-BF16: the instruction act=bf16 must
 * use to keep ggml's numerics), and the small-batch product (codec_gemm_small_fn, the lockstep decode) with its
 * weights held in L2. One thread, GFLOP/s (an FMA lane is 2 flops; a vdpbf16ps lane 4: two bf16 products
 * and their sums). Measured on Intel family 6 model 207 (README, "Phi-3.5-mini"): FMA 154–170, vdpbf16ps
 * 76–79 (it issues once per two cycles there), the small kernel 90–98 (146–170 since its weight vectors are
 * pinned in registers: engine/kernels_avx512.c, "Register pinning").
 *
 * Build and run: make bench-peak (mk/kernels.mk). A benchmark, not a test. Usage: bench_peak [SECONDS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"

#define NACC 24 /* independent accumulators: more than latency × issue width on current cores */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* GFLOP/s of `iters` rounds of NACC independent FMAs on 16 lanes. */
__attribute__((target("avx512f,fma"))) static double peak_fma(long iters) {
    __m512 a[NACC];
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps(0.001f * (float)i);
    const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    double t0 = now();
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < NACC; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    double t = now() - t0;
    float s = 0;
    for (int i = 0; i < NACC; i++) s += _mm512_reduce_add_ps(a[i]);
    if (s == 12345.0f) printf("(%g)\n", s); /* keeps the loop */
    return (double)iters * NACC * 16 * 2 / t / 1e9;
}

/* GFLOP/s of `iters` rounds of NACC independent vdpbf16ps (16 lanes × 2 products, each a multiply and an add). */
__attribute__((target("avx512f,avx512bf16"))) static double peak_dpbf16(long iters) {
    __m512 a[NACC];
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps(0.001f * (float)i);
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3a00);
    double t0 = now();
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < NACC; i++) a[i] = _mm512_dpbf16_ps(a[i], b, c);
    }
    double t = now() - t0;
    float s = 0;
    for (int i = 0; i < NACC; i++) s += _mm512_reduce_add_ps(a[i]);
    if (s == 12345.0f) printf("(%g)\n", s);
    return (double)iters * NACC * 16 * 4 / t / 1e9;
}
#endif

/* Best GFLOP/s of the small-batch kernel over calls on rows × cols weights (in L2) and T activation rows. */
static double small_in_l2(codec_gemm_small_fn gemm, int rows, int cols, int T, double seconds) {
    /* 64-byte aligned, as the engine's codes and activations are (unaligned rows ran at ~0.6× here) */
    float *w = aligned_alloc(64, sizeof(float) * (size_t)rows * (size_t)cols),
          *x = aligned_alloc(64, sizeof(float) * (size_t)T * (size_t)cols), *o = malloc(sizeof(float) * (size_t)T * (size_t)rows);
    if (!w || !x || !o) {
        free(w), free(x), free(o);
        return 0;
    }
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) w[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)T * (size_t)cols; i++) x[i] = (float)(i % 5) * 0.01f;
    double best = 1e30, start = now();
    while (now() - start < seconds) {
        double t0 = now();
        gemm(w, (size_t)cols, rows, x, (size_t)cols, T, cols, o, (size_t)rows);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(w), free(x), free(o);
    return 2.0 * rows * cols * T / best / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(seconds > 0)) seconds = 1.0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        long iters = 1000;
        while (1) { /* size the loop to about `seconds` */
            double t0 = now();
            peak_fma(iters);
            if (now() - t0 > seconds / 4 || iters > (1L << 40)) break;
            iters *= 2;
        }
        printf("f32 FMA (AVX-512, %d independent accumulators): %.1f GFLOP/s\n", NACC, peak_fma(iters * 4));
        if (__builtin_cpu_supports("avx512bf16"))
            printf("vdpbf16ps (%d independent accumulators): %.1f GFLOP/s\n", NACC, peak_dpbf16(iters * 4));
        else
            printf("vdpbf16ps: this CPU has no AVX512-BF16\n");
    } else
        printf("no AVX-512: the register-only loops are not run\n");
#endif
    codec_gemm_small_fn gemm = codec_gemm_small_for();
    if (!gemm) {
        printf("small-batch kernel: none at this SIMD level\n");
        return 0;
    }
    static const int shapes[][3] = {{64, 3072, 24}, {32, 8192, 24}, {64, 3072, 32}};
    for (int s = 0; s < 3; s++)
        printf("small-batch kernel, %d × %d weights in L2, T = %d: %.1f GFLOP/s\n", shapes[s][0], shapes[s][1],
               shapes[s][2], small_in_l2(gemm, shapes[s][0], shapes[s][1], shapes[s][2], seconds));
    return 0;
}
