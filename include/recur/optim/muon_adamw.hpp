// Muon for the 2-D weights of the transformer blocks and the adapter, AdamW for everything else
// (docs/method.md section 7), with name-pattern overrides. Not here: the update rules (muon.hpp, adamw.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <recur/optim/adamw.hpp>
#include <recur/optim/muon.hpp>
#include <recur/optim/optimizer.hpp>

namespace recur {

/// Which optimizer of a muon_adamw updates a parameter.
enum class param_group { muon, adamw };

/// The grouping of docs/method.md section 7: Muon for a 2-D parameter unless its name contains
/// "embed_tokens" or "lm_head"; AdamW for embeddings, the LM head, norm weights and biases.
inline param_group default_param_group(std::string_view name, int dims) {
    const bool table = name.find("embed_tokens") != std::string_view::npos || name.find("lm_head") != std::string_view::npos;
    return dims == 2 && !table ? param_group::muon : param_group::adamw;
}

/// An override of the grouping: parameters whose name contains a match of `pattern`
/// (std::regex_search, ECMAScript) go to `group`.
struct group_rule {
    std::regex pattern;
    param_group group;
};

/// Options of both groups (docs/method.md section 7: Muon lr 1e-3, AdamW lr 5e-5, weight decay
/// 1e-4 for both) and the overrides, tried in order before default_param_group; the first match wins.
struct muon_adamw_options {
    muon_options muon;
    adamw_options adamw;
    std::vector<group_rule> rules;
};

/// Muon and AdamW over one list of parameters, split by group_of. One step() steps both with their
/// own base learning rates times the same multiplier; the state file holds both groups' tensors
/// and one step count. Satisfies recur::Optimizer.
template <Backend B>
class muon_adamw : public optimizer_base<muon_adamw<B>, B, muon_adamw_options> {
    using base = optimizer_base<muon_adamw<B>, B, muon_adamw_options>;

public:
    static constexpr std::string_view kind = "muon_adamw";

    /// Splits `params` (referenced, not copied) into the two groups. Throws recur::error if a rule
    /// sends a parameter that is not 2-D to Muon (naming it), or as muon and adamw do.
    explicit muon_adamw(std::vector<named_parameter<B>> params, const muon_adamw_options& options = {})
        : muon_adamw(params, split(params, options), options) {}

    /// The group of parameter `name`; recur::error if it is not one of this optimizer's.
    param_group group_of(const std::string& name) const {
        const auto it = groups_.find(name);
        check(it != groups_.end(), "recur::muon_adamw::group_of: '", name, "' is not a parameter of this optimizer");
        return it->second;
    }
    const muon<B>& muon_group() const { return muon_; }
    const adamw<B>& adamw_group() const { return adamw_; }

    /// Restores what save_state wrote (both groups' tensors and the one step count); a file from
    /// another grouping fails on the tensor names.
    void load_state(const std::filesystem::path& file) {
        base::load_state(file);
        muon_.steps_ = adamw_.steps_ = this->steps_;
    }

private:
    friend base;

    struct groups {
        std::map<std::string, param_group> of;
        std::vector<named_parameter<B>> muon, adamw;
    };

    static groups split(const std::vector<named_parameter<B>>& params, const muon_adamw_options& options) {
        detail::check_parameters(base::who(), params);  // before their shapes are read (the base checks again)
        groups out;
        for (const auto& p : params) {
            param_group g = default_param_group(p.name, p.tensor->dim());
            for (const auto& rule : options.rules)
                if (std::regex_search(p.name, rule.pattern)) {
                    g = rule.group;
                    break;
                }
            check(g == param_group::adamw || p.tensor->dim() == 2, "recur::muon_adamw: a rule sends parameter '", p.name,
                  "' of shape ", p.tensor->shape(), " to Muon, which updates 2-D weight matrices only");
            out.of.emplace(p.name, g);
            (g == param_group::muon ? out.muon : out.adamw).push_back(p);
        }
        return out;
    }

    muon_adamw(std::vector<named_parameter<B>> params, groups g, const muon_adamw_options& options)
        : base(std::move(params), options),
          groups_(std::move(g.of)),
          muon_(std::move(g.muon), options.muon),
          adamw_(std::move(g.adamw), options.adamw) {}

    /// Both groups step with their own base learning rates times the same multiplier (and so count
    /// the same steps as this optimizer).
    void update(double lr_multiplier, std::int64_t) {
        muon_.step(lr_multiplier);
        adamw_.step(lr_multiplier);
    }

    std::vector<state_tensor<B>> state() const {
        auto out = muon_.state();
        for (auto& s : adamw_.state()) out.push_back(std::move(s));
        return out;
    }

    safetensors_metadata metadata() const {
        safetensors_metadata meta = muon_.metadata();
        meta.merge(adamw_.metadata());
        return meta;
    }

    std::map<std::string, param_group> groups_;
    muon<B> muon_;
    adamw<B> adamw_;
};

}  // namespace recur
