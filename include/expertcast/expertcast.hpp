// Everything an engine needs: core types, the Predictor concept and the predictors. No I/O, no
// dependency beyond Eigen. (Trace readers and evaluation are in <expertcast/tools.hpp>.) The
// library's own headers never include this one.
#pragma once

#include "expertcast/core/error.hpp"
#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/predictor.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/predictors/activation_match.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/predictors/baselines.hpp"
#include "expertcast/predictors/frequency_decay.hpp"
#include "expertcast/predictors/markov.hpp"
#include "expertcast/predictors/mixture.hpp"
#include "expertcast/predictors/ngram.hpp"
#include "expertcast/predictors/paper_heatmap.hpp"
#include "expertcast/predictors/recipes.hpp"
#include "expertcast/version.hpp"
