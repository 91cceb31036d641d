"""What travels with an exported model: TF Serving warm-up requests and class names.

Real runs, real exports: the warm-up file is parsed back with tensorflow-serving-api's
own `PredictionLog` and every request is replayed the way TF Serving's warm-up does it
(the graph-mode SavedModel loader, one session run per request with the signature's
tensor names); the class names are read from the signature's outputs and from
``assets.extra/class_names.json``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data import class_names as class_names_lib
from mtl_tf.data import mtfl
from mtl_tf.data.datasets import _TASK_NAMES, DATASETS, load_run_dataset
from mtl_tf.export import (
    ASSETS_EXTRA,
    CLASS_NAMES_FILE,
    WARMUP_FILE,
    WARMUP_IMAGES,
    export_model,
    export_run,
)
from mtl_tf.export.runs import run_test_images
from mtl_tf.export.versions import SOURCE_FILE
from mtl_tf.export.warmup import prediction_log
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting
from tests.test_export import _StandInServer, client
from tests.test_mtfl import write_mini_mtfl

prediction_log_pb2 = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]
DIGITS = [str(d) for d in range(10)]


def read_warmup(version_dir: str) -> list:
    """The PredictionLog messages of a version's warm-up file, parsed by the real class."""
    path = os.path.join(version_dir, ASSETS_EXTRA, WARMUP_FILE)
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(path)]


def replay_like_tf_serving(version_dir: str, logs: list) -> list[dict[str, np.ndarray]]:
    """Runs each logged request as TF Serving's warm-up does: the graph-mode loader and
    one session run with the signature's input and output tensor names."""
    results = []
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        for log in logs:
            request = log.predict_log.request
            signature = meta_graph.signature_def[request.model_spec.signature_name]
            feeds = {signature.inputs[name].name: tf.make_ndarray(tensor)
                     for name, tensor in request.inputs.items()}
            fetches = {name: info.name for name, info in signature.outputs.items()}
            results.append(session.run(fetches, feed_dict=feeds))
    return results


def first_test_pixels(config: RunConfig) -> np.ndarray:
    """uint8 [n, H, W, 1]: the first warm-up-many test pairs of the run's data set."""
    pixels = load_run_dataset(config).test_images[:WARMUP_IMAGES]
    return pixels[..., np.newaxis]


def check_warmup(version_dir: str, model_name: str, pixels: np.ndarray) -> list[dict]:
    """Asserts the warm-up file is TF Serving's format holding `pixels`; returns the
    replayed outputs."""
    logs = read_warmup(version_dir)
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 4
    requests = [log.predict_log.request for log in logs]
    assert {r.model_spec.name for r in requests} == {model_name}
    assert [r.model_spec.signature_name for r in requests] == [
        "serving_default", "serving_uint8", "serving_default", "serving_uint8"]
    sent = [(list(r.inputs), tf.make_ndarray(next(iter(r.inputs.values())))) for r in requests]
    # One request of the first image, one of all of them, per signature: the float
    # signature gets pixels / 255 (what training saw), the uint8 one the pixels.
    for (names, array), expected_pixels in zip(sent, [pixels[:1]] * 2 + [pixels] * 2,
                                               strict=True):
        if names == ["image"]:
            assert array.dtype == np.float32
            np.testing.assert_array_equal(array, expected_pixels.astype(np.float32) / 255.0)
        else:
            assert names == ["image_uint8"] and array.dtype == np.uint8
            np.testing.assert_array_equal(array, expected_pixels)
    replayed = replay_like_tf_serving(version_dir, logs)
    # The same answers through the TF2 loader's signatures, for both signatures.
    loaded = tf.saved_model.load(version_dir)
    for request, got in zip(requests, replayed, strict=True):
        ((name, tensor),) = request.inputs.items()
        fn = loaded.signatures[request.model_spec.signature_name]
        expected = fn(**{name: tf.constant(tf.make_ndarray(tensor))})
        assert sorted(got) == sorted(expected)
        for key, value in expected.items():
            if value.dtype == tf.string:
                np.testing.assert_array_equal(got[key], value.numpy())
            else:
                np.testing.assert_allclose(got[key], value.numpy(), atol=1e-5)
    return replayed


