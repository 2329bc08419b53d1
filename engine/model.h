/* model.h — Phi3ForCausalLM: weights loaded from a Hugging Face checkpoint directory, run state with KV
 * cache, and the forward pass (in model.c, read top to bottom). */
#ifndef QB_MODEL_H
#define QB_MODEL_H

#include <stdint.h>
#include "codec.h"
#include "config.h"
#include "util.h"

typedef enum { KV_F32 = 0, KV_F16, KV_QINS_V, KV_MODE_COUNT } kv_mode;
const char *kv_mode_name(kv_mode m);
qb_status kv_mode_parse(const char *s, kv_mode *out);

typedef struct {
    CodedTensor qkv;     /* [(H + 2·KV)·hd, hidden]: q rows, then k rows, then v rows */
    CodedTensor o;       /* [hidden, H·hd] */
    CodedTensor gate_up; /* [2·I, hidden]: gate rows, then up rows */
    CodedTensor down;    /* [hidden, I] */
    float *ln1;          /* [hidden] input_layernorm */
    float *ln2;          /* [hidden] post_attention_layernorm */
} LayerWeights;

typedef struct {
    CodedTensor embed;   /* [vocab, hidden] embed_tokens */
    LayerWeights *layers;/* [n_layers] */
    float *norm;         /* [hidden] final norm */
    CodedTensor lm_head; /* [vocab, hidden]; when tied and not separately coded, codes alias embed's */
    int lm_head_aliases_embed;
} Weights;

/* Bytes at rest by tensor group (exact). */
typedef struct {
    uint64_t attn, mlp, lm_head, embed, norms;
    uint64_t n_params_attn, n_params_mlp, n_params_lm_head, n_params_embed, n_params_norms;
} WeightBytes;

typedef struct {
    const char *codec;   /* codec spec text; NULL = "fp32" */
    const char *kv;      /* kv mode text; NULL = "f32" */
    int ctx;             /* KV cache length in tokens; 0 = min(max_position_embeddings, 4096) */
    int threads;         /* 0 = all cores */
    int rope_recompute;  /* generate: re-prefill at the original_max crossing (transformers' generate()) */
} ModelOptions;

typedef struct {
    Config config;
    Weights w;
    CodecSpec codec;
    kv_mode kv;
    int ctx;
    int threads;
    int rope_recompute;
    WeightBytes bytes;
    char *dir;
} Model;

/* The activations of one forward pass: `cap` rows, a row being one token of one sequence. A RunState owns
 * one for its own forwards; sequences decoded together share one (model_forward_batch), so a batch of P
 * sequences needs P rows, not P copies. */
typedef struct {
    int cap;            /* rows every buffer holds */
    float *x;           /* [cap, hidden] residual stream */
    float *xb;          /* [cap, hidden] normed input */
    float *qkv;         /* [cap, (H+2KV)·hd] */
    float *att_out;     /* [cap, H·hd] */
    float *xb2;         /* [cap, hidden] projection output */
    float *hb;          /* [cap, 2·I] gate_up output */
    float *hb2;         /* [cap, I] silu(gate)·up */
    float *cos, *sin;   /* [cap, rotary_dim/2] */
    int *row_seq;       /* [cap] which sequence of the forward each row belongs to */
    int *row_pos;       /* [cap] its position in that sequence */
    float *att;         /* per thread: attention scores, accumulators and converted positions (model.c) */
    int att_threads, att_ctx;
} BatchScratch;

typedef struct {
    int pos;            /* tokens already in the KV cache */
    int ctx;            /* tokens the KV cache holds (≤ the model's ctx) */
    BatchScratch act;   /* this sequence's own activations (model_forward) */
    /* KV cache: per layer [ctx, KV·hd]; element type depends on the kv mode */
    void *key_cache;    /* f32 or f16 */
    void *value_cache;  /* f32, f16, or qins codes (uint8 stored + int8 sign, 2 bytes) */
    float *value_scale; /* qins-v: [layers, ctx, KV] scale per token and KV head */
    uint64_t kv_bytes;
} RunState;

/* Exact bytes at rest by group for a config's shapes under a codec, without loading anything (the same
 * numbers model_load gives in Model.bytes; a test holds them equal). For sizes of models too big to load. */
