/* verify.c — see verify.h. Compares tensor by tensor with a named tolerance and reports the worst
 * difference, so a failure says where and by how much. */
#include "verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* Fetches a reference tensor of the expected dtype and rank; NULL (no error) when absent. */
static qb_status ref_tensor(const st_file *f, const char *name, st_dtype dt, int ndim, const st_tensor **out) {
    *out = st_find(f, name);
    if (!*out) return QB_OK;
    if ((*out)->dtype != dt || (*out)->ndim != ndim)
        return qb_errorf(QB_ERR_INPUT, "%s: tensor %s must be %s with %d dimensions", f->path, name, st_dtype_name(dt),
                         ndim);
    return QB_OK;
}

static qb_status read_ids(const st_tensor *t, int **out, int *n) {
    *n = (int)t->shape[0];
    *out = qb_malloc((size_t)*n * sizeof(int), "ids");
    if (!*out) return QB_ERR_NOMEM;
    memcpy(*out, t->data, (size_t)*n * sizeof(int)); /* I32 little-endian, as the host */
    return QB_OK;
}

static double max_rel(const float *got, const float *ref, size_t n) {
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs((double)ref[i]));
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates as a failure */
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}

static qb_status logits_case(const Model *m, const st_file *f, const char *prefix, const VerifyOptions *opt,
                             VerifyCase *vc) {
    char name[64];
    const st_tensor *ids_t, *logits_t, *hidden_t;
    const Config *c = &m->config;
    qb_status st;
    snprintf(name, sizeof name, "%s.ids", prefix);
    if ((st = ref_tensor(f, name, ST_I32, 1, &ids_t))) return st;
    snprintf(name, sizeof name, "%s.logits", prefix);
    if ((st = ref_tensor(f, name, ST_F32, 2, &logits_t))) return st;
    snprintf(name, sizeof name, "%s.hidden", prefix);
    if ((st = ref_tensor(f, name, ST_F32, 3, &hidden_t))) return st;
    snprintf(vc->name, sizeof vc->name, "%s", prefix);
    vc->kind = 0;
    vc->max_rel_hidden = -1;
    if (!ids_t || !logits_t) return QB_OK;
    int n = (int)ids_t->shape[0];
    if (n < 1 || logits_t->shape[0] != n || logits_t->shape[1] != c->vocab)
        return qb_errorf(QB_ERR_INPUT, "%s: %s.logits shape does not match %s.ids and the vocabulary", f->path, prefix,
                         prefix);
    if (hidden_t && (hidden_t->shape[0] != c->n_layers + 1 || hidden_t->shape[1] != n || hidden_t->shape[2] != c->hidden))
        return qb_errorf(QB_ERR_INPUT, "%s: %s.hidden must be [layers+1, %d, hidden]", f->path, prefix, n);
    vc->present = 1;
    int *ids = NULL;
    if ((st = read_ids(ids_t, &ids, &n))) return st;
    Model mm = *m; /* same weights; a context long enough for this pass */
    if (mm.ctx < n) mm.ctx = n;
    RunState s;
    float *logits = qb_malloc((size_t)n * c->vocab * sizeof(float), "logits");
    float *hidden = hidden_t ? qb_malloc((size_t)(c->n_layers + 1) * n * c->hidden * sizeof(float), "hidden") : NULL;
    if (!logits || (hidden_t && !hidden)) {
        st = QB_ERR_NOMEM;
        goto done;
    }
    if ((st = runstate_build(&s, &mm))) goto done;
    st = model_forward(&mm, &s, ids, n, logits, 1, hidden);
    runstate_free(&s);
    if (st) goto done;
    vc->max_rel_logit = max_rel(logits, (const float *)logits_t->data, (size_t)n * c->vocab);
    vc->pass = vc->max_rel_logit <= opt->tol;
    if (hidden_t) {
        vc->max_rel_hidden = 0;
        size_t per = (size_t)n * c->hidden;
        for (int e = 0; e <= c->n_layers; e++) {
            double r = max_rel(hidden + e * per, (const float *)hidden_t->data + e * per, per);
            if (!(r <= vc->max_rel_hidden)) {
                vc->max_rel_hidden = r;
                vc->worst_hidden_entry = e;
            }
        }
        vc->pass = vc->pass && vc->max_rel_hidden <= opt->tol;
    }
done:
    free(ids);
    free(logits);
    free(hidden);
    return st;
}

