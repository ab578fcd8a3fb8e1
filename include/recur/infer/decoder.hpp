// decoder<B, Model>: prefill and incremental decoding with a KV cache for an ordinary LlamaModel or a
// Recurrent model (per-iteration cache sharing, adaptive exit, continuous compute). Not here: sampling
// and the generation loop (generate.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <recur/infer/adaptive.hpp>
#include <recur/infer/kv_cache.hpp>
#include <recur/nn/llama.hpp>
#include <recur/recurrence/recurrent.hpp>

namespace recur {

/// How a decoder runs a recurrent model (ignored, except the cache's capacity, for ordinary models).
struct decode_options {
    std::int64_t r = 0;  ///< iterations per token (the maximum under adaptive exit); 0: the model's mean_r
    cache_policy cache;
    exit_options exit;
    bool continuous = false;  ///< a decoded token's s_0 is the previous token's final latent
};

/// Runs a model token by token against a KV cache for `rows` independent sequences of up to
/// `capacity` positions each. Rows may hold prompts of different lengths; step() advances any subset.
/// Nothing is recorded for backward. The model must outlive the decoder.
template <Backend B, class Model>
class decoder {
public:
    decoder(const Model& m, const decode_options& o, std::int64_t rows, std::int64_t capacity)
        : model_(&m), options_(o), length_(static_cast<std::size_t>(std::max<std::int64_t>(rows, 0)), 0) {
        const auto& c = m.config;
        check(rows >= 1, "recur::decoder: rows must be >= 1, got ", rows);
        check(capacity >= 1 && capacity <= c.max_seq_len, "recur::decoder: capacity ", capacity,
              " must be in [1, max_seq_len ", c.max_seq_len, "]");
        o.exit.validate();
        kv_cache_layout l{rows, capacity, c.n_kv_heads, c.resolved_head_dim(), 0, 0};
        if constexpr (RecurrentModel<Model>) {
            if (options_.r == 0) options_.r = m.options.mean_r;
            check(options_.r >= 1, "recur::decoder: r must be >= 1, got ", options_.r);
            l.fixed_layers = static_cast<std::int64_t>(m.prelude.size() + m.coda.size());
            l.core_layers = static_cast<std::int64_t>(m.core.size());
            last_state_ = Tensor<B>::zeros({rows, 1, c.d_model});
        } else {
            options_.r = 1;
            l.fixed_layers = static_cast<std::int64_t>(m.layers.size());
        }
        cache_ = kv_cache<B>(l, o.cache);
        monitors_.assign(static_cast<std::size_t>(rows), exit_monitor(o.exit));
    }

    const decode_options& options() const { return options_; }
    const kv_cache<B>& cache() const { return cache_; }
    std::int64_t rows() const { return std::ssize(length_); }
    /// Tokens row `row` holds so far.
    std::int64_t length(std::int64_t row) const { return length_.at(static_cast<std::size_t>(row)); }
    /// Iterations each row of the last step() ran (r for an ordinary model: 1).
    std::span<const std::int64_t> last_iterations() const { return iterations_; }
    /// Final latent state (1, 1, C) of a row's latest token (recurrent models only).
    Tensor<B> last_state(std::int64_t row) const { return last_state_.slice(0, row, 1).clone(); }

    /// Appends `ids` (T >= 1 tokens) to row `row`, all at the full depth r. Returns the logits (T, V)
    /// of every token when all_logits, else (1, V) of the last one.
    Tensor<B> prefill(std::int64_t row, std::span<const std::int32_t> ids, bool all_logits = false) {
        check(!ids.empty(), "recur::decoder::prefill: no tokens for row ", row);
        const std::int64_t rows_in[] = {row};
        return extend(rows_in, ids, std::ssize(ids), all_logits);
    }

