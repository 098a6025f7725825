/* `lrpe report` end to end: a results database built here with the db API (an LM experiment with
 * a complete variant, one with a failed seed, one with a single seed, one with no completed run,
 * and a benchmark experiment), the report run through the binary (./lrpe or $LRPE_BIN), and every
 * file checked: tables (bold best, missing runs shown, CSV numbers equal to the stats module's),
 * LaTeX booktabs, valid PNG and SVG plots, report.md; and the error paths (no database, unknown
 * experiment or variant, no gnuplot, unwritable output); runs whose config cannot be read; the
 * config leaves the report reads through SQLite's JSON functions; and report.html: self-contained,
 * every table, plot and failed run in it, text from the database escaped, and (with Debian's
 * chromium installed) loaded in headless Chromium by tests/browser/check_report.py. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "report_out.h"
#include "stats.h"
#include "test.h"

/* s, or a placeholder for a file that could not be read (for messages). */
#define SHOW(s) ((s) ? (s) : "(not readable)")

/* ---------------------------------------------------------------- fixture */

typedef struct report_fx {
    char dir[PATH_MAX];
    char bin[PATH_MAX];
} report_fx;

/* A temporary folder and the absolute path of the binary; -1 (a failure recorded) when missing. */
static int fx_open(report_fx *f) {
    const char *bin = getenv("LRPE_BIN") ? getenv("LRPE_BIN") : "./lrpe";
    if (!realpath(bin, f->bin)) {
        test_fail(__FILE__, __LINE__, "no lrpe binary at %s (build it first)", bin);
        return -1;
    }
    return test_tmpdir(f->dir, sizeof f->dir, "report");
}

/* Removes the folder. */
static void fx_close(report_fx *f) {
    chmod(f->dir, 0755);
    test_rmtree(f->dir);
}

