"""The file store: one blob per content, duplicates recorded, bad input refused, nothing lost."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from sqlmodel import Session, select

from finapp.models import FileContent, Project, StoredFile
from finapp.services import files
from finapp.services.errors import InvalidInput, NotFound, TooLarge
from finapp.services.file_types import UnsupportedFile
from finapp.settings import get_settings
from tests.conftest import reload_settings

CSV = b"date,description,amount\n2026-01-05,Coffee,-3.50\n2026-01-06,Salary,2500.00\n"


@pytest.fixture
def on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every content as a blob in the data dir, as large files are (small ones live in the
    database): for the tests of the disk side of the store."""
    monkeypatch.setattr(files, "SMALL_CONTENT_BYTES", 0)


def _blobs() -> list[Path]:
    root = get_settings().files_dir
    return [p for p in root.rglob("*") if p.is_file() and "incoming" not in p.parts]


def test_store_file_keeps_content_once_at_its_hash(on_disk: None, session: Session) -> None:
    result = files.store_file(
        session=session, data=CSV, filename="jan.csv", project_id="acme", source="upload"
    )
    record = result.file
    assert not result.duplicate
    assert record.status == "pending"
    assert record.kind == "csv"
    assert record.size == len(CSV)
    blob = files.blob_path(record.sha256)
    assert blob.read_bytes() == CSV
    assert blob.parent.parent.name == record.sha256[:2]
    assert session.get(Project, "acme") is not None  # created on first use


def test_same_content_again_in_a_project_is_a_duplicate_from_any_channel(
    on_disk: None, session: Session
) -> None:
    first = files.store_file(
        session=session, data=CSV, filename="jan.csv", project_id="acme", source="upload"
    ).file
    again = files.store_file(
        session=session,
        stream=io.BytesIO(CSV),
        filename="statement (1).csv",
        project_id="acme",
        source="email",
        source_ref="<msg-1@bank>",
    )
    assert again.duplicate
    assert again.file.status == "skipped"
    assert again.file.duplicate_of_id == first.id
    assert f"#{first.id}" in again.file.status_detail
    assert len(_blobs()) == 1  # one copy on disk


def test_same_content_in_another_project_is_not_a_duplicate_but_shares_the_blob(
    on_disk: None,
    session: Session,
) -> None:
    files.store_file(session=session, data=CSV, filename="a.csv", project_id="p1", source="upload")
    other = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="p2", source="webhook"
    )
    assert not other.duplicate
    assert other.file.status == "pending"
    assert len(_blobs()) == 1


def test_images_are_stored_but_marked_not_extractable(session: Session) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    record = files.store_file(
        session=session, data=png, filename="receipt.png", project_id="acme", source="upload"
    ).file
    assert record.status == "skipped"
    assert "not extractable" in record.status_detail


def test_oversized_file_is_refused_and_leaves_nothing_behind(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINAPP_MAX_FILE_MB", "1")
    reload_settings()
    big = io.BytesIO(b"date,amount\n" + b"2026-01-01,1.00\n" * 70_000)  # ~1.1 MB
    with pytest.raises(TooLarge, match="1 MB limit"):
        files.store_file(
            session=session, stream=big, filename="big.csv", project_id="acme", source="upload"
        )
    assert _blobs() == []
    assert list((get_settings().files_dir / "incoming").iterdir()) == []
    assert session.exec(select(StoredFile)).all() == []


def test_type_mismatch_is_refused_and_nothing_is_stored(session: Session) -> None:
    with pytest.raises(UnsupportedFile, match="Windows executable"):
        files.store_file(
            session=session,
            data=b"MZ\x90\x00" * 10,
            filename="invoice.xlsx",
            project_id="acme",
            source="upload",
        )
    assert _blobs() == []
    assert session.exec(select(StoredFile)).all() == []


def test_empty_file_is_refused(session: Session) -> None:
    with pytest.raises(UnsupportedFile, match="empty"):
        files.store_file(
            session=session, data=b"", filename="empty.csv", project_id="acme", source="upload"
        )


def test_hostile_name_is_sanitised_and_the_original_kept_for_display(session: Session) -> None:
    record = files.store_file(
        session=session,
        data=CSV,
        filename="../../etc/\x00cron.d/evil\u202e.csv",
        project_id="acme",
        source="upload",
    ).file
    assert "/" not in record.safe_name and "\x00" not in record.safe_name
    assert record.safe_name.endswith(".csv")
    assert "\x00" not in record.original_name
    # Only the hash names anything on disk.
    assert all(p.name == record.sha256 for p in _blobs())


@pytest.mark.parametrize("bad", ["", " ", "../x", "a/b", "x" * 65, "-lead", "sp ace"])
def test_bad_project_ids_are_refused(session: Session, bad: str) -> None:
    with pytest.raises(InvalidInput, match="project id"):
        files.store_file(
            session=session, data=CSV, filename="a.csv", project_id=bad, source="upload"
        )


def test_unknown_source_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput, match="source"):
        files.store_file(session=session, data=CSV, filename="a.csv", project_id="p", source="ftp")


