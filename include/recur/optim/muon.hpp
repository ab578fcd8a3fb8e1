// Muon (docs/method.md section 7): Nesterov momentum orthogonalised by a quintic Newton-Schulz iteration,
// for 2-D weight matrices, same-shaped ones orthogonalised together in batched GEMMs.
// Not here: which parameters get Muon (muon_adamw.hpp) or other NS polynomials.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <recur/autograd/grad_mode.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/optim.hpp>
#include <recur/ops/elementwise.hpp>
#include <recur/ops/matmul.hpp>
#include <recur/ops/view.hpp>
#include <recur/optim/optimizer.hpp>

namespace recur {

/// The approximate orthogonalisation of a matrix g (rows, cols) = U S V^T: U f(S / ||g||_F) V^T, f the
/// quintic below iterated `steps` times. For 5 steps f maps [0.0013, 1] into [0.60, 1.21]; smaller
/// singular values are only multiplied by about 487. X = g / (||g||_F + 1e-7), transposed when
/// rows > cols (so that X X^T is the smaller Gram matrix), then `steps` iterations of
/// ```
/// A = X X^T;  B = b A + c A^2;  X = a X + B X      (a, b, c) = (3.4445, -4.7750, 2.0315)
/// ```
/// and transposed back. Runs under no_grad with the backend's GEMM, its operands in `precision` (by
/// default the process-wide setting); the only value brought to the host is ||g||_F. Returns a new
/// contiguous tensor of g's shape. g may also be a stack (G, rows, cols) of same-shaped matrices:
/// each is orthogonalised on its own (its own norm), with one batched GEMM per product for the whole
/// stack. Throws recur::error unless g is 2-D or 3-D in the compute dtype and steps >= 0.
template <Backend B>
Tensor<B> newton_schulz(const Tensor<B>& g, int steps = 5, matmul_precision precision = get_matmul_precision()) {
    using T = typename B::scalar;
    constexpr double a = 3.4445, b = -4.7750, c = 2.0315;
    check(g.dim() == 2 || g.dim() == 3, "recur::newton_schulz: needs a matrix or a stack of them, got shape ", g.shape());
    check(g.dtype() == Tensor<B>::compute_dtype, "recur::newton_schulz: dtype ", g.dtype(), ", expected ",
          Tensor<B>::compute_dtype);
    check(steps >= 0, "recur::newton_schulz: steps ", steps, ", expected >= 0");
    no_grad guard;
    const bool tall = g.size(-2) > g.size(-1);
    const Tensor<B> src = g.contiguous_raw();
    const std::int64_t items = g.dim() == 3 ? g.size(0) : 1, per = g.size(-2) * g.size(-1);
    Tensor<B> squares = Tensor<B>::empty({items}, dtype::f64);  // ||g_i||_F^2, the same on g or its transpose
    for (std::int64_t i = 0; i < items; ++i)
        kernels::sum_squares<B>::run({.out = squares.template data<double>() + i,
                                      .x = src.template data<T>() + i * per,
                                      .n = per});
    const std::vector<double> norms = squares.template to_host<double>();
    // X = g / ||g||, as (.., small, large): one pass from g when it is already that way round, else
    // its transpose copied and then scaled in place.
    Tensor<B> x = Tensor<B>::empty(tall ? g.transpose().shape() : g.shape());
    if (tall) Tensor<B>::copy_into(x, src.transpose(), false);
    for (std::int64_t i = 0; i < items; ++i) {
        const T* from = (tall ? x : src).template data<T>() + i * per;
        kernels::scale<B>::run({.out = x.template data<T>() + i * per,
                                .x = from,
                                .n = per,
                                .s = static_cast<T>(1.0 / (std::sqrt(norms[static_cast<std::size_t>(i)]) + 1e-7))});
    }
    Shape gram_shape = x.shape();
    gram_shape[gram_shape.dim() - 1] = gram_shape[gram_shape.dim() - 2];
    const auto gemm = [&](const Tensor<B>& out, const Tensor<B>& lhs, const Tensor<B>& rhs, bool accumulate, double alpha) {
        detail::gemm<B>(*detail::as_mat(out), *detail::as_mat(lhs), *detail::as_mat(rhs), items, accumulate,
                        static_cast<T>(alpha), precision);
    };
    for (int i = 0; i < steps; ++i) {
        const Tensor<B> gram = Tensor<B>::empty(gram_shape);  // A = X X^T (.., small, small)
        gemm(gram, x, x.transpose(), false, 1.0);
        const Tensor<B> poly = scale(gram, b);  // b A + c A A: the product accumulates into it
        gemm(poly, gram, gram, true, c);
        const Tensor<B> next = scale(x, a);  // a X + (b A + c A A) X
        gemm(next, poly, x, true, 1.0);
        x = next;
    }
    return tall ? x.transpose().contiguous() : x;
}

/// How Muon scales the orthogonalised update of a (rows, cols) matrix.
enum class muon_scale {
    spectral,     ///< sqrt(max(1, rows / cols)) (the default, docs/method.md section 7)
    match_adamw,  ///< 0.2 sqrt(max(rows, cols)): an update RMS like AdamW's, so AdamW's lr and decay carry over
};

/// The factor `rule` gives a (rows, cols) matrix.
inline double muon_scale_factor(muon_scale rule, std::int64_t rows, std::int64_t cols) {
    if (rule == muon_scale::match_adamw) return 0.2 * std::sqrt(static_cast<double>(std::max(rows, cols)));
    return std::sqrt(std::max(1.0, static_cast<double>(rows) / static_cast<double>(cols)));
}

/// Hyperparameters of Muon; the defaults are the published ones (docs/method.md section 7: lr 1e-3,
/// momentum 0.95, decay 1e-4).
struct muon_options {
    double lr = 1e-3;
    double momentum = 0.95;      ///< beta
    double weight_decay = 1e-4;  ///< decoupled: W *= 1 - lr * weight_decay
    int ns_steps = 5;            ///< Newton-Schulz iterations
    muon_scale scale = muon_scale::spectral;
    /// Newton-Schulz's GEMM operands; unset: the process-wide matmul precision. bf16 is what the
    /// reference Muon implementation uses (its iteration tolerates the rounding; see newton_schulz).
    std::optional<matmul_precision> ns_precision;
};

/// Muon on a list of 2-D parameters W (rows, cols) with gradients G, one step at a time:
/// ```
/// m = beta m + (1-beta) G;  u = (1-beta) G + beta m             (Nesterov)
/// W = W (1 - lr wd) - lr * scale(rows, cols) * newton_schulz(u)
/// ```
/// State: momentum_buffer m per parameter, zeros from construction, updated in place
/// (kernels::muon_momentum); the iteration's temporaries come from the backend's pool and go back
/// to it. Satisfies recur::Optimizer.
template <Backend B>
class muon : public optimizer_base<muon<B>, B, muon_options> {
public:
    static constexpr std::string_view kind = "muon";

