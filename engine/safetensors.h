/* safetensors.h — reader and writer for the safetensors format (Hugging Face).
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data section. The header
 * maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
 * section) and may hold a "__metadata__" object of string → string.
 *
 * The reader mmaps the file and validates everything before any tensor is handed out: header length within
 * the file, header valid JSON, every dtype known, every shape non-negative with an element count that does
 * not overflow, prod(shape) × dtype size == end − begin, offsets inside the data section, tensors
 * non-overlapping. Any violation → QB_ERR_INPUT with "path: what is wrong". */
#ifndef QB_SAFETENSORS_H
#define QB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef enum {
    ST_F32 = 0,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_I64,
    ST_U8,
    ST_I8,
    ST_F64,
    ST_DTYPE_COUNT
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;               /* tensor name (owned) */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;           /* product of shape */
    const void *data;         /* pointer into the mapping; data section begin + begin offset */
    uint64_t nbytes;          /* end − begin */
    uint64_t file_offset;     /* absolute offset of the data in the file (for madvise) */
} st_tensor;

typedef struct {
    char *path;               /* owned copy of the path */
    int fd;
    uint8_t *map;             /* the whole file, PROT_READ, MAP_PRIVATE */
    size_t map_size;
    uint64_t header_len;
    st_tensor *tensors;       /* n_tensors entries, in header order */
    int n_tensors;
    int *by_name;             /* tensor numbers sorted by name, for st_find's binary search (NULL: < 2 tensors) */
    char **meta_keys;         /* __metadata__ entries (owned) */
    char **meta_values;
    int n_meta;
} st_file;

/* Element size of a dtype in bytes, and its name as written in headers ("F32", "BF16", …). */
size_t st_dtype_size(st_dtype dt);
const char *st_dtype_name(st_dtype dt);
/* Parses a dtype name; returns -1 if unknown. */
int st_dtype_from_name(const char *name);

/* Opens and validates a safetensors file. On failure *f is left zeroed and nothing needs freeing. */
qb_status st_open(const char *path, st_file *f);
void st_close(st_file *f);
/* Finds a tensor by name; NULL if absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Value of a __metadata__ key, NULL if absent. */
const char *st_meta(const st_file *f, const char *key);
/* Tells the kernel the pages of a tensor are no longer needed (MADV_DONTNEED on the page-aligned range
 * inside it), so that converting a checkpoint tensor by tensor never holds the whole mapping resident. */
void st_release(const st_file *f, const st_tensor *t);

/* Converts elements [start, start+n) of a float tensor (F32, F16 or BF16) to f32 into dst. The caller
 * guarantees the range is inside the tensor. Returns QB_ERR_INPUT for a non-float dtype. */
qb_status st_to_f32(const st_tensor *t, uint64_t start, uint64_t n, float *dst);

/* Writer: collects tensors (copying nothing — the caller keeps the data alive until st_writer_finish),
 * then writes header + data in one pass. Written to "path.tmp" then renamed, so no partial file is left
 * behind on failure. Tensors are written in the order added; names must be unique. */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
qb_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                        const void *data);
/* Like st_writer_add, but the data is produced at st_writer_finish time by fill(ctx, dst, nbytes), one
 * tensor at a time, so a multi-GB checkpoint can be written without holding it in memory. */
typedef qb_status (*st_fill_fn)(void *ctx, void *dst, uint64_t nbytes);
qb_status st_writer_add_lazy(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                             st_fill_fn fill, void *ctx);
qb_status st_writer_meta(st_writer *w, const char *key, const char *value);
qb_status st_writer_finish(st_writer *w, const char *path);
void st_writer_free(st_writer *w);

#endif
