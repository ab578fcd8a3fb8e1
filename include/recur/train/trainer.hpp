// The trainer: one optimizer step = micro-batches of (data -> (n, k) -> loss -> backward), clipping,
// a stop (or skip) on non-finite values, the schedules, metrics, checkpoints that resume bit-exactly,
// the run folder's lock and a stop request between steps. Not here: building the model, data or
// optimizer, or signal handlers (the caller's; see examples/recur/cmd_train.cpp).
//
// A checkpoint folder (train/checkpoint.hpp) holds
//   model.safetensors + config.json   the model (a recur model directory for Recurrent, Hugging Face
//                                      layout for LlamaModel), loadable by `recur eval`
//   optimizer.safetensors             the optimizer state (its own format, optim/optimizer.hpp)
//   trainer_state.json                step, tokens, FLOPs, skipped-in-a-row, the data cursor and the
//                                      train_config the run was started with
// Randomness needs no saved generator state: every (n, k) draw and the recurrent state noise are
// functions of (seed, step), and the data order is in the cursor.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include <recur/autograd/tape.hpp>
#include <recur/io/hf.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/recur_model.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/optim/clip.hpp>
#include <recur/optim/optimizer.hpp>
#include <recur/train/checkpoint.hpp>
#include <recur/train/config.hpp>
#include <recur/train/flops.hpp>
#include <recur/train/progress.hpp>
#include <recur/train/run_lock.hpp>

namespace recur {

/// A data source for the trainer (e.g. recur::data_phases): `next(step, batch, seq)` returns the next
/// rows (ids and targets, (batch, seq), -100 where no loss), called once per micro-batch with the
/// optimizer step; `cursor()` is what restore() needs to continue exactly.
template <class D>
concept TrainingData = requires(D& d, const D& c, std::int64_t i, const nlohmann::json& j) {
    { d.next(i, i, i) };
    { c.cursor() } -> std::convertible_to<nlohmann::json>;
    d.restore(j);
};

namespace detail {
/// Names the parameters whose gradient holds a NaN or an infinity: "the gradient of 'x' is not
/// finite (3 of 4096 values)", plus how many other parameters share the fault. Empty when none does.
template <Backend B>
std::string describe_nonfinite_gradients(const std::vector<named_parameter<B>>& params) {
    std::string first;
    std::int64_t others = 0;
    for (const auto& p : params) {
        const Tensor<B>& g = p.tensor->grad();
        if (!g.defined()) continue;
        const auto values = g.template to_host<float>();
        const auto bad = std::count_if(values.begin(), values.end(), [](float x) { return !std::isfinite(x); });
        if (bad == 0) continue;
        if (!first.empty()) {
            ++others;
            continue;
        }
        first = "the gradient of '" + p.name + "' is not finite (" + std::to_string(bad) + " of " +
                std::to_string(values.size()) + " values)";
    }
    if (others > 0) first += " and so are the gradients of " + std::to_string(others) + " later parameter(s)";
    return first;
}
}  // namespace detail

/// Why trainer::run returned.
enum class run_end {
    done,       ///< all train.steps steps are done
    paused,     ///< the stop_at step given to run() is reached
    requested,  ///< the stop flag was set: the step under way was finished first
};

/// Trains `model` with `optimizer` on `data` as `config` says. The three are owned by the caller and
/// must outlive the trainer; the optimizer must have been built over named_parameters(model).
///
/// With an out_dir the trainer owns that run folder while it lives: it creates it, takes its
/// run_lock (a second trainer on the same folder, in any process, throws recur::error naming the
/// folder and the owner's pid) and removes what a killed predecessor left (".tmp-*"). Checkpoints
/// are written atomically (write_checkpoint): whenever the process dies, the folder's latest
/// checkpoint is complete and loads.
template <Backend B, class Model, TrainingData Data, Optimizer Opt>
class trainer {
public:
    trainer(Model& model, Data& data, Opt& optimizer, train_config config, std::ostream& out = std::cout)
        : model_(model), data_(data), opt_(optimizer), config_(std::move(config)), progress_(out, config_.log_every),
          params_(named_parameters<B>(model)) {
        config_.validate();
        if (!config_.out_dir.empty()) {
            const std::filesystem::path root(config_.out_dir);
            std::error_code ec;
            std::filesystem::create_directories(root, ec);
            if (ec) io_fail("recur::trainer: cannot create the run folder '", root.string(), "': ", ec.message());
            lock_.emplace(root);
            remove_temporaries(root);
            metrics_ = metrics_log(root / "metrics.jsonl");
        }
    }

