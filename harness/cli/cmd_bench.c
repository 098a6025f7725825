/* `lrpe bench [SPEC.yaml] [key=value ...] [options]` (bench_options below): training throughput
 * of every config of the spec (variants x sweep; the first seed), one line each: tokens/s (median
 * of the timed steps, and the slowest..fastest), ms/step, achieved GFLOP/s (core/flops.c), the
 * float32 product rate this machine reaches at the model's shapes (gemm_f32, the product lrpe
 * runs: OpenBLAS's sgemm or lrpe's kernel) and the share of it, peak resident memory.
 * --seq-lens measures each config at every length with the tokens per step held at the spec's
 * batch x seq_len. Results are recorded as completed runs of experiment "<name>-bench" (seed 0,
 * summary keys perf/...) for `lrpe report`. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bench.h"
#include "blas_core.h"
#include "cli.h"
#include "db.h"
#include "provenance.h"
#include "sha256.h"
#include "spec.h"
#include "threads.h"

#define MAX_LENS 32

typedef struct bench_args {
    const char *spec_path, *db_path;
    char **overrides; /* room for two more: task.seq_len and train.batch */
    int noverrides, steps, warmup, tsv, no_db, nlens;
    int lens[MAX_LENS];
    char device[80]; /* --device D as the override model.device=D */
    const char *data_opt; /* --data-dir, or NULL */
    char data_dir[PATH_MAX]; /* the data folder (paths_data_dir) */
} bench_args;

static int cmd_bench(int argc, char **argv);

static const cli_option bench_options[] = {
    CLI_OPTION_DEVICE,
    {"steps", 0, 1, "N", "timed steps per config (default 20)"},
    {"warmup", 0, 1, "N", "untimed steps before them (default 3)"},
    {"seq-lens", 0, 1, "a,b,...", "measure each config at these lengths, the tokens per step held at the spec's"},
    {"tsv", 0, 0, NULL, "tab-separated output with a header line"},
    {"db", 0, 1, "FILE", "record the results as experiment <name>-bench in FILE (default " DB_DEFAULT_PATH ")"},
    {"no-db", 0, 0, NULL, "measure without recording"},
    CLI_OPTION_DATA_DIR,
    {NULL, 0, 0, NULL, NULL},
};

const cli_command cli_bench = {"bench", "[SPEC.yaml] [key=value ...]",
                               "training throughput: tokens/s, ms/step, GFLOP/s, % of the measured sgemm peak, peak memory",
                               bench_options, cmd_bench, CLI_SPEC | CLI_COMPUTES, NULL};

/* One-line usage error; returns 2. */
static int usage_error(const char *msg, const char *arg) { return cli_usage_error("bench", msg, arg); }

/* A count option's value in [lo, hi] into *v; 0 or 2. */
static int parse_count(const char *opt, const char *s, int lo, int hi, int *v) {
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || end == s || x < lo || x > hi) {
        fprintf(stderr, "lrpe bench: %s needs a number in %d..%d, got '%s'\n", opt, lo, hi, s);
        return 2;
    }
    *v = (int)x;
    return 0;
}

/* "256,1024,..." into a->lens; 0 or 2. */
static int parse_lens(const char *s, bench_args *a) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (a->nlens == MAX_LENS) return usage_error("too many --seq-lens (at most 32)", NULL);
        if (parse_count("--seq-lens", tok, 1, 1 << 20, &a->lens[a->nlens++])) return 2;
    }
    return a->nlens ? 0 : usage_error("--seq-lens needs a comma list, e.g. 256,1024,4096", NULL);
}

/* --device D: the override model.device=D, in its place among the others; 0 or 2. */
static int device_option(bench_args *a, const char *value) {
    if (a->device[0]) return usage_error("--device is given twice", NULL);
    snprintf(a->device, sizeof a->device, "model.device=%.60s", value);
    a->overrides[a->noverrides++] = a->device;
    return 0;
}

/* One option or word of lrpe bench into a (cli_each); 0, or 2 after printing a one-line reason. */
static int bench_option(void *ctx, const cli_option *o, char *v) {
    bench_args *a = ctx;
    if (!o) return cli_spec_word("bench", v, &a->spec_path, a->overrides, &a->noverrides);
    if (cli_is(o, "steps")) return parse_count("--steps", v, 1, 100000, &a->steps);
    if (cli_is(o, "warmup")) return parse_count("--warmup", v, 0, 100000, &a->warmup);
    if (cli_is(o, "seq-lens")) return parse_lens(v, a);
    if (cli_is(o, "device")) return device_option(a, v);
    if (cli_is(o, "db")) a->db_path = v;
    else if (cli_is(o, "no-db")) a->no_db = 1;
    else if (cli_is(o, "data-dir")) a->data_opt = v;
    else if (cli_is(o, "tsv")) a->tsv = 1;
    return 0;
}