def test_list_files_filters_and_paginates(session: Session) -> None:
    for i in range(5):
        files.store_file(
            session=session,
            data=CSV + str(i).encode(),
            filename=f"f{i}.csv",
            project_id="p1" if i % 2 else "p2",
            source="upload" if i < 3 else "email",
        )
    rows, total = files.list_files(session=session, project_id="p2")
    assert total == 3 and {r.project_id for r in rows} == {"p2"}
    rows, total = files.list_files(session=session, source="email")
    assert total == 2
    page, total = files.list_files(session=session, offset=2, limit=2)
    assert total == 5 and len(page) == 2
    assert [r.original_name for r in page] == ["f2.csv", "f1.csv"]  # newest first


def test_deleting_the_first_copy_promotes_a_duplicate_and_keeps_the_blob(
    on_disk: None,
    session: Session,
) -> None:
    first = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
    ).file
    second = files.store_file(
        session=session, data=CSV, filename="b.csv", project_id="acme", source="email"
    ).file
    third = files.store_file(
        session=session, data=CSV, filename="c.csv", project_id="acme", source="email"
    ).file
    files.delete_file(session=session, file_id=first.id)
    session.commit()
    assert second.duplicate_of_id is None and second.status == "pending"
    assert third.duplicate_of_id == second.id
    assert files.blob_path(first.sha256).exists()


def test_deleting_the_last_reference_removes_the_blob_only_after_commit(
    on_disk: None,
    session: Session,
) -> None:
    record = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
    ).file
    session.commit()
    blob = files.blob_path(record.sha256)
    files.delete_file(session=session, file_id=record.id)
    assert blob.exists()  # a rollback now must still find the content
    session.commit()
    assert not blob.exists()


def test_a_rolled_back_delete_keeps_the_blob(on_disk: None, session: Session) -> None:
    record = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
    ).file
    session.commit()
    files.delete_file(session=session, file_id=record.id)
    session.rollback()
    assert files.blob_path(record.sha256).exists()
    assert session.get(StoredFile, record.id) is not None
    session.commit()  # a later commit must not carry out the rolled-back deletion
    assert files.blob_path(record.sha256).exists()


def test_get_missing_file_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        files.get_file(session=session, file_id=999)


def test_blobs_are_not_world_writable(on_disk: None, session: Session) -> None:
    record = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
    ).file
    mode = files.blob_path(record.sha256).stat().st_mode
    assert not mode & stat.S_IWOTH


def test_record_files_batches_and_dedupes_within_the_batch_and_against_the_store(
    session: Session,
) -> None:
    """One call for many files: content already in the project, content repeated inside the
    batch, the same content for another project, and an image."""
    earlier = files.store_file(
        session=session, data=CSV, filename="old.csv", project_id="acme", source="upload"
    ).file
    other = b"date,description,amount\n2026-02-01,Rent,-900.00\n"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    blobs = {
        name: files.receive_blob(data=data, filename=name)
        for name, data in [("same.csv", CSV), ("new.csv", other), ("scan.png", png)]
    }
    items = [
        files.FileToRecord(blobs["same.csv"], "acme", "email", "m1"),
        files.FileToRecord(blobs["new.csv"], "acme", "email", "m2"),
        files.FileToRecord(blobs["new.csv"], "acme", "email", "m3"),
        files.FileToRecord(blobs["new.csv"], "globex", "email", "m4"),
        files.FileToRecord(blobs["scan.png"], "acme", "email", "m5"),
    ]

    results = files.record_files(session=session, items=items)

    assert [r.duplicate for r in results] == [True, False, True, False, False]
    assert [(r.original_name, r.project_id) for r in results] == [
        ("same.csv", "acme"),
        ("new.csv", "acme"),
        ("new.csv", "acme"),
        ("new.csv", "globex"),
        ("scan.png", "acme"),
    ]
    rows = [session.get(StoredFile, r.id) for r in results]
    assert all(rows)
    same, new, new_again, for_globex, scan = rows  # type: ignore[misc]
    assert [r.status for r in results] == [row.status for row in rows]  # type: ignore[union-attr]
    assert (same.duplicate_of_id, same.status) == (earlier.id, "skipped")
    assert f"#{earlier.id} (old.csv)" in same.status_detail
    assert (new.duplicate_of_id, new.status) == (None, "pending")
    assert (new_again.duplicate_of_id, new_again.status) == (new.id, "skipped")
    assert (for_globex.project_id, for_globex.status) == ("globex", "pending")
    assert scan.status == "skipped" and "not extractable" in scan.status_detail
    assert [r.source_ref for r in (same, new, new_again, for_globex, scan)] == [
        "m1",
        "m2",
        "m3",
        "m4",
        "m5",
    ]
    assert session.get(Project, "globex") is not None
    assert len(session.exec(select(StoredFile)).all()) == 6


