/* Experiment specs: `lrpe run SPEC.yaml [key=value ...]`. A spec (YAML, read with libyaml) has
 * the top-level keys name (default: the file's stem), task, model, train (maps of schema keys,
 * nested or dotted, block or flow style), seeds (a list, or one integer; default [1]), variants
 * (a list of maps, each a `name` and overrides; default one variant named "default") and sweep (a
 * map of dotted key -> list of values; cartesian axes in file order). Command-line overrides are
 * `key=value` with a dotted key; `key=a,b,c` adds (or replaces) a sweep axis, `seed=1,2,3` sets
 * the seeds and `name=X` the experiment name. Values of text keys (task.path) are never split.
 *
 * Precedence, lowest first: schema defaults < task/model/train < the variant < the sweep axes <
 * single command-line values (a single value also removes the sweep axis of its key).
 * Expansion: runs = variants x sweep combinations x seeds, in that nesting (the seed varies
 * fastest, then the last axis). Every run's config is resolved and checked before spec_load
 * returns; two runs with the same run id (identical configs under different variants or sweep
 * values) are an error. Errors are one line, starting with "file:line:col: " (or
 * "argument 'key=value': " for an override); the CLI turns them into exit code 2. */
#ifndef LRPE_SPEC_H
#define LRPE_SPEC_H

#include <stdio.h>

#include "cfg.h"

/* Upper bounds, so a hostile spec is refused in a fraction of a second: the runs one spec may
 * expand into, the size of a spec file, its YAML nesting, and an experiment or variant name. */
#define SPEC_MAX_RUNS 100000
#define SPEC_MAX_BYTES (1u << 20)
#define SPEC_MAX_DEPTH 16
#define SPEC_MAX_NAME 64

typedef struct spec_run {
    char run_id[CFG_ID_LEN + 1];
    const char *config_id;   /* cfg_id(cfg) */
    const char *variant;     /* the variant's name (owned by the spec) */
    unsigned long long seed;
    const cfg *cfg;          /* resolved config, shared by the runs of one config (owned by the spec) */
} spec_run;

typedef struct spec {
    char *name;                  /* experiment name */
    char *path;                  /* the spec file; NULL when loaded without one */
    int nruns;
    spec_run *runs;              /* variants x sweep combinations x seeds */
    int nconfigs;
    cfg **configs;               /* variants x sweep combinations */
    int nvariants;
    char **variants;             /* names, in file order */
    int nseeds;
    unsigned long long *seeds;
    int naxes;
    char **axes;                 /* swept keys, the first varies slowest */
    int *axis_len;               /* values per axis */
} spec;

/* Loads path (NULL: no file, defaults and overrides only, name "default") with the overrides
 * (n "key=value" strings), expands and checks every run. 0, or -1 with a one-line message (the
 * spec is then empty; spec_free is still fine). */
int spec_load(spec *s, const char *path, char *const *overrides, int n, char *err, size_t errlen);
/* The same from the text of a spec (len bytes) instead of a file; label names it in messages and
 * gives the default experiment name (the fuzz target and tests use this). */
int spec_load_text(spec *s, const char *label, const char *text, size_t len, char *const *overrides, int n,
                   char *err, size_t errlen);
/* 0 when name may name an experiment: 1..SPEC_MAX_NAME characters of [A-Za-z0-9._+-], not starting
 * with '.' or '-' (it becomes a folder of the report); else -1 with the reason in why. */
int spec_check_experiment_name(const char *name, char *why, size_t len);
void spec_free(spec *s);

/* The dry-run report: the experiment, the run table (run id, variant, seed, the swept values and,
 * when status is not NULL, status[i] of run i), the fully resolved config of the first run and
 * which of its values were derived from other keys rather than given ("derived: train.warmup = 4
 * (train.steps / 10, at most 100)"). */
void spec_print(FILE *f, const spec *s, const char *const *status);
/* Every key of the schema: name, type, default, valid values, description (for --help). */
void spec_print_keys(FILE *f);

#endif
