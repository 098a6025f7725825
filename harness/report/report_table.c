/* The accuracy table of an experiment (one row per variant, the primary metrics as mean +- std
 * over the completed seeds, the paired difference to the baseline, params and throughput) as
 * cells (which the Markdown and HTML writers print), CSV and LaTeX; and the escaping helpers and
 * the cell tables the other writers share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_out.h"

/* ---------------------------------------------------------------- escaping */

void rep_tex_puts(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '\\': fputs("\\textbackslash{}", f); break;
        case '~': fputs("\\textasciitilde{}", f); break;
        case '^': fputs("\\textasciicircum{}", f); break;
        case '|': fputs("\\textbar{}", f); break;
        case '<': fputs("\\textless{}", f); break;
        case '>': fputs("\\textgreater{}", f); break;
        case '_': case '%': case '&': case '#': case '$': case '{': case '}':
            fputc('\\', f), fputc(*s, f); break;
        default: fputc(*s, f);
        }
    }
}

/* The n bytes at s with '|' escaped and line breaks as spaces (a Markdown table cell). */
static void md_putn(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; s && i < n; i++) {
        if (s[i] == '|') fputc('\\', f);
        fputc(s[i] == '\n' ? ' ' : s[i], f);
    }
}

void rep_md_puts(FILE *f, const char *s) { md_putn(f, s, s ? strlen(s) : 0); }

void rep_csv_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.10g", v);
}