/* Runs `env lrpe args` in the folder; both streams into out; the exit code (-1 if it crashed). */
static int fx_lrpe(const report_fx *f, const char *env, const char *args, char *out, size_t cap) {
    char cmd[3 * PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s LRPE_THREADS=1 '%s' %s", f->dir, env ? env : "", f->bin, args);
    return test_capture(cmd, out, cap);
}

/* The whole of <dir>/rel as a malloc'd string (NULL when unreadable); *len its size. */
static char *slurp(const report_fx *f, const char *rel, size_t *len) {
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    return test_slurp(path, len);
}

/* Writes <dir>/<out>/report.html from the database and the experiment folders `lrpe report --out
 * out` wrote, as lrpe report does (rep_html; gnuplot_missing as when it found no gnuplot); the
 * number of plots into *nplots. 0, or -1 after recording a failure. */
static int write_html(const report_fx *f, const char *out, int gnuplot_missing, int *nplots) {
    char path[PATH_MAX + 64], dir[PATH_MAX + 512], err[4096] = "out of memory";
    rep_set s = {0};
    db *d = NULL;
    *nplots = 0;
    snprintf(path, sizeof path, "%s/results/results.db", f->dir);
    if (db_open(&d, path, DB_OPEN_READONLY, err, sizeof err) || rep_load(&s, d, NULL, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "loading %s: %s", path, err);
        db_close(d);
        rep_free(&s);
        return -1;
    }
    db_close(d);
    rep_written *w = calloc((size_t)s.nexps + 1, sizeof *w);
    int rc = w ? 0 : -1;
    for (int x = 0; x < s.nexps && !rc; x++) { /* the plots of each experiment (files as they are; no gnuplot run) */
        snprintf(dir, sizeof dir, "%s/%s/%s", f->dir, out, s.exps[x].dir);
        rc = rep_plot(&s.exps[x], dir, NULL, &w[x].plots, err, sizeof err);
        w[x].tables_ok = 1;
        *nplots += w[x].plots.n;
    }
    snprintf(path, sizeof path, "%s/%s", f->dir, out);
    if (!rc) rc = rep_html(path, &s, w, "results/results.db", gnuplot_missing, err, sizeof err);
    CHECK(rc == 0, "report.html: %s", err);
    free(w);
    rep_free(&s);
    return rc;
}

/* ---------------------------------------------------------------- the database */

/* Registers a run and gives it a final state (DB_PENDING leaves it registered only). */
static void add_run(db *d, const char *id, const char *exp, const char *variant, long long seed, const char *cfg,
                    db_status st, const char *error) {
    char err[512];
    db_run_info info = {id, exp, variant, seed, cfg};
    CHECK(db_runs_register(d, &info, 1, err, sizeof err) == 0, "register %s: %s", id, err);
    if (st == DB_PENDING) return;
    CHECK(db_run_start(d, id, err, sizeof err) == 0, "start %s: %s", id, err);
    db_text prov[] = {{"git_commit", "abc123def456"}, {"git_dirty", "0"}, {"compiler", "gcc 12.2.0"},
                      {"cflags", "-O3 -fopenmp"},     {"blas", "OpenBLAS 0.3.21 openmp"}, {"threads_omp", "2"},
                      {"cpu_model", "Test CPU 9000"}, {"host", "testhost"},     {"data", "kjv.txt md5 0123abcd"}};
    CHECK(db_provenance_set(d, id, prov, (int)(sizeof prov / sizeof prov[0]), err, sizeof err) == 0, "provenance: %s", err);
    if (st != DB_RUNNING) CHECK(db_run_finish(d, id, st, error, err, sizeof err) == 0, "finish %s: %s", id, err);
}

/* Summary of a completed LM run. */
static void lm_summary(db *d, const char *id, double bpc, double tps) {
    char err[512];
    db_value kv[] = {{"test/bpc", bpc}, {"test/ppl", pow(2.0, bpc)}, {"test/loss", bpc * log(2.0)},
                     {"params", 25984}, {"perf/tokens_per_s", tps}, {"perf/peak_rss_mb", 50}};
    CHECK(db_summary_set(d, id, kv, (int)(sizeof kv / sizeof kv[0]), err, sizeof err) == 0, "summary: %s", err);
    db_metric curve[3];
    for (int i = 0; i < 3; i++) curve[i] = (db_metric){10 * (i + 1), "val/bpc", bpc + 1.0 - 0.4 * i};
    CHECK(db_metrics_add(d, id, curve, 3, err, sizeof err) == 0, "curve: %s", err);
}

#define LM_CFG(enc) "{\"model\":{\"attention\":\"linear\",\"encoding\":\"" enc "\"},\"task\":{\"dataset\":\"kjv\",\"kind\":\"lm\",\"seq_len\":64}}"
#define FAIL_TEXT "loss became NaN at step 7 (lower train.lr)"

/* The values the LM experiment holds (test/bpc per seed 1..3; NaN where no completed run). */
static const double base_bpc[3] = {2.0, 2.2, 2.4}, rope_bpc[2] = {1.9, 2.05}, single_bpc = 2.5;

/* Builds <dir>/results/results.db: experiment lmx (variants base, rope, single, broken) and
 * benchmark benchx (softmax and linear at 256, 512, 1024 tokens, one failed point). Returns it
 * open for more writes (the caller closes it), or NULL after recording a failure. */
static db *build_db(const report_fx *f) {
    char path[PATH_MAX + 64], err[512], id[64];
    snprintf(path, sizeof path, "%s/results/results.db", f->dir);
    db *d = NULL;
    if (db_open(&d, path, 0, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return NULL;
    }
    for (int s = 1; s <= 3; s++) {
        snprintf(id, sizeof id, "base-%d", s);
        add_run(d, id, "lmx", "base", s, LM_CFG("none"), DB_COMPLETED, NULL);
        lm_summary(d, id, base_bpc[s - 1], 100.0 + 10 * s);
    }
    for (int s = 1; s <= 3; s++) {
        snprintf(id, sizeof id, "rope-%d", s);
        add_run(d, id, "lmx", "rope", s, LM_CFG("rope"), s == 3 ? DB_FAILED : DB_COMPLETED, s == 3 ? FAIL_TEXT : NULL);
        if (s < 3) lm_summary(d, id, rope_bpc[s - 1], 90.0);
    }
    add_run(d, "single-1", "lmx", "single", 1, LM_CFG("lrpe-unitary"), DB_COMPLETED, NULL);
    lm_summary(d, "single-1", single_bpc, 80.0);
    add_run(d, "single-2", "lmx", "single", 2, LM_CFG("lrpe-unitary"), DB_PENDING, NULL);
    add_run(d, "broken-1", "lmx", "broken", 1, LM_CFG("alibi"), DB_FAILED, "out of memory | really");
    /* the benchmark */
    static const char *const att[2] = {"softmax", "linear"};
    for (int a = 0; a < 2; a++)
        for (int L = 256; L <= 1024; L *= 2) {
            char cfg[256];
            snprintf(cfg, sizeof cfg, "{\"model\":{\"attention\":\"%s\"},\"task\":{\"kind\":\"lm\",\"dataset\":\"kjv\",\"seq_len\":%d}}",
                     att[a], L);
            snprintf(id, sizeof id, "bench-%s-%d", att[a], L);
            add_run(d, id, "benchx", att[a], 0, cfg, DB_COMPLETED, NULL);
            double tps = a ? 5000.0 : 8000.0 * 256.0 / L, rss = a ? 100.0 + L / 64.0 : 100.0 + L * L / 4096.0;
            db_value kv[] = {{"perf/seq_len", L}, {"perf/tokens_per_s", tps}, {"perf/step_ms", 1e3 * 16 * L / tps},
                             {"perf/gflops", 12.5}, {"perf/peak_pct", 40.0}, {"perf/peak_rss_mb", rss},
                             {"perf/tokens_per_s_min", 0.9 * tps}, {"perf/tokens_per_s_max", 1.1 * tps}};
            CHECK(db_summary_set(d, id, kv, a ? 8 : 6, err, sizeof err) == 0, "bench summary: %s", err);
        }
    add_run(d, "bench-linear-2048", "benchx", "linear", 0,
            "{\"model\":{\"attention\":\"linear\"},\"task\":{\"kind\":\"lm\",\"seq_len\":2048}}", DB_FAILED,
            "out of memory at 2048 tokens");
    return d;
}

/* ---------------------------------------------------------------- checks */

/* Checks <dir>/rel is a PNG with a positive width and height (signature, then the IHDR chunk). */
static void check_png(const report_fx *f, const char *rel) {
    size_t n = 0;
    unsigned char *p = (unsigned char *)slurp(f, rel, &n);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!p || n < 33) {
        test_fail(__FILE__, __LINE__, "%s: missing or too short (%zu bytes)", rel, n);
        free(p);
        return;
    }
    unsigned long w = (unsigned long)p[16] << 24 | (unsigned long)p[17] << 16 | (unsigned long)p[18] << 8 | p[19];
    unsigned long h = (unsigned long)p[20] << 24 | (unsigned long)p[21] << 16 | (unsigned long)p[22] << 8 | p[23];
    CHECK(memcmp(p, sig, 8) == 0, "%s: not a PNG signature", rel);
    CHECK(p[11] == 13 && memcmp(p + 12, "IHDR", 4) == 0, "%s: first chunk is not a 13-byte IHDR", rel);
    CHECK(w > 0 && h > 0 && w == 900 && h == 550, "%s: %lu x %lu, want 900 x 550", rel, w, h);
    free(p);
}

/* Checks <dir>/rel is an SVG document holding an <svg> element and some drawing. */
static void check_svg(const report_fx *f, const char *rel) {
    size_t n = 0;
    char *s = slurp(f, rel, &n);
    CHECK(s && (strncmp(s, "<?xml", 5) == 0 || strncmp(s, "<svg", 4) == 0), "%s: does not start with an XML/svg tag", rel);
    CHECK(s && strstr(s, "<svg") && strstr(s, "</svg>") && (strstr(s, "<path") || strstr(s, "<polyline")),
          "%s: no svg element with paths", rel);
    free(s);
}

/* Checks <dir>/rel exists and is not empty. */
static void check_nonempty(const report_fx *f, const char *rel) {
    char path[PATH_MAX + 256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    CHECK(stat(path, &st) == 0 && st.st_size > 0, "%s missing or empty", rel);
}

/* Field `column` of the CSV line whose first two fields are exp,variant, as a number (NaN when
 * missing or empty). Fields here have no quotes or commas. */
static double csv_number(const char *csv, const char *exp, const char *variant, const char *column) {
    const char *nl = strchr(csv, '\n');
    if (!nl) return NAN;
    int col = -1, k = 0;
    for (const char *p = csv; p < nl; k++) {
        size_t len = strcspn(p, ",\n");
        if (strlen(column) == len && !strncmp(p, column, len)) col = k;
        p += len + (p[len] == ',');
        if (p[-1] != ',') break;
    }
    char prefix[256];
    snprintf(prefix, sizeof prefix, "\n%s,%s,", exp, variant);
    const char *line = strstr(csv, prefix);
    if (col < 0 || !line) return NAN;
    line++;
    for (k = 0; k < col; k++) {
        line = strpbrk(line, ",\n");
        if (!line || *line == '\n') return NAN;
        line++;
    }
    char *end;
    double v = strtod(line, &end);
    return end == line ? NAN : v;
}

/* Expected statistics from the stats module for the data build_db inserted. */
static void check_lm_csv(const char *csv) {
    stats_ci base = stats_ci95(base_bpc, 3), rope = stats_ci95(rope_bpc, 2);
    stats_ci diff = stats_paired_ci95(rope_bpc, base_bpc, 2);
    CHECK_CLOSE(csv_number(csv, "lmx", "base", "test/bpc_mean"), base.mean, 1e-9, 0, "base mean");
    CHECK_CLOSE(csv_number(csv, "lmx", "base", "test/bpc_std"), base.std, 1e-9, 0, "base std");
    CHECK_CLOSE(csv_number(csv, "lmx", "base", "test/bpc_ci95_lo"), base.lo, 1e-9, 0, "base CI lo");
    CHECK_CLOSE(csv_number(csv, "lmx", "base", "test/bpc_ci95_hi"), base.hi, 1e-9, 0, "base CI hi");
    /* and by hand: 2.2 +- 4.3027 * 0.2 / sqrt(3) */
    CHECK_CLOSE(csv_number(csv, "lmx", "base", "test/bpc_ci95_hi"), 2.2 + 0.49683, 0, 1e-5, "base CI hi by hand");
    CHECK(csv_number(csv, "lmx", "base", "test/bpc_n") == 3, "base n");
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "test/bpc_mean"), rope.mean, 1e-9, 0, "rope mean");
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "test/bpc_std"), rope.std, 1e-9, 0, "rope std");
    CHECK(csv_number(csv, "lmx", "rope", "n_failed") == 1 && csv_number(csv, "lmx", "rope", "test/bpc_n") == 2,
          "rope: 2 completed, 1 failed");
    /* paired by seed over seeds 1 and 2: differences -0.1, -0.15 */
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "diff"), diff.mean, 1e-9, 0, "rope - base");
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "diff"), -0.125, 1e-9, 0, "rope - base by hand");
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "diff_ci_lo"), diff.lo, 1e-9, 0, "diff CI lo");
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "diff_ci_hi"), diff.hi, 1e-9, 0, "diff CI hi");
    CHECK(csv_number(csv, "lmx", "rope", "n_pairs") == 2, "2 pairs");
    CHECK(csv_number(csv, "lmx", "base", "diff") == 0, "the baseline's own difference is 0");
    CHECK_CLOSE(csv_number(csv, "lmx", "rope", "test/ppl_mean"), (pow(2, 1.9) + pow(2, 2.05)) / 2, 1e-9, 0, "ppl mean");
    CHECK_CLOSE(csv_number(csv, "lmx", "base", "tokens_per_s"), 120.0, 1e-9, 0, "throughput mean");
    CHECK(csv_number(csv, "lmx", "base", "params") == 25984, "params");
    CHECK(csv_number(csv, "lmx", "single", "test/bpc_n") == 1 && csv_number(csv, "lmx", "single", "test/bpc_mean") == 2.5,
          "single: n=1, mean 2.5");
    CHECK(isnan(csv_number(csv, "lmx", "single", "test/bpc_std")) && isnan(csv_number(csv, "lmx", "single", "test/bpc_ci95_lo")),
          "single: no std or CI");
    CHECK(csv_number(csv, "lmx", "single", "n_pending") == 1, "single: 1 pending");
    CHECK(csv_number(csv, "lmx", "broken", "test/bpc_n") == 0 && csv_number(csv, "lmx", "broken", "n_failed") == 1,
          "broken: no completed run, 1 failed");
}

