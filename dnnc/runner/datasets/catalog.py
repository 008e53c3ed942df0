"""The standard image data sets: their files, official SHA-256 checksums and download addresses.

Two checksums per file.  ``sha256`` is that of the gzipped file the download
mirror serves (MNIST: the LeCun files as mirrored by storage.googleapis.com/
cvdf-datasets; Fashion-MNIST: Zalando's S3 files), used to verify downloads.
``raw_sha256`` is that of the decompressed IDX bytes; local copies are
identified by it, because re-compressed copies (Debian's
``dataset-fashion-mnist``, /work/shared/datasets) hold the same data in gzip
files with other checksums.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
"""The four files of an MNIST-style data set, in the order they are listed to users."""

FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
"""The canonical (gzipped) file name of each role."""


def accepted_names(role: str) -> tuple[str, ...]:
    """File names accepted for ``role``, best first: gzipped, plain, and the dotted plain form."""
    gz = FILE_NAMES[role]
    plain = gz[: -len(".gz")]
    dotted = plain.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some mirrors spell it
    return (gz, plain, dotted)


@dataclass(frozen=True)
class StandardDataset:
    """A data set distributed as the four MNIST-style IDX files."""

    name: str
    """Spec name: ``mnist`` or ``fashion_mnist``."""
    title: str
    """Name shown to users."""
    dir_name: str
    """Canonical directory name, used for the cache and system locations."""
    dir_aliases: tuple[str, ...]
    """Subdirectory names accepted in user directories, canonical first."""
    base_url: str
    sha256: dict[str, str]
    """SHA-256 of each role's gzipped file as the download mirror serves it (checked on download)."""
    raw_sha256: dict[str, str]
    """SHA-256 of each role's decompressed IDX bytes: identifies the genuine data whatever the compression
    (Debian's package and other mirrors re-gzip the files, which changes the gzipped file's checksum)."""
    apt_package: str | None = None
    num_classes: int = 10
    image_shape: tuple[int, int] = (28, 28)
    train_rows: int = 60_000
    test_rows: int = 10_000


MNIST = StandardDataset(
    name="mnist",
    title="MNIST",
    dir_name="mnist",
    dir_aliases=("mnist",),
    base_url="https://storage.googleapis.com/cvdf-datasets/mnist/",
    sha256={
        "train_images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train_labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    raw_sha256={
        "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
)

FASHION_MNIST = StandardDataset(
    name="fashion_mnist",
    title="Fashion-MNIST",
    dir_name="fashion-mnist",
    dir_aliases=("fashion-mnist", "fashion_mnist"),
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    sha256={
        "train_images": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train_labels": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "test_images": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "test_labels": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    raw_sha256={
        "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    apt_package="dataset-fashion-mnist",
)

STANDARD_DATASETS: dict[str, StandardDataset] = {d.name: d for d in (MNIST, FASHION_MNIST)}
