#!/usr/bin/env python3
"""Independent reference implementation of expertcast's forecast evaluation.

A deliberately simple second implementation of the protocol in the shared spec
(spec/evaluation.md sections 1-4 and 6), written without looking at the C++ sources, so that
the C++ end-to-end tests can compare against independently computed golden numbers.

Python 3 standard library only. Every forecast is held as exact integer weights w_e
(p_e = w_e / sum(w)), so rankings and ties (top-m, argmax) are decided exactly; p_e and
q_e = min(1, k p_e) are then correctly rounded doubles, and the micro-averages of brier and nll
are summed with math.fsum (correctly rounded sums). recall@k, recall@2k and hit@1 are exact
integer counts divided once at the end.

Usage:
    python3 tests/reference/reference_eval.py               # the five default traces
    python3 tests/reference/reference_eval.py --trace PATH  # one trace (.csv or JSON directory)
    python3 tests/reference/reference_eval.py --json        # JSON instead of tables
"""

import argparse
import csv
import json
import math
import os
import sys
import time
from array import array
from fractions import Fraction

WARMUP_FRACTION = 0.5
PREVIOUS_TOKEN_UNIFORM_SHARE = Fraction(1, 100)  # u = 0.01
MARKOV_SMOOTHING = 4  # a = 4
NLL_FLOOR = 1e-12
PREDICTORS = ("uniform", "frequency", "previous-token", "markov")

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROJECT = os.path.dirname(os.path.dirname(_HERE))
_SHARED = os.path.join(os.path.dirname(_PROJECT), "shared", "traces")
DEFAULT_TRACES = [
    os.path.join(_SHARED, "gpt-oss-20b.csv"),
    os.path.join(_SHARED, "flame-moe-290m.csv"),
    os.path.join(_SHARED, "mixtral-8x7b-instruct-fp8.csv"),
    os.path.join(_SHARED, "llama4-maverick-mmlu", "abstract_algebra"),
    os.path.join(_PROJECT, "examples", "data", "gpt-oss-20b-subset.csv"),
]


# --------------------------------------------------------------------------------------------
# Trace model and readers
# --------------------------------------------------------------------------------------------

class Request:
    """One request: its tokens (sorted) and, per token, {moe ordinal: tuple of expert ids}."""

    def __init__(self, rid, prompt_tokens):
        self.id = rid
        self.prompt_tokens = prompt_tokens  # int, or None when unknown
        self.cells = {}  # token -> {ordinal: experts}
        self.steps = []  # filled by the reader: list of (kind, [tokens]), kind "prefill"/"decode"

    def tokens(self):
        return sorted(self.cells)


class Trace:
    def __init__(self, name, num_experts, top_k, moe_layers, requests):
        self.name = name
        self.E = num_experts
        self.k = top_k
        self.moe_layers = moe_layers  # decoder layer indices; ordinal = position in this list
        self.requests = sorted(requests, key=lambda r: r.id)

    def num_tokens(self):
        return sum(len(r.cells) for r in self.requests)

    def num_cells(self):
        return sum(len(c) for r in self.requests for c in r.cells.values())

    def num_holes(self):
        """Missing (token, MoE layer) cells among tokens that have at least one recorded cell."""
        return self.num_tokens() * len(self.moe_layers) - self.num_cells()


def _check_experts(experts, E, k, where):
    if len(experts) != k or len(set(experts)) != k or not all(0 <= e < E for e in experts):
        raise ValueError("%s: expected %d distinct expert ids in [0, %d), got %r"
                         % (where, k, E, experts))


def read_csv_trace(csv_path):
    meta_path = csv_path[:-len(".csv")] + ".meta.json"
    with open(meta_path) as f:
        meta = json.load(f)
    E, k = int(meta["num_experts"]), int(meta["top_k"])
    moe_layers = [int(x) for x in meta["moe_layers"]]
    ordinal_of = {layer: i for i, layer in enumerate(moe_layers)}
    requests = {}
    for entry in meta["requests"]:
        pt = entry.get("prompt_tokens")
        requests[int(entry["id"])] = Request(int(entry["id"]), None if pt is None else int(pt))

    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header[:4] != ["request", "token", "layer", "experts"]:
            raise ValueError("%s: unexpected header %r" % (csv_path, header))
        for lineno, row in enumerate(reader, start=2):
            rid, token, layer = int(row[0]), int(row[1]), int(row[2])
            experts = tuple(int(x) for x in row[3].split())
            where = "%s:%d" % (csv_path, lineno)
            _check_experts(experts, E, k, where)
            if rid not in requests:  # a request the meta file does not list: prompt unknown
                requests[rid] = Request(rid, None)
            token_cells = requests[rid].cells.setdefault(token, {})
            ordinal = ordinal_of[layer]
            if ordinal in token_cells:
                raise ValueError("%s: duplicate cell" % where)
            token_cells[ordinal] = experts

    for r in requests.values():
        # Prefill: the recorded tokens with token < prompt_tokens, one step; then one step per
        # decode token. Unknown prompt length: every token is a decode step.
        toks = r.tokens()
        if r.prompt_tokens is None:
            prefill, decode = [], toks
        else:
            prefill = [t for t in toks if t < r.prompt_tokens]
            decode = [t for t in toks if t >= r.prompt_tokens]
        r.steps = ([("prefill", prefill)] if prefill else []) + [("decode", [t]) for t in decode]
    name = os.path.basename(csv_path)[:-len(".csv")]
    return Trace(name, E, k, moe_layers, requests.values())


