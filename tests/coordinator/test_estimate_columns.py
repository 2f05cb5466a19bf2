"""A node's estimate results reach the HTTP client the same whether the node wrote them as
JSON (``estimate-json-reply.v1``) or as msgpack maps (``estimate-reply.v1``, nodes of an
older release), and a reply that does not fit the request is refused."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from actors.messages import EstimateJSONReply, EstimateReply
from actors.wire import pack, unpack
from coordinator.api.estimates import _columns
from coordinator.problems import ServiceUnavailable
from kernels import Predictions
from node import estimate_json
from node.model_calls import result_of

PREDICTIONS = Predictions(
    quantiles=np.array([[1.5, 3.0, 8.25], [0.5, 1.0, 2.0]]),
    medians=np.array([3.0, 1.0]),
    analogy_rows=np.array([[1, 0], [-1, -1]]),
    analogy_efforts=np.array([[2.0, 5.5], [1.0, 1.0]]),
    analogy_similarities=np.array([[0.91, -0.25], [0.0, 0.0]]),
    analogy_ids=["a-2", "a-1"],
    analogy_titles=["Export", 'Fix "login" — ünïcode\n'],
    drivers=[(("text", 0.31), ("size=large", -0.125)), ()],
)


def _json_reply(version: str, seq: int) -> EstimateJSONReply:
    rendered = estimate_json.render(PREDICTIONS)
    return EstimateJSONReply(*estimate_json.columns(PREDICTIONS, rendered, 0, 2),
                             model_version=version, seq=seq)


def _over_the_wire(msg):
    return type(msg).from_body(unpack(pack(msg.to_body())))


def test_json_and_map_replies_render_the_same_response():
    legacy = _over_the_wire(
        EstimateReply([result_of(p) for p in PREDICTIONS.to_list()], "m/t@3", 3))
    rendered = _over_the_wire(_json_reply("m/t@3", 3))
    a, b = _columns(legacy, 2, 3), _columns(rendered, 2, 3)
    assert orjson.loads(orjson.dumps(a)) == orjson.loads(orjson.dumps(b))
    rows, medians, analogies, drivers, version, seq = orjson.loads(orjson.dumps(b))
    assert rows == [[1.5, 3.0, 8.25], [0.5, 1.0, 2.0]] and medians == [3.0, 1.0]
    assert analogies[0] == [
        {"id": "a-1", "title": 'Fix "login" — ünïcode\n', "effort": 2.0, "similarity": 0.91},
        {"id": "a-2", "title": "Export", "effort": 5.5, "similarity": -0.25},
    ]
    assert drivers == [[{"feature": "text", "effect": 0.31},
                        {"feature": "size=large", "effect": -0.125}], []]
    assert (version, seq) == ("m/t@3", 3)


@pytest.mark.parametrize("n_items, n_levels", [(3, 3), (2, 2), (1, 3)])
def test_a_reply_that_does_not_fit_the_request_is_refused(n_items, n_levels):
    rendered = _json_reply("m", 1)
    legacy = EstimateReply([result_of(p) for p in PREDICTIONS.to_list()], "m", 1)
    for reply in (rendered, legacy):
        with pytest.raises(ServiceUnavailable):
            _columns(reply, n_items, n_levels)
