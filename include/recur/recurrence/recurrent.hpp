// Recurrent<B, Prelude, Core, Coda>: embedding -> prelude -> state init -> r x [injection -> core]
// -> coda -> final norm -> LM head, with the first n iterations run under no_grad (truncated backprop).
// Not here: how (n, k) are drawn (sampler.hpp), loading checkpoints (io/), KV caches and decoding (infer/).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <recur/kernels/random.hpp>
#include <recur/nn/blocks.hpp>
#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/nn/llama.hpp>
#include <recur/ops/concat.hpp>
#include <recur/recurrence/sampler.hpp>

namespace recur {

/// Initial latent state s_0 from the prelude output e.
enum class state_init {
    truncated_normal,  ///< N(0, std^2), std = sqrt(2 / (5 d)) * init_scale * embed_scale, cut at +-3 std
    zeros,
    copy_embedding,  ///< s_0 = e
};

/// How e enters every iteration.
enum class injection {
    concat_adapter,  ///< core(adapter([s ; e])), adapter Linear(2d -> d) without bias
    additive,        ///< core(s + e)
};

/// Initial adapter weights.
enum class adapter_init {
    random,       ///< N(0, init_std^2), like any other linear layer
    passthrough,  ///< [0 | I]: ignores the state, forwards e (r = 1 then equals the pruned model)
};

struct recurrence_options {
    state_init init = state_init::truncated_normal;
    double init_scale = 1.0;
    injection inject = injection::concat_adapter;
    adapter_init adapter = adapter_init::random;
    std::uint64_t seed = 0;  ///< seeds the state noise together with the step
    std::int64_t mean_r = 4;          ///< default recurrence for evaluation and the training target r_bar
    std::int64_t backprop_depth = 8;  ///< default s: iterations with gradient in training
};

/// Which source layers go to each part (indices into a LlamaModel's layers); layers not listed are dropped.
struct surgery_spec {
    std::vector<std::int64_t> prelude, core, coda;

    /// Throws recur::error unless every index is in [0, source_layers), indices increase strictly
    /// across prelude, core and coda (so none repeats), and the core is not empty.
    /// A negative source_layers skips the upper bound (a fresh model has no source).
    void validate(std::int64_t source_layers) const {
        std::int64_t last = -1;
        for (const auto* part : {&prelude, &core, &coda})
            for (const auto i : *part) {
                check(i >= 0 && (source_layers < 0 || i < source_layers), "recur::surgery_spec: layer ", i,
                      " is outside the source's ", source_layers, " layers");
                check(i > last, "recur::surgery_spec: layer indices must be increasing and unique across prelude, "
                      "core and coda, got ", i, " after ", last);
                last = i;
            }
        check(!core.empty(), "recur::surgery_spec: the recurrent core needs at least one layer");
    }
    /// Contiguous parts of p, c and q layers numbered from 0.
    static surgery_spec contiguous(std::int64_t p, std::int64_t c, std::int64_t q) {
        surgery_spec s;
        for (std::int64_t i = 0; i < p + c + q; ++i) (i < p ? s.prelude : i < p + c ? s.core : s.coda).push_back(i);
        return s;
    }
    bool operator==(const surgery_spec&) const = default;
};

/// Optional per-forward outputs.
template <Backend B>
struct recurrence_trace {
    Tensor<B> warm_state;                 ///< s_n, where the recorded iterations start (B, T, C)
    Tensor<B> final_state;                ///< s_r (B, T, C)
    std::vector<double> relative_change;  ///< ||s_i - s_{i-1}|| / ||s_i|| for i = 1..r
};

/// The depth-recurrent decoder of docs/method.md section 1, generic over the three stacks.
template <Backend B, class Prelude = Stack<LlamaBlock<B>>, class Core = Stack<LlamaBlock<B>>,
          class Coda = Stack<LlamaBlock<B>>>
    requires Block<Prelude, B> && Block<Core, B> && Block<Coda, B>
struct Recurrent {
    model_config config;  // widths; n_layers is unused (the stacks say how deep each part is)
    recurrence_options options;
    std::shared_ptr<const rope_table<B>> rope_cache;
    Embedding<B> embed_tokens;
    Prelude prelude;
    Linear<B> adapter;  // (d, 2d), concat_adapter only
    Core core;
    Coda coda;
    RMSNorm<B> norm;
    Linear<B> lm_head;  // always untied

