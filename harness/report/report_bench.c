/* The benchmark table of an experiment written by `lrpe bench`: one line per sequence length and
 * variant with tokens/s, ms per step, GFLOP/s, % of the measured sgemm peak and peak RSS, as
 * cells (which the Markdown and HTML writers print), CSV and LaTeX. Best throughput and lowest
 * memory at each length in bold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_out.h"

/* Every row's benchmark points, pts[row][k] for k < npts[row]. */
typedef struct bench_grid {
    rep_bench_pt **pts;
    int *npts;
    double *lens; /* the distinct sequence lengths, ascending */
    int nlens;
} bench_grid;

/* Releases a grid. */
static void grid_free(bench_grid *g, int nrows) {
    for (int k = 0; g->pts && k < nrows; k++) free(g->pts[k]);
    free(g->pts);
    free(g->npts);
    free(g->lens);
}

/* Orders doubles ascending. */
static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Collects the points of every row of e; -1 when out of memory. */
static int grid_load(bench_grid *g, const rep_exp *e) {
    memset(g, 0, sizeof *g);
    g->pts = calloc((size_t)e->nrows + 1, sizeof *g->pts);
    g->npts = calloc((size_t)e->nrows + 1, sizeof *g->npts);
    g->lens = malloc(((size_t)e->nruns + 1) * sizeof *g->lens);
    if (!g->pts || !g->npts || !g->lens) return -1;
    for (int k = 0; k < e->nrows; k++) {
        if (!(g->pts[k] = malloc(((size_t)e->rows[k].nruns + 1) * sizeof **g->pts))) return -1;
        g->npts[k] = rep_bench_points(e, &e->rows[k], g->pts[k]);
        for (int p = 0; p < g->npts[k]; p++) {
            int seen = 0;
            for (int q = 0; q < g->nlens; q++) seen |= g->lens[q] == g->pts[k][p].seq_len;
            if (!seen) g->lens[g->nlens++] = g->pts[k][p].seq_len;
        }
    }
    qsort(g->lens, (size_t)g->nlens, sizeof *g->lens, by_value);
    return 0;
}

/* Row k's point at length L, or NULL. */
static const rep_bench_pt *grid_at(const bench_grid *g, int k, double L) {
    for (int p = 0; p < g->npts[k]; p++)
        if (g->pts[k][p].seq_len == L) return &g->pts[k][p];
    return NULL;
}

/* 1 when pt has the best value at its length: highest tokens/s (what = 0) or lowest RSS (1). */
static int grid_best(const bench_grid *g, int nrows, const rep_bench_pt *pt, int what) {
    double mine = what ? pt->peak_rss_mb : pt->tokens_per_s;
    if (!isfinite(mine)) return 0;
    for (int k = 0; k < nrows; k++) {
        const rep_bench_pt *o = grid_at(g, k, pt->seq_len);
        double v = o ? (what ? o->peak_rss_mb : o->tokens_per_s) : NAN;
        if (isfinite(v) && (what ? v < mine : v > mine)) return 0;
    }
    return 1;
}

/* The attention kernel of row w's first run ("?" when unknown). */
static const char *row_attention(const rep_exp *e, const rep_row *w) {
    const char *a = rep_cfg(&e->runs[w->runs[0]], "model.attention");
    return a ? a : "?";
}

/* v with dec decimals, or the dash when missing, into buf. */
static const char *num(char *buf, size_t len, double v, int dec, const char *dash) {
    if (isfinite(v)) snprintf(buf, len, "%.*f", dec, v);
    else snprintf(buf, len, "%s", dash);
    return buf;
}

/* Adds v with dec decimals (the dash when missing) to t, in bold when bold. */
static void add_num(rep_cells *t, double v, int dec, int bold) {
    char buf[32];
    rep_cells_add(t, v, bold, num(buf, sizeof buf, v, dec, "—"), "%s", "");
}

int rep_bench_cells(rep_cells *t, const rep_exp *e) {
    static const char *const heads[8] = {"seq_len", "variant", "attention", "tokens/s ↑", "ms/step", "GFLOP/s",
                                         "% of sgemm peak", "peak RSS (MB) ↓"};
    bench_grid g;
    if (grid_load(&g, e)) return grid_free(&g, e->nrows), -1;
    for (int i = 0; i < 8; i++) rep_cells_col(t, "rllrrrrr"[i], NULL, "%s", heads[i]);
    for (int l = 0; l < g.nlens; l++)
        for (int k = 0; k < e->nrows; k++) {
            const rep_bench_pt *p = grid_at(&g, k, g.lens[l]);
            if (!p) continue;
            rep_cells_add(t, p->seq_len, 0, "", "%.0f", p->seq_len);
            rep_cells_add(t, NAN, 0, "", "%s", e->rows[k].label);
            rep_cells_add(t, NAN, 0, "", "%s", row_attention(e, &e->rows[k]));
            add_num(t, p->tokens_per_s, 0, grid_best(&g, e->nrows, p, 0));
            add_num(t, p->step_ms, 1, 0);
            add_num(t, p->gflops, 1, 0);
            add_num(t, p->peak_pct, 1, 0);
            add_num(t, p->peak_rss_mb, 0, grid_best(&g, e->nrows, p, 1));
        }
    for (int k = 0; k < e->nrows; k++)
        if (!g.npts[k]) {
            char note[160];
            const char *rest = strchr(rep_count_note(&e->rows[k], 0, note, sizeof note), ';');
            rep_cells_add(t, NAN, 0, "", "—");
            rep_cells_add(t, NAN, 0, "", "%s", e->rows[k].label);
            rep_cells_add(t, NAN, 0, "", "%s", row_attention(e, &e->rows[k]));
            rep_cells_add(t, NAN, 0, "", "no completed run (%s", rest ? rest + 2 : "none)");
            for (int i = 0; i < 4; i++) rep_cells_add(t, NAN, 0, "", "%s", "");
        }
    grid_free(&g, e->nrows);
    return t->oom ? -1 : 0;
}

