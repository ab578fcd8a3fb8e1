// cpu GEMM through oneDNN's matmul primitive, one cached primitive per call signature (strides,
// transposes, broadcast, alpha, accumulate, precision); under matmul_precision::bf16 the operands are
// packed into bf16 copies first (AMX or avx512_bf16 where the CPU has them). Not here: attention's
// in-register tile GEMMs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include <recur/backends/cpu/core.hpp>
#include <recur/core/dtype.hpp>
#include <recur/kernels/gemm.hpp>

namespace recur::cpu_detail {

/// Everything that shapes a oneDNN matmul primitive for one gemm_args (pointers excluded).
struct gemm_key {
    std::int64_t batch, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c;
    bool trans_a, trans_b, accumulate;
    float alpha;
    matmul_precision precision;
    bool operator==(const gemm_key&) const = default;

    static gemm_key of(const gemm_args<float>& g) {
        const bool batched = g.batch > 1;  // batch strides of a single product do not matter
        return {g.batch, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, batched ? g.stride_a : 0, batched ? g.stride_b : 0,
                batched ? g.stride_c : 0, g.trans_a, g.trans_b, g.accumulate, g.alpha, g.precision};
    }
};

struct gemm_key_hash {
    std::size_t operator()(const gemm_key& key) const noexcept {
        std::size_t h = 0;
        const auto mix = [&h](std::uint64_t v) { h ^= std::hash<std::uint64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
        for (std::int64_t v : {key.batch, key.m, key.n, key.k, key.lda, key.ldb, key.ldc, key.stride_a, key.stride_b,
                               key.stride_c})
            mix(static_cast<std::uint64_t>(v));
        mix((key.trans_a ? 1u : 0u) | (key.trans_b ? 2u : 0u) | (key.accumulate ? 4u : 0u) |
            (key.precision == matmul_precision::bf16 ? 8u : 0u));
        mix(std::hash<float>{}(key.alpha));
        return h;
    }
};

/// Multiply-adds below which a product runs on the calling thread alone (created and executed with
/// one OpenMP thread): waking the team costs more than it saves, and far more when another process
/// holds a core (decoding one token at a time is made of such products).
inline constexpr std::int64_t gemm_parallel_macs = std::int64_t{1} << 17;

/// Limits OpenMP regions started on this thread to one thread for its lifetime.
class single_thread_scope {
public:
    single_thread_scope() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
    ~single_thread_scope() { omp_set_num_threads(saved_); }
    single_thread_scope(const single_thread_scope&) = delete;
    single_thread_scope& operator=(const single_thread_scope&) = delete;

private:
    int saved_;
};

/// How a bf16 copy of one GEMM operand is packed: `items` matrices (1 when the operand is shared
/// by the whole batch) of `outer` stored rows of `inner` values each, with no gaps. The stored rows
/// are the operand's rows, or its columns when it is stored transposed.
struct packed_operand {
    std::int64_t items, outer, inner;

    static packed_operand of(std::int64_t batch, std::int64_t batch_stride, std::int64_t rows, std::int64_t cols, bool trans) {
        return {batch_stride == 0 ? 1 : batch, trans ? cols : rows, trans ? rows : cols};
    }
    std::int64_t item_size() const { return outer * inner; }
    std::int64_t size() const { return items * outer * inner; }
    bool operator==(const packed_operand&) const = default;

    /// Rounds the f32 operand at `src` (stored rows `ld` apart, items `stride` apart) into `dst`.
    void round_to_bf16(std::uint16_t* dst, const float* src, std::int64_t ld, std::int64_t stride) const {
        parallel_rows(items * outer, inner, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t row = begin; row < end; ++row) {
                const std::int64_t item = row / outer, r = row % outer;
                const float* s = src + item * stride + r * ld;
                std::uint16_t* d = dst + row * inner;
                for (std::int64_t i = 0; i < inner; ++i) d[i] = f32_to_bf16(s[i]);
            }
        });
    }
};

/// One cached primitive with its memory objects; only the data handles change between calls.
struct gemm_plan {
    dnnl::matmul primitive;
    dnnl::memory a, b, c;
    std::int64_t repeats = 1;  // > 1: the primitive covers one batch item and runs once per item
    std::optional<packed_operand> bf16_a, bf16_b;  // set under matmul_precision::bf16
};

