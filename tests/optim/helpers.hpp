// What the optimizer tests share: parameters with gradients set by hand, a tiny Recurrent model and
// its training step, and bit-pattern comparisons. Not here: the expected values (each test derives its own).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <recur/recur.hpp>

namespace recur::test {

/// A leaf parameter of `shape` holding `values`, with gradients enabled.
template <Backend B>
Tensor<B> parameter(const std::vector<double>& values, const Shape& shape) {
    return Tensor<B>::from_host(values, shape).set_requires_grad();
}

/// Sets p's accumulated gradient to `values` (as backward would have).
template <Backend B>
void set_grad(Tensor<B>& p, const std::vector<double>& values) {
    p.meta()->grad = Tensor<B>::from_host(values, p.shape());
}

/// The bit patterns of a float or double vector, for exact comparisons that also see NaN payloads.
template <class T>
std::vector<std::uint64_t> bits(const std::vector<T>& v) {
    std::vector<std::uint64_t> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) std::memcpy(&out[i], &v[i], sizeof(T));
    return out;
}

/// A Recurrent model small enough for the reference backend: 1 + 1 + 1 layers, q/k/v biases, the
/// concat adapter.
inline model_config tiny_optim_config() {
    model_config c;
    c.vocab_size = 11;
    c.d_model = 8;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.ffn_dim = 12;
    c.max_seq_len = 8;
    c.attention_bias = true;
    c.init_std = 0.2;
    return c;
}

template <Backend B>
Recurrent<B> tiny_model(std::uint64_t seed) {
    return Recurrent<B>(tiny_optim_config(), 1, 1, 1, recurrence_options{}, seed);
}

/// Forward at r = 2 on a fixed batch, backward, then gradients are ready for a step. Returns the loss.
template <Backend B>
double forward_backward(Recurrent<B>& m) {
    const std::vector<std::int32_t> ids{1, 4, 2, 9, 3, 10, 7, 0}, targets{4, 2, 9, 3, 5, 7, 0, 6};
    const Tensor<B> loss = cross_entropy(m.forward(Tensor<B>::from_host(ids, {2, 4}), 2), Tensor<B>::from_host(targets, {2, 4}));
    backward(loss);
    return loss.item();
}

}  // namespace recur::test
