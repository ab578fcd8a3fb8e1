// The kernels the optimizers need beyond the ops': sum of squares in double, the fused AdamW update,
// Muon's Nesterov momentum and its update. Backends specialise them. Not here: the optimizers (adamw.hpp, muon.hpp).
#pragma once

#include <cstdint>

#include <recur/core/backend.hpp>

namespace recur {

/// Per-step constants of one AdamW update, computed once on the host (t is the 1-based step):
/// w = w * decay - step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps) after the moment updates.
struct adamw_coefficients {
    double decay = 1;           ///< 1 - lr * weight_decay
    double beta1 = 0.9;         ///< first-moment decay
    double beta2 = 0.95;        ///< second-moment decay
    double step_size = 0;       ///< lr / (1 - beta1^t)
    double inv_sqrt_bias2 = 1;  ///< 1 / sqrt(1 - beta2^t)
    double eps = 1e-8;
};

namespace kernels {

/// static void run(double* out, const T* x, int64 n): out[0] = sum_i x[i]^2, accumulated in double.
/// `out` is backend memory (an f64 tensor's element).
template <class B>
struct sum_squares {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'sum_squares' kernel (specialise recur::kernels::sum_squares<Backend>)");
};

/// static void run(T* w, T* m, T* v, const T* g, int64 n, const adamw_coefficients& c), for i < n:
/// m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
/// w = w * decay - step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps)   (torch.optim.AdamW's order).
template <class B>
struct adamw_update {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'adamw_update' kernel (specialise recur::kernels::adamw_update<Backend>)");
};

/// static void run(T* m, T* u, const T* g, int64 n, T beta), for i < n:
/// m = beta m + (1 - beta) g, then the Nesterov direction u = (1 - beta) g + beta m.
template <class B>
struct muon_momentum {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'muon_momentum' kernel (specialise recur::kernels::muon_momentum<Backend>)");
};

/// static void run(T* w, const T* x, int64 n, T decay, T step), for i < n: w = w * decay - step * x
/// (Muon's decoupled weight decay and update in one pass).
template <class B>
struct muon_update {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'muon_update' kernel (specialise recur::kernels::muon_update<Backend>)");
};

}  // namespace kernels

}  // namespace recur