/* The Markdown table of lmx. */
static void check_lm_md(const char *md) {
    CHECK(strstr(md, "| variant |") && strstr(md, "test BPC ↓") && strstr(md, "test PPL ↓"), "header: %.300s", md);
    CHECK(strstr(md, "| base | 2.200 ± 0.200 (n=3) |"), "base row: %s", md);
    CHECK(strstr(md, "| rope | **1.975** ± 0.106 (n=2; 1 failed) |"), "rope row, bold best: %s", md);
    CHECK(strstr(md, "| single | 2.500 ± — (n=1; 1 pending) |"), "single row with n=1: %s", md);
    CHECK(strstr(md, "| broken | no completed run (1 failed) |"), "row without completed run: %s", md);
    CHECK(strstr(md, "-0.125 ± 0.318 (2 pairs)"), "paired difference cell: %s", md);
    CHECK(strstr(md, "| base |") && strstr(strstr(md, "| base |"), "baseline"), "baseline marked");
    CHECK(strstr(md, "25.9k") || strstr(md, "26.0k"), "params shown");
    CHECK(strstr(md, FAIL_TEXT) && strstr(md, "`rope` seed 3"), "failed run listed with its error");
    CHECK(strstr(md, "out of memory \\| really"), "a '|' in an error is escaped");
    CHECK(strstr(md, "`single` seed 2 (pending)"), "pending run listed");
    /* exactly one bold value in the bpc column (rope) and one in ppl (rope) */
    int bold = 0;
    for (const char *p = md; (p = strstr(p, "**")); p += 2) bold++;
    CHECK(bold == 4 + 2, "bold markers: %d (two bold cells and the note's **bold**)", bold);
}

/* The LaTeX table of lmx. */
static void check_lm_tex(const char *tex) {
    CHECK(strstr(tex, "\\toprule") && strstr(tex, "\\midrule") && strstr(tex, "\\bottomrule"), "booktabs rules");
    CHECK(strstr(tex, "\\begin{tabular}") && strstr(tex, "\\end{tabular}"), "tabular");
    CHECK(strstr(tex, "\\textbf{1.975} $\\pm$ 0.106"), "bold best with $\\pm$: %s", tex);
    CHECK(strstr(tex, "2.200 $\\pm$ 0.200 &"), "a complete row without a note: %s", tex);
    CHECK(strstr(tex, "95\\%") && !strstr(tex, "± "), "escaped percent, no raw ±");
    CHECK(strstr(tex, "out of memory | really") || strstr(tex, "out of memory \\textbar"), "error text in the note");
    /* every row has as many & as the header */
    int rows = 0;
    for (const char *p = strstr(tex, "\\midrule"); p && (p = strstr(p, "\\\\\n")); p += 3) rows++;
    CHECK(rows == 4, "4 body rows, got %d", rows);
}

