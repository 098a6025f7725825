/* The length-extrapolation table of an experiment whose runs were evaluated at eval.lengths: one
 * row per variant, one column per evaluation length, the first primary metric as mean ± sample
 * std over the completed seeds (n), the best mean of each column in bold, "n/a" with its reason
 * where the encoding cannot go that far. Cells (which the Markdown and HTML writers print), CSV
 * (every number) and LaTeX. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_out.h"

/* The statistics of row w at length L, scaled as the metric is shown. */
static stats_ci at_length(const rep_exp *e, const rep_row *w, long long L) {
    char key[64];
    stats_ci c = rep_row_ci(e, w, rep_length_key(e, L, key, sizeof key));
    const double s = e->prim[0].percent ? 100.0 : 1.0;
    c.mean *= s, c.std *= s, c.lo *= s, c.hi *= s;
    return c;
}

/* 1 when row w has the best mean of column L (equal means share it). */
static int best_at(const rep_exp *e, const rep_row *w, long long L) {
    const double mine = at_length(e, w, L).mean;
    if (!isfinite(mine)) return 0;
    for (int k = 0; k < e->nrows; k++) {
        double v = at_length(e, &e->rows[k], L).mean;
        if (isfinite(v) && (e->prim[0].lower_better ? v < mine : v > mine)) return 0;
    }
    return 1;
}

/* The decimals of the whole table (its largest mean). */
static int table_decimals(const rep_exp *e) {
    double big = 0;
    for (int k = 0; k < e->nrows; k++)
        for (int j = 0; j < e->nlengths; j++) {
            double v = fabs(at_length(e, &e->rows[k], e->lengths[j]).mean);
            if (isfinite(v) && v > big) big = v;
        }
    return rep_decimals(big);
}

int rep_lengths_cells(rep_cells *t, const rep_exp *e) {
    const int dec = table_decimals(e);
    rep_cells_col(t, 'l', NULL, "variant");
    for (int j = 0; j < e->nlengths; j++)
        rep_cells_col(t, 'l', NULL, "%lld%s", e->lengths[j], e->lengths[j] == e->train_len ? " (train)" : "");
    for (int k = 0; k < e->nrows; k++) {
        const rep_row *w = &e->rows[k];
        rep_cells_add(t, NAN, 0, "", "%s", w->label);
        for (int j = 0; j < e->nlengths; j++) {
            stats_ci c = at_length(e, w, e->lengths[j]);
            const char *na = rep_length_na(e, w, e->lengths[j]);
            char mean[32], std[48] = "";
            if (!c.n) {
                rep_cells_add(t, NAN, 0, "", "%s", na ? na : "—");
                continue;
            }
            snprintf(mean, sizeof mean, "%.*f", dec, c.mean);
            if (c.n >= 2) snprintf(std, sizeof std, " ± %.*f", dec, c.std);
            rep_cells_add(t, c.mean, best_at(e, w, e->lengths[j]), mean, "%s (n=%d)", std, c.n);
        }
    }
    return t->oom ? -1 : 0;
}

int rep_lengths_md(FILE *f, const rep_exp *e) {
    const rep_metric *m = &e->prim[0];
    rep_cells t = {0};
    fprintf(f, "Length extrapolation: %s%s %s on the whole test split cut into windows of each length (trained at "
               "%lld); mean ± std over seeds (n), best of each column in bold.\n\n",
            m->label, m->percent ? " (%)" : "", m->lower_better ? "↓" : "↑", e->train_len);
    int rc = rep_lengths_cells(&t, e) || rep_cells_md(f, &t) ? -1 : 0;
    rep_cells_free(&t);
    fputc('\n', f);
    return rc || ferror(f) ? -1 : 0;
}

int rep_lengths_csv(FILE *f, const rep_exp *e) {
    fprintf(f, "variant,length,train_length,metric,mean,std,n,ci95_lo,ci95_hi,not_applicable\n");
    for (int k = 0; k < e->nrows; k++)
        for (int j = 0; j < e->nlengths; j++) {
            const rep_row *w = &e->rows[k];
            char key[64];
            stats_ci c = rep_row_ci(e, w, rep_length_key(e, e->lengths[j], key, sizeof key));
            const char *na = rep_length_na(e, w, e->lengths[j]);
            rep_csv_str(f, w->label);
            fprintf(f, ",%lld,%lld,", e->lengths[j], e->train_len);
            rep_csv_str(f, e->prim[0].key);
            fputc(',', f), rep_csv_num(f, c.n ? c.mean : NAN);
            fputc(',', f), rep_csv_num(f, c.n >= 2 ? c.std : NAN);
            fprintf(f, ",%d,", c.n);
            rep_csv_num(f, c.n >= 2 ? c.lo : NAN);
            fputc(',', f), rep_csv_num(f, c.n >= 2 ? c.hi : NAN);
            fputc(',', f);
            if (na) rep_csv_str(f, na);
            fputc('\n', f);
        }
    return ferror(f) ? -1 : 0;
}

int rep_lengths_tex(FILE *f, const rep_exp *e) {
    const rep_metric *m = &e->prim[0];
    const int dec = table_decimals(e);
    fprintf(f, "%% lrpe report: length extrapolation of experiment ");
    rep_tex_puts(f, e->name);
    fprintf(f, " (needs \\usepackage{booktabs})\n\\begin{tabular}{l");
    for (int j = 0; j < e->nlengths; j++) fputc('r', f);
    fprintf(f, "}\n\\toprule\nvariant");
    for (int j = 0; j < e->nlengths; j++) fprintf(f, " & %lld%s", e->lengths[j], e->lengths[j] == e->train_len ? "$^*$" : "");
    fprintf(f, " \\\\\n\\midrule\n");
    for (int k = 0; k < e->nrows; k++) {
        const rep_row *w = &e->rows[k];
        rep_tex_puts(f, w->label);
        for (int j = 0; j < e->nlengths; j++) {
            stats_ci c = at_length(e, w, e->lengths[j]);
            if (!c.n) {
                fprintf(f, " & %s", rep_length_na(e, w, e->lengths[j]) ? "n/a" : "--");
                continue;
            }
            const int b = best_at(e, w, e->lengths[j]);
            fprintf(f, " & %s%.*f%s", b ? "\\textbf{" : "", dec, c.mean, b ? "}" : "");
            if (c.n >= 2) fprintf(f, " $\\pm$ %.*f", dec, c.std);
        }
        fprintf(f, " \\\\\n");
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}\n%% ");
    rep_tex_puts(f, m->label);
    fprintf(f, "%s, mean $\\pm$ std over seeds; $^*$ the training length; n/a: the encoding cannot go that far (see "
               "lengths.csv)\n", m->lower_better ? " (lower is better)" : " (higher is better)");
    return ferror(f) ? -1 : 0;
}
