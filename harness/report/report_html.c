/* The top-level report.html: what report.md holds, as one self-contained page that opens from a
 * disk or a cluster's file browser. Per experiment its tables (the same cells as the Markdown ones,
 * report_out.h's rep_cells), sortable by a click on a column head (a few lines of inline script),
 * the plots' SVGs inlined (ids prefixed per plot, so several plots in one page stay valid), the
 * runs not in the means with their errors, the configuration and the provenance. Inline style and
 * script only, and a Content-Security-Policy that lets the page load nothing else; links are
 * relative, to the files beside it. Every text from the database is escaped. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fs.h"
#include "report_out.h"
#include "version.h"

#define SVG_MAX_BYTES (64u << 20) /* a plot's SVG larger than this is linked, not inlined */

/* The page's style: a column of at most 1100 px, tables that scroll sideways in their own box,
 * plots that scale to the width. */
static const char css[] =
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#fff}\n"
    "main{max-width:1100px;margin:0 auto;padding:0 12px 48px}\n"
    "h2{margin-top:2em;padding-bottom:.2em;border-bottom:1px solid #ccc}\n"
    "h3{margin-top:1.5em}\n"
    ".scroll{overflow-x:auto;margin:.5em 0 1em}\n"
    "table{border-collapse:collapse;font-size:.92em}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f0f0f0;cursor:pointer;user-select:none;white-space:nowrap}\n"
    "th.r,td.r{text-align:right}\n"
    "td[data-v]{white-space:nowrap}\n"
    "th[aria-sort=ascending]::after{content:' \\25B2'}\n"
    "th[aria-sort=descending]::after{content:' \\25BC'}\n"
    "tbody tr:nth-child(even){background:#fafafa}\n"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}\n"
    "figure{margin:1em 0}\n"
    "figure svg{display:block;width:100%;height:auto;max-width:900px}\n"
    "figcaption,.note{color:#444;font-size:.92em}\n"
    ".warn{color:#a40000;font-weight:bold}\n"
    "@media (max-width:600px){body{font-size:14px}th,td{padding:2px 4px}}\n";

/* Sorting: a click on (or Enter on) a column head orders the body rows by that column, again
 * reverses. Cells sort by data-v, else by their leading number, else by their text; empty cells,
 * dashes and n/a go last either way. */
static const char js[] =
    "(function () {\n"
    "  function key(td) {\n"
    "    var v = td ? td.getAttribute('data-v') : null, t = td ? td.textContent.trim() : '';\n"
    "    if (v !== null) return {rank: 0, v: parseFloat(v)};\n"
    "    if (t === '' || t.charAt(0) === '\\u2014' || /^n\\/a/i.test(t)) return {rank: 2, v: t};\n"
    "    var m = /^[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?/i.exec(t);\n"
    "    return m ? {rank: 0, v: parseFloat(m[0])} : {rank: 1, v: t};\n"
    "  }\n"
    "  function sortBy(th) {\n"
    "    var body = th.closest('table').tBodies[0], col = th.cellIndex;\n"
    "    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;\n"
    "    var rows = Array.prototype.map.call(body.rows, function (tr, i) {\n"
    "      return {tr: tr, k: key(tr.cells[col]), i: i};\n"
    "    });\n"
    "    rows.sort(function (a, b) {\n"
    "      if (a.k.rank !== b.k.rank) return a.k.rank - b.k.rank;\n"
    "      var c = a.k.rank === 0 ? a.k.v - b.k.v\n"
    "                             : String(a.k.v).localeCompare(String(b.k.v), undefined, {numeric: true});\n"
    "      return c ? dir * c : a.i - b.i;\n"
    "    });\n"
    "    rows.forEach(function (r) { body.appendChild(r.tr); });\n"
    "    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute('aria-sort'); });\n"
    "    th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');\n"
    "  }\n"
    "  document.querySelectorAll('table.sortable th').forEach(function (th) {\n"
    "    th.tabIndex = 0;\n"
    "    th.title = 'sort by this column (again: reverse)';\n"
    "    th.addEventListener('click', function () { sortBy(th); });\n"
    "    th.addEventListener('keydown', function (ev) {\n"
    "      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); sortBy(th); }\n"
    "    });\n"
    "  });\n"
    "})();\n";

