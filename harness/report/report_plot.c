/* The report's plots: for each plot a data file (.dat) and a gnuplot script (.gp) that a user
 * can edit and re-run (`gnuplot curves.gp` in the experiment's folder), then gnuplot run on it to
 * make a PNG (pngcairo, 900x550; plain png where cairo is missing) and an SVG. Plots: validation
 * curves (mean over seeds with a min..max band), final metric per variant with 95% CI error bars,
 * and for benchmarks throughput and peak memory against sequence length. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "report_out.h"

/* Line colours, cycled (colour-blind-friendly order). */
static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
                                      "#000000", "#f0e442", "#999999", "#882255", "#44aa99", "#117733"};
#define NPALETTE (int)(sizeof palette / sizeof palette[0])

const char *rep_find_gnuplot(char *buf, size_t len) {
    const char *env = getenv("LRPE_GNUPLOT");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return access(buf, X_OK) == 0 ? buf : NULL;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, len, "%.*s/gnuplot", (int)n, path);
        if (n && access(buf, X_OK) == 0) return buf;
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* Writes s as a gnuplot single-quoted string ('' inside). */
static void gp_str(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputc('\'', f);
}

/* Writes s as a double-quoted field of a gnuplot data file (inner double quotes become single). */
static void dat_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) fputc(*s == '"' ? '\'' : *s == '\n' ? ' ' : *s, f);
    fputc('"', f);
}

/* Opens dir/name for writing; path receives the full name. */
static FILE *open_in(const char *dir, const char *name, char *path, size_t len) {
    snprintf(path, len, "%s/%s", dir, name);
    return fopen(path, "w");
}

/* Closes f (opened as path) and reports a write error; 0 or -1. */
static int close_checked(FILE *f, const char *path, char *err, size_t errlen) {
    int bad = ferror(f);
    if (fclose(f) || bad) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* The start of every script: how to re-run it, the PNG terminal, style, the title (a second line,
 * the subtitle, says how to read the plot; NULL for none) and labels. */
static void gp_head(FILE *f, const char *name, const char *title, const char *subtitle, const char *xlabel,
                    const char *ylabel) {
    fprintf(f, "# lrpe report plot; re-run in this folder with: gnuplot %s.gp (writes %s.png and %s.svg)\n", name, name, name);
    fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
               "    set terminal pngcairo size 900,550 noenhanced font 'Sans,10'\n"
               "} else {\n    set terminal png size 900,550 noenhanced\n}\n");
    fprintf(f, "set output '%s.png'\nset title ", name);
    gp_str(f, title);
    if (subtitle) {
        fprintf(f, " . \"\\n\" . ");
        gp_str(f, subtitle);
    }
    fprintf(f, "\nset xlabel ");
    gp_str(f, xlabel);
    fprintf(f, "\nset ylabel ");
    gp_str(f, ylabel);
    fprintf(f, "\nset grid lw 0.5 lc rgb '#dddddd'\nset border lw 1\n");
}

/* The end of every script: the same plot again as SVG. */
static void gp_tail(FILE *f, const char *name) {
    fprintf(f, "set terminal svg size 900,550 noenhanced font 'Sans,10' background rgb 'white'\n"
               "set output '%s.svg'\nreplot\nset output\n", name);
}