    Recurrent() = default;
    /// Fresh random model with (p, c, q) layers in the three parts.
    Recurrent(const model_config& c, std::int64_t p, std::int64_t r_layers, std::int64_t q, const recurrence_options& o,
              std::uint64_t seed)
        : Recurrent(c, surgery_spec::contiguous(p, r_layers, q), o, seed) {}
    /// Fresh random model whose parts are named by the spec's layer indices (a loader then fills them).
    Recurrent(const model_config& c, const surgery_spec& spec, const recurrence_options& o, std::uint64_t seed)
        : Recurrent(c, spec, o, rng(seed)) {}
    /// Parameters drawn from `gen`; with rng::for_loading(), zeros of the right shapes for a loader.
    Recurrent(const model_config& c, const surgery_spec& spec, const recurrence_options& o, rng gen)
        : config(c), options(o) {
        c.validate();
        spec.validate(-1);
        rope_cache = std::make_shared<const rope_table<B>>(c.rope, c.resolved_head_dim(), c.max_seq_len);
        embed_tokens = Embedding<B>(c.vocab_size, c.d_model, gen, c.init_std, c.embed_scale);
        prelude = Prelude(spec.prelude, c, rope_cache, gen);
        core = Core(spec.core, c, rope_cache, gen);
        coda = Coda(spec.coda, c, rope_cache, gen);
        norm = RMSNorm<B>(c.d_model, c.norm_eps);
        lm_head = Linear<B>(c.d_model, c.vocab_size, false, gen, c.init_std);
        init_adapter(gen);
    }

    /// The layer indices of the three parts (source numbering).
    surgery_spec spec() const { return {prelude.index, core.index, coda.index}; }

    void init_adapter(rng& gen) {
        if (options.inject != injection::concat_adapter) {
            adapter = Linear<B>();
            return;
        }
        const std::int64_t d = config.d_model;
        if (options.adapter == adapter_init::random) {
            adapter = Linear<B>(2 * d, d, false, gen, config.init_std);
            return;
        }
        std::vector<double> w(static_cast<std::size_t>(2 * d * d), 0.0);
        for (std::int64_t i = 0; i < d; ++i) w[static_cast<std::size_t>(i * 2 * d + d + i)] = 1.0;
        adapter.weight = Tensor<B>::from_host(w, {d, 2 * d}).set_requires_grad();
        adapter.bias = Tensor<B>();
    }

    /// Logits (B, T, V) after split.n iterations without gradient and split.k recorded ones.
    /// `step` seeds the state noise (with options.seed), so a step is reproducible on every rank.
    /// A defined `start` (B, T, C) replaces s_0 (continuous compute: a previous latent).
    Tensor<B> forward(const Tensor<B>& ids, iteration_split split, std::uint64_t step = 0,
                      recurrence_trace<B>* trace = nullptr, const Tensor<B>& start = Tensor<B>()) const {
        check(ids.dim() == 2, "recur::Recurrent: ids must be (B, T), got ", ids.shape());
        check(split.n >= 0 && split.k >= 0 && split.n + split.k >= 1, "recur::Recurrent: iterations n ", split.n,
              " and k ", split.k, " must be >= 0 with n + k >= 1");
        const Tensor<B> e = encode(ids);  // (B, T, C)
        check(!start.defined() || start.shape() == e.shape(), "recur::Recurrent: start state ", start.shape(),
              " does not match the prelude output ", e.shape());
        Tensor<B> s = start.defined() ? start : initial_state(e, step);
        if (trace) trace->relative_change.clear();
        {
            no_grad off;  // truncated backprop: nothing recorded, nothing saved
            for (std::int64_t i = 0; i < split.n; ++i) s = iterate(s, e, trace);
        }
        if (trace) trace->warm_state = s.detach();
        for (std::int64_t i = 0; i < split.k; ++i) s = iterate(s, e, trace);
        if (trace) trace->final_state = s.detach();
        return decode(s);
    }
    /// Fixed r iterations (inference or the fixed training mode with all r recorded when grad is on).
    Tensor<B> forward(const Tensor<B>& ids, std::int64_t r) const { return forward(ids, iteration_split{0, r}); }