/* Parses argv into a; 0, or 2 after printing a one-line reason. */
static int parse_args(int argc, char **argv, bench_args *a) {
    memset(a, 0, sizeof *a);
    a->db_path = DB_DEFAULT_PATH, a->steps = 20, a->warmup = 3;
    a->overrides = calloc((size_t)argc + 2, sizeof *a->overrides);
    if (!a->overrides) return usage_error("out of memory", NULL);
    int rc = cli_parse(&cli_bench, argc, argv, bench_option, a);
    if (a->no_db) a->db_path = NULL; /* --no-db wins wherever it stands */
    return rc;
}

/* What the provenance callback needs. */
typedef struct record_ctx {
    db *db;
    const char *run_id, *device;
    int threads;
    char *err;
    size_t errlen;
} record_ctx;

/* Writes the run's provenance while its task is open (bench_measure's callback). */
static int record_provenance(const task *t, void *arg) {
    record_ctx *r = arg;
    return r->db ? provenance_record(r->db, r->run_id, r->threads, t, r->device, r->err, r->errlen) : 0;
}

/* Records one measurement as the completed result of run run_id (reset and started before it was
 * measured); 0 or -1 with err. */
static int record_result(db *d, const char *run_id, const bench_result *b, char *err, size_t errlen) {
    db_value sum[] = {
        {"perf/seq_len", b->seq_len},         {"perf/batch", b->batch},
        {"perf/tokens_per_s", b->tokens_per_s}, {"perf/tokens_per_s_min", b->tokens_per_s_min},
        {"perf/tokens_per_s_max", b->tokens_per_s_max}, {"perf/step_ms", b->step_ms},
        {"perf/flops_per_token", b->flops_per_token}, {"perf/gflops", b->gflops},
        {"perf/peak_gflops", b->peak_gflops}, {"perf/peak_pct", b->peak_pct},
        {"perf/peak_rss_mb", b->peak_rss_mb}, {"perf/peak_dev_mb", b->peak_dev_mb}, {"params", (double)b->params},
    };
    if (db_summary_set(d, run_id, sum, (int)(sizeof sum / sizeof sum[0]), err, errlen)) return -1;
    return db_run_finish(d, run_id, DB_COMPLETED, NULL, err, errlen) ? -1 : 0;
}

/* The header of the output (TSV column names, or the aligned table's). */
static void print_header(int tsv, const char *name, int threads) {
    if (tsv) {
        printf("variant\tattention\tencoding\td_model\tlayers\theads\tseq_len\tbatch\ttokens_per_s\ttokens_per_s_min\t"
               "tokens_per_s_max\tstep_ms\tgflops\tpeak_gflops\tpeak_pct\tpeak_rss_mb\tcore\tthreads\tpeak_dev_mb\n");
        return;
    }
    printf("lrpe bench %s: OpenBLAS core %s (%s), %d thread%s\n", name, blas_core_name(), blas_core_source(), threads,
           threads > 1 ? "s" : "");
    printf("%-24s %-7s %6s %5s %9s %17s %9s %8s %8s %6s %8s %8s\n", "variant", "attn", "T", "B", "tokens/s",
           "(slowest..fastest)", "ms/step", "GFLOP/s", "sgemm", "%peak", "RSS MB", "dev MB");
}

/* One result line. */
static void print_result(int tsv, const char *variant, const cfg *c, const bench_result *b, int threads) {
    if (tsv) {
        printf("%s\t%s\t%s\t%lld\t%lld\t%lld\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.3f\t%.2f\t%.2f\t%.1f\t%.1f\t%s\t%d\t%.1f\n",
               variant,
               cfg_str(c, "model.attention"), cfg_str(c, "model.encoding"), cfg_int(c, "model.d_model"),
               cfg_int(c, "model.layers"), cfg_int(c, "model.heads"), b->seq_len, b->batch, b->tokens_per_s,
               b->tokens_per_s_min, b->tokens_per_s_max, b->step_ms, b->gflops, b->peak_gflops, b->peak_pct,
               b->peak_rss_mb, blas_core_name(), threads, b->peak_dev_mb);
    } else {
        char range[40];
        snprintf(range, sizeof range, "(%.0f..%.0f)", b->tokens_per_s_min, b->tokens_per_s_max);
        printf("%-24.24s %-7s %6d %5d %9.0f %17s %9.2f %8.2f %8.2f %5.1f%% %8.1f %8.1f\n", variant,
               cfg_str(c, "model.attention"), b->seq_len, b->batch, b->tokens_per_s, range, b->step_ms, b->gflops,
               b->peak_gflops, b->peak_pct, b->peak_rss_mb, b->peak_dev_mb);
    }
    fflush(stdout);
}