int rep_bench_md(FILE *f, const rep_exp *e) {
    rep_cells t = {0};
    fprintf(f, "Benchmark `%s` (`lrpe bench`, task %s / %s): training throughput and peak memory per variant and "
               "sequence length (means where a point was measured more than once). Best tokens/s and lowest peak "
               "RSS at each length in **bold**.\n\n",
            e->name, e->kind, e->dataset);
    int rc = rep_bench_cells(&t, e) || rep_cells_md(f, &t) ? -1 : 0;
    rep_cells_free(&t);
    fputc('\n', f);
    rep_missing_md(f, e);
    return rc || ferror(f) ? -1 : 0;
}

int rep_bench_csv(FILE *f, const rep_exp *e) {
    bench_grid g;
    if (grid_load(&g, e)) return grid_free(&g, e->nrows), -1;
    fprintf(f, "experiment,variant,label,attention,seq_len,tokens_per_s,step_ms,gflops,peak_pct,peak_rss_mb,n,"
               "n_runs,n_completed,n_failed,tokens_per_s_min,tokens_per_s_max\n");
    for (int l = 0; l <= g.nlens; l++)
        for (int k = 0; k < e->nrows; k++) {
            const rep_row *w = &e->rows[k];
            const rep_bench_pt *p = l < g.nlens ? grid_at(&g, k, g.lens[l]) : NULL;
            if (l < g.nlens ? !p : g.npts[k] > 0) continue; /* last pass: rows without any point */
            rep_csv_str(f, e->name), fputc(',', f);
            rep_csv_str(f, w->variant), fputc(',', f);
            rep_csv_str(f, w->label), fputc(',', f);
            rep_csv_str(f, row_attention(e, w));
            double v[7] = {NAN, NAN, NAN, NAN, NAN, NAN, 0};
            if (p) v[0] = p->seq_len, v[1] = p->tokens_per_s, v[2] = p->step_ms, v[3] = p->gflops,
                   v[4] = p->peak_pct, v[5] = p->peak_rss_mb, v[6] = p->n;
            for (int j = 0; j < 7; j++) fputc(',', f), rep_csv_num(f, v[j]);
            fprintf(f, ",%d,%d,%d,", w->nruns, w->count[DB_COMPLETED], w->count[DB_FAILED]);
            rep_csv_num(f, p ? p->tps_min : NAN), fputc(',', f), rep_csv_num(f, p ? p->tps_max : NAN), fputc('\n', f);
        }
    grid_free(&g, e->nrows);
    return ferror(f) ? -1 : 0;
}

int rep_bench_tex(FILE *f, const rep_exp *e) {
    bench_grid g;
    if (grid_load(&g, e)) return grid_free(&g, e->nrows), -1;
    fprintf(f, "%% lrpe report: benchmark %s; needs \\usepackage{booktabs}\n\\begin{table}[htbp]\n\\centering\n"
               "\\caption{Benchmark \\texttt{", e->name);
    rep_tex_puts(f, e->name);
    fputs("}: training throughput and peak memory against sequence length. Best tokens/s and lowest memory at each "
          "length in bold.}\n\\label{tab:", f);
    rep_tex_puts(f, e->dir);
    fprintf(f, "}\n\\begin{tabular}{rllrrrrr}\n\\toprule\nLength & Variant & Attention & Tokens/s $\\uparrow$ & ms/step & "
               "GFLOP/s & \\%% peak & Peak RSS (MB) $\\downarrow$ \\\\\n\\midrule\n");
    for (int l = 0; l < g.nlens; l++) {
        if (l) fputs("\\midrule\n", f);
        for (int k = 0; k < e->nrows; k++) {
            const rep_bench_pt *p = grid_at(&g, k, g.lens[l]);
            if (!p) continue;
            char a[32], b[32], c[32], d[32], r[32];
            int bt = grid_best(&g, e->nrows, p, 0), bm = grid_best(&g, e->nrows, p, 1);
            fprintf(f, "%.0f & ", p->seq_len);
            rep_tex_puts(f, e->rows[k].label);
            fputs(" & ", f);
            rep_tex_puts(f, row_attention(e, &e->rows[k]));
            fprintf(f, " & %s%s%s & %s & %s & %s & %s%s%s \\\\\n", bt ? "\\textbf{" : "", num(a, sizeof a, p->tokens_per_s, 0, "--"),
                    bt ? "}" : "", num(b, sizeof b, p->step_ms, 1, "--"), num(c, sizeof c, p->gflops, 1, "--"),
                    num(d, sizeof d, p->peak_pct, 1, "--"), bm ? "\\textbf{" : "", num(r, sizeof r, p->peak_rss_mb, 0, "--"),
                    bm ? "}" : "");
        }
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}\n");
    rep_tex_missing(f, e, "Missing", 0);
    fprintf(f, "\\end{table}\n");
    grid_free(&g, e->nrows);
    return ferror(f) ? -1 : 0;
}