static qb_status greedy_case(const Model *m, const st_file *f, const char *prefix, const VerifyOptions *opt,
                             VerifyCase *vc) {
    char name[64];
    const st_tensor *prompt_t, *tokens_t, *margins_t;
    qb_status st;
    snprintf(name, sizeof name, "%s.prompt", prefix);
    if ((st = ref_tensor(f, name, ST_I32, 1, &prompt_t))) return st;
    snprintf(name, sizeof name, "%s.tokens", prefix);
    if ((st = ref_tensor(f, name, ST_I32, 1, &tokens_t))) return st;
    snprintf(name, sizeof name, "%s.margins", prefix);
    if ((st = ref_tensor(f, name, ST_F32, 1, &margins_t))) return st;
    snprintf(vc->name, sizeof vc->name, "%s", prefix);
    vc->kind = 1;
    vc->first_mismatch = -1;
    if (!prompt_t || !tokens_t || !margins_t) return QB_OK;
    if (margins_t->shape[0] != tokens_t->shape[0] || tokens_t->shape[0] < 1 || prompt_t->shape[0] < 1)
        return qb_errorf(QB_ERR_INPUT, "%s: %s.margins and %s.tokens differ in length", f->path, prefix, prefix);
    vc->present = 1;
    int *prompt = NULL, n_prompt, *ref = NULL, steps;
    if ((st = read_ids(prompt_t, &prompt, &n_prompt))) return st;
    if ((st = read_ids(tokens_t, &ref, &steps))) {
        free(prompt);
        return st;
    }
    const float *margins = margins_t->data;
    Model mm = *m;
    if (mm.ctx < n_prompt + steps) mm.ctx = n_prompt + steps;
    RunState s;
    int *got = qb_malloc((size_t)steps * sizeof(int), "tokens"), n_got = 0;
    if (!got) {
        st = QB_ERR_NOMEM;
        goto done;
    }
    if ((st = runstate_build(&s, &mm))) goto done;
    st = model_generate_greedy(&mm, &s, prompt, n_prompt, steps, 1, got, NULL, &n_got, NULL, NULL);
    runstate_free(&s);
    if (st) goto done;
    vc->n_steps = steps;
    vc->pass = 1;
    for (int i = 0; i < steps; i++) {
        if (got[i] == ref[i]) vc->n_equal++;
        else if (vc->first_mismatch < 0) vc->first_mismatch = i;
    }
    /* Tokens must agree up to the first step whose reference margin is thin: past it, a different but
     * equally valid argmax changes everything after. */
    for (int i = 0; i < steps; i++) {
        if (margins[i] < opt->thin_margin) break;
        vc->n_checked++;
        if (got[i] != ref[i]) {
            vc->pass = 0;
            break;
        }
    }
done:
    free(prompt);
    free(ref);
    free(got);
    return st;
}

qb_status verify_model(const Model *m, const char *reference_path, const VerifyOptions *opt, VerifyResult *res) {
    memset(res, 0, sizeof *res);
    st_file f;
    qb_status st = st_open(reference_path, &f);
    if (st) return st;
    static const char *logit_cases[] = {"short", "long"}, *token_cases[] = {"greedy", "crossing"};
    for (int i = 0; i < 2 && !st; i++) st = logits_case(m, &f, logit_cases[i], opt, &res->cases[res->n_cases++]);
    for (int i = 0; i < 2 && !st; i++) st = greedy_case(m, &f, token_cases[i], opt, &res->cases[res->n_cases++]);
    st_close(&f);
    if (st) return st;
    int any = 0;
    res->pass = 1;
    for (int i = 0; i < res->n_cases; i++) {
        if (!res->cases[i].present) continue;
        any = 1;
        res->pass = res->pass && res->cases[i].pass;
    }
    if (!any) return qb_errorf(QB_ERR_INPUT, "%s: holds none of the cases short, long, greedy, crossing", reference_path);
    return QB_OK;
}

/* Words a newcomer reads without the source: what was compared, what had to hold, what did. */
void verify_print(FILE *out, const VerifyResult *res, const VerifyOptions *opt) {
    for (int i = 0; i < res->n_cases; i++) {
        const VerifyCase *c = &res->cases[i];
        if (!c->present) {
            fprintf(out, "%-9s absent from the reference file (skipped)\n", c->name);
            continue;
        }
        if (c->kind == 0) {
            fprintf(out, "%-9s logits differ from the reference by at most %.1e of its largest logit", c->name,
                    c->max_rel_logit);
            if (c->max_rel_hidden >= 0)
                fprintf(out, ", hidden states by %.1e (worst: entry %d)", c->max_rel_hidden, c->worst_hidden_entry);
            fprintf(out, "; allowed %.0e  %s\n", opt->tol, c->pass ? "PASS" : "FAIL");
        } else {
            fprintf(out, "%-9s %d of %d generated tokens equal the reference's", c->name, c->n_equal, c->n_steps);
            if (c->n_checked >= c->n_steps) fprintf(out, "; all %d must (no near-tie in the reference)", c->n_steps);
            else
                fprintf(out, "; the first %d must (at step %d the reference's top two logits are within %.0e: "
                             "either token is right, and the rest follows from it)",
                        c->n_checked, c->n_checked, opt->thin_margin);
            if (c->first_mismatch >= 0) fprintf(out, "; first difference at step %d", c->first_mismatch);
            fprintf(out, "  %s\n", c->pass ? "PASS" : "FAIL");
        }
    }
    fprintf(out, "verify: %s\n", res->pass ? "PASS" : "FAIL");
}
