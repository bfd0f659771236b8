// Phase: scoring. At every warm-up checkpoint c: the validation gradient ḡ_c (fedavg: of
// the global model, chunks spread over ranks, summed in chunk order; merge: of each silo's
// own model, on its rank; with per-domain validation one per domain and a silo's target
// Σ_d w_d ḡ_d), then for every hosted silo's samples (and the anchors)
// score_i += lr_c · ⟨Γ(g_i), ḡ_c⟩ / C with Γ from the silo's or the server's Adam moments.
// Resume: each set's dots go batch by batch into a journal (io/layout.h), and a killed job
// goes on after the last complete batch.
#include <cmath>
#include <optional>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/scores_file.h"
#include "lib/batches.h"
#include "lib/collectives.h"
#include "lib/engines.h"
#include "lib/log.h"
#include "lib/phases.h"
#include "lib/score.h"
#include "lib/train.h"

namespace clues {

namespace {

// Scores sets of samples at one checkpoint and adds them to their running scores: of the
// global model (silo == nullptr, collective), or of one silo's own model (merge, local).
class CheckpointScorer {
 public:
  CheckpointScorer(RunContext& ctx, RunState& run, int64_t c, const SiloEntry* silo, Progress& progress, int64_t& done_work)
      : ctx_(ctx), run_(run), c_(c), progress_(progress), done_work_(done_work) {
    const H5File rf = H5File::open_read(silo ? ctx.files.silo_moments(c, silo->name) : ctx.files.round(c));
    unflatten_into(read_flat(rf, "/trainable", run.named), run.params);
    lr_ = rf.attr_f64("/", "lr");
    for (const auto& v : ctx.validation)
      gbars_.push_back(silo ? mean_grad(run.model, v.samples, ctx.cfg.score.batch_size) : validation_gradient(v.samples));
    if (project_dim() > 0) make_dirs(ctx.files.features_dir());
    if (project_dim() > 0 && (silo || ctx.comm.is_root()))
      for (size_t d = 0; d < gbars_.size(); ++d)
        write_features((ctx.validation[d].domain.empty() ? "validation" : "validation_" + ctx.validation[d].domain) +
                           (silo ? "_for_" + silo->name : ""),
                       project(gbars_[d].unsqueeze(0), project_dim(), ctx.cfg.score.project_seed));
  }
  double lr() const { return lr_; }

  torch::Tensor target_for(const std::string& silo) const { return domain_target(ctx_, gbars_, silo); }
  // The anchors' target for the global threshold: the silos' targets weighted by sample count.
  torch::Tensor anchor_target() const {
    if (gbars_.size() == 1 && ctx_.validation[0].domain.empty()) return gbars_[0];
    const auto counts = ctx_.counts();
    double total = 0;
    for (double n : counts) total += n;
    torch::Tensor t = torch::zeros_like(gbars_[0]);
    for (const auto& s : ctx_.silos) t += target_for(s.name) * (counts[static_cast<size_t>(s.index)] / total);
    return t;
  }
  // Γ of the server's averaged moments, read from the round file when first needed (the
  // anchors on rank 0, or every silo with score.moments=server).
  const Preconditioner& server() {
    if (!server_) server_ = preconditioner(H5File::open_read(ctx_.files.round(c_)), "/server");
    return *server_;
  }

  // Γ for a set scored with the moments stored in `group` of `f` (the identity for SGD).
  Preconditioner preconditioner(const H5File& f, const std::string& group) const {
    const ScoreConfig& sc = ctx_.cfg.score;
    const TrainConfig& tc = ctx_.cfg.train;
    Preconditioner pre{{}, {}, tc.beta1, tc.beta2, tc.eps};
    pre.momentum = sc.precondition == Precondition::kAdam;
    pre.unit = sc.normalize == Normalize::kUnit;
    if (sc.precondition != Precondition::kSgd) {
      pre.m = read_flat(f, group + "/m", run_.named).to(ctx_.device);
      pre.v = read_flat(f, group + "/v", run_.named).to(ctx_.device);
    }
    return pre;
  }