void model_bytes_for_config(const Config *c, const CodecSpec *spec, WeightBytes *out);
/* Whether a codec takes the scale=tensor option (the QINS family). */
int codec_has_tensor_scale(codec_id id);

qb_status model_load(const char *dir, const ModelOptions *opt, Model *m);
void model_free(Model *m);

qb_status runstate_build(RunState *s, const Model *m);
/* A run state whose KV cache holds ctx tokens (1 ≤ ctx ≤ m->ctx): a batch of sequences needs only its
 * prompts' and steps' length each, not the model's whole context. */
qb_status runstate_build_ctx(RunState *s, const Model *m, int ctx);
void runstate_free(RunState *s);
void runstate_reset(RunState *s);
/* Forgets every token at positions ≥ pos (0 ≤ pos ≤ s->pos): the cache holds exactly what it held when
 * its first pos tokens had been run, since keys and values are appended and never rewritten. Returns
 * QB_ERR_INPUT for a pos outside that range. */
qb_status runstate_truncate(RunState *s, int pos);
/* Moves s forward to position pos (s->pos ≤ pos ≤ s->ctx) without running the model: the cache entries in
 * between are set to zero bytes, the keys and values of no real token. For timing only: run's estimate uses
 * it to time a decode step at the middle of a long greedy pass, whose attention reads every position
 * before it; logits computed after it mean nothing. Returns QB_ERR_INPUT for a pos outside that range. */
qb_status runstate_skip_for_timing(RunState *s, const Model *m, int pos);
/* Exact bytes of the KV cache runstate_build_ctx allocates for ctx tokens under the model's kv mode
 * (0 when it overflows). */
uint64_t runstate_kv_bytes(const Config *c, kv_mode kv, int ctx);
/* Bytes of a BatchScratch of `rows` rows for a model of these shapes run with `threads` threads and a
 * context of ctx tokens (for memory budgets). */
uint64_t batch_scratch_bytes(const Config *c, int threads, int ctx, int rows);

qb_status batch_scratch_build(BatchScratch *a, const Model *m, int rows);
void batch_scratch_free(BatchScratch *a);

/* Runs tokens[0..n) at positions s->pos … s->pos+n−1 as one forward (the LongRoPE factors are chosen by
 * the largest position in it), appends their keys and values to the cache, advances s->pos.
 * logits: NULL, or [n, vocab] when all_logits, or [vocab] (last position) otherwise.
 * hidden: NULL, or [(n_layers+1), n, hidden] = transformers' output_hidden_states. */
qb_status model_forward(const Model *m, RunState *s, const int *tokens, int n, float *logits, int all_logits,
                        float *hidden);

/* P sequences in one forward: sequence p (its own RunState, KV cache and position) takes the next n_tokens[p]
 * ids of `tokens` (n_tokens NULL: one each), and every linear layer is one product over all rows, so the
 * weights are read once for the batch. RoPE (the LongRoPE factors chosen per sequence, as model_forward
 * chooses them), the KV store and attention run per sequence. logits: NULL or [P, vocab], each sequence's
 * last position. The scratch grows to the rows it needs. The seqs must be distinct; on an error no state
 * has changed. model_forward is this with P = 1 and the state's own scratch. */
qb_status model_forward_batch(const Model *m, RunState *const *seqs, const int *tokens, const int *n_tokens, int P,
                              float *logits, BatchScratch *scratch);

/* Greedy decoding: prefill `prompt`, then up to max_new steps. out_tokens[max_new] receives the new ids,
 * margins (may be NULL) the top-1 − top-2 logit at each step. Stops after an eos id unless ignore_eos.
 * on_token (may be NULL) is called after each token (streaming); returning nonzero stops. Returns the
 * number of tokens generated in *n_out. */
typedef int (*model_token_cb)(void *ctx, int token);
qb_status model_generate_greedy(const Model *m, RunState *s, const int *prompt, int n_prompt, int max_new,
                                int ignore_eos, int *out_tokens, float *margins, int *n_out,
                                model_token_cb on_token, void *cb_ctx);

/* argmax and top-1 − top-2 margin of a logit vector (ties: the lowest id, as torch.argmax). */
int logits_argmax(const float *logits, int n, float *margin);

#endif
