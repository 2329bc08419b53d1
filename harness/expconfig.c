/* expconfig.c — strict JSON experiment config parsing (see expconfig.h). Every error names the config file
 * and the key path; nothing is guessed. */
#include "expconfig.h"

#include "h5_results.h"
#include "qb_json.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_BYTES (16u << 20)

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = qb_malloc(n, "config string");
    if (p) memcpy(p, s, n);
    return p;
}

static qb_status check_keys(const char *path, const char *where, const cJSON *obj, const char *const *allowed) {
    return qb_json_check_keys(path, where, obj, allowed);
}

static qb_status get_string(const char *path, const char *key, const cJSON *v, char **out) {
    const char *s;
    qb_status st = qb_json_as_str(path, key, v, &s);
    if (st) return st;
    *out = xstrdup(s);
    return *out ? QB_OK : QB_ERR_NOMEM;
}

static qb_status get_int(const char *path, const char *key, const cJSON *v, long long lo, long long hi,
                         long long *out) {
    return qb_json_as_int(path, key, v, lo, hi, out);
}

static qb_status get_string_list(const char *path, const char *key, const cJSON *v, char ***out, int *n) {
    if (!cJSON_IsArray(v)) return qb_errorf(QB_ERR_INPUT, "%s: %s: expected a list of strings", path, key);
    int cnt = cJSON_GetArraySize(v);
    if (cnt == 0) return qb_errorf(QB_ERR_INPUT, "%s: %s: empty list", path, key);
    char **l = qb_calloc((size_t)cnt, sizeof *l, "config list");
    if (!l) return QB_ERR_NOMEM;
    *out = l;
    *n = cnt;
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char k[96];
        snprintf(k, sizeof k, "%s[%d]", key, i);
        qb_status st = get_string(path, k, it, &l[i]);
        if (st) return st;
    }
    return QB_OK;
}

int exp_parse_ids(const char *s, long long max_id, int **ids, int *n) {
    size_t cap = 64, cnt = 0;
    int *a = malloc(cap * sizeof *a);
    if (!a) return -1;
    const char *p = s;
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == ',')) p++;
        if (!*p) break;
        if (!isdigit((unsigned char)*p)) goto bad;
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v > max_id || (*end && !isspace((unsigned char)*end) && *end != ',')) goto bad;
        if (cnt == cap) {
            int *b = realloc(a, (cap *= 2) * sizeof *a);
            if (!b) goto bad;
            a = b;
        }
        a[cnt++] = (int)v;
        p = end;
    }
    *ids = a;
    *n = (int)cnt;
    return 0;
bad:
    free(a);
    return -1;
}

/* A prompt: a string (text, or ids for models without a tokenizer — decided when the model is known) or a
 * list of integer ids. */
static qb_status get_prompt(const char *path, const char *key, const cJSON *v, ExpPrompt *p) {
    if (cJSON_IsString(v)) return get_string(path, key, v, &p->text);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return qb_errorf(QB_ERR_INPUT, "%s: %s: expected a string or a non-empty list of token ids", path, key);
    int cnt = cJSON_GetArraySize(v);
    p->ids = qb_calloc((size_t)cnt, sizeof *p->ids, "prompt ids");
    if (!p->ids) return QB_ERR_NOMEM;
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char k[96];
        long long x;
        snprintf(k, sizeof k, "%s[%d]", key, i);
        qb_status st = get_int(path, k, it, 0, INT_MAX, &x);
        if (st) return st;
        p->ids[i] = (int)x;
    }
    p->n_ids = cnt;
    return QB_OK;
}

static qb_status read_prompts_file(const char *path, const char *file, ExpConfig *c) {
    char *text;
    size_t len;
    qb_status st = qb_read_file(file, &text, &len, 64u << 20);
    if (st) {
        qb_error_prefix(path);
        return st;
    }
    int cap = 0;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    cap++;
    c->prompts = qb_calloc((size_t)cap, sizeof *c->prompts, "prompts");
    if (!c->prompts) {
        free(text);
        return QB_ERR_NOMEM;
    }
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = 0;
        int blank = 1;
        for (size_t i = 0; i < l; i++) blank &= isspace((unsigned char)line[i]) != 0;
        if (blank) continue;
        if (!(c->prompts[c->n_prompts].text = xstrdup(line))) {
            free(text);
            return QB_ERR_NOMEM;
        }
        c->n_prompts++;
    }
    free(text);
    if (!c->n_prompts) return qb_errorf(QB_ERR_INPUT, "%s: greedy.prompts_file: %s has no prompts", path, file);
    return QB_OK;
}

