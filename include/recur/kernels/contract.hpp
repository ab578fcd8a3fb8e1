// What every kernel contract shares: the marker a contract's primary template carries (so that
// has_kernel<Backend, Kernel> can ask whether a backend specialised it) and no_kernel_for, which
// makes a call of a missing kernel fail to compile with the contract's own message.
// Not here: the contracts themselves (one header per family in this folder; dimension letters as in
// recur/core/dims.hpp) or their implementations (backends/<name>/recur/backends/<name>/<family>.hpp).
#pragma once

namespace recur {

/// Always false, but only once a template is instantiated: the body of a contract's primary
/// member function static_asserts it, so a missing kernel fails when (and only when) it is called.
template <class...>
inline constexpr bool no_kernel_for = false;

namespace kernels {

/// Base of every contract's primary template (never of a backend's specialisation).
struct missing_kernel {
    using kernel_is_missing = void;
};

}  // namespace kernels

/// True when Backend implements Kernel, i.e. specialises recur::kernels::Kernel<Backend>. SFINAE- and
/// concept-friendly: asking never instantiates the missing kernel's functions, so generic code and
/// tests can branch on it (`if constexpr (has_kernel<B, kernels::rope>)`).
template <class Backend, template <class> class Kernel>
inline constexpr bool has_kernel = !requires { typename Kernel<Backend>::kernel_is_missing; };

}  // namespace recur
