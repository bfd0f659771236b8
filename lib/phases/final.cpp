// Phase: the final model (with --model, unless final_model=false). The model fine-tuned
// from the base on the run's selection, the same model as the comparison's row of that
// selection (blend or clues, select.rank; reused when that row ran, trained here
// otherwise, so no test set is needed), handed back as a
// PEFT adapter (OUT/adapter, LoRA) or a model folder (OUT/model, full fine-tuning). Resume:
// the folder's last file (adapter_config.json or config.json) marks it done.
#include <filesystem>

#include "io/files.h"
#include "lib/hf_model.h"
#include "lib/log.h"
#include "lib/phases.h"

namespace clues {

void final_model(RunContext& ctx, RunState& run) {
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
  torch::Tensor theta = run.final_theta;
  if (!theta.defined()) {
    log0(ctx.comm, "final model: fine-tuning on the selection (" + std::to_string(cfg.train.rounds) + " rounds)");
    std::map<int64_t, std::vector<uint8_t>> selection;
    for (const auto& s : run.mine) selection[s.entry->index] = s.selected;
    theta = train_on_selection(ctx, run, selection, cfg.seed, "final");
  }
  if (ctx.comm.is_root()) {
    unflatten_into(theta, run.params);
    if (lora) write_peft_adapter(run.model, dir);
    else write_hf_folder(run.model, dir);
    log0(ctx.comm, std::string("final model: ") + (lora ? "PEFT adapter in " : "model folder in ") + dir);
  }
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "final model");
}

}  // namespace clues
