// Phase: the base model. The model of the configuration, pretrained on the public corpus
// when one is given (lib/method/pretrain.h: cached and reused), moved to the rank's device and
// saved whole to checkpoints/base.h5 unless a resumed run already has it. Returns the
// model with its trainable tensors and the base weights every fine-tuning starts from.
#include "io/files.h"
#include "io/h5.h"
#include "lib/dist/log.h"
#include "lib/run/phases.h"
#include "lib/method/pretrain.h"
#include "lib/method/score.h"

namespace clues {

Trainable base_model(RunContext& ctx) {
  const Config& cfg = ctx.cfg;
  Trainable m;
  m.model = ctx.make_model();
  pretrain_base(cfg, ctx.comm, m.model, ctx.device);
  m.model->to(ctx.device);
  if (ctx.device.is_cuda()) log0(ctx.comm, "model and per-sample gradients on CUDA (each rank on the GPU of its local rank)");
  ctx.clock.end(ctx.comm, "pretrain");
  m.named = m.model->trainable();
  m.params = m.model->trainable_tensors();
  m.P = m.model->trainable_numel();
  log0(ctx.comm, "model: " + std::to_string(cfg.model.layers) + " layers, d_model " + std::to_string(cfg.model.d_model) +
                     ", " + to_string(cfg.model.finetune) + " fine-tuning, " + std::to_string(m.P) +
                     " trainable parameters");
  if (ctx.comm.is_root() && !file_exists(ctx.files.base())) {
    NamedTensors all;
    for (const auto& p : m.model->named_parameters(true)) all.emplace_back(p.key(), p.value());
    write_h5_file(ctx.files.base(), [&](H5File& f) { write_tensors(f, "/params", all); });
  }
  m.theta0 = flatten(m.params);
  m.score_mask = module_mask(m.named, cfg.score.modules);  // a bad entry stops the run before any training
  if (m.score_mask.defined()) {
    m.score_mask = m.score_mask.to(ctx.device);
    log0(ctx.comm, "score.modules: " + std::to_string(m.score_mask.sum().item<int64_t>()) + " of " + std::to_string(m.P) +
                       " trainable values enter the scores");
  }
  return m;
}

}  // namespace clues