def test_record_files_refuses_an_unknown_source_and_a_bad_project_id(session: Session) -> None:
    blob = files.receive_blob(data=CSV, filename="a.csv")
    with pytest.raises(InvalidInput, match="Unknown source"):
        files.record_files(session=session, items=[files.FileToRecord(blob, "acme", "fax")])
    with pytest.raises(InvalidInput, match="project id"):
        files.record_files(session=session, items=[files.FileToRecord(blob, "../x", "email")])
    assert session.exec(select(StoredFile)).all() == []


@pytest.mark.parametrize("how", ["data", "stream"])
def test_the_store_recovers_when_its_directories_are_removed_while_running(
    on_disk: None, session: Session, how: str
) -> None:
    """A store directory removed behind the app's back (an admin cleaning up) is created
    again, and nothing is lost."""
    import shutil

    first = files.receive_blob(filename="a.csv", **{how: CSV if how == "data" else io.BytesIO(CSV)})
    shutil.rmtree(get_settings().files_dir)
    other = CSV.replace(b"Coffee", b"Tea")

    second = files.receive_blob(
        filename="b.csv", **{how: other if how == "data" else io.BytesIO(other)}
    )

    assert files.blob_path(second.sha256).read_bytes() == other
    assert first.sha256 != second.sha256


def test_small_content_is_stored_in_the_database_with_its_row(session: Session) -> None:
    first = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
    ).file
    again = files.store_file(
        session=session,
        stream=io.BytesIO(CSV),
        filename="b.csv",
        project_id="globex",
        source="upload",
    ).file

    assert _blobs() == []  # nothing on disk
    [content] = session.exec(select(FileContent)).all()
    assert (content.sha256, content.data) == (first.sha256, CSV)
    assert again.sha256 == first.sha256
    assert files.read_content(session=session, sha256=first.sha256) == CSV
    assert files.stored_content(session=session, sha256=first.sha256) == CSV


@pytest.mark.parametrize("how", ["data", "stream"])
def test_content_over_the_small_limit_goes_to_disk(
    session: Session, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(files, "SMALL_CONTENT_BYTES", len(CSV))
    bigger = CSV + b"2026-01-07,Rent,-900.00\n"
    kept = files.receive_blob(filename="a.csv", **{how: CSV if how == "data" else io.BytesIO(CSV)})
    spilled = files.receive_blob(
        filename="b.csv", **{how: bigger if how == "data" else io.BytesIO(bigger)}
    )

    assert kept.data == CSV and not files.blob_path(kept.sha256).exists()
    assert spilled.data is None and files.blob_path(spilled.sha256).read_bytes() == bigger
    for blob in (kept, spilled):
        files.record_files(session=session, items=[files.FileToRecord(blob, "acme", "upload")])
    assert files.read_content(session=session, sha256=spilled.sha256) == bigger
    assert files.stored_content(session=session, sha256=spilled.sha256) == files.blob_path(
        spilled.sha256
    )
    assert [c.sha256 for c in session.exec(select(FileContent)).all()] == [kept.sha256]


def test_deleting_the_last_reference_removes_small_content_with_the_row(
    database: Path,
) -> None:
    from finapp import db

    with db.session_scope() as session:
        record = files.store_file(
            session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
        ).file
        file_id, sha256 = record.id, record.sha256
    with pytest.raises(RuntimeError), db.session_scope() as session:
        files.delete_file(session=session, file_id=file_id)  # type: ignore[arg-type]
        raise RuntimeError("rolled back")
    with db.session_scope() as session:
        assert files.read_content(session=session, sha256=sha256) == CSV  # still there
        files.delete_file(session=session, file_id=file_id)  # type: ignore[arg-type]
    with db.session_scope() as session:
        assert session.exec(select(FileContent)).all() == []
