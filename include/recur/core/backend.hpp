// The Backend concept: what a compile-time backend policy type provides (allocation and copies).
// Not here: kernels (contracts in recur/kernels/, one header per family; implementations in backends/).
#pragma once

#include <concepts>
#include <cstddef>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// A backend is a stateless policy type: memory it owns, copies across the host boundary, and the
/// compute scalar (float, or double for the gradient-check reference). Kernels are specialisations
/// of `recur::kernels::<op><B>`; a missing one fails to compile with a message naming the op.
template <class B>
concept Backend = requires(std::size_t n, void* dst, const void* src) {
    typename B::scalar;
    requires std::floating_point<typename B::scalar>;
    { B::name } -> std::convertible_to<std::string_view>;
    { B::is_host } -> std::convertible_to<bool>;
    { B::allocate(n) } -> std::same_as<void*>;
    { B::deallocate(dst, n) } noexcept;
    B::copy_from_host(dst, src, n);
    B::copy_to_host(dst, src, n);
    B::copy(dst, src, n);
};

}  // namespace recur
