// Phase: scoring. At every warm-up checkpoint c, for each model that judges this rank's
// silos there (the collaboration mode's judges: fedavg one global model, merge each silo's
// own): the validation gradient ḡ_c (of a global model: chunks spread over ranks, summed
// in chunk order; of a silo's own model: on its rank; with per-domain validation one per
// domain and a silo's target Σ_d w_d ḡ_d), then for every judged silo's samples (and the
// anchors) score_i += lr_c · ⟨Γ(g_i), ḡ_c⟩ / C with Γ from the silo's or the server's Adam
// moments. Returns the scores of the hosted silos and the anchors.
// Resume: each set's dots go batch by batch into a journal (io/layout.h), and a killed job
// goes on after the last complete batch.
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "io/error.h"
#include "io/failpoint.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/scores_file.h"
#include "lib/model/batches.h"
#include "lib/dist/collectives.h"
#include "lib/method/engines.h"
#include "lib/dist/log.h"
#include "lib/dist/nvtx.h"
#include "lib/method/score.h"
#include "lib/method/train.h"
#include "lib/run/phases.h"

namespace clues {

namespace {

// Scores sets of samples at one checkpoint with one judging model and adds them to their
// running scores.
class CheckpointScorer {
 public:
  CheckpointScorer(RunContext& ctx, Trainable& m, int64_t c, const Judge& judge, Progress& progress, int64_t& done_work)
      : ctx_(ctx), m_(m), c_(c), judge_(judge), progress_(progress), done_work_(done_work) {
    const H5File rf = H5File::open_read(judge.weights);
    unflatten_into(read_flat(rf, "/trainable", m.named), m.params);
    lr_ = rf.attr_f64("/", "lr");
    for (const auto& v : ctx.validation) {
      domains_.push_back(v.domain);
      gbars_.push_back(judge.collective ? validation_gradient(v.samples) : mean_grad(m.model, v.samples, ctx.cfg.score.batch_size));
    }
    if (project_dim() > 0) make_dirs(ctx.files.features_dir());
    if (project_dim() > 0 && (!judge.collective || ctx.comm.is_root()))
      for (size_t d = 0; d < gbars_.size(); ++d)
        write_features((ctx.validation[d].domain.empty() ? "validation" : "validation_" + ctx.validation[d].domain) + judge.suffix,
                       project(gbars_[d].unsqueeze(0), project_dim(), ctx.cfg.score.project_seed));
  }

  // Restricted to score.modules where given (the inner product then covers only them).
  torch::Tensor target_for(const std::string& silo) const {
    return masked(domain_target(domains_, gbars_, silo, ctx_.cfg.score.other_domains));
  }
  // The anchors' target for the global threshold: the silos' targets weighted by sample count.
  torch::Tensor anchor_target() const {
    if (gbars_.size() == 1 && ctx_.validation[0].domain.empty()) return masked(gbars_[0]);
    const auto counts = ctx_.counts();
    double total = 0;
    for (double n : counts) total += n;
    torch::Tensor t = torch::zeros_like(gbars_[0]);
    for (const auto& s : ctx_.silos) t += target_for(s.name) * (counts[static_cast<size_t>(s.index)] / total);
    return t;  // each silo's target is masked already
  }
  // Γ of the server's averaged moments, read from the round file when first needed (the
  // anchors on rank 0, or every silo with score.moments=server).
  const Preconditioner& server() {
    if (!judge_.server) throw Error("collab=" + to_string(ctx_.cfg.collab) + " keeps no server moments to score with");
    if (!server_) server_ = preconditioner(H5File::open_read(judge_.weights), "/server");
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
      pre.m = read_flat(f, group + "/m", m_.named).to(ctx_.device);
      pre.v = read_flat(f, group + "/v", m_.named).to(ctx_.device);
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
      dots = score_samples(cfg.score, m_.model, data, target, pre, cfg.model.max_seq_len,
                           [&](int64_t d, int64_t) { progress_.update(base + d); }, &feats);
      write_features(set, feats);
    } else {
      const std::string journal = ctx_.files.dots_journal(c_, set);
      dots = resume_journal(journal, set, n);
      const int64_t resumed = static_cast<int64_t>(dots.size());
      for_each_batch(n - resumed, cfg.score.batch_size, [&](int64_t begin, int64_t end) {
        const NvtxRange range("scoring batch");
        const std::vector<Encoded> batch(data.begin() + resumed + begin, data.begin() + resumed + end);
        const auto d = score_samples(cfg.score, m_.model, batch, target, pre, cfg.model.max_seq_len);
        append_journal(journal, d);
        dots.insert(dots.end(), d.begin(), d.end());
        progress_.update(base + static_cast<int64_t>(dots.size()));
        failpoint("scoring_batch", ctx_.comm.rank());
      });
    }
    add_dots(dots, acc, set, source);
  }

