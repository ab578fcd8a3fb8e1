// Tensor<B>: up to 4-d strided view over backend-owned storage, with dtype and autograd metadata.
// Not here: op math (ops/), the tape (autograd/). Views that record gradients live in ops/view.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <recur/autograd/grad_mode.hpp>
#include <recur/core/backend.hpp>
#include <recur/core/dtype.hpp>
#include <recur/core/error.hpp>
#include <recur/core/shape.hpp>
#include <recur/core/storage.hpp>
#include <recur/kernels/copy.hpp>

namespace recur {

template <Backend B>
class Tensor;

/// Autograd state of one tensor: its gradient (contiguous, same shape) and whether it is a leaf.
template <Backend B>
struct autograd_meta {
    Tensor<B> grad;  // same shape as the tensor; undefined until backward reaches it
    Shape shape;
    bool is_leaf = true;
};

// Autograd-aware views, defined in ops/view.hpp.
template <Backend B> Tensor<B> reshape(const Tensor<B>& x, const Shape& shape);
template <Backend B> Tensor<B> slice(const Tensor<B>& x, int dim, std::int64_t start, std::int64_t length);
template <Backend B> Tensor<B> transpose(const Tensor<B>& x);
template <Backend B> Tensor<B> contiguous(const Tensor<B>& x);

/// A strided view of up to four dimensions over storage owned by backend B.
///
/// Copies are cheap (they share storage). Arithmetic happens in `B::scalar` (f32, or f64 for the
/// reference used in gradient checks); bf16 and f16 are storage types converted with `to()`.
template <Backend B>
class Tensor {
public:
    using backend_type = B;
    using scalar = typename B::scalar;
    static constexpr recur::dtype compute_dtype = dtype_of<scalar>;

    Tensor() = default;

    /// Uninitialised contiguous tensor from the backend's pool.
    static Tensor empty(const Shape& shape, recur::dtype type = compute_dtype) {
        return Tensor(storage<B>(static_cast<std::size_t>(shape.numel()) * dtype_size(type)), 0, shape,
                      contiguous_strides(shape), type);
    }
    static Tensor full(const Shape& shape, double value, recur::dtype type = compute_dtype) {
        Tensor t = empty(shape, type);
        t.fill_(value);
        return t;
    }
    static Tensor zeros(const Shape& shape, recur::dtype type = compute_dtype) { return full(shape, 0.0, type); }

    /// Copies host values into a new tensor of `type` (default: i32 for int inputs, else compute).
    template <class T>
    static Tensor from_host(std::span<const T> values, const Shape& shape,
                            recur::dtype type = std::is_integral_v<T> ? recur::dtype::i32 : compute_dtype) {
        check(static_cast<std::int64_t>(values.size()) == shape.numel(), "recur::Tensor::from_host: ",
              values.size(), " values for shape ", shape, " (", shape.numel(), " elements)");
        Tensor t = empty(shape, type);
        const auto n = static_cast<std::size_t>(shape.numel());
        if (B::is_host) {
            convert_host(t.raw_data(), type, values.data(), dtype_of<T>, n);
        } else {
            std::vector<std::byte> staged(n * dtype_size(type));
            convert_host(staged.data(), type, values.data(), dtype_of<T>, n);
            B::copy_from_host(t.raw_data(), staged.data(), staged.size());
        }
        return t;
    }
    template <class T>
    static Tensor from_host(const std::vector<T>& values, const Shape& shape) {
        return from_host(std::span<const T>(values), shape);
    }

    /// Values in row-major order, converted to T.
    template <class T = scalar>
    std::vector<T> to_host() const {
        check(defined(), "recur::Tensor::to_host: the tensor is undefined (for example grad() before any backward)");
        const Tensor c = contiguous_raw();
        const auto n = static_cast<std::size_t>(c.numel());
        std::vector<T> out(n);
        if (n == 0) return out;
        if (B::is_host) {
            convert_host(out.data(), dtype_of<T>, c.raw_data(), c.type_, n);
        } else {
            std::vector<std::byte> staged(n * dtype_size(c.type_));
            B::copy_to_host(staged.data(), c.raw_data(), staged.size());
            convert_host(out.data(), dtype_of<T>, staged.data(), c.type_, n);
        }
        return out;
    }
    /// The single value of a one-element tensor.
    double item() const {
        check(defined(), "recur::Tensor::item: the tensor is undefined");
        check(numel() == 1, "recur::Tensor::item: tensor of shape ", shape_, " has ", numel(), " elements, expected 1");
        return to_host<double>()[0];
    }

