/* results_schema.h — the names inside a results file, each with its unit and one-line description, in one
 * place (docs/results.md explains them at length). The writer (h5r_write_cell, run_reference in run_cell.c)
 * takes a dataset's `units` and `description` attributes from this table (h5r_write_rs), so a dataset cannot
 * be written undocumented; every reader (plot.c, report.c, claims.c, gate.c, run_show.c, cmd_run.c) names
 * objects with rs_name(). The summary table's own fields are listed in h5_results.c (SUMMARY_FIELDS).
 *
 * Layout: /cells/<cell> (h5r_cell_name) holds one (model, codec, KV) cell; /models/<label> the reference's
 * outputs for one model. Dataset names of a cell are relative to its group ("greedy/survival"); groups hold
 * no attributes besides the ones listed. Attributes carry no attributes themselves: their unit and
 * description here are documentation only. Shapes: P prompts, T greedy steps, N scored tokens, W windows,
 * R speed repeats, F teacher-forced flips. */
#ifndef QB_RESULTS_SCHEMA_H
#define QB_RESULTS_SCHEMA_H

/* X(id, name, units, description) */
#define RS_SCHEMA(X)                                                                                              \
    /* ---- top level */                                                                                      \
    X(RS_CELLS, "/cells", "", "per (model, codec, kv) cell: the raw arrays behind /summary")                  \
    X(RS_MODELS, "/models", "", "per model: its path and the reference codec's outputs")                       \
    /* ---- attributes of a cell group */                                                                     \
    X(RS_CELL_MODEL, "model", "", "the model label (config models[].label)")                                   \
    X(RS_CELL_CODEC, "codec", "", "the codec spec as written in the config")                                   \
    X(RS_CELL_CODEC_CANONICAL, "codec_canonical", "", "the codec spec as codec_spec_format writes it")         \
    X(RS_CELL_KV, "kv", "", "the KV cache mode as written in the config")                                     \
    X(RS_CELL_INDEX, "cell_index", "", "index in the config's models x codecs x kv order")                    \
    X(RS_CELL_STATUS, "status", "", "ok (failed cells are not stored)")                                       \
    X(RS_CELL_BATCH, "batch", "prompt", "prompts decoded together (the reference's; only with greedy)")       \
    /* ---- groups of a cell, and their attributes */                                                         \
    X(RS_MEMORY, "memory", "", "weight bytes and parameters by tensor group")                                 \
    X(RS_MEMORY_GROUPS, "groups", "", "the tensor groups of the memory arrays, in order")                     \
    X(RS_GREEDY, "greedy", "", "free-running greedy decoding against the reference")                         \
    X(RS_TF, "tf", "", "teacher forcing on the reference's greedy tokens")                                    \
    X(RS_PPL, "ppl", "", "sliding-window perplexity and KL against the reference")                            \
    X(RS_SPEED, "speed", "", "prefill and decode wall times")                                                 \
    X(RS_SPEED_PROMPT_TOKENS, "prompt_tokens", "token", "random ids prefilled per repeat")                    \
    X(RS_SPEED_DECODE_TOKENS, "decode_tokens", "token", "greedy single-token steps per repeat")              \
    X(RS_SPEED_THREADS, "threads", "thread", "threads of the speed runs")                                     \
    /* ---- datasets of a cell */                                                                             \
    X(RS_MEM_WEIGHT_BYTES, "memory/weight_bytes", "byte",                                                     \
      "bytes at rest by tensor group: attn, mlp, lm_head, embed, norms") /* int64 [5] */                      \
    X(RS_MEM_WEIGHT_PARAMS, "memory/weight_params", "parameter",                                              \
      "parameters by tensor group: attn, mlp, lm_head, embed, norms") /* int64 [5] */                         \
    X(RS_GREEDY_TOKENS, "greedy/tokens", "token id", "the codec's free-running greedy tokens") /* int32 [P,T] */ \
    X(RS_GREEDY_MATCH, "greedy/match", "fraction",                                                            \
      "per prompt: fraction of steps whose token equals the reference's") /* double [P] */                   \
    X(RS_GREEDY_FIRST_DIVERGENCE, "greedy/first_divergence", "step",                                          \
      "per prompt: first step whose token differs from the reference's (steps when none)") /* int32 [P] */    \
    X(RS_GREEDY_SURVIVAL, "greedy/survival", "fraction",                                                      \
      "fraction of prompts identical to the reference through step t") /* double [T] */                      \
    X(RS_TF_ARGMAX, "tf/argmax", "token id",                                                                  \
      "the codec's argmax when fed the reference's greedy tokens") /* int32 [P,T] */                          \
    X(RS_TF_AGREE, "tf/agree", "fraction",                                                                    \
      "per prompt: teacher-forced steps whose argmax equals the reference token") /* double [P] */            \
    X(RS_TF_FLIP_PROMPT, "tf/flip_prompt", "index", "prompt of each teacher-forced flip") /* int32 [F] */     \
    X(RS_TF_FLIP_STEP, "tf/flip_step", "step", "step of each teacher-forced flip") /* int32 [F] */            \
    X(RS_TF_FLIP_MARGIN, "tf/flip_margin", "logit",                                                           \
      "the reference's top-1 minus top-2 logit margin at each flip") /* float [F] */                          \
    X(RS_PPL_NLL, "ppl/nll", "nat", "the codec's -log p(target) per scored token") /* double [N] */           \
    X(RS_PPL_KL, "ppl/kl", "nat",                                                                             \
      "KL(P_ref || P_codec) over the full vocabulary per scored token, FP64 accumulation") /* double [N] */   \
    X(RS_PPL_SAME_TOP, "ppl/same_top", "bool", "1 when the codec's argmax equals the reference's") /* int8 [N] */ \
    X(RS_PPL_DP_TOP, "ppl/dp_top", "probability", "P_codec minus P_ref of the reference's top token") /* double [N] */ \
    X(RS_PPL_WINDOW_NLL, "ppl/window_nll", "nat", "per window: sum of the codec's nll") /* double [W] */      \
    X(RS_PPL_WINDOW_REF_NLL, "ppl/window_ref_nll", "nat", "per window: sum of the reference's nll") /* double [W] */ \
    X(RS_PPL_WINDOW_KL, "ppl/window_kl", "nat", "per window: sum of per-token KL") /* double [W] */            \
    X(RS_PPL_WINDOW_COUNT, "ppl/window_count", "token", "per window: scored tokens") /* int64 [W] */          \
    X(RS_SPEED_PREFILL_SECONDS, "speed/prefill_seconds", "s",                                                 \
      "wall time of one forward over prompt_tokens random ids, per repeat") /* double [R] */                  \
    X(RS_SPEED_DECODE_SECONDS, "speed/decode_seconds", "s",                                                   \
      "wall time of decode_tokens single-token greedy steps after that prefill, per repeat") /* double [R] */ \
    /* ---- attributes of /models/<label> */                                                                  \
    X(RS_MODEL_PATH, "path", "", "the checkpoint directory, as the config gives it")                          \
    X(RS_MODEL_LABEL, "label", "", "the model label (config models[].label)")                                 \
    X(RS_MODEL_REFERENCE, "reference", "", "the reference codec spec as written in the config")               \
    X(RS_MODEL_REFERENCE_CANONICAL, "reference_canonical", "", "the reference spec as codec_spec_format writes it") \
    X(RS_MODEL_VOCAB, "vocab", "token", "vocabulary size")                                                    \
    X(RS_MODEL_CTX, "ctx", "token", "KV cache length of every pass")                                          \
    X(RS_MODEL_BATCH, "batch", "prompt", "prompts the reference decoded together (every cell uses it)")      \
    X(RS_MODEL_DESCRIPTION, "description", "", "what the group holds")                                        \
    X(RS_MODEL_TORCH_DTYPE, "torch_dtype", "", "read by claims.c; no runner writes it (absent: \"\")")       \
    /* ---- datasets of /models/<label> */                                                                    \
    X(RS_MODEL_PROMPT_IDS, "prompt_ids", "token id",                                                          \
      "all greedy prompts concatenated; prompt p is prompt_ids[prompt_offsets[p]:prompt_offsets[p+1]]")       \
    X(RS_MODEL_PROMPT_OFFSETS, "prompt_offsets", "index",                                                     \
      "start of each prompt in prompt_ids, plus the total") /* int64 [P+1] */                                 \
    X(RS_MODEL_GREEDY_TOKENS, "greedy_tokens", "token id",                                                    \
      "the reference's greedy continuation of each prompt (EOS ignored)") /* int32 [P,T] */                   \
    X(RS_MODEL_GREEDY_MARGINS, "greedy_margins", "logit",                                                     \
      "the reference's top-1 minus top-2 logit at each greedy step") /* float [P,T] */                        \
    X(RS_MODEL_WINDOWS, "windows", "token index",                                                             \
      "perplexity windows: begin, end (exclusive), first scored target index") /* int64 [W,3] */             \
    X(RS_MODEL_NLL, "nll", "nat",                                                                             \
      "the reference's -log p(target) for each scored token, in window order") /* double [N] */

typedef enum {
#define RS_X(id, name, units, description) id,
    RS_SCHEMA(RS_X)
#undef RS_X
    RS_COUNT
} rs_id;

typedef struct {
    const char *name, *units, *description;
} RsEntry;

/* The schema entry of `id`. */
static inline const RsEntry *rs_entry(rs_id id) {
    static const RsEntry table[RS_COUNT] = {
#define RS_X(id, name, units, description) {name, units, description},
        RS_SCHEMA(RS_X)
#undef RS_X
    };
    return &table[id];
}

/* The name of `id` (for readers). */
static inline const char *rs_name(rs_id id) { return rs_entry(id)->name; }

#endif
