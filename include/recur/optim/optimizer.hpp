// The Optimizer concept and what every optimizer shares: parameter checks, the state file (one
// .safetensors file of state tensors, with the optimizer kind, step count and options as metadata),
// and optimizer_base, the skeleton AdamW, Muon and Muon+AdamW are written on.
// Not here: update rules (adamw.hpp, muon.hpp, muon_adamw.hpp) or gradient clipping (clip.hpp).
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/core/tensor.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/nn/module.hpp>

namespace recur {

/// An optimizer over a list of named parameters (recur::adamw, recur::muon, recur::muon_adamw).
///
/// - `O(named_parameters<B>(model))` builds it with default options (a second argument gives others);
/// - `step(lr_multiplier = 1)` applies one update from the accumulated gradients, every group's base
///   learning rate multiplied by `lr_multiplier` (what a schedule returns); parameters whose gradient
///   is undefined (never reached by backward) are left as they are;
/// - `zero_grad()` zeroes the parameters' gradients; `steps()` counts the steps taken;
/// - `save_state(file)` writes every state tensor and the step count to one .safetensors file,
///   atomically; `load_state(file)` restores them, throwing recur::io_error (naming the file and the
///   tensor) and leaving the optimizer unchanged when the file does not belong to this optimizer over
///   these parameters. Saving after N steps and loading into a fresh optimizer over the same
///   parameter values resumes bit-exactly.
template <class O>
concept Optimizer = Backend<typename O::backend_type> &&
    std::constructible_from<O, std::vector<named_parameter<typename O::backend_type>>> &&
    requires(O& o, const O& c, double lr_multiplier, const std::filesystem::path& file) {
        o.step(lr_multiplier);
        o.step();
        o.zero_grad();
        { c.steps() } -> std::same_as<std::int64_t>;
        c.save_state(file);
        o.load_state(file);
    };

/// One state tensor of an optimizer and its name in a state file: "<parameter>.<buffer>", with
/// torch.optim's buffer names (exp_avg, exp_avg_sq, momentum_buffer).
template <Backend B>
struct state_tensor {
    std::string name;
    Tensor<B> tensor;  // shares the optimizer's storage; its parameter's shape
};

namespace detail {

/// Checks what every optimizer needs of its parameters: defined, contiguous, in the compute dtype,
/// and uniquely named. `who` prefixes the message ("recur::adamw").
template <Backend B>
void check_parameters(std::string_view who, const std::vector<named_parameter<B>>& params) {
    std::set<std::string> seen;
    for (const auto& p : params) {
        check(p.tensor != nullptr && p.tensor->defined(), who, ": parameter '", p.name, "' is undefined");
        check(p.tensor->dtype() == Tensor<B>::compute_dtype, who, ": parameter '", p.name, "' holds ",
              p.tensor->dtype(), ", expected the compute dtype ", Tensor<B>::compute_dtype);
        check(p.tensor->is_contiguous(), who, ": parameter '", p.name, "' of shape ", p.tensor->shape(),
              " is not contiguous (strides ", p.tensor->strides(), ")");
        check(seen.insert(p.name).second, who, ": two parameters are named '", p.name, "'");
    }
}

/// The gradient of `p` ready for an update (undefined if backward never reached it), after checking
/// that the parameter still has the shape its state was made for.
template <Backend B>
const Tensor<B>& checked_grad(std::string_view who, const named_parameter<B>& p, const Shape& state_shape) {
    check(p.tensor->shape() == state_shape && p.tensor->is_contiguous() && p.tensor->dtype() == Tensor<B>::compute_dtype,
          who, ": parameter '", p.name, "' is now ", p.tensor->shape(), " ", p.tensor->dtype(),
          (p.tensor->is_contiguous() ? "" : " (not contiguous)"), ", but the optimizer state was made for ",
          state_shape, " ", Tensor<B>::compute_dtype);
    const Tensor<B>& g = p.tensor->grad();
    check(!g.defined() || g.is_contiguous(), who, ": the gradient of '", p.name, "' is not contiguous");
    return g;
}

/// Checks an lr multiplier given to step(): finite and not negative.
inline void check_lr_multiplier(std::string_view who, double lr_multiplier) {
    check(std::isfinite(lr_multiplier) && lr_multiplier >= 0, who, "::step: lr_multiplier ", lr_multiplier,
          ", expected a finite value >= 0");
}

/// `x` as the shortest text that reads back as the same double.
inline std::string exact_string(double x) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    return std::string(buf, r.ptr);
}

/// Writes the state tensors (in the compute dtype, so values survive bit for bit) with metadata
/// {"optimizer": kind, "steps": steps} plus `options`, atomically.
template <Backend B>
void save_optimizer_state(const std::filesystem::path& file, std::string_view kind, std::int64_t steps,
                          safetensors_metadata options, const std::vector<state_tensor<B>>& state) {
    named_tensors<B> tensors;
    for (const auto& s : state) tensors.emplace_back(s.name, s.tensor);
    options["optimizer"] = std::string(kind);
    options["steps"] = std::to_string(steps);
    save_safetensors<B>(file, tensors, Tensor<B>::compute_dtype, options);
}

/// Reads a file written by save_optimizer_state for `kind` into the state tensors and returns its
/// step count. Everything is checked before anything is written: the file must be a valid
/// safetensors file whose metadata names `kind` and a step count, holding exactly the tensors of
/// `state`, each with its shape and the compute dtype. Failures throw recur::io_error naming the file
/// (and the tensor); the state is then untouched.
template <Backend B>
std::int64_t load_optimizer_state(const std::filesystem::path& path, std::string_view kind,
                                  const std::vector<state_tensor<B>>& state) {
    const std::string who = "recur::" + std::string(kind) + "::load_state: '" + path.string() + "'";
    std::optional<safetensors_file> opened;
    try {
        opened.emplace(path);
    } catch (const io_error& e) {
        io_fail(who, ": ", e.what());
    }
    const safetensors_file& file = *opened;
    const auto& meta = file.metadata();
    const auto found = meta.find("optimizer");
    if (found == meta.end()) io_fail(who, ": not an optimizer state file (no 'optimizer' in its metadata)");
    if (found->second != kind) io_fail(who, ": holds the state of a '", found->second, "' optimizer, not '", kind, "'");
    const auto steps_text = meta.find("steps");
    if (steps_text == meta.end()) io_fail(who, ": no 'steps' in its metadata");
    std::int64_t steps = -1;
    const std::string& s = steps_text->second;
    const auto parsed = std::from_chars(s.data(), s.data() + s.size(), steps);
    if (parsed.ec != std::errc() || parsed.ptr != s.data() + s.size() || steps < 0)
        io_fail(who, ": 'steps' in its metadata is '", s, "', expected a non-negative integer");

    std::set<std::string> expected;
    for (const auto& t : state) {
        expected.insert(t.name);
        if (!file.contains(t.name))
            io_fail(who, ": tensor '", t.name, "' is missing (a state file for other parameters or another grouping?)");
        const auto& info = file.info(t.name);
        if (info.shape != t.tensor.shape())
            io_fail(who, ": tensor '", t.name, "' has shape ", info.shape, " in the file, but the parameter has shape ",
                    t.tensor.shape());
        if (info.type != Tensor<B>::compute_dtype)
            io_fail(who, ": tensor '", t.name, "' holds ", info.type, ", expected the compute dtype ",
                    Tensor<B>::compute_dtype);
    }
    for (const auto& name : file.names())
        if (!expected.count(name))
            io_fail(who, ": tensor '", name, "' belongs to no parameter of this optimizer (a state file for another model?)");

    for (const auto& t : state) Tensor<B>::copy_into(t.tensor, file.tensor<B>(t.name), false);
    return steps;
}

}  // namespace detail

