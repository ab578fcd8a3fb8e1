// Shape and strides of a tensor: up to four dimensions, printable, with negative-index access.
// Not here: broadcasting rules (each op states its own) or symbolic dimensions.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <sstream>
#include <string>

#include <recur/core/error.hpp>

namespace recur {

/// Maximum number of dimensions of a tensor.
inline constexpr int max_dims = 4;

/// Up to four extents; dimension letters used across recur: B batch, T time, H heads, D head dim,
/// C channels, V vocabulary, N flattened rows.
class Shape {
public:
    constexpr Shape() = default;
    Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}
    explicit Shape(std::span<const std::int64_t> dims) {
        check(dims.size() <= max_dims, "recur::Shape: ", dims.size(), " dimensions given, at most ", max_dims, " supported");
        for (std::size_t i = 0; i < dims.size(); ++i) {
            check(dims[i] >= 0, "recur::Shape: dimension ", i, " is negative (", dims[i], ")");
            d_[i] = dims[i];
        }
        n_ = static_cast<int>(dims.size());
    }

    constexpr int dim() const { return n_; }
    constexpr std::int64_t operator[](int i) const { return d_[static_cast<std::size_t>(i)]; }
    constexpr std::int64_t& operator[](int i) { return d_[static_cast<std::size_t>(i)]; }
    /// Extent of dimension i; negative i counts from the back (-1 is the last).
    std::int64_t size(int i) const { return d_[static_cast<std::size_t>(normalize(i))]; }
    constexpr std::int64_t numel() const {
        std::int64_t n = 1;
        for (int i = 0; i < n_; ++i) n *= d_[static_cast<std::size_t>(i)];
        return n;
    }
    /// Product of all dimensions but the last: the number of rows of a (N, C) view.
    constexpr std::int64_t rows() const {
        std::int64_t n = 1;
        for (int i = 0; i + 1 < n_; ++i) n *= d_[static_cast<std::size_t>(i)];
        return n;
    }
    constexpr std::int64_t last() const { return n_ == 0 ? 1 : d_[static_cast<std::size_t>(n_ - 1)]; }
    int normalize(int i) const {
        const int j = i < 0 ? i + n_ : i;
        if (j < 0 || j >= n_) fail("recur::Shape: dimension index ", i, " out of range for ", to_string());  // message only on failure
        return j;
    }
    std::span<const std::int64_t> dims() const { return {d_.data(), static_cast<std::size_t>(n_)}; }

    friend constexpr bool operator==(const Shape& a, const Shape& b) {
        if (a.n_ != b.n_) return false;
        for (int i = 0; i < a.n_; ++i)
            if (a.d_[static_cast<std::size_t>(i)] != b.d_[static_cast<std::size_t>(i)]) return false;
        return true;
    }

    std::string to_string() const {
        std::ostringstream os;
        os << *this;
        return os.str();
    }
    friend std::ostream& operator<<(std::ostream& os, const Shape& s) {
        os << '(';
        for (int i = 0; i < s.n_; ++i) os << (i ? ", " : "") << s.d_[static_cast<std::size_t>(i)];
        return os << ')';
    }

private:
    std::array<std::int64_t, max_dims> d_{};
    int n_ = 0;
};

/// Row-major (C-order) strides of a shape, in elements.
inline Shape contiguous_strides(const Shape& s) {
    Shape st = s;
    std::int64_t acc = 1;
    for (int i = s.dim() - 1; i >= 0; --i) {
        st[i] = acc;
        acc *= s[i];
    }
    return st;
}

/// Four-dimensional index space with leading ones, used by strided kernels.
struct index4 {
    std::array<std::int64_t, 4> v{1, 1, 1, 1};
};

/// Pads a shape (extents) to four dimensions with leading ones.
inline index4 pad4(const Shape& s, std::int64_t fill = 1) {
    index4 r;
    r.v = {fill, fill, fill, fill};
    for (int i = 0; i < s.dim(); ++i) r.v[static_cast<std::size_t>(4 - s.dim() + i)] = s[i];
    return r;
}

}  // namespace recur
