// Building the run context (lib/run/run_context.h): configuration, device, inputs, output folder.
#include "lib/run/run_context.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "clues/build_config.h"
#include "io/error.h"
#include "io/files.h"
#include "io/jsonl.h"
#include "io/run_inputs.h"
#include "lib/dist/collect.h"
#include "lib/dist/process_stats.h"
#include "lib/dist/log.h"
#include "lib/method/pretrain.h"
#include "lib/method/rules.h"
#include "lib/model/hf_model.h"

namespace fs = std::filesystem;

namespace clues {

PhaseClock::PhaseClock() : start_(elapsed_s()), last_(start_) {}

void PhaseClock::end(const Comm& comm, const std::string& name) {
  const double seconds = elapsed_s() - last_;
  const CommStats now = comm_stats();  // before this function's own reductions
  if (tracing()) trace_span(name, 0, steady_s() - seconds, seconds);
  timings[name] = comm.allreduce_max(seconds);
  comm_s[name] = comm.allreduce_max(now.seconds - last_comm_s_);
  comm_bytes[name] = comm.allreduce_sum(static_cast<double>(now.bytes) - last_comm_bytes_);
  last_comm_s_ = comm_stats().seconds;
  last_comm_bytes_ = static_cast<double>(comm_stats().bytes);
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

Decoder RunContext::make_model() const {
  Decoder m = clues::make_model(cfg.model, cfg.seed);
  if (!cfg.model.dir.empty()) load_hf_weights(m, cfg.model.dir);
  return m;
}

namespace {

std::vector<Encoded> encode_all(const RunContext& ctx, const std::vector<Record>& rs, int64_t* truncated,
                                const SampleFormat* format = nullptr) {
  std::vector<Encoded> out;
  out.reserve(rs.size());
  for (const auto& r : rs) {
    out.push_back(encode_sample(*ctx.tokenizer, r, format ? *format : ctx.format));
    if (out.back().truncated && truncated) ++*truncated;
  }
  return out;
}

SiloData load_silo(const RunContext& ctx, const std::string& path, int64_t* truncated = nullptr) {
  SiloData d;
  d.records = read_jsonl(path);
  d.enc = encode_all(ctx, d.records, truncated);
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

// Every input file of the run (silos, public sets, tests, labels, pretraining corpus).
std::vector<std::string> input_files(const Config& cfg) {
  std::vector<std::string> in;
  if (!cfg.anchor.empty()) in.push_back(cfg.anchor);
  for (const auto& d : cfg.anchor_domains) in.push_back(d.path);
  if (!cfg.validation.empty()) in.push_back(cfg.validation);
  for (const auto& d : cfg.validation_domains) in.push_back(d.path);
  for (const auto* list : {&cfg.silos, &cfg.tests, &cfg.labels})
    for (const auto& p : *list) in.push_back(p.path);
  in.insert(in.end(), cfg.pretrain.corpus.begin(), cfg.pretrain.corpus.end());
  return in;
}

// What this run starts from (collective): the settings that change results, and every
// input file by content, each hashed where it is read (a silo and its test and labels by
// the rank hosting it; the public sets, corpus and model folder by rank 0). Rank 0 gets it.
RunInputs run_inputs_of(const RunContext& ctx) {
  const Config& cfg = ctx.cfg;
  RunInputs r;
  std::string names;
  for (const auto& s : cfg.silos) names += (names.empty() ? "" : ",") + s.name;
  r.settings.emplace_back("silos", names);
  for (const auto& k : config_keys()) {
    if (!k.recorded || k.input) continue;  // input files are compared by content below
    std::string v;
    for (const auto& x : k.get(cfg)) v += (v.empty() ? "" : ",") + x;
    r.settings.emplace_back(k.name, v);
  }
  auto line = [](const InputFile& f) { return f.role + "\t" + f.path + "\t" + std::to_string(f.bytes) + "\t" + f.hash + "\n"; };
  const auto per_silo = collect<char>(ctx.comm, static_cast<int64_t>(ctx.silos.size()), ctx.owner_fn(), [&](int64_t j) {
    const auto& s = ctx.silos[static_cast<size_t>(j)];
    std::string out = line(describe_input("silo " + s.name, s.path));
    if (auto p = find_path(cfg.tests, s.name); !p.empty()) out += line(describe_input("test " + s.name, p));
    if (auto p = find_path(cfg.labels, s.name); !p.empty()) out += line(describe_input("labels " + s.name, p));
    return std::vector<char>(out.begin(), out.end());
  });
  if (!ctx.comm.is_root()) return r;
  for (const auto& v : per_silo) {
    std::istringstream in(std::string(v.begin(), v.end()));
    std::string l;
    while (std::getline(in, l)) {
      std::istringstream f(l);
      InputFile x;
      std::string bytes;
      std::getline(f, x.role, '\t');
      std::getline(f, x.path, '\t');
      std::getline(f, bytes, '\t');
      std::getline(f, x.hash, '\t');
      x.bytes = std::stoll(bytes);
      r.files.push_back(x);
    }
  }
  if (!cfg.validation.empty()) r.files.push_back(describe_input("validation", cfg.validation));
  for (const auto& d : cfg.validation_domains) r.files.push_back(describe_input("validation " + d.name, d.path));
  if (!cfg.anchor.empty()) r.files.push_back(describe_input("anchor", cfg.anchor));
  for (const auto& d : cfg.anchor_domains) r.files.push_back(describe_input("anchor " + d.name, d.path));
  for (size_t i = 0; i < cfg.pretrain.corpus.size(); ++i)
    r.files.push_back(describe_input("pretraining corpus " + std::to_string(i + 1), cfg.pretrain.corpus[i]));
  if (!cfg.model.dir.empty()) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(cfg.model.dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) r.files.push_back(describe_input("model " + f.filename().string(), f.string()));
  }
  return r;
}

// A path as given (absolute, normalised) and with its links resolved: an input reached
// through a link into --out, or lying in --out behind a link, is inside it either way.
std::vector<fs::path> spellings(const std::string& path) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::path p : {fs::absolute(path, ec).lexically_normal(), fs::weakly_canonical(path, ec)}) {
    if (p.empty()) continue;
    if (!p.has_filename() && p != p.root_path()) p = p.parent_path();  // "run/" -> "run"
    out.push_back(p);
  }
  return out;
}

bool lies_inside(const std::string& path, const std::string& dir) {
  for (const auto& p : spellings(path))
    for (const auto& d : spellings(dir)) {
      auto o = d.begin(), q = p.begin();
      while (o != d.end() && q != p.end() && *o == *q) ++o, ++q;
      if (o == d.end()) return true;
    }
  return false;
}

// Every input is a regular file (a FIFO would be read once to check and hash it, and then
// block forever: clues reads each input more than once).
void check_input_kinds(const Config& cfg) {
  std::vector<std::string> files = input_files(cfg);
  if (!cfg.config_file.empty()) files.push_back(cfg.config_file);
  for (const auto& f : files) {
    std::error_code ec;
    const auto st = fs::status(f, ec);
    if (!fs::exists(st)) throw InputError("cannot open " + f + " for reading: it does not exist; check the path");
    if (fs::is_directory(st)) throw InputError(f + " is a directory, not a file: give the path of the file itself");
    if (!fs::is_regular_file(st))
      throw InputError(f + " is not a regular file (a FIFO, socket or device): clues reads every input more than once "
                           "(to check it and to record its content for --resume); copy it into a regular file");
  }
}

// The output folder against --resume / --overwrite, before anything is read or written
// (rank 0): --out must be a folder, hold no input, and hold a run of clues (or nothing) for
// clues to write or clear it. The checks that need the inputs' hashes are prepare_output's.
void check_output_folder(const Config& cfg, const RunLayout& files) {
  std::error_code ec;
  if (fs::exists(cfg.out, ec) && !fs::is_directory(cfg.out, ec))
    throw InputError("--out " + cfg.out + " is a file, not a folder: give the folder the run is written to (a new "
                     "or empty one, or one of an earlier run)");
  // Inputs inside the output folder could be overwritten or removed by this run.
  std::vector<std::string> in = input_files(cfg);
  if (!cfg.model.dir.empty()) in.push_back(cfg.model.dir);
  for (const auto& f : in)
    if (lies_inside(f, cfg.out))
      throw InputError("the input " + f + " lies inside the output folder " + cfg.out +
                       ", which this run writes and may clear: move it out, or choose another --out");
  // --config was read whole before this; it only must not be among what --overwrite removes.
  for (const auto& e : RunLayout::entries())
    if (cfg.overwrite && !cfg.config_file.empty() && lies_inside(cfg.config_file, (fs::path(cfg.out) / e).string()))
      throw InputError("the --config file " + cfg.config_file + " lies in " + e + " of the output folder " + cfg.out +
                       ", which --overwrite removes: copy it out of there first");
  // A folder with files but no clues run in it is someone else's: never write into it or clear it.
  if (fs::exists(cfg.out) && !fs::is_empty(cfg.out) && !files.is_run())
    throw InputError(cfg.out + " holds files but no run of clues (no .clues-run or run_config.ini): " +
                     (cfg.overwrite ? "--overwrite clears only a folder that clues wrote; " : "") +
                     "choose an empty or new --out (clues writes each run into a folder of its own)");
  if (cfg.overwrite || cfg.resume) return;
  if (fs::exists(files.report()))
    throw InputError(cfg.out + " already holds a finished run (report.json): pass --overwrite to replace it, "
                     "or choose another --out");
  if (fs::exists(files.checkpoints()) && !fs::is_empty(files.checkpoints()))
    throw InputError(cfg.out + " holds checkpoints of an unfinished run: pass --resume to continue it or "
                     "--overwrite to start afresh");
}

// The public inputs that phases read later, checked now (rank 0): the model folder's weight
// files (headers against sizes: a truncated file) and the pretraining corpus (every line).
void check_late_inputs(const Config& cfg) {
  if (!cfg.model.dir.empty()) check_hf_weight_files(cfg.model.dir);
  if (!cfg.pretrain.corpus.empty()) read_corpus(cfg.pretrain.corpus, cfg.model.max_seq_len);
}

// Compares a resumed run with what it was started from, clears the folder for --overwrite
// and writes the run's marker, configuration and inputs; rank 0 only, after every input was
// read and checked, so a bad input never costs an earlier run.
void prepare_output(const Config& cfg, const RunLayout& files, const RunInputs& inputs) {
  if (cfg.resume && !cfg.overwrite) {
    if (fs::exists(files.run_inputs())) {  // by content: paths may differ, contents and settings may not
      const auto changes = run_input_changes(read_run_inputs(files.run_inputs()), inputs);
      if (!changes.empty()) {
        std::string msg = cfg.out + " was started from other inputs or settings; --resume needs the same:";
        for (size_t i = 0; i < changes.size() && i < 12; ++i) msg += "\n  " + changes[i];
        if (changes.size() > 12) msg += "\n  ... and " + std::to_string(changes.size() - 12) + " more";
        throw InputError(msg + "\nHINT: give the same files and settings, or start afresh with --overwrite or another --out");
      }
    } else if (fs::exists(files.run_config()) && read_text(files.run_config()) != cfg.to_ini()) {  // a run of an older clues
      throw InputError(cfg.out + " was started with another configuration (see " + files.run_config() +
                       "); --resume needs the same settings, or pass --overwrite to start afresh");
    }
    fs::remove(files.report());
  }
  if (cfg.overwrite && fs::exists(cfg.out)) files.clear();
  make_dirs(cfg.out);
  files.mark();
  make_dirs(files.checkpoints());
  make_dirs(files.selected_dir());
  write_text_atomic(files.run_config(), cfg.to_ini());
  write_run_inputs(files.run_inputs(), inputs);
}

// Reads this rank's silos (every line is checked), their labels and tests, and the public
// sets; the silo table's sample counts and the truncation count are shared by all ranks.
// Collective: a bad input on any rank stops every rank with one message (agree_on_errors).
void read_inputs(RunContext& ctx) {
  const Config& cfg = ctx.cfg;
  std::vector<int64_t> truncated(1, 0);
  agree_on_errors(ctx.comm, [&] {
    for (auto& s : ctx.silos) {
      if (!ctx.hosts(s.index)) continue;
      s.samples = static_cast<int64_t>(load_silo(ctx, s.path, &truncated[0]).records.size());
      if (auto lp = find_path(cfg.labels, s.name); !lp.empty()) {
        s.labels = read_labels(lp);
        if (static_cast<int64_t>(s.labels.size()) != s.samples)
          throw InputError(lp + " has " + std::to_string(s.labels.size()) + " labels but silo " + s.name + " (" + s.path +
                           ") has " + std::to_string(s.samples) + " lines: one label per line is needed");
      }
      if (auto tp = find_path(cfg.tests, s.name); !tp.empty()) s.test = encode_all(ctx, read_jsonl(tp), nullptr);
    }
    if (!cfg.validation.empty()) ctx.validation.push_back({"", encode_all(ctx, read_jsonl(cfg.validation), nullptr)});
    for (const auto& d : cfg.validation_domains) ctx.validation.push_back({d.name, encode_all(ctx, read_jsonl(d.path), nullptr)});
    // Anchors are public: every rank reads them (rank 0 scores them for the global τ). Per
    // domain, the pooled set is every domain's in --anchor order.
    if (!cfg.anchor.empty()) ctx.anchor = encode_all(ctx, read_jsonl(cfg.anchor), nullptr);
    for (const auto& d : cfg.anchor_domains) {
      auto& set = ctx.anchor_domains[d.name] = encode_all(ctx, read_jsonl(d.path), nullptr);
      if (set.empty()) throw InputError(d.path + " (the anchors of " + d.name + ") has no samples");
      ctx.anchor.insert(ctx.anchor.end(), set.begin(), set.end());
    }
  });
  for (auto& s : ctx.silos) s.samples = static_cast<int64_t>(ctx.comm.allreduce_sum(static_cast<double>(s.samples)));
  ctx.truncated = ctx.comm.allreduce_sum(truncated[0]);
}

// The configuration, the model folder and what the inputs hold (rank 0), once they are checked.
void log_start(const RunContext& ctx) {
  const Config& cfg = ctx.cfg;
  const Comm& world = ctx.comm;
  log0(world, "clues " + std::string(CLUES_VERSION) + " on " + std::to_string(world.size()) +
                  " rank(s); resolved configuration:\n" + cfg.to_ini());
  if (!cfg.model.dir.empty())
    log0(world, "model folder " + cfg.model.dir + ": " + describe_model(cfg.model) + "; tokenizer " + ctx.tokenizer->kind());
  int64_t n = 0, nv = 0;
  for (const auto& s : ctx.silos) n += s.samples;
  for (const auto& v : ctx.validation) nv += static_cast<int64_t>(v.samples.size());
  std::ostringstream os;
  os << ctx.silos.size() << " silos, " << n << " private samples on " << world.size() << " rank(s); "
     << nv << " validation" << (ctx.validation.size() > 1 ? " (" + std::to_string(ctx.validation.size()) + " domains)" : "")
     << ", " << ctx.anchor.size() << " anchor samples";
  if (ctx.truncated)
    os << "; " << ctx.truncated << " samples longer than max_seq_len=" << cfg.model.max_seq_len << " truncated";
  log0(world, os.str());
}

}  // namespace