/* Runs gnuplot on dir/script with its output appended to dir/gnuplot.log; 0 or -1. */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *script, char *err, size_t errlen) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return errf(err, errlen, "cannot start gnuplot: %s", strerror(errno));
    if (pid == 0) {
        int fd = -1;
        if (chdir(dir) == 0) fd = open("gnuplot.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execl(gnuplot, "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return errf(err, errlen, "waiting for gnuplot: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return errf(err, errlen, "gnuplot failed on %s/%s (its messages are in %s/gnuplot.log)", dir, script, dir);
    return 0;
}

/* Checks that gnuplot wrote dir/name.png and dir/name.svg, non-empty. */
static int check_outputs(const char *dir, const char *name, char *err, size_t errlen) {
    const char *ext[2] = {"png", "svg"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext[i]);
        if (stat(path, &st) || st.st_size == 0)
            return errf(err, errlen, "gnuplot did not write %s (its messages are in %s/gnuplot.log)", path, dir);
    }
    return 0;
}

/* ---------------------------------------------------------------- validation curves */

/* A (step, value) pair gathered from the runs of one row. */
typedef struct sv {
    long long step;
    double v;
} sv;

/* Orders pairs by step. */
static int by_step(const void *a, const void *b) {
    long long x = ((const sv *)a)->step, y = ((const sv *)b)->step;
    return (x > y) - (x < y);
}

/* Writes row w's curve (step, mean, min, max, n over seeds) as one data block; how many lines. */
static int curve_block(FILE *f, const rep_exp *e, const rep_row *w, double scale) {
    size_t total = 0;
    for (int k = 0; k < w->nruns; k++) total += (size_t)e->runs[w->runs[k]].ncurve;
    sv *p = malloc((total ? total : 1) * sizeof *p);
    if (!p) return -1;
    size_t n = 0;
    for (int k = 0; k < w->nruns; k++) {
        const rep_run *a = &e->runs[w->runs[k]];
        for (int i = 0; i < a->ncurve; i++)
            if (isfinite(a->curve[i].value)) p[n++] = (sv){a->curve[i].step, a->curve[i].value * scale};
    }
    qsort(p, n, sizeof *p, by_step);
    int lines = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double sum = 0, lo = INFINITY, hi = -INFINITY;
        for (; j < n && p[j].step == p[i].step; j++) sum += p[j].v, lo = fmin(lo, p[j].v), hi = fmax(hi, p[j].v);
        if (!lines) fprintf(f, "# %s\n# step mean min max n\n", w->label);
        fprintf(f, "%lld %.10g %.10g %.10g %zu\n", p[i].step, sum / (double)(j - i), lo, hi, j - i);
        lines++;
        i = j;
    }
    if (lines) fprintf(f, "\n\n");
    free(p);
    return lines;
}

/* The unit of a metric for its axis label. */
static const char *unit(const rep_metric *m) {
    if (m->percent) return " (%)";
    if (strstr(m->key, "bpc")) return " (bits per byte)";
    if (strstr(m->key, "loss")) return " (nats per token)";
    return "";
}

/* curves.dat and curves.gp; *has = whether any row has a curve. */
static int write_curves(const rep_exp *e, const char *dir, int *has, char *err, size_t errlen) {
    char path[4096], title[512], ylabel[128];
    FILE *f = open_in(dir, "curves.dat", path, sizeof path);
    if (!f) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    int *index = malloc(((size_t)e->nrows + 1) * sizeof *index), nidx = 0;
    if (!index) return fclose(f), errf(err, errlen, "out of memory");
    fprintf(f, "# lrpe report: %s of experiment %s per row; blocks (gnuplot index 0, 1, ...) in the order of "
               "curves.gp\n", e->curve.key, e->name);
    for (int k = 0; k < e->nrows; k++) {
        int lines = curve_block(f, e, &e->rows[k], e->curve.percent ? 100.0 : 1.0);
        index[k] = lines > 0 ? nidx++ : -1;
    }
    if (close_checked(f, path, err, errlen)) return free(index), -1;
    *has = nidx > 0;
    if (!(f = open_in(dir, "curves.gp", path, sizeof path))) {
        free(index);
        return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    }
    snprintf(title, sizeof title, "%s: %s during training", e->name, e->curve.label);
    snprintf(ylabel, sizeof ylabel, "%s%s", e->curve.label, unit(&e->curve));
    gp_head(f, "curves", title, "line: mean over seeds; band: min..max over seeds", "training step", ylabel);
    fprintf(f, "set key outside right top vertical Left reverse\nset style fill transparent solid 0.18 noborder\n");
    const char *sep = "plot ";
    for (int k = 0; k < e->nrows; k++) {
        if (index[k] < 0) continue;
        const char *c = palette[k % NPALETTE];
        fprintf(f, "%s'curves.dat' index %d using 1:3:4 with filledcurves fc rgb '%s' notitle, \\\n"
                   "     '' index %d using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '%s' dt %d title ",
                sep, index[k], c, index[k], c, k / NPALETTE + 1); /* past the colours: dashed */
        gp_str(f, e->rows[k].label);
        sep = ", \\\n     ";
    }
    fputc('\n', f);
    gp_tail(f, "curves");
    free(index);
    return close_checked(f, path, err, errlen);
}

