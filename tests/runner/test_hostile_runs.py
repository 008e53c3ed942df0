"""Hostile data, run directories and environments: each is refused with exit 1 naming the file and the problem.

Every case comes from issue 12: data that trained silently on garbage, runs that crashed with
"internal error", two writers mixing one directory, files of the wrong mode.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.runner import evaluate_run, train_spec
from dnnc.runner.errors import RunnerError
from support.fakes import DIVERGING_SPEC, use_fake_backend, xor_spec
from support.paths import ROOT

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_backend(monkeypatch):
    return use_fake_backend(monkeypatch)


def _text(result) -> str:
    return " ".join(result.output.split())


def xor_file(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(xor_spec(repeat=1, epochs=1))
    return spec


def train_cli(spec: Path, out: Path, *extra: str):
    return runner.invoke(app, ["train", str(spec), "--backend", "fake", "--quiet", "--out", str(out), *extra])


NPZ_SPEC = """
[data]
dataset = {{ type = "npz", path = "{file}" }}
{data_extra}
[model]
input_shape = [3]
layers = [{{ type = "dense", units = 3, activation = "softmax" }}]
[training]
loss = "{loss}"
epochs = 1
"""


def npz_spec(tmp_path: Path, x: np.ndarray, y: np.ndarray, *, loss="sparse_categorical_crossentropy",
             data_extra="") -> Path:
    np.savez(tmp_path / "data.npz", x=x, y=y)
    spec = tmp_path / "spec.toml"
    spec.write_text(NPZ_SPEC.format(file="data.npz", loss=loss, data_extra=data_extra))
    return spec


def features(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 3, size=n)


# --------------------------------------------------------------------------
# data that must not train silently
# --------------------------------------------------------------------------


def test_nan_and_inf_in_features_are_refused_before_anything_is_written(tmp_path):
    x, y = features()
    x[7, 1], x[20, 0] = np.nan, -np.inf
    spec = npz_spec(tmp_path, x, y)
    r = train_cli(spec, tmp_path / "run")
    assert r.exit_code == 1, r.output
    assert (f"error: {tmp_path / 'data.npz'}: array 'x' (the features of input 'input'): 2 of 40 rows hold NaN or "
            "infinite values (the first is row 7)") in _text(r)
    assert not (tmp_path / "run").exists()  # claimed for the run, given up again when the data was refused


def test_non_finite_regression_targets_are_refused(tmp_path):
    x, _ = features()
    y = np.zeros((40, 3), dtype=np.float32)
    y[33, 2] = np.inf
    r = train_cli(npz_spec(tmp_path, x, y, loss="mse"), tmp_path / "run")
    assert r.exit_code == 1
    assert "array 'y' (the targets of output 'dense'): 1 of 40 rows hold NaN or infinite values (the first is row 33)" in _text(r)


def test_nan_in_a_csv_is_refused_with_its_line(tmp_path):
    rows = ["a,b,c,label"] + [f"{i},{i * 0.5},1.5,{i % 3}" for i in range(10)]
    rows[5] = "4,nan,1.5,1"
    rows[8] = "7,inf,1.5,1"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(NPZ_SPEC.format(file="t.csv", loss="sparse_categorical_crossentropy", data_extra='targets = "label"')
                    .replace('type = "npz"', 'type = "csv"'))
    r = train_cli(spec, tmp_path / "run")
    assert r.exit_code == 1, r.output
    assert (f"{tmp_path / 't.csv'} line 6: column 'b' holds 'nan', not a finite number (2 of 10 rows of that column "
            "hold NaN or infinite values; the first is data row 4)") in _text(r)


def test_fractional_labels_with_sparse_cross_entropy_are_refused(tmp_path):
    x, _ = features()
    y = np.arange(40, dtype=np.float32) % 3
    y[[11, 30]] = [0.5, 2.25]
    r = train_cli(npz_spec(tmp_path, x, y), tmp_path / "run")
    assert r.exit_code == 1, r.output
    assert ("array 'y' (the targets of output 'dense'): sparse_categorical_crossentropy needs whole class labels 0, 1, "
            "2…, but 2 of 40 rows are not whole numbers (the first is row 11: 0.5)") in _text(r)
    y[[11, 30]] = [1.0, 2.0]  # whole numbers stored as floats are labels
    assert train_cli(npz_spec(tmp_path, x, y), tmp_path / "run").exit_code == 0


def test_preprocessing_that_overflows_float32_is_refused(tmp_path):
    x, y = features()
    r = train_cli(npz_spec(tmp_path, x, y, data_extra="divide_by = 1e-44"), tmp_path / "run")
    assert r.exit_code == 1, r.output
    assert "input 'input': after the preprocessing (divide_by, standardize)" in _text(r)
    assert "training rows hold NaN or infinite values" in _text(r)


def _mnist_with_fashion_test_labels(data_dir: Path, tmp_path: Path) -> Path:
    mixed = tmp_path / "data" / "mnist"
    mixed.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (mixed / name).symlink_to(data_dir / "mnist" / name)
    (mixed / "t10k-labels-idx1-ubyte.gz").symlink_to(data_dir / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz")
    return mixed


def test_a_builtin_data_set_file_that_is_not_the_official_one_is_named_with_its_checksum(data_dir, tmp_path):
    import hashlib

    mixed = _mnist_with_fashion_test_labels(data_dir, tmp_path)
    raw = hashlib.sha256(gzip.decompress((mixed / "t10k-labels-idx1-ubyte.gz").read_bytes())).hexdigest()
    spec = tmp_path / "mnist.toml"
    spec.write_text('[data]\ndataset = "mnist"\ndivide_by = 255\n[model]\ninput_shape = [784]\n'
                    'layers = [{ type = "dense", units = 10, activation = "softmax" }]\n'
                    '[training]\nloss = "sparse_categorical_crossentropy"\nepochs = 1\nbatch_size = 10000\n')
    r = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--quiet", "--out", str(tmp_path / "run"),
                            "--data-dir", str(tmp_path / "data")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.stderr.split())
    assert (f"warning: {mixed / 't10k-labels-idx1-ubyte.gz'} is not the official MNIST test labels file: its IDX data "
            f"has SHA-256 {raw}, the official file's is ") in text
    assert "train-images" not in text  # the official files are not mentioned
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [f["official"] for f in manifest["data"]["files"]] == [True, True, True, False]
    assert len(manifest["data"]["warnings"]) == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_warns_once_ends_diverged_and_cannot_be_evaluated(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(DIVERGING_SPEC)
    r = train_cli(spec, tmp_path / "run")
    assert r.exit_code == 1, r.output
    text = " ".join(r.stderr.split())
    assert text.count("warning: the training diverged: loss is nan at epoch 1, step 3/4 (global step 3)") == 1
    assert "error: the training diverged: the loss became NaN or infinite at epoch 1, step 3 (global step 3)" in text
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "diverged" and manifest["diverged_at"] == "epoch 1, step 3 (global step 3)"
    assert "the training diverged" in (tmp_path / "run" / "train.log").read_text()

    r = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert r.exit_code == 1
    assert (f"{tmp_path / 'run' / 'weights.npz'}: the weights are not finite (dense/kernel: 16 of 16, dense/bias: 8 of 8, "
            "dense_1/kernel: 8 of 8, dense_1/bias: 1 of 1 values are NaN or infinite); the run's status is 'diverged' "
            "(at epoch 1, step 3 (global step 3))") in _text(r)
    r = runner.invoke(app, ["evaluate", str(tmp_path / "run" / "model.fake")])
    assert r.exit_code == 1 and "the weights are not finite" in _text(r)


# --------------------------------------------------------------------------
# the run directory: one writer, no silent overwrite, modes, unwritable places
# --------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from dnnc.runner.run_lock import RunLock
lock = RunLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(120)
"""


