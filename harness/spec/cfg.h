/* A resolved config: every key of the schema (schema.h) with a value, defaults filled, checks
 * passed; immutable once built. Its canonical form is a compact JSON object with the keys nested
 * by their dots and sorted at every level, numbers in their canonical text (integers as integers,
 * floats in the shortest form that reads back exactly, so 1e-3 and 0.001 are one value):
 *     {"model":{"absolute":"none",...,"lrpe":{"axes":"sum",...}},"task":{...},"train":{...}}
 * config id = the first 32 hex digits (128 bits) of SHA-256 of that text; run id = the first 32
 * hex digits of SHA-256 of "<config id>:<seed in decimal>". In Python:
 *     cid = hashlib.sha256(config_json.encode()).hexdigest()[:32]
 *     rid = hashlib.sha256(f"{cid}:{seed}".encode()).hexdigest()[:32]
 * Every key is present (a key a run does not read still counts), so adding a key to the schema
 * changes every id, except a key marked SK_OMIT_DEFAULT (schema.h: model.device, model.precision),
 * which is left out while at its default: a config that does not set it keeps its earlier id. */
#ifndef LRPE_CFG_H
#define LRPE_CFG_H

#include <stdio.h>

#include "model.h"
#include "optim.h"
#include "schema.h"

#define CFG_ID_LEN 32

typedef struct cfg cfg;

/* Builds a config from v[schema_count()] resolved values (schema_resolve), taking ownership of
 * their text (also on failure). 0, or -1 with a reason (out of memory). */
int cfg_create(cfg **out, cfg_value *v, char *err, size_t errlen);
void cfg_free(cfg *c);

/* Values by dotted key. cfg_int: SK_INT keys; cfg_float: SK_INT and SK_FLOAT keys; cfg_str: the
 * canonical text of any key. An unknown key (or the wrong getter) gives 0 / NULL. */
long long cfg_int(const cfg *c, const char *key);
double cfg_float(const cfg *c, const char *key);
const char *cfg_str(const cfg *c, const char *key);
/* The values of an SK_INTS key (ascending) into out[max]; their number. */
int cfg_ints(const cfg *c, const char *key, long long *out, int max);

/* Remembers which values were given (set[schema_count()], as schema_resolve took it) rather than
 * filled by a default; not part of the config's identity. 0, or -1 (out of memory). */
int cfg_note_given(cfg *c, const unsigned char *set);
/* 1 when key's value was given, 0 when a default (or a derived default) filled it, -1 when the
 * config does not know (it was not built from a spec, or the key is unknown). */
int cfg_given(const cfg *c, const char *key);

/* The canonical JSON (for the runs table's config_json) and the config id (CFG_ID_LEN hex). */
const char *cfg_json(const cfg *c);
const char *cfg_id(const cfg *c);
/* run id of (config id, seed): CFG_ID_LEN hex digits and a NUL into out. */
void cfg_run_id(const char *config_id, unsigned long long seed, char *out);

/* Writes the config as YAML (sections, one key a line, the valid values as a comment); loading
 * it back as a spec gives the same config id. Returns 0, or -1 on a write error. */
int cfg_dump(FILE *f, const cfg *c);

/* Sets the model fields a config decides: attention, feature_map, normalizer, absolute, encoding,
 * device, precision (pointing into c: keep c alive), pe_opt, layers, d_model, heads, ffn_mult. The task's fields
 * (vocab, n_out, causal, head, max_seq, max_batch, pos_rank, grid) and seed are the caller's.
 * 0, or -1 with a reason. */
int cfg_model_config(const cfg *c, model_config *m, char *err, size_t errlen);
/* The learning-rate schedule: lr, min_lr, warmup, total = train.steps, shape. */
lr_schedule cfg_lr_schedule(const cfg *c);
/* adamw_defaults() with beta1, beta2, eps and weight_decay from the config. */
adamw_config cfg_adamw_config(const cfg *c);

#endif