def read_class_names(version_dir: str) -> dict:
    with open(os.path.join(version_dir, ASSETS_EXTRA, CLASS_NAMES_FILE), encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------- tables
def test_every_classification_data_set_names_its_classes():
    assert class_names_lib.FASHION_MNIST == tuple(FASHION)
    assert set(class_names_lib.CLASS_NAMES) == set(DATASETS) - {"synthetic"}
    for dataset in ("multi_mnist", "multi_fashion", "multi_fashion_mnist"):
        names = class_names_lib.class_names(dataset, _TASK_NAMES, (10, 10))
        assert list(names) == list(_TASK_NAMES)
    assert class_names_lib.class_names("multi_fashion_mnist", _TASK_NAMES) == {
        "top_left": tuple(FASHION), "bottom_right": tuple(DIGITS)}
    # MTFL: one name per 0-based label of mtl_tf.data.mtfl, task by task.
    names = class_names_lib.class_names("mtfl", mtfl.TASK_NAMES, mtfl.NUM_CLASSES)
    assert list(names) == list(mtfl.TASK_NAMES)
    assert names["pose"] == ("left profile", "left", "frontal", "right", "right profile")
    record = mtfl.MtflRecord(path="x.jpg", landmarks=(0.0,) * 10, gender=2, smile=1,
                             glasses=2, pose=5)
    assert [names[t][k] for t, k in zip(mtfl.TASK_NAMES, record.labels(), strict=True)] == [
        "right profile", "female", "smiling", "no glasses"]
    assert class_names_lib.class_names("synthetic", ("f1", "f2")) == {}
    assert class_names_lib.class_names("multi_mnist", ("top_left",)) == {"top_left": tuple(DIGITS)}
    with pytest.raises(ValueError, match="'pose' of mtfl has 3 classes but 5 known"):
        class_names_lib.class_names("mtfl", ("pose",), (3,))


def test_hand_encoded_prediction_log_is_what_tensorflow_serving_api_builds():
    batch = np.arange(2 * 36 * 36, dtype=np.float32).reshape(2, 36, 36, 1) / 5000.0
    expected = prediction_log_pb2.PredictionLog()
    request = expected.predict_log.request
    request.model_spec.name = "stl_top_left"
    request.model_spec.signature_name = "serving_default"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(batch))
    parsed = prediction_log_pb2.PredictionLog.FromString(
        prediction_log("stl_top_left", "serving_default", {"image": batch}))
    assert parsed == expected


# --------------------------------------------------------------------------- a real run
@pytest.fixture(scope="module")
def stl_run(tmp_path_factory) -> tuple[str, RunConfig]:
    """A finished STL run on Multi-(Fashion+MNIST) from the embedded real images."""
    from mtl_tf.orchestration.runs import run

    run_dir = str(tmp_path_factory.mktemp("stl_run"))
    config = RunConfig(method="stl", dataset="multi_fashion_mnist", data_source="embedded",
                       train_size=200, test_size=50, backbone="lenet", epochs=1,
                       batch_size=50, learning_rate=1e-2, etas=(), verbose=0,
                       output_dir=run_dir)
    run(config)
    return run_dir, config


def test_export_run_writes_warmup_of_the_runs_test_pairs_and_class_names(stl_run, tmp_path):
    run_dir, config = stl_run
    export_dir = str(tmp_path / "export")
    top, bottom = export_run(run_dir, export_dir)
    pixels = first_test_pixels(config)
    for version_dir, task, names in ((top, "top_left", FASHION),
                                     (bottom, "bottom_right", DIGITS)):
        model_name = os.path.basename(os.path.dirname(version_dir))
        assert model_name == f"stl_{task}"
        # (and the record of the trained model it holds, mtl_tf.export.versions)
        assert sorted(os.listdir(os.path.join(version_dir, ASSETS_EXTRA))) == [
            CLASS_NAMES_FILE, SOURCE_FILE, WARMUP_FILE]
        # An STL model serves one task, and names only its classes.
        assert read_class_names(version_dir) == {task: names}
        replayed = check_warmup(version_dir, model_name, pixels)
        for outputs in replayed:
            assert sorted(outputs) == [f"{task}_class_id", f"{task}_class_name",
                                       f"{task}_probabilities"]
            ids = outputs[f"{task}_class_id"]
            assert [n.decode() for n in outputs[f"{task}_class_name"]] == [names[i] for i in ids]


def test_client_prints_class_names(stl_run, tmp_path, capsys):
    run_dir, config = stl_run
    (_, version_dir) = export_run(run_dir, str(tmp_path / "export"))
    pixels = first_test_pixels(config)[:2]
    loaded = tf.saved_model.load(version_dir)
    outputs = loaded.signatures["serving_uint8"](image_uint8=tf.constant(pixels))
    ids = outputs["bottom_right_class_id"].numpy()
    probs = outputs["bottom_right_probabilities"].numpy()
    expected = [f'image {i} bottom_right: class {c} "{c}" (p={probs[i, c]:.3f})'
                for i, c in enumerate(ids)]
    # gRPC answers: numpy arrays, strings as bytes.
    assert client._summarize({k: v.numpy() for k, v in outputs.items()}) == expected

    # REST, end to end through the client's HTTP path (a stand-in for TF Serving's REST
    # API answering from the exported model, as in tests/test_export.py).
    server = _StandInServer(version_dir, "stl_bottom_right")
    try:
        path = tmp_path / "pixels.npy"
        np.save(path, pixels)
        assert client.main(["--model", "stl_bottom_right", "--image", str(path),
                            "--signature", "serving_uint8", "--host", "127.0.0.1",
                            "--rest_port", str(server.port)]) == 0
        assert capsys.readouterr().out.splitlines() == expected
        assert client.main(["--model", "stl_bottom_right", "--image", str(path), "--raw",
                            "--signature", "serving_uint8", "--host", "127.0.0.1",
                            "--rest_port", str(server.port)]) == 0
        raw = json.loads(capsys.readouterr().out)
        assert raw["bottom_right_class_name"] == [str(c) for c in ids]
    finally:
        server.close()


