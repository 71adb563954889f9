"""Constant folding: the parts of a graph that read only its weights, computed once at load.

An export's graph re-derives values from the constant weights on every call: each
recurrent layer reshapes its weights and packs them into the flat vector the ``RNN``
operator takes (``_rnn_param_concat``, or ``_gs_pack`` in the compiled graph).  A
predictor's weights never change, so :func:`fold` evaluates every such node once and
hands the graph its value as a parameter instead; the answers are the same.  Nodes that
draw random numbers are never folded.  :func:`prepack` first rewrites a compiled graph
so that its recurrent layers and large FullyConnected layers read their weights through
``_gs_panels``, the layout gluon_seq's GEMM takes, which folding then makes once.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence, Tuple

import mxnet as mx

from ..rnn import compiled_ops

# Operators whose output is not a function of their inputs alone.
_RANDOM = ("Dropout", "_random", "_sample", "random_", "sample_")
FOLDED = "folded_"  # the name prefix of the parameters that stand for folded nodes
# The weight input that each layer operator can take packed (its attribute packed=1).
_PACKABLE = {compiled_ops.LAYER_OP: 3, compiled_ops.GRU_LAYER_OP: 2}
# FullyConnected weights from this many elements on are read packed (_gs_dense): the
# stock operator re-packs them every call; on small ones MXNet's own is as fast.
DENSE_MIN = 1 << 16


def _true(flag: str) -> bool:
    """A boolean attribute of a graph node as MXNet writes it ("True", "1", "true")."""
    return flag.lower() in ("true", "1")


def prepack(symbol: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray]) -> mx.sym.Symbol:
    """``symbol`` with the constant weights of its layer operators (``_gs_lstm_layer``,
    ``_gs_gru_layer``) and of FullyConnected layers of at least :data:`DENSE_MIN`
    elements read through ``_gs_panels``; the FullyConnected layers become ``_gs_dense``.
    Only for a graph whose operators are loaded: the compiled one."""
    graph = json.loads(symbol.tojson())
    nodes = graph["nodes"]

    def weight(entry) -> bool:
        node = nodes[entry[0]]
        return node["op"] == "null" and node["name"] in params

    def panels(entry, name: str) -> list:
        nodes.append({"op": compiled_ops.PANELS_OP, "name": f"{name}_panels", "inputs": [entry]})
        return [len(nodes) - 1, 0, 0]

    for node in list(nodes):
        op, inputs, attrs = node["op"], node["inputs"], node.get("attrs", {})
        if op in _PACKABLE and weight(inputs[_PACKABLE[op]]):
            inputs[_PACKABLE[op]] = panels(inputs[_PACKABLE[op]], node["name"])
            node["attrs"] = dict(attrs, packed="1")
        elif op == "FullyConnected" and weight(inputs[1]) and \
                params[nodes[inputs[1][0]]["name"]].size >= DENSE_MIN:
            inputs[1] = panels(inputs[1], node["name"])
            node["op"] = compiled_ops.DENSE_OP
            node["attrs"] = {"num_hidden": attrs["num_hidden"],
                             "flatten": "1" if _true(attrs.get("flatten", "True")) else "0",
                             "no_bias": "1" if _true(attrs.get("no_bias", "False")) else "0"}
    return _pruned(graph)


def _constant_nodes(nodes: List[dict], params: set) -> List[bool]:
    """For each node (in topological order), whether its value depends on weights only."""
    constant = []
    for node in nodes:
        if node["op"] == "null":
            constant.append(node["name"] in params)
        else:
            inputs = [constant[i] for i, _, _ in node["inputs"]]
            constant.append(bool(inputs) and all(inputs)
                            and not any(key in node["op"] for key in _RANDOM))
    return constant


def _frontier(graph: dict, constant: List[bool]) -> List[Tuple[int, int]]:
    """(node, output) pairs that are constant and read by a node that is not, or are
    outputs of the graph: the values worth computing once.  Weights themselves are left."""
    nodes, wanted = graph["nodes"], []
    readers = [(i, entry) for i, node in enumerate(nodes) if not constant[i]
               for entry in node["inputs"]] + [(None, head) for head in graph["heads"]]
    for _, (source, output, _) in readers:
        if constant[source] and nodes[source]["op"] != "null" and (source, output) not in wanted:
            wanted.append((source, output))
    return wanted


def fold(symbol: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray],
         data_names: Sequence[str]) -> Tuple[mx.sym.Symbol, Dict[str, mx.nd.NDArray]]:
    """(``symbol`` with every weights-only subgraph replaced by a parameter holding its
    value, the parameters that graph reads).  ``params`` maps argument and auxiliary
    names to arrays; ``data_names`` are the graph's inputs, never constant."""
    graph = json.loads(symbol.tojson())
    nodes = graph["nodes"]
    constant = _constant_nodes(nodes, set(params) - set(data_names))
    wanted = _frontier(graph, constant)
    if not wanted:
        return _pruned(_with_shapes(graph, params)), params
    values = _pruned(dict(graph, heads=[[n, o, 0] for n, o in wanted]))
    computed = _evaluate(values, params)
    new_params = dict(params)
    replaced = {}
    for (node, output), value in zip(wanted, computed):
        name = f"{FOLDED}{nodes[node]['name']}_{output}"
        nodes.append({"op": "null", "name": name, "inputs": []})
        replaced[(node, output)] = len(nodes) - 1
        new_params[name] = value.copy()
    for node in nodes:
        node["inputs"] = [[replaced[(s, o)], 0, 0] if (s, o) in replaced else [s, o, v]
                          for s, o, v in node["inputs"]]
    graph["heads"] = [[replaced[(s, o)], 0, 0] if (s, o) in replaced else [s, o, v]
                      for s, o, v in graph["heads"]]
    folded = _pruned(_with_shapes(graph, new_params))
    used = set(folded.list_arguments()) | set(folded.list_auxiliary_states())
    return folded, {k: v for k, v in new_params.items() if k in used}