/* Loads the spec with the overrides, plus task.seq_len=T and train.batch=B when T > 0. */
static int load(spec *s, bench_args *a, int T, int B, char *err, size_t errlen) {
    char lenkv[48], batchkv[48];
    int n = a->noverrides;
    if (T > 0) {
        snprintf(lenkv, sizeof lenkv, "task.seq_len=%d", T);
        snprintf(batchkv, sizeof batchkv, "train.batch=%d", B);
        a->overrides[n++] = lenkv, a->overrides[n++] = batchkv;
    }
    return spec_load(s, a->spec_path, a->overrides, n, err, errlen);
}

/* Measures every config of one loaded spec; the number of failures. */
static int bench_spec(const spec *s, const bench_args *a, db *d, const char *exp, int threads) {
    int failures = 0;
    for (int i = 0; i < s->nconfigs; i++) {
        const spec_run *r = &s->runs[i * s->nseeds]; /* runs: configs x seeds, seed fastest */
        char run_id[CFG_ID_LEN + 1], key[CFG_ID_LEN + 16], err[1024];
        snprintf(key, sizeof key, "bench:%s", r->config_id);
        sha256_hex(key, strlen(key), run_id, CFG_ID_LEN);
        fprintf(stderr, "bench: %s, T=%lld: %d warm-up + %d timed steps\n", r->variant, cfg_int(r->cfg, "task.seq_len"),
                a->warmup, a->steps);
        bench_result b;
        record_ctx ctx = {.db = d, .run_id = run_id, .device = cfg_str(r->cfg, "model.device"), .threads = threads,
                          .err = err, .errlen = sizeof err};
        db_run_info info = {.run_id = run_id, .experiment = exp, .variant = r->variant, .config_json = cfg_json(r->cfg)};
        /* a point measured again replaces the old one: reset (its summary and provenance go), then start */
        if ((d && (db_runs_register(d, &info, 1, err, sizeof err) || db_run_reset(d, run_id, err, sizeof err) ||
                   db_run_start(d, run_id, err, sizeof err))) ||
            bench_measure(r->cfg, r->seed, a->data_dir, a->warmup, a->steps, &b, record_provenance, &ctx, err, sizeof err) ||
            (d && record_result(d, run_id, &b, err, sizeof err))) {
            fprintf(stderr, "lrpe bench: %s: %s\n", r->variant, err);
            char e2[256]; /* the point is recorded as failed with its reason, not left pending */
            if (d) db_run_finish(d, run_id, DB_FAILED, err, e2, sizeof e2);
            failures++;
            continue;
        }
        print_result(a->tsv, r->variant, r->cfg, &b, threads);
    }
    return failures;
}

static int cmd_bench(int argc, char **argv) {
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.overrides);
        return rc;
    }
    spec s;
    char err[1024];
    if (cli_data_dir("bench", a.data_opt, a.data_dir, sizeof a.data_dir, NULL)) {
        free(a.overrides);
        return 2;
    }
    if (load(&s, &a, 0, 0, err, sizeof err)) {
        fprintf(stderr, "lrpe bench: %s\n", err);
        spec_free(&s);
        free(a.overrides);
        return 2;
    }
    const cfg *first = s.configs[0];
    const long tokens = cfg_int(first, "train.batch") * cfg_int(first, "task.seq_len");
    if (a.nlens && strcmp(cfg_str(first, "task.kind"), "imgcls") == 0) {
        fprintf(stderr, "lrpe bench: --seq-lens: imgcls has a fixed length (its view); use an lm, textcls or synthetic task\n");
        spec_free(&s);
        free(a.overrides);
        return 2;
    }
    db *d = NULL;
    if (a.db_path && db_open(&d, a.db_path, 0, err, sizeof err)) {
        fprintf(stderr, "lrpe bench: %s (--no-db measures without recording)\n", err);
        spec_free(&s);
        free(a.overrides);
        return 1;
    }
    char exp[256];
    snprintf(exp, sizeof exp, "%s-bench", a.spec_path ? s.name : "lrpe");
    const int threads = threads_setup();
    print_header(a.tsv, exp, threads);
    int failures = 0;
    if (!a.nlens) failures += bench_spec(&s, &a, d, exp, threads);
    spec_free(&s);
    for (int k = 0; k < a.nlens; k++) { /* the same tokens per step at every length */
        const int T = a.lens[k], B = tokens / T > 0 ? (int)(tokens / T) : 1;
        if (load(&s, &a, T, B, err, sizeof err)) {
            fprintf(stderr, "lrpe bench: T=%d: %s\n", T, err);
            failures++;
        } else {
            failures += bench_spec(&s, &a, d, exp, threads);
        }
        spec_free(&s);
    }
    db_close(d);
    free(a.overrides);
    if (d && !failures) fprintf(stderr, "bench: recorded as experiment %s in %s (lrpe report plots it)\n", exp, a.db_path);
    return failures ? 1 : 0;
}
