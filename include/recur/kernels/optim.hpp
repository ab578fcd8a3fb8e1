// Contracts of the kernels the optimizers need beyond the ops': the sum of squares in double (gradient
// norms, Newton-Schulz's normalisation), the fused AdamW update, Muon's Nesterov momentum and its
// update. Not here: the optimizers (recur/optim/adamw.hpp, muon.hpp, clip.hpp); letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// out[0] = sum_i x[i]^2 for i < n, accumulated in double.
template <class T>
struct sum_squares_args {
    double* out = nullptr;  // (1) written: backend memory (an f64 tensor's element)
    const T* x = nullptr;   // (n)
    std::int64_t n = 0;
};

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

/// For i < n, with the constants of `coefficients` (torch.optim.AdamW's order):
/// m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
/// w = w * decay - step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps).
template <class T>
struct adamw_update_args {
    T* w = nullptr;        // (n) updated: the parameter
    T* m = nullptr;        // (n) updated: first moment (exp_avg)
    T* v = nullptr;        // (n) updated: second moment (exp_avg_sq)
    const T* g = nullptr;  // (n) the gradient
    std::int64_t n = 0;
    adamw_coefficients coefficients;
};

/// For i < n: m = beta m + (1 - beta) g, then the Nesterov direction u = (1 - beta) g + beta m.
template <class T>
struct muon_momentum_args {
    T* m = nullptr;        // (n) updated: the momentum buffer
    T* u = nullptr;        // (n) written: the Nesterov direction
    const T* g = nullptr;  // (n) the gradient
    std::int64_t n = 0;
    T beta = 0;
};

/// For i < n: w = w * decay - step * x (Muon's decoupled weight decay and update in one pass).
template <class T>
struct muon_update_args {
    T* w = nullptr;        // (n) updated: the parameter
    const T* x = nullptr;  // (n) the orthogonalised update
    std::int64_t n = 0;
    T decay = 1;
    T step = 0;
};

namespace kernels {

/// Sum of squares in double. Implemented by: reference, cpu, cuda.
template <class B>
struct sum_squares : missing_kernel {
    static constexpr std::string_view name = "sum_squares";
    static void run(const sum_squares_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'sum_squares' kernel (specialise recur::kernels::sum_squares<Backend>)");
    }
};

/// The fused AdamW update. Implemented by: reference, cpu, cuda.
template <class B>
struct adamw_update : missing_kernel {
    static constexpr std::string_view name = "adamw_update";
    static void run(const adamw_update_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'adamw_update' kernel (specialise recur::kernels::adamw_update<Backend>)");
    }
};

/// Muon's Nesterov momentum. Implemented by: reference, cpu, cuda.
template <class B>
struct muon_momentum : missing_kernel {
    static constexpr std::string_view name = "muon_momentum";
    static void run(const muon_momentum_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'muon_momentum' kernel (specialise recur::kernels::muon_momentum<Backend>)");
    }
};

/// Muon's weight decay and update. Implemented by: reference, cpu, cuda.
template <class B>
struct muon_update : missing_kernel {
    static constexpr std::string_view name = "muon_update";
    static void run(const muon_update_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'muon_update' kernel (specialise recur::kernels::muon_update<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
