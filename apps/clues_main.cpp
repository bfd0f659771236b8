// clues: the command-line entry point. Parses options into a Config, builds the run
// context (validation, device, inputs, output folder), runs the phases on every MPI rank,
// and turns any error into one message and MPI_Abort.
#include <mpi.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "apps/inspect.h"
#include "apps/options.h"
#include "apps/partition.h"
#include "clues/build_config.h"
#include "io/error.h"
#include "lib/dist/comm.h"
#include "lib/method/rules.h"
#include "lib/model/hf_model.h"
#include "lib/run/pipeline.h"
#include "lib/run/run_context.h"

namespace {

const char* kUsage =
    "usage: clues <command> [options]\n"
    "commands:\n"
    "  run      the whole pipeline: warm-up, scoring, threshold, selection (clues run --help)\n"
    "  loss     the mean loss of each sample under a model folder, one per line (clues loss --help)\n"
    "  merge    merge PEFT LoRA adapters into one: TIES, linear, task arithmetic (clues merge --help)\n"
    "  partition split pooled data into silos for a study, with low-quality samples and labels (clues partition --help)\n"
    "  study    plan, run and summarize a grid of runs over partitions and settings (clues study --help)\n"
    "  tokenize the token ids of each sample under a model folder's tokenizer (clues tokenize --help)\n"
    "  version  print the version\n";

}  // namespace

// `clues study ...` is the clues-study driver beside this executable (it launches MPI jobs
// itself, so this process must not start MPI first).
static int exec_study(int argc, char** argv) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string driver = (ec ? std::filesystem::path(argv[0]) : self).parent_path() / "clues-study";
  std::vector<char*> args{const_cast<char*>(driver.c_str())};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(driver.c_str(), args.data());
  std::cerr << "clues: error: cannot run " << driver << " (" << std::strerror(errno)
            << "): clues study needs the clues-study driver beside the clues executable (build it again)\n";
  return 2;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "study") == 0) return exec_study(argc, argv);
  clues::MpiSession mpi(&argc, &argv);
  const clues::Comm comm = clues::Comm::world();
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
      if (comm.is_root()) std::cout << kUsage;
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "version" || args[0] == "--version") {
      if (comm.is_root()) std::cout << "clues " << CLUES_VERSION << " (" << CLUES_BUILD_TYPE << ")\n";
      return 0;
    }
    if (args[0] == "loss" || args[0] == "tokenize" || args[0] == "merge" || args[0] == "partition") {
      // Single-process tools: rank 0 works, the others wait.
      int rc = 0;
      if (comm.is_root()) {
        try {
          const std::vector<std::string> rest(args.begin() + 1, args.end());
          rc = args[0] == "loss"       ? clues::run_loss_command(rest)
               : args[0] == "merge" ? clues::run_merge_command(rest)
               : args[0] == "partition" ? clues::run_partition_command(rest)
                                    : clues::run_tokenize_command(rest);
        } catch (const clues::InputError& e) {
          std::cerr << "clues: error: " << e.what() << std::endl;
          rc = 2;
        } catch (const std::exception& e) {  // one process: no rank to name
          std::cerr << "clues: error: " << e.what() << std::endl;
          rc = 1;
        }
      }
      comm.broadcast(&rc, sizeof rc);
      return rc;
    }
    if (args[0] != "run") throw clues::InputError("unknown command \"" + args[0] + "\"\n" + kUsage);
    clues::Config cfg;
    std::string help;
    try {
      if (!clues::parse_run_options({args.begin() + 1, args.end()}, cfg, help)) {
        if (comm.is_root()) std::cout << help;
        return 0;
      }
      clues::apply_model_folder(cfg);
      cfg.validate();
      clues::check_rule_names(cfg);
    } catch (const clues::InputError& e) {
      // Every rank parsed the same options and failed the same way, before any collective:
      // one message (rank 0's), and every rank leaves with the same status.
      if (comm.is_root()) std::cerr << "clues: error: " << e.what() << std::endl;
      return 2;
    }
    const auto ctx = clues::make_run_context(cfg, comm, /*validated=*/true);  // then checks every input
    const clues::RunSummary s = clues::run(*ctx);
    if (comm.is_root()) std::cout << clues::format_summary(s) << "outputs in " << cfg.out << "\n";
    return 0;
  } catch (const std::exception& e) {
    const bool input = dynamic_cast<const clues::InputError*>(&e) != nullptr;
    const auto* shared = dynamic_cast<const clues::Error*>(&e);
    if (shared != nullptr && shared->every_rank()) {
      // Every rank raised it together (clues::agree_on_errors): one message, and every rank
      // leaves with the same status, so no MPI_Abort and no banner of Open MPI's below it.
      if (comm.is_root()) std::cerr << "clues: error: " << e.what() << std::endl;
      return input ? 2 : 1;
    }
    std::cerr << "clues: error" << (comm.size() > 1 ? " on rank " + std::to_string(clues::world_rank()) : std::string())
              << ": " << e.what() << std::endl;
    if (comm.size() > 1) MPI_Abort(MPI_COMM_WORLD, input ? 2 : 1);
    return input ? 2 : 1;
  }
}