/// The skeleton every optimizer shares (CRTP): the parameter list and its checks, the step count,
/// step()'s check of the multiplier, zero_grad, and the state file. Derived supplies, privately
/// (befriending optimizer_base):
/// ```
/// static constexpr std::string_view kind = "adamw";      // state-file tag; errors say "recur::adamw"
/// void update(double lr_multiplier, std::int64_t t);     // one update; t is the 1-based step number
/// std::vector<state_tensor<B>> state() const;            // the tensors save_state writes
/// safetensors_metadata metadata() const;                 // its options, written beside them
/// ```
template <class Derived, Backend B, class Options>
class optimizer_base {
public:
    using backend_type = B;

    /// One update with every base learning rate times `lr_multiplier` (finite, >= 0); parameters
    /// whose gradient is undefined are left as they are.
    void step(double lr_multiplier = 1.0) {
        detail::check_lr_multiplier(who(), lr_multiplier);
        derived().update(lr_multiplier, steps_ + 1);
        ++steps_;
    }

    /// Zeroes every parameter's gradient (keeping its buffer).
    void zero_grad() {
        for (const auto& p : params_) p.tensor->zero_grad();
    }

    /// Steps taken.
    std::int64_t steps() const { return steps_; }
    const Options& options() const { return options_; }
    const std::vector<named_parameter<B>>& parameters() const { return params_; }

    /// Writes every state tensor with {"optimizer": kind, "steps"} and the options as metadata, atomically.
    void save_state(const std::filesystem::path& file) const {
        detail::save_optimizer_state<B>(file, Derived::kind, steps_, derived().metadata(), derived().state());
    }

    /// Restores what save_state wrote; see detail::load_optimizer_state for what is checked. The
    /// options stay those given to the constructor.
    void load_state(const std::filesystem::path& file) {
        steps_ = detail::load_optimizer_state<B>(file, Derived::kind, derived().state());
    }

protected:
    /// References `params` (not copied: they must outlive the optimizer) after detail::check_parameters.
    optimizer_base(std::vector<named_parameter<B>> params, const Options& options)
        : params_(std::move(params)), options_(options) {
        detail::check_parameters(who(), params_);
    }

    /// "recur::<kind>", the prefix of every error.
    static std::string who() { return "recur::" + std::string(Derived::kind); }

    std::vector<named_parameter<B>> params_;
    Options options_;
    std::int64_t steps_ = 0;

private:
    Derived& derived() { return static_cast<Derived&>(*this); }
    const Derived& derived() const { return static_cast<const Derived&>(*this); }
};

}  // namespace recur
