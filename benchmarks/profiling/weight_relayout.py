"""What re-laying out the weights costs the fused kernel's inference call.

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.profiling.weight_relayout \
        [--shape ptb] [--batch 1] [--rounds 5]

MXNet 1.9.1's oneDNN ``RNN`` re-lays out its weights on an inference call only when
its packed weight input changed since the last call (``mkldnn_rnn.cc`` compares the
array's version).  A Gluon block packs its weights inside the graph, so every call
writes a new pack and pays the re-layout; a served graph's pack is folded into a
constant (docs/serving.md).  This times one ``RNN`` call per layer (contenders.py's
shape) in a cached graph whose packed weights are a constant parameter, the same graph
with the pack recomputed on each call (one copy of it), our fused layer as speed.py
runs it, and PyTorch's ``nn.LSTM`` when installed.  Prints ms per call; writes nothing.
"""
from __future__ import annotations

import argparse
import statistics

from ..contenders import HAVE_TORCH, SHAPES, mxnet_contender, torch_contender
from ..harness import race

import mxnet as mx  # after contenders, which imports gluon_seq first (it sets the threads)
from mxnet import gluon


class PackedLSTM(gluon.HybridBlock):
    """One ``RNN`` call per layer on packed weights held as parameters; ``repack``:
    each call copies the pack first, as an in-graph pack writes a new array."""

    def __init__(self, C: int, H: int, layers: int, repack: bool, **kwargs):
        super().__init__(**kwargs)
        self._hidden, self._layers, self._repack = H, layers, repack
        for index in range(layers):
            size = 4 * H * ((C if index == 0 else H) + H) + 8 * H
            setattr(self, f"pack{index}", self.params.get(f"pack{index}", shape=(size,),
                                                          grad_req="null"))

    def hybrid_forward(self, F, x, h, c, **packs):
        out = x
        for index in range(self._layers):
            pack = packs[f"pack{index}"]
            if self._repack:
                pack = F.identity(pack) * 1  # a new array each call, as an in-graph pack
            rows = [F.slice_axis(s, axis=0, begin=index, end=index + 1) for s in (h, c)]
            out = F.RNN(out, pack, *rows, state_size=self._hidden, num_layers=1,
                        mode="lstm", state_outputs=True)[0]  # (T, N, H)
        return out


def contenders(shape: str, batch: int) -> dict:
    T, _, C, H, L = SHAPES[shape]
    x = mx.nd.random.uniform(shape=(T, batch, C))
    states = [mx.nd.zeros((L, batch, H)) for _ in range(2)]
    calls = {}
    for repack, name in ((False, "RNN, packed weights constant"),
                         (True, "RNN, packed weights rewritten each call")):
        block = PackedLSTM(C, H, L, repack)
        block.initialize(mx.init.Uniform(0.1))
        block.hybridize(static_alloc=True, static_shape=True)
        calls[name] = lambda block=block: block(x, *states).wait_to_read()
    calls["ours fused (speed.py's row)"] = mxnet_contender("ours fused", "lstm",
                                                           SHAPES[shape], batch)[1]
    if HAVE_TORCH:
        calls["PyTorch nn.LSTM"] = torch_contender("lstm", SHAPES[shape], batch)[1]
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="ptb", choices=list(SHAPES))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    raced = race(contenders(args.shape, args.batch), args.rounds, 0.5)
    print(f"{args.shape}, batch {args.batch}: ms per inference call, median of "
          f"{args.rounds} rounds")
    for name, entry in raced.items():
        print(f"  {statistics.median(entry['means']) * 1e3:8.2f}  {name}")


if __name__ == "__main__":
    main()
