// The end-to-end CLUES run (lib/pipeline.h). Phases: load, warm-up, scoring, selection,
// output. Private samples never leave the rank hosting their silo: only weights, Adam
// moments, validation gradients and scalar scores travel.
#include "lib/pipeline.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/jsonl.h"
#include "lib/checkpoint.h"
#include "lib/collectives.h"
#include "lib/engines.h"
#include "lib/evaluate.h"
#include "lib/log.h"
#include "lib/model.h"
#include "lib/pretrain.h"
#include "lib/score.h"
#include "lib/select.h"
#include "lib/tokenizer.h"
#include "lib/train.h"
#ifdef CLUES_HAVE_NCCL
#include "lib/nccl_comm.h"
#endif

namespace fs = std::filesystem;

namespace clues {

std::vector<int> assign_silos(const std::vector<int64_t>& sizes, int ranks) {
  std::vector<size_t> order(sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  std::vector<int64_t> load(static_cast<size_t>(ranks), 0);
  std::vector<int> owner(sizes.size(), 0);
  for (size_t s : order) {
    int best = 0;
    for (int r = 1; r < ranks; ++r)
      if (load[static_cast<size_t>(r)] < load[static_cast<size_t>(best)]) best = r;
    owner[s] = best;
    load[static_cast<size_t>(best)] += std::max<int64_t>(sizes[s], 1);
  }
  return owner;
}

namespace {

struct Silo {
  int64_t index = 0;
  std::string name, path;
  int64_t n = 0;                // samples (its data is loaded when needed: load_silo)
  std::vector<uint8_t> labels;  // empty without --labels
  std::vector<Encoded> test;    // empty without --test
  int64_t truncated = 0;
  std::vector<double> score;
  std::vector<double> anchor_score;  // the anchors under this silo's own moments (select.anchor_moments=silo)
  double tau = 0;                    // this silo's threshold
  std::vector<uint8_t> selected;
  std::vector<double> loss, ifd;  // under the warm-up's final model (perplexity and IFD baselines)
  double test_loss = -1;
};

std::vector<Encoded> encode_all(const std::vector<Record>& rs, int64_t max_len, int64_t* truncated) {
  std::vector<Encoded> out;
  out.reserve(rs.size());
  for (const auto& r : rs) {
    out.push_back(encode_sample(r, max_len));
    if (out.back().truncated && truncated) ++*truncated;
  }
  return out;
}

// A silo's samples, read and encoded when a phase needs them and dropped after, so a rank
// holds one silo's samples at a time however many it hosts.
struct SiloData {
  std::vector<Record> records;
  std::vector<Encoded> enc;
};
SiloData load_silo(const std::string& path, int64_t max_len, int64_t* truncated = nullptr) {
  SiloData d;
  d.records = read_jsonl(path);
  d.enc = encode_all(d.records, max_len, truncated);
  return d;
}

std::string find_path(const std::vector<NamedPath>& v, const std::string& name) {
  for (const auto& p : v)
    if (p.name == name) return p.path;
  return "";
}

int64_t file_size_or_zero(const std::string& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

// Mean response loss of `data` under the model (no gradients).
double mean_loss(Decoder& model, const std::vector<Encoded>& data, int64_t batch) {
  return data.empty() ? -1 : mean(sample_losses(model, data, batch));
}

template <typename T>
void send_vec(const Comm& c, const std::vector<T>& v, int tag) {
  int64_t n = static_cast<int64_t>(v.size());
  c.send(&n, sizeof n, 0, tag);
  if (n) c.send(v.data(), n * static_cast<int64_t>(sizeof(T)), 0, tag);
}
template <typename T>
std::vector<T> recv_vec(const Comm& c, int src, int tag) {
  int64_t n = 0;
  c.recv(&n, sizeof n, src, tag);
  std::vector<T> v(static_cast<size_t>(n));
  if (n) c.recv(v.data(), n * static_cast<int64_t>(sizeof(T)), src, tag);
  return v;
}

// One vector per silo, collected on rank 0 in silo order from the ranks hosting them
// (`local(j)` is called on silo j's owner); other ranks get empty vectors.
template <typename T>
std::vector<std::vector<T>> collect(const Comm& comm, int64_t n_silos, const std::function<int(int64_t)>& owner,
                                    const std::function<std::vector<T>(int64_t)>& local) {
  std::vector<std::vector<T>> out(static_cast<size_t>(n_silos));
  constexpr int kTag = 11;
  for (int64_t j = 0; j < n_silos; ++j) {
    const int o = owner(j);
    if (o == comm.rank()) {
      if (comm.is_root())
        out[static_cast<size_t>(j)] = local(j);
      else
        send_vec(comm, local(j), kTag);
    } else if (comm.is_root()) {
      out[static_cast<size_t>(j)] = recv_vec<T>(comm, o, kTag);
    }
  }
  return out;
}

// Checks the output folder before anything is written; rank 0 only.
void prepare_output(const Config& cfg) {
  const std::string report = cfg.out + "/report.json";
  const std::string saved_cfg = cfg.out + "/run_config.ini";
  const bool has_ckpt = fs::exists(checkpoint_dir(cfg.out)) && !fs::is_empty(checkpoint_dir(cfg.out));
  if (cfg.overwrite) {
    for (const char* p : {"report.json", "scores.h5", "selected", "checkpoints", "run_config.ini", "comparison.md", "features"})
      fs::remove_all(cfg.out + "/" + p);
  } else if (cfg.resume) {
    if (fs::exists(saved_cfg) && read_text(saved_cfg) != cfg.to_ini())
      throw InputError(cfg.out + " was started with another configuration (see " + saved_cfg +
                       "); --resume needs the same settings, or pass --overwrite to start afresh");
    fs::remove(report);
  } else if (fs::exists(report)) {
    throw InputError(cfg.out + " already holds a finished run (report.json): pass --overwrite to replace it, "
                     "or choose another --out");
  } else if (has_ckpt) {
    throw InputError(cfg.out + " holds checkpoints of an unfinished run: pass --resume to continue it or "
                     "--overwrite to start afresh");
  }
  make_dirs(checkpoint_dir(cfg.out));
  make_dirs(cfg.out + "/selected");
  write_text_atomic(saved_cfg, cfg.to_ini());
}

void write_file_h5(const std::string& path, const std::function<void(H5File&)>& fill) {
  const std::string tmp = temp_path_for(path);
  {
    H5File f = H5File::create(tmp);
    fill(f);
  }
  commit_file(tmp, path);
}

double nan_to(double v, double fallback) { return std::isnan(v) ? fallback : v; }

// A comparison row as JSON (all its fields, -1 for "not available"), and back.
nlohmann::json row_to_json(const CompareRow& r) {
  nlohmann::json j;
  j["name"] = r.name;
  j["macro"] = {r.macro_loss, r.macro_perplexity, r.macro_exact_match, r.macro_loss_sd};
  j["pooled"] = {r.pooled_auroc, r.pooled_precision, r.pooled_recall, r.pooled_f1};
  for (const auto& x : r.silos)
    j["silos"].push_back({static_cast<double>(x.kept), x.test_loss, x.perplexity, x.exact_match, x.auroc,
                          x.precision, x.recall, x.f1});
  return j;
}
CompareRow row_from_json(const nlohmann::json& j) {
  CompareRow r;
  r.name = j.at("name").get<std::string>();
  const auto m = j.at("macro").get<std::vector<double>>();
  const auto p = j.at("pooled").get<std::vector<double>>();
  r.macro_loss = m.at(0), r.macro_perplexity = m.at(1), r.macro_exact_match = m.at(2), r.macro_loss_sd = m.at(3);
  r.pooled_auroc = p.at(0), r.pooled_precision = p.at(1), r.pooled_recall = p.at(2), r.pooled_f1 = p.at(3);
  for (const auto& x : j.at("silos")) {
    const auto v = x.get<std::vector<double>>();
    RowSilo rs;
    rs.kept = static_cast<int64_t>(v.at(0));
    rs.test_loss = v.at(1), rs.perplexity = v.at(2), rs.exact_match = v.at(3);
    rs.auroc = v.at(4), rs.precision = v.at(5), rs.recall = v.at(6), rs.f1 = v.at(7);
    r.silos.push_back(rs);
  }
  return r;
}

double mean_of(const std::vector<RowSilo>& v, double RowSilo::*field) {
  double sum = 0;
  for (const auto& x : v) {
    if (x.*field < 0) return -1;
    sum += x.*field;
  }
  return v.empty() ? -1 : sum / static_cast<double>(v.size());
}

// Detection figures of a row per silo and pooled (pooled only when every silo has labels;
// pooled AUROC only when `ranked`). -1 where a figure is not defined (one class only).
void fill_detection(CompareRow& cr, const std::vector<std::vector<double>>& ranking,
                    const std::vector<std::vector<uint8_t>>& sel, const std::vector<std::vector<uint8_t>>& labels,
                    bool ranked) {
  std::vector<double> pr;
  std::vector<uint8_t> ps, pl;
  bool all = true;
  for (size_t u = 0; u < cr.silos.size(); ++u) {
    if (labels[u].empty()) {
      all = false;
      continue;
    }
    auto& rs = cr.silos[u];
    if (!ranking[u].empty()) rs.auroc = nan_to(auroc(ranking[u], labels[u]), -1);
    const Detection d = detection(sel[u], labels[u]);
    rs.precision = d.precision;
    rs.recall = d.recall;
    rs.f1 = d.f1;
    pr.insert(pr.end(), ranking[u].begin(), ranking[u].end());
    ps.insert(ps.end(), sel[u].begin(), sel[u].end());
    pl.insert(pl.end(), labels[u].begin(), labels[u].end());
  }
  if (!all || pl.empty()) return;
  if (ranked) cr.pooled_auroc = nan_to(auroc(pr, pl), -1);
  const Detection d = detection(ps, pl);
  cr.pooled_precision = d.precision;
  cr.pooled_recall = d.recall;
  cr.pooled_f1 = d.f1;
}

}  // namespace

std::vector<uint8_t> row_selection(const std::string& row, const std::vector<double>& score,
                                   const std::vector<uint8_t>& clues_selected, const std::vector<double>& loss,
                                   const std::vector<double>& ifd_values, const std::vector<uint8_t>& labels,
                                   const Config& cfg, int64_t silo) {
  const int64_t n = static_cast<int64_t>(score.size());
  const int64_t k = std::accumulate(clues_selected.begin(), clues_selected.end(), int64_t{0});
  if (row == "clues") return clues_selected;
  if (row == "full") return std::vector<uint8_t>(static_cast<size_t>(n), 1);
  if (row == "random") return select_random(n, k, cfg.seed, silo);
  if (row == "perplexity") return select_lowest_loss(loss, k);
  if (row == "ifd") return select_ifd(ifd_values, k);
  if (row == "ratio") return select_top_ratio(score, cfg.select.keep_ratio);
  if (row == "oracle") {
    if (labels.size() != score.size()) throw InputError("the oracle row needs --labels for every silo");
    std::vector<uint8_t> out(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) out[i] = labels[i] == 0;
    return out;
  }
  throw InputError("unknown comparison row " + row);
}

std::vector<double> row_ranking(const std::string& row, const std::vector<double>& score,
                                const std::vector<double>& loss, const std::vector<double>& ifd_values) {
  if (row == "clues" || row == "ratio") return score;
  if (row == "perplexity") {
    std::vector<double> r(loss.size());
    std::transform(loss.begin(), loss.end(), r.begin(), [](double l) { return -l; });
    return r;
  }
  if (row == "ifd") return ifd_ranking(ifd_values);
  return {};
}

std::string comparison_markdown(const std::vector<CompareRow>& rows, const std::vector<std::string>& silo_names) {
  auto f = [](double v, const char* fmt) {
    if (v < 0 || std::isnan(v)) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, fmt, v);
    return std::string(b);
  };
  const CompareRow* full = nullptr;
  const CompareRow* oracle = nullptr;
  for (const auto& r : rows) {
    if (r.name == "full") full = &r;
    if (r.name == "oracle") oracle = &r;
  }
  const bool gap = full && oracle && full->macro_loss > oracle->macro_loss && oracle->macro_loss >= 0;
  std::ostringstream os;
  os << "| row | kept | macro test loss | macro perplexity | macro exact match | pooled AUROC | pooled precision | "
        "pooled recall | pooled F1 |" << (gap ? " gap closed |" : "") << "\n";
  os << "|---|---|---|---|---|---|---|---|---|" << (gap ? "---|" : "") << "\n";
  for (const auto& r : rows) {
    int64_t kept = 0;
    for (const auto& s : r.silos) kept += s.kept;
    os << "| " << r.name << " | " << kept << " | " << f(r.macro_loss, "%.4f")
       << (r.macro_loss_sd >= 0 ? " ± " + f(r.macro_loss_sd, "%.4f") : std::string()) << " | " << f(r.macro_perplexity, "%.3f")
       << " | " << f(r.macro_exact_match, "%.3f") << " | " << f(r.pooled_auroc, "%.3f") << " | "
       << f(r.pooled_precision, "%.3f") << " | " << f(r.pooled_recall, "%.3f") << " | " << f(r.pooled_f1, "%.3f") << " |";
    if (gap) {
      const double g = (full->macro_loss - r.macro_loss) / (full->macro_loss - oracle->macro_loss);
      char b[32];
      std::snprintf(b, sizeof b, " %.0f%% |", 100.0 * g);
      os << (r.macro_loss < 0 ? std::string(" - |") : std::string(b));
    }
    os << "\n";
  }
  os << "\nPer silo (test loss / exact match / kept / AUROC):\n\n| row |";
  for (const auto& n : silo_names) os << " " << n << " |";
  os << "\n|---|";
  for (size_t i = 0; i < silo_names.size(); ++i) os << "---|";
  os << "\n";
  for (const auto& r : rows) {
    os << "| " << r.name << " |";
    for (const auto& s : r.silos)
      os << " " << f(s.test_loss, "%.4f") << " / " << f(s.exact_match, "%.3f") << " / " << s.kept << " / "
         << f(s.auroc, "%.3f") << " |";
    os << "\n";
  }
  return os.str();
}

namespace {
RunSummary run_pipeline_impl(const Config& cfg, const Comm& comm);
}

RunSummary run_pipeline(const Config& cfg, const Comm& comm) {
  try {
    return run_pipeline_impl(cfg, comm);
  } catch (const c10::Error& e) {
    throw Error(std::string("LibTorch: ") + e.what_without_backtrace());
  }
}

namespace {
RunSummary run_pipeline_impl(const Config& cfg, const Comm& world) {
  cfg.validate();
  Comm comm = world;  // gains the device link on GPU jobs
  torch::set_num_threads(cfg.threads);
  std::map<std::string, double> timings;
  const double t_start = elapsed_s();
  double t_phase = t_start;
  auto end_phase = [&](const char* name) {
    const double now = elapsed_s();
    timings[name] = comm.allreduce_max(now - t_phase);
    t_phase = elapsed_s();
  };

  // ---- load: each rank reads only the silos it hosts
  const int64_t S = static_cast<int64_t>(cfg.silos.size());
  std::vector<int64_t> file_sizes;
  for (const auto& s : cfg.silos) file_sizes.push_back(file_size_or_zero(s.path));
  const std::vector<int> owner = assign_silos(file_sizes, comm.size());
  auto owner_of = [&](int64_t j) { return owner[static_cast<size_t>(j)]; };

  std::vector<Silo> mine;
  for (int64_t j = 0; j < S; ++j) {
    if (owner_of(j) != comm.rank()) continue;
    Silo s;
    s.index = j;
    s.name = cfg.silos[static_cast<size_t>(j)].name;
    s.path = cfg.silos[static_cast<size_t>(j)].path;
    s.n = static_cast<int64_t>(load_silo(s.path, cfg.model.max_seq_len, &s.truncated).records.size());  // checks every line
    if (auto lp = find_path(cfg.labels, s.name); !lp.empty()) {
      s.labels = read_labels(lp);
      if (static_cast<int64_t>(s.labels.size()) != s.n)
        throw InputError(lp + " has " + std::to_string(s.labels.size()) + " labels but silo " + s.name + " (" +
                         s.path + ") has " + std::to_string(s.n) + " lines: one label per line is needed");
    }
    if (auto tp = find_path(cfg.tests, s.name); !tp.empty())
      s.test = encode_all(read_jsonl(tp), cfg.model.max_seq_len, nullptr);
    s.score.assign(static_cast<size_t>(s.n), 0.0);
    mine.push_back(std::move(s));
  }
  const auto validation = encode_all(read_jsonl(cfg.validation), cfg.model.max_seq_len, nullptr);
  // Anchors are public: every rank reads them (rank 0 scores them for the global τ).
  const std::vector<Encoded> anchor = encode_all(read_jsonl(cfg.anchor), cfg.model.max_seq_len, nullptr);
  const bool silo_anchors = cfg.select.anchor_moments == "silo";
  // Sample counts of every silo (scalars) for the weighted averages.
  std::vector<double> counts(static_cast<size_t>(S), 0.0);
  for (const auto& s : mine) counts[static_cast<size_t>(s.index)] = static_cast<double>(s.n);
  for (auto& c : counts) c = comm.allreduce_sum(c);
  const double N = std::accumulate(counts.begin(), counts.end(), 0.0);
  int64_t truncated = 0;
  for (const auto& s : mine) truncated += s.truncated;
  truncated = comm.allreduce_sum(truncated);
  {
    std::ostringstream os;
    os << S << " silos, " << static_cast<int64_t>(N) << " private samples on " << comm.size() << " rank(s); "
       << validation.size() << " validation, " << anchor.size() << " anchor samples";
    if (truncated) os << "; " << truncated << " samples longer than max_seq_len=" << cfg.model.max_seq_len << " truncated";
    log0(comm, os.str());
  }
  if (comm.is_root()) prepare_output(cfg);
  comm.barrier();
  end_phase("load");

  // ---- model (the base: pretrained on the public corpus when one is given)
  Decoder model = make_model(cfg.model, cfg.seed);
  const torch::Device dev = pick_device(cfg.device, comm);
  c10::OptionalDeviceGuard device_guard;  // the current device, for kernels and libraries alike
  if (dev.is_cuda()) {
    device_guard.reset_device(dev);
    // Repeatable sums on the GPU (index_add_ and friends without atomics); cuBLAS needs a
    // fixed workspace for that. Operations without a deterministic kernel only warn.
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  }
  // NCCL needs every rank on a GPU of its own; every rank takes the same decision.
  const bool all_cuda = comm.all_ok(dev.is_cuda());
  if (comm.size() > 1 && all_cuda) {
#ifdef CLUES_HAVE_NCCL
    if (gpus_distinct(comm.raw(), static_cast<int>(dev.index()))) {
      auto link = std::make_shared<NcclLink>(comm.raw());
      if (link->device() != dev.index())
        throw Error("rank " + std::to_string(comm.rank()) + ": NCCL chose GPU " + std::to_string(link->device()) +
                    " but the model is on GPU " + std::to_string(dev.index()) + "; start one rank per GPU");
      log0(comm, "device collectives (weight averaging, validation gradient, pretraining) through " + link->name());
      comm.attach(std::move(link));
    } else {
      log0(comm, "ranks share GPUs (more ranks than GPUs on a node): device tensors are summed through host "
                 "memory and MPI; start one rank per GPU to use NCCL");
    }
#else
    log0(comm, "this build has no NCCL: device tensors are summed through host memory and MPI");
#endif
  } else if (!comm.all_ok(!dev.is_cuda())) {
    log0(comm, "some ranks run on a GPU and some on the CPU: device tensors are summed through host memory and MPI");
  }
  pretrain_base(cfg, comm, model, dev);
  model->to(dev);
  if (dev.is_cuda()) log0(comm, "model and per-sample gradients on CUDA (each rank on the GPU of its local rank)");
  end_phase("pretrain");
  const NamedTensors named = model->trainable();
  const auto params = model->trainable_tensors();
  const int64_t P = model->trainable_numel();
  log0(comm, "model: " + std::to_string(cfg.model.layers) + " layers, d_model " + std::to_string(cfg.model.d_model) +
                 ", " + cfg.model.finetune + " fine-tuning, " + std::to_string(P) + " trainable parameters");
  if (comm.is_root() && !file_exists(checkpoint_dir(cfg.out) + "/base.h5")) {
    NamedTensors all;
    for (const auto& p : model->named_parameters(true)) all.emplace_back(p.key(), p.value());
    write_file_h5(checkpoint_dir(cfg.out) + "/base.h5", [&](H5File& f) { write_tensors(f, "/params", all); });
  }
  // Each hosted silo's training state lives in a file between its turns (SiloState).
  auto state_file = [&](const Silo& s, const std::string& what) {
    return checkpoint_dir(cfg.out) + "/state_" + what + "_" + s.name + ".bin";
  };
  // Removes a silo's state files of one phase, with any temporary left by a killed write.
  auto remove_states = [&](const Silo& s, const std::string& what) {
    const std::string name = "state_" + what + "_" + s.name + ".bin";
    for (const auto& e : fs::directory_iterator(checkpoint_dir(cfg.out))) {
      const std::string f = e.path().filename().string();
      if (f == name || f.rfind(name + ".tmp.", 0) == 0) fs::remove(e.path());
    }
  };
  const AdamState fresh = AdamState::zeros_like(params);
  const torch::Tensor theta0 = flatten(params);  // every comparison row starts here too
  torch::Tensor theta = theta0;

  // ---- warm-up: R rounds of local training and weighted averaging
  const TrainConfig& tc = cfg.train;
  int64_t first_round = 0;
  if (cfg.resume) {
    // A round counts as done when its global file and every silo's moment file exist.
    int64_t done = 0;
    while (done < tc.rounds) {
      bool ok = !comm.is_root() || file_exists(round_file(cfg.out, done));
      for (const auto& s : mine) ok = ok && file_exists(silo_moments_file(cfg.out, done, s.name));
      if (!comm.all_ok(ok)) break;
      ++done;
    }
    first_round = done;
    if (done > 0) {
      theta = read_flat(H5File::open_read(round_file(cfg.out, done - 1)), "/trainable", named).to(dev);
      for (auto& s : mine) {
        auto f = H5File::open_read(silo_moments_file(cfg.out, done - 1, s.name));
        AdamState st = AdamState::zeros_like(params);
        unflatten_into(read_flat(f, "/m", named), st.m);
        unflatten_into(read_flat(f, "/v", named), st.v);
        st.step = static_cast<int64_t>(f.attr_f64("/", "step"));
        remove_states(s, "warmup");
        save_silo_state(state_file(s, "warmup"), theta, st);
      }
      log0(comm, "resume: " + std::to_string(done) + " of " + std::to_string(tc.rounds) + " warm-up rounds already done");
    }
  }
  if (first_round == 0)
    for (const auto& s : mine) {  // a fresh Adam state (and nothing of a killed run's round 0)
      remove_states(s, "warmup");
      save_silo_state(state_file(s, "warmup"), theta0, fresh);
    }
  for (int64_t r = first_round; r < tc.rounds; ++r) {
    const double t_round = elapsed_s();
    std::vector<LocalSilo> locals;
    for (auto& s : mine)
      locals.push_back({s.index, [&cfg, path = s.path] { return load_silo(path, cfg.model.max_seq_len).enc; },
                        state_file(s, "warmup")});
    const RoundResult rr = federated_round(comm, model, locals, counts, owner_of, theta, tc, cfg.seed, r, true);
    theta = rr.theta;
    const double loss = rr.loss;
    const auto& m_avg = rr.m;
    const auto& v_avg = rr.v;
    const double lr = round_mean_lr(tc, r);
    for (const auto& s : mine) {
      const AdamState st = load_silo_state(state_file(s, "warmup"), params).adam;
      write_file_h5(silo_moments_file(cfg.out, r, s.name), [&](H5File& f) {
        write_flat(f, "/m", named, flatten(st.m));
        write_flat(f, "/v", named, flatten(st.v));
        f.set_attr("/", "step", static_cast<double>(st.step));
        f.set_attr("/", "samples", static_cast<double>(s.n));
      });
    }
    if (comm.is_root()) {
      write_file_h5(round_file(cfg.out, r), [&](H5File& f) {
        write_flat(f, "/trainable", named, theta);
        write_flat(f, "/server/m", named, m_avg);
        write_flat(f, "/server/v", named, v_avg);
        f.set_attr("/", "lr", lr);
        f.set_attr("/", "round", static_cast<double>(r));
      });
    }
    failpoint("warmup_round", comm.rank());
    const double dt = elapsed_s() - t_round;
    char buf[200];
    std::snprintf(buf, sizeof buf, "warm-up round %lld/%lld: train loss %.4f, mean lr %.3g, %s, ETA %s",
                  static_cast<long long>(r + 1), static_cast<long long>(tc.rounds), loss, lr,
                  format_seconds(dt).c_str(), format_seconds(dt * static_cast<double>(tc.rounds - r - 1)).c_str());
    log0(comm, buf);
  }
  for (const auto& s : mine) remove_states(s, "warmup");  // the moments files hold what scoring needs
  comm.barrier();
  end_phase("warmup");

  // ---- scoring: every checkpoint, every private sample and every anchor sample
  const int64_t C = tc.rounds;
  const bool adam = cfg.score.precondition != "sgd";
  std::vector<double> anchor_score(anchor.size(), 0.0);
  std::vector<double> lrs;
  int64_t work = comm.is_root() ? static_cast<int64_t>(anchor.size()) : 0;
  for (const auto& s : mine)
    work += s.n + (silo_anchors ? static_cast<int64_t>(anchor.size()) : 0);
  for (auto& s : mine) s.anchor_score.assign(silo_anchors ? anchor.size() : 0, 0.0);
  Progress progress(comm, "scoring (rank 0's share)", work * C, cfg.progress_s);
  int64_t done_work = 0;
  const int64_t vb = cfg.score.batch_size;
  const int64_t n_chunks = (static_cast<int64_t>(validation.size()) + vb - 1) / vb;
  for (int64_t c = 0; c < C; ++c) {
    const H5File rf = H5File::open_read(round_file(cfg.out, c));
    unflatten_into(read_flat(rf, "/trainable", named), params);
    const double lr = rf.attr_f64("/", "lr");
    lrs.push_back(lr);
    // ḡ_c: validation chunks spread over ranks, summed in chunk order.
    const auto gbar = ordered_sum(comm, n_chunks, [&](int64_t j) { return static_cast<int>(j % comm.size()); }, P,
                                  [&](int64_t j) {
                                    std::vector<const Encoded*> chunk;
                                    for (int64_t i = j * vb; i < std::min<int64_t>((j + 1) * vb, validation.size()); ++i)
                                      chunk.push_back(&validation[static_cast<size_t>(i)]);
                                    return grad_sum(model, chunk);
                                  }, dev) / static_cast<double>(validation.size());
    const int64_t K = cfg.score.project_dim;
    // Projected features (score.project_dim > 0): features/<what>_round_NNN.h5, [n, k].
    auto write_features = [&](const std::string& what, const torch::Tensor& f) {
      char name[64];
      std::snprintf(name, sizeof name, "_round_%03lld.h5", static_cast<long long>(c));
      const auto t = f.to(torch::kCPU, torch::kFloat32).contiguous();
      write_file_h5(cfg.out + "/features/" + what + name, [&](H5File& h) {
        h.write_f32("/features", t.data_ptr<float>(), {static_cast<hsize_t>(t.size(0)), static_cast<hsize_t>(K)});
        h.set_attr("/", "lr", lr);
        h.set_attr("/", "checkpoints", static_cast<double>(C));
        h.set_attr("/", "project_seed", static_cast<double>(cfg.score.project_seed));
      });
    };
    if (K > 0 && comm.is_root()) {
      make_dirs(cfg.out + "/features");
      write_features("validation", project(gbar.unsqueeze(0), K, cfg.score.project_seed));
    }
    // One set of samples at this checkpoint. Without features, the dots go batch by batch
    // into a journal (checkpoints/dots_round_NNN_<what>.bin), so a killed job resumes
    // after the last complete batch; with features, the set is scored again whole.
    auto accumulate = [&](const std::vector<Encoded>& data, const Preconditioner& pre, std::vector<double>& acc,
                          const std::string& what) {
      const int64_t base = done_work;
      const int64_t n = static_cast<int64_t>(data.size());
      std::vector<double> dots;
      if (K > 0) {
        torch::Tensor feats;
        dots = score_samples(cfg.score, model, data, gbar, pre, cfg.model.max_seq_len,
                             [&](int64_t d, int64_t) { progress.update(base + d); }, &feats);
        write_features(what, feats);
      } else {
        const std::string journal = dots_journal(cfg.out, c, what);
        dots = read_journal(journal);
        if (static_cast<int64_t>(dots.size()) > n)
          throw IoError(journal + " holds more scores than " + what + " has samples: it belongs to another run; "
                        "pass --overwrite to start afresh");
        if (!dots.empty() && static_cast<int64_t>(dots.size()) < n)
          log_any(comm, "resume: " + what + " at checkpoint " + std::to_string(c) + " continues after " +
                         std::to_string(dots.size()) + " scored samples");
        for (int64_t start = static_cast<int64_t>(dots.size()); start < n; start += cfg.score.batch_size) {
          const std::vector<Encoded> batch(data.begin() + start, data.begin() + std::min(n, start + cfg.score.batch_size));
          const auto d = score_samples(cfg.score, model, batch, gbar, pre, cfg.model.max_seq_len);
          append_journal(journal, d);
          dots.insert(dots.end(), d.begin(), d.end());
          progress.update(base + static_cast<int64_t>(dots.size()));
          failpoint("scoring_batch", comm.rank());
        }
      }
      accumulate_scores(acc, dots, lr, C);
      done_work += n;
    };
    auto precondition = [&](const H5File& f, const std::string& group) {
      Preconditioner pre{{}, {}, tc.beta1, tc.beta2, tc.eps};
      pre.momentum = cfg.score.precondition == "adam";
      pre.unit = cfg.score.normalize == "unit";
      if (adam) {
        pre.m = read_flat(f, group + "/m", named).to(dev);
        pre.v = read_flat(f, group + "/v", named).to(dev);
      }
      return pre;
    };
    if (K > 0) make_dirs(cfg.out + "/features");
    for (auto& s : mine) {
      const Preconditioner pre = cfg.score.moments == "server"
                                     ? precondition(rf, "/server")
                                     : precondition(H5File::open_read(silo_moments_file(cfg.out, c, s.name)), "");
      accumulate(load_silo(s.path, cfg.model.max_seq_len).enc, pre, s.score, "silo_" + s.name);
      if (silo_anchors) accumulate(anchor, pre, s.anchor_score, "anchor_for_" + s.name);
    }
    if (comm.is_root()) accumulate(anchor, precondition(rf, "/server"), anchor_score, "anchor");
    failpoint("scored_checkpoint", comm.rank());
  }
  progress.finish();
  comm.barrier();
  end_phase("scoring");

  // ---- threshold and selection
  double tau = comm.is_root() ? anchor_threshold(anchor_score, cfg.select) : 0.0;
  comm.broadcast(&tau, sizeof tau);
  const bool by_ratio = cfg.select.threshold == "ratio";
  unflatten_into(theta, params);  // final warm-up model, for the held-out loss
  for (auto& s : mine) {
    s.tau = silo_anchors ? anchor_threshold(s.anchor_score, cfg.select) : tau;
    s.selected = by_ratio ? select_top_ratio(s.score, cfg.select.keep_ratio) : select_at_threshold(s.score, s.tau);
    const SiloData d = load_silo(s.path, cfg.model.max_seq_len);
    std::string kept;
    for (size_t i = 0; i < d.records.size(); ++i)
      if (s.selected[i]) kept += d.records[i].raw + "\n";
    write_text_atomic(cfg.out + "/selected/" + s.name + ".jsonl", kept);
    if (!s.test.empty()) s.test_loss = mean_loss(model, s.test, cfg.score.batch_size);
    // Per-sample losses under the same model, for the perplexity and IFD baselines.
    s.loss = sample_losses(model, d.enc, cfg.score.batch_size);
    std::vector<Encoded> alone;
    for (const auto& e : d.enc) alone.push_back(answer_alone(e));
    s.ifd = ifd(s.loss, sample_losses(model, alone, cfg.score.batch_size));
  }
  // Per-silo vectors to rank 0, in silo order (labels too: evaluation-only ground truth).
  RunSummary summary;
  summary.threshold = tau;
  auto silo_at = [&](int64_t j) -> const Silo& {
    return *std::find_if(mine.begin(), mine.end(), [&](const Silo& x) { return x.index == j; });
  };
  const auto all_scores = collect<double>(comm, S, owner_of, [&](int64_t j) { return silo_at(j).score; });
  const auto all_sel = collect<uint8_t>(comm, S, owner_of, [&](int64_t j) { return silo_at(j).selected; });
  const auto all_labels = collect<uint8_t>(comm, S, owner_of, [&](int64_t j) { return silo_at(j).labels; });
  const auto all_loss = collect<double>(comm, S, owner_of, [&](int64_t j) { return silo_at(j).loss; });
  const auto all_ifd = collect<double>(comm, S, owner_of, [&](int64_t j) { return silo_at(j).ifd; });
  std::vector<double> silo_tau(static_cast<size_t>(S), 0.0);  // every rank: scores.h5 attributes
  for (const auto& s : mine) silo_tau[static_cast<size_t>(s.index)] = s.tau;
  for (auto& t : silo_tau) t = comm.allreduce_sum(t);
  std::vector<double> test_losses(static_cast<size_t>(S), -1);
  {
    const auto t = collect<double>(comm, S, owner_of, [&](int64_t j) { return std::vector<double>{silo_at(j).test_loss}; });
    for (int64_t j = 0; comm.is_root() && j < S; ++j) test_losses[static_cast<size_t>(j)] = t[static_cast<size_t>(j)].at(0);
  }
  comm.barrier();
  end_phase("selection");

  // ---- comparison: each row fine-tunes from the base on its selection (same rounds,
  // steps and seed as the warm-up) and is evaluated on every silo's --test set.
  {
    const bool have_tests = comm.all_ok(std::all_of(mine.begin(), mine.end(), [](const Silo& s) { return !s.test.empty(); }));
    const bool labelled = comm.all_ok(std::all_of(mine.begin(), mine.end(), [](const Silo& s) { return !s.labels.empty(); }));
    auto rows = compare_rows(cfg.compare, labelled);
    if (!rows.empty() && !have_tests) {
      log0(comm, "comparison skipped: it needs a clean held-out set for every silo (--test NAME=PATH)");
      rows.clear();
    }
    const double t_cmp = elapsed_s();
    for (size_t ri = 0; ri < rows.size(); ++ri) {
      const std::string& row = rows[ri];
      // A row finished before a kill is kept (checkpoints/compare_<row>.json, rank 0).
      const std::string saved = checkpoint_dir(cfg.out) + "/compare_" + row + ".json";
      int done = comm.is_root() && file_exists(saved) ? 1 : 0;
      comm.broadcast(&done, sizeof done);
      if (done) {
        if (comm.is_root()) summary.comparison.push_back(row_from_json(nlohmann::json::parse(read_text(saved))));
        log0(comm, "resume: comparison row " + row + " already done");
        continue;
      }
      std::vector<double> row_counts(static_cast<size_t>(S), 0.0);
      std::vector<LocalSilo> locals;
      std::map<int64_t, std::vector<uint8_t>> sel;
      for (size_t i = 0; i < mine.size(); ++i) {
        const Silo& s = mine[i];
        const auto& picked = sel[s.index] = row_selection(row, s.score, s.selected, s.loss, s.ifd, s.labels, cfg, s.index);
        row_counts[static_cast<size_t>(s.index)] = static_cast<double>(std::accumulate(picked.begin(), picked.end(), 0));
        // The row's subset of the silo, loaded when the silo trains.
        locals.push_back({s.index, [&cfg, &picked, path = s.path] {
                            std::vector<Encoded> subset;
                            auto all = load_silo(path, cfg.model.max_seq_len).enc;
                            for (size_t k = 0; k < all.size(); ++k)
                              if (picked[k]) subset.push_back(std::move(all[k]));
                            return subset;
                          },
                          state_file(s, "compare")});
      }
      for (auto& c : row_counts) c = comm.allreduce_sum(c);
      const double row_total = std::accumulate(row_counts.begin(), row_counts.end(), 0.0);
      // compare.seeds fine-tunings (seed, seed+1, ...: data order), figures averaged;
      // per silo: loss, perplexity, exact match of each seed in turn.
      const int64_t K = cfg.compare.seeds;
      std::map<int64_t, std::vector<double>> per_seed;
      for (int64_t k = 0; k < K; ++k) {
        for (const auto& l : locals) save_silo_state(l.state, theta0, fresh);  // a fresh Adam state per fine-tuning
        torch::Tensor th = theta0;
        if (row_total > 0)
          for (int64_t r = 0; r < tc.rounds; ++r)
            th = federated_round(comm, model, locals, row_counts, owner_of, th, tc, cfg.seed + static_cast<uint64_t>(k), r,
                                 false).theta;
        unflatten_into(th, params);
        for (const auto& s : mine) {
          const TestMetrics m = evaluate(model, s.test, cfg.score.batch_size);
          auto& v = per_seed[s.index];
          v.insert(v.end(), {m.loss, m.perplexity, m.exact_match});
        }
      }
      for (const auto& s : mine) remove_states(s, "compare");
      const auto metrics = collect<double>(comm, S, owner_of, [&](int64_t j) {
        return row_total > 0 ? per_seed.at(j) : std::vector<double>(static_cast<size_t>(3 * K), -1.0);
      });
      const auto row_sel = collect<uint8_t>(comm, S, owner_of, [&](int64_t j) { return sel.at(j); });
      if (comm.is_root()) {
        CompareRow cr;
        cr.name = row;
        std::vector<std::vector<double>> ranking(static_cast<size_t>(S));
        for (int64_t j = 0; j < S; ++j) {
          const size_t u = static_cast<size_t>(j);
          ranking[u] = row_ranking(row, all_scores[u], all_loss[u], all_ifd[u]);
          RowSilo rs;
          rs.kept = std::accumulate(row_sel[u].begin(), row_sel[u].end(), int64_t{0});
          rs.test_loss = rs.perplexity = rs.exact_match = 0;
          for (int64_t k = 0; k < K; ++k) {
            rs.test_loss += metrics[u][static_cast<size_t>(3 * k)] / static_cast<double>(K);
            rs.perplexity += metrics[u][static_cast<size_t>(3 * k + 1)] / static_cast<double>(K);
            rs.exact_match += metrics[u][static_cast<size_t>(3 * k + 2)] / static_cast<double>(K);
          }
          cr.silos.push_back(rs);
        }
        if (K > 1) {  // spread of the macro test loss over the fine-tuning seeds
          std::vector<double> macro(static_cast<size_t>(K), 0.0);
          for (int64_t k = 0; k < K; ++k)
            for (int64_t j = 0; j < S; ++j)
              macro[static_cast<size_t>(k)] += metrics[static_cast<size_t>(j)][static_cast<size_t>(3 * k)] / static_cast<double>(S);
          const double mu = mean(macro);
          double var = 0;
          for (double x : macro) var += (x - mu) * (x - mu);
          cr.macro_loss_sd = std::sqrt(var / static_cast<double>(K - 1));
        }
        fill_detection(cr, ranking, row_sel, all_labels,
                       std::all_of(ranking.begin(), ranking.end(), [](const auto& r) { return !r.empty(); }));
        cr.macro_loss = mean_of(cr.silos, &RowSilo::test_loss);
        cr.macro_perplexity = mean_of(cr.silos, &RowSilo::perplexity);
        cr.macro_exact_match = mean_of(cr.silos, &RowSilo::exact_match);
        summary.comparison.push_back(cr);
        write_text_atomic(saved, row_to_json(cr).dump() + "\n");
      }
      failpoint("comparison_row", comm.rank());
      const double dt = elapsed_s() - t_cmp;
      char buf[240];
      std::snprintf(buf, sizeof buf, "comparison row %zu/%zu (%s): %.0f samples, macro test loss %.4f, %s elapsed, ETA %s",
                    ri + 1, rows.size(), row.c_str(), row_total,
                    comm.is_root() ? summary.comparison.back().macro_loss : 0.0, format_seconds(dt).c_str(),
                    format_seconds(dt / static_cast<double>(ri + 1) * static_cast<double>(rows.size() - ri - 1)).c_str());
      log0(comm, buf);
    }
    comm.barrier();
    end_phase("comparison");
  }

  // ---- outputs (rank 0): scores.h5, then report.json last
  if (comm.is_root()) {
    CompareRow own;  // CLUES's detection figures, computed as for a comparison row
    own.silos.resize(static_cast<size_t>(S));
    fill_detection(own, all_scores, all_sel, all_labels, true);
    for (int64_t j = 0; j < S; ++j) {
      const size_t u = static_cast<size_t>(j);
      SiloSummary ss;
      ss.name = cfg.silos[u].name;
      ss.threshold = silo_tau[u];
      ss.samples = static_cast<int64_t>(all_scores[u].size());
      ss.kept = std::accumulate(all_sel[u].begin(), all_sel[u].end(), int64_t{0});
      ss.test_loss = test_losses[u];
      if (!all_labels[u].empty()) {
        ss.bad_share = static_cast<double>(std::accumulate(all_labels[u].begin(), all_labels[u].end(), int64_t{0})) /
                       static_cast<double>(ss.samples);
        const RowSilo& d = own.silos[u];
        ss.auroc = d.auroc;
        ss.precision = d.precision;
        ss.recall = d.recall;
        ss.f1 = d.f1;
      }
      summary.silos.push_back(ss);
    }
    summary.pooled_auroc = own.pooled_auroc;
    summary.pooled_precision = own.pooled_precision;
    summary.pooled_recall = own.pooled_recall;
    summary.pooled_f1 = own.pooled_f1;
  }
  // scores.h5 through MPI-IO: every rank writes the silos it hosts (collective writes,
  // the other ranks joining with empty selections); rank 0 adds the anchors. Written
  // under a temporary name and renamed by rank 0 once every rank has closed it.
  {
    const std::string path = cfg.out + "/scores.h5";
    std::string tmp = comm.is_root() ? temp_path_for(path) : std::string();
    comm.broadcast(tmp);
    int64_t n_anchor = static_cast<int64_t>(anchor_score.size());
    comm.broadcast(&n_anchor, sizeof n_anchor);
    {
      H5File f = H5File::create_parallel(tmp, comm.raw());
      using T = H5File::Type;
      for (int64_t j = 0; j < S; ++j) {
        const std::string g = "/silos/" + cfg.silos[static_cast<size_t>(j)].name;
        const auto n = static_cast<hsize_t>(counts[static_cast<size_t>(j)]);
        for (const char* d : {"/score", "/warmup_loss", "/ifd"}) f.create_dataset(g + d, T::kF64, n);
        f.create_dataset(g + "/selected", T::kU8, n);
      }
      f.create_dataset("/anchor/score", T::kF64, static_cast<hsize_t>(n_anchor));
      f.create_dataset("/checkpoints/lr", T::kF64, static_cast<hsize_t>(lrs.size()));
      for (int64_t j = 0; j < S; ++j) {
        const std::string g = "/silos/" + cfg.silos[static_cast<size_t>(j)].name;
        const bool here = owner_of(j) == comm.rank();
        const Silo* s = here ? &silo_at(j) : nullptr;
        f.write_collective(g + "/score", T::kF64, here ? s->score.data() : nullptr, here);
        f.write_collective(g + "/warmup_loss", T::kF64, here ? s->loss.data() : nullptr, here);
        f.write_collective(g + "/ifd", T::kF64, here ? s->ifd.data() : nullptr, here);
        f.write_collective(g + "/selected", T::kU8, here ? s->selected.data() : nullptr, here);
      }
      f.write_collective("/anchor/score", T::kF64, anchor_score.data(), comm.is_root());
      f.write_collective("/checkpoints/lr", T::kF64, lrs.data(), comm.is_root());
      f.set_attr("/", "threshold", tau);
      f.set_attr("/", "config", cfg.to_ini());
      for (int64_t j = 0; j < S; ++j)  // the threshold each silo applied (= τ unless select.anchor_moments=silo)
        f.set_attr("/silos/" + cfg.silos[static_cast<size_t>(j)].name, "threshold", silo_tau[static_cast<size_t>(j)]);
    }
    comm.barrier();
    if (comm.is_root()) commit_file(tmp, path);
  }
  end_phase("output");
  summary.seconds = elapsed_s() - t_start;
  timings["total"] = comm.allreduce_max(summary.seconds);

  failpoint("before_report", comm.rank());
  if (comm.is_root()) {
    nlohmann::json rep;
    rep["threshold"] = nan_to(tau, 0.0);
    rep["threshold_mode"] = cfg.select.threshold;
    rep["anchor_moments"] = cfg.select.anchor_moments;
    rep["ranks"] = comm.size();
    rep["engine"] = cfg.score.engine;
    rep["precondition"] = cfg.score.precondition;
    rep["checkpoints"] = C;
    rep["trainable_params"] = P;
    rep["truncated_samples"] = truncated;
    rep["anchor"]["samples"] = anchor.size();
    rep["anchor"]["mean_score"] = mean(anchor_score);
    for (const auto& ss : summary.silos) {
      auto& j = rep["silos"][ss.name];
      j["samples"] = ss.samples;
      j["kept"] = ss.kept;
      j["threshold"] = nan_to(ss.threshold, 0.0);
      j["host_rank"] = owner[static_cast<size_t>(&ss - summary.silos.data())];
      if (ss.test_loss >= 0) j["test_loss"] = ss.test_loss;
      if (ss.bad_share >= 0) {
        j["labels"] = {{"bad_share", ss.bad_share}, {"auroc", ss.auroc}, {"precision", ss.precision},
                       {"recall", ss.recall}, {"f1", ss.f1}};
        if (std::isnan(ss.auroc) || ss.auroc < 0) j["labels"]["auroc"] = nullptr;  // one class only
      }
    }
    if (summary.pooled_auroc >= 0)
      rep["pooled"] = {{"auroc", summary.pooled_auroc}, {"precision", summary.pooled_precision},
                       {"recall", summary.pooled_recall}, {"f1", summary.pooled_f1}};
    for (const auto& cr : summary.comparison) {
      nlohmann::json r;
      auto put = [](nlohmann::json& j, const char* k, double v) { j[k] = v < 0 ? nlohmann::json() : nlohmann::json(v); };
      put(r, "macro_test_loss", cr.macro_loss);
      put(r, "macro_test_loss_sd", cr.macro_loss_sd);
      put(r, "macro_perplexity", cr.macro_perplexity);
      put(r, "macro_exact_match", cr.macro_exact_match);
      put(r["pooled"], "auroc", cr.pooled_auroc);
      put(r["pooled"], "precision", cr.pooled_precision);
      put(r["pooled"], "recall", cr.pooled_recall);
      put(r["pooled"], "f1", cr.pooled_f1);
      for (size_t u = 0; u < cr.silos.size(); ++u) {
        const RowSilo& x = cr.silos[u];
        auto& j = r["silos"][cfg.silos[u].name];
        j["kept"] = x.kept;
        put(j, "test_loss", x.test_loss);
        put(j, "perplexity", x.perplexity);
        put(j, "exact_match", x.exact_match);
        put(j, "auroc", x.auroc);
        put(j, "precision", x.precision);
        put(j, "recall", x.recall);
        put(j, "f1", x.f1);
      }
      rep["comparison"][cr.name] = r;
    }
    if (!summary.comparison.empty()) {
      std::vector<std::string> names;
      for (const auto& sp : cfg.silos) names.push_back(sp.name);
      write_text_atomic(cfg.out + "/comparison.md", "# Comparison (" + cfg.out + ")\n\n" +
                                                       comparison_markdown(summary.comparison, names));
    }
    for (const auto& [k, v] : timings) rep["timings_s"][k] = v;
    write_text_atomic(cfg.out + "/report.json", rep.dump(2) + "\n");
  }
  comm.barrier();
  return summary;
}
}  // namespace

std::string format_summary(const RunSummary& s) {
  std::ostringstream os;
  char buf[256];
  std::snprintf(buf, sizeof buf, "threshold %.6g\n%-12s %8s %8s %7s %8s %7s %7s %7s %7s %9s\n", s.threshold, "silo",
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
  bool per_silo = false;
  for (const auto& x : s.silos) per_silo = per_silo || x.threshold != s.threshold;
  if (per_silo) {
    os << "threshold per silo (anchors under each silo's own moments):";
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