  // One silo among those that share an anchor set under this judge.
  struct AnchorUser {
    std::string silo;
    std::vector<double>* acc;
  };
  // accumulate() of the same `anchors` for every silo of `users` (each with its own target
  // and Γ from pre_of), the same bits and journals, but each anchor's per-sample gradient
  // computed once: in blocks of whole batches that fit score.shared_anchor_mib, each block's
  // gradients kept while every silo applies its Γ to them. Memory: one block, whatever the
  // number of silos. Batched engine, no features.
  void accumulate_shared(const std::vector<Encoded>& anchors, const std::vector<AnchorUser>& users,
                         const std::function<Preconditioner(const std::string&)>& pre_of, const std::string& source) {
    const Config& cfg = ctx_.cfg;
    const int64_t n = static_cast<int64_t>(anchors.size());
    const int64_t B = cfg.score.batch_size;
    const size_t k = users.size();
    std::vector<std::string> journals(k);
    std::vector<std::vector<double>> dots(k);
    int64_t start = n, done = done_work_;
    for (size_t u = 0; u < k; ++u) {
      journals[u] = ctx_.files.dots_journal(c_, "anchor_for_" + users[u].silo);
      dots[u] = resume_journal(journals[u], "anchor_for_" + users[u].silo, n);
      const int64_t resumed = static_cast<int64_t>(dots[u].size());
      start = std::min(start, resumed);
      done += resumed;
    }
    const double row_mib = static_cast<double>(B) * static_cast<double>(m_.P) * 4.0 / (1024.0 * 1024.0);
    const int64_t block = B * std::max<int64_t>(1, static_cast<int64_t>(std::min(1e9, cfg.score.shared_anchor_mib / row_mib)));
    for (int64_t b0 = start; b0 < n; b0 += block) {  // start is a batch boundary: journals hold whole batches
      const int64_t b1 = std::min(n, b0 + block);
      std::vector<torch::Tensor> grads;  // per batch of the block, as score_samples packs them
      for (int64_t begin = b0; begin < b1; begin += B) {
        const NvtxRange range("shared anchor gradients");
        grads.push_back(batched_grads(m_.model, batch_of(anchors, begin, std::min(b1, begin + B)), cfg.model.max_seq_len));
      }
      for (size_t u = 0; u < k; ++u) {
        if (static_cast<int64_t>(dots[u].size()) >= b1) continue;  // this block was journalled before a kill
        const Preconditioner pre = pre_of(users[u].silo);
        const torch::Tensor t64 = target_for(users[u].silo).to(grads.front().device(), torch::kFloat64);
        for (size_t g = 0; g < grads.size(); ++g) {
          const int64_t begin = b0 + static_cast<int64_t>(g) * B;
          if (static_cast<int64_t>(dots[u].size()) > begin) continue;
          const auto acc = torch::mv(pre.apply(grads[g]).to(torch::kFloat64), t64).cpu().contiguous();
          const std::vector<double> d(acc.data_ptr<double>(), acc.data_ptr<double>() + acc.numel());
          append_journal(journals[u], d);
          dots[u].insert(dots[u].end(), d.begin(), d.end());
          done += static_cast<int64_t>(d.size());
          progress_.update(done);
          failpoint("scoring_batch", ctx_.comm.rank());
        }
      }
    }
    for (size_t u = 0; u < k; ++u) add_dots(dots[u], *users[u].acc, "anchor_for_" + users[u].silo, source);
  }

 private:
  // The dots of `set` (n samples) that a killed run journalled. Whole batches only: a
  // resumed set continues at a batch boundary, so every batch is packed as in an
  // uninterrupted run and the scores are the same bits.
  std::vector<double> resume_journal(const std::string& journal, const std::string& set, int64_t n) const {
    auto dots = read_journal(journal, static_cast<size_t>(ctx_.cfg.score.batch_size));
    const int64_t resumed = static_cast<int64_t>(dots.size());
    if (resumed > n)
      throw IoError(journal + " holds more scores than " + set + " has samples: it belongs to another run; "
                    "pass --overwrite to start afresh");
    if (resumed > 0 && resumed < n)
      log_any(ctx_.comm, "resume: " + set + " at checkpoint " + std::to_string(c_) + " continues after " +
                             std::to_string(resumed) + " scored samples");
    return dots;
  }

  // Adds one checkpoint's share of a whole set's dots, checked finite, to its running scores.
  void add_dots(std::vector<double>& dots, std::vector<double>& acc, const std::string& set, const std::string& source) {
    if (!dots.empty() && injected("nan_score", ctx_.comm.rank())) dots[0] = std::nan("");  // the tests' fault
    check_finite(dots, set, source);
    accumulate_scores(acc, dots, lr_, ctx_.cfg.train.rounds);
    done_work_ += static_cast<int64_t>(dots.size());
  }

