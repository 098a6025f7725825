/* Training on the GPU (model.device=cuda) against the CPU, through the binary and in process: 200
 * steps on KJV give the CPU's loss curve within 1e-3 relative (fp32), a run killed after a
 * checkpoint resumes on the GPU bitwise, and a GPU checkpoint loads into a CPU model. Each test is
 * skipped, with the reason, where this build or machine cannot open the CUDA backend. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "checkpoint.h"
#include "cmd_fixture.h"
#include "gradcheck.h"
#include "test.h"

/* 1 when the CUDA backend opens here; otherwise marks the running test skipped with the reason. */
static int cuda_or_skip(void) {
    const backend *be;
    char err[512];
    if (backend_open(&be, "cuda", BE_FP32, err, sizeof err)) {
        test_skip("%s", err);
        return 0;
    }
    backend_close(be);
    return 1;
}

#define KJV_SPEC                                                                                  \
    "name: g\n"                                                                                   \
    "task: {kind: lm, dataset: kjv, seq_len: 64}\n"                                               \
    "model: {layers: 2, d_model: 64, heads: 4, attention: linear, encoding: lrpe-unitary}\n"       \
    "train: {steps: 200, batch: 8, eval_every: 100, eval_batches: 2, test_batches: 2, checkpoint_every: 50}\n"

/* A fixture folder holding the KJV spec and a link to the repository's data/ (the tests run from the
 * repository root); 0, or -1 after a recorded failure. */
static int kjv_fixture(harness_fx *f) {
    char data[PATH_MAX], link[640];
    if (!realpath("data", data)) return test_fail(__FILE__, __LINE__, "no data/ here: run `make data`"), -1;
    if (fx_open(f)) return -1;
    fx_write(f, "s.yaml", KJV_SPEC);
    if (symlink(data, fx_path(f, "data", link, sizeof link))) {
        test_fail(__FILE__, __LINE__, "cannot link %s into the fixture", data);
        fx_close(f);
        return -1;
    }
    return 0;
}

/* The value of every "train/loss" row of a fx_metrics_text dump, by step, into loss[cap]; count. */
static int train_losses(const char *text, double *loss, int cap) {
    int n = 0;
    for (const char *line = text; *line && n < cap; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
        char run[128], key[128];
        long step;
        double v;
        if (sscanf(line, "%127s %127s %ld %lf", run, key, &step, &v) == 4 && strcmp(key, "train/loss") == 0)
            loss[n++] = v;
    }
    return n;
}

/* 200 steps of linear attention + lrpe-unitary on KJV: the GPU's loss curve is the CPU's. */
TEST(gpu_kjv_200_steps_match_cpu) {
    if (!cuda_or_skip()) return;
    static char cpu[1 << 20], gpu[1 << 20];
    static double lc[4096], lg[4096];
    harness_fx f;
    if (kjv_fixture(&f)) return;
    char out[16384], path[640];
    CHECK(fx_lrpe(&f, "run s.yaml --device cpu --db cpu.db", out, sizeof out) == 0, "cpu run: %s", out);
    CHECK(fx_lrpe(&f, "run s.yaml --device cuda --db gpu.db", out, sizeof out) == 0, "gpu run: %s", out);
    fx_metrics_text(fx_path(&f, "cpu.db", path, sizeof path), cpu, sizeof cpu);
    fx_metrics_text(fx_path(&f, "gpu.db", path, sizeof path), gpu, sizeof gpu);
    int nc = train_losses(cpu, lc, 4096), ng = train_losses(gpu, lg, 4096);
    CHECK(nc >= 200 && ng == nc, "train/loss rows: %d on the CPU, %d on the GPU", nc, ng);
    double worst = 0;
    for (int i = 0; i < nc && i < ng; i++) worst = fmax(worst, fabs(lg[i] - lc[i]) / fabs(lc[i]));
    CHECK(worst <= 1e-3, "the GPU's loss curve departs from the CPU's by %.3g relative (bound 1e-3)", worst);
    fx_close(&f);
}

/* A GPU run killed right after its checkpoint at step 50 resumes on the GPU: every metric row is
 * bitwise the uninterrupted GPU run's. */