    /// Steps done so far.
    std::int64_t step_index() const { return step_; }
    std::int64_t tokens_seen() const { return tokens_; }
    double flops_spent() const { return flops_; }
    const train_config& config() const { return config_; }

    /// Runs one optimizer step and returns what it measured. A non-finite loss or gradient norm, with
    /// train.nonfinite "stop" (the default), throws recur::error naming the step and the tensor (the
    /// loss, or which parameters' gradients) before anything is updated or saved, so the run folder
    /// keeps its last good checkpoint. With "skip" the update is skipped (gradients dropped, step
    /// counted) with a warning, and max_nonfinite skips in a row throw recur::error.
    step_metrics step() {
        check(step_ < config_.steps, "recur::trainer: the run's ", config_.steps, " steps are done");
        if (!metrics_trimmed_) {
            metrics_.truncate_after(step_);  // a restarted or resumed run rewrites the steps it replays
            metrics_trimmed_ = true;
        }
        const auto start = std::chrono::steady_clock::now();
        // A non-recurrent model has no curriculum: it reports r 1 (n 0, k 1).
        constexpr bool recurrent = RecurrentModel<Model>;
        const std::int64_t r_bar = recurrent ? config_.curriculum.at(step_, config_.steps) : 1;
        const std::int64_t s = recurrent ? backprop_depth_at(config_.backprop, step_, config_.steps, r_bar) : 1;
        const double lr = config_.lr(step_, config_.steps);
        step_metrics m;
        m.total = config_.steps;
        m.mean_r = r_bar;
        m.lr = lr;
        double loss_sum = 0, step_flops = 0;
        std::int64_t step_tokens = 0, nonfinite_micro = -1;
        for (std::int64_t micro = 0; micro < config_.micro_batches; ++micro) {
            const std::uint64_t draw = static_cast<std::uint64_t>(step_ * config_.micro_batches + micro);
            const iteration_split split = !recurrent || config_.split == split_mode::fixed
                                              ? fixed_split(r_bar, s)
                                              : poisson_lognormal_sampler{config_.sigma, config_.seed}(draw, r_bar, s);
            const auto batch = data_.next(step_, config_.batch, config_.seq);  // every micro-batch: its own rows
            const auto ids = Tensor<B>::from_host(batch.ids, {config_.batch, config_.seq});
            const auto targets = Tensor<B>::from_host(batch.targets, {config_.batch, config_.seq});
            Tensor<B> loss;
            if constexpr (recurrent)
                loss = model_.loss(ids, targets, split, draw);
            else
                loss = model_.loss(ids, targets);
            const double value = loss.item();
            loss_sum += value;
            if (!std::isfinite(value) && nonfinite_micro < 0) nonfinite_micro = micro;
            backward(config_.micro_batches > 1 ? scale(loss, 1.0 / static_cast<double>(config_.micro_batches)) : loss);
            m.n = split.n;
            m.k = split.k;
            const std::int64_t tokens = config_.batch * config_.seq;
            step_tokens += tokens;
            step_flops += training_flops_per_token<B>(model_, split) * static_cast<double>(tokens);
        }
        m.loss = loss_sum / static_cast<double>(config_.micro_batches);
        m.grad_norm = clip_grad_norm<B>(params_, config_.clip > 0 ? config_.clip : INFINITY);
        m.skipped = !std::isfinite(m.loss) || !std::isfinite(m.grad_norm);
        if (m.skipped && config_.nonfinite == nonfinite_policy::stop) {
            const std::string what = nonfinite_micro >= 0
                                         ? std::string("the loss is ") + (std::isnan(m.loss) ? "NaN" : "infinite") + " (micro-batch " +
                                               std::to_string(nonfinite_micro + 1) + " of " +
                                               std::to_string(config_.micro_batches) + ")"
                                         : detail::describe_nonfinite_gradients(params_);
            opt_.zero_grad();
            std::string kept;
            if (!config_.out_dir.empty())
                if (const auto last = latest_checkpoint(config_.out_dir)) kept = "; the last checkpoint, '" + last->string() + "', is kept";
            fail("recur::trainer: step ", step_ + 1, ": ", what, "; stopped before updating", kept,
                 " (train.nonfinite \"skip\" skips such steps instead)");
        }
        if (m.skipped) {
            opt_.zero_grad();
            ++nonfinite_in_a_row_;
            progress_.note("recur::trainer: warning: step " + std::to_string(step_ + 1) + " skipped (loss " +
                           std::to_string(m.loss) + ", grad norm " + std::to_string(m.grad_norm) + "), " +
                           std::to_string(nonfinite_in_a_row_) + " in a row");
            check(nonfinite_in_a_row_ < config_.max_nonfinite, "recur::trainer: ", nonfinite_in_a_row_,
                  " steps in a row had a non-finite loss or gradient (max_nonfinite ", config_.max_nonfinite,
                  "); stopping at step ", step_ + 1);
        } else {
            opt_.step(lr);
            opt_.zero_grad();
            nonfinite_in_a_row_ = 0;
        }
        ++step_;
        tokens_ += step_tokens;
        flops_ += step_flops;
        m.step = step_;
        m.tokens = tokens_;
        m.flops = flops_;
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        m.tokens_per_s = static_cast<double>(step_tokens) / m.seconds;
        seconds_ += m.seconds;
        ++timed_steps_;
        progress_.update(m, seconds_ / static_cast<double>(timed_steps_) * static_cast<double>(config_.steps - step_));
        metrics_.append(m);
        if (!config_.out_dir.empty() && config_.checkpoint_every > 0 && step_ % config_.checkpoint_every == 0 &&
            step_ < config_.steps)
            save_checkpoint();
        return m;
    }

