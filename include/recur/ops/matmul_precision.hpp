// The precision of GEMM operands, a process-wide setting like PyTorch's set_float32_matmul_precision:
// f32, tf32 (operands rounded to TensorFloat-32) or bf16 (operands rounded to bfloat16); products are
// summed and stored in f32 in every case. Not here: GEMMs (recur/kernels/gemm.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string_view>

#include <recur/core/error.hpp>

namespace recur {

/// How every GEMM (matmul, linear and their backward, Muon's Newton-Schulz) treats its operands.
/// Parameters, activations and gradients stay f32 whichever is chosen; attention's own tile
/// products and all element-wise kernels are f32 always.
enum class matmul_precision : std::uint8_t {
    f32,   ///< operands as they are (the default)
    bf16,  ///< operands rounded to bfloat16 (nearest even), f32 accumulation: AMX / avx512_bf16 on cpu
    tf32,  ///< operands rounded to TensorFloat-32 (10 mantissa bits), f32 accumulation: cuda tensor cores;
           ///< a backend without it (cpu) refuses it with recur::error rather than computing in f32
};

namespace detail {
inline std::atomic<matmul_precision>& matmul_precision_setting() {
    static std::atomic<matmul_precision> setting{matmul_precision::f32};
    return setting;
}
}  // namespace detail

/// The precision GEMMs started from now on use (process-wide).
inline matmul_precision get_matmul_precision() {
    return detail::matmul_precision_setting().load(std::memory_order_relaxed);
}

/// Sets the precision of every later GEMM, on every thread.
inline void set_matmul_precision(matmul_precision p) {
    detail::matmul_precision_setting().store(p, std::memory_order_relaxed);
}

/// Sets a precision for its lifetime and restores the previous one.
class matmul_precision_scope {
public:
    explicit matmul_precision_scope(matmul_precision p) : saved_(get_matmul_precision()) { set_matmul_precision(p); }
    ~matmul_precision_scope() { set_matmul_precision(saved_); }
    matmul_precision_scope(const matmul_precision_scope&) = delete;
    matmul_precision_scope& operator=(const matmul_precision_scope&) = delete;

private:
    matmul_precision saved_;
};

constexpr std::string_view matmul_precision_name(matmul_precision p) {
    return p == matmul_precision::bf16 ? "bf16" : p == matmul_precision::tf32 ? "tf32" : "f32";
}

inline std::ostream& operator<<(std::ostream& os, matmul_precision p) { return os << matmul_precision_name(p); }

/// "f32", "bf16" or "tf32"; anything else throws recur::error naming it.
inline matmul_precision parse_matmul_precision(std::string_view name) {
    if (name == "f32") return matmul_precision::f32;
    if (name == "bf16") return matmul_precision::bf16;
    if (name == "tf32") return matmul_precision::tf32;
    fail("recur: matmul precision '", name, "', expected f32, bf16 or tf32");
}

}  // namespace recur
