"""Pydantic field types that the LangChain and LlamaIndex components share: each setting is
read (and written back to JSON) by one definition, whichever framework holds it."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, PlainSerializer, ValidationInfo

from ..text.protect import Protection
from .documents import check_number_setting, read_protect, saved_protect


def _checked_number(value: Any, info: ValidationInfo) -> Any:
    return check_number_setting(info.field_name, value)


NumberSetting = Annotated[float, BeforeValidator(_checked_number)]
"""``rate`` or ``target_token``: a real number, refused with the setting's name otherwise."""

ProtectSetting = Annotated[Union[bool, Protection], BeforeValidator(read_protect),
                           PlainSerializer(saved_protect)]
"""``protect`` as given in Python or read back from JSON, and saved as JSON."""