    /// Appends t >= 1 tokens to each listed row (distinct rows): `ids` holds them row-major (N, t).
    /// A recurrent model runs `r` iterations for every token (0: options().r; no adaptive exit), all
    /// rows together. Returns the logits (N * t, V) of every token when all_logits, else (N, V) of each
    /// row's last one. Self-speculative decoding drafts and verifies through this.
    Tensor<B> extend(std::span<const std::int64_t> rows_in, std::span<const std::int32_t> ids, std::int64_t t,
                     bool all_logits = false, std::int64_t r = 0) {
        no_grad off;
        const auto n = std::ssize(rows_in);
        check(n >= 1 && t >= 1 && std::ssize(ids) == n * t, "recur::decoder::extend: ", ids.size(), " tokens for ", n,
              " rows of ", t);
        if (r == 0) r = options_.r;
        check(r >= 1, "recur::decoder::extend: r must be >= 1, got ", r);
        std::vector<std::int64_t> pos = positions(rows_in, t, "extend");
        Tensor<B> x = model_->embed_tokens.forward(Tensor<B>::from_host(ids, {n, t}));
        if constexpr (RecurrentModel<Model>) {
            const Model& m = *model_;
            const Tensor<B> e = m.prelude.forward_cached(x, rows_in, pos, prelude_cache());
            Tensor<B> s = initial_states(e, pos);
            for (std::int64_t i = 0; i < r; ++i) s = m.core.forward_cached(m.inject(s, e), rows_in, pos, cache_.core(i));
            cache_.finish(rows_in, pos, t, r);
            for (std::int64_t i = 0; i < n; ++i)
                Tensor<B>::copy_into(last_state_.slice(0, rows_in[static_cast<std::size_t>(i)], 1), s.slice(0, i, 1).slice(1, t - 1, 1),
                                     false);
            x = m.coda.forward_cached(s, rows_in, pos, coda_cache());
        } else {
            x = model_->layers.forward_cached(x, rows_in, pos, cache_.fixed(0, cache_.layout().fixed_layers));
        }
        for (const auto row : rows_in) length_[static_cast<std::size_t>(row)] += t;
        if (!all_logits) x = x.slice(1, t - 1, 1);
        return head(x).reshape({x.size(0) * x.size(1), model_->config.vocab_size});
    }

    /// Forgets row `row`'s tokens from position `length` on (0 <= length <= length(row)): the next
    /// token goes to `length`, and the cache entries beyond it are never read again. Not with
    /// continuous compute, whose carried latent belongs to the forgotten token.
    void rewind(std::int64_t row, std::int64_t length) {
        check(row >= 0 && row < rows(), "recur::decoder::rewind: row ", row, " outside [0, ", rows(), ")");
        check(length >= 0 && length <= this->length(row), "recur::decoder::rewind: row ", row, " holds ", this->length(row),
              " tokens; cannot rewind to ", length);
        check(!options_.continuous || length == this->length(row),
              "recur::decoder::rewind: continuous compute cannot rewind (its carried latent is the latest token's)");
        length_[static_cast<std::size_t>(row)] = length;
    }

