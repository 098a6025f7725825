/* The report's writers: tables (Markdown, CSV, LaTeX) of an experiment, its gnuplot plots, and
 * the top-level report.md. Each writes to a FILE * it is given (or files in a folder it is given)
 * and returns 0, or -1 when a write failed. */
#ifndef LRPE_REPORT_OUT_H
#define LRPE_REPORT_OUT_H

#include <stdio.h>

#include "report.h"

/* The table of e (accuracy table, or benchmark table when e->bench) with its notes as Markdown. */
int rep_table_md(FILE *f, const rep_exp *e);
/* The same as CSV: every number, fractions as fractions, a header line of column names. */
int rep_table_csv(FILE *f, const rep_exp *e);
/* The same as a LaTeX table (booktabs rules; \usepackage{booktabs}). */
int rep_table_tex(FILE *f, const rep_exp *e);

/* The length-extrapolation table of e (e->nlengths > 0: rows = variants, columns = evaluation
 * lengths) as Markdown, CSV and LaTeX (report_lengths.c). */
int rep_lengths_md(FILE *f, const rep_exp *e);
int rep_lengths_csv(FILE *f, const rep_exp *e);
int rep_lengths_tex(FILE *f, const rep_exp *e);

/* The benchmark versions of the three (report_bench.c); rep_table_* call them when e->bench. */
int rep_bench_md(FILE *f, const rep_exp *e);
int rep_bench_csv(FILE *f, const rep_exp *e);
int rep_bench_tex(FILE *f, const rep_exp *e);

/* Markdown lines listing e's failed runs with their errors, then its unfinished runs, then the
 * runs whose config cannot be read (in no row) with the reason. */
void rep_missing_md(FILE *f, const rep_exp *e);
/* s with LaTeX's special characters escaped. */
void rep_tex_puts(FILE *f, const char *s);
/* The LaTeX note under a table listing e's runs that are not completed or whose config cannot be
 * read ("lead: variant [seed N] status (error)[, in no row: reason]; ..."); nothing when every run
 * completed and is in a row. */
void rep_tex_missing(FILE *f, const rep_exp *e, const char *lead, int with_seed);
/* s with '|' escaped for a Markdown table cell. */
void rep_md_puts(FILE *f, const char *s);
/* v as a CSV field: %.10g, or nothing for NaN. */
void rep_csv_num(FILE *f, double v);
/* s as a CSV field (quoted when it holds a comma, quote or line break). */
void rep_csv_str(FILE *f, const char *s);

/* The plots one experiment got (names without extension, e.g. "curves"), with a caption each. */
typedef struct rep_plots {
    int n;
    const char *name[5];
    const char *caption[5];
} rep_plots;

/* Writes the .dat and .gp files of e's plots into dir and, when gnuplot is not NULL (the path
 * of the gnuplot program), runs it to make each PNG and SVG; *made lists the plots that have
 * data. 0, or -1 with a reason in err (a file could not be written, or gnuplot failed: its
 * messages are in dir/gnuplot.log). */
int rep_plot(const rep_exp *e, const char *dir, const char *gnuplot, rep_plots *made, char *err, size_t errlen);
/* The path of the gnuplot program, into buf: $LRPE_GNUPLOT when set, else the first "gnuplot" on
 * PATH; NULL when that is not an executable file. */
const char *rep_find_gnuplot(char *buf, size_t len);

/* What report.md says about the experiments written (parallel to s->exps). */
typedef struct rep_written {
    rep_plots plots;
    int tables_ok; /* the three table files (and the three length tables, when e has lengths) were written */
} rep_written;

/* The top-level report.md: per experiment its table, plots (relative links into its folder),
 * configuration, data, machine, build, dates and run counts. db_path names the source;
 * gnuplot_missing adds a line saying the plots need `make deps`. */
int rep_markdown(FILE *f, const rep_set *s, const rep_written *w, const char *db_path, int gnuplot_missing);

#endif