def _lock_holder(run_dir: Path) -> subprocess.Popen:
    run_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    spec, run_dir = xor_file(tmp_path), tmp_path / "run"
    holder = _lock_holder(run_dir)
    try:
        r = train_cli(spec, run_dir)
    finally:
        holder.kill()
        holder.wait()
    assert r.exit_code == 1, r.output
    assert (f"error: {run_dir} is being written by another run (process {holder.pid} on host {socket.gethostname()}, "
            "started 20") in _text(r)
    assert sorted(p.name for p in run_dir.iterdir()) == [".dnnc.lock"]  # nothing of the refused run was written


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    spec, run_dir = xor_file(tmp_path), tmp_path / "run"
    holder = _lock_holder(run_dir)
    holder.send_signal(signal.SIGKILL)  # dies holding the lock: the file stays, the OS lock goes
    holder.wait()
    assert json.loads((run_dir / ".dnnc.lock").read_text())["pid"] == holder.pid
    r = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--out", str(run_dir)])
    assert r.exit_code == 0, r.output
    assert (f"took over the lock of {run_dir} left by a run that ended without releasing it (process {holder.pid} on "
            f"host {socket.gethostname()}") in _text(r)
    assert not (run_dir / ".dnnc.lock").exists()  # released at the end of the run


def test_a_finished_run_is_replaced_only_with_overwrite(tmp_path):
    spec = xor_file(tmp_path)
    run_dir = tmp_path / "run"
    assert train_cli(spec, run_dir).exit_code == 0
    (run_dir / "model.keras").write_text("left by an older run of another backend")
    r = train_cli(spec, run_dir)
    assert r.exit_code == 1
    assert (f"error: {run_dir} already holds a run (status 'completed', backend fake, started 20") in _text(r)
    assert "pass --overwrite to replace it, or choose another --out" in _text(r)
    r = train_cli(spec, run_dir, "--overwrite", "--epochs", "2")
    assert r.exit_code == 0, r.output
    assert not (run_dir / "model.keras").exists()  # the old run's files are gone, not mixed with the new ones
    assert json.loads((run_dir / "history.json").read_text())["epochs"] == [1, 2]


