#include "frozen_network.hpp"

#include <stdexcept>
#include <variant>

#include <torch/script.h>

#include "networks.hpp"

namespace hrvq {

namespace {

namespace nn = torch::nn;

// LibTorch 1.13's option variants are c10::variant, 2.x's are std::variant: unqualified
// calls with the std templates in scope find c10's overloads by argument-dependent
// lookup on 1.13 and std's on 2.x.
template <typename T, typename Variant>
const T* alternative_if(const Variant& v) {
  using std::get_if;
  return get_if<T>(&v);
}

std::string int_list(torch::IntArrayRef v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Emits the TorchScript of a Sequential as straight-line code over `x`, registering each
// weight as a parameter of `module`.
class ScriptWriter {
 public:
  explicit ScriptWriter(torch::jit::Module& module) : module_(module) {}

  void sequential(const nn::Sequential& net) {
    for (const auto& child : net->children()) layer(*child);
  }

  std::string source() const {
    return "def forward(self, x: Tensor) -> Tensor:\n" + body_ + "    return x\n";
  }

 private:
  void layer(nn::Module& m) {
    if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(&m)) {
      line("x = " + conv2d(*conv, "x"));
    } else if (dynamic_cast<nn::ReLUImpl*>(&m)) {
      line("x = torch.relu(x)");
    } else if (auto* block = dynamic_cast<ResBlockImpl*>(&m)) {
      line("r = torch.relu(" + conv2d(*block->conv3, "torch.relu(x)") + ")");
      line("x = x + " + conv2d(*block->conv1, "r"));
    } else if (auto* up = dynamic_cast<SubpixelUpImpl*>(&m)) {
      line("x = torch.pixel_shuffle(" + conv2d(*up->conv, "x") + ", 2)");
    } else if (auto* tconv = dynamic_cast<nn::ConvTranspose2dImpl*>(&m)) {
      const auto& o = tconv->options;
      if (!alternative_if<torch::enumtype::kZeros>(o.padding_mode()))
        throw std::invalid_argument("FrozenNetwork: transposed convolution with non-zero padding mode");
      line("x = torch.conv_transpose2d(x, " + weights(tconv->weight, tconv->bias) + ", " + int_list(*o.stride()) +
           ", " + explicit_padding(o.padding()) + ", " + int_list(*o.output_padding()) + ", " + std::to_string(o.groups()) +
           ", " + int_list(*o.dilation()) + ")");
    } else {
      throw std::invalid_argument("FrozenNetwork: no TorchScript for module " + m.name());
    }
  }

  static std::string explicit_padding(const nn::detail::ConvNdOptions<2>::padding_t& padding) {
    const auto* sizes = alternative_if<torch::ExpandingArray<2>>(padding);
    if (!sizes) throw std::invalid_argument("FrozenNetwork: convolution padding must be explicit sizes");
    return int_list(**sizes);
  }

  std::string conv2d(nn::Conv2dImpl& conv, const std::string& input) {
    const auto& o = conv.options;
    if (!alternative_if<torch::enumtype::kZeros>(o.padding_mode()))
      throw std::invalid_argument("FrozenNetwork: convolution padding must be zeros");
    return "torch.conv2d(" + input + ", " + weights(conv.weight, conv.bias) + ", " + int_list(*o.stride()) + ", " +
           explicit_padding(o.padding()) + ", " + int_list(*o.dilation()) + ", " + std::to_string(o.groups()) + ")";
  }

  std::string weights(const torch::Tensor& weight, const torch::Tensor& bias) {
    const std::string w = "w" + std::to_string(count_), b = "b" + std::to_string(count_);
    ++count_;
    module_.register_parameter(w, weight.detach().clone(), /*is_buffer=*/false);
    if (!bias.defined()) return "self." + w + ", None";
    module_.register_parameter(b, bias.detach().clone(), /*is_buffer=*/false);
    return "self." + w + ", self." + b;
  }

  void line(const std::string& code) { body_ += "    " + code + "\n"; }

  torch::jit::Module& module_;
  std::string body_;
  int count_ = 0;
};

}  // namespace

FrozenNetwork FrozenNetwork::compile(const torch::nn::Sequential& net, const std::string& name) {
  torch::NoGradGuard no_grad;
  torch::jit::Module module(name);
  ScriptWriter writer(module);
  writer.sequential(net);
  FrozenNetwork out;
  module.define(writer.source());
  module.eval();
  auto frozen = torch::jit::freeze(module);
  out.module_ = std::make_shared<torch::jit::Module>(torch::jit::optimize_for_inference(frozen));
  return out;
}

torch::Tensor FrozenNetwork::forward(const torch::Tensor& x) const {
  torch::NoGradGuard no_grad;
  // The graph is optimised once in compile(); the profiling executor would otherwise
  // re-specialise it to every new tile shape it meets.
  torch::jit::GraphOptimizerEnabledGuard no_reoptimisation(false);
  return module_->forward({x.contiguous()}).toTensor().contiguous();
}

}  // namespace hrvq
