// scores.h5 and feature files (io/scores_file.h).
#include "io/scores_file.h"

#include <filesystem>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"

namespace clues {

void write_scores_file(const std::string& path, MPI_Comm comm, const std::vector<std::string>& column_names,
                       const std::vector<SiloColumns>& silos, int64_t anchor_samples,
                       const std::vector<double>& anchor_score, int64_t checkpoints, const std::vector<double>& lrs,
                       double threshold, const std::string& config_ini) {
  int rank = 0;
  if (comm != MPI_COMM_NULL) CLUES_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  const bool root = rank == 0;
  // One temporary name for all ranks (rank 0's), renamed by rank 0 once every rank closed it.
  std::string tmp = root ? temp_path_for(path) : std::string();
  if (comm != MPI_COMM_NULL) {
    int64_t n = static_cast<int64_t>(tmp.size());
    CLUES_MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, 0, comm));
    tmp.resize(static_cast<size_t>(n));
    CLUES_MPI_CHECK(MPI_Bcast(tmp.data(), static_cast<int>(n), MPI_CHAR, 0, comm));
  }
  try {
    H5File f = H5File::create_parallel(tmp, comm);
    using T = H5File::Type;
    for (const auto& s : silos) {
      const std::string g = "/silos/" + s.name;
      const auto n = static_cast<hsize_t>(s.samples);
      if (s.here && s.columns.size() != column_names.size())
        throw Error("scores.h5: silo " + s.name + " has " + std::to_string(s.columns.size()) + " columns, not " +
                    std::to_string(column_names.size()));
      for (const auto& c : column_names) f.create_dataset(g + "/" + c, T::kF64, n);
      f.create_dataset(g + "/selected", T::kU8, n);
      f.create_dataset(g + "/anchor_loss", T::kF64, static_cast<hsize_t>(s.anchors));
    }
    f.create_dataset("/anchor/score", T::kF64, static_cast<hsize_t>(anchor_samples));
    f.create_dataset("/checkpoints/lr", T::kF64, static_cast<hsize_t>(checkpoints));
    for (const auto& s : silos) {
      const std::string g = "/silos/" + s.name;
      for (size_t c = 0; c < column_names.size(); ++c)
        f.write_collective(g + "/" + column_names[c], T::kF64, s.here ? s.columns[c] : nullptr, s.here);
      f.write_collective(g + "/anchor_loss", T::kF64, s.anchor_loss, s.here);
      f.write_collective(g + "/selected", T::kU8, s.selected, s.here);
    }
    f.write_collective("/anchor/score", T::kF64, anchor_score.data(), root);
    f.write_collective("/checkpoints/lr", T::kF64, lrs.data(), root);
    f.set_attr("/", "threshold", threshold);
    f.set_attr("/", "config", config_ini);
    for (const auto& s : silos) f.set_attr("/silos/" + s.name, "threshold", s.threshold);
    f.close();  // checked (collective): a file whose close failed is incomplete and is never committed
  } catch (const Error& e) {
    std::error_code ec;
    if (root) std::filesystem::remove(tmp, ec);
    throw IoError("writing " + path + " failed, and nothing of it was kept: " + e.what() +
                  "\nHINT: free space on that file system (or choose another --out), then continue with --resume");
  } catch (...) {
    std::error_code ec;
    if (root) std::filesystem::remove(tmp, ec);
    throw;
  }
  if (comm != MPI_COMM_NULL) CLUES_MPI_CHECK(MPI_Barrier(comm));
  if (root) commit_file(tmp, path);
}

void write_features_file(const std::string& path, const float* data, int64_t n, int64_t k, double lr,
                         int64_t checkpoints, uint64_t project_seed) {
  write_h5_file(path, [&](H5File& h) {
    h.write_f32("/features", data, {static_cast<hsize_t>(n), static_cast<hsize_t>(k)});
    h.set_attr("/", "lr", lr);
    h.set_attr("/", "checkpoints", static_cast<double>(checkpoints));
    h.set_attr("/", "project_seed", static_cast<double>(project_seed));
  });
}

}  // namespace clues