def test_a_directory_that_holds_something_else_is_never_written(tmp_path):
    spec = xor_file(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    for extra in ((), ("--overwrite",)):
        r = train_cli(spec, tmp_path / "mine", *extra)
        assert r.exit_code == 1
        assert f"{tmp_path / 'mine'} is not empty and holds no dnnc run (1 entries, e.g. 'thesis.tex')" in _text(r)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["thesis.tex"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_run_file_follows_the_umask(tmp_path, umask):
    spec = tmp_path / "spec.toml"
    spec.write_text(xor_spec(repeat=1, epochs=1, training_extra='[[training.callbacks]]\ntype = "model_checkpoint"\n'
                                                                   'path = "ck/e{epoch}.npz"'))
    old = os.umask(umask)
    try:
        result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    finally:
        os.umask(old)
    files = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert {"manifest.json", "ir.json", "weights.npz", "history.json", "spec.toml", "e1.npz"} <= {p.name for p in files}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: oct(0o666 & ~umask) for p in files}


def test_out_naming_a_file_or_below_a_file(tmp_path):
    spec = xor_file(tmp_path)
    (tmp_path / "taken").write_text("a file")
    r = train_cli(spec, tmp_path / "taken")
    assert r.exit_code == 1
    assert f"error: the run directory {tmp_path / 'taken'} exists and is a file, not a directory" in _text(r)
    r = train_cli(spec, tmp_path / "taken" / "run")
    assert r.exit_code == 1
    assert f"cannot create the run directory {tmp_path / 'taken' / 'run'}: a part of that path is a file" in _text(r)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_out_is_refused(tmp_path):
    spec = xor_file(tmp_path)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        r = train_cli(spec, tmp_path / "ro")
        r2 = train_cli(spec, tmp_path / "ro" / "run")
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert r.exit_code == 1 and f"cannot write {tmp_path / 'ro' / '.dnnc.lock'}: Permission denied" in _text(r)
    assert r2.exit_code == 1 and f"cannot create the run directory {tmp_path / 'ro' / 'run'}: Permission denied" in _text(r2)


def test_an_unwritable_out_is_refused_as_the_os_reports_it(tmp_path, monkeypatch):
    """The same path as the read-only test, for runs as root (which the OS lets write anywhere)."""
    from dnnc.runner import run_lock

    def refuse(run_dir):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_lock.RunLock, "acquire", staticmethod(refuse))
    spec = xor_file(tmp_path)
    r = train_cli(spec, tmp_path / "run")
    assert r.exit_code == 1 and f"cannot write {tmp_path / 'run' / '.dnnc.lock'}: Permission denied" in _text(r)