    /// Logits (B, T, V) after each of the iteration counts `rs` (strictly increasing, >= 1), from one
    /// pass of rs.back() iterations: the same values as forward(ids, r) for each r at a fraction of
    /// the cost (test-time sweeps over r). Throws recur::error on an empty or unordered list.
    std::vector<Tensor<B>> forward_at(const Tensor<B>& ids, const std::vector<std::int64_t>& rs, std::uint64_t step = 0) const {
        check(ids.dim() == 2, "recur::Recurrent: ids must be (B, T), got ", ids.shape());
        check(!rs.empty(), "recur::Recurrent::forward_at: no iteration counts given");
        for (std::size_t i = 0; i < rs.size(); ++i)
            check(rs[i] >= 1 && (i == 0 || rs[i] > rs[i - 1]), "recur::Recurrent::forward_at: iteration counts must be "
                  ">= 1 and strictly increasing, got ", rs[i], i == 0 ? "" : " after ", i == 0 ? 0 : rs[i - 1]);
        const Tensor<B> e = encode(ids);
        Tensor<B> s = initial_state(e, step);
        std::vector<Tensor<B>> out;
        for (std::int64_t i = 1; i <= rs.back(); ++i) {
            s = iterate(s, e, nullptr);
            if (i == rs[out.size()]) out.push_back(decode(s));
        }
        return out;
    }

    /// The prelude's output e (B, T, C) for token ids (B, T): what every iteration is given.
    Tensor<B> encode(const Tensor<B>& ids) const { return prelude.forward(embed_tokens.forward(ids)); }

    /// Logits (B, T, V) from a final state s (B, T, C): coda, norm, LM head.
    Tensor<B> decode(const Tensor<B>& s) const { return lm_head.forward(norm.forward(coda.forward(s))); }

    /// s_0 for the prelude output e (B, T, C) whose tokens sit at positions pos0 .. pos0 + T - 1.
    /// The noise of element (b, t, c) is a function of (options.seed, step, b, pos0 + t, c) alone, so a
    /// token decoded on its own gets the state it has inside a full-sequence forward.
    Tensor<B> initial_state(const Tensor<B>& e, std::uint64_t step, std::int64_t pos0 = 0) const {
        switch (options.init) {
            case state_init::zeros: return Tensor<B>::zeros(e.shape());
            case state_init::copy_embedding: return e;
            case state_init::truncated_normal: break;
        }
        const double std =
            std::sqrt(2.0 / (5.0 * static_cast<double>(config.d_model))) * options.init_scale * config.embed_scale;
        Tensor<B> s = Tensor<B>::empty(e.shape());
        if (s.numel() > 0)
            kernels::keyed_truncated_normal<B>::run({.out = s.template data<typename B::scalar>(),
                                                     .batch = e.size(0),
                                                     .t = e.size(1),
                                                     .c = e.size(2),
                                                     .base = keyed::mix(options.seed, step),
                                                     .pos0 = pos0,
                                                     .std = std});
        return s;
    }

    /// The core's input for state s and prelude output e: adapter([s ; e]) or s + e.
    Tensor<B> inject(const Tensor<B>& s, const Tensor<B>& e) const {
        return options.inject == injection::concat_adapter ? adapter.forward(concat({s, e})) : add(s, e);
    }