/* ---------------------------------------------------------------- final metric per variant */

/* final.dat and final.gp (first primary metric, error bars 95% CI); *has = any row has a value. */
static int write_final(const rep_exp *e, const char *dir, int *has, char *err, size_t errlen) {
    const rep_metric *m = &e->prim[0];
    double s = m->percent ? 100.0 : 1.0;
    char path[4096], title[512], ylabel[128];
    FILE *f = open_in(dir, "final.dat", path, sizeof path);
    if (!f) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "# lrpe report: %s of experiment %s per row over its completed seeds\n"
               "# x mean ci95_lo ci95_hi n label   (n=1: lo = hi = mean, no interval)\n", m->key, e->name);
    int x = 0;
    for (int k = 0; k < e->nrows; k++) {
        stats_ci c = rep_row_ci(e, &e->rows[k], m->key);
        if (!c.n) continue;
        double lo = c.n >= 2 ? c.lo : c.mean, hi = c.n >= 2 ? c.hi : c.mean;
        char label[512];
        snprintf(label, sizeof label, "%s (n=%d)", e->rows[k].label, c.n);
        fprintf(f, "%d %.10g %.10g %.10g %d ", ++x, c.mean * s, lo * s, hi * s, c.n);
        dat_str(f, label);
        fputc('\n', f);
    }
    if (close_checked(f, path, err, errlen)) return -1;
    *has = x > 0;
    if (!(f = open_in(dir, "final.gp", path, sizeof path))) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    snprintf(title, sizeof title, "%s: final %s per variant", e->name, m->label);
    snprintf(ylabel, sizeof ylabel, "%s%s %s", m->label, unit(m), m->lower_better ? "(lower is better)" : "(higher is better)");
    gp_head(f, "final", title, "point: mean over the completed seeds; bars: its 95% CI (Student t), none where n=1",
            "variant", ylabel);
    fprintf(f, "unset key\nset xrange [0.5:%d.5]\nset offsets 0, 0, graph 0.05, graph 0.05\n"
               "set xtics rotate by -20 left nomirror\nset bmargin 8\n", x);
    fprintf(f, "plot 'final.dat' using 1:2:3:4:xticlabels(6) with yerrorbars pt 7 ps 1.5 lw 2 lc rgb '%s' "
               "notitle\n", palette[0]);
    gp_tail(f, "final");
    return close_checked(f, path, err, errlen);
}

/* ---------------------------------------------------------------- length extrapolation */

/* lengths.dat (one block per row: length mean min max n over seeds) and lengths.gp (log2 axis, a
 * band per row, a mark at the training length); *has = any row has a value. */
