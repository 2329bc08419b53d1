/* bench_prefill.c — prefill's products (T = 512) of each codec paired with fp32's, on 1 and 2 threads.
 *
 * One Phi-3.5-mini layer's four products (qkv 9216 × 3072, o 3072 × 3072, gate_up 16384 × 3072, down 3072 ×
 * 8192) through codec_matmul, as the forward pass calls them at pp512. A pass times fp32, then each codec, on
 * one thread and then on two, each configuration in turn; the pass is repeated PASSES times. Because this
 * machine's speed moves by up to 2× within minutes, each codec is reported over fp32 *of the same pass*
 * (median and quartiles over passes), and two threads over one likewise; the GFLOP/s columns are medians
 * (2·T·rows·cols per product). The coded prefill's block size (engine/codec.c MM_ROW_BLOCK) was chosen by
 * timing each candidate this way (a throwaway harness); this program times the shipped setting, and the
 * README cites its figures.
 *
 * Build and run: make bench-prefill (mk/kernels.mk). A benchmark, not a test: numbers depend on the machine
 * and its load. Usage: bench_prefill [PASSES [SPEC,SPEC,...]] (default 24 passes; q8_0,qins8,q4_0). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "codec.h"
#include "runtime_env.h"
#include "util.h"

void openblas_set_num_threads(int);

enum { T = 512, NPROD = 4, MAXC = 8, MAXPASS = 1000 };
static const int64_t shapes[NPROD][2] = {{9216, 3072}, {3072, 3072}, {16384, 3072}, {3072, 8192}};

int main(int argc, char **argv) {
    if (qb_runtime_env()) execv("/proc/self/exe", argv);
    int passes = argc > 1 ? atoi(argv[1]) : 24;
    const char *list = argc > 2 ? argv[2] : "q8_0,qins8,q4_0";
    if (argc > 3 || passes < 1 || passes > MAXPASS) {
        fprintf(stderr, "usage: bench_prefill [PASSES (1..%d) [SPEC,SPEC,...]]\n", MAXPASS);
        return 2;
    }
    /* specs[0] is fp32, the reference of every pass */
    CodecSpec specs[MAXC];
    char names[MAXC][64];
    int nc = 1;
    specs[0] = (CodecSpec){.id = CODEC_FP32};
    snprintf(names[0], sizeof names[0], "fp32");
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (nc == MAXC) {
            fprintf(stderr, "bench_prefill: at most %d codecs\n", MAXC - 1);
            return 2;
        }
        if (codec_spec_parse(tok, &specs[nc]) != QB_OK) {
            fprintf(stderr, "bench_prefill: %s\n", qb_last_error());
            return 2;
        }
        snprintf(names[nc], sizeof names[nc], "%s", tok);
        nc++;
    }
    /* weights: one random layer, encoded under every spec */
    static CodedTensor W[MAXC][NPROD];
    float *tmp = malloc(sizeof(float) * (size_t)(16384 * 3072));
    float *x = malloc(sizeof(float) * (size_t)T * 8192), *out = malloc(sizeof(float) * (size_t)T * 16384);
    if (!tmp || !x || !out) {
        fprintf(stderr, "bench_prefill: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < (int64_t)T * 8192; i++) x[i] = frand();
    double gflop = 0;
    for (int p = 0; p < NPROD; p++) {
        const int64_t rows = shapes[p][0], cols = shapes[p][1];
        gflop += 2.0 * T * (double)rows * (double)cols / 1e9;
        for (int64_t i = 0; i < rows * cols; i++) tmp[i] = frand();
        for (int c = 0; c < nc; c++) {
            codec_id id = specs[c].id;
            if (codec_tensor_init(&W[c][p], id, codec_params_for(&specs[c], id), rows, cols, 0.0f) != QB_OK ||
                codec_encode_rows(&W[c][p], 0, rows, tmp) != QB_OK) {
                fprintf(stderr, "bench_prefill: %s: %s\n", names[c], qb_last_error());
                return 1;
            }
        }
    }
    free(tmp);
    printf("bench_prefill: one Phi-3.5-mini layer's products at T = %d (%.1f GFLOP), %d passes, each codec timed "
           "in turn with fp32 in the same pass\n",
           T, gflop, passes);
    /* secs[c][th - 1][pass] */
    static double secs[MAXC][2][MAXPASS];
    for (int k = 0; k < passes; k++) {
        for (int th = 1; th <= 2; th++)
            for (int c = 0; c < nc; c++) {
                openblas_set_num_threads(th);
                double t0 = omp_get_wtime();
                for (int p = 0; p < NPROD; p++) codec_matmul(out, &W[c][p], x, T, th);
                secs[c][th - 1][k] = omp_get_wtime() - t0;
            }
        fprintf(stderr, "\rpass %d/%d", k + 1, passes);
    }
    fprintf(stderr, "\n");
    printf("| codec | GFLOP/s 1 thread | GFLOP/s 2 threads | ÷ fp32, 1 thread | ÷ fp32, 2 threads | 2 threads ÷ 1 |\n");
    printf("|---|---:|---:|---|---|---|\n");
    static double v[5][MAXPASS];
    for (int c = 0; c < nc; c++) {
        for (int k = 0; k < passes; k++) {
            v[0][k] = gflop / secs[c][0][k];
            v[1][k] = gflop / secs[c][1][k];
            v[2][k] = secs[0][0][k] / secs[c][0][k]; /* speed over fp32's, same pass */
            v[3][k] = secs[0][1][k] / secs[c][1][k];
            v[4][k] = secs[c][0][k] / secs[c][1][k];
        }
        double q[5][3];
        for (int j = 0; j < 5; j++) bench_quartiles(v[j], passes, &q[j][0], &q[j][1], &q[j][2]);
        printf("| %s | %.1f | %.1f | ", names[c], q[0][1], q[1][1]);
        if (c == 0) /* the reference: its ratio to itself is 1 by construction */
            printf("— | — | ");
        else
            printf("%.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | ", q[2][1], q[2][0], q[2][2], q[3][1], q[3][0], q[3][2]);
        printf("%.2f (%.2f–%.2f) |\n", q[4][1], q[4][0], q[4][2]);
    }
    printf("(medians over passes; in parentheses the quartiles)\n");
    for (int c = 0; c < nc; c++)
        for (int p = 0; p < NPROD; p++) codec_tensor_free(&W[c][p]);
    free(x), free(out);
    return 0;
}