    /// An optimizer over `params` (referenced, not copied). Throws recur::error naming a parameter
    /// that is not 2-D (or undefined, non-contiguous, not in the compute dtype, named twice), or
    /// options out of range.
    explicit muon(std::vector<named_parameter<B>> params, const muon_options& options = {})
        : optimizer_base<muon<B>, B, muon_options>(std::move(params), options) {
        for (const auto& p : this->params_)
            check(p.tensor->dim() == 2, "recur::muon: parameter '", p.name, "' has shape ", p.tensor->shape(),
                  "; Muon updates 2-D weight matrices only (give it to AdamW)");
        check(options.lr >= 0 && std::isfinite(options.lr), "recur::muon: lr ", options.lr, ", expected >= 0");
        check(options.momentum >= 0 && options.momentum < 1, "recur::muon: momentum ", options.momentum,
              ", expected [0, 1)");
        check(options.weight_decay >= 0 && std::isfinite(options.weight_decay), "recur::muon: weight_decay ",
              options.weight_decay, ", expected >= 0");
        check(options.ns_steps >= 0, "recur::muon: ns_steps ", options.ns_steps, ", expected >= 0");
        for (const auto& p : this->params_) momentum_.push_back(Tensor<B>::zeros(p.tensor->shape()));
        for (std::size_t i = 0; i < this->params_.size(); ++i) {
            const Shape& shape = this->params_[i].tensor->shape();
            auto same = std::find_if(shape_groups_.begin(), shape_groups_.end(), [&](const auto& group) {
                return this->params_[group.front()].tensor->shape() == shape;
            });
            if (same == shape_groups_.end()) shape_groups_.push_back({i});
            else same->push_back(i);
        }
    }

private:
    friend class optimizer_base<muon<B>, B, muon_options>;
    template <Backend>
    friend class muon_adamw;

