/* Collecting the report's data from the results store (see report.h): experiments, their runs
 * with summaries, provenance and curves, the rows of their tables, and the per-row statistics. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "text.h"

/* Writes a formatted reason into err and returns code. */
static int rfail(int code, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verrf_label(err, errlen, NULL, fmt, ap);
    va_end(ap);
    return code;
}

/* The metrics of a kind the task registry does not know (an older or newer lrpe's). */
static const rep_metric loss_metrics[] = {{"test/loss", "test loss", 1, 0}, {NULL, NULL, 0, 0}};
static const rep_metric loss_curve = {"val/loss", "validation loss", 1, 0};

double rep_sum(const rep_run *run, const char *key) {
    for (int i = 0; i < run->nsum; i++)
        if (run->sum[i].key && strcmp(run->sum[i].key, key) == 0) return run->sum[i].value;
    return NAN;
}

const char *rep_prov(const rep_run *run, const char *key) {
    for (int i = 0; i < run->nprov; i++)
        if (run->prov[i].key && strcmp(run->prov[i].key, key) == 0) return run->prov[i].value;
    return NULL;
}

/* The keys left out of recorded configs at their default, and those defaults (rep_key_defaults). */
static const db_text *key_defaults;
static int nkey_defaults;

void rep_key_defaults(const db_text *kv, int n) { key_defaults = kv, nkey_defaults = n; }

const char *rep_cfg(const rep_run *run, const char *key) {
    for (int i = 0; i < run->ncfg; i++)
        if (run->cfg[i].key && strcmp(run->cfg[i].key, key) == 0) return run->cfg[i].value;
    for (int i = 0; i < nkey_defaults; i++)
        if (strcmp(key_defaults[i].key, key) == 0) return key_defaults[i].value;
    return NULL;
}

