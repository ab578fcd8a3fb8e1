// matmul: batched matrix product with transposed views taken as-is (no copy); backward beside it.
// Not here: the GEMM itself (recur/kernels/gemm.hpp, a backend kernel) or the Linear layout (linear.hpp).
#pragma once

#include <cstdint>
#include <optional>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/gemm.hpp>

namespace recur {

namespace detail {

/// One operand of a GEMM: the last two dims of a view (rows, cols) and how they sit in memory.
template <class T>
struct mat {
    T* p = nullptr;
    std::int64_t rows = 0, cols = 0, ld = 0, batch = 1, batch_stride = 0;
    bool trans = false;  // stored column-major, i.e. the row-major matrix (cols, rows)

    mat transposed() const { return {p, cols, rows, ld, batch, batch_stride, !trans}; }
};

/// Reads the last two dims of x as a GEMM operand without copying, or nothing when the strides do
/// not allow it (then the caller makes x contiguous).
template <Backend B>
std::optional<mat<typename B::scalar>> as_mat(const Tensor<B>& x) {
    using T = typename B::scalar;
    const int n = x.dim();
    const std::int64_t r = x.size(-2), c = x.size(-1), sr = x.stride(-2), sc = x.stride(-1);
    mat<T> m{x.template data<T>(), r, c};
    if ((c == 1 || sc == 1) && (r == 1 || sr >= c)) {
        m.ld = r == 1 ? std::max<std::int64_t>(c, 1) : sr;
    } else if ((r == 1 || sr == 1) && (c == 1 || sc >= r)) {
        m.ld = c == 1 ? std::max<std::int64_t>(r, 1) : sc;
        m.trans = true;
    } else {
        return std::nullopt;
    }
    // Collapse batch dims into one stride; they must nest like a row-major array.
    std::int64_t expect = -1;
    for (int i = n - 3; i >= 0; --i) {
        if (x.size(i) == 1) continue;
        if (expect >= 0 && x.stride(i) != expect) return std::nullopt;
        if (expect < 0) m.batch_stride = x.stride(i);
        m.batch *= x.size(i);
        expect = x.stride(i) * x.size(i);
    }
    return m;
}

template <Backend B>
mat<typename B::scalar> mat_of(Tensor<B>& x_or_copy) {
    if (auto m = as_mat(x_or_copy)) return *m;
    x_or_copy = x_or_copy.contiguous_raw();
    return *as_mat(x_or_copy);
}

/// C (+)= alpha A B for `batch` products; a or b may be shared by all (batch 1), c may be too, in
/// which case the products are summed into it. Operands in `precision` (by default the process-wide one).
template <Backend B>
void gemm(const mat<typename B::scalar>& c, const mat<typename B::scalar>& a, const mat<typename B::scalar>& b,
          std::int64_t batch, bool accumulate, typename B::scalar alpha = 1,
          matmul_precision precision = get_matmul_precision()) {
    using T = typename B::scalar;
    gemm_args<T> g;
    g.m = a.rows, g.n = b.cols, g.k = a.cols;
    g.a = a.p, g.lda = a.ld, g.trans_a = a.trans, g.stride_a = a.batch > 1 ? a.batch_stride : 0;
    g.b = b.p, g.ldb = b.ld, g.trans_b = b.trans, g.stride_b = b.batch > 1 ? b.batch_stride : 0;
    g.c = c.p, g.ldc = c.ld, g.alpha = alpha, g.accumulate = accumulate;
    g.precision = precision;
    if (c.batch == 1 && batch > 1) {
        const bool b_stacks = !b.trans && b.batch_stride == b.rows * b.ld;
        if (a.batch > 1 && b.batch > 1 && a.trans && a.batch_stride == a.cols * a.ld && b_stacks) {
            // sum_i A_i^T B_i = [A_1; ..; A_n]^T [B_1; ..; B_n]: one GEMM with k = batch * rows
            g.k = batch * a.cols;
            kernels::gemm<B>::run(g);
            return;
        }
        for (std::int64_t i = 0; i < batch; ++i) {  // a reduction over the batch into one C
            gemm_args<T> gi = g;
            gi.a = a.p + (a.batch > 1 ? i * a.batch_stride : 0);
            gi.b = b.p + (b.batch > 1 ? i * b.batch_stride : 0);
            gi.accumulate = accumulate || i > 0;
            kernels::gemm<B>::run(gi);
        }
        return;
    }
    g.stride_c = c.batch_stride;
    g.batch = batch;
    if (b.batch == 1 && batch > 1 && !a.trans && a.batch_stride == a.rows * a.ld && c.batch_stride == c.rows * c.ld &&
        a.ld == a.cols && c.ld == c.cols) {
        g.m = batch * a.rows;  // B shared: stack the A_i into one tall GEMM
        g.batch = 1;
        g.stride_a = g.stride_c = 0;
    }
    kernels::gemm<B>::run(g);
}

}  // namespace detail

template <Backend B>
struct matmul_op {
    static constexpr std::string_view name = "matmul";
    Tensor<B> a, b;  // a (..., M, K) or (M, K); b (..., K, N) or (K, N)
    std::int64_t batch;