void rep_csv_str(FILE *f, const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ---------------------------------------------------------------- tables as cells */

/* lead, then fmt formatted with ap, then tail, malloc'd; NULL when out of memory. */
static char *cell_text(const char *lead, const char *fmt, va_list ap, const char *tail) {
    char *mid = NULL, *s = NULL;
    if (vasprintf(&mid, fmt, ap) < 0) return NULL;
    if (asprintf(&s, "%s%s%s", lead, mid, tail) < 0) s = NULL;
    free(mid);
    return s;
}

void rep_cells_col(rep_cells *t, char align, const char *code, const char *fmt, ...) {
    if (t->ncols == REP_MAXCOLS) {
        t->oom = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    rep_cell *c = &t->head[t->ncols];
    *c = (rep_cell){cell_text("", fmt, ap, code ? code : ""), 0, code ? (int)strlen(code) : 0, NAN};
    va_end(ap);
    t->align[t->ncols++] = align;
    t->oom |= !c->text;
}

void rep_cells_add(rep_cells *t, double key, int bold, const char *lead, const char *fmt, ...) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        rep_cell *b = realloc(t->body, (size_t)cap * sizeof *b);
        if (!b) {
            t->oom = 1;
            return;
        }
        t->body = b, t->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    rep_cell *c = &t->body[t->n++];
    *c = (rep_cell){cell_text(lead, fmt, ap, ""), bold ? (int)strlen(lead) : 0, 0, key};
    va_end(ap);
    t->oom |= !c->text;
}

int rep_cells_rows(const rep_cells *t) { return t->ncols ? t->n / t->ncols : 0; }

void rep_cells_free(rep_cells *t) {
    for (int i = 0; i < t->ncols; i++) free(t->head[i].text);
    for (int i = 0; i < t->n; i++) free(t->body[i].text);
    free(t->body);
    memset(t, 0, sizeof *t);
}

/* One Markdown table row of cells c[n]: " text |" each, bold as **, code in backticks. */
static void md_row(FILE *f, const rep_cell *c, int n) {
    fputc('|', f);
    for (int i = 0; i < n; i++) {
        const char *s = c[i].text ? c[i].text : "";
        const size_t len = strlen(s), b = (size_t)c[i].nbold, k = len - (size_t)c[i].ncode;
        fputc(' ', f);
        if (!len) {
            fputc('|', f);
            continue;
        }
        if (b) fputs("**", f), md_putn(f, s, b), fputs("**", f);
        md_putn(f, s + b, k - b);
        if (c[i].ncode) fputc('`', f), md_putn(f, s + k, (size_t)c[i].ncode), fputc('`', f);
        fputs(" |", f);
    }
    fputc('\n', f);
}

int rep_cells_md(FILE *f, const rep_cells *t) {
    if (t->oom) return -1;
    md_row(f, t->head, t->ncols);
    fputc('|', f);
    for (int i = 0; i < t->ncols; i++) fputs(t->align[i] == 'r' ? "---:|" : "---|", f);
    fputc('\n', f);
    for (int r = 0; r < rep_cells_rows(t); r++) md_row(f, t->body + r * t->ncols, t->ncols);
    return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- numbers as text */

/* v with dec decimals into buf ("-0.000" shown as "0.000"); sign forces a leading '+'. */
static const char *fmt_fixed(char *buf, size_t len, double v, int dec, int sign) {
    if (fabs(v) < 0.5 * pow(10.0, -dec)) v = 0.0;
    snprintf(buf, len, sign ? "%+.*f" : "%.*f", dec, v);
    return buf;
}

/* A count such as a parameter number, short: 812, 25.9k, 1.20M; dash when missing. */
static const char *fmt_count(char *buf, size_t len, double v, const char *dash) {
    if (!isfinite(v)) snprintf(buf, len, "%s", dash);
    else if (fabs(v) < 1e4) snprintf(buf, len, "%.0f", v);
    else if (fabs(v) < 1e6) snprintf(buf, len, "%.1fk", v / 1e3);
    else snprintf(buf, len, "%.2fM", v / 1e6);
    return buf;
}

/* Mean of summary key over the completed runs of w (NaN when none). */
static double row_mean(const rep_exp *e, const rep_row *w, const char *key) {
    return rep_row_ci(e, w, key).mean;
}

/* The row's index in e. */
static int row_index(const rep_exp *e, const rep_row *w) { return (int)(w - e->rows); }

/* Largest n of metric m over the rows: the seeds a complete row has. */
static int max_n(const rep_exp *e, const rep_metric *m) {
    int n = 0;
    for (int k = 0; k < e->nrows; k++) {
        int c = rep_row_ci(e, &e->rows[k], m->key).n;
        if (c > n) n = c;
    }
    return n;
}

/* Column text pieces of one metric cell, shared by the cells (Markdown, HTML) and LaTeX. */
typedef struct cell {
    char mean[32], std[32], note[160];
    double value;      /* the mean as shown (percent where the metric says so), NaN when none */
    int n, best, none; /* none: the row has no completed run with this metric */
} cell;

/* The cell of metric m in row w. */
static cell metric_cell(const rep_exp *e, const rep_row *w, const rep_metric *m, int dec) {
    cell c = {0};
    stats_ci ci = rep_row_ci(e, w, m->key);
    double s = m->percent ? 100.0 : 1.0;
    c.n = ci.n;
    c.none = ci.n == 0;
    c.value = ci.mean * s;
    c.best = rep_is_best(e, m, w);
    rep_count_note(w, ci.n, c.note, sizeof c.note);
    if (!c.none) fmt_fixed(c.mean, sizeof c.mean, ci.mean * s, dec, 0);
    if (ci.n >= 2) fmt_fixed(c.std, sizeof c.std, ci.std * s, dec, 0);
    return c;
}

/* Text of the paired-difference cell of row w into buf (Markdown or LaTeX flavour); the difference
 * as shown into *key when key is not NULL (0 for the baseline, NaN when none). */
static const char *diff_cell(const rep_exp *e, const rep_row *w, int dec, int tex, char *buf, size_t len, double *key) {
    const rep_metric *m = &e->prim[0];
    const char *pm = tex ? "$\\pm$" : "±", *dash = tex ? "--" : "—";
    const double s = m->percent ? 100.0 : 1.0;
    stats_ci d = rep_row_diff(e, w, m->key);
    if (key) *key = w->baseline == row_index(e, w) ? 0.0 : d.n ? d.mean * s : NAN;
    if (w->baseline == row_index(e, w)) return snprintf(buf, len, "baseline"), buf;
    if (w->baseline < 0) return snprintf(buf, len, "%s (no baseline row)", dash), buf;
    if (d.n == 0) return snprintf(buf, len, "%s (no common seed)", dash), buf;
    char mean[48], half[32], num[32];
    fmt_fixed(num, sizeof num, d.mean * s, dec, 1); /* "+0.500", "-0.125" */
    if (tex) snprintf(mean, sizeof mean, "$%c$%s", num[0], num + 1); /* a math minus, not a hyphen */
    else snprintf(mean, sizeof mean, "%s", num);
    if (d.n >= 2) fmt_fixed(half, sizeof half, d.half * s, dec, 0);
    else snprintf(half, sizeof half, "%s", dash);
    snprintf(buf, len, "%s %s %s (%d pair%s)", mean, pm, half, d.n, d.n == 1 ? "" : "s");
    return buf;
}

/* ---------------------------------------------------------------- Markdown */

/* The note above the table: what the cells mean. */
static void md_header_note(FILE *f, const rep_exp *e) {
    int pct = 0;
    for (int i = 0; i < e->nprim; i++) pct |= e->prim[i].percent;
    fprintf(f, "Experiment `%s` (task %s / %s). Each cell: mean ± sample std over the completed seeds (n seeds; "
               "\"—\" where n=1 gives no std); best mean in **bold** (↓ lower is better, ↑ higher). "
               "Δ: paired difference to `%s` by seed, mean ± 95%% CI half-width (Student t). "
               "params: trainable parameters; tokens/s: training throughput (mean).%s\n\n",
            e->name, e->kind, e->dataset, e->baseline ? e->baseline : "-",
            pct ? " Accuracy and F1 in percent (Δ in percentage points); the CSV holds fractions." : "");
}

/* Adds the cell of metric m in row w to t: "mean ± std (n=..)", the mean bold when best. */
static void add_metric(rep_cells *t, const rep_exp *e, const rep_row *w, const rep_metric *m, int dec, int first) {
    cell c = metric_cell(e, w, m, dec);
    if (c.none) {
        const char *rest = strchr(c.note, ';'); /* "(n=0; 3 failed)" -> "(3 failed)" */
        if (first && w->count[DB_COMPLETED] == 0)
            rep_cells_add(t, NAN, 0, "", "no completed run (%s", rest ? rest + 2 : "none)");
        else rep_cells_add(t, NAN, 0, "", "— %s", c.note);
        return;
    }
    rep_cells_add(t, c.value, c.best, c.mean, " ± %s %s", c.n >= 2 ? c.std : "—", c.note);
}

int rep_table_cells(rep_cells *t, const rep_exp *e) {
    if (e->bench) return rep_bench_cells(t, e);
    rep_cells_col(t, 'l', NULL, "variant");
    for (int i = 0; i < e->nprim; i++)
        rep_cells_col(t, 'l', NULL, "%s%s %s", e->prim[i].label, e->prim[i].percent ? " (%)" : "",
                      e->prim[i].lower_better ? "↓" : "↑");
    rep_cells_col(t, 'l', e->baseline ? e->baseline : "-", "Δ %s vs ", e->prim[0].label);
    rep_cells_col(t, 'r', NULL, "params");
    rep_cells_col(t, 'r', NULL, "tokens/s");
    int dec[REP_MAXPRIM];
    for (int i = 0; i < e->nprim; i++) dec[i] = rep_decimals(rep_column_scale(e, &e->prim[i]));
    for (int k = 0; k < e->nrows; k++) {
        const rep_row *w = &e->rows[k];
        char buf[160], cnt[32];
        double diff, params = row_mean(e, w, "params"), tps = row_mean(e, w, "perf/tokens_per_s");
        rep_cells_add(t, NAN, 0, "", "%s", w->label);
        for (int i = 0; i < e->nprim; i++) add_metric(t, e, w, &e->prim[i], dec[i], i == 0);
        diff_cell(e, w, dec[0], 0, buf, sizeof buf, &diff);
        rep_cells_add(t, diff, 0, "", "%s", buf);
        rep_cells_add(t, params, 0, "", "%s", fmt_count(cnt, sizeof cnt, params, "—"));
        if (isfinite(tps)) rep_cells_add(t, tps, 0, "", "%.0f", tps);
        else rep_cells_add(t, NAN, 0, "", "—");
    }
    return t->oom ? -1 : 0;
}

int rep_table_md(FILE *f, const rep_exp *e) {
    if (e->bench) return rep_bench_md(f, e);
    rep_cells t = {0};
    md_header_note(f, e);
    int rc = rep_table_cells(&t, e) || rep_cells_md(f, &t) ? -1 : 0;
    rep_cells_free(&t);
    fputc('\n', f);
    rep_missing_md(f, e);
    return rc || ferror(f) ? -1 : 0;
}

void rep_missing_md(FILE *f, const rep_exp *e) {
    int nfail = 0, nother = 0;
    for (int i = 0; i < e->nruns; i++) {
        if (e->runs[i].cfg_problem) continue;
        if (e->runs[i].status == DB_FAILED) nfail++;
        else if (e->runs[i].status != DB_COMPLETED) nother++;
    }
    if (nfail) {
        fprintf(f, "Failed runs (not in the means):\n\n");
        for (int i = 0; i < e->nruns; i++) {
            const db_run *r = e->runs[i].r;
            if (e->runs[i].status != DB_FAILED || e->runs[i].cfg_problem) continue;
            fprintf(f, "- `%s` seed %lld (run `%.12s`): ", r->variant ? r->variant : "-", r->seed, r->run_id);
            rep_md_puts(f, r->error ? r->error : "(no reason recorded)");
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    if (nother) {
        fprintf(f, "Not finished (not in the means): ");
        int first = 1;
        for (int i = 0; i < e->nruns; i++) {
            const rep_run *a = &e->runs[i];
            if (a->status == DB_FAILED || a->status == DB_COMPLETED || a->cfg_problem) continue;
            fprintf(f, "%s`%s` seed %lld (%s)", first ? "" : ", ", a->r->variant ? a->r->variant : "-", a->r->seed,
                    db_status_name(a->status));
            first = 0;
        }
        fprintf(f, ". %s on the same spec finishes them.\n\n", e->bench ? "`lrpe bench`" : "`lrpe run`");
    }
    if (e->nbadcfg) {
        fprintf(f, "Runs whose config cannot be read (in no row, not in the means: which row they belong to is "
                   "unknown):\n\n");
        for (int i = 0; i < e->nruns; i++) {
            const rep_run *a = &e->runs[i];
            if (!a->cfg_problem) continue;
            fprintf(f, "- `%s` seed %lld (run `%.12s`, %s): ", a->r->variant ? a->r->variant : "-", a->r->seed,
                    a->r->run_id, db_status_name(a->status));
            rep_md_puts(f, a->cfg_problem);
            if (a->status == DB_FAILED) {
                fputs("; its error: ", f);
                rep_md_puts(f, a->r->error ? a->r->error : "(no reason recorded)");
            }
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    if (!nfail && !nother && !e->nbadcfg) fprintf(f, "All %d runs completed.\n\n", e->nruns);
}

/* ---------------------------------------------------------------- CSV */

int rep_table_csv(FILE *f, const rep_exp *e) {
    if (e->bench) return rep_bench_csv(f, e);
    fprintf(f, "experiment,variant,label,n_runs,n_completed,n_failed,n_interrupted,n_running,n_pending");
    for (int i = 0; i < e->nprim; i++) {
        const char *k = e->prim[i].key;
        fprintf(f, ",%s_mean,%s_std,%s_n,%s_ci95_lo,%s_ci95_hi", k, k, k, k, k);
    }
    fprintf(f, ",diff_metric,baseline,diff,diff_ci_lo,diff_ci_hi,n_pairs,params,tokens_per_s\n");
    for (int k = 0; k < e->nrows; k++) {
        const rep_row *w = &e->rows[k];
        rep_csv_str(f, e->name), fputc(',', f);
        rep_csv_str(f, w->variant), fputc(',', f);
        rep_csv_str(f, w->label);
        fprintf(f, ",%d,%d,%d,%d,%d,%d", w->nruns, w->count[DB_COMPLETED], w->count[DB_FAILED],
                w->count[DB_INTERRUPTED], w->count[DB_RUNNING], w->count[DB_PENDING]);
        for (int i = 0; i < e->nprim; i++) {
            stats_ci c = rep_row_ci(e, w, e->prim[i].key);
            double v[5] = {c.mean, c.std, c.n, c.lo, c.hi};
            for (int j = 0; j < 5; j++) fputc(',', f), rep_csv_num(f, v[j]);
        }
        fprintf(f, ",%s,", e->prim[0].key);
        rep_csv_str(f, w->baseline >= 0 ? e->rows[w->baseline].label : "");
        stats_ci d = rep_row_diff(e, w, e->prim[0].key);
        double v[6] = {d.mean, d.lo, d.hi, d.n, row_mean(e, w, "params"), row_mean(e, w, "perf/tokens_per_s")};
        for (int j = 0; j < 6; j++) fputc(',', f), rep_csv_num(f, v[j]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- LaTeX */

/* One metric cell in LaTeX: the n note only where n differs from the full count or runs are
 * missing (the caption gives the full count). */
static void tex_metric(FILE *f, const rep_exp *e, const rep_row *w, const rep_metric *m, int dec, int nfull) {
    cell c = metric_cell(e, w, m, dec);
    int missing = w->count[DB_COMPLETED] != w->nruns;
    fputs(" & ", f);
    if (c.none) fputs("--", f);
    else if (c.best) fprintf(f, "\\textbf{%s} $\\pm$ %s", c.mean, c.n >= 2 ? c.std : "--");
    else fprintf(f, "%s $\\pm$ %s", c.mean, c.n >= 2 ? c.std : "--");
    if (c.n != nfull || missing) {
        fputs(" {\\footnotesize ", f);
        rep_tex_puts(f, c.note);
        fputs("}", f);
    }
}

int rep_table_tex(FILE *f, const rep_exp *e) {
    if (e->bench) return rep_bench_tex(f, e);
    int nfull = max_n(e, &e->prim[0]);
    fprintf(f, "%% lrpe report: experiment %s; needs \\usepackage{booktabs}\n\\begin{table}[htbp]\n\\centering\n"
               "\\caption{Experiment \\texttt{", e->name);
    rep_tex_puts(f, e->name);
    fputs("} (", f);
    rep_tex_puts(f, e->kind);
    fputs(" / ", f);
    rep_tex_puts(f, e->dataset);
    fprintf(f, "): mean $\\pm$ std over %d seed%s (n noted where fewer); $\\Delta$: paired difference to \\texttt{",
            nfull, nfull == 1 ? "" : "s");
    rep_tex_puts(f, e->baseline ? e->baseline : "-");
    fputs("} by seed with its 95\\% confidence half-width. Best in bold.}\n\\label{tab:", f);
    rep_tex_puts(f, e->dir);
    fprintf(f, "}\n\\begin{tabular}{l");
    for (int i = 0; i < e->nprim; i++) fputc('c', f);
    fprintf(f, "crr}\n\\toprule\nVariant");
    for (int i = 0; i < e->nprim; i++) {
        fputs(" & ", f);
        rep_tex_puts(f, e->prim[i].label);
        fprintf(f, "%s %s", e->prim[i].percent ? " (\\%)" : "", e->prim[i].lower_better ? "$\\downarrow$" : "$\\uparrow$");
    }
    fputs(" & $\\Delta$ ", f);
    rep_tex_puts(f, e->prim[0].label);
    fprintf(f, "%s & Params & Tokens/s \\\\\n\\midrule\n", e->prim[0].percent ? " (pp)" : "");
    int dec[REP_MAXPRIM];
    for (int i = 0; i < e->nprim; i++) dec[i] = rep_decimals(rep_column_scale(e, &e->prim[i]));
    for (int k = 0; k < e->nrows; k++) {
        const rep_row *w = &e->rows[k];
        char buf[160], cnt[32];
        rep_tex_puts(f, w->label);
        for (int i = 0; i < e->nprim; i++) tex_metric(f, e, w, &e->prim[i], dec[i], nfull);
        fprintf(f, " & %s", diff_cell(e, w, dec[0], 1, buf, sizeof buf, NULL)); /* our own text: already LaTeX */
        double tps = row_mean(e, w, "perf/tokens_per_s");
        fputs(" & ", f);
        fputs(fmt_count(cnt, sizeof cnt, row_mean(e, w, "params"), "--"), f);
        if (isfinite(tps)) fprintf(f, " & %.0f \\\\\n", tps);
        else fprintf(f, " & -- \\\\\n");
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}\n");
    rep_tex_missing(f, e, "Not in the means", 1);
    fprintf(f, "\\end{table}\n");
    return ferror(f) ? -1 : 0;
}

void rep_tex_missing(FILE *f, const rep_exp *e, const char *lead, int with_seed) {
    int first = 1;
    for (int i = 0; i < e->nruns; i++) {
        const rep_run *a = &e->runs[i];
        if (a->status == DB_COMPLETED && !a->cfg_problem) continue;
        fprintf(f, first ? "\n\\smallskip\n{\\footnotesize %s: " : "; ", lead);
        rep_tex_puts(f, a->r->variant ? a->r->variant : "-");
        if (with_seed) fprintf(f, " seed %lld", a->r->seed);
        fprintf(f, " %s", db_status_name(a->status));
        if (a->status == DB_FAILED && a->r->error) {
            fputs(" (", f);
            rep_tex_puts(f, a->r->error);
            fputs(")", f);
        }
        if (a->cfg_problem) {
            fputs(", in no row: ", f);
            rep_tex_puts(f, a->cfg_problem);
        }
        first = 0;
    }
    if (!first) fputs(".}\n", f);
}
