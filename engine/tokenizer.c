/* tokenizer.c — Hugging Face tokenizer.json (the BPE model of the Llama / Phi-3 family) in C.
 *
 * Loading validates everything it reads and rejects any component or option it does not implement with
 * an error naming it. Encoding follows Hugging Face `tokenizers` step by step: split out added tokens
 * (leftmost-longest, lstrip/rstrip/single_word), normalize each remaining piece (Prepend / Replace), split
 * out `normalized` added tokens, pre-tokenize (Metaspace), then BPE by merge rank with a heap, byte
 * fallback and unk fusion. Decoding runs the decoder chain (Replace, ByteFallback, Fuse, Strip,
 * Metaspace) on piece strings. Streaming decode is HF's DecodeStream algorithm (a sliding window of ids,
 * text released only when it no longer ends in U+FFFD). Checked against HF's own outputs in
 * tests/fixtures/tokenizers/phi3-vectors.jsonl.
 *
 * Speed: BPE over a string with no pre-tokenizer is one "word" (a whole book for the Llama normalizer
 * form). The heap makes that O(n log n); on top of it, when no merge result contains "▁" right after a
 * non-"▁" character (checked at load — true of Llama/Phi-3), no symbol can ever span such a boundary,
 * so the text is cut there into independent words without changing the result (tok_encode_ref skips the
 * cut and is what the test compares against). */
#include "tokenizer.h"

#include "qb_json.h"
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_JSON_BYTES ((size_t)512 << 20)
#define TOK_MAX_EOS 16

/* ---------------------------------------------------------------------------------------------- */
/* UTF-8 and Unicode helpers                                                                      */

/* Length of the valid UTF-8 character at s (Rust's rules: no overlongs, surrogates or > U+10FFFF),
 * 0 if the bytes there are not one. */
static size_t utf8_char_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
#define CONT(i) ((i) < n && (s[i] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) return CONT(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || !CONT(1) || !CONT(2)) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;
        if (c == 0xED && s[1] > 0x9F) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || !CONT(1) || !CONT(2) || !CONT(3)) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] > 0x8F) return 0;
        return 4;
    }
#undef CONT
    return 0;
}

/* Offset of the first invalid byte, or n if all of s is valid UTF-8. */
static size_t utf8_check(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        size_t k = utf8_char_len(u + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* Decodes the (valid) character at s. */
static uint32_t utf8_decode(const unsigned char *s, size_t k) {
    switch (k) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

/* Start of the character that ends just before s+i (s valid UTF-8, i > 0). */
static size_t utf8_prev(const char *s, size_t i) {
    do i--; while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return i;
}

/* Unicode White_Space — what Rust's char::is_whitespace and regex \s use. */
static int uni_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Approximation of regex \w (only used for added tokens with single_word, which no shipped Phi-3 /
 * Llama tokenizer sets): ASCII letters, digits, '_', and every non-ASCII character that is not
 * whitespace or in the common punctuation / symbol blocks. */
static int uni_is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (uni_is_space(c)) return 0;
    if ((c >= 0xA1 && c <= 0xBF) || c == 0xD7 || c == 0xF7) return 0;
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFE30 && c <= 0xFE4F) ||
        (c >= 0xFF00 && c <= 0xFF0F))
        return 0;
    return 1;
}

static uint32_t char_at(const char *s, size_t n, size_t i, size_t *k) {
    *k = utf8_char_len((const unsigned char *)s + i, n - i);
    if (!*k) *k = 1;
    return utf8_decode((const unsigned char *)s + i, *k);
}

/* ---------------------------------------------------------------------------------------------- */
/* Growable buffers                                                                               */

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_add(Buf *b, const void *s, size_t n) {
    if (buf_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

typedef struct {
    int *v;
    size_t n, cap;
} IntVec;

static int iv_push(IntVec *a, int x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        int *v = realloc(a->v, cap * sizeof(int));
        if (!v) {
            qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory (%zu ids)", cap);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* The tokenizer                                                                                  */

enum { NORM_PREPEND, NORM_REPLACE };
typedef struct {
    int kind;
    char *a, *b; /* Prepend: a; Replace: a → b */
    size_t alen, blen;
} NormOp;

enum { DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct {
    int kind;
    char *a, *b; /* Replace: a → b; Strip / Metaspace: a = the character */
    size_t alen, blen;
    int start, stop; /* Strip */
    int scheme;      /* Metaspace */
} DecOp;

typedef struct {
    char *content, *pattern; /* pattern: content, or its normalized form when `normalized` */
    size_t len, plen;
    int id, special, lstrip, rstrip, single_word, normalized;
} AddedTok;

/* The added tokens matched in one pass, longest first so the first hit at a position is the
 * leftmost-longest match (what HF's Aho-Corasick with MatchKind::LeftmostLongest returns). */
typedef struct {
    AddedTok **tok;
    int n;
    uint8_t first[256];
} MatchSet;

typedef struct {
    uint64_t key; /* ((a << 32) | b) + 1; 0 = empty */
    uint32_t rank;
    int32_t newid;
} MergeSlot;

struct Tokenizer {
    char *path;
    int n_vocab; /* model vocabulary entries: ids 0..n_vocab-1 */
    int n_total; /* highest id + 1, added tokens included */
    char **piece;
    uint32_t *piece_len;
    uint8_t *special;

    int32_t *vslot; /* piece → id hash (model vocabulary), open addressing; -1 empty */
    size_t vmask;

    MergeSlot *merge; /* (a,b) pair → merge, open addressing; one cache line per probe */
    size_t mmask;

    int ascii_id[128];
    int32_t *bmp_id; /* id of each one-character piece below U+10000, -1 if none: skips hashing */
    int byte_id[256];
    int byte_fallback, fuse_unk, ignore_merges, unk_id;
    int fast_split;

    AddedTok *added;
    int n_added;
    MatchSet raw_set, norm_set;

    NormOp *norm;
    int n_norm;

    int has_metaspace, ms_scheme, ms_split;
    char ms_rep[8];
    size_t ms_replen;

    int has_decoder;
    DecOp *dec;
    int n_dec;

    int *tpl_pre, n_pre, *tpl_post, n_post; /* TemplateProcessing single: prefix / suffix ids */
    int has_template;
    int add_bos_default, bos_id, eos_id;
    int eos_ids[TOK_MAX_EOS], n_eos;
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int vocab_get(const Tokenizer *t, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & t->vmask;
    for (;;) {
        int32_t id = t->vslot[i];
        if (id < 0) return -1;
        if (t->piece_len[id] == n && memcmp(t->piece[id], s, n) == 0) return id;
        i = (i + 1) & t->vmask;
    }
}

/* Fibonacci hashing: the top bits of the product depend on every bit of the key (the low bits would
 * ignore the first id of the pair and make long probe chains). */
static inline size_t pair_slot(uint64_t key, size_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)((h ^ (h >> 32)) >> 13) & mask;
}

/* Merge of the pair (a, b): returns its rank and sets *newid, or returns UINT32_MAX. */
static inline uint32_t merge_get(const Tokenizer *t, int a, int b, int *newid) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = pair_slot(key, t->mmask);
    for (;;) {
        const MergeSlot *m = &t->merge[i];
        if (m->key == key) {
            *newid = m->newid;
            return m->rank;
        }
        if (m->key == 0) return UINT32_MAX;
        i = (i + 1) & t->mmask;
    }
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    if (t->piece)
        for (int i = 0; i < t->n_total; i++) free(t->piece[i]);
    free(t->piece);
    free(t->piece_len);
    free(t->special);
    free(t->vslot);
    free(t->merge);
    free(t->bmp_id);
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].pattern != t->added[i].content) free(t->added[i].pattern);
        free(t->added[i].content);
    }
    free(t->added);
    free(t->raw_set.tok);
    free(t->norm_set.tok);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->norm);
    for (int i = 0; i < t->n_dec; i++) {
        free(t->dec[i].a);
        free(t->dec[i].b);
    }
    free(t->dec);
    free(t->tpl_pre);
    free(t->tpl_post);
    free(t->path);
    free(t);
}

/* ---------------------------------------------------------------------------------------------- */
/* Loading                                                                                        */

/* Every key of obj must be in the NULL-terminated list; names the first that is not. */
static qb_status check_keys(const char *path, const char *what, const cJSON *obj, const char *const *known) {
    const char *bad = qb_json_unknown_key(obj, known);
    if (bad) return qb_errorf(QB_ERR_UNSUPPORTED, "%s: %s: option \"%s\" is not supported", path, what, bad);
    return QB_OK;
}

/* Optional boolean field: absent or null → def. */
static qb_status get_bool(const char *path, const char *what, const cJSON *obj, const char *key, int def,
                          int *out) {
    *out = def;
    return qb_json_bool(path, what, obj, key, 0, out, NULL);
}

/* A JSON number that is an integer in [lo, hi]: 0, else -1. */
static int json_int(const cJSON *v, long long lo, long long hi, long long *out) {
    return qb_json_is_int(v, lo, hi, out) ? 0 : -1;
}

/* A string field that must be valid UTF-8 (cJSON lets lone surrogates through as bytes). */
static qb_status get_string(const char *path, const char *what, const cJSON *obj, const char *key,
                            const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || !v->valuestring)
        return qb_errorf(QB_ERR_INPUT, "%s: %s: \"%s\" missing or not a string", path, what, key);
    size_t n = strlen(v->valuestring);
    if (utf8_check(v->valuestring, n) != n)
        return qb_errorf(QB_ERR_INPUT, "%s: %s: \"%s\" is not valid UTF-8", path, what, key);
    *out = v->valuestring;
    return QB_OK;
}

/* A single character given as a string (Metaspace replacement, Strip content). */
static qb_status get_char(const char *path, const char *what, const cJSON *obj, const char *key, char **out,
                          size_t *len) {
    const char *s;
    qb_status st = get_string(path, what, obj, key, &s);
    if (st) return st;
    size_t n = strlen(s);
    if (n == 0 || utf8_char_len((const unsigned char *)s, n) != n)
        return qb_errorf(QB_ERR_INPUT, "%s: %s: \"%s\" must be exactly one character", path, what, key);
    *out = strdup(s);
    if (!*out) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    *len = n;
    return QB_OK;
}