TEST(report_writes_tables_and_plots) {
    report_fx f;
    if (fx_open(&f)) return;
    db_close(build_db(&f));
    char out[16384];
    int rc = fx_lrpe(&f, NULL, "report", out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    CHECK(strstr(out, "lrpe report: lmx: 4 rows, 6 of 9 runs completed") != NULL, "progress line: %s", out);
    CHECK(strstr(out, "lrpe report: benchx:") != NULL, "progress line of the benchmark: %s", out);
    static const char *const lm_files[] = {"table.md", "table.csv", "table.tex", "curves.dat", "curves.gp", "final.dat",
                                           "final.gp", "curves.svg", "final.svg", "curves.png", "final.png"};
    char rel[256];
    for (size_t i = 0; i < sizeof lm_files / sizeof lm_files[0]; i++) {
        snprintf(rel, sizeof rel, "results/report/lmx/%s", lm_files[i]);
        check_nonempty(&f, rel);
    }
    static const char *const bench_files[] = {"table.md", "table.csv", "table.tex", "bench.dat", "throughput.gp",
                                              "memory.gp", "throughput.svg", "memory.svg", "throughput.png", "memory.png"};
    for (size_t i = 0; i < sizeof bench_files / sizeof bench_files[0]; i++) {
        snprintf(rel, sizeof rel, "results/report/benchx/%s", bench_files[i]);
        check_nonempty(&f, rel);
    }
    check_png(&f, "results/report/lmx/curves.png");
    check_png(&f, "results/report/lmx/final.png");
    check_png(&f, "results/report/benchx/throughput.png");
    check_png(&f, "results/report/benchx/memory.png");
    check_svg(&f, "results/report/lmx/curves.svg");
    check_svg(&f, "results/report/lmx/final.svg");
    check_svg(&f, "results/report/benchx/throughput.svg");
    check_svg(&f, "results/report/benchx/memory.svg");

    char *md = slurp(&f, "results/report/lmx/table.md", NULL), *csv = slurp(&f, "results/report/lmx/table.csv", NULL);
    char *tex = slurp(&f, "results/report/lmx/table.tex", NULL), *cdat = slurp(&f, "results/report/lmx/curves.dat", NULL);
    char *gp = slurp(&f, "results/report/lmx/curves.gp", NULL);
    if (md) check_lm_md(md);
    if (csv) check_lm_csv(csv);
    if (tex) check_lm_tex(tex);
    /* curves: base at step 10 has seeds 3.0, 3.2, 3.4 -> mean 3.2, min 3.0, max 3.4 */
    CHECK(cdat && strstr(cdat, "# base\n# step mean min max n\n10 3.2 3 3.4 3\n"), "curve block of base: %s", SHOW(cdat));
    CHECK(gp && strstr(gp, "pngcairo") && strstr(gp, "set terminal svg") && strstr(gp, "set xlabel 'training step'") &&
              strstr(gp, "set key outside") && strstr(gp, "title 'rope'") && !strstr(gp, "title 'broken'"),
          "curves.gp: %s", SHOW(gp));
    free(md), free(csv), free(tex), free(cdat), free(gp);

    char *bmd = slurp(&f, "results/report/benchx/table.md", NULL), *bcsv = slurp(&f, "results/report/benchx/table.csv", NULL);
    char *btex = slurp(&f, "results/report/benchx/table.tex", NULL), *tgp = slurp(&f, "results/report/benchx/throughput.gp", NULL);
    CHECK(bmd && strstr(bmd, "| 1024 | softmax | softmax | 2000 | 8192.0 | 12.5 | 40.0 | 356 |"), "bench softmax 1024: %s", SHOW(bmd));
    CHECK(bmd && strstr(bmd, "| 1024 | linear | linear | **5000** | 3276.8 | 12.5 | 40.0 | **116** |"), "bench linear 1024 bold: %s", SHOW(bmd));
    CHECK(bmd && strstr(bmd, "| 256 | softmax | softmax | **8000** |"), "bench softmax 256 fastest: %s", SHOW(bmd));
    CHECK(bmd && strstr(bmd, "out of memory at 2048 tokens"), "failed bench point listed: %s", SHOW(bmd));
    CHECK(bcsv && strstr(bcsv, "benchx,linear,linear,linear,512,5000,1638.4,12.5,40,108,1,4,3,1,4500,5500\n"),
          "bench csv: %s", SHOW(bcsv));
    CHECK(bcsv && strstr(bcsv, "benchx,softmax,softmax,softmax,512,4000,2048,12.5,40,164,1,3,3,0,,\n"),
          "bench csv without min/max: %s", SHOW(bcsv));
    char *bdat = slurp(&f, "results/report/benchx/bench.dat", NULL);
    CHECK(bdat && strstr(bdat, "\n512 5000 1638.4 12.5 40 108 1 4500 5500\n") && strstr(bdat, "\n512 4000 2048 12.5 40 164 1 4000 4000\n"),
          "bench.dat: %s", SHOW(bdat));
    free(bdat);
    CHECK(btex && strstr(btex, "\\toprule") && strstr(btex, "\\bottomrule") && strstr(btex, "\\textbf{5000}"), "bench tex: %s", SHOW(btex));
    CHECK(tgp && strstr(tgp, "set logscale x 2") && strstr(tgp, "tokens/s") && strstr(tgp, "using 1:2:8:9 with yerrorlines") &&
              strstr(tgp, "title 'linear'") && strstr(tgp, "set key outside"),
          "throughput.gp: %s", SHOW(tgp));
    free(bmd), free(bcsv), free(btex), free(tgp);

    char *rep = slurp(&f, "results/report/report.md", NULL);
    CHECK(rep && strstr(rep, "](lmx/curves.png)") && strstr(rep, "](lmx/final.png)") && strstr(rep, "](benchx/throughput.png)") &&
              strstr(rep, "](benchx/memory.png)") && strstr(rep, "(lmx/table.tex)") && strstr(rep, "(lmx/table.csv)"),
          "report.md links: %s", SHOW(rep));
    CHECK(rep && strstr(rep, "| rope | **1.975**"), "report.md embeds the table");
    CHECK(rep && strstr(rep, "Test CPU 9000") && strstr(rep, "testhost") && strstr(rep, "abc123def456") &&
              strstr(rep, "kjv.txt md5 0123abcd") && strstr(rep, "OpenBLAS 0.3.21 openmp") && strstr(rep, "gcc 12.2.0"),
          "report.md provenance");
    CHECK(rep && strstr(rep, "task.kind = lm") && strstr(rep, "- `rope`: `model.encoding` = `rope`"), "report.md config");
    CHECK(rep && strstr(rep, "Runs: 6 of 9 completed, 2 failed, 0 interrupted, 0 running, 1 pending"), "report.md counts");
    CHECK(rep && strstr(rep, "first run started 20"), "report.md dates");
    free(rep);
    fx_close(&f);
}

TEST(report_baseline_and_experiment_options) {
    report_fx f;
    if (fx_open(&f)) return;
    db_close(build_db(&f));
    char out[16384];
    int rc = fx_lrpe(&f, NULL, "report --experiment lmx --baseline rope --out rep", out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    CHECK(!strstr(out, "benchx"), "only lmx reported: %s", out);
    char *csv = slurp(&f, "rep/lmx/table.csv", NULL);
    CHECK(csv != NULL, "rep/lmx/table.csv written");
    if (csv) {
        CHECK_CLOSE(csv_number(csv, "lmx", "base", "diff"), 0.125, 1e-9, 0, "base - rope");
        CHECK(csv_number(csv, "lmx", "rope", "diff") == 0, "rope is the baseline");
        CHECK(isnan(csv_number(csv, "lmx", "broken", "diff")) && csv_number(csv, "lmx", "broken", "n_pairs") == 0,
              "no pairs for a row without completed runs");
        /* single has seed 1 only: one pair, a difference but no interval */
        CHECK_CLOSE(csv_number(csv, "lmx", "single", "diff"), 2.5 - 1.9, 1e-9, 0, "single - rope");
        CHECK(isnan(csv_number(csv, "lmx", "single", "diff_ci_lo")), "one pair: no interval");
    }
    free(csv);
    struct stat st;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/rep/benchx", f.dir);
    CHECK(stat(path, &st) != 0, "benchx not written with --experiment lmx");
    fx_close(&f);
}

TEST(report_refuses_bad_usage) {
    report_fx f;
    if (fx_open(&f)) return;
    char out[16384];
    int rc = fx_lrpe(&f, NULL, "report", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "no database at results/results.db") && strstr(out, "lrpe run"), "no database: %d %s", rc, out);
    CHECK(!strchr(out, '\n') || strchr(out, '\n') == out + strlen(out) - 1, "one line: %s", out);
    db_close(build_db(&f));
    rc = fx_lrpe(&f, NULL, "report --experiment nope", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "no experiment 'nope'") && strstr(out, "lmx") && strstr(out, "benchx"),
          "unknown experiment lists the known ones: %d %s", rc, out);
    rc = fx_lrpe(&f, NULL, "report --experiment lmx --baseline nope", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "no variant 'nope'") && strstr(out, "base rope single broken"), "unknown variant: %d %s", rc, out);
    rc = fx_lrpe(&f, NULL, "report --frobnicate", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "unexpected argument '--frobnicate'") && strstr(out, "usage: lrpe report"), "bad option: %d %s", rc, out);
    rc = fx_lrpe(&f, NULL, "report --db", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "--db needs a value"), "missing value: %d %s", rc, out);
    /* an output folder that cannot be made: a file stands where a folder should be */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/blocker", f.dir);
    FILE *fp = fopen(path, "w");
    if (fp) fclose(fp);
    rc = fx_lrpe(&f, NULL, "report --out blocker/rep", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "cannot create folder blocker/rep"), "unwritable output: %d %s", rc, out);
    fx_close(&f);
}

