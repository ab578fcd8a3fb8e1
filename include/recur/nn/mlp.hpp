// The SwiGLU MLP of a transformer block: gate, up and down projections under Hugging Face's names.
// Not here: the SwiGLU kernel (ops/activation.hpp) or the block around it (blocks.hpp).
#pragma once

#include <string>

#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/ops/activation.hpp>

namespace recur {

/// SwiGLU MLP: down(silu(gate(x)) * up(x)).
template <Backend B>
struct MLP {
    Linear<B> gate_proj, up_proj, down_proj;

    MLP() = default;
    MLP(const model_config& c, rng& gen)
        : gate_proj(c.d_model, c.ffn_dim, false, gen, c.init_std),
          up_proj(c.d_model, c.ffn_dim, false, gen, c.init_std),
          down_proj(c.ffn_dim, c.d_model, false, gen, c.init_std) {}

    Tensor<B> forward(const Tensor<B>& x) const {
        return down_proj.forward(swiglu(gate_proj.forward(x), up_proj.forward(x)));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        gate_proj.visit_parameters(join_name(prefix, "gate_proj"), f);
        up_proj.visit_parameters(join_name(prefix, "up_proj"), f);
        down_proj.visit_parameters(join_name(prefix, "down_proj"), f);
    }
};

}  // namespace recur
