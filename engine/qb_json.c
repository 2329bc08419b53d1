/* qb_json.c — shared strict JSON helpers (see qb_json.h). */
#include "qb_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local uint64_t key_compares;

uint64_t qb_json_key_compares(void) { return key_compares; }

static int cmp_key(const void *a, const void *b) {
    key_compares++;
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Walk state: a scratch array for one object's keys and the key path of the current node. */
typedef struct {
    const char **keys;
    size_t cap;
    char path[512];
    size_t plen;
    const char *dup; /* set on the first duplicate found */
} Walk;

static void path_push(Walk *w, const char *key, int index, size_t *saved) {
    *saved = w->plen;
    size_t room = sizeof w->path - w->plen;
    int n = key ? snprintf(w->path + w->plen, room, "%s%s", w->plen ? "." : "", key)
                : snprintf(w->path + w->plen, room, "[%d]", index);
    if (n > 0) w->plen = (size_t)n < room ? w->plen + (size_t)n : sizeof w->path - 1;
}

static void path_pop(Walk *w, size_t saved) {
    w->plen = saved;
    w->path[saved] = 0;
}

/* Sorts the keys of every object (O(k log k) each, O(n log n) over the tree); 1 on the first duplicate
 * (w->path then names it), -1 out of memory, 0 none. */
static int walk(Walk *w, const cJSON *node) {
    if (cJSON_IsObject(node)) {
        size_t k = 0;
        for (const cJSON *c = node->child; c; c = c->next) k++;
        if (k > 1) {
            if (k > w->cap) {
                const char **p = realloc(w->keys, k * sizeof *p);
                if (!p) return -1;
                w->keys = p;
                w->cap = k;
            }
            size_t i = 0;
            for (const cJSON *c = node->child; c; c = c->next) w->keys[i++] = c->string ? c->string : "";
            qsort(w->keys, k, sizeof *w->keys, cmp_key);
            for (i = 1; i < k; i++) {
                key_compares++;
                if (!strcmp(w->keys[i - 1], w->keys[i])) {
                    size_t saved;
                    path_push(w, w->keys[i], 0, &saved);
                    w->dup = w->keys[i];
                    return 1;
                }
            }
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        int i = 0;
        for (const cJSON *c = node->child; c; c = c->next, i++) {
            size_t saved;
            path_push(w, cJSON_IsObject(node) ? (c->string ? c->string : "") : NULL, i, &saved);
            int r = walk(w, c);
            if (r) return r;
            path_pop(w, saved);
        }
    }
    return 0;
}

qb_status qb_json_check_duplicates(const char *file, const cJSON *root) {
    Walk w = {0};
    int r = walk(&w, root);
    free(w.keys);
    if (r < 0) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory checking for duplicate keys", file);
    if (r > 0) return qb_errorf(QB_ERR_INPUT, "%s: %s: key appears twice in one object", file, w.path);
    return QB_OK;
}

qb_status qb_json_parse(const char *file, const char *text, size_t len, cJSON **out) {
    *out = NULL;
    const char *nul = memchr(text, 0, len);
    if (nul) return qb_errorf(QB_ERR_INPUT, "%s: NUL byte at offset %zu (not JSON text)", file, (size_t)(nul - text));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        long off = end && end >= text ? (long)(end - text) : -1;
        return qb_errorf(QB_ERR_INPUT, "%s: not valid JSON (near byte %ld)", file, off);
    }
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (end && end < text + len) {
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_INPUT, "%s: not valid JSON: text after the value at byte %ld", file,
                         (long)(end - text));
    }
    qb_status st = qb_json_check_duplicates(file, root);
    if (st) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return QB_OK;
}

const char *qb_json_path(char *buf, size_t size, const char *where, const char *key) {
    snprintf(buf, size, "%s%s%s", where ? where : "", where && *where ? "." : "", key);
    return buf;
}

