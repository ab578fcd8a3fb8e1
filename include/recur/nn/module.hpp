// What a module is: a plain struct owning parameters, with forward() and visit_parameters(prefix, f)
// that names each parameter Hugging Face-style ("model.layers.3.self_attn.q_proj.weight").
// Not here: concrete layers (layers.hpp, attention.hpp, blocks.hpp) or optimisers.
#pragma once

#include <concepts>
#include <string>
#include <utility>
#include <vector>

#include <recur/core/random.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

/// A parameter and its full name.
template <Backend B>
struct named_parameter {
    std::string name;
    Tensor<B>* tensor;
};

/// Joins name parts with '.', skipping empty ones.
inline std::string join_name(const std::string& prefix, const std::string& name) {
    if (prefix.empty()) return name;
    if (name.empty()) return prefix;
    return prefix + "." + name;
}

/// A visitor that accepts every parameter: what has_parameters passes (a named type, not a lambda, so
/// that nvcc's front end, which rejects lambdas in requires-expressions, reads the concept too).
template <class B>
struct accept_parameters {
    void operator()(const std::string&, Tensor<B>&) const {}
};

/// Anything that can list its parameters: m.visit_parameters(prefix, f) calls f(name, tensor&).
template <class M, class B>
concept has_parameters = requires(M& m, const std::string& prefix, accept_parameters<B> f) {
    m.visit_parameters(prefix, f);
};

/// Every parameter of m under `prefix`, in a stable order.
template <Backend B, class M>
    requires has_parameters<M, B>
std::vector<named_parameter<B>> named_parameters(M& m, const std::string& prefix = "") {
    std::vector<named_parameter<B>> out;
    m.visit_parameters(prefix, [&](const std::string& name, Tensor<B>& t) { out.push_back({name, &t}); });
    return out;
}

/// Total element count of m's parameters.
template <Backend B, class M>
    requires has_parameters<M, B>
std::int64_t parameter_count(M& m) {
    std::int64_t n = 0;
    m.visit_parameters("", [&](const std::string&, Tensor<B>& t) { n += t.numel(); });
    return n;
}

/// Zeroes every parameter's accumulated gradient.
template <Backend B, class M>
    requires has_parameters<M, B>
void zero_grad(M& m) {
    m.visit_parameters("", [](const std::string&, Tensor<B>& t) { t.zero_grad(); });
}

}  // namespace recur
