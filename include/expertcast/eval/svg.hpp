// Pictures without a plotting dependency: SVG written directly. A line chart (recall@m against m,
// hit rate against cache size) and a heatmap (a transition table), enough for the README and for
// a person who would rather look than read. Output is deterministic: same data, same bytes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

struct ChartSeries {
    std::string name;
    std::vector<std::pair<double, double>> points;  ///< (x, y), drawn in order
    bool dashed = false;
};

struct LineChart {
    std::string title, x_label, y_label;
    std::vector<ChartSeries> series;
    double y_min = 0.0, y_max = 1.0;  ///< the y axis range (x spans the data)
};

namespace detail {

inline std::string escape_xml(const std::string& text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// Colour-blind-safe palettes (Okabe-Ito, then Tol's muted), black last.
inline const char* series_colour(std::size_t i) {
    static const char* colours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#F0E442", "#882255",
                                    "#44AA99", "#999933", "#999999", "#000000"};
    return colours[i % (sizeof(colours) / sizeof(colours[0]))];
}

// A "nice" tick step for a range: 1, 2 or 5 times a power of ten, about `count` ticks.
inline double tick_step(double range, int count) {
    const double raw = range / count;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * power) return m * power;
    return 10.0 * power;
}

inline std::string tick_label(double value) {
    return fmt::format("{:g}", std::round(value * 1e6) / 1e6 + 0.0);  // + 0.0: no "-0"
}

}  // namespace detail

/// The chart as an SVG document (width x height pixels).
inline std::string svg_line_chart(const LineChart& chart, int width = 720, int height = 440) {
    using detail::escape_xml;
    const double left = 64, right = 190, top = 40, bottom = 52;
    const double plot_w = width - left - right, plot_h = height - top - bottom;
    double x_min = 0, x_max = 1;
    bool first = true;
    for (const auto& s : chart.series)
        for (const auto& [x, y] : s.points) {
            x_min = first ? x : std::min(x_min, x);
            x_max = first ? x : std::max(x_max, x);
            first = false;
        }
    if (x_max <= x_min) x_max = x_min + 1;
    const double y_span = chart.y_max > chart.y_min ? chart.y_max - chart.y_min : 1.0;
    auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * plot_w; };
    auto py = [&](double y) {
        return top +
               (1.0 - (std::clamp(y, chart.y_min, chart.y_max) - chart.y_min) / y_span) * plot_h;
    };

    std::string out = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} "
        "{}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        "<text x=\"12\" y=\"22\" font-size=\"15\">{}</text>\n",
        width, height, width, height, escape_xml(chart.title));
    // Grid and ticks.
    const double x_step = detail::tick_step(x_max - x_min, 8);
    // Ticks are integer multiples of the step, so labels print without rounding noise.
    for (double i = std::ceil(x_min / x_step - 1e-9); i * x_step <= x_max + 1e-9; i += 1) {
        const double x = i * x_step;
        out += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>"
            "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
            px(x), top, top + plot_h, top + plot_h + 16, detail::tick_label(x));
    }
    const double y_step = detail::tick_step(y_span, 5);
    for (double i = std::ceil(chart.y_min / y_step - 1e-9); i * y_step <= chart.y_max + 1e-9;
         i += 1) {
        const double y = i * y_step;
        out += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>"
            "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
            left, py(y), left + plot_w, left - 6, py(y) + 4, detail::tick_label(y));
    }
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n"
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n"
        "<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        left, top, plot_w, plot_h, left + plot_w / 2, height - 12, escape_xml(chart.x_label),
        top + plot_h / 2, escape_xml(chart.y_label));
    // Series and legend.
    for (std::size_t i = 0; i < chart.series.size(); ++i) {
        const ChartSeries& s = chart.series[i];
        std::string points;
        for (const auto& [x, y] : s.points) points += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
        const char* dash = s.dashed ? " stroke-dasharray=\"6 3\"" : "";
        out += fmt::format(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"{}\"/>\n",
            detail::series_colour(i), dash, points);
        const double ly = top + 10 + 18 * static_cast<double>(i);
        out += fmt::format(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" "
            "stroke-width=\"3\"{7}/>"
            "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
            left + plot_w + 14, ly, left + plot_w + 38, detail::series_colour(i),
            left + plot_w + 44, ly + 4, escape_xml(s.name), dash);
    }
    out += "</svg>\n";
    return out;
}

/// A matrix as a heatmap (row-major rows x cols values; darker is larger), e.g. a transition
/// table from-expert x to-expert.
inline std::string svg_heatmap(const std::string& title, const std::string& row_label,
                               const std::string& column_label, const std::vector<float>& values,
                               std::size_t rows, std::size_t cols, int cell = 0) {
    using detail::escape_xml;
    if (cell == 0)
        cell = static_cast<int>(std::clamp<std::size_t>(512 / std::max(rows, cols), 2, 24));
    const int left = 56, top = 40, size_w = cell * static_cast<int>(cols),
              size_h = cell * static_cast<int>(rows);
    float top_value = 0.0f;
    for (const float v : values) top_value = std::max(top_value, v);
    std::string out = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        "<text x=\"12\" y=\"22\" font-size=\"15\">{}</text>\n",
        left + size_w + 20, top + size_h + 40, escape_xml(title));
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            const float v = values[r * cols + c];
            const double shade = top_value > 0 ? std::sqrt(static_cast<double>(v / top_value)) : 0;
            const int level = static_cast<int>(std::lround(255 * (1 - shade)));
            out += fmt::format(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},255)\"/>\n",
                left + static_cast<int>(c) * cell, top + static_cast<int>(r) * cell, cell, cell,
                level, level);
        }
    // Index labels every `step` rows and columns.
    const std::size_t step =
        static_cast<std::size_t>(detail::tick_step(static_cast<double>(std::max(rows, cols)), 8));
    for (std::size_t i = 0; i < std::max(rows, cols); i += std::max<std::size_t>(step, 1)) {
        if (i < cols)
            out += fmt::format(
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>\n",
                left + static_cast<int>(i) * cell + cell / 2, top + size_h + 12, i);
        if (i < rows)
            out += fmt::format(
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>\n",
                left - 4, top + static_cast<int>(i) * cell + cell / 2 + 4, i);
    }
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n"
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n"
        "<text transform=\"translate(20 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n"
        "</svg>\n",
        left, top, size_w, size_h, left + size_w / 2, top + size_h + 28, escape_xml(column_label),
        top + size_h / 2, escape_xml(row_label));
    return out;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