def graph_params(symbol: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray],
                 data_names: Sequence[str]) -> Tuple[Dict, Dict]:
    """(arguments, auxiliary states) of ``symbol`` taken from ``params``; its data inputs
    are not among them."""
    arguments = {k: params[k] for k in symbol.list_arguments() if k not in data_names}
    return arguments, {k: params[k] for k in symbol.list_auxiliary_states()}


def _with_shapes(graph: dict, params: Dict[str, mx.nd.NDArray]) -> dict:
    """``graph`` with each weight's shape written on its node, as ``mx.sym.var(shape=)``
    does: a folded value's shape cannot be inferred from the operators that read it, and
    MXNet's C predict API infers every shape from the graph and the input shapes alone."""
    for node in graph["nodes"]:
        if node["op"] == "null" and node["name"] in params:
            shape = tuple(params[node["name"]].shape)
            node["attrs"] = dict(node.get("attrs", {}), __shape__=str(shape))
    return graph


def _evaluate(symbol: mx.sym.Symbol, params: Dict[str, mx.nd.NDArray]) -> list:
    """The outputs of a graph that reads only ``params``."""
    quiet = os.environ.get("MXNET_SUBGRAPH_VERBOSE")
    os.environ["MXNET_SUBGRAPH_VERBOSE"] = "0"  # binding logs a line otherwise
    try:
        executor = symbol.bind(mx.cpu(), {k: params[k] for k in symbol.list_arguments()},
                               aux_states={k: params[k] for k in symbol.list_auxiliary_states()},
                               grad_req="null")
        return executor.forward(is_train=False)
    finally:
        if quiet is None:
            del os.environ["MXNET_SUBGRAPH_VERBOSE"]
        else:
            os.environ["MXNET_SUBGRAPH_VERBOSE"] = quiet


def _pruned(graph: dict) -> mx.sym.Symbol:
    """The graph with only the nodes its heads reach, renumbered so that every node
    comes after its inputs (a folded value's node was appended at the end)."""
    nodes, order, seen = graph["nodes"], [], set()
    stack = [(head[0], False) for head in reversed(graph["heads"])]
    while stack:  # depth first, children before parents; no recursion (unrolled graphs are deep)
        index, children_done = stack.pop()
        if children_done:
            order.append(index)
        elif index not in seen:
            seen.add(index)
            stack.append((index, True))
            stack += [(source, False) for source, _, _ in reversed(nodes[index]["inputs"])]
    new_index = {old: new for new, old in enumerate(order)}
    renumber = lambda entries: [[new_index[s], o, v] for s, o, v in entries]  # noqa: E731
    kept = [dict(nodes[i], inputs=renumber(nodes[i]["inputs"])) for i in order]
    result = dict(graph, nodes=kept, heads=renumber(graph["heads"]),
                  arg_nodes=[i for i, node in enumerate(kept) if node["op"] == "null"],
                  node_row_ptr=list(range(len(kept) + 1)))
    return mx.sym.load_json(json.dumps(result))
