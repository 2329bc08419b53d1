/* results_schema.h — the names inside a results file, each with its unit and one-line description, in one
 * place (docs/results.md explains them at length). The writer (h5r_write_cell, run_reference in run_cell.c)
 * takes a dataset's `units` and `description` attributes from this table (h5r_write_rs), so a dataset cannot
 * be written undocumented; every reader (plot.c, report.c, claims.c, gate.c, run_show.c, cmd_run.c) names
 * objects with rs_name(). The summary table's fields are SUMMARY_FIELDS below (RS_FIELD names one).
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
    /* ---- top level, root and /provenance attributes, the run's cache files */                              \
    X(RS_CELLS, "/cells", "", "per (model, codec, kv) cell: the raw arrays behind /summary")                  \
    X(RS_MODELS, "/models", "", "per model: its path and the reference codec's outputs")                      \
    X(RS_SUMMARY, "/summary", "", "one row per cell (compound; fields, units, descriptions: /summary_fields)")\
    X(RS_SUMMARY_FIELDS, "/summary_fields", "", "name, unit and description of each /summary field")          \
    X(RS_PROVENANCE, "/provenance", "", "where and how this file was made; the root attributes hold the versions")\
    X(RS_UNITS, "units", "", "the unit of a dataset (attribute of every dataset)")                            \
    X(RS_DESCRIPTION, "description", "", "what a group holds (/models, /cells, /provenance, /models/<label>)")\
    X(RS_ROOT_SCHEMA_VERSION, "schema_version", "", "H5R_SCHEMA_VERSION of the writer")                       \
    X(RS_ROOT_QINSBENCH_VERSION, "qinsbench_version", "", "\"qinsbench <git revision>\"")                     \
    X(RS_ROOT_GIT_COMMIT, "git_commit", "", "git revision of the build (-dirty: uncommitted changes)")        \
    X(RS_ROOT_COMPILER, "compiler", "", "compiler version")                                                   \
    X(RS_ROOT_CFLAGS, "cflags", "", "optimization and sanitizer flags")                                       \
    X(RS_ROOT_OPENBLAS_CONFIG, "openblas_config", "", "openblas_get_config()")                                \
    X(RS_ROOT_HDF5_VERSION, "hdf5_version", "", "HDF5 library version")                                       \
    X(RS_ROOT_CPU_MODEL, "cpu_model", "", "/proc/cpuinfo model name")                                         \
    X(RS_ROOT_THREADS, "threads", "thread", "threads of the run")                                             \
    X(RS_ROOT_OMP_WAIT_POLICY, "omp_wait_policy", "", "OMP_WAIT_POLICY of the run (\"\" when unset)")         \
    X(RS_ROOT_START_TIME, "start_time", "", "UTC creation time, ISO 8601")                                    \
    X(RS_ROOT_CONFIG_NAME, "config_name", "", "the config's name")                                            \
    X(RS_ROOT_CONFIG_PATH, "config_path", "", "the config file as given")                                     \
    X(RS_ROOT_CONFIG_TEXT, "config_text", "", "the config file's full text (resume and merge compare it)")    \
    X(RS_ROOT_SHARD, "shard", "", "\"K/N\" for a shard of the cells, \"\" for all of them")                   \
    X(RS_ROOT_CELLS_TOTAL, "cells_total", "cell", "cells the file is meant to hold (show flags a partial file)")\
    X(RS_ROOT_RESUME_COMMAND, "resume_command", "", "how to complete a partial file")                         \
    X(RS_PROV_HOSTNAME, "hostname", "", "uname nodename")                                                     \
    X(RS_PROV_KERNEL, "kernel", "", "uname sysname, release, machine")                                        \
    X(RS_PROV_COMMAND_LINE, "command_line", "", "the qinsbench command line")                                 \
    X(RS_CACHE_REF, "ref", "", "the one group of a reference cache file (copied to /models/<label>)")         \
    X(RS_CACHE_CELL, "cell", "", "the one group of a cell file (copied to /cells/<cell>)")                    \
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
    X(RS_MODEL_TORCH_DTYPE, "torch_dtype", "", "the checkpoint's torch_dtype from its config.json (\"\" when absent); the control claim looks for bfloat16")       \
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

/* The summary fields, in file order, with the unit and description /summary_fields carries for each (X-macro:
 * one list drives the compound type, the field table and the row initializer). Units: "" for labels and
 * counts of things named by the field, "1" for a dimensionless number, "fraction" in [0, 1]. */
