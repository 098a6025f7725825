/* `lrpe report [options]` (report_options below): tables and plots
 * of every experiment in the results store (or one), into OUT/<experiment>/, and OUT/report.md
 * linking them. The database is opened read-only. Progress and errors go to stderr, one line
 * each. Exit 0; 1 when something could not be written (or gnuplot is missing or failed: the
 * tables and plot scripts are still written) or when a run's config cannot be read (the report is
 * still written, that run in no row and listed under its tables); 2 for bad usage (unknown option,
 * experiment or variant, no database or no runs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "fs.h"
#include "report_out.h"
#include "schema.h"

#define DEFAULT_OUT "results/report"

static int cmd_report(int argc, char **argv);

static const cli_option report_options[] = {
    {"db", 0, 1, "FILE", "the results database, read-only (default " DB_DEFAULT_PATH ")"},
    {"out", 0, 1, "DIR", "where the report goes (default " DEFAULT_OUT ")"},
    {"experiment", 0, 1, "NAME", "only this experiment (default: every one in the database)"},
    {"baseline", 0, 1, "VARIANT", "the variant the differences are taken to (default: each experiment's first)"},
    {NULL, 0, 0, NULL, NULL},
};

const cli_command cli_report = {"report", "", "tables (md, csv, tex) and gnuplot plots per experiment, report.md and report.html",
                                report_options, cmd_report, 0, NULL};

/* The command's options. */
typedef struct report_args {
    const char *db, *out, *experiment, *baseline;
} report_args;

/* One option into the report_args ctx (cli_each). */
static int report_option(void *ctx, const cli_option *o, char *v) {
    report_args *a = ctx;
    if (cli_is(o, "db")) a->db = v;
    else if (cli_is(o, "out")) a->out = v;
    else if (cli_is(o, "experiment")) a->experiment = v;
    else if (cli_is(o, "baseline")) a->baseline = v;
    return 0;
}

/* Parses argv into a (defaults filled); 0, or 2 after printing the reason. */
static int parse_args(int argc, char **argv, report_args *a) {
    *a = (report_args){DB_DEFAULT_PATH, DEFAULT_OUT, NULL, NULL};
    return cli_parse(&cli_report, argc, argv, report_option, a);
}

/* Writes dir/name with fn(f, e); 0, or -1 after printing the reason. */
static int write_table(const char *dir, const char *name, int (*fn)(FILE *, const rep_exp *), const rep_exp *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    errno = 0;
    FILE *f = fopen(path, "w");
    int bad = !f || fn(f, e) != 0;
    int eno = errno;
    if (f && fclose(f) && !bad) bad = 1, eno = errno;
    if (bad) {
        fprintf(stderr, "lrpe report: cannot write %s: %s (check that the --out folder is writable)\n", path,
                strerror(eno ? eno : EIO));
        return -1;
    }
    return 0;
}

/* Applies --baseline to every experiment; 0, or 2 when no experiment has that variant. */
static int apply_baseline(rep_set *s, const char *variant) {
    if (!variant) return 0;
    int ok = 0;
    for (int x = 0; x < s->nexps; x++) ok += rep_set_baseline(&s->exps[x], variant) == 0;
    if (ok == s->nexps) return 0;
    for (int x = 0; x < s->nexps; x++) {
        const rep_exp *e = &s->exps[x];
        if (rep_set_baseline(&s->exps[x], variant) == 0) continue;
        fprintf(stderr, "lrpe report: experiment %s has no variant '%s'%s; its variants:", e->name, variant,
                ok ? " (its baseline stays the first variant)" : "");
        for (int k = 0; k < e->nrows; k++)
            if (k == 0 || strcmp(e->rows[k].variant, e->rows[k - 1].variant)) fprintf(stderr, " %s", e->rows[k].variant);
        fputc('\n', stderr);
    }
    return ok ? 0 : 2;
}

/* Names each run of s whose config cannot be read, one line each; 1 when there was one, else 0. */
static int report_bad_configs(const rep_set *s) {
    int any = 0;
    for (int x = 0; x < s->nexps; x++) {
        const rep_exp *e = &s->exps[x];
        for (int i = 0; i < e->nruns; i++) {
            const rep_run *a = &e->runs[i];
            if (!a->cfg_problem) continue;
            fprintf(stderr, "lrpe report: %s: run %s (variant %s, seed %lld, %s): %s; it is in no row of the tables, "
                            "listed under them\n",
                    e->name, a->r->run_id, a->r->variant ? a->r->variant : "-", a->r->seed, db_status_name(a->status),
                    a->cfg_problem);
            any = 1;
        }
    }
    return any;
}

