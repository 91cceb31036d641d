"""SavedModel export for TF Serving: real saves, loads and saved_model_cli runs.

No TF Serving binary exists here, so the exports are checked the ways the server would
see them: `tf.saved_model.load`, `saved_model_cli show/run`, and the text-protobuf
model config parsed with tensorflow-serving-api's own message when it is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.export import (
    export_model,
    export_run,
    list_versions,
    sanitize_model_name,
    validate_model_name,
    write_models_config,
)
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
TASKS = ["top_left", "bottom_right"]
SHAPE = (36, 36, 1)
OUTPUTS = [f"{t}_{k}" for t in TASKS for k in ("probabilities", "class_id")]


def _load_client():
    # export/ is a folder of scripts, not a package: load the client from its path.
    spec = importlib.util.spec_from_file_location(
        "mtl_export_client", os.path.join(REPO, "export", "client.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _load_client()


def _has_serving_api() -> bool:
    try:
        from tensorflow_serving.apis import predict_pb2  # noqa: F401
        from tensorflow_serving.config import model_server_config_pb2  # noqa: F401
    except ImportError:
        return False
    return True


HAS_SERVING_API = _has_serving_api()


def make_trainer(encoder: str, seed: int = 0) -> MultiTaskTrainer:
    """A tiny LeNet trainer after one real training step (non-trivial BN statistics)."""
    keras.utils.set_random_seed(seed)
    enc, heads = build_network(
        backbone="lenet", encoder=encoder, input_shape=SHAPE, num_classes=[10, 10],
        task_names=TASKS,
    )
    trainer = MultiTaskTrainer(enc, heads, FixedWeighting(2), beta=1e-3 if encoder == "vib" else 0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(seed)
    x = rng.random((16, *SHAPE), dtype=np.float32)
    y = {t: rng.integers(0, 10, 16) for t in TASKS}
    trainer.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return trainer


def keras_reference(trainer, images: np.ndarray) -> dict[str, np.ndarray]:
    logits = trainer(tf.constant(images), training=False)
    out = {}
    for t in TASKS:
        out[f"{t}_probabilities"] = tf.nn.softmax(logits[t]).numpy()
        out[f"{t}_class_id"] = np.argmax(logits[t].numpy(), axis=-1).astype(np.int64)
    return out


def tree_fingerprint(root: str) -> dict[str, tuple[str, int]]:
    """relative path -> (sha256, mtime_ns) of every file under root."""
    result = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            result[os.path.relpath(path, root)] = (digest, os.stat(path).st_mtime_ns)
    return result


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [os.path.join(BIN, "saved_model_cli"), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def trainers() -> dict[str, MultiTaskTrainer]:
    return {kind: make_trainer(kind) for kind in ("deterministic", "vib")}


@pytest.fixture(scope="module")
def exported(trainers, tmp_path_factory) -> dict[str, str]:
    """kind -> version directory of one export per encoder kind."""
    root = str(tmp_path_factory.mktemp("export"))
    return {kind: export_model(t, root, f"model_{kind}") for kind, t in trainers.items()}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(1).random((5, *SHAPE), dtype=np.float32)


# --------------------------------------------------------------------------- layout
def test_layout_is_tf_serving_layout(exported):
    for kind, version_dir in exported.items():
        assert os.path.basename(version_dir) == "1"
        assert os.path.basename(os.path.dirname(version_dir)) == f"model_{kind}"
        assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
        assert os.path.isdir(os.path.join(version_dir, "variables"))
        # Nothing else is visible next to the version: no leftover temporary directory.
        assert os.listdir(os.path.dirname(version_dir)) == ["1"]


# --------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("kind", ["deterministic", "vib"])
def test_loaded_model_matches_keras(kind, trainers, exported, images):
    loaded = tf.saved_model.load(exported[kind])  # keep a reference while calling
    expected = keras_reference(trainers[kind], images)

    got = loaded.signatures["serving_default"](image=tf.constant(images))
    assert sorted(got) == sorted(OUTPUTS)
    for t in TASKS:
        assert got[f"{t}_probabilities"].dtype == tf.float32
        assert got[f"{t}_probabilities"].shape == (5, 10)
        assert got[f"{t}_class_id"].dtype == tf.int64
        assert got[f"{t}_class_id"].shape == (5,)
    for name in OUTPUTS:
        np.testing.assert_allclose(got[name].numpy(), expected[name], atol=1e-5, rtol=0)

    # The uint8 signature is the float one on pixels / 255.
    pixels = np.random.default_rng(2).integers(0, 256, (3, *SHAPE)).astype(np.uint8)
    got8 = loaded.signatures["serving_uint8"](image_uint8=tf.constant(pixels))
    expected8 = keras_reference(trainers[kind], pixels.astype(np.float32) / 255.0)
    for name in OUTPUTS:
        np.testing.assert_allclose(got8[name].numpy(), expected8[name], atol=1e-5, rtol=0)

    # Deterministic serving, VIB included (z = mean): two calls agree exactly.
    again = loaded.signatures["serving_default"](image=tf.constant(images))
    for name in OUTPUTS:
        np.testing.assert_array_equal(again[name].numpy(), got[name].numpy())


def test_wrong_shape_or_dtype_gives_clear_error(exported):
    loaded = tf.saved_model.load(exported["deterministic"])
    serve = loaded.signatures["serving_default"]
    for bad in (np.zeros((2, 28, 28, 1), np.float32), np.zeros((36, 36, 1), np.float32)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[\?,36,36,1\]"):
            serve(image=tf.constant(bad))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        serve(image=tf.constant(np.zeros((2, *SHAPE), np.uint8)))
    serve8 = loaded.signatures["serving_uint8"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[\?,36,36,1\]"):
        serve8(image_uint8=tf.constant(np.zeros((1, 36, 36, 3), np.uint8)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8 tensor"):
        serve8(image_uint8=tf.constant(np.zeros((1, *SHAPE), np.float32)))


# --------------------------------------------------------------------------- saved_model_cli
def test_saved_model_cli_show(exported):
    result = run_cli("show", "--dir", exported["vib"], "--all")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    blocks = {
        m.group(1): m.group(2)
        for m in re.finditer(r"signature_def\['(\w+)'\]:(.*?)Method name is: (\S*)", text, re.S)
    }
    assert {"serving_default", "serving_uint8"} <= set(blocks)
    assert text.count("Method name is: tensorflow/serving/predict") == 2
    assert "inputs['image'] tensor_info:" in blocks["serving_default"]
    assert "inputs['image_uint8'] tensor_info:" in blocks["serving_uint8"]
    assert "DT_UINT8" in blocks["serving_uint8"]
    for block in (blocks["serving_default"], blocks["serving_uint8"]):
        assert "shape: (-1, 36, 36, 1)" in block
        for name in OUTPUTS:
            assert f"outputs['{name}'] tensor_info:" in block


def test_saved_model_cli_run(exported, images, tmp_path):
    path = tmp_path / "batch.npy"
    np.save(path, images[:2])
    result = run_cli(
        "run", "--dir", exported["deterministic"], "--tag_set", "serve",
        "--signature_def", "serving_default", "--inputs", f"image={path}",
    )
    assert result.returncode == 0, result.stderr
    for name in OUTPUTS:
        assert f"Result for output key {name}:" in result.stdout


# --------------------------------------------------------------------------- versions
def test_second_export_is_version_2_and_leaves_1_untouched(trainers, tmp_path):
    root = str(tmp_path)
    v1 = export_model(trainers["deterministic"], root, "m")
    before = tree_fingerprint(v1)
    time.sleep(0.01)  # distinct mtimes if anything were rewritten
    v2 = export_model(trainers["deterministic"], root, "m")
    assert os.path.basename(v1) == "1" and os.path.basename(v2) == "2"
    assert tree_fingerprint(v1) == before
    assert list_versions(os.path.join(root, "m")) == [1, 2]
    # Versions follow the largest existing one, even with gaps.
    os.rename(os.path.join(root, "m", "2"), os.path.join(root, "m", "7"))
    assert os.path.basename(export_model(trainers["deterministic"], root, "m")) == "8"


@pytest.mark.parametrize("name", ["", ".hidden", "..", "a/b", "../x", "a b", "x" * 129])
def test_unsafe_model_names_are_refused(name, trainers, tmp_path):
    with pytest.raises(ValueError, match="invalid model name"):
        export_model(trainers["deterministic"], str(tmp_path), name)
    assert os.listdir(tmp_path) == []


def test_sanitize_model_name():
    assert sanitize_model_name("stl_top left/x") == "stl_top_left_x"
    assert sanitize_model_name("..a") == "a"
    assert sanitize_model_name("../..") == "_.."  # "/" replaced, no leading "."
    assert sanitize_model_name("") == "model"
    assert validate_model_name("pareto_mtl_preference_3") == "pareto_mtl_preference_3"


# --------------------------------------------------------------------------- interruption
# A resource the exported module does not track (the export tracks only variables): a
# lookup table, created outside any model.
_UNTRACKED_TABLE = tf.lookup.StaticHashTable(
    tf.lookup.KeyValueTensorInitializer(tf.constant([0]), tf.constant([1.0])), default_value=1.0
)


class UnsaveableTrainer(MultiTaskTrainer):
    """Reads an untracked lookup table: tracing works, but tf.saved_model.save refuses a
    function capturing an untracked resource -- a real failure inside the save, after
    the temporary version directory was created."""

    def call(self, images, training=False):
        logits = super().call(images, training=training)
        scale = _UNTRACKED_TABLE.lookup(tf.constant(0))
        return {t: v * scale for t, v in logits.items()}


def test_failed_save_leaves_no_version(trainers, tmp_path):
    base = trainers["deterministic"]
    broken = UnsaveableTrainer(base.encoder, base.heads, FixedWeighting(2))
    with pytest.raises((ValueError, AssertionError), match="untracked"):
        export_model(broken, str(tmp_path), "broken")
    # The model directory may exist, but holds neither a version nor a temporary dir.
    assert os.listdir(tmp_path / "broken") == []


_EXPORT_FOREVER = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from mtl_tf.export import export_model
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting
enc, heads = build_network(backbone="small_alexnet", encoder="deterministic",
                           input_shape=(36, 36, 1), num_classes=[10, 10],
                           task_names=["top_left", "bottom_right"])
trainer = MultiTaskTrainer(enc, heads, FixedWeighting(2))
while True:
    export_model(trainer, sys.argv[1], "killed")
"""