const char *qb_json_unknown_key(const cJSON *obj, const char *const *allowed) {
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = c->string && !strcmp(c->string, *a);
        if (!ok) return c->string ? c->string : "";
    }
    return NULL;
}

qb_status qb_json_check_keys(const char *file, const char *where, const cJSON *obj, const char *const *allowed) {
    const char *bad = qb_json_unknown_key(obj, allowed);
    if (!bad) return QB_OK;
    char p[512];
    return qb_errorf(QB_ERR_INPUT, "%s: %s: unknown key", file, qb_json_path(p, sizeof p, where, bad));
}

int qb_json_is_int(const cJSON *v, long long lo, long long hi, long long *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    /* in long long's range before the cast (2^63 itself is not), then compared exactly */
    if (!(d >= -0x1p63 && d < 0x1p63) || d != floor(d)) return 0;
    long long x = (long long)d;
    if (x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

qb_status qb_json_as_int(const char *file, const char *path, const cJSON *v, long long lo, long long hi,
                         long long *out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
        return qb_errorf(QB_ERR_INPUT, "%s: %s: expected an integer", file, path);
    if (!qb_json_is_int(v, lo, hi, out))
        return qb_errorf(QB_ERR_INPUT, "%s: %s: %.17g is out of range (%lld..%lld)", file, path, v->valuedouble, lo,
                         hi);
    return QB_OK;
}

qb_status qb_json_as_num(const char *file, const char *path, const cJSON *v, double lo, double hi, double *out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return qb_errorf(QB_ERR_INPUT, "%s: %s: expected a number", file, path);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return qb_errorf(QB_ERR_INPUT, "%s: %s: %g is out of range (%g..%g)", file, path, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return QB_OK;
}

qb_status qb_json_as_bool(const char *file, const char *path, const cJSON *v, int *out) {
    if (!cJSON_IsBool(v)) return qb_errorf(QB_ERR_INPUT, "%s: %s: expected true or false", file, path);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return QB_OK;
}

qb_status qb_json_as_str(const char *file, const char *path, const cJSON *v, const char **out) {
    if (!cJSON_IsString(v) || !v->valuestring) return qb_errorf(QB_ERR_INPUT, "%s: %s: expected a string", file, path);
    *out = v->valuestring;
    return QB_OK;
}

/* Looks key up; 1 found (not null), 0 absent (error when required). */
static int lookup(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                  const cJSON **v, int *present, qb_status *st, char *path, size_t psize) {
    qb_json_path(path, psize, where, key);
    *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    *st = QB_OK;
    if (present) *present = 0;
    if (*v && !cJSON_IsNull(*v)) {
        if (present) *present = 1;
        return 1;
    }
    if (required) *st = qb_errorf(QB_ERR_INPUT, "%s: %s: missing", file, path);
    return 0;
}

#define KEYED(call)                                                                                            \
    const cJSON *v;                                                                                            \
    qb_status st;                                                                                              \
    char path[512];                                                                                            \
    if (!lookup(file, where, obj, key, required, &v, present, &st, path, sizeof path)) return st;              \
    st = call;                                                                                                 \
    if (st && present) *present = 0;                                                                           \
    return st;

qb_status qb_json_int(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                      long long lo, long long hi, long long *out, int *present) {
    KEYED(qb_json_as_int(file, path, v, lo, hi, out))
}

qb_status qb_json_int32(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                        int lo, int hi, int *out, int *present) {
    long long x = 0;
    int got = 0;
    qb_status st = qb_json_int(file, where, obj, key, required, lo, hi, &x, &got);
    if (got) *out = (int)x;
    if (present) *present = got;
    return st;
}

qb_status qb_json_num(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                      double lo, double hi, double *out, int *present) {
    KEYED(qb_json_as_num(file, path, v, lo, hi, out))
}

qb_status qb_json_bool(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                       int *out, int *present) {
    KEYED(qb_json_as_bool(file, path, v, out))
}

qb_status qb_json_str(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                      const char **out, int *present) {
    KEYED(qb_json_as_str(file, path, v, out))
}
