"""Conformance cases of the sequence ops (issue 17): embedding over int64 token inputs, simple RNN, LSTM, both GRU variants, return_sequences, go_backwards,
stacked layers, no bias, non-default activations (the torch cell-loop path) and initializers.

Sequences are short (5 steps of 3 features) so that the float64 oracle and its
backpropagation through time stay fast; part of :data:`dnnc.conformance.cases.CASES`.
"""

from __future__ import annotations

from typing import Any

from .cases import Case, _seq

SEQ = [5, 3]


def _rnn(op: str, **extra: Any) -> dict[str, Any]:
    return {"type": op, "units": 4, **extra}


def recurrent_cases() -> list[Case]:
    return [
        Case("op_simple_rnn", _seq(SEQ, [_rnn("simple_rnn", bias_init={"type": "random_normal", "stddev": 0.3})]),
             ("simple_rnn",), notes="tanh: torch's fused rnn_tanh"),
        Case("op_simple_rnn_stacked", _seq(SEQ, [
            _rnn("simple_rnn", return_sequences=True, go_backwards=True, activation="relu"),
            _rnn("simple_rnn", units=3, activation="softsign", use_bias=False)]),
             ("simple_rnn",), notes="relu (fused rnn_relu) backwards under softsign (cell loop), no bias"),
        Case("op_lstm", _seq(SEQ, [_rnn("lstm")]), ("lstm", "orthogonal")),
        Case("op_lstm_sequences_backwards", _seq(SEQ, [_rnn("lstm", return_sequences=True, go_backwards=True,
                                                            bias_init={"type": "random_uniform", "minval": -0.5,
                                                                       "maxval": 0.5}), "flatten"]),
             ("lstm",), notes="every state, steps read last to first, a random bias with unit_forget_bias"),
        Case("op_lstm_stacked_cell", _seq(SEQ, [
            _rnn("lstm", return_sequences=True, activation="softsign", recurrent_activation="hard_sigmoid",
                 unit_forget_bias=False, recurrent_init={"type": "orthogonal", "gain": 1.5}),
            _rnn("lstm", units=3, use_bias=False)]),
             ("lstm",), notes="two stacked layers; non-default activations (torch's cell loop), no bias"),
        Case("op_gru", _seq(SEQ, [_rnn("gru", bias_init={"type": "random_normal", "stddev": 0.3})]), ("gru",),
             notes="reset_after = true (two bias rows)"),
        Case("op_gru_reset_before", _seq(SEQ, [_rnn("gru", reset_after=False, return_sequences=True,
                                                    bias_init={"type": "random_normal", "stddev": 0.3}), "flatten"]),
             ("gru",), notes="reset_after = false (one bias, torch's cell loop), every state"),
        Case("op_gru_stacked_backwards", _seq(SEQ, [
            _rnn("gru", return_sequences=True, go_backwards=True, use_bias=False),
            _rnn("gru", units=3, reset_after=False, go_backwards=True, activation="relu")]),
             ("gru",), notes="stacked, both backwards, no bias, relu candidate"),
        Case("op_bidirectional_lstm_concat", _seq(SEQ, [
            {"type": "bidirectional", "layer": _rnn("lstm", return_sequences=True)}, "flatten"]),
             ("bidirectional", "lstm"), notes="every state, backward states in time order, concatenated"),
        Case("op_bidirectional_gru_sum", _seq(SEQ, [
            {"type": "bidirectional", "layer": _rnn("gru", reset_after=False), "merge_mode": "sum"}]),
             ("bidirectional", "gru"), notes="last states summed; reset_after = false (cell loop)"),
        Case("op_bidirectional_stacked_mul_ave", _seq(SEQ, [
            {"type": "bidirectional", "layer": _rnn("simple_rnn", return_sequences=True), "merge_mode": "mul"},
            {"type": "bidirectional", "layer": _rnn("gru", units=3), "merge_mode": "ave"}]),
             ("bidirectional", "simple_rnn", "gru"), notes="two stacked bidirectional layers, mul then ave"),
        Case("op_lstm_recurrent_dropout", _seq(SEQ, [_rnn("lstm", dropout=0.3, recurrent_dropout=0.4,
                                                          return_sequences=True), "flatten"]),
             ("lstm", "recurrent_dropout"), notes="per-gate masks on x and h (Keras's implementation 1)"),
        Case("op_gru_dropout", _seq(SEQ, [_rnn("gru", dropout=0.4)]), ("gru", "dropout"),
             notes="one input mask shared by the gates (no recurrent dropout)"),
        Case("op_gru_recurrent_dropout", _seq(SEQ, [
            _rnn("gru", recurrent_dropout=0.3, return_sequences=True, bias_init={"type": "random_normal",
                                                                                 "stddev": 0.3}),
            _rnn("gru", units=3, reset_after=False, dropout=0.2, recurrent_dropout=0.5)]),
             ("gru", "recurrent_dropout"), notes="both variants, per-gate masks"),
        Case("op_simple_rnn_dropout", _seq(SEQ, [_rnn("simple_rnn", dropout=0.3, recurrent_dropout=0.3)]),
             ("simple_rnn", "recurrent_dropout")),
        Case("op_bidirectional_dropout", _seq(SEQ, [
            {"type": "bidirectional", "layer": _rnn("lstm", units=3, dropout=0.25, recurrent_dropout=0.25)}]),
             ("bidirectional", "recurrent_dropout"), notes="each direction its own masks"),
        Case("op_embedding", _tokens([{"type": "embedding", "input_dim": 7, "output_dim": 3}, "flatten"]),
             ("embedding",), notes="int64 ids of 7 tokens over 6 positions: repeated ids sum their gradients"),
        Case("op_embedding_bidirectional_lstm", _tokens([
            {"type": "embedding", "input_dim": 9, "output_dim": 4, "embeddings_init": {"type": "random_normal",
                                                                                    "stddev": 0.5}},
            {"type": "bidirectional", "layer": _rnn("lstm", units=3)}]),
             ("embedding", "bidirectional", "lstm"), notes="the IMDB shape, small"),
    ]


def _tokens(layers: list) -> dict[str, Any]:
    """A model over one int64 token input of 6 positions."""
    spec = _seq([6], layers)
    model = spec["model"]
    model["inputs"] = [{"name": "tokens", "shape": [6], "dtype": "int64"}]
    del model["input_shape"]
    return spec
