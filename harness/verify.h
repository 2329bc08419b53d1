/* verify.h — the engine against a reference.safetensors file (the fixtures' layout): short logits and
 * hidden states, long logits (past original_max), greedy and crossing token sequences with margins. */
#ifndef QB_VERIFY_H
#define QB_VERIFY_H

#include <stdio.h>
#include "model.h"

#define VERIFY_MAX_CASES 8

typedef struct {
    char name[32];
    int kind;              /* 0 logits (+hidden), 1 greedy tokens */
    int present;
    /* logits cases */
    double max_rel_logit;  /* max|Δlogit| / max|logit| */
    double max_rel_hidden; /* worst over hidden-state entries of max|Δ| / max|ref|; −1 when absent */
    int worst_hidden_entry;
    /* token cases */
    int n_steps, n_checked, n_equal; /* steps, steps checked (before the first thin margin), equal tokens */
    int first_mismatch;    /* −1 when none */
    int pass;
} VerifyCase;

typedef struct {
    double tol;            /* relative logit/hidden tolerance (default 1e-4) */
    double thin_margin;    /* reference margin below which greedy tokens may differ (default 1e-3) */
} VerifyOptions;

typedef struct {
    VerifyCase cases[VERIFY_MAX_CASES];
    int n_cases;
    int pass;
} VerifyResult;

/* Runs every case present in the reference file on the loaded model. A reference file that lacks a case
 * skips it; one that holds malformed tensors is an input error. */
qb_status verify_model(const Model *m, const char *reference_path, const VerifyOptions *opt, VerifyResult *res);
void verify_print(FILE *out, const VerifyResult *res, const VerifyOptions *opt);

#endif
