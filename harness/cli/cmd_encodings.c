/* `lrpe encodings`: every positional encoding with its hook points, the attentions it supports,
 * its options with their defaults, and the parameters it adds (at a reference model size). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pe.h"

/* reference model the parameter counts are given for */
enum { REF_D = 128, REF_HEADS = 4, REF_LEN = 256 };

/* "embed+qk" style names of a hook mask into buf. */
static const char *hook_names(unsigned hooks, char *buf, size_t len) {
    static const char *const names[] = {"embed", "qk", "score", "decay"};
    buf[0] = 0;
    for (int i = 0; i < 4; i++)
        if (hooks & (1u << i)) snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "+" : "", names[i]);
    if (!buf[0]) snprintf(buf, len, "-");
    return buf;
}

/* Trainable and fixed parameter floats encoding vt adds to a 1-layer reference model with default
 * options and attention `attn`; -1 when it cannot be built. */
static int count_params(const pe_vtable *vt, unsigned attn, size_t *trainable, size_t *fixed) {
    pe_options o = pe_options_default();
    pe_dims d = {.d_model = REF_D, .heads = REF_HEADS, .head_dim = REF_D / REF_HEADS, .layers = 1,
                 .max_len = REF_LEN, .pos_rank = 1, .causal = 1, .attention = attn, .seed = 1};
    pe *e;
    char err[256];
    if (pe_create(&e, vt->name, &o, &d, err, sizeof err)) return -1;
    tensor_table tt = {0};
    int rc = vt->add_params(e, &tt);
    *trainable = *fixed = 0;
    for (int i = 0; rc == 0 && i < tt.n; i++) *(tt.t[i].frozen ? fixed : trainable) += tt.t[i].numel;
    tt_free(&tt);
    pe_destroy(e);
    return rc;
}

static int cmd_encodings(int argc, char **argv);

const cli_command cli_encodings = {"encodings", "", "every positional encoding: hooks, attentions, options, parameters",
                                   cli_no_options, cmd_encodings, 0, NULL};

static int cmd_encodings(int argc, char **argv) {
    int rc = cli_parse(&cli_encodings, argc, argv, NULL, NULL);
    if (rc) return rc;
    pe_options dflt = pe_options_default();
    printf("%-17s %-12s %-16s %-10s %s\n", "encoding", "hooks", "attention", "params", "options (default)");
    for (int i = 0; i < pe_count(); i++) {
        const pe_vtable *vt = pe_at(i);
        char hooks[48], params[32], opts[160] = "";
        size_t trainable, fixed;
        unsigned attn = vt->attn_ok & PE_ATTN_LINEAR ? PE_ATTN_LINEAR : PE_ATTN_SOFTMAX;
        if (count_params(vt, attn, &trainable, &fixed)) snprintf(params, sizeof params, "?");
        else if (fixed) snprintf(params, sizeof params, "%zu+%zu", trainable, fixed);
        else snprintf(params, sizeof params, "%zu", trainable);
        for (int k = 0; vt->keys && vt->keys[k]; k++)
            snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s%s=%s", k ? " " : "", vt->keys[k],
                     pe_option_value(&dflt, vt->keys[k]));
        const char *attn_ok = vt->attn_ok == (PE_ATTN_SOFTMAX | PE_ATTN_LINEAR) ? "softmax,linear"
                              : vt->attn_ok & PE_ATTN_LINEAR                    ? "linear"
                                                                                : "softmax";
        printf("%-17s %-12s %-16s %-10s %s\n", vt->name, hook_names(vt->hooks, hooks, sizeof hooks), attn_ok, params,
               opts[0] ? opts : "-");
        printf("  %s\n", vt->summary);
    }
    printf("\nhooks: embed = added to the token embeddings (model.absolute); qk = applied to q and k per\n"
           "position (model.encoding); score = bias on softmax scores; decay = per-head decay of linear\n"
           "attention. params: floats added per model (embed) or per layer (others) at d_model %d, %d heads,\n"
           "max length %d, default options; A+B = A trainable + B fixed.\n"
           "option values: p: %s; theta: %s; householder: %s; axes: %s (2-D positions).\n",
           REF_D, REF_HEADS, REF_LEN, pe_option_choices("p"), pe_option_choices("theta"),
           pe_option_choices("householder"), pe_option_choices("axes"));
    return 0;
}