/* ---------------------------------------------------------------- escaping */

/* The n bytes at s with &, <, >, " and ' as character references (text and attribute values). */
static void html_putn(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; s && i < n; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(s[i], f);
        }
    }
}

/* s escaped (html_putn); nothing for NULL. */
static void html_puts(FILE *f, const char *s) { html_putn(f, s, s ? strlen(s) : 0); }

/* s escaped inside <code>. */
static void html_code(FILE *f, const char *s) {
    fputs("<code>", f);
    html_puts(f, s);
    fputs("</code>", f);
}

/* ---------------------------------------------------------------- tables */

/* One cell's content: the bold lead, the text, the code tail (rep_cell). */
static void html_cell_text(FILE *f, const rep_cell *c) {
    const char *s = c->text ? c->text : "";
    const size_t len = strlen(s), b = (size_t)c->nbold, k = len - (size_t)c->ncode;
    if (b) fputs("<b>", f), html_putn(f, s, b), fputs("</b>", f);
    html_putn(f, s + b, k - b);
    if (c->ncode) fputs("<code>", f), html_putn(f, s + k, (size_t)c->ncode), fputs("</code>", f);
}

/* t as a sortable table in a box that scrolls sideways on a narrow window; a cell with a number
 * carries it in data-v for the sort. -1 when t is incomplete (out of memory). */
