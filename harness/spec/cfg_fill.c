/* From a resolved config to the structs core/ takes: model_config, lr_schedule, adamw_config. */
#include <stdio.h>

#include "cfg.h"

/* The model fields the config decides (see cfg.h); pe_opt via pe_options_set. */
int cfg_model_config(const cfg *c, model_config *m, char *err, size_t errlen) {
    static const char *const PE_KEYS[] = {"p", "theta", "householder", "axes"};
    m->attention = cfg_str(c, "model.attention");
    m->feature_map = cfg_str(c, "model.feature_map");
    m->normalizer = cfg_str(c, "model.normalizer");
    m->absolute = cfg_str(c, "model.absolute");
    m->encoding = cfg_str(c, "model.encoding");
    m->decay = cfg_str(c, "model.decay");
    m->device = cfg_str(c, "model.device");
    m->precision = cfg_str(c, "model.precision");
    m->layers = (int)cfg_int(c, "model.layers");
    m->d_model = (int)cfg_int(c, "model.d_model");
    m->heads = (int)cfg_int(c, "model.heads");
    m->ffn_mult = (int)cfg_int(c, "model.ffn_mult");
    m->pe_opt = pe_options_default();
    for (size_t i = 0; i < sizeof PE_KEYS / sizeof PE_KEYS[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "model.lrpe.%s", PE_KEYS[i]);
        if (pe_options_set(&m->pe_opt, PE_KEYS[i], cfg_str(c, key), err, errlen)) return -1;
    }
    return 0;
}

/* lr, min_lr, warmup, total steps and the decay shape. */
lr_schedule cfg_lr_schedule(const cfg *c) {
    int shape = lr_shape_parse(cfg_str(c, "train.schedule"));
    lr_schedule s = {.lr = (float)cfg_float(c, "train.lr"),
                     .min_lr = (float)cfg_float(c, "train.min_lr"),
                     .warmup = (long)cfg_int(c, "train.warmup"),
                     .total = (long)cfg_int(c, "train.steps"),
                     .shape = shape < 0 ? LR_COSINE : (lr_shape)shape};
    return s;
}

/* AdamW defaults with the config's betas, epsilon and weight decay. */
adamw_config cfg_adamw_config(const cfg *c) {
    adamw_config a = adamw_defaults();
    a.beta1 = (float)cfg_float(c, "train.beta1");
    a.beta2 = (float)cfg_float(c, "train.beta2");
    a.eps = (float)cfg_float(c, "train.eps");
    a.weight_decay = (float)cfg_float(c, "train.weight_decay");
    return a;
}
