"""Finding adapter plugins and refusing, at load time, the ones that cannot work.

An adapter is found by its entry-point name in the group ``skn_connector.adapters``
or by an import path ``package.module:ClassName`` (docs/plugins.md). Before it is
constructed, the registry checks its class against the SDK contract and validates
its options; every refusal is an :class:`AdapterLoadError` whose message is one
sentence naming the adapter and what to fix.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from skn_connector.adapters.api import (
    CAPABILITY_CALLS,
    SDK_VERSION,
    AdapterError,
    BaseAdapter,
    Capability,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterLoadError",
    "LoadedAdapter",
    "available_adapters",
    "load_adapter",
    "load_adapters",
    "resolve_adapter_class",
    "validate_adapter_class",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "skn_connector.adapters"


class AdapterLoadError(Exception):
    """An adapter could not be found, validated or constructed.

    The message is one sentence naming the adapter (its config name where known)
    and what to fix; it never contains option values.
    """


@dataclass(frozen=True)
class LoadedAdapter:
    """A constructed adapter with the config name it was loaded under."""

    name: str
    use: str
    adapter: BaseAdapter
    capabilities: frozenset[Capability]


def _label(adapter_name: str | None, use: str | None = None) -> str:
    if adapter_name and use and adapter_name != use:
        return f'adapter "{adapter_name}" (use = "{use}")'
    if adapter_name:
        return f'adapter "{adapter_name}"'
    if use:
        return f'adapter "{use}"'
    return "the adapter"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _entry_points() -> list[EntryPoint]:
    return list(entry_points(group=ENTRY_POINT_GROUP))


def available_adapters() -> dict[str, str]:
    """The installed adapters: entry-point name -> ``"module:attr"``, sorted by name."""
    found: dict[str, str] = {}
    for ep in sorted(_entry_points(), key=lambda e: (e.name, e.value)):
        found.setdefault(ep.name, ep.value)
    return found


def _import_path(use: str, label: str) -> object:
    module_name, _, attr_path = use.partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not module_name or not attr_path:
        raise AdapterLoadError(
            f'{_cap(label)} has use = "{use}", which is not an import path; '
            'write it as "package.module:ClassName" or use an installed entry-point name.'
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterLoadError(
            f'{_cap(label)} cannot be imported because module "{module_name}" failed to import '
            f"({type(exc).__name__}: {exc}); install the package that provides it "
            "or correct the import path."
        ) from exc
    except Exception as exc:
        raise AdapterLoadError(
            f'{_cap(label)} cannot be imported because module "{module_name}" raised '
            f"{type(exc).__name__} while importing; fix that module or its installation."
        ) from exc
    obj: object = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AdapterLoadError(
                f'{_cap(label)} cannot be found because module "{module_name}" has no '
                f'"{attr_path}"; correct the class name after the colon.'
            ) from None
    return obj


def resolve_adapter_class(use: str, *, adapter_name: str | None = None) -> type[BaseAdapter]:
    """The adapter class that ``use`` names: an entry-point name or ``package.module:ClassName``.

    ``adapter_name`` (the config name) only improves the error messages.
    """
    use = use.strip()
    label = _label(adapter_name, use)
    if ":" in use:
        obj = _import_path(use, label)
    else:
        matches = {ep.value: ep for ep in _entry_points() if ep.name == use}
        who = _cap(_label(adapter_name)) if adapter_name else "The configuration"
        if not matches:
            installed = ", ".join(available_adapters()) or "none"
            raise AdapterLoadError(
                f'{who} uses "{use}", which is not an installed adapter '
                f"(installed: {installed}); set use to one of these or to an import path "
                '"package.module:ClassName".'
            )
        if len(matches) > 1:
            raise AdapterLoadError(
                f'{who} uses "{use}", which more than one installed distribution '
                f"declares ({', '.join(sorted(matches))}); uninstall one or use an import path."
            )
        (ep,) = matches.values()
        obj = _import_path(ep.value, label)
    if not (isinstance(obj, type) and issubclass(obj, BaseAdapter)):
        raise AdapterLoadError(
            f'{_cap(label)} names "{use}", which is not a subclass of '
            "skn_connector.adapters.api.BaseAdapter; point use at an adapter class."
        )
    return obj


def _capabilities(cls: type[BaseAdapter], label: str) -> frozenset[Capability]:
    declared: object = getattr(cls, "capabilities", None)
    if isinstance(declared, str | bytes) or not isinstance(declared, Iterable):
        raise AdapterLoadError(
            f"{_cap(label)} declares capabilities that are not a set; "
            "set capabilities to a set such as {Capability.CLAIMS, Capability.HOLDS}."
        )
    found: set[Capability] = set()
    for item in declared:
        if isinstance(item, Capability):
            found.add(item)
            continue
        if isinstance(item, str):
            try:
                found.add(Capability(item.strip().lower()))
                continue
            except ValueError:
                pass
        known = ", ".join(c.value for c in Capability)
        raise AdapterLoadError(
            f'{_cap(label)} declares the unknown capability "{item}"; '
            f"use only known capabilities ({known})."
        )
    if not found:
        raise AdapterLoadError(
            f"{_cap(label)} declares no capabilities; declare at least one of "
            f"{', '.join(c.value for c in Capability)}."
        )
    return frozenset(found)


def _check_class(cls: type[BaseAdapter], label: str) -> frozenset[Capability]:
    if not (isinstance(cls, type) and issubclass(cls, BaseAdapter)):
        raise AdapterLoadError(
            f"{_cap(label)} is not a subclass of skn_connector.adapters.api.BaseAdapter; "
            "derive the adapter class from BaseAdapter."
        )
    name: object = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise AdapterLoadError(
            f"{_cap(label)} ({cls.__module__}.{cls.__qualname__}) has no name; "
            'set the class attribute name, e.g. name = "my_backoffice".'
        )
    sdk_version: object = getattr(cls, "sdk_version", SDK_VERSION)
    if not isinstance(sdk_version, str) or sdk_version.split(".")[0] != SDK_VERSION.split(".")[0]:
        raise AdapterLoadError(
            f'{_cap(label)} was written for SDK version "{sdk_version}", which this connector '
            f"(SDK {SDK_VERSION}) does not support; install a version of the adapter built "
            f"for SDK {SDK_VERSION.split('.')[0]}.x."
        )
    capabilities = _capabilities(cls, label)
    for capability in sorted(capabilities, key=lambda c: c.value):
        for call in CAPABILITY_CALLS[capability]:
            impl = getattr(cls, call, None)
            if not callable(impl) or impl is getattr(BaseAdapter, call):
                raise AdapterLoadError(
                    f'{_cap(label)} declares the capability "{capability.value}" but does not '
                    f"implement {call}(), which that capability promises; implement {call}() "
                    f'or remove "{capability.value}" from its capabilities.'
                )
    options: object = getattr(cls, "Options", None)
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        raise AdapterLoadError(
            f"{_cap(label)} has an Options attribute that is not a pydantic model; "
            "define Options as a subclass of pydantic.BaseModel."
        )
    return capabilities


def validate_adapter_class(cls: type[BaseAdapter], *, adapter_name: str | None = None) -> None:
    """Refuse a class that breaks the SDK contract (name, capabilities, promised calls, Options).

    Capabilities given as plain strings (``"claims"``) are accepted; an unknown one is refused.
    """
    label = _label(adapter_name or getattr(cls, "name", None) or getattr(cls, "__name__", None))
    _check_class(cls, label)


def _options_error(name: str, label: str, exc: ValidationError) -> AdapterLoadError:
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"])
        path = f"adapters.{name}.options" + (f".{where}" if where else "")
        if error["type"] == "missing":
            problem = "is required"
        elif error["type"] == "extra_forbidden":
            problem = "is not a known option"
        else:
            text = error["msg"].removeprefix("Value error, ").rstrip(".")
            problem = f"is invalid ({text[:1].lower()}{text[1:]})"
        problems.append(f"{path} {problem}")
    return AdapterLoadError(
        f"{_cap(label)} has options that do not validate: {'; '.join(problems)}; "
        f'correct them under [adapters.options] of the adapter named "{name}".'
    )


def load_adapter(name: str, use: str, options: Mapping[str, Any]) -> LoadedAdapter:
    """Find, validate and construct one adapter from its config entry."""
    if not isinstance(name, str) or not name.strip():
        raise AdapterLoadError(
            f'An [[adapters]] entry with use = "{use}" has no name; give it a name.'
        )
    label = _label(name, use)
    cls = resolve_adapter_class(use, adapter_name=name)
    capabilities = _check_class(cls, label)
    if not isinstance(options, Mapping):
        raise AdapterLoadError(
            f"{_cap(label)} has options that are not a table; write them under [adapters.options]."
        )
    try:
        validated = cls.Options.model_validate(dict(options))
    except ValidationError as exc:
        raise _options_error(name, label, exc) from None
    try:
        adapter = cls(validated)
    except Exception as exc:
        # Only an AdapterError's message is promised free of personal data and secrets.
        detail = str(exc).strip().rstrip(".") if isinstance(exc, AdapterError) else ""
        raise AdapterLoadError(
            f"{_cap(label)} failed to start ({type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + "); check its options and that its back-office is installed."
        ) from exc
    log.info(
        "adapter %s loaded (%s, capabilities: %s)",
        name,
        use,
        ", ".join(sorted(c.value for c in capabilities)),
    )
    return LoadedAdapter(name=name, use=use, adapter=adapter, capabilities=capabilities)


def load_adapters(specs: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[LoadedAdapter]:
    """Load every configured adapter, in order; duplicate config names are refused.

    If one fails, the adapters already constructed are closed before the error is raised.
    """
    entries = list(specs)
    seen: set[str] = set()
    for name, _use, _options in entries:
        if name in seen:
            raise AdapterLoadError(
                f'Adapter "{name}" is configured more than once; '
                "give each [[adapters]] entry a unique name."
            )
        seen.add(name)
    loaded: list[LoadedAdapter] = []
    try:
        for name, use, options in entries:
            loaded.append(load_adapter(name, use, options))
    except BaseException:
        for item in reversed(loaded):
            try:
                item.adapter.close()
            except Exception:
                log.warning("adapter %s failed to close after a load error", item.name)
        raise
    return loaded
