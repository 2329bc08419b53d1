/* safetensors.c — reader (mmap + validated JSON header) and writer (header + data in one pass, via a
 * temporary file renamed into place) for the safetensors format. See safetensors.h.
 *
 * The reader treats the file as hostile: every length and offset is checked before it is used, so a
 * truncated or malicious file yields QB_ERR_INPUT with "path: what is wrong" instead of a crash. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#define ST_HAVE_X86_SIMD 1
#endif

/* The Rust safetensors library refuses headers above 100 MB; so do we (a hostile length could otherwise
 * make us copy most of a multi-GB file into the heap). */
#define ST_MAX_HEADER (100u * 1000u * 1000u)
/* cJSON numbers are doubles: integers above 2^53 are not exact, and no real file is that large. */
#define ST_MAX_EXACT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} st_dtypes[ST_DTYPE_COUNT] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4},
    [ST_I64] = {"I64", 8}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},     [ST_F64] = {"F64", 8},
};

/* dtypes the format defines that we do not implement: named as "unsupported" rather than "unknown". */
static const char *const st_unsupported[] = {"BOOL", "U16", "I16", "U32", "U64", "F8_E4M3", "F8_E5M2",
                                             "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64", NULL};

size_t st_dtype_size(st_dtype dt) { return (unsigned)dt < ST_DTYPE_COUNT ? st_dtypes[dt].size : 0; }

const char *st_dtype_name(st_dtype dt) { return (unsigned)dt < ST_DTYPE_COUNT ? st_dtypes[dt].name : "?"; }

int st_dtype_from_name(const char *name) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(name, st_dtypes[i].name)) return i;
    return -1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Reader                                                                                               */

static uint64_t st_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A JSON number that must be a non-negative integer that doubles represent exactly. */
static int st_json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > ST_MAX_EXACT || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static void st_free_tensors(st_file *f) {
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->by_name);
    f->by_name = NULL;
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
}

/* An open file always has a mapping (st_open refuses files under 8 bytes), so a zeroed st_file — the state
 * after a failed st_open or a previous st_close — is recognised by map == NULL and its fd 0 is never closed. */
void st_close(st_file *f) {
    if (!f) return;
    st_free_tensors(f);
    if (f->map) {
        munmap(f->map, f->map_size);
        close(f->fd);
    }
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int st_cmp_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->file_offset != y->file_offset) return x->file_offset < y->file_offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int st_cmp_name(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

/* Parses one header entry into t. data_size is the size of the data section. */
static qb_status st_parse_entry(const char *path, const cJSON *e, uint64_t data_size, uint64_t data_start,
                                const uint8_t *map, st_tensor *t) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': entry is not an object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!jd) return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': missing dtype", path, name);
    if (!cJSON_IsString(jd)) return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': dtype is not a string", path, name);
    if (!js) return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': missing shape", path, name);
    if (!cJSON_IsArray(js)) return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': shape is not an array", path, name);
    if (!jo) return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': missing data_offsets", path, name);
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': data_offsets is not an array of two integers", path, name);

    int dt = st_dtype_from_name(jd->valuestring);
    if (dt < 0) {
        for (const char *const *u = st_unsupported; *u; u++)
            if (!strcmp(*u, jd->valuestring))
                return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': unsupported dtype '%s'", path, name, *u);
        return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': unknown dtype '%.40s'", path, name, jd->valuestring);
    }
    t->dtype = (st_dtype)dt;

    int ndim = cJSON_GetArraySize(js);
    if (ndim > ST_MAX_DIMS)
        return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': shape has %d dims (at most %d supported)", path, name,
                         ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    int overflow = 0;
    int i = 0;
    for (const cJSON *d = js->child; d; d = d->next, i++) {
        if (!cJSON_IsNumber(d))
            return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': shape[%d] is not a number", path, name, i);
        if (d->valuedouble < 0)
            return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': shape[%d] is negative (%g)", path, name, i,
                             d->valuedouble);
        uint64_t v;
        if (st_json_uint(d, &v))
            return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': shape[%d] is not a non-negative integer (%g)", path,
                             name, i, d->valuedouble);
        t->shape[i] = (int64_t)v;
        /* A zero dim makes the product 0 whatever the other dims are, but a huge dim is still reported. */
        if (v && numel > UINT64_MAX / v) overflow = 1;
        numel *= v;
    }
    uint64_t esize = st_dtypes[dt].size;
    if (overflow || (numel && numel > UINT64_MAX / esize))
        return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': element count overflows", path, name);
    t->numel = numel;

    uint64_t begin, end;
    if (st_json_uint(jo->child, &begin) || st_json_uint(jo->child->next, &end))
        return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': data_offsets are not non-negative integers", path, name);
    if (begin > end)
        return qb_errorf(QB_ERR_INPUT, "%s: tensor '%s': data_offsets begin %" PRIu64 " > end %" PRIu64, path,
                         name, begin, end);
    if (end > data_size)
        return qb_errorf(QB_ERR_INPUT,
                         "%s: tensor '%s': data_offsets end %" PRIu64 " past the data section (%" PRIu64 " bytes)",
                         path, name, end, data_size);
    if (numel * esize != end - begin)
        return qb_errorf(QB_ERR_INPUT,
                         "%s: tensor '%s': size mismatch: shape × %s size = %" PRIu64 " bytes but data_offsets span %" PRIu64,
                         path, name, st_dtypes[dt].name, numel * esize, end - begin);
    t->nbytes = end - begin;
    t->file_offset = data_start + begin;
    t->data = map + t->file_offset;
    return QB_OK;
}