#define CI95 " (_lo, _hi: its 95% CI)"
#define SUMMARY_FIELDS                                                                                           \
    FS(model, "", "the model label (config models[].label)")                                                     \
    FS(codec, "", "the codec spec as written in the config")                                                     \
    FS(kv, "", "the KV cache mode: f32, f16 or qins-v")                                                          \
    FS(status, "", "ok, or failed: reason")                                                                      \
    FI(cell_index, "", "index in the config's models x codecs x kv order (stable across shards)")               \
    FI(threads, "thread", "threads of the cell")                                                                 \
    FD(seconds, "s", "wall time of the cell, model load included")                                               \
    FD(bits_per_weight, "bit", "8 x all weight bytes / all parameters (norms and embeddings included)")          \
    FD(bits_per_weight_linear, "bit", "8 x bytes / parameters of the attention + MLP projections only")          \
    FI(weight_bytes, "byte", "bytes at rest of all weights")                                                     \
    FI(kv_bytes, "byte", "KV cache bytes at ctx tokens")                                                         \
    FI(ctx, "token", "KV cache length of every pass")                                                            \
    FI(peak_rss_bytes, "byte", "peak resident set size of the cell's child process (ru_maxrss)")                \
    FI(n_prompts, "prompt", "greedy prompts: the resampling unit of every greedy CI")                           \
    FI(steps, "step", "greedy steps per prompt (the horizon)")                                                   \
    FD(match_rate, "fraction", "positions where the free-running greedy token equals the reference's, all "     \
                               "prompts x steps (after a divergence too); CI: bootstrap over prompts")           \
    FD(match_rate_lo, "fraction", "match_rate: 2.5% bootstrap percentile")                                      \
    FD(match_rate_hi, "fraction", "match_rate: 97.5% bootstrap percentile")                                     \
    FD(prefix_len_mean, "step", "mean steps before the first divergence (= steps when none); CI: bootstrap "     \
                                "over prompts")                                                                  \
    FD(prefix_len_mean_lo, "step", "prefix_len_mean: 2.5% bootstrap percentile")                                \
    FD(prefix_len_mean_hi, "step", "prefix_len_mean: 97.5% bootstrap percentile")                               \
    FD(survival_full, "fraction", "prompts identical to the reference through all steps; CI: Wilson score "      \
                                  "over prompts")                                                                \
    FD(survival_full_lo, "fraction", "survival_full: Wilson 95% lower bound")                                    \
    FD(survival_full_hi, "fraction", "survival_full: Wilson 95% upper bound")                                    \
    FD(tf_agreement, "fraction", "teacher-forced on the reference's greedy tokens: steps whose argmax equals "   \
                                 "the reference token; CI: bootstrap over prompts")                              \
    FD(tf_agreement_lo, "fraction", "tf_agreement: 2.5% bootstrap percentile")                                  \
    FD(tf_agreement_hi, "fraction", "tf_agreement: 97.5% bootstrap percentile")                                 \
    FI(n_flips, "flip", "teacher-forced steps whose argmax differs from the reference token")                   \
    FD(flip_margin_median, "logit", "median of the reference's top-1 minus top-2 logit at the flips")           \
    FS(ppl_kind, "", "perplexity corpus: text, random_ids (perplexity not computed: NaN) or empty (none)")       \
    FI(n_windows, "window", "perplexity windows: the resampling unit of every perplexity and KL CI")            \
    FI(n_tokens, "token", "scored tokens")                                                                       \
    FD(ppl, "1", "sliding-window perplexity of the codec (NaN on random ids)")                                  \
    FD(ref_ppl, "1", "sliding-window perplexity of the reference on the same windows (NaN on random ids)")      \
    FD(delta_ppl, "1", "ppl - ref_ppl, perplexity points; CI: paired bootstrap over windows")                   \
    FD(delta_ppl_lo, "1", "delta_ppl: 2.5% bootstrap percentile")                                               \
    FD(delta_ppl_hi, "1", "delta_ppl: 97.5% bootstrap percentile")                                              \
    FD(delta_ppl_rel, "fraction", "ppl / ref_ppl - 1 = exp((sum nll_codec - sum nll_ref) / n_tokens) - 1 "      \
                                  "(x100: the percent every command shows); CI: paired bootstrap over windows")  \
    FD(delta_ppl_rel_lo, "fraction", "delta_ppl_rel: 2.5% bootstrap percentile (> -1 by construction)")        \
    FD(delta_ppl_rel_hi, "fraction", "delta_ppl_rel: 97.5% bootstrap percentile")                               \
    FD(kl_mean, "nat", "mean per-token KL(P_ref || P_codec), full vocabulary; CI: bootstrap over windows")      \
    FD(kl_mean_lo, "nat", "kl_mean: 2.5% bootstrap percentile")                                                 \
    FD(kl_mean_hi, "nat", "kl_mean: 97.5% bootstrap percentile")                                                \
    FD(kl_median, "nat", "median per-token KL")                                                                  \
    FD(kl_p90, "nat", "90th percentile of per-token KL")                                                         \
    FD(kl_p99, "nat", "99th percentile of per-token KL")                                                         \
    FD(kl_p999, "nat", "99.9th percentile of per-token KL")                                                      \
    FD(kl_max, "nat", "largest per-token KL")                                                                    \
    FD(same_top, "fraction", "scored corpus tokens where the codec's argmax equals the reference's; CI: "       \
                             "bootstrap over windows")                                                           \
    FD(same_top_lo, "fraction", "same_top: 2.5% bootstrap percentile")                                          \
    FD(same_top_hi, "fraction", "same_top: 97.5% bootstrap percentile")                                         \
    FD(rms_dp, "probability", "RMS over tokens of P_codec - P_ref of the reference's top token")                \
    FI(speed_repeats, "repeat", "speed repeats")                                                                 \
    FD(prefill_tps, "token/s", "prompt processing speed, median over repeats")                                  \
    FD(prefill_tps_min, "token/s", "prefill_tps: slowest repeat")                                               \
    FD(prefill_tps_max, "token/s", "prefill_tps: fastest repeat")                                               \
    FD(decode_tps, "token/s", "single-token decode speed, median over repeats")                                 \
    FD(decode_tps_min, "token/s", "decode_tps: slowest repeat")                                                 \
    FD(decode_tps_max, "token/s", "decode_tps: fastest repeat")

/* A summary field's name for messages and readers, checked at compile time against SummaryRow (h5_results.h):
 * RS_FIELD(delta_ppl) is "delta_ppl". */
#define RS_FIELD(f) ((void)sizeof(((SummaryRow *)0)->f), #f)

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
