// Phase: the base model. The model of the configuration, pretrained on the public corpus
// when one is given (lib/pretrain.h: cached and reused), moved to the rank's device and
// saved whole to checkpoints/base.h5 unless a resumed run already has it.
#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "lib/log.h"
#include "lib/phases.h"
#include "lib/pretrain.h"

namespace clues {

HostedSilo& RunState::hosted(int64_t silo) {
  for (auto& s : mine)
    if (s.entry->index == silo) return s;
  throw Error("silo " + std::to_string(silo) + " is not hosted by this rank");
}

RunState base_model(RunContext& ctx) {
  const Config& cfg = ctx.cfg;
  RunState run;
  run.model = ctx.make_model();
  pretrain_base(cfg, ctx.comm, run.model, ctx.device);
  run.model->to(ctx.device);
  if (ctx.device.is_cuda()) log0(ctx.comm, "model and per-sample gradients on CUDA (each rank on the GPU of its local rank)");
  ctx.clock.end(ctx.comm, "pretrain");
  run.named = run.model->trainable();
  run.params = run.model->trainable_tensors();
  run.P = run.model->trainable_numel();
  log0(ctx.comm, "model: " + std::to_string(cfg.model.layers) + " layers, d_model " + std::to_string(cfg.model.d_model) +
                     ", " + to_string(cfg.model.finetune) + " fine-tuning, " + std::to_string(run.P) +
                     " trainable parameters");
  if (ctx.comm.is_root() && !file_exists(ctx.files.base())) {
    NamedTensors all;
    for (const auto& p : run.model->named_parameters(true)) all.emplace_back(p.key(), p.value());
    write_h5_file(ctx.files.base(), [&](H5File& f) { write_tensors(f, "/params", all); });
  }
  run.theta0 = flatten(run.params);
  run.theta = run.theta0;
  for (const auto& s : ctx.silos)
    if (ctx.hosts(s.index)) {
      HostedSilo h;
      h.entry = &s;
      h.score.assign(static_cast<size_t>(s.samples), 0.0);
      run.mine.push_back(std::move(h));
    }
  return run;
}

}  // namespace clues
