/* attention.h — the two products inside attention, for R ≤ ATTN_ROWS rows (queries) of one head over n
 * cached positions they all attend to: scores s_r[j] = (q_r · k_j) · scale, and the mix
 * acc_r += Σ_j p_r[j] · v_j. model.c's attention() does the softmax between them and the threading around
 * them.
 *
 * Each has a scalar _ref that defines its arithmetic, and an AVX-512 kernel that computes exactly the same
 * bits (tests/test_kernels.c holds them equal: TOL_ATTN = 0):
 * - a score: 16 lanes, lane l accumulating q[i]·k[i] for i ≡ l (mod 16) in increasing i with fused
 *   multiply-adds, then the lanes summed pairwise (l + l+8, then + l+4, + l+2, + l+1), then × scale. The
 *   AVX-512 kernel computes 16 (row, key) pairs at once and sums their lanes with one transposing network,
 *   which performs those same additions for every pair.
 * - the mix: acc[i] = fma(p_j, v_j[i], acc[i]) for j in increasing order, each i on its own.
 * A score and a row's mix therefore depend only on that row's query, keys, values and weights: never on
 * the other rows of the call, the thread, or how the positions are handed over in pieces (model.c passes
 * f16 and qins-v caches 16 converted positions at a time, f32 caches in place).
 *
 * Why rows together: one row at a time, attention is a row of matvecs that streams the head's keys and
 * values once per row; at 512 positions of Phi-3.5-mini they are 192 KB each, read from L2 at ~15 GFLOP/s
 * (the scalar loops before these kernels ran at ~5). Four rows share each key and value load. Measured in
 * the commit that introduced this file. */
#ifndef QB_ATTENTION_H
#define QB_ATTENTION_H

#include <stddef.h>

/* Rows per call, at most. */
#define ATTN_ROWS 4

/* s[r·ss + j] = (q_r · k_j) · scale for r < R, j < n; q_r = q + r·qs, k_j = k + j·ks floats; hd floats each. */
typedef void (*attn_scores_fn)(float *s, size_t ss, const float *q, size_t qs, int R, const float *k, size_t ks,
                               int n, int hd, float scale);
/* acc_r[i] += Σ_j p_r[j] · v_j[i] for j < n in order; acc_r = acc + r·as, p_r = p + r·ps, v_j = v + j·vs. */
typedef void (*attn_mix_fn)(float *acc, size_t as, const float *p, size_t ps, int R, const float *v, size_t vs,
                            int n, int hd);

void attn_scores_ref(float *s, size_t ss, const float *q, size_t qs, int R, const float *k, size_t ks, int n,
                     int hd, float scale);
void attn_mix_ref(float *acc, size_t as, const float *p, size_t ps, int R, const float *v, size_t vs, int n, int hd);

/* The kernels for head size hd at the current SIMD level (codec_simd_level()): AVX-512 when the CPU has it
 * and hd is a multiple of 16, else the _ref. */
attn_scores_fn attn_scores_for(int hd);
attn_mix_fn attn_mix_for(int hd);

/* The AVX-512 kernels themselves, NULL without AVX-512 support in the build (for the tests). */
extern const attn_scores_fn attn_scores_avx512;
extern const attn_mix_fn attn_mix_avx512;

#endif