def read_json_trace(directory):
    """The paper's format: <id>.json per request, a list of steps {layer: null | [[ids], ...]}."""
    raw = {}
    for fname in os.listdir(directory):
        if fname.endswith(".json") and fname[:-5].isdigit():
            with open(os.path.join(directory, fname)) as f:
                raw[int(fname[:-5])] = json.load(f)
    # MoE layers: decoder layers that are non-null anywhere; E = max expert id + 1; k = list len.
    moe = set()
    max_id = -1
    k = None
    for steps in raw.values():
        for step in steps:
            for layer, per_token in step.items():
                if per_token is None:
                    continue
                moe.add(int(layer))
                for experts in per_token:
                    max_id = max(max_id, max(experts))
                    k = len(experts) if k is None else k
    moe_layers = sorted(moe)
    ordinal_of = {layer: i for i, layer in enumerate(moe_layers)}
    E = max_id + 1

    requests = []
    for rid in sorted(raw):
        steps = raw[rid]
        prompt_tokens = None
        r = Request(rid, None)
        next_token = 0
        for step_index, step in enumerate(steps):
            lengths = [len(v) for v in step.values() if v is not None]
            n = max(lengths) if lengths else 0
            tokens = list(range(next_token, next_token + n))
            next_token += n
            if step_index == 0:
                prompt_tokens = n
            elif n != 1:
                raise ValueError("%s/%d.json step %d: decode step with %d tokens"
                                 % (directory, rid, step_index, n))
            for layer, per_token in step.items():
                if per_token is None:
                    continue
                if len(per_token) != n:
                    raise ValueError("%s/%d.json step %d layer %s: ragged token lists"
                                     % (directory, rid, step_index, layer))
                for t, experts in zip(tokens, per_token):
                    experts = tuple(experts)
                    _check_experts(experts, E, k, "%s/%d.json" % (directory, rid))
                    r.cells.setdefault(t, {})[ordinal_of[int(layer)]] = experts
            tokens = [t for t in tokens if t in r.cells]
            if tokens:
                r.steps.append(("prefill" if step_index == 0 else "decode", tokens))
        r.prompt_tokens = prompt_tokens
        requests.append(r)
    name = os.path.basename(os.path.dirname(directory.rstrip("/"))) + "/" + \
        os.path.basename(directory.rstrip("/"))
    return Trace(name, E, k, moe_layers, requests)


def read_trace(path):
    return read_json_trace(path) if os.path.isdir(path) else read_csv_trace(path)


# --------------------------------------------------------------------------------------------
# Predictors. A forecast is a list of E non-negative integers w; p_e = w_e / sum(w).
# observe(l, cells) gets, for each token of the step in token order whose layer l is recorded,
# the pair (experts at layer l, experts at layer l-1 in this step or None).
# --------------------------------------------------------------------------------------------

class Uniform:
    def __init__(self, E, k, L):
        self.E = E

    def start_request(self):
        pass

    def next_layer(self, l, prev_experts):
        return [1] * self.E

    def next_token(self, l):
        return [1] * self.E

    def observe(self, l, cells):
        pass


class Frequency:
    """p_e = (c_e + 1) / (sum c + E), c = per-layer selection counts over all observed tokens."""

    def __init__(self, E, k, L):
        self.E = E
        self.counts = [[0] * E for _ in range(L)]

    def start_request(self):
        pass

    def next_layer(self, l, prev_experts):
        return [c + 1 for c in self.counts[l]]

    def next_token(self, l):
        return [c + 1 for c in self.counts[l]]

    def observe(self, l, cells):
        for experts, _ in cells:
            for e in experts:
                self.counts[l][e] += 1


