/* The report's view of the results store: runs grouped by experiment, then into rows (one per
 * variant, or per variant and sweep value when a sweep gave one variant several configs), with
 * their summaries, provenance and validation curves, and the statistics the tables and plots
 * show. A run whose config_json cannot be read (missing, not valid JSON, not an object) is in no
 * row, since which row it belongs to is unknown; its cfg_problem says why, and the writers list
 * it under the tables. Loaded once (rep_load) and then only read by report_table.c,
 * report_bench.c, report_plot.c, report_md.c and report_html.c. Nothing here prints or exits. */
#ifndef LRPE_REPORT_H
#define LRPE_REPORT_H

#include <stdio.h>

#include "db.h"
#include "stats.h"
#include "task.h"

#define REP_MAXPRIM 2 /* primary metrics per table */
#define REP_MAXLEN 32 /* evaluation lengths of an experiment (eval.lengths) */
#define REP_ENOEXP -10 /* rep_load: no such experiment (err lists the known ones) */
#define REP_ENORUNS -11 /* rep_load: the database holds no runs */

/* A metric the report shows: its key and how to show it. */
/* A metric of a table or plot: the task registry's description (tasks/task.h: key, label, which way
 * is better, percent in md, tex and plots). */
typedef task_metric rep_metric;

/* One run with what the report reads of it. */
typedef struct rep_run {
    const db_run *r;       /* the runs row */
    db_status status;      /* effective status: a running run whose process died is interrupted */
    db_text *cfg;          /* config_json's leaves as dotted keys and text values, cfg[ncfg] */
    int ncfg;
    char *cfg_problem;     /* why config_json cannot be read ("config_json is not valid JSON (begins
                              '...')"), NULL when it can; such a run is in no row */
    db_value *sum;         /* summary (completed runs), sum[nsum] */
    int nsum;
    db_text *prov;         /* provenance, prov[nprov] */
    int nprov;
    db_point *curve;       /* the experiment's validation curve (completed runs), curve[ncurve] */
    int ncurve;
} rep_run;

/* One table row: the runs of one variant (and sweep value), seeds being the repeats. */
typedef struct rep_row {
    char *label;             /* the variant, plus " (key=value, ...)" of its sweep values */
    const char *variant;     /* the variant's name */
    int *runs, nruns;        /* indices into the experiment's runs, registration order */
    int count[DB_NSTATUS];   /* runs by effective status */
    int baseline;            /* the row it is compared with (itself for a baseline row), -1 none */
} rep_row;

/* One experiment. */
typedef struct rep_exp {
    char *name;                    /* the experiment (its members: see db.h) */
    char *dir;                     /* name made safe as a folder name */
    const char *kind, *dataset;    /* task.kind and task.dataset of the reference run ("?" if unknown) */
    int ref;                       /* the reference run: the first with a readable config (-1 none) */
    int nbadcfg;                   /* runs whose config is unreadable (cfg_problem; in no row) */
    int bench;                     /* runs come from lrpe bench (summary key perf/seq_len) */
    rep_metric prim[REP_MAXPRIM];  /* primary metrics, columns of the table */
    int nprim;
    rep_metric curve;              /* the validation metric plotted against step */
    const char *baseline;          /* the baseline variant's name */
    rep_run *runs;
    int nruns;
    rep_row *rows;
    int nrows;
    long long lengths[REP_MAXLEN]; /* the lengths its runs were evaluated at (summary keys prim[0]@L, from
                                    * eval.lengths), ascending; none: no length table or plot */
    int nlengths;
    long long train_len;           /* task.seq_len of the reference run (the plot marks it) */
    char **sweep;                  /* keys whose value differs between runs of one variant */
    int nsweep;
    db_run *block;                 /* db_runs_list's block of this experiment (the runs' strings) */
} rep_exp;

/* Every experiment of a database. */
typedef struct rep_set {
    rep_exp *exps;
    int nexps;
} rep_set;

/* One point of a benchmark line: the mean of the perf/ keys of the runs at one sequence length. */
typedef struct rep_bench_pt {
    double seq_len, tokens_per_s, step_ms, gflops, peak_pct, peak_rss_mb;
    double tps_min, tps_max; /* perf/tokens_per_s_min and _max (slowest and fastest timed step) */
    int n; /* runs averaged */
} rep_bench_pt;

/* Reads the runs of `experiment` (every experiment when NULL) from d into *out, with summaries,
 * provenance and curves, grouped into rows. 0; REP_ENOEXP (err names the known experiments);
 * REP_ENORUNS; or another negative code with a reason in err. rep_free(out) in every case. */
