/* kernels.h — multi-row fast kernels (the matvec of the decode step), beside the one-row kernels of
 * codec.h. A 4-row kernel computes out[k] = Σ_i decode(row_k)[i] · x[i] for the 4 rows at
 * rows + k·stride (k = 0..3), over n weights (n a whole number of blocks); row_scales holds the rows'
 * f32 scales (NULL for codecs without one). Reading each activation chunk once for four rows cuts the
 * activation loads per weight by 4, which matters when the activation does not fit L1 beside the streamed
 * weights (down_proj: 8192 floats = 32 KB, all of L1d) and the decode is cheap: fp32, bf16, f16 (the
 * measurements are at the table in kernels_avx512.c). Each is held to the codec's scalar vec_dot_ref
 * within the same 1e-5 relative tolerance as the one-row kernels (tests/test_kernels.c); a row's result
 * depends only on its own codes, x and n, never on the other three rows or the thread schedule. */
#ifndef QB_KERNELS_H
#define QB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* Software prefetch distance of the streaming decode kernels (T = 1), in bytes ahead of the weights being
 * read. A one-row kernel that decodes each weight (q8_0, q4_0, qins, qins8, int8) consumes bytes slower than
 * fp32, and the hardware prefetcher then runs too few lines ahead to cover DRAM latency: memory and decode
 * took turns instead of overlapping. Measured on this machine (Intel family 6 model 207, one thread,
 * bench_kernels --quick, gate_up 16384×3072, GB/s of weights with no prefetch → 2048 → 4096 → 8192 B
 * ahead): q8_0 6.8–7.0 → 11.4–12.3 → 12.6–13.4 → 12.4–12.6; qins 6.5–6.7 → 11.4–12.0 → 12.3–12.4 →
 * 12.2; int8 7.5–8.2 → 12.4–12.8 → 12.2–12.8 → 13.0–13.1; q4_0 5.8–6.1 → 7.6–8.3 → 7.8–8.8 → 8.0–8.3
 * (q4_0 and qins8 are then bound by their decode). The read probe gives ~16 GB/s per thread. Through
 * `qinsbench bench -p 0 -n 32` (8 layers of Phi-3.5-mini, tg32 tok/s on one thread, two interleaved rounds
 * without → with): q8_0 6.25/6.40 → 9.05/9.90, qins 3.34/3.45 → 5.81/5.64, act=bf16's one-row kernel
 * (codec_act.c) 4.93/4.74 → 6.51/6.43. Prefetches never fault, so running past a tensor's end is harmless.
 * Override with -DCODEC_PF_AHEAD=N to sweep. */
#ifndef CODEC_PF_AHEAD
#define CODEC_PF_AHEAD 4096
#endif

#define CODEC_DOT_ROWS 4
typedef void (*codec_vec_dot4_fn)(const uint8_t *rows, size_t stride, const float *row_scales, const float *x,
                                  int64_t n, float *out);
/* Per codec at the AVX-512 level (NULL where there is none). */
extern const codec_vec_dot4_fn codec_vec_dot4_avx512[CODEC_COUNT];
/* The 4-row kernel codec_matmul uses at the current SIMD level, or NULL (then it runs one row at a time). */
codec_vec_dot4_fn codec_vec_dot4_for(codec_id id);

/* Small-batch product (the batched decode step, 2 ≤ T ≤ a few dozen): out[t·os + r] = Σ_i w[r·ws + i] · x[t·xs + i]
 * for weight rows r < nr and activation rows t < T, over n columns, on f32 weights (fp32's codes, or rows
 * another codec decoded into scratch). Unlike sgemm it packs nothing: each weight row is read from memory
 * once per call while the T activation rows pass over it in cache. Each output's summation order depends
 * only on n (see kernels_avx512.c), so out[t, r] depends only on weight row r and activation row t, never
 * on nr, T, or the other rows of the call. Held to codec_gemm_small_ref within TOL_GEMM (tests/test_kernels.c). */
/* codec_matmul uses it for 2 ≤ T ≤ CODEC_GEMM_SMALL_T_MAX, sgemm above (prefill). Measured: see codec.c. */
#define CODEC_GEMM_SMALL_T_MAX 32
typedef void (*codec_gemm_small_fn)(const float *w, size_t ws, int64_t nr, const float *x, size_t xs, int T,
                                    int64_t n, float *out, size_t os);
extern const codec_gemm_small_fn codec_gemm_small_avx512;
/* Scalar reference: each output one sequential f32 sum over i. */
void codec_gemm_small_ref(const float *w, size_t ws, int64_t nr, const float *x, size_t xs, int T, int64_t n,
                          float *out, size_t os);
/* The kernel codec_matmul uses at the current SIMD level, or NULL (then T > 1 goes to sgemm). */
codec_gemm_small_fn codec_gemm_small_for(void);

#endif
