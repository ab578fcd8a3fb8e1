// Loading whatever checkpoint a user points at: a llama2.c .bin file, a GGUF file, a Hugging Face directory, a recur
// model directory or one of the paper's recurrent checkpoints, as one any_model that runs forward at a
// given r. Not here: the formats themselves (llama2c.hpp, hf.hpp, recur_model.hpp, huginn.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <variant>

#include <recur/io/gguf.hpp>
#include <recur/io/hf.hpp>
#include <recur/io/huginn.hpp>
#include <recur/io/llama2c.hpp>
#include <recur/io/recur_model.hpp>

namespace recur {

/// The kinds of checkpoint load_model understands.
enum class model_format {
    llama2c,       ///< a llama2.c .bin file
    gguf,          ///< a llama.cpp GGUF file (architecture "llama")
    hugging_face,  ///< a directory with a Hugging Face config.json and safetensors
    recur,         ///< a directory written by save_recurrent
    huginn,        ///< the paper's recurrent checkpoints: a Hugging Face directory with model_type "huginn_raven"
};

inline const char* model_format_name(model_format f) {
    switch (f) {
        case model_format::llama2c: return "llama2.c";
        case model_format::gguf: return "GGUF";
        case model_format::hugging_face: return "Hugging Face";
        case model_format::recur: return "recur";
        case model_format::huginn: return "huginn_raven";
    }
    return "?";
}

/// Decides the format from the path: a regular file is GGUF when it starts with GGUF's magic, else
/// llama2.c; a directory with a config.json
/// declaring "recur_format" is recur, one with model_type "huginn_raven" the paper's format, any other
/// config.json Hugging Face. Otherwise io_error.
inline model_format detect_model_format(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    if (fs::is_regular_file(path)) return is_gguf_file(path) ? model_format::gguf : model_format::llama2c;
    if (fs::is_directory(path)) {
        if (!fs::is_regular_file(path / "config.json"))
            io_fail("recur::load_model: directory '", path.string(), "' has no config.json");
        if (is_recur_model_dir(path)) return model_format::recur;
        return is_huginn_dir(path) ? model_format::huginn : model_format::hugging_face;
    }
    io_fail("recur::load_model: '", path.string(), "' does not exist");
}

/// A loaded model: an ordinary decoder of Llama or OLMo-2 blocks, or a recurrent one of Llama, sandwich
/// (Huginn-0125) or OLMo-2 blocks. forward(ids, r) runs r iterations for a recurrent model and
/// ignores r otherwise.
template <Backend B>
struct any_model {
    std::variant<LlamaModel<B>, LlamaModel<B, Olmo2Block<B>>, Recurrent<B>, RecurrentOf<B, SandwichBlock<B>>,
                 RecurrentOf<B, Olmo2Block<B>>>
        model;
    model_format format = model_format::llama2c;
    std::string path;

    bool is_recurrent() const {
        return std::visit([](const auto& m) { return RecurrentModel<decltype(m)>; }, model);
    }
    const model_config& config() const {
        return std::visit([](const auto& m) -> const model_config& { return m.config; }, model);
    }
    /// Logits (B, T, V).
    Tensor<B> forward(const Tensor<B>& ids, std::int64_t r) const {
        return std::visit(
            [&](const auto& m) {
                if constexpr (RecurrentModel<decltype(m)>) return m.forward(ids, r);
                else return m.forward(ids);
            },
            model);
    }
};

namespace detail {
/// Calls f.template operator()<BlockT>() with the block type of `kind`.
template <Backend B, class F>
decltype(auto) with_block(block_kind kind, F&& f) {
    switch (kind) {
        case block_kind::sandwich: return f.template operator()<SandwichBlock<B>>();
        case block_kind::olmo2: return f.template operator()<Olmo2Block<B>>();
        case block_kind::llama: break;
    }
    return f.template operator()<LlamaBlock<B>>();
}
}  // namespace detail

/// Loads a llama2.c file, a Hugging Face, recur or huginn_raven directory (see detect_model_format)
/// with the block type its config names.
template <Backend B>
any_model<B> load_model(const std::filesystem::path& path) {
    any_model<B> out;
    out.path = path.string();
    out.format = detect_model_format(path);
    switch (out.format) {
        case model_format::llama2c: out.model = load_llama2c<B>(path.string()); break;
        case model_format::gguf: out.model = load_gguf<B>(path); break;
        case model_format::hugging_face:
            detail::with_block<B>(load_hf_config(path / "config.json").block, [&]<class BlockT>() {
                if constexpr (BlockT::kind == block_kind::sandwich)
                    fail("recur::load_model: '", path.string(), "': Hugging Face has no sandwich-block architecture");
                else
                    out.model = load_hf<B, BlockT>(path);
            });
            break;
        case model_format::recur:
            detail::with_block<B>(load_recur_model_info(path).config.block,
                                  [&]<class BlockT>() { out.model = load_recurrent<B, BlockT>(path); });
            break;
        case model_format::huginn: {
            const safetensors_set src(path);
            const huginn_info info = load_huginn_info(path, src);
            detail::with_block<B>(info.config.block, [&]<class BlockT>() { out.model = load_huginn<B, BlockT>(path, src, info); });
            break;
        }
    }
    return out;
}

}  // namespace recur