struct gemm_bf16_a_tag;
struct gemm_bf16_b_tag;

/// Process-wide oneDNN state: the engine, the stream and the primitive cache. Calls are serialised
/// (each one already uses the whole OpenMP team), which also keeps the shared stream safe.
class dnnl_context {
public:
    static dnnl_context& instance() {
        static auto* ctx = new dnnl_context;  // never destroyed: gemms may run from other statics' destructors
        return *ctx;
    }

    void run(const gemm_args<float>& g) {
        std::lock_guard lock(mutex_);
        if (g.batch * g.m * g.n * g.k < gemm_parallel_macs && omp_get_max_threads() > 1) {
            const single_thread_scope serial;
            execute(g);
        } else {
            execute(g);
        }
    }

private:
    dnnl_context() = default;

    void execute(const gemm_args<float>& g) {
        auto& slot = plans_[gemm_key::of(g)];
        if (!slot) slot = make_plan(g);
        gemm_plan& p = *slot;
        // Operand bases and the distance between batch items, in elements of the type the primitive reads.
        void* a = const_cast<float*>(g.a);
        void* b = const_cast<float*>(g.b);
        std::int64_t per_a = p.repeats > 1 ? g.stride_a : 0, per_b = p.repeats > 1 ? g.stride_b : 0, bytes = sizeof(float);
        if (p.bf16_a) {
            auto* a16 = thread_buffer<gemm_bf16_a_tag, std::uint16_t>(static_cast<std::size_t>(p.bf16_a->size()));
            auto* b16 = thread_buffer<gemm_bf16_b_tag, std::uint16_t>(static_cast<std::size_t>(p.bf16_b->size()));
            p.bf16_a->round_to_bf16(a16, g.a, g.lda, g.stride_a);
            // B reads the same values in the same packed order as A (X X^T, A A): packed once.
            const bool same = g.b == g.a && g.ldb == g.lda && g.stride_b == g.stride_a && *p.bf16_b == *p.bf16_a;
            if (!same) p.bf16_b->round_to_bf16(b16, g.b, g.ldb, g.stride_b);
            a = a16, b = same ? a16 : b16, bytes = sizeof(std::uint16_t);
            per_a = p.repeats > 1 && g.stride_a != 0 ? p.bf16_a->item_size() : 0;
            per_b = p.repeats > 1 && g.stride_b != 0 ? p.bf16_b->item_size() : 0;
        }
        for (std::int64_t i = 0; i < p.repeats; ++i) {
            p.a.set_data_handle(static_cast<char*>(a) + i * per_a * bytes);
            p.b.set_data_handle(static_cast<char*>(b) + i * per_b * bytes);
            p.c.set_data_handle(g.c + i * (p.repeats > 1 ? g.stride_c : 0));
            // The C API takes the arguments as an array: no map is built per call.
            const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p.a.get()}, {DNNL_ARG_WEIGHTS, p.b.get()}, {DNNL_ARG_DST, p.c.get()}};
            dnnl::error::wrap_c_api(dnnl_primitive_execute(p.primitive.get(), stream_.get(), 3, args),
                                    "recur::cpu gemm: executing the oneDNN matmul");
        }
    }

    /// oneDNN descriptor of one operand: (batch, rows, cols) with explicit strides; a stored
    /// transpose swaps the two matrix strides, and batch stride 0 becomes a broadcast batch of 1.
    static dnnl::memory::desc operand(std::int64_t batch, std::int64_t batch_stride, std::int64_t rows,
                                      std::int64_t cols, std::int64_t ld, bool trans,
                                      dnnl::memory::data_type type = dnnl::memory::data_type::f32) {
        const std::int64_t rs = trans ? 1 : ld, cs = trans ? ld : 1;
        const std::int64_t span = (rows - 1) * rs + (cols - 1) * cs + 1;
        const bool shared = batch_stride == 0;
        return dnnl::memory::desc({shared ? 1 : batch, rows, cols}, type, {shared ? span : batch_stride, rs, cs});
    }

    /// The descriptor of an operand's packed bf16 copy.
    static dnnl::memory::desc packed_bf16(const packed_operand& p, std::int64_t batch, std::int64_t rows,
                                          std::int64_t cols, bool trans) {
        return operand(batch, p.items > 1 ? p.item_size() : 0, rows, cols, p.inner, trans, dnnl::memory::data_type::bf16);
    }

    std::unique_ptr<gemm_plan> make_plan(const gemm_args<float>& g) const {
        if (g.precision != matmul_precision::bf16) return make_plan_of(g);
        try {
            return make_plan_of(g);
        } catch (const dnnl::error& e) {
            fail("recur::cpu gemm: this CPU has no oneDNN bf16 matmul (oneDNN: ", e.what(),
                 "); use matmul_precision::f32");
        }
    }

    std::unique_ptr<gemm_plan> make_plan_of(const gemm_args<float>& g) const {
        dnnl::primitive_attr attr;
        if (g.alpha != 1.0f) attr.set_output_scales(0, {g.alpha});
        if (g.accumulate) {
            dnnl::post_ops ops;
            ops.append_sum(1.0f);
            attr.set_post_ops(ops);
        }
        const auto build = [&](std::int64_t batch) {
            const std::int64_t sa = batch > 1 ? g.stride_a : 0, sb = batch > 1 ? g.stride_b : 0;
            const std::int64_t sc = batch > 1 ? g.stride_c : 0;
            auto p = std::make_unique<gemm_plan>();
            auto a = operand(batch, sa, g.m, g.k, g.lda, g.trans_a);
            auto b = operand(batch, sb, g.k, g.n, g.ldb, g.trans_b);
            const auto c = operand(batch, sc, g.m, g.n, g.ldc, false);
            if (g.precision == matmul_precision::bf16) {
                p->bf16_a = packed_operand::of(g.batch, g.stride_a, g.m, g.k, g.trans_a);
                p->bf16_b = packed_operand::of(g.batch, g.stride_b, g.k, g.n, g.trans_b);
                a = packed_bf16(*p->bf16_a, batch, g.m, g.k, g.trans_a);
                b = packed_bf16(*p->bf16_b, batch, g.k, g.n, g.trans_b);
            }
            p->primitive = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, engine_));
            p->a = dnnl::memory(a, engine_, DNNL_MEMORY_NONE);
            p->b = dnnl::memory(b, engine_, DNNL_MEMORY_NONE);
            p->c = dnnl::memory(c, engine_, DNNL_MEMORY_NONE);
            return p;
        };
        if (g.batch == 1) return build(1);
        try {
            return build(g.batch);
        } catch (const dnnl::error&) {  // a broadcast this oneDNN build rejects: one product per batch item
            auto p = build(1);
            p->repeats = g.batch;
            return p;
        }
    }

    dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream_{engine_};
    std::mutex mutex_;
    std::unordered_map<gemm_key, std::unique_ptr<gemm_plan>, gemm_key_hash> plans_;
};

}  // namespace recur::cpu_detail

