// Checkpoint files (lib/checkpoint.h).
#include "lib/checkpoint.h"

#include <cstdio>

#include "io/error.h"

namespace clues {

std::string checkpoint_dir(const std::string& out) { return out + "/checkpoints"; }

std::string round_file(const std::string& out, int64_t round) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "/round_%03lld.h5", static_cast<long long>(round));
  return checkpoint_dir(out) + buf;
}

std::string silo_moments_file(const std::string& out, int64_t round, const std::string& silo) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "/round_%03lld_silo_", static_cast<long long>(round));
  return checkpoint_dir(out) + buf + silo + ".h5";
}

std::string dots_journal(const std::string& out, int64_t round, const std::string& what) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "/dots_round_%03lld_", static_cast<long long>(round));
  return checkpoint_dir(out) + buf + what + ".bin";
}

void write_tensors(H5File& f, const std::string& group, const NamedTensors& ts) {
  for (const auto& [name, t] : ts) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    std::vector<hsize_t> shape(c.sizes().begin(), c.sizes().end());
    f.write_f32(group + "/" + name, c.data_ptr<float>(), shape);
  }
}

void read_tensors(const H5File& f, const std::string& group, const NamedTensors& ts) {
  torch::NoGradGuard ng;
  for (const auto& [name, t] : ts) {
    std::vector<hsize_t> shape;
    auto data = f.read_f32(group + "/" + name, &shape);
    if (static_cast<int64_t>(data.size()) != t.numel())
      throw IoError(f.path() + ": " + group + "/" + name + " has " + std::to_string(data.size()) +
                    " values, the model expects " + std::to_string(t.numel()) +
                    " (was the checkpoint written with another model configuration?)");
    t.copy_(torch::from_blob(data.data(), t.sizes(), torch::kFloat32).to(t.scalar_type()));
  }
}

void write_flat(H5File& f, const std::string& group, const NamedTensors& like, const torch::Tensor& flat) {
  NamedTensors parts;
  int64_t off = 0;
  for (const auto& [name, t] : like) {
    parts.emplace_back(name, flat.slice(0, off, off + t.numel()).view(t.sizes()));
    off += t.numel();
  }
  write_tensors(f, group, parts);
}

torch::Tensor read_flat(const H5File& f, const std::string& group, const NamedTensors& like) {
  int64_t total = 0;
  for (const auto& p : like) total += p.second.numel();
  auto flat = torch::zeros({total});
  NamedTensors parts;
  int64_t off = 0;
  for (const auto& [name, t] : like) {
    parts.emplace_back(name, flat.slice(0, off, off + t.numel()).view(t.sizes()));
    off += t.numel();
  }
  read_tensors(f, group, parts);
  return flat;
}

}  // namespace clues