    bool defined() const { return static_cast<bool>(storage_); }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }
    int dim() const { return shape_.dim(); }
    std::int64_t size(int i) const { return shape_.size(i); }
    std::int64_t stride(int i) const { return strides_[shape_.normalize(i)]; }
    std::int64_t numel() const { return shape_.numel(); }
    std::int64_t offset() const { return offset_; }
    recur::dtype dtype() const { return type_; }
    const storage<B>& buffer() const { return storage_; }

    bool is_contiguous() const {
        std::int64_t expected = 1;
        for (int i = dim() - 1; i >= 0; --i) {
            if (shape_[i] != 1 && strides_[i] != expected) return false;
            expected *= shape_[i];
        }
        return true;
    }

    /// Typed pointer to the first element (a device pointer on device backends).
    template <class T>
    T* data() const {
        check(dtype_of<T> == type_ || (sizeof(T) == 2 && dtype_size(type_) == 2), "recur::Tensor::data: tensor holds ",
              type_, ", requested ", dtype_of<T>);
        return static_cast<T*>(raw_data());
    }
    void* raw_data() const {
        return static_cast<std::byte*>(storage_.data()) + offset_ * static_cast<std::int64_t>(dtype_size(type_));
    }

    Tensor reshape(const Shape& s) const { return recur::reshape(*this, s); }
    Tensor slice(int d, std::int64_t start, std::int64_t length) const { return recur::slice(*this, d, start, length); }
    /// Swaps the last two dimensions (a view; no copy).
    Tensor transpose() const { return recur::transpose(*this); }
    Tensor contiguous() const { return recur::contiguous(*this); }

    /// Converted copy in another storage dtype. Not recorded for backward: the result is a leaf.
    Tensor to(recur::dtype type) const {
        const Tensor c = contiguous_raw();
        if (type == type_) return c.detach();
        Tensor out = empty(shape_, type);
        const auto n = static_cast<std::size_t>(numel());
        if (B::is_host) {
            convert_host(out.raw_data(), type, c.raw_data(), type_, n);
        } else {
            std::vector<std::byte> src(n * dtype_size(type_)), dst(n * dtype_size(type));
            B::copy_to_host(src.data(), c.raw_data(), src.size());
            convert_host(dst.data(), type, src.data(), type_, n);
            B::copy_from_host(out.raw_data(), dst.data(), dst.size());
        }
        return out;
    }

    /// A contiguous copy with its own storage and no autograd history.
    Tensor clone() const {
        Tensor out = empty(shape_, type_);
        copy_into(out, *this, false);
        return out;
    }

    /// Same data, no autograd history.
    Tensor detach() const {
        Tensor t = *this;
        t.meta_.reset();
        return t;
    }

    /// True if ops on this tensor are recorded for backward (a leaf marked so, or an op's output).
    bool requires_grad() const { return meta_ != nullptr; }
    /// Marks a leaf (a parameter or an input) as needing gradients; they accumulate with +=.
    Tensor& set_requires_grad(bool on = true) {
        check(!meta_ || meta_->is_leaf, "recur::Tensor::set_requires_grad: only leaf tensors can change this; "
              "use detach() on an op result");
        if (on && !meta_) {
            check(type_ == compute_dtype, "recur::Tensor::set_requires_grad: gradients need the compute dtype ",
                  compute_dtype, ", tensor holds ", type_);
            meta_ = std::make_shared<autograd_meta<B>>();
            meta_->shape = shape_;
        } else if (!on) {
            meta_.reset();
        }
        return *this;
    }
    /// The accumulated gradient; undefined before the first backward that reaches this tensor.
    const Tensor& grad() const {
        static const Tensor none;
        return meta_ ? meta_->grad : none;
    }
    /// Sets the accumulated gradient to zero, keeping its buffer (no allocation in the next step).
    void zero_grad() {
        if (meta_ && meta_->grad.defined()) meta_->grad.fill_(0.0);
    }
    const std::shared_ptr<autograd_meta<B>>& meta() const { return meta_; }
    void set_meta(std::shared_ptr<autograd_meta<B>> m) { meta_ = std::move(m); }