/* Replace's pattern: {"String": "…"} (the Regex form is not implemented). */
static qb_status get_pattern(const char *path, const char *what, const cJSON *obj, char **out, size_t *len) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "pattern");
    if (!cJSON_IsObject(p)) return qb_errorf(QB_ERR_INPUT, "%s: %s: \"pattern\" missing or not an object", path, what);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
    if (!s) {
        if (cJSON_GetObjectItemCaseSensitive(p, "Regex"))
            return qb_errorf(QB_ERR_UNSUPPORTED, "%s: %s: Regex patterns are not supported", path, what);
        return qb_errorf(QB_ERR_INPUT, "%s: %s: pattern has no \"String\"", path, what);
    }
    const char *str;
    qb_status st = get_string(path, what, p, "String", &str);
    if (st) return st;
    if (!*str) return qb_errorf(QB_ERR_INPUT, "%s: %s: empty pattern", path, what);
    *out = strdup(str);
    if (!*out) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    *len = strlen(str);
    return QB_OK;
}

static qb_status load_vocab(Tokenizer *t, const cJSON *vocab) {
    const char *path = t->path;
    if (!cJSON_IsObject(vocab)) return qb_errorf(QB_ERR_INPUT, "%s: model.vocab missing or not an object", path);
    int n = cJSON_GetArraySize(vocab);
    if (n <= 0) return qb_errorf(QB_ERR_INPUT, "%s: model.vocab is empty", path);
    t->n_vocab = n;
    t->piece = calloc((size_t)n, sizeof(char *));
    t->piece_len = calloc((size_t)n, sizeof(uint32_t));
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    t->vslot = malloc(cap * sizeof(int32_t));
    if (!t->piece || !t->piece_len || !t->vslot) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    memset(t->vslot, 0xFF, cap * sizeof(int32_t));
    t->vmask = cap - 1;
    t->n_total = n;
    for (const cJSON *c = vocab->child; c; c = c->next) {
        long long id;
        if (!c->string) return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: entry without a key", path);
        if (json_int(c, 0, INT_MAX, &id))
            return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: id of \"%s\" is not a non-negative integer", path,
                             c->string);
        if (id >= n)
            return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: id %lld of \"%s\" is past the vocabulary (%d entries)",
                             path, id, c->string, n);
        if (t->piece[id])
            return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: duplicate id %lld (\"%s\" and \"%s\")", path, id,
                             t->piece[id], c->string);
        size_t len = strlen(c->string);
        if (len == 0) return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: empty piece (id %lld)", path, id);
        if (utf8_check(c->string, len) != len)
            return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: piece of id %lld is not valid UTF-8", path, id);
        if (vocab_get(t, c->string, len) >= 0)
            return qb_errorf(QB_ERR_INPUT, "%s: model.vocab: duplicate piece \"%s\"", path, c->string);
        t->piece[id] = strdup(c->string);
        if (!t->piece[id]) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
        t->piece_len[id] = (uint32_t)len;
        size_t i = hash_bytes(c->string, len) & t->vmask;
        while (t->vslot[i] >= 0) i = (i + 1) & t->vmask;
        t->vslot[i] = (int32_t)id;
    }
    return QB_OK;
}

static qb_status load_merges(Tokenizer *t, const cJSON *merges) {
    const char *path = t->path;
    if (!cJSON_IsArray(merges)) return qb_errorf(QB_ERR_INPUT, "%s: model.merges missing or not an array", path);
    int n = cJSON_GetArraySize(merges);
    size_t cap = 16;
    while (cap < (size_t)n * 2 + 2) cap *= 2;
    t->merge = calloc(cap, sizeof(MergeSlot));
    if (!t->merge) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    t->mmask = cap - 1;
    Buf joined = {0};
    int rank = 0;
    qb_status st = QB_OK;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsString(m)) {
            /* "a b": exactly one space, as HF's convert_merges_to_hashmap requires */
            const char *s = m->valuestring;
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = qb_errorf(QB_ERR_INPUT, "%s: model.merges[%d]: \"%s\" is not two pieces separated by one space",
                               path, rank, s);
                break;
            }
            a = s;
            alen = (size_t)(sp - s);
            b = sp + 1;
            blen = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            a = m->child->valuestring;
            alen = strlen(a);
            b = m->child->next->valuestring;
            blen = strlen(b);
        } else {
            st = qb_errorf(QB_ERR_INPUT, "%s: model.merges[%d]: neither \"a b\" nor [\"a\", \"b\"]", path, rank);
            break;
        }
        int ia = vocab_get(t, a, alen), ib = vocab_get(t, b, blen);
        joined.n = 0;
        if (buf_add(&joined, a, alen) || buf_add(&joined, b, blen)) {
            st = QB_ERR_NOMEM;
            break;
        }
        int inew = vocab_get(t, joined.p, joined.n);
        if (ia < 0 || ib < 0 || inew < 0) {
            const char *bad = ia < 0 ? a : ib < 0 ? b : joined.p;
            int badlen = (int)(ia < 0 ? alen : ib < 0 ? blen : joined.n);
            st = qb_errorf(QB_ERR_INPUT, "%s: model.merges[%d]: piece \"%.*s\" is not in the vocabulary", path, rank,
                           badlen, bad);
            break;
        }
        /* a later duplicate of a pair replaces the earlier one, as in HF's HashMap collect */
        uint64_t key = (((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib) + 1;
        size_t i = pair_slot(key, t->mmask);
        while (t->merge[i].key != 0 && t->merge[i].key != key) i = (i + 1) & t->mmask;
        t->merge[i] = (MergeSlot){key, (uint32_t)rank, inew};
    }
    free(joined.p);
    return st;
}

/* True when no piece a merge can produce has "▁" right after a character other than "▁" — then no
 * BPE symbol ever spans such a point and the text can be cut there (see the top of this file). */
static int merges_respect_word_starts(const Tokenizer *t) {
    for (size_t i = 0; i <= t->mmask; i++) {
        if (!t->merge[i].key) continue;
        const unsigned char *p = (const unsigned char *)t->piece[t->merge[i].newid];
        size_t n = t->piece_len[t->merge[i].newid], k;
        int prev_is_rep = -1; /* -1: no previous character */
        for (size_t j = 0; j < n; j += k) {
            k = utf8_char_len(p + j, n - j);
            if (!k) return 0;
            int is_rep = k == 3 && p[j] == 0xE2 && p[j + 1] == 0x96 && p[j + 2] == 0x81;
            if (is_rep && prev_is_rep == 0) return 0;
            prev_is_rep = is_rep;
        }
    }
    return 1;
}

