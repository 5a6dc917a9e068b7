"""Loading a pipeline YAML: YAML -> env interpolation -> overrides -> validation, with
errors that name the file, the line, the YAML path, the bad value and what was expected;
then the checks that look at the file system (paths, folders, ipc path lengths)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.config.schema import PipelineConfig
from pipeline.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?:,([^}]*))?\}")


def _interpolate(value: Any, path: str, errors: list[str]) -> Any:
    """Replace ``${env:VAR}`` / ``${env:VAR,default}`` in strings (Savant style)."""
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), errors)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if isinstance(value, str) and "${env:" in value:
        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            errors.append(f"{path}: environment variable {var} is not set and has no "
                          f"default (write ${{env:{var},DEFAULT}})")
            return ""
        out = _ENV.sub(sub, value)
        if _ENV.fullmatch(value):  # a whole-value reference may be a number or bool
            return yaml.safe_load(out) if out else out
        return out
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to the raw config."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"--set {item!r}: expected PATH=VALUE"])
        key, raw = item.split("=", 1)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError([f"--set {key}: {part} is not a mapping"])
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def _yaml_path(loc: tuple[Any, ...], data: Any) -> tuple[list[Any], Any]:
    """Map a pydantic error location onto the raw data, dropping the union tags that
    pydantic inserts (``stages.publish.publish.bind`` -> ``stages.publish.bind``)."""
    path: list[Any] = []
    node = data
    for item in loc:
        if isinstance(node, dict) and item in node:
            path.append(item)
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            path.append(item)
            node = node[item]
        elif isinstance(node, dict) and node.get("type") == item:
            continue  # discriminator tag
        elif isinstance(item, str) and item in ("function-after", "[key]"):
            continue
        else:
            path.append(item)
            node = None
    return path, node


def _format_path(path: list[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _line_of(root: yaml.Node | None, path: list[Any]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for p in path:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(p):
                    nxt, line = v, k.start_mark.line + 1
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and p < len(node.value):
            node = node.value[p]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _allowed_keys(path: list[Any], data: dict[str, Any],
                  schema: type[BaseModel]) -> list[str] | None:
    """Names of the keys ``schema`` allows at ``path`` (for unknown-key errors)."""
    model: Any = schema
    node: Any = data
    for p in path:
        if isinstance(node, dict):
            node = node.get(p)
        if model is None:
            return None
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(p))
            if field is None:
                return None
            model = field.annotation
        elif getattr(model, "__origin__", None) is dict:
            model = model.__args__[1]
        else:
            return None
        model = _concrete(model, node)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return None


def _concrete(annotation: Any, node: Any) -> Any:
    """Resolve an Annotated union by the ``type`` key of the raw node."""
    args = getattr(annotation, "__args__", None)
    if getattr(annotation, "__metadata__", None) is not None:
        annotation = args[0]
        args = getattr(annotation, "__args__", None)
    if args and getattr(annotation, "__origin__", None) is not dict and isinstance(node, dict):
        for cls in args:
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                tag = cls.model_fields.get("type")
                if tag is not None and node.get("type") in getattr(
                    tag.annotation, "__args__", ()
                ):
                    return cls
    return annotation


def _describe(err: dict[str, Any], path: list[Any], value: Any, data: Any,
              schema: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], data, schema)
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {path[-1]!r}{hint}"
    if kind == "missing":
        return f"missing required key {path[-1]!r}" if path else "missing value"
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        return f"unknown type {value!r}; expected one of: {err['ctx']['expected_tags']}"
    if (value is None and kind not in ("none_required",)) or isinstance(value, dict):
        return msg  # nothing, or a whole section: the message says what is wrong
    return f"{msg}, got {value!r}"


_NAMED_PATH = re.compile(r"(?:Value error, )?([A-Za-z_][\w\-]*(?:\.[\w\-]+|\[\d+\])*)"
                         r"(?: \([^)]*\))?: ")


def _named_path(err: dict[str, Any], data: Any) -> list[Any] | None:
    """The YAML path a value error's message starts with (``stages.publish.bind: ...``),
    as path parts, when its first key is in the data; else None."""
    m = _NAMED_PATH.match(err.get("msg", ""))
    if err.get("type") != "value_error" or m is None:
        return None
    parts: list[Any] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", m.group(1)):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts if isinstance(data, dict) and parts and parts[0] in data else None


def validate_yaml(schema: type[M], data: Any, *, source: str,
                  root: yaml.Node | None = None) -> M:
    """Interpolate ``${env:...}`` and validate raw YAML data against ``schema``; raise
    :class:`ConfigError` listing every problem as ``file:line: yaml.path: message``.
    Shared by pipeline YAMLs and training recipes."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys, "
                           f"got {type(data).__name__}"])
    data = _interpolate(data, "", errors)
    if errors:
        raise ConfigError([f"{source}: {e}" for e in errors])
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path, value = _yaml_path(err["loc"], data)
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                path, value = [*path, "type"], (value or {}).get("type")
            if err["type"] == "extra_forbidden":
                value = None
            named = _named_path(err, data) if isinstance(value, dict | list) else None
            if named is not None:
                # A check across sections (a model validator) names its own YAML path:
                # point at that line, and never print the whole section as "got".
                line = _line_of(root, named)
                where = f"{source}:{line}" if line else source
                errors.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
                continue
            line = _line_of(root, path)
            where = f"{source}:{line}" if line else source
            errors.append(f"{where}: {_format_path(path)}: "
                          f"{_describe(err, path, value, data, schema)}")
        raise ConfigError(errors) from None