static int write_lengths(const rep_exp *e, const char *dir, int *has, char *err, size_t errlen) {
    const rep_metric *m = &e->prim[0];
    const double s = m->percent ? 100.0 : 1.0;
    char path[4096], title[512], ylabel[128], key[64];
    FILE *f = open_in(dir, "lengths.dat", path, sizeof path);
    if (!f) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    int *index = malloc(((size_t)e->nrows + 1) * sizeof *index), nidx = 0;
    double *v = malloc(((size_t)e->nruns + 1) * sizeof *v);
    if (!index || !v) return free(index), free(v), fclose(f), errf(err, errlen, "out of memory");
    fprintf(f, "# lrpe report: %s of experiment %s against evaluation length, per row; blocks in the order of "
               "lengths.gp\n", m->key, e->name);
    for (int k = 0; k < e->nrows; k++) {
        int lines = 0;
        for (int j = 0; j < e->nlengths; j++) {
            int n = rep_values(e, &e->rows[k], rep_length_key(e, e->lengths[j], key, sizeof key), v, NULL);
            double sum = 0, lo = INFINITY, hi = -INFINITY;
            for (int i = 0; i < n; i++) sum += v[i] * s, lo = fmin(lo, v[i] * s), hi = fmax(hi, v[i] * s);
            if (!n) continue;
            if (!lines++) fprintf(f, "# %s\n# length mean min max n\n", e->rows[k].label);
            fprintf(f, "%lld %.10g %.10g %.10g %d\n", e->lengths[j], sum / n, lo, hi, n);
        }
        if (lines) fprintf(f, "\n\n");
        index[k] = lines ? nidx++ : -1;
    }
    free(v);
    if (close_checked(f, path, err, errlen)) return free(index), -1;
    *has = nidx > 0;
    if (!(f = open_in(dir, "lengths.gp", path, sizeof path))) {
        free(index);
        return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    }
    snprintf(title, sizeof title, "%s: %s against evaluation length (trained at %lld)", e->name, m->label, e->train_len);
    snprintf(ylabel, sizeof ylabel, "%s%s %s", m->label, unit(m), m->lower_better ? "(lower is better)" : "(higher is better)");
    gp_head(f, "lengths", title, "line: mean over seeds; band: min..max over seeds; dashed: the training length",
            "evaluation length (tokens, log2 scale)", ylabel);
    fprintf(f, "set logscale x 2\nset offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n"
               "set key outside right top vertical Left reverse\n"
               "set style fill transparent solid 0.18 noborder\n");
    if (e->train_len > 0)
        fprintf(f, "set arrow from %lld, graph 0 to %lld, graph 1 nohead dt 2 lw 1.5 lc rgb '#555555'\n", e->train_len,
                e->train_len);
    const char *sep = "plot ";
    for (int k = 0; k < e->nrows; k++) {
        if (index[k] < 0) continue;
        const char *c = palette[k % NPALETTE];
        fprintf(f, "%s'lengths.dat' index %d using 1:3:4 with filledcurves fc rgb '%s' notitle, \\\n"
                   "     '' index %d using 1:2 with linespoints lw 2 pt 7 ps 0.7 lc rgb '%s' dt %d title ",
                sep, index[k], c, index[k], c, k / NPALETTE + 1);
        gp_str(f, e->rows[k].label);
        sep = ", \\\n     ";
    }
    fputc('\n', f);
    gp_tail(f, "lengths");
    free(index);
    return close_checked(f, path, err, errlen);
}

/* ---------------------------------------------------------------- benchmarks */

/* bench.dat (one block per row: seq_len tokens_per_s step_ms gflops peak_pct peak_rss_mb n) and
 * throughput.gp / memory.gp; *has = any point. */
