from __future__ import annotations


def process(inputs, ctx):
    return inputs
