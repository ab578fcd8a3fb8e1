// Rotary position embedding on (B, T, H, D): Hugging Face rotate-half and llama2.c interleaved
// layouts, rope_theta, Llama-3 frequency scaling; backward is the inverse rotation.
// Not here: partial rotary dims (every supported model rotates the whole head).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <vector>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/rope.hpp>

namespace recur {

/// Llama-3 `rope_scaling` ({"rope_type": "llama3", ...}).
struct llama3_rope_scaling {
    double factor = 8.0;
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    double original_max_position_embeddings = 8192;
};

struct rope_config {
    double theta = 10000.0;
    rope_layout layout = rope_layout::half;
    std::optional<llama3_rope_scaling> scaling;
};

/// Inverse frequencies theta^(-2i/D), i < D/2, with Llama-3 scaling applied when configured.
inline std::vector<double> rope_inv_freq(const rope_config& cfg, std::int64_t head_dim) {
    check(head_dim > 0 && head_dim % 2 == 0, "recur::rope: head_dim must be even and positive, got ", head_dim);
    check(cfg.theta > 0, "recur::rope: theta must be positive, got ", cfg.theta);
    std::vector<double> inv(static_cast<std::size_t>(head_dim / 2));
    for (std::size_t i = 0; i < inv.size(); ++i)
        inv[i] = std::pow(cfg.theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
    if (cfg.scaling) {
        const auto& s = *cfg.scaling;
        check(s.factor > 0 && s.high_freq_factor > s.low_freq_factor && s.low_freq_factor > 0,
              "recur::rope: invalid llama3 scaling (factor ", s.factor, ", low ", s.low_freq_factor, ", high ",
              s.high_freq_factor, ")");
        const double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
        const double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
        for (double& f : inv) {
            const double wavelen = 2 * std::numbers::pi / f;
            if (wavelen < high_wavelen) continue;
            if (wavelen > low_wavelen) {
                f /= s.factor;
            } else {
                const double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                                      (s.high_freq_factor - s.low_freq_factor);
                f = (1 - smooth) * f / s.factor + smooth * f;
            }
        }
    }
    return inv;
}

/// cos and sin of position x inverse frequency for positions [0, max_positions): each (P, D/2).
template <Backend B>
struct rope_table {
    rope_config config;
    std::int64_t head_dim = 0;
    Tensor<B> cos, sin;  // (P, D/2)

    rope_table() = default;
    rope_table(const rope_config& cfg, std::int64_t head_dim_, std::int64_t max_positions)
        : config(cfg), head_dim(head_dim_) {
        check(max_positions > 0, "recur::rope_table: max_positions must be positive, got ", max_positions);
        const auto inv = rope_inv_freq(cfg, head_dim_);
        const auto half = static_cast<std::int64_t>(inv.size());
        std::vector<double> c(static_cast<std::size_t>(max_positions * half)), s(c.size());
        for (std::int64_t p = 0; p < max_positions; ++p)
            for (std::int64_t i = 0; i < half; ++i) {
                const double a = static_cast<double>(p) * inv[static_cast<std::size_t>(i)];
                c[static_cast<std::size_t>(p * half + i)] = std::cos(a);
                s[static_cast<std::size_t>(p * half + i)] = std::sin(a);
            }
        cos = Tensor<B>::from_host(c, {max_positions, half});
        sin = Tensor<B>::from_host(s, {max_positions, half});
    }
    std::int64_t max_positions() const { return cos.defined() ? cos.size(0) : 0; }
};

template <Backend B>
struct rope_op {
    static constexpr std::string_view name = "rope";
    Tensor<B> cos, sin;  // (T, D/2) rows used by the forward
    rope_layout layout;
    void backward(Tensor<B> dy, grad_sink<B>& g) {  // dy (B, T, H, D)
        using T = typename B::scalar;
        Tensor<B> dx = Tensor<B>::empty(dy.shape());
        kernels::rope<B>::run({.y = dx.template data<T>(),
                               .x = dy.template data<T>(),
                               .cos = cos.template data<T>(),
                               .sin = sin.template data<T>(),
                               .b = dy.size(0),
                               .t = dy.size(1),
                               .h = dy.size(2),
                               .d = dy.size(3),
                               .layout = layout,
                               .inverse = true});
        g.accumulate(0, std::move(dx));
    }
};

/// Rotates x (B, T, H, D) for positions pos0 .. pos0 + T - 1.
template <Backend B>
Tensor<B> rope(const Tensor<B>& x, const rope_table<B>& table, std::int64_t pos0 = 0) {
    using T = typename B::scalar;
    check(x.dim() == 4 && x.dtype() == Tensor<B>::compute_dtype, "recur::rope: x must be (B, T, H, D) ",
          Tensor<B>::compute_dtype, ", got ", x.shape(), " ", x.dtype());
    check(x.size(3) == table.head_dim, "recur::rope: head dim of x ", x.shape(), " is not the table's ", table.head_dim);
    check(pos0 >= 0 && pos0 + x.size(1) <= table.max_positions(), "recur::rope: positions [", pos0, ", ",
          pos0 + x.size(1), ") exceed the table's ", table.max_positions());
    const Tensor<B> xc = x.contiguous();
    const Tensor<B> cos = table.cos.slice(0, pos0, x.size(1)), sin = table.sin.slice(0, pos0, x.size(1));
    Tensor<B> y = Tensor<B>::empty(x.shape());
    if (y.numel() > 0)
        kernels::rope<B>::run({.y = y.template data<T>(),
                               .x = xc.template data<T>(),
                               .cos = cos.template data<T>(),
                               .sin = sin.template data<T>(),
                               .b = x.size(0),
                               .t = x.size(1),
                               .h = x.size(2),
                               .d = x.size(3),
                               .layout = table.config.layout,
                               .inverse = false});
    if (recording(xc)) record(rope_op<B>{cos, sin, table.config.layout}, y, xc);
    return y;
}

}  // namespace recur
