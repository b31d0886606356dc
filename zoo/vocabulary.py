"""The catalogue's vocabulary, spelled once: frameworks, tasks, stages, statuses, gates, the
default tolerance, devices, modes, opsets and the seed.

The catalogue (zoo/catalogue.py), the harness (cases, statuses, records) and the reports
(columns, status kinds) all read these names from here (docs/design.md §1, §3, §4). The
module imports nothing, so reports — which otherwise read record files only — and the
harness parent can import it without the zoo's loader, a source framework or OneFlow.
"""
# Source frameworks, in the support matrix's column order; OneFlow last (the round trip).
SOURCE_FRAMEWORKS = ("torch", "tensorflow", "paddle")
FRAMEWORKS = SOURCE_FRAMEWORKS + ("oneflow",)

# What an architecture does (an entry's `task`). Classifiers are built without their softmax
# and are also judged by top-5 agreement (docs/design.md §4). The second tier's tasks (issue 22):
# semantic segmentation (per-pixel class scores at the input's size), text encoders (token ids,
# token types and a padded attention mask in; hidden states out) and decoder-only language
# models (token ids and a padded mask in; next-token logits out, no KV cache).
CLASSIFICATION = "classification"
TASKS = (CLASSIFICATION, "segmentation", "text-encoder", "language-model")

# The stages of a case, in order (docs/design.md §3). The export process (zoo.export) runs
# the first two; ORT runs the export; the converter converts; OneFlow runs and is timed
# (latency); parity compares.
STAGES = ("build", "export", "ort", "convert", "run", "latency", "parity")
EXPORT_STAGES = STAGES[:2]

# Status kinds (docs/design.md §3): a final status is `pass`, `xpass`, `infra`, `skip:<reason>`
# or `<kind>:<stage>` for the rest. RED_KINDS make a run red.
PASS, XPASS, FAIL, XFAIL, SKIP, CRASH, TIMEOUT, INFRA = (
    "pass", "xpass", "fail", "xfail", "skip", "crash", "timeout", "infra")
STATUS_KINDS = (PASS, XPASS, FAIL, CRASH, TIMEOUT, INFRA, XFAIL, SKIP)
RED_KINDS = (FAIL, CRASH, TIMEOUT, INFRA)


def status_kind(status) -> str:
    """'fail:parity' -> 'fail'; 'pass' -> 'pass'; a missing status counts as infra."""
    return (status or INFRA).split(":", 1)[0]


# The two comparisons (docs/design.md §4): the exporter's (source vs ONNX Runtime) and the
# converter's (OneFlow vs ONNX Runtime). A catalogue tolerance row relaxes the source gate
# unless it names the converter's.
SOURCE_GATE, CONVERTER_GATE = GATES = ("source", "converter")

# The float32 tolerance of a gate without a catalogue row (docs/design.md §4). The converter's
# own comparison (converter/numerics.py) has the same default; a test keeps them equal.
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-5

# Where a case runs; a tolerance row for every device says ANY_DEVICE.
DEVICES = ("cpu", "cuda")
ANY_DEVICE = "any"

# How the converted model runs: eagerly, or wrapped in oneflow.nn.Graph.
MODES = ("eager", "graph")

# Every cell runs at the matrix's opsets; tests and single cases default to DEFAULT_OPSET.
MATRIX_OPSETS = (11, 13, 17)
GRAPH_OPSETS = (13,)    # graph mode's published slices (make matrix-graph, nightly)
DEFAULT_OPSET = 13
DEFAULT_SEED = 0
