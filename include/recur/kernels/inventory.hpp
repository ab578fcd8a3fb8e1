// The list of every kernel contract, each one's name, and which of them a backend implements: the
// place where a new kernel is listed once, so tests print each backend's gaps and tools can say what
// a device runs. Not here: the contracts (one header per family beside this one) or their backends.
#pragma once

#include <string_view>
#include <vector>

#include <recur/kernels/activation.hpp>
#include <recur/kernels/attention.hpp>
#include <recur/kernels/contract.hpp>
#include <recur/kernels/copy.hpp>
#include <recur/kernels/cross_entropy.hpp>
#include <recur/kernels/elementwise.hpp>
#include <recur/kernels/embedding.hpp>
#include <recur/kernels/gemm.hpp>
#include <recur/kernels/optim.hpp>
#include <recur/kernels/random.hpp>
#include <recur/kernels/rms_norm.hpp>
#include <recur/kernels/rope.hpp>

namespace recur {

namespace kernels {

/// A list of kernel contracts (a type; nothing to construct but the tag).
template <template <class> class... K>
struct list {};

/// Every kernel contract recur defines, by family: copy, elementwise, gemm, embedding, rms_norm,
/// activation, rope, attention, cross_entropy, optim, random.
using all = list<fill, copy_strided, add_into,                      //
                 binary, scale, sum_rows, sum_all,                  //
                 gemm, embedding, rms_norm, silu, swiglu, rope,     //
                 attention, cross_entropy,                          //
                 sum_squares, adamw_update, muon_momentum, muon_update, keyed_truncated_normal>;

/// A backend that specialises no kernel, so K<unimplemented> is always a contract's primary template.
struct unimplemented {
    using scalar = float;
};

}  // namespace kernels

/// The name a kernel contract gives itself ("gemm", "rms_norm", ...).
template <template <class> class K>
inline constexpr std::string_view kernel_name = K<kernels::unimplemented>::name;

/// One kernel and whether a backend implements it.
struct kernel_presence {
    std::string_view name;
    bool implemented = false;
};

/// For each kernel of the list, whether Backend implements it.
template <class Backend, template <class> class... K>
std::vector<kernel_presence> kernel_inventory(kernels::list<K...>) {
    return {kernel_presence{kernel_name<K>, has_kernel<Backend, K>}...};
}

/// For every kernel recur defines, whether Backend implements it.
template <class Backend>
std::vector<kernel_presence> kernel_inventory() {
    return kernel_inventory<Backend>(kernels::all{});
}

/// The names of the kernels Backend lacks, in kernels::all's order.
template <class Backend>
std::vector<std::string_view> missing_kernels() {
    std::vector<std::string_view> out;
    for (const auto& k : kernel_inventory<Backend>())
        if (!k.implemented) out.push_back(k.name);
    return out;
}

}  // namespace recur
