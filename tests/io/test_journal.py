"""The journal of a run: chunks committed whole or not at all, read back in frame order."""

import numpy as np
import pytest

from skspeckle.io._atomic import stale_temporaries, temporary_sibling
from skspeckle.io.journal import Journal, journal_path


def test_commit_read_back_and_reopen(tmp_path):
    path = journal_path(tmp_path / "out.h5", "skspeckle_results")
    assert path == tmp_path / ".out.h5.partial"
    assert journal_path(tmp_path / "run.cxi", "entry_1/result_1").name == (
        ".run.cxi.entry_1_result_1.partial"
    )
    journal = Journal(path).lock().create({"n_frames": 5})
    journal.commit(3, {"label": np.array(["b", "c"]), "score": np.array([[0.5], [np.nan]])})
    journal.commit(0, {"label": np.array(["a", "a", "b"]), "score": np.zeros((3, 1))})
    journal.close()
    # A process killed while committing leaves a temporary file; reading the journal drops it.
    (path / "chunk_000000000005.npz.tmp").write_bytes(b"half a chunk")
    again = Journal(path).lock().read()
    assert again.manifest == {"n_frames": 5} and again.finished == {0: 3, 3: 2}
    assert again.n_finished() == 5 and not list(path.glob("*.tmp"))
    starts, labels = zip(*((start, arrays["label"]) for start, arrays in again.chunks()))
    assert starts == (0, 3)
    np.testing.assert_array_equal(np.concatenate(labels), ["a", "a", "b", "b", "c"])
    again.remove()
    assert not path.exists()


def test_damaged_chunk_is_dropped_and_listed(tmp_path):
    """A chunk whose data never reached the disk (power loss) fails its CRC check on reading."""
    journal = Journal(tmp_path / ".o.h5.partial").lock().create({})
    journal.commit(0, {"x": np.arange(4)})
    journal.commit(4, {"x": np.arange(4)})
    journal.close()
    chunk = tmp_path / ".o.h5.partial" / "chunk_000000000004.npz"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 3] ^= 0xFF  # one flipped byte inside the stored array
    chunk.write_bytes(bytes(data))
    again = Journal(tmp_path / ".o.h5.partial").lock().read()
    assert again.finished == {0: 4} and again.dropped == ["chunk_000000000004.npz"]
    assert not chunk.exists()


def test_unreadable_manifest_names_the_fix(tmp_path):
    path = tmp_path / ".out.h5.partial"
    path.mkdir()
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="no readable manifest.*--overwrite"):
        Journal(path).lock().read()
    Journal(path).lock().close()  # the failed read released the lock


def test_stale_temporaries_are_only_the_writers_own(tmp_path):
    target = tmp_path / "out.h5"
    mine = temporary_sibling(target)
    mine.write_bytes(b"")
    for other in (".out.h5.partial", ".other.h5.0123456789ab.tmp", "out.h5"):
        (tmp_path / other).write_bytes(b"")
    assert stale_temporaries(target) == [mine]
    assert stale_temporaries(tmp_path / "missing" / "out.h5") == []
