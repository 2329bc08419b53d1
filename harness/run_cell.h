/* run_cell.h — what one experiment measures, for one model: the workload (prompt ids, perplexity windows,
 * speed ids — built once in the parent from the config), the reference pass (greedy tokens and margins, NLL,
 * and the full reference logits of every scored token, cached on disk for KL), and one cell (a codec × KV
 * mode measured against that reference). Each pass runs inside a forked child (run_*.c in cmd_run.c). */
#ifndef QB_RUN_CELL_H
#define QB_RUN_CELL_H

#include <stdint.h>
#include "expconfig.h"
#include "h5_results.h"
#include "model.h"
#include "util.h"

typedef struct {
    const ExpConfig *cfg;
    const ExpModel *model;
    int vocab;
    int ctx;               /* KV length every pass uses */
    int threads;
    /* greedy */
    int n_prompts, steps;
    int *prompt_ids;       /* all prompts concatenated */
    int64_t *prompt_off;   /* [n_prompts + 1] */
    int batch;             /* prompts decoded together in the greedy and teacher-forced passes (work_batch;
                            * 1 until set). The reference records it ("batch" attribute of its group) and
                            * every cell of the model uses the reference's: a divergence is never a
                            * difference of batch composition. */
    /* perplexity */
    int *corpus;           /* [n_corpus] */
    int n_corpus;
    int n_windows;
    int64_t *windows;      /* [n_windows][3]: begin, end, first scored target */
    int64_t n_tokens;      /* scored targets */
    /* speed */
    int *speed_ids;        /* [speed_prompt_tokens] */
} Workload;

/* Builds the workload of one model (reads its config.json, and its tokenizer when prompts or the corpus are
 * text). threads: already resolved (> 0). */
qb_status work_build(const ExpConfig *cfg, const ExpModel *model, int threads, Workload *w);
void work_free(Workload *w);

/* Largest batch `auto` picks (more rows buy little once the products are compute-bound). */
#define WORK_BATCH_MAX 32

/* Sets w->batch: spec "auto" (or NULL) = the most prompts (at most WORK_BATCH_MAX and the prompt count)
 * whose KV caches (f32, the reference's, at the longest prompt + steps), activations and logits fit
 * mem_budget bytes (0 = MemAvailable minus the largest weights among the reference and the codecs);
 * else a number ≥ 1. *per_seq (may be NULL) receives the bytes one more sequence costs. */
qb_status work_batch(Workload *w, const char *spec, uint64_t mem_budget, uint64_t *per_seq);

/* Estimated seconds of the reference and n_cells cells of this workload, from a short probe: loads the
 * model with the reference codec and times one batch's prefills and two decode steps, one perplexity
 * window and one speed repeat (OpenMP: call it in a child, as the cells). */
qb_status work_estimate(const Workload *w, int n_cells, double *seconds);

/* The perplexity windows for n tokens, window W, stride S (see docs/results.md); *out heap [n_windows][3]. */
qb_status work_windows(int n, int W, int S, int64_t **out, int *n_windows, int64_t *n_tokens);

/* Teacher forcing resumed from greedy states (the cell's teacher-forced pass): B sequences (seqs, prompt
 * lengths n_prompt[B]) that have just decoded T steps greedily in lockstep (their tokens tok[B, T], each
 * state holding its prompt and T − 1 fed tokens) are fed the reference's tokens ref[B, T] from each one's
 * first divergence on. out[B, T] receives the argmax at every step as a teacher-forced pass from the prompt
 * would give it, bit for bit; logits (NULL, or [B, T, vocab]) the logits of the steps it computed (those
 * after each divergence). step_logits: [B, vocab] scratch; act: rows for B sequences. */
qb_status forced_resume(const Model *m, RunState *const *seqs, const int *n_prompt, int B, int T, const int *ref,
                        const int *tok, int *out, float *logits, BatchScratch *act, float *step_logits);

/* Reference pass: loads the model with the reference codec (KV f32), writes ref_h5 (group "ref": the
 * /models/<label> datasets) and ref_logits (raw float32 [n_tokens, vocab]). Both are written under .tmp
 * names and renamed, logits first: ref_h5 existing means the cache is whole. */
qb_status run_reference(const Workload *w, const char *ref_h5, const char *ref_logits);

/* Only the /models/<label> attributes (path, label, vocab, ctx), for configs without greedy or perplexity. */
qb_status run_model_info(const Workload *w, const char *ref_h5);

/* One cell: loads the model with the config's codecs[codec] and kv[kv] (parsed specs), measures everything
 * against the reference cache (measure_memory, measure_greedy, measure_ppl, measure_speed in run_cell.c: each
 * fills a plain struct of CellResults), writes cell_h5 (group "cell", with h5r_write_cell) and fills row
 * (status "ok"; peak RSS is the parent's business). */
qb_status run_cell(const Workload *w, int codec, int kv, const char *ref_h5, const char *ref_logits,
                   const char *cell_h5, SummaryRow *row);

#endif