def _kill_during_export(export_dir: str) -> list[str]:
    """Runs exports in a child process and SIGKILLs it as soon as a temporary version
    directory appears; returns the model directory's entries after the kill."""
    model_dir = os.path.join(export_dir, "killed")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    child = subprocess.Popen(
        [sys.executable, "-c", _EXPORT_FOREVER, export_dir], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and child.poll() is None:
            if os.path.isdir(model_dir) and any(
                e.startswith(".tmp-") for e in os.listdir(model_dir)
            ):
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:]
    return os.listdir(model_dir)


def test_killed_export_leaves_no_visible_version(trainers, tmp_path):
    export_dir = str(tmp_path)
    # The kill lands inside tf.saved_model.save almost always (the export takes far
    # longer than the gap between two exports); retry in the rare case it did not.
    for _ in range(3):
        entries = _kill_during_export(export_dir)
        leftovers = [e for e in entries if e.startswith(".tmp-")]
        if leftovers:
            break
    assert leftovers, f"the child was never killed mid-export: {entries}"
    model_dir = os.path.join(export_dir, "killed")
    versions = list_versions(model_dir)
    # The interrupted version is invisible to TF Serving (not an integer directory) ...
    for leftover in leftovers:
        interrupted = int(leftover.split("-")[1])
        assert interrupted not in versions
        assert not os.path.exists(os.path.join(model_dir, str(interrupted)))
    # ... every visible version is complete and loads ...
    for v in versions:
        loaded = tf.saved_model.load(os.path.join(model_dir, str(v)))
        assert "serving_default" in loaded.signatures
    # ... and the next export carries on after the largest complete version.
    new = export_model(trainers["deterministic"], export_dir, "killed")
    assert int(os.path.basename(new)) == (max(versions) + 1 if versions else 1)
    assert "serving_default" in tf.saved_model.load(new).signatures


