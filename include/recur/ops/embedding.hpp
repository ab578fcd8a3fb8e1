// embedding: rows of a (V, C) table gathered by i32 ids; backward scatters into the touched rows.
// Not here: tied LM heads (a matmul with the same table; see nn/).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/embedding.hpp>

namespace recur {

template <Backend B>
struct embedding_op {
    static constexpr std::string_view name = "embedding";
    Tensor<B> ids;  // (N) i32, contiguous
    void backward(Tensor<B> dy, grad_sink<B>& g) {  // dy (..., C)
        using T = typename B::scalar;
        if (!g.needs(1)) return;
        kernels::embedding<B>::backward({.dtable = g.buffer(1).template data<T>(),
                                         .ids = ids.template data<std::int32_t>(),
                                         .dout = dy.template data<T>(),
                                         .n = ids.numel(),
                                         .c = dy.size(-1)});
    }
};

/// table[ids]: ids (...) of dtype i32, table (V, C) -> (..., C). An id outside [0, V) throws recur::error.
template <Backend B>
Tensor<B> embedding(const Tensor<B>& ids, const Tensor<B>& table) {
    using T = typename B::scalar;
    check(ids.dtype() == dtype::i32, "recur::embedding: ids must be i32, got ", ids.dtype());
    check(table.dim() == 2 && table.dtype() == Tensor<B>::compute_dtype, "recur::embedding: table must be (V, C) ",
          Tensor<B>::compute_dtype, ", got ", table.shape(), " ", table.dtype());
    check(ids.dim() < max_dims, "recur::embedding: ids of shape ", ids.shape(), " leave no room for the channel dim");
    const Tensor<B> ic = ids.contiguous_raw(), tc = table.contiguous();
    const std::int64_t vocab = table.size(0);
    with_host_values<std::int32_t>(ic, [&](std::span<const std::int32_t> host_ids) {
        for (std::size_t i = 0; i < host_ids.size(); ++i)
            check(host_ids[i] >= 0 && host_ids[i] < vocab, "recur::embedding: id ", host_ids[i], " at position ", i,
                  " is outside the table's ", vocab, " rows");
    });
    std::vector<std::int64_t> dims(ids.shape().dims().begin(), ids.shape().dims().end());
    dims.push_back(table.size(1));
    Tensor<B> y = Tensor<B>::empty(Shape(std::span<const std::int64_t>(dims)));
    if (y.numel() > 0)
        kernels::embedding<B>::forward({.out = y.template data<T>(),
                                        .ids = ic.template data<std::int32_t>(),
                                        .table = tc.template data<T>(),
                                        .n = ic.numel(),
                                        .c = table.size(1)});
    if (recording(tc)) record(embedding_op<B>{ic}, y, Tensor<B>(), tc);
    return y;
}

}  // namespace recur