static qb_status load_model(Tokenizer *t, const cJSON *model) {
    static const char *const known[] = {"type",     "dropout",      "unk_token", "continuing_subword_prefix",
                                        "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
                                        "vocab",    "merges",       NULL};
    const char *path = t->path;
    if (!cJSON_IsObject(model)) return qb_errorf(QB_ERR_INPUT, "%s: \"model\" missing or not an object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && !cJSON_IsString(type)) return qb_errorf(QB_ERR_INPUT, "%s: model.type is not a string", path);
    if (type && strcmp(type->valuestring, "BPE") != 0)
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (only BPE)", path,
                         type->valuestring);
    if (!type && !cJSON_GetObjectItemCaseSensitive(model, "merges"))
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: model has no type and no merges (only BPE is supported)", path);
    qb_status st = check_keys(path, "model", model, known);
    if (st) return st;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0.0))
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: model.dropout is not supported (encoding would be random)", path);
    const char *fixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(model, fixes[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring[0] == 0))
            return qb_errorf(QB_ERR_UNSUPPORTED, "%s: model.%s is not supported", path, fixes[i]);
    }
    if ((st = get_bool(path, "model", model, "fuse_unk", 0, &t->fuse_unk)) ||
        (st = get_bool(path, "model", model, "byte_fallback", 0, &t->byte_fallback)) ||
        (st = get_bool(path, "model", model, "ignore_merges", 0, &t->ignore_merges)))
        return st;
    if ((st = load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab")))) return st;
    if ((st = load_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges")))) return st;
    t->unk_id = -1;
    v = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) return qb_errorf(QB_ERR_INPUT, "%s: model.unk_token is not a string", path);
        t->unk_id = vocab_get(t, v->valuestring, strlen(v->valuestring));
        if (t->unk_id < 0)
            return qb_errorf(QB_ERR_INPUT, "%s: model.unk_token \"%s\" is not in the vocabulary", path, v->valuestring);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = vocab_get(t, name, 6);
    }
    for (int c = 0; c < 128; c++) {
        char s = (char)c;
        t->ascii_id[c] = vocab_get(t, &s, 1);
    }
    t->bmp_id = malloc(0x10000 * sizeof(int32_t));
    if (!t->bmp_id) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    memset(t->bmp_id, 0xFF, 0x10000 * sizeof(int32_t));
    for (int id = 0; id < t->n_vocab; id++) {
        const unsigned char *p = (const unsigned char *)t->piece[id];
        size_t n = t->piece_len[id];
        if (n <= 3 && utf8_char_len(p, n) == n) t->bmp_id[utf8_decode(p, n)] = id;
    }
    return QB_OK;
}

static _Thread_local uint64_t added_probes;
uint64_t tok_added_probes(void) { return added_probes; }

/* Reads the added tokens one by one; aslot (amask + 1 slots, all -1) is the hash set of their contents. */
static qb_status add_each(Tokenizer *t, const cJSON *arr, int32_t *aslot, size_t amask, int *next_id) {
    static const char *const known[] = {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special",
                                        NULL};
    const char *path = t->path;
    int k = 0;
    qb_status st;
    for (const cJSON *a = arr->child; a; a = a->next, k++) {
        char what[48];
        snprintf(what, sizeof what, "added_tokens[%d]", k);
        if (!cJSON_IsObject(a)) return qb_errorf(QB_ERR_INPUT, "%s: %s is not an object", path, what);
        if ((st = check_keys(path, what, a, known))) return st;
        AddedTok *at = &t->added[t->n_added];
        const char *content;
        long long id;
        if ((st = get_string(path, what, a, "content", &content))) return st;
        if (!*content) return qb_errorf(QB_ERR_INPUT, "%s: %s: empty content", path, what);
        if (json_int(cJSON_GetObjectItemCaseSensitive(a, "id"), 0, INT_MAX - 1, &id))
            return qb_errorf(QB_ERR_INPUT, "%s: %s (\"%s\"): \"id\" missing or not a non-negative integer", path, what,
                             content);
        if ((st = get_bool(path, what, a, "special", 0, &at->special)) ||
            (st = get_bool(path, what, a, "lstrip", 0, &at->lstrip)) ||
            (st = get_bool(path, what, a, "rstrip", 0, &at->rstrip)) ||
            (st = get_bool(path, what, a, "single_word", 0, &at->single_word)) ||
            (st = get_bool(path, what, a, "normalized", !at->special, &at->normalized)))
            return st;
        size_t len = strlen(content);
        /* a hash set of the contents so far: near-linear for files with many added tokens */
        size_t slot = hash_bytes(content, len) & amask;
        for (; aslot[slot] >= 0; slot = (slot + 1) & amask) {
            added_probes++;
            const AddedTok *o = &t->added[aslot[slot]];
            if (o->len == len && memcmp(o->content, content, len) == 0)
                return qb_errorf(QB_ERR_INPUT, "%s: %s: duplicate added token \"%s\"", path, what, content);
        }
        added_probes++;
        int vid = vocab_get(t, content, len);
        if (vid >= 0) {
            if (id != vid)
                return qb_errorf(QB_ERR_INPUT, "%s: %s: \"%s\" has id %lld but is piece %d of the vocabulary", path,
                                 what, content, id, vid);
        } else {
            if (id < t->n_vocab)
                return qb_errorf(QB_ERR_INPUT, "%s: %s: id %lld of \"%s\" is already piece \"%s\"", path, what, id,
                                 content, t->piece[id]);
            /* ids past the vocabulary are handed out in order, so n_vocab..*next_id-1 are taken */
            if (id < *next_id) return qb_errorf(QB_ERR_INPUT, "%s: %s: duplicate id %lld", path, what, id);
            if (id != *next_id)
                return qb_errorf(QB_ERR_INPUT, "%s: %s: id %lld of \"%s\" is past the vocabulary (next id is %d)",
                                 path, what, id, content, *next_id);
            (*next_id)++;
        }
        at->content = strdup(content);
        if (!at->content) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
        at->len = len;
        at->id = (int)id;
        at->pattern = at->content;
        at->plen = len;
        aslot[slot] = t->n_added++;
    }
    return QB_OK;
}

static qb_status load_added(Tokenizer *t, const cJSON *arr) {
    const char *path = t->path;
    if (!arr || cJSON_IsNull(arr)) return QB_OK;
    if (!cJSON_IsArray(arr)) return qb_errorf(QB_ERR_INPUT, "%s: added_tokens is not an array", path);
    int n = cJSON_GetArraySize(arr);
    t->added = calloc((size_t)n + 1, sizeof(AddedTok));
    if (!t->added) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    /* HF gives an added token its vocabulary id when its content is a piece, else the next free id
     * after the vocabulary; an id that disagrees is a broken file, not something to guess about. */
    int next_id = t->n_vocab;
    size_t acap = 16;
    while (acap < (size_t)n * 2) acap *= 2;
    int32_t *aslot = malloc(acap * sizeof *aslot);
    if (!aslot) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    memset(aslot, 0xFF, acap * sizeof *aslot);
    const size_t amask = acap - 1;
    qb_status st = add_each(t, arr, aslot, amask, &next_id);
    free(aslot);
    if (st) return st;
    /* grow the id → piece tables to cover the new ids */
    int total = next_id;
    char **p = realloc(t->piece, (size_t)total * sizeof(char *));
    if (!p) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    t->piece = p;
    uint32_t *pl = realloc(t->piece_len, (size_t)total * sizeof(uint32_t));
    if (!pl) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    t->piece_len = pl;
    for (int i = t->n_total; i < total; i++) {
        t->piece[i] = NULL;
        t->piece_len[i] = 0;
    }
    t->n_total = total;
    for (int j = 0; j < t->n_added; j++) {
        AddedTok *at = &t->added[j];
        if (at->id >= t->n_vocab) {
            t->piece[at->id] = strdup(at->content);
            if (!t->piece[at->id]) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
            t->piece_len[at->id] = (uint32_t)at->len;
        }
    }
    return QB_OK;
}

static qb_status add_norm_op(Tokenizer *t, const cJSON *n, int depth) {
    const char *path = t->path;
    if (!cJSON_IsObject(n)) return qb_errorf(QB_ERR_INPUT, "%s: normalizer is not an object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsString(type)) return qb_errorf(QB_ERR_INPUT, "%s: normalizer without a \"type\"", path);
    const char *ty = type->valuestring;
    qb_status st;
    if (strcmp(ty, "Sequence") == 0 && depth < 4) {
        static const char *const known[] = {"type", "normalizers", NULL};
        if ((st = check_keys(path, "normalizer Sequence", n, known))) return st;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return qb_errorf(QB_ERR_INPUT, "%s: normalizer Sequence: \"normalizers\" is not an array", path);
        for (const cJSON *c = list->child; c; c = c->next)
            if ((st = add_norm_op(t, c, depth + 1))) return st;
        return QB_OK;
    }
    NormOp *ops = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof(NormOp));
    if (!ops) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    t->norm = ops;
    NormOp *op = &t->norm[t->n_norm];
    memset(op, 0, sizeof *op);
    if (strcmp(ty, "Prepend") == 0) {
        static const char *const known[] = {"type", "prepend", NULL};
        const char *s;
        if ((st = check_keys(path, "normalizer Prepend", n, known)) ||
            (st = get_string(path, "normalizer Prepend", n, "prepend", &s)))
            return st;
        op->kind = NORM_PREPEND;
        op->a = strdup(s);
        op->alen = strlen(s);
        if (!op->a) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    } else if (strcmp(ty, "Replace") == 0) {
        static const char *const known[] = {"type", "pattern", "content", NULL};
        const char *s;
        if ((st = check_keys(path, "normalizer Replace", n, known)) ||
            (st = get_pattern(path, "normalizer Replace", n, &op->a, &op->alen)))
            return st;
        t->n_norm++; /* owns op->a from here on, for tok_free */
        if ((st = get_string(path, "normalizer Replace", n, "content", &s))) return st;
        op->kind = NORM_REPLACE;
        op->b = strdup(s);
        op->blen = strlen(s);
        if (!op->b) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
        return QB_OK;
    } else {
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported (only Sequence, Prepend, Replace)",
                         path, ty);
    }
    t->n_norm++;
    return QB_OK;
}

static qb_status get_prepend_scheme(const char *path, const char *what, const cJSON *o, int *scheme) {
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "prepend_scheme");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(o, "add_prefix_space");
    if (ps && !cJSON_IsNull(ps)) {
        if (!cJSON_IsString(ps)) return qb_errorf(QB_ERR_INPUT, "%s: %s: prepend_scheme is not a string", path, what);
        const char *s = ps->valuestring;
        if (strcmp(s, "first") == 0) *scheme = PREPEND_FIRST;
        else if (strcmp(s, "always") == 0) *scheme = PREPEND_ALWAYS;
        else if (strcmp(s, "never") == 0) *scheme = PREPEND_NEVER;
        else return qb_errorf(QB_ERR_UNSUPPORTED, "%s: %s: prepend_scheme \"%s\" is not supported", path, what, s);
    } else if (aps && !cJSON_IsNull(aps)) {
        /* the legacy form: add_prefix_space true means "always" */
        if (!cJSON_IsBool(aps)) return qb_errorf(QB_ERR_INPUT, "%s: %s: add_prefix_space is not true/false", path, what);
        *scheme = cJSON_IsTrue(aps) ? PREPEND_ALWAYS : PREPEND_NEVER;
    } else {
        *scheme = PREPEND_ALWAYS;
    }
    return QB_OK;
}

static qb_status load_pre_tokenizer(Tokenizer *t, const cJSON *p) {
    const char *path = t->path;
    if (!p || cJSON_IsNull(p)) return QB_OK;
    if (!cJSON_IsObject(p)) return qb_errorf(QB_ERR_INPUT, "%s: pre_tokenizer is not an object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsString(type)) return qb_errorf(QB_ERR_INPUT, "%s: pre_tokenizer without a \"type\"", path);
    if (strcmp(type->valuestring, "Metaspace") != 0)
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported (only Metaspace)", path,
                         type->valuestring);
    static const char *const known[] = {"type", "replacement", "prepend_scheme", "split", "add_prefix_space",
                                        "str_rep", NULL};
    qb_status st;
    char *rep = NULL;
    size_t replen;
    if ((st = check_keys(path, "pre_tokenizer Metaspace", p, known)) ||
        (st = get_char(path, "pre_tokenizer Metaspace", p, "replacement", &rep, &replen)))
        return st;
    memcpy(t->ms_rep, rep, replen);
    t->ms_replen = replen;
    free(rep);
    if ((st = get_prepend_scheme(path, "pre_tokenizer Metaspace", p, &t->ms_scheme)) ||
        (st = get_bool(path, "pre_tokenizer Metaspace", p, "split", 1, &t->ms_split)))
        return st;
    t->has_metaspace = 1;
    return QB_OK;
}