  // Adds lr·dot/C of every sample of `data` to `acc`. Without features the dots go batch by
  // batch into the set's journal, and what a killed run left there is reused.
  void accumulate(const std::vector<Encoded>& data, const torch::Tensor& target, const Preconditioner& pre,
                  std::vector<double>& acc, const std::string& set, const std::string& source) {
    const Config& cfg = ctx_.cfg;
    const int64_t base = done_work_;
    const int64_t n = static_cast<int64_t>(data.size());
    std::vector<double> dots;
    if (project_dim() > 0) {
      torch::Tensor feats;
      dots = score_samples(cfg.score, run_.model, data, target, pre, cfg.model.max_seq_len,
                           [&](int64_t d, int64_t) { progress_.update(base + d); }, &feats);
      write_features(set, feats);
    } else {
      const std::string journal = ctx_.files.dots_journal(c_, set);
      // Whole batches only: a resumed set continues at a batch boundary, so every batch is
      // packed as in an uninterrupted run and the scores are the same bits.
      dots = read_journal(journal, static_cast<size_t>(cfg.score.batch_size));
      const int64_t resumed = static_cast<int64_t>(dots.size());
      if (resumed > n)
        throw IoError(journal + " holds more scores than " + set + " has samples: it belongs to another run; "
                      "pass --overwrite to start afresh");
      if (resumed > 0 && resumed < n)
        log_any(ctx_.comm, "resume: " + set + " at checkpoint " + std::to_string(c_) + " continues after " +
                               std::to_string(resumed) + " scored samples");
      for_each_batch(n - resumed, cfg.score.batch_size, [&](int64_t begin, int64_t end) {
        const std::vector<Encoded> batch(data.begin() + resumed + begin, data.begin() + resumed + end);
        const auto d = score_samples(cfg.score, run_.model, batch, target, pre, cfg.model.max_seq_len);
        append_journal(journal, d);
        dots.insert(dots.end(), d.begin(), d.end());
        progress_.update(base + static_cast<int64_t>(dots.size()));
        failpoint("scoring_batch", ctx_.comm.rank());
      });
    }
    if (!dots.empty() && injected("nan_score", ctx_.comm.rank())) dots[0] = std::nan("");  // the tests' fault
    check_finite(dots, set, source);
    accumulate_scores(acc, dots, lr_, cfg.train.rounds);
    done_work_ += n;
  }

 private:
  int64_t project_dim() const { return ctx_.cfg.score.project_dim; }

  // Stops the job at the first NaN or infinite score, naming the sample and what to try.
  void check_finite(const std::vector<double>& dots, const std::string& set, const std::string& source) const {
    for (size_t i = 0; i < dots.size(); ++i)
      if (!std::isfinite(dots[i]))
        throw NumericalError("the score of " + source + ":" + std::to_string(i + 1) + " (" + set + ") at checkpoint " +
                             std::to_string(c_) + " is " + (std::isnan(dots[i]) ? "NaN" : "infinite") +
                             ": the warm-up diverged or its moments are broken; no result was written.\nHINT: lower "
                             "train.lr, raise train.eps, or keep train.grad_clip on; then start again with --overwrite");
  }

  // ḡ_c of one validation set: chunks spread over ranks, summed in chunk order.
  torch::Tensor validation_gradient(const std::vector<Encoded>& v) {
    const int64_t n = static_cast<int64_t>(v.size());
    const int64_t vb = ctx_.cfg.score.batch_size;
    const int size = ctx_.comm.size();
    return ordered_sum(ctx_.comm, batch_count(n, vb), [size](int64_t j) { return static_cast<int>(j % size); }, run_.P,
                       [&](int64_t j) { return grad_sum(run_.model, batch_of(v, j * vb, std::min(n, (j + 1) * vb))); },
                       ctx_.device) /
           static_cast<double>(n);
  }

