"""Zip archives of document folders: checked, then unpacked into a temporary folder that is read like any.

A zip member is a path chosen by whoever made the archive. One that climbs out of its folder (`../x`, an
absolute path, a drive letter) or a symbolic link would let an archive write or read outside the place it
is unpacked to, so the whole archive is refused before anything is written. Members are copied one by one
to a path checked to lie inside the temporary folder; the folder is removed after reading.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from embedlab.data.readers import UnreadableFile
from embedlab.errors import EmbedlabError

MAX_MEMBERS = 100_000  # an archive with more entries than this is not a document folder


def unsafe_member(name: str) -> bool:
    """True for a member name that would land outside the folder it is unpacked into."""
    path = PurePosixPath(name.replace("\\", "/"))
    return (
        path.is_absolute()
        or ".." in path.parts
        or (bool(path.parts) and ":" in path.parts[0])  # C:/… on Windows
    )


def check_zip(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    """The archive's file members, after refusing any unsafe one (one line naming archive and member)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise EmbedlabError(f"{path} has {len(infos)} entries (more than {MAX_MEMBERS}): unpack it yourself")
    for info in infos:
        if unsafe_member(info.filename):
            raise EmbedlabError(
                f"{path}: member {info.filename!r} points outside the archive's folder: refused, nothing "
                "was unpacked; rebuild the zip with relative paths"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise EmbedlabError(
                f"{path}: member {info.filename!r} is a symbolic link: refused, nothing was unpacked; "
                "rebuild the zip without links"
            )
    return [info for info in infos if not info.is_dir()]


def extract_zip(path: Path, dest: Path) -> list[Path]:
    """Unpack the document files of `path` into the existing folder `dest`; return the files written."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile(f"{path} is not a readable zip archive ({exc}): re-create it") from None
    written: list[Path] = []
    root = dest.resolve()
    with archive:
        for info in check_zip(archive, path):
            target = (root / info.filename).resolve()
            if not target.is_relative_to(root):  # belt and braces after check_zip
                raise EmbedlabError(f"{path}: member {info.filename!r} points outside the archive's folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            except (zipfile.BadZipFile, RuntimeError, OSError) as exc:  # RuntimeError: encrypted member
                raise UnreadableFile(f"{path}: member {info.filename!r} cannot be read ({exc})") from None
            written.append(target)
    return written