static qb_status add_dec_op(Tokenizer *t, const cJSON *d, int depth) {
    const char *path = t->path;
    if (!cJSON_IsObject(d)) return qb_errorf(QB_ERR_INPUT, "%s: decoder is not an object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
    if (!cJSON_IsString(type)) return qb_errorf(QB_ERR_INPUT, "%s: decoder without a \"type\"", path);
    const char *ty = type->valuestring;
    qb_status st;
    if (strcmp(ty, "Sequence") == 0 && depth < 4) {
        static const char *const known[] = {"type", "decoders", NULL};
        if ((st = check_keys(path, "decoder Sequence", d, known))) return st;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (!cJSON_IsArray(list)) return qb_errorf(QB_ERR_INPUT, "%s: decoder Sequence: \"decoders\" is not an array", path);
        for (const cJSON *c = list->child; c; c = c->next)
            if ((st = add_dec_op(t, c, depth + 1))) return st;
        return QB_OK;
    }
    DecOp *ops = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof(DecOp));
    if (!ops) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    t->dec = ops;
    DecOp *op = &t->dec[t->n_dec];
    memset(op, 0, sizeof *op);
    t->n_dec++; /* counted now so tok_free releases whatever gets allocated below */
    if (strcmp(ty, "Replace") == 0) {
        static const char *const known[] = {"type", "pattern", "content", NULL};
        const char *s;
        op->kind = DEC_REPLACE;
        if ((st = check_keys(path, "decoder Replace", d, known)) ||
            (st = get_pattern(path, "decoder Replace", d, &op->a, &op->alen)) ||
            (st = get_string(path, "decoder Replace", d, "content", &s)))
            return st;
        op->b = strdup(s);
        op->blen = strlen(s);
        if (!op->b) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    } else if (strcmp(ty, "ByteFallback") == 0 || strcmp(ty, "Fuse") == 0) {
        static const char *const known[] = {"type", NULL};
        op->kind = ty[0] == 'B' ? DEC_BYTEFALLBACK : DEC_FUSE;
        if ((st = check_keys(path, ty[0] == 'B' ? "decoder ByteFallback" : "decoder Fuse", d, known))) return st;
    } else if (strcmp(ty, "Strip") == 0) {
        static const char *const known[] = {"type", "content", "start", "stop", NULL};
        long long a, b;
        op->kind = DEC_STRIP;
        if ((st = check_keys(path, "decoder Strip", d, known)) ||
            (st = get_char(path, "decoder Strip", d, "content", &op->a, &op->alen)))
            return st;
        if (json_int(cJSON_GetObjectItemCaseSensitive(d, "start"), 0, 1 << 20, &a) ||
            json_int(cJSON_GetObjectItemCaseSensitive(d, "stop"), 0, 1 << 20, &b))
            return qb_errorf(QB_ERR_INPUT, "%s: decoder Strip: start/stop missing or not small non-negative integers",
                             path);
        op->start = (int)a;
        op->stop = (int)b;
    } else if (strcmp(ty, "Metaspace") == 0) {
        static const char *const known[] = {"type", "replacement", "prepend_scheme", "split", "add_prefix_space",
                                            "str_rep", NULL};
        op->kind = DEC_METASPACE;
        if ((st = check_keys(path, "decoder Metaspace", d, known)) ||
            (st = get_char(path, "decoder Metaspace", d, "replacement", &op->a, &op->alen)) ||
            (st = get_prepend_scheme(path, "decoder Metaspace", d, &op->scheme)))
            return st;
    } else {
        return qb_errorf(QB_ERR_UNSUPPORTED,
                         "%s: decoder \"%s\" is not supported (only Sequence, Replace, ByteFallback, Fuse, Strip, "
                         "Metaspace)",
                         path, ty);
    }
    return QB_OK;
}

static qb_status load_post_processor(Tokenizer *t, const cJSON *p) {
    const char *path = t->path;
    if (!p || cJSON_IsNull(p)) return QB_OK;
    if (!cJSON_IsObject(p)) return qb_errorf(QB_ERR_INPUT, "%s: post_processor is not an object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsString(type)) return qb_errorf(QB_ERR_INPUT, "%s: post_processor without a \"type\"", path);
    if (strcmp(type->valuestring, "TemplateProcessing") != 0)
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: post_processor \"%s\" is not supported (only TemplateProcessing)",
                         path, type->valuestring);
    static const char *const known[] = {"type", "single", "pair", "special_tokens", NULL};
    qb_status st;
    if ((st = check_keys(path, "post_processor", p, known))) return st;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    if (!cJSON_IsArray(single)) return qb_errorf(QB_ERR_INPUT, "%s: post_processor: \"single\" is not an array", path);
    int n = cJSON_GetArraySize(single);
    t->tpl_pre = calloc((size_t)n * 4 + 1, sizeof(int));
    t->tpl_post = calloc((size_t)n * 4 + 1, sizeof(int));
    if (!t->tpl_pre || !t->tpl_post) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    int seen_a = 0;
    for (const cJSON *it = single->child; it; it = it->next) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        if (sq) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(sq, "id");
            if (seen_a || !cJSON_IsString(id) || strcmp(id->valuestring, "A") != 0)
                return qb_errorf(QB_ERR_UNSUPPORTED, "%s: post_processor: \"single\" must hold sequence A once", path);
            seen_a = 1;
        } else if (sp) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp, "id");
            if (!cJSON_IsString(id)) return qb_errorf(QB_ERR_INPUT, "%s: post_processor: SpecialToken without an id", path);
            const cJSON *def = cJSON_IsObject(specials) ? cJSON_GetObjectItemCaseSensitive(specials, id->valuestring) : NULL;
            const cJSON *ids = def ? cJSON_GetObjectItemCaseSensitive(def, "ids") : NULL;
            if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1 || cJSON_GetArraySize(ids) > 4)
                return qb_errorf(QB_ERR_INPUT, "%s: post_processor: special token \"%s\" has no ids in special_tokens",
                                 path, id->valuestring);
            for (const cJSON *x = ids->child; x; x = x->next) {
                long long v;
                if (json_int(x, 0, t->n_total - 1, &v))
                    return qb_errorf(QB_ERR_INPUT, "%s: post_processor: id of \"%s\" is past the vocabulary (%d)", path,
                                     id->valuestring, t->n_total);
                if (seen_a) t->tpl_post[t->n_post++] = (int)v;
                else t->tpl_pre[t->n_pre++] = (int)v;
            }
        } else {
            return qb_errorf(QB_ERR_INPUT, "%s: post_processor: \"single\" item is neither SpecialToken nor Sequence", path);
        }
    }
    if (!seen_a) return qb_errorf(QB_ERR_INPUT, "%s: post_processor: \"single\" has no sequence A", path);
    t->has_template = 1;
    return QB_OK;
}

static int cmp_longest_first(const void *pa, const void *pb) {
    const AddedTok *a = *(AddedTok *const *)pa, *b = *(AddedTok *const *)pb;
    if (a->plen != b->plen) return a->plen > b->plen ? -1 : 1;
    return (a > b) - (a < b);
}

static void build_match_set(Tokenizer *t, MatchSet *ms, int normalized) {
    for (int i = 0; i < t->n_added; i++) {
        AddedTok *a = &t->added[i];
        if (a->normalized != normalized || a->plen == 0) continue;
        ms->tok[ms->n++] = a;
        ms->first[(unsigned char)a->pattern[0]] = 1;
    }
    /* longest first, ties in file order (qsort with the position as the tie-break: O(n log n) for files
     * with many added tokens) */
    qsort(ms->tok, (size_t)ms->n, sizeof *ms->tok, cmp_longest_first);
}

static qb_status normalize(const Tokenizer *t, const char *s, size_t n, Buf *out);
static qb_status check_norm_growth(const Tokenizer *t, const char *path);

static qb_status tok_load_json(Tokenizer *t, const cJSON *root) {
    static const char *const known[] = {"version",      "truncation", "padding", "added_tokens", "normalizer",
                                        "pre_tokenizer", "post_processor", "decoder", "model", NULL};
    const char *path = t->path;
    qb_status st;
    if (!cJSON_IsObject(root)) return qb_errorf(QB_ERR_INPUT, "%s: not a JSON object", path);
    if ((st = check_keys(path, "tokenizer", root, known))) return st;
    const char *opt[] = {"truncation", "padding"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, opt[i]);
        if (v && !cJSON_IsNull(v)) return qb_errorf(QB_ERR_UNSUPPORTED, "%s: %s is not supported", path, opt[i]);
    }
    if ((st = load_model(t, cJSON_GetObjectItemCaseSensitive(root, "model")))) return st;
    if ((st = load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")))) return st;
    t->special = calloc((size_t)t->n_total, 1);
    if (!t->special) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].special) t->special[t->added[i].id] = 1;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (n && !cJSON_IsNull(n) && (st = add_norm_op(t, n, 0))) return st;
    if ((st = load_pre_tokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")))) return st;
    if ((st = load_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor")))) return st;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (d && !cJSON_IsNull(d)) {
        t->has_decoder = 1;
        if ((st = add_dec_op(t, d, 0))) return st;
    }
    if ((st = check_norm_growth(t, path))) return st;
    /* normalized added tokens match their normalized form, inside normalized text */
    for (int i = 0; i < t->n_added; i++) {
        AddedTok *a = &t->added[i];
        if (!a->normalized || t->n_norm == 0) continue;
        Buf b = {0};
        if ((st = normalize(t, a->content, a->len, &b))) return st;
        a->pattern = b.p ? b.p : strdup("");
        a->plen = b.n;
        if (!a->pattern) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    }
    t->raw_set.tok = calloc((size_t)t->n_added + 1, sizeof(AddedTok *));
    t->norm_set.tok = calloc((size_t)t->n_added + 1, sizeof(AddedTok *));
    if (!t->raw_set.tok || !t->norm_set.tok) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    build_match_set(t, &t->raw_set, 0);
    build_match_set(t, &t->norm_set, 1);
    /* "▁" must be a piece: an unknown one would become an unk that fuse_unk joins across the cut */
    t->fast_split = !t->ignore_merges && vocab_get(t, "\xE2\x96\x81", 3) >= 0 && merges_respect_word_starts(t);

    t->add_bos_default = t->n_pre > 0;
    t->bos_id = t->n_pre > 0 ? t->tpl_pre[0] : tok_piece_id(t, "<s>");
    t->eos_id = tok_piece_id(t, "</s>");
    t->n_eos = 0;
    if (t->eos_id >= 0) t->eos_ids[t->n_eos++] = t->eos_id;
    return QB_OK;
}

qb_status tok_load(const char *path, Tokenizer **out) {
    *out = NULL;
    char *buf;
    size_t len;
    qb_status st = qb_read_file(path, &buf, &len, TOK_MAX_JSON_BYTES);
    if (st) return st;
    cJSON *root = NULL;
    st = qb_json_parse(path, buf, len, &root); /* also refuses a key twice in one object (vocab included) */
    free(buf);
    if (st) return st;
    Tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    }
    st = tok_load_json(t, root);
    cJSON_Delete(root);
    if (st) {
        tok_free(t);
        return st;
    }
    *out = t;
    return QB_OK;
}

/* Reads an optional JSON file of a model directory: *root NULL when it does not exist. */
static qb_status read_json_opt(const char *dir, const char *name, char **pathp, cJSON **root) {
    *root = NULL;
    *pathp = qb_path_join(dir, name);
    if (!*pathp) return QB_ERR_NOMEM;
    if (!qb_file_exists(*pathp)) return QB_OK;
    char *buf;
    size_t len;
    qb_status st = qb_read_file(*pathp, &buf, &len, (size_t)64 << 20);
    if (st) return st;
    st = qb_json_parse(*pathp, buf, len, root);
    free(buf);
    if (st) return st;
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return qb_errorf(QB_ERR_INPUT, "%s: not a JSON object", *pathp);
    }
    return QB_OK;
}