def parse_config(
    data: Any, *, source: str = "<config>", root: yaml.Node | None = None,
    base_dir: Path | None = None,
) -> PipelineConfig:
    """Validate raw YAML data; raise :class:`ConfigError` listing every problem."""
    cfg = validate_yaml(PipelineConfig, data, source=source, root=root)
    if base_dir is not None:
        cfg = _resolve_paths(cfg, base_dir)
    return cfg


def _resolve_paths(cfg: PipelineConfig, base: Path) -> PipelineConfig:
    sources = {}
    for sid, src in cfg.sources.items():
        path = getattr(src, "path", None)
        if path is not None and not path.is_absolute():
            src = src.model_copy(update={"path": (base / path).resolve()})
        if src.type == "synthetic" and src.faces:
            src = src.model_copy(update={"faces": [p if p.is_absolute() else (base / p).resolve()
                                                   for p in src.faces]})
        sources[sid] = src
    stages = {}
    for name, stage in cfg.stages.items():
        model = getattr(stage, "model", None)
        if model is not None and not model.is_absolute():
            stage = stage.model_copy(update={"model": (base / model).resolve()})
        elog = getattr(stage, "event_log", None)
        if elog is not None and elog.dir is not None and not elog.dir.is_absolute():
            stage = stage.model_copy(update={"event_log": elog.model_copy(
                update={"dir": (base / elog.dir).resolve()})})
        stages[name] = stage
    security = cfg.security
    if security is not None:
        security = security.model_copy(update={
            k: (base / v).resolve() for k in ("server_key", "client_key", "authorized_keys")
            if (v := getattr(security, k)) is not None and not v.is_absolute()})
    transport = cfg.transport
    if transport.ipc_dir is not None and not transport.ipc_dir.is_absolute():
        transport = transport.model_copy(update={"ipc_dir": (base / transport.ipc_dir)})
    return cfg.model_copy(update={"sources": sources, "stages": stages,
                                  "transport": transport, "security": security})


def read_yaml(path: str | Path, overrides: list[str] | None = None
              ) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML file with ``--set`` overrides applied, and its node tree (for
    line numbers in error messages)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    duplicates = duplicate_keys(root)
    if duplicates:
        # YAML lets the last one win silently: a typo'd copy would override the setting
        # the operator is looking at.
        raise ConfigError([f"{path}:{line}: {where}: duplicate key {key!r} (first at line "
                           f"{first})" for where, key, line, first in duplicates])
    if overrides:
        data = apply_overrides(data if isinstance(data, dict) else {}, overrides)
    return data, root


