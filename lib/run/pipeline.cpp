// The whole CLUES run (lib/run/pipeline.h): a short list of phase calls.
#include "lib/run/pipeline.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "io/error.h"
#include "lib/dist/log.h"
#include "lib/dist/nvtx.h"
#include "lib/run/phases.h"
#include "lib/run/run_context.h"

namespace clues {

namespace {

// Runs one phase inside an NVTX range of its name (Nsight Systems; lib/dist/nvtx.h).
template <class F>
auto phase(const char* name, F&& f) {
  const NvtxRange range(name);
  return f();
}

}  // namespace

RunSummary run(RunContext& ctx) {
  try {
    Trainable m = phase("base model", [&] { return base_model(ctx); });
    const auto collab = make_collaboration(collab_env(ctx), m);
    const WarmUp warm = phase("warmup", [&] { return warm_up(ctx, *collab); });
    Scores scores = phase("scoring", [&] { return score_checkpoints(ctx, m, *collab); });
    const Selection sel = phase("selection", [&] { return select_samples(ctx, m, *collab, scores); });
    const Comparison cmp = phase("comparison", [&] { return compare_selections(ctx, m, *collab, sel); });
    phase("final model", [&] { final_model(ctx, m, *collab, sel, cmp); });
    return phase("output", [&] { return write_outputs(ctx, m, scores, sel, cmp, warm); });
  } catch (const c10::Error& e) {
    throw Error(std::string("LibTorch: ") + e.what_without_backtrace());
  }
}

RunSummary run_pipeline(const Config& cfg, const Comm& comm) {
  try {
    const auto ctx = make_run_context(cfg, comm);
    return run(*ctx);
  } catch (const c10::Error& e) {
    throw Error(std::string("LibTorch: ") + e.what_without_backtrace());
  }
}

std::string format_summary(const RunSummary& s) {
  std::ostringstream os;
  char buf[256];
  if (!s.selection.rule.empty()) {
    os << "selection: " << s.selection.rule << ", " << s.selection.origin << ": " << s.selection.description;
    if (s.selection.loss_weight >= 0) os << " (select.loss_weight " << s.selection.loss_weight << ")";
    os << (s.selection.rule == "clues" ? "\n" : "\nthe paper's rule, every sample scoring at least the threshold, is --select.rank clues\n");
  }
  if (std::isnan(s.threshold)) {
    os << "threshold: one per silo (select.scope=silo), listed below\n";
  } else {
    std::snprintf(buf, sizeof buf, "threshold %.6g\n", s.threshold);
    os << buf;
  }
  std::snprintf(buf, sizeof buf, "%-12s %8s %8s %7s %8s %7s %7s %7s %7s %9s\n", "silo",
                "samples", "kept", "kept%", "bad%", "AUROC", "prec", "recall", "F1", "test_loss");
  os << buf;
  auto f = [](double v, const char* fmt) {
    char b[32];
    if (v < 0 || std::isnan(v)) return std::string("-");
    std::snprintf(b, sizeof b, fmt, v);
    return std::string(b);
  };
  for (const auto& x : s.silos) {
    std::snprintf(buf, sizeof buf, "%-12s %8lld %8lld %7s %8s %7s %7s %7s %7s %9s\n", x.name.c_str(),
                  static_cast<long long>(x.samples), static_cast<long long>(x.kept),
                  f(100.0 * static_cast<double>(x.kept) / static_cast<double>(std::max<int64_t>(x.samples, 1)), "%.1f").c_str(),
                  f(x.bad_share * 100.0, "%.1f").c_str(), f(x.auroc, "%.3f").c_str(), f(x.precision, "%.3f").c_str(),
                  f(x.recall, "%.3f").c_str(), f(x.f1, "%.3f").c_str(), f(x.test_loss, "%.4f").c_str());
    os << buf;
  }
  bool test_loss = false;
  for (const auto& x : s.silos) test_loss = test_loss || x.test_loss >= 0;
  if (test_loss) os << "(test_loss: on --test under the warm-up's model, before fine-tuning on any selection)\n";
  bool per_silo = false;
  for (const auto& x : s.silos) per_silo = per_silo || x.threshold != s.threshold;
  if (per_silo) {
    os << "threshold per silo (each from the anchors scored like its samples):";
    for (const auto& x : s.silos) {
      std::snprintf(buf, sizeof buf, " %s %.6g", x.name.c_str(), x.threshold);
      os << buf;
    }
    os << "\n";
  }
  if (s.pooled_auroc >= 0) {
    std::snprintf(buf, sizeof buf, "pooled: AUROC %.3f, precision %.3f, recall %.3f, F1 %.3f\n", s.pooled_auroc,
                  s.pooled_precision, s.pooled_recall, s.pooled_f1);
    os << buf;
  }
  if (!s.comparison.empty()) {
    std::vector<std::string> names;
    for (const auto& x : s.silos) names.push_back(x.name);
    os << "\ncomparison (each row fine-tuned from the base on its selection, evaluated on --test):\n"
       << comparison_markdown(s.comparison, names);
  }
  std::snprintf(buf, sizeof buf, "wall time %s\n", format_seconds(s.seconds).c_str());
  os << buf;
  return os.str();
}

}  // namespace clues
