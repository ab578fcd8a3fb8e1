// The global L2 norm of a list of parameters' gradients, and clipping it (torch's clip_grad_norm_),
// leaving non-finite gradients untouched so a trainer can skip the step. Not here: per-value clipping.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <recur/core/tensor.hpp>
#include <recur/kernels/optim.hpp>
#include <recur/nn/module.hpp>
#include <recur/ops/elementwise.hpp>

namespace recur {

/// sqrt of the sum of every squared gradient element of `params`, summed in double (parameters
/// without a gradient count as zero). NaN or infinity when a gradient holds one (or overflows).
/// One value per parameter comes back from the backend, all in one copy.
template <Backend B>
double grad_norm(const std::vector<named_parameter<B>>& params) {
    using T = typename B::scalar;
    std::vector<const Tensor<B>*> grads;
    for (const auto& p : params) {
        const Tensor<B>& g = p.tensor->grad();
        if (!g.defined()) continue;
        check(g.is_contiguous(), "recur::grad_norm: the gradient of '", p.name, "' is not contiguous");
        grads.push_back(&g);
    }
    if (grads.empty()) return 0;
    const Tensor<B> squares = Tensor<B>::empty({static_cast<std::int64_t>(grads.size())}, dtype::f64);
    for (std::size_t i = 0; i < grads.size(); ++i)
        kernels::sum_squares<B>::run({.out = squares.template data<double>() + i,
                                      .x = grads[i]->template data<T>(),
                                      .n = grads[i]->numel()});
    double total = 0;
    for (const double s : squares.template to_host<double>()) total += s;
    return std::sqrt(total);
}

/// Scales every gradient of `params` by max_norm / (norm + 1e-6) when their global norm (grad_norm)
/// exceeds max_norm, and returns the norm before clipping. A norm that is not finite is returned
/// with the gradients untouched: check std::isfinite on the result and skip the step.
/// Throws recur::error unless max_norm > 0.
template <Backend B>
double clip_grad_norm(const std::vector<named_parameter<B>>& params, double max_norm) {
    using T = typename B::scalar;
    check(max_norm > 0, "recur::clip_grad_norm: max_norm ", max_norm, ", expected > 0");
    const double norm = grad_norm(params);
    if (!std::isfinite(norm) || norm <= max_norm) return norm;
    const auto factor = static_cast<T>(max_norm / (norm + 1e-6));
    for (const auto& p : params) {
        const Tensor<B>& g = p.tensor->grad();
        if (g.defined()) kernels::scale<B>::run({.out = g.template data<T>(),
                                                 .x = g.template data<T>(),
                                                 .n = g.numel(),
                                                 .s = factor});
    }
    return norm;
}

}  // namespace recur
