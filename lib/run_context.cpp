// Building the run context (lib/run_context.h): configuration, device, inputs, output folder.
#include "lib/run_context.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "clues/build_config.h"
#include "io/error.h"
#include "io/files.h"
#include "io/jsonl.h"
#include "lib/log.h"

namespace fs = std::filesystem;

namespace clues {

PhaseClock::PhaseClock() : start_(elapsed_s()), last_(start_) {}

void PhaseClock::end(const Comm& comm, const std::string& name) {
  timings[name] = comm.allreduce_max(elapsed_s() - last_);
  last_ = elapsed_s();
}

double PhaseClock::since_start() const { return elapsed_s() - start_; }

std::function<int(int64_t)> RunContext::owner_fn() const {
  return [this](int64_t j) { return owner(j); };
}

std::vector<double> RunContext::counts() const {
  std::vector<double> c;
  for (const auto& s : silos) c.push_back(static_cast<double>(s.samples));
  return c;
}

Decoder RunContext::make_model() const { return clues::make_model(cfg.model, cfg.seed); }

namespace {

std::vector<Encoded> encode_all(const std::vector<Record>& rs, int64_t max_len, int64_t* truncated) {
  std::vector<Encoded> out;
  out.reserve(rs.size());
  for (const auto& r : rs) {
    out.push_back(encode_sample(r, max_len));
    if (out.back().truncated && truncated) ++*truncated;
  }
  return out;
}

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

// Checks the output folder against --resume / --overwrite and creates it; rank 0 only,
// after every input was read and checked.
// Every input file of the run (silos, public sets, tests, labels, pretraining corpus).
std::vector<std::string> input_files(const Config& cfg) {
  std::vector<std::string> in = {cfg.validation, cfg.anchor};
  for (const auto* list : {&cfg.silos, &cfg.tests, &cfg.labels})
    for (const auto& p : *list) in.push_back(p.path);
  in.insert(in.end(), cfg.pretrain.corpus.begin(), cfg.pretrain.corpus.end());
  return in;
}

void prepare_output(const Config& cfg, const RunLayout& files) {
  // Inputs inside the output folder could be overwritten or removed by this run.
  const fs::path out = fs::weakly_canonical(cfg.out);
  for (const auto& f : input_files(cfg)) {
    const fs::path p = fs::weakly_canonical(f);
    auto o = out.begin(), q = p.begin();
    while (o != out.end() && q != p.end() && *o == *q) ++o, ++q;
    if (o == out.end())
      throw InputError("the input " + f + " lies inside the output folder " + cfg.out +
                       ", which this run writes and may clear: move it out, or choose another --out");
  }
  // A folder with files but no clues run in it is someone else's: never write into it.
  if (!cfg.overwrite && fs::exists(cfg.out) && !fs::is_empty(cfg.out) && !fs::exists(files.run_config()))
    throw InputError(cfg.out + " holds files but no run of clues (no run_config.ini): choose an empty or new --out, "
                     "or pass --overwrite to write the run beside them");
  const bool has_ckpt = fs::exists(files.checkpoints()) && !fs::is_empty(files.checkpoints());
  if (cfg.overwrite) {
    for (const auto& e : RunLayout::entries()) fs::remove_all(files.out() + "/" + e);
  } else if (cfg.resume) {
    if (fs::exists(files.run_config()) && read_text(files.run_config()) != cfg.to_ini())
      throw InputError(cfg.out + " was started with another configuration (see " + files.run_config() +
                       "); --resume needs the same settings, or pass --overwrite to start afresh");
    fs::remove(files.report());
  } else if (fs::exists(files.report())) {
    throw InputError(cfg.out + " already holds a finished run (report.json): pass --overwrite to replace it, "
                     "or choose another --out");
  } else if (has_ckpt) {
    throw InputError(cfg.out + " holds checkpoints of an unfinished run: pass --resume to continue it or "
                     "--overwrite to start afresh");
  }
  make_dirs(files.checkpoints());
  make_dirs(files.selected_dir());
  write_text_atomic(files.run_config(), cfg.to_ini());
}

// Reads this rank's silos (every line is checked), their labels and tests, and the public
// sets; the silo table's sample counts and the truncation count are shared by all ranks.
void read_inputs(RunContext& ctx) {
  const Config& cfg = ctx.cfg;
  const int64_t max_len = cfg.model.max_seq_len;
  std::vector<int64_t> truncated(1, 0);
  for (auto& s : ctx.silos) {
    if (!ctx.hosts(s.index)) continue;
    s.samples = static_cast<int64_t>(load_silo(s.path, max_len, &truncated[0]).records.size());
    if (auto lp = find_path(cfg.labels, s.name); !lp.empty()) {
      s.labels = read_labels(lp);
      if (static_cast<int64_t>(s.labels.size()) != s.samples)
        throw InputError(lp + " has " + std::to_string(s.labels.size()) + " labels but silo " + s.name + " (" + s.path +
                         ") has " + std::to_string(s.samples) + " lines: one label per line is needed");
    }
    if (auto tp = find_path(cfg.tests, s.name); !tp.empty()) s.test = encode_all(read_jsonl(tp), max_len, nullptr);
  }
  ctx.validation = encode_all(read_jsonl(cfg.validation), max_len, nullptr);
  // Anchors are public: every rank reads them (rank 0 scores them for the global τ).
  ctx.anchor = encode_all(read_jsonl(cfg.anchor), max_len, nullptr);
  for (auto& s : ctx.silos) s.samples = static_cast<int64_t>(ctx.comm.allreduce_sum(static_cast<double>(s.samples)));
  ctx.truncated = ctx.comm.allreduce_sum(truncated[0]);
}

}  // namespace

SiloData RunContext::load(const SiloEntry& silo) const { return load_silo(silo.path, cfg.model.max_seq_len); }

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

std::unique_ptr<RunContext> make_run_context(const Config& cfg, const Comm& world, bool validated) {
  if (!validated) cfg.validate();
  auto ctx = std::make_unique<RunContext>();
  ctx->cfg = cfg;
  ctx->comm = world;
  ctx->files = RunLayout(cfg.out);
  torch::set_num_threads(cfg.threads);
  log0(world, "clues " + std::string(CLUES_VERSION) + " on " + std::to_string(world.size()) +
                  " rank(s); resolved configuration:\n" + cfg.to_ini());

  // Device first: a job that cannot run where it was asked stops before any file is touched.
  ctx->device = pick_device(cfg.device, world);
  ctx->device_scope = std::make_unique<DeviceScope>(ctx->device);
  attach_device_link(ctx->comm, ctx->device);

  std::vector<int64_t> sizes;
  for (const auto& s : cfg.silos) sizes.push_back(file_size_or_zero(s.path));
  const std::vector<int> owner = assign_silos(sizes, world.size());
  for (size_t j = 0; j < cfg.silos.size(); ++j) {
    SiloEntry e;
    e.index = static_cast<int64_t>(j);
    e.name = cfg.silos[j].name;
    e.path = cfg.silos[j].path;
    e.owner = owner[j];
    e.bytes = sizes[j];
    ctx->silos.push_back(std::move(e));
  }
  read_inputs(*ctx);
  {
    int64_t n = 0;
    for (const auto& s : ctx->silos) n += s.samples;
    std::ostringstream os;
    os << ctx->silos.size() << " silos, " << n << " private samples on " << world.size() << " rank(s); "
       << ctx->validation.size() << " validation, " << ctx->anchor.size() << " anchor samples";
    if (ctx->truncated)
      os << "; " << ctx->truncated << " samples longer than max_seq_len=" << cfg.model.max_seq_len << " truncated";
    log0(world, os.str());
  }
  if (world.is_root()) prepare_output(cfg, ctx->files);
  world.barrier();
  ctx->clock.end(world, "load");
  return ctx;
}

}  // namespace clues
