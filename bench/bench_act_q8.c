/* bench_act_q8.c — act=q8 products (q8_0:act=q8, q4_0:act=q8; engine/codec_act.c) beside the same codec with
 * f32 activations, at Phi-3.5-mini shapes: ms per codec_matmul call (best of REPS), for T = 1 (decode: the
 * weights stream from DRAM) and a prefill batch T, at 1 and 2 threads, the variants interleaved so machine
 * load hits them alike. A benchmark, not a test: numbers depend on the machine and its load.
 * Build and run: make bench-act-q8 (mk/kernels.mk). Usage: bench_act_q8 [REPS] [T_PREFILL]
 * Run it with OMP_WAIT_POLICY=passive, as qinsbench sets it (the make target does). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include <unistd.h>

#include "bench_util.h"
#include "codec.h"
#include "runtime_env.h"

int main(int argc, char **argv) {
    /* The environment qinsbench itself runs with (harness/runtime_env.c): passive OpenMP waiting, and
     * OpenBLAS's SkylakeX/Haswell kernels where it would fall back to Prescott's. Without it the sgemm and
     * f32-activation figures here were Prescott's (25-33 GFLOP/s for sgemm on a core that runs 80+). */
    if (qb_runtime_env()) execv("/proc/self/exe", argv);
    const int reps = argc > 1 ? atoi(argv[1]) : 5, Tp = argc > 2 ? atoi(argv[2]) : 128;
    static const int64_t shapes[][2] = {{9216, 3072}, {3072, 8192}}; /* qkv_proj, down_proj */
    static const codec_id ids[] = {CODEC_Q8_0, CODEC_Q4_0};
    printf("| codec | rows × cols | T | threads | act=f32 ms | act=q8 ms | f32 ÷ q8 |\n|---|---|---:|---:|---:|---:|---:|\n");
    for (size_t s = 0; s < 2; s++) {
        const int64_t rows = shapes[s][0], cols = shapes[s][1];
        float *w = malloc(sizeof(float) * (size_t)(rows * cols)), *x = malloc(sizeof(float) * (size_t)(Tp * cols));
        float *out = malloc(sizeof(float) * (size_t)(Tp * rows));
        if (!w || !x || !out) return 1;
        for (int64_t i = 0; i < rows * cols; i++) w[i] = frand();
        for (int64_t i = 0; i < Tp * cols; i++) x[i] = frand() * 10;
        for (size_t c = 0; c < 2; c++) {
            CodedTensor a, b;
            CodecParams pa = {.act = CODEC_ACT_F32}, pb = {.act = CODEC_ACT_Q8};
            if (codec_tensor_init(&a, ids[c], &pa, rows, cols, 0) != QB_OK || codec_encode_rows(&a, 0, rows, w) != QB_OK ||
                codec_tensor_init(&b, ids[c], &pb, rows, cols, 0) != QB_OK || codec_encode_rows(&b, 0, rows, w) != QB_OK)
                return 1;
            for (int nt = 1; nt <= 2; nt++)
                for (int k = 0; k < 2; k++) {
                    const int T = k ? Tp : 1, inner = k ? 1 : 8;
                    double best[2] = {1e30, 1e30};
                    for (int r = 0; r < reps; r++)
                        for (int v = 0; v < 2; v++) {
                            double t0 = omp_get_wtime();
                            for (int i = 0; i < inner; i++) codec_matmul(out, v ? &b : &a, x, T, nt);
                            double dt = (omp_get_wtime() - t0) / inner;
                            if (dt < best[v]) best[v] = dt;
                        }
                    printf("| %s | %lld × %lld | %d | %d | %.3f | %.3f | %.2f |\n", codec_name(ids[c]), (long long)rows,
                           (long long)cols, T, nt, best[0] * 1e3, best[1] * 1e3, best[0] / best[1]);
                    fflush(stdout);
                }
            codec_tensor_free(&a);
            codec_tensor_free(&b);
        }
        free(w), free(x), free(out);
    }
    return 0;
}