# --------------------------------------------------------------------------- models.config
def _parse_config(path: str) -> list[tuple[str, str, str]]:
    """(name, base_path, platform) per model, with TF Serving's own parser if present."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if HAS_SERVING_API:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
        return [(c.name, c.base_path, c.model_platform)
                for c in config.model_config_list.config]
    block = r'  config \{\n(    \w+: "[^"]*"\n){3}  \}\n'
    assert re.fullmatch(rf"model_config_list \{{\n({block})*\}}\n", text), text
    return re.findall(
        r'name: "([^"]*)"\n\s*base_path: "([^"]*)"\n\s*model_platform: "([^"]*)"', text
    )


def test_models_config(trainers, tmp_path):
    root = str(tmp_path)
    export_model(trainers["deterministic"], root, "b_model")
    export_model(trainers["vib"], root, "a_model")
    os.makedirs(os.path.join(root, "empty_model", ".tmp-1-abc"))  # no complete version

    path = write_models_config(root)
    assert path == os.path.join(root, "models.config")
    assert _parse_config(path) == [
        ("a_model", "/models/a_model", "tensorflow"),
        ("b_model", "/models/b_model", "tensorflow"),
    ]
    # Native server: absolute paths of this machine.
    write_models_config(root, base_path_prefix=None)
    parsed = _parse_config(path)
    assert [p[1] for p in parsed] == [os.path.join(os.path.abspath(root), n)
                                      for n in ("a_model", "b_model")]
    assert all(os.path.isfile(os.path.join(p[1], "1", "saved_model.pb")) for p in parsed)
    # No temporary files left next to it.
    assert sorted(os.listdir(root)) == ["a_model", "b_model", "empty_model", "models.config"]


# --------------------------------------------------------------------------- export_run
def test_export_run_stl(tiny_data, tmp_path):
    from mtl_tf.orchestration.runs import run

    run_dir = str(tmp_path / "run")
    config = RunConfig(method="stl", backbone="lenet", epochs=1, batch_size=50, verbose=0,
                       output_dir=run_dir)
    metrics = run(config, data=tiny_data)
    export_dir = str(tmp_path / "export")

    exported = export_run(run_dir, export_dir)
    assert [os.path.relpath(p, export_dir) for p in exported] == [
        os.path.join("stl_top_left", "1"), os.path.join("stl_bottom_right", "1"),
    ]
    assert [c[0] for c in _parse_config(os.path.join(export_dir, "models.config"))] == [
        "stl_bottom_right", "stl_top_left",
    ]
    # The served models are the trained ones: their test accuracy is metrics.json's.
    for k, task in enumerate(TASKS):
        loaded = tf.saved_model.load(exported[k])
        # The stored test images are uint8 pixels: exactly what serving_uint8 takes.
        pixels = tiny_data.test_images.reshape((-1, *SHAPE))
        out = loaded.signatures["serving_uint8"](image_uint8=tf.constant(pixels))
        assert sorted(out) == [f"{task}_class_id", f"{task}_class_name", f"{task}_probabilities"]
        # MultiMNIST classes are digits: the name of class id d is "d".
        assert [n.decode() for n in out[f"{task}_class_name"].numpy()] == [
            str(i) for i in out[f"{task}_class_id"].numpy()]
        labels = tiny_data.label_matrix("test")[:, k]
        accuracy = float(np.mean(out[f"{task}_class_id"].numpy() == labels))
        reported = metrics["models"][k]["accuracy"][task]
        assert metrics["models"][k]["name"] == task
        assert accuracy == pytest.approx(reported, abs=1e-6)
    # Exporting again makes new versions.
    assert [os.path.basename(p) for p in export_run(run_dir, export_dir)] == ["2", "2"]


def test_export_run_refuses_unfinished_runs(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        export_run(str(tmp_path), str(tmp_path / "export"))
    (tmp_path / "config.json").write_text(json.dumps({"method": "stl"}))
    with pytest.raises(ValueError, match="not a finished run.*metrics.json"):
        export_run(str(tmp_path), str(tmp_path / "export"))
    assert not (tmp_path / "export").exists()


# --------------------------------------------------------------------------- client
def test_build_rest_request_row_and_columnar(images):
    url, body = client.build_rest_request("stl_top_left", images[:2])
    assert url == "http://localhost:8501/v1/models/stl_top_left:predict"
    payload = json.loads(body)
    assert payload["signature_name"] == "serving_default"
    assert len(payload["instances"]) == 2
    assert np.asarray(payload["instances"][0]["image"]).shape == SHAPE
    np.testing.assert_allclose(payload["instances"][1]["image"], images[1], rtol=1e-6)

    url, body = client.build_rest_request(
        "mtvib", (images[0] * 255).round().astype(np.uint8), host="serving", port=9000,
        signature_name="serving_uint8", version=3, columnar=True,
    )
    assert url == "http://serving:9000/v1/models/mtvib/versions/3:predict"
    payload = json.loads(body)
    assert payload["signature_name"] == "serving_uint8"
    batch = np.asarray(payload["inputs"]["image_uint8"])
    assert batch.shape == (1, *SHAPE) and batch.dtype.kind == "i"

    with pytest.raises(ValueError, match="unknown signature"):
        client.build_rest_request("m", images, signature_name="serve")
    with pytest.raises(ValueError, match="rank 2"):
        client.build_rest_request("m", images[0, :, :, 0])


@pytest.mark.skipif(not HAS_SERVING_API, reason="tensorflow-serving-api is not installed")
def test_build_grpc_request(images):
    request = client.build_grpc_request("stl_top_left", images[:2], version=2)
    assert request.model_spec.name == "stl_top_left"
    assert request.model_spec.signature_name == "serving_default"
    assert request.model_spec.version.value == 2
    tensor = request.inputs["image"]
    assert tensor.dtype == tf.float32.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(tensor), images[:2])

    request = client.build_grpc_request("m", images[0] * 255, signature_name="serving_uint8")
    tensor = request.inputs["image_uint8"]
    assert tensor.dtype == tf.uint8.as_datatype_enum
    assert tf.make_ndarray(tensor).shape == (1, *SHAPE)


def test_grpc_without_extra_says_how_to_install(monkeypatch, images):
    # Simulates an environment without the optional package.
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
    with pytest.raises(ImportError, match="tensorflow-serving-api"):
        client.build_grpc_request("m", images)


def _jsonable(value):
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.decode("utf-8") if isinstance(value, bytes) else value


class _StandInServer:
    """A stand-in for TF Serving's REST predict API (not TF Serving itself), answering
    from the real exported SavedModel, to run the client's HTTP path end to end."""

    def __init__(self, version_dir: str, model_name: str) -> None:
        import http.server
        import threading

        loaded = tf.saved_model.load(version_dir)
        prefix = f"/v1/models/{model_name}"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.startswith(prefix) or not self.path.endswith(":predict"):
                    self.send_error(404)
                    return
                fn = loaded.signatures[body.get("signature_name", "serving_default")]
                (name, spec), = fn.structured_input_signature[1].items()
                if "inputs" in body:
                    batch = body["inputs"][name]
                else:
                    batch = [row[name] for row in body["instances"]]
                out = fn(**{name: tf.constant(np.asarray(batch), dtype=spec.dtype)})
                # As TF Serving's REST API: string outputs (class names) as JSON strings.
                answer = json.dumps({"outputs": {k: _jsonable(v.numpy().tolist())
                                                 for k, v in out.items()}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_client_rest_round_trip(exported, images, tmp_path, capsys):
    server = _StandInServer(exported["deterministic"], "model_deterministic")
    try:
        url, body = client.build_rest_request(
            "model_deterministic", images[:2], port=server.port, columnar=True
        )
        outputs = client.predict_rest(url, body)["outputs"]
        loaded = tf.saved_model.load(exported["deterministic"])
        expected = loaded.signatures["serving_default"](image=tf.constant(images[:2]))
        for name in OUTPUTS:
            np.testing.assert_allclose(outputs[name], expected[name].numpy(), atol=1e-6)

        path = tmp_path / "pixels.npy"
        np.save(path, (images[0] * 255).round().astype(np.uint8))
        assert client.main(["--model", "model_deterministic", "--image", str(path),
                            "--signature", "serving_uint8", "--host", "127.0.0.1",
                            "--rest_port", str(server.port)]) == 0
        printed = capsys.readouterr().out
        assert re.search(r"image 0 top_left: class \d+ \(p=0\.\d{3}\)", printed), printed

        with pytest.raises(RuntimeError, match="HTTP 404"):
            client.predict_rest(*client.build_rest_request("other", images[:1], port=server.port))
    finally:
        server.close()
