// AdamW (decoupled weight decay, bias correction) over a list of named parameters, as torch.optim.AdamW.
// Not here: amsgrad, maximize or per-parameter options; gradient clipping (clip.hpp); schedules (sched/).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <utility>
#include <vector>

#include <recur/core/tensor.hpp>
#include <recur/kernels/optim.hpp>
#include <recur/optim/optimizer.hpp>

namespace recur {

/// Hyperparameters of AdamW; the defaults are the published ones (docs/method.md section 7: betas
/// (0.9, 0.95), lr 5e-5, decay 1e-4).
struct adamw_options {
    double lr = 5e-5;
    double beta1 = 0.9;
    double beta2 = 0.95;
    double eps = 1e-8;
    double weight_decay = 1e-4;  ///< decoupled: W *= 1 - lr * weight_decay before the Adam update
};

/// AdamW on every parameter of a list, one step t (from 1) at a time, like torch.optim.AdamW:
/// ```
/// W *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
/// W -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// ```
/// State: exp_avg m and exp_avg_sq v per parameter, zeros from construction, updated in place by
/// one fused kernel (kernels::adamw_update), so a step allocates nothing. Satisfies recur::Optimizer.
template <Backend B>
class adamw : public optimizer_base<adamw<B>, B, adamw_options> {
public:
    static constexpr std::string_view kind = "adamw";

    /// An optimizer over `params` (e.g. named_parameters<B>(model)); the tensors are referenced, not
    /// copied, so they must outlive it. Throws recur::error for an undefined, non-contiguous,
    /// non-compute-dtype or twice-named parameter, or options out of range.
    explicit adamw(std::vector<named_parameter<B>> params, const adamw_options& options = {})
        : optimizer_base<adamw<B>, B, adamw_options>(std::move(params), options) {
        check(options.lr >= 0 && std::isfinite(options.lr), "recur::adamw: lr ", options.lr, ", expected >= 0");
        check(options.beta1 >= 0 && options.beta1 < 1, "recur::adamw: beta1 ", options.beta1, ", expected [0, 1)");
        check(options.beta2 >= 0 && options.beta2 < 1, "recur::adamw: beta2 ", options.beta2, ", expected [0, 1)");
        check(options.eps > 0 && std::isfinite(options.eps), "recur::adamw: eps ", options.eps, ", expected > 0");
        check(options.weight_decay >= 0 && std::isfinite(options.weight_decay), "recur::adamw: weight_decay ",
              options.weight_decay, ", expected >= 0");
        for (const auto& p : this->params_) {
            exp_avg_.push_back(Tensor<B>::zeros(p.tensor->shape()));
            exp_avg_sq_.push_back(Tensor<B>::zeros(p.tensor->shape()));
        }
    }

private:
    friend class optimizer_base<adamw<B>, B, adamw_options>;
    template <Backend>
    friend class muon_adamw;

    /// One AdamW update at step t with learning rate options().lr * lr_multiplier. Throws
    /// recur::error if a parameter changed shape since construction.
    void update(double lr_multiplier, std::int64_t step) {
        using T = typename B::scalar;
        const adamw_options& o = this->options_;
        const auto t = static_cast<double>(step);
        const double lr = o.lr * lr_multiplier;
        adamw_coefficients c;
        c.decay = 1 - lr * o.weight_decay;
        c.beta1 = o.beta1;
        c.beta2 = o.beta2;
        c.step_size = lr / (1 - std::pow(o.beta1, t));
        c.inv_sqrt_bias2 = 1 / std::sqrt(1 - std::pow(o.beta2, t));
        c.eps = o.eps;
        for (std::size_t i = 0; i < this->params_.size(); ++i) {
            const Tensor<B>& g = detail::checked_grad("recur::adamw", this->params_[i], exp_avg_[i].shape());
            if (!g.defined()) continue;
            kernels::adamw_update<B>::run({.w = this->params_[i].tensor->template data<T>(),
                                           .m = exp_avg_[i].template data<T>(),
                                           .v = exp_avg_sq_[i].template data<T>(),
                                           .g = g.template data<T>(),
                                           .n = g.numel(),
                                           .coefficients = c});
        }
    }

    /// "<parameter>.exp_avg" and "<parameter>.exp_avg_sq" for every parameter.
    std::vector<state_tensor<B>> state() const {
        std::vector<state_tensor<B>> out;
        for (std::size_t i = 0; i < this->params_.size(); ++i) {
            out.push_back({this->params_[i].name + ".exp_avg", exp_avg_[i]});
            out.push_back({this->params_[i].name + ".exp_avg_sq", exp_avg_sq_[i]});
        }
        return out;
    }

    safetensors_metadata metadata() const {
        const adamw_options& o = this->options_;
        return {{"adamw.lr", detail::exact_string(o.lr)},
                {"adamw.beta1", detail::exact_string(o.beta1)},
                {"adamw.beta2", detail::exact_string(o.beta2)},
                {"adamw.eps", detail::exact_string(o.eps)},
                {"adamw.weight_decay", detail::exact_string(o.weight_decay)}};
    }

    std::vector<Tensor<B>> exp_avg_, exp_avg_sq_;  // each its parameter's shape
};

}  // namespace recur