int rep_load(rep_set *out, db *d, const char *experiment, char *err, size_t errlen);
/* Chooses the baseline variant of e (NULL: the first row's variant) and links each row to its
 * baseline row. -1 when e has no such variant. */
int rep_set_baseline(rep_exp *e, const char *variant);
/* Releases everything rep_load allocated. */
void rep_free(rep_set *s);

/* Summary value key of run, NaN when absent. */
double rep_sum(const rep_run *run, const char *key);
/* Provenance value key of run, NULL when absent. */
const char *rep_prov(const rep_run *run, const char *key);
/* The value of dotted config key of run ("model.attention"): the recorded one, else the key's
 * default when it is one of the keys configs leave out at their default (rep_key_defaults), else NULL. */
const char *rep_cfg(const rep_run *run, const char *key);
/* The config keys that recorded configs leave out while at their default (model.device=cpu ...),
 * with those defaults: kv[n], kept by reference; call before rep_load (lrpe report passes the
 * schema's). Without it, such a key reads as absent. */
void rep_key_defaults(const db_text *kv, int n);
/* The finite values of summary key over the completed runs of row w into vals (and their seeds
 * into seeds when not NULL); both hold w->nruns entries. Returns how many. */
int rep_values(const rep_exp *e, const rep_row *w, const char *key, double *vals, long long *seeds);
/* Mean, std and 95% CI of summary key over the completed runs of row w. */
stats_ci rep_row_ci(const rep_exp *e, const rep_row *w, const char *key);
/* Paired difference w - its baseline of summary key over the seeds both completed (n = pairs);
 * n = 0 when there is no baseline or no common seed. */
stats_ci rep_row_diff(const rep_exp *e, const rep_row *w, const char *key);
/* The benchmark points of row w sorted by sequence length into pts (w->nruns entries); how many. */
int rep_bench_points(const rep_exp *e, const rep_row *w, rep_bench_pt *pts);
/* The summary key of the first primary metric at evaluation length L ("test/bpc@1024") into buf. */
const char *rep_length_key(const rep_exp *e, long long L, char *buf, size_t len);
/* Why row w has no value at length L (the provenance eval@L of one of its completed runs, "n/a:
 * ..."), or NULL when it has values or none of its runs recorded a reason. */
const char *rep_length_na(const rep_exp *e, const rep_row *w, long long L);
/* "(n=2; 1 failed, 1 pending)"-style note of row w for a metric with n values, into buf. */
const char *rep_count_note(const rep_row *w, int n, char *buf, size_t len);
/* Runs of e counted by effective status, into count[DB_NSTATUS]. */
void rep_count_runs(const rep_exp *e, int count[DB_NSTATUS]);
/* The earliest start and the latest end of e's runs (UTC text) into *first and *last; NULL when none. */
void rep_run_dates(const rep_exp *e, const char **first, const char **last);
/* Calls fn(ctx, i, key, value) for the i-th config key where the first run of row w differs from
 * e's reference run (value NULL: w's config lacks the key); how many keys differ (0 when e has no
 * reference run). A key left out at its default counts as that default. */
int rep_row_changes(const rep_exp *e, const rep_row *w, void (*fn)(void *ctx, int i, const char *key, const char *value),
                    void *ctx);
/* The provenance the report shows, as {label, provenance key} pairs ending with {NULL, NULL}. */
typedef struct rep_field {
    const char *label, *key;
} rep_field;
extern const rep_field rep_prov_fields[];
/* 1 when the report shows provenance key for e: always, but device and GPU only where some run
 * recorded them (runs from before they were recorded ran on the CPU). */
int rep_prov_shown(const rep_exp *e, const char *key);
/* Calls fn(ctx, i, value, count) for the i-th distinct value of provenance key over e's runs, in
 * run order, count being how many runs had it (0 when every run did); how many values. */
int rep_prov_values(const rep_exp *e, const char *key, void (*fn)(void *ctx, int i, const char *value, int count),
                    void *ctx);
/* The time now, "2025-01-31 12:00:00" (UTC), into buf: when a report was written. */
const char *rep_utc_now(char *buf, size_t len);
/* Decimals to print values of magnitude v with (3 below 10, 2 below 100, 1 below 1000, else 0). */
int rep_decimals(double v);
/* The rows' largest |mean| of metric m (scaled to percent when m says so), for rep_decimals. */
double rep_column_scale(const rep_exp *e, const rep_metric *m);
/* 1 when row w has the best mean of metric m among e's rows (equal means share it). */
int rep_is_best(const rep_exp *e, const rep_metric *m, const rep_row *w);

#endif
