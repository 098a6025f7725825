/* The report's writers: tables (Markdown, CSV, LaTeX) of an experiment, its gnuplot plots, and
 * the top-level report.md and report.html. Each writes to a FILE * it is given (or files in a
 * folder it is given) and returns 0, or -1 when a write failed. */
#ifndef LRPE_REPORT_OUT_H
#define LRPE_REPORT_OUT_H

#include <stdio.h>

#include "report.h"

/* One cell of a table: its text, whose first nbold bytes are bold (the best value of a column)
 * and last ncode bytes code (a variant name in a column head), and the number it sorts by (NaN:
 * none; the HTML report sorts such cells by their text). */
typedef struct rep_cell {
    char *text;
    int nbold, ncode;
    double key;
} rep_cell;

#define REP_MAXCOLS (REP_MAXLEN + 8)

/* A table as cells, built once by rep_table_cells, rep_bench_cells or rep_lengths_cells and written
 * as Markdown (rep_cells_md) or HTML (report_html.c): column heads with their alignment ('l' or
 * 'r'), then the body row by row, body[r * ncols + c]. */
typedef struct rep_cells {
    int ncols, n, cap;  /* columns; body cells so far and room for them */
    rep_cell head[REP_MAXCOLS];
    char align[REP_MAXCOLS];
    rep_cell *body;
    int oom;            /* an allocation failed (the writers then return -1) */
} rep_cells;

/* Adds a column to t headed by the formatted text, then code (NULL: none) shown as code. */
void rep_cells_col(rep_cells *t, char align, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds the next body cell of t (rows fill left to right): lead (in bold when bold), then the
 * formatted rest; key is the number it sorts by (NaN: none). */
void rep_cells_add(rep_cells *t, double key, int bold, const char *lead, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The rows of t. */
int rep_cells_rows(const rep_cells *t);
/* Releases t's texts (t is then empty). */
void rep_cells_free(rep_cells *t);
/* t as a Markdown table ('|' in texts escaped); -1 when t is incomplete (out of memory) or a write failed. */
int rep_cells_md(FILE *f, const rep_cells *t);
/* The cells of e's table (the benchmark's when e->bench), of the benchmark table, and of the
 * length-extrapolation table, into t (empty before); 0, or -1 when out of memory (t still to free). */
int rep_table_cells(rep_cells *t, const rep_exp *e);
int rep_bench_cells(rep_cells *t, const rep_exp *e);
int rep_lengths_cells(rep_cells *t, const rep_exp *e);

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
/* The same as one self-contained page, out/report.html (report_html.c): every table (sortable by
 * a click on a column head), the plots' SVGs read from out/<experiment>/ and inlined, links to the
 * files beside them, configuration, provenance and the runs not in the means; no network
 * resource. 0, or -1 with the reason in err. */
int rep_html(const char *out, const rep_set *s, const rep_written *w, const char *db_path, int gnuplot_missing, char *err,
             size_t errlen);

#endif