static int html_table(FILE *f, const rep_cells *t) {
    if (t->oom) return -1;
    fputs("<div class=\"scroll\"><table class=\"sortable\">\n<thead><tr>", f);
    for (int c = 0; c < t->ncols; c++) {
        fputs(t->align[c] == 'r' ? "<th class=\"r\">" : "<th>", f);
        html_cell_text(f, &t->head[c]);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int r = 0; r < rep_cells_rows(t); r++) {
        fputs("<tr>", f);
        for (int c = 0; c < t->ncols; c++) {
            const rep_cell *x = &t->body[r * t->ncols + c];
            fputs(t->align[c] == 'r' ? "<td class=\"r\"" : "<td", f);
            if (isfinite(x->key)) fprintf(f, " data-v=\"%.10g\"", x->key);
            fputc('>', f);
            html_cell_text(f, x);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n", f);
    return 0;
}

/* Builds a table with build(t, e) and writes it; -1 when out of memory. */
static int html_built_table(FILE *f, const rep_exp *e, int (*build)(rep_cells *, const rep_exp *)) {
    rep_cells t = {0};
    int rc = build(&t, e) || html_table(f, &t) ? -1 : 0;
    rep_cells_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- the runs not in the means */

/* Adds why run a is not in the means to t: its error, that it did not finish, or that its config
 * cannot be read. */
static void add_reason(rep_cells *t, const rep_exp *e, const rep_run *a) {
    const int failed = a->status == DB_FAILED;
    const char *error = a->r->error ? a->r->error : "(no reason recorded)";
    if (a->cfg_problem)
        rep_cells_add(t, NAN, 0, "", "in no row: %s%s%s", a->cfg_problem, failed ? "; its error: " : "",
                      failed ? error : "");
    else if (failed) rep_cells_add(t, NAN, 0, "", "%s", error);
    else rep_cells_add(t, NAN, 0, "", "not finished: %s on the same spec finishes it", e->bench ? "lrpe bench" : "lrpe run");
}

/* The runs of e that are in no mean (failed, not finished, config unreadable), one row each. */
static int missing_cells(rep_cells *t, const rep_exp *e) {
    static const char *const heads[5] = {"variant", "seed", "run", "state", "why"};
    for (int i = 0; i < 5; i++) rep_cells_col(t, i == 1 ? 'r' : 'l', NULL, "%s", heads[i]);
    for (int i = 0; i < e->nruns; i++) {
        const rep_run *a = &e->runs[i];
        if (a->status == DB_COMPLETED && !a->cfg_problem) continue;
        rep_cells_add(t, NAN, 0, "", "%s", a->r->variant ? a->r->variant : "-");
        rep_cells_add(t, (double)a->r->seed, 0, "", "%lld", a->r->seed);
        rep_cells_add(t, NAN, 0, "", "%.12s", a->r->run_id);
        rep_cells_add(t, NAN, 0, "", "%s", db_status_name(a->status));
        add_reason(t, e, a);
    }
    return t->oom ? -1 : 0;
}

/* The heading and table of e's runs not in the means, or the line saying every run completed. */
static int html_missing(FILE *f, const rep_exp *e) {
    int n = 0;
    for (int i = 0; i < e->nruns; i++) n += e->runs[i].status != DB_COMPLETED || e->runs[i].cfg_problem;
    fputs("<h3>Runs not in the means</h3>\n", f);
    if (!n) {
        fprintf(f, "<p>All %d runs completed.</p>\n", e->nruns);
        return 0;
    }
    fprintf(f, "<p class=\"note\">%d run%s failed, did not finish, or %s a config that cannot be read (such a run is "
               "in no row).</p>\n",
            n, n == 1 ? "" : "s", n == 1 ? "has" : "have");
    return html_built_table(f, e, missing_cells);
}

/* ---------------------------------------------------------------- the tables of an experiment */

/* The note above the results table: what the cells mean. */
static void html_table_note(FILE *f, const rep_exp *e) {
    int pct = 0;
    for (int i = 0; i < e->nprim; i++) pct |= e->prim[i].percent;
    if (e->bench) {
        fputs("<p class=\"note\">Training throughput and peak memory per variant and sequence length (lrpe bench; "
              "means where a point was measured more than once). Best tokens/s and lowest peak RSS at each length in "
              "bold.</p>\n", f);
        return;
    }
    fputs("<p class=\"note\">Each cell: mean ± sample std over the completed seeds (n seeds; — where n=1 gives "
          "no std); best mean in bold (↓ lower is better, ↑ higher). Δ: paired difference to ", f);
    html_code(f, e->baseline ? e->baseline : "-");
    fprintf(f, " by seed, mean ± 95%% CI half-width (Student t). params: trainable parameters; tokens/s: training "
               "throughput (mean).%s</p>\n",
            pct ? " Accuracy and F1 in percent (Δ in percentage points)." : "");
}

/* The results table, the runs not in it, and the length table of e. */
static int html_tables(FILE *f, const rep_exp *e) {
    fputs("<h3>Results</h3>\n", f);
    int rc = 0;
    if (e->nrows) {
        html_table_note(f, e);
        rc = html_built_table(f, e, rep_table_cells);
    } else {
        fputs("<p>No rows: no run has a readable config (see the runs not in the means).</p>\n", f);
    }
    rc |= html_missing(f, e);
    if (e->nlengths) {
        const rep_metric *m = &e->prim[0];
        fputs("<h3>Length extrapolation</h3>\n<p class=\"note\">", f);
        html_puts(f, m->label);
        fprintf(f, "%s on the whole test split cut into windows of each length (trained at %lld); mean ± std over "
                   "seeds (n), best of each column in bold; n/a with the reason where the encoding cannot go that "
                   "far.</p>\n",
                m->percent ? " (%)" : "", e->train_len);
        rc |= html_built_table(f, e, rep_lengths_cells);
    }
    return rc;
}

/* Links to e's table files. */
static void html_table_files(FILE *f, const rep_exp *e) {
    static const char *const files[2][3] = {{"table.md", "table.csv", "table.tex"},
                                            {"lengths.md", "lengths.csv", "lengths.tex"}};
    fputs("<p class=\"note\">Files:", f);
    for (int g = 0; g < (e->nlengths ? 2 : 1); g++)
        for (int i = 0; i < 3; i++) {
            fputs(g || i ? ", <a href=\"" : " <a href=\"", f);
            html_puts(f, e->dir);
            fprintf(f, "/%s\">%s</a>", files[g][i], files[g][i]);
        }
    fputs(" (the CSV has every number and the 95% CIs; the LaTeX uses booktabs).</p>\n", f);
}

/* ---------------------------------------------------------------- plots */

/* Copies the attribute at p (name, and = "value" when it has one, spaces around '=' dropped) into
 * f and returns what follows it: an xmlns declaration dropped (HTML knows SVG's namespace), an id
 * and a reference to one (href="#id", url(#id) in a value) prefixed with pre. */
static const char *svg_attr(FILE *f, const char *p, const char *pre) {
    const size_t n = strcspn(p, "= \t\r\n/>");
    const char *eq = p + n + strspn(p + n, " \t\r\n"), *v = *eq == '=' ? eq + 1 + strspn(eq + 1, " \t\r\n") : eq;
    const char q = *eq == '=' ? *v : 0, *end = n && (q == '"' || q == '\'') ? strchr(++v, q) : NULL;
    if (!end) { /* no quoted value: the name, or one character that is none */
        fwrite(p, 1, n ? n : 1, f);
        return p + (n ? n : 1);
    }
    if (!strncmp(p, "xmlns", 5) && (n == 5 || p[5] == ':')) return end + 1;
    const int id = n == 2 && !strncmp(p, "id", 2), ref = n >= 4 && !strncmp(p + n - 4, "href", 4) && *v == '#';
    fwrite(p, 1, n, f);
    fprintf(f, "=%c%s%s", q, ref ? "#" : "", id || ref ? pre : "");
    for (v += ref; v < end; v++) {
        if (strncmp(v, "url(#", 5)) {
            fputc(*v, f);
            continue;
        }
        fprintf(f, "url(#%s", pre);
        v += 4;
    }
    fputc(q, f);
    return end + 1;
}

/* Copies the SVG document svg into f as an inline element, from its <svg tag on (the XML prolog,
 * doctype and comments before it dropped), with label as its accessible name and its attributes
 * rewritten by svg_attr, so that the plots of one page share no id. -1 when svg has no <svg tag. */
static int html_svg(FILE *f, const char *svg, const char *pre, const char *label) {
    const char *p = strstr(svg, "<svg");
    if (!p) return -1;
    fputs("<svg role=\"img\" aria-label=\"", f);
    html_puts(f, label);
    fputc('"', f);
    int in_tag = 1;
    for (p += 4; *p;) {
        if (in_tag && strchr(" \t\r\n", p[-1]) && !strchr(" \t\r\n/>", *p)) {
            p = svg_attr(f, p, pre);
            continue;
        }
        in_tag = in_tag ? *p != '>' : *p == '<';
        fputc(*p++, f);
    }
    fputc('\n', f);
    return 0;
}

/* Plot i of experiment x: its SVG from out/<dir>/ inlined (or why not), its caption, links to its
 * files. */
static void html_plot(FILE *f, const char *out, const rep_exp *e, int x, const rep_plots *pl, int i, int gnuplot_missing) {
    const char *name = pl->name[i], *dat = e->bench ? "bench" : name, *why = NULL;
    char path[4096], pre[32], err[4400];
    char *svg = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s/%s.svg", out, e->dir, name);
    snprintf(pre, sizeof pre, "p%d-%d-", x, i);
    fputs("<figure>\n", f);
    if (gnuplot_missing) why = "not drawn: gnuplot is missing; make deps installs it";
    else if (fs_read_file(path, SVG_MAX_BYTES, &svg, &n, err, sizeof err)) why = err;
    else if (html_svg(f, svg, pre, pl->caption[i])) why = "its SVG file holds no <svg> element";
    free(svg);
    fputs("<figcaption>", f);
    html_puts(f, pl->caption[i]);
    if (why) fputs(" (", f), html_puts(f, why), fputc(')', f);
    fprintf(f, ": <a href=\"%s/%s.svg\">SVG</a>, <a href=\"%s/%s.png\">PNG</a>; data <a href=\"%s/%s.dat\">%s.dat</a>, "
               "script <a href=\"%s/%s.gp\">%s.gp</a></figcaption>\n</figure>\n",
            e->dir, name, e->dir, name, e->dir, dat, dat, e->dir, name, name);
}

/* The plots of experiment x, or why it has none. */
static void html_plots(FILE *f, const char *out, const rep_exp *e, int x, const rep_plots *pl, int gnuplot_missing) {
    fputs("<h3>Plots</h3>\n", f);
    if (!pl->n) fputs("<p>No plots: no completed run recorded the plotted metrics.</p>\n", f);
    for (int i = 0; i < pl->n; i++) html_plot(f, out, e, x, pl, i, gnuplot_missing);
}

/* ---------------------------------------------------------------- configuration and provenance */

/* The reference run's resolved config, key by key. */
static int config_cells(rep_cells *t, const rep_exp *e) {
    const rep_run *r0 = &e->runs[e->ref];
    rep_cells_col(t, 'l', NULL, "key");
    rep_cells_col(t, 'l', NULL, "value");
    for (int k = 0; k < r0->ncfg; k++) {
        const char *v = r0->cfg[k].value && *r0->cfg[k].value ? r0->cfg[k].value : "\"\"";
        rep_cells_add(t, NAN, 0, "", "%s", r0->cfg[k].key);
        rep_cells_add(t, NAN, 0, "", "%s", v);
    }
    return t->oom ? -1 : 0;
}

/* One changed config key (rep_row_changes) as plain text into the FILE * ctx. */
static void change_text(void *ctx, int i, const char *key, const char *value) {
    fprintf(ctx, "%s%s%s%s", i ? ", " : "", key, value ? " = " : " absent", value ? value : "");
}

/* One distinct provenance value (rep_prov_values) as plain text into the FILE * ctx. */
static void prov_text(void *ctx, int i, const char *value, int count) {
    fprintf(ctx, "%s%s", i ? "; " : "", value);
    if (count) fprintf(ctx, " (%d run%s)", count, count == 1 ? "" : "s");
}

/* Adds label and the text fill(e, key) writes as a row of two cells; text empty: none_text. */
static void add_text_row(rep_cells *t, const char *label, const rep_exp *e, const void *key,
                         int (*fill)(FILE *, const rep_exp *, const void *), const char *none_text) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        t->oom = 1;
        return;
    }
    int n = fill(m, e, key);
    if (fclose(m)) t->oom = 1;
    rep_cells_add(t, NAN, 0, "", "%s", label);
    rep_cells_add(t, NAN, 0, "", "%s", n ? (buf ? buf : "") : none_text);
    free(buf);
}

/* rep_row_changes of the row key as text into m. */
static int fill_changes(FILE *m, const rep_exp *e, const void *row) { return rep_row_changes(e, row, change_text, m); }

/* rep_prov_values of the provenance key as text into m. */
static int fill_prov(FILE *m, const rep_exp *e, const void *key) { return rep_prov_values(e, key, prov_text, m); }

/* Per row, the config keys where it differs from the reference run. */
static int changes_cells(rep_cells *t, const rep_exp *e) {
    rep_cells_col(t, 'l', NULL, "row");
    rep_cells_col(t, 'l', NULL, "changes from the reference config");
    for (int k = 0; k < e->nrows; k++)
        add_text_row(t, e->rows[k].label, e, &e->rows[k], fill_changes, "nothing (the reference config)");
    return t->oom ? -1 : 0;
}

/* The provenance: data, machine, build; each value over the runs that recorded it. */
static int prov_cells(rep_cells *t, const rep_exp *e) {
    rep_cells_col(t, 'l', NULL, "what");
    rep_cells_col(t, 'l', NULL, "value (a count where runs differ)");
    for (const rep_field *p = rep_prov_fields; p->key; p++)
        if (rep_prov_shown(e, p->key)) add_text_row(t, p->label, e, p->key, fill_prov, "not recorded");
    return t->oom ? -1 : 0;
}

/* The configuration section of e: the reference run's resolved config, what each row changes. */
static int html_config(FILE *f, const rep_exp *e) {
    fputs("<h3>Configuration</h3>\n", f);
    if (e->ref < 0) {
        fputs("<p>No run has a readable config (see the runs not in the means).</p>\n", f);
        return 0;
    }
    const rep_run *r0 = &e->runs[e->ref];
    char id[16];
    snprintf(id, sizeof id, "%.12s", r0->r->run_id);
    fprintf(f, "<p>Resolved config of the first run%s (", e->ref ? " with a readable config" : "");
    html_code(f, id);
    fputs(", variant ", f);
    html_code(f, r0->r->variant ? r0->r->variant : "-");
    fprintf(f, ", seed %lld)%s</p>\n", r0->r->seed, r0->ncfg ? ":" : ": empty (the config is {})");
    int rc = r0->ncfg ? html_built_table(f, e, config_cells) : 0;
    fputs("<p>What each row changes from it:</p>\n", f);
    return rc | html_built_table(f, e, changes_cells);
}

/* ---------------------------------------------------------------- the page */

/* The line with the task, the run counts and the dates of the runs. */
static void html_runs_line(FILE *f, const rep_exp *e) {
    int c[DB_NSTATUS];
    const char *first, *last;
    rep_count_runs(e, c);
    rep_run_dates(e, &first, &last);
    fputs("<p>Task ", f);
    html_puts(f, e->kind);
    fputs(" / ", f);
    html_puts(f, e->dataset);
    fprintf(f, ". Runs: %d of %d completed, %d failed, %d interrupted, %d running, %d pending. ", c[DB_COMPLETED],
            e->nruns, c[DB_FAILED], c[DB_INTERRUPTED], c[DB_RUNNING], c[DB_PENDING]);
    if (e->nbadcfg) fprintf(f, "%d with an unreadable config, in no row. ", e->nbadcfg);
    fputs("Dates (UTC): first run started ", f);
    html_puts(f, first ? first : "never");
    fputs(", last run ended ", f);
    html_puts(f, last ? last : "never");
    fputs(".</p>\n", f);
}

/* The head of the page up to the list of experiments. */
static void html_head(FILE *f, const rep_set *s, const char *db_path, int gnuplot_missing) {
    char now[32];
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
               "script-src 'unsafe-inline'\">\n<title>lrpe report</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n"
               "<h1>lrpe report</h1>\n<p>From ",
            css);
    html_code(f, db_path);
    fprintf(f, ", written %s UTC by lrpe %s. One section per experiment; each experiment's folder beside this file holds "
               "its tables (Markdown, CSV with every number and 95%% confidence intervals, LaTeX) and plots (PNG, SVG, "
               "and the gnuplot data and script that drew them). Click a column head to sort a table.</p>\n",
            rep_utc_now(now, sizeof now), lrpe_version());
    if (gnuplot_missing)
        fputs("<p class=\"warn\">Plots were not drawn: gnuplot is not installed (<code>make deps</code> installs it; then "
              "run <code>lrpe report</code> again).</p>\n", f);
    fputs("<nav><ul>\n", f);
    for (int x = 0; x < s->nexps; x++) {
        fprintf(f, "<li><a href=\"#exp-%d\">", x);
        html_puts(f, s->exps[x].name);
        fprintf(f, "</a>%s</li>\n", s->exps[x].bench ? " (benchmark)" : "");
    }
    fputs("</ul></nav>\n", f);
}