/* Writes the tables and plots of experiment e into out/<e->dir>; 0 or 1 (something failed). */
static int write_experiment(const rep_exp *e, const char *out, const char *gnuplot, rep_written *w) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", out, e->dir);
    char why[4400];
    if (fs_mkdirs(dir, why, sizeof why)) {
        fprintf(stderr, "lrpe report: %s (check that the --out folder is writable)\n", why);
        return 1;
    }
    int bad = write_table(dir, "table.md", rep_table_md, e) | write_table(dir, "table.csv", rep_table_csv, e) |
              write_table(dir, "table.tex", rep_table_tex, e);
    if (e->nlengths)
        bad |= write_table(dir, "lengths.md", rep_lengths_md, e) | write_table(dir, "lengths.csv", rep_lengths_csv, e) |
               write_table(dir, "lengths.tex", rep_lengths_tex, e);
    w->tables_ok = !bad;
    char err[4096 + 256];
    if (rep_plot(e, dir, gnuplot, &w->plots, err, sizeof err)) {
        fprintf(stderr, "lrpe report: %s\n", err);
        bad = 1;
    }
    int done = 0;
    for (int i = 0; i < e->nruns; i++) done += e->runs[i].status == DB_COMPLETED;
    fprintf(stderr, "lrpe report: %s: %d row%s, %d of %d runs completed -> %s/ (table.md, table.csv, table.tex",
            e->name, e->nrows, e->nrows == 1 ? "" : "s", done, e->nruns, dir);
    for (int i = 0; i < w->plots.n; i++) fprintf(stderr, ", %s%s", w->plots.name[i], gnuplot ? ".png/.svg" : ".gp");
    fprintf(stderr, ")%s\n", bad ? " with errors" : "");
    return bad ? 1 : 0;
}

/* Entry point of `lrpe report`. */
static int cmd_report(int argc, char **argv) {
    report_args a;
    if (parse_args(argc, argv, &a)) return 2;
    if (access(a.db, F_OK) != 0) {
        fprintf(stderr, "lrpe report: no database at %s (record runs with `lrpe run SPEC.yaml` first, or name one with "
                        "--db FILE)\n", a.db);
        return 2;
    }
    char err[4096];
    db *d = NULL;
    rep_set s;
    if (db_open(&d, a.db, DB_OPEN_READONLY, err, sizeof err)) {
        fprintf(stderr, "lrpe report: %s\n", err);
        return 1;
    }
    static db_text defaults[16]; /* the keys recorded configs leave out at their default (schema.h: SK_OMIT_DEFAULT) */
    int ndefaults = 0;
    for (int i = 0; i < schema_count() && ndefaults < 16; i++)
        if (schema_at(i)->flags & SK_OMIT_DEFAULT) defaults[ndefaults++] = (db_text){schema_at(i)->key, schema_at(i)->def};
    rep_key_defaults(defaults, ndefaults);
    int rc = rep_load(&s, d, a.experiment, err, sizeof err);
    db_close(d);
    if (rc) {
        if (rc == REP_ENOEXP) fprintf(stderr, "lrpe report: %s (choose one with --experiment NAME)\n", err);
        else if (rc == REP_ENORUNS) fprintf(stderr, "lrpe report: %s (record runs with `lrpe run SPEC.yaml` first)\n", err);
        else fprintf(stderr, "lrpe report: %s\n", err);
        rep_free(&s);
        return rc == REP_ENOEXP || rc == REP_ENORUNS ? 2 : 1;
    }
    if ((rc = apply_baseline(&s, a.baseline))) {
        rep_free(&s);
        return rc;
    }
    char gpbuf[4096];
    const char *gnuplot = rep_find_gnuplot(gpbuf, sizeof gpbuf);
    if (!gnuplot)
        fprintf(stderr, "lrpe report: gnuplot not found (install it with `make deps`); writing the tables and the plot "
                        "scripts, no images\n");
    rep_written *w = calloc((size_t)s.nexps + 1, sizeof *w);
    int failed = report_bad_configs(&s);
    failed |= !gnuplot;
    char why[4400] = "out of memory";
    if (!w || fs_mkdirs(a.out, why, sizeof why)) {
        fprintf(stderr, "lrpe report: %s (check that the --out folder is writable)\n", why);
        free(w);
        rep_free(&s);
        return 1;
    }
    for (int x = 0; x < s.nexps; x++) failed |= write_experiment(&s.exps[x], a.out, gnuplot, &w[x]);
    char path[4096];
    snprintf(path, sizeof path, "%s/report.md", a.out);
    FILE *f = fopen(path, "w");
    int bad = !f || rep_markdown(f, &s, w, a.db, !gnuplot);
    if (f && fclose(f)) bad = 1;
    if (bad) fprintf(stderr, "lrpe report: cannot write %s: %s (check that the --out folder is writable)\n", path, strerror(errno ? errno : EIO));
    else fprintf(stderr, "lrpe report: wrote %s\n", path);
    if (rep_html(a.out, &s, w, a.db, !gnuplot, why, sizeof why)) {
        fprintf(stderr, "lrpe report: %s\n", why);
        bad = 1;
    } else {
        fprintf(stderr, "lrpe report: wrote %s/report.html\n", a.out);
    }
    free(w);
    rep_free(&s);
    return failed || bad ? 1 : 0;
}