namespace recur {

/// Whether this CPU's oneDNN has a bf16 matmul (AMX, avx512_bf16 or plain AVX-512 kernels): what
/// matmul_precision::bf16 needs on the cpu backend. Asked of oneDNN once.
inline bool cpu_has_bf16_matmul() {
    static const bool has = [] {
        using dt = dnnl::memory::data_type;
        const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
        const dnnl::memory::desc in({16, 16}, dt::bf16, dnnl::memory::format_tag::ab),
            out({16, 16}, dt::f32, dnnl::memory::format_tag::ab);
        try {
            dnnl::matmul::primitive_desc(dnnl::matmul::desc(in, in, out), engine);
            return true;
        } catch (const dnnl::error&) {
            return false;
        }
    }();
    return has;
}

}  // namespace recur

namespace recur::kernels {

template <>
struct gemm<cpu> {
    /// C_i = alpha op(A_i) op(B_i) (+ C_i) for each batch item, as documented on gemm_args.
    static void run(const gemm_args<float>& g) {
        check(g.precision != matmul_precision::tf32,
              "recur::cpu gemm: matmul precision tf32 has no CPU implementation (oneDNN has no TF32 matmul); use f32 or "
              "bf16");
        if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
        if (g.k <= 0) {  // an empty sum: C = 0, or C unchanged when accumulating
            if (g.accumulate) return;
            for (std::int64_t i = 0; i < g.batch; ++i)
                for (std::int64_t r = 0; r < g.m; ++r) std::fill_n(g.c + i * g.stride_c + r * g.ldc, g.n, 0.0f);
            return;
        }
        cpu_detail::dnnl_context::instance().run(g);
    }
};

}  // namespace recur::kernels