/* A token given as "text" or {"content": "text"} (tokenizer_config.json); -1 when absent / null. */
static qb_status config_token(const Tokenizer *t, const char *path, const cJSON *root, const char *key, int *id) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *id = -1;
    if (!v || cJSON_IsNull(v)) return QB_OK;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return qb_errorf(QB_ERR_INPUT, "%s: %s is not a string", path, key);
    *id = tok_piece_id(t, v->valuestring);
    if (*id < 0) return qb_errorf(QB_ERR_INPUT, "%s: %s \"%s\" is not in the tokenizer", path, key, v->valuestring);
    return QB_OK;
}

/* eos_token_id / bos_token_id of config.json / generation_config.json: an integer or a list. */
static qb_status config_ids(const Tokenizer *t, const char *path, const cJSON *root, const char *key, int *ids,
                            int *n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    if (!v || cJSON_IsNull(v)) return QB_OK;
    const cJSON *first = cJSON_IsArray(v) ? v->child : v;
    for (const cJSON *x = first; x; x = cJSON_IsArray(v) ? x->next : NULL) {
        long long id;
        if (json_int(x, 0, t->n_total - 1, &id))
            return qb_errorf(QB_ERR_INPUT, "%s: %s: not a token id of this tokenizer (0..%d)", path, key, t->n_total - 1);
        if (*n == TOK_MAX_EOS) return qb_errorf(QB_ERR_INPUT, "%s: %s: more than %d ids", path, key, TOK_MAX_EOS);
        ids[(*n)++] = (int)id;
    }
    return QB_OK;
}

/* The model's embedding has vocab_size rows: a tokenizer with more ids could produce an id past the
 * table. Refused at load, before any output. */
static qb_status check_fits(const Tokenizer *t, const char *path, const cJSON *config) {
    long long vocab;
    if (!qb_json_is_int(cJSON_GetObjectItemCaseSensitive(config, "vocab_size"), 1, INT_MAX, &vocab)) return QB_OK;
    if (t->n_total > vocab)
        return qb_errorf(QB_ERR_INPUT, "%s: vocab_size %lld is smaller than the tokenizer's %d ids (%s): this "
                         "tokenizer does not belong to this model", path, vocab, t->n_total, t->path);
    return QB_OK;
}

qb_status tok_load_dir(const char *dir, Tokenizer **out) {
    *out = NULL;
    char *path = qb_path_join(dir, "tokenizer.json");
    if (!path) return QB_ERR_NOMEM;
    Tokenizer *t;
    qb_status st = tok_load(path, &t);
    free(path);
    if (st) return st;
    const char *names[] = {"tokenizer_config.json", "config.json", "generation_config.json"};
    for (int f = 0; f < 3 && !st; f++) {
        char *p;
        cJSON *root;
        st = read_json_opt(dir, names[f], &p, &root);
        if (!st && root) {
            int ids[TOK_MAX_EOS], n, id;
            if (f == 0) {
                const cJSON *ab = cJSON_GetObjectItemCaseSensitive(root, "add_bos_token");
                if (ab && !cJSON_IsNull(ab)) {
                    if (!cJSON_IsBool(ab)) st = qb_errorf(QB_ERR_INPUT, "%s: add_bos_token is not true/false", p);
                    else t->add_bos_default = cJSON_IsTrue(ab);
                }
                if (!st && !(st = config_token(t, p, root, "bos_token", &id)) && id >= 0) t->bos_id = id;
                if (!st && !(st = config_token(t, p, root, "eos_token", &id)) && id >= 0) {
                    t->eos_id = id;
                    t->eos_ids[0] = id;
                    t->n_eos = 1;
                }
            } else {
                if (f == 1) st = check_fits(t, p, root);
                if (!st && !(st = config_ids(t, p, root, "bos_token_id", ids, &n)) && n > 0) t->bos_id = ids[0];
                if (!st && !(st = config_ids(t, p, root, "eos_token_id", ids, &n)) && n > 0) {
                    /* generation_config's list is the set generate stops at */
                    memcpy(t->eos_ids, ids, (size_t)n * sizeof(int));
                    t->n_eos = n;
                    if (f == 1) t->eos_id = ids[0];
                }
            }
        }
        cJSON_Delete(root);
        free(p);
    }
    if (st) {
        tok_free(t);
        return st;
    }
    *out = t;
    return QB_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Accessors                                                                                      */

int tok_vocab_size(const Tokenizer *t) { return t->n_total; }
int tok_bos_id(const Tokenizer *t) { return t->bos_id; }
int tok_eos_id(const Tokenizer *t) { return t->eos_id; }
int tok_add_bos_default(const Tokenizer *t) { return t->add_bos_default; }

int tok_eos_ids(const Tokenizer *t, const int **ids) {
    *ids = t->eos_ids;
    return t->n_eos;
}

int tok_piece_id(const Tokenizer *t, const char *piece) {
    size_t n = strlen(piece);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, piece, n) == 0) return t->added[i].id;
    return vocab_get(t, piece, n);
}

const char *tok_piece(const Tokenizer *t, int id) {
    if (id < 0 || id >= t->n_total) return NULL;
    return t->piece[id];
}

int tok_is_special(const Tokenizer *t, int id) {
    return id >= 0 && id < t->n_total && t->special[id];
}

/* ---------------------------------------------------------------------------------------------- */
/* Encoding                                                                                       */

/* Per-call scratch, so one Tokenizer can encode from several threads at once. */
typedef struct {
    IntVec out;
    int32_t *sid, *prev, *next;
    size_t scap;
    uint64_t *heap;
    size_t hcap;
    Buf norm, pre;
    int no_split; /* tok_encode_ref: BPE each piece whole */
    /* word → ids cache for long texts (a book repeats its words): keys and ids in arenas */
    struct CacheSlot *cache;
    size_t cache_used;
    Buf ckeys;
    IntVec cids;
} Enc;

#define CACHE_SLOTS ((size_t)1 << 16)
#define CACHE_MIN_TEXT 4096

typedef struct CacheSlot {
    uint64_t h; /* 0 = empty */
    uint32_t koff, klen, ioff, icount;
} CacheSlot;

static void enc_free(Enc *e) {
    free(e->out.v);
    free(e->sid);
    free(e->prev);
    free(e->next);
    free(e->heap);
    free(e->norm.p);
    free(e->pre.p);
    free(e->cache);
    free(e->ckeys.p);
    free(e->cids.v);
}

static int enc_reserve(Enc *e, size_t n) {
    if (n <= e->scap) return 0;
    size_t cap = e->scap ? e->scap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(e->sid, cap * sizeof(int32_t));
    if (a) e->sid = a;
    int32_t *b = realloc(e->prev, cap * sizeof(int32_t));
    if (b) e->prev = b;
    int32_t *c = realloc(e->next, cap * sizeof(int32_t));
    if (c) e->next = c;
    uint64_t *h = realloc(e->heap, cap * 2 * sizeof(uint64_t));
    if (h) e->heap = h;
    if (!a || !b || !c || !h) {
        qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory (%zu symbols)", cap);
        return -1;
    }
    e->scap = cap;
    e->hcap = cap * 2;
    return 0;
}

/* Min-heap of (rank << 32 | position): lowest rank first, leftmost on ties — HF's Merge ordering. */
static inline void heap_push(uint64_t *h, size_t *n, uint64_t x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= x) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], x = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (x <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
    return top;
}

/* Merging for a short word (the common case once text is cut into words): the lowest (rank, position)
 * among the current adjacent pairs by a linear scan, which is what the heap yields too — the heap only
 * pays off for long words. */
static qb_status bpe_merge_small(const Tokenizer *t, Enc *e, size_t n) {
    int32_t *sid = e->sid;
    uint32_t rank[25];
    int32_t nid[25];
    size_t m = n;
    for (size_t i = 0; i + 1 < m; i++) rank[i] = merge_get(t, sid[i], sid[i + 1], &nid[i]);
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == UINT32_MAX) break;
        sid[best] = nid[best];
        /* close the gap: symbols and pair ranks right of best shift left by one */
        for (size_t i = best + 1; i + 1 < m; i++) {
            sid[i] = sid[i + 1];
            rank[i] = rank[i + 1];
            nid[i] = nid[i + 1];
        }
        m--;
        if (best > 0) rank[best - 1] = merge_get(t, sid[best - 1], sid[best], &nid[best - 1]);
        if (best + 1 < m) rank[best] = merge_get(t, sid[best], sid[best + 1], &nid[best]);
    }
    for (size_t i = 0; i < m; i++)
        if (iv_push(&e->out, sid[i])) return QB_ERR_NOMEM;
    return QB_OK;
}