static qb_status st_parse_meta(const char *path, const cJSON *m, st_file *f) {
    if (!cJSON_IsObject(m)) return qb_errorf(QB_ERR_INPUT, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(m);
    f->meta_keys = qb_calloc((size_t)n + 1, sizeof(char *), "safetensors metadata");
    f->meta_values = qb_calloc((size_t)n + 1, sizeof(char *), "safetensors metadata");
    if (!f->meta_keys || !f->meta_values) return QB_ERR_NOMEM;
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return qb_errorf(QB_ERR_INPUT, "%s: __metadata__ value of '%s' is not a string", path, e->string);
        f->meta_keys[f->n_meta] = strdup(e->string);
        f->meta_values[f->n_meta] = strdup(e->valuestring);
        if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta]) {
            f->n_meta++;
            return qb_errorf(QB_ERR_NOMEM, "%s: out of memory for metadata", path);
        }
        f->n_meta++;
    }
    return QB_OK;
}

/* Everything after the mmap: header length, JSON, entries, cross-tensor checks. */
static qb_status st_parse(st_file *f) {
    const char *path = f->path;
    uint64_t size = f->map_size;
    uint64_t n = st_le64(f->map);
    if (n >= (UINT64_C(1) << 63))
        return qb_errorf(QB_ERR_INPUT, "%s: header length %" PRIu64 " is absurd (≥ 2^63)", path, n);
    if (n > size - 8)
        return qb_errorf(QB_ERR_INPUT, "%s: header length %" PRIu64 " past end of file (%" PRIu64 " bytes)", path,
                         n, size);
    if (n > ST_MAX_HEADER)
        return qb_errorf(QB_ERR_INPUT, "%s: header length %" PRIu64 " too large (limit %u)", path, n,
                         ST_MAX_HEADER);
    if (n < 2) return qb_errorf(QB_ERR_INPUT, "%s: header of %" PRIu64 " bytes is not a JSON object", path, n);
    f->header_len = n;

    /* A NUL-terminated copy, so the JSON parser can never read beyond the header (or the mapping). */
    char *hdr = qb_malloc((size_t)n + 1, "safetensors header");
    if (!hdr) return QB_ERR_NOMEM;
    memcpy(hdr, f->map + 8, (size_t)n);
    hdr[n] = 0;
    if (memchr(hdr, 0, (size_t)n)) {
        free(hdr);
        return qb_errorf(QB_ERR_INPUT, "%s: header is not JSON (contains a NUL byte)", path);
    }
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithOpts(hdr, &endp, 0);
    if (!root) {
        size_t at = endp ? (size_t)(endp - hdr) : 0;
        free(hdr);
        return qb_errorf(QB_ERR_INPUT, "%s: header is not valid JSON (error near byte %zu)", path, at);
    }
    for (const char *p = endp; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            size_t at = (size_t)(p - hdr);
            free(hdr);
            cJSON_Delete(root);
            return qb_errorf(QB_ERR_INPUT, "%s: header is not valid JSON (trailing bytes at %zu)", path, at);
        }
    free(hdr);
    qb_status st = QB_OK;
    if (!cJSON_IsObject(root)) {
        st = qb_errorf(QB_ERR_INPUT, "%s: header is JSON but not an object", path);
        goto out;
    }

    uint64_t data_start = 8 + n, data_size = size - data_start;
    int count = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__")) count++;
    f->tensors = qb_calloc((size_t)count + 1, sizeof(st_tensor), "safetensors tensor table");
    if (!f->tensors) {
        st = QB_ERR_NOMEM;
        goto out;
    }
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++) {
                st = qb_errorf(QB_ERR_INPUT, "%s: duplicate __metadata__", path);
                goto out;
            }
            if ((st = st_parse_meta(path, e, f))) goto out;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        if ((st = st_parse_entry(path, e, data_size, data_start, f->map, t))) goto out;
        if (!(t->name = strdup(e->string))) {
            st = qb_errorf(QB_ERR_NOMEM, "%s: out of memory for tensor names", path);
            goto out;
        }
        f->n_tensors++;
    }

    if (f->n_tensors > 1) {
        /* Duplicates and overlaps are found by sorting pointers, so hostile headers with many entries stay
         * O(n log n). */
        const st_tensor **idx = qb_malloc((size_t)f->n_tensors * sizeof *idx, "safetensors index");
        if (!idx) {
            st = QB_ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < f->n_tensors; i++) idx[i] = &f->tensors[i];
        qsort(idx, (size_t)f->n_tensors, sizeof *idx, st_cmp_name);
        for (int i = 1; i < f->n_tensors && !st; i++)
            if (!strcmp(idx[i]->name, idx[i - 1]->name))
                st = qb_errorf(QB_ERR_INPUT, "%s: duplicate tensor name '%s'", path, idx[i]->name);
        /* kept for st_find: a checkpoint load looks every tensor up, O(n log n) in all rather than O(n²) */
        if (!st && !(f->by_name = qb_malloc((size_t)f->n_tensors * sizeof *f->by_name, "safetensors index")))
            st = QB_ERR_NOMEM;
        for (int i = 0; i < f->n_tensors && !st; i++) f->by_name[i] = (int)(idx[i] - f->tensors);
        if (!st) {
            qsort(idx, (size_t)f->n_tensors, sizeof *idx, st_cmp_begin);
            const st_tensor *prev = NULL; /* the non-empty tensor reaching furthest so far */
            for (int i = 0; i < f->n_tensors && !st; i++) {
                const st_tensor *t = idx[i];
                if (!t->nbytes) continue; /* empty tensors occupy no bytes and cannot overlap */
                if (prev && t->file_offset < prev->file_offset + prev->nbytes)
                    st = qb_errorf(QB_ERR_INPUT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                                   prev->name, t->name);
                if (!prev || t->file_offset + t->nbytes > prev->file_offset + prev->nbytes) prev = t;
            }
        }
        free(idx);
    }
