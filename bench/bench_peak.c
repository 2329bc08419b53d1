/* bench_peak.c — this core's arithmetic ceilings, for reading the kernel benchmarks against: a register-only
 * loop of independent f32 FMAs (AVX-512), the same with vdpbf16ps (AVX512-BF16: the instruction act=bf16 must
 * use to keep ggml's numerics), the small-batch product's step (8 weight and 3 activation loads, 24 FMAs) with
 * everything in L1, and the small-batch product itself (codec_gemm_small_fn, the lockstep decode) with its
 * weights held in L2. One thread, GFLOP/s (an FMA lane is 2 flops; a vdpbf16ps lane 4: two bf16 products
 * and their sums). Measured on Intel family 6 model 207 (README, "Phi-3.5-mini"): FMA 154–170, vdpbf16ps
 * 76–79 (it issues once per two cycles there), the small kernel 90–98 (146–170 since its weight vectors are
 * pinned in registers: engine/kernels_avx512.c, "Register pinning"; best calls — see README for medians).
 *
 * Each is timed on its own first (best or median of SECONDS), then the FMA loop, the step and the kernel at
 * T = 23 in paired turns (ratios within a turn: the ones to compare on a shared machine).
 *
 * Build and run: make bench-peak (mk/kernels.mk). A benchmark, not a test. Usage: bench_peak [SECONDS [TURNS]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"
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

/* GFLOP/s of `iters` passes of the small-batch kernel's step over MIX_N floats of 11 rows in L1 (22 KB):
 * per 16 floats, 3 activation loads, 8 weight loads (each into a register, as the kernel pins them) and 24
 * FMAs, with the 24 accumulators in registers throughout. The kernel runs this step between tile changes
 * (accumulators stored and reloaded every 32 steps) and with its operands in L2; this is its ceiling without
 * either. */
#define MIX_N 512
__attribute__((target("avx512f,fma"))) static double mix_in_l1(long iters) {
    static float rows[11][MIX_N] __attribute__((aligned(64)));
    for (int r = 0; r < 11; r++)
        for (int i = 0; i < MIX_N; i++) rows[r][i] = 0.001f * (float)((r + i) % 7);
    __m512 a[8][3];
    for (int r = 0; r < 8; r++)
        for (int t = 0; t < 3; t++) a[r][t] = _mm512_setzero_ps();
    double t0 = now();
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < MIX_N; i += 16) {
            __m512 x0 = _mm512_load_ps(rows[8] + i), x1 = _mm512_load_ps(rows[9] + i), x2 = _mm512_load_ps(rows[10] + i);
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) {
                __m512 wv = _mm512_load_ps(rows[r] + i);
                __asm__("" : "+v"(wv));
                a[r][0] = _mm512_fmadd_ps(wv, x0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(wv, x1, a[r][1]);
                a[r][2] = _mm512_fmadd_ps(wv, x2, a[r][2]);
            }
        }
    double secs = now() - t0;
    float s = 0;
    for (int r = 0; r < 8; r++)
        for (int t = 0; t < 3; t++) s += _mm512_reduce_add_ps(a[r][t]);
    if (s == 12345.0f) printf("(%g)\n", s);
    return (double)iters * (MIX_N / 16) * 24 * 16 * 2 / secs / 1e9;
}
#endif

/* The small-batch kernel over calls on rows × cols weights (in L2) and T activation rows: GFLOP/s of the best
 * call in *best and of the median call in *median (the best is a ceiling; the median what a run of calls
 * gets on a shared machine). */
static void small_in_l2(codec_gemm_small_fn gemm, int rows, int cols, int T, double seconds, double *best,
                        double *median) {
    enum { MAX_CALLS = 100000 };
    *best = *median = 0;
    /* 64-byte aligned, as the engine's codes and activations are (unaligned rows ran at ~0.6× here) */
    float *w = aligned_alloc(64, sizeof(float) * (size_t)rows * (size_t)cols),
          *x = aligned_alloc(64, sizeof(float) * (size_t)T * (size_t)cols), *o = malloc(sizeof(float) * (size_t)T * (size_t)rows);
    double *times = malloc(sizeof(double) * MAX_CALLS);
    if (!w || !x || !o || !times) {
        free(w), free(x), free(o), free(times);
        return;
    }
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) w[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)T * (size_t)cols; i++) x[i] = (float)(i % 5) * 0.01f;
    int n = 0;
    double start = now();
    while (n < MAX_CALLS && now() - start < seconds) {
        double t0 = now();
        gemm(w, (size_t)cols, rows, x, (size_t)cols, T, cols, o, (size_t)rows);
        times[n++] = now() - t0;
    }
    double flop = 2.0 * rows * cols * T, q1, med, q3;
    bench_quartiles(times, n, &q1, &med, &q3);
    *best = flop / times[0] / 1e9;
    *median = flop / med / 1e9;
    free(w), free(x), free(o), free(times);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Paired turns, because this machine's speed moves within seconds: `turns` turns of ≈ 50 ms each of the FMA
 * loop, the kernel's step in L1 and the kernel itself (T = 23, 64 × 3072 weights in L2) in that order; prints
 * the median (quartiles) of each one's GFLOP/s over the FMA loop's in the same turn. */