/* HF's BPE::tokenize for one "word" (valid UTF-8, non-empty): initial symbols per character (byte
 * fallback, unk fusion — including HF's order quirk that a pending unk is flushed only at the next
 * known character, after any byte-fallback bytes), then merges by rank. */
static qb_status bpe_word(const Tokenizer *t, Enc *e, const char *w, size_t len) {
    if (len == 0) return QB_OK;
    if (t->ignore_merges) {
        int id = vocab_get(t, w, len);
        if (id >= 0) return iv_push(&e->out, id) ? QB_ERR_NOMEM : QB_OK;
    }
    if (enc_reserve(e, len + 1)) return QB_ERR_NOMEM;
    int32_t *sid = e->sid;
    size_t n = 0;
    int unk_pending = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)w[i];
        size_t k = c < 0x80 ? 1 : utf8_char_len((const unsigned char *)w + i, len - i);
        if (!k) k = 1; /* not reached: text is validated */
        int id = c < 0x80 ? t->ascii_id[c]
                 : k <= 3 ? t->bmp_id[utf8_decode((const unsigned char *)w + i, k)]
                          : vocab_get(t, w + i, k);
        if (id >= 0) {
            if (unk_pending) sid[n++] = t->unk_id;
            unk_pending = 0;
            sid[n++] = id;
        } else {
            int all = t->byte_fallback;
            for (size_t j = 0; all && j < k; j++)
                if (t->byte_id[(unsigned char)w[i + j]] < 0) all = 0;
            if (all) {
                for (size_t j = 0; j < k; j++) sid[n++] = t->byte_id[(unsigned char)w[i + j]];
            } else if (t->unk_id >= 0) {
                if (unk_pending && !t->fuse_unk) sid[n++] = t->unk_id;
                unk_pending = 1;
            }
            /* no unk token: HF drops the character */
        }
        i += k;
    }
    if (unk_pending) sid[n++] = t->unk_id;
    if (n == 0) return QB_OK;

    if (n <= 24 && !e->no_split) return bpe_merge_small(t, e, n);
    int32_t *prev = e->prev, *next = e->next;
    uint64_t *h = e->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int nid;
        uint32_t r = merge_get(t, sid[i], sid[i + 1], &nid);
        if (r != UINT32_MAX) heap_push(h, &hn, ((uint64_t)r << 32) | i);
    }
    while (hn) {
        uint64_t top = heap_pop(h, &hn);
        uint32_t pos = (uint32_t)top, rank = (uint32_t)(top >> 32);
        if (sid[pos] < 0 || next[pos] < 0) continue;
        int32_t nx = next[pos];
        int nid = -1;
        /* stale entry: the pair at pos changed since it was queued (a symbol only grows, so an unchanged
         * rank means an unchanged pair — HF checks the new id, which is equivalent) */
        if (merge_get(t, sid[pos], sid[nx], &nid) != rank) continue;
        sid[pos] = nid;
        sid[nx] = -1;
        next[pos] = next[nx];
        if (next[nx] >= 0) prev[next[nx]] = (int32_t)pos;
        if (hn + 2 > e->hcap) return qb_errorf(QB_ERR_INTERNAL, "tokenizer: BPE heap overflow");
        if (prev[pos] >= 0) {
            int id2;
            uint32_t r = merge_get(t, sid[prev[pos]], nid, &id2);
            if (r != UINT32_MAX) heap_push(h, &hn, ((uint64_t)r << 32) | (uint32_t)prev[pos]);
        }
        if (next[pos] >= 0) {
            int id2;
            uint32_t r = merge_get(t, sid[pos], sid[next[pos]], &id2);
            if (r != UINT32_MAX) heap_push(h, &hn, ((uint64_t)r << 32) | pos);
        }
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        if (iv_push(&e->out, sid[i])) return QB_ERR_NOMEM;
    return QB_OK;
}

/* One word through the cache (when there is one). */
static qb_status cached_word(const Tokenizer *t, Enc *e, const char *w, size_t len) {
    if (!e->cache || len > 64) return bpe_word(t, e, w, len);
    uint64_t h = hash_bytes(w, len) | 1;
    size_t i = (size_t)h & (CACHE_SLOTS - 1);
    for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
        CacheSlot *c = &e->cache[i];
        if (c->h == 0) break;
        if (c->h == h && c->klen == len && memcmp(e->ckeys.p + c->koff, w, len) == 0) {
            for (uint32_t k = 0; k < c->icount; k++)
                if (iv_push(&e->out, e->cids.v[c->ioff + k])) return QB_ERR_NOMEM;
            return QB_OK;
        }
    }
    size_t before = e->out.n;
    qb_status st = bpe_word(t, e, w, len);
    if (st || e->cache_used >= CACHE_SLOTS / 2) return st; /* full: just stop caching */
    CacheSlot slot = {h, (uint32_t)e->ckeys.n, (uint32_t)len, (uint32_t)e->cids.n, (uint32_t)(e->out.n - before)};
    if (buf_add(&e->ckeys, w, len)) return QB_ERR_NOMEM;
    for (size_t k = before; k < e->out.n; k++)
        if (iv_push(&e->cids, e->out.v[k])) return QB_ERR_NOMEM;
    e->cache[i] = slot;
    e->cache_used++;
    return QB_OK;
}

/* The model on one pre-token. With fast_split, cuts before every "▁" that follows a non-"▁" character
 * (exact: see merges_respect_word_starts), so a whole book costs the same as its words; a long text
 * also gets a word cache (the cut words of a book repeat). */
static qb_status model_tokenize(const Tokenizer *t, Enc *e, const char *s, size_t n) {
    if (!t->fast_split || e->no_split) return bpe_word(t, e, s, n);
    if (n >= CACHE_MIN_TEXT && !e->cache) e->cache = calloc(CACHE_SLOTS, sizeof(CacheSlot)); /* NULL: no cache */
    size_t start = 0;
    for (size_t i = 1; i + 3 <= n; i++) {
        if ((unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 && (unsigned char)s[i + 2] == 0x81) {
            int prev_is_rep = i >= 3 && (unsigned char)s[i - 3] == 0xE2 && (unsigned char)s[i - 2] == 0x96 &&
                              (unsigned char)s[i - 1] == 0x81;
            if (!prev_is_rep && i > start) {
                qb_status st = cached_word(t, e, s + start, i - start);
                if (st) return st;
                start = i;
            }
            i += 2;
        }
    }
    return cached_word(t, e, s + start, n - start);
}

/* Pre-tokenizer (Metaspace or none) on one normalized, non-added piece; at_start: the piece begins at
 * offset 0 of the original text (Metaspace prepend_scheme "first"). */
static qb_status pre_tokenize(const Tokenizer *t, Enc *e, const char *s, size_t n, int at_start) {
    if (n == 0) return QB_OK;
    if (!t->has_metaspace) return model_tokenize(t, e, s, n);
    Buf *b = &e->pre;
    b->n = 0;
    const char *rep = t->ms_rep;
    size_t rl = t->ms_replen;
    /* HF replaces spaces first, then asks whether the piece starts with the replacement */
    int starts_rep = s[0] == ' ' || (n >= rl && memcmp(s, rep, rl) == 0);
    if (!starts_rep && (t->ms_scheme == PREPEND_ALWAYS || (t->ms_scheme == PREPEND_FIRST && at_start)))
        if (buf_add(b, rep, rl)) return QB_ERR_NOMEM;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            if (buf_add(b, s + run, i - run) || buf_add(b, rep, rl)) return QB_ERR_NOMEM;
            run = i + 1;
        }
    }
    if (buf_add(b, s + run, n - run)) return QB_ERR_NOMEM;
    if (!t->ms_split) return model_tokenize(t, e, b->p, b->n);
    /* MergedWithNext: every replacement character opens a new piece */
    size_t start = 0;
    for (size_t i = 0; i + rl <= b->n; i++) {
        if (memcmp(b->p + i, rep, rl) == 0) {
            if (i > start) {
                qb_status st = model_tokenize(t, e, b->p + start, i - start);
                if (st) return st;
            }
            start = i;
            i += rl - 1;
        }
    }
    /* model_tokenize may not touch e->pre, so b->p is still valid here */
    return model_tokenize(t, e, b->p + start, b->n - start);
}

/* The normalizer chain's worst-case output for an input of L bytes is G·L + C: a Replace of a → b makes
 * at most L / |a| matches, so it multiplies the length by at most max(1, |b| / |a|); a Prepend adds its
 * string. Chained Replaces compound (found by fuzz_tokenizer_load: three Replace "0" → 300 bytes of mostly
 * "0" turned a 30-byte text into gigabytes). Real tokenizers grow text a little (Phi-3/Llama: Prepend "▁",
 * Replace " " → "▁": G = 3), so a chain that could grow text more than NORM_MAX_GROWTH-fold, or prepend
 * more than NORM_MAX_PREPEND bytes in all, is refused at load. */