TEST(gpu_resume_is_bitwise) {
    if (!cuda_or_skip()) return;
    static char straight[1 << 20], resumed[1 << 20];
    harness_fx f;
    if (kjv_fixture(&f)) return;
    char out[16384], path[640];
    CHECK(fx_lrpe(&f, "run s.yaml --device cuda --db a.db", out, sizeof out) == 0, "straight run: %s", out);
    int rc = fx_lrpe_env(&f, "LRPE_FAULT=kill-after-checkpoint:50", "run s.yaml --device cuda --db b.db", out, sizeof out);
    CHECK(rc == -1 || rc == 137, "the run was not killed (exit %d): %s", rc, out);
    rc = fx_lrpe(&f, "run s.yaml --device cuda --db b.db", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "resuming from step 50"), "resumed run: exit %d: %s", rc, out);
    long a = fx_metrics_text(fx_path(&f, "a.db", path, sizeof path), straight, sizeof straight);
    long b = fx_metrics_text(fx_path(&f, "b.db", path, sizeof path), resumed, sizeof resumed);
    CHECK(a > 0 && a == b && strcmp(straight, resumed) == 0, "%ld rows resumed vs %ld straight, or values differ", b, a);
    fx_close(&f);
}

/* A small model of this device; NULL after a recorded failure. */
static model *small_model(const char *device) {
    model_config c = model_config_default();
    c.attention = "softmax", c.encoding = "rope", c.d_model = 32, c.max_batch = 4, c.max_seq = 32, c.device = device;
    char err[256];
    model *m;
    if (model_create(&m, &c, err, sizeof err)) return test_fail(__FILE__, __LINE__, "%s", err), NULL;
    model_init(m, 3);
    return m;
}

/* Five steps on device `from`, saved; the checkpoint loads into a CPU model with the same bits, which
 * computes the same loss on the batch. */
static void checkpoint_loads_on_cpu(const char *from) {
    char dir[512], err[512], path[1024];
    if (test_tmpdir(dir, sizeof dir, "ckptdev")) return;
    model *g = small_model(from), *c = small_model("cpu");
    trainer tg = {0}, tc = {0};
    const adamw_config ac = adamw_defaults();
    if (!g || !c || trainer_init(&tg, g, &ac) || trainer_init(&tc, c, &ac)) {
        test_fail(__FILE__, __LINE__, "set-up");
        trainer_free(&tg), trainer_free(&tc);
        model_destroy(g), model_destroy(c);
        test_rmtree(dir);
        return;
    }
    int32_t tok[4 * 32];
    for (int i = 0; i < 4 * 32; i++) tok[i] = (i * 7 + 3) % 256;
    model_batch b = {.B = 4, .T = 32, .tokens = tok, .targets = tok};
    for (int s = 0; s < 5; s++) test_train_step(&tg, &b, 1e-3f, 1.0f, NULL);
    trainer_download(&tg);
    ckpt_state st = {.step = tg.step};
    CHECK(ckpt_save(dir, model_param_table(g), model_params(g), tg.adam_m, tg.adam_v, &st, "r", "c", err, sizeof err) == 0,
          "save: %s", err);
    snprintf(path, sizeof path, "%s/ckpt-%ld.safetensors", dir, tg.step);
    ckpt_state ld = {0};
    CHECK(ckpt_load_file(path, model_param_table(c), model_params(c), tc.adam_m, tc.adam_v, &ld, "r", "c", err,
                         sizeof err) == 0,
          "load on the CPU: %s", err);
    size_t n = model_param_table(c)->total;
    CHECK(memcmp(model_params(c), model_params(g), n * sizeof(float)) == 0, "parameters differ after the load");
    CHECK_CLOSE(test_forward(c, &b), test_forward(g, &b), 1e-5, 0, "loss of the loaded model on the CPU vs the saver");
    trainer_free(&tg), trainer_free(&tc);
    model_destroy(g), model_destroy(c);
    test_rmtree(dir);
}

TEST(gpu_checkpoint_loads_on_cpu) {
    if (cuda_or_skip()) checkpoint_loads_on_cpu("cuda");
}

/* The same path CPU to CPU, so the test itself is exercised on every machine. */
TEST(checkpoint_of_a_backend_loads_on_cpu) { checkpoint_loads_on_cpu("cpu"); }
