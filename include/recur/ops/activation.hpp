// SiLU and the fused SwiGLU gate silu(gate) * up, with backward.
// Not here: other activations (Llama-family models use only these).
#pragma once

#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/activation.hpp>

namespace recur {

template <Backend B>
struct silu_op {
    static constexpr std::string_view name = "silu";
    Tensor<B> x;
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        using T = typename B::scalar;
        Tensor<B> dx = Tensor<B>::empty(x.shape());
        kernels::silu<B>::backward(
            {.dx = dx.template data<T>(), .x = x.template data<T>(), .dy = dy.template data<T>(), .n = x.numel()});
        g.accumulate(0, std::move(dx));
    }
};

/// x * sigmoid(x), elementwise.
template <Backend B>
Tensor<B> silu(const Tensor<B>& x) {
    using T = typename B::scalar;
    check(x.dtype() == Tensor<B>::compute_dtype, "recur::silu: dtype ", x.dtype(), ", expected ", Tensor<B>::compute_dtype);
    const Tensor<B> xc = x.contiguous();
    Tensor<B> y = Tensor<B>::empty(x.shape());
    if (y.numel() > 0) kernels::silu<B>::forward({.y = y.template data<T>(), .x = xc.template data<T>(), .n = y.numel()});
    if (recording(xc)) record(silu_op<B>{xc}, y, xc);
    return y;
}

template <Backend B>
struct swiglu_op {
    static constexpr std::string_view name = "swiglu";
    Tensor<B> gate, up;  // (..., F) each
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        using T = typename B::scalar;
        Tensor<B> dgate = Tensor<B>::empty(gate.shape()), dup = Tensor<B>::empty(up.shape());
        kernels::swiglu<B>::backward({.dgate = dgate.template data<T>(),
                                      .dup = dup.template data<T>(),
                                      .gate = gate.template data<T>(),
                                      .up = up.template data<T>(),
                                      .dy = dy.template data<T>(),
                                      .n = gate.numel()});
        g.accumulate(0, std::move(dgate));
        g.accumulate(1, std::move(dup));
    }
};

/// silu(gate) * up, fused into one pass: the SwiGLU MLP's hidden activation.
template <Backend B>
Tensor<B> swiglu(const Tensor<B>& gate, const Tensor<B>& up) {
    using T = typename B::scalar;
    check(gate.shape() == up.shape(), "recur::swiglu: gate ", gate.shape(), " and up ", up.shape(), " must have the same shape");
    check(gate.dtype() == Tensor<B>::compute_dtype && up.dtype() == Tensor<B>::compute_dtype, "recur::swiglu: dtypes gate ",
          gate.dtype(), " and up ", up.dtype(), ", expected ", Tensor<B>::compute_dtype);
    const Tensor<B> gc = gate.contiguous(), uc = up.contiguous();
    Tensor<B> y = Tensor<B>::empty(gate.shape());
    if (y.numel() > 0)
        kernels::swiglu<B>::forward(
            {.y = y.template data<T>(), .gate = gc.template data<T>(), .up = uc.template data<T>(), .n = y.numel()});
    if (recording(gc, uc)) record(swiglu_op<B>{gc, uc}, y, gc, uc);
    return y;
}

}  // namespace recur