/* The whole page into f; -1 when out of memory or a write failed. */
static int html_page(FILE *f, const char *out, const rep_set *s, const rep_written *w, const char *db_path,
                     int gnuplot_missing) {
    int rc = 0;
    html_head(f, s, db_path, gnuplot_missing);
    for (int x = 0; x < s->nexps; x++) {
        const rep_exp *e = &s->exps[x];
        fprintf(f, "<section id=\"exp-%d\">\n<h2>", x);
        html_puts(f, e->name);
        fputs("</h2>\n", f);
        html_runs_line(f, e);
        rc |= html_tables(f, e);
        html_table_files(f, e);
        if (!w[x].tables_ok)
            fputs("<p class=\"warn\">Not all table files could be written: see the messages of lrpe report.</p>\n", f);
        html_plots(f, out, e, x, &w[x].plots, gnuplot_missing);
        rc |= html_config(f, e);
        fputs("<h3>Provenance</h3>\n", f);
        rc |= html_built_table(f, e, prov_cells);
        fputs("</section>\n", f);
    }
    fprintf(f, "</main>\n<script>\n%s</script>\n</body>\n</html>\n", js);
    return rc || ferror(f) ? -1 : 0;
}

int rep_html(const char *out, const rep_set *s, const rep_written *w, const char *db_path, int gnuplot_missing, char *err,
             size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/report.html", out);
    errno = 0;
    FILE *f = fopen(path, "w");
    int bad = !f || html_page(f, out, s, w, db_path, gnuplot_missing);
    int eno = errno;
    if (f && fclose(f) && !bad) bad = 1, eno = errno;
    if (bad)
        return errf(err, errlen, "cannot write %s: %s (check that the --out folder is writable)", path,
                    eno ? strerror(eno) : "out of memory or a write failed");
    return 0;
}