TEST(report_without_gnuplot_writes_tables_and_fails) {
    report_fx f;
    if (fx_open(&f)) return;
    db_close(build_db(&f));
    char out[16384];
    int rc = fx_lrpe(&f, "LRPE_GNUPLOT=/nonexistent/gnuplot", "report --experiment lmx", out, sizeof out);
    CHECK(rc == 1, "exit %d: %s", rc, out);
    CHECK(strstr(out, "gnuplot not found") && strstr(out, "make deps"), "names make deps: %s", out);
    check_nonempty(&f, "results/report/lmx/table.md");
    check_nonempty(&f, "results/report/lmx/table.tex");
    check_nonempty(&f, "results/report/lmx/curves.gp");
    check_nonempty(&f, "results/report/report.md");
    struct stat st;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/results/report/lmx/curves.png", f.dir);
    CHECK(stat(path, &st) != 0, "no PNG without gnuplot");
    char *rep = slurp(&f, "results/report/report.md", NULL);
    CHECK(rep && strstr(rep, "make deps") && !strstr(rep, "![validation curves]"), "report.md says why: %s", SHOW(rep));
    free(rep);
    fx_close(&f);
}

/* The config leaves the report reads (db_config_leaves, SQLite's json_tree): nested keys joined
 * with dots, in the order of the text; strings decoded; numbers, true, false and null as their
 * text; arrays as their JSON text; objects not leaves; and broken configs named, not read. */
TEST(report_config_leaves_flatten_config) {
    char dir[PATH_MAX], path[PATH_MAX + 32], err[512];
    if (test_tmpdir(dir, sizeof dir, "cfgleaves")) return;
    snprintf(path, sizeof path, "%s/r.db", dir);
    db *d = NULL;
    if (db_open(&d, path, 0, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return;
    }
    const char *json = "{\"model\":{\"lrpe\":{\"p\":\"dct\",\"theta\":\"fixed\"},\"d_model\":16,\"eps\":1e-08,\"clip\":1.50},"
                       " \"task\": {\"path\":\"a\\\"b\\u00e9\\n\", \"list\":[1,[2,{\"x\":3}]], \"on\":true, \"none\":null},"
                       "\"e\":{}}";
    static const char *const bad[] = {"", "[1]", "{\"a\":}", "{\"a\":1", "{\"a\" 1}", "{\"a\":\"x}", "{\"a\":1} x", "\"s\"", NULL};
    const int nbad = (int)(sizeof bad / sizeof bad[0]);
    db_run_info info = {"good", "x", "v", 1, json};
    CHECK(db_runs_register(d, &info, 1, err, sizeof err) == 0, "register: %s", err);
    for (int i = 0; i < nbad; i++) {
        char id[32];
        snprintf(id, sizeof id, "bad-%d", i);
        db_run_info b = {id, "x", "v", 1, bad[i]};
        CHECK(db_runs_register(d, &b, 1, err, sizeof err) == 0, "register %s: %s", id, err);
    }
    db_text *kv = NULL;
    int n = 0;
    const char *problem = "unset";
    CHECK(db_config_leaves(d, "good", &kv, &n, &problem, err, sizeof err) == 0, "read: %s", err);
    CHECK(problem == NULL, "a good config has no problem: %s", problem ? problem : "");
    static const char *const want[][2] = {{"model.lrpe.p", "dct"}, {"model.lrpe.theta", "fixed"}, {"model.d_model", "16"},
                                          {"model.eps", "1e-08"},  {"model.clip", "1.50"},        {"task.path", "a\"b\xc3\xa9\n"},
                                          {"task.list", "[1,[2,{\"x\":3}]]"}, {"task.on", "true"}, {"task.none", "null"}};
    const int nwant = (int)(sizeof want / sizeof want[0]);
    CHECK(n == nwant, "%d leaves, got %d", nwant, n);
    for (int i = 0; i < n && i < nwant && kv; i++) /* in the order of the text */
        CHECK(kv[i].key && kv[i].value && !strcmp(kv[i].key, want[i][0]) && !strcmp(kv[i].value, want[i][1]),
              "leaf %d: %s = %s, want %s = %s", i, kv[i].key ? kv[i].key : "(null)", kv[i].value ? kv[i].value : "(null)",
              want[i][0], want[i][1]);
    for (int i = 0; i < n && kv; i++)
        CHECK(strcmp(kv[i].key, "model.lrpe") && strcmp(kv[i].key, "e") && strcmp(kv[i].key, "model") &&
                  strncmp(kv[i].key, "task.list.", 10),
              "objects and what is inside arrays are not leaves: %s", kv[i].key);
    free(kv);
    for (int i = 0; i < nbad; i++) {
        char id[32];
        snprintf(id, sizeof id, "bad-%d", i);
        kv = NULL, n = -1, problem = NULL;
        CHECK(db_config_leaves(d, id, &kv, &n, &problem, err, sizeof err) == 0, "read %s: %s", id, err);
        CHECK(problem && strstr(problem, "config_json") && !kv && n == 0, "refuses %s: %s", bad[i] ? bad[i] : "NULL",
              problem ? problem : "(no problem)");
        free(kv);
    }
    problem = NULL;
    db_config_leaves(d, "bad-1", &kv, &n, &problem, err, sizeof err);
    CHECK(problem && strstr(problem, "not an object"), "[1]: %s", problem ? problem : "");
    problem = NULL;
    db_config_leaves(d, "bad-2", &kv, &n, &problem, err, sizeof err);
    CHECK(problem && strstr(problem, "not valid JSON"), "{\"a\":}: %s", problem ? problem : "");
    problem = NULL;
    db_config_leaves(d, "bad-8", &kv, &n, &problem, err, sizeof err);
    CHECK(problem && strstr(problem, "no config"), "NULL: %s", problem ? problem : "");
    CHECK(db_config_leaves(d, "nope", &kv, &n, &problem, err, sizeof err) == DB_ERR && strstr(err, "nope"),
          "no such run: %s", err);
    db_close(d);
    test_rmtree(dir);
}

/* Runs whose config_json is not valid JSON, not an object or missing: each is named on stderr
 * (one line) and under the tables, the report exits 1, and none is put in a row: not merged with
 * another broken run, not into its variant's row (whose numbers and label stay as they were). */
TEST(report_broken_config_is_an_error) {
    report_fx f;
    if (fx_open(&f)) return;
    char out[16384];
    db *d = build_db(&f);
    if (!d) {
        fx_close(&f);
        return;
    }
    /* two different broken configs of one variant, both completed with numbers */
    add_run(d, "mangled-1", "lmx", "mangled", 1, "{\"model\":{\"attention\":\"linear\",", DB_COMPLETED, NULL);
    lm_summary(d, "mangled-1", 1.0, 50.0);
    add_run(d, "mangled-2", "lmx", "mangled", 2, "{\"model\":oops}", DB_COMPLETED, NULL);
    lm_summary(d, "mangled-2", 3.0, 50.0);
    /* a broken seed of a good variant: its number would change rope's mean */
    add_run(d, "rope-4", "lmx", "rope", 4, "[\"not an object\"]", DB_COMPLETED, NULL);
    lm_summary(d, "rope-4", 0.5, 90.0);
    add_run(d, "nocfg-1", "lmx", "nocfg", 1, NULL, DB_FAILED, "crashed");
    /* an experiment whose only run is broken */
    add_run(d, "lone-1", "lonex", "alone", 1, "not json at all", DB_COMPLETED, NULL);
    lm_summary(d, "lone-1", 2.0, 50.0);
    db_close(d);
    int rc = fx_lrpe(&f, NULL, "report", out, sizeof out);
    CHECK(rc == 1, "exit 1 for unreadable configs, got %d: %s", rc, out);
    static const char *const lines[][2] = {{"mangled-1", "not valid JSON"}, {"mangled-2", "not valid JSON"},
                                           {"rope-4", "not an object"},     {"nocfg-1", "no config recorded"},
                                           {"lone-1", "not valid JSON"}};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "run %s (", lines[i][0]);
        const char *l = strstr(out, key), *bol = l, *eol = l ? strchr(l, '\n') : NULL;
        while (bol && bol > out && bol[-1] != '\n') bol--;
        CHECK(l && eol && !strncmp(bol, "lrpe report: ", 13) && strstr(bol, lines[i][1]) && strstr(bol, lines[i][1]) < eol,
              "one stderr line names %s and '%s': %s", lines[i][0], lines[i][1], out);
    }
    CHECK(strstr(out, "lrpe report: lmx: 4 rows, 9 of 13 runs completed"), "rows and counts: %s", out);
    CHECK(strstr(out, "lrpe report: wrote "), "the report is still written: %s", out);

    char *md = slurp(&f, "results/report/lmx/table.md", NULL), *csv = slurp(&f, "results/report/lmx/table.csv", NULL);
    char *tex = slurp(&f, "results/report/lmx/table.tex", NULL), *rep = slurp(&f, "results/report/report.md", NULL);
    char *lone = slurp(&f, "results/report/lonex/table.md", NULL);
    CHECK(md && csv && tex && rep && lone, "tables and report.md written");
    if (md) {
        check_lm_md(md); /* the rows, numbers and labels of build_db's data, unchanged */
        CHECK(!strstr(md, "| mangled") && !strstr(md, "| nocfg") && !strstr(md, "| rope ("), "no row of a broken config: %s", md);
        CHECK(strstr(md, "Runs whose config cannot be read") && strstr(md, "- `mangled` seed 1 (run `mangled-1`, completed): config_json is not valid JSON") &&
                  strstr(md, "- `mangled` seed 2 (run `mangled-2`, completed): config_json is not valid JSON") &&
                  strstr(md, "- `rope` seed 4 (run `rope-4`, completed): config_json is JSON but not an object") &&
                  strstr(md, "- `nocfg` seed 1 (run `nocfg-1`, failed): no config recorded") && strstr(md, "crashed"),
              "each broken run listed under the table: %s", md);
        CHECK(!strstr(md, "runs completed."), "not 'All runs completed': %s", md);
    }
    if (csv) {
        check_lm_csv(csv);
        CHECK(!strstr(csv, "mangled") && !strstr(csv, "nocfg"), "no CSV row of a broken config: %s", csv);
    }
    if (tex) {
        check_lm_tex(tex);
        CHECK(strstr(tex, "mangled seed 1 completed, in no row: config\\_json is not valid JSON") &&
                  strstr(tex, "rope seed 4 completed, in no row") && strstr(tex, "nocfg seed 1 failed (crashed), in no row"),
              "the LaTeX note lists them: %s", tex);
    }
    if (rep) {
        CHECK(strstr(rep, "Runs: 9 of 13 completed, 3 failed") && strstr(rep, "4 runs have an unreadable config and are in no row"),
              "report.md counts: %s", rep);
        CHECK(strstr(rep, "Resolved config of the first run (`base-1`") && strstr(rep, "- `rope`: `model.encoding` = `rope`\n"),
              "report.md config, no key marked as swept: %s", rep);
    }
    if (lone) {
        CHECK(strstr(lone, "- `alone` seed 1 (run `lone-1`, completed): config_json is not valid JSON (begins 'not json at all')"),
              "an experiment without a readable config lists its run: %s", lone);
        CHECK(!strstr(lone, "| alone"), "and has no row: %s", lone);
    }
    CHECK(rep && strstr(rep, "No run has a readable config"), "report.md of lonex says so: %s", SHOW(rep));
    free(md), free(csv), free(tex), free(rep), free(lone);
    int nplots;
    char *html = write_html(&f, "results/report", 0, &nplots) ? NULL : slurp(&f, "results/report/report.html", NULL);
    CHECK(html && strstr(html, "<td>mangled</td><td class=\"r\" data-v=\"1\">1</td><td>mangled-1</td><td>completed</td>"
                               "<td>in no row: config_json is not valid JSON") &&
              strstr(html, "<p>No rows: no run has a readable config") && !strstr(html, "<tbody>\n</tbody>"),
          "report.html lists the unreadable configs, and no empty table: %s", SHOW(html));
    free(html);
    fx_close(&f);
}