    /// Feeds one token to each listed row (distinct rows) and returns the next-token logits (N, V).
    /// A recurrent model runs up to r iterations per token, fewer where the exit rule holds.
    Tensor<B> step(std::span<const std::int64_t> rows_in, std::span<const std::int32_t> tokens) {
        no_grad off;
        const auto n = std::ssize(rows_in);
        check(n >= 1 && std::ssize(tokens) == n, "recur::decoder::step: ", tokens.size(), " tokens for ", n, " rows");
        const std::vector<std::int64_t> pos = positions(rows_in, 1, "step");
        const Tensor<B> x = model_->embed_tokens.forward(Tensor<B>::from_host(tokens, {n, 1}));
        Tensor<B> logits;
        if constexpr (RecurrentModel<Model>) {
            logits = recurrent_step(x, rows_in, pos);
        } else {
            iterations_.assign(static_cast<std::size_t>(n), 1);
            logits = head(model_->layers.forward_cached(x, rows_in, pos, cache_.fixed(0, cache_.layout().fixed_layers)));
        }
        for (const auto row : rows_in) ++length_[static_cast<std::size_t>(row)];
        return logits.reshape({n, model_->config.vocab_size});
    }

private:
    /// Where t new tokens of each listed row go; checks the rows are distinct, exist and have room.
    std::vector<std::int64_t> positions(std::span<const std::int64_t> rows_in, std::int64_t t, const char* who) const {
        std::vector<char> seen(length_.size(), 0);
        std::vector<std::int64_t> pos;
        pos.reserve(rows_in.size());
        for (const auto row : rows_in) {
            check(row >= 0 && row < rows(), "recur::decoder::", who, ": row ", row, " outside [0, ", rows(), ")");
            check(!seen[static_cast<std::size_t>(row)], "recur::decoder::", who, ": row ", row, " listed twice");
            seen[static_cast<std::size_t>(row)] = 1;
            check(length(row) + t <= cache_.layout().capacity, "recur::decoder: row ", row, " holds ", length(row), " tokens; ",
                  t, " more exceed the capacity ", cache_.layout().capacity);
            pos.push_back(length(row));
        }
        return pos;
    }
    std::span<const kv_buffers<B>> prelude_cache() const {
        return cache_.fixed(0, static_cast<std::int64_t>(model_->prelude.size()));
    }
    std::span<const kv_buffers<B>> coda_cache() const {
        return cache_.fixed(static_cast<std::int64_t>(model_->prelude.size()), static_cast<std::int64_t>(model_->coda.size()));
    }
    /// Final norm and LM head of hidden states h (N, T, C) -> (N, T, V).
    Tensor<B> head(const Tensor<B>& h) const {
        if constexpr (RecurrentModel<Model>) return model_->lm_head.forward(model_->norm.forward(h));
        else return model_->head(model_->norm.forward(h));
    }
    /// Each row's initial latent state for its embedded tokens e (N, T, C) starting at position pos[i].
    Tensor<B> initial_states(const Tensor<B>& e, std::span<const std::int64_t> pos) const {
        Tensor<B> s = Tensor<B>::empty(e.shape());
        for (std::int64_t i = 0; i < e.size(0); ++i)
            Tensor<B>::copy_into(s.slice(0, i, 1), model_->initial_state(e.slice(0, i, 1), 0, pos[static_cast<std::size_t>(i)]), false);
        return s;
    }
    /// Rows idx of x (N, ...) as a new tensor.
    static Tensor<B> gather(const Tensor<B>& x, std::span<const std::int64_t> idx) {
        Shape s = x.shape();
        s[0] = std::ssize(idx);
        Tensor<B> out = Tensor<B>::empty(s);
        for (std::size_t i = 0; i < idx.size(); ++i) Tensor<B>::copy_into(out.slice(0, static_cast<std::int64_t>(i), 1), x.slice(0, idx[i], 1), false);
        return out;
    }
    /// dst[idx[i]] = src[i].
    static void scatter(const Tensor<B>& dst, std::span<const std::int64_t> idx, const Tensor<B>& src) {
        for (std::size_t i = 0; i < idx.size(); ++i) Tensor<B>::copy_into(dst.slice(0, idx[i], 1), src.slice(0, static_cast<std::int64_t>(i), 1), false);
    }