    /// One Muon update with learning rate options().lr * lr_multiplier; parameters without a gradient
    /// are skipped (their momentum too). Parameters of the same shape are orthogonalised together
    /// (newton_schulz on their stack). Throws recur::error if a parameter changed shape.
    void update(double lr_multiplier, std::int64_t) {
        using T = typename B::scalar;
        const muon_options& o = this->options_;
        const auto& params = this->params_;
        const double lr = o.lr * lr_multiplier;
        grads_.assign(params.size(), nullptr);
        for (std::size_t i = 0; i < params.size(); ++i) {
            const Tensor<B>& g = detail::checked_grad("recur::muon", params[i], momentum_[i].shape());
            if (g.defined()) grads_[i] = &g;
        }
        for (const auto& group : shape_groups_) {
            members_.clear();
            for (std::size_t i : group)
                if (grads_[i]) members_.push_back(i);
            if (members_.empty()) continue;
            const Shape& shape = params[members_.front()].tensor->shape();
            const std::int64_t rows = shape[0], cols = shape[1], n = rows * cols;
            const auto count = static_cast<std::int64_t>(members_.size());
            const Tensor<B> u = Tensor<B>::empty({count, rows, cols});  // the Nesterov directions, stacked
            for (std::int64_t j = 0; j < count; ++j) {
                const std::size_t i = members_[static_cast<std::size_t>(j)];
                kernels::muon_momentum<B>::run({.m = momentum_[i].template data<T>(),
                                                .u = u.template data<T>() + j * n,
                                                .g = grads_[i]->template data<T>(),
                                                .n = n,
                                                .beta = static_cast<T>(o.momentum)});
            }
            const Tensor<B> x = newton_schulz(u, o.ns_steps, o.ns_precision.value_or(get_matmul_precision()));
            const double s = muon_scale_factor(o.scale, rows, cols);
            for (std::int64_t j = 0; j < count; ++j) {
                T* w = params[members_[static_cast<std::size_t>(j)]].tensor->template data<T>();
                kernels::muon_update<B>::run({.w = w,
                                              .x = x.template data<T>() + j * n,
                                              .n = n,
                                              .decay = static_cast<T>(1 - lr * o.weight_decay),
                                              .step = static_cast<T>(lr * s)});
            }
        }
    }

    /// "<parameter>.momentum_buffer" for every parameter.
    std::vector<state_tensor<B>> state() const {
        std::vector<state_tensor<B>> out;
        for (std::size_t i = 0; i < this->params_.size(); ++i)
            out.push_back({this->params_[i].name + ".momentum_buffer", momentum_[i]});
        return out;
    }

    safetensors_metadata metadata() const {
        const muon_options& o = this->options_;
        return {{"muon.lr", detail::exact_string(o.lr)},
                {"muon.momentum", detail::exact_string(o.momentum)},
                {"muon.weight_decay", detail::exact_string(o.weight_decay)},
                {"muon.ns_steps", std::to_string(o.ns_steps)},
                {"muon.scale", o.scale == muon_scale::spectral ? "spectral" : "match_adamw"},
                {"muon.ns_precision", o.ns_precision ? std::string(matmul_precision_name(*o.ns_precision)) : "matmul"}};
    }

    std::vector<Tensor<B>> momentum_;  // each its parameter's shape
    std::vector<std::vector<std::size_t>> shape_groups_;  // indices of same-shaped parameters, in order
    std::vector<const Tensor<B>*> grads_;  // update()'s scratch, reused from step to step: each parameter's
    std::vector<std::size_t> members_;     // gradient (or null), and one group's parameters with a gradient
};

}  // namespace recur