/* A run shared by two experiments (same config, trained once) is a row of both tables, under
 * each experiment's own variant name, with its numbers. */
TEST(report_shared_run_in_both_experiments) {
    report_fx f;
    if (fx_open(&f)) return;
    char err[512], out[16384];
    db *d = build_db(&f);
    for (int s = 1; s <= 2; s++) { /* ablx registers rope-1 and rope-2 of lmx as its row "P householder" */
        char id[32];
        snprintf(id, sizeof id, "rope-%d", s);
        db_run_info info = {id, "ablx", "P householder", s, LM_CFG("rope")};
        CHECK(d && db_runs_register(d, &info, 1, err, sizeof err) == 0, "register: %s", err);
    }
    db_close(d);
    int rc = fx_lrpe(&f, NULL, "report --out rep", out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    char *abl = slurp(&f, "rep/ablx/table.csv", NULL), *lm = slurp(&f, "rep/lmx/table.csv", NULL);
    CHECK(abl && lm, "both tables written");
    if (abl && lm) {
        CHECK_CLOSE(csv_number(abl, "ablx", "P householder", "test/bpc_mean"), (rope_bpc[0] + rope_bpc[1]) / 2, 1e-9, 0,
                    "ablx row from the shared runs");
        CHECK_CLOSE(csv_number(lm, "lmx", "rope", "test/bpc_mean"), (rope_bpc[0] + rope_bpc[1]) / 2, 1e-9, 0,
                    "lmx still has its rope row");
    }
    free(abl), free(lm);
    fx_close(&f);
}

/* An experiment evaluated at several lengths gets lengths.md/.csv/.tex and a lengths plot: one row
 * per variant, one column per length, mean ± std over seeds, the best of each column bold, and
 * "n/a" with its reason where a run recorded one (provenance eval@L); report.md embeds the table. */
TEST(report_length_extrapolation_table_and_plot) {
    report_fx f;
    if (fx_open(&f)) return;
    char path[PATH_MAX + 64], err[512], id[64], out[8192];
    snprintf(path, sizeof path, "%s/results/results.db", f.dir);
    db *d = NULL;
    CHECK(db_open(&d, path, 0, err, sizeof err) == 0, "%s", err);
    static const char *const variant[2] = {"rope", "learned"};
    for (int v = 0; d && v < 2; v++)
        for (int s = 1; s <= 2; s++) {
            snprintf(id, sizeof id, "%s-%d", variant[v], s);
            add_run(d, id, "ext", variant[v], s, v ? LM_CFG("none") : LM_CFG("rope"), DB_COMPLETED, NULL);
            lm_summary(d, id, 2.0 + v, 100.0);
            /* rope: 2.0 / 2.1 / 2.3 (+0.1 for seed 2) at 64 / 128 / 256; learned: 1.9 at 64, n/a beyond */
            db_value kv[] = {{"test/bpc@64", v ? 1.9 : 2.0 + 0.1 * (s - 1)}, {"test/bpc@128", v ? NAN : 2.1 + 0.1 * (s - 1)},
                             {"test/bpc@256", v ? NAN : 2.3 + 0.1 * (s - 1)}};
            CHECK(db_summary_set(d, id, kv, 3, err, sizeof err) == 0, "%s", err);
            db_text na[] = {{"eval@128", "n/a: the learned absolute table ends at the training length 64"},
                            {"eval@256", "n/a: the learned absolute table ends at the training length 64"}};
            if (v) CHECK(db_provenance_set(d, id, na, 2, err, sizeof err) == 0, "%s", err);
        }
    db_close(d);
    int rc = fx_lrpe(&f, NULL, "report", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "lengths.png/.svg"), "report: exit %d:\n%s", rc, out);
    size_t n;
    char *md = slurp(&f, "results/report/ext/lengths.md", &n), *csv = slurp(&f, "results/report/ext/lengths.csv", &n),
         *tex = slurp(&f, "results/report/ext/lengths.tex", &n), *rep = slurp(&f, "results/report/report.md", &n);
    CHECK(md && strstr(md, "| variant | 64 (train) | 128 | 256 |") && strstr(md, "| rope | 2.050 ± 0.071 (n=2) | **2.150** ± 0.071 (n=2) |") &&
              strstr(md, "| learned | **1.900** ± 0.000 (n=2) | n/a: the learned absolute table ends at the training length 64 |"),
          "lengths.md:\n%s", SHOW(md));
    CHECK(csv && strstr(csv, "learned,128,64,test/bpc,,,0,,,n/a: the learned absolute table ends") &&
              strstr(csv, "rope,256,64,test/bpc,2.35,"),
          "lengths.csv:\n%s", SHOW(csv));
    CHECK(tex && strstr(tex, "\\toprule") && strstr(tex, "64$^*$") && strstr(tex, "& n/a"), "lengths.tex:\n%s", SHOW(tex));
    CHECK(rep && strstr(rep, "Length extrapolation: test BPC") && strstr(rep, "[lengths.csv](ext/lengths.csv)"),
          "report.md lacks the length table");
    check_png(&f, "results/report/ext/lengths.png");
    check_svg(&f, "results/report/ext/lengths.svg");
    free(md), free(csv), free(tex), free(rep);
    fx_close(&f);
}