SiloData RunContext::load(const SiloEntry& silo) const { return load_silo(*this, silo.path); }

std::vector<Encoded> RunContext::training_samples(const SiloEntry& silo) const {
  if (train_format.loss_on == format.loss_on) return load(silo).enc;
  return encode_all(*this, read_jsonl(silo.path), nullptr, &train_format);
}

const std::vector<Encoded>& RunContext::anchors_of(const std::string& silo) const {
  const auto it = anchor_domains.find(silo);
  return it == anchor_domains.end() ? anchor : it->second;
}

const std::string& RunContext::anchor_path_of(const std::string& silo) const {
  for (const auto& d : cfg.anchor_domains)
    if (d.name == silo) return d.path;
  return cfg.anchor;
}

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

std::unique_ptr<RunContext> make_run_context(const Config& given, const Comm& world, bool validated) {
  Config cfg = given;
  if (!validated) {
    apply_model_folder(cfg);
    cfg.validate();
    check_rule_names(cfg);
  }
  auto ctx = std::make_unique<RunContext>();
  ctx->cfg = cfg;
  ctx->format = sample_format(cfg.model);
  ctx->train_format = ctx->format;
  if (cfg.train.loss_on != TrainOn::kSame)
    ctx->train_format.loss_on = cfg.train.loss_on == TrainOn::kSequence ? LossOn::kSequence : LossOn::kResponse;
  ctx->comm = world;
  ctx->files = RunLayout(cfg.out);
  // Checks that need no input read yet (rank 0): the kinds of the input files, the output
  // folder against --resume/--overwrite, the model's weight files and the corpus, which
  // phases read later: a bad one stops the job here, before anything is written.
  agree_on_errors(world, [&] {
    if (!world.is_root()) return;
    check_input_kinds(cfg);
    check_output_folder(cfg, ctx->files);
    check_late_inputs(cfg);
  });
  agree_on_errors(world, [&] { ctx->tokenizer = make_tokenizer(cfg.model); });
  torch::set_num_threads(cfg.threads);

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
  log_start(*ctx);  // checked first, then printed: an input error is not buried under the configuration
  const RunInputs inputs = run_inputs_of(*ctx);
  agree_on_errors(world, [&] {
    if (world.is_root()) prepare_output(cfg, ctx->files, inputs);
  });
  ctx->clock.end(world, "load");
  return ctx;
}

CollabEnv collab_env(const RunContext& ctx) {
  CollabEnv env{ctx.cfg, ctx.comm, ctx.files, {}, ctx.counts(), ctx.owner_fn(), nullptr, ctx.device};
  for (const auto& s : ctx.silos)
    if (ctx.hosts(s.index)) env.hosted.push_back({s.index, s.name, s.samples});
  env.load = [&ctx](int64_t j) { return ctx.training_samples(ctx.silos[static_cast<size_t>(j)]); };
  return env;
}

}  // namespace clues
