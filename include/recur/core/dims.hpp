// The dimension legend: the letters that kernel, op, module and model comments use for shapes.
// Not here: any code; this header is documentation and defines nothing (recur.hpp does not include it).
#pragma once

// How a shape is written
// ----------------------
//   x (B, T, C)       tensor x has three dims, B outermost; row-major, the last dim contiguous
//   w (C)             a vector; ids (B, T) i32: a dtype after the shape when it is not the compute one
//   (..., C)          any number of leading dims, then C
//   (B, T, H*D)       a product of two legend letters is one dim of that size
//   x[b, t, c]        one element: each index is the lowercase letter of its dim
//   (B, T, C) -> (B, T, V)   what a function maps to what
//
// Model and batch
// ---------------
//   B     batch rows (sequences in a batch)
//   T     sequence length: tokens per row; Tq and Tk when queries and keys differ in length
//         (incremental attention: Tq new tokens see Tk >= Tq cached ones)
//   C     model width, d_model (the residual stream and every state s_i)
//   H     query heads
//   Hkv   key/value heads (grouped-query attention: H is a multiple of Hkv; query head h reads
//         key/value head h / (H / Hkv))
//   D     head dim; C = H * D unless a config sets head_dim explicitly (then q is (B, T, H*D) and
//         o_proj maps H*D back to C)
//   F     MLP hidden width (intermediate_size): gate and up are (..., F)
//   V     vocabulary size: the embedding table is (V, C), logits are (B, T, V)
//   L     layers of a (source) model; a split has p prelude, c core and q coda layers
//   N     rows of a flattened matrix: N = B * T when an op sees (B, T, C) as (N, C) (rms_norm,
//         cross_entropy, embedding, linear), or the N sequences decoded together by a cached forward
//   R, P  a KV cache's rows (sequences it holds) and positions of capacity: k, v (R, P, Hkv, D)
//   G     a stack of same-shaped matrices (G, rows, cols), e.g. Muon's batched Newton-Schulz
//   in, out   a Linear's input and output widths: x (N, in), w (out, in)
//
// Recurrence (docs/method.md sections 1, 5 and 6)
// ------------------------------------------------
//   r       iterations of the recurrent core in one forward pass
//   n       iterations run without gradient (under no_grad, nothing recorded)
//   k       iterations run with gradient, the last ones (backprop depth of this pass); r = n + k
//   r_bar   mean recurrence the sampler and curriculum aim at
//   s       backprop depth, the bound on k (without an index; s_i with one is a state)
//   s_i     the latent state after iteration i, (B, T, C); s_0 the initial one; e the prelude's
//           output (B, T, C), which every iteration is given
//
// GEMM
// ----
//   Inside a GEMM or matmul contract only (gemm_args, ops/matmul.hpp), m, n, k (gemm_args' fields)
//   or M, K, N (tensor shapes) are the GEMM's own dims: op(A) (m, k) times op(B) (k, n)
//   gives C (m, n); a batched matmul is (..., M, K) @ (..., K, N) -> (..., M, N). Everywhere else
//   M and K are not used, N means flattened rows and n, k mean recurrence iterations as above.
