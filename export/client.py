"""A small TensorFlow Serving client for models exported by `mtl_tf.export`.

REST (``POST /v1/models/<name>[/versions/<v>]:predict``) needs only the standard library;
gRPC (``PredictionService/Predict``) needs the optional ``tensorflow-serving-api``
package, imported only when gRPC is used.

    # REST, one 36x36x1 image stored with numpy.save, float32 in [0, 1]
    python export/client.py --model stl_top_left --image digit.npy
    # raw uint8 pixels through the second signature, over gRPC
    python export/client.py --model mtvib --image digits_uint8.npy \
        --signature serving_uint8 --protocol grpc
    # smoke test without an image: one blank image of the given shape
    python export/client.py --model mtvib --blank 36,36,1

Images are nested lists (or numpy arrays), ``[H, W, C]`` for one image or
``[batch, H, W, C]`` for several; see export/README.md for the signatures. When the
model has class names (a ``<task>_class_name`` output), they are printed next to the ids:
``image 0 top_left: class 3 "Dress" (p=0.912)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

SIGNATURE_INPUTS = {"serving_default": "image", "serving_uint8": "image_uint8"}

_GRPC_MISSING = (
    "gRPC needs the optional package tensorflow-serving-api "
    "(pip install 'mtl_tf[serving]' or pip install tensorflow-serving-api); "
    "REST (--protocol rest) works without it"
)


def _as_batch(images: Any) -> list:
    """Nested lists ``[batch, H, W, C]`` from a list/array of rank 3 (one image) or 4."""
    data = images.tolist() if hasattr(images, "tolist") else images
    depth, probe = 0, data
    while isinstance(probe, list | tuple):
        if not probe:
            raise ValueError("empty image list")
        depth, probe = depth + 1, probe[0]
    if depth == 3:
        return [data]
    if depth == 4:
        return list(data)
    raise ValueError(f"expected an image [H, W, C] or a batch [N, H, W, C], got rank {depth}")


def _input_name(signature_name: str) -> str:
    if signature_name not in SIGNATURE_INPUTS:
        raise ValueError(
            f"unknown signature {signature_name!r}; allowed: {', '.join(SIGNATURE_INPUTS)}"
        )
    return SIGNATURE_INPUTS[signature_name]


def build_rest_request(
    model_name: str,
    images: Any,
    *,
    host: str = "localhost",
    port: int = 8501,
    signature_name: str = "serving_default",
    version: int | None = None,
    columnar: bool = False,
) -> tuple[str, str]:
    """The URL and JSON body of a REST predict request.

    Args:
      model_name: the served model's name (as in models.config).
      images: one image ``[H, W, C]`` or a batch ``[N, H, W, C]`` (nested lists or a
        numpy array); float in [0, 1] for ``serving_default``, integers 0..255 for
        ``serving_uint8``.
      host: TF Serving's host.
      port: its REST port (8501 by default).
      signature_name: ``serving_default`` or ``serving_uint8``.
      version: a specific version; None lets the server pick (the latest).
      columnar: send ``{"inputs": {name: batch}}`` (answer under "outputs") instead of
        the row format ``{"instances": [{name: image}, ...]}`` (answer under
        "predictions", one object per image).

    Returns:
      ``(url, body)``: the URL to POST to and the body as JSON text.
    """
    input_name = _input_name(signature_name)
    batch = _as_batch(images)
    if signature_name == "serving_uint8":
        # JSON numbers are converted to the input's dtype by the server: send integers.
        batch = json.loads(json.dumps(batch), parse_float=lambda s: int(round(float(s))))
    path = f"/v1/models/{model_name}"
    if version is not None:
        path += f"/versions/{int(version)}"
    url = f"http://{host}:{port}{path}:predict"
    body: dict[str, Any] = {"signature_name": signature_name}
    if columnar:
        body["inputs"] = {input_name: batch}
    else:
        body["instances"] = [{input_name: image} for image in batch]
    return url, json.dumps(body)


def predict_rest(url: str, body: str, timeout: float = 30.0) -> dict:
    """POSTs a request from `build_rest_request`; returns the decoded JSON answer.

    Raises:
      RuntimeError: the server answered with an error (its message included).
    """
    request = urllib.request.Request(
        url, data=body.encode("utf-8"), headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", errors="replace")
        raise RuntimeError(f"TF Serving returned HTTP {e.code} for {url}: {detail}") from e


def build_grpc_request(
    model_name: str,
    images: Any,
    *,
    signature_name: str = "serving_default",
    version: int | None = None,
):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for the images.

    Needs the optional tensorflow-serving-api package (and numpy, TensorFlow).

    Raises:
      ImportError: tensorflow-serving-api is not installed (message says how to get it).
    """
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError as e:
        raise ImportError(_GRPC_MISSING) from e
    import numpy as np
    import tensorflow as tf

    input_name = _input_name(signature_name)
    dtype = np.uint8 if signature_name == "serving_uint8" else np.float32
    batch = np.asarray(_as_batch(images))
    if dtype is np.uint8 and batch.dtype != np.uint8:
        batch = np.clip(np.rint(batch), 0, 255)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(batch.astype(dtype)))
    return request