    /// Mean next-token loss for a training step.
    Tensor<B> loss(const Tensor<B>& ids, const Tensor<B>& targets, iteration_split split, std::uint64_t step = 0) const {
        return cross_entropy(forward(ids, split, step), targets);
    }

    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        embed_tokens.visit_parameters(join_name(prefix, "model.embed_tokens"), f);
        prelude.visit_parameters(join_name(prefix, "model.prelude"), f);
        if (adapter.weight.defined()) adapter.visit_parameters(join_name(prefix, "model.adapter"), f);
        core.visit_parameters(join_name(prefix, "model.core"), f);
        coda.visit_parameters(join_name(prefix, "model.coda"), f);
        norm.visit_parameters(join_name(prefix, "model.norm"), f);
        lm_head.visit_parameters(join_name(prefix, "lm_head"), f);
    }

private:
    Tensor<B> iterate(const Tensor<B>& s, const Tensor<B>& e, recurrence_trace<B>* trace) const {
        Tensor<B> next = core.forward(inject(s, e));
        if (trace) {
            no_grad off;
            const Tensor<B> d = add(next, scale(s, -1.0));
            const double num = sum(mul(d, d)).item(), den = sum(mul(next, next)).item();
            trace->relative_change.push_back(den > 0 ? std::sqrt(num / den) : 0.0);
        }
        return next;
    }
};

/// The Recurrent whose prelude, core and coda are stacks of one block type: every model recur
/// builds, retrofits, saves and loads (RecurrentOf<B> is Recurrent<B>; RecurrentOf<B, SandwichBlock<B>>).
template <Backend B, class BlockT = LlamaBlock<B>>
using RecurrentOf = Recurrent<B, Stack<BlockT>, Stack<BlockT>, Stack<BlockT>>;

template <class M>
inline constexpr bool is_recurrent_v = false;
template <Backend B, class P, class C, class Q>
inline constexpr bool is_recurrent_v<Recurrent<B, P, C, Q>> = true;

/// A depth-recurrent model (some Recurrent<...>), as opposed to an ordinary decoder: the one
/// predicate the trainer, the decoder and the tools branch on.
template <class M>
concept RecurrentModel = is_recurrent_v<std::remove_cvref_t<M>>;

/// Builds a Recurrent model from a LlamaModel's layers, copying weights (no sharing with the source);
/// embedding and head untied (a tied source head is copied from the embedding).
template <Backend B, class BlockT>
RecurrentOf<B, BlockT> retrofit(const LlamaModel<B, BlockT>& source,
                                                                  const surgery_spec& spec, const recurrence_options& o,
                                                                  std::uint64_t seed) {
    spec.validate(static_cast<std::int64_t>(source.layers.size()));
    RecurrentOf<B, BlockT> m;
    m.config = source.config;
    m.options = o;
    m.rope_cache = source.rope_cache;
    auto copy_stack = [&](const std::vector<std::int64_t>& idx, Stack<BlockT>& out) {
        for (const auto i : idx) {
            out.blocks.push_back(source.layers.blocks[static_cast<std::size_t>(i)]);
            out.index.push_back(i);
        }
    };
    copy_stack(spec.prelude, m.prelude);
    copy_stack(spec.core, m.core);
    copy_stack(spec.coda, m.coda);
    m.embed_tokens = source.embed_tokens;
    m.norm = source.norm;
    m.lm_head.weight = source.config.tie_embeddings ? source.embed_tokens.weight : source.lm_head.weight;
    rng gen(seed);
    m.init_adapter(gen);
    // Detach every copied weight from the source: own storage, fresh gradients.
    m.visit_parameters("", [](const std::string&, Tensor<B>& t) { t = t.clone().set_requires_grad(); });
    return m;
}

}  // namespace recur