def test_data_gone_at_export_time_warns_once_and_warms_up_with_blank_images(
        tiny_idx_dir, tmp_path, caplog):
    from mtl_tf.orchestration.runs import run

    data_dir = str(tmp_path / "data")
    shutil.copytree(tiny_idx_dir, data_dir)
    run_dir = str(tmp_path / "run")
    config = RunConfig(method="gs", data_dir=data_dir, train_size=200, test_size=50,
                       backbone="lenet", epochs=1, batch_size=50, etas=(), verbose=0,
                       output_dir=run_dir)
    run(config)
    export_dir = str(tmp_path / "export")
    (first,) = export_run(run_dir, export_dir)
    check_warmup(first, "gs", first_test_pixels(config))  # the run's --data_dir pairs

    shutil.rmtree(data_dir)  # the data moved after training
    with caplog.at_level(logging.WARNING):
        (second,) = export_run(run_dir, export_dir)
    warnings = [r.getMessage() for r in caplog.records if "Warm-up" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert warnings[0].startswith(
        f"Warm-up requests of {run_dir} use blank images (they warm the model up all the "
        "same): its multi_mnist test data could not be loaded (FileNotFoundError: ")
    assert data_dir in warnings[0]
    # The export is complete: blank warm-up images, and the class names.
    check_warmup(second, "gs", np.zeros((WARMUP_IMAGES, 36, 36, 1), np.uint8))
    assert read_class_names(second) == {"top_left": DIGITS, "bottom_right": DIGITS}


# --------------------------------------------------------------------------- MTFL
def test_mtfl_export_decodes_the_runs_test_images_and_names_pose(tmp_path):
    root = str(tmp_path / "mtfl")
    write_mini_mtfl(root)
    config = RunConfig(dataset="mtfl", data_dir=root, train_size=0, test_size=0)
    images = run_test_images(config)
    data = load_run_dataset(config)
    decoded = [tf.io.decode_jpeg(tf.io.read_file(p), channels=3).numpy()
               for p in data.test_images[:WARMUP_IMAGES]]  # AFLW images are 150x150
    assert images.dtype == np.float32 and images.shape == (WARMUP_IMAGES, 150, 150, 3)
    np.testing.assert_array_equal(images, np.stack(decoded).astype(np.float32) / 255.0)

    keras.utils.set_random_seed(0)
    encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                   input_shape=(150, 150, 3), num_classes=mtfl.NUM_CLASSES,
                                   task_names=mtfl.TASK_NAMES)
    trainer = MultiTaskTrainer(encoder, heads, FixedWeighting(4))
    trainer(np.zeros((1, 150, 150, 3), np.float32))  # build
    names = class_names_lib.class_names("mtfl", mtfl.TASK_NAMES, mtfl.NUM_CLASSES)
    version_dir = export_model(trainer, str(tmp_path / "export"), "mtvib",
                               class_names=names, warmup_images=images)
    assert read_class_names(version_dir) == {t: list(n) for t, n in names.items()}
    pixels = np.rint(images * 255).astype(np.uint8)
    for outputs in check_warmup(version_dir, "mtvib", pixels):
        for task in mtfl.TASK_NAMES:
            got = [n.decode() for n in outputs[f"{task}_class_name"]]
            assert got == [names[task][i] for i in outputs[f"{task}_class_id"]]


# --------------------------------------------------------------------------- refusals
def test_bad_names_or_warmup_images_write_nothing(tmp_path):
    keras.utils.set_random_seed(0)
    encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                   input_shape=(36, 36, 1), num_classes=[10, 10],
                                   task_names=list(_TASK_NAMES))
    trainer = MultiTaskTrainer(encoder, heads, FixedWeighting(2))
    trainer(np.zeros((1, 36, 36, 1), np.float32))
    export_dir = str(tmp_path / "export")
    with pytest.raises(ValueError, match="'top_left' has 10 classes but 5 class names"):
        export_model(trainer, export_dir, "gs", class_names={"top_left": "abcde"})
    with pytest.raises(ValueError, match=r"warm-up images must be \[N, 36, 36, 1\]"):
        export_model(trainer, export_dir, "gs", warmup_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"finite and in \[0, 1\]"):
        export_model(trainer, export_dir, "gs",
                     warmup_images=np.full((2, 36, 36, 1), 255.0, np.float32))
    assert not os.path.exists(export_dir)
    # Without names or images: ids only, and blank warm-up images.
    version_dir = export_model(trainer, export_dir, "gs")
    assert os.listdir(os.path.join(version_dir, ASSETS_EXTRA)) == [WARMUP_FILE]
    replayed = check_warmup(version_dir, "gs", np.zeros((WARMUP_IMAGES, 36, 36, 1), np.uint8))
    assert sorted(replayed[0]) == sorted(
        f"{t}_{k}" for t in _TASK_NAMES for k in ("class_id", "probabilities"))
