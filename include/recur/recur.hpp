// recur: the backend-agnostic library in one include (tensors, autograd, ops).
// Not here: backends. Include <recur/backends/reference.hpp>, <recur/backends/cpu.hpp> or
// <recur/backends/cuda.hpp> as well (each includes this header).
#pragma once

#include <recur/core/backend.hpp>
#include <recur/core/dtype.hpp>
#include <recur/core/error.hpp>
#include <recur/core/host_memory.hpp>
#include <recur/core/random.hpp>
#include <recur/core/shape.hpp>
#include <recur/core/storage.hpp>
#include <recur/core/tensor.hpp>

#include <recur/autograd/grad_mode.hpp>
#include <recur/autograd/tape.hpp>

#include <recur/ops/activation.hpp>
#include <recur/ops/attention.hpp>
#include <recur/ops/concat.hpp>
#include <recur/ops/cross_entropy.hpp>
#include <recur/ops/elementwise.hpp>
#include <recur/ops/embedding.hpp>
#include <recur/ops/linear.hpp>
#include <recur/ops/matmul.hpp>
#include <recur/ops/matmul_precision.hpp>
#include <recur/ops/reduce.hpp>
#include <recur/ops/rms_norm.hpp>
#include <recur/ops/rope.hpp>
#include <recur/ops/view.hpp>

#include <recur/nn/attention.hpp>
#include <recur/nn/blocks.hpp>
#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/nn/llama.hpp>
#include <recur/nn/mlp.hpp>
#include <recur/nn/module.hpp>

#include <recur/recurrence/recurrent.hpp>
#include <recur/recurrence/sampler.hpp>
#include <recur/infer/adaptive.hpp>
#include <recur/infer/decoder.hpp>
#include <recur/infer/generate.hpp>
#include <recur/infer/kv_cache.hpp>
#include <recur/infer/sampling.hpp>
