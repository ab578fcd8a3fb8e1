// Training compute per token (docs/method.md section 10): 6 FLOPs per parameter per token for recorded
// iterations, 2 for forward-only ones (and for inference forwards). Not here: attention's T^2 term
// (left out, as the method does).
//
// For a Recurrent model with n iterations without gradient and k with:
//   FLOPs/token = 6 * (P_prelude + P_coda + P_head + k * (P_core + P_adapter)) + 2 * n * (P_core + P_adapter)
// The LM head and the adapter are counted (they are matrix products every token pays); embeddings
// are left out (a lookup). For a LlamaModel: 6 * (P_layers + P_head).
#pragma once

#include <cstdint>

#include <recur/nn/llama.hpp>
#include <recur/recurrence/recurrent.hpp>

namespace recur {

template <Backend B, class M>
double parameter_count_of(M& m) {
    return static_cast<double>(parameter_count<B>(m));
}

namespace detail {
/// The parameters a token meets once (prelude, coda, LM head) and per iteration (core, adapter).
struct recurrent_parameters {
    double once, per_iteration;
};

template <Backend B, class P, class C, class Q>
recurrent_parameters recurrent_parameters_of(Recurrent<B, P, C, Q>& m) {
    const double core = parameter_count_of<B>(m.core) +
                        (m.adapter.weight.defined() ? static_cast<double>(m.adapter.weight.numel()) : 0.0);
    const double once = parameter_count_of<B>(m.prelude) + parameter_count_of<B>(m.coda) +
                        static_cast<double>(m.lm_head.weight.numel());
    return {once, core};
}
}  // namespace detail

/// Training FLOPs per token of one step of a Recurrent model at the given split.
template <Backend B, class P, class C, class Q>
double training_flops_per_token(Recurrent<B, P, C, Q>& m, iteration_split split) {
    const auto p = detail::recurrent_parameters_of<B>(m);
    return 6.0 * (p.once + static_cast<double>(split.k) * p.per_iteration) +
           2.0 * static_cast<double>(split.n) * p.per_iteration;
}

/// Inference FLOPs per token of a forward at r iterations: 2 per parameter met (attention left out).
template <Backend B, class P, class C, class Q>
double forward_flops_per_token(Recurrent<B, P, C, Q>& m, std::int64_t r) {
    const auto p = detail::recurrent_parameters_of<B>(m);
    return 2.0 * (p.once + static_cast<double>(r) * p.per_iteration);
}

/// Training FLOPs per token of a LlamaModel step (the split is ignored).
template <Backend B, class BlockT>
double training_flops_per_token(LlamaModel<B, BlockT>& m, iteration_split = {0, 1}) {
    const double head = static_cast<double>(m.config.vocab_size * m.config.d_model);
    return 6.0 * (parameter_count_of<B>(m.layers) + head);
}

}  // namespace recur
