// Whether ops record onto the tape: on by default, off inside a `no_grad` scope (per thread).
// Not here: the tape itself (tape.hpp).
#pragma once

namespace recur {

namespace detail {
inline bool& grad_enabled_flag() {
    thread_local bool enabled = true;
    return enabled;
}
}  // namespace detail

/// True when ops on tensors that require gradients record themselves for backward.
inline bool is_grad_enabled() { return detail::grad_enabled_flag(); }

/// RAII scope in which nothing is recorded: no graph, no saved activations. The first n recurrence
/// iterations of truncated backprop and all inference run under it.
class no_grad {
public:
    no_grad() : previous_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = false; }
    ~no_grad() { detail::grad_enabled_flag() = previous_; }
    no_grad(const no_grad&) = delete;
    no_grad& operator=(const no_grad&) = delete;

private:
    bool previous_;
};

}  // namespace recur
