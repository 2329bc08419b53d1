/* tokenizer.h — Hugging Face tokenizer.json (BPE, the Llama/Phi-3 family) in C: encode, decode, streaming
 * decode and the Phi-3 chat format. Produces exactly the ids of Hugging Face `tokenizers`. */
#ifndef QB_TOKENIZER_H
#define QB_TOKENIZER_H

#include <stddef.h>
#include "util.h"

typedef struct Tokenizer Tokenizer;

/* Loads a tokenizer.json. Malformed or unsupported → QB_ERR_INPUT / QB_ERR_UNSUPPORTED, "path: …". */
qb_status tok_load(const char *path, Tokenizer **out);
/* Hash-set probes made while reading added tokens in this thread so far (tests bound it: linear in their
 * number, where the old pairwise check was quadratic). */
uint64_t tok_added_probes(void);
/* Loads dir/tokenizer.json and honours dir/tokenizer_config.json (add_bos_token) when present. */
qb_status tok_load_dir(const char *dir, Tokenizer **out);
void tok_free(Tokenizer *t);

int tok_vocab_size(const Tokenizer *t);   /* highest id + 1 (added tokens included) */
int tok_bos_id(const Tokenizer *t);       /* -1 if none */
int tok_eos_id(const Tokenizer *t);       /* -1 if none */
int tok_add_bos_default(const Tokenizer *t); /* add_bos_token from tokenizer_config.json / post_processor */
/* Id of a piece or added token by its exact text, -1 if absent. */
int tok_piece_id(const Tokenizer *t, const char *piece);
/* The piece text of an id (NULL if out of range). */
const char *tok_piece(const Tokenizer *t, int id);
int tok_is_special(const Tokenizer *t, int id);

/* Encodes len bytes of UTF-8 text. add_bos: 1 prepend BOS, 0 not, -1 the tokenizer's default.
 * *ids is heap-allocated (free()). */
qb_status tok_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n);
/* Decodes ids to UTF-8 text (heap, NUL-terminated). Ids out of range → QB_ERR_INPUT. */
qb_status tok_decode(const Tokenizer *t, const int *ids, int n, int skip_special, char **text, size_t *len);

/* Streaming decode for generate: feed one id at a time; writes to `out` the text that is now final
 * (never splitting a UTF-8 character), and the rest on tok_stream_finish. */
typedef struct TokStream TokStream;
TokStream *tok_stream_new(const Tokenizer *t, int skip_special);
qb_status tok_stream_push(TokStream *s, int id, char **text, size_t *len); /* *text heap; may be "" */
qb_status tok_stream_finish(TokStream *s, char **text, size_t *len);
void tok_stream_free(TokStream *s);

/* Phi-3 chat format: "<|system|>\n{system}<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n" (system part
 * omitted when system is NULL), encoded with BOS per the tokenizer's default. QB_ERR_UNSUPPORTED when the
 * tokenizer lacks <|user|>, <|assistant|> or <|end|>. */
qb_status tok_encode_chat(const Tokenizer *t, const char *system, const char *user, int **ids, int *n);

/* Added for the tests and for generate (declarations above are fixed). */
/* tok_encode without the word cut (BPE over each pre-token whole): the plain reference that the fast
 * path is tested against. Same arguments and result. */
qb_status tok_encode_ref(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n);
/* The ids generation stops at: generation_config.json's eos_token_id list when tok_load_dir found one,
 * else config.json's, else the tokenizer's eos. Returns the count; *ids points into the tokenizer. */
int tok_eos_ids(const Tokenizer *t, const int **ids);

/* Reads the string field `key` of the JSON object in json[0..n) (one line of a .jsonl file) with its exact
 * bytes — unlike cJSON it keeps "\u0000". *out is heap (NUL-terminated), *len its length
 * (engine/tok_json.c). Not a full JSON validator: enough for {"text": …} lines. */
qb_status tok_json_string_field(const char *json, size_t n, const char *key, char **out, size_t *len);

#endif
