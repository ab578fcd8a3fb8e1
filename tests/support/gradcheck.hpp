// Finite-difference gradient check of a scalar loss over a list of double-precision parameters.
// Not here: choosing what to check (each test decides its model and loss).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <recur/backends/reference.hpp>

namespace recur::test {

struct gradcheck_result {
    std::string name;
    double relative_error;  // ||analytic - numeric|| / max(||analytic||, ||numeric||)
    double numeric_norm;
};

/// Central differences (step h) on up to `max_elements` evenly spread elements of each parameter,
/// against the gradients a backward of `loss` has already accumulated into them.
inline std::vector<gradcheck_result> finite_difference_check(const std::vector<named_parameter<reference64>>& params,
                                                              const std::function<double()>& loss,
                                                              std::size_t max_elements = 64, double h = 1e-5) {
    std::vector<gradcheck_result> out;
    no_grad guard;
    for (const auto& p : params) {
        const auto analytic_all = p.tensor->grad().to_host<double>();
        double* x = p.tensor->data<double>();
        const std::size_t n = analytic_all.size(), stride = std::max<std::size_t>(1, n / max_elements);
        double d2 = 0, a2 = 0, n2 = 0;
        for (std::size_t e = 0; e < n; e += stride) {
            const double x0 = x[e];
            x[e] = x0 + h;
            const double up = loss();
            x[e] = x0 - h;
            const double down = loss();
            x[e] = x0;
            const double numeric = (up - down) / (2 * h), analytic = analytic_all[e];
            d2 += (numeric - analytic) * (numeric - analytic);
            a2 += analytic * analytic;
            n2 += numeric * numeric;
        }
        out.push_back({p.name, std::sqrt(d2) / std::max({std::sqrt(a2), std::sqrt(n2), 1e-300}), std::sqrt(n2)});
    }
    return out;
}

}  // namespace recur::test