    Tensor<B> recurrent_step(const Tensor<B>& x, std::span<const std::int64_t> rows_in, std::span<const std::int64_t> pos) {
        const Model& m = *model_;
        const auto n = std::ssize(rows_in);
        const Tensor<B> e = m.prelude.forward_cached(x, rows_in, pos, prelude_cache());  // (N, 1, C)
        Tensor<B> s;
        if (options_.continuous) {
            s = gather(last_state_, rows_in);
        } else {
            s = initial_states(e, pos);
        }
        iterations_.assign(static_cast<std::size_t>(n), 0);
        for (const auto row : rows_in) monitors_[static_cast<std::size_t>(row)].reset();
        const exit_options& rule = options_.exit;
        Tensor<B> logits = Tensor<B>::empty({n, 1, m.config.vocab_size});
        std::vector<std::int64_t> active(static_cast<std::size_t>(n)), active_rows, active_pos, done, waiting;
        for (std::int64_t i = 0; i < n; ++i) active[static_cast<std::size_t>(i)] = i;
        for (std::int64_t it = 0; it < options_.r && !active.empty(); ++it) {
            const bool all = std::ssize(active) == n;
            active_rows.clear();
            active_pos.clear();
            for (const auto i : active) {
                active_rows.push_back(rows_in[static_cast<std::size_t>(i)]);
                active_pos.push_back(pos[static_cast<std::size_t>(i)]);
            }
            const Tensor<B> s_in = all ? s : gather(s, active);
            const Tensor<B> s_out = m.core.forward_cached(m.inject(s_in, all ? e : gather(e, active)), active_rows, active_pos,
                                                          cache_.core(it));
            const bool last = it + 1 == options_.r;
            Tensor<B> step_logits;  // (Na, 1, V) when the rule reads distributions
            std::vector<float> host_logits, before, after;
            if (rule.needs_logits() && !last) {
                step_logits = head(m.coda.forward_cached(s_out, active_rows, active_pos, coda_cache()));
                host_logits = step_logits.template to_host<float>();
            }
            if (rule.criterion == exit_criterion::latent) {
                before = s_in.template to_host<float>();
                after = s_out.template to_host<float>();
            }
            done.clear();
            waiting.clear();
            const auto v = static_cast<std::size_t>(m.config.vocab_size), c = static_cast<std::size_t>(m.config.d_model);
            for (std::size_t a = 0; a < active.size(); ++a) {
                const auto i = static_cast<std::size_t>(active[a]);
                ++iterations_[i];
                bool stop = last;
                if (!last && rule.criterion != exit_criterion::none) {
                    const std::span<const float> l =
                        host_logits.empty() ? std::span<const float>() : std::span<const float>(host_logits).subspan(a * v, v);
                    const double change = before.empty() ? 0.0 : relative_change(std::span<const float>(before).subspan(a * c, c),
                                                                                 std::span<const float>(after).subspan(a * c, c));
                    stop = monitors_[static_cast<std::size_t>(active_rows[a])].update(l, change);
                }
                (stop ? done : waiting).push_back(static_cast<std::int64_t>(a));
            }
            scatter(s, active, s_out);
            if (!done.empty()) {
                std::vector<std::int64_t> done_idx, done_rows, done_pos;
                for (const auto a : done) {
                    done_idx.push_back(active[static_cast<std::size_t>(a)]);
                    done_rows.push_back(active_rows[static_cast<std::size_t>(a)]);
                    done_pos.push_back(active_pos[static_cast<std::size_t>(a)]);
                }
                cache_.finish(done_rows, done_pos, 1, it + 1);
                // Stopped rows read out their final state; a rule that reads distributions already did.
                const Tensor<B> out = step_logits.defined()
                                          ? gather(step_logits, done)
                                          : head(m.coda.forward_cached(gather(s, done_idx), done_rows, done_pos, coda_cache()));
                scatter(logits, done_idx, out);
            }
            std::vector<std::int64_t> next;
            for (const auto a : waiting) next.push_back(active[static_cast<std::size_t>(a)]);
            active.swap(next);
        }
        for (std::int64_t i = 0; i < n; ++i)
            Tensor<B>::copy_into(last_state_.slice(0, rows_in[static_cast<std::size_t>(i)], 1), s.slice(0, i, 1), false);
        return logits;
    }

    static double relative_change(std::span<const float> before, std::span<const float> after) {
        double num = 0, den = 0;
        for (std::size_t j = 0; j < after.size(); ++j) {
            const double d = static_cast<double>(after[j]) - before[j];
            num += d * d;
            den += static_cast<double>(after[j]) * after[j];
        }
        return den > 0 ? std::sqrt(num / den) : 0.0;
    }

    const Model* model_;
    decode_options options_;
    kv_cache<B> cache_;
    std::vector<std::int64_t> length_;      // tokens held per row
    std::vector<std::int64_t> iterations_;  // per row of the last step
    std::vector<exit_monitor> monitors_;    // per row
    Tensor<B> last_state_;                  // (R, 1, C) final latent of each row's latest token
};

}  // namespace recur