static qb_status parse_greedy(const char *path, const cJSON *g, ExpConfig *c) {
    static const char *const keys[] = {"prompts", "prompts_file", "count", "steps", NULL};
    if (!cJSON_IsObject(g)) return qb_errorf(QB_ERR_INPUT, "%s: greedy: expected an object", path);
    qb_status st = check_keys(path, "greedy", g, keys);
    if (st) return st;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(g, "prompts");
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(g, "prompts_file");
    if (!!pr == !!pf) return qb_errorf(QB_ERR_INPUT, "%s: greedy: give exactly one of prompts, prompts_file", path);
    if (pr) {
        if (!cJSON_IsArray(pr) || cJSON_GetArraySize(pr) == 0)
            return qb_errorf(QB_ERR_INPUT, "%s: greedy.prompts: expected a non-empty list", path);
        int cnt = cJSON_GetArraySize(pr);
        c->prompts = qb_calloc((size_t)cnt, sizeof *c->prompts, "prompts");
        if (!c->prompts) return QB_ERR_NOMEM;
        int i = 0;
        for (const cJSON *it = pr->child; it; it = it->next, i++) {
            char k[64];
            snprintf(k, sizeof k, "greedy.prompts[%d]", i);
            c->n_prompts = i + 1;
            if ((st = get_prompt(path, k, it, &c->prompts[i]))) return st;
        }
    } else {
        char *file;
        if ((st = get_string(path, "greedy.prompts_file", pf, &file))) return st;
        st = read_prompts_file(path, file, c);
        free(file);
        if (st) return st;
    }
    long long x;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(g, "count"))) {
        if ((st = get_int(path, "greedy.count", v, 1, c->n_prompts, &x))) return st;
        for (int i = (int)x; i < c->n_prompts; i++) {
            free(c->prompts[i].text);
            free(c->prompts[i].ids);
        }
        c->n_prompts = (int)x;
    }
    if (!(v = cJSON_GetObjectItemCaseSensitive(g, "steps")))
        return qb_errorf(QB_ERR_INPUT, "%s: greedy.steps: missing", path);
    if ((st = get_int(path, "greedy.steps", v, 1, 1 << 20, &x))) return st;
    c->steps = (int)x;
    c->has_greedy = 1;
    return QB_OK;
}

static qb_status parse_ppl(const char *path, const cJSON *p, ExpConfig *c) {
    static const char *const keys[] = {"corpus", "corpus_ids", "window", "stride", "max_tokens", "documents", NULL};
    if (!cJSON_IsObject(p)) return qb_errorf(QB_ERR_INPUT, "%s: perplexity: expected an object", path);
    qb_status st = check_keys(path, "perplexity", p, keys);
    if (st) return st;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "corpus");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, "corpus_ids");
    if (!!a == !!b) return qb_errorf(QB_ERR_INPUT, "%s: perplexity: give exactly one of corpus, corpus_ids", path);
    if (a && (st = get_string(path, "perplexity.corpus", a, &c->corpus))) return st;
    if (b && (st = get_string(path, "perplexity.corpus_ids", b, &c->corpus_ids))) return st;
    long long x;
    const cJSON *v;
    if (!(v = cJSON_GetObjectItemCaseSensitive(p, "window"))) return qb_errorf(QB_ERR_INPUT, "%s: perplexity.window: missing", path);
    if ((st = get_int(path, "perplexity.window", v, 2, 1 << 20, &x))) return st;
    c->window = (int)x;
    c->stride = c->window;
    if ((v = cJSON_GetObjectItemCaseSensitive(p, "stride"))) {
        if ((st = get_int(path, "perplexity.stride", v, 1, c->window, &x))) return st;
        c->stride = (int)x;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(p, "max_tokens"))) {
        if ((st = get_int(path, "perplexity.max_tokens", v, 2, 1LL << 40, &x))) return st;
        c->max_tokens = (long)x;
    }
    /* How text becomes ids: the file as one string ("text", the default), or each non-empty line as its own
     * document with BOS and EOS ("lines": the format a model trained on <s> paragraph </s> saw). */
    if ((v = cJSON_GetObjectItemCaseSensitive(p, "documents"))) {
        if (!cJSON_IsString(v) || (strcmp(v->valuestring, "text") && strcmp(v->valuestring, "lines")))
            return qb_errorf(QB_ERR_INPUT, "%s: perplexity.documents: expected \"text\" or \"lines\"", path);
        if (!a) return qb_errorf(QB_ERR_INPUT, "%s: perplexity.documents needs perplexity.corpus", path);
        c->corpus_lines = !strcmp(v->valuestring, "lines");
    }
    c->has_ppl = 1;
    return QB_OK;
}