def predict_grpc(request, host: str = "localhost", port: int = 8500, timeout: float = 30.0):
    """Sends a request from `build_grpc_request`; returns {output name: numpy array}."""
    try:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc
    except ImportError as e:
        raise ImportError(_GRPC_MISSING) from e
    import tensorflow as tf

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def _load_images(path: str) -> Any:
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    import numpy as np  # only for .npy files

    return np.load(path)


def _plain(value: Any) -> Any:
    """Nested lists of JSON types: numpy arrays to lists, bytes (gRPC strings) to str."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _summarize(outputs: dict) -> list[str]:
    """One line per task and image: predicted class id, its name if the model has
    names (``<task>_class_name``), and its probability."""
    lines = []
    tasks = sorted(k[: -len("_class_id")] for k in outputs if k.endswith("_class_id"))
    for task in tasks:
        ids = _plain(outputs[f"{task}_class_id"])
        probs = _plain(outputs[f"{task}_probabilities"])
        names = _plain(outputs.get(f"{task}_class_name", [None] * len(ids)))
        for i, (cls, p, name) in enumerate(zip(ids, probs, names, strict=True)):
            label = f'class {cls} "{name}"' if name is not None else f"class {cls}"
            lines.append(f"image {i} {task}: {label} (p={p[cls]:.3f})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="served model name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help=".npy or .json file: [H, W, C] or [N, H, W, C]")
    source.add_argument("--blank", help="send one blank image of shape H,W,C, e.g. 36,36,1")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    parser.add_argument("--signature", choices=tuple(SIGNATURE_INPUTS), default="serving_default")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--rest_port", type=int, default=8501)
    parser.add_argument("--grpc_port", type=int, default=8500)
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--raw", action="store_true", help="print the full answer as JSON")
    args = parser.parse_args(argv)

    if args.image:
        images = _load_images(args.image)
    else:
        h, w, c = (int(d) for d in args.blank.split(","))
        images = [[[0] * c for _ in range(w)] for _ in range(h)]

    if args.protocol == "rest":
        url, body = build_rest_request(
            args.model, images, host=args.host, port=args.rest_port,
            signature_name=args.signature, version=args.version, columnar=True,
        )
        outputs = predict_rest(url, body)["outputs"]
    else:
        request = build_grpc_request(
            args.model, images, signature_name=args.signature, version=args.version
        )
        outputs = predict_grpc(request, host=args.host, port=args.grpc_port)
    if args.raw:
        print(json.dumps({k: _plain(v) for k, v in outputs.items()}))
    else:
        print("\n".join(_summarize(outputs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