  torch::Tensor masked(const torch::Tensor& t) const { return m_.score_mask.defined() ? t * m_.score_mask : t; }
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
    return ordered_sum(ctx_.comm, batch_count(n, vb), [size](int64_t j) { return static_cast<int>(j % size); }, m_.P,
                       [&](int64_t j) { return grad_sum(m_.model, batch_of(v, j * vb, std::min(n, (j + 1) * vb))); },
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
  Trainable& m_;
  int64_t c_;
  const Judge& judge_;
  Progress& progress_;
  int64_t& done_work_;
  double lr_ = 0;
  std::optional<Preconditioner> server_;
  std::vector<std::string> domains_;  // of the validation sets, in --validation order
  std::vector<torch::Tensor> gbars_;  // per validation set
};

}  // namespace

Scores score_checkpoints(RunContext& ctx, Trainable& m, Collaboration& collab) {
  const Config& cfg = ctx.cfg;
  const int64_t C = cfg.train.rounds;
  const bool silo_anchors = cfg.select.anchor_moments == Moments::kSilo;  // always so in merge mode
  const auto n_anchor = static_cast<int64_t>(ctx.anchor.size());
  Scores out;
  out.server_anchor.assign(silo_anchors ? 0 : ctx.anchor.size(), 0.0);
  int64_t work = ctx.comm.is_root() && !silo_anchors ? n_anchor : 0;
  for (const auto& e : ctx.silos)
    if (ctx.hosts(e.index)) {
      const auto own_anchors = static_cast<int64_t>(ctx.anchors_of(e.name).size());
      work += e.samples + (silo_anchors ? own_anchors : 0);
      SiloScores s;
      s.silo = e.index;
      s.score.assign(static_cast<size_t>(e.samples), 0.0);
      s.anchor_score.assign(silo_anchors ? static_cast<size_t>(own_anchors) : 0, 0.0);
      out.mine.push_back(std::move(s));
    }
  auto hosted = [&](int64_t j) -> SiloScores& {
    for (auto& s : out.mine)
      if (s.silo == j) return s;
    throw Error("silo " + std::to_string(j) + " is not hosted by this rank");
  };
  Progress progress(ctx.comm, "scoring (rank 0's share)", work * C, cfg.progress_s);
  int64_t done_work = 0;
  for (int64_t c = 0; c < C; ++c) {
    out.lrs.push_back(round_mean_lr(cfg.train, c));
    for (const Judge& judge : collab.judges(c)) {
      CheckpointScorer scorer(ctx, m, c, judge, progress, done_work);
      auto pre_of = [&](const std::string& silo) {
        return cfg.score.moments == Moments::kServer
                   ? scorer.server()
                   : scorer.preconditioner(H5File::open_read(ctx.files.silo_moments(c, silo)), "");
      };
      // Silos of this judge sharing an anchor set score it together (score.shared_anchor_mib).
      const bool share = silo_anchors && judge.silos.size() > 1 && cfg.score.shared_anchor_mib > 0 &&
                         cfg.score.engine == Engine::kBatched && cfg.score.project_dim == 0;
      std::map<const std::vector<Encoded>*, std::vector<CheckpointScorer::AnchorUser>> sharing;  // anchor set -> its silos
      for (int64_t j : judge.silos) {  // a silo's samples, and the anchors when they are scored like them
        const SiloEntry& e = ctx.silos[static_cast<size_t>(j)];
        SiloScores& s = hosted(j);
        const Preconditioner pre = pre_of(e.name);
        const torch::Tensor target = scorer.target_for(e.name);
        scorer.accumulate(ctx.load(e).enc, target, pre, s.score, "silo_" + e.name, e.path);
        if (share)
          sharing[&ctx.anchors_of(e.name)].push_back({e.name, &s.anchor_score});
        else if (silo_anchors)
          scorer.accumulate(ctx.anchors_of(e.name), target, pre, s.anchor_score, "anchor_for_" + e.name,
                            ctx.anchor_path_of(e.name));
      }
      for (const auto& [anchors, users] : sharing)
        scorer.accumulate_shared(*anchors, users, pre_of, ctx.anchor_path_of(users.front().silo));
      if (judge.server && ctx.comm.is_root() && !silo_anchors)
        scorer.accumulate(ctx.anchor, scorer.anchor_target(), scorer.server(), out.server_anchor, "anchor",
                          cfg.anchor.empty() ? "the pooled anchors" : cfg.anchor);
    }
    failpoint("scored_checkpoint", ctx.comm.rank());
  }
  progress.finish();
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "scoring");
  return out;
}

}  // namespace clues
