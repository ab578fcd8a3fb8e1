// Reverse-mode autograd on a tape: ops push nodes while recording; backward() replays them in reverse.
// Not here: op math (each op's backward lives beside its forward in ops/).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <recur/autograd/grad_mode.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

/// One recorded op. Its backward reads the output gradient and accumulates the inputs' gradients;
/// the node (and the activations it saved) is destroyed right after.
class node {
public:
    virtual ~node() = default;
    virtual void backward() = 0;
    virtual std::string_view name() const = 0;
};

/// The tape of one backend on one thread (`tape::of<B>()`): graphs on different backends never mix.
/// backward() consumes all of its backend's tape: nodes whose outputs reach the root run, the
/// others are discarded. So finish one graph (backward) before recording another on the same
/// backend, and call clear() after a forward with gradients on that is never backpropagated (or run
/// it under no_grad).
class tape {
public:
    template <class B>
    static tape& of() {
        thread_local tape t;
        return t;
    }
    void push(std::unique_ptr<node> n) { nodes_.push_back(std::move(n)); }
    std::size_t size() const { return nodes_.size(); }
    /// Drops every recorded node and the activations they hold.
    void clear() { nodes_.clear(); }

    /// Runs every node's backward in reverse order of recording, releasing each as it goes.
    void run() {
        no_grad guard;  // backward math is never itself recorded
        try {
            while (!nodes_.empty()) {
                std::unique_ptr<node> n = std::move(nodes_.back());
                nodes_.pop_back();
                n->backward();
            }
        } catch (...) {
            nodes_.clear();
            throw;
        }
    }

private:
    std::vector<std::unique_ptr<node>> nodes_;
};

/// What an op's backward writes to: per input, whether a gradient is wanted, and where it goes.
template <Backend B>
class grad_sink {
public:
    using meta_ptr = std::shared_ptr<autograd_meta<B>>;
    explicit grad_sink(std::span<const meta_ptr> inputs) : in_(inputs) {}

    /// False when input i does not require gradients: the op may skip computing it.
    bool needs(std::size_t i) const { return in_[i] != nullptr; }

    /// grad(input i) += g (g may be any view of the input's shape). The first gradient is adopted
    /// without a copy when nothing else references its storage.
    void accumulate(std::size_t i, Tensor<B> g) {
        if (!needs(i)) return;
        autograd_meta<B>& m = *in_[i];
        check(g.shape() == m.shape, "recur::backward: gradient of shape ", g.shape(), " for an input of shape ", m.shape);
        if (!m.grad.defined()) {
            if (g.is_contiguous() && g.buffer().use_count() == 1 && !g.requires_grad()) {
                m.grad = std::move(g);
            } else {
                m.grad = Tensor<B>::empty(m.shape);
                Tensor<B>::copy_into(m.grad, g, false);
            }
        } else if (g.is_contiguous()) {
            using T = typename B::scalar;
            kernels::add_into<B>::run({.dst = m.grad.template data<T>(), .src = g.template data<T>(), .n = g.numel()});
        } else {
            Tensor<B>::copy_into(m.grad, g, true);
        }
    }

    /// The gradient buffer of input i (zeros if none yet), for kernels that accumulate in place.
    Tensor<B>& buffer(std::size_t i) {
        autograd_meta<B>& m = *in_[i];
        if (!m.grad.defined()) m.grad = Tensor<B>::zeros(m.shape);
        return m.grad;
    }

private:
    std::span<const meta_ptr> in_;
};

namespace detail {

template <class Op, Backend B, class Inputs>
class op_node final : public node {
public:
    op_node(Op op, std::shared_ptr<autograd_meta<B>> out, Inputs in)
        : op_(std::move(op)), out_(std::move(out)), in_(std::move(in)) {}

    void backward() override {
        if (!out_->grad.defined()) return;  // the output did not reach the loss
        Tensor<B> dout = std::move(out_->grad);
        out_->grad = Tensor<B>();
        grad_sink<B> sink(std::span<const std::shared_ptr<autograd_meta<B>>>(in_.data(), in_.size()));
        op_.backward(std::move(dout), sink);
    }
    std::string_view name() const override { return Op::name; }

private:
    Op op_;
    std::shared_ptr<autograd_meta<B>> out_;
    Inputs in_;
};

template <Backend B>
std::shared_ptr<autograd_meta<B>> output_meta(Tensor<B>& out) {
    auto m = std::make_shared<autograd_meta<B>>();
    m->shape = out.shape();
    m->is_leaf = false;
    out.set_meta(m);
    return m;
}

}  // namespace detail

/// True when an op on these inputs must record itself (gradients on and some input needs them).
template <Backend B, class... Rest>
bool recording(const Tensor<B>& first, const Rest&... rest) {
    return is_grad_enabled() && (first.requires_grad() || ... || rest.requires_grad());
}
template <Backend B>
bool recording(std::span<const Tensor<B>> inputs) {
    if (!is_grad_enabled()) return false;
    for (const auto& t : inputs)
        if (t.requires_grad()) return true;
    return false;
}

/// Pushes `op` onto the tape as the producer of `out` from `inputs` (input order = grad_sink index).
/// Undefined tensors (an absent bias) are allowed and never receive gradients.
template <class Op, Backend B, class... In>
void record(Op op, Tensor<B>& out, const In&... inputs) {
    using metas = std::array<std::shared_ptr<autograd_meta<B>>, sizeof...(In)>;
    metas in{inputs.meta()...};
    auto m = detail::output_meta(out);
    tape::of<B>().push(std::make_unique<detail::op_node<Op, B, metas>>(std::move(op), std::move(m), std::move(in)));
}
template <class Op, Backend B>
void record(Op op, Tensor<B>& out, std::span<const Tensor<B>> inputs) {
    using metas = std::vector<std::shared_ptr<autograd_meta<B>>>;
    metas in;
    in.reserve(inputs.size());
    for (const auto& t : inputs) in.push_back(t.meta());
    auto m = detail::output_meta(out);
    tape::of<B>().push(std::make_unique<detail::op_node<Op, B, metas>>(std::move(op), std::move(m), std::move(in)));
}

/// Backpropagates from `root`: seeds d(root) with ones (or `seed`) and runs the whole tape.
/// Leaves accumulate into grad(); intermediate gradients are freed as they are consumed.
template <Backend B>
void backward(const Tensor<B>& root, Tensor<B> seed = Tensor<B>()) {
    check(root.requires_grad(), "recur::backward: the tensor does not require gradients (nothing was recorded)");
    if (!seed.defined()) {
        check(root.numel() == 1, "recur::backward: needs a seed gradient for a non-scalar root of shape ", root.shape());
        seed = Tensor<B>::full(root.shape(), 1.0);
    }
    check(seed.shape() == root.shape(), "recur::backward: seed shape ", seed.shape(), " vs root shape ", root.shape());
    std::shared_ptr<autograd_meta<B>> m = root.meta();
    grad_sink<B> sink(std::span<const std::shared_ptr<autograd_meta<B>>>(&m, 1));
    sink.accumulate(0, std::move(seed));
    tape::of<B>().run();
}

}  // namespace recur

#include <recur/ops/view.hpp>  // views record onto the tape