static qb_status parse_speed(const char *path, const cJSON *p, ExpConfig *c) {
    static const char *const keys[] = {"prompt_tokens", "decode_tokens", "repeats", NULL};
    if (!cJSON_IsObject(p)) return qb_errorf(QB_ERR_INPUT, "%s: speed: expected an object", path);
    qb_status st = check_keys(path, "speed", p, keys);
    if (st) return st;
    long long x;
    const cJSON *v;
    c->speed_prompt_tokens = 64;
    c->speed_decode_tokens = 32;
    c->speed_repeats = 3;
    if ((v = cJSON_GetObjectItemCaseSensitive(p, "prompt_tokens"))) {
        if ((st = get_int(path, "speed.prompt_tokens", v, 1, 1 << 20, &x))) return st;
        c->speed_prompt_tokens = (int)x;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(p, "decode_tokens"))) {
        if ((st = get_int(path, "speed.decode_tokens", v, 1, 1 << 20, &x))) return st;
        c->speed_decode_tokens = (int)x;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(p, "repeats"))) {
        if ((st = get_int(path, "speed.repeats", v, 1, 1000, &x))) return st;
        c->speed_repeats = (int)x;
    }
    c->has_speed = 1;
    return QB_OK;
}

/* ---- names that must be distinct ---- */

typedef struct {
    const char *s;
    int i;
} Named;