out:
    cJSON_Delete(root);
    return st;
}

qb_status st_open(const char *path, st_file *out) {
    st_file f;
    memset(&f, 0, sizeof f);
    memset(out, 0, sizeof *out);
    f.fd = -1;
    if (!(f.path = strdup(path))) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    qb_status st = QB_OK;
    /* O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer; a regular file ignores it */
    f.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f.fd < 0) {
        st = qb_errorf(QB_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(f.fd, &sb) < 0) {
        st = qb_errorf(QB_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = qb_errorf(QB_ERR_INPUT, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size == 0) {
        st = qb_errorf(QB_ERR_INPUT, "%s: empty file (not a safetensors file)", path);
        goto fail;
    }
    if (sb.st_size < 8) {
        st = qb_errorf(QB_ERR_INPUT, "%s: file too short (%lld bytes) for the 8-byte header length", path,
                       (long long)sb.st_size);
        goto fail;
    }
    f.map_size = (size_t)sb.st_size;
    f.map = mmap(NULL, f.map_size, PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (f.map == MAP_FAILED) {
        f.map = NULL;
        st = qb_errorf(QB_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        goto fail;
    }
    if ((st = st_parse(&f))) goto fail;
    *out = f;
    return QB_OK;
fail:
    if (!f.map && f.fd >= 0) close(f.fd); /* opened but not mapped: st_close would not close it */
    st_close(&f);
    return st;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    if (f->by_name) {
        size_t lo = 0, hi = (size_t)f->n_tensors;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const st_tensor *t = &f->tensors[f->by_name[mid]];
            int c = strcmp(t->name, name);
            if (!c) return t;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        return NULL;
    }
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

void st_release(const st_file *f, const st_tensor *t) {
    if (!f->map || !t->nbytes) return;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    /* Only pages wholly inside the tensor: the neighbours' first/last pages may still be wanted. */
    uint64_t lo = (t->file_offset + page - 1) / page * page;
    uint64_t hi = (t->file_offset + t->nbytes) / page * page;
    if (hi > lo) madvise(f->map + lo, (size_t)(hi - lo), MADV_DONTNEED);
}

/* bf16 → f32 is a 16-bit shift; f16 uses the F16C instruction when the build has it (exact, same results as
 * qb_f16_to_f32 for every non-NaN value), else the scalar reference. memcpy keeps unaligned loads legal. */
static void st_bf16_block(const uint8_t *src, uint64_t n, float *dst) {
    uint64_t i = 0;
#ifdef ST_HAVE_X86_SIMD
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
    }
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = qb_bf16_to_f32(h);
    }
}

static void st_f16_block(const uint8_t *src, uint64_t n, float *dst) {
    uint64_t i = 0;
#ifdef ST_HAVE_X86_SIMD
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = qb_f16_to_f32(h);
    }
}

qb_status st_to_f32(const st_tensor *t, uint64_t start, uint64_t n, float *dst) {
    if (start > t->numel || n > t->numel - start)
        return qb_errorf(QB_ERR_INTERNAL, "st_to_f32: range [%" PRIu64 ", +%" PRIu64 ") outside tensor '%s'", start,
                         n, t->name);
    const uint8_t *src = (const uint8_t *)t->data + start * st_dtypes[t->dtype].size;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, src, n * 4);
        return QB_OK;
    case ST_BF16:
        st_bf16_block(src, n, dst);
        return QB_OK;
    case ST_F16:
        st_f16_block(src, n, dst);
        return QB_OK;
    default:
        return qb_errorf(QB_ERR_INPUT, "tensor '%s': dtype %s is not a float type (F32, F16 or BF16)", t->name,
                         st_dtype_name(t->dtype));
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Writer                                                                                               */

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
    st_fill_fn fill;
    void *ctx;
} st_wentry;

struct st_writer {
    st_wentry *e;
    int n, cap;
    char **mkeys, **mvals;
    int nmeta, capmeta;
};

st_writer *st_writer_new(void) { return qb_calloc(1, sizeof(st_writer), "safetensors writer"); }

void st_writer_free(st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

static qb_status st_writer_push(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                                const void *data, st_fill_fn fill, void *ctx) {
    if (!name || !*name) return qb_errorf(QB_ERR_INPUT, "st_writer: empty tensor name");
    if (!strcmp(name, "__metadata__")) return qb_errorf(QB_ERR_INPUT, "st_writer: '__metadata__' is reserved");
    if ((unsigned)dtype >= ST_DTYPE_COUNT)
        return qb_errorf(QB_ERR_INPUT, "st_writer: tensor '%s': invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape))
        return qb_errorf(QB_ERR_INPUT, "st_writer: tensor '%s': %d dims (0..%d allowed)", name, ndim, ST_MAX_DIMS);
    uint64_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return qb_errorf(QB_ERR_INPUT, "st_writer: tensor '%s': negative dim %" PRId64, name, shape[i]);
        uint64_t v = (uint64_t)shape[i];
        if (v && numel > UINT64_MAX / v) overflow = 1;
        numel *= v;
    }
    uint64_t es = st_dtypes[dtype].size;
    /* Readers (ours included) take offsets as doubles: keep sizes exactly representable. */
    if (overflow || (numel && numel > (uint64_t)ST_MAX_EXACT / es))
        return qb_errorf(QB_ERR_INPUT, "st_writer: tensor '%s': shape overflows", name);
    if (!data && !fill && numel)
        return qb_errorf(QB_ERR_INPUT, "st_writer: tensor '%s': no data", name);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name)) return qb_errorf(QB_ERR_INPUT, "st_writer: duplicate tensor name '%s'", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        st_wentry *e = realloc(w->e, (size_t)cap * sizeof *e);
        if (!e) return qb_errorf(QB_ERR_NOMEM, "st_writer: out of memory");
        w->e = e;
        w->cap = cap;
    }
    st_wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return qb_errorf(QB_ERR_NOMEM, "st_writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = numel * es;
    e->data = data;
    e->fill = fill;
    e->ctx = ctx;
    w->n++;
    return QB_OK;
}

qb_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                        const void *data) {
    return st_writer_push(w, name, dtype, ndim, shape, data, NULL, NULL);
}

