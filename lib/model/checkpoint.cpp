// Checkpoint files (lib/model/checkpoint.h).
#include "lib/model/checkpoint.h"

#include <cstdio>

#include "io/error.h"
#include "lib/model/model.h"

namespace clues {

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

namespace {
// `flat` cut into views shaped and named like `like`.
NamedTensors split_named(const torch::Tensor& flat, const NamedTensors& like) {
  std::vector<torch::Tensor> shapes;
  for (const auto& p : like) shapes.push_back(p.second);
  const auto pieces = split_like(flat, shapes);
  NamedTensors out;
  for (size_t i = 0; i < like.size(); ++i) out.emplace_back(like[i].first, pieces[i]);
  return out;
}
}  // namespace

void write_flat(H5File& f, const std::string& group, const NamedTensors& like, const torch::Tensor& flat) {
  write_tensors(f, group, split_named(flat, like));
}

torch::Tensor read_flat(const H5File& f, const std::string& group, const NamedTensors& like) {
  int64_t total = 0;
  for (const auto& p : like) total += p.second.numel();
  auto flat = torch::zeros({total});
  read_tensors(f, group, split_named(flat, like));
  return flat;
}

}  // namespace clues