    /// Steps until the run is done, until `stop_at` steps (0: the end), or until `*stop` is true
    /// (checked between steps, so the step under way finishes), then writes a checkpoint if out_dir
    /// is set, and says which of the three ended it. `stop` may be set from a signal handler (it is
    /// lock-free) or another thread.
    run_end run(std::int64_t stop_at = 0, const std::atomic<bool>* stop = nullptr) {
        static_assert(std::atomic<bool>::is_always_lock_free, "a stop flag set from a signal handler must be lock-free");
        const std::int64_t last = stop_at > 0 ? std::min(stop_at, config_.steps) : config_.steps;
        auto stopping = [&] { return stop != nullptr && stop->load(std::memory_order_relaxed); };
        while (step_ < last && !stopping()) step();
        if (!config_.out_dir.empty() && saved_at_ != step_) save_checkpoint();
        if (step_ == config_.steps) return run_end::done;
        return step_ == last ? run_end::paused : run_end::requested;
    }

    /// Writes out_dir/step-NNNNNNNN atomically and points out_dir/latest at it.
    std::filesystem::path save_checkpoint() {
        check(!config_.out_dir.empty(), "recur::trainer: save_checkpoint needs out_dir");
        const nlohmann::json state{{"step", step_},
                                   {"tokens", tokens_},
                                   {"flops", flops_},
                                   {"nonfinite_in_a_row", nonfinite_in_a_row_},
                                   {"data", data_.cursor()},
                                   {"train", to_json(config_)}};
        std::vector<checkpoint_file> files{
            {"model.safetensors", [&](const std::filesystem::path& p) { save_parameters<B>(p, model_); }},
            {"config.json", [&](const std::filesystem::path& p) { write_file_atomically(p, model_config_json().dump(2) + "\n"); }},
            {"optimizer.safetensors", [&](const std::filesystem::path& p) { opt_.save_state(p); }},
            {"trainer_state.json", [&](const std::filesystem::path& p) { write_file_atomically(p, state.dump(2) + "\n"); }}};
        auto dir = write_checkpoint(config_.out_dir, step_, files, static_cast<int>(config_.keep_checkpoints));
        saved_at_ = step_;
        return dir;
    }