# --------------------------------------------------------------------------
# reading a run: manifest, IR and weights as found on disk
# --------------------------------------------------------------------------


@pytest.fixture
def finished_run(tmp_path) -> Path:
    spec = xor_file(tmp_path)
    return train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet").run_dir


@pytest.mark.parametrize("content, problem", [
    ("{ not json", "not valid JSON (line 1, column 3: Expecting property name enclosed in double quotes)"),
    ("[1, 2]", "must hold a JSON object, found an array"),
    ('{"backend": [1]}', "'backend' must be an object, found an array"),
    ('{"backend": {"name": 3}}', "'backend.name' must be a string, found an integer"),
    ('{"spec_dir": 5, "backend": {"name": "fake"}}', "'spec_dir' must be a string or null, found an integer"),
    ('{"backend": {"name": "fake"}, "data": {"standardize": {"input": {"mean": "x"}}}}',
     "'data.standardize.input.mean' must be an array of numbers"),
])
def test_a_malformed_manifest_is_named(finished_run, content, problem):
    (finished_run / "manifest.json").write_text(content)
    r = runner.invoke(app, ["evaluate", str(finished_run)])
    assert r.exit_code == 1, r.output
    assert f"error: {finished_run / 'manifest.json'}: {problem}" in _text(r)


def test_a_malformed_ir_is_named(finished_run):
    (finished_run / "ir.json").write_text('{"ir_version": 1, "name": "x"}')
    r = runner.invoke(app, ["evaluate", str(finished_run)])
    assert r.exit_code == 1, r.output
    assert str(finished_run / "ir.json") in _text(r) and "internal error" not in r.output


def test_weights_of_the_wrong_shape_are_named(finished_run):
    with np.load(finished_run / "weights.npz") as data:
        weights = {k: data[k] for k in data.files}
    weights["dense/kernel"] = np.zeros((3, 8), dtype=np.float32)
    np.savez(finished_run / "weights.npz", **weights)
    r = runner.invoke(app, ["evaluate", str(finished_run)])
    assert r.exit_code == 1
    assert f"{finished_run / 'weights.npz'}: weight 'dense/kernel' has shape (3, 8), the model's is (2, 8)" in _text(r)
    del weights["dense/kernel"]
    np.savez(finished_run / "weights.npz", **weights, extra=np.zeros(2))
    r = runner.invoke(app, ["evaluate", str(finished_run)])
    assert r.exit_code == 1
    assert "does not hold the weights of model 'xor': missing ['dense/kernel'], unknown ['extra']" in _text(r)