    void backward(Tensor<B> dc, grad_sink<B>& g) {  // dc (..., M, N)
        auto dcm = *detail::as_mat(dc);
        if (g.needs(0)) {  // dA += dC B^T
            auto am = detail::mat_of(g.buffer(0));
            detail::gemm<B>(am, dcm, detail::mat_of(b).transposed(), batch, true);
        }
        if (g.needs(1)) {  // dB += A^T dC
            auto bm = detail::mat_of(g.buffer(1));
            detail::gemm<B>(bm, detail::mat_of(a).transposed(), dcm, batch, true);
        }
    }
};

/// Matrix product over the last two dims: a (..., M, K) x b (..., K, N) -> (..., M, N).
/// Either side may be 2-D and is then shared across the other's batch. Transposed views
/// (x.transpose()) are read in place.
template <Backend B>
Tensor<B> matmul(const Tensor<B>& a, const Tensor<B>& b) {
    check(a.dim() >= 2 && b.dim() >= 2, "recur::matmul: needs 2-4 dims, got a ", a.shape(), " and b ", b.shape());
    check(a.dtype() == Tensor<B>::compute_dtype && b.dtype() == Tensor<B>::compute_dtype, "recur::matmul: dtypes a ",
          a.dtype(), " and b ", b.dtype(), ", expected ", Tensor<B>::compute_dtype);
    check(a.size(-1) == b.size(-2), "recur::matmul: inner dimensions differ: a ", a.shape(), " vs b ", b.shape());
    const Tensor<B>& batched = a.dim() >= b.dim() ? a : b;
    if (a.dim() > 2 && b.dim() > 2) {
        bool same = a.dim() == b.dim();
        for (int i = 0; same && i < a.dim() - 2; ++i) same = a.size(i) == b.size(i);
        check(same, "recur::matmul: batch dimensions differ: a ", a.shape(), " vs b ", b.shape());
    }
    Shape out_shape = batched.shape();
    out_shape[out_shape.dim() - 2] = a.size(-2);
    out_shape[out_shape.dim() - 1] = b.size(-1);
    Tensor<B> c = Tensor<B>::empty(out_shape);
    std::int64_t batch = 1;
    for (int i = 0; i + 2 < out_shape.dim(); ++i) batch *= out_shape[i];
    Tensor<B> ac = a, bc = b;
    auto am = detail::mat_of(ac), bm = detail::mat_of(bc);
    auto cm = *detail::as_mat(c);
    if (c.numel() > 0) {
        if (a.size(-1) == 0) c.fill_(0.0);
        else detail::gemm<B>(cm, am, bm, batch, false);
    }
    if (recording(a, b)) record(matmul_op<B>{ac, bc, batch}, c, a, b);
    return c;
}

}  // namespace recur