  // features/<set>_round_NNN.h5 (score.project_dim > 0).
  void write_features(const std::string& set, const torch::Tensor& f) {
    const auto t = f.to(torch::kCPU, torch::kFloat32).contiguous();
    write_features_file(ctx_.files.features(set, c_), t.data_ptr<float>(), t.size(0), project_dim(), lr_,
                        ctx_.cfg.train.rounds, ctx_.cfg.score.project_seed);
  }

  RunContext& ctx_;
  RunState& run_;
  int64_t c_;
  Progress& progress_;
  int64_t& done_work_;
  double lr_ = 0;
  std::optional<Preconditioner> server_;
  std::vector<torch::Tensor> gbars_;  // per validation set, in --validation order
};

}  // namespace

torch::Tensor domain_target(const RunContext& ctx, const std::vector<torch::Tensor>& gbars, const std::string& silo) {
  if (gbars.size() == 1 && ctx.validation[0].domain.empty()) return gbars[0];
  torch::Tensor t = torch::zeros_like(gbars[0]);
  for (size_t d = 0; d < gbars.size(); ++d) t += gbars[d] * (ctx.validation[d].domain == silo ? 1.0 : ctx.cfg.score.other_domains);
  return t;
}

void score_checkpoints(RunContext& ctx, RunState& run) {
  const Config& cfg = ctx.cfg;
  const int64_t C = cfg.train.rounds;
  const bool merge = cfg.collab == Collab::kMerge;
  const bool silo_anchors = cfg.select.anchor_moments == Moments::kSilo;  // always so in merge mode
  const auto n_anchor = static_cast<int64_t>(ctx.anchor.size());
  run.anchor_score.assign(silo_anchors ? 0 : ctx.anchor.size(), 0.0);
  int64_t work = ctx.comm.is_root() && !silo_anchors ? n_anchor : 0;
  for (auto& s : run.mine) {
    work += s.entry->samples + (silo_anchors ? n_anchor : 0);
    s.anchor_score.assign(silo_anchors ? ctx.anchor.size() : 0, 0.0);
  }
  Progress progress(ctx.comm, "scoring (rank 0's share)", work * C, cfg.progress_s);
  int64_t done_work = 0;
  // A silo's samples, and the anchors when they are scored like them.
  auto score_silo = [&](CheckpointScorer& scorer, HostedSilo& s, int64_t c) {
    const std::string& name = s.entry->name;
    const Preconditioner pre = cfg.score.moments == Moments::kServer
                                   ? scorer.server()
                                   : scorer.preconditioner(H5File::open_read(ctx.files.silo_moments(c, name)), "");
    const torch::Tensor target = scorer.target_for(name);
    scorer.accumulate(ctx.load(*s.entry).enc, target, pre, s.score, "silo_" + name, s.entry->path);
    if (silo_anchors) scorer.accumulate(ctx.anchor, target, pre, s.anchor_score, "anchor_for_" + name, cfg.anchor);
  };
  for (int64_t c = 0; c < C; ++c) {
    if (merge) {  // every silo along its own checkpoints, on its own rank
      run.lrs.push_back(round_mean_lr(cfg.train, c));
      for (auto& s : run.mine) {
        CheckpointScorer scorer(ctx, run, c, s.entry, progress, done_work);
        score_silo(scorer, s, c);
      }
    } else {
      CheckpointScorer scorer(ctx, run, c, nullptr, progress, done_work);
      run.lrs.push_back(scorer.lr());
      for (auto& s : run.mine) score_silo(scorer, s, c);
      if (ctx.comm.is_root() && !silo_anchors)
        scorer.accumulate(ctx.anchor, scorer.anchor_target(), scorer.server(), run.anchor_score, "anchor", cfg.anchor);
    }
    failpoint("scored_checkpoint", ctx.comm.rank());
  }
  progress.finish();
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "scoring");
}

}  // namespace clues