    /// Continues from a checkpoint folder, or from the latest checkpoint of a run folder. Everything
    /// is read and checked before the run continues; a missing, truncated or mismatched file throws
    /// recur::io_error naming it, and nothing on disk is changed.
    void resume(const std::filesystem::path& path) {
        std::filesystem::path dir = path;
        if (!std::filesystem::exists(dir / "trainer_state.json")) {
            const auto latest = latest_checkpoint(path);
            if (!latest) io_fail("recur::trainer::resume: '", path.string(), "' is neither a checkpoint nor a run folder with one");
            dir = *latest;
        }
        const std::string state_path = (dir / "trainer_state.json").string();
        const nlohmann::json state = detail::read_json_file(state_path, "recur::trainer::resume");
        std::int64_t step = 0, tokens = 0, nonfinite = 0;
        double flops = 0;
        try {
            detail::reject_unknown(state, {"step", "tokens", "flops", "nonfinite_in_a_row", "data", "train"}, state_path + ": ");
            for (const char* key : {"step", "tokens", "flops", "nonfinite_in_a_row", "data", "train"})
                check(state.contains(key), "key '", key, "' is missing");
            detail::read_key(state, "step", step, state_path + ": ");
            detail::read_key(state, "tokens", tokens, state_path + ": ");
            detail::read_key(state, "flops", flops, state_path + ": ");
            detail::read_key(state, "nonfinite_in_a_row", nonfinite, state_path + ": ");
            check(step >= 0 && step <= config_.steps, "step ", step, " is outside this run's ", config_.steps, " steps");
            const auto saved = train_config_from_json(state["train"], state_path);
            auto mine = to_json(config_), theirs = to_json(saved);
            for (const auto& [key, value] : mine.items())
                if (key != "out_dir" && key != "nonfinite" && key != "max_nonfinite" && theirs[key] != value)
                    fail("the run was started with train.", key, " = ", theirs[key].dump(), ", now ", value.dump(),
                         " (an exact resume needs the same configuration)");
        } catch (const io_error&) {
            throw;
        } catch (const error& e) {
            io_fail("recur::trainer::resume: '", state_path, "': ", e.what());
        }
        safetensors_set weights(dir / "model.safetensors");  // validated on open
        load_parameters<B>(model_, weights);
        params_ = named_parameters<B>(model_);
        opt_.load_state(dir / "optimizer.safetensors");
        data_.restore(state["data"]);
        step_ = step;
        tokens_ = tokens;
        flops_ = flops;
        nonfinite_in_a_row_ = nonfinite;
        metrics_trimmed_ = false;
    }

private:
    nlohmann::json model_config_json() const {
        if constexpr (RecurrentModel<Model>)
            return recur_model_config_json(model_);
        else
            return hf_config_to_json(model_.config);
    }

    Model& model_;
    Data& data_;
    Opt& opt_;
    train_config config_;
    progress_printer progress_;
    std::optional<run_lock> lock_;  // held while the trainer lives, when out_dir is set
    metrics_log metrics_;
    bool metrics_trimmed_ = false;  // truncate_after(step_) done since the start or the last resume
    std::int64_t saved_at_ = -1;    // the step of this trainer's last checkpoint
    std::vector<named_parameter<B>> params_;
    std::int64_t step_ = 0, tokens_ = 0, nonfinite_in_a_row_ = 0, timed_steps_ = 0;
    double flops_ = 0, seconds_ = 0;
};

}  // namespace recur