/* ---------------------------------------------------------------- report.html */

#define ESC_EXP "esc<&>"              /* an experiment and a variant whose names need escaping in HTML */
#define ESC_VARIANT "v<&>\"1'"
#define ESC_ERROR "<script>alert('x')</script> & more"

/* Adds experiment ESC_EXP to d: ESC_VARIANT and plain with two seeds each, a failed run whose
 * error is markup. */
static void add_escape_experiment(db *d) {
    char id[32];
    for (int s = 1; s <= 2; s++) {
        snprintf(id, sizeof id, "esc-%d", s);
        add_run(d, id, ESC_EXP, ESC_VARIANT, s, LM_CFG("rope"), DB_COMPLETED, NULL);
        lm_summary(d, id, 2.0 + 0.1 * s, 100.0);
        snprintf(id, sizeof id, "plain-%d", s);
        add_run(d, id, ESC_EXP, "plain", s, LM_CFG("none"), DB_COMPLETED, NULL);
        lm_summary(d, id, 2.5 - 0.1 * s, 100.0);
    }
    add_run(d, "plain-3", ESC_EXP, "plain", 3, LM_CFG("none"), DB_FAILED, ESC_ERROR);
}

/* A new folder with build_db's data and add_escape_experiment's, `lrpe report` run on it and
 * results/report/report.html written (write_html); 0, or -1 after recording a failure (the folder
 * then removed). */