class PreviousToken:
    """The experts the sequence's most recently observed token chose at layer l.

    p = u/E + (1-u)/k on those k experts, u/E elsewhere; uniform when there is none.
    Scaled by den(u) * E * k: others get num(u) * k, chosen get num(u) * k + (den(u)-num(u)) * E.
    """

    def __init__(self, E, k, L):
        self.E, self.k = E, k
        u = PREVIOUS_TOKEN_UNIFORM_SHARE
        self.w_other = u.numerator * k
        self.w_chosen = u.numerator * k + (u.denominator - u.numerator) * E
        self.last = {}

    def start_request(self):
        self.last = {}  # per-sequence context resets

    def _forecast(self, l):
        if l not in self.last:
            return [1] * self.E
        w = [self.w_other] * self.E
        for e in self.last[l]:
            w[e] = self.w_chosen
        return w

    def next_layer(self, l, prev_experts):
        return self._forecast(l)

    def next_token(self, l):
        return self._forecast(l)

    def observe(self, l, cells):
        for experts, _ in cells:  # token order: the last token of a prefill step remains
            self.last[l] = experts


class Markov:
    """First-order chain between consecutive MoE ordinals, smoothed towards layer popularity.

    p_j = (1/k) sum_{i in S_{l-1}} (T[i][j] + a pi(j)) / (n[i] + a), pi(j) = (c_j+1)/(C+E).
    With D = C + E and P = prod_i (n[i] + a), the exact integer weights are
    w_j = sum_i (T[i][j] D + a (c_j + 1)) * P / (n[i] + a)   (and sum_j w_j = k D P).
    """

    def __init__(self, E, k, L):
        self.E = E
        self.a = MARKOV_SMOOTHING
        self.counts = [[0] * E for _ in range(L)]
        self.T = [[[0] * E for _ in range(E)] for _ in range(max(L - 1, 0))]  # T[m][i][j]
        self.n = [[0] * E for _ in range(max(L - 1, 0))]  # n[m][i] = sum_j T[m][i][j]

    def start_request(self):
        pass

    def _popularity(self, l):
        return [c + 1 for c in self.counts[l]]

    def next_layer(self, l, prev_experts):
        if prev_experts is None:
            return self._popularity(l)
        c = self.counts[l]
        D = sum(c) + self.E
        a = self.a
        T, n = self.T[l - 1], self.n[l - 1]
        P = 1
        for i in prev_experts:
            P *= n[i] + a
        w = [0] * self.E
        for i in prev_experts:
            row, scale = T[i], P // (n[i] + a)
            for j in range(self.E):
                w[j] += (row[j] * D + a * (c[j] + 1)) * scale
        return w

    def next_token(self, l):
        return self._popularity(l)

    def observe(self, l, cells):
        for experts, prev_experts in cells:
            for e in experts:
                self.counts[l][e] += 1
            if prev_experts is not None:
                T, n = self.T[l - 1], self.n[l - 1]
                for i in prev_experts:
                    for j in experts:
                        T[i][j] += 1
                    n[i] += len(experts)


PREDICTOR_CLASSES = {"uniform": Uniform, "frequency": Frequency,
                     "previous-token": PreviousToken, "markov": Markov}


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

class Accumulator:
    def __init__(self):
        self.pairs = 0
        self.topk_hits = 0  # sum over pairs of |top_k ∩ S|
        self.top2k_hits = 0
        self.hit1 = 0
        self.brier = array("d")  # per-pair values, summed with math.fsum at the end
        self.nll = array("d")

    def score(self, w, truth, E, k):
        W = sum(w)
        # p descending, ties broken by the smaller id: Python's sort is stable, and stays
        # stable with reverse=True (equal keys keep their original, increasing-id order).
        order = sorted(range(E), key=w.__getitem__, reverse=True)
        S = set(truth)
        self.pairs += 1
        self.topk_hits += sum(1 for e in order[:k] if e in S)
        self.top2k_hits += sum(1 for e in order[:min(2 * k, E)] if e in S)
        self.hit1 += 1 if order[0] in S else 0
        q = [1.0 if k * x >= W else (k * x) / W for x in w]  # min(1, k p_e); int / int rounds once
        terms = [x * x for x in q]  # (q_e - 0)^2 for e not in S ...
        for e in S:
            terms[e] = (q[e] - 1.0) ** 2  # ... and (q_e - 1)^2 for e in S
        self.brier.append(math.fsum(terms) / E)
        self.nll.append(-math.fsum(math.log(max(w[e] / W, NLL_FLOOR)) for e in S) / k)

    def result(self, k):
        if self.pairs == 0:
            return {"pairs": 0}
        return {
            "recall@k": self.topk_hits / (k * self.pairs),
            "recall@2k": self.top2k_hits / (k * self.pairs),
            "hit@1": self.hit1 / self.pairs,
            "brier": math.fsum(self.brier) / self.pairs,
            "nll": math.fsum(self.nll) / self.pairs,
            "pairs": self.pairs,
        }