/* Equal strings, NULL equal only to NULL. */
static int same_str(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* A copy of name fit for a folder name: [A-Za-z0-9._-] kept, others '_', no leading dot. */
static char *safe_dir(const char *name) {
    char *d = strdup(*name ? name : "_");
    if (!d) return NULL;
    for (char *p = d; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            *p = '_';
    if (d[0] == '.') d[0] = '_';
    return d;
}

static int by_length(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The lengths e's completed runs were evaluated at: summary keys "<prim[0]>@L", and provenance
 * eval@L (not applicable there), ascending; the training length of the reference run. */
static void collect_lengths(rep_exp *e) {
    const size_t n = strlen(e->prim[0].key);
    e->nlengths = 0;
    for (int i = 0; i < e->nruns; i++) {
        const rep_run *a = &e->runs[i];
        for (int k = 0; a->status == DB_COMPLETED && k < a->nsum + a->nprov; k++) {
            const char *key = k < a->nsum ? a->sum[k].key : a->prov[k - a->nsum].key, *at;
            if (!key) continue;
            if (k < a->nsum ? strncmp(key, e->prim[0].key, n) || key[n] != '@' : strncmp(key, "eval@", 5)) continue;
            at = strchr(key, '@') + 1;
            long long L = atoll(at);
            int seen = L <= 0;
            for (int j = 0; j < e->nlengths && !seen; j++) seen = e->lengths[j] == L;
            if (!seen && e->nlengths < REP_MAXLEN) e->lengths[e->nlengths++] = L;
        }
    }
    qsort(e->lengths, (size_t)e->nlengths, sizeof *e->lengths, by_length);
    const char *T = e->ref >= 0 ? rep_cfg(&e->runs[e->ref], "task.seq_len") : NULL;
    e->train_len = T ? atoll(T) : 0;
}

const char *rep_length_key(const rep_exp *e, long long L, char *buf, size_t len) {
    snprintf(buf, len, "%s@%lld", e->prim[0].key, L);
    return buf;
}

const char *rep_length_na(const rep_exp *e, const rep_row *w, long long L) {
    char key[64];
    if (rep_row_ci(e, w, rep_length_key(e, L, key, sizeof key)).n) return NULL;
    snprintf(key, sizeof key, "eval@%lld", L);
    for (int k = 0; k < w->nruns; k++) {
        const rep_run *a = &e->runs[w->runs[k]];
        const char *why = a->status == DB_COMPLETED ? rep_prov(a, key) : NULL;
        if (why) return why;
    }
    return NULL;
}

/* Picks the primary metrics (those of the kind, as the task registry lists them, that some
 * completed run recorded; the first one when none did) and the curve metric of e. */
static void choose_metrics(rep_exp *e) {
    const task_vtable *vt = task_lookup(e->kind, NULL);
    const rep_metric *cand = vt ? vt->metrics : loss_metrics;
    e->curve = vt ? vt->curve : loss_curve;
    e->nprim = 0;
    for (int c = 0; cand[c].key && e->nprim < REP_MAXPRIM; c++) {
        int seen = 0;
        for (int i = 0; i < e->nruns && !seen; i++)
            seen = e->runs[i].status == DB_COMPLETED && !e->runs[i].cfg_problem &&
                   isfinite(rep_sum(&e->runs[i], cand[c].key));
        if (seen) e->prim[e->nprim++] = cand[c];
    }
    if (!e->nprim) e->prim[e->nprim++] = cand[0];
}

/* Adds key to e's sweep keys unless it is there (or, for a benchmark, describes the task or the
 * training: the benchmark varies those along its lines). 0 or -1 (out of memory). */
static int add_sweep_key(rep_exp *e, const char *key) {
    if (e->bench && (!strncmp(key, "task.", 5) || !strncmp(key, "train.", 6))) return 0;
    for (int k = 0; k < e->nsweep; k++)
        if (!strcmp(e->sweep[k], key)) return 0;
    char **s = realloc(e->sweep, (size_t)(e->nsweep + 1) * sizeof *s);
    if (!s) return -1;
    e->sweep = s;
    if (!(e->sweep[e->nsweep] = strdup(key))) return -1;
    e->nsweep++;
    return 0;
}

/* Finds the keys where runs of one variant differ from the variant's first run (runs whose
 * config cannot be read take no part). */
static int find_sweep_keys(rep_exp *e) {
    for (int i = 0; i < e->nruns; i++) {
        const rep_run *a = &e->runs[i];
        if (a->cfg_problem) continue;
        int first = i;
        for (int j = 0; j < i; j++)
            if (!e->runs[j].cfg_problem && same_str(e->runs[j].r->variant, a->r->variant)) {
                first = j;
                break;
            }
        if (first == i) continue;
        const rep_run *x = &e->runs[first];
        for (int k = 0; k < x->ncfg; k++)
            if (!same_str(x->cfg[k].value, rep_cfg(a, x->cfg[k].key)) && add_sweep_key(e, x->cfg[k].key)) return -1;
        for (int k = 0; k < a->ncfg; k++)
            if (!same_str(rep_cfg(x, a->cfg[k].key), a->cfg[k].value) && add_sweep_key(e, a->cfg[k].key)) return -1;
    }
    return 0;
}

/* 1 when runs a and b have the same values of every sweep key. */
static int same_sweep(const rep_exp *e, const rep_run *a, const rep_run *b) {
    for (int k = 0; k < e->nsweep; k++)
        if (!same_str(rep_cfg(a, e->sweep[k]), rep_cfg(b, e->sweep[k]))) return 0;
    return 1;
}

/* The label of a row whose first run is run: the variant, then its sweep values. */
static char *row_label(const rep_exp *e, const rep_run *run) {
    const char *v = run->r->variant ? run->r->variant : "(no variant)";
    size_t len = strlen(v) + 4;
    for (int k = 0; k < e->nsweep; k++) {
        const char *val = rep_cfg(run, e->sweep[k]);
        len += strlen(e->sweep[k]) + strlen(val ? val : "-") + 3;
    }
    char *s = malloc(len);
    if (!s) return NULL;
    strcpy(s, v);
    for (int k = 0; k < e->nsweep; k++) {
        const char *key = strrchr(e->sweep[k], '.'), *val = rep_cfg(run, e->sweep[k]);
        strcat(s, k ? ", " : " (");
        strcat(s, key ? key + 1 : e->sweep[k]);
        strcat(s, "=");
        strcat(s, val ? val : "-");
    }
    if (e->nsweep) strcat(s, ")");
    return s;
}

/* Puts every run of e into its row (variant + sweep values), rows in order of first run; a run
 * whose config cannot be read is in none. */
static int build_rows(rep_exp *e) {
    size_t cap = e->nruns > 0 ? (size_t)e->nruns : 1;
    if (!(e->rows = calloc(cap, sizeof *e->rows))) return -1;
    for (int i = 0; i < e->nruns; i++) {
        rep_run *a = &e->runs[i];
        if (a->cfg_problem) continue;
        rep_row *w = NULL;
        for (int k = 0; k < e->nrows && !w; k++) {
            const rep_run *f = &e->runs[e->rows[k].runs[0]];
            if (same_str(f->r->variant, a->r->variant) && same_sweep(e, f, a)) w = &e->rows[k];
        }
        if (!w) {
            w = &e->rows[e->nrows++];
            w->variant = a->r->variant ? a->r->variant : "(no variant)";
            w->baseline = -1;
            if (!(w->label = row_label(e, a)) || !(w->runs = malloc(cap * sizeof *w->runs))) return -1;
        }
        w->runs[w->nruns++] = i;
        if (a->status >= 0 && a->status < DB_NSTATUS) w->count[a->status]++;
    }
    return 0;
}

int rep_set_baseline(rep_exp *e, const char *variant) {
    if (!e->nrows) return variant ? -1 : 0;
    if (!variant) variant = e->rows[0].variant;
    int nbase = 0, only = -1;
    for (int k = 0; k < e->nrows; k++)
        if (!strcmp(e->rows[k].variant, variant)) nbase++, only = k;
    if (!nbase) return -1;
    e->baseline = e->rows[only].variant;
    for (int k = 0; k < e->nrows; k++) {
        rep_row *w = &e->rows[k];
        w->baseline = nbase == 1 ? only : -1;
        for (int b = 0; b < e->nrows && nbase > 1; b++)
            if (!strcmp(e->rows[b].variant, variant) &&
                same_sweep(e, &e->runs[e->rows[b].runs[0]], &e->runs[w->runs[0]]))
                w->baseline = b;
    }
    return 0;
}

/* Sets run a's cfg_problem from problem (db_config_leaves) and the start of its config text;
 * 0 or -1 (out of memory). */
static int set_cfg_problem(rep_run *a, const char *problem) {
    char shown[48], msg[256];
    if (a->r->config_json) snprintf(msg, sizeof msg, "%s (begins '%s')", problem, text_shown(a->r->config_json, shown, sizeof shown));
    else snprintf(msg, sizeof msg, "%s", problem);
    return (a->cfg_problem = strdup(msg)) ? 0 : -1;
}

/* Reads summary, provenance, config and (for completed runs) the curve of every run of e. */
static int load_runs(rep_exp *e, db *d, char *err, size_t errlen) {
    int rc;
    e->ref = -1;
    for (int i = 0; i < e->nruns; i++) {
        rep_run *a = &e->runs[i];
        const char *problem = NULL;
        if ((rc = db_config_leaves(d, a->r->run_id, &a->cfg, &a->ncfg, &problem, err, errlen)) ||
            (rc = db_summary_get(d, a->r->run_id, &a->sum, &a->nsum, err, errlen)) ||
            (rc = db_provenance_get(d, a->r->run_id, &a->prov, &a->nprov, err, errlen)))
            return rc;
        if (problem && set_cfg_problem(a, problem)) return rfail(DB_ERR, err, errlen, "out of memory");
        if (problem) e->nbadcfg++;
        else if (e->ref < 0) e->ref = i;
        if (isfinite(rep_sum(a, "perf/seq_len"))) e->bench = 1;
    }
    const char *kind = e->ref >= 0 ? rep_cfg(&e->runs[e->ref], "task.kind") : NULL;
    const char *dataset = e->ref >= 0 ? rep_cfg(&e->runs[e->ref], "task.dataset") : NULL;
    e->kind = kind ? kind : "?";
    e->dataset = dataset ? dataset : "?";
    choose_metrics(e);
    collect_lengths(e);
    for (int i = 0; i < e->nruns && !e->bench; i++) {
        rep_run *a = &e->runs[i];
        if (a->status == DB_COMPLETED &&
            (rc = db_metric_curve(d, a->r->run_id, e->curve.key, &a->curve, &a->ncurve, err, errlen)))
            return rc;
    }
    return 0;
}

/* Sets up experiment e from its member runs (db_runs_list with its name: a run shared with another
 * experiment is listed under this one's variant name). */
static int load_exp(rep_exp *e, const char *name, db *d, char *err, size_t errlen) {
    int n = 0, rc = db_runs_list(d, name, DB_STALE_S, &e->block, &n, err, errlen);
    if (rc) return rc;
    if (!(e->name = strdup(name)) || !(e->dir = safe_dir(name)) || !(e->runs = calloc(n ? (size_t)n : 1, sizeof *e->runs)))
        return rfail(DB_ERR, err, errlen, "out of memory");
    for (int i = 0; i < n; i++) {
        rep_run *a = &e->runs[e->nruns++];
        a->r = &e->block[i];
        a->status = e->block[i].status == DB_RUNNING && e->block[i].dead ? DB_INTERRUPTED : e->block[i].status;
    }
    if ((rc = load_runs(e, d, err, errlen))) return rc;
    if (find_sweep_keys(e) || build_rows(e)) return rfail(DB_ERR, err, errlen, "out of memory");
    rep_set_baseline(e, NULL);
    return 0;
}

int rep_load(rep_set *out, db *d, const char *experiment, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    db_status_count *names; /* every experiment, sorted by name */
    int n = 0, rc = db_status_counts(d, DB_STALE_S, &names, &n, err, errlen);
    if (rc) return rc;
    if (!n) {
        free(names);
        return rfail(REP_ENORUNS, err, errlen, "no runs in %s", db_path(d));
    }
    int found = 0;
    for (int k = 0; k < n; k++) found |= experiment && !strcmp(names[k].experiment, experiment);
    if (experiment && !found) {
        size_t len = (size_t)snprintf(err, errlen, "no experiment '%s' in %s; known:", experiment, db_path(d));
        for (int k = 0; k < n && len < errlen; k++)
            len += (size_t)snprintf(err + len, errlen - len, "%s %s", k ? "," : "", names[k].experiment);
        free(names);
        return REP_ENOEXP;
    }
    if (!(out->exps = calloc((size_t)n, sizeof *out->exps))) {
        free(names);
        return rfail(DB_ERR, err, errlen, "out of memory");
    }
    for (int k = 0; k < n && !rc; k++) {
        if (experiment && strcmp(names[k].experiment, experiment)) continue;
        rc = load_exp(&out->exps[out->nexps++], names[k].experiment, d, err, errlen);
    }
    free(names);
    return rc;
}

void rep_free(rep_set *s) {
    for (int x = 0; x < s->nexps; x++) {
        rep_exp *e = &s->exps[x];
        for (int i = 0; i < e->nruns; i++) {
            free(e->runs[i].cfg);
            free(e->runs[i].cfg_problem);
            free(e->runs[i].sum);
            free(e->runs[i].prov);
            free(e->runs[i].curve);
        }
        for (int k = 0; k < e->nrows; k++) free(e->rows[k].label), free(e->rows[k].runs);
        for (int k = 0; k < e->nsweep; k++) free(e->sweep[k]);
        free(e->sweep);
        free(e->rows);
        free(e->runs);
        free(e->name);
        free(e->dir);
        free(e->block);
    }
    free(s->exps);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- statistics per row */

int rep_values(const rep_exp *e, const rep_row *w, const char *key, double *vals, long long *seeds) {
    int n = 0;
    for (int k = 0; k < w->nruns; k++) {
        const rep_run *a = &e->runs[w->runs[k]];
        double v = rep_sum(a, key);
        if (a->status != DB_COMPLETED || !isfinite(v)) continue;
        if (seeds) seeds[n] = a->r->seed;
        vals[n++] = v;
    }
    return n;
}

stats_ci rep_row_ci(const rep_exp *e, const rep_row *w, const char *key) {
    double *v = malloc((size_t)(w->nruns ? w->nruns : 1) * sizeof *v);
    stats_ci c = stats_ci95(v, v ? rep_values(e, w, key, v, NULL) : 0);
    free(v);
    return c;
}

stats_ci rep_row_diff(const rep_exp *e, const rep_row *w, const char *key) {
    stats_ci none = {.mean = NAN, .std = NAN, .half = NAN, .lo = NAN, .hi = NAN};
    if (w->baseline < 0) return none;
    const rep_row *b = &e->rows[w->baseline];
    size_t na = (size_t)(w->nruns ? w->nruns : 1), nb = (size_t)(b->nruns ? b->nruns : 1);
    double *va = malloc(na * sizeof *va), *vb = malloc(nb * sizeof *vb);
    double *pa = malloc(na * sizeof *pa), *pb = malloc(na * sizeof *pb);
    long long *sa = malloc(na * sizeof *sa), *sb = malloc(nb * sizeof *sb);
    stats_ci c = none;
    if (va && vb && pa && pb && sa && sb) {
        int n = rep_values(e, w, key, va, sa), m = rep_values(e, b, key, vb, sb), np = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                if (sa[i] == sb[j]) { /* the first baseline run of the same seed */
                    pa[np] = va[i], pb[np] = vb[j], np++;
                    break;
                }
        c = stats_paired_ci95(pa, pb, np);
    }
    free(va), free(vb), free(pa), free(pb), free(sa), free(sb);
    return c;
}

/* Orders benchmark points by sequence length. */
static int by_seq_len(const void *a, const void *b) {
    double x = ((const rep_bench_pt *)a)->seq_len, y = ((const rep_bench_pt *)b)->seq_len;
    return (x > y) - (x < y);
}

int rep_bench_points(const rep_exp *e, const rep_row *w, rep_bench_pt *pts) {
    int n = 0;
    for (int k = 0; k < w->nruns; k++) {
        const rep_run *a = &e->runs[w->runs[k]];
        double L = rep_sum(a, "perf/seq_len");
        if (a->status != DB_COMPLETED || !isfinite(L)) continue;
        int p = 0;
        while (p < n && pts[p].seq_len != L) p++;
        if (p == n) pts[n++] = (rep_bench_pt){.seq_len = L};
        rep_bench_pt *q = &pts[p];
        double v[7] = {rep_sum(a, "perf/tokens_per_s"), rep_sum(a, "perf/step_ms"), rep_sum(a, "perf/gflops"),
                       rep_sum(a, "perf/peak_pct"), rep_sum(a, "perf/peak_rss_mb"), rep_sum(a, "perf/tokens_per_s_min"),
                       rep_sum(a, "perf/tokens_per_s_max")};
        double *acc[7] = {&q->tokens_per_s, &q->step_ms, &q->gflops, &q->peak_pct, &q->peak_rss_mb, &q->tps_min, &q->tps_max};
        q->n++; /* running means; a missing value makes the mean NaN, shown as missing */
        for (int i = 0; i < 7; i++) *acc[i] += (v[i] - *acc[i]) / q->n;
    }
    qsort(pts, (size_t)n, sizeof *pts, by_seq_len);
    return n;
}

/* ---------------------------------------------------------------- presentation helpers */

const char *rep_count_note(const rep_row *w, int n, char *buf, size_t len) {
    static const db_status other[] = {DB_FAILED, DB_INTERRUPTED, DB_RUNNING, DB_PENDING};
    size_t k = (size_t)snprintf(buf, len, "(n=%d", n);
    const char *sep = "; ";
    int unmeasured = w->count[DB_COMPLETED] - n;
    if (unmeasured > 0 && k < len) {
        k += (size_t)snprintf(buf + k, len - k, "%s%d completed without it", sep, unmeasured);
        sep = ", ";
    }
    for (int i = 0; i < 4 && k < len; i++)
        if (w->count[other[i]]) {
            k += (size_t)snprintf(buf + k, len - k, "%s%d %s", sep, w->count[other[i]], db_status_name(other[i]));
            sep = ", ";
        }
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

void rep_count_runs(const rep_exp *e, int count[DB_NSTATUS]) {
    memset(count, 0, DB_NSTATUS * sizeof *count);
    for (int i = 0; i < e->nruns; i++)
        if (e->runs[i].status >= 0 && e->runs[i].status < DB_NSTATUS) count[e->runs[i].status]++;
}

void rep_run_dates(const rep_exp *e, const char **first, const char **last) {
    *first = *last = NULL;
    for (int i = 0; i < e->nruns; i++) {
        const db_run *r = e->runs[i].r;
        if (r->started_at && (!*first || strcmp(r->started_at, *first) < 0)) *first = r->started_at;
        if (r->ended_at && (!*last || strcmp(r->ended_at, *last) > 0)) *last = r->ended_at;
    }
}

/* 1 when run's recorded config has key (rep_cfg also answers keys left out at their default). */
static int recorded(const rep_run *run, const char *key) {
    for (int i = 0; i < run->ncfg; i++)
        if (run->cfg[i].key && !strcmp(run->cfg[i].key, key)) return 1;
    return 0;
}

int rep_row_changes(const rep_exp *e, const rep_row *w, void (*fn)(void *ctx, int i, const char *key, const char *value),
                    void *ctx) {
    if (e->ref < 0) return 0;
    const rep_run *r0 = &e->runs[e->ref], *c = &e->runs[w->runs[0]];
    int n = 0;
    for (int i = 0; i < c->ncfg; i++) {
        const char *v0 = rep_cfg(r0, c->cfg[i].key), *v = c->cfg[i].value ? c->cfg[i].value : "";
        if (!v0 || strcmp(v0, v)) fn(ctx, n++, c->cfg[i].key, v);
    }
    for (int i = 0; i < r0->ncfg; i++) { /* keys c does not record: absent, or left out at their default */
        const char *v = rep_cfg(c, r0->cfg[i].key), *v0 = r0->cfg[i].value ? r0->cfg[i].value : "";
        if (!recorded(c, r0->cfg[i].key) && (!v || strcmp(v, v0))) fn(ctx, n++, r0->cfg[i].key, v);
    }
    return n;
}

const rep_field rep_prov_fields[] = {{"data", "data"},
                                     {"CPU", "cpu_model"},
                                     {"host", "host"},
                                     {"BLAS", "blas"},
                                     {"threads (OpenMP)", "threads_omp"},
                                     {"device", "device"},
                                     {"GPU", "gpu"},
                                     {"commit", "git_commit"},
                                     {"uncommitted changes", "git_dirty"},
                                     {"compiler", "compiler"},
                                     {"flags", "cflags"},
                                     {NULL, NULL}};

int rep_prov_shown(const rep_exp *e, const char *key) {
    if (strcmp(key, "device") && strcmp(key, "gpu")) return 1;
    for (int r = 0; r < e->nruns; r++)
        if (rep_prov(&e->runs[r], key)) return 1;
    return 0;
}

int rep_prov_values(const rep_exp *e, const char *key, void (*fn)(void *ctx, int i, const char *value, int count),
                    void *ctx) {
    int shown = 0;
    for (int i = 0; i < e->nruns; i++) {
        const char *v = rep_prov(&e->runs[i], key);
        if (!v) continue;
        int seen = 0, count = 0;
        for (int j = 0; j < i && !seen; j++) seen = rep_prov(&e->runs[j], key) && !strcmp(rep_prov(&e->runs[j], key), v);
        if (seen) continue;
        for (int j = i; j < e->nruns; j++) count += rep_prov(&e->runs[j], key) && !strcmp(rep_prov(&e->runs[j], key), v);
        fn(ctx, shown++, v, count == e->nruns ? 0 : count);
    }
    return shown;
}

const char *rep_utc_now(char *buf, size_t len) {
    time_t t = time(NULL);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", gmtime(&t));
    return buf;
}

int rep_decimals(double v) {
    v = fabs(v);
    return !isfinite(v) || v < 10 ? 3 : v < 100 ? 2 : v < 1000 ? 1 : 0;
}

double rep_column_scale(const rep_exp *e, const rep_metric *m) {
    double s = 0.0;
    for (int k = 0; k < e->nrows; k++) {
        double v = fabs(rep_row_ci(e, &e->rows[k], m->key).mean) * (m->percent ? 100.0 : 1.0);
        if (isfinite(v) && v > s) s = v;
    }
    return s;
}

int rep_is_best(const rep_exp *e, const rep_metric *m, const rep_row *w) {
    double mine = rep_row_ci(e, w, m->key).mean;
    if (!isfinite(mine)) return 0;
    for (int k = 0; k < e->nrows; k++) {
        double v = rep_row_ci(e, &e->rows[k], m->key).mean;
        if (isfinite(v) && (m->lower_better ? v < mine : v > mine)) return 0;
    }
    return 1;
}