#define NORM_MAX_GROWTH 64.0
#define NORM_MAX_PREPEND 4096.0
static qb_status check_norm_growth(const Tokenizer *t, const char *path) {
    double g = 1, c = 0;
    for (int k = 0; k < t->n_norm; k++) {
        const NormOp *op = &t->norm[k];
        if (op->kind == NORM_PREPEND) {
            c += (double)op->alen;
        } else if (op->alen > 0 && op->blen > op->alen) {
            double f = (double)op->blen / (double)op->alen;
            g *= f;
            c *= f;
        }
    }
    double gd = 1; /* the decoder chain's Replaces compound the same way */
    for (int k = 0; k < t->n_dec; k++)
        if (t->dec[k].kind == DEC_REPLACE && t->dec[k].alen > 0 && t->dec[k].blen > t->dec[k].alen)
            gd *= (double)t->dec[k].blen / (double)t->dec[k].alen;
    if (gd > NORM_MAX_GROWTH)
        return qb_errorf(QB_ERR_INPUT,
                         "%s: decoder chain can grow a text %.3g-fold (at most %g-fold accepted: the Replace contents "
                         "are too long for their patterns)",
                         path, gd, NORM_MAX_GROWTH);
    if (g > NORM_MAX_GROWTH || c > NORM_MAX_PREPEND)
        return qb_errorf(QB_ERR_INPUT,
                         "%s: normalizer chain can grow a text %.3g-fold plus %.3g bytes (at most %g-fold and %g bytes "
                         "accepted: the Replace contents are too long for their patterns)",
                         path, g, c, NORM_MAX_GROWTH, NORM_MAX_PREPEND);
    return QB_OK;
}

/* The normalizer chain on one piece (Prepend only on non-empty text, as HF's NormalizedString::prepend). */
static qb_status normalize(const Tokenizer *t, const char *s, size_t n, Buf *out) {
    out->n = 0;
    if (buf_add(out, s, n)) return QB_ERR_NOMEM;
    Buf tmp = {0};
    for (int k = 0; k < t->n_norm; k++) {
        const NormOp *op = &t->norm[k];
        tmp.n = 0;
        if (op->kind == NORM_PREPEND) {
            if (out->n == 0) continue;
            if (buf_add(&tmp, op->a, op->alen) || buf_add(&tmp, out->p, out->n)) goto nomem;
        } else {
            size_t run = 0, i = 0;
            if (buf_reserve(&tmp, out->n)) goto nomem;
            while (i + op->alen <= out->n) {
                if (memcmp(out->p + i, op->a, op->alen) == 0) {
                    if (buf_add(&tmp, out->p + run, i - run) || buf_add(&tmp, op->b, op->blen)) goto nomem;
                    i += op->alen;
                    run = i;
                } else {
                    i++;
                }
            }
            if (buf_add(&tmp, out->p + run, out->n - run)) goto nomem;
        }
        Buf x = *out;
        *out = tmp;
        tmp = x;
    }
    free(tmp.p);
    return QB_OK;
nomem:
    free(tmp.p);
    return QB_ERR_NOMEM;
}

typedef struct {
    size_t start, stop;
    int id; /* -1: text */
} Split;

typedef struct {
    Split *v;
    size_t n, cap;
} SplitVec;

