"""The `face` parameter of the eye effects: one detected face, or every one.

Detected faces are counted from the image's left (0 is the leftmost). The
value is an integer so that the editor's face picker, which writes the
index of the face the user picks into an effect's image-bound integer
parameter, keeps working unchanged; `ALL_FACES` (-1) asks for every face
and is what the panel's "All faces" writes. On the command line the word
`all` reads as `ALL_FACES` (`--set face=all`), and so does `-1`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.params import Param, ParamType

ALL_FACES = -1
# The highest face index a value may name (the panel lists the faces found).
MAX_FACE = 63

T = TypeVar("T")


class FaceParam(Param):
    """An integer face index that also reads the word 'all' (`ALL_FACES`)."""

    def parse(self, text: str) -> Any:
        if text.strip().lower() == "all":
            return self.validate(ALL_FACES)
        return super().parse(text)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "all": ALL_FACES}


def face_param(help_text: str) -> FaceParam:
    """The effects' `face` parameter: 0.. a face from the image's left, -1 every face."""
    return FaceParam("face", "Face", ParamType.INTEGER, default=0, min=ALL_FACES, max=MAX_FACE,
                     image_bound=True, help=help_text)  # fmt: skip


def chosen_faces(faces: Sequence[T], face: int, effect: str) -> list[T]:
    """The faces `face` asks for among `faces` (from the image's left): all of
    them for `ALL_FACES`, else the one at that index. Raises BadInputError
    naming `effect` when the index is past the faces found."""
    index = int(face)
    if index == ALL_FACES:
        return list(faces)
    if not 0 <= index < len(faces):
        found = f"{len(faces)} found" if faces else "none found"
        raise BadInputError(f"{effect}: face {index} asked for, but {found}")
    return [faces[index]]
