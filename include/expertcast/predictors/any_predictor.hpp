// A predictor chosen at run time: type erasure over the Predictor concept, one virtual call per
// step or layer (never per expert), so its cost is nothing next to the work it dispatches.
// AnyPredictor itself satisfies Predictor, so it can sit wherever a predictor can.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/predictor.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

class AnyPredictor {
public:
    template <Predictor P>
    requires(!std::is_same_v<std::remove_cvref_t<P>, AnyPredictor>) explicit AnyPredictor(
        P predictor)
        : self_(std::make_unique<Model<P>>(std::move(predictor))) {}

    /// The wrapped predictor, or nullptr when it is not a P.
    template <Predictor P>
    P* target() noexcept {
        auto* model = dynamic_cast<Model<P>*>(self_.get());
        return model ? &model->predictor : nullptr;
    }

    std::string_view name() const noexcept { return self_->name(); }
    const ModelShape& shape() const noexcept { return self_->shape(); }
    std::size_t step_tokens() const noexcept { return self_->step_tokens(); }
    void begin_step(const TokenBatch& batch) { self_->begin_step(batch); }
    void observe(const LayerRouting& routing) noexcept { self_->observe(routing); }
    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        self_->forecast(target, out);
    }
    void end_sequence(SequenceId sequence) noexcept { self_->end_sequence(sequence); }
    void set_frozen(bool frozen) noexcept { self_->set_frozen(frozen); }
    bool frozen() const noexcept { return self_->frozen(); }

private:
    struct Concept {
        virtual ~Concept() = default;
        virtual std::string_view name() const noexcept = 0;
        virtual const ModelShape& shape() const noexcept = 0;
        virtual std::size_t step_tokens() const noexcept = 0;
        virtual void begin_step(const TokenBatch&) = 0;
        virtual void observe(const LayerRouting&) noexcept = 0;
        virtual void forecast(ForecastTarget, std::span<float>) noexcept = 0;
        virtual void end_sequence(SequenceId) noexcept = 0;
        virtual void set_frozen(bool) noexcept = 0;
        virtual bool frozen() const noexcept = 0;
    };

    template <class P>
    struct Model final : Concept {
        explicit Model(P p) : predictor(std::move(p)) {}
        std::string_view name() const noexcept override { return predictor.name(); }
        const ModelShape& shape() const noexcept override { return predictor.shape(); }
        std::size_t step_tokens() const noexcept override { return predictor.step_tokens(); }
        void begin_step(const TokenBatch& b) override { predictor.begin_step(b); }
        void observe(const LayerRouting& r) noexcept override { predictor.observe(r); }
        void forecast(ForecastTarget t, std::span<float> out) noexcept override {
            predictor.forecast(t, out);
        }
        void end_sequence(SequenceId s) noexcept override { predictor.end_sequence(s); }
        void set_frozen(bool f) noexcept override { predictor.set_frozen(f); }
        bool frozen() const noexcept override { return predictor.frozen(); }
        P predictor;
    };

    std::unique_ptr<Concept> self_;
};

static_assert(Predictor<AnyPredictor>);

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