    /// Writes `value` (rounded to the storage dtype) into every element, in place; never recorded.
    void fill_(double value) {
        check(is_contiguous(), "recur::Tensor::fill_: needs a contiguous tensor, got strides ", strides_);
        switch (type_) {
            case recur::dtype::bf16:
                kernels::fill<B>::run(fill_args<std::uint16_t>{.dst = data<std::uint16_t>(),
                                                              .n = numel(),
                                                              .value = f32_to_bf16(static_cast<float>(value))});
                return;
            case recur::dtype::f16:
                kernels::fill<B>::run(fill_args<std::uint16_t>{.dst = data<std::uint16_t>(),
                                                              .n = numel(),
                                                              .value = f32_to_f16(static_cast<float>(value))});
                return;
            default:
                dispatch_elements(type_, [&]<class E>() {
                    kernels::fill<B>::run(fill_args<E>{.dst = data<E>(), .n = numel(), .value = static_cast<E>(value)});
                });
        }
    }

    /// A view over the same storage; ops and views use it, users rarely need it.
    Tensor(storage<B> st, std::int64_t offset, const Shape& shape, const Shape& strides, recur::dtype type)
        : storage_(std::move(st)), offset_(offset), shape_(shape), strides_(strides), type_(type) {}

    /// Contiguous version without recording (a copy only if needed).
    Tensor contiguous_raw() const {
        if (is_contiguous()) return *this;
        Tensor out = empty(shape_, type_);
        copy_into(out, *this, false);
        return out;
    }

    /// dst (=|+=) src elementwise for equal shapes, any strides; not recorded.
    static void copy_into(const Tensor& dst, const Tensor& src, bool accumulate) {
        check(dst.shape_ == src.shape_ && dst.type_ == src.type_, "recur::copy: destination ", dst.shape_, " ",
              dst.type_, " vs source ", src.shape_, " ", src.type_);
        check(!accumulate || src.type_ == compute_dtype, "recur::copy: accumulation needs the compute dtype");
        if (src.numel() == 0) return;
        dispatch_elements(src.type_, [&]<class E>() {
            kernels::copy_strided<B>::run(copy_strided_args<E>{.dst = dst.template data<E>(),
                                                               .dst_strides = pad4(dst.strides_, 0),
                                                               .src = src.template data<E>(),
                                                               .src_strides = pad4(src.strides_, 0),
                                                               .shape = pad4(src.shape_),
                                                               .accumulate = accumulate});
        });
    }

private:
    /// Calls f.template operator()<E>() with the C++ element type of `type`.
    template <class F>
    static void dispatch_elements(recur::dtype type, F&& f) {
        switch (type) {
            case recur::dtype::f32: f.template operator()<float>(); return;
            case recur::dtype::f64: f.template operator()<double>(); return;
            case recur::dtype::i32: f.template operator()<std::int32_t>(); return;
            case recur::dtype::bf16:
            case recur::dtype::f16: f.template operator()<std::uint16_t>(); return;
        }
    }

    storage<B> storage_;
    std::int64_t offset_ = 0;  // in elements
    Shape shape_;
    Shape strides_;  // in elements
    recur::dtype type_ = compute_dtype;
    std::shared_ptr<autograd_meta<B>> meta_;
};

/// Calls f(std::span<const T>) over the elements of a contiguous tensor of dtype T: in place on host
/// backends (no copy), through a host copy on device backends. For validating ids and targets.
template <class T, Backend B, class F>
decltype(auto) with_host_values(const Tensor<B>& x, F&& f) {
    check(x.is_contiguous(), "recur::with_host_values: needs a contiguous tensor, got shape ", x.shape(), " strides ",
          x.strides());
    if constexpr (B::is_host) {
        return f(std::span<const T>(x.template data<T>(), static_cast<std::size_t>(x.numel())));
    } else {
        const std::vector<T> host = x.template to_host<T>();
        return f(std::span<const T>(host));
    }
}

}  // namespace recur

#include <recur/autograd/tape.hpp>  // tensors always come with autograd and views