# --------------------------------------------------------------------------------------------
# Replay (batch size 1)
# --------------------------------------------------------------------------------------------

def evaluate(trace, warmup_fraction=WARMUP_FRACTION):
    E, k, L = trace.E, trace.k, len(trace.moe_layers)
    predictors = {name: PREDICTOR_CLASSES[name](E, k, L) for name in PREDICTORS}
    acc = {kind: {name: Accumulator() for name in PREDICTORS}
           for kind in ("next-layer", "next-token")}
    n_warm = math.floor(warmup_fraction * len(trace.requests))
    evaluated_tokens = 0

    for r_index, request in enumerate(trace.requests):
        evaluated = r_index >= n_warm
        for p in predictors.values():
            p.start_request()
        for step_index, (kind, tokens) in enumerate(request.steps):
            if evaluated:
                evaluated_tokens += len(tokens)
            # Next-token forecast: before a decode step that follows an earlier step.
            if evaluated and kind == "decode" and step_index > 0:
                for l in range(L):
                    for name, p in predictors.items():
                        w = p.next_token(l)
                        for t in tokens:
                            truth = request.cells[t].get(l)
                            if truth is not None:
                                acc["next-token"][name].score(w, truth, E, k)
            for l in range(L):
                # Next-layer forecast for layer l (l >= 1), after layer l-1 of this step.
                if evaluated and l >= 1:
                    for name, p in predictors.items():
                        for t in tokens:
                            truth = request.cells[t].get(l)
                            if truth is not None:
                                w = p.next_layer(l, request.cells[t].get(l - 1))
                                acc["next-layer"][name].score(w, truth, E, k)
                # Observe layer l for every token of the step.
                cells = [(request.cells[t][l], request.cells[t].get(l - 1) if l >= 1 else None)
                         for t in tokens if l in request.cells[t]]
                for p in predictors.values():
                    p.observe(l, cells)

    return {kind: {name: a.result(k) for name, a in by_name.items()}
            for kind, by_name in acc.items()}, n_warm, evaluated_tokens


def trace_facts(trace):
    return {
        "name": trace.name,
        "E": trace.E,
        "k": trace.k,
        "moe_layers": trace.moe_layers,
        "requests": len(trace.requests),
        "first_requests": [[r.id, len(r.cells), r.prompt_tokens] for r in trace.requests[:3]],
        "tokens": trace.num_tokens(),
        "cells": trace.num_cells(),
        "holes": trace.num_holes(),
    }


def run(path, warmup_fraction):
    start = time.perf_counter()
    trace = read_trace(path)
    facts = trace_facts(trace)
    metrics, n_warm, evaluated_tokens = evaluate(trace, warmup_fraction)
    facts["path"] = path
    facts["warmup_requests"] = n_warm
    facts["evaluated_requests"] = len(trace.requests) - n_warm
    facts["evaluated_tokens"] = evaluated_tokens
    facts["metrics"] = metrics
    facts["seconds"] = round(time.perf_counter() - start, 1)
    return facts


def g12(x):
    return "%.12g" % x


def print_table(res):
    print("== %s  (%s)" % (res["name"], res["path"]))
    print("E=%d k=%d moe_layers=%s" % (res["E"], res["k"], res["moe_layers"]))
    print("requests=%d warmup=%d evaluated_requests=%d tokens=%d evaluated_tokens=%d "
          "cells=%d holes=%d" % (res["requests"], res["warmup_requests"],
                                 res["evaluated_requests"], res["tokens"],
                                 res["evaluated_tokens"], res["cells"], res["holes"]))
    print("first requests (id, tokens, prompt_tokens): %s"
          % ", ".join("(%d, %d, %s)" % tuple(x) for x in res["first_requests"]))
    cols = ("recall@k", "recall@2k", "hit@1", "brier", "nll")
    for kind in ("next-layer", "next-token"):
        print("  %-11s %-15s %s %8s" % (kind, "predictor",
                                        " ".join("%-18s" % c for c in cols), "pairs"))
        for name, m in res["metrics"][kind].items():
            vals = " ".join("%-18s" % (g12(m[c]) if m["pairs"] else "-") for c in cols)
            print("  %-11s %-15s %s %8d" % ("", name, vals, m["pairs"]))
    print("  (%.1f s)" % res["seconds"])
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", action="append",
                    help="a .csv trace (meta beside it) or a directory of <id>.json files; "
                         "repeatable; default: the five reference traces")
    ap.add_argument("--warmup", type=float, default=WARMUP_FRACTION)
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args()
    results = [run(p, args.warmup) for p in (args.trace or DEFAULT_TRACES)]
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
    else:
        for res in results:
            print_table(res)


if __name__ == "__main__":
    main()