qb_status st_writer_add_lazy(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                             st_fill_fn fill, void *ctx) {
    if (!fill) return qb_errorf(QB_ERR_INPUT, "st_writer: tensor '%s': no fill function", name ? name : "");
    return st_writer_push(w, name, dtype, ndim, shape, NULL, fill, ctx);
}

qb_status st_writer_meta(st_writer *w, const char *key, const char *value) {
    if (!key || !value) return qb_errorf(QB_ERR_INPUT, "st_writer: metadata key or value missing");
    for (int i = 0; i < w->nmeta; i++)
        if (!strcmp(w->mkeys[i], key)) return qb_errorf(QB_ERR_INPUT, "st_writer: duplicate metadata key '%s'", key);
    if (w->nmeta == w->capmeta) {
        int cap = w->capmeta ? 2 * w->capmeta : 8;
        char **k = realloc(w->mkeys, (size_t)cap * sizeof *k);
        if (!k) return qb_errorf(QB_ERR_NOMEM, "st_writer: out of memory");
        w->mkeys = k;
        char **v = realloc(w->mvals, (size_t)cap * sizeof *v);
        if (!v) return qb_errorf(QB_ERR_NOMEM, "st_writer: out of memory");
        w->mvals = v;
        w->capmeta = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return qb_errorf(QB_ERR_NOMEM, "st_writer: out of memory");
    }
    w->mkeys[w->nmeta] = k;
    w->mvals[w->nmeta] = v;
    w->nmeta++;
    return QB_OK;
}

