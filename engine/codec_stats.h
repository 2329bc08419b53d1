/* codec_stats.h — what a codec did to a tensor, measured through the codec table: the error of the
 * decoded weights against the originals, the order-0 Shannon entropy of the stored symbols (the best any
 * lossless stage — the claim's "Huffman" — could reach on them), and the qins family's magnitude codes
 * above 200 (the claim's "remove near-zero weights (stored > 200)"). Accumulates over tensors, so one
 * struct can describe a whole model. Used by `qinsbench codec` and the claims table. */
#ifndef QB_CODEC_STATS_H
#define QB_CODEC_STATS_H

#include <stdint.h>
#include "codec.h"

/* The threshold of the claim's sparsity: stored codes above it are "near-zero weights". */
#define CODEC_SPARSE_STORED 200

typedef struct {
    uint64_t n;             /* weights measured */
    double err2, ref2;      /* Σ (ŵ − w)², Σ w² */
    double max_abs;         /* max |ŵ − w| */
    double rel_sum;         /* Σ |ŵ − w| / |w| over the weights with w ≠ 0 */
    uint64_t n_rel;         /* how many such weights */
    double entropy_sum;     /* Σ over tensors of entropy (bits/weight, side information included) × weights */
    int entropy_missing;    /* 1: some tensor's codec has no symbols (fp32): entropy not computed */
    uint64_t n_stored, n_stored_sparse; /* weights with a magnitude code, and those with code > CODEC_SPARSE_STORED */
    uint64_t bytes;         /* bytes at rest */
} CodecStats;

void codec_stats_init(CodecStats *s);
/* Adds one coded tensor; w holds its original rows × cols weights (row-major). QB_ERR_NOMEM only. */
qb_status codec_stats_add(CodecStats *s, const CodedTensor *t, const float *w);

double codec_stats_rel_rms(const CodecStats *s);       /* ‖ŵ − w‖ / ‖w‖ */
double codec_stats_mean_rel(const CodecStats *s);      /* mean |ŵ − w| / |w| over w ≠ 0; NaN when none */
double codec_stats_entropy_bits(const CodecStats *s);  /* bits/weight; NaN when not computed */
double codec_stats_sparse_frac(const CodecStats *s);   /* fraction of codes > 200; NaN without magnitude codes */
double codec_stats_bits(const CodecStats *s);          /* bits/weight at rest */

/* Order-0 entropy of one coded tensor's stored symbols plus its side information (row scales, block
 * scales) at stored size, in bits per weight; NaN when the codec has no symbols (fp32). */
double codec_tensor_entropy(const CodedTensor *t);

#endif
