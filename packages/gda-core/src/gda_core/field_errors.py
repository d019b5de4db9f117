"""pydantic validation errors as one line each, naming the config field; a misspelt field name
gets "did you mean" (as an unknown component name does, :func:`gda_core.host.unknown_message`)
instead of pydantic's bare "Extra inputs are not permitted"."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


def field_path(loc: tuple[Any, ...]) -> str:
    """``("selectors", 0, "params")`` as ``selectors[0].params``; odd names quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part) if str(part).isprintable() and str(part).strip() == str(part) else repr(part)
            out += f".{part}" if out else part
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (``list[X]``, ``X | None``, ``dict[str, X]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the (nested) model that ``loc`` points into, or None when unknown."""
    current = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        models = _models_in(field.annotation)
        current = models[0] if len(models) == 1 else None
    return list(current.model_fields) if current is not None else None


def unknown_field(name: str, known: list[str]) -> str:
    """``unknown field; did you mean 'n_components'?`` (the fields when none is close)."""
    scored = sorted(((difflib.SequenceMatcher(None, name, k).ratio(), k) for k in known), reverse=True)
    close = [k for r, k in scored if r >= 0.6 and r >= scored[0][0] - 0.05][:3]  # the best, and any as close
    if close:
        return f"unknown field; did you mean {' or '.join(repr(c) for c in close)}?"
    return f"unknown field (fields: {', '.join(known)})" if known else "unknown field"


def format_validation_error(exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = "") -> str:
    """Every error of ``exc`` as ``field: message``, joined by ``; ``. ``model`` (the model that
    was validated) lets an unknown field name the fields it might have meant."""
    parts = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = field_path(loc)
        field = f"{prefix}.{path}" if prefix and path else (prefix or path)
        msg = err["msg"]
        if err.get("type") == "extra_forbidden" and loc:
            known = fields_at(model, loc[:-1])
            if known is not None:
                msg = unknown_field(str(loc[-1]), known)
        parts.append(f"{field}: {msg}" if field else msg)
    return "; ".join(parts)