static int cmp_named(const void *pa, const void *pb) {
    const Named *a = pa, *b = pb;
    int r = strcmp(a->s, b->s);
    return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* A repeated entry of a list (sorted neighbours: O(n log n)): "file: key[j]: 'x' repeats key[i]". */
static qb_status check_repeats(const char *path, const char *key, char *const *items, size_t stride, int n) {
    Named *a = qb_calloc((size_t)n, sizeof *a, "config names");
    if (!a) return QB_ERR_NOMEM;
    for (int i = 0; i < n; i++) a[i] = (Named){*(char *const *)((const char *)items + (size_t)i * stride), i};
    qsort(a, (size_t)n, sizeof *a, cmp_named);
    qb_status st = QB_OK;
    for (int i = 1; i < n && !st; i++)
        if (!strcmp(a[i].s, a[i - 1].s))
            st = qb_errorf(QB_ERR_INPUT, "%s: %s[%d]: '%s' repeats %s[%d]", path, key, a[i].i, a[i].s, key, a[i - 1].i);
    free(a);
    return st;
}

#define MAX_CELLS (1 << 20)
#define CELL_NAME 400

/* Each model × codec × kv cell is stored under h5r_cell_name(), which maps characters outside
 * [A-Za-z0-9_+=-] to '_': labels "m:1" and "m_1" would share one group and one model's arrays would be
 * lost. Every cell name is computed and sorted; a collision names both entries. */
static qb_status check_cell_names(const char *path, const ExpConfig *c) {
    size_t n = (size_t)c->n_models * (size_t)c->n_codecs * (size_t)c->n_kv;
    if (n > MAX_CELLS) return qb_errorf(QB_ERR_INPUT, "%s: %zu cells (models × codecs × kv); at most %d", path, n, MAX_CELLS);
    char *names = qb_malloc(n * CELL_NAME, "cell names");
    Named *a = qb_calloc(n, sizeof *a, "cell names");
    if (!names || !a) {
        free(names);
        free(a);
        return QB_ERR_NOMEM;
    }
    size_t k = 0;
    for (int m = 0; m < c->n_models; m++)
        for (int q = 0; q < c->n_codecs; q++)
            for (int v = 0; v < c->n_kv; v++, k++) {
                h5r_cell_name(c->models[m].label, c->codecs[q], c->kv[v], names + k * CELL_NAME, CELL_NAME);
                a[k] = (Named){names + k * CELL_NAME, (int)k};
            }
    qsort(a, n, sizeof *a, cmp_named);
    qb_status st = QB_OK;
    for (size_t i = 1; i < n && !st; i++) {
        if (strcmp(a[i].s, a[i - 1].s)) continue;
        int x = a[i - 1].i, y = a[i].i, per_model = c->n_codecs * c->n_kv;
        int mx = x / per_model, my = y / per_model, qx = x / c->n_kv % c->n_codecs, qy = y / c->n_kv % c->n_codecs;
        if (mx != my)
            st = qb_errorf(QB_ERR_INPUT, "%s: models[%d].label '%s' and models[%d].label '%s' map to the same results "
                           "group '%s': rename one", path, mx, c->models[mx].label, my, c->models[my].label, a[i].s);
        else if (qx != qy)
            st = qb_errorf(QB_ERR_INPUT, "%s: codecs[%d] '%s' and codecs[%d] '%s' map to the same results group '%s'",
                           path, qx, c->codecs[qx], qy, c->codecs[qy], a[i].s);
        else
            st = qb_errorf(QB_ERR_INPUT, "%s: kv[%d] '%s' and kv[%d] '%s' map to the same results group '%s'", path,
                           x % c->n_kv, c->kv[x % c->n_kv], y % c->n_kv, c->kv[y % c->n_kv], a[i].s);
    }
    free(names);
    free(a);
    return st;
}

static qb_status check_names(const char *path, const ExpConfig *c) {
    qb_status st;
    if ((st = check_repeats(path, "models", &c->models[0].label, sizeof *c->models, c->n_models)) ||
        (st = check_repeats(path, "codecs", c->codecs, sizeof *c->codecs, c->n_codecs)) ||
        (st = check_repeats(path, "kv", c->kv, sizeof *c->kv, c->n_kv)))
        return st;
    return check_cell_names(path, c);
}

/* Parses the reference, every codec and every KV mode once (a typo is a config error, found before anything
 * runs): "path: codecs[1]: <the parser's message>". */
static qb_status parse_specs(const char *path, ExpConfig *c) {
    char key[32] = "reference";
    qb_status st = codec_spec_parse(c->reference, &c->reference_spec);
    if (!st && (!(c->codec_specs = qb_calloc((size_t)c->n_codecs, sizeof *c->codec_specs, "codec specs")) ||
                !(c->kv_modes = qb_calloc((size_t)c->n_kv, sizeof *c->kv_modes, "kv modes"))))
        return QB_ERR_NOMEM;
    for (int i = 0; !st && i < c->n_codecs; i++)
        if ((st = codec_spec_parse(c->codecs[i], &c->codec_specs[i]))) snprintf(key, sizeof key, "codecs[%d]", i);
    for (int i = 0; !st && i < c->n_kv; i++)
        if ((st = kv_mode_parse(c->kv[i], &c->kv_modes[i]))) snprintf(key, sizeof key, "kv[%d]", i);
    if (st) {
        qb_error_prefix(key);
        qb_error_prefix(path);
    }
    return st;
}

static qb_status parse_root(const char *path, const cJSON *root, ExpConfig *c) {
    static const char *const keys[] = {"name", "description", "models", "reference", "codecs", "kv", "greedy",
                                       "perplexity", "speed", "threads", "seed", "ctx", "bootstrap", NULL};
    if (!cJSON_IsObject(root)) return qb_errorf(QB_ERR_INPUT, "%s: expected a JSON object", path);
    qb_status st = check_keys(path, "", root, keys);
    if (st) return st;
    const cJSON *v;
    long long x;
    if (!(v = cJSON_GetObjectItemCaseSensitive(root, "name"))) return qb_errorf(QB_ERR_INPUT, "%s: name: missing", path);
    if ((st = get_string(path, "name", v, &c->name))) return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "description")) && !cJSON_IsString(v))
        return qb_errorf(QB_ERR_INPUT, "%s: description: expected a string", path);
    v = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return qb_errorf(QB_ERR_INPUT, "%s: models: expected a non-empty list of {label, path}", path);
    c->n_models = cJSON_GetArraySize(v);
    if (!(c->models = qb_calloc((size_t)c->n_models, sizeof *c->models, "models"))) return QB_ERR_NOMEM;
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        static const char *const mkeys[] = {"label", "path", NULL};
        char k[64], k2[80];
        snprintf(k, sizeof k, "models[%d]", i);
        if (!cJSON_IsObject(it)) return qb_errorf(QB_ERR_INPUT, "%s: %s: expected an object", path, k);
        if ((st = check_keys(path, k, it, mkeys))) return st;
        snprintf(k2, sizeof k2, "%s.label", k);
        if ((st = get_string(path, k2, cJSON_GetObjectItemCaseSensitive(it, "label"), &c->models[i].label))) return st;
        if (!c->models[i].label[0] || strlen(c->models[i].label) >= 64 || strpbrk(c->models[i].label, "/."))
            return qb_errorf(QB_ERR_INPUT, "%s: %s: must be 1-63 characters without '/' or '.'", path, k2);
        snprintf(k2, sizeof k2, "%s.path", k);
        if ((st = get_string(path, k2, cJSON_GetObjectItemCaseSensitive(it, "path"), &c->models[i].path))) return st;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "reference"))) {
        if ((st = get_string(path, "reference", v, &c->reference))) return st;
    } else if (!(c->reference = xstrdup("fp32")))
        return QB_ERR_NOMEM;
    if (!(v = cJSON_GetObjectItemCaseSensitive(root, "codecs"))) return qb_errorf(QB_ERR_INPUT, "%s: codecs: missing", path);
    if ((st = get_string_list(path, "codecs", v, &c->codecs, &c->n_codecs))) return st;
    for (i = 0; i < c->n_codecs; i++)
        if (strlen(c->codecs[i]) >= 128) return qb_errorf(QB_ERR_INPUT, "%s: codecs[%d]: longer than 127 characters", path, i);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "kv"))) {
        if ((st = get_string_list(path, "kv", v, &c->kv, &c->n_kv))) return st;
        for (i = 0; i < c->n_kv; i++)
            if (strlen(c->kv[i]) >= 16) return qb_errorf(QB_ERR_INPUT, "%s: kv[%d]: longer than 15 characters", path, i);
    } else {
        if (!(c->kv = qb_calloc(1, sizeof *c->kv, "kv")) || !(c->kv[0] = xstrdup("f32"))) return QB_ERR_NOMEM;
        c->n_kv = 1;
    }
    if ((st = check_names(path, c))) return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "greedy")) && (st = parse_greedy(path, v, c))) return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "perplexity")) && (st = parse_ppl(path, v, c))) return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "speed")) && (st = parse_speed(path, v, c))) return st;
    if (!c->has_greedy && !c->has_ppl && !c->has_speed)
        return qb_errorf(QB_ERR_INPUT, "%s: nothing to measure: give greedy, perplexity or speed", path);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "threads"))) {
        if ((st = get_int(path, "threads", v, 0, 1024, &x))) return st;
        c->threads = (int)x;
    }
    c->seed = 1234;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "seed"))) {
        if ((st = get_int(path, "seed", v, 0, (1LL << 53), &x))) return st;
        c->seed = (uint64_t)x;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "ctx"))) {
        if ((st = get_int(path, "ctx", v, 0, 1 << 20, &x))) return st;
        c->ctx = (int)x;
    }
    c->bootstrap = 1000;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "bootstrap"))) {
        if ((st = get_int(path, "bootstrap", v, 100, 1000000, &x))) return st;
        c->bootstrap = (int)x;
    }
    return parse_specs(path, c);
}