/* A growable byte buffer for the header JSON. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} st_buf;

static void st_buf_put(st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void st_buf_printf(st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void st_buf_printf(st_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = 1;
        return;
    }
    st_buf_put(b, tmp, (size_t)n);
}

/* JSON string with the escapes RFC 8259 requires. */
static void st_buf_json_str(st_buf *b, const char *s) {
    st_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            st_buf_put(b, esc, 2);
        } else if (*p < 0x20) {
            st_buf_printf(b, "\\u%04x", *p);
        } else {
            st_buf_put(b, (const char *)p, 1);
        }
    }
    st_buf_put(b, "\"", 1);
}

static qb_status st_write_all(int fd, const void *data, uint64_t n, const char *tmp) {
    const uint8_t *p = data;
    while (n) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR) continue;
            return qb_errorf(QB_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        }
        p += k;
        n -= (uint64_t)k;
    }
    return QB_OK;
}

qb_status st_writer_finish(st_writer *w, const char *path) {
    st_buf b = {0};
    /* Same layout as the Rust library: __metadata__ first, then tensors with contiguous offsets. */
    st_buf_put(&b, "{", 1);
    int first = 1;
    if (w->nmeta) {
        st_buf_put(&b, "\"__metadata__\":{", 16);
        for (int i = 0; i < w->nmeta; i++) {
            if (i) st_buf_put(&b, ",", 1);
            st_buf_json_str(&b, w->mkeys[i]);
            st_buf_put(&b, ":", 1);
            st_buf_json_str(&b, w->mvals[i]);
        }
        st_buf_put(&b, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_wentry *e = &w->e[i];
        if (!first) st_buf_put(&b, ",", 1);
        first = 0;
        st_buf_json_str(&b, e->name);
        st_buf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtypes[e->dtype].name);
        for (int d = 0; d < e->ndim; d++) st_buf_printf(&b, "%s%" PRId64, d ? "," : "", e->shape[d]);
        st_buf_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + e->nbytes);
        off += e->nbytes;
    }
    st_buf_put(&b, "}", 1);
    while (b.len % 8) st_buf_put(&b, " ", 1); /* pad so the data section starts 8-aligned */
    if (b.oom) {
        free(b.p);
        return qb_errorf(QB_ERR_NOMEM, "%s: out of memory building the header", path);
    }

    size_t plen = strlen(path);
    char *tmp = qb_malloc(plen + 5, "path");
    if (!tmp) {
        free(b.p);
        return QB_ERR_NOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    qb_status st = QB_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = qb_errorf(QB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(b.p);
        free(tmp);
        return st;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
    st = st_write_all(fd, len8, 8, tmp);
    if (!st) st = st_write_all(fd, b.p, b.len, tmp);
    free(b.p);
    for (int i = 0; i < w->n && !st; i++) {
        const st_wentry *e = &w->e[i];
        if (!e->fill) {
            if (e->nbytes) st = st_write_all(fd, e->data, e->nbytes, tmp);
            continue;
        }
        /* Exactly this tensor's size, so a fill that overruns is caught by ASan, and memory peaks at the
         * largest tensor rather than the checkpoint. */
        void *buf = qb_malloc(e->nbytes ? (size_t)e->nbytes : 1, e->name);
        if (!buf) {
            st = QB_ERR_NOMEM;
            break;
        }
        st = e->fill(e->ctx, buf, e->nbytes);
        if (st) qb_error_prefix(e->name);
        else st = st_write_all(fd, buf, e->nbytes, tmp);
        free(buf);
    }
    if (close(fd) < 0 && !st) st = qb_errorf(QB_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) < 0) st = qb_errorf(QB_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st) unlink(tmp);
    free(tmp);
    return st;
}
