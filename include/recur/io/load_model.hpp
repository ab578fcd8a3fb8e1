// Loading whatever checkpoint a user points at: a llama2.c .bin file, a Hugging Face directory, or a
// recur model directory, as one any_model that runs forward at a given r. Not here: the formats
// themselves (llama2c.hpp, hf.hpp, recur_model.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <variant>

#include <recur/io/hf.hpp>
#include <recur/io/llama2c.hpp>
#include <recur/io/recur_model.hpp>

namespace recur {

/// The kinds of checkpoint load_model understands.
enum class model_format {
    llama2c,       ///< a llama2.c .bin file
    hugging_face,  ///< a directory with a Hugging Face config.json and safetensors
    recur,         ///< a directory written by save_recurrent
};

inline const char* model_format_name(model_format f) {
    switch (f) {
        case model_format::llama2c: return "llama2.c";
        case model_format::hugging_face: return "Hugging Face";
        case model_format::recur: return "recur";
    }
    return "?";
}

/// Decides the format from the path: a regular file is llama2.c; a directory with a config.json
/// declaring "recur_format" is recur, any other config.json is Hugging Face. Otherwise io_error.
inline model_format detect_model_format(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    if (fs::is_regular_file(path)) return model_format::llama2c;
    if (fs::is_directory(path)) {
        if (!fs::is_regular_file(path / "config.json"))
            io_fail("recur::load_model: directory '", path.string(), "' has no config.json");
        return is_recur_model_dir(path) ? model_format::recur : model_format::hugging_face;
    }
    io_fail("recur::load_model: '", path.string(), "' does not exist");
}

/// A loaded model of either kind. forward(ids, r) runs r iterations for a recurrent model and
/// ignores r otherwise.
template <Backend B>
struct any_model {
    std::variant<LlamaModel<B>, Recurrent<B>> model;
    model_format format = model_format::llama2c;
    std::string path;

    bool is_recurrent() const { return std::holds_alternative<Recurrent<B>>(model); }
    const model_config& config() const {
        return std::visit([](const auto& m) -> const model_config& { return m.config; }, model);
    }
    /// Logits (B, T, V).
    Tensor<B> forward(const Tensor<B>& ids, std::int64_t r) const {
        if (const auto* m = std::get_if<Recurrent<B>>(&model)) return m->forward(ids, r);
        return std::get<LlamaModel<B>>(model).forward(ids);
    }
};

/// Loads a llama2.c file, a Hugging Face directory or a recur directory (see detect_model_format).
template <Backend B>
any_model<B> load_model(const std::filesystem::path& path) {
    any_model<B> out;
    out.path = path.string();
    out.format = detect_model_format(path);
    switch (out.format) {
        case model_format::llama2c: out.model = load_llama2c<B>(path.string()); break;
        case model_format::hugging_face: out.model = load_hf<B>(path); break;
        case model_format::recur: out.model = load_recurrent<B>(path); break;
    }
    return out;
}

}  // namespace recur