qb_status exp_config_parse(const char *path, const char *text, ExpConfig *c) {
    memset(c, 0, sizeof *c);
    if (!(c->text = xstrdup(text))) return QB_ERR_NOMEM;
    cJSON *root = NULL;
    qb_status st = qb_json_parse(path, text, strlen(text), &root);
    if (st) {
        exp_config_free(c);
        return st;
    }
    st = parse_root(path, root, c);
    cJSON_Delete(root);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", qb_last_error());
        exp_config_free(c);
        qb_errorf(st, "%s", msg);
    }
    return st;
}

qb_status exp_config_load(const char *path, ExpConfig *c) {
    char *text;
    size_t len;
    memset(c, 0, sizeof *c);
    qb_status st = qb_read_file(path, &text, &len, CFG_MAX_BYTES);
    if (st) return st;
    if (strlen(text) != len) {
        free(text);
        return qb_errorf(QB_ERR_INPUT, "%s: contains a NUL byte", path);
    }
    st = exp_config_parse(path, text, c);
    free(text);
    return st;
}

void exp_config_free(ExpConfig *c) {
    free(c->name);
    free(c->text);
    for (int i = 0; i < c->n_models && c->models; i++) {
        free(c->models[i].label);
        free(c->models[i].path);
    }
    free(c->models);
    free(c->reference);
    for (int i = 0; i < c->n_codecs && c->codecs; i++) free(c->codecs[i]);
    free(c->codecs);
    free(c->codec_specs);
    free(c->kv_modes);
    for (int i = 0; i < c->n_kv && c->kv; i++) free(c->kv[i]);
    free(c->kv);
    for (int i = 0; i < c->n_prompts && c->prompts; i++) {
        free(c->prompts[i].text);
        free(c->prompts[i].ids);
    }
    free(c->prompts);
    free(c->corpus);
    free(c->corpus_ids);
    memset(c, 0, sizeof *c);
}
