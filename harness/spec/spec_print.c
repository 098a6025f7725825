/* Text for people: the dry-run report of an expanded spec, and the list of every config key. */
#include <stdlib.h>
#include <string.h>

#include "spec.h"

/* Cell (row, col) of the run table; row -1 is the header. Columns: run_id, variant, seed, the
 * swept keys, then status when given. */
static const char *cell(const spec *s, const char *const *status, int row, int col, char *buf, size_t n) {
    if (col == 0) return row < 0 ? "run_id" : s->runs[row].run_id;
    if (col == 1) return row < 0 ? "variant" : s->runs[row].variant;
    if (col == 2) {
        if (row < 0) return "seed";
        snprintf(buf, n, "%llu", s->runs[row].seed);
        return buf;
    }
    if (col - 3 < s->naxes) return row < 0 ? s->axes[col - 3] : cfg_str(s->runs[row].cfg, s->axes[col - 3]);
    return row < 0 ? "status" : status[row] ? status[row] : "";
}

/* The experiment, the run table and the first run's resolved config. */
void spec_print(FILE *f, const spec *s, const char *const *status) {
    fprintf(f, "experiment %s%s%s%s: %d run%s = %d variant%s", s->name, s->path ? " (" : "", s->path ? s->path : "",
            s->path ? ")" : "", s->nruns, s->nruns == 1 ? "" : "s", s->nvariants, s->nvariants == 1 ? "" : "s");
    for (int a = 0; a < s->naxes; a++) fprintf(f, " x %d %s", s->axis_len[a], s->axes[a]);
    fprintf(f, " x %d seed%s\n\n", s->nseeds, s->nseeds == 1 ? "" : "s");
    int ncols = 3 + s->naxes + (status != NULL);
    int *width = calloc((size_t)ncols, sizeof *width);
    char buf[32];
    for (int r = -1; width && r < s->nruns; r++) /* one pass for the widths; the last column is not padded */
        for (int col = 0; col + 1 < ncols; col++) {
            int w = (int)strlen(cell(s, status, r, col, buf, sizeof buf));
            if (w > width[col]) width[col] = w;
        }
    for (int row = -1; row < s->nruns; row++) {
        for (int col = 0; col < ncols; col++)
            fprintf(f, "%s%-*s", col ? "  " : "", width ? width[col] : 0, cell(s, status, row, col, buf, sizeof buf));
        fputc('\n', f);
    }
    free(width);
    if (!s->nruns) return;
    const spec_run *r = &s->runs[0];
    fprintf(f, "\nresolved config of the first run (variant %s, seed %llu):\n", r->variant, r->seed);
    cfg_dump(f, r->cfg);
    int header = 0; /* the values a default computed from other keys, not the spec or the command line */
    for (int i = 0; i < schema_count(); i++) {
        const char *key = schema_at(i)->key, *how = schema_derived(i);
        if (!how || cfg_given(r->cfg, key) != 0) continue;
        if (!header++) fputc('\n', f);
        fprintf(f, "derived: %s = %s (%s)\n", key, cfg_str(r->cfg, key), how);
    }
}

/* Every key: name, type, default, valid values, description. */
void spec_print_keys(FILE *f) {
    for (int i = 0; i < schema_count(); i++) {
        const schema_key *k = schema_at(i);
        char choices[512], desc[512];
        schema_choices(i, choices, sizeof choices);
        const char *def = !k->def ? "(derived)" : !k->def[0] && k->type == SK_INTS ? "[]" : k->def;
        fprintf(f, "  %-24s %-8s default %-12s %s%s%s\n", k->key, schema_type_word(k->type), def,
                schema_describe(i, desc, sizeof desc), choices[0] ? "; " : "", choices);
    }
    fprintf(f, "  %-24s %-8s default %-12s %s\n", "seeds", "list", "[1]", "run seeds (seed=1,2,3 on the command line)");
}