def test_weights_holding_python_objects_are_not_loaded(finished_run):
    with np.load(finished_run / "weights.npz") as data:
        weights = {k: data[k] for k in data.files}
    weights["dense/bias"] = np.array([object()] * 8, dtype=object)
    np.savez(finished_run / "weights.npz", **weights)  # pickled: np.load(allow_pickle=False) refuses it
    r = runner.invoke(app, ["evaluate", str(finished_run)])
    assert r.exit_code == 1, r.output
    assert f"{finished_run / 'weights.npz'}: array 'dense/bias' cannot be loaded" in _text(r)
    (finished_run / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    r = runner.invoke(app, ["evaluate", str(finished_run)])
    assert r.exit_code == 1 and f"cannot read {finished_run / 'weights.npz'} as a .npz archive of weights" in _text(r)
    assert evaluate_run.__name__  # the API raises the same RunnerError the CLI prints
    with pytest.raises(RunnerError, match="as a .npz archive"):
        evaluate_run(finished_run)


# --------------------------------------------------------------------------
# sizes the machine cannot hold
# --------------------------------------------------------------------------

HUGE = """
[data]
dataset = "xor"
[model]
input_shape = [2]
layers = [{ type = "dense", units = 1000000000 }, { type = "dense", units = 785, activation = "sigmoid" }]
[training]
loss = "binary_crossentropy"
optimizer = "adam"
"""


def test_a_model_larger_than_the_memory_is_refused_before_anything_is_allocated(tmp_path):
    from dnnc.compiler.memory import format_bytes
    from dnnc.runner.resources import available_memory

    spec = tmp_path / "huge.toml"
    spec.write_text(HUGE)
    r = runner.invoke(app, ["validate", str(spec)])
    assert r.exit_code == 0
    # 2·1e9 + 1e9 + 1e9·785 + 785 = 788,000,000,785 parameters, all trainable: 4 bytes each (2.87 TiB),
    # and adam keeps two more arrays of each (5.73 TiB)
    assert "Parameter memory: 8.6 TiB (2.87 TiB of weights + 5.73 TiB of adam state, float32)" in _text(r)
    have = available_memory()
    assert have is not None  # Linux: /proc/meminfo
    r = train_cli(spec, tmp_path / "run")
    assert r.exit_code == 1
    assert ("error: cannot train model 'huge': it needs 8.6 TiB (2.87 TiB of weights + 5.73 TiB of adam state; "
            "788,000,000,785 parameters of 4 bytes), more than the ") in _text(r)
    assert f"of memory available ({have[1]})" in _text(r)
    assert not (tmp_path / "run").exists()
    r = runner.invoke(app, ["build", str(spec), "--backend", "fake", "-o", str(tmp_path / "m.fake")])
    assert r.exit_code == 1 and "error: cannot build model 'huge': it needs 8.6 TiB" in _text(r)
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(10) == "10 bytes"


def test_available_memory_reads_meminfo_and_the_cgroup_limit(tmp_path, monkeypatch):
    from dnnc.runner import resources

    (tmp_path / "meminfo").write_text("MemTotal:       32000000 kB\nMemAvailable:    2000000 kB\n")
    monkeypatch.setattr(resources, "MEMINFO", tmp_path / "meminfo")
    monkeypatch.setitem(sys.modules, "psutil", None)  # as if psutil were not installed
    monkeypatch.setattr(resources, "PROC_CGROUP", tmp_path / "missing")
    assert resources.available_memory() == (2_048_000_000, f"MemAvailable in {tmp_path / 'meminfo'}")
    group = tmp_path / "cg" / "job"
    group.mkdir(parents=True)
    (tmp_path / "cgroup").write_text("0::/job\n")
    (group / "memory.max").write_text("1000000000\n")
    (group / "memory.current").write_text("900000000\n")
    (group / "memory.stat").write_text("anon 500000000\ninactive_file 300000000\n")
    monkeypatch.setattr(resources, "PROC_CGROUP", tmp_path / "cgroup")
    monkeypatch.setattr(resources, "CGROUP", tmp_path / "cg")
    # 1e9 limit − (9e8 used − 3e8 reclaimable cache) = 4e8, less than MemAvailable
    assert resources.available_memory() == (400_000_000, f"the cgroup memory limit ({tmp_path / 'cg'}/memory.max)")
    (group / "memory.max").write_text("max\n")
    assert resources.available_memory()[0] == 2_048_000_000


def test_build_refuses_a_seed_no_backend_accepts(tmp_path):
    spec = xor_file(tmp_path)
    r = runner.invoke(app, ["build", str(spec), "--backend", "fake", "--seed", str(2**64 + 1)])
    assert r.exit_code == 2 and f"--seed must be in 0…4294967295 (received {2**64 + 1})" in _text(r)


def test_an_output_file_that_cannot_be_written_is_named(tmp_path):
    spec = xor_file(tmp_path)
    (tmp_path / "plain").write_text("a file")
    target = tmp_path / "plain" / "ir.json"
    for args in (["validate", str(spec), "--ir", str(target)], ["schema", "-o", str(target)]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1, r.output
        assert f"error: {target}: Not a directory" in _text(r) and "internal error" not in r.output