def duplicate_keys(node: yaml.Node | None, path: str = "") -> list[tuple[str, str, int, int]]:
    """(YAML path of the mapping, key, line, line of its first occurrence) for every key
    that a mapping under ``node`` holds twice."""
    found: list[tuple[str, str, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            if name in seen:
                found.append((path or "(top level)", name, line, seen[name]))
            else:
                seen[name] = line
            found += duplicate_keys(value, f"{path}.{name}" if path else name)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += duplicate_keys(item, f"{path}[{i}]")
    return found


def load_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Read, interpolate, override and validate a pipeline YAML.

    Raises:
        ConfigError: the file is unreadable, not YAML, or does not fit the schema.
    """
    data, root = read_yaml(path, overrides)
    return parse_config(data, source=str(path), root=root,
                        base_dir=Path(path).parent.resolve())


def check_paths(cfg: PipelineConfig, source: str = "<config>") -> None:
    """Check that file and folder sources exist (done by ``validate`` and ``run``,
    not at parse time, so a capture host can hold files that others lack)."""
    errors = []
    for sid, src in cfg.sources.items():
        if src.type == "file" and not src.path.is_file():
            errors.append(f"{source}: sources.{sid}.path: no such file {str(src.path)!r}")
        if src.type == "images" and not src.path.is_dir():
            errors.append(f"{source}: sources.{sid}.path: no such folder {str(src.path)!r}")
        if src.type == "synthetic":
            for i, face in enumerate(src.faces):
                if not face.exists():
                    errors.append(f"{source}: sources.{sid}.faces.{i}: no such file or "
                                  f"folder {str(face)!r}")
    for name, stage in cfg.stages.items():
        model = getattr(stage, "model", None)
        if model is not None and not model.is_file():
            errors.append(f"{source}: stages.{name}.model: no such file {str(model)!r}")
        elog = getattr(stage, "event_log", None)
        if elog is not None and elog.enabled and elog.dir is not None:
            blocker = _file_in_the_way(elog.dir)
            if blocker is not None:
                errors.append(f"{source}: stages.{name}.event_log.dir: {str(blocker)!r} is "
                              "a file, so the log folder cannot be made there")
    blocker = _file_in_the_way(cfg.run_dir())
    if blocker is not None:
        errors.append(f"{source}: transport.ipc_dir: {str(blocker)!r} is a file, so the "
                      "run folder (sockets, event logs) cannot be made there")
    errors.extend(f"{source}: {e}" for e in _ipc_path_problems(cfg))
    if errors:
        raise ConfigError(errors)


def _file_in_the_way(folder: Path) -> Path | None:
    """The first existing non-folder on the way to ``folder``, or None."""
    for part in [*reversed(folder.parents), folder]:
        if part.exists() and not part.is_dir():
            return part
    return None


def _ipc_path_problems(cfg: PipelineConfig) -> list[str]:
    """ipc:// endpoints longer than a unix socket path may be (they would fail only when
    the stage binds): the derived ones under the run folder and those the YAML sets."""
    from pipeline.runtime.sockets import MAX_IPC_PATH

    endpoints = [("transport.ipc_dir (the control socket)", cfg.control_endpoint())]
    for name, stage in cfg.stages.items():
        if stage.type != "capture":
            what = f"stages.{name}.endpoint" if stage.endpoint else \
                f"transport.ipc_dir (stage {name}'s input)"
            endpoints += [(what, cfg.input_endpoint(name, r))
                          for r in range(cfg.replicas(name))]
        if stage.type == "publish":
            endpoints.append((f"stages.{name}.bind", stage.bind))
            if stage.event_log.enabled:
                from pipeline.stages.publish.eventlog import replay_endpoint

                endpoints.append((f"stages.{name}.event_log.replay_bind",
                                  stage.event_log.replay_bind or replay_endpoint(stage.bind)))
    problems = []
    for what, address in endpoints:
        path = address.removeprefix("ipc://")
        if address.startswith("ipc://") and len(path) > MAX_IPC_PATH:
            problems.append(f"{what}: the ipc path {path!r} is {len(path)} bytes, more than "
                            f"the {MAX_IPC_PATH} a unix socket allows; choose a shorter "
                            "transport.ipc_dir or pipeline name")
    return problems