static int sv_push(SplitVec *a, size_t start, size_t stop, int id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        Split *v = realloc(a->v, cap * sizeof(Split));
        if (!v) {
            qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory");
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = (Split){start, stop, id};
    return 0;
}

/* HF's AddedVocabulary::find_matches: leftmost-longest matches, scanning on after each match's end;
 * single_word rejects matches inside words; lstrip / rstrip widen a match over adjacent whitespace. */
static qb_status find_matches(const MatchSet *ms, const char *s, size_t n, SplitVec *out) {
    out->n = 0;
    size_t start_offset = 0, i = 0;
    while (ms->n && i < n) {
        if (!ms->first[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        const AddedTok *m = NULL;
        for (int k = 0; k < ms->n; k++) {
            const AddedTok *a = ms->tok[k];
            if (a->plen <= n - i && memcmp(s + i, a->pattern, a->plen) == 0) {
                m = a;
                break;
            }
        }
        if (!m) {
            i++;
            continue;
        }
        size_t start = i, stop = i + m->plen, k;
        i = stop;
        if (m->single_word) {
            int word_before = start > 0 && uni_is_word(char_at(s, n, utf8_prev(s, start), &k));
            int word_after = stop < n && uni_is_word(char_at(s, n, stop, &k));
            if (word_before || word_after) continue;
        }
        if (m->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t p = utf8_prev(s, ns);
                if (!uni_is_space(char_at(s, n, p, &k))) break;
                ns = p;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (m->rstrip)
            while (stop < n && uni_is_space(char_at(s, n, stop, &k))) stop += k;
        if (start_offset < start && sv_push(out, start_offset, start, -1)) return QB_ERR_NOMEM;
        if (sv_push(out, start, stop, m->id)) return QB_ERR_NOMEM;
        start_offset = stop;
    }
    if (start_offset < n && sv_push(out, start_offset, n, -1)) return QB_ERR_NOMEM;
    return QB_OK;
}

static qb_status encode_text(const Tokenizer *t, Enc *e, const char *text, size_t len) {
    SplitVec s1 = {0}, s2 = {0};
    Buf norm = {0};
    qb_status st = find_matches(&t->raw_set, text, len, &s1);
    for (size_t i = 0; !st && i < s1.n; i++) {
        Split sp = s1.v[i];
        if (sp.id >= 0) {
            if (iv_push(&e->out, sp.id)) st = QB_ERR_NOMEM;
            continue;
        }
        const char *seg = text + sp.start;
        size_t slen = sp.stop - sp.start;
        if (t->n_norm) {
            if ((st = normalize(t, seg, slen, &norm))) break;
            seg = norm.p;
            slen = norm.n;
        }
        if (t->norm_set.n == 0) {
            st = pre_tokenize(t, e, seg, slen, sp.start == 0);
            continue;
        }
        if ((st = find_matches(&t->norm_set, seg, slen, &s2))) break;
        for (size_t j = 0; !st && j < s2.n; j++) {
            Split q = s2.v[j];
            if (q.id >= 0) {
                if (iv_push(&e->out, q.id)) st = QB_ERR_NOMEM;
            } else {
                st = pre_tokenize(t, e, seg + q.start, q.stop - q.start, sp.start == 0 && q.start == 0);
            }
        }
    }
    free(s1.v);
    free(s2.v);
    free(norm.p);
    return st;
}

static qb_status encode_impl(const Tokenizer *t, const char *text, size_t len, int add_bos, int no_split,
                             int **ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t bad = utf8_check(text, len);
    if (bad != len) return qb_errorf(QB_ERR_INPUT, "text is not valid UTF-8 (byte %zu)", bad);
    if (add_bos < 0) add_bos = t->add_bos_default;
    Enc e = {0};
    e.no_split = no_split;
    qb_status st = QB_OK;
    if (add_bos) {
        if (t->n_pre > 0) {
            for (int i = 0; i < t->n_pre && !st; i++)
                if (iv_push(&e.out, t->tpl_pre[i])) st = QB_ERR_NOMEM;
        } else if (t->bos_id >= 0) {
            if (iv_push(&e.out, t->bos_id)) st = QB_ERR_NOMEM;
        } else {
            st = qb_errorf(QB_ERR_UNSUPPORTED, "%s: BOS requested but the tokenizer has none", t->path);
        }
    }
    if (!st) st = encode_text(t, &e, text, len);
    for (int i = 0; add_bos && !st && i < t->n_post; i++)
        if (iv_push(&e.out, t->tpl_post[i])) st = QB_ERR_NOMEM;
    if (!st && e.out.n > INT_MAX) st = qb_errorf(QB_ERR_INPUT, "text: more than %d tokens", INT_MAX);
    if (st) {
        enc_free(&e);
        return st;
    }
    *ids = e.out.v ? e.out.v : malloc(sizeof(int));
    *n = (int)e.out.n;
    e.out.v = NULL;
    enc_free(&e);
    if (!*ids) return qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory");
    return QB_OK;
}

qb_status tok_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n) {
    return encode_impl(t, text, len, add_bos, 0, ids, n);
}

qb_status tok_encode_ref(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n) {
    return encode_impl(t, text, len, add_bos, 1, ids, n);
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding                                                                                       */

/* A list of strings in one arena: what HF's decoders pass to each other. */
typedef struct {
    Buf data;
    size_t *off, *len;
    size_t n, cap;
} StrList;

static void sl_free(StrList *l) {
    free(l->data.p);
    free(l->off);
    free(l->len);
}

static int sl_begin(StrList *l) { /* starts a new string at the end of the arena */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *o = realloc(l->off, cap * sizeof(size_t));
        if (o) l->off = o;
        size_t *m = realloc(l->len, cap * sizeof(size_t));
        if (m) l->len = m;
        if (!o || !m) {
            qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory");
            return -1;
        }
        l->cap = cap;
    }
    l->off[l->n] = l->data.n;
    l->len[l->n] = 0;
    l->n++;
    return 0;
}

static int sl_append(StrList *l, const char *s, size_t n) { /* to the last string */
    if (buf_add(&l->data, s, n)) return -1;
    l->len[l->n - 1] += n;
    return 0;
}

static int sl_add(StrList *l, const char *s, size_t n) { return sl_begin(l) || sl_append(l, s, n); }

/* "" while the arena is still empty: NULL + 0 is undefined behaviour (clang UBSan pointer-overflow, seen
 * decoding with skip_special when every string so far is empty). */
#define SL_STR(l, i) ((l)->data.p ? (l)->data.p + (l)->off[i] : "")

static const char REPLACEMENT_CHAR[] = "\xEF\xBF\xBD";

/* "<0xNN>" → the byte, or -1. */
static int byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static int flush_bytes(StrList *o, Buf *bytes) {
    if (bytes->n == 0) return 0;
    int r;
    if (utf8_check(bytes->p, bytes->n) == bytes->n) {
        r = sl_add(o, bytes->p, bytes->n);
    } else {
        /* HF: one U+FFFD per byte when the run is not valid UTF-8 */
        r = 0;
        for (size_t i = 0; i < bytes->n && !r; i++) r = sl_add(o, REPLACEMENT_CHAR, 3);
    }
    bytes->n = 0;
    return r;
}

static int dec_step(const DecOp *op, const StrList *in, StrList *o) {
    if (op->kind == DEC_FUSE) {
        if (sl_begin(o)) return -1;
        for (size_t i = 0; i < in->n; i++)
            if (sl_append(o, SL_STR(in, i), in->len[i])) return -1;
        return 0;
    }
    if (op->kind == DEC_BYTEFALLBACK) {
        Buf bytes = {0};
        int r = 0;
        for (size_t i = 0; i < in->n && !r; i++) {
            int b = byte_piece(SL_STR(in, i), in->len[i]);
            if (b >= 0) {
                unsigned char c = (unsigned char)b;
                r = buf_add(&bytes, &c, 1);
            } else {
                r = flush_bytes(o, &bytes) || sl_add(o, SL_STR(in, i), in->len[i]);
            }
        }
        if (!r) r = flush_bytes(o, &bytes);
        free(bytes.p);
        return r;
    }
    for (size_t i = 0; i < in->n; i++) {
        const char *s = SL_STR(in, i);
        size_t n = in->len[i];
        if (sl_begin(o)) return -1;
        if (op->kind == DEC_REPLACE) {
            size_t run = 0, j = 0;
            while (j + op->alen <= n) {
                if (memcmp(s + j, op->a, op->alen) == 0) {
                    if (sl_append(o, s + run, j - run) || sl_append(o, op->b, op->blen)) return -1;
                    j += op->alen;
                    run = j;
                } else {
                    j++;
                }
            }
            if (sl_append(o, s + run, n - run)) return -1;
        } else if (op->kind == DEC_STRIP) {
            size_t a = 0, b = n;
            for (int k = 0; k < op->start && a + op->alen <= b && memcmp(s + a, op->a, op->alen) == 0; k++)
                a += op->alen;
            for (int k = 0; k < op->stop && b >= a + op->alen && memcmp(s + b - op->alen, op->a, op->alen) == 0; k++)
                b -= op->alen;
            if (sl_append(o, s + a, b - a)) return -1;
        } else { /* DEC_METASPACE: the replacement becomes a space, and vanishes in the first token */
            size_t run = 0, j = 0;
            while (j + op->alen <= n) {
                if (memcmp(s + j, op->a, op->alen) == 0) {
                    if (sl_append(o, s + run, j - run)) return -1;
                    if (!(i == 0 && op->scheme != PREPEND_NEVER) && sl_append(o, " ", 1)) return -1;
                    j += op->alen;
                    run = j;
                } else {
                    j++;
                }
            }
            if (sl_append(o, s + run, n - run)) return -1;
        }
    }
    return 0;
}

qb_status tok_decode(const Tokenizer *t, const int *ids, int n, int skip_special, char **text, size_t *len) {
    *text = NULL;
    if (len) *len = 0;
    StrList a = {0}, b = {0};
    qb_status st = QB_OK;
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->n_total || !t->piece[id]) {
            st = qb_errorf(QB_ERR_INPUT, "id %d (item %d) is out of range (vocabulary: 0..%d)", id, i + 1,
                           t->n_total - 1);
            break;
        }
        if (skip_special && t->special[id]) continue;
        if (sl_add(&a, t->piece[id], t->piece_len[id])) {
            st = QB_ERR_NOMEM;
            break;
        }
    }
    for (int k = 0; !st && k < t->n_dec; k++) {
        b.n = 0;
        b.data.n = 0;
        if (dec_step(&t->dec[k], &a, &b)) st = QB_ERR_NOMEM;
        StrList x = a;
        a = b;
        b = x;
    }
    Buf out = {0};
    for (size_t i = 0; !st && i < a.n; i++) {
        /* without a decoder HF joins the pieces with spaces */
        if ((!t->has_decoder && i > 0 && buf_add(&out, " ", 1)) || buf_add(&out, SL_STR(&a, i), a.len[i]))
            st = QB_ERR_NOMEM;
    }
    sl_free(&a);
    sl_free(&b);
    if (!st && !out.p && buf_add(&out, "", 0)) st = QB_ERR_NOMEM;
    if (st) {
        free(out.p);
        return st;
    }
    *text = out.p;
    if (len) *len = out.n;
    return QB_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Streaming decode: HF's DecodeStream. The window holds the ids from the previous release point on;
 * `prefix` is what the window's older part decodes to. New text is released when the window's decode
 * is longer than prefix and does not end in U+FFFD (an incomplete byte sequence). Decoding the old part
 * together with the new keeps context-dependent decoders (Strip of the first space) consistent. */

struct TokStream {
    const Tokenizer *t;
    int skip_special;
    IntVec ids;
    char *prefix;
    size_t prefix_len;
    size_t prefix_index;
};

TokStream *tok_stream_new(const Tokenizer *t, int skip_special) {
    TokStream *s = calloc(1, sizeof *s);
    if (!s) {
        qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory");
        return NULL;
    }
    s->t = t;
    s->skip_special = skip_special;
    s->prefix = strdup("");
    if (!s->prefix) {
        free(s);
        qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory");
        return NULL;
    }
    return s;
}

void tok_stream_free(TokStream *s) {
    if (!s) return;
    free(s->ids.v);
    free(s->prefix);
    free(s);
}

static qb_status empty_text(char **text, size_t *len) {
    *text = strdup("");
    if (len) *len = 0;
    return *text ? QB_OK : qb_errorf(QB_ERR_NOMEM, "tokenizer: out of memory");
}

/* The text of the ids not yet released, decoded on their own. Used when the window's decode no longer
 * starts with what was released: a byte-fallback run that continues across the release point
 * (HF's ByteFallback judges a whole run, so "<0xE5><0x8F><0xAB><0xE5>" decodes to four U+FFFD although
 * the first three were a character already printed). HF's DecodeStream fails there; generation
 * should not, and an unreleased run that starts with a byte token decodes the same on its own. */
static qb_status stream_tail(TokStream *s, char **out, size_t *len) {
    return tok_decode(s->t, s->ids.v + s->prefix_index, (int)(s->ids.n - s->prefix_index), s->skip_special, out, len);
}

qb_status tok_stream_push(TokStream *s, int id, char **text, size_t *len) {
    *text = NULL;
    if (len) *len = 0;
    if (id < 0 || id >= s->t->n_total || !s->t->piece[id])
        return qb_errorf(QB_ERR_INPUT, "id %d is out of range (vocabulary: 0..%d)", id, s->t->n_total - 1);
    if (iv_push(&s->ids, id)) return QB_ERR_NOMEM;
    /* Nothing is released while the window ends in a byte token (or a skipped special one, which joins the
     * byte runs around it): ByteFallback validates a whole run of byte tokens at once, so "f" = <0x66>
     * followed by <0xA9> decodes to two U+FFFD, not "f" and one — releasing "f" early made the stream
     * differ from the whole decode (found by fuzz_tokenizer_codec). */
    if ((s->skip_special && s->t->special[id]) || byte_piece(s->t->piece[id], s->t->piece_len[id]) >= 0)
        return empty_text(text, len);
    char *str;
    size_t n;
    qb_status st = tok_decode(s->t, s->ids.v, (int)s->ids.n, s->skip_special, &str, &n);
    if (st) return st;
    if (n <= s->prefix_len || (n >= 3 && memcmp(str + n - 3, REPLACEMENT_CHAR, 3) == 0)) {
        free(str);
        return empty_text(text, len);
    }
    char *out;
    size_t out_len;
    if (memcmp(str, s->prefix, s->prefix_len) == 0) {
        out_len = n - s->prefix_len;
        memmove(str, str + s->prefix_len, out_len + 1);
        out = str;
    } else {
        free(str);
        if ((st = stream_tail(s, &out, &out_len))) return st;
    }
    size_t new_prefix_index = s->ids.n - s->prefix_index;
    memmove(s->ids.v, s->ids.v + s->prefix_index, (s->ids.n - s->prefix_index) * sizeof(int));
    s->ids.n -= s->prefix_index;
    free(s->prefix);
    s->prefix = NULL;
    st = tok_decode(s->t, s->ids.v, (int)s->ids.n, s->skip_special, &s->prefix, &s->prefix_len);
    if (st) {
        free(out);
        return st;
    }
    s->prefix_index = new_prefix_index;
    *text = out;
    if (len) *len = out_len;
    return QB_OK;
}

qb_status tok_stream_finish(TokStream *s, char **text, size_t *len) {
    *text = NULL;
    if (len) *len = 0;
    char *str;
    size_t n;
    qb_status st = tok_decode(s->t, s->ids.v, (int)s->ids.n, s->skip_special, &str, &n);
    if (st) return st;
    if (memcmp(str, s->prefix, n < s->prefix_len ? n : s->prefix_len) == 0 && n >= s->prefix_len) {
        memmove(str, str + s->prefix_len, n - s->prefix_len + 1);
        n -= s->prefix_len;
    } else {
        free(str);
        if ((st = stream_tail(s, &str, &n))) return st;
    }
    *text = str;
    if (len) *len = n;
    /* everything is out: start afresh */
    s->ids.n = 0;
    s->prefix[0] = 0;
    s->prefix_len = 0;
    s->prefix_index = 0;
    return QB_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Chat                                                                                           */

qb_status tok_encode_chat(const Tokenizer *t, const char *system, const char *user, int **ids, int *n) {
    *ids = NULL;
    *n = 0;
    const char *need[] = {"<|user|>", "<|assistant|>", "<|end|>", "<|system|>"};
    for (int i = 0; i < (system ? 4 : 3); i++)
        if (tok_piece_id(t, need[i]) < 0)
            return qb_errorf(QB_ERR_UNSUPPORTED, "%s: no Phi-3 chat format: the tokenizer has no %s token", t->path,
                             need[i]);
    Buf b = {0};
    int r = 0;
    if (system)
        r = buf_add(&b, "<|system|>\n", 11) || buf_add(&b, system, strlen(system)) || buf_add(&b, "<|end|>\n", 8);
    if (!r)
        r = buf_add(&b, "<|user|>\n", 9) || buf_add(&b, user, strlen(user)) ||
            buf_add(&b, "<|end|>\n<|assistant|>\n", 22);
    if (r) {
        free(b.p);
        return QB_ERR_NOMEM;
    }
    qb_status st = tok_encode(t, b.p, b.n, -1, ids, n);
    free(b.p);
    return st;
}
