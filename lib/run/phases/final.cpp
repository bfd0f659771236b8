// Phase: the final model (with --model, unless final_model=false). The model fine-tuned
// from the base on the run's selection, the same model as the comparison's row of that
// selection (select.rank's rule; reused when that row ran, trained here
// otherwise, so no test set is needed), handed back as a
// PEFT adapter (OUT/adapter, LoRA) or a model folder (OUT/model, full fine-tuning). Resume:
// the folder's last file (adapter_config.json or config.json) marks it done.
#include <filesystem>
#include <map>

#include "io/files.h"
#include "lib/model/hf_model.h"
#include "lib/dist/log.h"
#include "lib/run/phases.h"

namespace clues {

void final_model(RunContext& ctx, Trainable& m, Collaboration& collab, const Selection& sel, const Comparison& cmp) {
  const Config& cfg = ctx.cfg;
  if (cfg.model.dir.empty() || !cfg.final_model) return;
  const bool lora = cfg.model.finetune == Finetune::kLora;
  const std::string dir = lora ? ctx.files.adapter_dir() : ctx.files.model_dir();
  const std::string marker = dir + (lora ? "/adapter_config.json" : "/config.json");
  int done = ctx.comm.is_root() && file_exists(marker) ? 1 : 0;
  ctx.comm.broadcast(&done, sizeof done);
  if (done) {
    log0(ctx.comm, "resume: " + dir + " already written");
    return;
  }
  torch::Tensor theta = cmp.final_theta;
  if (!theta.defined()) {
    log0(ctx.comm, "final model: fine-tuning on the selection (" + std::to_string(cfg.train.rounds) + " rounds)");
    std::map<int64_t, std::vector<uint8_t>> selection;
    for (const auto& s : sel.mine) selection[s.silo] = s.selected;
    theta = collab.train_on_selection(selection, cfg.seed, "final");
  }
  if (ctx.comm.is_root()) {
    unflatten_into(theta, m.params);
    if (lora) write_peft_adapter(m.model, dir);
    else write_hf_folder(m.model, dir);
    log0(ctx.comm, std::string("final model: ") + (lora ? "PEFT adapter in " : "model folder in ") + dir);
  }
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "final model");
}

}  // namespace clues