static int html_fixture(report_fx *f, int *nplots) {
    if (fx_open(f)) return -1;
    db *d = build_db(f);
    if (d) add_escape_experiment(d);
    db_close(d);
    char out[16384];
    int rc = fx_lrpe(f, NULL, "report", out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    char *written = slurp(f, "results/report/report.html", NULL); /* by lrpe report itself */
    CHECK(written && strstr(written, "<svg") && strstr(written, "</html>") && strstr(out, "wrote results/report/report.html"),
          "lrpe report wrote report.html: %s", out);
    free(written);
    if (rc || write_html(f, "results/report", 0, nplots)) {
        fx_close(f);
        return -1;
    }
    return 0;
}

/* The values of the attributes named name (e.g. " id=") in html, quoted with ' or ", as
 * malloc'd strings into *vals; how many. */
static int attr_values(const char *html, const char *name, char ***vals) {
    int n = 0, cap = 0;
    *vals = NULL;
    for (const char *p = html; (p = strstr(p, name)); p++) {
        const char *v = p + strlen(name), *end = (*v == '"' || *v == '\'') ? strchr(v + 1, *v) : NULL;
        if (!end) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*vals, (size_t)cap * sizeof *grown);
            if (!grown) break;
            *vals = grown;
        }
        (*vals)[n++] = strndup(v + 1, (size_t)(end - v - 1));
    }
    return n;
}

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Releases attr_values' strings. */
static void free_values(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Checks html loads nothing: no src attribute, stylesheet link or script file; every href is a
 * fragment or a relative path (no scheme, no host, not absolute). */
static void check_self_contained(const char *html) {
    CHECK(!strstr(html, " src=") && !strstr(html, "<link") && !strstr(html, "@import") && !strstr(html, "url(http") &&
              !strstr(html, "url(//"),
          "report.html names no resource to load");
    char **href;
    int n = attr_values(html, "href=", &href);
    CHECK(n > 10, "links in report.html: %d", n);
    for (int i = 0; i < n; i++)
        CHECK(href[i] && href[i][0] != '/' && !strstr(href[i], "://") && !strstr(href[i], "http"),
              "href '%s' is not relative", href[i] ? href[i] : "(null)");
    free_values(href, n);
}

/* Checks every id in html is unique and every reference to one (href="#id", url(#id)) names one. */
static void check_ids(const char *html) {
    char **ids, **refs;
    int nid = attr_values(html, " id=", &ids), nref = attr_values(html, "href=", &refs);
    qsort(ids, (size_t)nid, sizeof *ids, by_string);
    for (int i = 1; i < nid; i++) CHECK(strcmp(ids[i - 1], ids[i]), "id '%s' twice in report.html", ids[i]);
    int checked = 0;
    for (int i = 0; i < nref; i++) {
        if (refs[i][0] != '#') continue;
        const char *key = refs[i] + 1;
        CHECK(bsearch(&key, ids, (size_t)nid, sizeof *ids, by_string), "href to a missing id: %s", refs[i]);
        checked++;
    }
    for (const char *p = html; (p = strstr(p, "url(#")); p++) {
        char id[128];
        snprintf(id, sizeof id, "%.*s", (int)strcspn(p + 5, ")"), p + 5);
        const char *key = id;
        CHECK(bsearch(&key, ids, (size_t)nid, sizeof *ids, by_string), "url(#%s) names no id", id);
        checked++;
    }
    CHECK(nid > 50 && checked > 10, "%d ids, %d references checked", nid, checked);
    free_values(ids, nid);
    free_values(refs, nref);
}

/* How many times needle occurs in s. */
static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* report.html: one page that loads nothing from anywhere, with every experiment's table rows,
 * an inline <svg> per plot (prolog dropped, ids unique across plots), the failed and unfinished
 * runs with their errors, configuration and provenance, and every text from the database escaped. */
TEST(report_html_is_self_contained) {
    report_fx f;
    int nplots;
    if (html_fixture(&f, &nplots)) return;
    char *html = slurp(&f, "results/report/report.html", NULL);
    CHECK(html != NULL, "report.html written");
    if (!html) {
        fx_close(&f);
        return;
    }
    CHECK(!strncmp(html, "<!DOCTYPE html>", 15) && strstr(html, "<meta charset=\"utf-8\">") &&
              strstr(html, "name=\"viewport\" content=\"width=device-width"),
          "an HTML5 page with a viewport");
    check_self_contained(html);
    check_ids(html);
    /* the tables: every row of lmx, benchx and the escaped experiment */
    static const char *const rows[] = {
        "<tr><td>base</td><td data-v=\"2.2\">2.200 ± 0.200 (n=3)</td>",
        "<tr><td>rope</td><td data-v=\"1.975\"><b>1.975</b> ± 0.106 (n=2; 1 failed)</td>",
        "<tr><td>single</td><td data-v=\"2.5\">2.500 ± — (n=1; 1 pending)</td>",
        "<tr><td>broken</td><td>no completed run (1 failed)</td>",
        "<td data-v=\"-0.125\">-0.125 ± 0.318 (2 pairs)</td>",
        "<tr><td class=\"r\" data-v=\"1024\">1024</td><td>linear</td><td>linear</td><td class=\"r\" data-v=\"5000\"><b>5000</b></td>",
        "<tr><td class=\"r\" data-v=\"256\">256</td><td>softmax</td><td>softmax</td><td class=\"r\" data-v=\"8000\"><b>8000</b></td>",
        "<tr><td>v&lt;&amp;&gt;&quot;1&#39;</td>", "<tr><td>plain</td>"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) CHECK(strstr(html, rows[i]), "table row %s", rows[i]);
    CHECK(count_of(html, "<table class=\"sortable\">") == count_of(html, "<tbody>\n<tr>"), "every table has rows");
    CHECK(strstr(html, "<th>Δ test BPC vs <code>base</code></th>"), "the difference column names its baseline");
    /* the plots: one inline svg each, without the XML prolog or doctype or a namespace URL */
    CHECK(nplots == 6 && count_of(html, "<svg role=\"img\"") == nplots, "%d inline svgs for %d plots",
          count_of(html, "<svg role=\"img\""), nplots);
    CHECK(!strstr(html, "<?xml") && !strstr(html, "<!DOCTYPE svg") && !strstr(html, "xmlns"), "SVG prologs dropped");
    CHECK(strstr(html, "id='p0-0-gpPt0'") && strstr(html, "href='#p0-0-gpPt") && strstr(html, "id='p1-0-gpPt0'"),
          "gnuplot's ids prefixed per plot");
    CHECK(strstr(html, "<a href=\"lmx/curves.svg\">SVG</a>") && strstr(html, "<a href=\"lmx/table.csv\">table.csv</a>") &&
              strstr(html, "<a href=\"benchx/bench.dat\">bench.dat</a>"),
          "relative links to the report's files");
    /* the runs not in the means, with their errors */
    CHECK(strstr(html, "<td>rope</td><td class=\"r\" data-v=\"3\">3</td><td>rope-3</td><td>failed</td><td>" FAIL_TEXT "</td>"),
          "the failed run with its error");
    CHECK(strstr(html, "out of memory | really") && strstr(html, "out of memory at 2048 tokens"), "the other errors");
    CHECK(strstr(html, "<td>single</td><td class=\"r\" data-v=\"2\">2</td><td>single-2</td><td>pending</td>"), "the pending run");
    /* escaped: the experiment, the variant and the error, nowhere raw */
    CHECK(strstr(html, "<h2>esc&lt;&amp;&gt;</h2>") && strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"),
          "names and errors escaped");
    CHECK(!strstr(html, ESC_EXP) && !strstr(html, ESC_VARIANT) && !strstr(html, "<script>alert"), "no raw database text");
    CHECK(count_of(html, "<script") == 1 && strstr(html, "<script>\n(function () {"), "one inline script");
    /* configuration and provenance */
    CHECK(strstr(html, "<tr><td>task.kind</td><td>lm</td></tr>") && strstr(html, "<tr><td>rope</td><td>model.encoding = rope</td></tr>"),
          "configuration");
    CHECK(strstr(html, "<tr><td>CPU</td><td>Test CPU 9000</td></tr>") && strstr(html, "abc123def456") &&
              strstr(html, "OpenBLAS 0.3.21 openmp") && strstr(html, "kjv.txt md5 0123abcd"),
          "provenance");
    CHECK(strstr(html, "Runs: 6 of 9 completed, 2 failed, 0 interrupted, 0 running, 1 pending."), "run counts");
    free(html);
    /* without gnuplot: no plot inlined, each says why, the page says how to get them */
    html = write_html(&f, "results/report", 1, &nplots) ? NULL : slurp(&f, "results/report/report.html", NULL);
    CHECK(html && !strstr(html, "<svg") && count_of(html, "(not drawn: gnuplot is missing; make deps installs it)") == nplots &&
              strstr(html, "<p class=\"warn\">Plots were not drawn: gnuplot is not installed"),
          "report.html without gnuplot: %.300s", SHOW(html));
    free(html);
    fx_close(&f);
}

/* report.html in a real browser: Debian's chromium, headless, loads it from disk with no console
 * error and nothing fetched, every table has rows and every plot a size, the screenshot is not
 * blank, the page fits a narrow window, and a click on a column head sorts the rows (another
 * reverses them): tests/browser/check_report.py, each browser step under a deadline. */
TEST(report_html_in_browser) {
    if (access("/usr/bin/chromium", X_OK)) {
        test_skip("Debian's chromium is not installed (apt-get install chromium): report.html not checked in a browser");
        return;
    }
    char script[PATH_MAX];
    if (!realpath("tests/browser/check_report.py", script)) {
        test_fail(__FILE__, __LINE__, "tests/browser/check_report.py not found (run the tests from the source tree)");
        return;
    }
    report_fx f;
    int nplots;
    if (html_fixture(&f, &nplots)) return;
    char out[16384], cmd[4 * PATH_MAX + 256];
    /* each browser step has 60 s; the whole check 180 s, then it and its browser are killed */
    snprintf(cmd, sizeof cmd, "TMPDIR='%s' timeout -k 5 180 /usr/bin/python3 '%s' --timeout 60 --screenshot '%s/shot.png' "
             "'%s/results/report/report.html'", f.dir, script, f.dir, f.dir);
    int rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "check_report: ok:"), "browser check (exit %d%s): %s", rc,
          rc == 124 || rc == 137 ? ", killed after 180 s" : "", out);
    fx_close(&f);
}
