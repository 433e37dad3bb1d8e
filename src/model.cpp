#include "model.hpp"

#include "autocast.hpp"
#include "beam_search.hpp"

#include <fmt/format.h>

namespace hrvq {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

HrvqModelImpl::HrvqModelImpl(const ModelConfig& config) : config_(config) {
  config_.validate();
  const ModelConfig& c = config_;
  encoder_ = register_module("encoder", Encoder(c.image_channels, c.channels, c.res_blocks, c.res_channels, c.downsample));
  // VQ-VAE (and each level of VQ-VAE-2) is one codebook: the layer count is not its to
  // take, whatever a preset or flag left in `layers`.
  auto make_quantizer = [&](QuantizerKind kind, int dim) {
    const int layers = kind == QuantizerKind::Vq ? 1 : c.layers;
    return ResidualQuantizer(kind, layers, c.codes, dim, c.beta, c.beta_ec, c.ema, c.ema_decay);
  };
  if (c.quantizer == QuantizerKind::Vq2) {
    top_encoder_ = register_module("top_encoder", Encoder(c.channels, c.channels, c.res_blocks, c.res_channels, 2));
    top_pre_quant_ = register_module("top_pre_quant", nn::Conv2d(nn::Conv2dOptions(c.channels, c.embed_dim, 1)));
    top_quantizer_ = register_module("top_quantizer", make_quantizer(QuantizerKind::Vq, c.embed_dim));
    top_decoder_ = register_module("top_decoder", Decoder(c.embed_dim, c.embed_dim, c.channels, c.res_blocks,
                                                          c.res_channels, 2, c.upsample));
    top_upsample_ = make_upsample(c.embed_dim, c.embed_dim, c.upsample);
    register_module("top_upsample", top_upsample_.ptr());
    pre_quant_ = register_module("pre_quant", nn::Conv2d(nn::Conv2dOptions(c.channels + c.embed_dim, c.embed_dim, 1)));
    quantizer_ = register_module("quantizer", make_quantizer(QuantizerKind::Vq, c.embed_dim));
    decoder_ = register_module("decoder", Decoder(2 * c.embed_dim, c.image_channels, c.channels, c.res_blocks,
                                                  c.res_channels, c.downsample, c.upsample));
  } else {
    pre_quant_ = register_module("pre_quant", nn::Conv2d(nn::Conv2dOptions(c.channels, c.embed_dim, 1)));
    const int group_dim = c.embed_dim / c.groups;
    quantizer_ = register_module("quantizer", make_quantizer(c.quantizer, group_dim));
    groups_.push_back(quantizer_);
    for (int g = 1; g < c.groups; ++g)
      groups_.push_back(register_module(fmt::format("quantizer_g{}", g), make_quantizer(c.quantizer, group_dim)));
    decoder_ = register_module("decoder", Decoder(c.embed_dim, c.image_channels, c.channels, c.res_blocks,
                                                  c.res_channels, c.downsample, c.upsample));
  }
}

std::vector<ResidualQuantizer> HrvqModelImpl::quantizers() const {
  if (config_.quantizer == QuantizerKind::Vq2) return {top_quantizer_, quantizer_};
  return groups_;
}

std::vector<std::pair<int64_t, int64_t>> HrvqModelImpl::latent_grid(int64_t height, int64_t width) const {
  int64_t f = config_.grid_factor();
  int64_t ph = (height + f - 1) / f * f, pw = (width + f - 1) / f * f;
  int64_t h = ph / config_.downsample, w = pw / config_.downsample;
  if (config_.quantizer == QuantizerKind::Vq2) return {{h / 2, w / 2}, {h, w}};
  return std::vector<std::pair<int64_t, int64_t>>(config_.num_layers(), {h, w});
}

std::vector<torch::Tensor> HrvqModelImpl::split_groups(const torch::Tensor& zf) const {
  if (groups_.size() == 1) return {zf};
  return zf.chunk(static_cast<int64_t>(groups_.size()), 1);
}

torch::Tensor HrvqModelImpl::pad(const torch::Tensor& images) const {
  int64_t f = config_.grid_factor();
  int64_t h = images.size(2), w = images.size(3);
  int64_t ph = (f - h % f) % f, pw = (f - w % f) % f;
  // Centered on [0, 1]: the network sees values in [-0.5, 0.5].
  auto x = images - 0.5;
  if (ph == 0 && pw == 0) return x;
  // Edge replication: a constant border would add a false edge for the codes to spend bits on.
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

torch::Tensor HrvqModelImpl::flatten(const torch::Tensor& z) {
  return z.permute({0, 2, 3, 1}).reshape({-1, z.size(1)});
}

torch::Tensor HrvqModelImpl::unflatten(const torch::Tensor& flat, const torch::IntArrayRef& like) {
  return flat.view({like[0], like[2], like[3], like[1]}).permute({0, 3, 1, 2});
}

namespace {

// e_C from the first k layers, with the straight-through estimator: the decoder sees the
// codes, the encoder receives the decoder's gradient (z + sg(e_C - z)).
torch::Tensor straight_through(const torch::Tensor& zf, const QuantizeResult& q, int k) {
  auto ec = q.sum(k);
  return zf + (ec - zf).detach();
}

// The quantizer in fp32 whatever the networks run at (--precision bf16): its latents,
// codebooks, search and losses. A bf16 z is cast up; autograd casts the gradient back.
QuantizeResult quantize_fp32(ResidualQuantizerImpl& q, torch::Tensor& z) {
  NoAutocast fp32;
  if (z.scalar_type() != torch::kFloat32) z = z.to(torch::kFloat32);
  return q.forward(z);
}

}  // namespace

ForwardResult HrvqModelImpl::forward(const torch::Tensor& images, int decode_layers) {
  ForwardResult out;
  int64_t h = images.size(2), w = images.size(3);
  auto features = encoder_->forward(pad(images));
  torch::Tensor decoder_input;
  if (config_.quantizer == QuantizerKind::Vq2) {
    auto zt = top_pre_quant_->forward(top_encoder_->forward(features));
    auto ztf = flatten(zt);
    auto qt = quantize_fp32(*top_quantizer_, ztf);
    auto top = unflatten(straight_through(ztf, qt, 0), zt.sizes());
    auto zb = pre_quant_->forward(torch::cat({features, top_decoder_->forward(top)}, 1));
    auto zbf = flatten(zb);
    auto qb = quantize_fp32(*quantizer_, zbf);
    auto bottom = unflatten(straight_through(zbf, qb, 0), zb.sizes());
    // Decoding from the first layer only (the top map) leaves the bottom contribution out.
    if (decode_layers == 1) bottom = torch::zeros_like(bottom);
    decoder_input = torch::cat({top_upsample_.forward(top), bottom}, 1);
    out.quant.push_back(std::move(qt));
    out.quant.push_back(std::move(qb));
  } else {
    auto z = pre_quant_->forward(features);
    auto zf = flatten(z);
    auto parts = split_groups(zf);
    std::vector<torch::Tensor> inputs;
    for (size_t g = 0; g < groups_.size(); ++g) {
      auto zg = parts[g].contiguous();
      auto q = quantize_fp32(*groups_[g], zg);
      const int kg = config_.group_prefix(decode_layers, static_cast<int>(g));
      // A group with no map in the prefix contributes nothing, as in a decoder given none.
      inputs.push_back(kg == 0 ? torch::zeros_like(zg) : straight_through(zg, q, kg));
      out.quant.push_back(std::move(q));
    }
    decoder_input = unflatten(inputs.size() == 1 ? inputs[0] : torch::cat(inputs, 1), z.sizes());
  }
  auto y = decoder_->forward(decoder_input);
  out.reconstruction = y.slice(2, 0, h).slice(3, 0, w) + 0.5;
  out.recon_loss = F::mse_loss(out.reconstruction, images);
  out.codebook_loss = torch::zeros({}, images.options());
  out.commitment_loss = torch::zeros({}, images.options());
  for (auto& q : out.quant) {
    out.codebook_loss = out.codebook_loss + q.codebook_loss;
    out.commitment_loss = out.commitment_loss + q.commitment_loss;
  }
  out.loss = out.recon_loss + out.codebook_loss + out.commitment_loss;
  return out;
}

void HrvqModelImpl::set_network_dtype(torch::Dtype dtype) {
  encoder_->to(dtype);
  decoder_->to(dtype);
  network_dtype_ = dtype;
  frozen_decoder_.reset();
}

void HrvqModelImpl::freeze_for_inference() {
  const auto weights = decoder_->parameters();
  const bool cpu = weights.empty() || weights[0].device().is_cpu();
  if (network_dtype_ != torch::kFloat32 || !cpu) return;
  // The decoder only: with malloc keeping freed memory (runtime.cpp), the frozen decoder
  // decodes 3-7% faster than the eager one (docs/codec-speed.md), while a frozen encoder
  // encoded about 20% slower than the eager channels-last one (codec_bench, 4
  // alternating runs each, at commit 1099996).
  frozen_decoder_ = FrozenNetwork::compile(decoder_->net, "Decoder");
}

torch::Tensor HrvqModelImpl::encoder_features(const torch::Tensor& images) {
  // Channels-last activations are what oneDNN's kernels run fastest on (fp32 encode
  // about 1.2x over NCHW on the AVX-512 CPU measured first, bf16 more; level with NCHW
  // on an AVX2 AMD EPYC); the features come back as fp32 for pre_quant and the code
  // search. The decoder runs NCHW (decode()).
  auto x = pad(images).to(network_dtype_).contiguous(at::MemoryFormat::ChannelsLast);
  auto features = encoder_->forward(x);
  return network_dtype_ == torch::kFloat32 ? features : features.to(torch::kFloat32);
}

CodeMaps HrvqModelImpl::encode(const torch::Tensor& images, int beam, const std::vector<CodeCosts>* costs) {
  torch::NoGradGuard no_grad;
  auto features = encoder_features(images);
  CodeMaps maps;
  auto to_maps = [&](const QuantizeResult& q, const torch::Tensor& z) {
    for (auto& local : q.local) maps.push_back(local.view({z.size(0), z.size(2), z.size(3)}));
  };
  if (config_.quantizer == QuantizerKind::Vq2) {
    auto zt = top_pre_quant_->forward(top_encoder_->forward(features));
    auto qt = top_quantizer_->forward(flatten(zt));
    auto top = unflatten(qt.sum(), zt.sizes());
    auto zb = pre_quant_->forward(torch::cat({features, top_decoder_->forward(top)}, 1));
    auto qb = quantizer_->forward(flatten(zb));
    to_maps(qt, zt);
    to_maps(qb, zb);
  } else {
    auto z = pre_quant_->forward(features);
    auto parts = split_groups(flatten(z));
    std::vector<std::vector<torch::Tensor>> locals;
    for (size_t g = 0; g < groups_.size(); ++g) {
      auto zg = parts[g].contiguous();
      const bool rdo = costs && g < costs->size() && (*costs)[g].active();
      locals.push_back(beam > 1 || rdo ? beam_search(*groups_[g], zg, beam, config_.layers, rdo ? (*costs)[g] : CodeCosts{})
                                       : groups_[g]->encode_codes(zg));
    }
    for (size_t i = 0; i < locals[0].size(); ++i)
      for (auto& local : locals) maps.push_back(local[i].view({z.size(0), z.size(2), z.size(3)}));
  }
  return maps;
}

torch::Tensor HrvqModelImpl::decode(const CodeMaps& codes, int decode_layers, int64_t height, int64_t width,
                                    const torch::Tensor& depth) {
  torch::NoGradGuard no_grad;
  auto vectors_of = [](const ResidualQuantizer& q, const std::vector<torch::Tensor>& maps, int k,
                       const std::vector<torch::Tensor>& keep = {}) {
    std::vector<torch::Tensor> flat;
    for (auto& m : maps) flat.push_back(m.reshape({-1}));
    auto sum = keep.empty() ? q->lookup(flat, k) : q->lookup(flat, keep);
    const auto& m = maps[0];
    return sum.view({m.size(0), m.size(1), m.size(2), -1}).permute({0, 3, 1, 2});
  };
  torch::Tensor decoder_input;
  if (config_.quantizer == QuantizerKind::Vq2) {
    auto top = vectors_of(top_quantizer_, {codes.at(0)}, 0);
    auto bottom = decode_layers == 1 || codes.size() < 2
                      ? torch::zeros({top.size(0), top.size(1), top.size(2) * 2, top.size(3) * 2}, top.options())
                      : vectors_of(quantizer_, {codes.at(1)}, 0);
    decoder_input = torch::cat({top_upsample_.forward(top), bottom}, 1);
  } else {
    const int given = static_cast<int>(codes.size());
    const int k = decode_layers <= 0 || decode_layers > given ? given : decode_layers;
    const int G = static_cast<int>(groups_.size());
    std::vector<torch::Tensor> parts;
    for (int g = 0; g < G; ++g) {
      std::vector<torch::Tensor> group_maps, keep;
      for (int j = g; j < k; j += G) {
        group_maps.push_back(codes[j]);
        if (depth.defined()) keep.push_back(depth.gt(j).reshape({-1}));
      }
      if (group_maps.empty()) {
        const auto& m = codes.at(0);
        parts.push_back(torch::zeros({m.size(0), config_.embed_dim / G, m.size(1), m.size(2)},
                                     groups_[g]->codebook(0).options()));
      } else {
        parts.push_back(vectors_of(groups_[g], group_maps, 0, keep));
      }
    }
    decoder_input = G == 1 ? parts[0] : torch::cat(parts, 1);
  }
  // Contiguous NCHW: the looked-up vectors come as a permuted (channels-last) view, and on
  // an AVX2 CPU (AMD EPYC) the decoder runs 1.18x faster from NCHW (eager PyTorch, the
  // same network: bench/codec_speed_pytorch.py --nchw 1.54 MP/s against 1.30); on the
  // AVX-512 CPU measured before, the two were level.
  decoder_input = decoder_input.contiguous();
  auto y = frozen_decoder_                      ? frozen_decoder_->forward(decoder_input)
           : network_dtype_ == torch::kFloat32 ? decoder_->forward(decoder_input)
                                               : decoder_->forward(decoder_input.to(network_dtype_)).to(torch::kFloat32);
  return y.slice(2, 0, height).slice(3, 0, width) + 0.5;
}

std::vector<torch::Tensor> HrvqModelImpl::truncation_energy(const CodeMaps& codes) {
  torch::NoGradGuard no_grad;
  if (config_.quantizer == QuantizerKind::Vq2) throw std::logic_error("truncation_energy: not for vq2");
  const int given = static_cast<int>(codes.size());
  const int G = static_cast<int>(groups_.size());
  const auto& m0 = codes.at(0);
  // Per group, the squared norm of the suffix sums of its layers' vectors: map j = g + i*G
  // is layer i of group g, and a prefix of d maps leaves layers i >= ceil((d - g) / G).
  std::vector<std::vector<torch::Tensor>> tail(static_cast<size_t>(G));
  for (int g = 0; g < G; ++g) {
    std::vector<torch::Tensor> flat;
    for (int j = g; j < given; j += G) flat.push_back(codes[j].reshape({-1}));
    if (flat.empty()) continue;
    auto global = groups_[g]->global_from_local(flat);
    std::vector<torch::Tensor> norms(flat.size() + 1);
    torch::Tensor suffix;
    norms.back() = torch::zeros({m0.numel()}, groups_[g]->codebook(0).options());
    for (int i = static_cast<int>(flat.size()) - 1; i >= 0; --i) {
      auto e = groups_[g]->codebook(i).index_select(0, global[i]);
      suffix = suffix.defined() ? suffix + e : e;
      norms[i] = suffix.pow(2).sum(1);
    }
    tail[g] = std::move(norms);
  }
  std::vector<torch::Tensor> out;
  for (int d = 0; d <= given; ++d) {
    auto total = torch::zeros({m0.numel()}, groups_[0]->codebook(0).options());
    for (int g = 0; g < G; ++g) {
      if (tail[g].empty()) continue;
      const int first = d <= g ? 0 : (d - g + G - 1) / G;  // the group's first layer left out
      total += tail[g][std::min<size_t>(first, tail[g].size() - 1)];
    }
    out.push_back(total.view(m0.sizes()));
  }
  return out;
}

}  // namespace hrvq
