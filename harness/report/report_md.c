/* The top-level report.md: per experiment its table (embedded), links to its table files and
 * plots (PNG embedded, SVG, data and script linked), the resolved configuration and what each
 * variant changes, the data, the machine and build the runs came from, the dates and run counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_out.h"
#include "version.h"

/* A GitHub-style anchor for heading text: lower case, spaces to '-', other punctuation dropped. */
static void anchor(FILE *f, const char *s) {
    for (; *s; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') fputc(c - 'A' + 'a', f);
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') fputc(c, f);
        else if (c == ' ') fputc('-', f);
    }
}

/* The line with the run counts and the dates of the runs. */
static void md_runs_line(FILE *f, const rep_exp *e) {
    int c[DB_NSTATUS];
    const char *first, *last;
    rep_count_runs(e, c);
    rep_run_dates(e, &first, &last);
    fprintf(f, "Task %s / %s. Runs: %d of %d completed, %d failed, %d interrupted, %d running, %d pending. ", e->kind,
            e->dataset, c[DB_COMPLETED], e->nruns, c[DB_FAILED], c[DB_INTERRUPTED], c[DB_RUNNING], c[DB_PENDING]);
    if (e->nbadcfg)
        fprintf(f, "%d run%s an unreadable config and %s in no row (listed under the table). ", e->nbadcfg,
                e->nbadcfg == 1 ? " has" : "s have", e->nbadcfg == 1 ? "is" : "are");
    fprintf(f, "Dates (UTC): first run started %s, last run ended %s.\n\n", first ? first : "never", last ? last : "never");
}

/* Links to the table files and the plots of e (PNG embedded unless gnuplot was missing). */
static void md_files(FILE *f, const rep_exp *e, const rep_written *w, int gnuplot_missing) {
    fprintf(f, "Table files: [table.md](%s/table.md), [table.csv](%s/table.csv) (every number, 95%% CIs), "
               "[table.tex](%s/table.tex) (LaTeX, booktabs)%s.\n\n",
            e->dir, e->dir, e->dir, w->tables_ok ? "" : " -- **not all could be written, see the messages of lrpe report**");
    if (!w->plots.n) {
        fprintf(f, "No plots: no completed run recorded the plotted metrics.\n\n");
        return;
    }
    const char *dat = e->bench ? "bench" : NULL;
    for (int i = 0; i < w->plots.n; i++) {
        const char *n = w->plots.name[i];
        if (!gnuplot_missing) fprintf(f, "![%s](%s/%s.png)\n\n", w->plots.caption[i], e->dir, n);
        fprintf(f, "%s: [PNG](%s/%s.png), [SVG](%s/%s.svg); data [%s.dat](%s/%s.dat), script [%s.gp](%s/%s.gp)%s\n\n",
                w->plots.caption[i], e->dir, n, e->dir, n, dat ? dat : n, e->dir, dat ? dat : n, n, e->dir, n,
                gnuplot_missing ? " (not drawn: gnuplot is missing; `make deps` installs it)" : "");
    }
}

/* One changed config key of a row (rep_row_changes), as Markdown into the FILE * ctx. */
static void md_change(void *ctx, int i, const char *key, const char *value) {
    if (value) fprintf(ctx, "%s `%s` = `%s`", i ? "," : "", key, value);
    else fprintf(ctx, "%s `%s` absent", i ? "," : "", key);
}

/* The resolved config of the reference run (the first whose config can be read), and per row the
 * keys where its config differs. */
static void md_config(FILE *f, const rep_exp *e) {
    if (e->ref < 0) {
        fprintf(f, "**Configuration.** No run has a readable config (see the runs listed under the table).\n\n");
        return;
    }
    const rep_run *r0 = &e->runs[e->ref];
    fprintf(f, "**Configuration.** Resolved config of the first run%s (`%.12s`, variant `%s`, seed %lld):\n\n```\n",
            e->ref ? " with a readable config" : "", r0->r->run_id, r0->r->variant ? r0->r->variant : "-", r0->r->seed);
    for (int k = 0; k < r0->ncfg; k++)
        fprintf(f, "%s = %s\n", r0->cfg[k].key, r0->cfg[k].value && *r0->cfg[k].value ? r0->cfg[k].value : "\"\"");
    if (!r0->ncfg) fprintf(f, "(empty: the config is {})\n");
    fprintf(f, "```\n\nWhat each row changes from it:\n\n");
    for (int k = 0; k < e->nrows; k++) {
        fprintf(f, "- `%s`:", e->rows[k].label);
        if (!rep_row_changes(e, &e->rows[k], md_change, f)) fprintf(f, " nothing (the reference config)");
        fputc('\n', f);
    }
    fputc('\n', f);
}

/* One distinct provenance value (rep_prov_values) as Markdown into the FILE * ctx. */
static void md_prov_value(void *ctx, int i, const char *value, int count) {
    fprintf(ctx, "%s`", i ? "; " : "");
    rep_md_puts(ctx, value);
    fprintf(ctx, "`");
    if (count) fprintf(ctx, " (%d run%s)", count, count == 1 ? "" : "s");
}

/* The provenance table: data, machine, build. */
static void md_provenance(FILE *f, const rep_exp *e) {
    fprintf(f, "**Provenance** (values over the runs that recorded them; a count where runs differ):\n\n"
               "| | |\n|---|---|\n");
    for (const rep_field *p = rep_prov_fields; p->key; p++) {
        if (!rep_prov_shown(e, p->key)) continue;
        fprintf(f, "| %s | ", p->label);
        if (!rep_prov_values(e, p->key, md_prov_value, f)) fprintf(f, "not recorded");
        fprintf(f, " |\n");
    }
    fputc('\n', f);
}

int rep_markdown(FILE *f, const rep_set *s, const rep_written *w, const char *db_path, int gnuplot_missing) {
    char now[32];
    fprintf(f, "# lrpe report\n\nFrom `%s`, written %s UTC by lrpe %s. One section per experiment; each "
               "experiment's folder holds its tables (Markdown, CSV with every number and 95%% confidence "
               "intervals, LaTeX with booktabs rules) and plots (PNG, SVG, and the gnuplot data and script "
               "that drew them).\n\n",
            db_path, rep_utc_now(now, sizeof now), lrpe_version());
    if (gnuplot_missing)
        fprintf(f, "**Plots were not drawn: gnuplot is not installed** (`make deps` installs it; then run "
                   "`lrpe report` again, or `gnuplot NAME.gp` in an experiment's folder).\n\n");
    for (int x = 0; x < s->nexps; x++) {
        fprintf(f, "- [%s](#", s->exps[x].name);
        anchor(f, s->exps[x].name);
        fprintf(f, ")%s\n", s->exps[x].bench ? " (benchmark)" : "");
    }
    for (int x = 0; x < s->nexps; x++) {
        const rep_exp *e = &s->exps[x];
        fprintf(f, "\n## %s\n\n", e->name);
        md_runs_line(f, e);
        rep_table_md(f, e);
        if (e->nlengths) {
            rep_lengths_md(f, e);
            fprintf(f, "Length tables: [lengths.md](%s/lengths.md), [lengths.csv](%s/lengths.csv), [lengths.tex](%s/lengths.tex).\n\n",
                    e->dir, e->dir, e->dir);
        }
        md_files(f, e, &w[x], gnuplot_missing);
        md_config(f, e);
        md_provenance(f, e);
    }
    return ferror(f) ? -1 : 0;
}