static void paired_turns(codec_gemm_small_fn gemm, int turns) {
    enum { ROWS = 64, COLS = 3072, T = 23, MAX_TURNS = 1000 };
    if (turns > MAX_TURNS) turns = MAX_TURNS;
    float *w = aligned_alloc(64, sizeof(float) * ROWS * COLS), *x = aligned_alloc(64, sizeof(float) * T * COLS),
          *o = malloc(sizeof(float) * T * ROWS);
    double *mix = malloc(sizeof(double) * (size_t)turns), *ker = malloc(sizeof(double) * (size_t)turns),
           *fma = malloc(sizeof(double) * (size_t)turns);
    if (!w || !x || !o || !mix || !ker || !fma) {
        free(w), free(x), free(o), free(mix), free(ker), free(fma);
        return;
    }
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++) w[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)T * COLS; i++) x[i] = (float)(i % 5) * 0.01f;
    const double turn = 0.05, flop_call = 2.0 * ROWS * COLS * T;
    long fma_iters = (long)(turn * peak_fma(1000000) * 1e9 / (NACC * 16 * 2)) + 1; /* sized by a first run */
    long mix_iters = fma_iters * NACC / 24 / (MIX_N / 16) + 1, calls = (long)(turn * 100e9 / flop_call) + 1;
    for (int k = 0; k < turns; k++) {
        fma[k] = peak_fma(fma_iters);
        mix[k] = mix_in_l1(mix_iters) / fma[k];
        double t0 = now();
        for (long c = 0; c < calls; c++) gemm(w, COLS, ROWS, x, COLS, T, COLS, o, ROWS);
        ker[k] = flop_call * (double)calls / (now() - t0) / 1e9 / fma[k];
    }
    double f[3], m[3], k[3];
    bench_quartiles(fma, turns, &f[0], &f[1], &f[2]);
    bench_quartiles(mix, turns, &m[0], &m[1], &m[2]);
    bench_quartiles(ker, turns, &k[0], &k[1], &k[2]);
    printf("paired, %d turns of ≈ 50 ms (FMA loop median %.1f GFLOP/s), ÷ the FMA loop in the same turn, median "
           "(quartiles): step in L1 %.3f (%.3f–%.3f), kernel %d × %d in L2 at T = %d %.3f (%.3f–%.3f)\n",
           turns, f[1], m[1], m[0], m[2], ROWS, COLS, T, k[1], k[0], k[2]);
    free(w), free(x), free(o), free(mix), free(ker), free(fma);
}
#endif

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int turns = argc > 2 ? atoi(argv[2]) : 30;
    if (!(seconds > 0)) seconds = 1.0;
    if (turns < 1) turns = 30;
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
        printf("small-batch kernel's step in L1 (8 weight + 3 activation loads, 24 FMAs; no tile changes): %.1f GFLOP/s\n",
               mix_in_l1(iters * 4 * NACC / 24 / (MIX_N / 16) + 1));
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
    /* T = 23 is the runner's batch at Phi-3.5-mini's size on a 24 GiB machine */
    static const int shapes[][3] = {{64, 3072, 23}, {64, 3072, 24}, {32, 8192, 24}, {64, 3072, 32}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double best, median;
        small_in_l2(gemm, shapes[s][0], shapes[s][1], shapes[s][2], seconds, &best, &median);
        printf("small-batch kernel, %d × %d weights in L2, T = %d: best call %.1f GFLOP/s, median %.1f\n", shapes[s][0],
               shapes[s][1], shapes[s][2], best, median);
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) paired_turns(gemm, turns);
#endif
    return 0;
}