static int write_bench(const rep_exp *e, const char *dir, int *has, char *err, size_t errlen) {
    char path[4096], title[512];
    FILE *f = open_in(dir, "bench.dat", path, sizeof path);
    if (!f) return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    int *index = malloc(((size_t)e->nrows + 1) * sizeof *index), nidx = 0;
    if (!index) return fclose(f), errf(err, errlen, "out of memory");
    fprintf(f, "# lrpe report: benchmark %s; one block per row (gnuplot index 0, 1, ...)\n", e->name);
    for (int k = 0; k < e->nrows; k++) {
        const rep_row *w = &e->rows[k];
        rep_bench_pt *pts = malloc(((size_t)w->nruns + 1) * sizeof *pts);
        if (!pts) return free(index), fclose(f), errf(err, errlen, "out of memory");
        int n = rep_bench_points(e, w, pts);
        index[k] = n ? nidx++ : -1;
        if (n) fprintf(f, "# %s\n# seq_len tokens_per_s step_ms gflops peak_pct peak_rss_mb n tokens_per_s_min "
                          "tokens_per_s_max (min = max = tokens_per_s when not recorded)\n", w->label);
        for (int p = 0; p < n; p++) {
            const rep_bench_pt *b = &pts[p];
            fprintf(f, "%.0f %.10g %.10g %.10g %.10g %.10g %d %.10g %.10g\n", b->seq_len, b->tokens_per_s, b->step_ms,
                    b->gflops, b->peak_pct, b->peak_rss_mb, b->n, isfinite(b->tps_min) ? b->tps_min : b->tokens_per_s,
                    isfinite(b->tps_max) ? b->tps_max : b->tokens_per_s);
        }
        if (n) fprintf(f, "\n\n");
        free(pts);
    }
    *has = nidx > 0;
    if (close_checked(f, path, err, errlen)) return free(index), -1;
    static const struct {
        const char *name, *what, *ylabel, *using, *style;
    } plots[2] = {{"throughput", "training throughput (bars: slowest..fastest timed step)", "training throughput (tokens/s)",
                   "1:2:8:9", "yerrorlines"},
                  {"memory", "peak memory", "peak resident memory (MB)", "1:6", "linespoints"}};
    for (int q = 0; q < 2; q++) {
        char gp[64];
        snprintf(gp, sizeof gp, "%s.gp", plots[q].name);
        if (!(f = open_in(dir, gp, path, sizeof path))) {
            free(index);
            return errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        }
        snprintf(title, sizeof title, "%s: %s against sequence length (lrpe bench)", e->name, plots[q].what);
        gp_head(f, plots[q].name, title, NULL, "sequence length (tokens, log2 scale)", plots[q].ylabel);
        fprintf(f, "set logscale x 2\nset format x '%%.0f'\nset key outside right top vertical Left reverse\n");
        const char *sep = "plot ";
        for (int k = 0; k < e->nrows; k++) {
            if (index[k] < 0) continue;
            fprintf(f, "%s'bench.dat' index %d using %s with %s lw 2 pt 7 ps 0.8 lc rgb '%s' title ", sep, index[k],
                    plots[q].using, plots[q].style, palette[k % NPALETTE]);
            gp_str(f, e->rows[k].label);
            sep = ", \\\n     ";
        }
        fputc('\n', f);
        gp_tail(f, plots[q].name);
        if (close_checked(f, path, err, errlen)) return free(index), -1;
    }
    free(index);
    return 0;
}

/* ---------------------------------------------------------------- all plots */

int rep_plot(const rep_exp *e, const char *dir, const char *gnuplot, rep_plots *made, char *err, size_t errlen) {
    memset(made, 0, sizeof *made);
    int has[2] = {0, 0};
    if (e->bench) {
        if (write_bench(e, dir, &has[0], err, errlen)) return -1;
        if (has[0]) {
            made->name[made->n] = "throughput", made->caption[made->n++] = "training throughput against sequence length";
            made->name[made->n] = "memory", made->caption[made->n++] = "peak memory against sequence length";
        }
    } else {
        if (write_curves(e, dir, &has[0], err, errlen) || write_final(e, dir, &has[1], err, errlen)) return -1;
        if (has[0]) made->name[made->n] = "curves", made->caption[made->n++] = "validation curves";
        if (has[1]) made->name[made->n] = "final", made->caption[made->n++] = "final test metric per variant";
        int lens = 0;
        if (e->nlengths && write_lengths(e, dir, &lens, err, errlen)) return -1;
        if (lens) made->name[made->n] = "lengths", made->caption[made->n++] = "test metric against evaluation length";
    }
    if (!gnuplot) return 0;
    char log[4096];
    snprintf(log, sizeof log, "%s/gnuplot.log", dir);
    FILE *lf = fopen(log, "w"); /* a fresh log per report */
    if (lf) fclose(lf);
    for (int i = 0; i < made->n; i++) {
        char script[64];
        snprintf(script, sizeof script, "%s.gp", made->name[i]);
        if (run_gnuplot(gnuplot, dir, script, err, errlen) || check_outputs(dir, made->name[i], err, errlen)) return -1;
    }
    return 0;
}
